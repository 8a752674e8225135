//! The schema registry of the tests (the stand-in `tests/services/schema_registry.py`
//! started by tests/run.sh), records produced by confluent-kafka's own
//! serializers (`examples/avro/produce.py` in `.kmv/srvenv`), and a TCP
//! proxy in front of the registry that a test can cut to stage an outage.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The registry (`KMV_SCHEMA_REGISTRY_URL`, default http://127.0.0.1:8081),
/// after checking it answers.
pub fn schema_registry() -> String {
    let url =
        std::env::var("KMV_SCHEMA_REGISTRY_URL").unwrap_or_else(|_| "http://127.0.0.1:8081".into());
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    assert!(
        super::tcp_up(addr),
        "no schema registry at {url}: run the tests with tests/run.sh, or start one with tests/services/schema_registry.sh start"
    );
    url
}

/// Produces the articles of the JSON lines file `input` to `topic` as
/// `format` (`avro`, `protobuf`, `json_schema`) with schema `version` (1,
/// or 2 with a field added), serialized by confluent-kafka's serializers,
/// which register the schema at `registry`.
pub fn produce_framed(registry: &str, format: &str, topic: &str, input: &Path, version: u32) {
    let python = super::state().join("srvenv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run tests/setup.sh (or tests/services/install.sh registry)",
        python.display()
    );
    let out = std::process::Command::new(&python)
        .env("PYTHONWARNINGS", "ignore")
        .arg(super::repo().join("examples/avro/produce.py"))
        .args(["--format", format, "--topic", topic, "--registry", registry])
        .args([
            "--brokers",
            &super::kafka(),
            "--schema-version",
            &version.to_string(),
        ])
        .arg("--input")
        .arg(input)
        .output()
        .expect("running examples/avro/produce.py");
    assert!(
        out.status.success(),
        "produce.py failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A TCP proxy to `upstream` on a port of its own, which can be cut (its
/// port refuses connections and open ones are closed) and restored.
pub struct Proxy {
    port: u16,
    upstream: String,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn start(upstream_url: &str) -> Proxy {
        let upstream = upstream_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let proxy = Proxy {
            port,
            upstream,
            up: Arc::new(AtomicBool::new(false)),
            conns: Arc::default(),
        };
        proxy.restore();
        proxy
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts forwarding again on the same port.
    pub fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        self.up.store(true, Ordering::SeqCst);
        let (up, upstream, conns) = (self.up.clone(), self.upstream.clone(), self.conns.clone());
        std::thread::spawn(move || {
            while up.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(&upstream) else {
                            continue;
                        };
                        conns.lock().unwrap().push(client.try_clone().unwrap());
                        conns.lock().unwrap().push(server.try_clone().unwrap());
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                        pipe(server, client);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
    }

    /// Stops forwarding: the port refuses connections, open ones are closed.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
