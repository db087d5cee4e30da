//! Timelines for service supervision: the part alone, driven through a [`Ctx`]
//! (release is decided by the reactor from the cache and the gate; see the last test
//! for that through the reactor).

use super::{HEALTHY_RUN, Services};
use crate::core::action::{ChildRole, Effect, EffectId, KillSignal};
use crate::core::ctx::Ctx;
use crate::core::event::Event;
use crate::core::input::{EffectOutput, ExitStatus, Input, Stream};
use crate::core::nic::harness::Harness;
use crate::core::policy::{GatePolicy, Policy, ServiceSpec};
use crate::time::{Duration, Instant};

fn spec(name: &str, after: &[&str]) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        argv: vec![format!("/usr/bin/{name}")],
        after: after.iter().map(|s| s.to_string()).collect(),
        backoff_initial: Duration::from_secs(1),
        backoff_max: Duration::from_secs(8),
        oneshot: false,
    }
}

fn oneshot(name: &str, after: &[&str]) -> ServiceSpec {
    ServiceSpec {
        oneshot: true,
        ..spec(name, after)
    }
}

struct Sv {
    services: Services,
    cx: Ctx,
}

impl Sv {
    fn new(specs: Vec<ServiceSpec>) -> Sv {
        Sv {
            services: Services::new(specs),
            cx: Ctx::default(),
        }
    }

    /// Move to `ms`, firing the restart timers due on the way.
    fn advance_to_ms(&mut self, ms: u64) {
        let target = Instant::from_millis(ms);
        while let Some(at) = self.cx.timers.next_deadline() {
            if at > target {
                break;
            }
            self.cx.now = self.cx.now.max(at);
            for timer in self.cx.timers.take_due(at) {
                self.services.on_timer(&mut self.cx, &timer);
            }
        }
        self.cx.now = self.cx.now.max(target);
    }

    /// `(id, service)` of every `Spawn` requested since the last call.
    fn spawns(&mut self) -> Vec<(EffectId, String)> {
        std::iter::from_fn(|| self.cx.pop_action())
            .filter_map(|a| match a.effect {
                Effect::Spawn {
                    role: ChildRole::Service { service },
                    argv,
                } => {
                    assert_eq!(argv, vec![format!("/usr/bin/{service}")]);
                    Some((a.id, service))
                }
                _ => None,
            })
            .collect()
    }

    fn events(&mut self) -> Vec<(u64, Event)> {
        std::iter::from_fn(|| self.cx.pop_record())
            .map(|r| (r.at.as_millis(), r.event))
            .collect()
    }

    fn spawned(&mut self, id: EffectId, pid: u32) {
        self.services
            .on_done(&mut self.cx, id, &Ok(EffectOutput::Spawned { pid }));
    }

    fn exited(&mut self, id: EffectId, status: ExitStatus) {
        self.services.on_child_exited(&mut self.cx, id, status);
    }
}

fn names(spawns: &[(EffectId, String)]) -> Vec<&str> {
    spawns.iter().map(|(_, n)| n.as_str()).collect()
}

#[test]
fn services_start_after_release_in_dependency_order() {
    let mut sv = Sv::new(vec![
        spec("ork", &["redis", "fs"]),
        spec("redis", &[]),
        spec("fs", &["redis"]),
        spec("nft", &[]),
    ]);
    assert!(sv.spawns().is_empty(), "nothing before release");
    sv.services.on_release(&mut sv.cx);
    sv.services.on_release(&mut sv.cx); // idempotent
    let first = sv.spawns();
    assert_eq!(names(&first), ["redis", "nft"]);
    // Requested is not started: fs waits for redis's pid.
    sv.spawned(first[1].0, 11);
    assert!(sv.spawns().is_empty());
    sv.spawned(first[0].0, 10);
    let second = sv.spawns();
    assert_eq!(names(&second), ["fs"]);
    sv.spawned(second[0].0, 12);
    let third = sv.spawns();
    assert_eq!(names(&third), ["ork"]);
    sv.spawned(third[0].0, 13);
    let started: Vec<_> = sv
        .events()
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::ServiceStarted { service, pid } => Some((service, pid)),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        vec![
            ("nft".to_string(), 11),
            ("redis".to_string(), 10),
            ("fs".to_string(), 12),
            ("ork".to_string(), 13)
        ]
    );
    assert_eq!(sv.services.live_children(), 4);
}

#[test]
fn crash_looping_service_backs_off_capped_and_resets_after_a_healthy_run() {
    let mut sv = Sv::new(vec![spec("redis", &[])]);
    sv.services.on_release(&mut sv.cx);
    let mut id = sv.spawns()[0].0;
    let mut backoffs = Vec::new();
    for pid in 100..106 {
        sv.spawned(id, pid);
        sv.exited(id, ExitStatus::Code(1));
        assert!(sv.spawns().is_empty(), "no restart before the backoff");
        let at = sv.cx.timers.next_deadline().unwrap();
        sv.advance_to_ms(at.as_millis());
        id = sv.spawns()[0].0;
        for (_, e) in sv.events() {
            if let Event::ServiceRestarting { backoff_ms, .. } = e {
                backoffs.push(backoff_ms);
            }
        }
    }
    assert_eq!(backoffs, vec![1000, 2000, 4000, 8000, 8000, 8000]);
    // A run of HEALTHY_RUN resets the backoff.
    sv.spawned(id, 200);
    let ran = HEALTHY_RUN.as_millis() as u64;
    sv.advance_to_ms(sv.cx.now.as_millis() + ran);
    sv.events();
    sv.exited(id, ExitStatus::Signal(9));
    let events = sv.events();
    assert!(matches!(
        &events[..],
        [
            (_, Event::ServiceExited { service, pid: 200, status }),
            (_, Event::ServiceRestarting { backoff_ms: 1000, .. })
        ] if service == "redis" && status == "signal 9"
    ));
}

#[test]
fn missing_binary_fails_and_retries_with_backoff() {
    let mut sv = Sv::new(vec![spec("redis", &[]), spec("ork", &["redis"])]);
    sv.services.on_release(&mut sv.cx);
    let id = sv.spawns()[0].0;
    sv.services.on_done(
        &mut sv.cx,
        id,
        &Err("spawn /usr/bin/redis: No such file or directory".into()),
    );
    let events = sv.events();
    assert_eq!(
        events,
        vec![
            (
                0,
                Event::ServiceFailed {
                    service: "redis".into(),
                    error: "spawn /usr/bin/redis: No such file or directory".into()
                }
            ),
            (
                0,
                Event::ServiceRestarting {
                    service: "redis".into(),
                    backoff_ms: 1000
                }
            )
        ]
    );
    assert_eq!(sv.services.live_children(), 0);
    sv.advance_to_ms(1000);
    assert_eq!(names(&sv.spawns()), ["redis"], "ork still waits");
}

#[test]
fn dependency_cycle_never_starts_and_is_reported_once() {
    let mut sv = Sv::new(vec![
        spec("a", &["b"]),
        spec("b", &["a"]),
        spec("c", &["ghost"]),
        spec("redis", &[]),
    ]);
    sv.services.on_release(&mut sv.cx);
    assert_eq!(names(&sv.spawns()), ["redis"]);
    let failed: Vec<_> = sv
        .events()
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::ServiceFailed { service, error } => Some(format!("{service}: {error}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            "a: dependency cycle: a -> b -> a",
            "b: dependency cycle: b -> a -> b",
            "c: depends on unknown service `ghost`"
        ]
    );
    sv.services.on_release(&mut sv.cx);
    sv.advance_to_ms(600_000);
    assert!(sv.events().is_empty());
    assert!(sv.spawns().is_empty());
    assert_eq!(sv.cx.timers.next_deadline(), None, "nothing loops");
}

#[test]
fn output_and_shutdown() {
    let mut sv = Sv::new(vec![spec("redis", &[]), spec("fs", &[])]);
    sv.services.on_release(&mut sv.cx);
    let spawns = sv.spawns();
    sv.spawned(spawns[0].0, 10);
    sv.services
        .on_child_output(&mut sv.cx, spawns[0].0, Stream::Stdout, "Ready to accept");
    assert!(sv.events().contains(&(
        0,
        Event::ChildOutput {
            child: "service:redis".into(),
            stream: "stdout".into(),
            line: "Ready to accept".into()
        }
    )));
    // fs is in its backoff when shutdown comes.
    sv.spawned(spawns[1].0, 11);
    sv.exited(spawns[1].0, ExitStatus::Code(2));
    sv.events();
    sv.services.stop_all(&mut sv.cx);
    let kills: Vec<_> = std::iter::from_fn(|| sv.cx.pop_action())
        .map(|a| a.effect)
        .collect();
    assert_eq!(
        kills,
        vec![Effect::Kill {
            child: spawns[0].0,
            signal: KillSignal::Term
        }]
    );
    assert_eq!(sv.services.live_children(), 1);
    sv.exited(spawns[0].0, ExitStatus::Signal(15));
    assert_eq!(sv.services.live_children(), 0);
    sv.advance_to_ms(600_000);
    assert!(sv.spawns().is_empty(), "no restart after shutdown");
    let names: Vec<_> = sv.events().iter().map(|(_, e)| e.name()).collect();
    assert_eq!(names, ["service.exited"]);
    sv.services.on_release(&mut sv.cx);
    assert!(sv.spawns().is_empty());
}

/// Through the reactor: no service is asked for before the gate opens.
#[test]
fn no_service_before_the_gate() {
    let mut h = Harness::start(Policy {
        services: vec![spec("redis", &[]), spec("ork", &["redis"])],
        gate: GatePolicy {
            targets: vec!["1.1.1.1:53".into()],
            ..GatePolicy::default()
        },
        ..Policy::default()
    });
    h.input(Input::ColdplugDone);
    h.advance_to_ms(30_000);
    let spawn_services = |h: &mut Harness| {
        h.take_actions()
            .into_iter()
            .filter(|a| {
                matches!(
                    a.effect,
                    Effect::Spawn {
                        role: ChildRole::Service { .. },
                        ..
                    }
                )
            })
            .count()
    };
    assert_eq!(spawn_services(&mut h), 0);
    assert!(
        !h.take_events()
            .iter()
            .any(|(_, e)| e.name().starts_with("service."))
    );
    h.advance_to_ms(60_000);
    let events = h.take_events();
    let released = events.iter().position(|(_, e)| e.name() == "gate.released");
    let first_service = events
        .iter()
        .position(|(_, e)| e.name().starts_with("service."));
    assert!(released.is_some());
    if let Some(first) = first_service {
        assert!(released < Some(first));
    }
}

#[test]
fn oneshot_done_on_exit_0_and_services_after_it_wait_for_that() {
    let mut sv = Sv::new(vec![
        oneshot("nft", &[]),
        spec("libvirt", &["nft"]),
        spec("redis", &[]),
    ]);
    sv.services.on_release(&mut sv.cx);
    let first = sv.spawns();
    assert_eq!(names(&first), ["nft", "redis"]);
    // Started is not enough: libvirt waits for nft to finish.
    sv.spawned(first[0].0, 10);
    sv.spawned(first[1].0, 11);
    assert!(sv.spawns().is_empty());
    sv.advance_to_ms(300);
    sv.events();
    sv.exited(first[0].0, ExitStatus::Code(0));
    let events = sv.events();
    assert_eq!(
        events,
        vec![
            (
                300,
                Event::ServiceExited {
                    service: "nft".into(),
                    pid: 10,
                    status: "exit 0".into()
                }
            ),
            (
                300,
                Event::ServiceDone {
                    service: "nft".into()
                }
            )
        ]
    );
    let libvirt = sv.spawns();
    assert_eq!(names(&libvirt), ["libvirt"]);
    // Done means done: no restart timer, nothing ever respawns it.
    assert_eq!(sv.cx.timers.next_deadline(), None);
    sv.advance_to_ms(600_000);
    assert!(sv.spawns().is_empty());
    assert!(sv.services.summary()[0].starts_with("nft: done"));
    // Shutdown sends no kill to a finished one-shot.
    sv.services.stop_all(&mut sv.cx);
    let kills: Vec<EffectId> = std::iter::from_fn(|| sv.cx.pop_action())
        .filter_map(|a| match a.effect {
            Effect::Kill { child, .. } => Some(child),
            _ => None,
        })
        .collect();
    assert_eq!(kills, vec![libvirt[0].0, first[1].0]);
}

#[test]
fn failing_oneshot_is_retried_with_backoff_and_holds_its_dependents() {
    let mut sv = Sv::new(vec![oneshot("nft", &[]), spec("dnsmasq", &["nft"])]);
    sv.services.on_release(&mut sv.cx);
    let mut id = sv.spawns()[0].0;
    for (pid, status) in [(10, ExitStatus::Code(1)), (11, ExitStatus::Signal(9))] {
        sv.spawned(id, pid);
        sv.exited(id, status);
        let events = sv.events();
        assert!(
            events
                .iter()
                .any(|(_, e)| matches!(e, Event::ServiceRestarting { .. }))
        );
        assert!(
            !events
                .iter()
                .any(|(_, e)| matches!(e, Event::ServiceDone { .. }))
        );
        let at = sv.cx.timers.next_deadline().unwrap();
        sv.advance_to_ms(at.as_millis());
        let again = sv.spawns();
        assert_eq!(names(&again), ["nft"], "only nft comes back");
        id = again[0].0;
    }
    sv.spawned(id, 12);
    sv.exited(id, ExitStatus::Code(0));
    assert_eq!(names(&sv.spawns()), ["dnsmasq"]);
}

/// Issue 9: shutdown stops services in reverse dependency order, each only once
/// everything started after it has exited; an independent service at once.
#[test]
fn shutdown_stops_dependents_before_their_dependencies() {
    let mut sv = Sv::new(vec![
        spec("store", &[]),
        spec("api", &["store"]),
        spec("web", &["api"]),
        spec("ntp", &[]),
    ]);
    sv.services.on_release(&mut sv.cx);
    let mut ids = std::collections::BTreeMap::new();
    for round in 0..3 {
        for (id, name) in sv.spawns() {
            sv.spawned(id, 100 + round);
            ids.insert(name, id);
        }
    }
    assert_eq!(ids.len(), 4, "{ids:?}");
    let kills = |sv: &mut Sv| -> Vec<EffectId> {
        std::iter::from_fn(|| sv.cx.pop_action())
            .filter_map(|a| match a.effect {
                Effect::Kill {
                    child,
                    signal: KillSignal::Term,
                } => Some(child),
                _ => None,
            })
            .collect()
    };
    sv.services.stop_all(&mut sv.cx);
    assert_eq!(kills(&mut sv), vec![ids["web"], ids["ntp"]]);
    sv.exited(ids["ntp"], ExitStatus::Signal(15));
    assert!(
        kills(&mut sv).is_empty(),
        "store and api still have dependents up"
    );
    sv.exited(ids["web"], ExitStatus::Signal(15));
    assert_eq!(kills(&mut sv), vec![ids["api"]]);
    sv.exited(ids["api"], ExitStatus::Signal(15));
    assert_eq!(kills(&mut sv), vec![ids["store"]]);
    sv.exited(ids["store"], ExitStatus::Signal(15));
    assert_eq!(sv.services.live_children(), 0);
    assert!(kills(&mut sv).is_empty());
}
