//! Which Kafka errors a running pipeline rides out while librdkafka
//! reconnects (a broker restart, a coordinator move), and a rate-limited log
//! of such an outage.

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How often an ongoing outage is logged.
const OUTAGE_LOG_EVERY: Duration = Duration::from_secs(10);

/// Whether librdkafka recovers from `code` by itself (reconnecting, looking
/// up the coordinator or leader again, rejoining the group).
pub fn is_transient_code(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::Resolve
            | C::BrokerDestroy
            | C::OperationTimedOut
            | C::TimedOutQueue
            | C::Retry
            | C::RequestTimedOut
            | C::NetworkException
            | C::CoordinatorLoadInProgress
            | C::CoordinatorNotAvailable
            | C::NotCoordinator
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::PreferredLeaderNotAvailable
            | C::FencedLeaderEpoch
            | C::UnknownLeaderEpoch
            | C::OffsetNotAvailable
            | C::KafkaStorageError
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::RebalanceInProgress
            | C::UnknownMemberId
            | C::IllegalGeneration
    )
}

/// Whether a consumer `poll` error is transient: fatal errors (librdkafka's
/// `MessageConsumptionFatal`) and everything not listed in
/// [`is_transient_code`] end the run.
pub fn is_transient_poll_error(error: &KafkaError) -> bool {
    match error {
        KafkaError::MessageConsumption(code) | KafkaError::Global(code) => is_transient_code(*code),
        _ => false,
    }
}

/// An outage in progress: logged when it starts, then at most every
/// [`OUTAGE_LOG_EVERY`], and once more when records flow again.
#[derive(Debug, Default)]
pub struct OutageLog {
    started: Option<Instant>,
    last_logged: Option<Instant>,
    errors: u64,
    unlogged: u64,
}

impl OutageLog {
    /// Records a transient error; logs it unless one was logged recently.
    pub fn error(&mut self, error: &KafkaError) {
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        self.errors += 1;
        self.unlogged += 1;
        if self
            .last_logged
            .is_some_and(|at| now.duration_since(at) < OUTAGE_LOG_EVERY)
        {
            return;
        }
        warn!(
            error = %error,
            errors = self.unlogged,
            outage_seconds = now.duration_since(started).as_secs(),
            "Kafka broker unavailable; waiting while librdkafka reconnects"
        );
        self.last_logged = Some(now);
        self.unlogged = 0;
    }

    /// Records that records flow again; logs the end of an outage.
    pub fn recovered(&mut self) {
        if let Some(started) = self.started.take() {
            info!(
                errors = self.errors,
                seconds_since_first_error = started.elapsed().as_secs(),
                "Kafka records flowing again after broker errors"
            );
            *self = OutageLog::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_and_coordinator_errors_are_transient() {
        for code in [
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::CoordinatorNotAvailable,
            RDKafkaErrorCode::NotCoordinator,
            RDKafkaErrorCode::NotLeaderForPartition,
        ] {
            assert!(
                is_transient_poll_error(&KafkaError::MessageConsumption(code)),
                "{code:?}"
            );
        }
    }

    #[test]
    fn fatal_and_unknown_errors_end_the_run() {
        for error in [
            // librdkafka's fatal errors, whatever the code.
            KafkaError::MessageConsumptionFatal(RDKafkaErrorCode::BrokerTransportFailure),
            KafkaError::MessageConsumption(RDKafkaErrorCode::Fatal),
            KafkaError::MessageConsumption(RDKafkaErrorCode::TopicAuthorizationFailed),
            KafkaError::MessageConsumption(RDKafkaErrorCode::GroupAuthorizationFailed),
            KafkaError::MessageConsumption(RDKafkaErrorCode::SaslAuthenticationFailed),
            KafkaError::MessageConsumption(RDKafkaErrorCode::UnknownTopicOrPartition),
            KafkaError::MessageConsumption(RDKafkaErrorCode::InvalidArgument),
        ] {
            assert!(!is_transient_poll_error(&error), "{error:?}");
        }
    }

    #[test]
    fn an_outage_starts_with_an_error_and_ends_when_records_flow() {
        let mut log = OutageLog::default();
        log.recovered();
        assert!(log.started.is_none());
        let e = KafkaError::MessageConsumption(RDKafkaErrorCode::AllBrokersDown);
        log.error(&e);
        log.error(&e);
        assert!(log.started.is_some());
        assert_eq!(log.errors, 2);
        // The second error came within the interval: not logged yet.
        assert_eq!(log.unlogged, 1);
        log.recovered();
        assert!(log.started.is_none());
        assert_eq!(log.errors, 0);
    }
}
