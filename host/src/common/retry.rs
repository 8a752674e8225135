//! How often and how patiently a failed call is tried again, and the one
//! loop that does it: the sink's writes and the OpenAI embedder's requests
//! both go through [`retry`].
//!
//! The policy knows nothing of the calls: a failure says whether it is worth
//! another attempt through [`Retryable`]. The HTTP rule both stages share
//! (408, 429 and 5xx are worth another attempt) is [`retryable_status`].

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::ops::ControlFlow;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// HTTP 408 (timeout), 429 (too many requests) and 5xx: the server may
/// answer differently later.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// A failure the retry loop can judge.
pub trait Retryable {
    /// Whether another attempt may succeed.
    fn is_retryable(&self) -> bool;

    /// The wait the server asked for (HTTP `Retry-After`), if any.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// How often and how patiently a call is retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retry a retryable failure without limit (`max_attempts` unused).
    pub forever: bool,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait after the first failed attempt.
    pub initial_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// The fraction (0 to 1) of each wait that is random, so that callers do
    /// not retry in step.
    pub jitter: f64,
}

impl RetryPolicy {
    /// The policy a stage's `retry_*` keys describe (milliseconds).
    pub fn from_keys(
        forever: bool,
        max_attempts: u32,
        initial_backoff_ms: u64,
        max_backoff_ms: u64,
        jitter: f64,
    ) -> Self {
        RetryPolicy {
            forever,
            max_attempts,
            initial_backoff: Duration::from_millis(initial_backoff_ms),
            max_backoff: Duration::from_millis(max_backoff_ms),
            jitter,
        }
    }

    /// Whether the error is worth another attempt at all.
    pub fn should_retry<E: Retryable>(&self, err: &E) -> bool {
        err.is_retryable()
    }

    /// After attempt number `attempt` (1-based) failed with `err`: how long
    /// to wait before the next one (at least what the server asked for, up
    /// to `max_backoff`), or `None` to give up.
    pub fn next_delay<E: Retryable>(&self, attempt: u32, err: &E) -> Option<Duration> {
        if !self.should_retry(err) || (!self.forever && attempt >= self.max_attempts) {
            return None;
        }
        let delay = self.backoff(attempt);
        match err.retry_after() {
            Some(after) => Some(delay.max(after.min(self.max_backoff))),
            None => Some(delay),
        }
    }

    /// The wait after attempt number `attempt` (1-based) failed: exponential
    /// from `initial_backoff`, capped at `max_backoff`, less a random part
    /// of up to `jitter` of it.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.backoff_with(attempt, random_unit())
    }

    /// [`RetryPolicy::backoff`] with the random draw `unit` in `[0, 1)` given.
    pub fn backoff_with(&self, attempt: u32, unit: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        let keep = 1.0 - self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        base.mul_f64(keep)
    }
}

/// A random number in `[0, 1)`, from the standard library's per-process
/// random hash keys (no `rand` dependency for one draw per retry).
fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// A failed attempt [`retry`] is about to try again.
#[derive(Debug)]
pub struct Retry<'a, E> {
    /// The attempt that failed, 1-based.
    pub attempt: u32,
    /// The wait before the next attempt.
    pub delay: Duration,
    /// Why it failed.
    pub error: &'a E,
    /// When the first retried failure of this call happened.
    pub failing_since: Instant,
}

/// A call [`retry`] got through.
#[derive(Debug)]
pub struct Succeeded<T> {
    /// What the successful attempt returned.
    pub value: T,
    /// Attempts made, the successful one included.
    pub attempts: u32,
    /// When the first retried failure happened; `None` when the first attempt succeeded.
    pub failing_since: Option<Instant>,
}

/// A call [`retry`] gave up on.
#[derive(Debug)]
pub struct GaveUp<E> {
    /// The last attempt's failure.
    pub error: E,
    /// Attempts made.
    pub attempts: u32,
}

/// Calls `attempt` (with the 1-based attempt number) until it succeeds, its
/// failure is not [`Retryable`], the policy gives up, or `before_retry`
/// breaks; between attempts, `before_retry` hears of the failure (to log or
/// count it) and `sleep` waits out the policy's delay.
pub async fn retry<T, E, A, AF, S, SF>(
    policy: &RetryPolicy,
    mut attempt: A,
    mut before_retry: impl FnMut(&Retry<'_, E>) -> ControlFlow<()>,
    sleep: S,
) -> Result<Succeeded<T>, GaveUp<E>>
where
    E: Retryable,
    A: FnMut(u32) -> AF,
    AF: Future<Output = Result<T, E>>,
    S: Fn(Duration) -> SF,
    SF: Future<Output = ()>,
{
    let mut n = 1;
    let mut failing_since = None;
    loop {
        let error = match attempt(n).await {
            Ok(value) => {
                return Ok(Succeeded {
                    value,
                    attempts: n,
                    failing_since,
                });
            }
            Err(error) => error,
        };
        let Some(delay) = policy.next_delay(n, &error) else {
            return Err(GaveUp { error, attempts: n });
        };
        let retry = Retry {
            attempt: n,
            delay,
            error: &error,
            failing_since: *failing_since.get_or_insert_with(Instant::now),
        };
        if before_retry(&retry).is_break() {
            return Err(GaveUp { error, attempts: n });
        }
        sleep(delay).await;
        n += 1;
    }
}

/// Runs `future` to its end on this thread. For futures that never wait
/// for a wake-up, such as [`retry`] over blocking calls with a blocking
/// sleep; any other is polled again until it is ready.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[derive(Debug, PartialEq)]
    enum Fail {
        Busy(Option<Duration>),
        Bad,
    }

    impl Retryable for Fail {
        fn is_retryable(&self) -> bool {
            matches!(self, Fail::Busy(_))
        }
        fn retry_after(&self) -> Option<Duration> {
            match self {
                Fail::Busy(after) => *after,
                Fail::Bad => None,
            }
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            forever: false,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            jitter: 0.0,
        }
    }

    #[test]
    fn the_http_rule() {
        for s in [408, 429, 500, 502, 503, 599] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 413, 600] {
            assert!(!retryable_status(s), "{s}");
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let p = policy();
        let after = |ms| Fail::Busy(Some(Duration::from_millis(ms)));
        assert_eq!(
            p.next_delay(1, &after(700)),
            Some(Duration::from_millis(700))
        );
        assert_eq!(
            p.next_delay(1, &after(60_000)),
            Some(Duration::from_millis(1000))
        );
        assert_eq!(p.next_delay(1, &Fail::Bad), None);
        assert_eq!(p.next_delay(5, &Fail::Busy(None)), None);
    }

    #[test]
    fn the_loop_retries_until_success_and_reports_each_retry() {
        let calls = Cell::new(0);
        let mut seen = vec![];
        let slept = Cell::new(Duration::ZERO);
        let out = block_on(retry(
            &policy(),
            |n| {
                calls.set(n);
                async move {
                    if n < 3 {
                        Err(Fail::Busy(None))
                    } else {
                        Ok(n * 10)
                    }
                }
            },
            |r| {
                seen.push((r.attempt, r.delay));
                ControlFlow::Continue(())
            },
            |d| {
                slept.set(slept.get() + d);
                async {}
            },
        ))
        .unwrap();
        assert_eq!((out.value, out.attempts), (30, 3));
        assert!(out.failing_since.is_some());
        assert_eq!(calls.get(), 3);
        let ms = Duration::from_millis;
        assert_eq!(seen, vec![(1, ms(100)), (2, ms(200))]);
        assert_eq!(slept.get(), ms(300));
    }

    #[test]
    fn the_loop_gives_up_on_a_bad_call_at_the_limit_or_when_told() {
        let run = |fail: fn() -> Fail, stop_at: u32| {
            block_on(retry(
                &policy(),
                |_| async move { Err::<(), _>(fail()) },
                |r| {
                    if r.attempt == stop_at {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
                |_| async {},
            ))
            .unwrap_err()
        };
        let bad = run(|| Fail::Bad, 0);
        assert_eq!((bad.error, bad.attempts), (Fail::Bad, 1));
        let busy = run(|| Fail::Busy(None), 0);
        assert_eq!(busy.attempts, 5);
        assert_eq!(run(|| Fail::Busy(None), 2).attempts, 2);
        let first = block_on(retry(
            &policy(),
            |_| async { Ok::<_, Fail>(1) },
            |_| ControlFlow::Continue(()),
            |_| async {},
        ))
        .unwrap();
        assert_eq!((first.attempts, first.failing_since), (1, None));
    }
}
