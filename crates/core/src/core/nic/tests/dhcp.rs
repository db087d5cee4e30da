//! DHCP client supervision: start on carrier, lease, give-up, backoff, stop.

use super::*;

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
                    up: true,
                    unconfirmed_ms: None,
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

#[test]
fn client_dying_without_a_lease_is_still_given_up_30s_after_its_first_start() {
    let mut h = start();
    h.link(0, 2, "eth0", CARRIER);
    let mut id = one_spawn(&mut h, "eth0");
    let mut pid = 1;
    // It dies every 5 s; restarts keep coming, but the window runs from 0 s.
    while h.now < Instant::from_secs(30) {
        h.spawned(id, pid);
        pid += 1;
        h.advance_to_ms(h.now.as_millis() + 5_000);
        h.exited(id, ExitStatus::Code(1));
        let at = h.reactor.poll_timeout().unwrap();
        h.advance_to_ms(at.as_millis());
        match h
            .take_actions()
            .into_iter()
            .find(|a| matches!(a.effect, Effect::Spawn { .. }))
        {
            Some(a) => id = a.id,
            None => break,
        }
    }
    let gave_up: Vec<_> = net_events(&mut h)
        .into_iter()
        .filter(|(_, e)| matches!(e, Event::DhcpGaveUp { .. }))
        .collect();
    assert_eq!(
        gave_up,
        vec![(
            30_000,
            Event::DhcpGaveUp {
                nic: "eth0".into(),
                after_ms: 30_000
            }
        )]
    );
    h.advance_to_ms(300_000);
    assert_eq!(spawn_count(&mut h), 0);
}
