//! Write [kmv-host] transforms in Rust.
//!
//! A transform turns each Kafka record into zero or more typed rows for a
//! Milvus collection, skips it on purpose, or rejects it with a reason. It is
//! compiled to a WebAssembly component (`--target wasm32-wasip2`) and named in
//! the pipeline's `pipeline.toml`; the host runs it in a sandbox.
//!
//! Implement [`Transform`] and hand the type to [`export_transform!`]:
//!
//! ```
//! use kmv_guest::{Config, Outcome, Record, Row, Transform, export_transform};
//!
//! /// Renames `headline` to `title` and drops `internal`.
//! struct Rename;
//!
//! impl Transform for Rename {
//!     fn init(_config: Config) -> Result<Self, String> {
//!         Ok(Rename)
//!     }
//!
//!     fn process(&mut self, record: Record) -> Outcome {
//!         let row = match record.json_row() {
//!             Ok(row) => row,
//!             Err(reason) => return Outcome::Error(reason),
//!         };
//!         row.rename("headline", "title").drop("internal").into()
//!     }
//! }
//!
//! export_transform!(Rename);
//!
//! // The logic runs natively too, so plain `cargo test` can check it:
//! let record = Record::from_value(br#"{"id": 1, "headline": "Hi", "internal": true}"#);
//! let outcome = Rename::init(Config::default()).unwrap().process(record);
//! let Outcome::Rows(rows) = outcome else { panic!("expected rows") };
//! assert_eq!(Row::from(rows[0].clone()).field_names(), ["id", "title"]);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` and try it with
//! `kmv-host test --pipeline pipeline.toml --input records.jsonl`.
//!
//! Records from Avro and Protobuf topics arrive decoded by the host, typed
//! ([`ValueForm::MessagePack`]); [`Record::json`], [`Record::json_row`] and
//! [`Record::json_object`] read them as they read JSON records, and
//! [`RawVector`] takes a vector field from either without parsing floats.
//!
//! Besides rows for `[sink] collection`, a record may give [`Change`]s: rows
//! to write and primary keys to delete, each to a collection and partition
//! of its own ([`Outcome::changes`], [`Outcome::delete`], [`Outcome::to`]).
//! For change data capture:
//! - [`debezium`] reads Debezium change events and tombstones, and turns one
//!   into an upsert or a delete in one line ([`debezium::changes`]);
//! - [`connect`] reads records of Kafka Connect's JSON converter with or
//!   without the `schema`/`payload` envelope, primary keys from record
//!   keys, and turns tombstones into deletes ([`Record::tombstone_delete`]);
//! - [`route`] names the collection after the topic's table or a field;
//! - [`embed_changed_field`] embeds a text field into a vector field, and
//!   not again when an update left the text and its vector alone.
//!
//! [kmv-host]: https://github.com/kmv-host/kmv-host
#![deny(missing_docs)]

mod change;
mod config;
pub mod connect;
pub mod debezium;
mod embedding;
mod filter;
mod record;
pub mod route;
mod row;

pub use config::Config;
pub use embedding::{embed_changed_field, embed_changed_field_with, embed_field, embed_field_with};
pub use filter::{Op, Rule};
pub use record::{RawVector, Record};
pub use row::{Row, RowError};
/// A JSON value kept as its text: borrow one with [`Record::json_borrowed`]
/// to hand a vector over unparsed ([`Value::float_vector_json`]).
pub use serde_json::value::RawValue;

/// Generated bindings for the `kmv:transform` WIT contract. Not a stable API:
/// use the re-exports at the crate root.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "transform",
        pub_export_macro: true,
        export_macro_name: "__export_transform_world",
        default_bindings_module: "kmv_guest::__bindings",
        additional_derives: [Clone, PartialEq],
    });
}

pub use __bindings::kmv::transform::types::{
    Action, ArrayValue, Change, Field, Header, Key, Level, Outcome, Target, Value, ValueForm,
};

/// The version of the `kmv:transform` WIT contract this SDK builds against.
pub const WIT_VERSION: &str = "0.3.0";

/// A transform: the one trait a transform author implements.
///
/// The host creates one instance of the type per worker, through
/// [`Transform::init`], and then hands it records in batches.
pub trait Transform: Sized + 'static {
    /// Builds the transform from the pipeline's `[transform.config]` table.
    ///
    /// Return `Err` with a message for the user when the configuration is
    /// unusable: the pipeline then stops at start and shows the message.
    fn init(config: Config) -> Result<Self, String>;

    /// Transforms one record into its [`Outcome`]: rows to write, a skip, or
    /// an error with a reason for that record alone.
    fn process(&mut self, record: Record) -> Outcome;

    /// Transforms a batch. The default calls [`Transform::process`] for each
    /// record; override it to share work across the batch (for example one
    /// embedding call for all texts). Must return one outcome per record, in order.
    fn process_batch(&mut self, records: Vec<Record>) -> Vec<Outcome> {
        records.into_iter().map(|r| self.process(r)).collect()
    }
}

/// Logs a message through the host's log, tagged with the transform's identity.
///
/// Outside WebAssembly (in native unit tests) the message goes to stderr.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    __bindings::kmv::transform::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Embeds `texts` with the embedder `embedder` configured in the pipeline
/// (`[embedders.NAME]`), one vector per text.
///
/// Returns the host's reason when no such embedder is configured or it fails.
/// Outside WebAssembly this always returns an error.
pub fn embed(embedder: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
    #[cfg(target_arch = "wasm32")]
    {
        __bindings::kmv::transform::host::embed(embedder, texts)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = texts;
        Err(format!(
            "embedder `{embedder}` is not available outside kmv-host"
        ))
    }
}

impl Outcome {
    /// One row to write.
    pub fn row(row: impl Into<Vec<Field>>) -> Outcome {
        Outcome::Rows(vec![row.into()])
    }

    /// An error for this record with `reason`.
    pub fn error(reason: impl Into<String>) -> Outcome {
        Outcome::Error(reason.into())
    }
}

impl From<Row> for Outcome {
    fn from(row: Row) -> Outcome {
        Outcome::row(row)
    }
}

impl<E: std::fmt::Display> From<Result<Row, E>> for Outcome {
    fn from(result: Result<Row, E>) -> Outcome {
        match result {
            Ok(row) => Outcome::row(row),
            Err(e) => Outcome::Error(e.to_string()),
        }
    }
}

/// Support code for [`export_transform!`]. Not a stable API.
#[doc(hidden)]
pub mod __rt {
    use super::{Config, Outcome, Record, Transform, ValueForm};
    use crate::__bindings::kmv::transform::types::KafkaRecord;
    use std::cell::RefCell;
    use std::thread::LocalKey;

    /// The slot holding a transform's state inside the instance.
    pub type Slot<T> = LocalKey<RefCell<Option<T>>>;

    pub fn init<T: Transform>(slot: &'static Slot<T>, config: String) -> Result<(), String> {
        let config = Config::from_json(&config)?;
        let transform = T::init(config)?;
        slot.with(|s| *s.borrow_mut() = Some(transform));
        Ok(())
    }

    pub fn process<T: Transform>(
        slot: &'static Slot<T>,
        records: Vec<KafkaRecord>,
        form: ValueForm,
    ) -> Vec<Outcome> {
        let records: Vec<Record> = records
            .into_iter()
            .map(|r| Record::from_wit(r, form))
            .collect();
        slot.with(|s| match s.borrow_mut().as_mut() {
            Some(t) => t.process_batch(records),
            None => records
                .iter()
                .map(|_| Outcome::Error("the transform was not initialised".into()))
                .collect(),
        })
    }
}

/// Exports a [`Transform`] implementation as the component's entry point.
///
/// Use it once per transform crate, at the crate root. It expands to nothing
/// outside WebAssembly, so the crate's logic can be tested natively.
#[macro_export]
macro_rules! export_transform {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                static __KMV_STATE: ::std::cell::RefCell<::std::option::Option<$t>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }

            struct __KmvExport;

            impl $crate::__bindings::Guest for __KmvExport {
                fn init(config: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__rt::init::<$t>(&__KMV_STATE, config)
                }

                fn process(
                    records: ::std::vec::Vec<$crate::__bindings::kmv::transform::types::KafkaRecord>,
                    form: $crate::ValueForm,
                ) -> ::std::vec::Vec<$crate::Outcome> {
                    $crate::__rt::process::<$t>(&__KMV_STATE, records, form)
                }
            }

            $crate::__bindings::__export_transform_world!(__KmvExport with_types_in $crate::__bindings);
        };
    };
}
