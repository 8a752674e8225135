//! The Milvus sink: checks rows against the collection schema, batches them
//! and writes them over the Milvus REST API (v1 or v2).
//!
//! [`MilvusSink::connect`] expands the token, finds out which REST API the
//! server speaks, reads the collection's schema and decides between insert
//! and upsert. The pipeline then turns each row into JSON with the sink's
//! [`RowEncoder`] (which checks it against the schema) and hands the rows,
//! each with a tag (e.g. its Kafka record), to [`MilvusSink::write_rows`]:
//! it gathers them in batches ([`BatchBuilder`]), sends each with
//! [`MilvusSink::write`], retries a retryable failure as the
//! [`RetryPolicy`] says, halves a batch Milvus rejects until the bad rows
//! stand alone, and reports each row it cannot write to the caller.
//!
//! - `schema`: the collection schema from REST v1 and v2 describe answers.
//! - `encode`: rows to JSON, checked against the schema in the same pass.
//! - `batch`: rows to one request body, with limits and duplicate keys.
//! - `request_builder`: the REST requests, built without a server.
//! - `client`: the HTTP service: connect, describe, write, answers.
//! - `error`: why the sink could not start, why a write failed.
//! - `retry`: which failed writes are worth retrying.
//! - `tls`: the CA file and client certificate, and refused handshakes in words.
//! - `write`: rows to batches, retried, rejected batches halved, failed rows reported.

mod answer;
mod batch;
mod client;
mod collections;
mod create;
mod delete;
mod encode;
mod error;
#[doc(hidden)]
pub mod fuzz_targets;
mod refresh;
mod request_builder;
mod retry;
mod schema;
mod tls;
mod write;

#[cfg(test)]
pub(crate) mod mock;

/// Kept here for `kmv_host::sink::Secret`; it lives in `common::env`.
pub use crate::common::env::Secret;
pub use crate::common::retry::RetryPolicy;
pub use batch::{Batch, BatchBody, BatchBuilder, BodyKind, PushError, PushRefusal};
pub use client::MilvusSink;
pub use collections::{Sinks, TargetError};
pub use create::{CreateConfig, CreateField, CreateIndex};
pub use encode::{EncodedRow, PrimaryKey, RowEncoder, RowError};
pub use error::{AfterFew, FailureClass, SinkError, WriteError, WriteOk};
pub use refresh::{SchemaChange, SchemaRef};
pub use retry::classify;
pub use schema::{CollectionSchema, DataType, ElementType, FieldSchema, SchemaError};
pub use write::{Part, RowFailure, WriteReport};

use crate::common::invalid::Invalid;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

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
    /// The collection rows are written to, unless a change names another.
    pub collection: String,
    /// Other collections changes may name: names, or patterns where `*`
    /// matches any characters (`docs_*`). Names are described at start,
    /// a pattern's collections when a change first names one.
    #[serde(default)]
    pub collections: Vec<String>,
    /// `insert`, `upsert`, or `auto`: upsert when the primary key is set by
    /// the rows, insert on auto-id collections.
    #[serde(default)]
    pub write_mode: WriteMode,
    /// The most rows in one write request.
    #[serde(default = "default_batch_max_rows")]
    pub batch_max_rows: usize,
    /// The most bytes of JSON in one write request (at most 64 MB).
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
    /// A PEM file of CA certificates to trust besides the public ones (a
    /// Milvus behind a private CA); relative to the pipeline file.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate (chain) for a server that asks for one
    /// (mutual TLS); needs `client_key_file`. Relative to the pipeline file.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// The PEM private key of `client_cert_file`; its contents are never
    /// logged. Relative to the pipeline file.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// `[sink.create]`: the collection to create when it does not exist
    /// (never used to change one that does).
    pub create: Option<CreateConfig>,
}

impl SinkConfig {
    /// How writes are retried.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::from_keys(
            self.retry_forever,
            self.retry_max_attempts,
            self.retry_initial_backoff_ms,
            self.retry_max_backoff_ms,
            self.retry_jitter,
        )
    }

    /// The TLS files as configured.
    pub(crate) fn tls_files(&self) -> tls::TlsFiles<'_> {
        tls::TlsFiles {
            ca_file: self.ca_file.as_deref(),
            client_cert_file: self.client_cert_file.as_deref(),
            client_key_file: self.client_key_file.as_deref(),
        }
    }

    /// Takes the TLS files' relative paths from `base_dir` (the pipeline
    /// file's folder), as the transform's module is.
    pub fn resolve_paths(&mut self, base_dir: &Path) {
        tls::resolve(&mut self.ca_file, base_dir);
        tls::resolve(&mut self.client_cert_file, base_dir);
        tls::resolve(&mut self.client_key_file, base_dir);
    }
}

/// The REST API a server was found to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestApi {
    /// `/v1/vector/...` (Milvus 2.3).
    V1,
    /// `/v2/vectordb/...` (Milvus 2.4+, Zilliz Cloud).
    V2,
}

impl fmt::Display for RestApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestApi::V1 => "v1",
            RestApi::V2 => "v2",
        })
    }
}

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp {
    /// `insert`: every row is a new entity.
    Insert,
    /// `upsert`: a row replaces the entity with its primary key, so a replay
    /// leaves no duplicates.
    Upsert,
}

impl fmt::Display for WriteOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteOp::Insert => "insert",
            WriteOp::Upsert => "upsert",
        })
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

/// Zilliz Cloud documents "Each insert request/response should be no
/// greater than 64 MB" (docs.zilliz.com/docs/limits): decimal megabytes.
pub const MAX_REQUEST_BYTES: usize = 64_000_000;

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
    /// Checks the `[sink]` table on its own.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        let invalid = |key: &str, message: String| Err(Invalid::key("sink", key, message));
        if self.batch_max_bytes > MAX_REQUEST_BYTES || self.batch_max_bytes < 1024 {
            return invalid(
                "batch_max_bytes",
                format!(
                    "must be between 1024 and {MAX_REQUEST_BYTES} (64 MB, Zilliz Cloud's request limit)"
                ),
            );
        }
        if self.max_in_flight_bytes < self.batch_max_bytes {
            return invalid(
                "max_in_flight_bytes",
                format!(
                    "must be at least sink.batch_max_bytes ({}), or no batch could be handed to the writer",
                    self.batch_max_bytes
                ),
            );
        }
        if let Some(bad) = self.collections.iter().find(|c| {
            c.is_empty()
                || c.chars()
                    .any(|ch| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '*'))
        }) {
            return invalid(
                "collections",
                format!(
                    "`{bad}` is not a collection name or pattern (letters, digits, `_`, and `*` for any characters)"
                ),
            );
        }
        if let Some(create) = &self.create {
            create.validate()?;
        }
        if self.batch_max_rows == 0 {
            return invalid("batch_max_rows", "must be at least 1".into());
        }
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            return invalid(
                "endpoint",
                format!("`{}` must start with http:// or https://", self.endpoint),
            );
        }
        self.tls_files()
            .check()
            .map_err(|e| Invalid::key("sink", e.key, e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_keys_keep_their_defaults_messages_and_places() {
        let c: SinkConfig = toml::from_str("collection = \"c\"").unwrap();
        let p = c.retry_policy();
        assert!(p.forever);
        assert_eq!(p.max_attempts, 10);
        assert_eq!(p.initial_backoff, std::time::Duration::from_millis(200));
        assert_eq!(p.max_backoff, std::time::Duration::from_secs(30));
        assert_eq!(p.jitter, 0.2);
        let c: SinkConfig =
            toml::from_str("collection = \"c\"\nretry_max_attempts = 3\nretry_forever = false")
                .unwrap();
        assert_eq!((c.retry_max_attempts, c.retry_forever), (3, false));

        let text = "collection = \"c\"\nretry_max_attempts = \"x\"";
        let e = toml::from_str::<SinkConfig>(text).unwrap_err();
        assert_eq!(e.message(), "invalid type: string \"x\", expected u32");
        assert_eq!(&text[e.span().unwrap()], "\"x\"");
        let text = "collection = \"c\"\nretry_bogus = 1";
        let e = toml::from_str::<SinkConfig>(text).unwrap_err();
        assert!(
            e.message()
                .starts_with("unknown field `retry_bogus`, expected one of `endpoint`, `api`,")
        );
        assert!(e.message().ends_with(
            "`max_in_flight_bytes`, `ca_file`, `client_cert_file`, `client_key_file`, `create`"
        ));
        assert_eq!(&text[e.span().unwrap()], "retry_bogus");
    }
}
