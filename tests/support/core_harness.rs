//! Drives the pure core over one block device with a scripted world: the device is
//! announced by an `add` uevent, coldplug ends, every `ProbeDisk` is answered by the
//! caller, every other effect is refused (and recorded), and the virtual clock jumps
//! from timer to timer. Used to get the core's verdict on a real disk's probe.

use nodeboot::core::Reactor;
use nodeboot::core::action::{Action, Effect};
use nodeboot::core::event::{Event, Record, Verdict};
use nodeboot::core::input::{EffectOutput, EffectResult, Input, Mode};
use nodeboot::core::policy::Policy;
use nodeboot::time::Instant;
use nodeboot::wire::uevent::{Uevent, UeventAction};

pub fn block_add(name: &str) -> Uevent {
    block_uevent(name, None)
}

/// An `add` uevent for disk `name`, or for its partition `number` (`namepN`): the
/// partition's is the one the replay world sends (`trace::sim::partition_uevent`).
pub fn block_uevent(disk: &str, partition: Option<u32>) -> Uevent {
    let devpath = format!("/devices/virtual/block/{disk}");
    if let Some(n) = partition {
        let part = nodeboot::trace::sim::partition_name(disk, n);
        return nodeboot::trace::sim::partition_uevent(&devpath, &part, n);
    }
    let env = [
        ("ACTION", "add"),
        ("DEVPATH", devpath.as_str()),
        ("SUBSYSTEM", "block"),
        ("DEVTYPE", "disk"),
        ("DEVNAME", disk),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Uevent {
        action: UeventAction::Add,
        devpath,
        subsystem: "block".into(),
        devtype: Some("disk".into()),
        devname: Some(disk.to_owned()),
        seqnum: None,
        env,
    }
}

pub struct Run {
    pub records: Vec<Record>,
    pub actions: Vec<Action>,
}

impl Run {
    /// The verdict of the last `disk.seen` for `disk`.
    pub fn verdict(&self, disk: &str) -> Option<(Verdict, String)> {
        self.records.iter().rev().find_map(|r| match &r.event {
            Event::DiskSeen {
                disk: d,
                verdict,
                reason,
                ..
            } if d == disk => Some((*verdict, reason.clone())),
            _ => None,
        })
    }
    /// Effects that would write to a disk (a partition table or a filesystem;
    /// `AddPartition` only tells the kernel about a partition already in the table).
    pub fn writes(&self) -> Vec<&Effect> {
        self.actions
            .iter()
            .map(|a| &a.effect)
            .filter(|e| matches!(e, Effect::WritePartitionTable { .. } | Effect::Mkfs { .. }))
            .collect()
    }
}

/// Runs the core over `disks` (all present at coldplug) for 60 virtual seconds.
pub fn run_core(disks: &[&str], mut probe: impl FnMut(&str) -> EffectResult) -> Run {
    let mut policy = Policy::default();
    policy.cache.allow_loop = true;
    let mut r = Reactor::new(policy);
    let mut now = Instant::ZERO;
    let mut run = Run {
        records: Vec::new(),
        actions: Vec::new(),
    };
    r.handle(
        now,
        Input::Start {
            wall_clock_unix: 1_700_000_000,
            mode: Mode::Live,
            argv: Vec::new(),
        },
    );
    for d in disks {
        r.handle(
            now,
            Input::Uevent {
                uevent: block_add(d),
            },
        );
    }
    r.handle(now, Input::ColdplugDone);
    let end = Instant::from_secs(60);
    let mut later = Vec::new();
    loop {
        let mut answers = Vec::new();
        while let Some(a) = r.poll_action() {
            let result: EffectResult = match &a.effect {
                Effect::ProbeDisk { device } => probe(device),
                // The kernel learns of the partition: its uevent follows the answer.
                Effect::AddPartition { disk, number } => {
                    later.push(block_uevent(disk, Some(*number)));
                    Ok(EffectOutput::Done)
                }
                _ => Err("harness: not carried out".into()),
            };
            answers.push((a.id, result));
            run.actions.push(a);
        }
        while let Some(rec) = r.poll_record() {
            run.records.push(rec);
        }
        if !answers.is_empty() || !later.is_empty() {
            for (id, result) in answers {
                r.handle(now, Input::EffectDone { id, result });
            }
            for uevent in later.drain(..) {
                r.handle(now, Input::Uevent { uevent });
            }
            continue;
        }
        match r.poll_timeout() {
            Some(t) if t <= end => {
                now = if t > now { t } else { now };
                r.handle_timeout(now);
            }
            _ => break,
        }
    }
    while let Some(rec) = r.poll_record() {
        run.records.push(rec);
    }
    run
}

/// A probe answer as the effects module would give for a disk with these contents
/// (for runs without root, where no loop device can be probed for real).
pub fn probe_from_bytes(head: &[u8], tail: &[u8], size: u64) -> EffectResult {
    use nodeboot::wire::{btrfs, gpt, mbr, signature};
    let sigs = signature::probe(head, tail, size);
    let mut p = nodeboot::core::input::DiskProbe {
        size_bytes: size,
        signatures: sigs.iter().map(|s| s.name.to_owned()).collect(),
        ..Default::default()
    };
    p.signatures.dedup();
    if let Ok(b) = btrfs::parse_superblock(head) {
        p.btrfs_label = Some(b.label);
    }
    if let Ok(g) = gpt::parse(head).or_else(|_| gpt::parse_backup(tail, size)) {
        p.partition_table = Some("gpt".into());
        p.sector_size = g.sector_size as u64;
        p.last_usable_lba = g.last_usable_lba;
        p.partitions = g
            .partitions
            .iter()
            .map(|q| nodeboot::core::input::PartitionEntry {
                number: q.number,
                name: q.name.clone(),
                start_lba: q.first_lba,
                size_lba: q.last_lba.saturating_sub(q.first_lba) + 1,
                type_guid: q.type_guid.clone(),
            })
            .collect();
    } else if let Ok(m) = mbr::parse(head)
        && (m.protective() || p.signatures.iter().any(|s| s == "dos"))
    {
        // As the effects probe: a DOS table only where the signature probe names one.
        p.partition_table = Some(if m.protective() { "gpt" } else { "dos" }.into());
    }
    Ok(EffectOutput::Disk { probe: p })
}

/// A scripted world around the real reactor on a virtual clock: inputs are queued at
/// times, every action is shown to `answer`, which returns the inputs it causes (each
/// after a delay). Time jumps to the next queued input or timer.
pub struct Sim {
    pub r: Reactor,
    pub now: Instant,
    pub records: Vec<Record>,
    pub actions: Vec<(Instant, Action)>,
    queue: std::collections::BTreeMap<(Instant, u64), Input>,
    seq: u64,
}

pub type Answer<'a> = &'a mut dyn FnMut(&Action, Instant) -> Vec<(u64, Input)>;

impl Sim {
    pub fn new(policy: Policy) -> Sim {
        let mut r = Reactor::new(policy);
        r.handle(
            Instant::ZERO,
            Input::Start {
                wall_clock_unix: 1_700_000_000,
                mode: Mode::Live,
                argv: Vec::new(),
            },
        );
        Sim {
            r,
            now: Instant::ZERO,
            records: Vec::new(),
            actions: Vec::new(),
            queue: Default::default(),
            seq: 0,
        }
    }

    /// Queue `input` at `ms` milliseconds of virtual time.
    pub fn at(&mut self, ms: u64, input: Input) {
        self.seq += 1;
        self.queue
            .insert((Instant::from_millis(ms), self.seq), input);
    }

    /// Run until virtual time `end_ms` (or nothing more can happen).
    pub fn run_until(&mut self, end_ms: u64, answer: Answer<'_>) {
        let end = Instant::from_millis(end_ms);
        let mut steps = 0u64;
        loop {
            steps += 1;
            assert!(steps < 5_000_000, "simulation runaway");
            while let Some(a) = self.r.poll_action() {
                for (delay, input) in answer(&a, self.now) {
                    let at = self.now.as_millis() + delay;
                    self.at(at, input);
                }
                self.actions.push((self.now, a));
            }
            while let Some(rec) = self.r.poll_record() {
                self.records.push(rec);
            }
            let next_input = self.queue.keys().next().map(|k| k.0);
            let next_timer = self.r.poll_timeout();
            let next = match (next_input, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if next > end {
                break;
            }
            self.now = if next > self.now { next } else { self.now };
            if next_input.is_some_and(|t| t <= self.now) {
                let key = *self.queue.keys().next().unwrap();
                let input = self.queue.remove(&key).unwrap();
                self.r.handle(self.now, input);
            } else {
                self.r.handle_timeout(self.now);
            }
        }
        while let Some(rec) = self.r.poll_record() {
            self.records.push(rec);
        }
    }

    pub fn events(&self) -> Vec<&Event> {
        self.records.iter().map(|r| &r.event).collect()
    }

    pub fn count(&self, pred: impl Fn(&Effect) -> bool) -> usize {
        self.actions.iter().filter(|(_, a)| pred(&a.effect)).count()
    }

    /// The stream as JSON lines (for failure messages).
    pub fn dump(&self) -> String {
        self.records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A probe answer for a disk of `size` bytes: SSD, nothing on it (or `signatures`).
pub fn blank_probe(size: u64, signatures: &[&str], label: Option<&str>) -> EffectResult {
    Ok(EffectOutput::Disk {
        probe: nodeboot::core::input::DiskProbe {
            size_bytes: size,
            rotational: false,
            signatures: signatures.iter().map(|s| s.to_string()).collect(),
            btrfs_label: label.map(str::to_owned),
            ..Default::default()
        },
    })
}
