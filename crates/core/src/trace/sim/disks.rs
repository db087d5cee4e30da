//! The simulated block devices: probes, partitioning, mkfs, mounts, subvolumes.

use super::{SECTOR, Sim, SimDisk};
use crate::core::action::Effect;
use crate::core::input::{
    DiskProbe, EffectError, EffectOutput, EffectResult, ErrorKind, Input, PartitionEntry,
};
use crate::core::policy::glob_match;
use crate::time::Instant;
use crate::trace::world::DiskSpec;
pub use crate::wire::devname::partition_name;
use crate::wire::uevent::{Uevent, UeventAction};
use std::collections::BTreeMap;

impl Sim {
    /// A scripted failure for this effect (world-wide, or on its device).
    pub(super) fn failure(&self, name: &str, effect: &Effect) -> Option<String> {
        if let Some(e) = self.spec.fail.get(name) {
            return Some(e.clone());
        }
        let device = device_of(effect)?;
        self.disks
            .get(device)
            .and_then(|d| d.spec.fail.get(name))
            .cloned()
    }

    /// This effect never answers (world-wide, or on its device).
    pub(super) fn hangs(&self, name: &str, effect: &Effect) -> bool {
        let named = |list: &[String]| list.iter().any(|h| h == name);
        named(&self.spec.hang)
            || device_of(effect)
                .and_then(|device| self.disks.get(device))
                .is_some_and(|d| named(&d.spec.hang))
    }

    pub(super) fn probe(&self, device: &str) -> EffectResult {
        if let Some(d) = self.disks.get(device) {
            return Ok(EffectOutput::Disk {
                probe: d.spec.probe.clone(),
            });
        }
        match &self.spec.default_disk {
            Some(p) => {
                let mut probe = p.clone();
                if self.spec.ssd.iter().any(|pat| glob_match(pat, device)) {
                    probe.rotational = false;
                }
                Ok(EffectOutput::Disk { probe })
            }
            None => Err(EffectError::new(
                ErrorKind::NotFound,
                format!("/dev/{device}: no such device"),
            )),
        }
    }

    /// The device's probe, materialising an unlisted device from `default_disk`.
    pub(super) fn disk_mut(&mut self, device: &str) -> Option<&mut SimDisk> {
        if !self.disks.contains_key(device)
            && let Ok(EffectOutput::Disk { probe }) = self.probe(device)
        {
            self.disks.insert(
                device.to_owned(),
                SimDisk {
                    spec: DiskSpec {
                        probe,
                        ..DiskSpec::default()
                    },
                },
            );
        }
        self.disks.get_mut(device)
    }

    pub(super) fn write_table(&mut self, disk: &str, part_name: &str) -> EffectResult {
        let Some(d) = self.disk_mut(disk) else {
            return Err(EffectError::new(
                ErrorKind::NotFound,
                format!("/dev/{disk}: no such device"),
            ));
        };
        let sectors = d.spec.probe.size_bytes / SECTOR;
        // The table the live world writes: nodeboot's type GUID, 1 MiB aligned, up to
        // the last usable LBA (a 128-entry backup array and header take 33 sectors).
        d.spec.probe.partition_table = Some("gpt".into());
        d.spec.probe.sector_size = SECTOR;
        d.spec.probe.last_usable_lba = sectors.saturating_sub(34);
        d.spec.probe.partitions = vec![PartitionEntry {
            number: 1,
            name: part_name.to_owned(),
            start_lba: 2048,
            size_lba: sectors.saturating_sub(2048 + 33),
            type_guid: crate::wire::gpt::TYPE_NODEBOOT_CACHE.into(),
        }];
        Ok(EffectOutput::Done)
    }

    pub(super) fn add_partition(&mut self, at: Instant, disk: &str, number: u32) -> EffectResult {
        let part = partition_name(disk, number);
        let Some(d) = self.disk_mut(disk) else {
            return Err(EffectError::new(
                ErrorKind::NotFound,
                format!("/dev/{disk}: no such device"),
            ));
        };
        let entry = d
            .spec
            .probe
            .partitions
            .iter()
            .find(|p| p.number == number)
            .cloned();
        let Some(entry) = entry else {
            return Err(EffectError::new(
                ErrorKind::NotFound,
                format!("/dev/{disk}: no partition {number} in the table"),
            ));
        };
        let silent = d.spec.no_partition_uevent;
        let probe = DiskProbe {
            size_bytes: entry.size_lba * SECTOR,
            rotational: d.spec.probe.rotational,
            ..DiskProbe::default()
        };
        if !self.disks.contains_key(&part) {
            self.disks.insert(
                part.clone(),
                SimDisk {
                    spec: DiskSpec {
                        probe,
                        ..DiskSpec::default()
                    },
                },
            );
        }
        if !silent {
            let parent_path = self
                .devpaths
                .get(disk)
                .cloned()
                .or_else(|| self.disks.get(disk).and_then(|d| d.spec.devpath.clone()))
                .unwrap_or_else(|| format!("/devices/virtual/block/{disk}"));
            let uevent = partition_uevent(&parent_path, &part, number);
            self.schedule(at, Input::Uevent { uevent }, None, None);
        }
        Ok(EffectOutput::Done)
    }

    pub(super) fn mkfs(&mut self, device: &str, label: &str, force: bool) -> EffectResult {
        let Some(d) = self.disk_mut(device) else {
            return Err(EffectError::new(
                ErrorKind::NotFound,
                format!("/dev/{device}: no such device"),
            ));
        };
        // Like mkfs.btrfs: without `-f` it refuses a device holding a known signature.
        let p = &d.spec.probe;
        let known = p.signatures.iter().find(|s| *s != "unknown-data");
        if let (false, Some(sig)) = (force, known.or(p.btrfs_label.as_ref())) {
            return Err(EffectError::other(format!(
                "mkfs.btrfs exited 1: /dev/{device} appears to contain an existing filesystem ({sig})"
            )));
        }
        d.spec.probe.signatures = vec!["btrfs".into()];
        d.spec.probe.btrfs_label = Some(label.to_owned());
        Ok(EffectOutput::Done)
    }

    pub(super) fn mount(&mut self, source: &str, fstype: &str) -> EffectResult {
        let device = source.trim_start_matches("/dev/");
        if let Some(d) = self.disks.get(device) {
            let has_fs = d.spec.probe.signatures.iter().any(|s| s == fstype)
                || (fstype == "btrfs" && d.spec.probe.btrfs_label.is_some());
            if !has_fs {
                return Err(EffectError::new(
                    ErrorKind::Invalid,
                    format!("mount {source}: wrong fs type, bad option, bad superblock"),
                ));
            }
        }
        Ok(EffectOutput::Done)
    }

    pub(super) fn list_subvolumes(&self, path: &str) -> Vec<String> {
        let dir = path.trim_end_matches('/');
        let prefix = format!("{dir}/");
        self.subvolumes
            .iter()
            .filter_map(|s| s.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_owned)
            .collect()
    }
}

/// The block device an effect works on, if any.
fn device_of(effect: &Effect) -> Option<&str> {
    Some(match effect {
        Effect::ProbeDisk { device } | Effect::Mkfs { device, .. } => device.as_str(),
        Effect::WritePartitionTable { disk, .. } | Effect::AddPartition { disk, .. } => {
            disk.as_str()
        }
        Effect::Mount { source, .. } | Effect::Unmount { source, .. } => {
            source.trim_start_matches("/dev/")
        }
        _ => return None,
    })
}

/// The `add` uevent the kernel sends for a new partition.
pub fn partition_uevent(parent_devpath: &str, part: &str, number: u32) -> Uevent {
    let devpath = format!("{parent_devpath}/{part}");
    let env: BTreeMap<String, String> = [
        ("ACTION", "add".to_owned()),
        ("DEVPATH", devpath.clone()),
        ("SUBSYSTEM", "block".to_owned()),
        ("DEVNAME", part.to_owned()),
        ("DEVTYPE", "partition".to_owned()),
        ("PARTN", number.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Uevent {
        action: UeventAction::Add,
        devpath,
        subsystem: "block".into(),
        devtype: Some("partition".into()),
        devname: Some(part.to_owned()),
        seqnum: None,
        env,
    }
}
