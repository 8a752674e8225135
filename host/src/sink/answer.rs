//! Reading what Milvus answers: the `{code, message, data}` envelope (with
//! the token scrubbed from messages), the ids it reports, and a request that
//! got no answer as a write outcome.

use super::encode::PrimaryKey;
use super::error::{AfterFew, WriteError};
use super::request_builder::Endpoint;
use super::tls::certificate_failure;
use super::{RestApi, Secret};
use crate::common::text::{self, error_chain};

/// An id as Milvus reports it: an Int64 as a number or (without
/// `Accept-Type-Allow-Int64`, the 2.3 default) as a decimal string.
pub(super) fn parse_id(id: &serde_json::Value, int_pk: bool) -> Option<PrimaryKey> {
    match id {
        serde_json::Value::Number(n) => n.as_i64().map(PrimaryKey::Int),
        serde_json::Value::String(s) if int_pk => s.parse().ok().map(PrimaryKey::Int),
        serde_json::Value::String(s) => Some(PrimaryKey::Str(s.clone())),
        _ => None,
    }
}

/// A request error as a write outcome: every failure to get an answer is
/// retryable except a request that could not be built and a TLS handshake
/// refused over certificates (which no retry fixes).
pub(super) fn request_failure(endpoint: &Endpoint, e: &reqwest::Error) -> WriteError {
    if let Some(tls) = certificate_failure(e, endpoint.has_client_cert) {
        return WriteError::Fatal {
            reason: format!("TLS to Milvus at {} failed: {tls}", endpoint.base),
        };
    }
    let endpoint = endpoint.base.as_str();
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
        // A batch that keeps timing out is halved (smaller requests finish sooner).
        after_few: e
            .is_timeout()
            .then_some(AfterFew::HalveTimeout { code: 408 }),
    }
}

/// A Milvus answer: HTTP status and the JSON envelope `{code, message, data}`.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: u16,
    pub code: Option<i64>,
    pub message: String,
    pub data: Option<serde_json::Value>,
}

impl Answer {
    pub fn read(status: u16, body: &[u8], token: Option<&Secret>) -> Self {
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

    pub fn is_success(&self, api: RestApi) -> bool {
        let ok_code = match api {
            RestApi::V1 => 200,
            RestApi::V2 => 0,
        };
        (200..300).contains(&self.status) && self.code == Some(ok_code)
    }

    /// "HTTP 200, code 1804: message".
    pub fn describe(&self) -> String {
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
pub(super) fn scrub(message: &str, token: Option<&Secret>) -> String {
    const MAX: usize = 1000;
    let t = token.map_or("", Secret::expose);
    let password = match t.split_once(':') {
        Some((_, password)) if password.len() >= 3 => password,
        _ => "",
    };
    let s = text::scrub(message, &[t, password]);
    if s.len() > MAX {
        return format!("{}...", text::truncate(&s, MAX));
    }
    s
}
