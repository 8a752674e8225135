//! Wires source -> transform -> sink into a running pipeline.
//!
//! Two stages run side by side, joined by a bounded channel (so a slow Milvus
//! pauses consumption):
//! - the **preparer** (a thread): polls Kafka, runs the transform, checks and
//!   encodes each row against the collection schema, and hands over a
//!   [`Chunk`]: the encoded rows, the records that failed, and per partition
//!   the offset after the chunk's last record;
//! - the **writer** (async): writes the chunk's rows in batches, with retries,
//!   isolating rows Milvus rejects, waits until the dead-letter topic has
//!   acknowledged the chunk's failed records, and only then commits the
//!   chunk's offsets.
//!
//! Chunks are written and committed in order, so an offset is committed only
//! once every record before it is written, skipped by the transform, or failed
//! and handled by the error policy (dead-lettered, or logged). Under the `stop`
//! policy a failed record ends the run and its chunk is not committed.

use crate::config::{Loaded, PipelineConfig};
use crate::errors::{DeadLetterQueue, Deliveries, ErrorClass, ErrorPolicy, FailedRecord};
use crate::inflight::InFlight;
use crate::observability::{self as observe, names};
use crate::sink::{EncodedRow, MilvusSink, WriteError, WriteOp};
use crate::source::Source;
use crate::source::TopicPartition;
use crate::transform::{KafkaRecord, RecordOutcome, TransformEngine};
use anyhow::Context;
use rdkafka::consumer::CommitMode;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How a run ends and reports.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop (flush, commit, exit 0) once partitions are assigned and no record
    /// has arrived for this long. `None`: run until SIGINT/SIGTERM.
    pub stop_when_idle: Option<Duration>,
    /// How often a progress line is logged.
    pub progress_interval: Duration,
    /// Where to serve /metrics, /healthz and /readyz (`None`: nowhere).
    pub http_address: Option<std::net::SocketAddr>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            stop_when_idle: None,
            progress_interval: Duration::from_secs(10),
            http_address: None,
        }
    }
}

/// Counters of a run: what an operator asks about.
#[derive(Debug, Default)]
pub struct Counters {
    /// Records consumed from Kafka.
    pub records_in: AtomicU64,
    /// Rows Milvus acknowledged.
    pub rows_written: AtomicU64,
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

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Records consumed.
    pub records_in: u64,
    /// Rows written.
    pub rows_written: u64,
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

    fn set_transform(&self, version: &Arc<str>) {
        *self.transform.lock().unwrap_or_else(|e| e.into_inner()) = version.clone();
    }

    /// Counts a refused transform version.
    pub(crate) fn swap_failed(&self) {
        add(&self.swap_failures, 1);
    }

    fn micros(&self) -> u64 {
        self.started.get_or_init(Instant::now).elapsed().as_micros() as u64
    }

    fn saw_records(&self) {
        let now = self.micros().max(1);
        let _ = self
            .first_record_us
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    fn wrote_batch(&self) {
        self.last_write_us.store(self.micros(), Ordering::Relaxed);
    }
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Where a row came from: its record, shared by the record's rows (kept for
/// the dead-letter topic should Milvus reject the row).
type RowTag = Arc<KafkaRecord>;

/// What the preparer hands the writer.
#[derive(Debug, Default)]
struct Chunk {
    rows: Vec<(EncodedRow, RowTag)>,
    /// Records that failed in the transform or the schema check (policy
    /// `dead_letter`: to be written to the dead-letter topic).
    failed: Vec<FailedRecord>,
    /// Per (topic, partition): the offset after the chunk's last record.
    next_offsets: BTreeMap<(String, i32), i64>,
    /// Bytes taken from the in-flight budget, given back once committed.
    bytes: u64,
    /// The transform version that produced the chunk (its short identity).
    transform: Arc<str>,
}

/// What the preparer hands the writer: a chunk, or (from a rebalance) a
/// request to answer once every earlier chunk is written and committed.
#[derive(Debug)]
enum ToWriter {
    Chunk(Chunk),
    /// Partitions being revoked: the writer replies with the offsets it has
    /// committed for them and forgets them.
    Flush(
        BTreeSet<TopicPartition>,
        std::sync::mpsc::SyncSender<BTreeMap<TopicPartition, i64>>,
    ),
}

/// How long a revocation waits for the writer to finish the revoked
/// partitions' work (e.g. while Milvus is down) before giving them up
/// uncommitted (their records are then consumed again by the new owner).
const REVOKE_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// The hook run (on the preparer thread, inside poll) when partitions are
/// revoked: sends a flush marker after the chunks already handed over and
/// waits, bounded, for the writer to reach it.
fn revoke_hook(writer: tokio::sync::mpsc::WeakSender<ToWriter>) -> crate::source::RevokeHook {
    Box::new(move |partitions| {
        // The writer is gone (the run is ending): its final commit is done.
        let Some(tx) = writer.upgrade() else {
            return Some(BTreeMap::new());
        };
        let deadline = Instant::now() + REVOKE_FLUSH_TIMEOUT;
        let (reply, done) = std::sync::mpsc::sync_channel(1);
        let mut marker = ToWriter::Flush(partitions.clone(), reply);
        loop {
            match tx.try_send(marker) {
                Ok(()) => break,
                Err(tokio::sync::mpsc::error::TrySendError::Full(m))
                    if Instant::now() < deadline =>
                {
                    marker = m;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return None,
            }
        }
        drop(tx);
        done.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .ok()
    })
}

/// Runs the pipeline in `path` until it is stopped; returns the final counters.
pub fn run_file(path: &Path, options: RunOptions) -> anyhow::Result<Summary> {
    let loaded = PipelineConfig::load(path)?;
    let engine = crate::cli::load_transform(&loaded)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let shutdown = Arc::new(AtomicBool::new(false));
    runtime.spawn(listen_for_signals(shutdown.clone()));
    if let Some(address) = options.http_address {
        runtime.block_on(observe::serve(address))?;
    }
    runtime.block_on(run(loaded, engine, options, shutdown))
}

async fn listen_for_signals(shutdown: Arc<AtomicBool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        warn!(
            "Cannot listen for SIGTERM/SIGINT; stop the pipeline with SIGKILL (offsets stay safe)."
        );
        return;
    };
    tokio::select! {
        _ = term.recv() => info!(signal = "SIGTERM", "Stopping: flushing in-flight rows and committing."),
        _ = int.recv() => info!(signal = "SIGINT", "Stopping: flushing in-flight rows and committing."),
    }
    shutdown.store(true, Ordering::SeqCst);
}

/// Runs a loaded pipeline until `shutdown` is set (or it is idle, see
/// [`RunOptions::stop_when_idle`]).
pub async fn run(
    loaded: Loaded,
    engine: TransformEngine,
    options: RunOptions,
    shutdown: Arc<AtomicBool>,
) -> anyhow::Result<Summary> {
    let file = loaded.path.display().to_string();
    let source_config = loaded
        .config
        .source
        .clone()
        .with_context(|| format!("{file}: a [source] table is needed to run the pipeline"))?;
    let sink_config = loaded
        .config
        .sink
        .clone()
        .with_context(|| format!("{file}: a [sink] table is needed to run the pipeline"))?;
    let sink = Arc::new(MilvusSink::connect(&sink_config).await.with_context(|| {
        format!(
            "{file}: [sink] {} collection `{}`",
            sink_config.endpoint, sink_config.collection
        )
    })?);
    let source = Arc::new(
        Source::start(&source_config, options.progress_interval)
            .with_context(|| format!("{file}: [source] brokers {}", source_config.brokers))?,
    );
    let errors = &loaded.config.errors;
    let policy = errors.policy();
    let dlq = DeadLetterQueue::start(errors, &source_config.brokers)
        .with_context(|| format!("{file}: [errors] dead-letter topic"))?;
    info!(
        brokers = source_config.brokers,
        topics = ?source_config.topics,
        group = source_config.group_id,
        transform = engine.identity().short(),
        write = ?sink.write_op(),
        errors = policy.as_str(),
        dead_letter_topic = dlq.as_ref().map(DeadLetterQueue::topic),
        "Consuming."
    );
    let on_error = OnError { policy, dlq };

    let counters = Arc::new(Counters::default());
    counters.micros();
    observe::set_transform_version(None, &engine.identity().short());
    observe::health().set_counters(counters.clone());
    let probe =
        observe::enabled().then(|| tokio::spawn(observe::probe(source.clone(), sink.clone())));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ToWriter>(1);
    source.on_revoke(revoke_hook(tx.downgrade()));
    let in_flight = Arc::new(InFlight::new(sink_config.max_in_flight_bytes as u64));
    // Hot swap: a watcher thread checks new versions and hands them over.
    let sample = Arc::new(crate::swap::Sample::default());
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let reload = Arc::new(AtomicBool::new(false));
    let stop_watching = Arc::new(AtomicBool::new(false));
    // The watcher stops however this function returns.
    let _stop_watching = crate::swap::StopOnDrop(stop_watching.clone());
    let sighup = tokio::spawn(listen_for_sighup(reload.clone()));
    {
        let watcher = crate::swap::Watcher {
            module: loaded.module_path(),
            config: loaded.config.transform.clone(),
            sink: sink.clone(),
            sample: sample.clone(),
            counters: counters.clone(),
            reload,
            stop: stop_watching.clone(),
            ready: ready_tx,
        };
        let running = engine.clone();
        std::thread::Builder::new()
            .name("kmv-swap".into())
            .spawn(move || watcher.run(&running))
            .context("starting the transform watcher thread")?;
    }
    let preparer = {
        let (source, sink, counters, shutdown, in_flight) = (
            source.clone(),
            sink.clone(),
            counters.clone(),
            shutdown.clone(),
            in_flight.clone(),
        );
        let limits = PrepareLimits {
            max_records: sink_config.batch_max_rows,
            max_bytes: sink_config.batch_max_bytes,
            linger: Duration::from_millis(sink_config.linger_ms),
            stop_when_idle: options.stop_when_idle,
            policy,
            in_flight,
        };
        let swap = Swap {
            sample,
            ready: ready_rx,
        };
        std::thread::Builder::new()
            .name("kmv-prepare".into())
            .spawn(move || {
                prepare(
                    &source, engine, &sink, &counters, &shutdown, &limits, &swap, &tx,
                )
            })
            .context("starting the transform thread")?
    };

    let mut progress = tokio::time::interval(options.progress_interval);
    progress.tick().await;
    let started = Instant::now();
    let mut committed: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let result: anyhow::Result<()> = async {
        loop {
            tokio::select! {
                next = rx.recv() => {
                    let chunk = match next {
                        None => break,
                        Some(ToWriter::Chunk(chunk)) => chunk,
                        Some(ToWriter::Flush(revoked, reply)) => {
                            let done = committed.iter().filter(|(k, _)| revoked.contains(*k)).map(|(k, v)| (k.clone(), *v)).collect();
                            committed.retain(|k, _| !revoked.contains(k));
                            let _ = reply.send(done);
                            continue;
                        }
                    };
                    write_chunk(&sink, &counters, &on_error, &chunk.transform, &shutdown, chunk.rows, chunk.failed).await?;
                    // Never commit for a partition another member owns now.
                    let mut next_offsets = chunk.next_offsets;
                    source.retain_assigned(&mut next_offsets);
                    source.commit(&next_offsets, CommitMode::Async).context("committing offsets")?;
                    in_flight.release(chunk.bytes, &counters.in_flight_bytes);
                    for (partition, next) in next_offsets {
                        let at = committed.entry(partition).or_insert(next);
                        *at = (*at).max(next);
                    }
                }
                _ = progress.tick() => log_progress(&counters, &source, started),
            }
        }
        Ok(())
    }
    .await;
    if let Some(probe) = probe {
        probe.abort();
    }
    if result.is_err() {
        shutdown.store(true, Ordering::SeqCst);
    }
    // The preparer ends once shutdown is set or the channel is closed.
    drop(rx);
    let prepared = tokio::task::spawn_blocking(move || preparer.join())
        .await
        .context("joining the transform thread")?;
    sighup.abort();
    if result.is_ok() {
        source.retain_assigned(&mut committed);
        source
            .commit(&committed, CommitMode::Sync)
            .context("committing final offsets")?;
    }
    let summary = counters.summary();
    info!(
        records_in = summary.records_in,
        rows_written = summary.rows_written,
        skipped = summary.skipped,
        failed = summary.failed,
        dead_lettered = summary.dead_lettered,
        batches = summary.batches,
        retries = summary.retries,
        swaps = summary.swaps,
        swap_failures = summary.swap_failures,
        busy_seconds = format!("{:.3}", summary.busy_seconds),
        seconds = started.elapsed().as_secs(),
        "Pipeline stopped."
    );
    result?;
    match prepared {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("the transform thread panicked"),
    }
    Ok(summary)
}

fn log_progress(counters: &Counters, source: &Source, started: Instant) {
    let s = counters.summary();
    info!(
        records_in = s.records_in,
        rows_written = s.rows_written,
        skipped = s.skipped,
        failed = s.failed,
        dead_lettered = s.dead_lettered,
        batches = s.batches,
        retries = s.retries,
        lag = source.lag(),
        transform = observe::health().transform_version(),
        rows_per_s = (s.rows_written as f64 / started.elapsed().as_secs_f64().max(0.001)) as u64,
        "Progress."
    );
}

/// SIGHUP asks the watcher to look at the module file now.
async fn listen_for_sighup(reload: Arc<AtomicBool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        warn!("Cannot listen for SIGHUP; a changed module file is still picked up.");
        return;
    };
    while hup.recv().await.is_some() {
        info!(
            signal = "SIGHUP",
            "Checking the transform module for a new version."
        );
        reload.store(true, Ordering::SeqCst);
    }
}

/// The preparer's side of the hot swap.
struct Swap {
    /// Recent records, for checking new versions.
    sample: Arc<crate::swap::Sample>,
    /// Checked versions from the watcher.
    ready: std::sync::mpsc::Receiver<crate::swap::Ready>,
}

struct PrepareLimits {
    max_records: usize,
    max_bytes: usize,
    linger: Duration,
    stop_when_idle: Option<Duration>,
    /// What happens to a record that fails.
    policy: ErrorPolicy,
    /// The cap on bytes handed to the writer and not yet committed.
    in_flight: Arc<InFlight>,
}

/// The preparer thread: poll, transform, encode, hand over; between two
/// batches, switch to a new transform version when the watcher has one.
#[allow(clippy::too_many_arguments)]
fn prepare(
    source: &Source,
    engine: TransformEngine,
    sink: &MilvusSink,
    counters: &Counters,
    shutdown: &AtomicBool,
    limits: &PrepareLimits,
    swap: &Swap,
    tx: &tokio::sync::mpsc::Sender<ToWriter>,
) -> anyhow::Result<()> {
    let mut worker = engine.worker()?;
    let mut transform: Arc<str> = engine.identity().short().into();
    counters.set_transform(&transform);
    let mut last_record = Instant::now();
    let mut assigned = false;
    while !shutdown.load(Ordering::SeqCst) {
        // A batch boundary: every record so far went through the old version.
        if let Some(ready) = swap.ready.try_iter().last() {
            let to: Arc<str> = ready.engine.identity().short().into();
            info!(
                from = &*transform,
                to = &*to,
                transform = &*to,
                "Transform swapped at a batch boundary."
            );
            worker = ready.worker;
            observe::set_transform_version(Some(&transform), &to);
            transform = to;
            counters.set_transform(&transform);
            add(&counters.swaps, 1);
        }
        let mut records: Vec<KafkaRecord> = Vec::new();
        let mut bytes = 0;
        let mut first_at: Option<Instant> = None;
        while records.len() < limits.max_records && bytes < limits.max_bytes {
            let wait = match first_at {
                None => Duration::from_millis(100),
                Some(t) => match limits.linger.checked_sub(t.elapsed()) {
                    Some(left) if !left.is_zero() => left,
                    _ => break,
                },
            };
            let polled = source.poll(wait)?;
            observe::health().polled();
            // Partitions revoked inside that poll: their records not yet
            // handed on are dropped (uncommitted; the new owner consumes them).
            let revoked = source.take_revoked();
            let polled = if revoked.is_empty() {
                polled
            } else {
                records.retain(|r| !revoked.contains(&(r.topic.clone(), r.partition)));
                bytes = records
                    .iter()
                    .map(|r| r.value.as_ref().map_or(0, Vec::len))
                    .sum();
                if records.is_empty() {
                    first_at = None;
                }
                polled.filter(|r| {
                    let at = (r.topic.clone(), r.partition);
                    !revoked.contains(&at) || source.is_assigned(&at)
                })
            };
            match polled {
                Some(record) => {
                    bytes += record.value.as_ref().map_or(0, Vec::len);
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
        if records.is_empty() {
            if !assigned && source.has_assignment() {
                assigned = true;
                last_record = Instant::now();
            }
            if let Some(idle) = limits.stop_when_idle
                && assigned
                && last_record.elapsed() >= idle
            {
                info!(
                    idle_ms = idle.as_millis() as u64,
                    "No records for the idle time; stopping."
                );
                break;
            }
            continue;
        }
        last_record = Instant::now();
        assigned = true;
        add(&counters.records_in, records.len() as u64);
        counters.saw_records();
        let transform_started = Instant::now();
        let outcomes = worker.process(&records)?;
        metrics::histogram!(names::TRANSFORM_SECONDS).record(transform_started.elapsed());
        let records: Vec<RowTag> = records.into_iter().map(Arc::new).collect();
        swap.sample.remember(&records);
        let mut chunk = Chunk {
            bytes: records
                .iter()
                .map(|r| {
                    (r.value.as_ref().map_or(0, Vec::len) + r.key.as_ref().map_or(0, Vec::len))
                        as u64
                })
                .sum(),
            transform: transform.clone(),
            ..Chunk::default()
        };
        for (record, outcome) in records.into_iter().zip(outcomes) {
            let next = chunk
                .next_offsets
                .entry((record.topic.clone(), record.partition))
                .or_insert(record.offset + 1);
            *next = (*next).max(record.offset + 1);
            let failure = match outcome {
                RecordOutcome::Skip => {
                    add(&counters.skipped, 1);
                    continue;
                }
                RecordOutcome::Rows(rows) => {
                    let encoded: Result<Vec<EncodedRow>, _> =
                        rows.iter().map(|row| sink.encoder().encode(row)).collect();
                    match encoded {
                        Ok(encoded) => {
                            if rows.is_empty() {
                                add(&counters.skipped, 1);
                            }
                            for row in encoded {
                                chunk.bytes += row.json.len() as u64;
                                chunk.rows.push((row, record.clone()));
                            }
                            continue;
                        }
                        Err(e) => (ErrorClass::SchemaMismatch, e.reason),
                    }
                }
                RecordOutcome::Error(reason) => (ErrorClass::TransformError, reason),
                RecordOutcome::Fault { kind, reason } => {
                    (ErrorClass::TransformFault, format!("{kind}: {reason}"))
                }
            };
            let failed = FailedRecord {
                record,
                class: failure.0,
                reason: failure.1,
                transform: transform.clone(),
            };
            // Under `stop`, the chunk is dropped: none of it is committed.
            if let Some(failed) = record_failed(counters, limits.policy, failed)? {
                chunk.failed.push(failed);
            }
        }
        // At the cap, consumption pauses here until the writer commits.
        let Some(bytes) =
            limits
                .in_flight
                .acquire(chunk.bytes, shutdown, &counters.in_flight_bytes)
        else {
            break; // stopping: the chunk is not committed
        };
        chunk.bytes = bytes;
        if tx.blocking_send(ToWriter::Chunk(chunk)).is_err() {
            break; // the writer stopped
        }
    }
    Ok(())
}

/// The error policy in effect for the writer, with the dead-letter producer
/// under `dead_letter`.
struct OnError {
    policy: ErrorPolicy,
    dlq: Option<DeadLetterQueue>,
}

/// One chunk's failed records on their way to the dead-letter topic.
struct ChunkFailures<'a> {
    on_error: &'a OnError,
    counters: &'a Counters,
    transform: &'a Arc<str>,
    /// Set on SIGTERM/SIGINT: retries give up (nothing more is committed).
    shutdown: &'a AtomicBool,
    deliveries: Deliveries,
}

impl ChunkFailures<'_> {
    /// Starts the dead-letter write of a record already counted and logged.
    async fn dead_letter(&mut self, failed: FailedRecord) -> anyhow::Result<()> {
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

    /// A row the writer could not write: counted, logged, and handled by the policy.
    async fn row_failed(
        &mut self,
        tag: &RowTag,
        class: ErrorClass,
        reason: String,
    ) -> anyhow::Result<()> {
        let failed = FailedRecord {
            record: tag.clone(),
            class,
            reason,
            transform: self.transform.clone(),
        };
        match record_failed(self.counters, self.on_error.policy, failed)? {
            Some(failed) => self.dead_letter(failed).await,
            None => Ok(()),
        }
    }

    /// Waits until the dead-letter topic has acknowledged every write.
    async fn settle(mut self) -> anyhow::Result<()> {
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

/// Counts and logs a failed record and applies the policy: `Err` under
/// `stop` (the run ends), the record back under `dead_letter` (to be
/// written to the topic), `None` under `log`.
fn record_failed(
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
    warn!(
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

/// Writes a chunk's rows in batches, isolating rows Milvus rejects, and
/// dead-letters its failed records; returns once all is acknowledged.
async fn write_chunk(
    sink: &MilvusSink,
    counters: &Counters,
    on_error: &OnError,
    transform: &Arc<str>,
    shutdown: &AtomicBool,
    rows: Vec<(EncodedRow, RowTag)>,
    failed: Vec<FailedRecord>,
) -> anyhow::Result<()> {
    let mut failures = ChunkFailures {
        on_error,
        counters,
        transform,
        shutdown,
        deliveries: Deliveries::default(),
    };
    for f in failed {
        failures.dead_letter(f).await?;
    }
    let mut i = 0;
    while i < rows.len() {
        let mut builder = sink.batch_builder::<usize>();
        while i < rows.len() {
            match builder.push(rows[i].0.clone(), i) {
                Ok(()) => i += 1,
                Err(e) => match e.refusal {
                    crate::sink::PushRefusal::Full => break,
                    // An update of a key already in the batch: it goes in the
                    // next batch, so the later record wins.
                    crate::sink::PushRefusal::DuplicateKey { .. }
                        if sink.write_op() == WriteOp::Upsert =>
                    {
                        break;
                    }
                    refusal => {
                        failures
                            .row_failed(&rows[i].1, ErrorClass::SchemaMismatch, refusal.to_string())
                            .await?;
                        i += 1;
                    }
                },
            }
        }
        if let Some(batch) = builder.take() {
            write_isolating(sink, counters, &mut failures, &rows, batch).await?;
        }
    }
    failures.settle().await
}

/// Writes `batch` (whose tags index `rows`); when Milvus rejects it as
/// invalid, halves it until the rejected rows stand alone and fails only those.
fn write_isolating<'a>(
    sink: &'a MilvusSink,
    counters: &'a Counters,
    failures: &'a mut ChunkFailures<'_>,
    rows: &'a [(EncodedRow, RowTag)],
    batch: crate::sink::Batch<usize>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send + 'a>> {
    Box::pin(async move {
        let idx = batch.tags;
        match write_with_retry(sink, counters, failures.shutdown, &batch.body).await {
            Ok(ok) => {
                add(&counters.rows_written, ok.rows as u64);
                add(&counters.batches, 1);
                counters.wrote_batch();
                Ok(())
            }
            Err(WriteError::Rejected { code, message }) if idx.len() == 1 => {
                failures
                    .row_failed(
                        &rows[idx[0]].1,
                        ErrorClass::MilvusRejected,
                        format!("code {code}: {message}"),
                    )
                    .await
            }
            Err(WriteError::Rejected { .. }) => {
                let (left, right) = idx.split_at(idx.len() / 2);
                for half in [left, right] {
                    let mut builder = sink.batch_builder::<usize>();
                    for &i in half {
                        if let Err(e) = builder.push(rows[i].0.clone(), i) {
                            anyhow::bail!(
                                "internal: a sub-batch refused a row it held before: {e}"
                            );
                        }
                    }
                    if let Some(sub) = builder.take() {
                        write_isolating(sink, counters, failures, rows, sub).await?;
                    }
                }
                Ok(())
            }
            Err(e) => Err(anyhow::Error::new(e)
                .context("writing to Milvus (nothing from this batch on is committed)")),
        }
    })
}

/// How often a write that keeps failing logs how long Milvus has been unreachable.
const UNREACHABLE_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Writes `body`, retrying retryable failures as the sink's policy says
/// (without limit under `retry_forever`, until `shutdown` is set).
async fn write_with_retry(
    sink: &MilvusSink,
    counters: &Counters,
    shutdown: &AtomicBool,
    body: &crate::sink::BatchBody,
) -> Result<crate::sink::WriteOk, WriteError> {
    let policy = sink.retry_policy();
    let mut attempt = 1;
    let mut failing_since: Option<Instant> = None;
    let mut next_report = UNREACHABLE_LOG_INTERVAL;
    loop {
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
        match outcome {
            Ok(ok) => {
                if let Some(since) = failing_since {
                    info!(
                        attempt,
                        seconds = since.elapsed().as_secs(),
                        "Milvus reachable again; write succeeded."
                    );
                }
                return Ok(ok);
            }
            Err(e) => match policy.next_delay(attempt, &e) {
                Some(_) if shutdown.load(Ordering::SeqCst) => {
                    warn!(attempt, error = %e, "Stopping while a write keeps failing; its offsets are not committed.");
                    return Err(e);
                }
                Some(delay) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    warn!(attempt, delay_ms = delay.as_millis() as u64, rows = body.rows(), error = %e, "Write failed; retrying.");
                    if since.elapsed() >= next_report {
                        warn!(
                            seconds = since.elapsed().as_secs(),
                            attempt,
                            "Milvus unreachable for {} s; consumption paused, retrying.",
                            since.elapsed().as_secs()
                        );
                        next_report += UNREACHABLE_LOG_INTERVAL;
                    }
                    add(&counters.retries, 1);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                None => return Err(e),
            },
        }
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
