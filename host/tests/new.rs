//! `kmv-host new` as a user runs it: for each template, a crate written
//! into a folder outside this repository builds for wasm32-wasip2 with only
//! the toolchain and crates.io, its native unit test passes, and `kmv-host
//! test` on its own records.jsonl prints rows out of the box.
//!
//! The crates share one target folder (a symlink in each), so crates.io's
//! dependencies are compiled once.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// `cargo ARGS` in `dir`, without the environment of the `cargo test` that
/// runs this test (its flags are for the host's build).
fn cargo(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(dir).args(args);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME"
            || key == "RUSTFLAGS"
            || key == "RUSTC_WRAPPER"
        {
            cmd.env_remove(&*key);
        }
    }
    cmd.output().expect("running cargo")
}

fn ok(out: std::process::Output, what: &str) -> String {
    let said = text(&out);
    assert!(out.status.success(), "{what} failed:\n{said}");
    said
}

#[test]
fn every_template_builds_tests_and_prints_rows() {
    let outside = tempfile::tempdir().unwrap();
    assert!(
        !outside.path().starts_with(repo()),
        "the crates must be outside the repository"
    );
    let shared_target = outside.path().join("target");
    std::fs::create_dir_all(&shared_target).unwrap();
    let model = model_dir();
    for (template, want) in [
        ("passthrough", "3 records: 2 rows, 0 skipped, 1 failed"),
        ("rename", "2 records: 2 rows, 0 skipped, 0 failed"),
        ("filter", "2 records: 1 rows, 1 skipped, 0 failed"),
        ("embed", "1 records: 1 rows, 0 skipped, 0 failed"),
        (
            "cdc",
            "11 records: 7 rows, 4 keys to delete, 0 skipped, 0 failed",
        ),
    ] {
        let name = format!("my-{template}");
        let crate_dir = outside.path().join(&name);
        let out = Command::new(host_bin())
            .current_dir(outside.path())
            .args(["new", &name, "--template", template])
            .output()
            .unwrap();
        ok(out, &format!("kmv-host new --template {template}"));
        std::os::unix::fs::symlink(&shared_target, crate_dir.join("target")).unwrap();
        ok(
            cargo(
                &crate_dir,
                &["build", "--release", "--target", "wasm32-wasip2"],
            ),
            &format!("{template}: cargo build"),
        );
        let tested = ok(
            cargo(&crate_dir, &["test"]),
            &format!("{template}: cargo test"),
        );
        assert!(tested.contains("test result: ok."), "{tested}");
        let out = Command::new(host_bin())
            .current_dir(&crate_dir)
            .env("KMV_MODEL_DIR", &model)
            .args([
                "test",
                "--pipeline",
                "pipeline.toml",
                "--input",
                "records.jsonl",
            ])
            .output()
            .unwrap();
        let printed = ok(out, &format!("{template}: kmv-host test"));
        assert!(
            printed.contains(want),
            "{template}: {want:?} not in\n{printed}"
        );
        println!("{template}: {}", printed.lines().last().unwrap_or_default());
    }
}
