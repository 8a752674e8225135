//! A backlog deep in a partition of small record batches drains at full
//! speed (issue 15). The soak's producer sends one record per batch; after a
//! few minutes a partition holds ~20,000 batches, and a consumer that fell
//! behind (a Milvus outage) fetched from deep in it. With the host's
//! `fetch.wait.max.ms` at 10 ms tansu cut each such fetch off with one
//! batch or none: the host read tens of records a second (the soak: ~2)
//! and never caught up. Here 20,000 one-record batches must drain within a
//! bound that the old setting misses many times over (with it, 2,295 were
//! read in 90 s; with 100 ms all of them in 3.5 s, debug build).
//!
//! Talks to the test broker only (no Milvus): the crawl was the consumer's.

mod common;

use common::*;
use kmv_host::source::{PollLimits, Source, SourceConfig};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Records in the backlog, each its own batch.
const BACKLOG: i64 = 20_000;

/// How long the backlog may take to drain. The fixed consumer needs a few
/// seconds in a debug build on a busy 2-core machine; the old one read 2,295
/// of the records in this time.
const DRAIN_LIMIT: Duration = Duration::from_secs(90);

#[test]
fn a_backlog_of_small_batches_drains_at_full_speed() {
    let brokers = kafka();
    let topic = unique("backlog");
    create_topic(&topic, 1);
    produce_one_record_batches(&brokers, &topic);

    let config: SourceConfig = toml::from_str(&format!(
        "brokers = \"{brokers}\"\ntopics = [\"{topic}\"]\ngroup_id = \"{}\"\n\
         [properties]\n\"session.timeout.ms\" = \"6000\"\n",
        unique("g_backlog")
    ))
    .unwrap();
    let source = Source::start(&config, Duration::from_secs(1)).unwrap();
    let limits = PollLimits {
        max_records: 1000,
        max_bytes: 1 << 20,
        linger: Duration::from_millis(100),
    };
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let mut offsets = Vec::with_capacity(BACKLOG as usize);
    while offsets.len() < BACKLOG as usize && started.elapsed() < DRAIN_LIMIT {
        let batch = source.poll_batch(&limits, &stop).unwrap();
        offsets.extend(batch.iter().map(|r| r.offset));
    }
    let took = started.elapsed();
    println!(
        "{} of {BACKLOG} records in {took:.1?} ({:.0} records/s)",
        offsets.len(),
        offsets.len() as f64 / took.as_secs_f64()
    );
    assert_eq!(
        offsets.len(),
        BACKLOG as usize,
        "the backlog did not drain within {DRAIN_LIMIT:?}: {} of {BACKLOG} records read",
        offsets.len()
    );
    assert_eq!(
        offsets,
        (0..BACKLOG).collect::<Vec<_>>(),
        "offsets in order"
    );
}

/// Produces [`BACKLOG`] records to `topic`, one record per batch (as a
/// producer sending a few hundred records a second with a short linger does).
fn produce_one_record_batches(brokers: &str, topic: &str) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "0")
        .set("batch.num.messages", "1")
        .create()
        .unwrap();
    let value = format!("{{\"pad\":\"{}\"}}", "x".repeat(200));
    for i in 0..BACKLOG {
        let key = i.to_string();
        send_waiting(&producer, BaseRecord::to(topic).key(&key).payload(&value));
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("flushing the producer");
}
