//! The Schema Registry client: `GET /schemas/ids/{id}` for a schema id seen
//! the first time, and `GET /subjects/{subject}/versions/{version}` for the
//! schemas it references (Confluent's REST API, which Confluent Cloud,
//! Confluent Platform, Redpanda, Karapace and Apicurio's compatibility API
//! serve). Basic auth or a bearer token, each from `${ENV}` and kept
//! secret; a CA file for TLS; a timeout per request.

use crate::common::env::{self, Secret};
use crate::common::invalid::Invalid;
use crate::common::retry::retryable_status;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `[source.schema_registry]`: where the schemas of framed records are.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// The registry's base URL, e.g. `http://127.0.0.1:8081` or
    /// `https://psrc-xxxxx.us-east-2.aws.confluent.cloud`.
    pub url: String,
    /// `user:password` (Confluent Cloud: `API_KEY:API_SECRET`) for HTTP
    /// basic auth; `${NAME}` is read from the environment. Never logged.
    #[serde(default)]
    pub basic_auth: Option<Secret>,
    /// A bearer token (OAuth); `${NAME}` is read from the environment.
    /// Never logged.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// A PEM file of CA certificates to trust besides the system's (a
    /// registry with a private CA); a relative path is taken from the
    /// working directory.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How long one request may take before it is retried.
    #[serde(default = "default_timeout_ms")]
    pub request_timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl RegistryConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        const TABLE: &str = "source.schema_registry";
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(Invalid::key(
                TABLE,
                "url",
                "must be an http:// or https:// URL, e.g. url = \"http://127.0.0.1:8081\"",
            ));
        }
        if self.basic_auth.is_some() && self.bearer_token.is_some() {
            return Err(Invalid::key(
                TABLE,
                "bearer_token",
                "is set with basic_auth: the registry takes one of them; remove one",
            ));
        }
        if self.request_timeout_ms == 0 {
            return Err(Invalid::key(TABLE, "request_timeout_ms", "must be above 0"));
        }
        Ok(())
    }
}

/// Why a schema could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The registry does not know it (HTTP 404): the records that name it fail.
    NotFound(String),
    /// Unreachable, timed out, 408, 429 or 5xx: worth another attempt; the
    /// records wait.
    Unavailable(String),
    /// Refused otherwise (401, 403, another 4xx): the configuration is
    /// wrong; the pipeline stops.
    Refused(String),
}

/// One schema as the registry serves it.
#[derive(Debug, Clone, Deserialize)]
pub struct RawSchema {
    /// The schema text (Avro or JSON Schema JSON, .proto text).
    pub schema: String,
    /// `AVRO` (when absent), `PROTOBUF` or `JSON`.
    #[serde(default, rename = "schemaType")]
    pub schema_type: Option<String>,
    /// Schemas this one imports.
    #[serde(default)]
    pub references: Vec<Reference>,
}

impl RawSchema {
    /// `AVRO`, `PROTOBUF` or `JSON`.
    pub fn kind(&self) -> &str {
        self.schema_type.as_deref().unwrap_or("AVRO")
    }
}

/// A schema reference: the name the schema imports it by, and where it is.
#[derive(Debug, Clone, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i64,
}

/// The registry client. Requests run on the pipeline's runtime (`handle`),
/// from the preparer's thread.
pub struct Registry {
    client: reqwest::Client,
    url: String,
    auth: Option<reqwest::header::HeaderValue>,
    handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A client for `config` (secrets expanded from the environment now).
    pub fn new(
        config: &RegistryConfig,
        handle: tokio::runtime::Handle,
    ) -> Result<Registry, String> {
        use base64::Engine as _;
        let expand = |key: &str, secret: &Secret| {
            env::expand_env(secret.expose())
                .map_err(|e| e.at(&format!("source.schema_registry.{key}")))
        };
        let auth = match (&config.basic_auth, &config.bearer_token) {
            (Some(basic), _) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(expand("basic_auth", basic)?)
            )),
            (None, Some(token)) => Some(format!("Bearer {}", expand("bearer_token", token)?)),
            (None, None) => None,
        };
        let auth = auth
            .map(|a| {
                let mut v = reqwest::header::HeaderValue::from_str(&a)
                    .map_err(|_| "source.schema_registry: the credentials hold characters an HTTP header cannot".to_string())?;
                v.set_sensitive(true);
                Ok::<_, String>(v)
            })
            .transpose()?;
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.request_timeout_ms))
            .connect_timeout(Duration::from_millis(config.request_timeout_ms.min(5000)));
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("source.schema_registry.ca_file {}: {e}", ca.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                format!(
                    "source.schema_registry.ca_file {}: not PEM certificates: {e}",
                    ca.display()
                )
            })? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| format!("source.schema_registry: {e}"))?;
        Ok(Registry {
            client,
            url: config.url.trim_end_matches('/').to_string(),
            auth,
            handle,
        })
    }

    /// `GET /schemas/ids/{id}`.
    pub fn schema(&self, id: u32) -> Result<RawSchema, FetchError> {
        self.get(&format!("/schemas/ids/{id}"))
    }

    /// `GET /subjects/{subject}/versions/{version}`: a referenced schema.
    pub fn version(&self, subject: &str, version: i64) -> Result<RawSchema, FetchError> {
        let subject: String = subject
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        self.get(&format!("/subjects/{subject}/versions/{version}"))
    }

    fn get(&self, path: &str) -> Result<RawSchema, FetchError> {
        let url = format!("{}{path}", self.url);
        let mut request = self.client.get(&url).header(
            "Accept",
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        if let Some(auth) = &self.auth {
            request = request.header(reqwest::header::AUTHORIZATION, auth.clone());
        }
        let answer = self.handle.block_on(async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let body = response.text().await?;
            Ok::<_, reqwest::Error>((status, body))
        });
        let (status, body) = answer.map_err(|e| {
            FetchError::Unavailable(format!(
                "GET {url}: {}",
                crate::common::text::error_chain(&e)
            ))
        })?;
        let short = crate::common::text::truncate(&body, 300);
        match status {
            200 => serde_json::from_str(&body).map_err(|e| {
                FetchError::Refused(format!(
                    "GET {url}: the answer is not a schema ({e}): {short}"
                ))
            }),
            // 40401 subject, 40402 version, 40403 schema not found; a 404
            // without them is not the registry's answer (a wrong url).
            404 if registry_not_found(&body) => {
                Err(FetchError::NotFound(format!("GET {url}: 404 {short}")))
            }
            404 => Err(FetchError::Refused(format!(
                "GET {url}: 404 without a registry error code: is source.schema_registry.url the registry's base URL? {short}"
            ))),
            s if retryable_status(s) => {
                Err(FetchError::Unavailable(format!("GET {url}: {s} {short}")))
            }
            401 | 403 => Err(FetchError::Refused(format!(
                "GET {url}: {status}: the registry refused the credentials (source.schema_registry basic_auth / bearer_token)"
            ))),
            s => Err(FetchError::Refused(format!("GET {url}: {s} {short}"))),
        }
    }
}

fn registry_not_found(body: &str) -> bool {
    #[derive(Deserialize)]
    struct Error {
        error_code: i64,
    }
    serde_json::from_str::<Error>(body).is_ok_and(|e| (40401..=40403).contains(&e.error_code))
}
