//! The transform stage: runs a user's WebAssembly component over Kafka records.
//!
//! [`TransformEngine`] compiles the component once (with an on-disk cache
//! keyed by wasmtime's version and configuration), links the host imports and
//! pre-instantiates it with the pooling allocator. Each worker owns one
//! long-lived [`Worker`] instance. Calls run under an epoch deadline, a
//! memory cap and a cap on what they hand back; a trap, a deadline or a cap
//! hit is a fault of the instance: it is rebuilt, and the batch is retried in halves down to single records, so
//! that only the records that cause the fault get a fault outcome.
//!
//! - `config`: the `[transform]` table and its checks.
//! - `engine`: compiling, caching and linking; [`EngineBuilder`].
//! - `worker`: one instance and the fault isolation around it.
//! - `host`: an instance's host state and the WIT `log` and `embed` imports.
//! - `limiter`: the memory cap, whose trap the worker tells from others.
//! - `error`: [`TransformError`], why a transform cannot load or start.
//! - `native` (feature `bench-native-seed`, benchmarks only): the seed
//!   transform compiled into the host, run by the same workers.

mod bindings;
mod config;
mod engine;
mod error;
mod host;
mod json;
mod limiter;
#[cfg(feature = "bench-native-seed")]
mod native;
mod worker;

pub use crate::common::identity::ModuleIdentity;
pub use bindings::{
    Action, ArrayValue, Change, Contract, Field, Header, KafkaRecord, Key, Level, Target, Value,
    ValueForm, WIT_PACKAGE,
};
pub use config::{TransformConfig, table_to_json};
pub use engine::{EngineBuilder, TransformEngine};
pub use error::TransformError;
pub use json::RowJson;
pub use worker::{FaultKind, RecordOutcome, Row, Worker};
