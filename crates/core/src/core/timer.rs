//! Timers are data: each pending timer is a key with a deadline, the earliest deadline
//! is the world's poll timeout, and nothing ever sleeps (quinn's `TimerTable`).

use super::action::EffectId;
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timer {
    /// No new block device for the quiet period: decide on the cache.
    SettleQuiet,
    /// Settling took too long: decide anyway.
    SettleDeadline,
    /// The cache's new partition did not show up after `AddPartition`.
    PartitionWait,
    /// The NIC (by ifindex) has shown an unconfirmed carrier for `carrier_confirm`.
    CarrierConfirm(u32),
    /// A DHCP client on this NIC has had no lease for `give_up`.
    DhcpGiveUp(String),
    /// Restart the DHCP client of this NIC after its backoff.
    DhcpRestart(String),
    /// The gate opens by timeout.
    GateDeadline,
    /// Start the next round of reachability attempts.
    GateRetry,
    /// A reachability attempt took longer than `attempt_timeout`.
    ProbeTimeout(EffectId),
    /// Restart a service after its backoff.
    ServiceRestart(String),
    /// Children had their chance to stop: shut down now.
    ShutdownGrace,
    /// A blocking effect (probe, table write, mkfs, mount, modprobe, …) has not
    /// answered within its deadline (see [`deadline`](super::deadline)).
    EffectDeadline(EffectId),
    /// Services have waited `cache.hold_services_max` for the cache since the gate
    /// opened: they start anyway.
    CacheHold,
}

/// Every armed timer by key, and the same set by deadline: the earliest deadline is
/// asked after every input, so it is the first of an ordered set rather than a scan
/// of every timer (thousands during a coldplug: one deadline per effect in flight).
#[derive(Clone, Debug, Default)]
pub struct TimerTable {
    deadlines: BTreeMap<Timer, Instant>,
    by_time: BTreeSet<(Instant, Timer)>,
}

impl TimerTable {
    /// Arm (or re-arm) `timer` for `at`.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(old) = self.deadlines.insert(timer.clone(), at) {
            self.by_time.remove(&(old, timer.clone()));
        }
        self.by_time.insert((at, timer));
    }
    pub fn cancel(&mut self, timer: &Timer) {
        if let Some(at) = self.deadlines.remove(timer) {
            self.by_time.remove(&(at, timer.clone()));
        }
    }
    pub fn is_armed(&self, timer: &Timer) -> bool {
        self.deadlines.contains_key(timer)
    }
    pub fn deadline(&self, timer: &Timer) -> Option<Instant> {
        self.deadlines.get(timer).copied()
    }
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }
    /// Remove and return the timers due at `now`, earliest first (ties in key order).
    pub fn take_due(&mut self, now: Instant) -> Vec<Timer> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.by_time.first()
            && *at <= now
        {
            if let Some((_, timer)) = self.by_time.pop_first() {
                self.deadlines.remove(&timer);
                due.push(timer);
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_timers_come_out_in_deadline_order() {
        let mut t = TimerTable::default();
        t.set(Timer::GateDeadline, Instant::from_secs(60));
        t.set(Timer::SettleQuiet, Instant::from_secs(2));
        t.set(Timer::GateRetry, Instant::from_secs(1));
        assert_eq!(t.next_deadline(), Some(Instant::from_secs(1)));
        assert_eq!(
            t.take_due(Instant::from_secs(2)),
            vec![Timer::GateRetry, Timer::SettleQuiet]
        );
        assert_eq!(t.next_deadline(), Some(Instant::from_secs(60)));
        t.set(Timer::GateDeadline, Instant::from_secs(61));
        assert!(t.take_due(Instant::from_secs(60)).is_empty());
    }

    #[test]
    fn rearmed_and_cancelled_timers_leave_no_stale_deadline() {
        let mut t = TimerTable::default();
        t.set(Timer::SettleQuiet, Instant::from_secs(1));
        t.set(Timer::SettleQuiet, Instant::from_secs(5));
        t.set(Timer::EffectDeadline(EffectId(3)), Instant::from_secs(2));
        t.set(Timer::EffectDeadline(EffectId(2)), Instant::from_secs(2));
        assert_eq!(t.next_deadline(), Some(Instant::from_secs(2)));
        t.cancel(&Timer::EffectDeadline(EffectId(2)));
        t.cancel(&Timer::GateRetry); // not armed: nothing happens
        assert_eq!(t.deadline(&Timer::SettleQuiet), Some(Instant::from_secs(5)));
        assert_eq!(
            t.take_due(Instant::from_secs(10)),
            vec![Timer::EffectDeadline(EffectId(3)), Timer::SettleQuiet]
        );
        assert_eq!(t.next_deadline(), None);
        assert!(!t.is_armed(&Timer::SettleQuiet));
        // Ties at one deadline come out in key order.
        t.set(Timer::GateRetry, Instant::from_secs(20));
        t.set(Timer::SettleQuiet, Instant::from_secs(20));
        assert_eq!(
            t.take_due(Instant::from_secs(20)),
            vec![Timer::SettleQuiet, Timer::GateRetry]
        );
    }
}
