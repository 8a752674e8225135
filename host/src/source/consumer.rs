//! The rdkafka consumer: configuration, records, commits, lag.

use super::SourceConfig;
use crate::transform::{Header, KafkaRecord};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{Headers, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Why the source could not start or commit.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A `${NAME}` in `[source.properties]` names an unset variable.
    #[error("[source.properties] `{key}` refers to environment variable {var}, which is not set")]
    MissingEnv {
        /// The property.
        key: String,
        /// The variable.
        var: String,
    },
    /// librdkafka refused the configuration or failed.
    #[error("Kafka consumer: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// A (topic, partition).
pub type TopicPartition = (String, i32);

/// Called on the polling thread when partitions are revoked, before they are
/// given up: flushes their work and returns the offsets to commit for them
/// (`None`: could not flush in time; nothing is committed).
pub type RevokeHook =
    Box<dyn Fn(&BTreeSet<TopicPartition>) -> Option<BTreeMap<TopicPartition, i64>> + Send + Sync>;

/// Context that keeps the total consumer lag from librdkafka's statistics,
/// and flushes and commits revoked partitions in a rebalance.
#[derive(Default)]
pub struct LagContext {
    lag: AtomicI64,
    /// Installed by the pipeline, see [`Source::on_revoke`].
    revoke_hook: OnceLock<RevokeHook>,
    /// Partitions revoked since the poller last looked ([`Source::take_revoked`]).
    revoked: Mutex<BTreeSet<TopicPartition>>,
}

impl ClientContext for LagContext {
    fn stats(&self, statistics: Statistics) {
        let lag: i64 = statistics
            .topics
            .values()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.partition >= 0)
            .map(|p| p.consumer_lag.max(0))
            .sum();
        self.lag.store(lag, Ordering::Relaxed);
    }
}

impl ConsumerContext for LagContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let partitions: BTreeSet<TopicPartition> = list
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        if partitions.is_empty() {
            return;
        }
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(partitions.iter().cloned());
        let Some(hook) = self.revoke_hook.get() else {
            return;
        };
        let Some(offsets) = hook(&partitions) else {
            tracing::warn!(
                partitions = ?partitions,
                "Partitions revoked before their work was flushed; their uncommitted records will be consumed again by the new owner."
            );
            return;
        };
        let mut commit = TopicPartitionList::new();
        for ((topic, partition), offset) in offsets.iter().filter(|(k, _)| partitions.contains(k)) {
            if commit
                .add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .is_err()
            {
                return;
            }
        }
        if commit.count() > 0 {
            match consumer.commit(&commit, CommitMode::Sync) {
                Ok(()) => {
                    tracing::info!(partitions = ?partitions, offsets = ?offsets, "Partitions revoked: flushed and committed before giving them up.")
                }
                Err(e) => {
                    tracing::warn!(partitions = ?partitions, error = %e, "Partitions revoked: flushed, but the commit failed; the new owner may consume some records again.")
                }
            }
        } else {
            tracing::info!(partitions = ?partitions, "Partitions revoked: nothing of theirs to commit.");
        }
    }
}

/// A consumer in the pipeline's group, with auto-commit off.
pub struct Source {
    consumer: Arc<BaseConsumer<LagContext>>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").finish_non_exhaustive()
    }
}

impl Source {
    /// Creates the consumer and subscribes to the topics.
    pub fn start(config: &SourceConfig, stats_interval: Duration) -> Result<Source, SourceError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                match config.start_from {
                    super::StartFrom::Earliest => "earliest",
                    super::StartFrom::Latest => "latest",
                },
            )
            // Small fetch waits keep latency low (brokers such as tansu hold a
            // fetch for the whole wait).
            .set("fetch.wait.max.ms", "10")
            .set("session.timeout.ms", "10000")
            .set("partition.assignment.strategy", "cooperative-sticky")
            // Bounds what librdkafka prefetches, and so the memory held while
            // Milvus is slow.
            .set("queued.max.messages.kbytes", "16384")
            .set("fetch.max.bytes", "16777216")
            .set(
                "statistics.interval.ms",
                stats_interval.as_millis().max(1000).to_string(),
            );
        for (key, value) in &config.properties {
            client.set(key, expand_env(key, value)?);
        }
        let consumer: BaseConsumer<LagContext> =
            client.create_with_context(LagContext::default())?;
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        Ok(Source {
            consumer: Arc::new(consumer),
        })
    }

    /// Waits up to `timeout` for the next record.
    pub fn poll(&self, timeout: Duration) -> Result<Option<KafkaRecord>, SourceError> {
        match self.consumer.poll(timeout) {
            None => Ok(None),
            Some(Err(e)) => Err(e.into()),
            Some(Ok(m)) => Ok(Some(KafkaRecord {
                topic: m.topic().to_string(),
                partition: m.partition(),
                offset: m.offset(),
                timestamp: m.timestamp().to_millis(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers: m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| Header {
                                key: h.key.to_string(),
                                value: h.value.map(<[u8]>::to_vec),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })),
        }
    }

    /// Commits, for each partition, the offset after the last record done.
    pub fn commit(
        &self,
        next_offsets: &BTreeMap<(String, i32), i64>,
        mode: CommitMode,
    ) -> Result<(), SourceError> {
        if next_offsets.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in next_offsets {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
        }
        self.consumer.commit(&list, mode)?;
        Ok(())
    }

    /// Keeps only the partitions this consumer is assigned now: a final
    /// commit must not move back the offsets of a partition another member
    /// took over in a rebalance.
    pub fn retain_assigned(&self, offsets: &mut BTreeMap<(String, i32), i64>) {
        let assigned: std::collections::BTreeSet<(String, i32)> = match self.consumer.assignment() {
            Ok(list) => list
                .elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect(),
            Err(_) => return offsets.clear(),
        };
        offsets.retain(|k, _| assigned.contains(k));
    }

    /// Installs the hook that flushes revoked partitions' work (once; later
    /// calls are ignored).
    pub fn on_revoke(&self, hook: RevokeHook) {
        let _ = self.consumer.context().revoke_hook.set(hook);
    }

    /// The partitions revoked since the last call: records of theirs not yet
    /// handed on must be dropped (not committed; the new owner consumes them).
    pub fn take_revoked(&self) -> BTreeSet<TopicPartition> {
        std::mem::take(
            &mut *self
                .consumer
                .context()
                .revoked
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Whether this consumer is assigned `partition` now.
    pub fn is_assigned(&self, partition: &TopicPartition) -> bool {
        self.consumer.assignment().is_ok_and(|list| {
            list.elements()
                .iter()
                .any(|e| e.partition() == partition.1 && e.topic() == partition.0)
        })
    }

    /// Whether the group has given this consumer any partitions yet.
    pub fn has_assignment(&self) -> bool {
        self.consumer.assignment().is_ok_and(|a| a.count() > 0)
    }

    /// The consumer lag summed over assigned partitions, from the last statistics.
    pub fn lag(&self) -> i64 {
        self.consumer.context().lag.load(Ordering::Relaxed)
    }
}

/// Replaces `${NAME}` in `value` with the environment variable NAME.
pub fn expand_env(key: &str, value: &str) -> Result<String, SourceError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        let var = &rest[start + 2..start + 2 + len];
        let resolved = std::env::var(var).map_err(|_| SourceError::MissingEnv {
            key: key.to_string(),
            var: var.to_string(),
        })?;
        out.push_str(&rest[..start]);
        out.push_str(&resolved);
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion() {
        // PATH is set in any test environment.
        let path = std::env::var("PATH").unwrap();
        assert_eq!(expand_env("k", "a${PATH}b").unwrap(), format!("a{path}b"));
        assert_eq!(expand_env("k", "plain").unwrap(), "plain");
        let e = expand_env("sasl.password", "${KMV_SURELY_UNSET_VAR}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "[source.properties] `sasl.password` refers to environment variable KMV_SURELY_UNSET_VAR, which is not set"
        );
    }
}
