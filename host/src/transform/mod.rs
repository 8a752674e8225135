//! The transform stage: runs a user's WebAssembly component over Kafka records.
//!
//! [`TransformEngine`] compiles the component once (with an on-disk cache
//! keyed by wasmtime's version and configuration), links the host imports and
//! pre-instantiates it with the pooling allocator. Each worker owns one
//! long-lived [`Worker`] instance. Calls run under an epoch deadline and a
//! memory cap; a trap, a deadline or a cap hit is a fault of the instance: it
//! is rebuilt, and the batch is retried in halves down to single records, so
//! that only the records that cause the fault get a fault outcome.

mod bindings;
mod engine;
mod json;
mod worker;

pub use bindings::{ArrayValue, Field, Header, KafkaRecord, Level, Value};
pub use engine::{ModuleIdentity, TransformEngine, TransformError, WIT_PACKAGE};
pub use json::RowJson;
pub use worker::{FaultKind, RecordOutcome, Row, Worker};
