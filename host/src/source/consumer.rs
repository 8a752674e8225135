//! The rdkafka consumer: configuration, records, commits, lag.

use super::SourceConfig;
use super::held::Held;
use super::transient::{OutageLog, is_transient_poll_error};
use crate::common::env::{self, EnvError};
use crate::transform::{Header, KafkaRecord};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{Headers, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Why the source could not start or commit.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A `${NAME}` in `[source.properties]` could not be expanded.
    #[error("{}", env.at_property("source.properties", key))]
    Env {
        /// The property.
        key: String,
        /// What is wrong (not a `source`: the message already says it).
        env: EnvError,
    },
    /// librdkafka refused the configuration or failed.
    #[error("Kafka consumer: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The schema registry could not be set up, or refused a request (bad
    /// credentials, a wrong url): not the records' fault.
    #[error("schema registry: {0}")]
    Registry(String),
}

/// A (topic, partition).
pub type TopicPartition = (String, i32);

/// How long a fetch may wait on the broker for records (librdkafka's
/// `fetch.wait.max.ms`; `[source.properties]` may set another).
///
/// Short, because some brokers (tansu) hold a fetch for the whole wait when
/// nothing new has come, which is latency for a consumer at the head. But not
/// shorter than the broker needs to answer a fetch from deep in a partition
/// of many small record batches: at 10 ms tansu's answers from behind the
/// head held a record or two, so a consumer that fell behind (the soak, after
/// a Milvus outage: issue 15) read tens of records a second or fewer and never
/// caught up. `host/tests/source_backlog.rs`: 20,000 one-record batches took
/// 3.5 s at 100 ms; at 10 ms, 2,295 of them were read in 90 s.
const FETCH_WAIT_MAX_MS: &str = "100";

/// Called on the polling thread when partitions are revoked, before they are
/// given up: flushes their work and returns the offsets to commit for them
/// (`None`: could not flush in time; nothing is committed).
pub type RevokeHook =
    Box<dyn Fn(&BTreeSet<TopicPartition>) -> Option<BTreeMap<TopicPartition, i64>> + Send + Sync>;

/// Context that keeps the total consumer lag from librdkafka's statistics,
/// and flushes and commits revoked partitions in a rebalance.
#[derive(Default)]
pub struct ConsumerHooks {
    lag: AtomicI64,
    /// The partitions whose lag gauge this member set last time.
    reported: Mutex<BTreeSet<TopicPartition>>,
    /// Installed by the pipeline, see [`Source::on_revoke`].
    revoke_hook: OnceLock<RevokeHook>,
    /// Partitions revoked since the poller last looked ([`Source::take_revoked`]).
    revoked: Mutex<BTreeSet<TopicPartition>>,
    /// Consumption is paused ([`Source::pause`]): partitions assigned
    /// meanwhile are paused as they come.
    paused: AtomicBool,
}

impl ClientContext for ConsumerHooks {
    fn stats(&self, statistics: Statistics) {
        use crate::observability::names::CONSUMER_LAG;
        let mut lag = 0;
        let mut reported = std::collections::BTreeSet::new();
        for (topic, t) in &statistics.topics {
            for p in t.partitions.values().filter(|p| p.partition >= 0) {
                lag += p.consumer_lag.max(0);
                // -1: not consumed by this member (not assigned, or no offset yet).
                if p.consumer_lag >= 0 {
                    metrics::gauge!(CONSUMER_LAG, "topic" => topic.clone(), "partition" => p.partition.to_string())
                        .set(p.consumer_lag as f64);
                    reported.insert((topic.clone(), p.partition));
                }
            }
        }
        // A partition this member no longer consumes: its lag is another
        // member's to report, so a sum over members does not count it twice.
        let mut last = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        for (topic, partition) in last.difference(&reported) {
            metrics::gauge!(CONSUMER_LAG, "topic" => topic.clone(), "partition" => partition.to_string())
                .set(0.0);
        }
        *last = reported;
        self.lag.store(lag, Ordering::Relaxed);
    }

    /// librdkafka's error events. They come back from [`Source::poll`] too,
    /// which logs transient ones rate-limited: here they go to debug, the
    /// others (with librdkafka's reason) to error.
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        let transient = error
            .rdkafka_error_code()
            .is_some_and(super::transient::is_transient_code);
        if transient {
            tracing::debug!(%error, reason, "librdkafka error");
        } else {
            tracing::error!(%error, reason, "librdkafka error");
        }
    }
}

impl ConsumerContext for ConsumerHooks {
    /// Partitions assigned while consumption is paused are paused too.
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(list) = rebalance else {
            return;
        };
        if list.count() == 0 || !self.paused.load(Ordering::SeqCst) {
            return;
        }
        let partitions = list.count();
        match consumer.pause(list) {
            Ok(()) => tracing::info!(
                partitions,
                "Partitions assigned while consumption is paused; paused them too."
            ),
            Err(error) => tracing::warn!(
                partitions,
                %error,
                "Partitions assigned while consumption is paused could not be paused; their records are held until it resumes."
            ),
        }
    }

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
                partitions = %super::partitions_text(&partitions),
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
                    tracing::info!(partitions = %super::partitions_text(&partitions), offsets = %super::offsets_text(&offsets), "Partitions revoked: flushed and committed before giving them up.")
                }
                Err(e) => {
                    tracing::warn!(partitions = %super::partitions_text(&partitions), error = %e, "Partitions revoked: flushed, but the commit failed; the new owner may consume some records again.")
                }
            }
        } else {
            tracing::info!(partitions = %super::partitions_text(&partitions), "Partitions revoked: nothing of theirs to commit.");
        }
    }
}

/// A consumer in the pipeline's group, with auto-commit off.
pub struct Source {
    consumer: Arc<BaseConsumer<ConsumerHooks>>,
    /// A broker outage the consumer is riding out (see [`Source::poll`]).
    outage: Mutex<OutageLog>,
    /// Records polled while paused, for the next batch ([`Source::poll_paused`]).
    held: Mutex<Held>,
    /// Decodes framed keys and values (`None`: the formats pass through).
    pub(super) decoder: Option<Mutex<super::decode::Decoder>>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").finish_non_exhaustive()
    }
}

impl Source {
    /// Creates the consumer and subscribes to the topics.
    /// Called on the pipeline's runtime: the registry client (for framed
    /// formats) runs its requests there.
    pub fn start(config: &SourceConfig, stats_interval: Duration) -> Result<Source, SourceError> {
        let decoder = match tokio::runtime::Handle::try_current() {
            Ok(handle) => super::decode::Decoder::for_source(config, handle),
            Err(_)
                if config.key_format.passes_through() && config.value_format.passes_through() =>
            {
                Ok(None)
            }
            Err(_) => Err("no async runtime to run registry requests on".to_string()),
        }
        .map_err(SourceError::Registry)?;
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
            .set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS)
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
            let value = env::expand_env(value).map_err(|env| SourceError::Env {
                key: key.clone(),
                env,
            })?;
            client.set(key, value);
        }
        let consumer: BaseConsumer<ConsumerHooks> =
            client.create_with_context(ConsumerHooks::default())?;
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        Ok(Source {
            consumer: Arc::new(consumer),
            outage: Mutex::default(),
            held: Mutex::default(),
            decoder: decoder.map(Mutex::new),
        })
    }

    /// Waits up to `timeout` for the next record.
    ///
    /// Transient errors (the broker unreachable or restarting, the group
    /// coordinator moving) are logged, rate-limited, and answered with `None`
    /// while librdkafka reconnects; fatal and unknown ones are returned.
    pub fn poll(&self, timeout: Duration) -> Result<Option<KafkaRecord>, SourceError> {
        match self.consumer.poll(timeout) {
            None => Ok(None),
            Some(Err(e)) if is_transient_poll_error(&e) => {
                self.outage_log().error(&e);
                Ok(None)
            }
            Some(Err(e)) => Err(e.into()),
            Some(Ok(m)) => {
                self.outage_log().recovered();
                Ok(Some(kafka_record(&m)))
            }
        }
    }

    fn outage_log(&self) -> std::sync::MutexGuard<'_, OutageLog> {
        self.outage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The records held while paused.
    pub(super) fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Pauses fetching from every assigned partition (and, until
    /// [`resume`](Source::resume), from those assigned later). Polling must go
    /// on meanwhile ([`Source::poll_paused`]): it keeps the group membership
    /// and serves rebalances.
    pub fn pause(&self) -> Result<(), SourceError> {
        let hooks = self.consumer.context();
        hooks.paused.store(true, Ordering::SeqCst);
        let assigned = self.consumer.assignment()?;
        if assigned.count() > 0 {
            self.consumer.pause(&assigned)?;
        }
        Ok(())
    }

    /// Resumes fetching from every assigned partition, from the record after
    /// the last one polled (held ones included).
    pub fn resume(&self) -> Result<(), SourceError> {
        self.consumer
            .context()
            .paused
            .store(false, Ordering::SeqCst);
        let assigned = self.consumer.assignment()?;
        if assigned.count() > 0 {
            self.consumer.resume(&assigned)?;
        }
        Ok(())
    }

    /// Commits, for each partition, the offset after the last record done.
    pub fn commit(
        &self,
        next_offsets: &super::NextOffsets,
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
    pub fn retain_assigned(&self, offsets: &mut super::NextOffsets) {
        let assigned: std::collections::BTreeSet<TopicPartition> = match self.consumer.assignment()
        {
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

/// A consumed message as the transform's input record.
fn kafka_record(m: &rdkafka::message::BorrowedMessage<'_>) -> KafkaRecord {
    KafkaRecord {
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
    }
}
