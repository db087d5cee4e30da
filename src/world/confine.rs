//! What a live run may touch. As PID 1 everything (the node is ours); otherwise only
//! allow-listed disks and NICs, and only paths under `root`. Every effect is checked
//! here before it runs, whatever the core decided (defence in depth: the core also
//! marks non-allowed devices `excluded`).

use crate::core::policy::any_match;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Confinement {
    /// Prefix for every node path the run mounts or writes (`/` as PID 1).
    pub root: PathBuf,
    /// Disk name patterns that may be written; `None` = all (PID 1 only).
    pub disks: Option<Vec<String>>,
    /// NIC name patterns that may be touched; `None` = all (PID 1 only).
    pub nics: Option<Vec<String>>,
    /// Log effects instead of running them.
    pub dry_run: bool,
    /// Where device nodes live (`/dev`).
    pub dev_dir: PathBuf,
    /// Where sysfs is mounted (`/sys`).
    pub sys_dir: PathBuf,
}

impl Confinement {
    /// PID 1 on a real node: everything is ours.
    pub fn init() -> Confinement {
        Confinement {
            root: PathBuf::from("/"),
            disks: None,
            nics: None,
            dry_run: false,
            dev_dir: PathBuf::from("/dev"),
            sys_dir: PathBuf::from("/sys"),
        }
    }

    pub fn disk_allowed(&self, name: &str) -> bool {
        self.disks.as_ref().is_none_or(|p| any_match(p, name))
    }

    pub fn nic_allowed(&self, name: &str) -> bool {
        self.nics.as_ref().is_none_or(|p| any_match(p, name))
    }

    /// The real path of a node path (`/var/log` → `<root>/var/log`).
    pub fn path(&self, node_path: &str) -> PathBuf {
        self.root.join(node_path.trim_start_matches('/'))
    }

    pub fn dev(&self, device: &str) -> PathBuf {
        self.dev_dir.join(device)
    }

    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sys_dir.join(rel.trim_start_matches('/'))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confined_run_allows_only_listed_devices_and_prefixes_paths() {
        let c = Confinement {
            root: PathBuf::from("/tmp/node"),
            disks: Some(vec!["loop2*".into()]),
            nics: Some(vec!["nb-*".into()]),
            ..Confinement::init()
        };
        assert!(c.disk_allowed("loop21") && c.disk_allowed("loop2p1"));
        assert!(!c.disk_allowed("vda"));
        assert!(c.nic_allowed("nb-eth0") && !c.nic_allowed("eth0"));
        assert_eq!(c.path("/var/log"), PathBuf::from("/tmp/node/var/log"));
        assert!(Confinement::init().disk_allowed("vda"));
    }
}
