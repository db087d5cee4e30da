//! The readiness gate (BRIEF §3): open when a target is reachable, or at the timeout.
//!
//! Attempts go in rounds: one `Connect` per target, each with its own timeout. The
//! first success opens the gate. When every attempt of a round has failed (refused,
//! unreachable or timed out), the next round waits `retry_interval`, so an unplugged
//! node never spins. The deadline opens the gate whatever the probes say.
//!
//! A lease or a new address changes what is reachable: the gate does not wait out the
//! pause between rounds then, and for `FAST_WINDOW` after it paces rounds at
//! `FAST_RETRY`, because a DHCP client's script adds the default route a moment after
//! the address, and an attempt in that moment fails at once with "unreachable".

use super::action::{Effect, EffectId};
use super::ctx::{Ctx, Note, Owner};
use super::event::Event;
use super::input::EffectResult;
use super::policy::GatePolicy;
use super::timer::Timer;
use crate::time::{Duration, Instant};
use std::collections::BTreeMap;

/// How long after a network change rounds follow each other at `FAST_RETRY`.
const FAST_WINDOW: Duration = Duration::from_secs(2);
/// The pause between rounds right after a network change.
const FAST_RETRY: Duration = Duration::from_millis(100);

pub struct Gate {
    policy: GatePolicy,
    /// When the network phase began (`on_start`).
    began: Option<Instant>,
    /// Attempts of the current round that have not answered, with their target.
    attempts: BTreeMap<EffectId, String>,
    /// Rounds started so far (for the status summary).
    rounds: u64,
    /// Why and when (ms after the phase began) the gate opened.
    released: Option<(String, u64)>,
    /// Until when rounds are paced at `FAST_RETRY` (set by a network change).
    fast_until: Option<Instant>,
}

impl Gate {
    pub fn new(policy: GatePolicy) -> Gate {
        Gate {
            policy,
            began: None,
            attempts: BTreeMap::new(),
            rounds: 0,
            released: None,
            fast_until: None,
        }
    }

    /// The network phase begins with the run.
    pub fn on_start(&mut self, cx: &mut Ctx) {
        if self.began.is_some() {
            return;
        }
        self.began = Some(cx.now);
        cx.log(Event::GateWaiting {
            targets: self.policy.targets.clone(),
            timeout_ms: millis(self.policy.timeout),
        });
        cx.set_timer(Timer::GateDeadline, cx.now + self.policy.timeout);
        self.start_round(cx);
    }

    pub fn on_done(&mut self, cx: &mut Ctx, id: EffectId, result: &EffectResult) {
        // Late answers (after release, after a timeout, or to a `Cancel`) are ignored.
        let Some(target) = self.attempts.remove(&id) else {
            return;
        };
        cx.cancel_timer(&Timer::ProbeTimeout(id));
        match result {
            Ok(_) => {
                cx.log(Event::GateProbe {
                    target,
                    ok: true,
                    error: None,
                });
                self.release(cx, "reachable");
            }
            Err(error) => {
                cx.log(Event::GateProbe {
                    target,
                    ok: false,
                    error: Some(error.message.clone()),
                });
                self.after_failure(cx);
            }
        }
    }

    pub fn on_timer(&mut self, cx: &mut Ctx, timer: &Timer) {
        if self.released.is_some() {
            return;
        }
        match timer {
            Timer::GateDeadline => self.release(cx, "timeout"),
            Timer::GateRetry => self.start_round(cx),
            Timer::ProbeTimeout(id) => {
                let Some(target) = self.attempts.remove(id) else {
                    return;
                };
                cx.effect(Owner::Gate, Effect::Cancel { probe: *id });
                cx.log(Event::GateProbe {
                    target,
                    ok: false,
                    error: Some(format!(
                        "no answer within {} ms",
                        millis(self.policy.attempt_timeout)
                    )),
                });
                self.after_failure(cx);
            }
            _ => {}
        }
    }

    /// A NIC got a lease or an address: try again now rather than after the pause,
    /// and soon again for a moment (the route may still be on its way).
    pub fn on_network_change(&mut self, cx: &mut Ctx) {
        if self.released.is_some() || self.began.is_none() {
            return;
        }
        self.fast_until = Some(cx.now + FAST_WINDOW);
        if self.attempts.is_empty() && cx.timers.is_armed(&Timer::GateRetry) {
            cx.cancel_timer(&Timer::GateRetry);
            self.start_round(cx);
        }
    }

    pub fn is_released(&self) -> bool {
        self.released.is_some()
    }

    pub fn summary(&self) -> String {
        match (&self.released, self.began) {
            (Some((reason, after_ms)), _) => format!("released ({reason}) after {after_ms} ms"),
            (None, Some(began)) => {
                let deadline = began + self.policy.timeout;
                format!(
                    "waiting: round {}, {} attempt(s) in flight, opens by timeout at {deadline}",
                    self.rounds,
                    self.attempts.len()
                )
            }
            (None, None) => "not started".into(),
        }
    }

    fn start_round(&mut self, cx: &mut Ctx) {
        if self.policy.targets.is_empty() {
            return; // only the deadline opens it
        }
        self.rounds = self.rounds.saturating_add(1);
        for target in &self.policy.targets {
            let id = cx.effect(
                Owner::Gate,
                Effect::Connect {
                    target: target.clone(),
                },
            );
            cx.set_timer(
                Timer::ProbeTimeout(id),
                cx.now + self.policy.attempt_timeout,
            );
            self.attempts.insert(id, target.clone());
        }
    }

    /// One attempt failed; when it was the last of its round, pace the next round.
    fn after_failure(&mut self, cx: &mut Ctx) {
        if self.released.is_none() && self.attempts.is_empty() {
            let pause = match self.fast_until {
                Some(until) if cx.now < until => self.policy.retry_interval.min(FAST_RETRY),
                _ => self.policy.retry_interval,
            };
            cx.set_timer(Timer::GateRetry, cx.now + pause);
        }
    }

    fn release(&mut self, cx: &mut Ctx, reason: &str) {
        if self.released.is_some() {
            return;
        }
        let after_ms = self.began.map_or(0, |began| cx.now.millis_since(began));
        for (id, _) in std::mem::take(&mut self.attempts) {
            cx.cancel_timer(&Timer::ProbeTimeout(id));
            cx.effect(Owner::Gate, Effect::Cancel { probe: id });
        }
        cx.cancel_timer(&Timer::GateDeadline);
        cx.cancel_timer(&Timer::GateRetry);
        self.released = Some((reason.to_owned(), after_ms));
        cx.log(Event::GateReleased {
            reason: reason.to_owned(),
            after_ms,
        });
        cx.note(Note::GateReleased);
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
