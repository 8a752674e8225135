//! Which failed writes are worth retrying. The policy (how often, how long
//! to wait) and the loop are `common::retry`'s; this says what a Milvus
//! answer means.
//!
//! Milvus answers almost every error with HTTP 200 and a body `code`
//! (pkg/util/merr/errors.go; the same numbers in 2.3, 2.4 and 2.5), so a
//! failure is classified from both the HTTP status and the body code.

use super::error::{FailureClass, WriteError};
use crate::common::retry::{Retryable, retryable_status};
use std::time::Duration;

/// Body codes worth a retry: 1 not ready, 2 unavailable, 4 request limit /
/// queue full, 8 rate limit, 12 resource insufficient, 103 not fully loaded,
/// 106 collection recovering, 1807 REST limiter, 10001 timeout.
const RETRYABLE_CODES: &[i64] = &[1, 2, 4, 8, 12, 103, 106, 1807, 10001];

/// Body codes that say the batch itself is wrong: 1100 invalid parameter,
/// 1101 missing parameter, 1102 parameter too large, 1700 field not found,
/// 1801 not JSON, 1802 missing parameters, 1804 bad insert data, 1806 bad
/// primary key.
const REJECTED_CODES: &[i64] = &[1100, 1101, 1102, 1700, 1801, 1802, 1804, 1806];

/// Classifies a failed answer from its HTTP status and body code (`None`
/// when the body had none).
///
/// HTTP 401/403 and codes 1400/1401/1800 (auth), 100 (collection gone), 800
/// (database gone), 3/7/9 (memory, disk, quota) and anything unknown are
/// fatal: the pipeline stops with nothing committed rather than dropping
/// data on a code it does not understand.
pub fn classify(http_status: u16, code: Option<i64>) -> FailureClass {
    match http_status {
        401 | 403 => return FailureClass::Fatal,
        s if retryable_status(s) => return FailureClass::Retryable,
        // A gateway refusing the body's size.
        413 => return FailureClass::Rejected,
        _ => {}
    }
    match code {
        Some(c) if RETRYABLE_CODES.contains(&c) => FailureClass::Retryable,
        Some(c) if REJECTED_CODES.contains(&c) => FailureClass::Rejected,
        _ => FailureClass::Fatal,
    }
}

impl Retryable for WriteError {
    fn is_retryable(&self) -> bool {
        matches!(self, WriteError::Retryable { .. })
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            WriteError::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::retry::RetryPolicy;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            forever: false,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            jitter: 0.5,
        }
    }

    fn retryable() -> WriteError {
        WriteError::Retryable {
            reason: "busy".into(),
            retry_after: None,
        }
    }

    #[test]
    fn classification_table() {
        use FailureClass::*;
        let cases: &[(u16, Option<i64>, FailureClass)] = &[
            // Busy / not ready / limited (merr retriable codes, REST limiter).
            (200, Some(1), Retryable),
            (200, Some(2), Retryable),
            (200, Some(4), Retryable),
            (200, Some(8), Retryable),
            (200, Some(12), Retryable),
            (200, Some(1807), Retryable),
            (200, Some(10001), Retryable),
            (408, Some(10001), Retryable),
            (408, None, Retryable),
            (429, None, Retryable),
            (500, Some(500), Retryable),
            (502, None, Retryable),
            (503, None, Retryable),
            // The batch is wrong.
            (200, Some(1804), Rejected),
            (200, Some(1100), Rejected),
            (200, Some(1801), Rejected),
            (200, Some(1802), Rejected),
            (413, None, Rejected),
            // Someone must act.
            (401, Some(1800), Fatal),
            (200, Some(1800), Fatal),
            (403, Some(1401), Fatal),
            (200, Some(100), Fatal),
            (200, Some(800), Fatal),
            (200, Some(9), Fatal),
            (200, Some(65535), Fatal),
            (404, None, Fatal),
        ];
        for (status, code, want) in cases {
            assert_eq!(classify(*status, *code), *want, "{status} {code:?}");
        }
    }

    #[test]
    fn only_retryable_errors_are_retried() {
        let p = policy();
        assert!(p.should_retry(&retryable()));
        let rejected = WriteError::Rejected {
            code: 1804,
            message: "bad".into(),
        };
        let fatal = WriteError::Fatal {
            reason: "auth".into(),
        };
        assert!(!p.should_retry(&rejected));
        assert!(!p.should_retry(&fatal));
        assert_eq!(p.next_delay(1, &rejected), None);
        assert_eq!(p.next_delay(1, &fatal), None);
        assert!(p.next_delay(4, &retryable()).is_some());
        assert_eq!(p.next_delay(5, &retryable()), None);
        let forever = RetryPolicy {
            forever: true,
            ..policy()
        };
        assert!(forever.next_delay(1_000_000, &retryable()).is_some());
        assert_eq!(forever.next_delay(1_000_000, &rejected), None);
        assert_eq!(forever.next_delay(1, &fatal), None);
    }

    #[test]
    fn exponential_backoff_with_cap_and_jitter() {
        let p = policy();
        let ms = |attempt, unit| p.backoff_with(attempt, unit).as_millis();
        assert_eq!(ms(1, 0.0), 100);
        assert_eq!(ms(2, 0.0), 200);
        assert_eq!(ms(3, 0.0), 400);
        assert_eq!(ms(4, 0.0), 800);
        assert_eq!(ms(5, 0.0), 1000);
        assert_eq!(ms(60, 0.0), 1000);
        assert_eq!(ms(2, 1.0), 100); // half of it is random
        assert_eq!(ms(2, 0.5), 150);
        for attempt in 1..10 {
            let d = p.backoff(attempt);
            assert!(d <= p.max_backoff && d >= p.backoff_with(attempt, 1.0));
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let p = RetryPolicy {
            jitter: 0.0,
            ..policy()
        };
        let err = WriteError::Retryable {
            reason: "429".into(),
            retry_after: Some(Duration::from_millis(700)),
        };
        assert_eq!(p.next_delay(1, &err), Some(Duration::from_millis(700)));
        let err = WriteError::Retryable {
            reason: "429".into(),
            retry_after: Some(Duration::from_secs(60)),
        };
        assert_eq!(p.next_delay(1, &err), Some(Duration::from_millis(1000)));
    }
}
