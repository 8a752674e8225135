//! Milvus stopped mid-run and started again on the same data (fault 2): the
//! host keeps retrying by itself, its memory stays bounded while it waits,
//! and every record ends up in Milvus exactly once by primary key.
//!
//! Runs its own Milvus on port 19600 (tests/services/milvus.sh), stopped at
//! the end even when the test fails.

mod common;

use common::*;
use std::time::{Duration, Instant};

const PORT: u16 = 19600;

#[test]
fn milvus_outage_resumes_with_bounded_memory_and_loses_nothing() {
    let started = Instant::now();
    let _ = kafka();
    let milvus = OwnMilvus::start(PORT);
    let uri = milvus.uri();
    let topic = unique("outage");
    create_seed(&uri, &topic);
    let n = 20_000i64;
    produce(&topic, &articles(0..n / 2, 8));

    let dir = tempfile::tempdir().unwrap();
    let cap = 256 * 1024;
    let sink = outage_sink(200, 65536, cap);
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .group(&unique("g_outage"))
        .module(kmv_test_artifacts::SEED)
        .milvus(&uri, &topic)
        .sink(&sink)
        .write();
    let mut host = Host::start(&p, dir.path().join("host.log"), &[]);
    let pid = host.pid();

    // Stop Milvus once the host is writing.
    let baseline = milvus.stop_once_writing(&topic, &host);

    // While it is down: more records, and the host's memory sampled.
    produce(&topic, &articles(n / 2..n, 8));
    // The 20k records alone are ~6.5 MB, so an unbounded buffer of all of
    // them on top of a full prefetch would show.
    let bound = rss_bound(baseline, cap);
    let mut peak = 0;
    for _ in 0..6 {
        std::thread::sleep(Duration::from_secs(1));
        assert_rss_within(pid, bound, &mut peak);
    }
    let host_log = host.log();
    assert!(
        host_log.contains("Write failed; retrying."),
        "no retry while Milvus is down:\n{host_log}"
    );
    println!(
        "{:>6.1?} RSS peak {peak} KiB (bound {bound} KiB)",
        started.elapsed()
    );

    milvus.recover(&topic, n, Duration::from_secs(60), &mut host);
    host.term("host");
    println!("took {:?}", started.elapsed());
}
