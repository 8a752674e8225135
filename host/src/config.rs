//! `pipeline.toml`: the pipeline's configuration, and its errors.
//!
//! Every table denies unknown keys. An error names the file, the line and the
//! key, and says what would be valid.

use crate::common::invalid::Invalid;
use crate::errors::ErrorPolicy;
use crate::transform::{TransformEngine, TransformError};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub use crate::transform::{TransformConfig, table_to_json};

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

/// A pipeline file that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read pipeline file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid: bad TOML, an unknown key, a wrong type.
    #[error("{path}:{line}:{column}: {key}{message}")]
    Invalid {
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
        let mut config = Self::parse(&text, path)?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        if let Some(sink) = &mut config.sink {
            sink.resolve_paths(&base_dir);
        }
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

    /// The pipeline's transform, loaded and initialised (see
    /// [`TransformEngine::for_pipeline`]); a failure to build an embedder or
    /// to load the module names this file and the table to fix.
    pub fn load_transform(&self) -> anyhow::Result<TransformEngine> {
        let c = &self.config;
        TransformEngine::for_pipeline(&c.transform, &c.embedders, &self.base_dir).map_err(|e| {
            let table = match &e {
                TransformError::Embedders(_) => "[embedders]",
                // `init` refused or faulted: the message names the module.
                TransformError::Init { .. } | TransformError::InitFault { .. } => {
                    return anyhow::Error::new(e);
                }
                _ => "[transform] module",
            };
            anyhow::Error::new(e).context(format!("{}: {table}", self.path.display()))
        })
    }

    /// The topic records are said to come from when they are read from a
    /// file (`kmv-host test`, `check --input`): the first source topic, or `test`.
    pub fn sample_topic(&self) -> &str {
        self.config
            .source
            .as_ref()
            .and_then(|s| s.topics.first())
            .map_or("test", String::as_str)
    }

    /// The transform module's path, resolved against the pipeline file.
    pub fn module_path(&self) -> PathBuf {
        self.config.transform.module_path(&self.base_dir)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.config;
        let base_dir = &self.base_dir;
        c.transform
            .validate(base_dir)
            .map_err(|e| self.invalid(e))?;
        if let Some(sink) = &c.sink {
            sink.validate().map_err(|e| self.invalid(e))?;
        }
        if let Some(source) = &c.source {
            source.validate().map_err(|e| self.invalid(e))?;
        }
        self.dead_letter_topic_is_not_a_source()?;
        c.errors.validate().map_err(|e| self.invalid(e))?;
        for (name, embedder) in &c.embedders {
            embedder
                .validate(name, base_dir)
                .map_err(|e| self.invalid(e))?;
        }
        Ok(())
    }

    /// The one check across tables: failed records must not go to a topic
    /// the pipeline consumes. It runs before `[errors]`'s own checks but
    /// looks only at a topic the policy writes to and that is not blank, so
    /// `[errors]`'s complaints about the topic itself (a policy that writes
    /// no dead letters, a blank name) still come first, as they always did,
    /// and this one still comes before those about its producer properties.
    fn dead_letter_topic_is_not_a_source(&self) -> Result<(), ConfigError> {
        let errors = &self.config.errors;
        let (ErrorPolicy::DeadLetter, Some(topic)) = (errors.policy(), &errors.dead_letter_topic)
        else {
            return Ok(());
        };
        let sources = self.config.source.as_ref().map(|s| &s.topics);
        if topic.trim().is_empty() || !sources.is_some_and(|topics| topics.contains(topic)) {
            return Ok(());
        }
        Err(self.invalid(Invalid::key(
            "errors",
            "dead_letter_topic",
            format!(
                "`{topic}` is also a source topic: failed records would be consumed again; name another topic"
            ),
        )))
    }

    /// A stage's [`Invalid`] answer, located in the file: at its span, else
    /// at the line that sets its key, else at the line of its fallback key.
    fn invalid(&self, invalid: Invalid) -> ConfigError {
        let span = invalid.span.clone().unwrap_or_else(|| {
            match (
                self.key_span(&invalid.table, &invalid.key),
                invalid.fallback,
            ) {
                (std::ops::Range { start: 0, end: 0 }, Some(other)) => {
                    self.key_span(&invalid.table, other)
                }
                (span, _) => span,
            }
        });
        self.error_at(span, &invalid.dotted_key(), invalid.message)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("a\nbc\n", 0), (1, 1));
        assert_eq!(line_col("a\nbc\n", 3), (2, 2));
    }
}
