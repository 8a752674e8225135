//! Embeddings inside the pipeline: the host side of the guest's `embed` import.
//!
//! A pipeline names its embedders in `[embedders.NAME]` tables; a transform
//! asks for one by name with a list of texts and gets one vector per text
//! (or a reason it turns into a per-record error). Two providers: `local`
//! ([`LocalEmbedder`]: a sentence-transformers model directory run on the CPU
//! with candle and the `tokenizers` crate, nothing downloaded) and `openai`
//! ([`OpenAiEmbedder`]: any OpenAI-compatible `/embeddings` endpoint, with
//! the key from the environment, batching, timeouts and retries). The time
//! the host spends embedding does not count against the transform's call
//! deadline (see `transform::worker`).

#[cfg(feature = "local-embedder")]
mod local;
#[cfg(feature = "onnx-embedder")]
mod onnx;
mod openai;

#[cfg(feature = "local-embedder")]
pub use local::{Engine, LocalEmbedder, Pooling};
pub use openai::{OpenAiEmbedder, OpenAiOptions};

use crate::common::env::{self, EnvError, Secret};
use crate::common::invalid::Invalid;
use crate::common::retry::RetryPolicy;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// Which provider an embedder uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// A sentence-transformers model directory, run on the host's CPU.
    Local,
    /// An OpenAI-compatible `/embeddings` endpoint.
    Openai,
}

/// What runs a `local` embedder's model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineName {
    /// candle, from `model.safetensors` (the default).
    #[default]
    Candle,
    /// ONNX Runtime, from `model.onnx`, loaded from `onnxruntime`.
    Onnx,
}

/// `[embedders.NAME]`: one named embedder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderConfig {
    /// `local` or `openai`.
    pub provider: Provider,
    /// `local`: the sentence-transformers model directory, relative to the
    /// pipeline file; `${ENV_VAR}` is expanded.
    pub model_dir: Option<Spanned<String>>,
    /// `local`: `candle` (default) or `onnx`.
    #[serde(default)]
    pub engine: EngineName,
    /// `local` with `engine = "onnx"`: the ONNX Runtime shared library, e.g.
    /// `${VENV}/lib/python3.11/site-packages/onnxruntime/capi/libonnxruntime.so.1.32.0`;
    /// `${ENV_VAR}` is expanded.
    pub onnxruntime: Option<String>,
    /// `openai`: the API base URL, e.g. `https://api.openai.com/v1`
    /// (`/embeddings` is appended).
    pub url: Option<String>,
    /// `openai`: the model name sent with each request.
    pub model: Option<String>,
    /// `openai`: the API key, normally `${ENV_VAR}`. Never logged.
    pub api_key: Option<Secret>,
    /// `openai`: the vector length to ask for (`dimensions`); answers of
    /// another length are refused.
    pub dimensions: Option<usize>,
    /// The most texts embedded at once (one model batch or one request).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// `openai`: one request's timeout in milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// `openai`: attempts at one request, the first included, on HTTP 408,
    /// 429, 5xx or a transport error.
    #[serde(default = "default_retry_max_attempts")]
    pub retry_max_attempts: u32,
    /// `openai`: the wait after the first failed attempt, in milliseconds;
    /// it doubles with each attempt.
    #[serde(default = "default_retry_initial_backoff_ms")]
    pub retry_initial_backoff_ms: u64,
    /// `openai`: the longest wait between attempts, in milliseconds.
    #[serde(default = "default_retry_max_backoff_ms")]
    pub retry_max_backoff_ms: u64,
}

fn default_retry_max_attempts() -> u32 {
    5
}

fn default_retry_initial_backoff_ms() -> u64 {
    200
}

fn default_retry_max_backoff_ms() -> u64 {
    10_000
}

fn default_batch_size() -> usize {
    32
}
fn default_request_timeout_ms() -> u64 {
    30_000
}

/// Why an embedder could not be built or could not embed.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is missing or not valid.
    #[error("model {path}: {reason}")]
    Model {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Embedding failed (the model or the endpoint).
    #[error("{0}")]
    Failed(String),
    /// A `${NAME}` in `api_key` or `model_dir` could not be expanded.
    #[error("embedder `{embedder}`: {}", env.at(key))]
    Env {
        embedder: String,
        /// `api_key` or `model_dir`.
        key: &'static str,
        /// What is wrong (not a `source`: the message already says it).
        env: EnvError,
    },
    /// The configuration cannot be used (e.g. a key that expands to nothing).
    #[error("embedder `{name}`: {reason}")]
    Config {
        /// The embedder.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// One ready embedder.
#[derive(Debug)]
pub enum Embedder {
    /// A local model.
    #[cfg(feature = "local-embedder")]
    Local(Box<LocalEmbedder>),
    /// An OpenAI-compatible endpoint.
    OpenAi(OpenAiEmbedder),
}

impl Embedder {
    /// Embeds `texts`, one vector per text, in order.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        match self {
            #[cfg(feature = "local-embedder")]
            Embedder::Local(e) => e.embed(texts),
            Embedder::OpenAi(e) => e.embed(texts),
        }
    }
}

/// The pipeline's embedders by name. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Embedders {
    by_name: Arc<BTreeMap<String, Embedder>>,
}

impl Embedders {
    /// No embedders at all.
    pub fn none() -> Embedders {
        Embedders::default()
    }

    /// Builds every embedder of a pipeline's `[embedders]` (loads local
    /// models, expands API keys); `base_dir` is the pipeline file's folder,
    /// which model directories are relative to.
    pub fn from_config(
        embedders: &BTreeMap<String, EmbedderConfig>,
        base_dir: &Path,
    ) -> Result<Embedders, EmbedError> {
        let mut by_name = BTreeMap::new();
        for (name, config) in embedders {
            let embedder = build(name, config, base_dir)?;
            by_name.insert(name.clone(), embedder);
        }
        Ok(Embedders::from_map(by_name))
    }

    /// Embedders made elsewhere (tests, benchmarks).
    pub fn from_map(by_name: BTreeMap<String, Embedder>) -> Embedders {
        Embedders {
            by_name: Arc::new(by_name),
        }
    }

    /// The embedder called `name`.
    pub fn get(&self, name: &str) -> Option<&Embedder> {
        self.by_name.get(name)
    }

    /// Embeds `texts` with the embedder `name`; the error is a message for
    /// the transform (and so for the record's error).
    pub fn embed(&self, name: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let Some(embedder) = self.get(name) else {
            let known: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
            return Err(if known.is_empty() {
                format!(
                    "no embedder `{name}` is configured: the pipeline has no [embedders.{name}] table"
                )
            } else {
                format!(
                    "no embedder `{name}` is configured: add an [embedders.{name}] table to the pipeline (configured: {})",
                    known.join(", ")
                )
            });
        };
        embedder
            .embed(texts)
            .map_err(|e| format!("embedder `{name}`: {e}"))
    }
}

/// Expands `${NAME}` in `key`'s `text` from the environment. Errors name
/// the variable, never its value.
fn expand(name: &str, key: &'static str, text: &str) -> Result<String, EmbedError> {
    let out = env::expand_env(text).map_err(|env| EmbedError::Env {
        embedder: name.into(),
        key,
        env,
    })?;
    if out.is_empty() {
        return Err(EmbedError::Config {
            name: name.into(),
            reason: format!("{key}: is empty; remove it when the server needs no token"),
        });
    }
    Ok(out)
}

/// Why `provider = "local"` is refused by a build without the feature.
#[cfg(not(feature = "local-embedder"))]
const WITHOUT_LOCAL: &str = "this kmv-host was built without the local embedder (cargo feature \
     `local-embedder`, left out by examples/quickstart.sh); build it in with \
     `cargo build --release -p kmv-host`, or use provider = \"openai\"";

/// Why `engine = "onnx"` is refused by a build without the feature.
#[cfg(not(feature = "onnx-embedder"))]
const WITHOUT_ONNX: &str = "this kmv-host was built without the ONNX Runtime engine (cargo feature \
     `onnx-embedder`); build it in with `cargo build --release -p kmv-host --features onnx-embedder`, \
     or use engine = \"candle\"";

fn build(name: &str, config: &EmbedderConfig, base_dir: &Path) -> Result<Embedder, EmbedError> {
    match config.provider {
        #[cfg(not(feature = "local-embedder"))]
        Provider::Local => {
            let _ = base_dir;
            Err(EmbedError::Config {
                name: name.into(),
                reason: WITHOUT_LOCAL.into(),
            })
        }
        #[cfg(feature = "local-embedder")]
        Provider::Local => {
            let dir = config
                .model_dir
                .as_ref()
                .map(|d| d.get_ref().as_str())
                .unwrap_or("");
            let dir = base_dir.join(expand(name, "model_dir", dir)?);
            let engine = match config.engine {
                EngineName::Candle => Engine::Candle,
                #[cfg(feature = "onnx-embedder")]
                EngineName::Onnx => Engine::Onnx {
                    library: base_dir.join(expand(
                        name,
                        "onnxruntime",
                        config.onnxruntime.as_deref().unwrap_or(""),
                    )?),
                },
                #[cfg(not(feature = "onnx-embedder"))]
                EngineName::Onnx => {
                    return Err(EmbedError::Config {
                        name: name.into(),
                        reason: WITHOUT_ONNX.into(),
                    });
                }
            };
            tracing::info!(embedder = name, model_dir = %dir.display(), engine = ?config.engine, "Loading the local embedding model.");
            Ok(Embedder::Local(Box::new(LocalEmbedder::load(
                &dir,
                config.batch_size,
                &engine,
            )?)))
        }
        Provider::Openai => {
            let api_key = match &config.api_key {
                Some(key) => Some(Secret::new(expand(name, "api_key", key.expose())?)),
                None => None,
            };
            let options = OpenAiOptions {
                url: config.url.clone().unwrap_or_default(),
                model: config.model.clone().unwrap_or_default(),
                api_key,
                dimensions: config.dimensions,
                batch_size: config.batch_size,
                timeout: Duration::from_millis(config.request_timeout_ms),
                // An embedding call holds up its transform call: bounded.
                retry: RetryPolicy::from_keys(
                    false,
                    config.retry_max_attempts,
                    config.retry_initial_backoff_ms,
                    config.retry_max_backoff_ms,
                    0.2,
                ),
            };
            Ok(Embedder::OpenAi(OpenAiEmbedder::new(options)?))
        }
    }
}

impl EmbedderConfig {
    /// Checks table `[embedders.NAME]` on its own: that the keys fit the
    /// provider. `model_dir` is taken relative to `base_dir`, the pipeline
    /// file's folder.
    pub(crate) fn validate(&self, name: &str, base_dir: &Path) -> Result<(), Invalid> {
        let table = format!("embedders.{name}");
        // A key the table lacks (a required one) is pointed at by its provider.
        let err =
            |key: &str, message: String| Err(Invalid::key(&table, key, message).or_at("provider"));
        type Keys<'a> = &'a [(&'a str, bool)];
        let (needed, foreign): (Keys, Keys) = match self.provider {
            Provider::Local => (
                &[
                    ("model_dir", self.model_dir.is_some()),
                    (
                        "onnxruntime",
                        self.engine == EngineName::Candle || self.onnxruntime.is_some(),
                    ),
                ],
                &[
                    ("url", self.url.is_some()),
                    ("model", self.model.is_some()),
                    ("api_key", self.api_key.is_some()),
                    ("dimensions", self.dimensions.is_some()),
                ],
            ),
            Provider::Openai => (
                &[("url", self.url.is_some()), ("model", self.model.is_some())],
                &[
                    ("model_dir", self.model_dir.is_some()),
                    ("engine", self.engine != EngineName::Candle),
                    ("onnxruntime", self.onnxruntime.is_some()),
                ],
            ),
        };
        let provider = match self.provider {
            Provider::Local => "local",
            Provider::Openai => "openai",
        };
        #[cfg(not(feature = "local-embedder"))]
        if self.provider == Provider::Local {
            return err("provider", WITHOUT_LOCAL.into());
        }
        #[cfg(not(feature = "onnx-embedder"))]
        if self.engine == EngineName::Onnx {
            return err("engine", WITHOUT_ONNX.into());
        }
        for (key, present) in needed {
            if !present {
                let with = match *key {
                    "onnxruntime" => "engine = \"onnx\"".to_string(),
                    _ => format!("provider = \"{provider}\""),
                };
                return err(key, format!("is required with {with}"));
            }
        }
        if self.engine == EngineName::Candle && self.onnxruntime.is_some() {
            return err(
                "onnxruntime",
                "applies to engine = \"onnx\" only; remove it or set engine = \"onnx\"".into(),
            );
        }
        for (key, present) in foreign {
            if *present {
                return err(
                    key,
                    format!("does not apply to provider = \"{provider}\"; remove it"),
                );
            }
        }
        if !(1..=2048).contains(&self.batch_size) {
            return err("batch_size", "must be between 1 and 2048".into());
        }
        if self.dimensions == Some(0) {
            return err("dimensions", "must be at least 1".into());
        }
        if let Some(url) = &self.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return err(
                "url",
                format!(
                    "`{url}` must start with http:// or https:// (e.g. https://api.openai.com/v1)"
                ),
            );
        }
        if self.request_timeout_ms < 100 {
            return err("request_timeout_ms", "must be at least 100".into());
        }
        if self.retry_max_attempts < 1 {
            return err("retry_max_attempts", "must be at least 1".into());
        }
        if let Some(dir) = &self.model_dir
            && !dir.get_ref().contains("${")
        {
            let path = base_dir.join(dir.get_ref());
            if !path.join("config.json").is_file() {
                return Err(Invalid::at(
                    dir.span(),
                    &table,
                    "model_dir",
                    format!(
                        "{} is not a sentence-transformers model directory (no config.json; paths are relative to the pipeline file; fetch all-MiniLM-L6-v2 with tests/embeddings/fetch_model.sh)",
                        path.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}
