//! A simulated world for scenarios: answers the core's effects the way the live
//! world would, a little later (`latency_ms`), from a [`WorldSpec`]. Partitioning and
//! formatting change what later probes see; `AddPartition` makes the partition's
//! `add` uevent appear; children lease, crash and exit as scripted; `Kill` makes a
//! child exit. Pure and deterministic, like the core.

use super::world::{ChildSpec, DiskSpec, TargetSpec, WorldSpec};
use crate::core::action::{Action, ChildRole, Effect, EffectId, KillSignal};
use crate::core::input::{
    DiskProbe, EffectOutput, EffectResult, ExitStatus, Input, LinkState, PartitionEntry,
};
use crate::core::policy::glob_match;
use crate::time::{Duration, Instant};
use crate::wire::uevent::{Uevent, UeventAction};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

const DEFAULT_LATENCY_MS: u64 = 5;
const DEFAULT_ADDRESS: &str = "10.0.2.15/24";
const SECTOR: u64 = 512;

struct SimDisk {
    spec: DiskSpec,
}

struct SimChild {
    alive: bool,
}

/// An answer waiting for its time.
struct Pending {
    input: Input,
    /// Dropped if this child is dead by then (its lease, its scripted exit).
    child: Option<EffectId>,
    /// Dropped if this effect was cancelled by then.
    effect: Option<EffectId>,
}

pub struct Sim {
    spec: WorldSpec,
    disks: BTreeMap<String, SimDisk>,
    devpaths: BTreeMap<String, String>,
    subvolumes: BTreeSet<String>,
    children: BTreeMap<EffectId, SimChild>,
    spawns: BTreeMap<String, usize>,
    links: BTreeMap<String, LinkState>,
    cancelled: BTreeSet<EffectId>,
    next_pid: u32,
    seq: u64,
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    pending: BTreeMap<u64, Pending>,
    shut_down: bool,
}

impl Sim {
    /// `pool_mount` is where the policy mounts the pool; `spec.subvolumes` are
    /// relative to it.
    pub fn new(spec: WorldSpec, pool_mount: &str) -> Sim {
        let pool = pool_mount.trim_end_matches('/').to_owned();
        let subvolumes = spec
            .subvolumes
            .iter()
            .map(|s| format!("{pool}/{}", s.trim_matches('/')))
            .collect();
        let disks = spec
            .disks
            .iter()
            .map(|(name, d)| (name.clone(), SimDisk { spec: d.clone() }))
            .collect();
        Sim {
            spec,
            disks,
            devpaths: BTreeMap::new(),
            subvolumes,
            children: BTreeMap::new(),
            spawns: BTreeMap::new(),
            links: BTreeMap::new(),
            cancelled: BTreeSet::new(),
            next_pid: 100,
            seq: 0,
            queue: BinaryHeap::new(),
            pending: BTreeMap::new(),
            shut_down: false,
        }
    }

    /// The core asked for `Shutdown`: the run is over.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// Learn from an input the core is handed (link indexes, device paths).
    pub fn observe(&mut self, input: &Input) {
        match input {
            Input::Link { link } => {
                self.links.insert(link.name.clone(), link.clone());
            }
            Input::LinkRemoved { name, .. } => {
                self.links.remove(name);
            }
            Input::Uevent { uevent } if uevent.subsystem == "block" => {
                if let Some(name) = &uevent.devname {
                    self.devpaths.insert(name.clone(), uevent.devpath.clone());
                }
            }
            _ => {}
        }
    }

    /// When the next answer is due.
    pub fn next_time(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((t, _))| *t)
    }

    /// The next answer due at or before `now`, skipping the ones that no longer
    /// apply (a cancelled connect, the lease of a client killed meanwhile).
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, Input)> {
        while let Some(Reverse((t, seq))) = self.queue.peek().copied() {
            if t > now {
                return None;
            }
            self.queue.pop();
            let Some(p) = self.pending.remove(&seq) else {
                continue;
            };
            if p.effect.is_some_and(|id| self.cancelled.contains(&id)) {
                continue;
            }
            if let Some(id) = p.child
                && !self.children.get(&id).is_some_and(|c| c.alive)
            {
                continue;
            }
            if let Input::ChildExited { id, .. } = &p.input {
                match self.children.get_mut(id) {
                    Some(c) if c.alive => c.alive = false,
                    _ => continue,
                }
            }
            return Some((t, p.input));
        }
        None
    }

    fn schedule(
        &mut self,
        at: Instant,
        input: Input,
        child: Option<EffectId>,
        effect: Option<EffectId>,
    ) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.pending.insert(
            self.seq,
            Pending {
                input,
                child,
                effect,
            },
        );
    }

    fn latency(&self, effect_name: &str) -> Duration {
        let ms = self
            .spec
            .effect_ms
            .get(effect_name)
            .copied()
            .or(self.spec.latency_ms)
            .unwrap_or(DEFAULT_LATENCY_MS);
        Duration::from_millis(ms)
    }

    fn done(&mut self, now: Instant, action: &Action, name: &str, result: EffectResult) {
        let at = now + self.latency(name);
        self.schedule(
            at,
            Input::EffectDone {
                id: action.id,
                result,
            },
            None,
            Some(action.id),
        );
    }

    /// Answer one action the core emitted at `now`.
    pub fn answer(&mut self, now: Instant, action: &Action) {
        let name = effect_name(&action.effect);
        if let Some(err) = self.failure(&name, &action.effect) {
            self.done(now, action, &name, Err(err));
            return;
        }
        let result = match &action.effect {
            Effect::ProbeDisk { device } => self.probe(device),
            Effect::LoadModule { modalias } => {
                if self
                    .spec
                    .modules_fail
                    .iter()
                    .any(|p| glob_match(p, modalias))
                {
                    Err(format!("modprobe: no module for {modalias}"))
                } else {
                    Ok(EffectOutput::Done)
                }
            }
            Effect::SetLinkUp { nic, .. } => {
                self.link_up(now + self.latency(&name) * 2, nic);
                Ok(EffectOutput::Done)
            }
            Effect::WritePartitionTable {
                disk,
                name: part_name,
            } => self.write_table(disk, part_name),
            Effect::AddPartition { disk, number } => {
                let at = now + self.latency(&name) * 2;
                self.add_partition(at, disk, *number)
            }
            Effect::Mkfs { device, label } => self.mkfs(device, label),
            Effect::Mount { source, fstype, .. } => self.mount(source, fstype),
            Effect::CreateSubvolume { path } => {
                self.subvolumes
                    .insert(path.trim_end_matches('/').to_owned());
                Ok(EffectOutput::Done)
            }
            Effect::ListSubvolumes { path } => Ok(EffectOutput::Subvolumes {
                names: self.list_subvolumes(path),
            }),
            Effect::DeleteSubvolume { path } => {
                if self.subvolumes.remove(path.trim_end_matches('/')) {
                    Ok(EffectOutput::Done)
                } else {
                    Err(format!("{path}: no such subvolume"))
                }
            }
            Effect::CopyTree { .. } | Effect::ReopenLogs { .. } => Ok(EffectOutput::Done),
            Effect::Spawn { role, .. } => {
                self.spawn(now, action.id, role, &name);
                return;
            }
            Effect::Kill { child, signal } => {
                self.kill(now + self.latency(&name), *child, *signal);
                Ok(EffectOutput::Done)
            }
            Effect::Connect { target } => match self.connect(now, target) {
                Some(r) => r,
                None => return, // hangs: the core's attempt timeout must cancel it
            },
            Effect::Cancel { probe } => {
                self.cancelled.insert(*probe);
                Ok(EffectOutput::Done)
            }
            Effect::Shutdown { .. } => {
                self.shut_down = true;
                return;
            }
        };
        self.done(now, action, &name, result);
    }

    /// A scripted failure for this effect (world-wide, or on its device).
    fn failure(&self, name: &str, effect: &Effect) -> Option<String> {
        if let Some(e) = self.spec.fail.get(name) {
            return Some(e.clone());
        }
        let device = match effect {
            Effect::ProbeDisk { device } | Effect::Mkfs { device, .. } => device.as_str(),
            Effect::WritePartitionTable { disk, .. } | Effect::AddPartition { disk, .. } => {
                disk.as_str()
            }
            Effect::Mount { source, .. } => source.trim_start_matches("/dev/"),
            _ => return None,
        };
        self.disks
            .get(device)
            .and_then(|d| d.spec.fail.get(name))
            .cloned()
    }

    fn probe(&self, device: &str) -> EffectResult {
        if let Some(d) = self.disks.get(device) {
            return Ok(EffectOutput::Disk {
                probe: d.spec.probe.clone(),
            });
        }
        match &self.spec.default_disk {
            Some(p) => {
                let mut probe = p.clone();
                if self.spec.ssd.iter().any(|pat| glob_match(pat, device)) {
                    probe.rotational = false;
                }
                Ok(EffectOutput::Disk { probe })
            }
            None => Err(format!("/dev/{device}: no such device")),
        }
    }

    /// The device's probe, materialising an unlisted device from `default_disk`.
    fn disk_mut(&mut self, device: &str) -> Option<&mut SimDisk> {
        if !self.disks.contains_key(device)
            && let Ok(EffectOutput::Disk { probe }) = self.probe(device)
        {
            self.disks.insert(
                device.to_owned(),
                SimDisk {
                    spec: DiskSpec {
                        probe,
                        ..DiskSpec::default()
                    },
                },
            );
        }
        self.disks.get_mut(device)
    }

    fn write_table(&mut self, disk: &str, part_name: &str) -> EffectResult {
        let Some(d) = self.disk_mut(disk) else {
            return Err(format!("/dev/{disk}: no such device"));
        };
        let sectors = d.spec.probe.size_bytes / SECTOR;
        d.spec.probe.partition_table = Some("gpt".into());
        d.spec.probe.partitions = vec![PartitionEntry {
            number: 1,
            name: part_name.to_owned(),
            start_lba: 2048,
            size_lba: sectors.saturating_sub(2048 + 33),
        }];
        Ok(EffectOutput::Done)
    }

    fn add_partition(&mut self, at: Instant, disk: &str, number: u32) -> EffectResult {
        let part = partition_name(disk, number);
        let Some(d) = self.disk_mut(disk) else {
            return Err(format!("/dev/{disk}: no such device"));
        };
        let entry = d
            .spec
            .probe
            .partitions
            .iter()
            .find(|p| p.number == number)
            .cloned();
        let Some(entry) = entry else {
            return Err(format!("/dev/{disk}: no partition {number} in the table"));
        };
        let silent = d.spec.no_partition_uevent;
        let probe = DiskProbe {
            size_bytes: entry.size_lba * SECTOR,
            rotational: d.spec.probe.rotational,
            ..DiskProbe::default()
        };
        if !self.disks.contains_key(&part) {
            self.disks.insert(
                part.clone(),
                SimDisk {
                    spec: DiskSpec {
                        probe,
                        ..DiskSpec::default()
                    },
                },
            );
        }
        if !silent {
            let parent_path = self
                .devpaths
                .get(disk)
                .cloned()
                .or_else(|| self.disks.get(disk).and_then(|d| d.spec.devpath.clone()))
                .unwrap_or_else(|| format!("/devices/virtual/block/{disk}"));
            let uevent = partition_uevent(&parent_path, &part, number);
            self.schedule(at, Input::Uevent { uevent }, None, None);
        }
        Ok(EffectOutput::Done)
    }

    fn mkfs(&mut self, device: &str, label: &str) -> EffectResult {
        let Some(d) = self.disk_mut(device) else {
            return Err(format!("/dev/{device}: no such device"));
        };
        d.spec.probe.signatures = vec!["btrfs".into()];
        d.spec.probe.btrfs_label = Some(label.to_owned());
        Ok(EffectOutput::Done)
    }

    fn mount(&mut self, source: &str, fstype: &str) -> EffectResult {
        let device = source.trim_start_matches("/dev/");
        if let Some(d) = self.disks.get(device) {
            let has_fs = d.spec.probe.signatures.iter().any(|s| s == fstype)
                || (fstype == "btrfs" && d.spec.probe.btrfs_label.is_some());
            if !has_fs {
                return Err(format!(
                    "mount {source}: wrong fs type, bad option, bad superblock"
                ));
            }
        }
        Ok(EffectOutput::Done)
    }

    fn list_subvolumes(&self, path: &str) -> Vec<String> {
        let dir = path.trim_end_matches('/');
        let prefix = format!("{dir}/");
        self.subvolumes
            .iter()
            .filter_map(|s| s.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_owned)
            .collect()
    }

    fn spawn(&mut self, now: Instant, id: EffectId, role: &ChildRole, name: &str) {
        let (key, spec) = match role {
            ChildRole::Dhcp { nic } => (format!("dhcp:{nic}"), lookup(&self.spec.dhcp, nic)),
            ChildRole::Service { service } => (
                format!("service:{service}"),
                lookup(&self.spec.services, service),
            ),
        };
        let n = self.spawns.entry(key).or_insert(0);
        let run = spec.run(*n);
        *n += 1;
        let at = now + self.latency(name);
        if let Some(err) = run.spawn_error {
            self.schedule(
                at,
                Input::EffectDone {
                    id,
                    result: Err(err),
                },
                None,
                None,
            );
            return;
        }
        self.next_pid += 1;
        let pid = self.next_pid;
        self.children.insert(id, SimChild { alive: true });
        self.schedule(
            at,
            Input::EffectDone {
                id,
                result: Ok(EffectOutput::Spawned { pid }),
            },
            None,
            None,
        );
        if let (ChildRole::Dhcp { nic }, Some(after)) = (role, run.lease_after_ms) {
            let index = self.links.get(nic).map_or(0, |l| l.index);
            let address = run.address.unwrap_or_else(|| DEFAULT_ADDRESS.into());
            self.schedule(
                at + Duration::from_millis(after),
                Input::Address {
                    index,
                    address,
                    added: true,
                },
                Some(id),
                None,
            );
        }
        if let Some(after) = run.exit_after_ms {
            let status = match run.signal {
                Some(s) => ExitStatus::Signal(s),
                None => ExitStatus::Code(run.code.unwrap_or(1)),
            };
            self.schedule(
                at + Duration::from_millis(after),
                Input::ChildExited { id, status },
                None,
                None,
            );
        }
    }

    fn kill(&mut self, at: Instant, child: EffectId, signal: KillSignal) {
        if !self.children.get(&child).is_some_and(|c| c.alive) {
            return;
        }
        let signo = match signal {
            KillSignal::Term => 15,
            KillSignal::Kill => 9,
        };
        self.schedule(
            at,
            Input::ChildExited {
                id: child,
                status: ExitStatus::Signal(signo),
            },
            None,
            None,
        );
    }

    /// `None`: the connect hangs.
    fn connect(&self, now: Instant, target: &str) -> Option<EffectResult> {
        let spec: TargetSpec = self
            .spec
            .targets
            .get(target)
            .or_else(|| {
                self.spec
                    .targets
                    .iter()
                    .find(|(pat, _)| glob_match(pat, target))
                    .map(|(_, t)| t)
            })
            .cloned()
            .unwrap_or_default();
        if spec.hang {
            return None;
        }
        let reachable = spec
            .reachable_after_ms
            .is_some_and(|t| now >= Instant::from_millis(t));
        Some(if reachable {
            Ok(EffectOutput::Done)
        } else {
            Err(spec
                .error
                .unwrap_or_else(|| format!("connect {target}: connection refused")))
        })
    }

    fn link_up(&mut self, at: Instant, nic: &str) {
        if let Some(link) = self.links.get(nic) {
            let mut link = link.clone();
            if !link.admin_up() {
                link.flags |= crate::core::input::IFF_UP;
                self.schedule(at, Input::Link { link }, None, None);
            }
        }
    }
}

fn lookup(map: &BTreeMap<String, ChildSpec>, name: &str) -> ChildSpec {
    map.get(name)
        .or_else(|| {
            map.iter()
                .find(|(pat, _)| glob_match(pat, name))
                .map(|(_, s)| s)
        })
        .cloned()
        .unwrap_or_default()
}

/// The serde name of an effect (`probe_disk`, `mkfs`, …): the keys of `fail` maps.
pub fn effect_name(effect: &Effect) -> String {
    serde_json::to_value(effect)
        .ok()
        .and_then(|v| v.get("effect").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

/// `sda` + 1 → `sda1`; `nvme0n1` + 1 → `nvme0n1p1`; `loop3` + 1 → `loop3p1`.
pub fn partition_name(disk: &str, number: u32) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{number}")
    } else {
        format!("{disk}{number}")
    }
}

/// The `add` uevent the kernel sends for a new partition.
pub fn partition_uevent(parent_devpath: &str, part: &str, number: u32) -> Uevent {
    let devpath = format!("{parent_devpath}/{part}");
    let env: BTreeMap<String, String> = [
        ("ACTION", "add".to_owned()),
        ("DEVPATH", devpath.clone()),
        ("SUBSYSTEM", "block".to_owned()),
        ("DEVNAME", part.to_owned()),
        ("DEVTYPE", "partition".to_owned()),
        ("PARTN", number.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Uevent {
        action: UeventAction::Add,
        devpath,
        subsystem: "block".into(),
        devtype: Some("partition".into()),
        devname: Some(part.to_owned()),
        seqnum: None,
        env,
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;
    use crate::core::input::{IFF_LOWER_UP, IFF_RUNNING};
    use crate::trace::world::ChildRun;

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
}
