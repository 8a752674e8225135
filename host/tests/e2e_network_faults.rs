//! Networks that fail in more ways than a stopped server (real tansu and
//! Milvus 2.3.5): a `FaultProxy` between the host and Milvus, and one
//! between the host and a broker of the test's own (which advertises the
//! proxy), make the network slow, reset connections in the middle of a
//! request or of an answer, turn into a blackhole, or refuse connections,
//! one fault after another while records keep coming.
//!
//! For each fault: nothing is lost and nothing is written twice (Milvus is
//! read back by primary key; the collection is written with upsert, which
//! absorbs a write re-sent after its answer was lost), the host recovers by
//! itself once the network does, write attempts end when they should (a
//! blackholed write ends at `[sink] request_timeout_ms` and is retried), and
//! `/readyz` tells the truth: 503 while Milvus cannot be reached through the
//! proxy, 200 again after. Each test prints a table: fault, records produced
//! from the fault's start until the next fault, lost, duplicated.

mod common;

use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counts the broker's acknowledgements and delivery failures.
#[derive(Default)]
struct Deliveries {
    acked: AtomicU64,
    failed: AtomicU64,
}

impl rdkafka::ClientContext for Deliveries {}

impl rdkafka::producer::ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        let counter = if result.is_ok() {
            &self.acked
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Records produced in rounds by a thread, seed articles with ids 0, 1, ...:
/// a round is handed to the producer every `every` whether or not the
/// broker can be reached (librdkafka queues and retries them, as an
/// application's producer would), so records keep coming through a fault on
/// the producer's own path too.
struct Steady {
    queued: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Arc<Deliveries>>,
}

impl Steady {
    /// `per_round` records every `every` to `topic` on `brokers`.
    fn start(brokers: &str, topic: &str, per_round: i64, every: Duration) -> Steady {
        let producer: BaseProducer<Deliveries> = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "5")
            .create_with_context(Deliveries::default())
            .unwrap();
        let queued = Arc::new(AtomicI64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (topic, queued, stop) = (topic.to_string(), queued.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let from = queued.load(Ordering::SeqCst);
                    for (key, value) in articles(from..from + per_round, 8) {
                        send_waiting(&producer, BaseRecord::to(&topic).key(&key).payload(&value));
                    }
                    queued.store(from + per_round, Ordering::SeqCst);
                    producer.poll(every);
                }
                producer
                    .flush(Duration::from_secs(60))
                    .expect("every record acknowledged within 60 s of the end");
                producer.context().clone()
            })
        };
        Steady {
            queued,
            stop,
            thread,
        }
    }

    /// Records handed to the producer so far (ids `0..` that).
    fn produced(&self) -> i64 {
        self.queued.load(Ordering::SeqCst)
    }

    /// Stops after the round under way and waits until the broker has
    /// acknowledged every record; how many there are.
    fn stop(self) -> i64 {
        self.stop.store(true, Ordering::SeqCst);
        let deliveries = self.thread.join().expect("the producer thread");
        let n = self.queued.load(Ordering::SeqCst);
        assert_eq!(
            deliveries.failed.load(Ordering::Relaxed),
            0,
            "records the broker never took"
        );
        assert_eq!(deliveries.acked.load(Ordering::Relaxed), n as u64);
        n
    }
}

/// What the network does in one phase of a run, and for how long.
struct FaultStep {
    name: &'static str,
    fault: Fault,
    hold: Duration,
}

/// What was seen in one phase.
#[derive(Debug)]
struct Phase {
    name: &'static str,
    /// Ids handed to the producer from the fault's start until the next
    /// phase's start.
    ids: std::ops::Range<i64>,
    /// Write attempts retried while the fault held.
    retries: f64,
    /// Rows acknowledged while the fault held.
    rows_during: f64,
    /// `/readyz` statuses sampled while the fault held.
    ready: Vec<u16>,
    /// The first 503 body seen, if any.
    unready_body: Option<String>,
    /// From the fault's end until every record produced by then was in
    /// Milvus and `/readyz` answered 200.
    recovered_in: Duration,
}

impl Phase {
    fn saw_unready(&self) -> bool {
        self.ready.contains(&503)
    }

    fn always_ready(&self) -> bool {
        self.ready.iter().all(|&s| s == 200)
    }
}

/// A host running a seed pipeline with `/readyz` served, records coming,
/// and a proxy whose faults the run steps through.
struct Run<'a> {
    host: Host,
    http: String,
    milvus: String,
    topic: String,
    proxy: &'a FaultProxy,
    producer: Option<Steady>,
    phases: Vec<Phase>,
}

impl Run<'_> {
    fn metric(&self, name: &str) -> f64 {
        let (_, text) = http_get(&self.http, "/metrics");
        metric(&text, name, "").unwrap_or(0.0)
    }

    fn produced(&self) -> i64 {
        self.producer.as_ref().unwrap().produced()
    }

    /// Waits up to `limit` until Milvus holds `n` rows and `/readyz` is 200.
    fn wait_caught_up(&mut self, n: i64, limit: Duration, what: &str) {
        let deadline = Instant::now() + limit;
        loop {
            self.host.assert_running(what);
            let count = milvus_count(&self.milvus, &self.topic) as i64;
            let (status, body) = http_get(&self.http, "/readyz");
            if count >= n && status == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {count} of {n} rows in Milvus, /readyz {status} {body} after {limit:?}:\n{}",
                quiet(&self.host.log())
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sets the fault for its time, sampling `/readyz`, then lifts it and
    /// waits until the host has caught up by itself.
    fn step(&mut self, step: &FaultStep) -> &Phase {
        let from = self.produced();
        let retries = self.metric("kmv_write_retries_total");
        let rows = self.metric("kmv_rows_written_total");
        self.proxy.set(step.fault);
        let started = Instant::now();
        let (mut ready, mut unready_body) = (Vec::new(), None);
        while started.elapsed() < step.hold {
            let (status, body) = http_get(&self.http, "/readyz");
            if status != 200 && unready_body.is_none() {
                unready_body = Some(body);
            }
            ready.push(status);
            self.host.assert_running(step.name);
            std::thread::sleep(Duration::from_millis(100));
        }
        let retries = self.metric("kmv_write_retries_total") - retries;
        let rows_during = self.metric("kmv_rows_written_total") - rows;
        self.proxy.set(Fault::None);
        let lifted = Instant::now();
        let by_then = self.produced();
        self.wait_caught_up(by_then, Duration::from_secs(45), step.name);
        let recovered_in = lifted.elapsed();
        println!(
            "{:<34} {:>5.1}s: retries {retries}, rows written meanwhile {rows_during}, /readyz 503 seen: {}, caught up {recovered_in:.1?} after; proxy {:?}",
            step.name,
            step.hold.as_secs_f64(),
            ready.contains(&503),
            self.proxy.stats()
        );
        if let Some(body) = &unready_body {
            println!("{:<34} /readyz: {body}", "");
        }
        if let Some(last) = self.phases.last_mut() {
            last.ids.end = from;
        }
        self.phases.push(Phase {
            name: step.name,
            ids: from..from,
            retries,
            rows_during,
            ready,
            unready_body,
            recovered_in,
        });
        self.phases.last().unwrap()
    }

    /// Stops producing, waits until every record is in Milvus, stops the
    /// host (SIGTERM) and checks each record is there once, by primary key;
    /// prints the table of the phases and returns the host's log.
    fn finish(mut self, what: &str) -> String {
        let n = self.producer.take().unwrap().stop();
        if let Some(last) = self.phases.last_mut() {
            last.ids.end = n;
        }
        self.wait_caught_up(n, Duration::from_secs(60), "after the last fault");
        let log = self.host.term("host");
        let mut seen = vec![0u32; n as usize];
        for row in query_ids(&self.milvus, &self.topic, 0..n, "id") {
            seen[row["id"].as_i64().unwrap() as usize] += 1;
        }
        println!("| {what}: fault | records produced | lost | duplicated | caught up after |");
        println!("|---|---|---|---|---|");
        for phase in &self.phases {
            let ids = phase.ids.start as usize..phase.ids.end as usize;
            let lost = seen[ids.clone()].iter().filter(|&&c| c == 0).count();
            let twice = seen[ids.clone()].iter().filter(|&&c| c > 1).count();
            println!(
                "| {} | {} | {lost} | {twice} | {:.1} s |",
                phase.name,
                ids.len(),
                phase.recovered_in.as_secs_f64()
            );
        }
        let missing: Vec<usize> = (0..seen.len()).filter(|&i| seen[i] == 0).collect();
        let twice: Vec<usize> = (0..seen.len()).filter(|&i| seen[i] > 1).collect();
        println!(
            "{what}: {n} records, {} lost, {} duplicated; host: records_in={} rows_written={} retries={}",
            missing.len(),
            twice.len(),
            summary(&log, "records_in"),
            summary(&log, "rows_written"),
            summary(&log, "retries"),
        );
        assert!(
            missing.is_empty() && twice.is_empty(),
            "{} records missing (first {:?}), {} written twice (first {:?}):\n{}",
            missing.len(),
            &missing[..missing.len().min(10)],
            twice.len(),
            &twice[..twice.len().min(10)],
            quiet(&log)
        );
        assert_summary(&log, "failed=0");
        log
    }
}

/// A log without its progress lines, for a failure message.
fn quiet(log: &str) -> String {
    log.lines()
        .filter(|l| !l.contains("Progress."))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts the host and waits until it is ready and writing.
fn start_run<'a>(
    pipeline: &std::path::Path,
    dir: &std::path::Path,
    milvus: &str,
    topic: &str,
    proxy: &'a FaultProxy,
    producer: Steady,
) -> Run<'a> {
    let mut host = Host::start(
        pipeline,
        dir.join("host.log"),
        &["--http-address", "127.0.0.1:0"],
    );
    let http = host.address();
    let mut run = Run {
        host,
        http,
        milvus: milvus.to_string(),
        topic: topic.to_string(),
        proxy,
        producer: Some(producer),
        phases: Vec::new(),
    };
    let first = run.produced().max(1);
    run.wait_caught_up(first, Duration::from_secs(60), "before the first fault");
    run
}

/// The host's write timeout: a blackholed write must end after it.
const REQUEST_TIMEOUT_MS: u64 = 1500;

#[test]
fn milvus_behind_a_failing_network_loses_nothing_and_recovers() {
    let started = Instant::now();
    let (uri, topic) = (milvus(), unique("net_milvus"));
    create_seed(&uri, &topic);
    let proxy = FaultProxy::start(uri.trim_start_matches("http://"));
    let dir = tempfile::tempdir().unwrap();
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(kmv_test_artifacts::SEED)
        .milvus(&proxy.uri(), &topic)
        .sink(&format!(
            "api = \"v1\"\nbatch_max_rows = 100\nrequest_timeout_ms = {REQUEST_TIMEOUT_MS}\n\
             retry_initial_backoff_ms = 100\nretry_max_backoff_ms = 500"
        ))
        .linger_ms(50)
        .write();
    let producer = Steady::start(&kafka(), &topic, 50, Duration::from_millis(100));
    let mut run = start_run(&p, dir.path(), &uri, &topic, &proxy, producer);
    println!("{:>6.1?} writing through the proxy", started.elapsed());

    let latency = run.step(&FaultStep {
        name: "Milvus: 250 ms latency each way",
        fault: Fault::Latency(Duration::from_millis(250)),
        hold: Duration::from_secs(3),
    });
    // Slower, not broken: writes go on, nothing times out, still ready.
    assert!(latency.rows_during > 0.0, "{latency:?}");
    assert!(latency.always_ready(), "{latency:?}");

    let cut_before = proxy.stats();
    let reset = run.step(&FaultStep {
        name: "Milvus: reset mid-request",
        fault: Fault::ResetRequest,
        hold: Duration::from_secs(3),
    });
    assert!(reset.retries > 0.0 && reset.saw_unready(), "{reset:?}");
    assert!(proxy.stats().requests_cut > cut_before.requests_cut);

    let cut_before = proxy.stats();
    let cut = run.step(&FaultStep {
        name: "Milvus: reset mid-answer",
        fault: Fault::ResetAnswer,
        hold: Duration::from_secs(3),
    });
    // Written by Milvus, answer lost: retried (upsert makes it harmless).
    assert!(cut.retries > 0.0 && cut.saw_unready(), "{cut:?}");
    assert!(proxy.stats().answers_cut > cut_before.answers_cut);

    let hold = Duration::from_secs(5);
    let blackhole = run.step(&FaultStep {
        name: "Milvus: blackhole",
        fault: Fault::Blackhole,
        hold,
    });
    // Nothing answers and nothing fails: only the request timeout ends an
    // attempt, so each retry is a timeout that fired.
    assert!(blackhole.retries >= 1.0, "{blackhole:?}");
    assert!(
        blackhole.retries <= (hold.as_millis() as u64 / REQUEST_TIMEOUT_MS + 1) as f64,
        "more attempts ended than timeouts could end: {blackhole:?}"
    );
    assert!(blackhole.saw_unready(), "{blackhole:?}");

    let refused = run.step(&FaultStep {
        name: "Milvus: connection refused",
        fault: Fault::Refuse,
        hold: Duration::from_secs(3),
    });
    assert!(
        refused.retries > 0.0 && refused.saw_unready(),
        "{refused:?}"
    );
    let body = refused.unready_body.clone().unwrap();
    assert!(body.contains("\"failed\":[\"milvus\"]"), "{body}");

    let log = run.finish("Milvus");
    // Every fault was on the Milvus side: no record was consumed twice.
    assert_eq!(summary(&log, "records_in"), summary(&log, "rows_written"));
    println!("took {:?}", started.elapsed());
}

#[test]
fn broker_behind_a_failing_network_loses_nothing_and_recovers() {
    let started = Instant::now();
    let uri = milvus();
    let broker = ProxiedBroker::start();
    let topic = unique("net_kafka");
    create_topic_on(&broker.brokers(), &topic, 2);
    create_seed(&uri, &topic);
    let dir = tempfile::tempdir().unwrap();
    // librdkafka gives up on a request after 3 s (socket.timeout.ms) and
    // reconnects at most 1 s after a failure.
    let p = PipelineFile::new(dir.path())
        .brokers(&broker.brokers())
        .topic(&topic)
        .source_properties(
            "\"socket.timeout.ms\" = \"3000\"\n\"reconnect.backoff.max.ms\" = \"1000\"",
        )
        .module(kmv_test_artifacts::SEED)
        .milvus(&uri, &topic)
        .sink("api = \"v1\"\nbatch_max_rows = 100")
        .linger_ms(50)
        .write();
    let producer = Steady::start(&broker.brokers(), &topic, 50, Duration::from_millis(100));
    let mut run = start_run(&p, dir.path(), &uri, &topic, &broker.proxy, producer);
    println!("{:>6.1?} consuming through the proxy", started.elapsed());

    let steps = [
        FaultStep {
            name: "Kafka: 250 ms latency each way",
            fault: Fault::Latency(Duration::from_millis(250)),
            hold: Duration::from_secs(3),
        },
        FaultStep {
            name: "Kafka: reset mid-request",
            fault: Fault::ResetRequest,
            hold: Duration::from_secs(3),
        },
        FaultStep {
            name: "Kafka: reset mid-answer",
            fault: Fault::ResetAnswer,
            hold: Duration::from_secs(3),
        },
        FaultStep {
            name: "Kafka: blackhole",
            fault: Fault::Blackhole,
            hold: Duration::from_secs(8),
        },
        FaultStep {
            name: "Kafka: connection refused",
            fault: Fault::Refuse,
            hold: Duration::from_secs(3),
        },
    ];
    for step in &steps {
        run.step(step);
    }
    let log = run.finish("Kafka");
    for line in log.lines().filter(|l| {
        l.contains("Kafka broker") || l.contains("Kafka records") || l.contains("revoked")
    }) {
        println!("host log: {line}");
    }
    println!("took {:?}", started.elapsed());
}
