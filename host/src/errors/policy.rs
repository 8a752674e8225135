//! The policy applied to each failed record, and one chunk's dead-letter
//! writes on their way to the topic.

use super::{DeadLetterQueue, Deliveries, ErrorPolicy, FailedRecord};
use crate::observability::{Counters, add, names};
use anyhow::Context;
use tracing::warn;

/// The error policy in effect, with the dead-letter producer under
/// `dead_letter`.
pub struct OnError {
    pub policy: ErrorPolicy,
    pub dlq: Option<DeadLetterQueue>,
}

impl OnError {
    /// Counts and logs a failed record and applies the policy: `Err` under
    /// `stop` (the run ends), the record back under `dead_letter` (to be
    /// written to the topic), `None` under `log`.
    pub fn record_failed(
        &self,
        counters: &Counters,
        failed: FailedRecord,
    ) -> anyhow::Result<Option<FailedRecord>> {
        record_failed(counters, self.policy, failed)
    }
}

/// [`OnError::record_failed`] where only the policy is at hand (the preparer).
pub fn record_failed(
    counters: &Counters,
    policy: ErrorPolicy,
    failed: FailedRecord,
) -> anyhow::Result<Option<FailedRecord>> {
    add(&counters.failed, 1);
    metrics::counter!(names::RECORDS_FAILED, "class" => failed.class.as_str()).increment(1);
    let r = &failed.record;
    let message = match policy {
        ErrorPolicy::Stop => anyhow::bail!(
            "stopped at a failed record (errors.policy = \"stop\"; its offset is not committed): {failed}"
        ),
        ErrorPolicy::Log => "Record failed; logged and skipped.",
        ErrorPolicy::DeadLetter => "Record failed; dead-lettered.",
    };
    // The target operators filter on, wherever this code lives.
    warn!(
        target: "kmv_host::pipeline",
        topic = r.topic,
        partition = r.partition,
        offset = r.offset,
        class = failed.class.as_str(),
        reason = failed.reason,
        transform = &*failed.transform,
        "{message}"
    );
    Ok((policy == ErrorPolicy::DeadLetter).then_some(failed))
}

/// One chunk's failed records on their way to the dead-letter topic.
pub struct ChunkFailures<'a> {
    on_error: &'a OnError,
    counters: &'a Counters,
    deliveries: Deliveries,
}

impl<'a> ChunkFailures<'a> {
    pub fn new(on_error: &'a OnError, counters: &'a Counters) -> Self {
        ChunkFailures {
            on_error,
            counters,
            deliveries: Deliveries::default(),
        }
    }

    /// Starts the dead-letter write of a record already counted and logged.
    pub async fn dead_letter(&mut self, failed: FailedRecord) -> anyhow::Result<()> {
        let Some(dlq) = &self.on_error.dlq else {
            anyhow::bail!(
                "internal: a record to dead-letter without a dead-letter topic: {failed}"
            );
        };
        self.deliveries
            .push(dlq, failed)
            .await
            .context("dead-lettering (nothing from this chunk on is committed)")
    }

    /// Waits until the dead-letter topic has acknowledged every write.
    pub async fn settle(mut self) -> anyhow::Result<()> {
        if let Some(dlq) = &self.on_error.dlq {
            let n = self
                .deliveries
                .settle(dlq)
                .await
                .context("dead-lettering (nothing from this chunk on is committed)")?;
            add(&self.counters.dead_lettered, n);
        }
        Ok(())
    }
}
