//! The block devices the cache knows, indexed so that each event costs O(log n): by
//! name, partitions by their disk, and devices by the probe in flight. A coldplug of
//! thousands of disks (a storage node, a synthetic benchmark) stays linear overall.
//!
//! `Device::probing` is changed only through [`Known::start_probe`] and
//! [`Known::end_probe`], which keep the probe index in step.

use super::Device;
use crate::core::action::EffectId;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
pub(super) struct Known {
    by_name: BTreeMap<String, Device>,
    /// Disk name → names of its partitions (also for a disk not announced yet).
    partitions: BTreeMap<String, BTreeSet<String>>,
    /// Probe in flight → the device it looks at.
    probes: BTreeMap<EffectId, String>,
}

impl Known {
    pub(super) fn get(&self, name: &str) -> Option<&Device> {
        self.by_name.get(name)
    }

    /// For `logged`, `probe` and `decided_on`; not for `probing`.
    pub(super) fn get_mut(&mut self, name: &str) -> Option<&mut Device> {
        self.by_name.get_mut(name)
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub(super) fn len(&self) -> usize {
        self.by_name.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&String, &Device)> {
        self.by_name.iter()
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Device> {
        self.by_name.values()
    }

    /// Insert a device not known under `name` (the caller removed any older one).
    pub(super) fn insert(&mut self, name: &str, dev: Device) {
        if let Some(parent) = &dev.parent {
            self.partitions
                .entry(parent.clone())
                .or_default()
                .insert(name.to_owned());
        }
        if let Some(id) = dev.probing {
            self.probes.insert(id, name.to_owned());
        }
        if let Some(old) = self.by_name.insert(name.to_owned(), dev) {
            self.unindex(name, &old);
        }
    }

    pub(super) fn remove(&mut self, name: &str) -> Option<Device> {
        let dev = self.by_name.remove(name)?;
        self.unindex(name, &dev);
        Some(dev)
    }

    fn unindex(&mut self, name: &str, dev: &Device) {
        if let Some(parent) = &dev.parent
            && let Some(set) = self.partitions.get_mut(parent)
        {
            set.remove(name);
            if set.is_empty() {
                self.partitions.remove(parent);
            }
        }
        if let Some(id) = dev.probing {
            self.probes.remove(&id);
        }
    }

    /// The partitions of `disk`, by name.
    pub(super) fn partitions_of<'a>(
        &'a self,
        disk: &str,
    ) -> impl Iterator<Item = (&'a str, &'a Device)> + 'a {
        self.partitions
            .get(disk)
            .into_iter()
            .flatten()
            .filter_map(|n| self.by_name.get(n).map(|d| (n.as_str(), d)))
    }

    /// `name` is being probed by `id`; an older probe's answer will be ignored.
    pub(super) fn start_probe(&mut self, name: &str, id: EffectId) {
        if let Some(dev) = self.by_name.get_mut(name) {
            if let Some(old) = dev.probing.replace(id) {
                self.probes.remove(&old);
            }
            self.probes.insert(id, name.to_owned());
        }
    }

    /// The probe `id` answered: the device it looked at, if still current.
    pub(super) fn end_probe(&mut self, id: EffectId) -> Option<String> {
        let name = self.probes.remove(&id)?;
        if let Some(dev) = self.by_name.get_mut(&name) {
            dev.probing = None;
        }
        Some(name)
    }

    pub(super) fn probes_outstanding(&self) -> bool {
        !self.probes.is_empty()
    }
}
