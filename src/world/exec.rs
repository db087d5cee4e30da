//! Carrying out one action: the gate first ([`effects::admit`]: confinement, validity,
//! dry run, the safety checks of a write — once, for every effect), then the effect
//! itself — in the loop (spawn, kill, connect, cancel, link up, log file, shutdown,
//! the `/proc/filesystems` probe),
//! as an internal child (`Plan::Command`), or on the worker thread (`Plan::Blocking`).

use super::confine::Confinement;
use super::effects::{self, Admitted, Pass, Plan};
use super::modules::ModPlan;
use super::{Core, World};
use crate::core::action::{Action, Effect, EffectId, KillSignal};
use crate::core::event::Event;
use crate::core::input::{EffectError, EffectOutput, ErrorKind, ExitStatus, Input};

impl<C: Core> World<C> {
    pub(super) fn execute(&mut self, action: Action) {
        let Action { id, effect } = action;
        let name = effect.name();
        let confine = &self.settings.confine;
        // Only disk steps keep their effect past the gate: the rest are not cloned.
        let disk_step = matches!(
            effect,
            Effect::WritePartitionTable { .. } | Effect::AddPartition { .. } | Effect::Mkfs { .. }
        )
        .then(|| effect.clone());
        match effects::admit(effect, confine, self.settings.pid1) {
            Ok(Pass::Run(admitted)) => {
                track_disk_step(id, admitted.effect(), confine);
                self.carry_out(id, admitted);
            }
            Ok(Pass::DryRun(effect)) => self.dry_run(id, effect),
            Err(error) => {
                if let Some(step) = &disk_step {
                    track_disk_step(id, step, confine);
                }
                if error.is(ErrorKind::Refused) {
                    self.log(Event::EffectRefused {
                        effect: name.into(),
                        error: error.message.clone(),
                    });
                }
                self.answer(id, Err(error));
            }
        }
    }

    /// A dry run answers every write as a success, touching nothing.
    fn dry_run(&mut self, id: EffectId, effect: Effect) {
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
    }

    fn carry_out(&mut self, id: EffectId, admitted: Admitted) {
        if let (Plan::Command(planned), Effect::LoadModule { modalias }) =
            (admitted.plan(), admitted.effect())
        {
            // Resolved in-process (world::modules): an alias naming nothing, or only
            // modules already there, spawns nothing.
            let (plan, note) = self.modules.plan(id, modalias, &self.settings.confine);
            if let Some(event) = note {
                self.log(event);
            }
            let argv = match plan {
                ModPlan::Answer(output) => {
                    self.answer(id, Ok(output));
                    return;
                }
                ModPlan::Run(argv) => argv,
                ModPlan::AsPlanned => planned.clone(),
            };
            if let Err(e) = self.children.spawn(self.poll.registry(), id, &argv, true) {
                self.answer(id, Err(e.into()));
            }
            return;
        }
        let registry = self.poll.registry();
        match admitted.plan() {
            Plan::Command(argv) => {
                if let Err(e) = self.children.spawn(registry, id, argv, true) {
                    self.answer(id, Err(e.into()));
                }
                return;
            }
            Plan::Blocking => {
                let result = match &mut self.worker {
                    Some(w) => w.submit(id, admitted),
                    None => Err(EffectError::other("no worker thread")),
                };
                if let Err(e) = result {
                    self.answer(id, Err(e));
                }
                return;
            }
            Plan::Loop => {}
        }
        match admitted.into_parts().0 {
            Effect::Shutdown { kind } => self.shutdown = Some(kind),
            Effect::Spawn { argv, role } => {
                let result = self
                    .children
                    .spawn(registry, id, &argv, false)
                    .map(|pid| EffectOutput::Spawned { pid })
                    .map_err(EffectError::from);
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
                    Some(r) => r.set_link_up(index).map_err(EffectError::from),
                    None => Err(EffectError::other("no rtnetlink socket")),
                };
                match result {
                    Ok(seq) => {
                        self.link_up_acks.insert(seq, id);
                    }
                    Err(e) => self.answer(id, Err(e)),
                }
            }
            Effect::ProbeFilesystem { fstype } => {
                self.answer(id, effects::procfs::probe_filesystem(&fstype));
            }
            Effect::ReopenLogs { dir } => {
                // The gate made sure it is a plain node path.
                let dir = self.settings.confine.path(&dir);
                let result = self
                    .logs
                    .open_file(&dir)
                    .map(|_| EffectOutput::Done)
                    .map_err(EffectError::other);
                self.answer(id, result);
            }
            other => {
                let error = format!("{}: no handler in the loop", other.name());
                self.answer(id, Err(EffectError::new(ErrorKind::Unsupported, error)));
            }
        }
    }
}

/// Disk steps are remembered with their disk, so that their answers can end the disk's
/// lock ([`effects::disklock`]): mkfs's answer always, any failed step's too — a step
/// the gate refused included (a mkfs refused as busy ends the hold like a failed one).
fn track_disk_step(id: EffectId, effect: &Effect, confine: &Confinement) {
    use effects::disklock;
    match effect {
        Effect::WritePartitionTable { disk, .. } | Effect::AddPartition { disk, .. } => {
            disklock::track(id, disk, false);
        }
        Effect::Mkfs { device, .. } => {
            let disk = effects::disk_of(confine, device);
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
