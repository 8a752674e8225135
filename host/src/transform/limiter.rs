//! The per-instance memory cap. Going past it traps the call with
//! [`MemoryExceeded`], which the worker finds again in the error to tell a
//! memory fault from other traps.

/// The instance asked for more linear memory than its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the transform exceeded its memory limit of {} MiB", self.limit / (1024 * 1024))]
pub(crate) struct MemoryExceeded {
    /// The limit, in bytes.
    pub limit: usize,
}

/// Enforces the per-instance memory limit and keeps the largest size granted.
pub(crate) struct MemoryLimiter {
    limit: usize,
    /// The largest linear memory granted so far, in bytes: the worker
    /// rebuilds an instance that has grown past half its limit.
    pub largest: usize,
}

impl MemoryLimiter {
    /// A limiter for `limit` bytes.
    pub fn new(limit: usize) -> MemoryLimiter {
        MemoryLimiter { limit, largest: 0 }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            return Err(MemoryExceeded { limit: self.limit }.into());
        }
        self.largest = self.largest.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
