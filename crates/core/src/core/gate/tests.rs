//! The gate on a virtual clock: rounds, pacing, timeouts, release.

use super::Gate;
use crate::core::action::{Effect, EffectId};
use crate::core::ctx::{Ctx, Note};
use crate::core::event::Event;
use crate::core::input::EffectOutput;
use crate::core::input::Input;
use crate::core::nic::harness::{CARRIER, Harness};
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

/// A lease arrives between rounds: a round starts at once, and while the route is
/// still missing the next ones follow every 100 ms instead of every second.
#[test]
fn a_lease_starts_a_round_at_once_and_quickens_the_next_ones() {
    let mut h = start(&["10.0.0.1:443"]);
    h.link(0, 2, "eth0", CARRIER);
    let first = connects(&mut h);
    assert_eq!(first.len(), 1);
    h.advance_to_ms(10);
    h.failed(first[0].0, "connect: network unreachable");
    // The client's address appears at 300 ms, long before the 1 s pause is over.
    h.at_ms(
        300,
        Input::Address {
            index: 2,
            address: "10.0.0.7".into(),
            added: true,
        },
    );
    let second = connects(&mut h);
    assert_eq!(second.len(), 1, "a round at the address");
    // No route yet: it fails at once; the next round is 100 ms later, not 1 s.
    h.failed(second[0].0, "connect: network unreachable");
    h.advance_to_ms(399);
    assert!(connects(&mut h).is_empty());
    h.advance_to_ms(400);
    let third = connects(&mut h);
    assert_eq!(third.len(), 1);
    h.advance_to_ms(420);
    h.done(third[0].0, EffectOutput::Done);
    assert_eq!(
        gate_events(&mut h).last().cloned(),
        Some((
            420,
            Event::GateReleased {
                reason: "reachable".into(),
                after_ms: 420
            }
        ))
    );
}

/// After the fast window, rounds go back to `retry_interval`.
#[test]
fn the_quick_pace_lasts_two_seconds_after_the_change() {
    let mut cx = Ctx::default();
    let mut gate = Gate::new(GatePolicy {
        targets: vec!["a:1".into()],
        retry_interval: Duration::from_secs(1),
        ..GatePolicy::default()
    });
    gate.on_start(&mut cx);
    let id = cx.pop_action().unwrap().id;
    cx.now = Instant::from_millis(50);
    gate.on_network_change(&mut cx); // a round is in flight: nothing new yet
    assert!(cx.pop_action().is_none());
    gate.on_done(&mut cx, id, &Err("refused".into()));
    assert_eq!(
        cx.timers.deadline(&Timer::GateRetry),
        Some(Instant::from_millis(150))
    );
    cx.now = Instant::from_millis(2_100);
    let _ = cx.timers.take_due(cx.now);
    gate.on_timer(&mut cx, &Timer::GateRetry);
    let id = cx.pop_action().unwrap().id;
    gate.on_done(&mut cx, id, &Err("refused".into()));
    assert_eq!(
        cx.timers.deadline(&Timer::GateRetry),
        Some(Instant::from_millis(3_100))
    );
}
