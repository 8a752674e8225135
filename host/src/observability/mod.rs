//! Metrics and health for operators: a Prometheus endpoint (`/metrics`) and
//! health checks (`/healthz`, `/readyz`) served by one small HTTP server on an
//! opt-in address (`--http-address`).
//!
//! Metrics go through the `metrics` facade to the Prometheus recorder of
//! `metrics-exporter-prometheus`, which renders the exposition format. Without
//! `--http-address` no recorder is installed and every metric call is a no-op.
//! The run's [`Counters`] stay the source of truth for the totals: the
//! `kmv_*_total` counters are set from them at each scrape.
//!
//! Readiness is decided from the latest evidence: the pipeline and a probe
//! task (every [`PROBE_INTERVAL`]) report into the process-wide [`health`].

mod counters;
mod server;

pub(crate) use counters::add;
pub use counters::{Counters, Summary};
pub use server::{install, serve};

use metrics_exporter_prometheus::PrometheusHandle;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Metric names (units in the names, `kmv_` prefix).
pub mod names {
    /// Counter: records consumed from Kafka.
    pub const RECORDS_CONSUMED: &str = "kmv_records_consumed_total";
    /// Counter: rows Milvus acknowledged.
    pub const ROWS_WRITTEN: &str = "kmv_rows_written_total";
    /// Counter: primary keys whose delete Milvus acknowledged.
    pub const KEYS_DELETED: &str = "kmv_keys_deleted_total";
    /// Counter: rows and deletes replaced by a later change to the same key
    /// in the same chunk, so not sent.
    pub const CHANGES_SUPERSEDED: &str = "kmv_changes_superseded_total";
    /// Counter, label `collection`: rows Milvus acknowledged.
    pub const COLLECTION_ROWS_WRITTEN: &str = "kmv_collection_rows_written_total";
    /// Counter, label `collection`: keys whose delete Milvus acknowledged.
    pub const COLLECTION_KEYS_DELETED: &str = "kmv_collection_keys_deleted_total";
    /// Counter: records the transform skipped on purpose.
    pub const RECORDS_SKIPPED: &str = "kmv_records_skipped_total";
    /// Counter, label `class`: records that failed.
    pub const RECORDS_FAILED: &str = "kmv_records_failed_total";
    /// Counter: failed records the dead-letter topic acknowledged.
    pub const RECORDS_DEAD_LETTERED: &str = "kmv_records_dead_lettered_total";
    /// Counter: write attempts retried.
    pub const WRITE_RETRIES: &str = "kmv_write_retries_total";
    /// Counter: write requests Milvus acknowledged.
    pub const BATCHES_WRITTEN: &str = "kmv_batches_written_total";
    /// Histogram: seconds per write request to Milvus (each attempt).
    pub const BATCH_WRITE_SECONDS: &str = "kmv_batch_write_duration_seconds";
    /// Histogram: seconds per transform call (one call per polled chunk).
    pub const TRANSFORM_SECONDS: &str = "kmv_transform_call_duration_seconds";
    /// Gauge: bytes of chunks handed to the writer and not yet committed.
    pub const IN_FLIGHT_BYTES: &str = "kmv_in_flight_bytes";
    /// Gauge, labels `topic`, `partition`: consumer lag in records.
    pub const CONSUMER_LAG: &str = "kmv_consumer_lag_records";
    /// Gauge, label `module`: 1 for the running transform, 0 for replaced ones.
    pub const TRANSFORM_INFO: &str = "kmv_transform_info";
    /// Counter: transform versions switched in while running.
    pub const TRANSFORM_SWAPS: &str = "kmv_transform_swaps_total";
    /// Counter: transform versions refused.
    pub const TRANSFORM_SWAP_FAILURES: &str = "kmv_transform_swap_failures_total";
}

/// How often the probe task checks the consumer and Milvus.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// A consumer that polled within this time counts as consuming even with no
/// partitions assigned (a spare member of the group).
const POLL_FRESH: Duration = Duration::from_secs(30);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static HEALTH: OnceLock<Health> = OnceLock::new();

/// Whether the HTTP endpoint is on (metrics recorded, probes running).
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// Parses `--http-address`: `HOST:PORT`, or a bare `PORT` bound on 127.0.0.1.
pub fn parse_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse::<SocketAddr>().map_err(|e| {
        format!("`{text}` is not HOST:PORT or PORT (e.g. 127.0.0.1:9464 or 9464): {e}")
    })
}

/// Marks `new` as the running transform, and `old` (if any) as replaced.
/// Also what readiness reports as the loaded transform.
pub fn set_transform_version(old: Option<&str>, new: &str) {
    if let Some(old) = old
        && old != new
    {
        metrics::gauge!(names::TRANSFORM_INFO, "module" => old.to_string()).set(0.0);
    }
    metrics::gauge!(names::TRANSFORM_INFO, "module" => new.to_string()).set(1.0);
    *lock(&health().transform) = Some(new.to_string());
}

/// What readiness is decided from.
#[derive(Debug, Default)]
pub struct Health {
    /// The running transform's identity, once loaded.
    transform: Mutex<Option<String>>,
    /// The run's counters, once the pipeline runs.
    counters: Mutex<Option<Arc<Counters>>>,
    /// Milliseconds since `epoch` of the last poll that returned (0: none).
    last_poll_ms: AtomicU64,
    /// Whether the consumer has partitions assigned (from the probe).
    assigned: AtomicBool,
    /// The latest Milvus probe or write outcome, and when.
    milvus: Mutex<Option<(Instant, Result<(), String>)>>,
    epoch: OnceLock<Instant>,
}

/// The process-wide health state.
pub fn health() -> &'static Health {
    HEALTH.get_or_init(Health::default)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Health {
    fn now_ms(&self) -> u64 {
        self.epoch.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
    }

    /// The running transform's identity (`name.wasm@hash12`), once loaded.
    pub fn transform_version(&self) -> Option<String> {
        lock(&self.transform).clone()
    }

    /// The pipeline's counters, exported at each scrape.
    pub fn set_counters(&self, counters: Arc<Counters>) {
        *lock(&self.counters) = Some(counters);
    }

    /// A poll of the consumer returned without error.
    pub fn polled(&self) {
        self.last_poll_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Whether the consumer has partitions assigned.
    pub fn set_assigned(&self, assigned: bool) {
        self.assigned.store(assigned, Ordering::Relaxed);
    }

    /// The outcome of a Milvus probe or write: the latest one decides.
    pub fn milvus(&self, outcome: Result<(), String>) {
        *lock(&self.milvus) = Some((Instant::now(), outcome));
    }

    /// Each check with `Ok` or why it fails.
    pub fn checks(&self) -> Vec<(&'static str, Result<(), String>)> {
        let last_poll = self.last_poll_ms.load(Ordering::Relaxed);
        let polled_recently =
            last_poll > 0 && self.now_ms() - last_poll <= POLL_FRESH.as_millis() as u64;
        let consuming = if self.assigned.load(Ordering::Relaxed) || polled_recently {
            Ok(())
        } else if last_poll == 0 {
            Err("the consumer has not polled Kafka yet".to_string())
        } else {
            Err(format!(
                "no partitions assigned and no poll of Kafka in the last {}s",
                POLL_FRESH.as_secs()
            ))
        };
        let milvus = match &*lock(&self.milvus) {
            None => Err("Milvus not checked yet".to_string()),
            Some((_, Ok(()))) => Ok(()),
            Some((at, Err(e))) => Err(format!(
                "Milvus unreachable or failing ({}s ago): {e}",
                at.elapsed().as_secs()
            )),
        };
        let transform = match &*lock(&self.transform) {
            Some(_) => Ok(()),
            None => Err("no transform loaded".to_string()),
        };
        vec![
            ("consuming", consuming),
            ("milvus", milvus),
            ("transform", transform),
        ]
    }

    /// `/readyz`: ready, and a JSON body naming each check.
    pub fn readiness(&self) -> (bool, serde_json::Value) {
        let checks = self.checks();
        let ready = checks.iter().all(|(_, r)| r.is_ok());
        let mut body = serde_json::Map::new();
        body.insert("ready".into(), ready.into());
        if let Some(t) = &*lock(&self.transform) {
            body.insert("transform_version".into(), t.clone().into());
        }
        let failed: Vec<&str> = checks
            .iter()
            .filter(|(_, r)| r.is_err())
            .map(|(n, _)| *n)
            .collect();
        body.insert("failed".into(), failed.into());
        let checks: serde_json::Map<String, serde_json::Value> = checks
            .into_iter()
            .map(|(name, r)| {
                (
                    name.to_string(),
                    match r {
                        Ok(()) => "ok".into(),
                        Err(e) => e.into(),
                    },
                )
            })
            .collect();
        body.insert("checks".into(), checks.into());
        (ready, body.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_address("9464").unwrap().to_string(), "127.0.0.1:9464");
        assert_eq!(
            parse_address("0.0.0.0:9000").unwrap().to_string(),
            "0.0.0.0:9000"
        );
        let e = parse_address("localhost").unwrap_err();
        assert!(e.contains("not HOST:PORT or PORT"), "{e}");
    }

    #[test]
    fn readiness_names_the_failed_check() {
        let h = Health::default();
        let (ready, body) = h.readiness();
        assert!(!ready);
        assert_eq!(
            body["failed"],
            serde_json::json!(["consuming", "milvus", "transform"])
        );
        *lock(&h.transform) = Some("t.wasm@0123456789ab".into());
        h.polled();
        h.milvus(Ok(()));
        assert!(h.readiness().0, "{}", h.readiness().1);
        h.milvus(Err("connection refused".into()));
        let (ready, body) = h.readiness();
        assert!(!ready);
        assert_eq!(body["failed"], serde_json::json!(["milvus"]));
        assert!(
            body["checks"]["milvus"]
                .as_str()
                .unwrap()
                .contains("connection refused"),
            "{body}"
        );
        h.milvus(Ok(()));
        assert!(h.readiness().0);
    }
}
