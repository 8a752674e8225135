//! `pipeline.toml`: the pipeline's configuration, and its errors.
//!
//! Every table denies unknown keys. An error names the file, the line and the
//! key, and says what would be valid.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A whole `pipeline.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Where records come from (needed to run the pipeline, not to test a transform).
    pub source: Option<crate::source::SourceConfig>,
    /// The WebAssembly transform.
    pub transform: TransformConfig,
    /// Where rows go (needed to run the pipeline, not to test a transform).
    pub sink: Option<crate::sink::SinkConfig>,
    /// What happens to records that fail: dead-letter topic, log, or stop.
    #[serde(default)]
    pub errors: crate::errors::ErrorsConfig,
    /// Named embedders (`[embedders.NAME]`) that transforms may call.
    #[serde(default)]
    pub embedders: std::collections::BTreeMap<String, crate::embed::EmbedderConfig>,
}

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

/// A pipeline file that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read pipeline file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid: bad TOML, an unknown key, a wrong type.
    #[error("{path}:{line}:{column}: {key}{message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// `key `a.b`: ` or empty when the problem is not at a key.
        key: String,
        /// What is wrong and what would be valid.
        message: String,
    },
}

impl PipelineConfig {
    /// Reads and validates a pipeline file.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Self::parse(&text, path)?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let loaded = Loaded {
            path: path.to_path_buf(),
            base_dir,
            text,
            config,
        };
        loaded.validate()?;
        Ok(loaded)
    }

    /// Parses pipeline TOML; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<PipelineConfig, ConfigError> {
        let invalid = |span: Option<std::ops::Range<usize>>, key: String, message: String| {
            let (line, column) = line_col(text, span.map_or(0, |s| s.start));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                key,
                message,
            }
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| invalid(e.span(), String::new(), e.message().trim().to_string()))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." {
                String::new()
            } else {
                format!("key `{key}`: ")
            };
            let inner = e.into_inner();
            invalid(inner.span(), key, inner.message().trim().to_string())
        })
    }
}

/// A pipeline file that parsed and passed validation.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file it came from.
    pub path: PathBuf,
    /// Relative paths in the file are taken from here.
    pub base_dir: PathBuf,
    /// The file's text, for locating keys in messages.
    pub text: String,
    /// The configuration.
    pub config: PipelineConfig,
}

impl Loaded {
    /// An error at `span` of the file.
    pub fn error_at(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: String,
    ) -> ConfigError {
        let (line, column) = line_col(&self.text, span.start);
        ConfigError::Invalid {
            path: self.path.clone(),
            line,
            column,
            key: format!("key `{key}`: "),
            message,
        }
    }

    /// The transform module's path, resolved against the pipeline file.
    pub fn module_path(&self) -> PathBuf {
        self.base_dir.join(self.config.transform.module.get_ref())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.config.transform;
        let module = self.module_path();
        if !module.is_file() {
            return Err(self.error_at(
                t.module.span(),
                "transform.module",
                format!(
                    "no such file: {} (paths are relative to the pipeline file; build the transform with `cargo build --release --target wasm32-wasip2`)",
                    module.display()
                ),
            ));
        }
        let checks: [(&str, bool, &str); 4] = [
            (
                "transform.call_max_bytes",
                t.call_max_bytes >= 1024,
                "must be at least 1024",
            ),
            (
                "transform.call_max_records",
                t.call_max_records >= 1,
                "must be at least 1",
            ),
            (
                "transform.call_timeout_ms",
                t.call_timeout_ms >= 10,
                "must be at least 10",
            ),
            (
                "transform.memory_limit_mib",
                (1..=4096).contains(&t.memory_limit_mib),
                "must be between 1 and 4096",
            ),
        ];
        for (key, ok, message) in checks {
            if !ok {
                let span = self.key_span("transform", key.trim_start_matches("transform."));
                return Err(self.error_at(span, key, message.to_string()));
            }
        }
        if let Some(sink) = &self.config.sink {
            sink.validate(self)?;
        }
        if let Some(source) = &self.config.source {
            source.validate(self)?;
        }
        self.config.errors.validate(self)?;
        for (name, embedder) in &self.config.embedders {
            embedder.validate(name, self)?;
        }
        Ok(())
    }

    /// The span of `key` in table `[table]` of the file, or the file start
    /// when it cannot be found (for messages only). `key` may be quoted in
    /// the file (`"enable.auto.commit" = ...`).
    pub fn key_span(&self, table: &str, key: &str) -> std::ops::Range<usize> {
        let quoted = format!("\"{key}\"");
        let mut in_table = false;
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            let trimmed = line.trim_start();
            if trimmed.starts_with('[') {
                let name = trimmed
                    .trim_start_matches('[')
                    .split(']')
                    .next()
                    .unwrap_or("")
                    .trim();
                in_table = name == table;
            } else if in_table
                && trimmed
                    .split('=')
                    .next()
                    .is_some_and(|k| k.trim() == key || k.trim() == quoted)
            {
                let start = offset + (line.len() - trimmed.len());
                return start..start + trimmed.trim_end().len();
            }
            offset += line.len();
        }
        0..0
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// The `[transform.config]` table as JSON text, for the guest's `init`.
pub fn table_to_json(table: &toml::Table) -> String {
    serde_json::to_string(table).expect("a TOML table is valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("a\nbc\n", 0), (1, 1));
        assert_eq!(line_col("a\nbc\n", 3), (2, 2));
    }
}
