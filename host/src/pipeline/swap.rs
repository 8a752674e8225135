//! Hot swap of the transform in a running pipeline.
//!
//! A watcher thread checks the module file named in `[transform] module`
//! every [`POLL`] (its size, modification time and inode, so an in-place
//! `cp`, an editor's save and a rename over the file are all seen) and, once
//! the file has stopped changing and its SHA-256 differs from the running
//! version, or when SIGHUP asks for it, tries the new version **off the
//! preparer's hot path**:
//!
//! 1. compiles it ([`TransformEngine::builder`] with the same `[transform]`
//!    settings);
//! 2. runs its `init` with the pipeline's `[transform.config]`;
//! 3. runs it over a sample of the records the pipeline saw last
//!    ([`Sample`]): it must not fault on any of them, and every row must fit
//!    the collection schema (the sink's encoder); an `error` outcome is an
//!    answer, not a fault, and is allowed.
//!
//! A version that passes is handed to the preparer with a fresh instance;
//! the preparer switches between two batches, so each record is processed by
//! exactly one version, and each chunk carries the identity of the version
//! that produced it. A version that fails is logged with the reason and both
//! identities, counted in `swap_failures`, and not tried again until the file
//! changes again or SIGHUP; the old version keeps running.

use crate::config::{Loaded, TransformConfig};
use crate::observability::Counters;
use crate::sink::{MilvusSink, RowEncoder};
use crate::transform::{
    Action, FaultKind, KafkaRecord, ModuleIdentity, RecordOutcome, TransformEngine, TransformError,
    ValueForm, Worker,
};
use anyhow::Context;
use std::collections::VecDeque;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime};
use tracing::{info, warn};

/// How often the module file is looked at.
pub const POLL: Duration = Duration::from_millis(250);

/// How many recent records a new version is checked on.
pub const SAMPLE_SIZE: usize = 100;

/// The most bytes of record values the sample holds (the oldest go first).
pub const SAMPLE_MAX_BYTES: usize = 16 * 1024 * 1024;

/// A running watcher: checked versions arrive on `ready`.
pub struct Watch {
    pub ready: mpsc::Receiver<Ready>,
    /// Stops the watcher and the SIGHUP listener when dropped, however the
    /// pipeline ends.
    pub sighup: StopOnDrop,
}

#[derive(Debug)]
pub struct StopOnDrop {
    stop: Arc<AtomicBool>,
    sighup: tokio::task::JoinHandle<()>,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.sighup.abort();
    }
}

/// Starts the watcher thread for the pipeline's module (and the SIGHUP
/// listener that forces a look); `running` is the version the run starts with.
pub fn spawn_watcher(
    loaded: &Loaded,
    running: &TransformEngine,
    sink: &Arc<MilvusSink>,
    sample: &Arc<Sample>,
    counters: &Arc<Counters>,
) -> anyhow::Result<Watch> {
    let (ready_tx, ready) = mpsc::sync_channel(1);
    let reload = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let sighup = tokio::spawn(super::signals::listen_for_sighup(reload.clone()));
    let guard = StopOnDrop {
        stop: stop.clone(),
        sighup,
    };
    let watcher = Watcher {
        module: loaded.module_path(),
        config: loaded.config.transform.clone(),
        sink: sink.clone(),
        sample: sample.clone(),
        counters: counters.clone(),
        reload,
        stop,
        ready: ready_tx,
    };
    let running = running.clone();
    std::thread::Builder::new()
        .name("kmv-swap".into())
        .spawn(move || watcher.run(&running))
        .context("starting the transform watcher thread")?;
    Ok(Watch {
        ready,
        sighup: guard,
    })
}

/// A checked version, ready to run: its engine and a fresh instance (`init`
/// called, no record processed yet).
pub struct Ready {
    /// The new version.
    pub engine: TransformEngine,
    /// An instance of it for the preparer.
    pub worker: Worker,
}

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

/// The last [`SAMPLE_SIZE`] records the preparer saw (at most
/// [`SAMPLE_MAX_BYTES`] of values), shared with the chunks, not copied.
#[derive(Debug, Default)]
pub struct Sample {
    held: Mutex<Held>,
}

#[derive(Debug)]
struct Held {
    records: VecDeque<Arc<KafkaRecord>>,
    bytes: usize,
    /// The form of their values (one per pipeline: `[source] value_format`).
    form: ValueForm,
}

impl Default for Held {
    fn default() -> Held {
        Held {
            records: VecDeque::new(),
            bytes: 0,
            form: ValueForm::Bytes,
        }
    }
}

fn value_len(r: &KafkaRecord) -> usize {
    r.value.as_ref().map_or(0, Vec::len)
}

impl Sample {
    /// Remembers the last records of a batch.
    pub fn remember(&self, batch: &[Arc<KafkaRecord>]) {
        self.remember_in(batch, ValueForm::Bytes)
    }

    /// Remembers the last records of a batch whose values are in `form`.
    pub fn remember_in(&self, batch: &[Arc<KafkaRecord>], form: ValueForm) {
        let tail = &batch[batch.len().saturating_sub(SAMPLE_SIZE)..];
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.form = form;
        for r in tail {
            held.bytes += value_len(r);
            held.records.push_back(r.clone());
            while held.records.len() > SAMPLE_SIZE
                || (held.bytes > SAMPLE_MAX_BYTES && held.records.len() > 1)
            {
                if let Some(old) = held.records.pop_front() {
                    held.bytes -= value_len(&old);
                }
            }
        }
    }

    /// A copy of the records held.
    pub fn snapshot(&self) -> Vec<KafkaRecord> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.records.iter().map(|r| KafkaRecord::clone(r)).collect()
    }

    /// The form of the held records' values.
    pub fn form(&self) -> ValueForm {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).form
    }
}

/// Why a new version is refused; the first check that fails.
#[derive(Debug, thiserror::Error)]
pub enum SwapRefusal {
    #[error("does not load: {0}")]
    Load(TransformError),
    #[error("init failed: {0}")]
    Init(TransformError),
    #[error("init failed (second instance): {0}")]
    SecondInit(TransformError),
    #[error("failed on the sample of recent records: {0}")]
    Sample(TransformError),
    /// A record of the sample faults the instance.
    #[error("faults on the sample of {of} recent records: {at}: {kind}: {reason}")]
    Fault {
        of: usize,
        at: String,
        kind: FaultKind,
        reason: String,
    },
    /// A row of the sample does not fit the collection schema.
    #[error(
        "its rows do not fit the collection schema (sample of {of} recent records): {at}: {reason}"
    )]
    Schema {
        of: usize,
        at: String,
        reason: String,
    },
}

/// Compiles `module` and runs its `init`: the first two checks of a new version.
pub fn load_version(
    module: &Path,
    config: &TransformConfig,
) -> Result<(TransformEngine, Worker), SwapRefusal> {
    let engine = TransformEngine::builder(module, config)
        .load()
        .map_err(SwapRefusal::Load)?;
    let worker = engine.worker().map_err(SwapRefusal::Init)?;
    Ok((engine, worker))
}

/// Tries `module` as a new version: compile, `init`, the sample; the first
/// step that fails is the reason.
pub fn try_version(
    module: &Path,
    config: &TransformConfig,
    encoder: &RowEncoder,
    sample: &[KafkaRecord],
    form: ValueForm,
) -> Result<Ready, SwapRefusal> {
    let (engine, mut worker) = load_version(module, config)?;
    check_sample(&mut worker, encoder, sample, form)?;
    // A fresh instance: the one checked has seen the sample.
    let worker = engine.worker().map_err(SwapRefusal::SecondInit)?;
    Ok(Ready { engine, worker })
}

/// Runs `worker` over `sample`: no record may fault and every row must fit
/// the collection schema.
pub fn check_sample(
    worker: &mut Worker,
    encoder: &RowEncoder,
    sample: &[KafkaRecord],
    form: ValueForm,
) -> Result<(), SwapRefusal> {
    let outcomes = worker
        .process_in(sample, form)
        .map_err(SwapRefusal::Sample)?;
    let of = sample.len();
    let at = |r: &KafkaRecord| {
        format!(
            "topic {} partition {} offset {}",
            r.topic, r.partition, r.offset
        )
    };
    for (r, outcome) in sample.iter().zip(outcomes) {
        match outcome {
            RecordOutcome::Fault { kind, reason } => {
                return Err(SwapRefusal::Fault {
                    of,
                    at: at(r),
                    kind,
                    reason,
                });
            }
            RecordOutcome::Rows(rows) => {
                for row in &rows {
                    encoder.encode(row).map_err(|e| SwapRefusal::Schema {
                        of,
                        at: at(r),
                        reason: e.reason,
                    })?;
                }
            }
            // Rows for `[sink] collection`; those for other collections
            // are checked when written (their schemas are not at hand).
            RecordOutcome::Changes(changes) => {
                for change in &changes {
                    if let (None, Action::Row(row)) = (&change.target.collection, &change.action) {
                        encoder.encode(row).map_err(|e| SwapRefusal::Schema {
                            of,
                            at: at(r),
                            reason: e.reason,
                        })?;
                    }
                }
            }
            RecordOutcome::Skip | RecordOutcome::Error(_) => {}
        }
    }
    Ok(())
}

/// What the watcher needs.
pub struct Watcher {
    /// The module file.
    pub module: PathBuf,
    /// The pipeline's `[transform]` table.
    pub config: TransformConfig,
    /// The sink (its encoder holds the collection schema).
    pub sink: Arc<MilvusSink>,
    /// Recent records.
    pub sample: Arc<Sample>,
    /// Where `swap_failures` is counted.
    pub counters: Arc<Counters>,
    /// Set by SIGHUP: look at the file now, even if it seems unchanged.
    pub reload: Arc<AtomicBool>,
    /// Set when the pipeline ends.
    pub stop: Arc<AtomicBool>,
    /// Where checked versions go.
    pub ready: mpsc::SyncSender<Ready>,
}

type Stat = Option<(u64, Option<SystemTime>, u64)>;

fn stat(path: &Path) -> Stat {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.len(), m.modified().ok(), m.ino()))
}

impl Watcher {
    /// Watches until `stop`; `running` is the version the pipeline started with.
    pub fn run(self, running: &TransformEngine) {
        let mut current = running.identity().sha256.clone();
        let mut current_short = running.identity().short();
        let mut refused: Option<String> = None;
        let mut seen = stat(&self.module);
        let mut handled = seen;
        while !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(POLL);
            let forced = self.reload.swap(false, Ordering::SeqCst);
            let now = stat(&self.module);
            // Wait until the file holds still for one poll (a `cp` in place
            // writes it in pieces).
            let settled = now == seen;
            seen = now;
            if !(forced || (settled && now != handled)) {
                continue;
            }
            handled = now;
            let bytes = match std::fs::read(&self.module) {
                Ok(b) => b,
                Err(e) => {
                    warn!(module = %self.module.display(), transform = current_short, error = %e,
                        "Cannot read the transform module; the running version keeps running.");
                    continue;
                }
            };
            let identity = ModuleIdentity::new(&self.module, &bytes);
            let hash = identity.sha256.clone();
            if hash == current {
                if forced {
                    info!(
                        transform = current_short,
                        "SIGHUP: the module file holds the running version; nothing to swap."
                    );
                }
                continue;
            }
            if !forced && refused.as_deref() == Some(hash.as_str()) {
                continue;
            }
            let candidate = identity.short();
            let sample = self.sample.snapshot();
            info!(
                transform = current_short,
                candidate,
                sample = sample.len(),
                "Trying a new transform version."
            );
            let form = self.sample.form();
            match try_version(
                &self.module,
                &self.config,
                &self.sink.encoder(),
                &sample,
                form,
            ) {
                Ok(ready) => {
                    current = ready.engine.identity().sha256.clone();
                    current_short = ready.engine.identity().short();
                    refused = None;
                    info!(
                        transform = current_short,
                        sample = sample.len(),
                        "New transform version passed its checks; switching at the next batch."
                    );
                    if self.ready.send(ready).is_err() {
                        return; // the preparer ended
                    }
                }
                Err(refusal) => {
                    refused = Some(hash);
                    self.counters.swap_failed();
                    warn!(
                        transform = current_short,
                        candidate,
                        reason = %refusal,
                        "Transform swap refused; the running version keeps running."
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64, bytes: usize) -> Arc<KafkaRecord> {
        Arc::new(KafkaRecord::new("t", 0, offset, Some(vec![b'x'; bytes])))
    }

    fn offsets(sample: &Sample) -> Vec<i64> {
        sample.snapshot().iter().map(|r| r.offset).collect()
    }

    #[test]
    fn the_sample_keeps_the_latest_records() {
        let sample = Sample::default();
        sample.remember(&(0..30).map(|i| record(i, 1)).collect::<Vec<_>>());
        assert_eq!(offsets(&sample), (0..30).collect::<Vec<_>>());
        sample.remember(&(30..250).map(|i| record(i, 1)).collect::<Vec<_>>());
        assert_eq!(offsets(&sample), (150..250).collect::<Vec<_>>());
    }

    #[test]
    fn the_sample_is_bounded_in_bytes_but_keeps_one_record() {
        let sample = Sample::default();
        let big = SAMPLE_MAX_BYTES / 4 + 1;
        sample.remember(&(0..10).map(|i| record(i, big)).collect::<Vec<_>>());
        assert_eq!(offsets(&sample), vec![7, 8, 9]);
        sample.remember(&[record(10, SAMPLE_MAX_BYTES * 2)]);
        assert_eq!(offsets(&sample), vec![10]);
        sample.remember(&[record(11, 1)]);
        assert_eq!(offsets(&sample), vec![11]);
    }
}
