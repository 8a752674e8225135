//! What the preparer hands the writer, and the rebalance hook that sends a
//! flush marker down the same channel.

use crate::errors::FailedRecord;
use crate::sink::{EncodedRow, MilvusSink, PrimaryKey};
use crate::source::{NextOffsets, RevokeHook, TopicPartition};
use crate::transform::KafkaRecord;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Where a row came from: its record, shared by the record's rows (kept for
/// the dead-letter topic should Milvus reject the row).
pub type RowTag = Arc<KafkaRecord>;

/// One change to one collection, from one record, checked and encoded.
#[derive(Debug)]
pub struct Op {
    /// The collection it goes to.
    pub sink: Arc<MilvusSink>,
    /// Its partition; `None`: the default one (or the partition key's).
    pub partition: Option<Arc<str>>,
    pub action: OpAction,
    /// The record it came from.
    pub tag: RowTag,
}

/// A row to write, or a key to delete.
#[derive(Debug)]
pub enum OpAction {
    Row(EncodedRow),
    Delete(PrimaryKey),
}

impl Op {
    /// Bytes it takes in a request, roughly.
    pub fn bytes(&self) -> u64 {
        match &self.action {
            OpAction::Row(row) => row.json.len() as u64,
            OpAction::Delete(PrimaryKey::Int(_)) => 21,
            OpAction::Delete(PrimaryKey::Str(s)) => s.len() as u64 + 3,
        }
    }
}

/// One poll's worth of work, transformed and encoded.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The records' changes, in record order (and each record's in its order).
    pub ops: Vec<Op>,
    /// Records that failed in the transform or the schema check (policy
    /// `dead_letter`: to be written to the dead-letter topic).
    pub failed: Vec<FailedRecord>,
    /// Per partition: the offset after the chunk's last record.
    pub next_offsets: NextOffsets,
    /// Bytes taken from the in-flight budget, given back once committed.
    pub bytes: u64,
    /// The short identity of the transform version that produced the chunk.
    pub transform_version: Arc<str>,
}

impl Chunk {
    /// Drops the work of `revoked` partitions from a chunk not yet handed
    /// over (their records are uncommitted: their next owner consumes them).
    pub fn drop_partitions(&mut self, revoked: &BTreeSet<TopicPartition>) {
        let of = |r: &KafkaRecord| revoked.contains(&(r.topic.clone(), r.partition));
        self.ops.retain(|op| !of(&op.tag));
        self.failed.retain(|f| !of(&f.record));
        self.next_offsets.retain(|k, _| !revoked.contains(k));
    }

    /// Whether nothing is left to write or commit.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.failed.is_empty() && self.next_offsets.is_empty()
    }
}

/// What the preparer hands the writer: a chunk, or (from a rebalance) a
/// request to answer once every earlier chunk is written and committed.
#[derive(Debug)]
pub enum ToWriter {
    Chunk(Chunk),
    /// Partitions being revoked: the writer replies with the offsets it has
    /// committed for them, and forgets them.
    Flush {
        revoked: BTreeSet<TopicPartition>,
        reply: std::sync::mpsc::SyncSender<NextOffsets>,
    },
}

/// How long a revocation waits for the writer to finish the revoked
/// partitions' work (e.g. while Milvus is down) before giving them up
/// uncommitted (their records are then consumed again by the new owner).
const REVOKE_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// The hook run (on the preparer thread, inside poll) when partitions are
/// revoked: sends a flush marker after the chunks already handed over and
/// waits, bounded, for the writer to reach it.
pub fn revoke_hook(writer: tokio::sync::mpsc::WeakUnboundedSender<ToWriter>) -> RevokeHook {
    Box::new(move |partitions| {
        // The writer is gone (the run is ending): its final commit is done.
        let Some(tx) = writer.upgrade() else {
            return Some(NextOffsets::new());
        };
        let (reply, done) = std::sync::mpsc::sync_channel(1);
        let marker = ToWriter::Flush {
            revoked: partitions.clone(),
            reply,
        };
        if tx.send(marker).is_err() {
            return None;
        }
        drop(tx);
        done.recv_timeout(REVOKE_FLUSH_TIMEOUT).ok()
    })
}
