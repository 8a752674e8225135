//! The error policy: what happens to a record that fails (a transform error
//! or fault, a row that does not fit the collection schema, a row Milvus
//! rejects), and the dead-letter topic.
//!
//! Like Kafka Connect's `errors.tolerance` and
//! `errors.deadletterqueue.topic.name`: under `dead_letter` a failed record is
//! written, with its key, value and headers, to a Kafka topic, plus `kmv.*`
//! headers that say why; under `log` it is logged and skipped; under `stop`
//! the pipeline stops at it without committing its offset. A record's
//! offset is committed only after its dead-letter write is acknowledged.

mod policy;

pub use crate::common::class::ErrorClass;
use crate::common::env::{self, EnvError};
use crate::common::invalid::Invalid;
use crate::common::text::truncate;
use crate::transform::KafkaRecord;
pub use policy::{ChunkFailures, OnError, record_failed};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// `[errors]`: what happens to records that fail.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorsConfig {
    /// `dead_letter` (write failed records to `dead_letter_topic`), `log`
    /// (log and skip them) or `stop` (stop the pipeline at the first one).
    /// Default: `dead_letter` when `dead_letter_topic` is set, else `log`.
    #[serde(default)]
    pub policy: Option<ErrorPolicy>,
    /// The Kafka topic failed records are written to.
    #[serde(default)]
    pub dead_letter_topic: Option<String>,
    /// Bootstrap brokers of the dead-letter topic, `host:port[,host:port]`.
    /// Default: `source.brokers`.
    #[serde(default)]
    pub dead_letter_brokers: Option<String>,
    /// librdkafka producer properties passed through as they are (SASL, SSL,
    /// `message.max.bytes`, ...); values may name environment variables as
    /// `${NAME}`.
    #[serde(default = "default_dead_letter_properties")]
    pub dead_letter_properties: BTreeMap<String, String>,
}

fn default_dead_letter_properties() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// What happens to a record that fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorPolicy {
    /// Written to the dead-letter topic, then its offset is committed.
    DeadLetter,
    /// Logged with the reason and skipped.
    Log,
    /// The pipeline stops, without committing the record's offset.
    Stop,
}

impl ErrorPolicy {
    /// The name used in `pipeline.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorPolicy::DeadLetter => "dead_letter",
            ErrorPolicy::Log => "log",
            ErrorPolicy::Stop => "stop",
        }
    }
}

impl ErrorsConfig {
    /// The policy in effect: as set, else `dead_letter` when a topic is named,
    /// else `log`.
    pub fn policy(&self) -> ErrorPolicy {
        match (self.policy, &self.dead_letter_topic) {
            (Some(policy), _) => policy,
            (None, Some(_)) => ErrorPolicy::DeadLetter,
            (None, None) => ErrorPolicy::Log,
        }
    }

    /// Checks the `[errors]` table on its own. Whether the dead-letter topic
    /// is also a source topic is `config`'s check, across tables.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        const PROPERTIES: &str = "errors.dead_letter_properties";
        let policy = self.policy();
        let at = |key: &str, message: String| Err(Invalid::key("errors", key, message));
        match &self.dead_letter_topic {
            None if policy == ErrorPolicy::DeadLetter => {
                return at(
                    "policy",
                    "`dead_letter` needs the topic failed records go to: add dead_letter_topic = \"NAME\" to [errors] (or use policy = \"log\" or \"stop\")".into(),
                );
            }
            None => {
                if self.dead_letter_brokers.is_some() {
                    return at(
                        "dead_letter_brokers",
                        "is set but no dead_letter_topic is: add dead_letter_topic = \"NAME\" or remove this key".into(),
                    );
                }
                if let Some(key) = self.dead_letter_properties.keys().next() {
                    return Err(Invalid::key(
                        PROPERTIES,
                        key,
                        "is set but no dead_letter_topic is: add dead_letter_topic = \"NAME\" or remove [errors.dead_letter_properties]",
                    ));
                }
            }
            Some(topic) => {
                if policy != ErrorPolicy::DeadLetter {
                    return at(
                        "dead_letter_topic",
                        format!(
                            "is set but policy is `{}`, which writes nothing to it: remove the policy (a topic means `dead_letter`) or this key",
                            policy.as_str()
                        ),
                    );
                }
                if topic.trim().is_empty() {
                    return at(
                        "dead_letter_topic",
                        "must name a topic, e.g. dead_letter_topic = \"topic_0.dlq\"".into(),
                    );
                }
            }
        }
        for (key, why) in [
            (
                "bootstrap.servers",
                "is set by kmv-host itself (use errors.dead_letter_brokers)",
            ),
            (
                "acks",
                "is set by kmv-host itself (`all`: a record counts as dead-lettered only once every in-sync replica has it)",
            ),
        ] {
            if self.dead_letter_properties.contains_key(key) {
                return Err(Invalid::key(PROPERTIES, key, why));
            }
        }
        Ok(())
    }
}

/// A record that failed, and why.
#[derive(Debug, Clone)]
pub struct FailedRecord {
    /// The record as consumed (shared, not copied).
    pub record: Arc<KafkaRecord>,
    /// The class of failure.
    pub class: ErrorClass,
    /// What is wrong with it.
    pub reason: String,
    /// The short identity of the transform version that handled the record
    /// (the `kmv.transform` header).
    pub transform: Arc<str>,
}

impl fmt::Display for FailedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "topic {} partition {} offset {}: {}: {}",
            self.record.topic, self.record.partition, self.record.offset, self.class, self.reason
        )
    }
}

/// Why a dead-letter write could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// A `${NAME}` in `[errors.dead_letter_properties]` could not be expanded.
    #[error("{}", env.at_property("errors.dead_letter_properties", key))]
    Env {
        /// The property.
        key: String,
        /// What is wrong (not a `source`: the message already says it).
        env: EnvError,
    },
    /// librdkafka refused the configuration.
    #[error("dead-letter producer: {0}")]
    Kafka(#[from] KafkaError),
    /// The broker did not acknowledge a dead-letter write (after librdkafka's retries).
    #[error(
        "writing to dead-letter topic `{topic}` failed for topic {source_topic} partition {partition} offset {offset}: {error}"
    )]
    Delivery {
        /// The dead-letter topic.
        topic: String,
        /// The failed record's topic.
        source_topic: String,
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// Why.
        error: String,
    },
}

/// The longest `kmv.error.reason` header, in bytes.
const MAX_REASON_BYTES: usize = 4096;

/// The producer that writes failed records to the dead-letter topic.
pub struct DeadLetterQueue {
    producer: FutureProducer,
    topic: String,
}

impl fmt::Debug for DeadLetterQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetterQueue")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl DeadLetterQueue {
    /// Creates the producer when the policy is `dead_letter`.
    pub fn start(
        config: &ErrorsConfig,
        source_brokers: &str,
    ) -> Result<Option<DeadLetterQueue>, DeadLetterError> {
        let (ErrorPolicy::DeadLetter, Some(topic)) = (config.policy(), &config.dead_letter_topic)
        else {
            return Ok(None);
        };
        let mut client = ClientConfig::new();
        client
            .set(
                "bootstrap.servers",
                config
                    .dead_letter_brokers
                    .as_deref()
                    .unwrap_or(source_brokers),
            )
            .set("acks", "all")
            .set("enable.idempotence", "true")
            // A record the source could hold must fit (librdkafka's default is 1 MB).
            .set("message.max.bytes", (32 * 1024 * 1024).to_string())
            // How long librdkafka retries one write before the pipeline stops.
            .set("message.timeout.ms", "60000")
            .set("linger.ms", "5");
        for (key, value) in &config.dead_letter_properties {
            let value = env::expand_env(value).map_err(|env| DeadLetterError::Env {
                key: key.clone(),
                env,
            })?;
            client.set(key, value);
        }
        Ok(Some(DeadLetterQueue {
            producer: client.create()?,
            topic: topic.clone(),
        }))
    }

    /// The dead-letter topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Hands a failed record to the producer; the future resolves when the
    /// broker acknowledges it. `Err` with the record back when the queue is full.
    fn send(&self, failed: &FailedRecord) -> Result<DeliveryFuture, KafkaError> {
        let r = &failed.record;
        let mut headers = OwnedHeaders::new_with_capacity(r.headers.len() + 6);
        for h in &r.headers {
            headers = headers.insert(Header {
                key: &h.key,
                value: h.value.as_deref(),
            });
        }
        let (partition, offset) = (r.partition.to_string(), r.offset.to_string());
        let reason = truncate(&failed.reason, MAX_REASON_BYTES);
        for (key, value) in [
            ("kmv.error.class", failed.class.as_str()),
            ("kmv.error.reason", reason),
            ("kmv.source.topic", r.topic.as_str()),
            ("kmv.source.partition", partition.as_str()),
            ("kmv.source.offset", offset.as_str()),
            ("kmv.transform", &*failed.transform),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = &r.key {
            record = record.key(key.as_slice());
        }
        if let Some(value) = &r.value {
            record = record.payload(value.as_slice());
        }
        self.producer.send_result(record).map_err(|(e, _)| e)
    }
}

/// Dead-letter writes of one chunk, awaited before its offsets are committed.
#[derive(Default)]
pub struct Deliveries {
    pending: Vec<(FailedRecord, DeliveryFuture)>,
    acknowledged: u64,
}

impl Deliveries {
    /// Starts writing `failed` to the dead-letter topic; when the producer's
    /// queue is full, first waits for the writes already under way.
    pub async fn push(
        &mut self,
        dlq: &DeadLetterQueue,
        failed: FailedRecord,
    ) -> Result<(), DeadLetterError> {
        loop {
            match dlq.send(&failed) {
                Ok(future) => {
                    self.pending.push((failed, future));
                    return Ok(());
                }
                Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull))
                    if !self.pending.is_empty() =>
                {
                    self.settle(dlq).await?;
                }
                Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Err(e) => return Err(delivery_error(dlq, &failed, e.to_string())),
            }
        }
    }

    /// Waits until every write pushed so far is acknowledged; the first that
    /// fails is the error. Returns how many were acknowledged in all.
    pub async fn settle(&mut self, dlq: &DeadLetterQueue) -> Result<u64, DeadLetterError> {
        for (failed, future) in self.pending.drain(..) {
            match future.await {
                Ok(Ok(_)) => self.acknowledged += 1,
                Ok(Err((e, _))) => {
                    return Err(delivery_error(dlq, &failed, delivery_failure(&e)));
                }
                Err(_) => {
                    return Err(delivery_error(
                        dlq,
                        &failed,
                        "the producer was dropped".into(),
                    ));
                }
            }
        }
        Ok(self.acknowledged)
    }
}

/// The producer's error, with what to change when librdkafka gave up waiting
/// for an unreachable broker (it rides out shorter outages by itself).
fn delivery_failure(error: &KafkaError) -> String {
    if error.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageTimedOut) {
        format!(
            "{error} (no broker acknowledged it within message.timeout.ms, 60 s unless set in [errors.dead_letter_properties]; raise it to wait longer for a restarting broker)"
        )
    } else {
        error.to_string()
    }
}

fn delivery_error(dlq: &DeadLetterQueue, failed: &FailedRecord, error: String) -> DeadLetterError {
    DeadLetterError::Delivery {
        topic: dlq.topic.clone(),
        source_topic: failed.record.topic.clone(),
        partition: failed.record.partition,
        offset: failed.record.offset,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_defaults_follow_the_topic() {
        let mut c = ErrorsConfig::default();
        assert_eq!(c.policy(), ErrorPolicy::Log);
        c.dead_letter_topic = Some("dlq".into());
        assert_eq!(c.policy(), ErrorPolicy::DeadLetter);
        c.policy = Some(ErrorPolicy::Stop);
        assert_eq!(c.policy(), ErrorPolicy::Stop);
    }

    #[test]
    fn a_timed_out_dead_letter_write_says_which_setting_waits_longer() {
        let timed_out = delivery_failure(&KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageTimedOut,
        ));
        assert!(timed_out.contains("message.timeout.ms"), "{timed_out}");
        assert!(
            timed_out.contains("[errors.dead_letter_properties]"),
            "{timed_out}"
        );
        let too_large = delivery_failure(&KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageSizeTooLarge,
        ));
        assert!(!too_large.contains("message.timeout.ms"), "{too_large}");
    }

    #[test]
    fn long_reasons_are_cut_on_a_char_boundary() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ééé", 3), "é");
    }
}
