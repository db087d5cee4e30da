//! Timelines for NICs and their DHCP clients, through the whole reactor.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

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
fn cable_plugged_at_40s_starts_the_client_then_and_a_lease_cancels_give_up() {
    let mut h = start();
    h.link(0, 2, "eth0", ADMIN_UP);
    h.take_actions();
    assert_eq!(names(&net_events(&mut h)), ["nic.seen"]);
    h.link(40_000, 2, "eth0", CARRIER);
    let id = one_spawn(&mut h, "eth0");
    h.advance_to_ms(40_050);
    h.spawned(id, 321);
    h.at_ms(
        43_050,
        Input::Address {
            index: 2,
            address: "10.0.2.15".into(),
            added: true,
        },
    );
    h.advance_to_ms(400_000);
    let events = net_events(&mut h);
    assert_eq!(
        events,
        vec![
            (
                40_000,
                Event::NicCarrier {
                    nic: "eth0".into(),
                    up: true
                }
            ),
            (
                40_050,
                Event::DhcpStarted {
                    nic: "eth0".into(),
                    pid: 321
                }
            ),
            (
                43_050,
                Event::DhcpLeased {
                    nic: "eth0".into(),
                    address: "10.0.2.15".into(),
                    after_ms: 3000
                }
            ),
        ]
    );
    assert!(h.take_actions().is_empty(), "no kill, no restart");
}

#[test]
fn client_without_lease_gives_up_at_30s_until_the_carrier_comes_back() {
    let mut h = start();
    h.link(0, 2, "eth0", CARRIER);
    let id = one_spawn(&mut h, "eth0");
    h.advance_to_ms(100);
    h.spawned(id, 50);
    h.advance_to_ms(29_000);
    assert!(kills(&mut h).is_empty());
    h.advance_to_ms(31_000);
    assert_eq!(kills(&mut h), vec![id]);
    h.exited(id, ExitStatus::Signal(15));
    let events = net_events(&mut h);
    assert_eq!(
        names(&events),
        [
            "nic.seen",
            "nic.carrier",
            "dhcp.started",
            "dhcp.gave_up",
            "dhcp.exited"
        ]
    );
    assert_eq!(
        events[3],
        (
            30_100,
            Event::DhcpGaveUp {
                nic: "eth0".into(),
                after_ms: 30_000
            }
        )
    );
    // No restart while the carrier stays, whatever link hints say.
    h.link(60_000, 2, "eth0", CARRIER);
    h.advance_to_ms(600_000);
    assert_eq!(spawn_count(&mut h), 0);
    // Carrier cycles: a fresh client.
    h.link(600_000, 2, "eth0", ADMIN_UP);
    h.link(601_000, 2, "eth0", CARRIER);
    one_spawn(&mut h, "eth0");
    assert_eq!(
        status_nics(&mut h),
        vec!["eth0 (#2): carrier up, dhcp starting, addresses []".to_string()]
    );
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
fn crashing_client_restarts_with_growing_capped_backoff_reset_by_a_lease() {
    let mut p = policy();
    p.net.backoff_initial = Duration::from_secs(1);
    p.net.backoff_max = Duration::from_secs(4);
    p.net.give_up = Duration::from_secs(3600);
    let mut h = Harness::start(p);
    h.link(0, 2, "eth0", CARRIER);
    h.take_events();
    let mut id = one_spawn(&mut h, "eth0");
    let mut backoffs = Vec::new();
    let mut spawn_times = Vec::new();
    for pid in 10..15 {
        h.spawned(id, pid);
        h.exited(id, ExitStatus::Code(1));
        for (_, e) in net_events(&mut h) {
            if let Event::DhcpRestarting { backoff_ms, .. } = e {
                backoffs.push(backoff_ms);
            }
        }
        assert!(h.take_actions().is_empty(), "no restart before the backoff");
        let at = h.reactor.poll_timeout().unwrap();
        h.advance_to_ms(at.as_millis());
        id = one_spawn(&mut h, "eth0");
        spawn_times.push(h.now.as_millis());
    }
    assert_eq!(backoffs, vec![1000, 2000, 4000, 4000, 4000]);
    assert_eq!(spawn_times, vec![1000, 3000, 7000, 11_000, 15_000]);
    // A leased client that dies is restarted too, and its lease reset the backoff.
    h.spawned(id, 99);
    h.input(Input::ChildOutput {
        id,
        stream: Stream::Stdout,
        line: "udhcpc: lease of 10.0.2.15 obtained from 10.0.2.2, lease time 86400".into(),
    });
    h.exited(id, ExitStatus::Code(0));
    let events = net_events(&mut h);
    assert_eq!(
        names(&events),
        [
            "dhcp.started",
            "dhcp.leased",
            "dhcp.exited",
            "dhcp.restarting"
        ]
    );
    assert_eq!(
        events[3].1,
        Event::DhcpRestarting {
            nic: "eth0".into(),
            backoff_ms: 1000
        }
    );
}

#[test]
fn output_lines_are_logged_as_child_output() {
    let mut h = start();
    h.link(0, 2, "eth0", CARRIER);
    let id = one_spawn(&mut h, "eth0");
    h.spawned(id, 7);
    h.take_events();
    h.input(Input::ChildOutput {
        id,
        stream: Stream::Stderr,
        line: "udhcpc: sending discover".into(),
    });
    assert_eq!(
        h.take_events()[0].1,
        Event::ChildOutput {
            child: "dhcp:eth0".into(),
            stream: "stderr".into(),
            line: "udhcpc: sending discover".into()
        }
    );
}

#[test]
fn failed_spawn_is_reported_and_retried_with_backoff() {
    let mut h = start();
    h.link(0, 2, "eth0", CARRIER);
    let id = one_spawn(&mut h, "eth0");
    h.failed(id, "spawn udhcpc: No such file or directory");
    let events = net_events(&mut h);
    assert_eq!(
        names(&events),
        [
            "nic.seen",
            "nic.carrier",
            "effect.failed",
            "dhcp.restarting"
        ]
    );
    h.advance_to_ms(1000);
    one_spawn(&mut h, "eth0");
}

#[test]
fn carrier_loss_stops_the_client_and_carrier_return_starts_a_fresh_one() {
    let mut h = start();
    h.link(0, 2, "eth0", CARRIER);
    let old = one_spawn(&mut h, "eth0");
    h.spawned(old, 10);
    h.link(5_000, 2, "eth0", ADMIN_UP);
    assert_eq!(kills(&mut h), vec![old]);
    // The carrier comes back before the old client is gone: no waiting for it.
    h.link(5_500, 2, "eth0", CARRIER);
    let new = one_spawn(&mut h, "eth0");
    assert_ne!(old, new);
    h.exited(old, ExitStatus::Signal(15));
    h.spawned(new, 11);
    let events = net_events(&mut h);
    assert_eq!(
        names(&events),
        [
            "nic.seen",
            "nic.carrier",
            "dhcp.started",
            "nic.carrier",
            "dhcp.stopped",
            "nic.carrier",
            "dhcp.exited",
            "dhcp.started"
        ]
    );
    assert_eq!(
        events[4].1,
        Event::DhcpStopped {
            nic: "eth0".into(),
            pid: 10,
            reason: "carrier lost".into()
        }
    );
    // The fresh client gets its own give-up window: 30 s from its start at 5.5 s.
    h.advance_to_ms(35_400);
    assert!(kills(&mut h).is_empty());
    h.advance_to_ms(35_500);
    assert_eq!(kills(&mut h), vec![new]);
}

#[test]
fn carrier_loss_during_backoff_cancels_the_restart() {
    let mut h = start();
    h.link(0, 2, "eth0", CARRIER);
    let id = one_spawn(&mut h, "eth0");
    h.spawned(id, 10);
    h.exited(id, ExitStatus::Code(1)); // restart due at 1 s
    h.link(500, 2, "eth0", ADMIN_UP);
    h.advance_to_ms(100_000);
    assert_eq!(spawn_count(&mut h), 0);
}

#[test]
fn two_nics_one_leases_the_other_gives_up() {
    let mut h = start();
    h.link(0, 2, "eth0", CARRIER);
    let eth0 = one_spawn(&mut h, "eth0");
    h.link(0, 3, "eth1", CARRIER);
    let eth1 = one_spawn(&mut h, "eth1");
    h.spawned(eth0, 100);
    h.spawned(eth1, 101);
    h.at_ms(
        2_000,
        Input::Address {
            index: 2,
            address: "192.168.1.20".into(),
            added: true,
        },
    );
    h.advance_to_ms(120_000);
    assert_eq!(kills(&mut h), vec![eth1]);
    let events = net_events(&mut h);
    let tail: Vec<_> = events
        .into_iter()
        .filter(|(_, e)| matches!(e, Event::DhcpLeased { .. } | Event::DhcpGaveUp { .. }))
        .collect();
    assert_eq!(
        tail,
        vec![
            (
                2_000,
                Event::DhcpLeased {
                    nic: "eth0".into(),
                    address: "192.168.1.20".into(),
                    after_ms: 2_000
                }
            ),
            (
                30_000,
                Event::DhcpGaveUp {
                    nic: "eth1".into(),
                    after_ms: 30_000
                }
            ),
        ]
    );
}

#[test]
fn address_without_a_client_is_only_remembered() {
    let mut h = start();
    h.link(0, 2, "eth0", ADMIN_UP);
    h.at_ms(
        1_000,
        Input::Address {
            index: 2,
            address: "10.1.1.1".into(),
            added: true,
        },
    );
    assert_eq!(names(&net_events(&mut h)), ["nic.seen"]);
    h.link(2_000, 2, "eth0", CARRIER);
    let id = one_spawn(&mut h, "eth0");
    h.spawned(id, 5);
    h.advance_to_ms(40_000);
    assert!(names(&net_events(&mut h)).contains(&"dhcp.gave_up".to_string()));
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

#[test]
fn shutdown_stops_clients_and_waits_for_them() {
    let mut h = start();
    h.link(0, 2, "eth0", CARRIER);
    let id = one_spawn(&mut h, "eth0");
    h.spawned(id, 10);
    h.at_ms(
        1_000,
        Input::Signal {
            signal: SignalKind::Stop,
        },
    );
    assert_eq!(kills(&mut h), vec![id]);
    h.at_ms(
        1_200,
        Input::ChildExited {
            id,
            status: ExitStatus::Signal(15),
        },
    );
    let actions = h.take_actions();
    assert_eq!(actions.len(), 1);
    assert_eq!(
        actions[0].effect,
        Effect::Shutdown {
            kind: ShutdownKind::Exit
        }
    );
    h.link(1_300, 2, "eth0", CARRIER);
    h.advance_to_ms(100_000);
    assert_eq!(spawn_count(&mut h), 0);
    assert!(!names(&net_events(&mut h)).contains(&"dhcp.restarting".to_string()));
    assert_eq!(h.now, Instant::from_secs(100));
}
