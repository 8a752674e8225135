//! Metrics and health against the real servers (tansu and Milvus 2.3.5): the
//! counters scraped from `/metrics` during a run match what Milvus holds and
//! what was produced, and `/readyz` turns 503 while Milvus is down and 200
//! once it is back (on a Milvus instance of this test's own, port 19650).

mod common;

use common::*;
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `kmv-host` with `--http-address 127.0.0.1:0`, its output in a log file.
struct Host {
    child: Child,
    log: PathBuf,
}

impl Host {
    fn start(pipeline: &Path, log: PathBuf) -> Host {
        let out = File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kmv-host"))
            .arg("--pipeline")
            .arg(pipeline)
            .args(["--progress-interval", "1", "--http-address", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("starting kmv-host");
        Host { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The address the HTTP server bound (from its log line).
    fn address(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains("Serving /metrics")) {
                let addr = line
                    .split("address=")
                    .nth(1)
                    .and_then(|s| s.split_whitespace().next())
                    .unwrap_or_else(|| panic!("no address in {line}"));
                return addr.to_string();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("kmv-host exited with {status} before serving:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "kmv-host did not start its HTTP server in 60 s:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then waits for a successful exit; returns the log.
    fn stop(mut self) -> String {
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0);
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("no exit 30 s after SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let log = self.log();
        assert!(status.success(), "exited with {status}:\n{log}");
        log
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `GET path` over HTTP/1.0: (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The sum of the series of metric `name` whose labels contain `labels`
/// (`None` when there is none) in a Prometheus text exposition.
fn metric(text: &str, name: &str, labels: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (n, l) = series.split_once('{').unwrap_or((series, ""));
        if n == name && l.contains(labels) {
            *found.get_or_insert(0.0) += value.parse::<f64>().unwrap();
        }
    }
    found
}

/// Polls `path` until `done(status, body)`, for up to `limit`.
fn poll_until(
    addr: &str,
    path: &str,
    limit: Duration,
    what: &str,
    host: &Host,
    done: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = Instant::now() + limit;
    loop {
        let (status, body) = get(addr, path);
        if done(status, &body) {
            return (status, body);
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen in {limit:?}; last {path}: {status}\n{body}\nlog:\n{}",
            host.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn scraped_metrics_match_milvus_and_the_inputs() {
    let (uri, topic) = (milvus(), unique("obs_metrics"));
    admin(
        &uri,
        None,
        &["create-seed", "--collection", &topic, "--drop"],
    );
    const GOOD: i64 = 300;
    let mut records = articles(0..GOOD, 8);
    // Two bad records among the good ones: not JSON (a transform error) and
    // a vector of the wrong dimension (a schema mismatch).
    records.insert(10, ("bad_json".into(), b"{\"id\": ".to_vec()));
    let mut wrong_dim = article(9_000, 8);
    wrong_dim["title_vector"] = serde_json::json!([0.5, 0.5]);
    records.insert(100, ("bad_dim".into(), wrong_dim.to_string().into_bytes()));
    let total = records.len() as f64;
    produce(&topic, &records);

    let dir = tempfile::tempdir().unwrap();
    let sink = format!(
        "endpoint = \"{uri}\"\ncollection = \"{topic}\"\nwrite_mode = \"insert\"\nbatch_max_rows = 50"
    );
    let errors = format!(
        "[errors]\ndead_letter_topic = \"{topic}.dlq\"\n[errors.dead_letter_properties]\n\"linger.ms\" = \"1\"\n"
    );
    let p = pipeline_with(
        dir.path(),
        &topic,
        &unique("g"),
        kmv_test_artifacts::PASSTHROUGH,
        "",
        &sink,
        "",
        &errors,
    );
    let mut host = Host::start(&p, dir.path().join("host.log"));
    let addr = host.address();
    assert_eq!(get(&addr, "/healthz").0, 200);
    let (status, body) = poll_until(
        &addr,
        "/readyz",
        Duration::from_secs(60),
        "ready",
        &host,
        |s, _| s == 200,
    );
    assert_eq!(status, 200);
    assert!(body.contains("\"ready\":true"), "{body}");
    let lag_series = format!("topic=\"{topic}\",partition=\"0\"");
    let (_, text) = poll_until(
        &addr,
        "/metrics",
        Duration::from_secs(120),
        "every record counted and the lag at 0",
        &host,
        |_, m| {
            metric(m, "kmv_records_consumed_total", "") == Some(total)
                && metric(m, "kmv_rows_written_total", "") == Some(GOOD as f64)
                && metric(m, "kmv_records_dead_lettered_total", "") == Some(2.0)
                && metric(m, "kmv_in_flight_bytes", "") == Some(0.0)
                && metric(m, "kmv_consumer_lag_records", &lag_series) == Some(0.0)
        },
    );
    let log = host.stop();

    let in_milvus = wait_count(&uri, None, &topic, GOOD as usize);
    assert_eq!(in_milvus, GOOD as usize);
    let m = |name: &str, labels: &str| {
        metric(&text, name, labels).unwrap_or_else(|| panic!("no {name}{{{labels}}} in\n{text}"))
    };
    assert_eq!(m("kmv_rows_written_total", ""), in_milvus as f64);
    assert_eq!(m("kmv_records_consumed_total", ""), total);
    assert_eq!(m("kmv_records_failed_total", ""), 2.0, "{text}");
    assert_eq!(
        m("kmv_records_failed_total", "class=\"transform_error\""),
        1.0
    );
    assert_eq!(
        m("kmv_records_failed_total", "class=\"schema_mismatch\""),
        1.0
    );
    assert_eq!(m("kmv_records_skipped_total", ""), 0.0);
    let batches = m("kmv_batches_written_total", "");
    assert!(batches >= (GOOD / 50) as f64, "{text}");
    // Every acknowledged write was timed (plus any retried attempts).
    assert!(
        m("kmv_batch_write_duration_seconds_count", "") >= batches,
        "{text}"
    );
    assert!(
        m("kmv_batch_write_duration_seconds_sum", "") > 0.0,
        "{text}"
    );
    assert!(
        m("kmv_transform_call_duration_seconds_count", "") >= 1.0,
        "{text}"
    );
    // The info gauge names the running module, as the logs do.
    let module = text
        .lines()
        .find(|l| l.starts_with("kmv_transform_info{"))
        .unwrap_or_else(|| panic!("no kmv_transform_info in\n{text}"));
    assert!(module.contains("module=\"passthrough.wasm@"), "{module}");
    assert!(module.ends_with(" 1"), "{module}");
    let identity = module.split('"').nth(1).unwrap();
    assert!(
        log.contains(&format!("transform=\"{identity}\""))
            || log.contains(&format!("transform={identity}")),
        "{log}"
    );
}

/// A Milvus of this test's own (`tests/services/milvus.sh --port 19650`),
/// stopped when dropped.
struct OwnMilvus {
    port: u16,
}

impl OwnMilvus {
    fn script(&self, action: &str) {
        let out = Command::new("bash")
            .arg(repo().join("tests/services/milvus.sh"))
            .args([action, "--port", &self.port.to_string()])
            .output()
            .expect("running tests/services/milvus.sh");
        assert!(
            out.status.success(),
            "milvus.sh {action} --port {}: {}{}",
            self.port,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnMilvus {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo().join("tests/services/milvus.sh"))
            .args(["stop", "--port", &self.port.to_string()])
            .status();
    }
}

#[test]
fn readyz_is_503_while_milvus_is_down_and_200_after() {
    kafka();
    let own = OwnMilvus { port: 19650 };
    own.script("start");
    let (uri, topic) = (own.uri(), unique("obs_ready"));
    admin(
        &uri,
        None,
        &["create-seed", "--collection", &topic, "--drop"],
    );
    produce(&topic, &articles(0..5, 8));
    let dir = tempfile::tempdir().unwrap();
    let sink = format!(
        "endpoint = \"{uri}\"\ncollection = \"{topic}\"\nwrite_mode = \"insert\"\nrequest_timeout_ms = 3000"
    );
    let p = pipeline(
        dir.path(),
        &topic,
        &unique("g"),
        kmv_test_artifacts::PASSTHROUGH,
        "",
        &sink,
    );
    let mut host = Host::start(&p, dir.path().join("host.log"));
    let addr = host.address();
    let ready = |s: u16, _: &str| s == 200;
    poll_until(
        &addr,
        "/readyz",
        Duration::from_secs(60),
        "ready",
        &host,
        ready,
    );
    assert_eq!(wait_count(&uri, None, &topic, 5), 5);

    own.script("stop");
    let (_, body) = poll_until(
        &addr,
        "/readyz",
        Duration::from_secs(60),
        "503 with Milvus down",
        &host,
        |s, _| s == 503,
    );
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["ready"], false, "{body}");
    assert_eq!(answer["failed"], serde_json::json!(["milvus"]), "{body}");
    assert!(
        answer["checks"]["milvus"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{}", own.port)),
        "{body}"
    );
    assert_eq!(get(&addr, "/healthz").0, 200, "alive while not ready");

    // It comes back with a fresh data dir: the collection is made anew.
    own.script("start");
    admin(
        &uri,
        None,
        &["create-seed", "--collection", &topic, "--drop"],
    );
    poll_until(
        &addr,
        "/readyz",
        Duration::from_secs(60),
        "ready again",
        &host,
        ready,
    );
    // And the pipeline writes again.
    produce(&topic, &articles(5..8, 8));
    assert_eq!(wait_count(&uri, None, &topic, 3), 3, "{}", host.log());
    host.stop();
    drop(own);
}
