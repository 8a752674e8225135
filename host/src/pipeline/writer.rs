//! The writer task: writes each chunk's rows through the sink, hands its
//! failed records to the error policy, and commits the chunk's offsets once
//! all of it is acknowledged; answers the rebalance hook's flush markers.

use super::chunk::{Chunk, Op, RowTag, ToWriter};
use super::inflight::InFlight;
use super::plan::plan;
use crate::errors::{ChunkFailures, ErrorClass, FailedRecord, OnError};
use crate::observability::{self as observe, Counters, add};
use crate::sink::{Part, RowFailure, WriteError};
use crate::source::{NextOffsets, Source, TopicPartition};
use anyhow::Context;
use rdkafka::consumer::CommitMode;
use std::collections::{BTreeSet, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct Writer {
    pub source: Arc<Source>,
    pub on_error: OnError,
    pub counters: Arc<Counters>,
    pub in_flight: Arc<InFlight>,
    /// Set on SIGTERM/SIGINT: retries give up (nothing more is committed).
    pub shutdown: Arc<AtomicBool>,
    /// What this writer has committed, per partition it still owns.
    pub committed: NextOffsets,
}

impl Writer {
    /// Writes chunks until the preparer closes the channel, logging progress
    /// every `progress_interval`.
    pub async fn run(
        &mut self,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<ToWriter>,
        progress_interval: Duration,
    ) -> anyhow::Result<()> {
        let mut progress = tokio::time::interval(progress_interval);
        progress.tick().await;
        loop {
            tokio::select! {
                next = rx.recv() => match next {
                    None => return Ok(()),
                    Some(ToWriter::Chunk(chunk)) => match self.write_and_commit(chunk).await {
                        Ok(()) => {}
                        // Logged by the sink; the run ends as a clean stop.
                        Err(e) if self.given_up_to_stop(&e) => return Ok(()),
                        Err(e) => return Err(e),
                    },
                    Some(ToWriter::Flush { revoked, reply }) => {
                        let _ = reply.send(self.forget(&revoked));
                    }
                },
                _ = progress.tick() => self.counters.summary().log_progress(
                    self.source.lag(),
                    observe::health().transform_version(),
                ),
            }
        }
    }

    /// Whether `error` is a write that was still being retried (Milvus down
    /// or busy) when SIGTERM/SIGINT came: the stop gave it up, uncommitted,
    /// which ends the run like any stop (what was written is committed).
    fn given_up_to_stop(&self, error: &anyhow::Error) -> bool {
        self.shutdown.load(Ordering::SeqCst)
            && matches!(
                error.downcast_ref::<WriteError>(),
                Some(WriteError::Retryable { .. })
            )
    }

    /// A flush marker reached: every earlier chunk is committed. Returns what
    /// was committed for the revoked partitions, and forgets them.
    fn forget(&mut self, revoked: &BTreeSet<TopicPartition>) -> NextOffsets {
        let done = self
            .committed
            .iter()
            .filter(|(k, _)| revoked.contains(*k))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        self.committed.retain(|k, _| !revoked.contains(k));
        done
    }

    async fn write_and_commit(&mut self, chunk: Chunk) -> anyhow::Result<()> {
        let Chunk {
            ops,
            failed,
            mut next_offsets,
            bytes,
            transform_version,
        } = chunk;
        self.write(ops, failed, &transform_version).await?;
        // Never commit for a partition another member owns now.
        self.source.retain_assigned(&mut next_offsets);
        self.source
            .commit(&next_offsets, CommitMode::Async)
            .context("committing offsets")?;
        self.in_flight
            .release(bytes, &self.counters.in_flight_bytes);
        for (partition, next) in next_offsets {
            let at = self.committed.entry(partition).or_insert(next);
            *at = (*at).max(next);
        }
        Ok(())
    }

    /// Writes the chunk's changes in the order `plan` gives and dead-letters
    /// its failed records (those of the preparer, then the rows and deletes
    /// the sink could not write, each record once); returns once all is
    /// acknowledged.
    async fn write(
        &self,
        ops: Vec<Op>,
        failed: Vec<FailedRecord>,
        version: &Arc<str>,
    ) -> anyhow::Result<()> {
        let mut failures = ChunkFailures::new(&self.on_error, &self.counters);
        for failed in failed {
            failures.dead_letter(failed).await?;
        }
        let plan = plan(ops);
        add(&self.counters.superseded, plan.superseded);
        let mut rejected = Vec::new();
        let mut stopped = None;
        let mut seen = HashSet::new();
        let mut on_failed_row = |tag: &RowTag, failure: RowFailure| {
            // A record with several changes fails once.
            if !seen.insert((tag.topic.clone(), tag.partition, tag.offset)) {
                return ControlFlow::Continue(());
            }
            let failed = failed_row(tag, failure, version);
            match self.on_error.record_failed(&self.counters, failed) {
                Ok(Some(failed)) => rejected.push(failed),
                Ok(None) => {}
                Err(stop) => {
                    stopped = Some(stop);
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        };
        'steps: for step in &plan.steps {
            let partition = step.partition.as_deref();
            let parts = [
                Part::Deletes {
                    partition,
                    keys: &step.deletes,
                },
                Part::Rows {
                    partition,
                    rows: &step.rows,
                },
            ];
            for part in parts {
                let report = step
                    .sink
                    .write_part(part, &self.shutdown, &self.counters, &mut on_failed_row)
                    .await
                    .map_err(|e| {
                        anyhow::Error::new(e).context(format!(
                            "writing to Milvus collection `{}` (nothing from this batch on is committed)",
                            step.sink.schema().name
                        ))
                    })?;
                // `on_failed_row` broke off under the `stop` policy.
                if report.stopped {
                    break 'steps;
                }
            }
        }
        if let Some(stop) = stopped {
            return Err(stop);
        }
        for failed in rejected {
            failures.dead_letter(failed).await?;
        }
        failures.settle().await
    }

    /// The final commit of a run that ended well: what was written, for the
    /// partitions still assigned.
    pub fn commit_final(&mut self) -> anyhow::Result<()> {
        self.source.retain_assigned(&mut self.committed);
        self.source
            .commit(&self.committed, CommitMode::Sync)
            .context("committing final offsets")?;
        Ok(())
    }
}

/// The one mapping from what the sink reports to why a record failed.
fn failed_row(tag: &RowTag, failure: RowFailure, version: &Arc<str>) -> FailedRecord {
    let (class, reason) = match failure {
        RowFailure::Refused(refusal) => (ErrorClass::SchemaMismatch, refusal.to_string()),
        RowFailure::Rejected { code, message } => (
            ErrorClass::MilvusRejected,
            format!("code {code}: {message}"),
        ),
    };
    FailedRecord {
        record: tag.clone(),
        class,
        reason,
        transform: version.clone(),
    }
}
