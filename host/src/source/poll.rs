//! Gathering records into a batch: up to a count and a size, waiting at
//! most the linger time after the first record for more.

use super::{Source, SourceError, TopicPartition};
use crate::observability;
use crate::transform::KafkaRecord;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Per partition: the offset after the last record done, as committed.
pub type NextOffsets = BTreeMap<TopicPartition, i64>;

/// How many records one poll gathers (from `[sink]`: a batch is filled by
/// rows, bytes and linger time).
#[derive(Debug, Clone, Copy)]
pub struct PollLimits {
    pub max_records: usize,
    /// Bytes of record values.
    pub max_bytes: usize,
    /// How long a partly filled batch waits for more records.
    pub linger: Duration,
}

/// How long a poll waits when nothing has arrived yet.
const IDLE_WAIT: Duration = Duration::from_millis(100);

impl Source {
    /// Polls until `limits` are reached, the linger time has passed since
    /// the first record, nothing arrived within [`IDLE_WAIT`], or `shutdown`
    /// is set. The batch starts with the records held while paused
    /// ([`Source::poll_paused`]). Records of partitions revoked meanwhile are
    /// dropped (uncommitted: the new owner consumes them).
    pub fn poll_batch(
        &self,
        limits: &PollLimits,
        shutdown: &AtomicBool,
    ) -> Result<Vec<KafkaRecord>, SourceError> {
        let mut records = self.held().take(limits.max_records, limits.max_bytes);
        let mut bytes: usize = records.iter().map(value_len).sum();
        let mut first_at = (!records.is_empty()).then(Instant::now);
        while records.len() < limits.max_records && bytes < limits.max_bytes {
            let wait = match first_at {
                None => IDLE_WAIT,
                Some(t) => match limits.linger.checked_sub(t.elapsed()) {
                    Some(left) if !left.is_zero() => left,
                    _ => break,
                },
            };
            let mut polled = self.poll(wait)?;
            observability::health().polled();
            let revoked = self.take_revoked();
            if !revoked.is_empty() {
                records.retain(|r| !revoked.contains(&(r.topic.clone(), r.partition)));
                bytes = records.iter().map(value_len).sum();
                if records.is_empty() {
                    first_at = None;
                }
                polled = polled.filter(|r| {
                    let at = (r.topic.clone(), r.partition);
                    !revoked.contains(&at) || self.is_assigned(&at)
                });
            }
            match polled {
                Some(record) => {
                    bytes += value_len(&record);
                    records.push(record);
                    first_at.get_or_insert_with(Instant::now);
                }
                None if first_at.is_none() => break,
                None => {}
            }
            if shutdown.load(Ordering::SeqCst) {
                break;
            }
        }
        Ok(records)
    }

    /// Polls once while consumption is paused ([`Source::pause`]), which keeps
    /// the group membership and serves rebalances. A record fetched before the
    /// pause is held, to start the next [`poll_batch`](Source::poll_batch).
    /// Returns the partitions revoked meanwhile: their held records are
    /// dropped (uncommitted), and so must the caller's work for them not yet
    /// handed on.
    pub fn poll_paused(&self, timeout: Duration) -> Result<BTreeSet<TopicPartition>, SourceError> {
        let polled = self.poll(timeout)?;
        observability::health().polled();
        let revoked = self.take_revoked();
        let mut held = self.held();
        held.drop_partitions(&revoked);
        if let Some(record) = polled {
            // Of a revoked partition, a record is kept only when fetched
            // after the partition was assigned again.
            let at = (record.topic.clone(), record.partition);
            if !revoked.contains(&at) || self.is_assigned(&at) {
                held.hold(record);
            }
        }
        Ok(revoked)
    }

    /// How many records are held for the next batch.
    pub fn held_records(&self) -> usize {
        self.held().len()
    }
}

pub(super) fn value_len(r: &KafkaRecord) -> usize {
    r.value.as_ref().map_or(0, Vec::len)
}
