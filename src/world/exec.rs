//! Carrying out one action: the confinement check first, then the dry-run rule, then
//! the effect itself — in the loop (spawn, kill, connect, cancel, link up, log file,
//! shutdown), as an internal child (`Plan::Command`), or on the worker thread
//! (`Plan::Blocking`).

use super::confine::Confinement;
use super::effects::{self, Plan};
use super::{Core, World};
use crate::core::action::{Action, ChildRole, Effect, KillSignal};
use crate::core::event::Event;
use crate::core::input::{EffectOutput, EffectResult, ExitStatus, Input};

impl<C: Core> World<C> {
    pub(super) fn execute(&mut self, action: Action) {
        let Action { id, effect } = action;
        let confine = &self.settings.confine;
        if let Err(why) = check(&effect, confine, self.settings.pid1) {
            self.log(Event::EffectRefused {
                effect: effect.name().into(),
                error: why.clone(),
            });
            self.answer(id, Err(why));
            return;
        }
        if let Effect::Shutdown { kind } = effect {
            self.shutdown = Some(kind);
            return;
        }
        if confine.dry_run && !read_only(&effect) {
            let detail = serde_json::to_value(&effect).unwrap_or_default();
            self.log(Event::EffectDryRun {
                effect: effect.name().into(),
                detail,
            });
            let output = match effect {
                Effect::Spawn { .. } => {
                    self.dry_children.insert(id);
                    EffectOutput::Spawned { pid: 0 }
                }
                _ => EffectOutput::Done,
            };
            self.answer(id, Ok(output));
            // A child that never ran "exits" when killed, so shutdowns end on time.
            if let Effect::Kill { child, signal } = effect
                && self.dry_children.remove(&child)
            {
                let signo = match signal {
                    KillSignal::Term => libc::SIGTERM,
                    KillSignal::Kill => libc::SIGKILL,
                };
                self.pending.push_back(Input::ChildExited {
                    id: child,
                    status: ExitStatus::Signal(signo),
                });
            }
            return;
        }
        track_disk_step(id, &effect, confine);
        let registry = self.poll.registry();
        match effect {
            Effect::Spawn { argv, role } => {
                let result = self
                    .children
                    .spawn(registry, id, &argv, false)
                    .map(|pid| EffectOutput::Spawned { pid })
                    .map_err(|e| e.to_string());
                self.children
                    .set_name(id, super::children::role_name(&role));
                self.answer(id, result);
            }
            Effect::Kill { child, signal } => {
                // mkfs killed at its deadline: the disk's hold ends with it.
                effects::disklock::answered(child, false);
                let result = self
                    .children
                    .kill(child, signal)
                    .map(|()| EffectOutput::Done);
                self.answer(id, result);
            }
            Effect::KillAll { signal } => {
                self.kill_all(signal);
                self.answer(id, Ok(EffectOutput::Done));
            }
            Effect::Connect { target } => {
                let hosts = self.settings.hosts.clone();
                if let Err(e) = self.probes.connect(registry, id, &target, &hosts) {
                    self.answer(id, Err(e));
                }
            }
            Effect::Cancel { probe } => {
                // A connect past its attempt timeout, or a blocking effect past its
                // deadline: either way nothing waits on it any more.
                self.probes.cancel(registry, probe);
                // A disk step abandoned at its deadline ends the disk's hold as a
                // failed step would: its answer never comes.
                effects::disklock::answered(probe, false);
                let abandoned = self.worker.as_mut().and_then(|w| w.cancel(probe));
                if let Some((effect, stuck)) = abandoned {
                    self.log(Event::WorkerAbandoned {
                        effect,
                        stuck,
                        max: super::worker::MAX_THREADS,
                    });
                }
                self.answer(id, Ok(EffectOutput::Done));
            }
            Effect::SetLinkUp { index, .. } => {
                let result = match &mut self.rtnl {
                    Some(r) => r.set_link_up(index).map_err(|e| e.to_string()),
                    None => Err("no rtnetlink socket".into()),
                };
                match result {
                    Ok(seq) => {
                        self.link_up_acks.insert(seq, id);
                    }
                    Err(e) => self.answer(id, Err(e)),
                }
            }
            Effect::ReopenLogs { dir } => {
                let result = if plain_node_path(&dir) {
                    let dir = self.settings.confine.path(&dir);
                    self.logs.open_file(&dir).map(|_| EffectOutput::Done)
                } else {
                    Err(format!("refused: {dir:?} is not a plain node path"))
                };
                self.answer(id, result);
            }
            other => match effects::plan(&other, &self.settings.confine) {
                Ok(Plan::Command(argv)) => {
                    if let Err(e) = self.children.spawn(registry, id, &argv, true) {
                        self.answer(id, Err(e.to_string()));
                    }
                }
                Ok(Plan::Blocking) => {
                    let result = match &mut self.worker {
                        Some(w) => w.submit(id, other),
                        None => Err("no worker thread".into()),
                    };
                    if let Err(e) = result {
                        self.answer(id, Err(e));
                    }
                }
                Ok(Plan::Loop) => {
                    let name = other.name();
                    self.answer(id, Err(format!("{name}: no handler in the loop")));
                }
                Err(e) => self.answer(id, Err(e)),
            },
        }
    }
}

/// Disk steps are remembered with their disk, so that their answers can end the disk's
/// lock ([`effects::disklock`]): mkfs's answer always, any failed step's too.
fn track_disk_step(id: crate::core::action::EffectId, effect: &Effect, confine: &Confinement) {
    use effects::disklock;
    match effect {
        Effect::WritePartitionTable { disk, .. } | Effect::AddPartition { disk, .. } => {
            disklock::track(id, disk, false);
        }
        Effect::Mkfs { device, .. } => {
            let disk = effects::parent_disk(confine, device).unwrap_or_else(|| device.clone());
            disklock::track(id, &disk, true);
        }
        _ => {}
    }
}

impl<C: Core> World<C> {
    /// Shutdown's stragglers. As PID 1, `kill(-1)`: every process but init itself
    /// (the kernel never signals PID 1 this way). Otherwise only the process groups
    /// of this run's own children: a run must never signal the host's processes.
    fn kill_all(&mut self, signal: KillSignal) {
        use nix::sys::signal::{Signal, kill, killpg};
        use nix::unistd::Pid;
        let sig = match signal {
            KillSignal::Term => Signal::SIGTERM,
            KillSignal::Kill => Signal::SIGKILL,
        };
        if self.settings.pid1 {
            let _ = kill(Pid::from_raw(-1), sig);
            return;
        }
        for pid in self.children.pids() {
            let _ = killpg(Pid::from_raw(pid), sig);
        }
    }
}

/// No `..`: a node path must stay under the confinement root.
fn plain_node_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\0')
        && std::path::Path::new(path)
            .components()
            .all(|c| !matches!(c, std::path::Component::ParentDir))
}

/// Effects a dry run still carries out: they only look at this machine. Reachability
/// probes are not among them: a dry run on a developer machine must send no traffic
/// (the default targets are public addresses), so they are answered as dry-run
/// successes like every other effect.
fn read_only(effect: &Effect) -> bool {
    matches!(
        effect,
        Effect::ProbeDisk { .. }
            | Effect::ListSubvolumes { .. }
            | Effect::Cancel { .. }
            | Effect::Shutdown { .. }
    )
}

/// May `effect` run under `confine`? Whatever the core decided, a device or NIC that
/// is not on the allow-list is never touched (defence in depth).
pub fn check(effect: &Effect, confine: &Confinement, pid1: bool) -> Result<(), String> {
    let disk = |name: &str| -> Result<(), String> {
        if device_allowed(confine, name) {
            Ok(())
        } else {
            Err(format!("refused: disk {name} is not on the allow-list"))
        }
    };
    let nic = |name: &str| -> Result<(), String> {
        if confine.nic_allowed(name) {
            Ok(())
        } else {
            Err(format!("refused: nic {name} is not on the allow-list"))
        }
    };
    match effect {
        Effect::ProbeDisk { device } | Effect::Mkfs { device, .. } => disk(device),
        Effect::WritePartitionTable { disk: d, .. } | Effect::AddPartition { disk: d, .. } => {
            disk(d)
        }
        Effect::Mount { source, .. } | Effect::Unmount { source, .. } => {
            match source.strip_prefix("/dev/") {
                Some(dev) => disk(dev),
                None => Ok(()),
            }
        }
        Effect::SetLinkUp { nic: n, .. } => nic(n),
        Effect::Spawn {
            role: ChildRole::Dhcp { nic: n },
            ..
        } => nic(n),
        Effect::LoadModule { .. }
            if !pid1 && (confine.disks.is_some() || confine.nics.is_some()) =>
        {
            Err("refused: kernel modules are loaded only as PID 1".into())
        }
        _ => Ok(()),
    }
}

/// A disk or one of its partitions (`loop3p1` → `loop3`, `sda1` → `sda`,
/// `nvme0n1p2` → `nvme0n1`) on the allow-list. Names with a `/` are never allowed.
fn device_allowed(confine: &Confinement, name: &str) -> bool {
    if name.is_empty() || name.contains('/') || name.contains("..") {
        return false;
    }
    if confine.disk_allowed(name) {
        return true;
    }
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if trimmed.len() == name.len() {
        return false;
    }
    let parent = match trimmed.strip_suffix('p') {
        // loop3p1, nvme0n1p2: the parent ends in a digit before the `p`.
        Some(p) if p.ends_with(|c: char| c.is_ascii_digit()) => p,
        _ => trimmed,
    };
    !parent.is_empty() && parent != name && confine.disk_allowed(parent)
}

#[allow(dead_code)]
fn _assert_result_type(_: EffectResult) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn confined() -> Confinement {
        Confinement {
            root: PathBuf::from("/tmp/n"),
            disks: Some(vec!["loop2*".into(), "sdz".into()]),
            nics: Some(vec!["nb-*".into()]),
            ..Confinement::init()
        }
    }

    #[test]
    fn refuses_everything_off_the_allow_list() {
        let c = confined();
        let probe = |d: &str| Effect::ProbeDisk { device: d.into() };
        assert!(check(&probe("loop21"), &c, false).is_ok());
        assert!(check(&probe("loop21p1"), &c, false).is_ok());
        assert!(check(&probe("sdz1"), &c, false).is_ok());
        let err = check(&probe("vda"), &c, false).unwrap_err();
        assert!(err.starts_with("refused:") && err.contains("vda"));
        assert!(check(&probe("vda1"), &c, false).is_err());
        assert!(check(&probe("../vda"), &c, false).is_err());
        let mkfs = Effect::Mkfs {
            device: "vda1".into(),
            label: "x".into(),
            force: false,
        };
        assert!(check(&mkfs, &c, false).is_err());
        let mount = Effect::Mount {
            source: "/dev/vda".into(),
            target: "/mnt".into(),
            fstype: "btrfs".into(),
            options: String::new(),
        };
        assert!(check(&mount, &c, false).is_err());
        let up = |n: &str| Effect::SetLinkUp {
            index: 1,
            nic: n.into(),
        };
        assert!(check(&up("nb-eth0"), &c, false).is_ok());
        assert!(check(&up("eth0"), &c, false).is_err());
        let dhcp = Effect::Spawn {
            role: ChildRole::Dhcp { nic: "eth0".into() },
            argv: vec!["udhcpc".into()],
        };
        assert!(check(&dhcp, &c, false).is_err());
        let modprobe = Effect::LoadModule {
            modalias: "pci:x".into(),
        };
        assert!(check(&modprobe, &c, false).is_err());
        assert!(check(&modprobe, &Confinement::init(), true).is_ok());
        assert!(check(&probe("vda"), &Confinement::init(), true).is_ok());
        assert_eq!(probe("x").name(), "probe_disk");
        assert!(plain_node_path("/var/log") && !plain_node_path("/var/../etc"));
    }
}
