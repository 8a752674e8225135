//! A cap on bytes in flight between the preparer and the writer.
//!
//! The preparer takes bytes for a chunk before handing it over and blocks
//! (consumption pauses) while the cap is reached; the writer gives them back
//! once the chunk is written and committed. Memory held by chunks waiting for
//! a slow or unreachable Milvus is so bounded by the cap.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

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

    /// Takes `bytes` (at most the cap, so a single chunk larger than the cap
    /// still goes through alone), waiting while that would pass the cap.
    /// Returns the bytes taken (to give back), or `None` when `stop` was set
    /// while waiting. `gauge` follows the bytes in use.
    pub fn acquire(&self, bytes: u64, stop: &AtomicBool, gauge: &AtomicU64) -> Option<u64> {
        let bytes = bytes.min(self.cap);
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used + bytes > self.cap {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            used = self
                .freed
                .wait_timeout(used, Duration::from_millis(100))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn blocks_at_the_cap_until_bytes_are_given_back() {
        let budget = Arc::new(InFlight::new(100));
        let (stop, gauge) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        assert_eq!(budget.acquire(60, &stop, &gauge), Some(60));
        assert_eq!(gauge.load(Ordering::Relaxed), 60);
        // Larger than the cap: clamped, so it can go through alone.
        let taker = {
            let (budget, stop, gauge) = (budget.clone(), stop.clone(), gauge.clone());
            std::thread::spawn(move || budget.acquire(500, &stop, &gauge))
        };
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !taker.is_finished(),
            "must wait while 60 of 100 bytes are in flight"
        );
        budget.release(60, &gauge);
        assert_eq!(taker.join().unwrap(), Some(100));
        assert_eq!(gauge.load(Ordering::Relaxed), 100);
        // A stop ends the wait.
        stop.store(true, Ordering::SeqCst);
        assert_eq!(budget.acquire(1, &stop, &gauge), None);
    }
}
