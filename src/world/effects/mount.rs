//! `Mount`: make the target directory (under the confinement root), then mount
//! `/dev/<source>` there. Already mounted there from the same source is success, so a
//! resumed prepare does not stack mounts.
//!
//! `Unmount` undoes such a mount: only when the mount visible on the target is from the
//! same source, so it never takes away a mount that is not ours. Nothing of the source
//! mounted there is success (idempotent, like every step). A busy mount is detached.

use super::block;
use super::error::{Failure, Result};
use super::mountinfo::{self, MountEntry};
use crate::world::confine::Confinement;
use nix::mount::{MntFlags, MsFlags};
use std::path::Path;

/// Generic mount options become flags; the rest is filesystem data (`subvol=cache`).
fn split_options(options: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "defaults" => {}
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// The subvolume an option string names (`subvol=logs/x` → `/logs/x`), as mountinfo
/// shows it in the root field.
fn subvol_root(options: &str) -> Option<String> {
    options
        .split(',')
        .find_map(|o| o.strip_prefix("subvol="))
        .map(|s| format!("/{}", s.trim_start_matches('/')))
}

pub fn mount(
    confine: &Confinement,
    source: &str,
    target: &str,
    fstype: &str,
    options: &str,
) -> Result<()> {
    let source = block::device_name(source);
    block::check_name(source)?;
    block::check_node_path(target)?;
    let target_path = confine.path(target);
    std::fs::create_dir_all(&target_path).map_err(|e| Failure::io("mkdir", &target_path, e))?;
    block::ensure_under_root(confine, &target_path)?;
    let real_target = std::fs::canonicalize(&target_path)
        .map_err(|e| Failure::io("canonicalize", &target_path, e))?;
    let dev_path = confine.dev(source);
    if already_mounted(&dev_path, source, &real_target, options)? {
        return Ok(());
    }
    let (flags, data) = split_options(options);
    let data = (!data.is_empty()).then_some(data.as_str());
    nix::mount::mount(
        Some(dev_path.as_path()),
        real_target.as_path(),
        Some(fstype),
        flags,
        data,
    )
    .map_err(|e| {
        Failure::sys(
            "mount",
            format!("{} on {}", dev_path.display(), real_target.display()),
            e,
        )
    })
}

pub fn unmount(confine: &Confinement, source: &str, target: &str) -> Result<()> {
    let source = block::device_name(source);
    block::check_name(source)?;
    block::check_node_path(target)?;
    let target_path = confine.path(target);
    let real_target = match std::fs::canonicalize(&target_path) {
        Ok(p) => p,
        // No directory, so nothing mounted on it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Failure::io("canonicalize", &target_path, e)),
    };
    block::ensure_under_root(confine, &real_target)?;
    let dev_path = confine.dev(source);
    match visible_mount(&real_target)? {
        None => return Ok(()),
        Some(e) if is_from(&e, &dev_path, source) => {}
        Some(e) => {
            return Err(Failure::Refused(format!(
                "{} is mounted from {}, not {}",
                real_target.display(),
                e.source,
                dev_path.display()
            )));
        }
    }
    let object = || format!("{}", real_target.display());
    match nix::mount::umount2(real_target.as_path(), MntFlags::empty()) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EBUSY) => {
            nix::mount::umount2(real_target.as_path(), MntFlags::MNT_DETACH)
                .map_err(|e| Failure::sys("umount (detach)", object(), e))
        }
        Err(e) => Err(Failure::sys("umount", object(), e)),
    }
}

fn already_mounted(dev_path: &Path, source: &str, target: &Path, options: &str) -> Result<bool> {
    let want_root = subvol_root(options);
    Ok(visible_mount(target)?.is_some_and(|e| {
        is_from(&e, dev_path, source) && want_root.as_ref().is_none_or(|r| &e.root == r)
    }))
}

/// The mount visible on `target`: the last one mounted there.
fn visible_mount(target: &Path) -> Result<Option<MountEntry>> {
    let entries =
        mountinfo::read().map_err(|e| Failure::io("read", Path::new("/proc/self/mountinfo"), e))?;
    Ok(entries.into_iter().rev().find(|e| e.mount_point == target))
}

/// Whether the mount table names `source` as the entry's device, by the confined
/// device path or by `/dev/<source>`.
fn is_from(entry: &MountEntry, dev_path: &Path, source: &str) -> bool {
    entry.source == dev_path.to_string_lossy() || entry.source == format!("/dev/{source}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let (flags, data) = split_options("noatime,subvol=cache,ro,compress=zstd");
        assert!(flags.contains(MsFlags::MS_NOATIME | MsFlags::MS_RDONLY));
        assert_eq!(data, "subvol=cache,compress=zstd");
        assert_eq!(split_options("").1, "");
        assert_eq!(
            subvol_root("subvol=logs/2026").as_deref(),
            Some("/logs/2026")
        );
        assert_eq!(subvol_root("noatime"), None);
    }
}
