//! What can go wrong in the sink: why it could not start ([`SinkError`]),
//! why a write did not go through ([`WriteError`], [`FailureClass`]), and
//! what a write that did go through reports ([`WriteOk`]).

use super::RestApi;
use super::encode::PrimaryKey;
use super::schema::SchemaError;
use crate::common::env::EnvError;
use std::time::Duration;

/// What a failed write means for the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The server is busy, not ready or unreachable: send the same batch again.
    Retryable,
    /// The batch is invalid: sending it again gives the same answer.
    Rejected,
    /// Nothing can be written until someone fixes something (the token, the
    /// collection, a quota): stop.
    Fatal,
    /// Worth a few more attempts, then halved like a rejected batch: a
    /// handler panic (HTTP 500, code 500), deterministic for the same rows.
    RetryThenHalve,
    /// Worth a few more attempts with backoff, then fatal: 65535 (an
    /// unclassified internal error, e.g. a WAL append) and 2400 (a function
    /// failed), which may pass or may not.
    RetryThenStop,
}

/// What a retryable failure becomes after [`FEW_ATTEMPTS`] in a row of the
/// same kind, whatever `retry_forever` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFew {
    /// Rejected with this code: halved until the rows that cause it stand
    /// alone, and those fail (a handler panic).
    Halve { code: i64 },
    /// Halved while the batch has more than one row (a batch too slow for
    /// the timeout, e.g. a text-embedding function inside insert); one row
    /// alone is retried as the policy says (a slow Milvus, not a bad row).
    HalveTimeout { code: i64 },
    /// Fatal: the pipeline stops, uncommitted.
    Stop,
}

/// Attempts in a row of one [`AfterFew`] kind before it applies.
pub const FEW_ATTEMPTS: u32 = 3;

/// Why the sink could not start. Messages never hold the token.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The collection exists, but not as `[sink.create]` describes it.
    #[error(
        "collection `{collection}` at {endpoint} exists with another schema than [sink.create] describes (kmv-host never changes a collection): {}",
        differences.join("; ")
    )]
    CreateMismatch {
        endpoint: String,
        collection: String,
        differences: Vec<String>,
    },
    /// `[sink.create]` could not create the missing collection.
    #[error("cannot create collection `{collection}` at {endpoint} from [sink.create]: {reason}")]
    CreateFailed {
        endpoint: String,
        collection: String,
        reason: String,
    },
    /// A `${NAME}` in `sink.token` could not be expanded.
    #[error("{}", .0.at("sink.token"))]
    TokenEnv(EnvError),
    /// `sink.token` is malformed.
    #[error("sink.token: {0}")]
    TokenSyntax(String),
    /// The HTTP client could not be built, or the endpoint is not a URL.
    #[error("sink.endpoint `{endpoint}`: {reason}")]
    Endpoint { endpoint: String, reason: String },
    /// Nothing answered at the endpoint.
    #[error("cannot reach Milvus at {endpoint}: {reason}")]
    Unreachable {
        endpoint: String,
        /// The connection error.
        reason: String,
    },
    /// The TLS handshake was refused over certificates (an unknown CA, a
    /// missing or refused client certificate).
    #[error("TLS to Milvus at {endpoint} failed: {reason}")]
    Tls {
        endpoint: String,
        /// What went wrong and which `[sink]` key to set.
        reason: String,
    },
    /// HTTP 401 or code 1800.
    #[error("Milvus at {endpoint} refused the token (check sink.token): {message}")]
    Auth {
        endpoint: String,
        /// Milvus' message.
        message: String,
    },
    /// HTTP 403: the token's user lacks a privilege.
    #[error(
        "Milvus at {endpoint} denied access to collection `{collection}` (HTTP 403, code {code}): {message}; grant the token's user the privileges it needs"
    )]
    Forbidden {
        endpoint: String,
        collection: String,
        /// The body code.
        code: i64,
        /// Milvus' message.
        message: String,
    },
    /// The server does not have the REST API asked for (`sink.api`).
    #[error("{endpoint} does not answer REST {api} (HTTP 404 for {path}){hint}")]
    ApiNotFound {
        endpoint: String,
        /// The API tried.
        api: RestApi,
        /// The path tried.
        path: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// The collection does not exist.
    #[error(
        "collection `{collection}` does not exist in database `{database}` at {endpoint}{}; create it first",
        existing_list(.existing)
    )]
    CollectionNotFound {
        endpoint: String,
        database: String,
        collection: String,
        /// The collections that do exist, when they could be listed.
        existing: Option<Vec<String>>,
    },
    /// The database does not exist.
    #[error("database `{database}` does not exist at {endpoint} (sink.database)")]
    DatabaseNotFound { endpoint: String, database: String },
    /// `write_mode = "upsert"` on an auto-id collection.
    #[error(
        "sink.write_mode = \"upsert\" needs rows that carry the primary key, but collection `{collection}` has auto-id on `{primary}`; use write_mode = \"insert\" or \"auto\""
    )]
    UpsertOnAutoId {
        collection: String,
        /// Its primary key field.
        primary: String,
    },
    /// The collection has fields the server's REST API cannot write.
    #[error(
        "collection `{collection}` has {fields}, which Milvus 2.3's REST v1 cannot insert (it answers code 1100/1804); write to Milvus 2.4+ (REST v2) or drop those fields"
    )]
    UnsupportedOnV1 {
        collection: String,
        /// The fields and their types.
        fields: String,
    },
    /// The schema could not be understood. (`problem` is part of the
    /// message, not a `source`: an error chain would print it twice.)
    #[error("collection `{collection}` at {endpoint}: {problem}")]
    Schema {
        endpoint: String,
        collection: String,
        /// What is wrong.
        problem: SchemaError,
    },
    /// Any other failed answer.
    #[error("Milvus at {endpoint} failed to {what} (HTTP {status}, code {code}): {message}")]
    Server {
        endpoint: String,
        /// What was asked.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The body code, or `-` without one.
        code: String,
        /// Milvus' message.
        message: String,
    },
}

fn existing_list(existing: &Option<Vec<String>>) -> String {
    match existing.as_deref() {
        None => String::new(),
        Some([]) => " (that database has no collections)".into(),
        Some(names) => {
            const MAX: usize = 20;
            let mut s = format!(" (it has: `{}`", names[..names.len().min(MAX)].join("`, `"));
            if names.len() > MAX {
                s.push_str(&format!(" and {} more", names.len() - MAX));
            }
            s.push(')');
            s
        }
    }
}

/// A write that did not go through.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// The server is busy, not ready or unreachable: the same batch may be
    /// sent again (see [`RetryPolicy`](crate::common::retry::RetryPolicy)).
    #[error("{reason}")]
    Retryable {
        /// What happened.
        reason: String,
        /// The wait the server asked for (HTTP `Retry-After`).
        retry_after: Option<Duration>,
        /// Retried at most [`FEW_ATTEMPTS`] in a row, then this.
        after_few: Option<AfterFew>,
    },
    /// The batch is invalid (e.g. codes 1804, 1100): sending it again gives
    /// the same answer.
    #[error("Milvus rejected the batch (code {code}): {message}")]
    Rejected {
        /// The body code (or the HTTP status when there was none).
        code: i64,
        /// Milvus' message.
        message: String,
    },
    /// Nothing can be written until someone acts: the token, the collection,
    /// a quota, or an answer that does not match what was sent.
    #[error("{reason}")]
    Fatal {
        /// What happened and what to check.
        reason: String,
    },
}

impl WriteError {
    /// Retryable, rejected or fatal.
    pub fn class(&self) -> FailureClass {
        match self {
            WriteError::Retryable {
                after_few: Some(AfterFew::Halve { .. }),
                ..
            } => FailureClass::RetryThenHalve,
            WriteError::Retryable {
                after_few: Some(AfterFew::Stop),
                ..
            } => FailureClass::RetryThenStop,
            WriteError::Retryable { .. } => FailureClass::Retryable,
            WriteError::Rejected { .. } => FailureClass::Rejected,
            WriteError::Fatal { .. } => FailureClass::Fatal,
        }
    }
}

/// A batch Milvus took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOk {
    /// Rows Milvus says it wrote (always the rows sent).
    pub rows: usize,
    /// Their primary keys, as Milvus reports them (generated ones on
    /// auto-id collections).
    pub ids: Vec<PrimaryKey>,
}
