//! Drives the pure core over one block device with a scripted world: the device is
//! announced by an `add` uevent, coldplug ends, every `ProbeDisk` is answered by the
//! caller, every other effect is refused (and recorded), and the virtual clock jumps
//! from timer to timer. Used to get the core's verdict on a real disk's probe. Both
//! harnesses here are hosts of the one driver (`nodeboot::core::driver`).

use nodeboot::core::Reactor;
use nodeboot::core::action::{Action, Effect};
use nodeboot::core::driver::{self, Host, Next};
use nodeboot::core::event::{Event, Record, Verdict};
use nodeboot::core::input::{EffectOutput, EffectResult, Input, Mode};
use nodeboot::core::policy::Policy;
use nodeboot::time::Instant;
use nodeboot::wire::uevent::{Uevent, UeventAction};
use std::collections::VecDeque;

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

/// The scripted world of [`run_core`]: answers at once.
struct Scripted<'p> {
    r: Reactor,
    now: Instant,
    queue: VecDeque<Input>,
    run: Run,
    probe: &'p mut dyn FnMut(&str) -> EffectResult,
}

impl Host for Scripted<'_> {
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
        self.run.records.push(record);
    }
    fn on_action(&mut self, a: Action) {
        let result: EffectResult = match &a.effect {
            Effect::ProbeDisk { device } => (self.probe)(device),
            Effect::AddPartition { .. } => Ok(EffectOutput::Done),
            _ => Err("harness: not carried out".into()),
        };
        self.queue.push_back(Input::EffectDone { id: a.id, result });
        // The kernel learns of the partition: its uevent follows the answer.
        if let Effect::AddPartition { disk, number } = &a.effect {
            let uevent = block_uevent(disk, Some(*number));
            self.queue.push_back(Input::Uevent { uevent });
        }
        self.run.actions.push(a);
    }
}

/// Runs the core over `disks` (all present at coldplug) for 60 virtual seconds.
pub fn run_core(disks: &[&str], mut probe: impl FnMut(&str) -> EffectResult) -> Run {
    let mut policy = Policy::default();
    policy.cache.allow_loop = true;
    let mut h = Scripted {
        r: Reactor::new(policy),
        now: Instant::ZERO,
        queue: VecDeque::new(),
        run: Run {
            records: Vec::new(),
            actions: Vec::new(),
        },
        probe: &mut probe,
    };
    // Everything present at time zero, in the order the live world reports it.
    h.queue.push_back(Input::Start {
        wall_clock_unix: 1_700_000_000,
        mode: Mode::Live,
        argv: Vec::new(),
    });
    for d in disks {
        h.queue.push_back(Input::Uevent {
            uevent: block_add(d),
        });
    }
    h.queue.push_back(Input::ColdplugDone);
    driver::settle(&mut h);
    let end = Instant::from_secs(60);
    while let Some(t) = h.r.poll_timeout().filter(|t| *t <= end) {
        h.now = h.now.max(t);
        driver::advance(&mut h);
    }
    h.run
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
/// after a delay). Time jumps to the next queued input or timer; on a tie the timer
/// fires first (the one driver's rule).
pub struct Sim {
    pub r: Reactor,
    pub now: Instant,
    pub records: Vec<Record>,
    pub actions: Vec<(Instant, Action)>,
    queue: std::collections::BTreeMap<(Instant, u64), Input>,
    seq: u64,
    /// Always empty: every answer comes through `queue`, at its time.
    at_once: VecDeque<Input>,
}

pub type Answer<'a> = &'a mut dyn FnMut(&Action, Instant) -> Vec<(u64, Input)>;

/// A [`Sim`] while it runs, with the answering function.
struct Running<'s, 'a> {
    sim: &'s mut Sim,
    answer: Answer<'a>,
}

impl Host for Running<'_, '_> {
    type Core = Reactor;
    fn core(&mut self) -> &mut Reactor {
        &mut self.sim.r
    }
    fn now(&self) -> Instant {
        self.sim.now
    }
    fn set_now(&mut self, now: Instant) {
        self.sim.now = now;
    }
    fn queue(&mut self) -> &mut VecDeque<Input> {
        &mut self.sim.at_once
    }
    fn on_input(&mut self, _: &Input) {}
    fn on_record(&mut self, record: Record) {
        self.sim.records.push(record);
    }
    fn on_action(&mut self, a: Action) {
        let now = self.sim.now;
        for (delay, input) in (self.answer)(&a, now) {
            self.sim.at(now.as_millis() + delay, input);
        }
        self.sim.actions.push((now, a));
    }
}

impl Sim {
    pub fn new(policy: Policy) -> Sim {
        let mut sim = Sim {
            r: Reactor::new(policy),
            now: Instant::ZERO,
            records: Vec::new(),
            actions: Vec::new(),
            queue: Default::default(),
            seq: 0,
            at_once: VecDeque::new(),
        };
        sim.r.handle(
            Instant::ZERO,
            Input::Start {
                wall_clock_unix: 1_700_000_000,
                mode: Mode::Live,
                argv: Vec::new(),
            },
        );
        sim
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
        let mut h = Running { sim: self, answer };
        // What Start asked for.
        driver::settle(&mut h);
        let mut steps = 0u64;
        loop {
            steps += 1;
            assert!(steps < 5_000_000, "simulation runaway");
            let next_input = h.sim.queue.keys().next().map(|k| k.0);
            let Some((next, which)) = driver::next(h.sim.r.poll_timeout(), next_input, None) else {
                break;
            };
            if next > end {
                break;
            }
            h.sim.now = h.sim.now.max(next);
            match which {
                Next::World => {
                    if let Some((_, input)) = h.sim.queue.pop_first() {
                        driver::feed(&mut h, input);
                    }
                }
                _ => driver::advance(&mut h),
            }
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
