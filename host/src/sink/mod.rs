//! The Milvus sink: checks rows against the collection schema, batches them
//! and writes them over the Milvus REST API (v1 or v2).
//!
//! [`connect`] expands the token, finds out which REST API the server speaks,
//! reads the collection's schema and decides between insert and upsert. The
//! pipeline then turns each row into JSON with the sink's [`RowEncoder`]
//! (which checks it against the schema), gathers rows in a [`BatchBuilder`]
//! (with a tag per row, e.g. its Kafka offset), and sends each body with
//! [`MilvusSink::write`]. A failed write is retryable, rejected (the batch is
//! bad) or fatal; [`RetryPolicy`] says whether and when to try again.
//!
//! - `schema`: the collection schema from REST v1 and v2 describe answers.
//! - `encode`: rows to JSON, checked against the schema in the same pass.
//! - `batch`: rows to one request body, with limits and duplicate keys.
//! - `client`: the HTTP service: requests, answers, outcomes.
//! - `retry`: what is retryable, and the backoff.

mod batch;
mod client;
mod encode;
mod retry;
mod schema;

#[cfg(test)]
pub(crate) mod mock;

pub use batch::{Batch, BatchBody, BatchBuilder, PushError, PushRefusal};
pub(crate) use client::expand_token;
pub use client::{MilvusSink, RestApi, SinkError, WriteError, WriteOk, WriteOp, connect};
pub use encode::{EncodedRow, PrimaryKey, RowEncoder, RowError};
pub use retry::{FailureClass, RetryPolicy, classify};
pub use schema::{CollectionSchema, DataType, ElementType, FieldSchema, SchemaError};

use crate::config::{ConfigError, Loaded};
use serde::Deserialize;
use std::fmt;

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
    pub token: Option<Secret>,
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
    /// Keep retrying a retryable failure (Milvus unreachable, busy, not
    /// ready) for as long as it lasts, logging each attempt and how long
    /// Milvus has been unreachable; consumption pauses meanwhile. When
    /// `false`, the pipeline stops (uncommitted) after `retry_max_attempts`.
    #[serde(default = "default_retry_forever")]
    pub retry_forever: bool,
    /// Attempts at writing one batch, the first included, before the
    /// pipeline gives up on a retryable failure (server busy or unreachable);
    /// only used when `retry_forever = false`.
    #[serde(default = "default_retry_max_attempts")]
    pub retry_max_attempts: u32,
    /// The wait after the first failed attempt, in milliseconds; it doubles
    /// with each attempt.
    #[serde(default = "default_retry_initial_backoff_ms")]
    pub retry_initial_backoff_ms: u64,
    /// The longest wait between attempts, in milliseconds.
    #[serde(default = "default_retry_max_backoff_ms")]
    pub retry_max_backoff_ms: u64,
    /// The random part of each wait, from 0 (none) to 1 (all of it).
    #[serde(default = "default_retry_jitter")]
    pub retry_jitter: f64,
    /// The most bytes (records and their encoded rows) handed from the
    /// transform to the writer and not yet written and committed; at the cap,
    /// consumption pauses. At least `batch_max_bytes`.
    #[serde(default = "default_max_in_flight_bytes")]
    pub max_in_flight_bytes: usize,
}

/// A secret from the configuration (the token). Its `Debug` never shows it,
/// and it has no `Display`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
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
fn default_retry_forever() -> bool {
    true
}
fn default_max_in_flight_bytes() -> usize {
    64 * 1024 * 1024
}
fn default_retry_max_attempts() -> u32 {
    10
}
fn default_retry_initial_backoff_ms() -> u64 {
    200
}
fn default_retry_max_backoff_ms() -> u64 {
    30_000
}
fn default_retry_jitter() -> f64 {
    0.2
}

impl SinkConfig {
    pub(crate) fn validate(&self, loaded: &Loaded) -> Result<(), ConfigError> {
        if self.batch_max_bytes > MAX_REQUEST_BYTES || self.batch_max_bytes < 1024 {
            return Err(loaded.error_at(
                loaded.key_span("sink", "batch_max_bytes"),
                "sink.batch_max_bytes",
                format!("must be between 1024 and {MAX_REQUEST_BYTES} (64 MiB, Zilliz Cloud's request limit)"),
            ));
        }
        if self.max_in_flight_bytes < self.batch_max_bytes {
            return Err(loaded.error_at(
                loaded.key_span("sink", "max_in_flight_bytes"),
                "sink.max_in_flight_bytes",
                format!(
                    "must be at least sink.batch_max_bytes ({}), or no batch could be handed to the writer",
                    self.batch_max_bytes
                ),
            ));
        }
        if self.batch_max_rows == 0 {
            return Err(loaded.error_at(
                loaded.key_span("sink", "batch_max_rows"),
                "sink.batch_max_rows",
                "must be at least 1".into(),
            ));
        }
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            return Err(loaded.error_at(
                loaded.key_span("sink", "endpoint"),
                "sink.endpoint",
                format!("`{}` must start with http:// or https://", self.endpoint),
            ));
        }
        Ok(())
    }
}
