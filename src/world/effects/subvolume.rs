//! btrfs subvolumes through the kernel's ioctls (no `btrfs` binary needed on the node):
//! `BTRFS_IOC_SUBVOL_CREATE` and `BTRFS_IOC_SNAP_DESTROY` on the parent directory, and
//! a listing that recognises subvolumes by their root inode number (256).
#![allow(unsafe_code)]

use super::block;
use super::error::{Failure, Result};
use crate::world::confine::Confinement;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

mod ioctl {
    use nix::ioctl_write_ptr;

    pub const PATH_NAME_MAX: usize = 4087;

    /// `struct btrfs_ioctl_vol_args` (linux/btrfs.h).
    #[repr(C)]
    pub struct VolArgs {
        pub fd: i64,
        pub name: [u8; PATH_NAME_MAX + 1],
    }

    ioctl_write_ptr!(subvol_create, 0x94, 14, VolArgs);
    ioctl_write_ptr!(snap_destroy, 0x94, 15, VolArgs);
}

/// Every subvolume's root directory has this inode number (BTRFS_FIRST_FREE_OBJECTID).
const SUBVOL_ROOT_INO: u64 = 256;

fn on_btrfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::BTRFS_SUPER_MAGIC)
}

fn is_subvolume(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir() && m.ino() == SUBVOL_ROOT_INO)
        && on_btrfs(path)
}

/// The real path, its parent directory (opened) and the last component as ioctl args.
fn split(confine: &Confinement, node_path: &str) -> Result<(PathBuf, File, Box<ioctl::VolArgs>)> {
    block::check_node_path(node_path)?;
    let real = confine.path(node_path);
    let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
        return Err(Failure::Invalid(format!("{node_path:?} has no parent")));
    };
    block::ensure_under_root(confine, parent)?;
    let dir = File::open(parent).map_err(|e| Failure::io("open", parent, e))?;
    let bytes = name.as_encoded_bytes();
    let mut args = Box::new(ioctl::VolArgs {
        fd: 0,
        name: [0; ioctl::PATH_NAME_MAX + 1],
    });
    args.name
        .get_mut(..bytes.len())
        .ok_or_else(|| Failure::Invalid(format!("{node_path:?}: name too long")))?
        .copy_from_slice(bytes);
    Ok((real, dir, args))
}

pub fn create(confine: &Confinement, node_path: &str) -> Result<()> {
    let (real, dir, args) = split(confine, node_path)?;
    if real.symlink_metadata().is_ok() {
        return if is_subvolume(&real) {
            Ok(())
        } else {
            Err(Failure::Invalid(format!(
                "{} exists and is not a subvolume",
                real.display()
            )))
        };
    }
    // SAFETY: `args` is a live, fully initialised btrfs_ioctl_vol_args with a
    // NUL-terminated name; `dir` stays open for the call.
    unsafe { ioctl::subvol_create(dir.as_raw_fd(), &*args) }
        .map(drop)
        .map_err(|e| Failure::sys("BTRFS_IOC_SUBVOL_CREATE", real.display().to_string(), e))
}

/// Delete a subvolume; one that is already gone is success (idempotent).
pub fn delete(confine: &Confinement, node_path: &str) -> Result<()> {
    let (real, dir, args) = split(confine, node_path)?;
    if real.symlink_metadata().is_err() {
        return Ok(());
    }
    if !is_subvolume(&real) {
        return Err(Failure::Invalid(format!(
            "{} is not a subvolume",
            real.display()
        )));
    }
    // SAFETY: as in `create`.
    unsafe { ioctl::snap_destroy(dir.as_raw_fd(), &*args) }
        .map(drop)
        .map_err(|e| Failure::sys("BTRFS_IOC_SNAP_DESTROY", real.display().to_string(), e))
}

/// Names of the subvolumes directly under `node_path`, sorted.
pub fn list(confine: &Confinement, node_path: &str) -> Result<Vec<String>> {
    block::check_node_path(node_path)?;
    let real = confine.path(node_path);
    let entries = std::fs::read_dir(&real).map_err(|e| Failure::io("readdir", &real, e))?;
    if !on_btrfs(&real) {
        return Err(Failure::Invalid(format!(
            "{} is not on btrfs",
            real.display()
        )));
    }
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| is_subvolume(&e.path()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}
