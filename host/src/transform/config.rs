//! `[transform]`: the component a pipeline runs and the limits it runs under.

use crate::common::invalid::Invalid;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// `[transform]`: the WebAssembly component and the limits it runs under.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    /// Path of the `.wasm` component, relative to the pipeline file.
    pub module: Spanned<PathBuf>,
    /// Handed to the transform's `init` as JSON.
    #[serde(default)]
    pub config: toml::Table,
    /// The most bytes of keys and values handed to one transform call.
    #[serde(default = "default_call_max_bytes")]
    pub call_max_bytes: usize,
    /// The most records handed to one transform call.
    #[serde(default = "default_call_max_records")]
    pub call_max_records: usize,
    /// How long one transform call may run, in milliseconds, before it is
    /// stopped and counted as a fault.
    #[serde(default = "default_call_timeout_ms")]
    pub call_timeout_ms: u64,
    /// The most linear memory one transform instance may use, in MiB.
    #[serde(default = "default_memory_limit_mib")]
    pub memory_limit_mib: u64,
    /// The most bytes one transform call may hand back to the host (its
    /// outcomes: rows, changes, reasons; also one `log` or `embed` call's
    /// arguments), counted as the host copies them out of the instance.
    /// Past it the call is a fault of the instance.
    #[serde(default = "default_call_max_output_bytes")]
    pub call_max_output_bytes: usize,
    /// Where compiled modules are cached; defaults to the user's cache
    /// directory (`$XDG_CACHE_HOME/kmv-host`). Set `KMV_CACHE_DIR` or this key
    /// to move it.
    pub cache_dir: Option<PathBuf>,
}

fn default_call_max_bytes() -> usize {
    256 * 1024
}
fn default_call_max_records() -> usize {
    500
}
fn default_call_timeout_ms() -> u64 {
    2_000
}
fn default_memory_limit_mib() -> u64 {
    128
}
fn default_call_max_output_bytes() -> usize {
    64 * 1024 * 1024
}

impl TransformConfig {
    /// The module's path, resolved against `base_dir`, the pipeline file's folder.
    pub fn module_path(&self, base_dir: &Path) -> PathBuf {
        base_dir.join(self.module.get_ref())
    }

    /// Checks the `[transform]` table on its own: the module file exists
    /// (relative to `base_dir`, the pipeline file's folder) and the limits
    /// are in range.
    pub(crate) fn validate(&self, base_dir: &Path) -> Result<(), Invalid> {
        let module = self.module_path(base_dir);
        if !module.is_file() {
            return Err(Invalid::at(
                self.module.span(),
                "transform",
                "module",
                format!(
                    "no such file: {} (paths are relative to the pipeline file; build the transform with `cargo build --release --target wasm32-wasip2`)",
                    module.display()
                ),
            ));
        }
        let checks: [(&str, bool, &str); 5] = [
            (
                "call_max_bytes",
                self.call_max_bytes >= 1024,
                "must be at least 1024",
            ),
            (
                "call_max_records",
                self.call_max_records >= 1,
                "must be at least 1",
            ),
            (
                "call_timeout_ms",
                self.call_timeout_ms >= 10,
                "must be at least 10",
            ),
            (
                "memory_limit_mib",
                (1..=4096).contains(&self.memory_limit_mib),
                "must be between 1 and 4096",
            ),
            (
                "call_max_output_bytes",
                self.call_max_output_bytes >= 1024 * 1024,
                "must be at least 1048576 (1 MiB)",
            ),
        ];
        for (key, ok, message) in checks {
            if !ok {
                return Err(Invalid::key("transform", key, message));
            }
        }
        Ok(())
    }
}

/// The `[transform.config]` table as JSON text, for the guest's `init`.
pub fn table_to_json(table: &toml::Table) -> String {
    serde_json::to_string(table).expect("a TOML table is valid JSON")
}
