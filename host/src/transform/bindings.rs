//! Host bindings of the `kmv:transform` WIT contract, in the three versions
//! the host runs: 0.3.0 (`guest-sdk/wit`), whose types the host uses
//! throughout, and 0.2.0 and 0.1.0 (`guest-sdk/wit-0.2.0`, `wit-0.1.0`,
//! frozen), whose components run unchanged.
//!
//! The component model types records and variants by structure, not by name:
//! a `kafka-record` (the same in every version) is handed to an older
//! component as it is, and a 0.2.0 outcome (the same as 0.3.0's) is taken as
//! it is; only a 0.1.0 outcome is converted (its values are a subset). What
//! 0.3.0 changed is `process`'s second argument, the values' form: older
//! components get decoded values as JSON text.

/// `kmv:transform@0.3.0`.
pub(crate) mod current {
    wasmtime::component::bindgen!({
        path: "../guest-sdk/wit",
        world: "transform",
        additional_derives: [PartialEq],
    });
}

/// `kmv:transform@0.2.0`: only its imports are bound (the host functions
/// under that package name); its `process` is called through the 0.3.0 types.
pub(crate) mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../guest-sdk/wit-0.2.0",
        world: "transform",
        additional_derives: [PartialEq],
    });
}

/// `kmv:transform@0.1.0`.
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../guest-sdk/wit-0.1.0",
        world: "transform",
        additional_derives: [PartialEq],
    });
}

pub use current::KafkaRecord;
pub use current::kmv::transform::types::{
    Action, ArrayValue, Change, Field, Header, Key, Level, Target, Value, ValueForm,
};
pub(crate) use current::{Outcome, Transform, TransformPre};

/// The newest WIT package (and version) this host runs.
pub const WIT_PACKAGE: &str = "kmv:transform@0.3.0";

/// A version of the contract the host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// `kmv:transform@0.1.0`: rows for `[sink] collection`, skip, error.
    V0_1,
    /// `kmv:transform@0.2.0`: adds changes (deletes, target collections and
    /// partitions) and `float-vector-json`.
    V0_2,
    /// `kmv:transform@0.3.0`: adds decoded values handed over typed
    /// (`value-form`).
    V0_3,
}

impl Contract {
    /// Every version the host runs, oldest first.
    pub const ALL: [Contract; 3] = [Contract::V0_1, Contract::V0_2, Contract::V0_3];

    /// The WIT package with its version, e.g. `kmv:transform@0.3.0`.
    pub fn package(self) -> &'static str {
        match self {
            Contract::V0_1 => "kmv:transform@0.1.0",
            Contract::V0_2 => "kmv:transform@0.2.0",
            Contract::V0_3 => WIT_PACKAGE,
        }
    }

    /// Whether the version takes decoded values as MessagePack.
    pub fn reads_message_pack(self) -> bool {
        self == Contract::V0_3
    }

    /// The version from a package name as a component imports it.
    pub fn from_package(package: &str) -> Option<Contract> {
        Contract::ALL.into_iter().find(|c| c.package() == package)
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.package())
    }
}

impl KafkaRecord {
    /// A record with only a topic, partition, offset and value: no key, no
    /// timestamp, no headers.
    pub fn new(
        topic: impl Into<String>,
        partition: i32,
        offset: i64,
        value: Option<Vec<u8>>,
    ) -> KafkaRecord {
        KafkaRecord {
            topic: topic.into(),
            partition,
            offset,
            timestamp: None,
            key: None,
            value,
            headers: Vec::new(),
        }
    }
}

/// A 0.1.0 outcome in 0.3.0 terms.
impl From<v0_1::Outcome> for Outcome {
    fn from(o: v0_1::Outcome) -> Outcome {
        match o {
            v0_1::Outcome::Rows(rows) => Outcome::Rows(
                rows.into_iter()
                    .map(|row| row.into_iter().map(Field::from).collect())
                    .collect(),
            ),
            v0_1::Outcome::Skip => Outcome::Skip,
            v0_1::Outcome::Error(reason) => Outcome::Error(reason),
        }
    }
}

impl From<v0_1::kmv::transform::types::Field> for Field {
    fn from(f: v0_1::kmv::transform::types::Field) -> Field {
        use v0_1::kmv::transform::types::{ArrayValue as A, Value as V};
        let value = match f.value {
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
            V::FloatVector(v) => Value::FloatVector(v),
            V::BinaryVector(v) => Value::BinaryVector(v),
            V::SparseVector(v) => Value::SparseVector(v),
        };
        Field {
            name: f.name,
            value,
        }
    }
}

/// An older version's log level (the same enum in every version).
macro_rules! level_from {
    ($version:ident) => {
        impl From<$version::kmv::transform::types::Level> for Level {
            fn from(l: $version::kmv::transform::types::Level) -> Level {
                use $version::kmv::transform::types::Level as L;
                match l {
                    L::Trace => Level::Trace,
                    L::Debug => Level::Debug,
                    L::Info => Level::Info,
                    L::Warn => Level::Warn,
                    L::Error => Level::Error,
                }
            }
        }
    };
}

level_from!(v0_2);
level_from!(v0_1);
