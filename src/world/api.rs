//! What the loop drives ([`Core`]) and what it hands out while it runs: a
//! [`StopHandle`] for other threads and [`Stats`] for tests and benchmarks.

use mio::Waker;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What the loop drives (the one trait every driver of the core shares).
pub use crate::core::driver::Core;

/// Ends a run from another thread (an embedding or a test): the core gets
/// `Signal { Stop }` as if SIGTERM had arrived.
#[derive(Clone)]
pub struct StopHandle {
    pub(super) flag: Arc<AtomicBool>,
    pub(super) waker: Arc<Waker>,
}

impl StopHandle {
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

/// Counters a test or benchmark can read while the loop runs.
#[derive(Debug, Default)]
pub struct Stats {
    /// Returns from `epoll_wait` (an idle loop with no timer must not have any).
    pub wakeups: AtomicU64,
    /// Returns from `epoll_wait` with no ready source (a timeout, or EINTR).
    pub empty_wakeups: AtomicU64,
    /// Inputs handed to the core.
    pub inputs: AtomicU64,
}
