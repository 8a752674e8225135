//! The HTTP service: sends the requests `request_builder` makes, and turns
//! Milvus' answers into outcomes: connect (find the REST API, read the
//! schema), describe, write.
//!
//! Shapes follow Milvus' own handlers: REST v1 in
//! `internal/distributed/proxy/httpserver/handler_v1.go` (v2.3.5), REST v2 in
//! `handler_v2.go` (v2.4, v2.5). Errors nearly always come as HTTP 200 with a
//! non-success body `code` (200 is success on v1, 0 on v2), so the body code
//! is always read.

use super::answer::{Answer, parse_id, request_failure};
use super::batch::{BatchBody, BatchBuilder, BodyKind};
use super::encode::RowEncoder;
use super::error::{FailureClass, SinkError, WriteError, WriteOk};
use super::refresh::SchemaRef;
use super::request_builder::Endpoint;
use super::retry::{after_few, classify};
use super::schema::{CollectionSchema, DataType};
use super::tls::certificate_failure;
use super::{ApiVersion, RestApi, RetryPolicy, Secret, SinkConfig, WriteMode, WriteOp};
use crate::common::env;
use crate::common::text::error_chain;
use bytes::Bytes;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// A connection to one Milvus collection, ready to write batches.
pub struct MilvusSink {
    pub(super) endpoint: Endpoint,
    api: RestApi,
    op: WriteOp,
    /// Replaced when the collection gains fields (`refresh.rs`).
    encoder: RwLock<Arc<RowEncoder>>,
    pub(super) batch_max_rows: usize,
    pub(super) batch_max_bytes: usize,
    retry: RetryPolicy,
}

impl fmt::Debug for MilvusSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MilvusSink")
            .field("endpoint", &self.endpoint)
            .field("api", &self.api)
            .field("op", &self.op)
            .field("collection", &self.schema().name)
            .finish_non_exhaustive()
    }
}

impl MilvusSink {
    /// Expands the token, finds the REST API (`auto`: v2 describe, and v1
    /// when v2 answers HTTP 404), reads the collection's schema and decides
    /// between insert and upsert. Fails with a message for the user when
    /// the endpoint is unreachable, the token is refused, or the collection
    /// is missing or cannot be written as configured.
    pub async fn connect(config: &SinkConfig) -> Result<Self, SinkError> {
        let token = match &config.token {
            Some(t) => Some(expand_token(t, |name| std::env::var(name).ok())?),
            None => None,
        };
        let endpoint = Endpoint::new(config, token)?;
        let collection = config.collection.as_str();
        let (api, described) = endpoint.detect(config.api, collection).await;
        let schema = match (described, &config.create) {
            (Err(SinkError::CollectionNotFound { .. }), Some(create)) => {
                endpoint.create(api, collection, create).await?;
                endpoint.describe(api, collection).await?
            }
            (Ok(schema), Some(create)) => {
                let differences = create.differences(&schema);
                if !differences.is_empty() {
                    return Err(SinkError::CreateMismatch {
                        endpoint: endpoint.base.clone(),
                        collection: collection.into(),
                        differences,
                    });
                }
                schema
            }
            (described, None) => described?,
            (Err(e), Some(_)) => return Err(e),
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
            // Insert and full upsert need no loaded collection (v2.5.27
            // internal/proxy/task_insert.go has no load check), and one
            // without an index cannot be loaded: stream now, load later.
            Some(false) => warn!(
                collection = %schema.name,
                "The collection is not loaded (or still loading): rows are written, but searches and queries see them only once it is loaded."
            ),
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
            encoder: RwLock::new(Arc::new(RowEncoder::new(schema, api))),
            batch_max_rows: config.batch_max_rows,
            batch_max_bytes: config.batch_max_bytes,
            retry: config.retry_policy(),
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
    pub fn schema(&self) -> SchemaRef {
        SchemaRef(self.encoder())
    }

    /// Checks rows against the schema and writes them as JSON.
    pub fn encoder(&self) -> Arc<RowEncoder> {
        self.encoder
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the encoder (the collection gained fields).
    pub(super) fn set_encoder(&self, encoder: RowEncoder) {
        *self.encoder.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(encoder);
    }

    /// The endpoint, as configured (without a trailing `/`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint.base
    }

    /// An empty batch for this collection, with the configured limits.
    pub fn batch_builder<T>(&self) -> BatchBuilder<T> {
        self.batch_builder_for(None)
    }

    /// An empty batch for `partition` of this collection (the default
    /// partition when `None`), with the configured limits.
    pub fn batch_builder_for<T>(&self, partition: Option<&str>) -> BatchBuilder<T> {
        BatchBuilder::with_partition(
            &self.schema().name,
            self.endpoint.database.as_deref(),
            partition,
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
        self.describe_again().await.map(|_| ())
    }

    /// Describes the collection again.
    pub(super) async fn describe_again(&self) -> Result<CollectionSchema, SinkError> {
        self.endpoint.describe(self.api, &self.schema().name).await
    }

    /// What a body asks Milvus to do, for messages.
    fn verb(&self, body: &BatchBody) -> &'static str {
        match (body.kind(), self.op) {
            (BodyKind::Delete, _) => "delete",
            (BodyKind::Rows, WriteOp::Insert) => "insert",
            (BodyKind::Rows, WriteOp::Upsert) => "upsert",
        }
    }

    /// Sends one batch. `Ok` only when Milvus acknowledged every row of it
    /// (every key, for a delete).
    pub async fn write(&self, body: &BatchBody) -> Result<WriteOk, WriteError> {
        let request = match body.kind() {
            BodyKind::Rows => self.endpoint.write_request(self.api, self.op, body.bytes()),
            BodyKind::Delete => self.endpoint.delete_request(self.api, body.bytes()),
        }
        .map_err(|reason| WriteError::Fatal { reason })?;
        let started = Instant::now();
        let response = self
            .endpoint
            .http
            .execute(request)
            .await
            .map_err(|e| request_failure(&self.endpoint, &e))?;
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
            after_few: None,
        })?;
        let result = match body.kind() {
            BodyKind::Rows => self.write_answer(status, &answer, body.rows(), retry_after),
            BodyKind::Delete => self.delete_answer(status, &answer, body.rows(), retry_after),
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(ok) => debug!(
                rows = ok.rows,
                bytes = body.len(),
                op = self.verb(body),
                elapsed_ms,
                "Batch written."
            ),
            Err(e) => debug!(
                rows = body.rows(),
                bytes = body.len(),
                op = self.verb(body),
                status,
                class = ?e.class(),
                error = %e,
                "Batch write failed."
            ),
        }
        result
    }

    /// What to tell the user about a write answer that stops the pipeline.
    fn fatal_reason(&self, status: u16, code: Option<i64>, text: &str) -> String {
        let schema = self.schema();
        let (base, collection) = (&self.endpoint.base, &schema.name);
        match (status, code) {
            (401, _) | (_, Some(1800 | 80001 | 80002)) => {
                format!("Milvus at {base} refused the token (check sink.token): {text}")
            }
            (403, _) => {
                format!("Milvus at {base} denied writing to collection `{collection}`: {text}")
            }
            (_, Some(100)) => {
                format!("collection `{collection}` no longer exists at {base}: {text}")
            }
            (404, _) => format!(
                "{base} answered HTTP 404 to a REST {} {}: {text}",
                self.api, self.op
            ),
            _ => format!("Milvus refused the {}: {text}", self.op),
        }
    }

    /// A write or delete answer that is not a success, as an error.
    pub(super) fn failed_answer(
        &self,
        status: u16,
        answer: Answer,
        retry_after: Option<Duration>,
    ) -> WriteError {
        let code = answer.code;
        let text = answer.describe();
        match classify(status, code) {
            FailureClass::Retryable
            | FailureClass::RetryThenHalve
            | FailureClass::RetryThenStop => WriteError::Retryable {
                reason: format!("Milvus is busy or unavailable: {text}"),
                retry_after,
                after_few: after_few(status, code),
            },
            FailureClass::Rejected => WriteError::Rejected {
                code: code.unwrap_or(i64::from(status)),
                message: answer.message,
            },
            FailureClass::Fatal => WriteError::Fatal {
                reason: self.fatal_reason(status, code, &text),
            },
        }
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
        let schema = self.schema();
        let collection = &schema.name;
        if !answer.is_success(self.api) {
            return Err(self.failed_answer(status, answer, retry_after));
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
            schema.field(&schema.primary).map(|f| &f.data_type),
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

/// Expands `${NAME}` in the token from the environment. Errors name the
/// variable, never its value.
pub(crate) fn expand_token(
    token: &Secret,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Secret, SinkError> {
    let out = env::expand(token.expose(), lookup).map_err(SinkError::TokenEnv)?;
    if out.is_empty() {
        return Err(SinkError::TokenSyntax(
            "is empty; remove it when the server needs no token".into(),
        ));
    }
    Ok(Secret::new(out))
}

/// Sending requests and reading answers (building them is `request_builder`'s).
impl Endpoint {
    /// The REST API to speak (`auto`: v2 describe, and v1 when v2 answers
    /// HTTP 404) and what describing `collection` over it gave.
    async fn detect(
        &self,
        api: ApiVersion,
        collection: &str,
    ) -> (RestApi, Result<CollectionSchema, SinkError>) {
        match api {
            ApiVersion::V1 => (RestApi::V1, self.describe(RestApi::V1, collection).await),
            ApiVersion::V2 => (RestApi::V2, self.describe(RestApi::V2, collection).await),
            ApiVersion::Auto => match self.describe(RestApi::V2, collection).await {
                Err(SinkError::ApiNotFound { .. }) => {
                    debug!(endpoint = %self.base, "REST v2 answered 404; trying REST v1.");
                    (RestApi::V1, self.describe(RestApi::V1, collection).await)
                }
                other => (RestApi::V2, other),
            },
        }
    }

    pub(super) async fn send(&self, request: reqwest::Request) -> Result<(u16, Bytes), SinkError> {
        let unreachable = |e: reqwest::Error| match certificate_failure(&e, self.has_client_cert) {
            Some(reason) => SinkError::Tls {
                endpoint: self.base.clone(),
                reason,
            },
            None => SinkError::Unreachable {
                endpoint: self.base.clone(),
                reason: error_chain(&e),
            },
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
        if status == 401 || matches!(answer.code, Some(1800 | 80001 | 80002)) {
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
            return parsed.map_err(|problem| SinkError::Schema {
                endpoint: self.base.clone(),
                collection: collection.into(),
                problem,
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
