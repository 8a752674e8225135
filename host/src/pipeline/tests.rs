//! The pipeline against the real tansu broker and the REST v2 stand-in
//! (`tests/services/milvus_v2.py`, Milvus 2.5's handler rules), for what the
//! real Milvus 2.3.5 will not do on cue: reject a batch because of one of
//! its rows. The rows it rejects are rows kmv-host does not check itself: a
//! JSON field over Milvus' `common.JSONMaxLength` (65536 bytes, checked by
//! the proxy: v2.5.27 internal/proxy/validate_util.go:734-756, code 1100).
//!
//! Needs the broker of `tests/run.sh` (KMV_KAFKA_BROKERS, default
//! 127.0.0.1:9092); fails with how to start it when it is not there.

use super::*;

#[path = "../../tests/common/rest_v2.rs"]
mod rest_v2;
#[path = "../../tests/common/services.rs"]
mod services;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rest_v2::RestV2;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The repository (`rest_v2` finds the stand-in from it).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Records `{"id": i, "v": [0.5, i], "meta": {..}}` for ids `0..n` on
/// `topic`; the `meta` of the `bad` ids is over 65536 bytes.
fn produce(brokers: &str, topic: &str, n: i64, bad: &BTreeSet<i64>) {
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for id in 0..n {
        let text = if bad.contains(&id) {
            "x".repeat(70_000)
        } else {
            "ok".into()
        };
        let value = serde_json::json!({"id": id, "v": [0.5, id as f64], "meta": {"text": text}});
        let key = id.to_string();
        producer
            .send(BaseRecord::to(topic).key(&key).payload(&value.to_string()))
            .unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// A pipeline file: `topic` through the passthrough transform into
/// collection `c` at `url` (REST v2), batches of 25, failures logged.
fn pipeline_file(dir: &std::path::Path, brokers: &str, topic: &str, url: &str) -> PathBuf {
    let path = dir.join("pipeline.toml");
    std::fs::write(
        &path,
        format!(
            r#"[source]
brokers = "{brokers}"
topics = ["{topic}"]
group_id = "{topic}"
[source.properties]
"session.timeout.ms" = "6000"

[transform]
module = "{module}"

[sink]
endpoint = "{url}"
api = "v2"
collection = "c"
batch_max_rows = 25
linger_ms = 50
retry_initial_backoff_ms = 1

[errors]
policy = "log"
"#,
            module = kmv_test_artifacts::PASSTHROUGH,
        ),
    )
    .unwrap();
    path
}

/// Runs the pipeline in `path` until idle for 3 s.
fn run_until_idle(path: &std::path::Path) -> Summary {
    let loaded = PipelineConfig::load(path).unwrap();
    let engine = loaded.load_transform().unwrap();
    let options = RunOptions {
        stop_when_idle: Some(Duration::from_secs(3)),
        ..RunOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(run(
            loaded,
            engine,
            options,
            Arc::new(AtomicBool::new(false)),
        ))
        .unwrap()
}

#[test]
fn a_batch_milvus_rejects_is_halved_until_only_the_bad_rows_fail() {
    let brokers = services::kafka();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let topic = format!("rejects_{}_{nonce}", std::process::id());
    let n = 100i64;
    let bad: BTreeSet<i64> = [13, 77, 78, 95].into();
    let server = RestV2::start("2.5");
    let created = server.post(
        "/v2/vectordb/collections/create",
        serde_json::json!({"collectionName": "c", "schema": {"autoId": false,
            "enableDynamicField": false, "fields": [
                {"fieldName": "id", "dataType": "Int64", "isPrimary": true},
                {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": "2"}},
                {"fieldName": "meta", "dataType": "JSON"}]}}),
    );
    assert_eq!(created["code"], 0, "{created}");
    produce(&brokers, &topic, n, &bad);
    let dir = tempfile::tempdir().unwrap();
    let summary = run_until_idle(&pipeline_file(dir.path(), &brokers, &topic, &server.uri));

    let good: Vec<i64> = (0..n).filter(|id| !bad.contains(id)).collect();
    assert_eq!(summary.records_in, n as u64, "{summary:?}");
    assert_eq!(summary.failed, bad.len() as u64, "{summary:?}");
    assert_eq!(summary.rows_written, good.len() as u64, "{summary:?}");
    assert_eq!(
        summary.retries, 0,
        "a rejection is not retried: {summary:?}"
    );
    let stored: Vec<i64> = server
        .rows("c")
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(stored, good, "every good row written once, no bad one");
    // Whole batches were refused first: more requests than batches written.
    assert!(
        summary.batches > (good.len() as u64).div_ceil(25),
        "{summary:?}"
    );
}
