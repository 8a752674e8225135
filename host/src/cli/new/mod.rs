//! `kmv-host new`: writes a transform crate that builds on a machine with
//! only this binary, the Rust toolchain and crates.io: the SDK (`kmv-guest`,
//! at this binary's contract version) comes with the binary and is written
//! into the crate, and the template is one of the workspace's own example
//! transforms (tested there), with its records and a pipeline file.

mod files;

use anyhow::Context;
use files::{SDK_FILES, Template};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `new` was asked for.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The crate's name (letters, digits, `-`, `_`; the module is
    /// target/wasm32-wasip2/release/NAME.wasm with `-` as `_`).
    pub name: String,
    /// Where to write it (default: ./NAME); it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// What the transform starts as: `passthrough` (a JSON object as a row),
    /// `rename` (rename, drop, keep fields), `filter` (keep or drop records
    /// by a rule), `embed` (embed a text field with a configured embedder),
    /// `cdc` (Debezium change events into upserts and deletes).
    #[arg(long, value_enum, default_value_t = Template::Passthrough)]
    pub template: Template,
}

/// Runs `kmv-host new`.
pub fn new(args: &NewArgs) -> anyhow::Result<ExitCode> {
    check_name(&args.name)?;
    let dir = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        anyhow::bail!(
            "{} exists and is not empty; choose another --path or name",
            dir.display()
        );
    }
    for (path, text) in crate_files(&args.name, args.template) {
        write(&dir, &path, &text)?;
    }
    println!(
        "Created transform `{}` ({} template) in {}. Next:\n  cd {}\n  cargo test                                          # the transform's logic, natively\n  cargo build --release --target wasm32-wasip2\n  kmv-host test --pipeline pipeline.toml --input records.jsonl",
        args.name,
        args.template.name(),
        dir.display(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name != "kmv-guest";
    if !ok {
        anyhow::bail!(
            "`{name}` is not a crate name: start with a letter, then letters, digits, `-` or `_`"
        );
    }
    Ok(())
}

fn write(dir: &Path, path: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// Every file of the crate: its path in the crate and its text.
pub(crate) fn crate_files(name: &str, template: Template) -> Vec<(String, String)> {
    let module = name.replace('-', "_");
    let mut files = vec![
        ("Cargo.toml".to_string(), cargo_toml(name)),
        (
            "rust-toolchain.toml".to_string(),
            RUST_TOOLCHAIN.to_string(),
        ),
        (".gitignore".to_string(), "/target\n".to_string()),
        ("src/lib.rs".to_string(), template.lib_rs()),
        ("records.jsonl".to_string(), template.records().to_string()),
        (
            "pipeline.toml".to_string(),
            template.pipeline(name, &module),
        ),
        ("kmv-guest/Cargo.toml".to_string(), sdk_cargo_toml()),
    ];
    files.extend(
        SDK_FILES
            .iter()
            .map(|(path, text)| (format!("kmv-guest/{path}"), text.to_string())),
    );
    files
}

/// The wasm target installed with the toolchain by rustup, on first use.
const RUST_TOOLCHAIN: &str = "[toolchain]\nchannel = \"stable\"\ntargets = [\"wasm32-wasip2\"]\n";

fn cargo_toml(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
# The SDK at this kmv-host's contract (kmv:transform@{contract}), written here by `kmv-host new`.
kmv-guest = {{ path = "kmv-guest" }}
serde = {{ version = "1", features = ["derive"] }}

[dev-dependencies]
serde_json = "1"

# One codegen unit lets LLVM inline serde's code into the transform.
[profile.release]
codegen-units = 1

# A workspace of its own, wherever the folder is.
[workspace]
"#,
        contract = crate::transform::WIT_PACKAGE
            .split('@')
            .nth(1)
            .unwrap_or_default(),
    )
}

fn sdk_cargo_toml() -> String {
    format!(
        r#"[package]
name = "kmv-guest"
description = "Write kmv-host transforms: Kafka records in, typed Milvus rows out, compiled to wasm32-wasip2."
version = "{version}"
edition = "2024"
license = "Apache-2.0"
publish = false

[dependencies]
wit-bindgen = {{ version = "0.61", default-features = false, features = ["macros", "realloc"] }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = {{ version = "1", features = ["raw_value", "preserve_order"] }}
rmp-serde = "1.3"
serde-transcode = "1.1"
"#,
        version = env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests;
