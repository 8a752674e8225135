//! The Kafka source: a consumer group that hands records to the pipeline and
//! commits an offset only once every record up to it is done.

mod consumer;
mod transient;

pub use consumer::{LagContext, RevokeHook, Source, SourceError, TopicPartition, expand_env};

use crate::config::{ConfigError, Loaded};
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
    pub(crate) fn validate(&self, loaded: &Loaded) -> Result<(), ConfigError> {
        if self.topics.is_empty() {
            return Err(loaded.error_at(
                loaded.key_span("source", "topics"),
                "source.topics",
                "name at least one topic, e.g. topics = [\"topic_0\"]".into(),
            ));
        }
        for key in ["enable.auto.commit", "group.id", "bootstrap.servers"] {
            if self.properties.contains_key(key) {
                return Err(loaded.error_at(
                    loaded.key_span("source.properties", key),
                    &format!("source.properties.{key}"),
                    "is set by kmv-host itself (use source.brokers / source.group_id; offsets are committed by kmv-host after rows are written)".into(),
                ));
            }
        }
        Ok(())
    }
}
