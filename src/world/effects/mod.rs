//! Carrying out the core's effects.
//!
//! Contract with the loop (`world/mod.rs`): `plan(effect)` says how an effect runs —
//! in the loop itself (spawn, kill, connect, link up, shutdown), as an external
//! command run as an internal child (mkfs.btrfs, modprobe: success = exit 0), or as a
//! blocking function on a worker thread (`run_blocking`: probes, GPT, BLKPG, mount,
//! unmount, subvolumes, copies). Every plan is checked against the [`Confinement`] first, and
//! `run_blocking` checks again (it may be called without `plan`).
//!
//! Safety rules, enforced here whatever the core decided:
//! - a disk-writing effect names a disk on the disk allow-list, or a partition of one
//!   (the disk is the unit of permission); a refused device is never opened;
//! - a device that is mounted or held (itself or a partition) is never written, checked
//!   at plan time and again right before writing (and `O_EXCL` while writing a table);
//! - node paths are plain (no `..`) and resolve under the confinement root;
//! - a dry run writes nothing: `plan` refuses every write with "dry run: would …".

mod block;
pub use block::parent_disk;
mod copy;
pub mod disklock;
mod error;
mod mount;
pub mod mountinfo;
mod partition;
mod probe;
mod subvolume;

pub use block::partition_name;
pub use error::EffectError;

use super::confine::Confinement;
use crate::core::action::{ChildRole, Effect};
use crate::core::input::{EffectOutput, EffectResult};
use error::Result;

#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// The loop handles it (Spawn, Kill, Connect, Cancel, SetLinkUp, Shutdown, ReopenLogs).
    Loop,
    /// Run this command as an internal child; exit 0 is success, else the error is
    /// the exit status and the last lines of its stderr.
    Command(Vec<String>),
    /// Call `run_blocking` on a worker thread (`world::worker`).
    Blocking,
}

/// How `effect` is carried out, or why it is refused under `confine`.
pub fn plan(effect: &Effect, confine: &Confinement) -> std::result::Result<Plan, String> {
    check(effect, confine).map_err(|e| e.to_string())?;
    Ok(classify(effect, confine))
}

/// Carry out a blocking effect (on a worker thread).
pub fn run_blocking(effect: &Effect, confine: &Confinement) -> EffectResult {
    check(effect, confine).map_err(|e| e.to_string())?;
    run(effect, confine).map_err(|e| e.to_string())
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
    use super::within::{Missed, within};
    let (c, d) = (confine.clone(), device.to_owned());
    let refused = |why: String| error::EffectError::Refused(format!("mkfs -f on {device}: {why}"));
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
        | Effect::ReopenLogs { .. }
        | Effect::Spawn { .. }
        | Effect::Kill { .. }
        | Effect::KillAll { .. }
        | Effect::Connect { .. }
        | Effect::Cancel { .. }
        | Effect::Shutdown { .. } => Plan::Loop,
    }
}

/// The confinement and safety checks; nothing here opens a device.
fn check(effect: &Effect, confine: &Confinement) -> Result<()> {
    let dry = |what: String| {
        if confine.dry_run {
            Err(EffectError::DryRun(what))
        } else {
            Ok(())
        }
    };
    match effect {
        Effect::ProbeDisk { device } => block::check_name(device),
        Effect::ListSubvolumes { path } => block::check_node_path(path),
        Effect::LoadModule { modalias } => {
            // A modalias starting with '-' would be read as an option.
            if modalias.is_empty() || modalias.starts_with('-') || modalias.contains('\0') {
                return Err(EffectError::Invalid(format!("modalias {modalias:?}")));
            }
            dry(format!("modprobe -b {modalias}"))
        }
        Effect::WritePartitionTable { disk, name } => {
            block::ensure_allowed(confine, disk)?;
            dry(format!("write a GPT on {disk} (one partition {name:?})"))?;
            block::ensure_unused(confine, disk)
        }
        Effect::AddPartition { disk, number } => {
            block::ensure_allowed(confine, disk)?;
            if !(1..=128).contains(number) {
                return Err(EffectError::Invalid(format!("partition number {number}")));
            }
            dry(format!("add partition {number} of {disk}"))
        }
        Effect::Mkfs {
            device,
            label,
            force,
        } => {
            block::ensure_allowed(confine, device)?;
            if label.is_empty() || label.len() > 255 || label.contains('\0') {
                return Err(EffectError::Invalid(format!("label {label:?}")));
            }
            let f = if *force { "-f " } else { "" };
            dry(format!("mkfs.btrfs {f}-L {label} {device}"))?;
            block::ensure_unused(confine, device)?;
            if *force {
                // `-f` overwrites whatever is there: only on a partition whose disk
                // holds exactly nodeboot's table, read again from the disk now.
                ensure_ours_within(confine, device, PROOF_DEADLINE)?;
            }
            Ok(())
        }
        Effect::Mount { source, target, .. } => {
            block::ensure_allowed(confine, block::device_name(source))?;
            block::check_node_path(target)?;
            dry(format!("mount {source} on {target}"))
        }
        Effect::Unmount { source, target } => {
            block::ensure_allowed(confine, block::device_name(source))?;
            block::check_node_path(target)?;
            dry(format!("unmount {source} from {target}"))
        }
        Effect::CreateSubvolume { path } => {
            block::check_node_path(path)?;
            dry(format!("create subvolume {path}"))
        }
        Effect::DeleteSubvolume { path } => {
            block::check_node_path(path)?;
            dry(format!("delete subvolume {path}"))
        }
        Effect::CopyTree { from, to } => {
            block::check_node_path(from)?;
            block::check_node_path(to)?;
            dry(format!("copy {from} into {to}"))
        }
        Effect::ReopenLogs { dir } => block::check_node_path(dir),
        Effect::SetLinkUp { nic, .. }
        | Effect::Spawn {
            role: ChildRole::Dhcp { nic },
            ..
        } => {
            if confine.nic_allowed(nic) {
                Ok(())
            } else {
                Err(EffectError::Refused(format!(
                    "{nic} is not on the NIC allow-list"
                )))
            }
        }
        Effect::Spawn { .. }
        | Effect::Kill { .. }
        | Effect::KillAll { .. }
        | Effect::Connect { .. }
        | Effect::Cancel { .. }
        | Effect::Shutdown { .. } => Ok(()),
    }
}

fn run(effect: &Effect, confine: &Confinement) -> Result<EffectOutput> {
    match effect {
        Effect::ProbeDisk { device } => {
            probe::probe(confine, device).map(|probe| EffectOutput::Disk { probe })
        }
        Effect::WritePartitionTable { disk, name } => {
            partition::write_table(confine, disk, name).map(|()| EffectOutput::Done)
        }
        Effect::AddPartition { disk, number } => {
            partition::add_partition(confine, disk, *number).map(|()| EffectOutput::Done)
        }
        Effect::Mount {
            source,
            target,
            fstype,
            options,
        } => mount::mount(confine, source, target, fstype, options).map(|()| EffectOutput::Done),
        Effect::Unmount { source, target } => {
            mount::unmount(confine, source, target).map(|()| EffectOutput::Done)
        }
        Effect::CreateSubvolume { path } => {
            subvolume::create(confine, path).map(|()| EffectOutput::Done)
        }
        Effect::DeleteSubvolume { path } => {
            subvolume::delete(confine, path).map(|()| EffectOutput::Done)
        }
        Effect::ListSubvolumes { path } => {
            subvolume::list(confine, path).map(|names| EffectOutput::Subvolumes { names })
        }
        Effect::CopyTree { from, to } => {
            copy::copy_tree(confine, from, to).map(|_| EffectOutput::Done)
        }
        other => Err(EffectError::Invalid(format!(
            "{} is not a blocking effect (plan: {:?})",
            other.name(),
            classify(other, confine)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn confined() -> Confinement {
        Confinement {
            root: PathBuf::from("/tmp/nb-nonexistent-root"),
            disks: Some(vec!["nbtest*".into()]),
            nics: Some(vec!["nb-*".into()]),
            dry_run: false,
            dev_dir: PathBuf::from("/nonexistent-dev"),
            sys_dir: PathBuf::from("/nonexistent-sys"),
        }
    }

    #[test]
    fn writes_to_a_disk_off_the_allow_list_are_refused() {
        let c = confined();
        for effect in [
            Effect::WritePartitionTable {
                disk: "vda".into(),
                name: "sp_zos-cache".into(),
            },
            Effect::AddPartition {
                disk: "vda".into(),
                number: 1,
            },
            Effect::Mkfs {
                device: "vda".into(),
                label: "x".into(),
                force: true,
            },
        ] {
            let err = plan(&effect, &c).unwrap_err();
            assert_eq!(err, "refused: vda is not on the disk allow-list");
            assert_eq!(run_blocking(&effect, &c).unwrap_err(), err);
        }
    }

    #[test]
    fn classification() {
        let c = confined();
        let mkfs = Effect::Mkfs {
            device: "nbtest0".into(),
            label: "sp_zos-cache".into(),
            force: false,
        };
        // `-f` on a device not proven ours (here: no disk to read) is refused.
        let forced = Effect::Mkfs {
            device: "nbtest0".into(),
            label: "sp_zos-cache".into(),
            force: true,
        };
        let err = plan(&forced, &c).unwrap_err();
        assert!(err.contains("not proven nodeboot's"), "{err}");
        // Mkfs rechecks the mount table (readable here) and sysfs (absent: no holders).
        assert_eq!(
            plan(&mkfs, &c).unwrap(),
            Plan::Command(vec![
                "mkfs.btrfs".into(),
                "-L".into(),
                "sp_zos-cache".into(),
                "/nonexistent-dev/nbtest0".into()
            ])
        );
        let modprobe = Effect::LoadModule {
            modalias: "pci:v00001AF4d00001000".into(),
        };
        assert_eq!(
            plan(&modprobe, &c).unwrap(),
            Plan::Command(vec![
                "modprobe".into(),
                "-b".into(),
                "pci:v00001AF4d00001000".into()
            ])
        );
        let probe = Effect::ProbeDisk {
            device: "vda".into(),
        };
        assert_eq!(plan(&probe, &c).unwrap(), Plan::Blocking);
        let up = Effect::SetLinkUp {
            index: 2,
            nic: "eth0".into(),
        };
        assert!(plan(&up, &c).unwrap_err().starts_with("refused: eth0"));
        let up = Effect::SetLinkUp {
            index: 2,
            nic: "nb-eth0".into(),
        };
        assert_eq!(plan(&up, &c).unwrap(), Plan::Loop);
        assert!(
            run_blocking(&up, &c)
                .unwrap_err()
                .contains("not a blocking effect")
        );
    }

    #[test]
    fn dry_run_refuses_every_write_but_reads() {
        let c = Confinement {
            dry_run: true,
            ..confined()
        };
        let mount = Effect::Mount {
            source: "nbtest0p1".into(),
            target: "/var/cache".into(),
            fstype: "btrfs".into(),
            options: "subvol=cache".into(),
        };
        let err = plan(&mount, &c).unwrap_err();
        assert_eq!(err, "dry run: would mount nbtest0p1 on /var/cache");
        let copy = Effect::CopyTree {
            from: "/var/log".into(),
            to: "/mnt/x".into(),
        };
        assert!(run_blocking(&copy, &c).unwrap_err().starts_with("dry run"));
        let list = Effect::ListSubvolumes {
            path: "/mnt".into(),
        };
        assert_eq!(plan(&list, &c).unwrap(), Plan::Blocking);
    }

    #[test]
    fn paths_with_dotdot_are_refused() {
        let c = confined();
        let e = Effect::CreateSubvolume {
            path: "/mnt/../../etc/x".into(),
        };
        assert!(plan(&e, &c).unwrap_err().starts_with("refused: path"));
    }
}
