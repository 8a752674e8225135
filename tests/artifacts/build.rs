//! Builds every transform the tests use as a wasm32-wasip2 component, with a
//! nested `cargo build` into its own target directory (the outer build holds
//! the lock on the workspace's), and tells the crate where they are.

use std::path::PathBuf;
use std::process::Command;

/// Workspace packages built as components, and the constant naming each.
const GUESTS: &[&str] = &[
    "passthrough",
    "rename",
    "filter",
    "seed",
    "embed-title",
    "cdc",
    "faulty",
    "wrong-version",
    "swap-v1",
    "swap-v2",
    "swap-fail-init",
    "swap-trap",
    "swap-bad-schema",
    "every-type",
    "router",
    "contract-0-1",
    "contract-0-2",
    "avro-in-guest",
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.join("../..").canonicalize().unwrap();
    // Every file, not the folders: a folder's own mtime changes only when an
    // entry is added or removed, so an edited guest would not be rebuilt.
    for dir in ["transforms", "guest-sdk", "tests/guests"] {
        watch_files(&root.join(dir));
    }
    // The workspace manifest holds the guests' build profile.
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );
    // A target dir of its own: a nested build in the outer one would wait
    // forever for the lock on target/release when the outer build is a
    // release build (host proc-macros of the wasm build go there).
    let target_dir = root.join("target/wasm-artifacts");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    for guest in GUESTS {
        cmd.args(["-p", guest]);
    }
    // Flags meant for the host build must not reach the wasm build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME"
            || key == "RUSTFLAGS"
            || key == "RUSTC_WRAPPER"
        {
            cmd.env_remove(&*key);
        }
    }
    let status = cmd
        .status()
        .expect("running cargo to build the test transforms");
    if !status.success() {
        panic!(
            "building the transforms for wasm32-wasip2 failed; if the target is missing, run `rustup target add wasm32-wasip2` (the project's .ci/setup does)"
        );
    }
    let out = target_dir.join("wasm32-wasip2/release");
    println!("cargo:rustc-env=KMV_WASM_DIR={}", out.display());
}

/// `rerun-if-changed` for each file under `dir` (and the folders, for added
/// files), skipping build output.
fn watch_files(dir: &std::path::Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        if path.is_dir() {
            watch_files(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
