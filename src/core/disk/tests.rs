//! Timelines for the cache disk (smoltcp DHCP style): a fake world answers the
//! reactor's effects from a table of disks, time jumps from timer to timer, and each
//! test asserts the log stream and the effects requested.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::logname;
use crate::core::Reactor;
use crate::core::action::{Action, Effect};
use crate::core::event::{Event, Verdict};
use crate::core::input::{DiskProbe, EffectOutput, Input, Mode, PartitionEntry};
use crate::core::policy::Policy;
use crate::core::timer::Timer;
use crate::time::Instant;
use crate::wire::uevent::{Uevent, UeventAction};
use std::collections::{BTreeMap, BTreeSet};

const LABEL: &str = "sp_zos-cache";
const POOL: &str = "/mnt/storagepool/sp_zos-cache";
const WALL: u64 = 1_795_656_645; // 2026-11-26T01:30:45Z

type Matcher = Box<dyn Fn(&Effect) -> bool>;

struct World {
    r: Reactor,
    now: Instant,
    /// Probe answers by device name; a device missing here fails its probe.
    probes: BTreeMap<String, DiskProbe>,
    devpaths: BTreeMap<String, String>,
    /// Probes of these devices are held until `release`.
    hold: BTreeSet<String>,
    held: Vec<Action>,
    /// Effects matching one of these fail with the message.
    failures: Vec<(Matcher, String)>,
    /// What `ListSubvolumes` answers.
    subvolumes: Vec<String>,
    /// `AddPartition` makes the partition's `add` uevent appear.
    partitions_appear: bool,
    records: Vec<Event>,
    effects: Vec<Effect>,
    /// Verdict last logged per disk, to check every mkfs against.
    verdicts: BTreeMap<String, Verdict>,
    /// The disk chosen at decision time and its verdict then.
    chosen: Option<(String, Option<Verdict>)>,
}

fn policy() -> Policy {
    let mut p = Policy {
        modprobe: false,
        ..Policy::default()
    };
    p.cache.allow_loop = true;
    p.cache.keep_logs = 3;
    p
}

fn uevent(action: UeventAction, name: &str, devpath: &str, devtype: &str) -> Uevent {
    let mut env = BTreeMap::new();
    if devtype == "partition" {
        let n: String = name
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect();
        env.insert("PARTN".to_string(), n.chars().rev().collect());
    }
    Uevent {
        action,
        devpath: devpath.into(),
        subsystem: "block".into(),
        devtype: Some(devtype.into()),
        devname: Some(name.into()),
        seqnum: None,
        env,
    }
}

fn blank(ssd: bool) -> DiskProbe {
    DiskProbe {
        size_bytes: 8 << 30,
        rotational: !ssd,
        ..DiskProbe::default()
    }
}

fn labelled() -> DiskProbe {
    DiskProbe {
        signatures: vec!["btrfs".into()],
        btrfs_label: Some(LABEL.into()),
        ..blank(true)
    }
}

/// What our `partition` step leaves: a GPT with one entry named after the label.
fn our_gpt(ssd: bool) -> DiskProbe {
    DiskProbe {
        partition_table: Some("gpt".into()),
        partitions: vec![PartitionEntry {
            number: 1,
            name: LABEL.into(),
            start_lba: 2048,
            size_lba: 1000,
        }],
        ..blank(ssd)
    }
}

fn is_cache_effect(effect: &Effect) -> bool {
    matches!(
        effect,
        Effect::ProbeDisk { .. }
            | Effect::WritePartitionTable { .. }
            | Effect::AddPartition { .. }
            | Effect::Mkfs { .. }
            | Effect::Mount { .. }
            | Effect::CreateSubvolume { .. }
            | Effect::ListSubvolumes { .. }
            | Effect::DeleteSubvolume { .. }
            | Effect::CopyTree { .. }
            | Effect::ReopenLogs { .. }
    )
}

fn part_name(disk: &str) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p1")
    } else {
        format!("{disk}1")
    }
}

impl World {
    fn new(policy: Policy) -> World {
        let mut w = World {
            r: Reactor::new(policy),
            now: Instant::ZERO,
            probes: BTreeMap::new(),
            devpaths: BTreeMap::new(),
            hold: BTreeSet::new(),
            held: Vec::new(),
            failures: Vec::new(),
            subvolumes: Vec::new(),
            partitions_appear: true,
            records: Vec::new(),
            effects: Vec::new(),
            verdicts: BTreeMap::new(),
            chosen: None,
        };
        w.input(
            0,
            Input::Start {
                wall_clock_unix: WALL,
                mode: Mode::Replay,
            },
        );
        w
    }

    /// A disk at `slot` (its place in the hardware topology) with this probe.
    fn disk(&mut self, at_ms: u64, name: &str, slot: u32, probe: DiskProbe) {
        let devpath = format!("/devices/pci0000:00/0000:00:{slot:02x}.0/block/{name}");
        self.probes.insert(name.into(), probe);
        self.devpaths.insert(name.into(), devpath.clone());
        let u = uevent(UeventAction::Add, name, &devpath, "disk");
        self.input(at_ms, Input::Uevent { uevent: u });
    }

    fn partition(&mut self, at_ms: u64, disk: &str, probe: DiskProbe) {
        let name = part_name(disk);
        let devpath = format!("{}/{name}", self.devpaths[disk]);
        self.probes.insert(name.clone(), probe);
        self.devpaths.insert(name.clone(), devpath.clone());
        let u = uevent(UeventAction::Add, &name, &devpath, "partition");
        self.input(at_ms, Input::Uevent { uevent: u });
    }

    fn remove(&mut self, at_ms: u64, name: &str) {
        let devpath = self.devpaths[name].clone();
        let u = uevent(UeventAction::Remove, name, &devpath, "disk");
        self.input(at_ms, Input::Uevent { uevent: u });
    }

    fn coldplug_done(&mut self, at_ms: u64) {
        self.input(at_ms, Input::ColdplugDone);
    }

    fn fail(&mut self, error: &str, matcher: impl Fn(&Effect) -> bool + 'static) {
        self.failures.push((Box::new(matcher), error.into()));
    }

    /// Feed `input` at `at_ms`, after firing every timer due before it.
    fn input(&mut self, at_ms: u64, input: Input) {
        self.run_until(at_ms);
        self.r.handle(self.now, input);
        self.pump();
    }

    /// Let time pass to `at_ms`, firing timers at their deadlines.
    fn run_until(&mut self, at_ms: u64) {
        let end = Instant::from_millis(at_ms);
        assert!(end >= self.now, "time goes forward");
        while let Some(t) = self.r.poll_timeout().filter(|t| *t <= end) {
            self.now = t.max(self.now);
            self.r.handle_timeout(self.now);
            self.pump();
        }
        self.now = end;
    }

    fn release(&mut self, at_ms: u64, name: &str) {
        self.run_until(at_ms);
        self.hold.remove(name);
        let held = std::mem::take(&mut self.held);
        for action in held {
            self.answer(action);
        }
        self.pump();
    }

    /// Answer every effect the reactor asked for, as the world would.
    fn pump(&mut self) {
        loop {
            self.drain_records();
            let Some(action) = self.r.poll_action() else {
                break;
            };
            // Other parts of the core (the gate, …) ask for their own effects.
            if is_cache_effect(&action.effect) {
                self.effects.push(action.effect.clone());
            }
            self.check_safe(&action.effect);
            match &action.effect {
                Effect::ProbeDisk { device } if self.hold.contains(device) => {
                    self.held.push(action);
                }
                _ => self.answer(action),
            }
        }
    }

    fn answer(&mut self, action: Action) {
        let failure = self
            .failures
            .iter()
            .find(|(m, _)| m(&action.effect))
            .map(|(_, e)| e.clone());
        let result = match (failure, &action.effect) {
            (Some(error), _) => Err(error),
            (None, Effect::ProbeDisk { device }) => match self.probes.get(device) {
                Some(probe) => Ok(EffectOutput::Disk {
                    probe: probe.clone(),
                }),
                None => Err(format!("{device}: no such device")),
            },
            (None, Effect::ListSubvolumes { .. }) => Ok(EffectOutput::Subvolumes {
                names: self.subvolumes.clone(),
            }),
            (None, _) => Ok(EffectOutput::Done),
        };
        let ok = result.is_ok();
        self.r.handle(
            self.now,
            Input::EffectDone {
                id: action.id,
                result,
            },
        );
        if let (true, true, Effect::AddPartition { disk, .. }) =
            (ok, self.partitions_appear, &action.effect)
        {
            let disk = disk.clone();
            self.probes
                .entry(part_name(&disk))
                .or_insert_with(|| blank(true));
            let probe = self.probes[&part_name(&disk)].clone();
            let at = self.now.as_millis();
            self.partition(at, &disk, probe);
        }
    }

    fn drain_records(&mut self) {
        while let Some(record) = self.r.poll_record() {
            match &record.event {
                Event::DiskSeen { disk, verdict, .. } => {
                    self.verdicts.insert(disk.clone(), *verdict);
                }
                Event::CacheSelected { disk, .. } | Event::CacheResumed { disk, .. } => {
                    self.chosen = Some((disk.clone(), self.verdicts.get(disk).copied()));
                }
                _ => {}
            }
            self.records.push(record.event);
        }
    }

    /// The safety rule, checked on every effect of every test: a table or a
    /// filesystem is only ever written on the disk chosen at decision time, which was
    /// `unused` (or held our interrupted prepare, verdict `cache`) when it was chosen.
    fn check_safe(&self, effect: &Effect) {
        let disk = match effect {
            Effect::WritePartitionTable { disk, .. } => disk.clone(),
            Effect::Mkfs { device, .. } => {
                let d = device.trim_end_matches(|c: char| c.is_ascii_digit());
                d.strip_suffix('p')
                    .filter(|d| d.ends_with(|c: char| c.is_ascii_digit()))
                    .unwrap_or(d)
                    .to_owned()
            }
            _ => return,
        };
        let Some((chosen, verdict)) = &self.chosen else {
            panic!("{effect:?} before any decision");
        };
        assert_eq!(chosen, &disk, "{effect:?}");
        assert!(
            matches!(verdict, Some(Verdict::Unused | Verdict::Cache)),
            "{effect:?} on a disk judged {verdict:?} at decision time"
        );
    }

    fn names(&self) -> Vec<String> {
        self.records.iter().map(Event::name).collect()
    }

    fn count(&self, name: &str) -> usize {
        self.names().iter().filter(|n| *n == name).count()
    }

    fn steps(&self) -> Vec<(String, String, bool)> {
        self.records
            .iter()
            .filter_map(|e| match e {
                Event::CacheStep {
                    step, device, ok, ..
                } => Some((step.clone(), device.clone(), *ok)),
                _ => None,
            })
            .collect()
    }

    fn written(&self) -> Vec<String> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::WritePartitionTable { disk, .. } => Some(format!("table {disk}")),
                Effect::Mkfs { device, .. } => Some(format!("mkfs {device}")),
                _ => None,
            })
            .collect()
    }

    fn seen(&self, disk: &str) -> (Verdict, String) {
        self.records
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::DiskSeen {
                    disk: d,
                    verdict,
                    reason,
                    ..
                } if d == disk => Some((*verdict, reason.clone())),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no disk.seen for {disk}"))
    }

    fn has(&self, event: &Event) -> bool {
        self.records.contains(event)
    }

    fn settled_at(&self) -> Option<u64> {
        self.records.iter().find_map(|e| match e {
            Event::CacheSettled { after_ms, .. } => Some(*after_ms),
            _ => None,
        })
    }
}

fn mount_sequence(device: &str) -> Vec<(String, String, bool)> {
    [
        "mount-pool",
        "subvolumes",
        "list-logs",
        "log-subvolume",
        "copy-logs",
        "mount-cache",
        "mount-logs",
        "reopen-logs",
    ]
    .iter()
    .map(|s| (s.to_string(), device.to_string(), true))
    .collect()
}

fn fresh_sequence(disk: &str, part: &str) -> Vec<(String, String, bool)> {
    let mut v = vec![
        ("partition".to_string(), disk.to_string(), true),
        ("add-partition".to_string(), disk.to_string(), true),
        ("mkfs".to_string(), part.to_string(), true),
    ];
    v.extend(mount_sequence(part));
    v
}

fn ready(device: &str, wall_offset_s: u64) -> Event {
    Event::CacheReady {
        device: device.into(),
        log_subvolume: format!("logs/{}", logname::timestamp(WALL + wall_offset_s)),
    }
}

#[test]
fn labelled_cache_reused_even_when_a_blank_ssd_appears_first() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, blank(false));
    w.partition(21, "sdb", labelled());
    w.coldplug_done(100);
    w.run_until(60_000);

    assert!(w.has(&Event::CacheFound {
        device: "sdb1".into()
    }));
    assert_eq!(w.seen("sda").0, Verdict::Unused);
    assert_eq!(
        w.seen("sdb"),
        (Verdict::Cache, format!("label {LABEL} on sdb1"))
    );
    assert_eq!(w.seen("sdb1"), (Verdict::Cache, format!("label {LABEL}")));
    assert_eq!(w.steps(), mount_sequence("sdb1"));
    assert!(w.written().is_empty(), "{:?}", w.written());
    assert!(w.has(&ready("sdb1", 2)));
    assert!(w.effects.contains(&Effect::Mount {
        source: "/dev/sdb1".into(),
        target: POOL.into(),
        fstype: "btrfs".into(),
        options: String::new(),
    }));
    assert!(w.effects.contains(&Effect::Mount {
        source: "/dev/sdb1".into(),
        target: "/var/log".into(),
        fstype: "btrfs".into(),
        options: format!("subvol=logs/{}", logname::timestamp(WALL + 2)),
    }));
    assert!(w.r_is_settled());
}

impl World {
    fn r_is_settled(&mut self) -> bool {
        // The status summary is the public window on the cache's state.
        self.r.handle(
            self.now,
            Input::Signal {
                signal: crate::core::input::SignalKind::Status,
            },
        );
        self.drain_records();
        match self.records.last() {
            Some(Event::Status { cache, .. }) => cache.starts_with("ready"),
            _ => false,
        }
    }
}

#[test]
fn blank_ssd_chosen_over_rotary_and_prepared_step_by_step() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(false));
    w.disk(20, "sdb", 2, blank(true));
    w.coldplug_done(100);
    w.run_until(60_000);

    assert!(w.has(&Event::CacheSelected {
        disk: "sdb".into(),
        kind: "ssd".into()
    }));
    assert_eq!(w.steps(), fresh_sequence("sdb", "sdb1"));
    assert_eq!(w.written(), vec!["table sdb", "mkfs sdb1"]);
    assert!(w.effects.contains(&Effect::Mkfs {
        device: "sdb1".into(),
        label: LABEL.into()
    }));
    assert!(w.effects.contains(&Effect::CopyTree {
        from: "/var/log".into(),
        to: format!("{POOL}/logs/{}", logname::timestamp(WALL + 2)),
    }));
    assert!(w.effects.contains(&Effect::ReopenLogs {
        dir: "/var/log".into()
    }));
    assert!(w.has(&ready("sdb1", 2)));
    // decided after the quiet period following coldplug
    assert_eq!(w.settled_at(), Some(2000));
}

#[test]
fn only_a_rotary_disk() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(false));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheSelected {
        disk: "sda".into(),
        kind: "hdd".into()
    }));
    assert!(w.has(&ready("sda1", 2)));
}

#[test]
fn first_means_lowest_devpath_not_lowest_name() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 5, blank(true));
    w.disk(20, "nvme0n1", 3, blank(true));
    w.disk(30, "sdb", 4, blank(true));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheSelected {
        disk: "nvme0n1".into(),
        kind: "ssd".into()
    }));
    assert!(w.has(&ready("nvme0n1p1", 2)));
}

#[test]
fn no_disk_means_no_cache_after_the_quiet_period() {
    let mut w = World::new(policy());
    w.coldplug_done(100);
    w.run_until(2099);
    assert_eq!(w.count("cache.none"), 0);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheNone {
        reason: "no disk".into()
    }));
    assert_eq!(w.count("cache.settled"), 1);
    assert_eq!(w.settled_at(), Some(2000));
    assert!(w.effects.is_empty());
}

#[test]
fn a_labelled_disk_arriving_during_the_quiet_period_wins() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true));
    w.coldplug_done(100);
    w.disk(1600, "sdb", 2, labelled());
    w.run_until(60_000);
    // the quiet period restarted at 1.6 s
    assert_eq!(w.settled_at(), Some(3500));
    assert!(w.has(&Event::CacheFound {
        device: "sdb".into()
    }));
    assert!(w.written().is_empty());
    assert!(w.has(&ready("sdb", 3)));
}

#[test]
fn a_slow_probe_holds_the_decision_until_the_deadline() {
    let mut w = World::new(policy());
    w.hold.insert("sdb".into());
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, labelled());
    w.coldplug_done(100);
    w.run_until(9_000);
    assert_eq!(w.count("cache.settled"), 0, "a probe is outstanding");
    w.release(9_000, "sdb");
    w.run_until(60_000);
    assert!(w.has(&Event::CacheFound {
        device: "sdb".into()
    }));
    assert!(w.written().is_empty());
}

#[test]
fn the_deadline_decides_with_what_is_known() {
    let mut w = World::new(policy());
    w.hold.insert("sdb".into());
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, blank(true));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheSettled {
        candidates: 1,
        after_ms: 10_000,
        reason: "deadline".into()
    }));
    assert!(w.has(&Event::CacheSelected {
        disk: "sda".into(),
        kind: "ssd".into()
    }));
}

#[test]
fn used_disks_are_never_selected() {
    let cases: Vec<(&str, DiskProbe, &str)> = vec![
        (
            "sda",
            DiskProbe {
                partition_table: Some("dos".into()),
                ..blank(true)
            },
            "partition table dos",
        ),
        (
            "sdb",
            DiskProbe {
                partition_table: Some("gpt".into()),
                ..blank(true)
            },
            "partition table gpt",
        ),
        (
            "sdc",
            DiskProbe {
                signatures: vec!["ext4".into()],
                ..blank(true)
            },
            "signature ext4",
        ),
        (
            "sdd",
            DiskProbe {
                signatures: vec!["unknown-data".into()],
                ..blank(true)
            },
            "signature unknown-data",
        ),
        (
            "sde",
            DiskProbe {
                mounted: true,
                ..blank(true)
            },
            "mounted",
        ),
        (
            "sdg",
            DiskProbe {
                read_only: true,
                ..blank(true)
            },
            "read-only",
        ),
        (
            "sdi",
            DiskProbe {
                holders: vec!["dm-0".into()],
                ..blank(true)
            },
            "holders dm-0",
        ),
        (
            "sdj",
            DiskProbe {
                size_bytes: 0,
                ..blank(true)
            },
            "size 0",
        ),
        (
            "sdk",
            DiskProbe {
                unreadable: true,
                ..blank(true)
            },
            "unreadable",
        ),
        (
            "sdl",
            DiskProbe {
                btrfs_label: Some("other".into()),
                signatures: vec!["btrfs".into()],
                ..blank(true)
            },
            "signature btrfs",
        ),
        // our GPT name, but something else on the disk
        (
            "sdm",
            DiskProbe {
                signatures: vec!["LVM2_member".into()],
                ..our_gpt(true)
            },
            "partition table gpt",
        ),
    ];
    let mut w = World::new(policy());
    for (slot, (name, probe, _)) in cases.iter().enumerate() {
        w.disk(10, name, u32::try_from(slot).unwrap() + 1, probe.clone());
    }
    // removable media and USB disks, even with our label: excluded
    let removable = DiskProbe {
        removable: true,
        ..labelled()
    };
    w.disk(10, "sdf", 30, removable);
    let usb = DiskProbe {
        usb: true,
        ..blank(true)
    };
    w.disk(10, "sdh", 31, usb);
    // a probe that fails is a disk we cannot judge: in use
    w.devpaths
        .insert("sdz".into(), "/devices/x/block/sdz".into());
    w.input(
        10,
        Input::Uevent {
            uevent: uevent(UeventAction::Add, "sdz", "/devices/x/block/sdz", "disk"),
        },
    );
    w.coldplug_done(100);
    w.run_until(60_000);
    for (name, _, reason) in &cases {
        assert_eq!(w.seen(name), (Verdict::InUse, reason.to_string()), "{name}");
    }
    assert_eq!(w.seen("sdz"), (Verdict::InUse, "unreadable".into()));
    assert_eq!(w.seen("sdf"), (Verdict::Excluded, "removable".into()));
    assert_eq!(w.seen("sdh"), (Verdict::Excluded, "usb".into()));
    assert!(w.has(&Event::CacheNone {
        reason: "no unused disk".into()
    }));
    assert!(w.written().is_empty());
    assert_eq!(w.count("cache.found"), 0);
}

#[test]
fn a_signature_on_a_partition_makes_the_disk_used() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true)); // a table the wire parsers did not recognise
    w.partition(
        11,
        "sda",
        DiskProbe {
            signatures: vec!["xfs".into()],
            ..blank(true)
        },
    );
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(
        w.seen("sda"),
        (Verdict::InUse, "signature xfs on sda1".into())
    );
    assert!(w.written().is_empty());
}

#[test]
fn excluded_devices_are_never_probed() {
    let mut p = policy();
    p.cache.allow_loop = false;
    p.cache.exclude = vec!["sdx*".into()];
    let mut w = World::new(p);
    for (i, name) in [
        "loop0",
        "ram0",
        "zram0",
        "dm-0",
        "md0",
        "nbd0",
        "sr0",
        "fd0",
        "mtdblock0",
        "sdx",
    ]
    .iter()
    .enumerate()
    {
        w.disk(10, name, u32::try_from(i).unwrap() + 1, blank(true));
        assert_eq!(w.seen(name).0, Verdict::Excluded, "{name}");
    }
    assert_eq!(w.seen("loop0").1, "loop device");
    assert_eq!(w.seen("sdx").1, "excluded by pattern sdx*");
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.effects.is_empty(), "{:?}", w.effects);
    assert!(w.has(&Event::CacheNone {
        reason: "no eligible disk".into()
    }));
}

#[test]
fn the_allow_list_confines_what_may_be_touched() {
    let mut p = policy();
    p.cache.allow = Some(vec!["loop7".into()]);
    let mut w = World::new(p);
    w.disk(10, "sda", 1, blank(true));
    w.disk(10, "loop7", 2, blank(false));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(
        w.seen("sda"),
        (Verdict::Excluded, "not in allow list".into())
    );
    assert_eq!(w.written(), vec!["table loop7", "mkfs loop7p1"]);
}

#[test]
fn interrupted_prepare_with_partition_present_is_resumed_at_mkfs() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true)); // first in order, blank
    w.disk(20, "sdb", 2, our_gpt(false));
    w.partition(21, "sdb", blank(false));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(
        w.seen("sdb"),
        (Verdict::Cache, "interrupted prepare".into())
    );
    assert!(w.has(&Event::CacheResumed {
        disk: "sdb".into(),
        from_step: "mkfs".into()
    }));
    let mut expected = vec![("mkfs".to_string(), "sdb1".to_string(), true)];
    expected.extend(mount_sequence("sdb1"));
    assert_eq!(w.steps(), expected);
    assert_eq!(w.written(), vec!["mkfs sdb1"]);
    assert!(
        w.effects
            .iter()
            .filter(|e| !matches!(e, Effect::ProbeDisk { .. }))
            .all(|e| !format!("{e:?}").contains("\"sda"))
    );
}

#[test]
fn interrupted_prepare_without_partition_device_is_resumed_at_add_partition() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, our_gpt(true));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheResumed {
        disk: "sdb".into(),
        from_step: "add-partition".into()
    }));
    let mut expected = vec![
        ("add-partition".to_string(), "sdb".to_string(), true),
        ("mkfs".to_string(), "sdb1".to_string(), true),
    ];
    expected.extend(mount_sequence("sdb1"));
    assert_eq!(w.steps(), expected);
    assert_eq!(w.written(), vec!["mkfs sdb1"]);
}

#[test]
fn a_hidden_labelled_partition_is_mounted_not_formatted() {
    // A kernel that parses no partition tables shows last boot's cache as a bare GPT.
    let mut w = World::new(policy());
    w.disk(10, "sdb", 2, our_gpt(true));
    w.probes.insert("sdb1".into(), labelled());
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheFound {
        device: "sdb1".into()
    }));
    assert!(w.written().is_empty());
    assert!(w.has(&ready("sdb1", 2)));
}

#[test]
fn a_fresh_partition_holding_a_signature_is_not_formatted() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true));
    w.probes.insert(
        "sda1".into(),
        DiskProbe {
            signatures: vec!["ext4".into()],
            ..blank(true)
        },
    );
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(w.written(), vec!["table sda"]);
    assert!(w.has(&Event::CacheFailed {
        device: "sda1".into(),
        step: "mkfs".into(),
        error: "refusing to format: partition holds signature ext4".into()
    }));
}

#[test]
fn a_partition_that_never_appears_fails_the_prepare() {
    let mut w = World::new(policy());
    w.partitions_appear = false;
    w.disk(10, "sda", 1, blank(true));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheFailed {
        device: "sda".into(),
        step: "add-partition".into(),
        error: "partition 1 of sda did not appear within 10000 ms".into()
    }));
    assert_eq!(w.written(), vec!["table sda"]);
}

#[test]
fn a_disk_hot_plugged_after_cache_none_is_used() {
    let mut w = World::new(policy());
    w.coldplug_done(100);
    w.run_until(30_000);
    assert!(w.has(&Event::CacheNone {
        reason: "no disk".into()
    }));
    w.disk(30_000, "sda", 1, blank(true));
    w.run_until(31_999);
    assert_eq!(
        w.count("cache.selected"),
        0,
        "waits for a fresh quiet period"
    );
    w.run_until(60_000);
    assert!(w.has(&Event::CacheSelected {
        disk: "sda".into(),
        kind: "ssd".into()
    }));
    assert!(w.has(&ready("sda1", 32)));
}

#[test]
fn log_subvolume_names_avoid_collisions_and_old_ones_are_pruned() {
    let mut w = World::new(policy()); // keep_logs = 3
    let now = logname::timestamp(WALL + 2);
    w.subvolumes = vec![
        "20250101T000000Z".into(),
        now.clone(),
        "20260101T000000Z".into(),
        "20240101T000000Z".into(),
        "keep-me".into(),
    ];
    w.fail(
        "busy",
        |e| matches!(e, Effect::DeleteSubvolume { path } if path.ends_with("20240101T000000Z")),
    );
    w.disk(10, "sda", 1, labelled());
    w.coldplug_done(100);
    w.run_until(60_000);
    let name = format!("{now}.1");
    assert!(w.has(&Event::CacheReady {
        device: "sda".into(),
        log_subvolume: format!("logs/{name}")
    }));
    assert!(w.effects.contains(&Effect::CreateSubvolume {
        path: format!("{POOL}/logs/{name}")
    }));
    let pruned: Vec<&Event> = w
        .records
        .iter()
        .filter(|e| matches!(e, Event::CachePruned { .. }))
        .collect();
    assert_eq!(
        pruned,
        vec![
            &Event::CachePruned {
                subvolume: "logs/20240101T000000Z".into(),
                ok: false
            },
            &Event::CachePruned {
                subvolume: "logs/20250101T000000Z".into(),
                ok: true
            },
        ]
    );
}

#[test]
fn mkfs_failure_fails_the_cache_and_nothing_else_is_formatted() {
    let mut w = World::new(policy());
    w.fail("mkfs.btrfs exited 1", |e| matches!(e, Effect::Mkfs { .. }));
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, blank(true));
    w.coldplug_done(100);
    w.run_until(20_000);
    assert!(w.has(&Event::CacheFailed {
        device: "sda1".into(),
        step: "mkfs".into(),
        error: "mkfs.btrfs exited 1".into()
    }));
    assert!(w.steps().contains(&("mkfs".into(), "sda1".into(), false)));
    // a disk arriving later does not get formatted either
    w.disk(30_000, "sdc", 3, blank(true));
    w.run_until(90_000);
    assert_eq!(w.written(), vec!["table sda", "mkfs sda1"]);
    assert_eq!(w.count("cache.selected"), 1);
    for t in [
        Timer::SettleQuiet,
        Timer::SettleDeadline,
        Timer::PartitionWait,
    ] {
        assert!(!w.r.cx.timers.is_armed(&t), "{t:?} left armed");
    }
}

#[test]
fn a_labelled_filesystem_that_fails_to_mount_is_an_error_not_a_reason_to_format() {
    let mut w = World::new(policy());
    w.fail("EIO", |e| matches!(e, Effect::Mount { .. }));
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, labelled());
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheFailed {
        device: "sdb".into(),
        step: "mount-pool".into(),
        error: "EIO".into()
    }));
    assert!(w.written().is_empty());
    assert_eq!(w.count("cache.none"), 0);
}

#[test]
fn a_disk_removed_mid_prepare_fails_the_prepare() {
    let mut w = World::new(policy());
    w.partitions_appear = false;
    w.disk(10, "sda", 1, blank(true));
    w.coldplug_done(100);
    w.run_until(3_000); // waiting for the partition
    w.remove(3_000, "sda");
    assert!(w.has(&Event::DiskGone { disk: "sda".into() }));
    assert!(w.has(&Event::CacheFailed {
        device: "sda".into(),
        step: "add-partition".into(),
        error: "sda removed".into()
    }));
    w.run_until(60_000);
    assert_eq!(w.count("cache.failed"), 1);
}

#[test]
fn resync_takes_no_decision_twice() {
    let mut w = World::new(policy());
    w.partitions_appear = false;
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, blank(true));
    w.coldplug_done(100);
    w.run_until(3_000); // preparing sda, waiting for sda1
    let present = |w: &World, names: &[&str]| -> Vec<Uevent> {
        names
            .iter()
            .map(|n| {
                let devtype = if n.ends_with('1') {
                    "partition"
                } else {
                    "disk"
                };
                uevent(UeventAction::Add, n, &w.devpaths[*n], devtype)
            })
            .collect()
    };
    // sda1 appeared while uevents were lost; a new blank disk too
    w.probes.insert("sda1".into(), blank(true));
    w.devpaths
        .insert("sda1".into(), format!("{}/sda1", w.devpaths["sda"]));
    w.probes.insert("sdc".into(), blank(true));
    w.devpaths.insert(
        "sdc".into(),
        "/devices/pci0000:00/0000:00:00.0/block/sdc".into(),
    );
    let devices = present(&w, &["sda", "sdb", "sdc", "sda1"]);
    w.input(3_000, Input::Resync { devices });
    assert!(w.has(&Event::Resync {
        devices: 4,
        added: 2,
        removed: 0
    }));
    w.run_until(60_000);
    assert!(w.has(&ready("sda1", 3)));
    let devices = present(&w, &["sda", "sdb", "sdc", "sda1"]);
    w.input(61_000, Input::Resync { devices });
    w.run_until(120_000);
    assert_eq!(w.count("cache.selected"), 1);
    assert_eq!(w.count("cache.settled"), 1);
    assert_eq!(w.written(), vec!["table sda", "mkfs sda1"]);
}

#[test]
fn resync_missing_the_prepared_disk_fails_the_prepare() {
    let mut w = World::new(policy());
    w.partitions_appear = false;
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, blank(true));
    w.coldplug_done(100);
    w.run_until(3_000);
    let devices = vec![uevent(UeventAction::Add, "sdb", &w.devpaths["sdb"], "disk")];
    w.input(3_000, Input::Resync { devices });
    w.run_until(60_000);
    assert!(w.has(&Event::DiskGone { disk: "sda".into() }));
    assert_eq!(w.count("cache.failed"), 1);
    assert_eq!(w.written(), vec!["table sda"]);
}

#[test]
fn a_change_uevent_reprobes_a_disk_but_not_the_one_being_written() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, blank(true));
    w.coldplug_done(100);
    w.run_until(60_000);
    let probes = |w: &World, d: &str| {
        w.effects
            .iter()
            .filter(|e| matches!(e, Effect::ProbeDisk { device } if device == d))
            .count()
    };
    for d in ["sda", "sdb"] {
        let devpath = w.devpaths[d].clone();
        let u = uevent(UeventAction::Change, d, &devpath, "disk");
        w.input(61_000, Input::Uevent { uevent: u });
    }
    assert_eq!(probes(&w, "sda"), 1);
    assert_eq!(probes(&w, "sdb"), 2);
}

#[test]
fn a_labelled_disk_answering_after_the_deadline_is_still_used() {
    let mut w = World::new(policy());
    w.hold.insert("sda".into());
    w.disk(10, "sda", 1, labelled());
    w.coldplug_done(100);
    w.run_until(20_000);
    assert!(w.has(&Event::CacheNone {
        reason: "no unused disk".into()
    }));
    assert!(w.r.cache.is_settled());
    w.release(20_000, "sda");
    w.run_until(60_000);
    assert!(w.has(&Event::CacheFound {
        device: "sda".into()
    }));
    assert!(w.r.cache.is_settled(), "stays settled while re-deciding");
    assert!(w.has(&ready("sda", 22)));
    assert!(w.written().is_empty());
}

#[test]
fn a_disk_seen_before_cache_none_does_not_reopen_the_question() {
    let mut w = World::new(policy());
    w.disk(
        10,
        "sda",
        1,
        DiskProbe {
            signatures: vec!["ext4".into()],
            ..blank(true)
        },
    );
    w.coldplug_done(100);
    w.run_until(20_000);
    assert_eq!(w.count("cache.none"), 1);
    // wiped by someone: a change uevent, a new probe, now empty
    w.probes.insert("sda".into(), blank(true));
    let u = uevent(
        UeventAction::Change,
        "sda",
        &w.devpaths["sda"].clone(),
        "disk",
    );
    w.input(20_000, Input::Uevent { uevent: u });
    w.run_until(60_000);
    assert_eq!(w.seen("sda").0, Verdict::Unused);
    assert_eq!(w.count("cache.settled"), 1);
    assert!(w.written().is_empty());
}

#[test]
fn settle_is_noted_once_for_the_services() {
    let mut w = World::new(policy());
    assert!(!w.r.cache.is_settled());
    w.disk(10, "sda", 1, blank(true));
    w.coldplug_done(100);
    w.run_until(1_000);
    assert!(!w.r.cache.is_settled(), "not before the decision");
    w.run_until(60_000);
    assert!(w.r.cache.is_settled());
    assert!(w.r.cache.summary().starts_with("ready sda1 logs/"));
}

#[test]
fn an_unfinished_mkfs_of_ours_is_finished_but_a_foreign_filesystem_is_not() {
    let unknown = || DiskProbe {
        signatures: vec!["unknown-data".into()],
        ..blank(true)
    };
    // the disk as the wire probe reports it: the table's own signature
    let gpt = || DiskProbe {
        signatures: vec!["gpt".into()],
        ..our_gpt(true)
    };
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, gpt());
    w.partition(11, "sda", unknown());
    w.disk(20, "sdb", 2, gpt());
    w.partition(
        21,
        "sdb",
        DiskProbe {
            signatures: vec!["ext4".into()],
            ..blank(true)
        },
    );
    w.disk(30, "sdc", 3, blank(true));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(
        w.seen("sda"),
        (Verdict::Cache, "interrupted prepare".into())
    );
    assert_eq!(
        w.seen("sdb"),
        (Verdict::InUse, "signature ext4 on sdb1".into())
    );
    assert!(w.has(&Event::CacheResumed {
        disk: "sda".into(),
        from_step: "mkfs".into()
    }));
    assert_eq!(w.written(), vec!["mkfs sda1"]);
}

#[test]
fn a_hidden_partition_of_ours_with_an_unfinished_mkfs_is_formatted_again() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, our_gpt(true));
    w.probes.insert(
        "sda1".into(),
        DiskProbe {
            signatures: vec!["unknown-data".into()],
            ..blank(true)
        },
    );
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(w.written(), vec!["mkfs sda1"]);
    assert!(w.has(&ready("sda1", 2)));
}

#[test]
fn a_fresh_partition_with_unknown_data_is_not_formatted() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true));
    w.probes.insert(
        "sda1".into(),
        DiskProbe {
            signatures: vec!["unknown-data".into()],
            ..blank(true)
        },
    );
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(w.written(), vec!["table sda"]);
    assert_eq!(w.count("cache.failed"), 1);
}
