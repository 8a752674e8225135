//! The host side of one instance: its state (WASI context, memory limiter,
//! captured stderr, call clock) and the WIT `host` imports, `log` and `embed`.

use super::bindings::{Level, current, v0_1, v0_2};
use super::limiter::MemoryLimiter;
use crate::embed::Embedders;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::{MemoryOutputPipe, SinkOutputStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// How often the epoch advances; call deadlines are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of a guest's stderr kept to explain a fault (a panic message).
const STDERR_CAPTURE: usize = 16 * 1024;

/// The target of the guest's log lines and of the `embed` debug line: the
/// module they were logged from before this file was split from `engine.rs`,
/// kept so that `RUST_LOG` filters written for it still match.
const TARGET: &str = "kmv_host::transform::engine";

/// The host state of one instance.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub stderr: MemoryOutputPipe,
    /// The module's short identity, the `transform` field of its log lines.
    transform: Arc<str>,
    embedders: Embedders,
    /// The current call's guest time budget, started at each call.
    pub clock: CallClock,
}

/// Guest time of the current call: wall time since the call started less the
/// time spent in the host's `embed`, which does not count against the
/// transform's deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallClock {
    pub started: Instant,
    pub host_time: Duration,
}

impl CallClock {
    pub fn start() -> CallClock {
        CallClock {
            started: Instant::now(),
            host_time: Duration::ZERO,
        }
    }

    /// Time the guest itself has run in this call.
    pub fn guest_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.host_time)
    }
}

/// What to do when a call's epoch deadline is reached: trap when the guest
/// has used its whole `call_timeout`, otherwise (time went to host calls
/// like `embed`) extend the deadline by the guest time it has left.
pub(crate) fn on_deadline(
    state: &State,
    call_timeout: Duration,
) -> wasmtime::Result<wasmtime::UpdateDeadline> {
    let used = state.clock.guest_time();
    match call_timeout.checked_sub(used) {
        Some(left) if left >= EPOCH_TICK => Ok(wasmtime::UpdateDeadline::Continue(
            (left.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64,
        )),
        _ => Err(wasmtime::Trap::Interrupt.into()),
    }
}

impl State {
    /// The state of a new instance of `transform` (its short identity),
    /// capped at `memory_limit` bytes.
    pub fn new(memory_limit: usize, transform: Arc<str>, embedders: Embedders) -> State {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        // No preopened directories, no environment, no arguments, no sockets:
        // the sandbox gives clocks and random numbers only.
        let wasi = WasiCtxBuilder::new()
            .stdout(SinkOutputStream)
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        State {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_limit),
            stderr,
            transform,
            embedders,
            clock: CallClock::start(),
        }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl current::kmv::transform::types::Host for State {}
impl v0_2::kmv::transform::types::Host for State {}
impl v0_1::kmv::transform::types::Host for State {}

impl current::kmv::transform::host::Host for State {
    fn log(&mut self, level: Level, message: String) {
        let transform = &*self.transform;
        match level {
            Level::Trace => tracing::trace!(target: TARGET, transform, "{message}"),
            Level::Debug => tracing::debug!(target: TARGET, transform, "{message}"),
            Level::Info => tracing::info!(target: TARGET, transform, "{message}"),
            Level::Warn => tracing::warn!(target: TARGET, transform, "{message}"),
            Level::Error => tracing::error!(target: TARGET, transform, "{message}"),
        }
    }

    fn embed(&mut self, embedder: String, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String> {
        let started = Instant::now();
        let result = self.embedders.embed(&embedder, &texts);
        let took = started.elapsed();
        // The host's time is not the guest's: see `on_deadline`.
        self.clock.host_time += took;
        tracing::debug!(
            target: TARGET,
            transform = &*self.transform,
            embedder,
            texts = texts.len(),
            ms = took.as_millis() as u64,
            ok = result.is_ok(),
            "Embedded texts for the transform."
        );
        result
    }
}

/// 0.2.0 components get the same imports.
impl v0_2::kmv::transform::host::Host for State {
    fn log(&mut self, level: v0_2::kmv::transform::types::Level, message: String) {
        current::kmv::transform::host::Host::log(self, level.into(), message)
    }

    fn embed(&mut self, embedder: String, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String> {
        current::kmv::transform::host::Host::embed(self, embedder, texts)
    }
}

/// 0.1.0 components get the same imports.
impl v0_1::kmv::transform::host::Host for State {
    fn log(&mut self, level: v0_1::kmv::transform::types::Level, message: String) {
        current::kmv::transform::host::Host::log(self, level.into(), message)
    }

    fn embed(&mut self, embedder: String, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String> {
        current::kmv::transform::host::Host::embed(self, embedder, texts)
    }
}
