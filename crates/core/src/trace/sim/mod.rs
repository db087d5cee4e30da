//! A simulated world for scenarios: answers the core's effects the way the live
//! world would, a little later (`latency_ms`), from a [`WorldSpec`]. Partitioning and
//! formatting change what later probes see; `AddPartition` makes the partition's
//! `add` uevent appear; children lease, crash and exit as scripted; `Kill` makes a
//! child exit. Pure and deterministic, like the core.

use super::world::{DiskSpec, WorldSpec};
use crate::core::action::{Action, Effect, EffectId};
use crate::core::input::{EffectError, EffectOutput, EffectResult, ErrorKind, Input, LinkState};
use crate::core::policy::glob_match;
use crate::time::{Duration, Instant};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

mod children;
mod disks;
#[cfg(test)]
mod tests;

pub use disks::{partition_name, partition_uevent};

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
    /// Registered filesystem types, from when (`None`: every type, always).
    filesystems: Option<BTreeMap<String, Instant>>,
    /// Mounts still to answer ENODEV (`mount_enodev`).
    enodev_left: u32,
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
        let filesystems = spec
            .filesystems
            .as_ref()
            .map(|list| list.iter().map(|f| (f.clone(), Instant::ZERO)).collect());
        let enodev_left = spec.mount_enodev;
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
            filesystems,
            enodev_left,
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
        let name = action.effect.name();
        if self.hangs(name, &action.effect) {
            return; // a dying disk, a stuck child: only the core's deadline ends it
        }
        if let Some(err) = self.failure(name, &action.effect) {
            self.done(now, action, name, Err(EffectError::other(err)));
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
                    Err(EffectError::other(format!(
                        "modprobe: no module for {modalias}"
                    )))
                } else {
                    self.register_filesystem(now + self.latency(name), modalias);
                    Ok(EffectOutput::Done)
                }
            }
            Effect::ProbeFilesystem { fstype } => Ok(EffectOutput::Filesystem {
                registered: self.has_filesystem(now, fstype),
            }),
            Effect::SetLinkUp { nic, .. } => {
                self.link_up(now + self.latency(name) * 2, nic);
                Ok(EffectOutput::Done)
            }
            Effect::WritePartitionTable {
                disk,
                name: part_name,
            } => self.write_table(disk, part_name),
            Effect::AddPartition { disk, number } => {
                let at = now + self.latency(name) * 2;
                self.add_partition(at, disk, *number)
            }
            Effect::Mkfs {
                device,
                label,
                force,
            } => self.mkfs(device, label, *force),
            Effect::Mount {
                source,
                target,
                fstype,
                ..
            } => {
                if self.enodev_left > 0 || !self.has_filesystem(now, fstype) {
                    self.enodev_left = self.enodev_left.saturating_sub(1);
                    Err(EffectError::new(
                        ErrorKind::NoDevice,
                        format!("mount {source} on {target}: ENODEV: No such device"),
                    ))
                } else {
                    self.mount(source, fstype)
                }
            }
            Effect::Unmount { .. } => Ok(EffectOutput::Done),
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
                    Err(EffectError::new(
                        ErrorKind::NotFound,
                        format!("{path}: no such subvolume"),
                    ))
                }
            }
            Effect::CopyTree { .. } | Effect::ReopenLogs { .. } => Ok(EffectOutput::Done),
            Effect::Spawn { role, .. } => {
                self.spawn(now, action.id, role, name);
                return;
            }
            Effect::Kill { child, signal } => {
                self.kill(now + self.latency(name), *child, *signal);
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
            // The simulated node has no processes but the children it spawned, which
            // the core stopped already.
            Effect::KillAll { .. } => Ok(EffectOutput::Done),
            Effect::Shutdown { .. } => {
                self.shut_down = true;
                return;
            }
        };
        self.done(now, action, name, result);
    }

    /// A module load ending at `at` registers the filesystem of that name.
    fn register_filesystem(&mut self, at: Instant, module: &str) {
        let fstype = module.strip_prefix("fs-").unwrap_or(module);
        if let Some(fs) = &mut self.filesystems
            && !fstype.contains(':')
        {
            fs.entry(fstype.to_owned()).or_insert(at);
        }
    }

    fn has_filesystem(&self, now: Instant, fstype: &str) -> bool {
        self.filesystems
            .as_ref()
            .is_none_or(|fs| fs.get(fstype).is_some_and(|at| *at <= now))
    }
}
