//! Benchmarks only (feature `bench-native-seed`): the seed transform compiled
//! into the host, behind the same [`super::TransformEngine`] and
//! [`super::Worker`] as a component, selected by `[transform] module =
//! "native:seed"`. `benches/pipeline.rs` runs the same pipeline with it and
//! with `seed.wasm` to show what the sandbox costs per record, end to end.
//!
//! It does what the component's side of a call does, natively: `init` parses
//! the same JSON config with the SDK's own code (as `export_transform!`
//! does), a call copies the records into the SDK's types (a call copies them
//! into the instance's memory) and the outcomes become the host's values, as
//! the component model lifts them. A panic is caught and reported as the
//! component's trap would be, so the worker's fault isolation applies
//! unchanged. What it cannot do is stop a call that runs too long or cap its
//! memory: never run a pipeline with it.

use super::bindings::{
    Action, ArrayValue, Change, Field, KafkaRecord, Key, Outcome, Target, Value, ValueForm,
};
use super::config::NATIVE_SEED;
use crate::common::identity::ModuleIdentity;
use kmv_guest::Transform as _;
use std::path::Path;

/// Its identity in logs and metrics: `native:seed@hash12`, the hash of the
/// name and the host's version, as no file holds it.
pub(crate) fn identity() -> ModuleIdentity {
    let what = concat!("native:seed kmv-host ", env!("CARGO_PKG_VERSION"));
    ModuleIdentity::new(Path::new(NATIVE_SEED), what.as_bytes())
}

/// One native instance of `seed::Seed`.
pub(crate) struct NativeSeed(seed::Seed);

impl NativeSeed {
    /// `init` with the `[transform.config]` JSON, as a component's `init`:
    /// `Err` holds the transform's message for the user.
    pub(crate) fn init(config: &str) -> Result<NativeSeed, String> {
        let config = kmv_guest::Config::from_json(config)?;
        seed::Seed::init(config).map(NativeSeed)
    }

    /// `process` over `records`: one outcome per record, or the panic's
    /// message when the transform panicked (the instance is then rebuilt).
    pub(crate) fn process(
        &mut self,
        records: &[KafkaRecord],
        form: ValueForm,
    ) -> Result<Vec<Outcome>, String> {
        let form = match form {
            ValueForm::Bytes => kmv_guest::ValueForm::Bytes,
            ValueForm::MessagePack => kmv_guest::ValueForm::MessagePack,
        };
        let input = records.iter().map(|r| to_guest(r, form)).collect();
        let transform = &mut self.0;
        let outcomes = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            transform.process_batch(input)
        }))
        .map_err(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            format!("the native transform panicked: {message}")
        })?;
        Ok(outcomes.into_iter().map(outcome).collect())
    }
}

fn to_guest(r: &KafkaRecord, form: kmv_guest::ValueForm) -> kmv_guest::Record {
    let record = kmv_guest::__bindings::kmv::transform::types::KafkaRecord {
        topic: r.topic.clone(),
        partition: r.partition,
        offset: r.offset,
        timestamp: r.timestamp,
        key: r.key.clone(),
        value: r.value.clone(),
        headers: r
            .headers
            .iter()
            .map(|h| kmv_guest::Header {
                key: h.key.clone(),
                value: h.value.clone(),
            })
            .collect(),
    };
    kmv_guest::Record::from_wit(record, form)
}

fn outcome(o: kmv_guest::Outcome) -> Outcome {
    use kmv_guest::Outcome as G;
    match o {
        G::Rows(rows) => Outcome::Rows(rows.into_iter().map(row).collect()),
        G::Changes(changes) => Outcome::Changes(changes.into_iter().map(change).collect()),
        G::Skip => Outcome::Skip,
        G::Error(reason) => Outcome::Error(reason),
    }
}

fn row(fields: Vec<kmv_guest::Field>) -> Vec<Field> {
    fields
        .into_iter()
        .map(|f| Field {
            name: f.name,
            value: value(f.value),
        })
        .collect()
}

fn value(v: kmv_guest::Value) -> Value {
    use kmv_guest::{ArrayValue as A, Value as V};
    match v {
        V::Null => Value::Null,
        V::Boolean(b) => Value::Boolean(b),
        V::Int64(i) => Value::Int64(i),
        V::Double(d) => Value::Double(d),
        V::Varchar(s) => Value::Varchar(s),
        V::Json(s) => Value::Json(s),
        V::Array(A::Bools(x)) => Value::Array(ArrayValue::Bools(x)),
        V::Array(A::Ints(x)) => Value::Array(ArrayValue::Ints(x)),
        V::Array(A::Floats(x)) => Value::Array(ArrayValue::Floats(x)),
        V::Array(A::Varchars(x)) => Value::Array(ArrayValue::Varchars(x)),
        V::FloatVector(x) => Value::FloatVector(x),
        V::BinaryVector(x) => Value::BinaryVector(x),
        V::SparseVector(x) => Value::SparseVector(x),
        V::FloatVectorJson(s) => Value::FloatVectorJson(s),
    }
}

fn change(c: kmv_guest::Change) -> Change {
    use kmv_guest::{Action as A, Key as K};
    Change {
        target: Target {
            collection: c.target.collection,
            partition: c.target.partition,
        },
        action: match c.action {
            A::Row(fields) => Action::Row(row(fields)),
            A::Delete(keys) => Action::Delete(
                keys.into_iter()
                    .map(|k| match k {
                        K::Int64(i) => Key::Int64(i),
                        K::Varchar(s) => Key::Varchar(s),
                    })
                    .collect(),
            ),
        },
    }
}
