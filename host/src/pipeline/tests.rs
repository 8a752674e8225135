//! The pipeline against the real tansu broker and a local server speaking
//! Milvus' REST v2 shapes (`sink::mock`), for what the real Milvus 2.3.5 will
//! not do on cue: reject a batch as invalid because of one of its rows.
//!
//! Needs the broker of `tests/run.sh` (KMV_KAFKA_BROKERS, default
//! 127.0.0.1:9092); fails with how to start it when it is not there.

use super::*;

#[path = "../../tests/common/services.rs"]
mod services;
use crate::sink::mock::{MockServer, Recorded};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

/// id Int64 primary key, v FloatVector(2) (shape of handler_v2.go's describe).
const DESCRIBE: &str = r#"{"code":0,"data":{"aliases":[],"autoId":false,"collectionID":1,"collectionName":"c","consistencyLevel":"Bounded","description":"","enableDynamicField":false,"fields":[{"autoId":false,"description":"","id":100,"name":"id","partitionKey":false,"primaryKey":true,"type":"Int64"},{"autoId":false,"description":"","id":101,"name":"v","params":[{"key":"dim","value":"2"}],"partitionKey":false,"primaryKey":false,"type":"FloatVector"}],"indexes":[],"load":"LoadStateLoaded","partitionsNum":1,"properties":[],"shardsNum":1},"message":""}"#;

fn ids_of(r: &Recorded) -> Vec<i64> {
    r.json()["data"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|row| row["id"].as_i64()).collect())
        .unwrap_or_default()
}

/// What the server saw: ids accepted, and the size of each refused batch.
#[derive(Default)]
struct Seen {
    accepted: Mutex<Vec<i64>>,
    rejected_sizes: Mutex<Vec<usize>>,
}

/// A server that answers 1804 (invalid insert data) for any upsert batch
/// holding a `bad` row, as Milvus does for data it cannot take.
fn rejecting_server(bad: BTreeSet<i64>, seen: Arc<Seen>) -> MockServer {
    MockServer::start(move |r: &Recorded| match r.target.as_str() {
        "/v2/vectordb/collections/describe" => (200, DESCRIBE.into()),
        "/v2/vectordb/entities/upsert" => {
            let ids = ids_of(r);
            if ids.iter().any(|id| bad.contains(id)) {
                seen.rejected_sizes.lock().unwrap().push(ids.len());
                (
                    200,
                    r#"{"code":1804,"message":"fail to deal the insert data"}"#.into(),
                )
            } else {
                seen.accepted.lock().unwrap().extend(&ids);
                let body = serde_json::json!({"code": 0, "cost": 0,
                    "data": {"upsertCount": ids.len(), "upsertIds": ids}});
                (200, body.to_string())
            }
        }
        _ => (404, "not found".into()),
    })
}

/// Records `{"id": i, "v": [0.5, i]}` for ids `0..n` on `topic`.
fn produce(brokers: &str, topic: &str, n: i64) {
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for id in 0..n {
        let value = format!(r#"{{"id": {id}, "v": [0.5, {id}.0]}}"#);
        let key = id.to_string();
        producer
            .send(BaseRecord::to(topic).key(&key).payload(&value))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// A pipeline file: `topic` through the passthrough transform into
/// collection `c` at `url` (REST v2), batches of 100, failures logged.
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
batch_max_rows = 100
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
    let n = 300i64;
    let bad: BTreeSet<i64> = [13, 77, 78, 250].into();
    let seen = Arc::new(Seen::default());
    let server = rejecting_server(bad.clone(), seen.clone());
    produce(&brokers, &topic, n);
    let dir = tempfile::tempdir().unwrap();
    let summary = run_until_idle(&pipeline_file(dir.path(), &brokers, &topic, &server.url));

    let good = n as u64 - bad.len() as u64;
    assert_eq!(summary.records_in, n as u64, "{summary:?}");
    assert_eq!(summary.failed, bad.len() as u64, "{summary:?}");
    assert_eq!(summary.rows_written, good, "{summary:?}");
    assert_eq!(
        summary.retries, 0,
        "a rejection is not retried: {summary:?}"
    );
    let mut accepted = seen.accepted.lock().unwrap().clone();
    accepted.sort_unstable();
    let want: Vec<i64> = (0..n).filter(|id| !bad.contains(id)).collect();
    assert_eq!(accepted, want, "every good row written once, no bad one");
    // The bad rows were found by halving: whole batches were refused first,
    // then single rows.
    let sizes = seen.rejected_sizes.lock().unwrap().clone();
    assert!(sizes.iter().any(|&s| s > 1), "{sizes:?}");
    assert_eq!(
        sizes.iter().filter(|&&s| s == 1).count(),
        bad.len(),
        "{sizes:?}"
    );
}
