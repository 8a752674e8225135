//! Records a poll returned while consumption was paused (fetched before the
//! pause): held in arrival order and handed out first by the next batch, so
//! none is lost or reordered.

use super::TopicPartition;
use crate::transform::KafkaRecord;
use std::collections::{BTreeSet, VecDeque};

/// The records held while paused, oldest first.
#[derive(Debug, Default)]
pub struct Held {
    records: VecDeque<KafkaRecord>,
}

impl Held {
    /// Holds `record` after those held before it.
    pub fn hold(&mut self, record: KafkaRecord) {
        self.records.push_back(record);
    }

    /// Drops the records of `revoked` partitions (uncommitted: their next
    /// owner consumes them again); how many were dropped.
    pub fn drop_partitions(&mut self, revoked: &BTreeSet<TopicPartition>) -> usize {
        let before = self.records.len();
        if !revoked.is_empty() {
            self.records
                .retain(|r| !revoked.contains(&(r.topic.clone(), r.partition)));
        }
        before - self.records.len()
    }

    /// The oldest records, up to `max_records` and (past the first) up to
    /// `max_bytes` of values; the rest stay held.
    pub fn take(&mut self, max_records: usize, max_bytes: usize) -> Vec<KafkaRecord> {
        let mut taken = Vec::new();
        let mut bytes = 0;
        while taken.len() < max_records && (taken.is_empty() || bytes < max_bytes) {
            let Some(record) = self.records.pop_front() else {
                break;
            };
            bytes += super::poll::value_len(&record);
            taken.push(record);
        }
        taken
    }

    /// How many records are held.
    pub fn len(&self) -> usize {
        self.records.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, offset: i64, value: &str) -> KafkaRecord {
        KafkaRecord {
            topic: "t".into(),
            partition,
            offset,
            timestamp: None,
            key: None,
            value: Some(value.as_bytes().to_vec()),
            headers: vec![],
        }
    }

    fn offsets(records: &[KafkaRecord]) -> Vec<(i32, i64)> {
        records.iter().map(|r| (r.partition, r.offset)).collect()
    }

    #[test]
    fn held_records_come_out_in_arrival_order_within_the_limits() {
        let mut held = Held::default();
        for (partition, offset) in [(0, 5), (1, 9), (0, 6), (1, 10), (0, 7)] {
            held.hold(record(partition, offset, "abcd"));
        }
        // At most two records.
        assert_eq!(offsets(&held.take(2, 1000)), [(0, 5), (1, 9)]);
        // At most 6 bytes: the second record passes them, the third is not taken.
        assert_eq!(offsets(&held.take(10, 6)), [(0, 6), (1, 10)]);
        assert_eq!(held.len(), 1);
        // A record larger than the byte limit still comes out alone.
        assert_eq!(offsets(&held.take(10, 1)), [(0, 7)]);
        assert_eq!(held.len(), 0);
        assert!(held.take(10, 1000).is_empty());
    }

    #[test]
    fn records_of_revoked_partitions_are_dropped_and_the_rest_keep_their_order() {
        let mut held = Held::default();
        for (partition, offset) in [(0, 1), (1, 1), (2, 1), (0, 2), (1, 2)] {
            held.hold(record(partition, offset, "x"));
        }
        assert_eq!(held.drop_partitions(&BTreeSet::new()), 0);
        let revoked = BTreeSet::from([("t".to_string(), 1), ("other".to_string(), 0)]);
        assert_eq!(held.drop_partitions(&revoked), 2);
        assert_eq!(offsets(&held.take(10, 1000)), [(0, 1), (2, 1), (0, 2)]);
    }
}
