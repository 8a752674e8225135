//! Metrics and health against the real servers (tansu and Milvus 2.3.5): the
//! counters scraped from `/metrics` during a run match what Milvus holds and
//! what was produced, and `/readyz` turns 503 while Milvus is down and 200
//! once it is back (on a Milvus instance of this test's own, port 19650).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Starts a `kmv-host` that serves `/metrics` on a free port.
fn start_host(pipeline: &Path, dir: &Path) -> Host {
    Host::start(
        pipeline,
        dir.join("host.log"),
        &["--http-address", "127.0.0.1:0"],
    )
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
        let (status, body) = http_get(addr, path);
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
    create_seed(&uri, &topic);
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
    let errors = format!(
        "dead_letter_topic = \"{topic}.dlq\"\n[errors.dead_letter_properties]\n\"linger.ms\" = \"1\"\n"
    );
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(kmv_test_artifacts::PASSTHROUGH)
        .milvus(&uri, &topic)
        .sink("write_mode = \"insert\"\nbatch_max_rows = 50")
        .errors(&errors)
        .write();
    let mut host = start_host(&p, dir.path());
    let addr = host.address();
    assert_eq!(http_get(&addr, "/healthz").0, 200);
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
    let log = host.term("host");

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
    create_seed(&uri, &topic);
    produce(&topic, &articles(0..5, 8));
    let dir = tempfile::tempdir().unwrap();
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(kmv_test_artifacts::PASSTHROUGH)
        .milvus(&uri, &topic)
        .sink("write_mode = \"insert\"\nrequest_timeout_ms = 3000")
        .write();
    let mut host = start_host(&p, dir.path());
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
    assert_eq!(http_get(&addr, "/healthz").0, 200, "alive while not ready");

    // It comes back with a fresh data dir: the collection is made anew.
    own.script("start");
    create_seed(&uri, &topic);
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
    host.term("host");
    drop(own);
}
