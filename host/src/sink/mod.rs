//! The Milvus sink: checks rows against the collection schema, batches them
//! and writes them over the Milvus REST API (v1 or v2).

use crate::config::{ConfigError, Loaded};
use serde::Deserialize;

/// `[sink]`: the Milvus or Zilliz Cloud collection rows are written to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Milvus or Zilliz Cloud endpoint, e.g. `http://127.0.0.1:19530`.
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Which REST API to speak: `auto` (detect), `v1` (Milvus 2.3) or `v2`
    /// (Milvus 2.4+, Zilliz Cloud).
    #[serde(default)]
    pub api: ApiVersion,
    /// `user:password` on Milvus, an API key on Zilliz Cloud; may be
    /// `${ENV_VAR}`. Never logged.
    pub token: Option<String>,
    /// The database (REST v2 and Milvus 2.3 `dbName`).
    pub database: Option<String>,
    /// The collection rows are written to.
    pub collection: String,
    /// `insert`, `upsert`, or `auto`: upsert when the primary key is set by
    /// the rows, insert on auto-id collections.
    #[serde(default)]
    pub write_mode: WriteMode,
    /// The most rows in one write request.
    #[serde(default = "default_batch_max_rows")]
    pub batch_max_rows: usize,
    /// The most bytes of JSON in one write request (at most 64 MiB).
    #[serde(default = "default_batch_max_bytes")]
    pub batch_max_bytes: usize,
    /// How long a partly filled batch waits for more rows, in milliseconds.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// HTTP request timeout in milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
}

/// The Milvus REST API version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    /// Try v2, fall back to v1 when the server does not have it.
    #[default]
    Auto,
    /// `/v1/vector/...` (Milvus 2.3).
    V1,
    /// `/v2/vectordb/...` (Milvus 2.4+ and Zilliz Cloud).
    V2,
}

/// Insert or upsert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// Upsert unless the collection has auto-id, then insert.
    #[default]
    Auto,
    /// Always insert.
    Insert,
    /// Always upsert (fails at start on an auto-id collection).
    Upsert,
}

/// Zilliz Cloud refuses write requests over 64 MiB.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

fn default_endpoint() -> String {
    "http://127.0.0.1:19530".into()
}
fn default_batch_max_rows() -> usize {
    1000
}
fn default_batch_max_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_linger_ms() -> u64 {
    200
}
fn default_request_timeout_ms() -> u64 {
    30_000
}

impl SinkConfig {
    pub(crate) fn validate(&self, loaded: &Loaded) -> Result<(), ConfigError> {
        if self.batch_max_bytes > MAX_REQUEST_BYTES || self.batch_max_bytes < 1024 {
            return Err(loaded.error_at(
                loaded.key_span("sink.batch_max_bytes"),
                "sink.batch_max_bytes",
                format!("must be between 1024 and {MAX_REQUEST_BYTES} (64 MiB, Zilliz Cloud's request limit)"),
            ));
        }
        if self.batch_max_rows == 0 {
            return Err(loaded.error_at(
                loaded.key_span("sink.batch_max_rows"),
                "sink.batch_max_rows",
                "must be at least 1".into(),
            ));
        }
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            return Err(loaded.error_at(
                loaded.key_span("sink.endpoint"),
                "sink.endpoint",
                format!("`{}` must start with http:// or https://", self.endpoint),
            ));
        }
        Ok(())
    }
}
