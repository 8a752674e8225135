//! The preparer thread: poll, transform, check and encode, hand over; between
//! two batches, switch to a new transform version when the watcher has one.
//! At the in-flight cap it pauses consumption and keeps polling until the
//! writer gives bytes back.

use super::chunk::{Chunk, Op, OpAction, RowTag, ToWriter};
use super::inflight::{InFlight, PauseLog};
use super::swap::{Ready, Sample};
use crate::errors::{ErrorClass, ErrorPolicy, FailedRecord, record_failed};
use crate::observability::{self as observe, Counters, add, names};
use crate::sink::{MilvusSink, RestApi, RowEncoder, RowError, SchemaChange, Sinks};
use crate::source::decode::Decoded;
use crate::source::{PollLimits, Source};
use crate::transform::{Action, Change, KafkaRecord, RecordOutcome, TransformEngine, Worker};
use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::info;

/// How long the preparer waits at the in-flight cap before pausing
/// consumption: a write that ends sooner costs no pause (a pause drops what
/// librdkafka has prefetched, to be fetched again on resume).
const PAUSE_AFTER: Duration = Duration::from_millis(500);

/// How long one poll waits while consumption is paused.
const PAUSED_POLL: Duration = Duration::from_millis(100);

/// How often at most a row naming a field the collection lacks makes the
/// preparer describe the collection again (it may have gained the field).
const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// The preparer's side of the hot swap.
pub struct SwapInbox {
    /// Recent records, for checking new versions.
    pub sample: Arc<Sample>,
    /// Checked versions from the watcher.
    pub ready: std::sync::mpsc::Receiver<Ready>,
}

pub struct Preparer {
    pub source: Arc<Source>,
    pub sinks: Arc<Sinks>,
    pub counters: Arc<Counters>,
    pub shutdown: Arc<AtomicBool>,
    pub limits: PollLimits,
    /// Stop once assigned and idle this long (`None`: run until stopped).
    pub stop_when_idle: Option<Duration>,
    pub policy: ErrorPolicy,
    /// The cap on bytes handed to the writer and not yet committed.
    pub in_flight: Arc<InFlight>,
    pub swap: SwapInbox,
    pub tx: tokio::sync::mpsc::UnboundedSender<ToWriter>,
    /// The run's runtime, to describe the collection again from this thread.
    pub runtime: tokio::runtime::Handle,
    /// When the collection was last described again for an unknown field.
    pub refreshed: std::cell::Cell<Option<Instant>>,
}

/// The transform version running, and its instance.
struct Running {
    worker: Worker,
    version: Arc<str>,
}

/// What became of one record before writing.
enum Prepared {
    Skipped,
    Ops(Vec<Op>),
    Failed(ErrorClass, String),
    /// A row names a field the collection did not have when last described.
    UnknownField(String),
}

impl Preparer {
    /// Starts the preparer thread.
    pub fn spawn(
        self,
        engine: TransformEngine,
    ) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
        std::thread::Builder::new()
            .name("kmv-prepare".into())
            .spawn(move || self.run(engine))
            .context("starting the transform thread")
    }

    /// Runs until shutdown, the writer's end, or (with `stop_when_idle`) idleness.
    pub fn run(self, engine: TransformEngine) -> anyhow::Result<()> {
        let mut running = Running {
            worker: engine.worker()?,
            version: engine.identity().short().into(),
        };
        self.counters.set_transform(&running.version);
        let mut idle = IdleClock::new(self.stop_when_idle);
        let mut pauses = PauseLog::default();
        while !self.shutdown.load(Ordering::SeqCst) {
            // A batch boundary: every record so far went through the old version.
            self.take_ready_version(&mut running);
            let records = self.source.poll_batch(&self.limits, &self.shutdown)?;
            if records.is_empty() {
                if idle.should_stop(self.source.has_assignment()) {
                    break;
                }
                continue;
            }
            idle.busy();
            // Framed keys and values decoded; waits while the registry is down.
            let Some(records) = self.source.decode(records, &self.shutdown)? else {
                break;
            };
            if records.records.is_empty() {
                continue;
            }
            let chunk = self.build_chunk(&mut running, records)?;
            if !self.hand_over(chunk, &mut pauses)? {
                break;
            }
            // Time spent transforming and waiting on the writer (Milvus slow,
            // the in-flight cap) is not idle time.
            idle.busy();
        }
        Ok(())
    }

    fn take_ready_version(&self, running: &mut Running) {
        let Some(ready) = self.swap.ready.try_iter().last() else {
            return;
        };
        let to: Arc<str> = ready.engine.identity().short().into();
        info!(
            from = &*running.version,
            to = &*to,
            transform = &*to,
            "Transform swapped at a batch boundary."
        );
        running.worker = ready.worker;
        observe::set_transform_version(Some(&running.version), &to);
        running.version = to;
        self.counters.set_transform(&running.version);
        add(&self.counters.swaps, 1);
    }

    /// Transforms `records` and encodes their rows; failed records are
    /// handled by the policy (under `stop`, the error ends the run).
    fn build_chunk(&self, running: &mut Running, decoded: Decoded) -> anyhow::Result<Chunk> {
        let counters = &self.counters;
        add(&counters.records_in, decoded.records.len() as u64);
        counters.saw_records();
        let transform_started = Instant::now();
        let input = decoded.transform_input();
        let outcomes = match input.is_empty() {
            true => Vec::new(),
            false => running.worker.process_in(input, decoded.form())?,
        };
        metrics::histogram!(names::TRANSFORM_SECONDS).record(transform_started.elapsed());
        // New transform versions are checked on records as the transform reads them.
        let decoded_apart = input.as_ptr() != decoded.records.as_ptr();
        if decoded_apart {
            let tail = &input[input.len().saturating_sub(100)..];
            self.swap.sample.remember_in(
                &tail.iter().cloned().map(Arc::new).collect::<Vec<_>>(),
                decoded.form(),
            );
        }
        let outcomes = decoded.place(outcomes);
        let records: Vec<RowTag> = decoded.records.into_iter().map(Arc::new).collect();
        if !decoded_apart {
            self.swap.sample.remember(&records);
        }
        let mut chunk = Chunk {
            bytes: records.iter().map(|r| record_bytes(r)).sum(),
            transform_version: running.version.clone(),
            ..Chunk::default()
        };
        let mut encoder = self.sinks.default_sink().encoder();
        for (record, outcome) in records.into_iter().zip(outcomes) {
            let next = chunk
                .next_offsets
                .entry((record.topic.clone(), record.partition))
                .or_insert(record.offset + 1);
            *next = (*next).max(record.offset + 1);
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(reason) => {
                    self.fail(&mut chunk, record, ErrorClass::DecodeError, reason, running)?;
                    continue;
                }
            };
            let mut prepared = self.prepare(&outcome, &record, &encoder);
            if matches!(prepared, Prepared::UnknownField(_)) && self.refresh_schema()? {
                encoder = self.sinks.default_sink().encoder();
                prepared = self.prepare(&outcome, &record, &encoder);
            }
            match prepared {
                Prepared::Skipped => add(&counters.skipped, 1),
                Prepared::Ops(ops) => {
                    for op in ops {
                        chunk.bytes += op.bytes();
                        chunk.ops.push(op);
                    }
                }
                Prepared::UnknownField(reason) => self.fail(
                    &mut chunk,
                    record,
                    ErrorClass::SchemaMismatch,
                    reason,
                    running,
                )?,
                Prepared::Failed(class, reason) => {
                    self.fail(&mut chunk, record, class, reason, running)?
                }
            }
        }
        Ok(chunk)
    }

    /// Hands a failed record to the policy (under `stop`, the error ends
    /// the run and the chunk is dropped: none of it is committed).
    fn fail(
        &self,
        chunk: &mut Chunk,
        record: RowTag,
        class: ErrorClass,
        reason: String,
        running: &Running,
    ) -> anyhow::Result<()> {
        let failed = FailedRecord {
            record,
            class,
            reason,
            transform: running.version.clone(),
        };
        if let Some(failed) = record_failed(&self.counters, self.policy, failed)? {
            chunk.failed.push(failed);
        }
        Ok(())
    }

    /// A row named a field the collection lacked: describes it again (at
    /// most every [`REFRESH_EVERY`]); `true` when it gained fields, which
    /// rows may now set. A change rows may not fit ends the run, uncommitted.
    fn refresh_schema(&self) -> anyhow::Result<bool> {
        if self
            .refreshed
            .get()
            .is_some_and(|at| at.elapsed() < REFRESH_EVERY)
        {
            return Ok(false);
        }
        self.refreshed.set(Some(Instant::now()));
        let change = self
            .runtime
            .block_on(self.sinks.default_sink().refresh_schema())?;
        Ok(matches!(change, SchemaChange::Added(_)))
    }

    /// Hands `chunk` to the writer once the in-flight cap lets it through
    /// (see [`Preparer::wait_paused`]). `false`: stopping (not handed over,
    /// so not committed).
    fn hand_over(&self, mut chunk: Chunk, pauses: &mut PauseLog) -> anyhow::Result<bool> {
        let gauge = &self.counters.in_flight_bytes;
        let taken = match self.in_flight.acquire(chunk.bytes, PAUSE_AFTER, gauge) {
            Some(bytes) => Some(bytes),
            None => self.wait_paused(&mut chunk, pauses)?,
        };
        let Some(bytes) = taken else {
            return Ok(false);
        };
        if chunk.is_empty() {
            // Every partition of the chunk was revoked while paused.
            self.in_flight.release(bytes, gauge);
            return Ok(true);
        }
        chunk.bytes = bytes;
        Ok(self.tx.send(ToWriter::Chunk(chunk)).is_ok())
    }

    /// At the cap: pauses consumption and keeps polling, so the consumer
    /// keeps its place in the group and serves rebalances however long the
    /// writer waits for Milvus, until the writer gives bytes back; then
    /// resumes. The chunk's work for partitions revoked meanwhile is dropped
    /// (uncommitted). The bytes taken, or `None` when stopping.
    fn wait_paused(&self, chunk: &mut Chunk, pauses: &mut PauseLog) -> anyhow::Result<Option<u64>> {
        let gauge = &self.counters.in_flight_bytes;
        let cap = self.in_flight.cap();
        self.source
            .pause()
            .context("pausing consumption at the in-flight cap")?;
        pauses.paused(self.in_flight.used(), cap, chunk.bytes);
        let taken = loop {
            if self.shutdown.load(Ordering::SeqCst) {
                return Ok(None);
            }
            let revoked = self.source.poll_paused(PAUSED_POLL)?;
            if !revoked.is_empty() {
                chunk.drop_partitions(&revoked);
                if chunk.is_empty() {
                    break 0;
                }
            }
            if let Some(bytes) = self.in_flight.acquire(chunk.bytes, Duration::ZERO, gauge) {
                break bytes;
            }
        };
        self.source.resume().context("resuming consumption")?;
        pauses.resumed(self.in_flight.used(), cap, self.source.held_records());
        Ok(Some(taken))
    }
}

fn record_bytes(r: &KafkaRecord) -> u64 {
    (r.value.as_ref().map_or(0, Vec::len) + r.key.as_ref().map_or(0, Vec::len)) as u64
}

/// A row checked against `encoder`: an op for `sink`, or why it does not fit.
fn row_op(
    sink: &Arc<MilvusSink>,
    encoder: &RowEncoder,
    partition: Option<Arc<str>>,
    row: &[crate::transform::Field],
    tag: &RowTag,
) -> Result<Op, Prepared> {
    match encoder.encode(row) {
        Ok(encoded) => Ok(Op {
            sink: sink.clone(),
            partition,
            action: OpAction::Row(encoded),
            tag: tag.clone(),
        }),
        Err(RowError {
            unknown_field: true,
            reason,
            ..
        }) => Err(Prepared::UnknownField(reason)),
        Err(e) => Err(Prepared::Failed(ErrorClass::SchemaMismatch, e.reason)),
    }
}

impl Preparer {
    /// A record's outcome, its rows encoded and its keys checked against
    /// their collections' schemas (`encoder`: the default collection's).
    fn prepare(&self, outcome: &RecordOutcome, record: &RowTag, encoder: &RowEncoder) -> Prepared {
        let default = self.sinks.default_sink();
        match outcome {
            RecordOutcome::Skip => Prepared::Skipped,
            RecordOutcome::Rows(rows) if rows.is_empty() => Prepared::Skipped,
            RecordOutcome::Rows(rows) => {
                match rows
                    .iter()
                    .map(|row| row_op(default, encoder, None, row, record))
                    .collect()
                {
                    Ok(ops) => Prepared::Ops(ops),
                    Err(failed) => failed,
                }
            }
            RecordOutcome::Changes(changes) if changes.is_empty() => Prepared::Skipped,
            RecordOutcome::Changes(changes) => {
                let mut ops = Vec::with_capacity(changes.len());
                for change in changes {
                    if let Err(failed) = self.change_ops(change, record, encoder, &mut ops) {
                        return failed;
                    }
                }
                Prepared::Ops(ops)
            }
            RecordOutcome::Error(reason) => {
                Prepared::Failed(ErrorClass::TransformError, reason.clone())
            }
            RecordOutcome::Fault { kind, reason } => {
                Prepared::Failed(ErrorClass::TransformFault, format!("{kind}: {reason}"))
            }
        }
    }

    /// One change's ops, appended to `ops`: its row, or one delete per key.
    fn change_ops(
        &self,
        change: &Change,
        record: &RowTag,
        default_encoder: &RowEncoder,
        ops: &mut Vec<Op>,
    ) -> Result<(), Prepared> {
        let name = change.target.collection.as_deref();
        let sink = match self.sinks.get(name) {
            Ok(Some(sink)) => Ok(sink),
            Ok(None) => self.runtime.block_on(self.sinks.resolve(name)),
            Err(e) => Err(e),
        }
        .map_err(|e| Prepared::Failed(ErrorClass::UnknownCollection, e.to_string()))?;
        let partition: Option<Arc<str>> = change.target.partition.as_deref().map(Into::into);
        if partition.is_some() && sink.api() == RestApi::V1 {
            return Err(Prepared::Failed(
                ErrorClass::SchemaMismatch,
                format!(
                    "collection `{}`: REST v1 (Milvus 2.3) cannot write to a named partition; leave target.partition out",
                    sink.schema().name
                ),
            ));
        }
        let is_default = Arc::ptr_eq(&sink, self.sinks.default_sink());
        let own;
        let encoder = if is_default {
            default_encoder
        } else {
            own = sink.encoder();
            &own
        };
        match &change.action {
            Action::Row(row) => match row_op(&sink, encoder, partition, row, record) {
                Ok(op) => ops.push(op),
                Err(Prepared::UnknownField(reason)) if !is_default => {
                    return Err(Prepared::Failed(ErrorClass::SchemaMismatch, reason));
                }
                Err(failed) => return Err(failed),
            },
            Action::Delete(keys) => {
                for key in keys {
                    let key = encoder
                        .key(key)
                        .map_err(|e| Prepared::Failed(ErrorClass::SchemaMismatch, e.reason))?;
                    ops.push(Op {
                        sink: sink.clone(),
                        partition: partition.clone(),
                        action: OpAction::Delete(key),
                        tag: record.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// `--stop-when-idle`: the time since the last record (or since partitions
/// were first assigned).
struct IdleClock {
    idle: Option<Duration>,
    assigned: bool,
    last_record: Instant,
}

impl IdleClock {
    fn new(idle: Option<Duration>) -> Self {
        IdleClock {
            idle,
            assigned: false,
            last_record: Instant::now(),
        }
    }

    /// Records arrived, or the work on them ended: idle time counts from now.
    fn busy(&mut self) {
        self.last_record = Instant::now();
        self.assigned = true;
    }

    /// After an empty poll: whether the run has been idle long enough to stop.
    fn should_stop(&mut self, has_assignment: bool) -> bool {
        if !self.assigned && has_assignment {
            self.assigned = true;
            self.last_record = Instant::now();
        }
        match self.idle {
            Some(idle) if self.assigned && self.last_record.elapsed() >= idle => {
                info!(
                    idle_ms = idle.as_millis() as u64,
                    "No records for the idle time; stopping."
                );
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IdleClock;
    use std::time::Duration;

    #[test]
    fn idle_time_counts_from_the_end_of_the_last_work() {
        let idle = Duration::from_millis(50);
        let mut clock = IdleClock::new(Some(idle));
        // Not before partitions are assigned.
        std::thread::sleep(idle * 2);
        assert!(!clock.should_stop(false));
        clock.busy();
        // Records, then work on them longer than the idle time (a slow
        // write): the first empty poll after it must not stop the run.
        std::thread::sleep(idle * 2);
        clock.busy();
        assert!(!clock.should_stop(true));
        std::thread::sleep(idle * 2);
        assert!(clock.should_stop(true));
        // Without an idle time, never.
        let mut forever = IdleClock::new(None);
        forever.busy();
        std::thread::sleep(idle * 2);
        assert!(!forever.should_stop(true));
    }
}
