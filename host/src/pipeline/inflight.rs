//! A cap on bytes in flight between the preparer and the writer.
//!
//! The preparer takes bytes for a chunk before handing it over; while the cap
//! is reached it pauses consumption (polling goes on, so the consumer keeps
//! its place in the group) until the writer gives bytes back, once the chunk
//! is written and committed. Memory held by chunks waiting for a slow or
//! unreachable Milvus is so bounded by the cap. [`PauseLog`] reports the
//! pauses, rate-limited.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};
use tracing::info;

/// A byte budget shared by the preparer (which takes) and the writer (which gives back).
#[derive(Debug)]
pub struct InFlight {
    cap: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

impl InFlight {
    /// A budget of `cap` bytes.
    pub fn new(cap: u64) -> Self {
        InFlight {
            cap,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// The cap, in bytes.
    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// The bytes taken and not given back.
    pub fn used(&self) -> u64 {
        *self.used.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `bytes` (at most the cap, so a single chunk larger than the cap
    /// still goes through alone), waiting up to `wait` while that would pass
    /// the cap. Returns the bytes taken (to give back), or `None` when the
    /// cap was still reached after `wait`. `gauge` follows the bytes in use.
    pub fn acquire(&self, bytes: u64, wait: Duration, gauge: &AtomicU64) -> Option<u64> {
        let bytes = bytes.min(self.cap);
        let deadline = Instant::now() + wait;
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used + bytes > self.cap {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            used = self
                .freed
                .wait_timeout(used, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *used += bytes;
        gauge.store(*used, Ordering::Relaxed);
        Some(bytes)
    }

    /// Gives back bytes taken by [`InFlight::acquire`].
    pub fn release(&self, bytes: u64, gauge: &AtomicU64) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        *used = used.saturating_sub(bytes);
        gauge.store(*used, Ordering::Relaxed);
        self.freed.notify_all();
    }
}

/// How often a pause at the cap is logged: a slow Milvus may pause
/// consumption at every chunk.
const PAUSE_LOG_EVERY: Duration = Duration::from_secs(10);

/// Pauses of consumption at the cap: the start of a pause is logged unless
/// one was logged within [`PAUSE_LOG_EVERY`] (the line then counts the pauses
/// not logged), and the end of each pause whose start was logged or which
/// lasted [`PAUSE_LOG_EVERY`] or more.
#[derive(Debug, Default)]
pub struct PauseLog {
    /// The pause going on, and whether its start was logged.
    current: Option<(Instant, bool)>,
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl PauseLog {
    /// Consumption paused with `used` of `cap` bytes in flight and a chunk of
    /// `waiting` bytes not handed over; whether it was logged.
    pub fn paused(&mut self, used: u64, cap: u64, waiting: u64) -> bool {
        let now = Instant::now();
        let log = self
            .last_logged
            .is_none_or(|at| now.duration_since(at) >= PAUSE_LOG_EVERY);
        self.current = Some((now, log));
        if !log {
            self.unlogged += 1;
            return false;
        }
        info!(
            in_flight_bytes = used,
            cap_bytes = cap,
            waiting_bytes = waiting,
            pauses_not_logged = self.unlogged,
            "In-flight cap reached: consumption paused, polling goes on."
        );
        self.last_logged = Some(now);
        self.unlogged = 0;
        true
    }

    /// Consumption resumed with `used` of `cap` bytes in flight and `held`
    /// records held for the next batch; whether it was logged.
    pub fn resumed(&mut self, used: u64, cap: u64, held: usize) -> bool {
        let Some((since, logged)) = self.current.take() else {
            return false;
        };
        let logged = logged || since.elapsed() >= PAUSE_LOG_EVERY;
        if logged {
            info!(
                in_flight_bytes = used,
                cap_bytes = cap,
                paused_ms = since.elapsed().as_millis() as u64,
                held_records = held,
                "Consumption resumed."
            );
        }
        logged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn blocks_at_the_cap_until_bytes_are_given_back() {
        let budget = Arc::new(InFlight::new(100));
        let gauge = Arc::new(AtomicU64::new(0));
        assert_eq!(budget.acquire(60, Duration::ZERO, &gauge), Some(60));
        assert_eq!(gauge.load(Ordering::Relaxed), 60);
        assert_eq!((budget.used(), budget.cap()), (60, 100));
        // Larger than the cap: clamped, so it can go through alone.
        let taker = {
            let (budget, gauge) = (budget.clone(), gauge.clone());
            std::thread::spawn(move || budget.acquire(500, LONG, &gauge))
        };
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !taker.is_finished(),
            "must wait while 60 of 100 bytes are in flight"
        );
        budget.release(60, &gauge);
        assert_eq!(taker.join().unwrap(), Some(100));
        assert_eq!(gauge.load(Ordering::Relaxed), 100);
        // At the cap, the wait ends after the time given.
        let started = Instant::now();
        assert_eq!(budget.acquire(1, Duration::from_millis(200), &gauge), None);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(budget.acquire(1, Duration::ZERO, &gauge), None);
        assert_eq!(budget.used(), 100);
    }

    #[test]
    fn pauses_are_logged_at_most_every_interval_and_resumes_with_them() {
        let mut log = PauseLog::default();
        assert!(!log.resumed(0, 100, 0), "no pause to end");
        assert!(log.paused(100, 100, 40));
        assert!(log.resumed(0, 100, 3));
        // A second pause soon after: counted, not logged, and nor is its end.
        assert!(!log.paused(100, 100, 40));
        assert!(!log.resumed(0, 100, 0));
        assert_eq!(log.unlogged, 1);
        // A long pause's end is logged even when its start was not.
        assert!(!log.paused(100, 100, 40));
        log.current = Some((Instant::now() - PAUSE_LOG_EVERY, false));
        assert!(log.resumed(0, 100, 0));
        assert_eq!(log.unlogged, 2);
        // Once the interval has passed, the next pause is logged again.
        log.last_logged = Some(Instant::now() - PAUSE_LOG_EVERY);
        assert!(log.paused(100, 100, 40));
        assert_eq!(log.unlogged, 0);
        assert!(log.resumed(10, 100, 0));
    }
}
