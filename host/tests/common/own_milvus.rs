//! `OwnMilvus`: a Milvus of one test's own (tests/services/milvus.sh on a
//! port no other test uses), to stop and start again mid-test; and the RSS
//! of a process, to check memory stays bounded meanwhile.

use std::process::Command;
use std::time::{Duration, Instant};

/// A Milvus started fresh on `port` for one test; stopped (its data
/// deleted) when dropped, however the test ends.
pub struct OwnMilvus {
    port: String,
}

impl OwnMilvus {
    /// Starts a Milvus with a fresh data dir on `port` and waits until it answers.
    pub fn start(port: u16) -> OwnMilvus {
        let milvus = OwnMilvus {
            port: port.to_string(),
        };
        milvus.sh(&["start"]);
        milvus
    }

    /// Its URI, `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops it, keeping its data for [`restart`](OwnMilvus::restart).
    pub fn stop_keep_data(&self) {
        self.sh(&["stop", "--keep-data"]);
    }

    /// Starts it again on the kept data and waits until `collection` is loaded.
    pub fn restart(&self, collection: &str) {
        self.sh(&["start", "--keep-data", "--wait-collection", collection]);
    }

    /// The row count of `collection`; 0 while it cannot be read.
    pub fn count(&self, collection: &str) -> usize {
        super::try_admin(&self.uri(), None, &["count", "--collection", collection])
            .ok()
            .and_then(|out| out.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Once `host` has written a first row to `collection` (60 s at most):
    /// samples the host's RSS (KiB, the baseline for [`rss_bound`]), then
    /// stops this Milvus, keeping its data.
    pub fn stop_once_writing(&self, collection: &str, host: &super::Host) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.count(collection) == 0 {
            assert!(
                Instant::now() < deadline,
                "host wrote nothing:\n{}",
                host.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let baseline = rss_kib(host.pid());
        self.stop_keep_data();
        println!("Milvus stopped; host RSS {baseline} KiB");
        baseline
    }

    /// After an outage: starts it again on the kept data, waits up to
    /// `limit` until `collection` holds ids `0..n`, each once, and checks
    /// `host` is still running.
    pub fn recover(&self, collection: &str, n: i64, limit: Duration, host: &mut super::Host) {
        self.restart(collection);
        println!("Milvus started again");
        self.assert_ids_after_outage(collection, n, limit, || host.log());
        host.assert_running("after the outage");
    }

    /// Waits up to `limit` until `collection` holds `n` rows, then checks
    /// they are ids `0..n`, each once; `log` (the host's) goes with a failure.
    pub fn assert_ids_after_outage(
        &self,
        collection: &str,
        n: i64,
        limit: Duration,
        log: impl Fn() -> String,
    ) {
        let deadline = Instant::now() + limit;
        let mut last = 0;
        while Instant::now() < deadline {
            last = self.count(collection);
            if last == n as usize {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        assert_eq!(last, n as usize, "rows after the outage:\n{}", log());
        let mut ids: Vec<i64> = super::query_ids(&self.uri(), collection, 0..n, "id")
            .iter()
            .map(|row| row["id"].as_i64().unwrap())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..n).collect::<Vec<_>>(), "ids after the outage");
    }

    fn sh(&self, args: &[&str]) {
        let status = Command::new(super::repo().join("tests/services/milvus.sh"))
            .args(args)
            .args(["--port", &self.port])
            .status()
            .expect("running tests/services/milvus.sh");
        assert!(
            status.success(),
            "milvus.sh {args:?} --port {} failed",
            self.port
        );
    }
}

impl Drop for OwnMilvus {
    fn drop(&mut self) {
        let _ = Command::new(super::repo().join("tests/services/milvus.sh"))
            .args(["stop", "--port", &self.port])
            .status();
    }
}

/// `[sink]` keys for an outage test: batches of `rows` rows and `bytes`
/// bytes, at most `cap` bytes in flight, and short retries and timeouts.
pub fn outage_sink(rows: usize, bytes: usize, cap: u64) -> String {
    format!(
        "batch_max_rows = {rows}\nbatch_max_bytes = {bytes}\n\
         max_in_flight_bytes = {cap}\nretry_max_backoff_ms = 2000\nrequest_timeout_ms = 2000"
    )
}

/// What the host's RSS (KiB) may reach while Milvus is down: the `baseline`,
/// plus the in-flight cap (`cap` bytes), plus librdkafka's prefetch queue
/// (queued.max.messages.kbytes = 16 MiB), plus 32 MiB slack for allocator
/// growth.
pub fn rss_bound(baseline: u64, cap: u64) -> u64 {
    baseline + cap / 1024 + 16 * 1024 + 32 * 1024
}

/// The resident set size of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Samples the RSS of `pid` into `peak` and fails when it is over `bound`
/// (KiB) while Milvus is down.
pub fn assert_rss_within(pid: u32, bound: u64, peak: &mut u64) {
    let rss = rss_kib(pid);
    *peak = (*peak).max(rss);
    assert!(
        rss <= bound,
        "host RSS {rss} KiB over the bound {bound} KiB while Milvus is down"
    );
}
