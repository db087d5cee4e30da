//! Block devices as sysfs and the mount table describe them, plus the checks every
//! disk-writing effect makes: a valid name, allow-listed (with its parent disk), and
//! not in use (mounted or held, itself or any of its partitions).

use super::error::{Failure, Result};
use super::mountinfo;
pub use crate::wire::devname::partition_name;
use crate::world::confine::Confinement;
use std::path::{Component, Path, PathBuf};

/// A kernel block device name: no path separators, nothing that walks out of `/dev`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:!".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Failure::Invalid(format!("bad device name {name:?}")))
    }
}

/// A device named as `sda1` or as `/dev/sda1` (the core's `Mount` uses the latter):
/// the kernel name. Any other path stays as it is and then fails [`check_name`].
pub fn device_name(source: &str) -> &str {
    source.strip_prefix("/dev/").unwrap_or(source)
}

/// `<sys>/class/block/<dev>`.
pub fn sys_block(confine: &Confinement, dev: &str) -> PathBuf {
    confine.sys(&format!("class/block/{dev}"))
}

/// One sysfs attribute, trimmed; `None` if absent or unreadable.
pub fn attr(confine: &Confinement, dev: &str, name: &str) -> Option<String> {
    std::fs::read_to_string(sys_block(confine, dev).join(name))
        .ok()
        .map(|s| s.trim().to_string())
}

pub fn exists(confine: &Confinement, dev: &str) -> bool {
    sys_block(confine, dev).exists()
}

pub fn is_partition(confine: &Confinement, dev: &str) -> bool {
    sys_block(confine, dev).join("partition").exists()
}

/// The whole disk a partition belongs to (its sysfs parent directory).
pub fn parent_disk(confine: &Confinement, dev: &str) -> Option<String> {
    if !is_partition(confine, dev) {
        return None;
    }
    let real = std::fs::canonicalize(sys_block(confine, dev)).ok()?;
    Some(real.parent()?.file_name()?.to_str()?.to_string())
}

/// Partitions of `disk` that the kernel knows (`<disk>/<part>/partition` exists).
pub fn partitions_of(confine: &Confinement, disk: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(sys_block(confine, disk)) else {
        return Vec::new();
    };
    let mut parts: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("partition").exists())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    parts.sort();
    parts
}

pub fn holders(confine: &Confinement, dev: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(sys_block(confine, dev).join("holders")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// `major:minor` from the `dev` attribute.
pub fn dev_number(confine: &Confinement, dev: &str) -> Option<(u32, u32)> {
    let text = attr(confine, dev, "dev")?;
    let (major, minor) = text.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Is `dev` (or, for a whole disk, one of its partitions) mounted?
pub fn mounted(confine: &Confinement, entries: &[mountinfo::MountEntry], dev: &str) -> bool {
    std::iter::once(dev.to_string())
        .chain(partitions_of(confine, dev))
        .any(|d| {
            let path = confine.dev(&d);
            let by_path = path.to_string_lossy();
            mountinfo::is_mounted(entries, dev_number(confine, &d), &by_path)
                || mountinfo::is_mounted(entries, None, &format!("/dev/{d}"))
        })
}

/// Refuse a device that is mounted or held (itself or a partition of it). A mount
/// table that cannot be read counts as "in use": when in doubt, do not write.
pub fn ensure_unused(confine: &Confinement, dev: &str) -> Result<()> {
    let entries =
        mountinfo::read().map_err(|e| Failure::io("read", Path::new("/proc/self/mountinfo"), e))?;
    if mounted(confine, &entries, dev) {
        return Err(Failure::Busy(format!("{dev} is mounted")));
    }
    for d in std::iter::once(dev.to_string()).chain(partitions_of(confine, dev)) {
        let held = holders(confine, &d);
        if !held.is_empty() {
            return Err(Failure::Busy(format!("{d} is held by {}", held.join(","))));
        }
    }
    Ok(())
}

/// May an effect touch `dev`? The disk is the unit of permission: a whole disk must be
/// on the allow-list, and a partition is allowed exactly when its parent disk is
/// (`--disk loop18` covers `loop18p1`; `--disk sda1` alone does not open a partition
/// of a disk that is not allowed). The parent is sysfs's; a device sysfs does not know
/// (yet) is allowed by its own name or by the disk its name says it is a partition of
/// ([`named_parent`]). Only names and sysfs are read: a refused device is never opened.
pub fn ensure_allowed(confine: &Confinement, dev: &str) -> Result<()> {
    check_name(dev)?;
    let (disk, allowed) = match parent_disk(confine, dev) {
        Some(disk) => {
            let allowed = confine.disk_allowed(&disk);
            (disk, allowed)
        }
        None if exists(confine, dev) => (dev.to_string(), confine.disk_allowed(dev)),
        None => {
            let allowed = confine.disk_allowed(dev)
                || named_parent(dev).is_some_and(|p| confine.disk_allowed(p));
            (dev.to_string(), allowed)
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Failure::Refused(format!(
            "{disk} is not on the disk allow-list"
        )))
    }
}

/// The disk a partition's name says it belongs to (`loop3p1` → `loop3`, `sda1` →
/// `sda`, `nvme0n1p2` → `nvme0n1`); `None` for a name that does not end in a number.
fn named_parent(name: &str) -> Option<&str> {
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if trimmed.len() == name.len() {
        return None;
    }
    let parent = match trimmed.strip_suffix('p') {
        // loop3p1, nvme0n1p2: the parent ends in a digit before the `p`.
        Some(p) if p.ends_with(|c: char| c.is_ascii_digit()) => p,
        _ => trimmed,
    };
    (!parent.is_empty()).then_some(parent)
}

/// A node path (`/var/log`) must be absolute-or-relative plain components: `..` could
/// walk out of the confinement root.
pub fn check_node_path(node_path: &str) -> Result<()> {
    let bad = node_path.is_empty()
        || node_path.contains('\0')
        || Path::new(node_path)
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)));
    if bad {
        Err(Failure::Refused(format!(
            "path {node_path:?} is not a plain node path"
        )))
    } else {
        Ok(())
    }
}

/// After a directory exists, make sure no symlink took it outside the root.
pub fn ensure_under_root(confine: &Confinement, real: &Path) -> Result<()> {
    let root = std::fs::canonicalize(confine.root())
        .map_err(|e| Failure::io("canonicalize", confine.root(), e))?;
    let resolved = std::fs::canonicalize(real).map_err(|e| Failure::io("canonicalize", real, e))?;
    if resolved.starts_with(&root) {
        Ok(())
    } else {
        Err(Failure::Refused(format!(
            "{} resolves to {}, outside the root {}",
            real.display(),
            resolved.display(),
            root.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_cannot_escape() {
        assert!(check_name("loop3p1").is_ok());
        assert!(check_name("../sda").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("..").is_err());
        assert_eq!(device_name("/dev/loop3p1"), "loop3p1");
        assert_eq!(device_name("sda1"), "sda1");
        assert!(check_name(device_name("/dev/mapper/x")).is_err());
        assert!(check_name(device_name("/etc/passwd")).is_err());
        assert!(check_node_path("/var/log").is_ok());
        assert!(check_node_path("/var/../../etc").is_err());
        assert!(check_node_path("").is_err());
    }

    #[test]
    fn allow_list_is_checked_by_name() {
        let c = Confinement {
            disks: Some(vec!["loop2*".into()]),
            sys_dir: PathBuf::from("/nonexistent-sys"),
            ..Confinement::init()
        };
        assert!(ensure_allowed(&c, "loop21").is_ok());
        let err = ensure_allowed(&c, "vda").unwrap_err().to_string();
        assert_eq!(err, "refused: vda is not on the disk allow-list");
        // Unknown to sysfs: by name, or as a partition of an allowed disk.
        let c = Confinement {
            disks: Some(vec!["loop12".into(), "sdz".into()]),
            ..c
        };
        assert!(ensure_allowed(&c, "loop12p1").is_ok());
        assert!(ensure_allowed(&c, "sdz1").is_ok());
        assert!(ensure_allowed(&c, "loop120").is_err());
        assert!(ensure_allowed(&c, "loop1").is_err());
        assert!(ensure_allowed(&c, "sdz1/../vda").is_err());
        assert_eq!(named_parent("nvme0n1p2"), Some("nvme0n1"));
        assert_eq!(named_parent("sda"), None);
    }
}
