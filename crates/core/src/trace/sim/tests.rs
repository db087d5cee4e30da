//! Simulator unit tests.

use super::*;
use crate::core::action::{Action, ChildRole, Effect, EffectId, KillSignal};
use crate::core::input::{DiskProbe, EffectOutput, ExitStatus, Input, LinkState};
use crate::core::input::{IFF_LOWER_UP, IFF_RUNNING};
use crate::time::{Duration, Instant};
use crate::trace::world::ChildRun;
use crate::trace::world::{ChildSpec, DiskSpec, TargetSpec, WorldSpec};

fn act(id: u64, effect: Effect) -> Action {
    Action {
        id: EffectId(id),
        effect,
    }
}

fn drain(sim: &mut Sim, until: Instant) -> Vec<(Instant, Input)> {
    let mut out = Vec::new();
    while let Some(x) = sim.pop_due(until) {
        out.push(x);
    }
    out
}

fn blank_ssd() -> WorldSpec {
    let mut w = WorldSpec::default();
    w.disks.insert(
        "sda".into(),
        DiskSpec {
            probe: DiskProbe {
                size_bytes: 8 << 30,
                ..DiskProbe::default()
            },
            ..DiskSpec::default()
        },
    );
    w
}

#[test]
fn prepare_steps_change_what_later_probes_see() {
    let mut sim = Sim::new(blank_ssd(), "/mnt/pool");
    let t0 = Instant::from_secs(1);
    sim.answer(
        t0,
        &act(
            1,
            Effect::WritePartitionTable {
                disk: "sda".into(),
                name: "sp_zos-cache".into(),
            },
        ),
    );
    sim.answer(
        t0,
        &act(
            2,
            Effect::AddPartition {
                disk: "sda".into(),
                number: 1,
            },
        ),
    );
    let got = drain(&mut sim, t0 + Duration::from_secs(1));
    // Both done after the latency; the partition's uevent after that.
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].0, t0 + Duration::from_millis(5));
    let Input::Uevent { uevent } = &got[2].1 else {
        panic!("{:?}", got[2])
    };
    assert_eq!(uevent.devname.as_deref(), Some("sda1"));
    assert_eq!(uevent.devtype.as_deref(), Some("partition"));
    sim.answer(
        t0,
        &act(
            3,
            Effect::Mkfs {
                device: "sda1".into(),
                label: "sp_zos-cache".into(),
                force: false,
            },
        ),
    );
    sim.answer(
        t0,
        &act(
            4,
            Effect::ProbeDisk {
                device: "sda1".into(),
            },
        ),
    );
    sim.answer(
        t0,
        &act(
            5,
            Effect::ProbeDisk {
                device: "sdz".into(),
            },
        ),
    );
    let got = drain(&mut sim, t0 + Duration::from_secs(1));
    let Input::EffectDone {
        result: Ok(EffectOutput::Disk { probe }),
        ..
    } = &got[1].1
    else {
        panic!("{:?}", got[1])
    };
    assert_eq!(probe.btrfs_label.as_deref(), Some("sp_zos-cache"));
    assert!(matches!(
        &got[2].1,
        Input::EffectDone { result: Err(_), .. }
    ));
}

#[test]
fn children_lease_crash_and_die_when_killed() {
    let mut w = WorldSpec::default();
    w.dhcp.insert(
        "eth0".into(),
        ChildSpec {
            runs: vec![
                ChildRun {
                    exit_after_ms: Some(100),
                    ..ChildRun::default()
                },
                ChildRun {
                    lease_after_ms: Some(200),
                    ..ChildRun::default()
                },
            ],
            ..ChildSpec::default()
        },
    );
    let mut sim = Sim::new(w, "/mnt/pool");
    sim.observe(&Input::Link {
        link: LinkState {
            index: 7,
            name: "eth0".into(),
            flags: IFF_LOWER_UP | IFF_RUNNING,
            kind: None,
            mac: None,
            operstate: None,
        },
    });
    let spawn = |id| {
        act(
            id,
            Effect::Spawn {
                role: ChildRole::Dhcp { nic: "eth0".into() },
                argv: vec![],
            },
        )
    };
    sim.answer(Instant::ZERO, &spawn(1));
    let got = drain(&mut sim, Instant::from_secs(10));
    assert!(matches!(
        got[0].1,
        Input::EffectDone {
            result: Ok(EffectOutput::Spawned { .. }),
            ..
        }
    ));
    assert_eq!(
        got[1],
        (
            Instant::from_millis(105),
            Input::ChildExited {
                id: EffectId(1),
                status: ExitStatus::Code(1)
            }
        )
    );
    // Second run leases; a kill before the lease suppresses it.
    sim.answer(Instant::from_secs(20), &spawn(2));
    let got = drain(&mut sim, Instant::from_secs(30));
    assert!(matches!(got[1].1, Input::Address { index: 7, .. }));
    sim.answer(Instant::from_secs(40), &spawn(3));
    sim.answer(
        Instant::from_secs(40),
        &act(
            4,
            Effect::Kill {
                child: EffectId(3),
                signal: KillSignal::Term,
            },
        ),
    );
    let got = drain(&mut sim, Instant::from_secs(50));
    assert!(got.iter().all(|(_, i)| !matches!(i, Input::Address { .. })));
    assert!(got.iter().any(|(_, i)| matches!(
        i,
        Input::ChildExited {
            status: ExitStatus::Signal(15),
            ..
        }
    )));
}

#[test]
fn targets_subvolumes_and_cancelled_probes() {
    let mut w = WorldSpec::default();
    w.targets.insert(
        "*".into(),
        TargetSpec {
            reachable_after_ms: Some(5000),
            ..TargetSpec::default()
        },
    );
    w.subvolumes = vec!["cache".into(), "logs".into(), "logs/old".into()];
    let mut sim = Sim::new(w, "/mnt/pool/");
    let connect = |id| {
        act(
            id,
            Effect::Connect {
                target: "1.1.1.1:53".into(),
            },
        )
    };
    sim.answer(Instant::from_secs(1), &connect(1));
    sim.answer(Instant::from_secs(6), &connect(2));
    sim.answer(Instant::from_secs(6), &connect(3));
    sim.answer(
        Instant::from_secs(6),
        &act(4, Effect::Cancel { probe: EffectId(3) }),
    );
    sim.answer(
        Instant::from_secs(6),
        &act(
            5,
            Effect::ListSubvolumes {
                path: "/mnt/pool/logs".into(),
            },
        ),
    );
    let got = drain(&mut sim, Instant::from_secs(10));
    let results: Vec<_> = got
        .iter()
        .filter_map(|(_, i)| match i {
            Input::EffectDone { id, result } => Some((id.0, result.clone())),
            _ => None,
        })
        .collect();
    assert!(results[0].1.is_err());
    assert_eq!(results[1], (2, Ok(EffectOutput::Done)));
    assert!(results.iter().all(|(id, _)| *id != 3));
    assert!(results.contains(&(
        5,
        Ok(EffectOutput::Subvolumes {
            names: vec!["old".into()]
        })
    )));
}
