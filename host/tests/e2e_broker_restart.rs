//! Fault: the Kafka broker restarted mid-run (fault suite item 3).
//!
//! This test runs its own durable broker: tansu with S3 storage on a
//! moto_server (tests/services/s3.sh and kafka.sh --s3-endpoint, installed by
//! tests/services/install.sh), on ports 9195 (Kafka) and 9305 (S3), so that
//! it can stop and start the broker without disturbing the shared one. Topics
//! and committed offsets live in the S3 store and survive the broker's
//! restart. Milvus is the shared one (KMV_MILVUS_URI), read back by primary
//! key with pymilvus.

mod common;

use common::*;
use rdkafka::config::ClientConfig;
use std::process::Command;
use std::time::{Duration, Instant};

const BROKER_PORT: &str = "9195";
const S3_PORT: &str = "9305";
const BROKERS: &str = "127.0.0.1:9195";

/// Runs `tests/services/SCRIPT ARGS`; panics with its output on failure.
fn service(script: &str, args: &[&str]) {
    let path = repo().join("tests/services").join(script);
    let out = Command::new(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "{script} {args:?} failed (run tests/services/install.sh first?):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_broker() {
    service(
        "kafka.sh",
        &[
            "start",
            "--port",
            BROKER_PORT,
            "--storage",
            "s3://tansu/",
            "--s3-endpoint",
            &format!("http://127.0.0.1:{S3_PORT}"),
        ],
    );
}

fn stop_broker() {
    service("kafka.sh", &["stop", "--port", BROKER_PORT]);
}

/// The durable broker and its S3 store, fresh; both stopped on drop, also
/// when an assertion fails.
struct DurableBroker;

impl DurableBroker {
    fn start() -> DurableBroker {
        // Leftovers of an earlier run that was killed: start from empty storage.
        stop_broker();
        service("s3.sh", &["stop", "--port", S3_PORT]);
        let guard = DurableBroker;
        service("s3.sh", &["start", "--port", S3_PORT]);
        start_broker();
        guard
    }
}

impl Drop for DurableBroker {
    fn drop(&mut self) {
        let dir = repo().join("tests/services");
        let _ = Command::new(dir.join("kafka.sh"))
            .args(["stop", "--port", BROKER_PORT])
            .status();
        let _ = Command::new(dir.join("s3.sh"))
            .args(["stop", "--port", S3_PORT])
            .status();
    }
}

/// One bad record (not JSON) after every `BAD_EVERY` good ones.
const BAD_EVERY: usize = 2_000;

fn bad_count(good: i64) -> i64 {
    good / BAD_EVERY as i64
}

fn bad_key(round: u32, i: i64) -> String {
    format!("bad-{round}-{i}")
}

/// `good` with a record that is not JSON after every `BAD_EVERY` of them.
fn with_bad_records(good: Vec<(String, Vec<u8>)>, round: u32) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::with_capacity(good.len() + good.len() / BAD_EVERY);
    for (i, chunk) in good.chunks(BAD_EVERY).enumerate() {
        out.extend_from_slice(chunk);
        if chunk.len() == BAD_EVERY {
            out.push((bad_key(round, i as i64), b"{not json".to_vec()));
        }
    }
    out
}

/// The keys of every record in `topic` on the durable broker.
fn topic_keys(topic: &str) -> Vec<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .set("group.id", unique("g_read"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        list.add_partition_offset(topic, p.id(), Offset::Beginning)
            .unwrap();
    }
    let mut open = list.count();
    assert!(open > 0, "topic {topic} has no partitions");
    consumer.assign(&list).unwrap();
    let mut keys = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while open > 0 {
        assert!(
            Instant::now() < deadline,
            "reading {topic}: no end after 30 s"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                keys.push(String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned())
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => open -= 1,
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    keys
}

#[test]
fn broker_restart_mid_run_loses_nothing() {
    let started = Instant::now();
    let uri = milvus();
    let _broker = DurableBroker::start();
    let (before, after) = (20_000, 10_000);
    let n = before + after;
    let topic = unique("faults_broker");
    let group = unique("g_broker");
    create_seed(&uri, &topic);
    produce_to(
        BROKERS,
        &topic,
        &with_bad_records(articles(0..before, 8), 0),
    );
    println!("{:>6.1?} produced {before} records", started.elapsed());

    // Our broker, not the shared one. Small batches keep the host busy for a
    // while, so that the broker stops while records are still being consumed.
    let dir = tempfile::tempdir().unwrap();
    let dlq = format!("{topic}.dlq");
    let p = PipelineFile::new(dir.path())
        .brokers(BROKERS)
        .topic(&topic)
        .group(&group)
        .module(kmv_test_artifacts::SEED)
        .milvus(&uri, &topic)
        .sink("batch_max_rows = 50")
        .errors(&format!("dead_letter_topic = \"{dlq}\""))
        .write();

    let mut host = Host::start(&p, dir.path().join("host.log"), &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.progress("rows_written") == 0 {
        host.assert_running("before the broker restart");
        assert!(
            Instant::now() < deadline,
            "no rows written within 30 s:\n{}",
            host.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let written_at_stop = milvus_count(&uri, &topic);
    stop_broker();
    println!(
        "{:>6.1?} broker stopped; {written_at_stop} of {before} rows in Milvus",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_secs(5));
    host.assert_running("while the broker was down");
    start_broker();
    println!("{:>6.1?} broker started again", started.elapsed());

    // Bad records among them: the dead-letter producer, idle through the
    // outage, must write them after the restart.
    produce_to(
        BROKERS,
        &topic,
        &with_bad_records(articles(before..n, 8), 1),
    );
    println!("{:>6.1?} produced {after} more records", started.elapsed());

    // Until every record is in Milvus (or a limit), with the host running.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut count = 0;
    while count < n as usize && Instant::now() < deadline {
        host.assert_running("after the broker restart");
        std::thread::sleep(Duration::from_millis(500));
        count = milvus_count(&uri, &topic);
    }
    println!("{:>6.1?} {count} rows in Milvus", started.elapsed());
    host.assert_running("after the broker restart");
    let log = host.term("host");
    for line in log
        .lines()
        .filter(|l| l.contains("Kafka broker") || l.contains("Kafka records"))
    {
        println!("host log: {line}");
    }
    // The outage went through the transient-error path, not around it.
    assert!(
        log.contains("Kafka broker unavailable"),
        "the host logged no broker outage:\n{log}"
    );
    assert!(
        log.contains("Kafka records flowing again"),
        "the host logged no end of the outage:\n{log}"
    );
    let records_in = summary(&log, "records_in");
    let written = summary(&log, "rows_written");
    let dead_lettered = summary(&log, "dead_lettered");
    println!(
        "host: records_in={records_in} rows_written={written} dead_lettered={dead_lettered} (re-reads after the restart count twice)"
    );
    assert_eq!(records_in, written + dead_lettered, "{log}");
    assert!(records_in >= (n + bad_count(n)) as u64, "{log}");
    assert!(dead_lettered >= bad_count(n) as u64, "{log}");
    let mut keys = topic_keys(&dlq);
    keys.sort();
    keys.dedup();
    let mut want: Vec<String> = (0..bad_count(before))
        .map(|i| bad_key(0, i))
        .chain((0..bad_count(after)).map(|i| bad_key(1, i)))
        .collect();
    want.sort();
    assert_eq!(keys, want, "keys in the dead-letter topic {dlq}");
    assert_exactly_articles(&uri, &topic, n);

    // The group's committed offsets survive a broker restart too: a new host
    // in the group, after another restart, finds nothing left to read (with
    // lost offsets it would start again from the earliest record).
    stop_broker();
    start_broker();
    let again = Host::start(&p, dir.path().join("again.log"), &["--stop-when-idle", "3"]);
    let log = again.finish(Duration::from_secs(60), "second host");
    let records_in = summary(&log, "records_in");
    println!("second host after another restart: records_in={records_in}");
    assert_eq!(
        records_in, 0,
        "committed offsets were lost in the restart:\n{log}"
    );
    assert_eq!(milvus_count(&uri, &topic), n as usize);
    println!("took {:?}", started.elapsed());
}
