//! Compiling, caching, linking and pre-instantiating a transform component.

use super::bindings::{Contract, Transform, TransformPre, v0_1, v0_2};
#[cfg(feature = "bench-native-seed")]
use super::config::is_native_seed;
use super::config::{TransformConfig, table_to_json};
use super::error::TransformError;
use super::host::{EPOCH_TICK, State};
use super::worker::{Limits, Pre, Shared, Worker};
use crate::common::identity::ModuleIdentity;
use crate::embed::{EmbedderConfig, Embedders};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

/// The most transform instances alive at once in one process (pool size).
const MAX_INSTANCES: u32 = 64;

/// The most a 32-bit linear memory can grow to: 65536 pages of 64 KiB.
const MAX_MEMORY32: usize = 1 << 32;

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

/// How to load a [`TransformEngine`]: the component at `module` under the
/// `[transform]` settings, with no embedders and call deadlines on unless told.
#[derive(Debug)]
pub struct EngineBuilder<'a> {
    module: &'a Path,
    config: &'a TransformConfig,
    embedders: Embedders,
    deadline: bool,
}

impl TransformEngine {
    /// Starts loading the component at `module` with the `[transform]`
    /// settings `config`; [`EngineBuilder::load`] compiles it.
    pub fn builder<'a>(module: &'a Path, config: &'a TransformConfig) -> EngineBuilder<'a> {
        EngineBuilder {
            module,
            config,
            embedders: Embedders::none(),
            deadline: true,
        }
    }

    /// The pipeline's transform, from its `[transform]` and `[embedders]`
    /// tables: resolves the module against `base_dir` (the pipeline file's
    /// folder), builds the embedders, loads the component and runs `init`
    /// once, so that a bad `[transform.config]` fails here, at start.
    pub fn for_pipeline(
        config: &TransformConfig,
        embedders: &BTreeMap<String, EmbedderConfig>,
        base_dir: &Path,
    ) -> Result<TransformEngine, TransformError> {
        let module = config.module_path(base_dir);
        let embedders = Embedders::from_config(embedders, base_dir)?;
        let engine = TransformEngine::builder(&module, config)
            .embedders(embedders)
            .load()?;
        engine.worker()?;
        Ok(engine)
    }

    /// The loaded module's identity.
    pub fn identity(&self) -> &ModuleIdentity {
        &self.shared.identity
    }

    /// The contract version the module was built for.
    pub fn contract(&self) -> Contract {
        match self.shared.pre {
            Pre::Current(_) => Contract::V0_3,
            Pre::V0_2(_) => Contract::V0_2,
            Pre::V0_1(_) => Contract::V0_1,
            #[cfg(feature = "bench-native-seed")]
            Pre::NativeSeed => Contract::V0_3,
        }
    }

    /// Creates a worker: a new instance, with `init` already called.
    pub fn worker(&self) -> Result<Worker, TransformError> {
        Worker::new(self.shared.clone())
    }
}

impl EngineBuilder<'_> {
    /// The pipeline's embedders, which the transform reaches through the
    /// `embed` import (default: none, so every `embed` call is an error).
    pub fn embedders(self, embedders: Embedders) -> Self {
        EngineBuilder { embedders, ..self }
    }

    /// For benchmarks only: `false` turns call deadlines off (no epoch
    /// interruption), to show what the deadline costs. A call that loops
    /// forever then hangs its worker: never run a pipeline so.
    #[doc(hidden)]
    pub fn deadline(self, deadline: bool) -> Self {
        EngineBuilder { deadline, ..self }
    }

    /// Compiles (or loads from the cache) the component, checks that it
    /// implements this host's contract, and links it.
    pub fn load(self) -> Result<TransformEngine, TransformError> {
        let EngineBuilder {
            module,
            config,
            embedders,
            deadline,
        } = self;
        let (bytes, identity) = read_module(module)?;
        let memory_limit = usize::try_from(config.memory_limit_mib)
            .unwrap_or(usize::MAX)
            .saturating_mul(1024 * 1024);
        let engine = build_engine(config, memory_limit, deadline)?;
        let pre = link_module(module, &engine, &bytes)?;
        let limits = Limits {
            call_max_bytes: config.call_max_bytes,
            call_max_records: config.call_max_records,
            call_timeout: Duration::from_millis(config.call_timeout_ms),
            deadline_ticks: deadline
                .then(|| (config.call_timeout_ms / EPOCH_TICK.as_millis() as u64).max(1)),
            memory_limit,
            call_max_output_bytes: config.call_max_output_bytes,
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
                init_config: table_to_json(&config.config),
                limits,
                embedders,
            }),
        })
    }
}

/// The module's bytes and identity: a component's, or none for the native
/// seed transform of a benchmark build.
fn read_module(module: &Path) -> Result<(Vec<u8>, ModuleIdentity), TransformError> {
    #[cfg(feature = "bench-native-seed")]
    if is_native_seed(module) {
        return Ok((Vec::new(), super::native::identity()));
    }
    read_component(module)
}

/// [`link`], or nothing to link for the native seed transform of a benchmark build.
fn link_module(module: &Path, engine: &Engine, bytes: &[u8]) -> Result<Pre, TransformError> {
    #[cfg(feature = "bench-native-seed")]
    if is_native_seed(module) {
        return Ok(Pre::NativeSeed);
    }
    link(module, engine, bytes)
}

/// The module's bytes, checked to be a component, and its identity.
fn read_component(module: &Path) -> Result<(Vec<u8>, ModuleIdentity), TransformError> {
    let bytes = std::fs::read(module).map_err(|source| TransformError::Read {
        path: module.to_path_buf(),
        source,
    })?;
    check_component_header(module, &bytes)?;
    let identity = ModuleIdentity::new(module, &bytes);
    Ok((bytes, identity))
}

/// Compiles the component, checks its contract version and links the WASI
/// and `kmv:transform` imports of that version.
fn link(module: &Path, engine: &Engine, bytes: &[u8]) -> Result<Pre, TransformError> {
    let load_error = |e: wasmtime::Error| TransformError::Load {
        path: module.to_path_buf(),
        reason: format!("{e:#}"),
    };
    let component = Component::new(engine, bytes).map_err(load_error)?;
    let contract = check_wit_version(module, engine, &component)?;
    let mut linker: Linker<State> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(load_error)?;
    match contract {
        Contract::V0_3 => {
            Transform::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
                .map_err(load_error)?;
            linker
                .instantiate_pre(&component)
                .and_then(TransformPre::new)
                .map(Pre::Current)
                .map_err(load_error)
        }
        Contract::V0_2 => {
            v0_2::Transform::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
                .map_err(load_error)?;
            linker
                .instantiate_pre(&component)
                .and_then(v0_2::TransformPre::new)
                .map(Pre::V0_2)
                .map_err(load_error)
        }
        Contract::V0_1 => {
            v0_1::Transform::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
                .map_err(load_error)?;
            linker
                .instantiate_pre(&component)
                .and_then(v0_1::TransformPre::new)
                .map(Pre::V0_1)
                .map_err(load_error)
        }
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

/// The contract version the component imports; refuses one the host does
/// not run. A component that imports nothing of `kmv:transform` (it never
/// logs or embeds) is told by its `process`: 0.3.0 takes the value form as
/// a second argument (0.2.0 and 0.1.0 have the same one-argument `process`,
/// and a 0.1.0 component without imports is run as 0.2.0: its outcomes are
/// a subset).
fn check_wit_version(
    path: &Path,
    engine: &Engine,
    component: &Component,
) -> Result<Contract, TransformError> {
    let wanted_prefix = "kmv:transform/";
    let mut contract = None;
    for (name, _) in component.component_type().imports(engine) {
        if let Some(rest) = name.strip_prefix(wanted_prefix) {
            let version = rest
                .split_once('@')
                .map(|(_, v)| v)
                .unwrap_or("(no version)");
            let found = format!("kmv:transform@{version}");
            match Contract::from_package(&found) {
                Some(c) => contract = Some(c),
                None => {
                    return Err(TransformError::WrongVersion {
                        path: path.to_path_buf(),
                        found,
                    });
                }
            }
        }
    }
    if let Some(contract) = contract {
        return Ok(contract);
    }
    let takes_form = component
        .component_type()
        .exports(engine)
        .any(|(name, item)| match item.ty {
            ComponentItem::ComponentFunc(f) if name == "process" => f.params().len() == 2,
            _ => false,
        });
    Ok(if takes_form {
        Contract::V0_3
    } else {
        Contract::V0_2
    })
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
        // message; the pool only needs room for it, and no 32-bit memory
        // grows past 4 GiB, which is also the most the pool may reserve
        // (memory_limit_mib = 4096 failed to load with 4 GiB + 64 KiB).
        .max_memory_size(memory_limit.saturating_add(64 * 1024).min(MAX_MEMORY32));
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
