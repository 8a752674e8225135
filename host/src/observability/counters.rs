//! The run's counters: what an operator asks about. They are the source of
//! truth for the totals (the `kmv_*_total` metrics are set from them at each
//! scrape), the progress lines and the final summary.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tracing::info;

/// The progress and summary lines keep the target they always had, which
/// operators filter on (`RUST_LOG=kmv_host::pipeline=info`).
const LOG_TARGET: &str = "kmv_host::pipeline";

/// Counters of a run: what an operator asks about.
#[derive(Debug, Default)]
pub struct Counters {
    /// Records consumed from Kafka.
    pub records_in: AtomicU64,
    /// Rows Milvus acknowledged.
    pub rows_written: AtomicU64,
    /// Primary keys whose delete Milvus acknowledged.
    pub deletes: AtomicU64,
    /// Rows and deletes not sent because a later change in the same chunk
    /// to the same primary key replaced them (the last write per key wins).
    pub superseded: AtomicU64,
    /// Rows and deletes acknowledged, per collection.
    by_collection: std::sync::Mutex<std::collections::BTreeMap<String, CollectionCounts>>,
    /// Records the transform skipped on purpose.
    pub skipped: AtomicU64,
    /// Records that failed (transform error or fault, schema check, Milvus rejection).
    pub failed: AtomicU64,
    /// Failed records the dead-letter topic acknowledged.
    pub dead_lettered: AtomicU64,
    /// Write requests Milvus acknowledged.
    pub batches: AtomicU64,
    /// Write attempts retried.
    pub retries: AtomicU64,
    /// Transform versions swapped in while running.
    pub swaps: AtomicU64,
    /// New transform versions refused (did not load, init or pass the sample check).
    pub swap_failures: AtomicU64,
    /// The short identity of the transform version running now.
    transform: std::sync::Mutex<Arc<str>>,
    /// Bytes handed from the transform to the writer and not yet written and
    /// committed (at most `[sink] max_in_flight_bytes`).
    pub in_flight_bytes: AtomicU64,
    /// Microseconds from the start of the run to the first record consumed (0: none yet).
    first_record_us: AtomicU64,
    /// Microseconds from the start of the run to the last batch written.
    last_write_us: AtomicU64,
    started: std::sync::OnceLock<Instant>,
}

/// What one collection took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectionCounts {
    /// Rows written.
    pub rows: u64,
    /// Keys deleted.
    pub deletes: u64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Records consumed.
    pub records_in: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Keys deleted.
    pub deletes: u64,
    /// Changes replaced by a later one to the same key before being sent.
    pub superseded: u64,
    /// Records skipped.
    pub skipped: u64,
    /// Records failed.
    pub failed: u64,
    /// Records dead-lettered.
    pub dead_lettered: u64,
    /// Batches written.
    pub batches: u64,
    /// Retries.
    pub retries: u64,
    /// Transform versions swapped in.
    pub swaps: u64,
    /// Transform versions refused.
    pub swap_failures: u64,
    /// Seconds from the first record consumed to the last batch written: the
    /// time the pipeline was busy (rows_written / busy_seconds is its rate).
    pub busy_seconds: f64,
}

impl Counters {
    /// A snapshot.
    pub fn summary(&self) -> Summary {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Summary {
            records_in: get(&self.records_in),
            rows_written: get(&self.rows_written),
            deletes: get(&self.deletes),
            superseded: get(&self.superseded),
            skipped: get(&self.skipped),
            failed: get(&self.failed),
            dead_lettered: get(&self.dead_lettered),
            batches: get(&self.batches),
            retries: get(&self.retries),
            swaps: get(&self.swaps),
            swap_failures: get(&self.swap_failures),
            busy_seconds: get(&self.last_write_us).saturating_sub(get(&self.first_record_us))
                as f64
                / 1e6,
        }
    }

    /// The transform version running now (`name.wasm@hash12`; empty before the run starts).
    pub fn transform(&self) -> Arc<str> {
        self.transform
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_transform(&self, version: &Arc<str>) {
        *self.transform.lock().unwrap_or_else(|e| e.into_inner()) = version.clone();
    }

    /// Counts a refused transform version.
    pub(crate) fn swap_failed(&self) {
        add(&self.swap_failures, 1);
    }

    pub(crate) fn micros(&self) -> u64 {
        self.started.get_or_init(Instant::now).elapsed().as_micros() as u64
    }

    pub(crate) fn saw_records(&self) {
        let now = self.micros().max(1);
        let _ = self
            .first_record_us
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Rows and deletes acknowledged by `collection`.
    pub(crate) fn collection_wrote(&self, collection: &str, rows: u64, deletes: u64) {
        let mut map = self.by_collection.lock().unwrap_or_else(|e| e.into_inner());
        let counts = match map.get_mut(collection) {
            Some(c) => c,
            None => map.entry(collection.to_string()).or_default(),
        };
        counts.rows += rows;
        counts.deletes += deletes;
    }

    /// Rows and deletes acknowledged so far, by collection.
    pub fn by_collection(&self) -> Vec<(String, CollectionCounts)> {
        let map = self.by_collection.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// `articles: 10 rows, 2 deleted; archive: 3 rows, 0 deleted`, for logs.
    pub fn by_collection_text(&self) -> String {
        self.by_collection()
            .iter()
            .map(|(name, c)| format!("{name}: {} rows, {} deleted", c.rows, c.deletes))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) fn wrote_batch(&self) {
        self.last_write_us.store(self.micros(), Ordering::Relaxed);
    }
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Summary {
    /// Rows written per second of busy time (0 before any).
    pub fn rows_per_busy_second(&self) -> u64 {
        if self.busy_seconds <= 0.0 {
            return 0;
        }
        (self.rows_written as f64 / self.busy_seconds) as u64
    }

    /// Logs the progress line (`lag`: the consumer's lag in records, summed
    /// over its partitions). Its rate is over the time the pipeline was busy,
    /// so it does not fall while no records come.
    pub fn log_progress(&self, lag: i64, transform: Option<String>) {
        let s = self;
        info!(
            target: LOG_TARGET,
            records_in = s.records_in,
            rows_written = s.rows_written,
            deletes = s.deletes,
            skipped = s.skipped,
            failed = s.failed,
            dead_lettered = s.dead_lettered,
            batches = s.batches,
            retries = s.retries,
            lag,
            transform,
            rows_per_s = s.rows_per_busy_second(),
            "Progress."
        );
    }

    /// Logs the final line of a run; `collections` is what each collection
    /// took ([`Counters::by_collection_text`]).
    pub fn log_stopped(&self, started: Instant, collections: &str) {
        let s = self;
        info!(
            target: LOG_TARGET,
            records_in = s.records_in,
            rows_written = s.rows_written,
            deletes = s.deletes,
            superseded = s.superseded,
            collections,
            skipped = s.skipped,
            failed = s.failed,
            dead_lettered = s.dead_lettered,
            batches = s.batches,
            retries = s.retries,
            swaps = s.swaps,
            swap_failures = s.swap_failures,
            busy_seconds = format!("{:.3}", s.busy_seconds),
            seconds = started.elapsed().as_secs(),
            "Pipeline stopped."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The progress rate is over busy time: an idle hour after 1000 rows
    /// in 2 busy seconds still reads 500 rows/s.
    #[test]
    fn the_rate_does_not_fall_while_idle() {
        let s = Summary {
            rows_written: 1000,
            busy_seconds: 2.0,
            ..Summary::default()
        };
        assert_eq!(s.rows_per_busy_second(), 500);
        assert_eq!(Summary::default().rows_per_busy_second(), 0);
    }
}
