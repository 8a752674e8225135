//! Compiling, caching, linking and pre-instantiating a transform component.

use super::bindings::{Transform, TransformPre, kmv};
use super::worker::Worker;
use crate::config::TransformConfig;
use crate::embed::Embedders;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};
use wasmtime_wasi::p2::pipe::{MemoryOutputPipe, SinkOutputStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The WIT package (and version) this host runs.
pub const WIT_PACKAGE: &str = "kmv:transform@0.1.0";

/// How often the epoch advances; call deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The most transform instances alive at once in one process (pool size).
const MAX_INSTANCES: u32 = 64;

/// Bytes of a guest's stderr kept to explain a fault (a panic message).
const STDERR_CAPTURE: usize = 16 * 1024;

/// What identifies a loaded transform: in logs, metrics and dead-letter headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleIdentity {
    /// The module file.
    pub path: PathBuf,
    /// SHA-256 of the module file, hex.
    pub sha256: String,
}

impl ModuleIdentity {
    /// The file name and the first 12 hex digits of the hash: `seed.wasm@1a2b3c4d5e6f`.
    pub fn short(&self) -> String {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{name}@{}", &self.sha256[..12])
    }
}

/// Why a transform could not be loaded or started.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The module file could not be read.
    #[error("cannot read transform module {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is a core module or not WebAssembly at all.
    #[error(
        "{path} is not a WebAssembly component: {reason}; build transforms with `cargo build --release --target wasm32-wasip2`"
    )]
    NotComponent {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// The component was built against another version of the contract.
    #[error(
        "{path} was built for {found}, but this kmv-host runs {WIT_PACKAGE}: rebuild the transform against kmv-guest {}",
        env!("CARGO_PKG_VERSION")
    )]
    WrongVersion {
        /// The file.
        path: PathBuf,
        /// The package version it imports.
        found: String,
    },
    /// Compilation or linking failed (the component does not fit the contract).
    #[error("cannot load transform {path}: {reason}")]
    Load {
        /// The file.
        path: PathBuf,
        /// Why, with wasmtime's explanation.
        reason: String,
    },
    /// The transform's `init` returned an error: its message for the user.
    #[error("transform {module} refused its [transform.config]: {message}")]
    Init {
        /// The module's short identity.
        module: String,
        /// The guest's message.
        message: String,
    },
    /// `init` trapped, timed out or hit the memory limit.
    #[error("transform {module} failed during init: {reason}")]
    InitFault {
        /// The module's short identity.
        module: String,
        /// What happened.
        reason: String,
    },
    /// The engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}

/// Limits applied to every instance and call.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub call_max_bytes: usize,
    pub call_max_records: usize,
    pub call_timeout: Duration,
    /// Epoch ticks a call may run; `None` only for [`TransformEngine::load_without_deadline`].
    pub deadline_ticks: Option<u64>,
    pub memory_limit: usize,
}

/// Everything workers share: the engine, the pre-instantiated component, the
/// configuration handed to `init`.
pub(crate) struct Shared {
    pub engine: Engine,
    pub pre: TransformPre<State>,
    pub identity: ModuleIdentity,
    pub short: Arc<str>,
    pub init_config: String,
    pub limits: Limits,
    pub embedders: Embedders,
}

/// A compiled, linked transform, ready to instantiate workers from. Cheap to clone.
#[derive(Clone)]
pub struct TransformEngine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TransformEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformEngine")
            .field("module", &self.shared.identity)
            .finish_non_exhaustive()
    }
}

impl TransformEngine {
    /// Compiles (or loads from the cache) the component at `module`, checks
    /// that it implements this host's contract, and links it.
    pub fn load(
        module: &Path,
        config: &TransformConfig,
    ) -> Result<TransformEngine, TransformError> {
        Self::load_with(module, config, true, Embedders::none())
    }

    /// [`TransformEngine::load`] with the pipeline's embedders, which the
    /// transform reaches through the `embed` import.
    pub fn load_with_embedders(
        module: &Path,
        config: &TransformConfig,
        embedders: Embedders,
    ) -> Result<TransformEngine, TransformError> {
        Self::load_with(module, config, true, embedders)
    }

    /// For benchmarks only: [`TransformEngine::load`] with call deadlines
    /// off (no epoch interruption), to show what the deadline costs. A call
    /// that loops forever then hangs its worker: never run a pipeline so.
    #[doc(hidden)]
    pub fn load_without_deadline(
        module: &Path,
        config: &TransformConfig,
    ) -> Result<TransformEngine, TransformError> {
        Self::load_with(module, config, false, Embedders::none())
    }

    fn load_with(
        module: &Path,
        config: &TransformConfig,
        deadline: bool,
        embedders: Embedders,
    ) -> Result<TransformEngine, TransformError> {
        let bytes = std::fs::read(module).map_err(|source| TransformError::Read {
            path: module.to_path_buf(),
            source,
        })?;
        check_component_header(module, &bytes)?;
        let identity = ModuleIdentity {
            path: module.to_path_buf(),
            sha256: hex::encode(Sha256::digest(&bytes)),
        };
        let memory_limit = usize::try_from(config.memory_limit_mib)
            .unwrap_or(usize::MAX)
            .saturating_mul(1024 * 1024);
        let engine = build_engine(config, memory_limit, deadline)?;
        let load_error = |e: wasmtime::Error| TransformError::Load {
            path: module.to_path_buf(),
            reason: format!("{e:#}"),
        };
        let component = Component::new(&engine, &bytes).map_err(load_error)?;
        check_wit_version(module, &engine, &component)?;

        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(load_error)?;
        Transform::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(load_error)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(TransformPre::new)
            .map_err(load_error)?;

        let call_timeout = Duration::from_millis(config.call_timeout_ms);
        let limits = Limits {
            call_max_bytes: config.call_max_bytes,
            call_max_records: config.call_max_records,
            call_timeout,
            deadline_ticks: deadline
                .then(|| (config.call_timeout_ms / EPOCH_TICK.as_millis() as u64).max(1)),
            memory_limit,
        };
        if deadline {
            start_epoch_ticker(&engine);
        }
        let short = identity.short().into();
        Ok(TransformEngine {
            shared: Arc::new(Shared {
                engine,
                pre,
                identity,
                short,
                init_config: crate::config::table_to_json(&config.config),
                limits,
                embedders,
            }),
        })
    }

    /// The loaded module's identity.
    pub fn identity(&self) -> &ModuleIdentity {
        &self.shared.identity
    }

    /// Creates a worker: a new instance, with `init` already called.
    pub fn worker(&self) -> Result<Worker, TransformError> {
        Worker::new(self.shared.clone())
    }
}

fn check_component_header(path: &Path, bytes: &[u8]) -> Result<(), TransformError> {
    let not = |reason: &str| TransformError::NotComponent {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', _, _, 0x01, 0x00]) => Ok(()),
        Some([0, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00]) => Err(not(
            "it is a core WebAssembly module (built for wasm32-unknown-unknown or wasm32-wasip1?)",
        )),
        _ => Err(not("it does not start with the WebAssembly magic bytes")),
    }
}

/// Refuses a component that imports another version of `kmv:transform`.
fn check_wit_version(
    path: &Path,
    engine: &Engine,
    component: &Component,
) -> Result<(), TransformError> {
    let wanted_prefix = "kmv:transform/";
    for (name, _) in component.component_type().imports(engine) {
        if let Some(rest) = name.strip_prefix(wanted_prefix) {
            let version = rest
                .split_once('@')
                .map(|(_, v)| v)
                .unwrap_or("(no version)");
            let found = format!("kmv:transform@{version}");
            if found != WIT_PACKAGE {
                return Err(TransformError::WrongVersion {
                    path: path.to_path_buf(),
                    found,
                });
            }
        }
    }
    Ok(())
}

fn build_engine(
    config: &TransformConfig,
    memory_limit: usize,
    deadline: bool,
) -> Result<Engine, TransformError> {
    let engine_err = |e: wasmtime::Error| TransformError::Engine(format!("{e:#}"));
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .concurrency_support(false)
        .epoch_interruption(deadline)
        .parallel_compilation(true);

    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_INSTANCES)
        .total_core_instances(MAX_INSTANCES * 8)
        .total_memories(MAX_INSTANCES * 2)
        .total_tables(MAX_INSTANCES * 8)
        // The store's limiter enforces the configured limit with a clear
        // message; the pool only needs room for it.
        .max_memory_size(memory_limit.saturating_add(64 * 1024));
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));

    let dir = cache_dir(config);
    let mut cache = CacheConfig::new();
    cache.with_directory(&dir);
    let cache = Cache::new(cache).map_err(engine_err)?;
    wasm.cache(Some(cache));
    Engine::new(&wasm).map_err(engine_err)
}

/// Where compiled modules are cached.
pub(crate) fn cache_dir(config: &TransformConfig) -> PathBuf {
    if let Some(dir) = &config.cache_dir {
        return dir.clone();
    }
    if let Some(dir) = std::env::var_os("KMV_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("", "", "kmv-host")
        .map(|d| d.cache_dir().to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("kmv-host-cache"))
}

/// Advances the engine's epoch every tick while the engine lives, so that
/// call deadlines fire. Needs no per-call bookkeeping.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("kmv-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}

/// The host state of one instance.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub stderr: MemoryOutputPipe,
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
    pub started: std::time::Instant,
    pub host_time: Duration,
}

impl CallClock {
    pub fn start() -> CallClock {
        CallClock {
            started: std::time::Instant::now(),
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
    pub fn new(shared: &Shared) -> State {
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
            limiter: MemoryLimiter {
                limit: shared.limits.memory_limit,
                hit: false,
                largest: 0,
            },
            stderr,
            transform: shared.short.clone(),
            embedders: shared.embedders.clone(),
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

impl kmv::transform::types::Host for State {}

impl kmv::transform::host::Host for State {
    fn log(&mut self, level: kmv::transform::types::Level, message: String) {
        use kmv::transform::types::Level;
        let transform = &*self.transform;
        match level {
            Level::Trace => tracing::trace!(transform, "{message}"),
            Level::Debug => tracing::debug!(transform, "{message}"),
            Level::Info => tracing::info!(transform, "{message}"),
            Level::Warn => tracing::warn!(transform, "{message}"),
            Level::Error => tracing::error!(transform, "{message}"),
        }
    }

    fn embed(&mut self, embedder: String, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String> {
        let started = std::time::Instant::now();
        let result = self.embedders.embed(&embedder, &texts);
        let took = started.elapsed();
        // The host's time is not the guest's: see `on_deadline`.
        self.clock.host_time += took;
        tracing::debug!(
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

/// Enforces the per-instance memory limit and remembers whether it was hit.
pub(crate) struct MemoryLimiter {
    limit: usize,
    pub hit: bool,
    pub largest: usize,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            return Err(wasmtime::format_err!(
                "the transform exceeded its memory limit of {} MiB",
                self.limit / (1024 * 1024)
            ));
        }
        self.largest = self.largest.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
