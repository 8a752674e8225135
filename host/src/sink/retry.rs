//! Which failed writes are worth retrying. The policy (how often, how long
//! to wait) and the loop are `common::retry`'s; this says what a Milvus
//! answer means.
//!
//! Milvus answers almost every error with HTTP 200 and a body `code`
//! (pkg/util/merr/errors.go; the same numbers in 2.3, 2.4 and 2.5), so a
//! failure is classified from both the HTTP status and the body code.

use super::error::{AfterFew, FailureClass, WriteError};
use crate::common::retry::{Retryable, retryable_status};
use std::time::Duration;

/// Body codes worth a retry: 1 not ready, 2 unavailable, 4 request limit /
/// queue full, 8 rate limit, 12 resource insufficient, 103 not fully loaded,
/// 106 collection recovering, 1807 REST limiter, 10001 timeout.
const RETRYABLE_CODES: &[i64] = &[1, 2, 4, 8, 12, 103, 106, 1807, 10001];

/// Body codes that say the batch itself is wrong: 1100 invalid parameter,
/// 1101 missing parameter, 1102 parameter too large, 1700 field not found,
/// 1801 not JSON, 1802 missing parameters, 1804 bad insert data. (1806 is
/// sent on insert/upsert only after the write succeeded, when the id type is
/// neither int nor string, v2.5.27 H/handler_v2.go:997-1002 and 1071-1076:
/// re-sending would write twice, so it is fatal.)
const REJECTED_CODES: &[i64] = &[1100, 1101, 1102, 1700, 1801, 1802, 1804];

/// Body codes worth a few attempts, then fatal: 65535, which merr gives any
/// error that is not one of its own, e.g. a failed WAL append (v2.5.27
/// pkg/util/merr/utils.go:37-56, internal/proxy/task_insert.go:289-324), and
/// 2400, a function failed (v2.6.20 pkg/util/merr/errors.go:297).
const RETRY_THEN_STOP_CODES: &[i64] = &[65535, 2400];

/// Classifies a failed answer from its HTTP status and body code (`None`
/// when the body had none).
///
/// HTTP 401/403 and codes 1400/1401/1800 (auth), 100 (collection gone), 800
/// (database gone), 3/7/9 (memory, disk, quota) and anything unknown are
/// fatal: the pipeline stops with nothing committed rather than dropping
/// data on a code it does not understand.
pub fn classify(http_status: u16, code: Option<i64>) -> FailureClass {
    match (http_status, code) {
        // A handler panic (the `panicChan` branch: v2.4.23
        // H/timeout_middleware.go:174, v2.5.27 :194, v2.6.20 :280, v3.0.0
        // :291): the same rows panic again.
        (500, Some(500)) => return FailureClass::RetryThenHalve,
        (_, Some(c)) if RETRY_THEN_STOP_CODES.contains(&c) => {
            return FailureClass::RetryThenStop;
        }
        _ => {}
    }
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

/// What a retryable answer becomes after a few attempts in a row: a
/// timeout (HTTP 408 or code 10001; v2.6.20 H/timeout_middleware.go:300-309)
/// halves a batch of several rows, since a batch may be too slow by nature
/// (a 2.6 text-embedding function calls its provider inside insert,
/// internal/proxy/task_upsert.go:1635); see [`classify`] for the rest.
pub fn after_few(http_status: u16, code: Option<i64>) -> Option<AfterFew> {
    match classify(http_status, code) {
        FailureClass::RetryThenHalve => Some(AfterFew::Halve {
            code: code.unwrap_or(i64::from(http_status)),
        }),
        FailureClass::RetryThenStop => Some(AfterFew::Stop),
        _ if http_status == 408 || code == Some(10001) => Some(AfterFew::HalveTimeout {
            code: code.unwrap_or(408),
        }),
        _ => None,
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
            after_few: None,
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
            (500, None, Retryable),
            // A handler panic: a few more attempts, then halved.
            (500, Some(500), RetryThenHalve),
            // Unclassified internal error, function failed: a few, then stop.
            (200, Some(65535), RetryThenStop),
            (200, Some(2400), RetryThenStop),
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
            (200, Some(1806), Fatal),
            (200, Some(80001), Fatal),
            (404, None, Fatal),
        ];
        for (status, code, want) in cases {
            assert_eq!(classify(*status, *code), *want, "{status} {code:?}");
        }
    }

    #[test]
    fn what_a_few_failed_attempts_turn_into() {
        assert_eq!(
            after_few(500, Some(500)),
            Some(AfterFew::Halve { code: 500 })
        );
        assert_eq!(after_few(200, Some(65535)), Some(AfterFew::Stop));
        assert_eq!(after_few(200, Some(2400)), Some(AfterFew::Stop));
        assert_eq!(
            after_few(408, Some(10001)),
            Some(AfterFew::HalveTimeout { code: 10001 })
        );
        assert_eq!(
            after_few(408, None),
            Some(AfterFew::HalveTimeout { code: 408 })
        );
        // Busy, unavailable, rate-limited: as the policy says (forever by default).
        for (status, code) in [(200, Some(2)), (200, Some(1807)), (503, None), (500, None)] {
            assert_eq!(after_few(status, code), None, "{status} {code:?}");
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
            after_few: None,
        };
        assert_eq!(p.next_delay(1, &err), Some(Duration::from_millis(700)));
        let err = WriteError::Retryable {
            reason: "429".into(),
            retry_after: Some(Duration::from_secs(60)),
            after_few: None,
        };
        assert_eq!(p.next_delay(1, &err), Some(Duration::from_millis(1000)));
    }
}
