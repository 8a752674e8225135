//! Wires source -> transform -> sink into a running pipeline.
//!
//! Two stages run side by side, joined by a channel whose bytes are capped
//! (`inflight.rs`: at the cap a slow Milvus pauses consumption, and polling
//! goes on):
//! - the **preparer** (a thread, `preparer.rs`): polls Kafka, runs the
//!   transform, checks and encodes each row against the collection schema,
//!   and hands over a [`Chunk`](chunk::Chunk): the encoded rows, the records
//!   that failed, and per partition the offset after the chunk's last record;
//! - the **writer** (async, `writer.rs`): writes the chunk's rows through the
//!   sink (batches, retries, isolating rows Milvus rejects), waits until the
//!   dead-letter topic has acknowledged the chunk's failed records, and only
//!   then commits the chunk's offsets.
//!
//! Chunks are written and committed in order, so an offset is committed only
//! once every record before it is written, skipped by the transform, or failed
//! and handled by the error policy (dead-lettered, or logged). Under the `stop`
//! policy a failed record ends the run and its chunk is not committed.
//!
//! Also the run's own parts: hot swap (`swap.rs`), the byte cap between the
//! two stages (`inflight.rs`), signals and the health probe.

mod chunk;
mod inflight;
mod plan;
mod preparer;
mod probe;
mod signals;
pub mod swap;
mod writer;

pub use crate::observability::{Counters, Summary};
pub use inflight::InFlight;

use crate::config::{Loaded, PipelineConfig};
use crate::errors::{DeadLetterQueue, OnError};
use crate::observability as observe;
use crate::sink::{SinkConfig, Sinks};
use crate::source::{PollLimits, Source, SourceConfig};
use crate::transform::TransformEngine;
use anyhow::Context;
use chunk::ToWriter;
use preparer::{Preparer, SwapInbox};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::info;
use writer::Writer;

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

/// Runs the pipeline in `path` until it is stopped; returns the final counters.
pub fn run_file(path: &Path, options: RunOptions) -> anyhow::Result<Summary> {
    let loaded = PipelineConfig::load(path)?;
    let engine = loaded.load_transform()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let shutdown = Arc::new(AtomicBool::new(false));
    runtime.spawn(signals::listen_for_signals(shutdown.clone()));
    if let Some(address) = options.http_address {
        runtime.block_on(observe::serve(address))?;
    }
    runtime.block_on(run(loaded, engine, options, shutdown))
}

/// The stages a run connects before it starts.
struct Stages {
    sink_config: SinkConfig,
    sinks: Arc<Sinks>,
    source: Arc<Source>,
    on_error: OnError,
}

impl Stages {
    /// Connects the sink (describing the collection), starts the consumer and
    /// the dead-letter producer, and logs what the run consumes.
    async fn start(
        loaded: &Loaded,
        engine: &TransformEngine,
        stats_interval: Duration,
    ) -> anyhow::Result<Stages> {
        let file = loaded.path.display().to_string();
        let needed =
            |table: &str| format!("{file}: a [{table}] table is needed to run the pipeline");
        let source_config: &SourceConfig = loaded
            .config
            .source
            .as_ref()
            .with_context(|| needed("source"))?;
        let sink_config = loaded.config.sink.clone().with_context(|| needed("sink"))?;
        let sinks = Arc::new(Sinks::connect(&sink_config).await.with_context(|| {
            format!(
                "{file}: [sink] {} collection `{}`",
                sink_config.endpoint, sink_config.collection
            )
        })?);
        let sink = sinks.default_sink();
        let source = Arc::new(
            Source::start(source_config, stats_interval)
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
        Ok(Stages {
            sink_config,
            sinks,
            source,
            on_error: OnError { policy, dlq },
        })
    }
}

/// Runs a loaded pipeline until `shutdown` is set (or it is idle, see
/// [`RunOptions::stop_when_idle`]).
pub async fn run(
    loaded: Loaded,
    engine: TransformEngine,
    options: RunOptions,
    shutdown: Arc<AtomicBool>,
) -> anyhow::Result<Summary> {
    let Stages {
        sink_config,
        sinks,
        source,
        on_error,
    } = Stages::start(&loaded, &engine, options.progress_interval).await?;
    let sink = sinks.default_sink().clone();
    let counters = Arc::new(Counters::default());
    counters.micros();
    observe::set_transform_version(None, &engine.identity().short());
    observe::health().set_counters(counters.clone());
    let probe =
        observe::enabled().then(|| tokio::spawn(probe::probe(source.clone(), sink.clone())));
    // Unbounded in count: the in-flight cap bounds the bytes handed over, and a
    // send never blocks the preparer, which must keep polling at the cap.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ToWriter>();
    source.on_revoke(chunk::revoke_hook(tx.downgrade()));
    let in_flight = Arc::new(InFlight::new(sink_config.max_in_flight_bytes as u64));
    let sample = Arc::new(swap::Sample::default());
    let watch = swap::spawn_watcher(&loaded, &engine, &sink, &sample, &counters)?;
    let preparer = Preparer {
        source: source.clone(),
        sinks: sinks.clone(),
        counters: counters.clone(),
        shutdown: shutdown.clone(),
        limits: poll_limits(&sink_config),
        stop_when_idle: options.stop_when_idle,
        policy: on_error.policy,
        in_flight: in_flight.clone(),
        swap: SwapInbox {
            sample,
            ready: watch.ready,
        },
        tx,
        runtime: tokio::runtime::Handle::current(),
        refreshed: Default::default(),
    };
    let preparer = preparer.spawn(engine)?;
    let mut writer = Writer {
        source,
        on_error,
        counters: counters.clone(),
        in_flight,
        shutdown: shutdown.clone(),
        committed: Default::default(),
    };
    let started = Instant::now();
    let result = writer.run(&mut rx, options.progress_interval).await;
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
    drop(watch.sighup);
    if result.is_ok() {
        writer.commit_final()?;
    }
    let summary = counters.summary();
    summary.log_stopped(started, &counters.by_collection_text());
    result?;
    match prepared {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("the transform thread panicked"),
    }
    Ok(summary)
}

/// A batch is filled by rows, bytes and linger time (`[sink]`); records are
/// gathered by the same limits.
fn poll_limits(sink: &SinkConfig) -> PollLimits {
    PollLimits {
        max_records: sink.batch_max_rows,
        max_bytes: sink.batch_max_bytes,
        linger: Duration::from_millis(sink.linger_ms),
    }
}

#[cfg(test)]
mod tests;
