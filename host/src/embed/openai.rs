//! The `openai` provider: any OpenAI-compatible `POST {url}/embeddings`
//! endpoint (OpenAI, Ollama, vLLM, TEI and the like).
//!
//! Request: `{"model", "input": [texts], "encoding_format": "float"}` plus
//! `dimensions` when configured, with `Authorization: Bearer KEY` when a key
//! is set. Answer: `{"data": [{"index", "embedding"}, ...]}`, possibly out of
//! order (sorted by `index` here). HTTP 408, 429 and 5xx and transport
//! errors are retried with the shared backoff ([`RetryPolicy`]); other
//! statuses (400, 401, 403, 404, ...) fail at once. The key never appears in
//! an error: answers are scrubbed of it.

use super::EmbedError;
use crate::common::env::Secret;
use crate::common::retry::{GaveUp, RetryPolicy, Retryable, block_on, retry, retryable_status};
use crate::common::text::{self, error_chain};
use serde::Deserialize;
use std::ops::ControlFlow;
use std::time::Duration;

/// Where and how to call the endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiOptions {
    /// The API base, e.g. `https://api.openai.com/v1`; `/embeddings` is appended.
    pub url: String,
    /// The model name sent in each request.
    pub model: String,
    /// The API key (already expanded from the environment), if any.
    pub api_key: Option<Secret>,
    /// The vector length asked for (`dimensions`) and checked in answers.
    pub dimensions: Option<usize>,
    /// The most texts in one request.
    pub batch_size: usize,
    /// One request's timeout.
    pub timeout: Duration,
    /// Attempts and backoff for retryable failures.
    pub retry: RetryPolicy,
}

/// A client of one OpenAI-compatible endpoint.
#[derive(Debug)]
pub struct OpenAiEmbedder {
    options: OpenAiOptions,
    endpoint: String,
    client: reqwest::blocking::Client,
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    index: usize,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<serde_json::Value>,
}

/// One failed attempt.
enum Attempt {
    Retry(String),
    Fail(String),
}

impl Retryable for Attempt {
    fn is_retryable(&self) -> bool {
        matches!(self, Attempt::Retry(_))
    }
}

impl OpenAiEmbedder {
    /// A client for `options` (no request is sent yet).
    pub fn new(options: OpenAiOptions) -> Result<OpenAiEmbedder, EmbedError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(options.timeout)
            .build()
            .map_err(|e| EmbedError::Failed(format!("cannot build the HTTP client: {e}")))?;
        let endpoint = format!("{}/embeddings", options.url.trim_end_matches('/'));
        Ok(OpenAiEmbedder {
            options,
            endpoint,
            client,
        })
    }

    /// The configured vector length, if any.
    pub fn dimension(&self) -> Option<usize> {
        self.options.dimensions
    }

    /// Embeds `texts` in requests of at most `batch_size` texts.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.options.batch_size.max(1)) {
            out.extend(self.embed_batch(chunk)?);
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut body = serde_json::json!({
            "model": self.options.model,
            "input": texts,
            "encoding_format": "float",
        });
        if let Some(d) = self.options.dimensions {
            body["dimensions"] = d.into();
        }
        // Blocking requests and a blocking sleep: the loop never waits for
        // a wake-up, so it runs on this thread.
        let outcome = block_on(retry(
            &self.options.retry,
            |_| std::future::ready(self.attempt(&body, texts.len())),
            |r| {
                let (Attempt::Retry(reason) | Attempt::Fail(reason)) = r.error;
                tracing::warn!(
                    endpoint = self.endpoint,
                    attempt = r.attempt,
                    delay_ms = r.delay.as_millis() as u64,
                    reason = self.scrub(reason),
                    "Embedding request failed; retrying."
                );
                ControlFlow::Continue(())
            },
            |delay| {
                std::thread::sleep(delay);
                std::future::ready(())
            },
        ));
        match outcome {
            Ok(done) => Ok(done.value),
            Err(GaveUp {
                error: Attempt::Retry(reason),
                attempts,
            }) => Err(EmbedError::Failed(format!(
                "{reason} (gave up after {attempts} attempts)"
            ))),
            Err(GaveUp {
                error: Attempt::Fail(reason),
                ..
            }) => Err(EmbedError::Failed(reason)),
        }
    }

    fn attempt(&self, body: &serde_json::Value, n: usize) -> Result<Vec<Vec<f32>>, Attempt> {
        let mut request = self.client.post(&self.endpoint).json(body);
        if let Some(key) = &self.options.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request.send().map_err(|e| {
            // Transport errors (refused, reset, timed out) are worth another try.
            Attempt::Retry(self.scrub(&format!(
                "{} unreachable: {}",
                self.endpoint,
                error_chain(&e)
            )))
        })?;
        let status = response.status().as_u16();
        let bytes = response.bytes().map_err(|e| {
            Attempt::Retry(self.scrub(&format!("reading the answer: {}", error_chain(&e))))
        })?;
        if status != 200 {
            let reason = self.scrub(&format!(
                "{} answered HTTP {status}: {}",
                self.endpoint,
                describe_error(&bytes)
            ));
            return Err(if retryable_status(status) {
                Attempt::Retry(reason)
            } else {
                Attempt::Fail(reason)
            });
        }
        let mut answer: Answer = serde_json::from_slice(&bytes).map_err(|e| {
            Attempt::Fail(format!(
                "{} answered with an unexpected body ({e}); is it an OpenAI-compatible /embeddings endpoint?",
                self.endpoint
            ))
        })?;
        if answer.data.len() != n {
            return Err(Attempt::Fail(format!(
                "{} returned {} embeddings for {n} texts",
                self.endpoint,
                answer.data.len()
            )));
        }
        answer.data.sort_by_key(|d| d.index);
        for (i, item) in answer.data.iter().enumerate() {
            if item.index != i {
                return Err(Attempt::Fail(format!(
                    "{} returned embedding indexes that are not 0..{n}",
                    self.endpoint
                )));
            }
            if let Some(d) = self.options.dimensions
                && item.embedding.len() != d
            {
                return Err(Attempt::Fail(format!(
                    "{} returned a vector of {} dimensions, but the embedder is configured with dimensions = {d}",
                    self.endpoint,
                    item.embedding.len()
                )));
            }
        }
        Ok(answer.data.into_iter().map(|d| d.embedding).collect())
    }

    /// `message` without the API key in it.
    fn scrub(&self, message: &str) -> String {
        let key = self.options.api_key.as_ref().map_or("", Secret::expose);
        text::scrub(message, &[key])
    }
}

/// The OpenAI error body's message, type and code, or the body's start.
fn describe_error(bytes: &[u8]) -> String {
    if let Ok(e) = serde_json::from_slice::<ErrorAnswer>(bytes) {
        let mut s = e.error.message.unwrap_or_default();
        if let Some(kind) = e.error.kind {
            s.push_str(&format!(" (type {kind}"));
            if let Some(code) = e.error.code.filter(|c| !c.is_null()) {
                s.push_str(&format!(", code {code}"));
            }
            s.push(')');
        }
        return s;
    }
    text::truncate(&String::from_utf8_lossy(bytes), 300).to_string()
}
