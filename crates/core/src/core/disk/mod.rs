//! The cache disk (BRIEF §1): reuse a labelled btrfs, else finish our own interrupted
//! prepare, else prepare the first unused SSD, else the first unused rotary disk, else
//! boot without a cache.
//!
//! Block devices are remembered from their uevents and probed (`Effect::ProbeDisk`,
//! read-only); a disk's verdict comes from its own probe and its partitions' probes
//! ([`verdict`]). A labelled filesystem is reused at once: as soon as every disk known
//! so far (and every partition its table lists) has been probed, coldplug done or not
//! (`cache.settled reason=labelled`). Otherwise the decision waits for the facts —
//! coldplug done, every driver load ended, every known disk probed — then for a short
//! quiet period with no new block device (`settle_after_facts`; `settle_quiet` when
//! coldplug loaded no driver), bounded by `settle_max`; it is taken once (again only
//! for a disk hot-plugged after `cache.none`). The prepare runs one effect at a time
//! ([`prepare`]). A labelled filesystem plugged after a failed prepare is mounted
//! (`cache.found`); one plugged while another cache is in use is only named
//! (`cache.duplicate`).
//!
//! **Order.** "First" disk means the smallest sysfs devpath, then the smallest name.
//! The devpath is the hardware topology (PCI bus, controller, port, namespace), which
//! stays the same from boot to boot where kernel names (`sda`, `nvme0n1`) follow probe
//! order and do not. NVMe disks report `rotational` 0 and rank as SSDs by devpath like
//! any other disk.

mod known;
mod logname;
mod prepare;
mod probing;
mod settle;
#[cfg(test)]
mod tests;
mod verdict;

use super::action::{Effect, EffectId};
use super::ctx::{Ctx, Owner};
use super::event::{Event, Verdict};
use super::input::{DiskProbe, EffectOutput, EffectResult};
use super::policy::CachePolicy;
use super::timer::Timer;
use crate::time::Instant;
use crate::wire::uevent::{Uevent, UeventAction};
use known::Known;
use prepare::{PartitionView, Prepare};
use probing::partition_one;
use std::collections::{BTreeMap, BTreeSet};
use verdict::{Judgement, PartView};

/// A block device (whole disk or partition) as the uevents and probes described it.
struct Device {
    devpath: String,
    /// For a partition: its disk (the parent directory of its devpath).
    parent: Option<String>,
    /// For a partition: `PARTN`.
    number: Option<u32>,
    /// For a disk: why it is never considered (decided from its name).
    excluded: Option<String>,
    probe: Option<DiskProbe>,
    /// Why the last probe failed (a world error, or its deadline: `timed out after
    /// 10s`); the device then counts as unreadable, and the reason says why.
    probe_error: Option<String>,
    /// The probe in flight, if any; an answer to an older one is ignored. Changed only
    /// through `Known::start_probe` / `end_probe`.
    probing: Option<EffectId>,
    /// The verdict last logged in `disk.seen` (disks only).
    logged: Option<Verdict>,
    /// Judged when the last decision was taken: its news cannot reopen the question.
    decided_on: bool,
}

enum Phase {
    /// Before `ColdplugDone`: collect and probe, decide nothing.
    Scanning,
    /// Waiting for the quiet period; `since` is coldplug done (or the hot-plug that
    /// reopened the question).
    Settling { since: Instant },
    /// Reusing or preparing, then ready and pruning.
    Active(Prepare),
    /// No cache; a hot-plugged unused or labelled disk reopens the question.
    None { reason: String },
    /// A step failed: nothing else is formatted this boot.
    Failed { device: String, step: String },
}

pub struct Cache {
    policy: CachePolicy,
    devices: Known,
    phase: Phase,
    /// `Note::CacheSettled` was sent (it is sent once per boot).
    noted: bool,
    /// Devices already named in a `cache.duplicate` (each is named once).
    warned: BTreeSet<String>,
    /// Driver loads (`modprobe`) still running: a disk behind a driver that is still
    /// loading has not announced itself yet, so no decision is taken while any runs.
    drivers_loading: usize,
    /// A driver load was started this boot: the facts then include its end, and the
    /// quiet period after them is the short `settle_after_facts`.
    drivers_seen: bool,
    /// A probe judged some disk labelled since the last look: only then does
    /// [`Cache::maybe_reuse`] scan every disk (a coldplug without one stays O(log n)
    /// per probe answer).
    labelled_seen: bool,
}

impl Cache {
    pub fn new(policy: CachePolicy) -> Cache {
        Cache {
            policy,
            devices: Known::default(),
            phase: Phase::Scanning,
            noted: false,
            warned: BTreeSet::new(),
            drivers_loading: 0,
            drivers_seen: false,
            labelled_seen: false,
        }
    }

    /// A driver load started (`loading` true) or finished. While any runs the cache
    /// question stays open (bounded by `settle_max`), and each one that finishes
    /// restarts the quiet period: its disks (SCSI scans, NVMe namespaces) appear
    /// asynchronously after the driver binds. Without this, a labelled disk behind a
    /// slow driver could lose to a blank disk that was visible earlier.
    pub fn on_driver_load(&mut self, cx: &mut Ctx, loading: bool) {
        if loading {
            self.drivers_loading = self.drivers_loading.saturating_add(1);
            self.drivers_seen = true;
            return;
        }
        self.drivers_loading = self.drivers_loading.saturating_sub(1);
        self.restart_quiet(cx);
    }

    pub fn on_start(&mut self, _cx: &mut Ctx) {}

    /// A block uevent (disk or partition added, changed, removed).
    pub fn on_uevent(&mut self, cx: &mut Ctx, uevent: &Uevent) {
        let Some(name) = device_name(uevent) else {
            return;
        };
        match uevent.action {
            UeventAction::Add => self.add(cx, uevent, &name),
            UeventAction::Remove => self.remove(cx, &name),
            UeventAction::Change => self.change(cx, &name),
            _ => {}
        }
    }

    pub fn on_coldplug_done(&mut self, cx: &mut Ctx) {
        if matches!(self.phase, Phase::Scanning) {
            self.begin_settling(cx);
            self.maybe_reuse(cx);
        }
    }

    /// After lost uevents: `present` lists every block device there is now. Unknown
    /// ones are added, known ones missing (or at another devpath) are removed;
    /// decisions already taken stand. Logs `resync` with the block-device counts.
    pub fn on_resync(&mut self, cx: &mut Ctx, present: &[Uevent]) {
        let named: Vec<(String, &Uevent)> = present
            .iter()
            .filter_map(|u| device_name(u).map(|n| (n, u)))
            .collect();
        let devpaths: BTreeMap<&str, &str> = named
            .iter()
            .map(|(n, u)| (n.as_str(), u.devpath.as_str()))
            .collect();
        let gone: Vec<String> = self
            .devices
            .iter()
            .filter(|(name, dev)| devpaths.get(name.as_str()) != Some(&dev.devpath.as_str()))
            .map(|(name, _)| name.clone())
            .collect();
        let removed = gone.len();
        for name in gone {
            self.remove(cx, &name);
        }
        // Disks first, so that partitions find their parent.
        let mut fresh: Vec<&(String, &Uevent)> = named
            .iter()
            .filter(|(n, _)| !self.devices.contains(n))
            .collect();
        fresh.sort_by_key(|(_, u)| u.devtype.as_deref() != Some("disk"));
        cx.log(Event::Resync {
            devices: named.len(),
            added: fresh.len(),
            removed,
        });
        for (name, uevent) in fresh {
            self.add(cx, uevent, name);
        }
    }

    pub fn on_done(&mut self, cx: &mut Ctx, id: EffectId, result: &EffectResult) {
        if let Some(name) = self.devices.end_probe(id) {
            self.on_probed(cx, &name, result);
            return;
        }
        if let Phase::Active(prepare) = &mut self.phase {
            let partition = partition_one(&self.devices, &prepare.disk);
            let progress = prepare.on_done(cx, &self.policy, id, result, partition);
            self.on_progress(cx, progress);
        }
    }

    /// The filesystem a mount of the prepare waits for is available (or as
    /// available as it gets): see [`crate::core::fsready`].
    pub fn on_filesystem(&mut self, cx: &mut Ctx, fstype: &str) {
        if let Phase::Active(prepare) = &mut self.phase {
            prepare.on_filesystem(cx, &self.policy, fstype);
        }
    }

    pub fn on_timer(&mut self, cx: &mut Ctx, timer: &Timer) {
        match timer {
            Timer::SettleQuiet => self.maybe_decide(cx),
            Timer::SettleDeadline => {
                if matches!(self.phase, Phase::Settling { .. }) {
                    self.decide(cx, "deadline");
                }
            }
            Timer::PartitionWait => {
                if let Phase::Active(prepare) = &mut self.phase {
                    let progress = prepare.on_partition_timeout(cx, self.policy.partition_wait);
                    self.on_progress(cx, progress);
                }
            }
            _ => {}
        }
    }

    /// Ready, none or failed (once true, it stays true: a hot-plugged disk prepared
    /// later does not hold services back again).
    /// The cache's mounts, last made first (`(source, target)`), for the shutdown.
    pub fn mounts_last_first(&self) -> Vec<(String, String)> {
        match &self.phase {
            Phase::Active(prepare) => prepare.mounts_last_first(),
            _ => Vec::new(),
        }
    }

    pub fn is_settled(&self) -> bool {
        self.noted
    }

    pub fn summary(&self) -> String {
        match &self.phase {
            Phase::Scanning => format!("scanning ({} devices)", self.devices.len()),
            Phase::Settling { .. } => format!("settling ({} devices)", self.devices.len()),
            Phase::Active(p) => p.summary(),
            Phase::None { reason } => format!("none: {reason}"),
            Phase::Failed { device, step } => format!("failed {device} at {step}"),
        }
    }

    // --- devices ---

    fn add(&mut self, cx: &mut Ctx, uevent: &Uevent, name: &str) {
        if let Some(known) = self.devices.get(name) {
            if known.devpath == uevent.devpath {
                return; // the same device announced twice (coldplug and live)
            }
            self.remove(cx, name);
        }
        let is_disk = uevent.devtype.as_deref() == Some("disk");
        let parent = if is_disk {
            None
        } else {
            parent_name(&uevent.devpath)
        };
        let excluded = if is_disk {
            verdict::excluded(&self.policy, name)
        } else {
            None
        };
        self.devices.insert(
            name,
            Device {
                devpath: uevent.devpath.clone(),
                parent: parent.clone(),
                number: uevent.get("PARTN").and_then(|n| n.parse().ok()),
                excluded: excluded.clone(),
                probe: None,
                probe_error: None,
                probing: None,
                logged: None,
                decided_on: false,
            },
        );
        if let Some(reason) = excluded {
            cx.log(Event::DiskSeen {
                disk: name.to_owned(),
                rotational: false,
                size_bytes: 0,
                verdict: Verdict::Excluded,
                reason,
            });
            return;
        }
        if is_disk {
            self.probe(cx, name);
            // Partitions announced before their disk.
            let orphans: Vec<String> = self.partitions_of(name);
            for part in orphans {
                self.probe(cx, &part);
            }
        } else if parent.as_deref().is_some_and(|p| self.eligible_disk(p)) {
            self.probe(cx, name);
        } else {
            return;
        }
        self.restart_quiet(cx);
    }

    fn remove(&mut self, cx: &mut Ctx, name: &str) {
        let Some(dev) = self.devices.remove(name) else {
            return;
        };
        if dev.parent.is_none() {
            for part in self.partitions_of(name) {
                self.devices.remove(&part);
            }
            cx.log(Event::DiskGone {
                disk: name.to_owned(),
            });
        }
        match &mut self.phase {
            Phase::Active(prepare) => {
                let progress = prepare.on_removed(cx, name);
                self.on_progress(cx, progress);
            }
            Phase::Settling { .. } | Phase::Scanning => {
                self.maybe_reuse(cx);
                self.maybe_decide(cx);
            }
            _ => {}
        }
    }

    /// The kernel says the device changed (a new table, a new filesystem): look again,
    /// unless it is the disk we are writing.
    fn change(&mut self, cx: &mut Ctx, name: &str) {
        let Some(disk) = self.disk_of(name) else {
            return;
        };
        if !self.eligible_disk(&disk) {
            return;
        }
        if matches!(&self.phase, Phase::Active(p) if p.disk == disk) {
            return;
        }
        self.probe(cx, name);
    }
}

/// The kernel name of a disk or partition uevent (`DEVNAME`, else the devpath's last
/// component); `None` for other block devtypes.
fn device_name(uevent: &Uevent) -> Option<String> {
    if !matches!(uevent.devtype.as_deref(), Some("disk" | "partition")) {
        return None;
    }
    let name = match &uevent.devname {
        Some(n) => n.trim_start_matches("/dev/").to_owned(),
        None => uevent.devpath.rsplit('/').next()?.to_owned(),
    };
    (!name.is_empty()).then_some(name)
}

/// The disk of a partition: the parent directory of its devpath
/// (`/devices/…/block/sda/sda1` → `sda`).
fn parent_name(devpath: &str) -> Option<String> {
    let mut parts = devpath.trim_end_matches('/').rsplit('/');
    parts.next()?;
    parts.next().filter(|p| !p.is_empty()).map(str::to_owned)
}
