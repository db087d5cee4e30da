//! What the loop drives ([`Core`]) and what it hands out while it runs: a
//! [`StopHandle`] for other threads and [`Stats`] for tests and benchmarks.

use crate::core::Reactor;
use crate::core::action::Action;
use crate::core::event::Record;
use crate::core::input::Input;
use crate::time::Instant;
use mio::Waker;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What the loop drives: the reactor, or a scripted stand-in in tests.
pub trait Core {
    fn handle(&mut self, now: Instant, input: Input);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_action(&mut self) -> Option<Action>;
    fn poll_record(&mut self) -> Option<Record>;
    fn poll_timeout(&self) -> Option<Instant>;
}

impl Core for Reactor {
    fn handle(&mut self, now: Instant, input: Input) {
        Reactor::handle(self, now, input)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Reactor::handle_timeout(self, now)
    }
    fn poll_action(&mut self) -> Option<Action> {
        Reactor::poll_action(self)
    }
    fn poll_record(&mut self) -> Option<Record> {
        Reactor::poll_record(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Reactor::poll_timeout(self)
    }
}

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
