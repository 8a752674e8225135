//! A tiny HTTP/1.1 server on 127.0.0.1 for tests: it records each request and
//! answers with what a handler returns, one request per connection
//! (`Connection: close`). Enough to drive the real HTTP path of the sink
//! against REST v2 answer shapes no local server can give.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    /// Path and query.
    pub(crate) target: String,
    /// Lower-case names.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// An answer: HTTP status and body (sent as JSON when it starts with `{`).
pub(crate) type Reply = (u16, String);

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

pub(crate) struct MockServer {
    pub(crate) url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MockServer {
    pub(crate) fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = {
            let requests = requests.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let requests = requests.clone();
                            let handler = handler.clone();
                            std::thread::spawn(move || serve(stream, &requests, &*handler));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        MockServer {
            url,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Recorded>>, handler: &Handler) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = Recorded {
        method,
        target,
        headers,
        body,
    };
    let (status, reply) = handler(&request);
    requests.lock().expect("lock").push(request);
    let content_type = if reply.starts_with('{') {
        "application/json; charset=utf-8"
    } else {
        "text/plain"
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} Mock\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = stream.flush();
}

/// A sink for collection `collection` (id Int64 primary key, v
/// FloatVector(2)) at an address nothing answers: for tests of what is
/// built and decided without a server. `write_mode`: `insert` or `upsert`.
pub(crate) fn offline_sink(collection: &str, write_mode: &str) -> super::MilvusSink {
    use super::schema::{CollectionSchema, DataType, FieldSchema};
    let config: super::SinkConfig = toml::from_str(&format!(
        "endpoint = \"http://127.0.0.1:9\"\ncollection = \"{collection}\"\nwrite_mode = \"{write_mode}\""
    ))
    .expect("a valid [sink]");
    let field = |name: &str, data_type, primary| FieldSchema {
        name: name.into(),
        data_type,
        primary,
        auto_id: false,
        nullable: false,
        has_default: false,
        function_output: false,
    };
    let schema = CollectionSchema {
        name: collection.into(),
        fields: vec![
            field("id", DataType::Int64, true),
            field("v", DataType::FloatVector { dim: 2 }, false),
        ],
        primary: "id".into(),
        auto_id: false,
        dynamic: false,
        allow_insert_auto_id: false,
        loaded: Some(true),
    };
    let endpoint = super::request_builder::Endpoint::new(&config, None).expect("a valid endpoint");
    super::MilvusSink::from_parts(&config, endpoint, super::RestApi::V2, schema)
        .expect("a sink for a plain schema")
}
