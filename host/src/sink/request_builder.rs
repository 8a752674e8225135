//! The request builder: where requests go and how they look. Building a
//! request needs no server, so tests check paths, headers and bodies
//! directly; sending them and reading the answers is `client`'s.

use super::error::SinkError;
use super::{RestApi, Secret, SinkConfig, WriteOp};
use crate::common::text::error_chain;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use std::fmt;
use std::time::Duration;

/// Where requests go and how.
pub(crate) struct Endpoint {
    pub(crate) http: reqwest::Client,
    /// The endpoint without a trailing `/`.
    pub(crate) base: String,
    pub(crate) token: Option<Secret>,
    pub(crate) database: Option<String>,
    pub(super) request_timeout: Duration,
    /// Whether a client certificate is presented (for handshake messages).
    pub(super) has_client_cert: bool,
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
        let tls = config.tls_files();
        let builder =
            tls.configure(reqwest::Client::builder())
                .map_err(|e| SinkError::Endpoint {
                    endpoint: base.clone(),
                    reason: format!("sink.{} {}", e.key, e.message),
                })?;
        let http = builder
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
            has_client_cert: tls.has_client_cert(),
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

    pub(super) fn database_name(&self) -> &str {
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
        self.post(&path, api, body)
    }

    /// `POST {base}{path}` with `body` and the headers of `api`.
    pub(super) fn post(
        &self,
        path: &str,
        api: RestApi,
        body: Bytes,
    ) -> Result<reqwest::Request, String> {
        let b = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body)
            .headers(self.headers(api));
        self.build(b)
    }
}
