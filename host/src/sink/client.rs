//! The HTTP service: builds the REST requests, sends them, and turns Milvus'
//! answers into outcomes.
//!
//! Shapes follow Milvus' own handlers: REST v1 in
//! `internal/distributed/proxy/httpserver/handler_v1.go` (v2.3.5), REST v2 in
//! `handler_v2.go` (v2.4, v2.5). Errors nearly always come as HTTP 200 with a
//! non-success body `code` (200 is success on v1, 0 on v2), so the body code
//! is always read.

use super::batch::{BatchBody, BatchBuilder};
use super::encode::{PrimaryKey, RowEncoder};
use super::retry::{FailureClass, RetryPolicy, classify};
use super::schema::{CollectionSchema, DataType, SchemaError};
use super::{ApiVersion, Secret, SinkConfig, WriteMode};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use std::fmt;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

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

/// Why the sink could not start. Messages never hold the token.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// `sink.token` names an environment variable that is not set (or empty).
    #[error("sink.token names the environment variable `{name}`, which is {state}")]
    TokenEnv {
        /// The variable.
        name: String,
        /// "not set" or "empty".
        state: &'static str,
    },
    /// `sink.token` is malformed.
    #[error("sink.token: {0}")]
    TokenSyntax(String),
    /// The HTTP client could not be built, or the endpoint is not a URL.
    #[error("sink.endpoint `{endpoint}`: {reason}")]
    Endpoint {
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// Nothing answered at the endpoint.
    #[error("cannot reach Milvus at {endpoint}: {reason}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The connection error.
        reason: String,
    },
    /// HTTP 401 or code 1800.
    #[error("Milvus at {endpoint} refused the token (check sink.token): {message}")]
    Auth {
        /// The endpoint.
        endpoint: String,
        /// Milvus' message.
        message: String,
    },
    /// HTTP 403: the token's user lacks a privilege.
    #[error(
        "Milvus at {endpoint} denied access to collection `{collection}` (HTTP 403, code {code}): {message}; grant the token's user the privileges it needs"
    )]
    Forbidden {
        /// The endpoint.
        endpoint: String,
        /// The collection.
        collection: String,
        /// The body code.
        code: i64,
        /// Milvus' message.
        message: String,
    },
    /// The server does not have the REST API asked for (`sink.api`).
    #[error("{endpoint} does not answer REST {api} (HTTP 404 for {path}){hint}")]
    ApiNotFound {
        /// The endpoint.
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
        /// The endpoint.
        endpoint: String,
        /// The database.
        database: String,
        /// The collection.
        collection: String,
        /// The collections that do exist, when they could be listed.
        existing: Option<Vec<String>>,
    },
    /// The database does not exist.
    #[error("database `{database}` does not exist at {endpoint} (sink.database)")]
    DatabaseNotFound {
        /// The endpoint.
        endpoint: String,
        /// The database.
        database: String,
    },
    /// The collection is not loaded.
    #[error(
        "collection `{collection}` at {endpoint} is not loaded (or still loading); load it, e.g. with pymilvus `Collection(\"{collection}\").load()` or REST v2 `POST /v2/vectordb/collections/load {{\"collectionName\":\"{collection}\"}}`, then start again"
    )]
    NotLoaded {
        /// The endpoint.
        endpoint: String,
        /// The collection.
        collection: String,
    },
    /// `write_mode = "upsert"` on an auto-id collection.
    #[error(
        "sink.write_mode = \"upsert\" needs rows that carry the primary key, but collection `{collection}` has auto-id on `{primary}`; use write_mode = \"insert\" or \"auto\""
    )]
    UpsertOnAutoId {
        /// The collection.
        collection: String,
        /// Its primary key field.
        primary: String,
    },
    /// The collection has fields the server's REST API cannot write.
    #[error(
        "collection `{collection}` has {fields}, which Milvus 2.3's REST v1 cannot insert (it answers code 1100/1804); write to Milvus 2.4+ (REST v2) or drop those fields"
    )]
    UnsupportedOnV1 {
        /// The collection.
        collection: String,
        /// The fields and their types.
        fields: String,
    },
    /// The schema could not be understood.
    #[error("collection `{collection}` at {endpoint}: {source}")]
    Schema {
        /// The endpoint.
        endpoint: String,
        /// The collection.
        collection: String,
        /// What is wrong.
        source: SchemaError,
    },
    /// Any other failed answer.
    #[error("Milvus at {endpoint} failed to {what} (HTTP {status}, code {code}): {message}")]
    Server {
        /// The endpoint.
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
    /// sent again (see [`RetryPolicy`]).
    #[error("{reason}")]
    Retryable {
        /// What happened.
        reason: String,
        /// The wait the server asked for (HTTP `Retry-After`).
        retry_after: Option<Duration>,
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

/// Connects to the Milvus of `config`; see [`MilvusSink::connect`].
pub async fn connect(config: &SinkConfig) -> Result<MilvusSink, SinkError> {
    MilvusSink::connect(config).await
}

/// A connection to one Milvus collection, ready to write batches.
pub struct MilvusSink {
    endpoint: Endpoint,
    api: RestApi,
    op: WriteOp,
    encoder: RowEncoder,
    batch_max_rows: usize,
    batch_max_bytes: usize,
    retry: RetryPolicy,
}

impl fmt::Debug for MilvusSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MilvusSink")
            .field("endpoint", &self.endpoint)
            .field("api", &self.api)
            .field("op", &self.op)
            .field("collection", &self.encoder.schema().name)
            .finish_non_exhaustive()
    }
}

impl MilvusSink {
    /// Expands the token, finds the REST API (`auto`: v2 describe, and v1
    /// when v2 answers HTTP 404), reads the collection's schema and decides
    /// between insert and upsert. Fails with a message for the user when
    /// the endpoint is unreachable, the token is refused, or the collection
    /// is missing, not loaded, or cannot be written as configured.
    pub async fn connect(config: &SinkConfig) -> Result<Self, SinkError> {
        let token = match &config.token {
            Some(t) => Some(expand_token(t, |name| std::env::var(name).ok())?),
            None => None,
        };
        let endpoint = Endpoint::new(config, token)?;
        let collection = config.collection.as_str();
        let (api, schema) = match config.api {
            ApiVersion::V1 => (
                RestApi::V1,
                endpoint.describe(RestApi::V1, collection).await?,
            ),
            ApiVersion::V2 => (
                RestApi::V2,
                endpoint.describe(RestApi::V2, collection).await?,
            ),
            ApiVersion::Auto => match endpoint.describe(RestApi::V2, collection).await {
                Err(SinkError::ApiNotFound { .. }) => {
                    debug!(endpoint = %endpoint.base, "REST v2 answered 404; trying REST v1.");
                    (
                        RestApi::V1,
                        endpoint.describe(RestApi::V1, collection).await?,
                    )
                }
                other => (RestApi::V2, other?),
            },
        };
        let sink = Self::from_parts(config, endpoint, api, schema)?;
        info!(
            endpoint = %sink.endpoint.base,
            api = %sink.api,
            collection,
            op = %sink.op,
            fields = sink.schema().fields.len(),
            auto_id = sink.schema().auto_id,
            dynamic = sink.schema().dynamic,
            "Connected to Milvus."
        );
        Ok(sink)
    }

    /// The checks and decisions of `connect` that need no server.
    pub(crate) fn from_parts(
        config: &SinkConfig,
        endpoint: Endpoint,
        api: RestApi,
        schema: CollectionSchema,
    ) -> Result<Self, SinkError> {
        match schema.loaded {
            Some(true) => {}
            Some(false) => {
                return Err(SinkError::NotLoaded {
                    endpoint: endpoint.base.clone(),
                    collection: schema.name.clone(),
                });
            }
            None => warn!(
                collection = %schema.name,
                "Milvus did not say whether the collection is loaded; going on."
            ),
        }
        if api == RestApi::V1 {
            let unsupported: Vec<String> = schema
                .fields
                .iter()
                .filter(|f| {
                    matches!(
                        f.data_type,
                        DataType::Json
                            | DataType::Array { .. }
                            | DataType::Float16Vector { .. }
                            | DataType::BFloat16Vector { .. }
                            | DataType::SparseFloatVector
                    )
                })
                .map(|f| format!("`{}` ({})", f.name, f.data_type))
                .collect();
            if !unsupported.is_empty() {
                return Err(SinkError::UnsupportedOnV1 {
                    collection: schema.name.clone(),
                    fields: format!(
                        "field{} {}",
                        if unsupported.len() > 1 { "s" } else { "" },
                        unsupported.join(", ")
                    ),
                });
            }
        }
        let op = match (config.write_mode, schema.auto_id) {
            (WriteMode::Auto, false) | (WriteMode::Upsert, false) => WriteOp::Upsert,
            (WriteMode::Auto, true) | (WriteMode::Insert, _) => WriteOp::Insert,
            (WriteMode::Upsert, true) => {
                return Err(SinkError::UpsertOnAutoId {
                    collection: schema.name.clone(),
                    primary: schema.primary.clone(),
                });
            }
        };
        Ok(MilvusSink {
            endpoint,
            api,
            op,
            encoder: RowEncoder::new(schema, api),
            batch_max_rows: config.batch_max_rows,
            batch_max_bytes: config.batch_max_bytes,
            retry: RetryPolicy::from_config(config),
        })
    }

    /// The REST API in use.
    pub fn api(&self) -> RestApi {
        self.api
    }

    /// Insert or upsert.
    pub fn write_op(&self) -> WriteOp {
        self.op
    }

    /// The collection's schema.
    pub fn schema(&self) -> &CollectionSchema {
        self.encoder.schema()
    }

    /// Checks rows against the schema and writes them as JSON.
    pub fn encoder(&self) -> &RowEncoder {
        &self.encoder
    }

    /// The endpoint, as configured (without a trailing `/`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint.base
    }

    /// An empty batch for this collection, with the configured limits.
    pub fn batch_builder<T>(&self) -> BatchBuilder<T> {
        BatchBuilder::new(
            &self.encoder.schema().name,
            self.endpoint.database.as_deref(),
            self.batch_max_rows,
            self.batch_max_bytes,
        )
    }

    /// The configured retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// A cheap check that Milvus answers and still has the collection (a
    /// describe request): for readiness probes.
    pub async fn probe(&self) -> Result<(), SinkError> {
        self.endpoint
            .describe(self.api, &self.schema().name)
            .await
            .map(|_| ())
    }

    /// Sends one batch. `Ok` only when Milvus acknowledged every row of it.
    pub async fn write(&self, body: &BatchBody) -> Result<WriteOk, WriteError> {
        let request = self
            .endpoint
            .write_request(self.api, self.op, body.bytes())
            .map_err(|reason| WriteError::Fatal { reason })?;
        let started = Instant::now();
        let response = self
            .endpoint
            .http
            .execute(request)
            .await
            .map_err(|e| request_failure(&self.endpoint.base, &e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let answer = response.bytes().await.map_err(|e| WriteError::Retryable {
            reason: format!(
                "reading Milvus' answer from {} failed: {}",
                self.endpoint.base,
                error_chain(&e)
            ),
            retry_after: None,
        })?;
        let result = self.write_answer(status, &answer, body.rows(), retry_after);
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(ok) => debug!(
                rows = ok.rows,
                bytes = body.len(),
                op = %self.op,
                elapsed_ms,
                "Batch written."
            ),
            Err(e) => debug!(
                rows = body.rows(),
                bytes = body.len(),
                op = %self.op,
                status,
                class = ?e.class(),
                error = %e,
                "Batch write failed."
            ),
        }
        result
    }

    /// Turns the answer to a write into an outcome.
    pub(crate) fn write_answer(
        &self,
        status: u16,
        body: &[u8],
        rows_sent: usize,
        retry_after: Option<Duration>,
    ) -> Result<WriteOk, WriteError> {
        let answer = Answer::read(status, body, self.endpoint.token.as_ref());
        let collection = &self.encoder.schema().name;
        if !answer.is_success(self.api) {
            let code = answer.code;
            let text = answer.describe();
            return Err(match classify(status, code) {
                FailureClass::Retryable => WriteError::Retryable {
                    reason: format!("Milvus is busy or unavailable: {text}"),
                    retry_after,
                },
                FailureClass::Rejected => WriteError::Rejected {
                    code: code.unwrap_or(i64::from(status)),
                    message: answer.message,
                },
                FailureClass::Fatal => WriteError::Fatal {
                    reason: match (status, code) {
                        (401, _) | (_, Some(1800)) => format!(
                            "Milvus at {} refused the token (check sink.token): {text}",
                            self.endpoint.base
                        ),
                        (403, _) => format!(
                            "Milvus at {} denied writing to collection `{collection}`: {text}",
                            self.endpoint.base
                        ),
                        (_, Some(100)) => format!(
                            "collection `{collection}` no longer exists at {}: {text}",
                            self.endpoint.base
                        ),
                        (404, _) => format!(
                            "{} answered HTTP 404 to a REST {} {}: {text}",
                            self.endpoint.base, self.api, self.op
                        ),
                        _ => format!("Milvus refused the {}: {text}", self.op),
                    },
                },
            });
        }
        let (count_key, ids_key) = match self.op {
            WriteOp::Insert => ("insertCount", "insertIds"),
            WriteOp::Upsert => ("upsertCount", "upsertIds"),
        };
        let data = answer.data.unwrap_or(serde_json::Value::Null);
        let Some(count) = data.get(count_key).and_then(|c| c.as_u64()) else {
            return Err(WriteError::Fatal {
                reason: format!(
                    "Milvus answered the {} without `data.{count_key}`; cannot tell what was written",
                    self.op
                ),
            });
        };
        if count != rows_sent as u64 {
            return Err(WriteError::Fatal {
                reason: format!(
                    "Milvus wrote {count} of {rows_sent} rows sent to collection `{collection}`; stopping rather than losing rows"
                ),
            });
        }
        let int_pk = matches!(
            self.encoder
                .schema()
                .field(&self.encoder.schema().primary)
                .map(|f| &f.data_type),
            Some(DataType::Int64)
        );
        let ids = data
            .get(ids_key)
            .and_then(|v| v.as_array())
            .map(|ids| ids.iter().filter_map(|id| parse_id(id, int_pk)).collect())
            .unwrap_or_default();
        Ok(WriteOk {
            rows: rows_sent,
            ids,
        })
    }
}

/// An id as Milvus reports it: an Int64 as a number or (without
/// `Accept-Type-Allow-Int64`, the 2.3 default) as a decimal string.
fn parse_id(id: &serde_json::Value, int_pk: bool) -> Option<PrimaryKey> {
    match id {
        serde_json::Value::Number(n) => n.as_i64().map(PrimaryKey::Int),
        serde_json::Value::String(s) if int_pk => s.parse().ok().map(PrimaryKey::Int),
        serde_json::Value::String(s) => Some(PrimaryKey::Str(s.clone())),
        _ => None,
    }
}

/// A request error as a write outcome: every failure to get an answer is
/// retryable except a request that could not be built.
fn request_failure(endpoint: &str, e: &reqwest::Error) -> WriteError {
    if e.is_builder() {
        return WriteError::Fatal {
            reason: format!("cannot build the request to {endpoint}: {}", error_chain(e)),
        };
    }
    let what = if e.is_timeout() {
        "timed out (sink.request_timeout_ms)"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    WriteError::Retryable {
        reason: format!("write to Milvus at {endpoint} {what}: {}", error_chain(e)),
        retry_after: None,
    }
}

/// An error and its sources, `: `-separated (reqwest hides the cause, e.g.
/// "Connection refused", in its sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// A Milvus answer: HTTP status and the JSON envelope `{code, message, data}`.
#[derive(Debug)]
struct Answer {
    status: u16,
    code: Option<i64>,
    message: String,
    data: Option<serde_json::Value>,
}

impl Answer {
    fn read(status: u16, body: &[u8], token: Option<&Secret>) -> Self {
        #[derive(serde::Deserialize)]
        struct Envelope {
            code: Option<i64>,
            message: Option<String>,
            data: Option<serde_json::Value>,
        }
        match serde_json::from_slice::<Envelope>(body) {
            Ok(e) => Answer {
                status,
                code: e.code,
                message: scrub(e.message.as_deref().unwrap_or(""), token),
                data: e.data,
            },
            // 404 "404 page not found", 408 "timeout", a proxy's HTML page.
            Err(_) => Answer {
                status,
                code: None,
                message: scrub(String::from_utf8_lossy(body).trim(), token),
                data: None,
            },
        }
    }

    fn is_success(&self, api: RestApi) -> bool {
        let ok_code = match api {
            RestApi::V1 => 200,
            RestApi::V2 => 0,
        };
        (200..300).contains(&self.status) && self.code == Some(ok_code)
    }

    /// "HTTP 200, code 1804: message".
    fn describe(&self) -> String {
        let code = self.code.map_or_else(|| "-".into(), |c| c.to_string());
        let message = if self.message.is_empty() {
            "(no message)"
        } else {
            &self.message
        };
        format!("HTTP {}, code {code}: {message}", self.status)
    }
}

/// A server message made safe to show: never the token (nor its password
/// part), and not too long.
fn scrub(message: &str, token: Option<&Secret>) -> String {
    const MAX: usize = 1000;
    let mut s = message.to_string();
    if let Some(token) = token {
        let t = token.expose();
        if !t.is_empty() {
            s = s.replace(t, "<redacted>");
        }
        if let Some((_, password)) = t.split_once(':')
            && password.len() >= 3
        {
            s = s.replace(password, "<redacted>");
        }
    }
    if s.len() > MAX {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

/// Expands `${NAME}` in the token from the environment. Errors name the
/// variable, never its value.
pub(crate) fn expand_token(
    token: &Secret,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Secret, SinkError> {
    let text = token.expose();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(SinkError::TokenSyntax(
                "`${` without a closing `}` (write `${NAME}` to read the environment variable NAME)"
                    .into(),
            ));
        };
        let name = &after[..end];
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(SinkError::TokenSyntax(
                "`${...}` must hold an environment variable name (letters, digits, `_`)".into(),
            ));
        }
        match lookup(name) {
            None => {
                return Err(SinkError::TokenEnv {
                    name: name.into(),
                    state: "not set",
                });
            }
            Some(v) if v.is_empty() => {
                return Err(SinkError::TokenEnv {
                    name: name.into(),
                    state: "empty",
                });
            }
            Some(v) => out.push_str(&v),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(SinkError::TokenSyntax(
            "is empty; remove it when the server needs no token".into(),
        ));
    }
    Ok(Secret::new(out))
}

/// Where requests go and how: the request builder. Building a request
/// needs no server, so tests check paths, headers and bodies directly.
pub(crate) struct Endpoint {
    pub(crate) http: reqwest::Client,
    /// The endpoint without a trailing `/`.
    pub(crate) base: String,
    pub(crate) token: Option<Secret>,
    pub(crate) database: Option<String>,
    request_timeout: Duration,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    pub(crate) fn new(config: &SinkConfig, token: Option<Secret>) -> Result<Self, SinkError> {
        let base = config.endpoint.trim_end_matches('/').to_string();
        match reqwest::Url::parse(&base) {
            Err(e) => {
                return Err(SinkError::Endpoint {
                    endpoint: config.endpoint.clone(),
                    reason: format!("not a URL: {e}"),
                });
            }
            // The endpoint shows up in messages and logs; a secret must not.
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                return Err(SinkError::Endpoint {
                    endpoint: format!("{}://{}", url.scheme(), url.host_str().unwrap_or("?")),
                    reason: "holds credentials; put them in sink.token instead".into(),
                });
            }
            Ok(_) => {}
        }
        if let Some(t) = &token
            && HeaderValue::from_str(&format!("Bearer {}", t.expose())).is_err()
        {
            return Err(SinkError::TokenSyntax(
                "holds characters that cannot go in an HTTP header".into(),
            ));
        }
        let request_timeout = Duration::from_millis(config.request_timeout_ms);
        let http = reqwest::Client::builder()
            .connect_timeout(request_timeout.min(Duration::from_secs(10)))
            .timeout(request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_keepalive(Duration::from_secs(30))
            .user_agent(concat!("kmv-host/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SinkError::Endpoint {
                endpoint: base.clone(),
                reason: format!("cannot build the HTTP client: {}", error_chain(&e)),
            })?;
        Ok(Endpoint {
            http,
            base,
            token,
            database: config.database.clone(),
            request_timeout,
        })
    }

    /// Headers of every request: JSON, Int64 ids as numbers, the token when
    /// set (marked sensitive, so `http`'s `Debug` hides it), and on v2 the
    /// server-side timeout in whole seconds.
    fn headers(&self, api: RestApi) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert("Accept-Type-Allow-Int64", HeaderValue::from_static("true"));
        if let Some(t) = &self.token {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", t.expose()))
                .expect("checked in Endpoint::new");
            v.set_sensitive(true);
            h.insert(reqwest::header::AUTHORIZATION, v);
        }
        if api == RestApi::V2 {
            let secs = self.request_timeout.as_millis().div_ceil(1000).max(1);
            h.insert(
                "Request-Timeout",
                HeaderValue::from_str(&secs.to_string()).expect("digits"),
            );
        }
        h
    }

    fn database_name(&self) -> &str {
        self.database.as_deref().unwrap_or("default")
    }

    fn collection_body(&self, collection: &str) -> Bytes {
        let mut body = serde_json::Map::new();
        body.insert("collectionName".into(), collection.into());
        if let Some(db) = &self.database {
            body.insert("dbName".into(), db.as_str().into());
        }
        Bytes::from(serde_json::to_vec(&body).expect("a map of strings is JSON"))
    }

    fn build(&self, builder: reqwest::RequestBuilder) -> Result<reqwest::Request, String> {
        builder.build().map_err(|e| {
            format!(
                "cannot build a request to {}: {}",
                self.base,
                error_chain(&e)
            )
        })
    }

    /// v2: `POST /v2/vectordb/collections/describe {"collectionName","dbName"?}`;
    /// v1: `GET /v1/vector/collections/describe?collectionName=&dbName=`.
    pub(crate) fn describe_request(
        &self,
        api: RestApi,
        collection: &str,
    ) -> Result<reqwest::Request, String> {
        let b = match api {
            RestApi::V2 => self
                .http
                .post(format!("{}/v2/vectordb/collections/describe", self.base))
                .body(self.collection_body(collection)),
            RestApi::V1 => {
                let mut query = vec![("collectionName", collection)];
                if let Some(db) = &self.database {
                    query.push(("dbName", db));
                }
                self.http
                    .get(format!("{}/v1/vector/collections/describe", self.base))
                    .query(&query)
            }
        };
        self.build(b.headers(self.headers(api)))
    }

    /// v2: `POST /v2/vectordb/collections/list {"dbName"?}`;
    /// v1: `GET /v1/vector/collections[?dbName=]`.
    pub(crate) fn list_request(&self, api: RestApi) -> Result<reqwest::Request, String> {
        let b = match api {
            RestApi::V2 => {
                let body = match &self.database {
                    Some(db) => serde_json::json!({ "dbName": db }),
                    None => serde_json::json!({}),
                };
                self.http
                    .post(format!("{}/v2/vectordb/collections/list", self.base))
                    .body(body.to_string())
            }
            RestApi::V1 => {
                let b = self
                    .http
                    .get(format!("{}/v1/vector/collections", self.base));
                match &self.database {
                    Some(db) => b.query(&[("dbName", db)]),
                    None => b,
                }
            }
        };
        self.build(b.headers(self.headers(api)))
    }

    /// v2: `POST /v2/vectordb/entities/{insert,upsert}`;
    /// v1: `POST /v1/vector/{insert,upsert}`; the body from a [`BatchBuilder`].
    pub(crate) fn write_request(
        &self,
        api: RestApi,
        op: WriteOp,
        body: Bytes,
    ) -> Result<reqwest::Request, String> {
        let path = match api {
            RestApi::V2 => format!("/v2/vectordb/entities/{op}"),
            RestApi::V1 => format!("/v1/vector/{op}"),
        };
        let b = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body)
            .headers(self.headers(api));
        self.build(b)
    }

    async fn send(&self, request: reqwest::Request) -> Result<(u16, Bytes), SinkError> {
        let unreachable = |e: reqwest::Error| SinkError::Unreachable {
            endpoint: self.base.clone(),
            reason: error_chain(&e),
        };
        let response = self.http.execute(request).await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(unreachable)?;
        Ok((status, body))
    }

    /// Describes `collection` over `api`.
    pub(crate) async fn describe(
        &self,
        api: RestApi,
        collection: &str,
    ) -> Result<CollectionSchema, SinkError> {
        let request =
            self.describe_request(api, collection)
                .map_err(|reason| SinkError::Endpoint {
                    endpoint: self.base.clone(),
                    reason,
                })?;
        let (status, body) = self.send(request).await?;
        match self.describe_answer(api, collection, status, &body) {
            Err(SinkError::CollectionNotFound {
                endpoint,
                database,
                collection,
                ..
            }) => Err(SinkError::CollectionNotFound {
                existing: self.list(api).await,
                endpoint,
                database,
                collection,
            }),
            other => other,
        }
    }

    /// The collections of the database, or `None` when they cannot be listed.
    async fn list(&self, api: RestApi) -> Option<Vec<String>> {
        let (status, body) = self.send(self.list_request(api).ok()?).await.ok()?;
        let answer = Answer::read(status, &body, self.token.as_ref());
        if !answer.is_success(api) {
            return None;
        }
        let mut names: Vec<String> = serde_json::from_value(answer.data?).ok()?;
        names.sort();
        Some(names)
    }

    /// Turns a describe answer into the schema or a clear error.
    pub(crate) fn describe_answer(
        &self,
        api: RestApi,
        collection: &str,
        status: u16,
        body: &[u8],
    ) -> Result<CollectionSchema, SinkError> {
        let answer = Answer::read(status, body, self.token.as_ref());
        if status == 401 || answer.code == Some(1800) {
            return Err(SinkError::Auth {
                endpoint: self.base.clone(),
                message: answer.describe(),
            });
        }
        if status == 404 {
            let path = match api {
                RestApi::V2 => "/v2/vectordb/collections/describe",
                RestApi::V1 => "/v1/vector/collections/describe",
            };
            return Err(SinkError::ApiNotFound {
                endpoint: self.base.clone(),
                api,
                path: path.into(),
                hint: match api {
                    RestApi::V2 => {
                        "; Milvus 2.3 speaks only REST v1: set sink.api = \"v1\" or \"auto\""
                    }
                    RestApi::V1 => {
                        "; is this a Milvus endpoint? (Milvus 2.3+ serves REST on its gRPC port, 19530 by default)"
                    }
                },
            });
        }
        if status == 403 {
            return Err(SinkError::Forbidden {
                endpoint: self.base.clone(),
                collection: collection.into(),
                code: answer.code.unwrap_or(403),
                message: answer.message,
            });
        }
        if answer.is_success(api) {
            let data = answer.data.unwrap_or(serde_json::Value::Null);
            let parsed = match api {
                RestApi::V1 => CollectionSchema::from_v1_describe(&data),
                RestApi::V2 => CollectionSchema::from_v2_describe(&data),
            };
            return parsed.map_err(|source| SinkError::Schema {
                endpoint: self.base.clone(),
                collection: collection.into(),
                source,
            });
        }
        Err(match answer.code {
            Some(100) => SinkError::CollectionNotFound {
                endpoint: self.base.clone(),
                database: self.database_name().into(),
                collection: collection.into(),
                existing: None,
            },
            Some(800) => SinkError::DatabaseNotFound {
                endpoint: self.base.clone(),
                database: self.database_name().into(),
            },
            code => SinkError::Server {
                endpoint: self.base.clone(),
                what: format!("describe collection `{collection}` over REST {api}"),
                status,
                code: code.map_or_else(|| "-".into(), |c| c.to_string()),
                message: answer.message,
            },
        })
    }
}

#[cfg(test)]
mod tests;
