//! One long-lived transform instance and the fault isolation around it.

use super::bindings::{
    Change, Field, KafkaRecord, Outcome, Transform, TransformPre, ValueForm, v0_1, v0_2,
};
use super::error::TransformError;
use super::host::{CallClock, State, on_deadline};
use super::limiter::MemoryExceeded;
use crate::common::class::ErrorClass;
use crate::common::identity::ModuleIdentity;
use crate::embed::Embedders;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Func;
use wasmtime::{Engine, Store, Trap};

/// Limits applied to every instance and call.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub call_max_bytes: usize,
    pub call_max_records: usize,
    pub call_timeout: Duration,
    /// Epoch ticks a call may run; `None` only when the engine was built
    /// with `deadline(false)` (benchmarks).
    pub deadline_ticks: Option<u64>,
    /// Bytes of linear memory one instance may use.
    pub memory_limit: usize,
    /// Bytes one call may hand back to the host, counted as they are lifted.
    pub call_max_output_bytes: usize,
}

/// Everything workers share: the engine, the pre-instantiated component, the
/// configuration handed to `init`. Built by the engine.
pub(crate) struct Shared {
    pub engine: Engine,
    pub pre: Pre,
    pub identity: ModuleIdentity,
    /// `identity.short()`, made once.
    pub short: Arc<str>,
    /// `[transform.config]` as JSON, for `init`.
    pub init_config: String,
    pub limits: Limits,
    pub embedders: Embedders,
}

/// The component, linked and ready to instantiate, by contract version.
pub(crate) enum Pre {
    Current(TransformPre<State>),
    V0_2(v0_2::TransformPre<State>),
    V0_1(v0_1::TransformPre<State>),
    /// The seed transform compiled into the host (benchmarks only).
    #[cfg(feature = "bench-native-seed")]
    NativeSeed,
}

/// An instance's exports, by contract version.
enum Bindings {
    Current(Transform),
    /// `process` of a 0.2.0 component, called with the 0.3.0 types (the
    /// same records and outcomes) and no value form.
    V0_2 {
        process: Func,
    },
    /// `process` of a 0.1.0 component, called with 0.3.0 records (the
    /// same type in both) and returning 0.1.0 outcomes.
    V0_1 {
        process: Func,
    },
    /// The seed transform compiled into the host (benchmarks only).
    #[cfg(feature = "bench-native-seed")]
    NativeSeed(super::native::NativeSeed),
}

/// A row for the collection: named, typed fields.
pub type Row = Vec<Field>;

/// What became of one input record.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordOutcome {
    /// Rows to write to `[sink] collection`.
    Rows(Vec<Row>),
    /// Changes to apply in order: rows and deletes, each for a collection
    /// (contract 0.2.0).
    Changes(Vec<Change>),
    /// Dropped on purpose by the transform.
    Skip,
    /// The transform rejected the record, with its reason.
    Error(String),
    /// The instance faulted on this record alone (after isolation).
    Fault {
        /// What kind of fault.
        kind: FaultKind,
        /// What happened, for the user.
        reason: String,
    },
}

impl RecordOutcome {
    /// The error class for logs and dead-letter headers, or `None` when the
    /// record succeeded.
    pub fn error_class(&self) -> Option<ErrorClass> {
        match self {
            RecordOutcome::Rows(_) | RecordOutcome::Changes(_) | RecordOutcome::Skip => None,
            RecordOutcome::Error(_) => Some(ErrorClass::TransformError),
            RecordOutcome::Fault { .. } => Some(ErrorClass::TransformFault),
        }
    }
}

/// How an instance failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A trap: a panic, `unreachable`, an out-of-bounds access, ...
    Trap,
    /// The call ran past its deadline.
    Timeout,
    /// The instance tried to grow its memory past the limit.
    MemoryLimit,
    /// A call handed back more than `call_max_output_bytes`.
    OutputLimit,
    /// The transform broke the contract (e.g. returned the wrong number of outcomes).
    Contract,
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FaultKind::Trap => "trap",
            FaultKind::Timeout => "timeout",
            FaultKind::MemoryLimit => "memory_limit",
            FaultKind::OutputLimit => "output_limit",
            FaultKind::Contract => "contract",
        })
    }
}

#[derive(Debug)]
struct Fault {
    kind: FaultKind,
    reason: String,
}

/// One transform instance, owned by one worker thread. Rebuilt after a fault,
/// and when its memory has grown past half its limit (linear memory never
/// shrinks, so this is how it is given back).
pub struct Worker {
    shared: Arc<Shared>,
    store: Store<State>,
    bindings: Bindings,
    rebuilds: u64,
    /// The form of the values of the records being processed.
    form: ValueForm,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("transform", &self.shared.short)
            .field("rebuilds", &self.rebuilds)
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub(crate) fn new(shared: Arc<Shared>) -> Result<Worker, TransformError> {
        let (store, bindings) = instantiate(&shared)?;
        Ok(Worker {
            shared,
            store,
            bindings,
            rebuilds: 0,
            form: ValueForm::Bytes,
        })
    }

    /// Whether the component takes values as MessagePack (contract 0.3.0).
    fn reads_message_pack(&self) -> bool {
        match self.bindings {
            Bindings::Current(_) => true,
            Bindings::V0_2 { .. } | Bindings::V0_1 { .. } => false,
            #[cfg(feature = "bench-native-seed")]
            Bindings::NativeSeed(_) => true,
        }
    }

    /// How many times the instance was rebuilt after a fault or to give back memory.
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds
    }

    /// Runs the transform over `records` and returns one outcome per record,
    /// in order. Records are handed over in calls of at most
    /// `call_max_bytes` / `call_max_records`. A fault is isolated to the
    /// records that cause it; `Err` only when the instance cannot be rebuilt.
    pub fn process(
        &mut self,
        records: &[KafkaRecord],
    ) -> Result<Vec<RecordOutcome>, TransformError> {
        self.process_in(records, ValueForm::Bytes)
    }

    /// [`Worker::process`] for records whose values are in `form`. A
    /// component built for a contract older than 0.3.0 gets MessagePack
    /// values as the JSON text they stand for.
    pub fn process_in(
        &mut self,
        records: &[KafkaRecord],
        form: ValueForm,
    ) -> Result<Vec<RecordOutcome>, TransformError> {
        if form == ValueForm::MessagePack && !self.reads_message_pack() {
            return self.process_in(&as_json_text(records), ValueForm::Bytes);
        }
        self.form = form;
        let mut out = Vec::with_capacity(records.len());
        let limits = &self.shared.limits;
        let (max_bytes, max_records) = (limits.call_max_bytes, limits.call_max_records);
        let mut start = 0;
        while start < records.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < records.len() && end - start < max_records {
                let size = record_size(&records[end]);
                if end > start && bytes + size > max_bytes {
                    break;
                }
                bytes += size;
                end += 1;
            }
            self.process_isolating(&records[start..end], &mut out)?;
            start = end;
        }
        Ok(out)
    }

    fn process_isolating(
        &mut self,
        records: &[KafkaRecord],
        out: &mut Vec<RecordOutcome>,
    ) -> Result<(), TransformError> {
        let fault = match self.call(records) {
            Ok(outcomes) if outcomes.len() == records.len() => {
                out.extend(outcomes.into_iter().map(RecordOutcome::from));
                if self.store.data().limiter.largest > self.shared.limits.memory_limit / 2 {
                    self.rebuild()?;
                }
                return Ok(());
            }
            Ok(outcomes) => Fault {
                kind: FaultKind::Contract,
                reason: format!(
                    "the transform returned {} outcomes for {} records",
                    outcomes.len(),
                    records.len()
                ),
            },
            Err(fault) => {
                self.rebuild()?;
                fault
            }
        };
        if let [record] = records {
            tracing::debug!(
                transform = &*self.shared.short,
                topic = record.topic,
                partition = record.partition,
                offset = record.offset,
                kind = %fault.kind,
                "Transform fault isolated to one record."
            );
            out.push(RecordOutcome::Fault {
                kind: fault.kind,
                reason: fault.reason,
            });
            return Ok(());
        }
        let (left, right) = records.split_at(records.len() / 2);
        self.process_isolating(left, out)?;
        self.process_isolating(right, out)
    }

    fn call(&mut self, records: &[KafkaRecord]) -> Result<Vec<Outcome>, Fault> {
        if let Some(ticks) = self.shared.limits.deadline_ticks {
            self.store.set_epoch_deadline(ticks);
        }
        self.store.data_mut().clock = CallClock::start();
        let called = match &mut self.bindings {
            Bindings::Current(b) => b.call_process(&mut self.store, records, self.form),
            Bindings::V0_2 { process } => process
                .typed::<(&[KafkaRecord],), (Vec<Outcome>,)>(&self.store)
                .and_then(|f| f.call(&mut self.store, (records,)))
                .map(|(outcomes,)| outcomes),
            Bindings::V0_1 { process } => process
                .typed::<(&[KafkaRecord],), (Vec<v0_1::Outcome>,)>(&self.store)
                .and_then(|f| f.call(&mut self.store, (records,)))
                .map(|(outcomes,)| outcomes.into_iter().map(Outcome::from).collect()),
            #[cfg(feature = "bench-native-seed")]
            Bindings::NativeSeed(seed) => seed
                .process(records, self.form)
                .map_err(|reason| wasmtime::format_err!("{reason}")),
        };
        called.map_err(|e| classify(&self.shared, self.store.data(), e))
    }

    fn rebuild(&mut self) -> Result<(), TransformError> {
        let (store, bindings) = instantiate(&self.shared)?;
        self.store = store;
        self.bindings = bindings;
        self.rebuilds += 1;
        Ok(())
    }
}

/// A new instance with `init` called.
fn instantiate(shared: &Shared) -> Result<(Store<State>, Bindings), TransformError> {
    let state = State::new(
        shared.limits.memory_limit,
        shared.short.clone(),
        shared.embedders.clone(),
    );
    let mut store = Store::new(&shared.engine, state);
    store.limiter(|s| &mut s.limiter);
    // wasmtime's "hostcall fuel": the bytes the host may lift out of the
    // instance at once (a call's results, an import's arguments), counted
    // before it allocates them. Elements are counted at their host size and
    // every string or list as often as it is referenced, so a guest cannot
    // make the host allocate more by pointing many values at one buffer.
    store.set_hostcall_fuel(shared.limits.call_max_output_bytes);
    if let Some(ticks) = shared.limits.deadline_ticks {
        store.set_epoch_deadline(ticks);
        // Traps when the guest's own time is up; time spent in host calls
        // (`embed`) extends the deadline instead.
        let timeout = shared.limits.call_timeout;
        store.epoch_deadline_callback(move |ctx| on_deadline(ctx.data(), timeout));
    }
    #[cfg(feature = "bench-native-seed")]
    if let Pre::NativeSeed = shared.pre {
        return match super::native::NativeSeed::init(&shared.init_config) {
            Ok(seed) => Ok((store, Bindings::NativeSeed(seed))),
            Err(message) => Err(TransformError::Init {
                module: shared.short.to_string(),
                message,
            }),
        };
    }
    let fault = |store: &Store<State>, e| TransformError::InitFault {
        module: shared.short.to_string(),
        reason: classify(shared, store.data(), e).reason,
    };
    let (bindings, init) = match instantiate_version(&shared.pre, &mut store) {
        Ok(b) => b,
        Err(e) => return Err(fault(&store, e)),
    };
    match init.call(&mut store, (&shared.init_config,)).map(|(r,)| r) {
        Ok(Ok(())) => Ok((store, bindings)),
        Ok(Err(message)) => Err(TransformError::Init {
            module: shared.short.to_string(),
            message,
        }),
        Err(e) => Err(fault(&store, e)),
    }
}

/// `init: func(config: string) -> result<_, string>`, the same in every version.
type Init = wasmtime::component::TypedFunc<(&'static str,), (Result<(), String>,)>;

/// Instantiates the component; its exports and its `init`.
fn instantiate_version(pre: &Pre, store: &mut Store<State>) -> wasmtime::Result<(Bindings, Init)> {
    let (instance, bindings) = match pre {
        Pre::Current(pre) => {
            let instance = pre.instance_pre().instantiate(&mut *store)?;
            let bindings = Transform::new(&mut *store, &instance)?;
            (instance, Bindings::Current(bindings))
        }
        Pre::V0_2(pre) => {
            let instance = pre.instance_pre().instantiate(&mut *store)?;
            // Checks the export's type once, here, rather than at a first call.
            instance
                .get_typed_func::<(&[KafkaRecord],), (Vec<Outcome>,)>(&mut *store, "process")?;
            let process = instance
                .get_func(&mut *store, "process")
                .ok_or_else(|| wasmtime::format_err!("the component exports no `process`"))?;
            (instance, Bindings::V0_2 { process })
        }
        Pre::V0_1(pre) => {
            let instance = pre.instance_pre().instantiate(&mut *store)?;
            // Checks the export's type once, here, rather than at a first call.
            instance.get_typed_func::<(&[KafkaRecord],), (Vec<v0_1::Outcome>,)>(
                &mut *store,
                "process",
            )?;
            let process = instance
                .get_func(&mut *store, "process")
                .ok_or_else(|| wasmtime::format_err!("the component exports no `process`"))?;
            (instance, Bindings::V0_1 { process })
        }
        #[cfg(feature = "bench-native-seed")]
        Pre::NativeSeed => unreachable!("the native seed is made in `instantiate`"),
    };
    let init = instance.get_typed_func::<(&str,), (Result<(), String>,)>(&mut *store, "init")?;
    Ok((bindings, init))
}

fn classify(shared: &Shared, state: &State, e: wasmtime::Error) -> Fault {
    if let Some(exceeded) = e.downcast_ref::<MemoryExceeded>() {
        return Fault {
            kind: FaultKind::MemoryLimit,
            reason: format!("{exceeded} (transform.memory_limit_mib)"),
        };
    }
    if is_output_limit(&e) {
        return Fault {
            kind: FaultKind::OutputLimit,
            reason: format!(
                "the transform handed the host more than {} bytes in one call (its outcomes, or one log or embed call) (transform.call_max_output_bytes)",
                shared.limits.call_max_output_bytes
            ),
        };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Fault {
            kind: FaultKind::Timeout,
            reason: format!(
                "the transform did not finish within {} ms (transform.call_timeout_ms)",
                shared.limits.call_timeout.as_millis()
            ),
        },
        Some(trap) => {
            let mut reason = format!("the transform trapped: {trap}");
            if let Some(line) = last_stderr_line(state) {
                reason.push_str(": ");
                reason.push_str(&line);
            }
            Fault {
                kind: FaultKind::Trap,
                reason,
            }
        }
        None => Fault {
            kind: FaultKind::Trap,
            reason: format!("the transform failed: {e:#}"),
        },
    }
}

/// wasmtime ran out of hostcall fuel (see `instantiate`). Its error type is
/// private, so it is known by its message, which `host/tests/transform.rs`
/// (`enormous_output_hits_the_output_limit`) pins for this wasmtime version.
fn is_output_limit(e: &wasmtime::Error) -> bool {
    e.chain()
        .any(|cause| cause.to_string().contains(HOSTCALL_FUEL_EXHAUSTED))
}

/// How wasmtime 48 words "hostcall fuel exhausted".
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// The guest's last line on stderr (a panic message, typically).
fn last_stderr_line(state: &State) -> Option<String> {
    let bytes = state.stderr.contents();
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    // A Rust panic prints "panicked at FILE:LINE:COL:" and then the message.
    match lines.as_slice() {
        [.., at, message] if at.contains("panicked at") => Some(format!("{at} {message}")),
        [.., last] => Some(last.to_string()),
        [] => None,
    }
}

/// `records` with their MessagePack values as JSON text, for a component
/// that reads only text. The host wrote the MessagePack itself, so it
/// converts; were it ever not to, the value is left empty and the
/// transform's JSON parse fails for that record alone.
fn as_json_text(records: &[KafkaRecord]) -> Vec<KafkaRecord> {
    records
        .iter()
        .map(|r| {
            let value = r.value.as_deref().map(|packed| {
                let mut text = Vec::with_capacity(packed.len() * 2);
                if let Err(e) = crate::common::msgpack::to_json(packed, &mut text) {
                    tracing::warn!(topic = r.topic, partition = r.partition, offset = r.offset, error = %e, "A decoded value cannot be written as JSON.");
                    text.clear();
                }
                text
            });
            KafkaRecord {
                topic: r.topic.clone(),
                partition: r.partition,
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key.clone(),
                value,
                headers: r.headers.clone(),
            }
        })
        .collect()
}

/// Roughly the bytes a record takes in guest memory.
fn record_size(r: &KafkaRecord) -> usize {
    64 + r.topic.len()
        + r.key.as_ref().map_or(0, Vec::len)
        + r.value.as_ref().map_or(0, Vec::len)
        + r.headers
            .iter()
            .map(|h| 16 + h.key.len() + h.value.as_ref().map_or(0, Vec::len))
            .sum::<usize>()
}

impl From<Outcome> for RecordOutcome {
    fn from(o: Outcome) -> RecordOutcome {
        match o {
            Outcome::Rows(rows) => RecordOutcome::Rows(rows),
            Outcome::Changes(changes) => RecordOutcome::Changes(changes),
            Outcome::Skip => RecordOutcome::Skip,
            Outcome::Error(reason) => RecordOutcome::Error(reason),
        }
    }
}
