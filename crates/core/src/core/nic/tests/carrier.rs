//! Carrier the kernel has not confirmed: flags that say `LOWER_UP` while the
//! operstate is still `unknown` are held for `carrier_confirm` before a client starts.

use super::*;
use crate::core::input::{LinkState, OperState};

fn with_operstate(index: u32, name: &str, flags: u32, operstate: OperState) -> LinkState {
    LinkState {
        operstate: Some(operstate),
        ..link(index, name, flags)
    }
}

/// eth0 (ifindex 2) reported with these flags and operstate at `ms`.
fn eth0(h: &mut Harness, ms: u64, flags: u32, operstate: OperState) {
    let link = with_operstate(2, "eth0", flags, operstate);
    h.at_ms(ms, Input::Link { link });
}

/// The `nic.carrier` up record of eth0 at `ms`.
fn carrier_up(ms: u64, unconfirmed_ms: Option<u64>) -> (u64, Event) {
    let event = Event::NicCarrier {
        nic: "eth0".into(),
        up: true,
        unconfirmed_ms,
    };
    (ms, event)
}

fn spawns(h: &mut Harness) -> usize {
    h.take_actions()
        .iter()
        .filter(|a| matches!(a.effect, Effect::Spawn { .. }))
        .count()
}

#[test]
fn a_virtio_nic_registering_with_a_default_carrier_gets_no_client() {
    // What a virtio NIC with its cable out shows when admin-up races its probe: the
    // default carrier with operstate unknown, then the real state a moment later.
    let mut h = start();
    eth0(&mut h, 0, DOWN, OperState::Unknown);
    eth0(&mut h, 5, CARRIER, OperState::Unknown);
    eth0(&mut h, 6, ADMIN_UP, OperState::Down);
    h.advance_to_ms(60_000);
    assert_eq!(spawns(&mut h), 0);
    assert_eq!(
        names(&net_events(&mut h)),
        ["nic.seen", "nic.carrier_unconfirmed"]
    );
}

#[test]
fn an_unconfirmed_carrier_that_lasts_starts_the_client_after_the_hold() {
    let mut h = start();
    eth0(&mut h, 0, CARRIER, OperState::Unknown);
    // Repeats of the same unconfirmed state do not restart the hold.
    eth0(&mut h, 400, CARRIER, OperState::Unknown);
    h.advance_to_ms(1_999);
    assert_eq!(spawns(&mut h), 0);
    h.advance_to_ms(2_000);
    assert_eq!(spawns(&mut h), 1);
    let events = net_events(&mut h);
    assert_eq!(events.last(), Some(&carrier_up(2_000, Some(2_000))));
    // Once up, an unknown operstate does not take the carrier away.
    eth0(&mut h, 2_000, CARRIER, OperState::Unknown);
    assert!(h.take_actions().is_empty());
}

#[test]
fn a_confirmation_during_the_hold_starts_the_client_at_once() {
    let mut h = start();
    eth0(&mut h, 0, CARRIER, OperState::Unknown);
    eth0(&mut h, 300, CARRIER, OperState::Up);
    assert_eq!(spawns(&mut h), 1);
    h.advance_to_ms(5_000);
    assert_eq!(spawns(&mut h), 0, "the hold timer was cancelled");
    let events = net_events(&mut h);
    assert_eq!(events.last(), Some(&carrier_up(300, None)));
}

#[test]
fn a_confirmed_carrier_starts_the_client_at_once() {
    let mut h = start();
    eth0(&mut h, 0, CARRIER, OperState::Up);
    assert_eq!(spawns(&mut h), 1);
}

#[test]
fn a_zero_carrier_confirm_trusts_the_flags() {
    let mut p = policy();
    p.net.carrier_confirm = Duration::ZERO;
    let mut h = Harness::start(p);
    h.take_actions();
    eth0(&mut h, 0, CARRIER, OperState::Unknown);
    assert_eq!(spawns(&mut h), 1);
}

#[test]
fn a_nic_removed_during_the_hold_leaves_no_timer() {
    let mut h = start();
    eth0(&mut h, 0, CARRIER, OperState::Unknown);
    h.at_ms(
        100,
        Input::LinkRemoved {
            index: 2,
            name: "eth0".into(),
        },
    );
    // Only timers of other parts (the gate's deadline) remain, none at the hold's end.
    let next = h.reactor.poll_timeout().map(Instant::as_millis);
    assert!(next.is_none_or(|ms| ms > 2_000), "next timer at {next:?}");
}
