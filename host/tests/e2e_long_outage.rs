//! A Milvus outage longer than `max.poll.interval.ms` (issue 15): at the
//! in-flight cap the host pauses its partitions and keeps polling, so it
//! keeps its place in the group through the outage (no MAXPOLL, no
//! rebalance, no UnknownMemberId), its memory stays bounded while records
//! keep arriving, and once Milvus is back every record is in it exactly once
//! by primary key. Then SIGTERM while paused (Milvus down again) exits 0
//! and commits nothing unwritten.
//!
//! Runs its own Milvus on port 19620 (19600 is `e2e_milvus_outage`'s), stopped
//! at the end even when the test fails.

mod common;

use common::*;
use std::time::{Duration, Instant};

const PORT: u16 = 19620;

/// librdkafka leaves the group when the application has not polled for this
/// long; it must be at least `session.timeout.ms` (6 s in the tests).
const MAX_POLL_INTERVAL_MS: u64 = 15_000;

/// How long Milvus stays down: over three poll intervals.
const OUTAGE: Duration = Duration::from_secs(50);

#[test]
fn an_outage_longer_than_the_poll_interval_keeps_the_partitions_and_loses_nothing() {
    let started = Instant::now();
    let _ = kafka();
    let milvus = OwnMilvus::start(PORT);
    let uri = milvus.uri();
    let topic = unique("long_outage");
    create_topic(&topic, 2);
    create_seed(&uri, &topic);
    let first = 2_000i64;
    produce(&topic, &articles(0..first, 8));

    let dir = tempfile::tempdir().unwrap();
    // A small cap: reached within a few batches once Milvus is down.
    let cap = 64 * 1024;
    let sink = outage_sink(100, 32768, cap);
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .group(&unique("g_long_outage"))
        .source_properties(&format!(
            "\"max.poll.interval.ms\" = \"{MAX_POLL_INTERVAL_MS}\""
        ))
        .module(kmv_test_artifacts::SEED)
        .milvus(&uri, &topic)
        .sink(&sink)
        .write();
    let mut host = Host::start(&p, dir.path().join("host.log"), &[]);
    let pid = host.pid();

    let baseline = milvus.stop_once_writing(&topic, &host);
    let down = Instant::now();

    // While Milvus is down: records keep arriving, the host keeps running,
    // and its memory stays within the bound of `e2e_milvus_outage`.
    let bound = rss_bound(baseline, cap);
    let (mut n, mut peak) = (first, 0);
    while down.elapsed() < OUTAGE {
        produce(&topic, &articles(n..n + 200, 8));
        n += 200;
        std::thread::sleep(Duration::from_millis(500));
        host.assert_running("while Milvus is down");
        assert_rss_within(pid, bound, &mut peak);
    }
    println!(
        "{:>6.1?} {n} records produced; RSS peak {peak} KiB (bound {bound} KiB)",
        started.elapsed()
    );

    milvus.recover(&topic, n, Duration::from_secs(90), &mut host);

    // Up to SIGTERM (whose clean leave revokes the partitions), the host
    // neither left the group nor had its partitions revoked; its final
    // commit after SIGTERM is accepted (exit 0).
    let running = host.log();
    let log = host.term("host");
    let signs = [
        ("revoked", &running),
        ("rebalance", &running),
        ("UnknownMemberId", &log),
        // MAXPOLL / MaxPollExceeded, "maximum application poll interval".
        ("MaxPoll", &log),
        ("poll interval", &log),
    ];
    for (sign, text) in signs {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.to_lowercase().contains(&sign.to_lowercase()))
            .collect();
        assert!(
            lines.is_empty(),
            "the host left or lost its place in the group (`{sign}`):\n{}",
            lines.join("\n")
        );
    }
    for line in log.lines().filter(|l| l.contains("onsumption")) {
        println!("{line}");
    }
    // How: consumption paused at the cap, and one pause outlasted the poll
    // interval.
    assert_eq!(
        field(&log, "consumption paused", "cap_bytes"),
        Some(cap.to_string()),
        "consumption did not pause at the cap:\n{log}"
    );
    // One pause lasted past the poll interval, and consumption resumed.
    let paused_ms = log
        .lines()
        .filter(|l| l.contains("Consumption resumed."))
        .filter_map(|l| counter(l, "", "paused_ms"))
        .max();
    assert!(
        paused_ms.is_some_and(|ms| ms > MAX_POLL_INTERVAL_MS),
        "no pause longer than max.poll.interval.ms ({paused_ms:?} ms):\n{log}"
    );

    let n = sigterm_while_paused(&milvus, &p, &topic, n);
    assert_exactly_articles(&uri, &topic, n);
    println!("took {:?}", started.elapsed());
}

/// Milvus down again, a new host paused at the cap: SIGTERM is a clean stop
/// (exit 0) that commits nothing unwritten, so a run after Milvus is back
/// writes the rest. Returns how many records the topic holds then.
fn sigterm_while_paused(milvus: &OwnMilvus, p: &std::path::Path, topic: &str, n: i64) -> i64 {
    let mut host = Host::start(p, p.with_extension("stopped.log"), &[]);
    host.wait_for_line("Consuming.", Duration::from_secs(60));
    milvus.stop_keep_data();
    produce(topic, &articles(n..n + 2_000, 8));
    host.wait_for_line("consumption paused", Duration::from_secs(60));
    let log = host.term("host stopped while paused");
    assert!(
        !log.contains("UnknownMemberId"),
        "the stop while paused:\n{log}"
    );
    milvus.restart(topic);
    run_ok(p, 5.0);
    n + 2_000
}
