//! The one gate every effect passes before the world carries it out: the confinement
//! and the request's own validity, then the dry-run rule, then the safety checks of a
//! write, each once. Only [`admit`] makes an [`Admitted`], and the loop, the worker
//! threads and the internal children take nothing else: a refused effect cannot reach
//! them.

use super::block;
use super::error::{Failure, Result};
use super::partition;
use crate::core::action::{ChildRole, Effect};
use crate::core::input::EffectError;
use crate::world::confine::Confinement;

#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// The loop handles it (Spawn, Kill, Connect, Cancel, SetLinkUp, Shutdown, ReopenLogs,
    /// ProbeFilesystem).
    Loop,
    /// Run this command as an internal child; exit 0 is success, else the error is
    /// the exit status and the last lines of its stderr.
    Command(Vec<String>),
    /// Call `run_blocking` on a worker thread (`world::worker`).
    Blocking,
}

/// An effect that passed [`admit`], with how it is carried out.
#[derive(Debug)]
pub struct Admitted {
    effect: Effect,
    plan: Plan,
}

impl Admitted {
    pub fn effect(&self) -> &Effect {
        &self.effect
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn into_parts(self) -> (Effect, Plan) {
        (self.effect, self.plan)
    }
}

/// What the gate decided for an effect that may run.
#[derive(Debug)]
pub enum Pass {
    Run(Admitted),
    /// A dry run: the loop logs it and answers success; nothing is touched.
    DryRun(Effect),
}

/// May `effect` run under `confine`, and how? Whatever the core decided, a device or
/// NIC off the allow-list is never touched (defence in depth), nor a path outside the
/// root; `pid1` says whether this run is the node's init (kernel modules are loaded
/// only then, when confined). Errors are `Refused` (confinement, safety), `Invalid`
/// (malformed request) or `Busy` (a write to a device in use).
pub fn admit(
    effect: Effect,
    confine: &Confinement,
    pid1: bool,
) -> std::result::Result<Pass, EffectError> {
    confinement(&effect, confine, pid1)?;
    if confine.dry_run && !read_only(&effect) {
        return Ok(Pass::DryRun(effect));
    }
    safe_to_write(&effect, confine)?;
    let plan = classify(&effect, confine);
    Ok(Pass::Run(Admitted { effect, plan }))
}

/// Effects a dry run still carries out: they only look at this machine. Reachability
/// probes are not among them: a dry run on a developer machine must send no traffic
/// (the default targets are public addresses), so they are answered as dry-run
/// successes like every other effect.
fn read_only(effect: &Effect) -> bool {
    matches!(
        effect,
        Effect::ProbeDisk { .. }
            | Effect::ProbeFilesystem { .. }
            | Effect::ListSubvolumes { .. }
            | Effect::Cancel { .. }
            | Effect::Shutdown { .. }
    )
}

/// The allow-lists, node paths and the request's own validity; only names and sysfs
/// are read, so a refused device is never opened.
fn confinement(effect: &Effect, confine: &Confinement, pid1: bool) -> Result<()> {
    match effect {
        Effect::ProbeDisk { device } => block::ensure_allowed(confine, device),
        Effect::WritePartitionTable { disk, .. } => block::ensure_allowed(confine, disk),
        Effect::AddPartition { disk, number } => {
            block::ensure_allowed(confine, disk)?;
            if (1..=128).contains(number) {
                Ok(())
            } else {
                Err(Failure::Invalid(format!("partition number {number}")))
            }
        }
        Effect::Mkfs { device, label, .. } => {
            block::ensure_allowed(confine, device)?;
            if label.is_empty() || label.len() > 255 || label.contains('\0') {
                return Err(Failure::Invalid(format!("label {label:?}")));
            }
            Ok(())
        }
        Effect::Mount { source, target, .. } | Effect::Unmount { source, target } => {
            block::ensure_allowed(confine, block::device_name(source))?;
            block::check_node_path(target)
        }
        Effect::CopyTree { from, to } => {
            block::check_node_path(from)?;
            block::check_node_path(to)
        }
        Effect::CreateSubvolume { path }
        | Effect::DeleteSubvolume { path }
        | Effect::ListSubvolumes { path }
        | Effect::ReopenLogs { dir: path } => block::check_node_path(path),
        Effect::LoadModule { modalias } => {
            if !pid1 && (confine.disks.is_some() || confine.nics.is_some()) {
                return Err(Failure::Refused(
                    "kernel modules are loaded only as PID 1".into(),
                ));
            }
            // A modalias starting with '-' would be read as an option.
            if modalias.is_empty() || modalias.starts_with('-') || modalias.contains('\0') {
                return Err(Failure::Invalid(format!("modalias {modalias:?}")));
            }
            Ok(())
        }
        Effect::SetLinkUp { nic, .. }
        | Effect::Spawn {
            role: ChildRole::Dhcp { nic },
            ..
        } => {
            if confine.nic_allowed(nic) {
                Ok(())
            } else {
                Err(Failure::Refused(format!(
                    "{nic} is not on the NIC allow-list"
                )))
            }
        }
        Effect::Spawn { .. }
        | Effect::ProbeFilesystem { .. }
        | Effect::Kill { .. }
        | Effect::KillAll { .. }
        | Effect::Connect { .. }
        | Effect::Cancel { .. }
        | Effect::Shutdown { .. } => Ok(()),
    }
}

/// A device that is mounted or held (itself or a partition) is never written: checked
/// here, and again by the write itself right before it writes. `mkfs -f` overwrites
/// whatever is there: only on a partition whose disk holds exactly nodeboot's table,
/// read again from the disk now.
fn safe_to_write(effect: &Effect, confine: &Confinement) -> Result<()> {
    match effect {
        Effect::WritePartitionTable { disk, .. } => block::ensure_unused(confine, disk),
        Effect::Mkfs { device, force, .. } => {
            block::ensure_unused(confine, device)?;
            if *force {
                ensure_ours_within(confine, device, PROOF_DEADLINE)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// How long the loop waits for the `mkfs -f` proof ([`partition::ensure_ours`]).
const PROOF_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// The `-f` proof reads the disk's table, and it runs on the loop thread just before
/// mkfs is spawned: so on a thread of its own, waited for at most `deadline`. A disk
/// that stopped answering costs the loop that long, once, and refuses the mkfs; the
/// stuck reader is left behind.
fn ensure_ours_within(
    confine: &Confinement,
    device: &str,
    deadline: std::time::Duration,
) -> Result<()> {
    use crate::world::within::{Missed, within};
    let (c, d) = (confine.clone(), device.to_owned());
    let refused = |why: String| Failure::Refused(format!("mkfs -f on {device}: {why}"));
    match within("nodeboot-proof", deadline, move || {
        partition::ensure_ours(&c, &d)
    }) {
        Ok(proof) => proof,
        Err(Missed::NoThread(e)) => Err(refused(format!("no thread for the ownership check: {e}"))),
        Err(Missed::Late) => Err(refused(format!(
            "the disk did not answer the ownership check within {}s",
            deadline.as_secs()
        ))),
    }
}

fn classify(effect: &Effect, confine: &Confinement) -> Plan {
    match effect {
        Effect::Mkfs {
            device,
            label,
            force,
        } => {
            let mut argv = vec!["mkfs.btrfs".to_owned()];
            if *force {
                argv.push("-f".into());
            }
            argv.extend([
                "-L".into(),
                label.clone(),
                confine.dev(device).to_string_lossy().into_owned(),
            ]);
            Plan::Command(argv)
        }
        Effect::LoadModule { modalias } => {
            Plan::Command(vec!["modprobe".into(), "-b".into(), modalias.clone()])
        }
        Effect::ProbeDisk { .. }
        | Effect::WritePartitionTable { .. }
        | Effect::AddPartition { .. }
        | Effect::Mount { .. }
        | Effect::Unmount { .. }
        | Effect::CreateSubvolume { .. }
        | Effect::ListSubvolumes { .. }
        | Effect::DeleteSubvolume { .. }
        | Effect::CopyTree { .. } => Plan::Blocking,
        Effect::SetLinkUp { .. }
        | Effect::ProbeFilesystem { .. }
        | Effect::ReopenLogs { .. }
        | Effect::Spawn { .. }
        | Effect::Kill { .. }
        | Effect::KillAll { .. }
        | Effect::Connect { .. }
        | Effect::Cancel { .. }
        | Effect::Shutdown { .. } => Plan::Loop,
    }
}

#[cfg(test)]
#[path = "admit_tests.rs"]
mod tests;
