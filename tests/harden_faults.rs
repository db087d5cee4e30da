//! Faults at the core level, through a scripted world on a virtual clock (no root):
//! mkfs.btrfs failing, a partition that never appears, a mount that fails (fresh and
//! labelled), a DHCP client crashing repeatedly, a service crash-looping, a world
//! error on every effect. Each must be logged with a clear error and survived: the
//! core keeps answering (a `Status` signal still gets a `status` record), nothing is
//! formatted twice, no second disk is touched after a failure, restarts are paced.

// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use nodeboot::core::action::{Action, ChildRole, Effect};
use nodeboot::core::event::{Event, Level};
use nodeboot::core::input::{
    EffectOutput, ExitStatus, IFF_LOWER_UP, IFF_RUNNING, IFF_UP, Input, LinkState, SignalKind,
};
use nodeboot::core::policy::{Policy, ServiceSpec};
use nodeboot::time::Instant;
use std::time::Duration;
use support::core_harness::{Sim, blank_probe, block_add, block_uevent};

const GIB: u64 = 1 << 30;

/// What goes wrong in the scripted world.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    None,
    MkfsFails,
    PartitionNeverAppears,
    MountFails,
    DhcpCrashes,
    ServiceCrashes,
    EveryEffectFails,
}

/// A world where everything works except `fault`. Disks: `sda` (blank SSD), `sdb`
/// (blank SSD), or whatever `probes` says.
struct World {
    fault: Fault,
    next_pid: u32,
    labelled: Option<&'static str>,
}

impl World {
    fn new(fault: Fault) -> World {
        World {
            fault,
            next_pid: 1000,
            labelled: None,
        }
    }

    fn answer(&mut self, a: &Action, _now: Instant) -> Vec<(u64, Input)> {
        let done = |result| vec![(1, Input::EffectDone { id: a.id, result })];
        if self.fault == Fault::EveryEffectFails && !matches!(a.effect, Effect::Shutdown { .. }) {
            return done(Err("EIO: the world is broken".into()));
        }
        match &a.effect {
            Effect::ProbeDisk { device } => {
                let label = (Some(device.as_str()) == self.labelled).then_some("sp_zos-cache");
                let sigs: &[&str] = if label.is_some() { &["btrfs"] } else { &[] };
                done(blank_probe(8 * GIB, sigs, label))
            }
            Effect::AddPartition { disk, number } => {
                let mut v = done(Ok(EffectOutput::Done));
                if self.fault != Fault::PartitionNeverAppears {
                    v.push((
                        5,
                        Input::Uevent {
                            uevent: block_uevent(disk, Some(*number)),
                        },
                    ));
                }
                v
            }
            Effect::Mkfs { .. } if self.fault == Fault::MkfsFails => done(Err(
                "mkfs.btrfs: exit 1: ERROR: unable to open /dev/sda1: Input/output error".into(),
            )),
            Effect::Mount { .. } if self.fault == Fault::MountFails => done(Err(
                "mount: EINVAL: wrong fs type, bad option, bad superblock".into(),
            )),
            Effect::ListSubvolumes { .. } => {
                done(Ok(EffectOutput::Subvolumes { names: Vec::new() }))
            }
            Effect::Spawn { role, .. } => {
                self.next_pid += 1;
                let pid = self.next_pid;
                let mut v = vec![(
                    1,
                    Input::EffectDone {
                        id: a.id,
                        result: Ok(EffectOutput::Spawned { pid }),
                    },
                )];
                let crashes = match role {
                    ChildRole::Dhcp { .. } => self.fault == Fault::DhcpCrashes,
                    ChildRole::Service { .. } => self.fault == Fault::ServiceCrashes,
                };
                if crashes {
                    v.push((
                        150,
                        Input::ChildExited {
                            id: a.id,
                            status: ExitStatus::Code(1),
                        },
                    ));
                }
                v
            }
            Effect::Kill { child, .. } => vec![
                (
                    1,
                    Input::EffectDone {
                        id: a.id,
                        result: Ok(EffectOutput::Done),
                    },
                ),
                (
                    10,
                    Input::ChildExited {
                        id: *child,
                        status: ExitStatus::Signal(15),
                    },
                ),
            ],
            Effect::Shutdown { .. } => Vec::new(),
            _ => done(Ok(EffectOutput::Done)),
        }
    }
}

fn policy() -> Policy {
    let mut p = Policy {
        modprobe: false,
        ..Default::default()
    };
    p.gate.targets = vec!["192.0.2.1:80".into()];
    p.services = vec![
        ServiceSpec {
            name: "redis".into(),
            argv: vec!["redis-server".into()],
            ..Default::default()
        },
        ServiceSpec {
            name: "zos-fs".into(),
            argv: vec!["0-fs".into()],
            after: vec!["redis".into()],
            ..Default::default()
        },
    ];
    p
}

fn nic() -> Input {
    Input::Link {
        link: LinkState {
            index: 2,
            name: "eth0".into(),
            flags: IFF_UP | IFF_RUNNING | IFF_LOWER_UP,
            kind: None,
            mac: Some("52:54:00:12:34:56".into()),
            operstate: None,
        },
    }
}

/// Boots two blank SSDs and a NIC under `fault` for `secs` virtual seconds, then asks
/// for a status: the core must still answer.
fn boot(fault: Fault, labelled: Option<&'static str>, secs: u64) -> Sim {
    let mut sim = Sim::new(policy());
    let mut world = World::new(fault);
    world.labelled = labelled;
    sim.at(
        0,
        Input::Uevent {
            uevent: block_add("sda"),
        },
    );
    sim.at(
        0,
        Input::Uevent {
            uevent: block_add("sdb"),
        },
    );
    sim.at(0, nic());
    sim.at(1, Input::ColdplugDone);
    sim.at(
        secs * 1000,
        Input::Signal {
            signal: SignalKind::Status,
        },
    );
    sim.run_until(secs * 1000 + 10, &mut |a, now| world.answer(a, now));
    assert!(
        sim.events()
            .iter()
            .any(|e| matches!(e, Event::Status { .. })),
        "{fault:?}: no status record after the fault: the core stopped answering\n{}",
        sim.dump()
    );
    sim
}

fn mkfs_count(sim: &Sim) -> usize {
    sim.count(|e| matches!(e, Effect::Mkfs { .. }))
}
fn table_writes(sim: &Sim) -> Vec<String> {
    sim.actions
        .iter()
        .filter_map(|(_, a)| match &a.effect {
            Effect::WritePartitionTable { disk, .. } => Some(disk.clone()),
            _ => None,
        })
        .collect()
}
fn failed(sim: &Sim) -> Vec<(String, String)> {
    sim.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::CacheFailed { step, error, .. } => Some((step.clone(), error.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_healthy_world_prepares_one_disk_once() {
    // The control for every fault below: the same world without a fault gets a cache.
    let sim = boot(Fault::None, None, 120);
    assert_eq!(mkfs_count(&sim), 1, "{}", sim.dump());
    assert_eq!(table_writes(&sim), vec!["sda".to_owned()]);
    assert!(
        sim.events()
            .iter()
            .any(|e| matches!(e, Event::CacheReady { .. }))
    );
    assert!(
        sim.events()
            .iter()
            .any(|e| matches!(e, Event::ServiceStarted { .. }))
    );
}

#[test]
fn mkfs_failing_is_reported_and_never_retried_on_another_disk() {
    let sim = boot(Fault::MkfsFails, None, 600);
    let f = failed(&sim);
    assert_eq!(f.len(), 1, "{}", sim.dump());
    assert_eq!(f[0].0, "mkfs");
    assert!(f[0].1.contains("Input/output error"), "error lost: {f:?}");
    assert_eq!(mkfs_count(&sim), 1, "mkfs retried:\n{}", sim.dump());
    assert_eq!(
        table_writes(&sim),
        vec!["sda".to_owned()],
        "second disk touched"
    );
    // Boot goes on without a cache: the services still start.
    assert!(
        sim.events()
            .iter()
            .any(|e| matches!(e, Event::ServiceStarted { .. }))
    );
}

#[test]
fn a_partition_that_never_appears_is_given_up_without_mkfs() {
    let sim = boot(Fault::PartitionNeverAppears, None, 600);
    let f = failed(&sim);
    assert_eq!(f.len(), 1, "{}", sim.dump());
    assert_eq!(f[0].0, "add-partition", "{f:?}");
    assert_eq!(mkfs_count(&sim), 0, "formatted a partition it never saw");
    assert_eq!(table_writes(&sim), vec!["sda".to_owned()]);
    assert!(
        sim.events()
            .iter()
            .any(|e| matches!(e, Event::ServiceStarted { .. }))
    );
}

#[test]
fn a_mount_that_fails_after_mkfs_is_reported_once() {
    let sim = boot(Fault::MountFails, None, 600);
    let f = failed(&sim);
    assert_eq!(f.len(), 1, "{}", sim.dump());
    assert!(f[0].0.starts_with("mount"), "{f:?}");
    assert!(f[0].1.contains("EINVAL"), "{f:?}");
    assert_eq!(mkfs_count(&sim), 1);
    assert_eq!(table_writes(&sim), vec!["sda".to_owned()]);
}

#[test]
fn a_labelled_cache_that_fails_to_mount_never_formats_another_disk() {
    // sdb holds our labelled btrfs; sda is blank. The mount of sdb fails: loud error,
    // and sda is left alone (BRIEF: never a reason to format another disk).
    let sim = boot(Fault::MountFails, Some("sdb"), 600);
    let f = failed(&sim);
    assert_eq!(f.len(), 1, "{}", sim.dump());
    assert_eq!(
        mkfs_count(&sim),
        0,
        "formatted after a failed mount:\n{}",
        sim.dump()
    );
    assert!(table_writes(&sim).is_empty(), "{:?}", table_writes(&sim));
    assert!(
        sim.records
            .iter()
            .any(|r| r.level == Level::Error && matches!(r.event, Event::CacheFailed { .. })),
        "the failure is not at error level"
    );
}

/// Start times of one child (`dhcp:<nic>` or `service:<name>`).
fn spawns(sim: &Sim, who: &str) -> Vec<Instant> {
    sim.actions
        .iter()
        .filter(|(_, a)| match &a.effect {
            Effect::Spawn {
                role: ChildRole::Dhcp { nic },
                ..
            } => who == format!("dhcp:{nic}"),
            Effect::Spawn {
                role: ChildRole::Service { service },
                ..
            } => who == format!("service:{service}"),
            _ => false,
        })
        .map(|(t, _)| *t)
        .collect()
}

fn assert_paced(times: &[Instant], what: &str, secs: u64) {
    // Capped backoff: restarts keep coming (a supervised child is not abandoned
    // silently) but never faster than the initial backoff, and far fewer than one
    // per crash-time (150 ms) over the run.
    assert!(times.len() >= 3, "{what}: only {} starts", times.len());
    let gaps: Vec<Duration> = times
        .windows(2)
        .map(|w| Duration::from_micros(w[1].as_micros() - w[0].as_micros()))
        .collect();
    let min = gaps.iter().min().unwrap();
    assert!(
        *min >= Duration::from_millis(150),
        "{what}: restarted after {min:?}"
    );
    assert!(
        (times.len() as u64) < secs * 1000 / 300,
        "{what}: {} starts in {secs} s: no backoff",
        times.len()
    );
    // The gaps grow to the cap and stay there.
    let last = gaps.last().unwrap();
    assert!(last >= &gaps[0], "{what}: backoff shrank: {gaps:?}");
}

#[test]
fn a_dhcp_client_crashing_repeatedly_is_restarted_with_backoff() {
    let secs = 600;
    let sim = boot(Fault::DhcpCrashes, None, secs);
    let times = spawns(&sim, "dhcp:eth0");
    let exited = sim
        .events()
        .iter()
        .filter(|e| matches!(e, Event::DhcpExited { .. }))
        .count();
    assert!(exited >= 3, "exits not logged:\n{}", sim.dump());
    // Either restarted with backoff for the whole run, or given up loudly.
    let gave_up = sim
        .events()
        .iter()
        .any(|e| matches!(e, Event::DhcpGaveUp { .. }));
    if !gave_up {
        assert_paced(&times, "dhcp", secs);
    }
    eprintln!(
        "dhcp crash loop: {} starts in {secs} s, gave up: {gave_up}",
        times.len()
    );
    // The gate still opens (by timeout or reachability) and services start.
    assert!(
        sim.events()
            .iter()
            .any(|e| matches!(e, Event::GateReleased { .. }))
    );
}

#[test]
fn a_service_crash_looping_is_restarted_with_capped_backoff() {
    let secs = 600;
    let sim = boot(Fault::ServiceCrashes, None, secs);
    let times = spawns(&sim, "service:redis");
    assert_paced(&times, "redis", secs);
    let restarting = sim
        .events()
        .iter()
        .filter(|e| matches!(e, Event::ServiceRestarting { .. }))
        .count();
    assert!(restarting >= 3, "{}", sim.dump());
    eprintln!("service crash loop: {} starts in {secs} s", times.len());
    // The cache was still prepared exactly once.
    assert_eq!(mkfs_count(&sim), 1);
}

#[test]
fn every_effect_failing_leaves_a_running_core_and_no_format() {
    let sim = boot(Fault::EveryEffectFails, None, 600);
    // Every probe failed: every disk is unreadable, so in use; nothing is written.
    assert_eq!(mkfs_count(&sim), 0, "{}", sim.dump());
    assert!(table_writes(&sim).is_empty());
    assert!(
        sim.records.iter().any(|r| r.level >= Level::Warn),
        "failures logged at no warning level"
    );
}
