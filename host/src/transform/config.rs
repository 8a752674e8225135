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
    /// The module's path, resolved against `base_dir`, the pipeline file's
    /// folder; `native:seed` as it is in a benchmark build ([`is_native_seed`]).
    pub fn module_path(&self, base_dir: &Path) -> PathBuf {
        if is_native_seed(self.module.get_ref()) {
            return self.module.get_ref().clone();
        }
        base_dir.join(self.module.get_ref())
    }

    /// Checks the `[transform]` table on its own: the module file exists
    /// (relative to `base_dir`, the pipeline file's folder) and the limits
    /// are in range.
    pub(crate) fn validate(&self, base_dir: &Path) -> Result<(), Invalid> {
        let module = self.module_path(base_dir);
        if !module.is_file() && !is_native_seed(&module) {
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

/// The `[transform] module` that names the seed transform compiled into the
/// host (`transform/native.rs`) in a benchmark build.
pub(crate) const NATIVE_SEED: &str = "native:seed";

/// Whether `module` is [`NATIVE_SEED`] and this is a benchmark build (feature
/// `bench-native-seed`). Without the feature it is an ordinary path.
pub(crate) fn is_native_seed(module: &Path) -> bool {
    cfg!(feature = "bench-native-seed") && module == Path::new(NATIVE_SEED)
}

/// The `[transform.config]` table as JSON text, for the guest's `init`.
pub fn table_to_json(table: &toml::Table) -> String {
    serde_json::to_string(table).expect("a TOML table is valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_seed_is_a_module_only_in_a_benchmark_build() {
        let config: TransformConfig = toml::from_str(r#"module = "native:seed""#).unwrap();
        let native = cfg!(feature = "bench-native-seed");
        assert_eq!(is_native_seed(config.module.get_ref()), native);
        let path = config.module_path(Path::new("/pipelines"));
        let expected = if native {
            PathBuf::from("native:seed")
        } else {
            PathBuf::from("/pipelines/native:seed")
        };
        assert_eq!(path, expected);
        // Without the feature it is an ordinary path, here a missing file.
        assert_eq!(config.validate(Path::new("/pipelines")).is_ok(), native);
        assert!(!is_native_seed(Path::new("dir/native:seed")));
    }
}
