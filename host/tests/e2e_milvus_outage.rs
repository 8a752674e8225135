//! Milvus stopped mid-run and started again on the same data (fault 2): the
//! host keeps retrying by itself, its memory stays bounded while it waits,
//! and every record ends up in Milvus exactly once by primary key.
//!
//! Runs its own Milvus on port 19600 (tests/services/milvus.sh), stopped at
//! the end even when the test fails.

mod common;

use common::*;
use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PORT: &str = "19600";

fn milvus_sh(args: &[&str]) {
    let status = Command::new(repo().join("tests/services/milvus.sh"))
        .args(args)
        .args(["--port", PORT])
        .status()
        .expect("running tests/services/milvus.sh");
    assert!(status.success(), "milvus.sh {args:?} failed");
}

/// Stops this test's Milvus (and deletes its data) however the test ends.
struct MilvusGuard;

impl Drop for MilvusGuard {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/services/milvus.sh"))
            .args(["stop", "--port", PORT])
            .status();
    }
}

/// Kills the host however the test ends.
struct HostGuard(Child);

impl Drop for HostGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn count(uri: &str, collection: &str) -> usize {
    admin(uri, None, &["count", "--collection", collection])
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn milvus_outage_resumes_with_bounded_memory_and_loses_nothing() {
    let started = Instant::now();
    let _ = kafka();
    milvus_sh(&["start"]);
    let _milvus = MilvusGuard;
    let uri = format!("http://127.0.0.1:{PORT}");
    let topic = unique("outage");
    admin(
        &uri,
        None,
        &["create-seed", "--collection", &topic, "--drop"],
    );
    let n = 20_000i64;
    produce(&topic, &articles(0..n / 2, 8));

    let dir = tempfile::tempdir().unwrap();
    let cap = 256 * 1024;
    let sink = format!(
        "endpoint = \"{uri}\"\ncollection = \"{topic}\"\nbatch_max_rows = 200\nbatch_max_bytes = 65536\n\
         max_in_flight_bytes = {cap}\nretry_max_backoff_ms = 2000\nrequest_timeout_ms = 2000"
    );
    let p = pipeline(
        dir.path(),
        &topic,
        &unique("g_outage"),
        kmv_test_artifacts::SEED,
        "",
        &sink,
    );
    let log_path = dir.path().join("host.log");
    let out = File::create(&log_path).unwrap();
    let host = HostGuard(
        Command::new(env!("CARGO_BIN_EXE_kmv-host"))
            .arg("--pipeline")
            .arg(&p)
            .args(["--progress-interval", "0.5"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap(),
    );
    let pid = host.0.id();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // Stop Milvus once the host is writing.
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&uri, &topic) == 0 {
        assert!(Instant::now() < deadline, "host wrote nothing:\n{}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let baseline = rss_kib(pid);
    milvus_sh(&["stop", "--keep-data"]);
    println!(
        "{:>6.1?} Milvus stopped; host RSS {baseline} KiB",
        started.elapsed()
    );

    // While it is down: more records, and the host's memory sampled.
    produce(&topic, &articles(n / 2..n, 8));
    // The bound: the baseline, plus the in-flight cap, plus librdkafka's
    // prefetch queue (queued.max.messages.kbytes = 16 MiB), plus 32 MiB slack
    // for allocator growth; the 20k records alone are ~6.5 MB, so an
    // unbounded buffer of all of them on top of a full prefetch would show.
    let bound = baseline + cap / 1024 + 16 * 1024 + 32 * 1024;
    let mut peak = 0;
    for _ in 0..6 {
        std::thread::sleep(Duration::from_secs(1));
        let rss = rss_kib(pid);
        peak = peak.max(rss);
        assert!(
            rss <= bound,
            "host RSS {rss} KiB over the bound {bound} KiB while Milvus is down"
        );
    }
    let host_log = log();
    assert!(
        host_log.contains("Write failed; retrying."),
        "no retry while Milvus is down:\n{host_log}"
    );
    println!(
        "{:>6.1?} RSS peak {peak} KiB (bound {bound} KiB)",
        started.elapsed()
    );

    milvus_sh(&["start", "--keep-data", "--wait-collection", &topic]);
    println!("{:>6.1?} Milvus started again", started.elapsed());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = 0;
    while Instant::now() < deadline {
        last = count(&uri, &topic);
        if last == n as usize {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut host = host;
    assert!(
        host.0.try_wait().unwrap().is_none(),
        "host exited:\n{}",
        log()
    );
    assert_eq!(last, n as usize, "rows after the outage:\n{}", log());
    let mut ids = Vec::new();
    for lo in (0..n).step_by(10_000) {
        let rows = admin(
            &uri,
            None,
            &[
                "query",
                "--collection",
                &topic,
                "--expr",
                &format!("id >= {lo} and id < {}", lo + 10_000),
                "--fields",
                "id",
                "--limit",
                "16384",
            ],
        );
        for line in rows.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            ids.push(row["id"].as_i64().unwrap());
        }
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..n).collect::<Vec<_>>(), "ids after the outage");
    // SAFETY: kill(2) on our own child, not yet reaped.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    let status = host.0.wait().unwrap();
    assert!(status.success(), "host exit {status}:\n{}", log());
    println!("took {:?}", started.elapsed());
}
