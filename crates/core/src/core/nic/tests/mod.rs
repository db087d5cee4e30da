//! Timelines for NICs and their DHCP clients, through the whole reactor: link
//! handling here, DHCP client supervision in `dhcp.rs`.

mod carrier;
mod dhcp;

use super::harness::{ADMIN_UP, CARRIER, DOWN, Harness, link};
use crate::core::action::{ChildRole, Effect, EffectId, KillSignal, ShutdownKind};
use crate::core::event::Event;
use crate::core::input::{ExitStatus, IFF_LOOPBACK, IFF_UP, Input, SignalKind, Stream};
use crate::core::policy::{GatePolicy, NetPolicy, Policy};
use crate::time::{Duration, Instant};

fn policy() -> Policy {
    Policy {
        net: NetPolicy {
            allow_virtual: true,
            dhcp_command: vec!["udhcpc".into(), "-f".into(), "-i".into(), "{nic}".into()],
            ..NetPolicy::default()
        },
        // No reachability targets: the gate stays out of these timelines.
        gate: GatePolicy {
            targets: Vec::new(),
            ..GatePolicy::default()
        },
        ..Policy::default()
    }
}

fn start() -> Harness {
    let mut h = Harness::start(policy());
    h.take_events();
    h.take_actions();
    h
}

/// NIC and DHCP events since the last take, as (ms, event).
fn net_events(h: &mut Harness) -> Vec<(u64, Event)> {
    h.take_events()
        .into_iter()
        .filter(|(_, e)| {
            let name = e.name();
            name.starts_with("nic.") || name.starts_with("dhcp.") || name == "effect.failed"
        })
        .map(|(at, e)| (at.as_millis(), e))
        .collect()
}

fn names(events: &[(u64, Event)]) -> Vec<String> {
    events.iter().map(|(_, e)| e.name()).collect()
}

/// The one `Spawn` requested since the last take; checks it is eth-style DHCP for `nic`.
fn one_spawn(h: &mut Harness, nic: &str) -> EffectId {
    let actions = h.take_actions();
    let spawns: Vec<_> = actions
        .iter()
        .filter_map(|a| match &a.effect {
            Effect::Spawn { role, argv } => Some((a.id, role.clone(), argv.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(spawns.len(), 1, "expected one spawn, got {actions:?}");
    let (id, role, argv) = spawns.into_iter().next().unwrap();
    assert_eq!(role, ChildRole::Dhcp { nic: nic.into() });
    assert_eq!(argv, vec!["udhcpc", "-f", "-i", nic]);
    id
}

fn kills(h: &mut Harness) -> Vec<EffectId> {
    h.take_actions()
        .into_iter()
        .filter_map(|a| match a.effect {
            Effect::Kill {
                child,
                signal: KillSignal::Term,
            } => Some(child),
            _ => None,
        })
        .collect()
}

fn spawn_count(h: &mut Harness) -> usize {
    h.take_actions()
        .iter()
        .filter(|a| matches!(a.effect, Effect::Spawn { .. }))
        .count()
}

/// The `nics` lines of a status record (SIGUSR1).
fn status_nics(h: &mut Harness) -> Vec<String> {
    h.take_events();
    h.input(Input::Signal {
        signal: SignalKind::Status,
    });
    h.take_events()
        .into_iter()
        .find_map(|(_, e)| match e {
            Event::Status { nics, .. } => Some(nics),
            _ => None,
        })
        .unwrap()
}

#[test]
fn nic_without_carrier_gets_admin_up_and_no_client() {
    let mut h = start();
    h.link(0, 1, "lo", IFF_UP | IFF_LOOPBACK | CARRIER);
    h.link(0, 2, "eth0", DOWN);
    let events = net_events(&mut h);
    assert_eq!(
        events[0].1,
        Event::NicSeen {
            nic: "lo".into(),
            index: 1,
            managed: false,
            reason: "loopback".into()
        }
    );
    assert_eq!(
        events[1].1,
        Event::NicSeen {
            nic: "eth0".into(),
            index: 2,
            managed: true,
            reason: "physical".into()
        }
    );
    assert_eq!(events.len(), 2);
    let actions = h.take_actions();
    assert_eq!(actions.len(), 1);
    assert_eq!(
        actions[0].effect,
        Effect::SetLinkUp {
            index: 2,
            nic: "eth0".into()
        }
    );
    h.link(100, 2, "eth0", ADMIN_UP);
    h.advance_to_ms(300_000);
    h.link(300_000, 2, "eth0", ADMIN_UP);
    assert!(net_events(&mut h).is_empty());
    assert!(h.take_actions().is_empty(), "no client without carrier");
}

#[test]
fn admin_up_is_asked_once_per_appearance_and_again_after_a_later_down() {
    let mut h = start();
    let set_link_ups = |h: &mut Harness| {
        h.take_actions()
            .iter()
            .filter(|a| matches!(a.effect, Effect::SetLinkUp { .. }))
            .count()
    };
    h.link(0, 2, "eth0", DOWN);
    assert_eq!(set_link_ups(&mut h), 1);
    h.link(10, 2, "eth0", DOWN); // our request has not landed yet
    assert_eq!(set_link_ups(&mut h), 0);
    h.link(20, 2, "eth0", ADMIN_UP);
    assert_eq!(set_link_ups(&mut h), 0);
    h.link(5_000, 2, "eth0", DOWN); // someone took it down
    assert_eq!(set_link_ups(&mut h), 1);
}

#[test]
fn virtual_and_filtered_links_are_not_managed() {
    let mut p = policy();
    p.net.allow_virtual = false;
    p.net.exclude = vec!["eth9".into()];
    p.net.allow = Some(vec!["eth*".into(), "veth*".into()]);
    let mut h = Harness::start(p);
    h.take_events();
    let mut veth = link(3, "veth0", CARRIER);
    veth.kind = Some("veth".into());
    h.at_ms(0, Input::Link { link: veth });
    h.link(0, 4, "eth9", CARRIER);
    h.link(0, 5, "wlan0", CARRIER);
    let reasons: Vec<(bool, String)> = net_events(&mut h)
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::NicSeen {
                managed, reason, ..
            } => Some((managed, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            (false, "virtual (veth)".to_string()),
            (false, "excluded".to_string()),
            (false, "not allow-listed".to_string()),
        ]
    );
    assert!(h.take_actions().is_empty());
}

#[test]
fn rename_restarts_the_client_under_the_new_name() {
    let mut p = policy();
    p.net.exclude = vec!["tmp*".into()];
    let mut h = Harness::start(p);
    h.link(0, 2, "eth0", CARRIER);
    let old = one_spawn(&mut h, "eth0");
    h.spawned(old, 10);
    h.take_events();
    h.link(1_000, 2, "enp0s3", CARRIER);
    let actions = h.take_actions();
    assert!(matches!(
        actions[0].effect,
        Effect::Kill { child, signal: KillSignal::Term } if child == old
    ));
    assert!(matches!(
        &actions[1].effect,
        Effect::Spawn { role: ChildRole::Dhcp { nic }, argv } if nic == "enp0s3" && argv[3] == "enp0s3"
    ));
    let events = net_events(&mut h);
    assert_eq!(
        events,
        vec![
            (
                1_000,
                Event::NicRenamed {
                    from: "eth0".into(),
                    to: "enp0s3".into()
                }
            ),
            (
                1_000,
                Event::DhcpStopped {
                    nic: "eth0".into(),
                    pid: 10,
                    reason: "renamed".into()
                }
            ),
        ]
    );
    // Renamed to an excluded name: stopped and no longer managed.
    let new = actions[1].id;
    h.spawned(new, 11);
    h.link(2_000, 2, "tmp0", CARRIER);
    assert_eq!(kills(&mut h), vec![new]);
    let events = net_events(&mut h);
    assert_eq!(
        names(&events),
        ["dhcp.started", "nic.renamed", "dhcp.stopped", "nic.seen"]
    );
    assert!(matches!(
        &events[3].1,
        Event::NicSeen { nic, managed: false, reason, .. } if nic == "tmp0" && reason == "excluded"
    ));
}

#[test]
fn removal_stops_the_client_for_good() {
    let mut h = start();
    h.link(0, 2, "eth0", CARRIER);
    let id = one_spawn(&mut h, "eth0");
    h.spawned(id, 10);
    h.at_ms(
        3_000,
        Input::LinkRemoved {
            index: 2,
            name: "eth0".into(),
        },
    );
    assert_eq!(kills(&mut h), vec![id]);
    h.exited(id, ExitStatus::Signal(15));
    h.advance_to_ms(200_000);
    let events = net_events(&mut h);
    assert_eq!(
        names(&events),
        [
            "nic.seen",
            "nic.carrier",
            "dhcp.started",
            "dhcp.stopped",
            "nic.removed",
            "dhcp.exited"
        ]
    );
    assert_eq!(spawn_count(&mut h), 0);
}
