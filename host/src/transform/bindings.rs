//! Host bindings of the `kmv:transform` WIT contract (`guest-sdk/wit`).

wasmtime::component::bindgen!({
    path: "../guest-sdk/wit-0.1.0",
    world: "transform",
    additional_derives: [PartialEq],
});

pub use kmv::transform::types::{ArrayValue, Field, Header, Level, Value};

/// The WIT package (and version) this host runs.
pub const WIT_PACKAGE: &str = "kmv:transform@0.1.0";

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
