//! Carrying out the core's effects.
//!
//! Contract with the loop (`world/mod.rs`): every effect passes [`admit`] first, the
//! one place where the [`Confinement`], the request's validity and the dry-run rule are
//! checked. The [`Plan`] of an admitted effect says how it runs — in the loop itself
//! (spawn, kill, connect, link up, shutdown), as an external command run as an
//! internal child (mkfs.btrfs, modprobe: success = exit 0), or as a blocking function
//! on a worker thread (`run_blocking`: probes, GPT, BLKPG, mount, unmount,
//! subvolumes, copies), which takes only an [`Admitted`] effect.
//!
//! Safety rules, enforced here whatever the core decided:
//! - an effect on a device names a disk on the disk allow-list, or a partition of one
//!   (the disk is the unit of permission); a refused device is never opened;
//! - a device that is mounted or held (itself or a partition) is never written, checked
//!   at admission and again right before writing (and `O_EXCL` while writing a table);
//! - node paths are plain (no `..`) and resolve under the confinement root;
//! - a dry run writes nothing: [`admit`] hands every write back as [`Pass::DryRun`].

mod admit;
mod block;
pub use block::parent_disk;
mod copy;
pub mod disklock;
mod error;
mod mount;
pub mod mountinfo;
mod partition;
mod probe;
pub mod procfs;
mod subvolume;

pub use admit::{Admitted, Pass, Plan, admit};
pub use block::partition_name;
pub use error::Failure;

use super::confine::Confinement;
use crate::core::action::Effect;
use crate::core::input::{EffectOutput, EffectResult};
use error::Result;

/// The whole disk of `device` (a partition's parent by sysfs), or `device` itself when
/// that is not a known partition, or not a valid device name (then sysfs is not read).
pub fn disk_of(confine: &Confinement, device: &str) -> String {
    block::check_name(device)
        .ok()
        .and_then(|()| parent_disk(confine, device))
        .unwrap_or_else(|| device.to_owned())
}

/// Carry out an admitted blocking effect (on a worker thread).
pub fn run_blocking(admitted: &Admitted, confine: &Confinement) -> EffectResult {
    run(admitted.effect(), confine).map_err(Into::into)
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
        other => Err(Failure::Invalid(format!(
            "{} is not a blocking effect",
            other.name()
        ))),
    }
}
