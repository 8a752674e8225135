//! The `openai` embedding provider against a local HTTP server.
//!
//! No real OpenAI-compatible server is installed here (the torch-based ones
//! are gigabytes), so the server in this test answers with the request and
//! response shapes of the OpenAI API reference (`POST {url}/embeddings` with
//! `{"model", "input": [...], "encoding_format": "float"}`; answers
//! `{"object": "list", "data": [{"object": "embedding", "index", "embedding"}],
//! "model", "usage"}`; errors `{"error": {"message", "type", "code"}}` with
//! HTTP 401/429/500), including data returned out of order. It checks what
//! the client sends, that 429/5xx are retried and 400/401 are not, that the
//! key never appears in an error, and that a wrong vector length is refused.

use kmv_host::embed::{OpenAiEmbedder, OpenAiOptions};
use kmv_host::sink::{RetryPolicy, Secret};
use serde_json::{Value as Json, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "sk-test-0123456789abcdef-SECRET";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    body: Json,
}

/// A scripted answer: status and body; the last one repeats.
type Script = Vec<(u16, Box<dyn Fn(&Json) -> Json + Send + Sync>)>;

/// Starts a server on an ephemeral local port; returns its base URL and
/// the requests it saw.
fn server(script: Script) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let (mut length, mut authorization) = (0, None);
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (name, value) = h.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "authorization" => authorization = Some(value.trim().to_string()),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let body: Json = serde_json::from_slice(&body).unwrap();
            let (status, answer) = &script[n.min(script.len() - 1)];
            let answer = answer(&body).to_string();
            log.lock().unwrap().push(Seen {
                path,
                authorization,
                body,
            });
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, seen)
}

/// The OpenAI answer for the request's inputs: vector `[len, i, 0.5]` for
/// input i, listed in reverse order.
fn embeddings(body: &Json) -> Json {
    let inputs = body["input"].as_array().unwrap();
    let mut data: Vec<Json> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"object": "embedding", "index": i,
                   "embedding": [t.as_str().unwrap().len() as f32, i as f32, 0.5]})
        })
        .collect();
    data.reverse();
    json!({"object": "list", "data": data, "model": body["model"],
           "usage": {"prompt_tokens": 3, "total_tokens": 3}})
}

fn error(message: &str, kind: &str, code: &str) -> impl Fn(&Json) -> Json + Send + Sync + use<> {
    let e = json!({"error": {"message": message, "type": kind, "code": code}});
    move |_| e.clone()
}

fn embedder(url: &str, dimensions: Option<usize>, batch_size: usize) -> OpenAiEmbedder {
    OpenAiEmbedder::new(OpenAiOptions {
        url: url.to_string(),
        model: "text-embedding-3-small".into(),
        api_key: Some(Secret::new(KEY)),
        dimensions,
        batch_size,
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            forever: false,
            max_attempts: 4,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            jitter: 0.0,
        },
    })
    .unwrap()
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| "x".repeat(i + 1)).collect()
}

#[test]
fn sends_the_reference_request_and_sorts_data_by_index() {
    let (url, seen) = server(vec![(200, Box::new(embeddings))]);
    let vectors = embedder(&url, Some(3), 2).embed(&texts(5)).unwrap();
    // In input order although every answer listed them in reverse.
    let firsts: Vec<f32> = vectors.iter().map(|v| v[0]).collect();
    assert_eq!(firsts, [1.0, 2.0, 3.0, 4.0, 5.0]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "5 texts in batches of 2: {seen:?}");
    for s in seen.iter() {
        assert_eq!(s.path, "/v1/embeddings");
        assert_eq!(s.authorization.as_deref(), Some(&*format!("Bearer {KEY}")));
        assert_eq!(s.body["model"], "text-embedding-3-small");
        assert_eq!(s.body["encoding_format"], "float");
        assert_eq!(s.body["dimensions"], 3);
    }
    assert_eq!(seen[0].body["input"], json!(["x", "xx"]));
    assert_eq!(seen[2].body["input"], json!(["xxxxx"]));
}

#[test]
fn retries_429_and_5xx_then_succeeds() {
    let (url, seen) = server(vec![
        (
            429,
            Box::new(error(
                "Rate limit reached",
                "requests",
                "rate_limit_exceeded",
            )),
        ),
        (
            500,
            Box::new(error("The server had an error", "server_error", "internal")),
        ),
        (503, Box::new(|_: &Json| json!({}))),
        (200, Box::new(embeddings)),
    ]);
    let vectors = embedder(&url, None, 32).embed(&texts(2)).unwrap();
    assert_eq!(vectors.len(), 2);
    assert_eq!(seen.lock().unwrap().len(), 4);
}

#[test]
fn gives_up_after_max_attempts() {
    let (url, seen) = server(vec![(
        500,
        Box::new(error("The server had an error", "server_error", "internal")),
    )]);
    let err = embedder(&url, None, 32)
        .embed(&texts(1))
        .unwrap_err()
        .to_string();
    assert_eq!(seen.lock().unwrap().len(), 4);
    assert!(
        err.contains("HTTP 500") && err.contains("4 attempts"),
        "{err}"
    );
}

#[test]
fn does_not_retry_400_or_401_and_never_shows_the_key() {
    for status in [400, 401] {
        // A server that echoes the key in its message, as some do.
        let message = format!("Incorrect API key provided: {KEY}");
        let (url, seen) = server(vec![(
            status,
            Box::new(error(&message, "invalid_request_error", "invalid_api_key")),
        )]);
        let err = embedder(&url, None, 32).embed(&texts(2)).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert_eq!(seen.lock().unwrap().len(), 1, "HTTP {status} was retried");
        assert!(shown.contains(&format!("HTTP {status}")), "{shown}");
        assert!(shown.contains("invalid_api_key"), "{shown}");
        assert!(!shown.contains(KEY), "the key leaked: {shown}");
        assert!(
            !shown.contains("0123456789abcdef"),
            "the key leaked: {shown}"
        );
    }
    // Nor does the embedder's Debug show it.
    let e = embedder("http://127.0.0.1:9/v1", None, 1);
    assert!(!format!("{e:?}").contains(KEY));
}

#[test]
fn refuses_vectors_of_another_dimension() {
    let (url, _) = server(vec![(200, Box::new(embeddings))]);
    let err = embedder(&url, Some(384), 32)
        .embed(&texts(2))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("3 dimensions") && err.contains("dimensions = 384"),
        "{err}"
    );
}

#[test]
fn refuses_a_wrong_number_of_vectors() {
    let (url, _) = server(vec![(
        200,
        Box::new(|b: &Json| {
            let mut a = embeddings(b);
            a["data"].as_array_mut().unwrap().pop();
            a
        }),
    )]);
    let err = embedder(&url, None, 32)
        .embed(&texts(3))
        .unwrap_err()
        .to_string();
    assert!(err.contains("returned 2 embeddings for 3 texts"), "{err}");
}

#[test]
fn api_key_comes_from_the_environment_and_errors_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        format!(
            "[transform]\nmodule = {:?}\n\n[embedders.remote]\nprovider = \"openai\"\nurl = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\napi_key = \"${{KMV_TEST_NO_SUCH_KEY_VAR}}\"\n",
            kmv_test_artifacts::SEED
        ),
    )
    .unwrap();
    let loaded = kmv_host::config::PipelineConfig::load(&path).unwrap();
    let err = kmv_host::embed::Embedders::from_config(&loaded.config.embedders, &loaded.base_dir)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "embedder `remote`: api_key names the environment variable `KMV_TEST_NO_SUCH_KEY_VAR`, which is not set"
    );
}
