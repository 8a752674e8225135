//! Writing rows: in batches by rows and bytes, each batch retried as the
//! sink's policy says, a batch Milvus rejects halved until the rejected rows
//! stand alone, and each row that cannot be written handed to the caller.
//!
//! What happens to a failed row (log it, dead-letter it, stop) is the
//! caller's policy: [`MilvusSink::write_rows`] only reports it, and stops
//! when the caller says so.

use super::WriteOp;
use super::batch::{Batch, BatchBody, BodyKind, PushRefusal};
use super::client::MilvusSink;
use super::encode::{EncodedRow, PrimaryKey};
use super::error::{AfterFew, FEW_ATTEMPTS, WriteError, WriteOk};
use crate::common::retry::{Retry, retry};
use crate::observability::{self as observe, Counters, names};
use std::collections::VecDeque;
use std::ops::{ControlFlow, Range};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Why a row was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowFailure {
    /// The batch would not take it (too large for any request, or, on an
    /// insert, its primary key already in the batch).
    Refused(PushRefusal),
    /// Milvus rejected it, alone in its batch (e.g. code 1804).
    Rejected {
        /// The body code (or the HTTP status when there was none).
        code: i64,
        /// Milvus' message.
        message: String,
    },
}

/// What [`MilvusSink::write_rows`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Rows Milvus acknowledged (keys, for deletes).
    pub rows: u64,
    /// Write requests Milvus acknowledged.
    pub batches: u64,
    /// Write attempts retried.
    pub retries: u64,
    /// `on_failed_row` broke off the writing: rows after the one it was
    /// told of may be unwritten.
    pub stopped: bool,
}

/// How often a write that keeps failing logs how long Milvus has been unreachable.
const UNREACHABLE_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// A row handed to `on_failed_row`: go on, or stop writing now.
type OnFailedRow<'a, T> = &'a mut (dyn FnMut(&T, RowFailure) -> ControlFlow<()> + Send);

/// What one call writes: rows, or keys to delete, each with its caller's
/// tag, for the default partition or a named one.
#[derive(Debug)]
pub enum Part<'a, T> {
    /// Rows to insert or upsert.
    Rows {
        partition: Option<&'a str>,
        rows: &'a [(EncodedRow, T)],
    },
    /// Primary keys to delete.
    Deletes {
        partition: Option<&'a str>,
        keys: &'a [(PrimaryKey, T)],
    },
}

impl<T> Clone for Part<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Part<'_, T> {}

impl<'a, T> Part<'a, T> {
    fn len(&self) -> usize {
        match self {
            Part::Rows { rows, .. } => rows.len(),
            Part::Deletes { keys, .. } => keys.len(),
        }
    }

    fn tag(&self, i: usize) -> &'a T {
        match self {
            Part::Rows { rows, .. } => &rows[i].1,
            Part::Deletes { keys, .. } => &keys[i].1,
        }
    }
}

/// One `write_part` call under way.
struct Writing<'a, T> {
    sink: &'a MilvusSink,
    part: Part<'a, T>,
    stop: &'a AtomicBool,
    counters: &'a Counters,
    report: WriteReport,
}

impl MilvusSink {
    /// Writes `rows` in batches (rows, bytes), retrying retryable failures as the policy says
    /// (without limit under retry_forever, until `stop` is set), halving a batch Milvus rejects
    /// until the rejected rows stand alone; each row that cannot be written is handed to
    /// `on_failed_row` (ControlFlow::Break: stop writing now and return with `stopped: true`).
    ///
    /// Under upsert, a row whose primary key is already in the batch closes
    /// the batch and goes in the next one, so the later row wins. `counters`
    /// (`rows_written`, `batches`, `retries`) are updated as writes go
    /// through; the report holds the same numbers for this call. `Err` is a
    /// write that failed for good (fatal, or retryable past the policy or
    /// under `stop`): nothing from that batch on was written.
    pub async fn write_rows<T: Sync>(
        &self,
        rows: &[(EncodedRow, T)],
        stop: &AtomicBool,
        counters: &Counters,
        on_failed_row: &mut (dyn FnMut(&T, RowFailure) -> ControlFlow<()> + Send),
    ) -> Result<WriteReport, WriteError> {
        let part = Part::Rows {
            partition: None,
            rows,
        };
        self.write_part(part, stop, counters, on_failed_row).await
    }

    /// [`MilvusSink::write_rows`] for rows or deletes, of any partition:
    /// deletes go in requests of at most `batch_max_rows` keys, and a
    /// delete Milvus rejects is halved like a batch of rows.
    pub async fn write_part<T: Sync>(
        &self,
        part: Part<'_, T>,
        stop: &AtomicBool,
        counters: &Counters,
        on_failed_row: &mut (dyn FnMut(&T, RowFailure) -> ControlFlow<()> + Send),
    ) -> Result<WriteReport, WriteError> {
        let mut w = Writing {
            sink: self,
            part,
            stop,
            counters,
            report: WriteReport::default(),
        };
        let mut i = 0;
        while i < part.len() {
            let ControlFlow::Continue(batch) = w.fill_batch(&mut i, on_failed_row) else {
                w.report.stopped = true;
                break;
            };
            if let Some(batch) = batch
                && w.write_isolating(batch, on_failed_row).await?.is_break()
            {
                w.report.stopped = true;
                break;
            }
        }
        Ok(w.report)
    }
}

impl<T: Sync> Writing<'_, T> {
    /// Fills one batch from row `*i` on, moving `*i` past the rows it took
    /// or handed to `on_failed_row`; `None` when it took none, `Break` when
    /// `on_failed_row` broke off.
    fn fill_batch(
        &self,
        i: &mut usize,
        on_failed_row: OnFailedRow<'_, T>,
    ) -> ControlFlow<(), Option<Batch<usize>>> {
        let (partition, rows) = match self.part {
            Part::Rows { partition, rows } => (partition, rows),
            Part::Deletes { partition, keys } => {
                let taken = self.sink.delete_batch_len(partition, keys, *i);
                let tags: Vec<usize> = (*i..*i + taken).collect();
                *i += taken;
                let body = self.sink.delete_body(partition, keys, &tags);
                return ControlFlow::Continue(Some(Batch { body, tags }));
            }
        };
        let mut builder = self.sink.batch_builder_for::<usize>(partition);
        while *i < rows.len() {
            let Err(e) = builder.push(rows[*i].0.clone(), *i) else {
                *i += 1;
                continue;
            };
            match e.refusal {
                PushRefusal::Full => break,
                // An update of a key already in the batch: it goes in the
                // next batch, so the later record wins.
                PushRefusal::DuplicateKey { .. } if self.sink.write_op() == WriteOp::Upsert => {
                    break;
                }
                refusal => {
                    let flow = on_failed_row(&rows[*i].1, RowFailure::Refused(refusal));
                    *i += 1;
                    flow?;
                }
            }
        }
        ControlFlow::Continue(builder.take())
    }

    /// Writes `batch` (whose tags index `rows`); when Milvus rejects it as
    /// invalid, describes the collection again (fatal when it changed in a
    /// way rows may not fit), then halves it until the rejected rows stand
    /// alone and hands only those to `on_failed_row`. The halves are written depth first, left
    /// before right, as a recursion would.
    async fn write_isolating(
        &mut self,
        batch: Batch<usize>,
        on_failed_row: OnFailedRow<'_, T>,
    ) -> Result<ControlFlow<()>, WriteError> {
        let idx = batch.tags;
        let mut body = Some(batch.body);
        let mut pending: VecDeque<Range<usize>> = VecDeque::new();
        pending.push_back(0..idx.len());
        let mut described = false;
        while let Some(range) = pending.pop_front() {
            let body = match body.take() {
                Some(first) => first,
                None => self.sub_batch(&idx[range.clone()])?,
            };
            match self.write_with_retry(&body).await {
                Ok(ok) => self.wrote(&ok, body.kind()),
                Err(WriteError::Rejected { code, message }) => {
                    // Before failing any row: is it the collection that changed?
                    if !described {
                        described = true;
                        self.sink.refresh_schema().await?;
                    }
                    if range.len() == 1 {
                        let tag = self.part.tag(idx[range.start]);
                        if on_failed_row(tag, RowFailure::Rejected { code, message }).is_break() {
                            return Ok(ControlFlow::Break(()));
                        }
                    } else {
                        let mid = range.start + range.len() / 2;
                        pending.push_front(mid..range.end);
                        pending.push_front(range.start..mid);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// The body of the rows (or keys) `i` for each `i` of `part`.
    fn sub_batch(&self, part: &[usize]) -> Result<BatchBody, WriteError> {
        let (partition, rows) = match self.part {
            Part::Rows { partition, rows } => (partition, rows),
            Part::Deletes { partition, keys } => {
                return Ok(self.sink.delete_body(partition, keys, part));
            }
        };
        let mut builder = self.sink.batch_builder_for::<usize>(partition);
        for &i in part {
            if let Err(e) = builder.push(rows[i].0.clone(), i) {
                return Err(WriteError::Fatal {
                    reason: format!("internal: a sub-batch refused a row it held before: {e}"),
                });
            }
        }
        match builder.take() {
            Some(sub) => Ok(sub.body),
            None => Err(WriteError::Fatal {
                reason: "internal: an empty sub-batch".into(),
            }),
        }
    }

    /// Counts a batch Milvus took (rows written, or keys deleted).
    fn wrote(&mut self, ok: &WriteOk, kind: BodyKind) {
        let rows = ok.rows as u64;
        self.report.rows += rows;
        self.report.batches += 1;
        let (written, deleted) = match kind {
            BodyKind::Rows => (rows, 0),
            BodyKind::Delete => (0, rows),
        };
        self.counters
            .rows_written
            .fetch_add(written, Ordering::Relaxed);
        self.counters.deletes.fetch_add(deleted, Ordering::Relaxed);
        self.counters
            .collection_wrote(&self.sink.schema().name, written, deleted);
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        self.counters.wrote_batch();
    }

    /// Writes `body`, retrying retryable failures as the sink's policy says
    /// (without limit under `retry_forever`, until `stop` is set).
    async fn write_with_retry(&mut self, body: &BatchBody) -> Result<WriteOk, WriteError> {
        let sink = self.sink;
        let (stop, counters) = (self.stop, self.counters);
        let retries = &mut self.report.retries;
        let mut next_report = UNREACHABLE_LOG_INTERVAL;
        let mut in_a_row = FewInARow::default();
        let before_retry = |r: &Retry<'_, WriteError>| {
            if stop.load(Ordering::SeqCst) {
                warn!(attempt = r.attempt, error = %r.error, "Stopping while a write keeps failing; its offsets are not committed.");
                return ControlFlow::Break(());
            }
            if in_a_row.gives_up(r.error, body.rows()) {
                return ControlFlow::Break(());
            }
            warn!(attempt = r.attempt, delay_ms = r.delay.as_millis() as u64, rows = body.rows(), error = %r.error, "Write failed; retrying.");
            let failing = r.failing_since.elapsed();
            if failing >= next_report {
                warn!(
                    seconds = failing.as_secs(),
                    attempt = r.attempt,
                    "Milvus unreachable for {} s; consumption paused, retrying.",
                    failing.as_secs()
                );
                next_report += UNREACHABLE_LOG_INTERVAL;
            }
            *retries += 1;
            counters.retries.fetch_add(1, Ordering::Relaxed);
            ControlFlow::Continue(())
        };
        let attempt = |_| attempt_write(sink, body);
        match retry(
            sink.retry_policy(),
            attempt,
            before_retry,
            tokio::time::sleep,
        )
        .await
        {
            Ok(done) => {
                if let Some(since) = done.failing_since {
                    info!(
                        attempt = done.attempts,
                        seconds = since.elapsed().as_secs(),
                        "Milvus reachable again; write succeeded."
                    );
                }
                Ok(done.value)
            }
            Err(gave_up) if self.stop.load(Ordering::SeqCst) => Err(gave_up.error),
            Err(gave_up) => Err(after_few(gave_up.error, body.rows())),
        }
    }
}

/// Counts failed attempts in a row of one [`AfterFew`] kind.
#[derive(Default)]
struct FewInARow {
    kind: Option<AfterFew>,
    count: u32,
}

impl FewInARow {
    /// After a failed attempt: whether to stop retrying `error` (a batch of
    /// `rows` rows) because its kind failed [`FEW_ATTEMPTS`] times in a row.
    fn gives_up(&mut self, error: &WriteError, rows: usize) -> bool {
        let kind = match error {
            WriteError::Retryable { after_few, .. } => *after_few,
            _ => None,
        };
        if kind.is_none() || kind != self.kind {
            self.count = 0;
        }
        self.kind = kind;
        self.count += 1;
        match kind {
            // One row alone that times out: Milvus is slow; go on as the policy says.
            Some(AfterFew::HalveTimeout { .. }) if rows <= 1 => false,
            Some(_) => self.count >= FEW_ATTEMPTS,
            None => false,
        }
    }
}

/// What a retryable error given up on after a few attempts becomes: a
/// rejection (halved by `write_isolating`) or a fatal error.
fn after_few(error: WriteError, rows: usize) -> WriteError {
    let WriteError::Retryable {
        reason,
        after_few: Some(kind),
        ..
    } = error
    else {
        return error;
    };
    let tried = format!("{reason} ({FEW_ATTEMPTS} attempts in a row)");
    match kind {
        AfterFew::Halve { code } => WriteError::Rejected {
            code,
            message: tried,
        },
        AfterFew::HalveTimeout { code } if rows > 1 => WriteError::Rejected {
            code,
            message: tried,
        },
        AfterFew::HalveTimeout { .. } => WriteError::Retryable {
            reason,
            retry_after: None,
            after_few: Some(kind),
        },
        AfterFew::Stop => WriteError::Fatal {
            reason: format!("{tried}; stopping with nothing unwritten committed"),
        },
    }
}

/// One write attempt, timed, and reported to the health of Milvus.
async fn attempt_write(sink: &MilvusSink, body: &BatchBody) -> Result<WriteOk, WriteError> {
    let started = Instant::now();
    let outcome = sink.write(body).await;
    metrics::histogram!(names::BATCH_WRITE_SECONDS).record(started.elapsed());
    // A rejected batch is bad data, not a Milvus outage.
    observe::health().milvus(match &outcome {
        Err(e @ (WriteError::Retryable { .. } | WriteError::Fatal { .. })) => {
            Err(format!("writing: {e}"))
        }
        _ => Ok(()),
    });
    outcome
}

#[cfg(test)]
mod tests;
