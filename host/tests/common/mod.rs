//! Shared helpers for the end-to-end tests: the real tansu broker and Milvus
//! started by `tests/run.sh` (or by hand with tests/services/*.sh).
//! A missing server fails the test with how to start it; nothing is skipped.
#![allow(dead_code)]

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn tcp_up(addr: &str) -> bool {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}

/// The broker, after checking it answers.
pub fn kafka() -> String {
    let brokers = std::env::var("KMV_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    assert!(
        tcp_up(&brokers),
        "no Kafka broker at {brokers}: run the tests with tests/run.sh, or start one with tests/services/kafka.sh start"
    );
    brokers
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

/// Runs tests/services/milvus_admin.py (pymilvus over gRPC: an independent reader).
pub fn admin(uri: &str, token: Option<&str>, args: &[&str]) -> String {
    let python = repo().join(".kmv/venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run tests/setup.sh",
        python.display()
    );
    let mut cmd = Command::new(python);
    cmd.arg(repo().join("tests/services/milvus_admin.py"))
        .args(["--uri", uri]);
    if let Some(token) = token {
        cmd.args(["--token", token]);
    }
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "milvus_admin {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
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
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (key, value) in records {
        loop {
            match producer.send(BaseRecord::to(topic).key(key).payload(value)) {
                Ok(()) => break,
                Err((e, _)) => {
                    assert!(
                        matches!(
                            e,
                            rdkafka::error::KafkaError::MessageProduction(
                                rdkafka::types::RDKafkaErrorCode::QueueFull
                            )
                        ),
                        "produce failed: {e}"
                    );
                    producer.poll(Duration::from_millis(50));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("flushing the producer");
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

/// Writes a pipeline file into `dir`.
pub fn pipeline(
    dir: &Path,
    topic: &str,
    group: &str,
    module: &str,
    transform_config: &str,
    sink: &str,
) -> PathBuf {
    pipeline_with(dir, topic, group, module, transform_config, sink, "", "")
}

/// Writes a pipeline file into `dir`, with `transform_keys` added to
/// `[transform]` (e.g. `call_timeout_ms = 300`) and `extra` (more tables, e.g.
/// `[errors]`) at the end.
#[allow(clippy::too_many_arguments)]
pub fn pipeline_with(
    dir: &Path,
    topic: &str,
    group: &str,
    module: &str,
    transform_config: &str,
    sink: &str,
    transform_keys: &str,
    extra: &str,
) -> PathBuf {
    let text = format!(
        r#"[source]
brokers = "{brokers}"
topics = ["{topic}"]
group_id = "{group}"

[source.properties]
"session.timeout.ms" = "6000"

[transform]
module = "{module}"
{transform_keys}

[transform.config]
{transform_config}

[sink]
{sink}
linger_ms = 100

{extra}
"#,
        brokers = kafka(),
    );
    let path = dir.join(format!("{group}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `kmv-host --pipeline FILE --stop-when-idle SECS` to its end.
pub fn run_host(pipeline: &Path, idle_secs: f64, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kmv-host"));
    cmd.arg("--pipeline")
        .arg(pipeline)
        .args([
            "--stop-when-idle",
            &idle_secs.to_string(),
            "--progress-interval",
            "1",
        ])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
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
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", kafka())
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
/// read back by primary key in windows below Milvus' 16384-row query limit.
pub fn assert_exactly_articles(uri: &str, collection: &str, n: i64) {
    let count = wait_count(uri, None, collection, n as usize);
    assert_eq!(count, n as usize, "row count of {collection}");
    let mut ids = Vec::with_capacity(n as usize);
    let window = 10_000;
    let mut lo = 0;
    while lo < n {
        let hi = (lo + window).min(n);
        let rows = admin(
            uri,
            None,
            &[
                "query",
                "--collection",
                collection,
                "--expr",
                &format!("id >= {lo} and id < {hi}"),
                "--fields",
                "id,title,link",
                "--limit",
                "16384",
            ],
        );
        for line in rows.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let id = row["id"].as_i64().unwrap();
            let want = article(id, 8);
            assert_eq!(row["title"], want["title"], "title of id {id}");
            assert_eq!(row["link"], want["link"], "link of id {id}");
            ids.push(id);
        }
        lo = hi;
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

/// The value of `key=` in the last line of `log` that contains `marker`.
pub fn last_field(log: &str, marker: &str, key: &str) -> Option<u64> {
    let line = log.lines().rev().find(|l| l.contains(marker))?;
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}
