//! Shared helpers for the end-to-end tests: the real tansu broker and Milvus
//! started by `tests/run.sh` (or by hand with tests/services/*.sh).
//! A missing server fails the test with how to start it; nothing is skipped.
//!
//! One helper per thing tests do often: [`Host`] (a `kmv-host` in the
//! background, its log, signals and exit), [`PipelineFile`] (a pipeline file
//! with named parts), [`field`]/[`counter`]/[`assert_summary`] (the one
//! reader of `key=value` log fields), [`metric`] (a `/metrics` series),
//! [`record`] (a `KafkaRecord`), [`OwnMilvus`] (a Milvus of one test's own,
//! to stop and start), [`FaultProxy`] (a TCP proxy the test makes fail),
//! [`ProxiedBroker`] (a broker of one test's own behind one), [`TlsMilvus`]
//! (stunnel with a private CA and client certificates in front of Milvus), and the Kafka
//! and Milvus helpers below.
// Each test file uses some of these helpers.
#![allow(dead_code, unused_imports)]

mod bench_services;
mod debezium;
mod fault_proxy;
mod host;
mod own_milvus;
mod pipeline_file;
mod proxied_broker;
mod registry;
mod rest_v2;
mod services;
mod tls;

pub use bench_services::StartedForBench;
pub use debezium::{Article, Envelope, Event, Stream};
pub use fault_proxy::{Fault, FaultProxy, ProxyStats, free_port};
pub use host::{
    Host, PROGRESS_INTERVAL, assert_summary, counter, field, host_args, host_bin, host_command,
    summary,
};
pub use own_milvus::{OwnMilvus, assert_rss_within, outage_sink, rss_bound};
pub use pipeline_file::PipelineFile;
pub use proxied_broker::ProxiedBroker;
pub use registry::{Proxy, produce_framed, schema_registry};
pub use rest_v2::RestV2;
pub use services::{kafka, tcp_up};
pub use tls::{CertFiles, TlsMilvus};

use kmv_host::transform::KafkaRecord;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The services' state directory: `$KMV_STATE`, default `<repo>/.kmv`.
pub fn state() -> PathBuf {
    std::env::var_os("KMV_STATE").map_or_else(|| repo().join(".kmv"), PathBuf::from)
}

/// The all-MiniLM-L6-v2 model `tests/setup.sh` fetches: `$KMV_MODEL_DIR`,
/// default `STATE/models/all-MiniLM-L6-v2`.
pub fn model_dir() -> PathBuf {
    std::env::var_os("KMV_MODEL_DIR")
        .map_or_else(|| state().join("models/all-MiniLM-L6-v2"), PathBuf::from)
}

/// ONNX Runtime's library, as `tests/setup.sh` installs it: `$KMV_ONNXRUNTIME`,
/// default `STATE/lib/libonnxruntime.so` (tests/embeddings/onnx_model.sh).
#[allow(dead_code)]
pub fn onnxruntime_library() -> PathBuf {
    let path = std::env::var_os("KMV_ONNXRUNTIME")
        .map_or_else(|| state().join("lib/libonnxruntime.so"), PathBuf::from);
    assert!(
        path.exists(),
        "no ONNX Runtime library at {} (run tests/setup.sh model, or set KMV_ONNXRUNTIME)",
        path.display()
    );
    path
}

fn host_port(uri: &str) -> String {
    uri.trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

/// The Milvus without authorization, after checking it answers.
pub fn milvus() -> String {
    let uri = std::env::var("KMV_MILVUS_URI").unwrap_or_else(|_| "http://127.0.0.1:19530".into());
    assert!(
        tcp_up(&host_port(&uri)),
        "no Milvus at {uri}: run the tests with tests/run.sh, or start one with tests/services/milvus.sh start"
    );
    uri
}

/// The Milvus with authorization on (root:Milvus), after checking it answers.
pub fn milvus_auth() -> String {
    let uri =
        std::env::var("KMV_MILVUS_AUTH_URI").unwrap_or_else(|_| "http://127.0.0.1:19560".into());
    assert!(
        tcp_up(&host_port(&uri)),
        "no Milvus with authorization at {uri}: run the tests with tests/run.sh, or start one with tests/services/milvus.sh start --port 19560 --auth"
    );
    uri
}

/// A name no other test or run uses.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// Runs tests/services/milvus_admin.py (pymilvus over gRPC: an independent
/// reader); panics with its output on failure.
pub fn admin(uri: &str, token: Option<&str>, args: &[&str]) -> String {
    try_admin(uri, token, args).unwrap_or_else(|e| panic!("{e}"))
}

/// [`admin`], with a failure as an error (e.g. to drop a collection that may be gone).
pub fn try_admin(uri: &str, token: Option<&str>, args: &[&str]) -> Result<String, String> {
    let python = state().join("venv/bin/python");
    if !python.is_file() {
        return Err(format!(
            "{} is missing: run tests/setup.sh (or tests/services/install.sh)",
            python.display()
        ));
    }
    let mut cmd = Command::new(&python);
    cmd.arg(repo().join("tests/services/milvus_admin.py"))
        .args(["--uri", uri]);
    if let Some(token) = token {
        cmd.args(["--token", token]);
    }
    let out = cmd
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {} ({e})", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "milvus_admin {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A fresh seed collection `name` (`milvus_admin.py create-seed --drop`,
/// dim 8, no auth).
pub fn create_seed(uri: &str, name: &str) {
    admin(uri, None, &["create-seed", "--collection", name, "--drop"]);
}

/// A fresh collection `name` of the `milvus_admin.py create` JSON `schema`
/// (written to a file in `dir`).
pub fn create_collection(uri: &str, name: &str, schema: &str, dir: &Path) {
    let path = dir.join(format!("{name}.schema.json"));
    std::fs::write(&path, schema).unwrap();
    let path = path.to_str().unwrap();
    admin(
        uri,
        None,
        &["create", "--collection", name, "--schema", path, "--drop"],
    );
}

/// The `fields` of the rows whose `id` is in `ids`, read back in windows
/// below Milvus' 16384-row query limit.
pub fn query_ids(
    uri: &str,
    collection: &str,
    ids: std::ops::Range<i64>,
    fields: &str,
) -> Vec<serde_json::Value> {
    let window = 10_000;
    let mut rows = Vec::new();
    let mut lo = ids.start;
    while lo < ids.end {
        let hi = (lo + window).min(ids.end);
        let expr = format!("id >= {lo} and id < {hi}");
        let args = [
            "query",
            "--collection",
            collection,
            "--expr",
            &expr,
            "--fields",
            fields,
            "--limit",
            "16384",
        ];
        for line in admin(uri, None, &args).lines() {
            rows.push(serde_json::from_str(line).unwrap());
        }
        lo = hi;
    }
    rows
}

/// Rows of a collection read back with pymilvus, sorted by primary key.
pub fn query_all(uri: &str, token: Option<&str>, collection: &str) -> Vec<serde_json::Value> {
    admin(uri, token, &["query", "--collection", collection])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until the collection holds `n` rows; returns the count seen last.
pub fn wait_count(uri: &str, token: Option<&str>, collection: &str, n: usize) -> usize {
    let mut last = 0;
    for _ in 0..20 {
        last = admin(uri, token, &["count", "--collection", collection])
            .trim()
            .parse()
            .unwrap();
        if last == n {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    last
}

/// Produces `(key, value)` records to `topic` and waits until all are acknowledged.
pub fn produce(topic: &str, records: &[(String, Vec<u8>)]) {
    produce_to(&kafka(), topic, records);
}

/// [`produce`] to the broker at `brokers`.
pub fn produce_to(brokers: &str, topic: &str, records: &[(String, Vec<u8>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (key, value) in records {
        send_waiting(&producer, BaseRecord::to(topic).key(key).payload(value));
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("flushing the producer");
}

/// Produces `events` in order to partition 0 of `topic`: a `None` value is
/// a tombstone (a record with a null value).
pub fn produce_events(topic: &str, events: &[Event]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (key, value) in events {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).key(key).partition(0);
        if let Some(v) = value {
            record = record.payload(v);
        }
        send_waiting(&producer, record);
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("flushing the producer");
}

/// Queues `record` on `producer`, waiting while its queue is full (serving
/// delivery reports meanwhile); any other error fails the test.
pub fn send_waiting<C, K, P>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, K, P, C::DeliveryOpaque>,
) where
    C: rdkafka::producer::ProducerContext,
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                back,
            )) => {
                record = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => panic!("produce failed: {e}"),
        }
    }
    producer.poll(Duration::ZERO);
}

/// A seed article as JSON.
pub fn article(id: i64, dim: usize) -> serde_json::Value {
    let vector: Vec<f32> = (0..dim)
        .map(|i| ((id as f32) * 0.001 + i as f32 * 0.01).sin())
        .collect();
    serde_json::json!({
        "id": id,
        "title": format!("Article {id}"),
        "title_vector": vector,
        "link": format!("https://example.com/{id}"),
    })
}

pub fn articles(ids: std::ops::Range<i64>, dim: usize) -> Vec<(String, Vec<u8>)> {
    ids.map(|id| (id.to_string(), article(id, dim).to_string().into_bytes()))
        .collect()
}

/// Runs `kmv-host --pipeline FILE --stop-when-idle SECS` to its end (with
/// the [`Host`]'s command line and environment), its output captured.
pub fn run_host(pipeline: &Path, idle_secs: f64, env: &[(&str, &str)]) -> Output {
    let idle = idle_secs.to_string();
    let mut cmd = host_command(&host_args(pipeline, &["--stop-when-idle", &idle]));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running kmv-host")
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Creates `topic` with `partitions` partitions through the admin API.
pub fn create_topic(topic: &str, partitions: i32) {
    create_topic_on(&kafka(), topic, partitions);
}

/// [`create_topic`] on the broker at `brokers`.
pub fn create_topic_on(brokers: &str, topic: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = runtime
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .expect("CreateTopics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
}

pub fn milvus_count(uri: &str, collection: &str) -> usize {
    admin(uri, None, &["count", "--collection", collection])
        .trim()
        .parse()
        .unwrap()
}

/// Checks that `collection` holds exactly the seed articles `0..n`, each once,
/// read back by `id`.
pub fn assert_exactly_articles(uri: &str, collection: &str, n: i64) {
    let count = wait_count(uri, None, collection, n as usize);
    assert_eq!(count, n as usize, "row count of {collection}");
    let mut ids = Vec::with_capacity(n as usize);
    for row in query_ids(uri, collection, 0..n, "id,title,link") {
        let id = row["id"].as_i64().unwrap();
        let want = article(id, 8);
        assert_eq!(row["title"], want["title"], "title of id {id}");
        assert_eq!(row["link"], want["link"], "link of id {id}");
        ids.push(id);
    }
    ids.sort_unstable();
    let mut dups = ids.clone();
    dups.dedup();
    assert_eq!(
        dups.len(),
        ids.len(),
        "{} duplicate ids",
        ids.len() - dups.len()
    );
    let missing: Vec<i64> = (0..n).filter(|i| ids.binary_search(i).is_err()).collect();
    assert!(
        missing.is_empty(),
        "{} ids missing, first {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    assert_eq!(ids, (0..n).collect::<Vec<_>>());
}

/// `n` records of `topic` on the shared broker, read from the start by a
/// fresh group (waiting up to 30 s for them; fewer if they do not come).
pub fn consume(topic: &str, n: usize) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut out = vec![];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while out.len() < n && std::time::Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            out.push(
                m.unwrap_or_else(|e| panic!("reading {topic}: {e}"))
                    .detach(),
            );
        }
    }
    out
}

/// Runs [`run_host`] and checks it exits 0; its output.
pub fn run_ok(pipeline: &Path, idle_secs: f64) -> String {
    let out = run_host(pipeline, idle_secs, &[]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    log
}

/// A record of partition 0 of `topic` at `offset`, with no key, timestamp
/// or headers (set them with struct update syntax: `KafkaRecord { key: ..,
/// ..record(..) }`).
pub fn record(topic: &str, offset: i64, value: impl Into<Vec<u8>>) -> KafkaRecord {
    KafkaRecord {
        topic: topic.into(),
        partition: 0,
        offset,
        timestamp: None,
        key: None,
        value: Some(value.into()),
        headers: vec![],
    }
}

/// `GET path` over HTTP/1.0: (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
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
pub fn metric(text: &str, name: &str, labels: &str) -> Option<f64> {
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

/// Polls `cond` every 100 ms for up to `limit`; whether it became true.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

/// The seed articles' collection with an auto-id primary key `pk`; the
/// record's id goes to an Int64 field (tests/services/milvus_admin.py's
/// schema JSON).
pub const AUTO_ID_SEED_SCHEMA: &str = r#"{"fields": [
        {"name": "pk", "type": "INT64", "primary": true, "auto_id": true},
        {"name": "id", "type": "INT64"},
        {"name": "title", "type": "VARCHAR", "max_length": 512},
        {"name": "title_vector", "type": "FLOAT_VECTOR", "dim": 8},
        {"name": "link", "type": "VARCHAR", "max_length": 512}
    ]}"#;
