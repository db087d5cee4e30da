//! The readiness gate (BRIEF §3): open when a target is reachable, or at the timeout.
//!
//! Attempts go in rounds: one `Connect` per target, each with its own timeout. The
//! first success opens the gate. When every attempt of a round has failed (refused,
//! unreachable or timed out), the next round waits `retry_interval`, so an unplugged
//! node never spins. The deadline opens the gate whatever the probes say.

use super::action::{Effect, EffectId};
use super::ctx::{Ctx, Note, Owner};
use super::event::Event;
use super::input::EffectResult;
use super::policy::GatePolicy;
use super::timer::Timer;
use crate::time::Instant;
use std::collections::BTreeMap;

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
}

impl Gate {
    pub fn new(policy: GatePolicy) -> Gate {
        Gate {
            policy,
            began: None,
            attempts: BTreeMap::new(),
            rounds: 0,
            released: None,
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
                    error: Some(error.clone()),
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
            cx.set_timer(Timer::GateRetry, cx.now + self.policy.retry_interval);
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
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::Gate;
    use crate::core::action::{Effect, EffectId};
    use crate::core::ctx::{Ctx, Note};
    use crate::core::event::Event;
    use crate::core::input::EffectOutput;
    use crate::core::nic::harness::Harness;
    use crate::core::policy::{GatePolicy, Policy};
    use crate::core::timer::Timer;
    use crate::time::{Duration, Instant};

    fn start(targets: &[&str]) -> Harness {
        Harness::start(Policy {
            gate: GatePolicy {
                targets: targets.iter().map(|t| t.to_string()).collect(),
                timeout: Duration::from_secs(60),
                attempt_timeout: Duration::from_secs(2),
                retry_interval: Duration::from_secs(1),
            },
            ..Policy::default()
        })
    }

    /// (ms, event) for the gate's events since the last take.
    fn gate_events(h: &mut Harness) -> Vec<(u64, Event)> {
        h.take_events()
            .into_iter()
            .filter(|(_, e)| e.name().starts_with("gate."))
            .map(|(at, e)| (at.as_millis(), e))
            .collect()
    }

    fn connects(h: &mut Harness) -> Vec<(EffectId, String)> {
        h.take_actions()
            .into_iter()
            .filter_map(|a| match a.effect {
                Effect::Connect { target } => Some((a.id, target)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn opens_when_a_target_is_reachable() {
        let mut h = start(&["1.1.1.1:53", "8.8.8.8:53"]);
        let round = connects(&mut h);
        assert_eq!(round.len(), 2);
        assert_eq!(round[0].1, "1.1.1.1:53");
        h.advance_to_ms(300);
        h.failed(round[0].0, "connect: network unreachable");
        h.advance_to_ms(1_500);
        h.done(round[1].0, EffectOutput::Done);
        let events = gate_events(&mut h);
        assert_eq!(
            events.first().map(|(_, e)| e.clone()),
            Some(Event::GateWaiting {
                targets: vec!["1.1.1.1:53".into(), "8.8.8.8:53".into()],
                timeout_ms: 60_000
            })
        );
        assert_eq!(
            events.last().cloned(),
            Some((
                1_500,
                Event::GateReleased {
                    reason: "reachable".into(),
                    after_ms: 1_500
                }
            ))
        );
        // Late answers change nothing.
        h.done(round[0].0, EffectOutput::Done);
        h.advance_to_ms(120_000);
        assert!(gate_events(&mut h).is_empty());
        assert!(h.take_actions().is_empty());
    }

    #[test]
    fn opens_by_timeout_at_60s_without_targets() {
        let mut h = start(&[]);
        assert!(connects(&mut h).is_empty());
        h.advance_to_ms(59_999);
        assert_eq!(gate_events(&mut h).len(), 1); // gate.waiting only
        h.advance_to_ms(60_000);
        assert_eq!(
            gate_events(&mut h),
            vec![(
                60_000,
                Event::GateReleased {
                    reason: "timeout".into(),
                    after_ms: 60_000
                }
            )]
        );
    }

    #[test]
    fn timed_out_attempts_are_cancelled_and_rounds_are_paced() {
        let mut h = start(&["10.0.0.1:443"]);
        let first = connects(&mut h);
        assert_eq!(first.len(), 1);
        // Nobody answers: the attempt times out at 2 s and is cancelled.
        h.advance_to_ms(2_000);
        let actions = h.take_actions();
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].effect, Effect::Cancel { probe: first[0].0 });
        let events = gate_events(&mut h);
        assert!(matches!(
            events.last(),
            Some((2_000, Event::GateProbe { ok: false, .. }))
        ));
        // The next round waits `retry_interval`.
        h.advance_to_ms(2_999);
        assert!(connects(&mut h).is_empty());
        h.advance_to_ms(3_000);
        let second = connects(&mut h);
        assert_eq!(second.len(), 1);
        // Attempts that fail at once never make the gate spin: one per second at most.
        let mut attempts = 0;
        let mut pending = second;
        while let Some((id, _)) = pending.pop() {
            attempts += 1;
            h.failed(id, "connection refused");
            let at = h.reactor.poll_timeout().unwrap();
            h.advance_to_ms(at.as_millis());
            pending = connects(&mut h);
        }
        assert!(attempts <= 58, "{attempts} attempts in 57 s");
        assert!(attempts >= 50, "{attempts} attempts in 57 s");
        let events = gate_events(&mut h);
        assert_eq!(
            events.last().map(|(_, e)| e.clone()),
            Some(Event::GateReleased {
                reason: "timeout".into(),
                after_ms: 60_000
            })
        );
    }

    #[test]
    fn release_cancels_attempts_in_flight() {
        let mut h = start(&["a:1", "b:2"]);
        let round = connects(&mut h);
        h.advance_to_ms(500);
        h.done(round[0].0, EffectOutput::Done);
        let cancels: Vec<_> = h
            .take_actions()
            .into_iter()
            .filter_map(|a| match a.effect {
                Effect::Cancel { probe } => Some(probe),
                _ => None,
            })
            .collect();
        assert_eq!(cancels, vec![round[1].0]);
    }

    /// Ten minutes of rounds against targets that never answer: every attempt is
    /// cancelled, and the core remembers none of them (nor the cancels, which this
    /// world answers only half the time).
    #[test]
    fn hanging_targets_leave_no_pending_effects() {
        let mut h = Harness::start(Policy {
            gate: GatePolicy {
                targets: vec!["10.0.0.1:443".into(), "10.0.0.2:443".into()],
                timeout: Duration::from_secs(3_600),
                attempt_timeout: Duration::from_secs(2),
                retry_interval: Duration::from_secs(1),
            },
            ..Policy::default()
        });
        let mut rounds = 0;
        let mut most = 0;
        while h.now < Instant::from_secs(600) {
            let at = h.reactor.poll_timeout().unwrap();
            h.advance_to_ms(at.as_millis());
            for (n, action) in h.take_actions().into_iter().enumerate() {
                match action.effect {
                    Effect::Connect { .. } => rounds += 1,
                    Effect::Cancel { .. } if n % 2 == 0 => h.done(action.id, EffectOutput::Done),
                    _ => {}
                }
            }
            most = most.max(h.reactor.pending_effects());
        }
        assert!(rounds >= 2 * 190, "{rounds} attempts in 10 minutes");
        assert!(most <= 2, "{most} effects pending at once");
        assert!(
            gate_events(&mut h)
                .iter()
                .all(|(_, e)| !matches!(e, Event::GateReleased { .. }))
        );
    }

    /// The gate alone, to see its timers: none is left once it has opened.
    #[test]
    fn release_leaves_no_gate_timer() {
        let mut cx = Ctx::default();
        let mut gate = Gate::new(GatePolicy {
            targets: vec!["a:1".into(), "b:2".into()],
            ..GatePolicy::default()
        });
        gate.on_start(&mut cx);
        let ids: Vec<EffectId> = std::iter::from_fn(|| cx.pop_action())
            .map(|a| a.id)
            .collect();
        assert!(cx.timers.is_armed(&Timer::GateDeadline));
        assert!(cx.timers.is_armed(&Timer::ProbeTimeout(ids[1])));
        assert!(!gate.is_released());
        cx.now = Instant::from_millis(700);
        gate.on_done(&mut cx, ids[0], &Ok(EffectOutput::Done));
        assert!(gate.is_released());
        assert_eq!(cx.take_note(), Some(Note::GateReleased));
        assert_eq!(cx.timers.next_deadline(), None);
        assert_eq!(gate.summary(), "released (reachable) after 700 ms");
    }
}
