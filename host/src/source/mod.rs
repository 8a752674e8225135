//! The Kafka source: a consumer group that hands records to the pipeline and
//! commits an offset only once every record up to it is done. Consumption can
//! be paused while polling goes on (the member keeps its partitions however
//! long the pause); records a poll returns meanwhile are held for the next
//! batch. Keys and values in the Confluent wire format (Avro, Protobuf,
//! JSON Schema) are decoded to JSON with schemas from the Schema Registry
//! (`decode/`).

mod consumer;
pub mod decode;
mod held;
mod poll;
mod transient;

pub use consumer::{ConsumerHooks, RevokeHook, Source, SourceError, TopicPartition};
pub use poll::{NextOffsets, PollLimits};

use crate::common::invalid::Invalid;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[source]`: the Kafka consumer group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Bootstrap brokers, `host:port[,host:port]`.
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// The consumer group id.
    pub group_id: String,
    /// Where a group without committed offsets starts.
    #[serde(default)]
    pub start_from: StartFrom,
    /// librdkafka properties passed through as they are (SASL, SSL, ...);
    /// values may name environment variables as `${NAME}`.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// How record values are encoded: `json` (handed on as they are),
    /// `raw`, `avro`, `protobuf`, `json_schema` (the last three in the
    /// Confluent wire format, decoded to JSON with the registry's schema).
    #[serde(default)]
    pub value_format: decode::Format,
    /// How record keys are encoded (the same choices).
    #[serde(default)]
    pub key_format: decode::Format,
    /// Avro decimals in the decoded JSON: `string` (exact) or `number`.
    #[serde(default)]
    pub decimals: decode::DecimalFormat,
    /// Avro dates, times and timestamps in the decoded JSON: `rfc3339` text
    /// or the `number` Avro carries.
    #[serde(default)]
    pub timestamps: decode::TimestampFormat,
    /// The Schema Registry of the framed formats.
    #[serde(default)]
    pub schema_registry: Option<decode::RegistryConfig>,
}

/// Where a new consumer group starts reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartFrom {
    /// The oldest record still in the topic.
    #[default]
    Earliest,
    /// Only records produced after the group starts.
    Latest,
}

fn default_brokers() -> String {
    "127.0.0.1:9092".into()
}

impl SourceConfig {
    /// How decoded values are written as JSON.
    pub fn mapping(&self) -> decode::Mapping {
        decode::Mapping {
            decimals: self.decimals,
            timestamps: self.timestamps,
        }
    }

    /// Checks the `[source]` table on its own.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        decode::validate(
            self.key_format,
            self.value_format,
            self.schema_registry.as_ref(),
        )?;
        if self.topics.is_empty() {
            return Err(Invalid::key(
                "source",
                "topics",
                "name at least one topic, e.g. topics = [\"topic_0\"]",
            ));
        }
        for key in ["enable.auto.commit", "group.id", "bootstrap.servers"] {
            if self.properties.contains_key(key) {
                return Err(Invalid::key(
                    "source.properties",
                    key,
                    "is set by kmv-host itself (use source.brokers / source.group_id; offsets are committed by kmv-host after rows are written)",
                ));
            }
        }
        Ok(())
    }
}

/// Partitions as a log field: `topic_0[3],topic_0[4]`.
pub fn partitions_text<'a>(partitions: impl IntoIterator<Item = &'a TopicPartition>) -> String {
    partitions
        .into_iter()
        .map(|(topic, partition)| format!("{topic}[{partition}]"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Next offsets as a log field: `topic_0[3]=120,topic_0[4]=98`.
pub fn offsets_text(offsets: &NextOffsets) -> String {
    offsets
        .iter()
        .map(|((topic, partition), offset)| format!("{topic}[{partition}]={offset}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn partitions_and_offsets_read_as_topic_and_index() {
        let offsets: NextOffsets = [
            (("topic_0".to_string(), 3), 120),
            (("topic_0".to_string(), 4), 98),
        ]
        .into();
        assert_eq!(partitions_text(offsets.keys()), "topic_0[3],topic_0[4]");
        assert_eq!(offsets_text(&offsets), "topic_0[3]=120,topic_0[4]=98");
    }
}
