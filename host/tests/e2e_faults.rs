//! Fault tests against the real servers (tansu and Milvus 2.3.5, started by
//! tests/run.sh): the real `kmv-host` binary is SIGKILLed, SIGTERMed and
//! killed out of a two-member group, and Milvus is read back by primary key
//! (pymilvus) to check that nothing was lost and nothing duplicated.
//!
//! The SIGKILL points are random: the seed is printed, and
//! `KMV_FAULT_SEED=N` replays a run.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// xorshift64*: enough randomness for kill points, and replayable.
struct Rng(u64);

impl Rng {
    /// Seeded from `KMV_FAULT_SEED` or the clock; prints the seed.
    fn from_env_or_time(test: &str) -> Rng {
        let seed = std::env::var("KMV_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        println!("{test}: seed {seed} (replay with KMV_FAULT_SEED={seed})");
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// A seed collection and topic holding articles `0..n`, and its pipeline file.
fn seeded(prefix: &str, n: i64, dir: &Path, batch: usize) -> (String, PipelineFile) {
    let (uri, topic) = (milvus(), unique(prefix));
    create_seed(&uri, &topic);
    produce(&topic, &articles(0..n, 8));
    let sink = format!("batch_max_rows = {batch}");
    let p = PipelineFile::new(dir)
        .topic(&topic)
        .module(kmv_test_artifacts::SEED)
        .milvus(&uri, &topic)
        .sink(&sink);
    (topic, p)
}

#[test]
fn sigkill_at_random_points_loses_nothing() {
    let started = Instant::now();
    let mut rng = Rng::from_env_or_time("sigkill_at_random_points_loses_nothing");
    let uri = milvus();
    let n = 20_000;
    let dir = tempfile::tempdir().unwrap();
    // A short group session: the broker drops a SIGKILLed member, and a
    // restart gets its partitions, sooner.
    let (topic, p) = seeded("faults_kill", n, dir.path(), 500);
    let p = p.group(&unique("g_kill")).session_timeout_ms(3000).write();

    // Each run is killed at a random point. One run, picked at random, 0.5-3 s
    // after its start (usually while it joins the group; at the latest when
    // it starts consuming); the others mid-stream, a random 0-100 ms after
    // their progress line (every 0.1 s) first shows records consumed: the
    // host writes ~20-25k rows/s here, so these kills land a few thousand
    // rows in.
    let early = rng.range(0, 5);
    for round in 0..5 {
        let start = Instant::now();
        let host = Host::start(&p, dir.path().join(format!("run{round}.log")), &[]);
        let deadline = if round == early {
            start + Duration::from_millis(rng.range(500, 3000))
        } else {
            start + Duration::from_secs(15)
        };
        while host.progress("records_in") == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let consuming = (host.progress("records_in") > 0).then(|| start.elapsed());
        if round != early {
            std::thread::sleep(Duration::from_millis(rng.range(0, 100)));
        }
        let written = host.progress("rows_written");
        let log = host.kill(&format!("run {round}"));
        println!(
            "run {round}: SIGKILL {:?} after start (consuming after {consuming:?}); rows_written at the last progress line: {written}; {} rows in Milvus",
            start.elapsed(),
            milvus_count(&uri, &topic)
        );
        assert!(!log.contains("Pipeline stopped."), "{log}");
    }

    let host = Host::start(&p, dir.path().join("final.log"), &["--stop-when-idle", "3"]);
    let log = host.finish(Duration::from_secs(60), "final run");
    let (records_in, written) = (summary(&log, "records_in"), summary(&log, "rows_written"));
    println!("final run: records_in={records_in} rows_written={written}");
    assert_eq!(records_in, written, "{log}");
    assert_exactly_articles(&uri, &topic, n);
    println!("took {:?}", started.elapsed());
}

#[test]
fn sigterm_flushes_commits_and_exits_zero() {
    let started = Instant::now();
    let uri = milvus();
    let n = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let (topic, p) = seeded("faults_term", n, dir.path(), 200);
    let p = p.group(&unique("g_term")).write();

    let mut host = Host::start(&p, dir.path().join("run1.log"), &[]);
    // Until rows are being written (or a while).
    let deadline = Instant::now() + Duration::from_secs(15);
    while host.progress("rows_written") == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    host.signal(libc::SIGTERM);
    let signalled = Instant::now();
    let status = host.wait_for(Duration::from_secs(20));
    let log = host.log();
    let status = status.unwrap_or_else(|| panic!("no exit 20 s after SIGTERM:\n{log}"));
    println!("exited {:?} after SIGTERM: {status}", signalled.elapsed());
    assert!(
        status.success(),
        "SIGTERM must exit 0, got {status}:\n{log}"
    );
    assert_eq!(
        field(&log, "", "signal").as_deref(),
        Some("SIGTERM"),
        "{log}"
    );
    assert!(log.contains("Pipeline stopped."), "no summary:\n{log}");
    let (in1, written1) = (summary(&log, "records_in"), summary(&log, "rows_written"));
    println!("first run: records_in={in1} rows_written={written1}");
    // Everything consumed was flushed before the exit.
    assert_eq!(in1, written1, "{log}");
    assert_eq!(milvus_count(&uri, &topic), written1 as usize);

    // A restart in the group resumes at the first run's commits.
    let host = Host::start(&p, dir.path().join("run2.log"), &["--stop-when-idle", "3"]);
    let log2 = host.finish(Duration::from_secs(60), "second run");
    let (in2, written2) = (summary(&log2, "records_in"), summary(&log2, "rows_written"));
    println!("second run: records_in={in2} rows_written={written2}");
    assert!(
        in2 + written1 < 2 * n as u64,
        "the first run's commits were not honoured: {in2} + {written1}:\n{log2}"
    );
    if written1 > 0 {
        assert!(in2 < n as u64, "second run re-read everything:\n{log2}");
    }
    // Commits are of exactly what was written: nothing read twice, nothing skipped.
    assert_eq!(
        in1 + in2,
        n as u64,
        "first run:\n{log}\nsecond run:\n{log2}"
    );
    assert_exactly_articles(&uri, &topic, n);
    println!("took {:?}", started.elapsed());
}

/// The number of partitions of `topic` in the broker's metadata.
fn partition_count(topic: &str) -> usize {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    md.topics()[0].partitions().len()
}

#[test]
fn group_member_killed_survivor_takes_over() {
    let started = Instant::now();
    let uri = milvus();
    let n = 8_000;
    let (topic, group) = (unique("faults_group"), unique("g_group"));
    create_topic(&topic, 4);
    assert_eq!(partition_count(&topic), 4);
    create_seed(&uri, &topic);
    // Keyed records: the producer spreads them over the 4 partitions.
    produce(&topic, &articles(0..n, 8));
    let dir = tempfile::tempdir().unwrap();
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .group(&group)
        .module(kmv_test_artifacts::SEED)
        .milvus(&uri, &topic)
        .sink("batch_max_rows = 100")
        .write();

    let victim = Host::start(&p, dir.path().join("victim.log"), &[]);
    let survivor = Host::start(
        &p,
        dir.path().join("survivor.log"),
        &["--stop-when-idle", "20"],
    );
    // Kill the victim once it is writing (or after a while).
    let deadline = Instant::now() + Duration::from_secs(20);
    while victim.progress("rows_written") == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let victim_written = victim.progress("rows_written");
    let survivor_written = survivor.progress("rows_written");
    let killed_at = started.elapsed();
    let victim_log = victim.kill("victim");
    println!(
        "victim SIGKILLed at {killed_at:?}: rows_written {victim_written} (last progress line); survivor had {survivor_written}"
    );

    // The survivor's progress over time: when it took the victim's partitions over.
    let killed = Instant::now();
    let mut seen = (u64::MAX, 0);
    // What it consumed 5 s after the kill: its own partitions, long done (it
    // consumes them in about a second), and not yet the victim's (~12 s).
    let mut own = None;
    for _ in 0..800 {
        let now = (
            survivor.progress("records_in"),
            survivor.progress("rows_written"),
        );
        if own.is_none() && killed.elapsed() >= Duration::from_secs(5) {
            own = Some(now.0);
        }
        if now != seen {
            println!(
                "{:>6.1?} survivor records_in={} rows_written={}",
                started.elapsed(),
                now.0,
                now.1
            );
            seen = now;
        }
        if survivor.log().contains("Pipeline stopped.") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = survivor.finish(Duration::from_secs(10), "survivor");
    let (records_in, written) = (summary(&log, "records_in"), summary(&log, "rows_written"));
    println!("survivor: records_in={records_in} rows_written={written}");
    assert_eq!(records_in, written, "{log}");
    let own = own.unwrap_or(records_in);
    println!("survivor consumed {own} by 5 s after the kill, {records_in} in all");
    assert!(
        records_in > own,
        "the survivor took nothing over from the victim\nsurvivor:\n{log}\nvictim:\n{victim_log}"
    );
    assert!(
        !victim_log.contains("Pipeline stopped."),
        "the victim ended before it was killed:\n{victim_log}"
    );
    assert_exactly_articles(&uri, &topic, n);
    println!("took {:?}", started.elapsed());
}
