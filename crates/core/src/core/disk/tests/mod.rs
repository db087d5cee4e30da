//! Timelines for the cache disk (smoltcp DHCP style): a fake world answers the
//! reactor's effects from a table of disks, time jumps from timer to timer, and each
//! test asserts the log stream and the effects requested. The order is the one
//! driver's ([`crate::core::driver`]): this world is a host that answers at once.
mod deadlines;
mod decide;
mod devices;
mod ownership;
mod steps;
mod undo;

use super::logname;
use crate::core::Reactor;
use crate::core::action::{Action, Effect};
use crate::core::driver::{self, Host};
use crate::core::event::{Event, Record, Verdict};
use crate::core::input::{DiskProbe, EffectOutput, Input, Mode, PartitionEntry};
use crate::core::policy::Policy;
use crate::core::timer::Timer;
use crate::time::Instant;
use crate::wire::uevent::{Uevent, UeventAction};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

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
    /// Effects matching this are held too, until `release`.
    hold_if: Option<Matcher>,
    held: Vec<Action>,
    /// Effects matching one of these fail with the message.
    failures: Vec<(Matcher, String)>,
    /// What `ListSubvolumes` answers.
    subvolumes: Vec<String>,
    /// `AddPartition` makes the partition's `add` uevent appear.
    partitions_appear: bool,
    records: Vec<Event>,
    effects: Vec<Effect>,
    /// `Kill` and `Cancel` effects (abandoning a step past its deadline, a connect).
    abandons: Vec<Effect>,
    /// Verdict last logged per disk, to check every mkfs against.
    verdicts: BTreeMap<String, Verdict>,
    /// The disk chosen at decision time and its verdict then.
    chosen: Option<(String, Option<Verdict>)>,
    /// The answers, waiting for the driver to hand them in.
    queue: VecDeque<Input>,
}

impl Host for World {
    type Core = Reactor;
    fn core(&mut self) -> &mut Reactor {
        &mut self.r
    }
    fn now(&self) -> Instant {
        self.now
    }
    fn set_now(&mut self, now: Instant) {
        self.now = now;
    }
    fn queue(&mut self) -> &mut VecDeque<Input> {
        &mut self.queue
    }
    fn on_input(&mut self, _: &Input) {}
    fn on_record(&mut self, record: Record) {
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
    /// Answer an effect the reactor asked for, as the world would (or hold it).
    fn on_action(&mut self, action: Action) {
        // Other parts of the core (the gate, …) ask for their own effects.
        if is_cache_effect(&action.effect) {
            self.effects.push(action.effect.clone());
        }
        if matches!(action.effect, Effect::Kill { .. } | Effect::Cancel { .. }) {
            self.abandons.push(action.effect.clone());
        }
        self.check_safe(&action.effect);
        match &action.effect {
            Effect::ProbeDisk { device } if self.hold.contains(device) => {
                self.held.push(action);
            }
            Effect::LoadModule { modalias } if self.hold.contains(modalias) => {
                self.held.push(action);
            }
            e if self.hold_if.as_ref().is_some_and(|m| m(e)) => self.held.push(action),
            _ => self.answer(action),
        }
    }
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

/// What our `partition` step leaves: a GPT with one entry of nodeboot's type, named
/// after the label, 1 MiB aligned, up to the last usable LBA.
fn our_gpt(ssd: bool) -> DiskProbe {
    let last = (8u64 << 30) / 512 - 34;
    DiskProbe {
        partition_table: Some("gpt".into()),
        sector_size: 512,
        last_usable_lba: last,
        partitions: vec![PartitionEntry {
            number: 1,
            name: LABEL.into(),
            start_lba: 2048,
            size_lba: last - 2048 + 1,
            type_guid: crate::wire::gpt::TYPE_NODEBOOT_CACHE.into(),
        }],
        ..blank(ssd)
    }
}

/// The same layout and name, but the partition type sgdisk gives by default (Linux
/// filesystem): someone else's partition that only bears our name.
fn named_only(ssd: bool) -> DiskProbe {
    let mut p = our_gpt(ssd);
    for e in &mut p.partitions {
        e.type_guid = crate::wire::gpt::TYPE_LINUX_FS.into();
    }
    p
}

fn is_cache_effect(effect: &Effect) -> bool {
    matches!(
        effect,
        Effect::ProbeDisk { .. }
            | Effect::WritePartitionTable { .. }
            | Effect::AddPartition { .. }
            | Effect::Mkfs { .. }
            | Effect::Mount { .. }
            | Effect::Unmount { .. }
            | Effect::CreateSubvolume { .. }
            | Effect::ListSubvolumes { .. }
            | Effect::DeleteSubvolume { .. }
            | Effect::CopyTree { .. }
            | Effect::ReopenLogs { .. }
    )
}

fn part_name(disk: &str) -> String {
    crate::wire::devname::partition_name(disk, 1)
}

impl World {
    fn new(policy: Policy) -> World {
        let mut w = World {
            r: Reactor::new(policy),
            now: Instant::ZERO,
            probes: BTreeMap::new(),
            devpaths: BTreeMap::new(),
            hold: BTreeSet::new(),
            hold_if: None,
            held: Vec::new(),
            failures: Vec::new(),
            subvolumes: Vec::new(),
            partitions_appear: true,
            records: Vec::new(),
            effects: Vec::new(),
            abandons: Vec::new(),
            verdicts: BTreeMap::new(),
            chosen: None,
            queue: VecDeque::new(),
        };
        w.input(
            0,
            Input::Start {
                wall_clock_unix: WALL,
                mode: Mode::Replay,
                argv: Vec::new(),
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
        let input = self.partition_appears(disk, probe);
        self.input(at_ms, input);
    }

    /// The partition's `add` uevent, its probe and device path known from now on.
    fn partition_appears(&mut self, disk: &str, probe: DiskProbe) -> Input {
        let name = part_name(disk);
        let devpath = format!("{}/{name}", self.devpaths[disk]);
        self.probes.insert(name.clone(), probe);
        self.devpaths.insert(name.clone(), devpath.clone());
        let u = uevent(UeventAction::Add, &name, &devpath, "partition");
        Input::Uevent { uevent: u }
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
        driver::feed(self, input);
    }

    /// Let time pass to `at_ms`, firing timers at their deadlines.
    fn run_until(&mut self, at_ms: u64) {
        let end = Instant::from_millis(at_ms);
        assert!(end >= self.now, "time goes forward");
        while let Some(t) = self.r.poll_timeout().filter(|t| *t <= end) {
            self.now = t.max(self.now);
            driver::advance(self);
        }
        self.now = end;
    }

    fn release(&mut self, at_ms: u64, name: &str) {
        self.run_until(at_ms);
        self.hold.remove(name);
        self.hold_if = None;
        let held = std::mem::take(&mut self.held);
        for action in held {
            self.answer(action);
        }
        driver::settle(self);
    }

    fn answer(&mut self, action: Action) {
        let failure = self
            .failures
            .iter()
            .find(|(m, _)| m(&action.effect))
            .map(|(_, e)| e.clone());
        let result = match (failure, &action.effect) {
            (Some(error), _) => Err(error.into()),
            (None, Effect::ProbeDisk { device }) => match self.probes.get(device) {
                Some(probe) => Ok(EffectOutput::Disk {
                    probe: probe.clone(),
                }),
                None => Err(format!("{device}: no such device").into()),
            },
            (None, Effect::ListSubvolumes { .. }) => Ok(EffectOutput::Subvolumes {
                names: self.subvolumes.clone(),
            }),
            (None, _) => Ok(EffectOutput::Done),
        };
        let ok = result.is_ok();
        self.queue.push_back(Input::EffectDone {
            id: action.id,
            result,
        });
        if let (true, true, Effect::AddPartition { disk, .. }) =
            (ok, self.partitions_appear, &action.effect)
        {
            let disk = disk.clone();
            self.probes
                .entry(part_name(&disk))
                .or_insert_with(|| blank(true));
            let probe = self.probes[&part_name(&disk)].clone();
            let input = self.partition_appears(&disk, probe);
            self.queue.push_back(input);
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

impl World {
    fn r_is_settled(&mut self) -> bool {
        // The status summary is the public window on the cache's state.
        driver::feed(
            self,
            Input::Signal {
                signal: crate::core::input::SignalKind::Status,
            },
        );
        match self.records.last() {
            Some(Event::Status { cache, .. }) => cache.starts_with("ready"),
            _ => false,
        }
    }
}
