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
use std::collections::BTreeMap;

pub fn block_add(name: &str) -> Uevent {
    block_uevent(name, None)
}

/// An `add` uevent for disk `name`, or for its partition `number` (`namepN`).
pub fn block_uevent(disk: &str, partition: Option<u32>) -> Uevent {
    let (name, devpath, devtype) = match partition {
        None => (
            disk.to_owned(),
            format!("/devices/virtual/block/{disk}"),
            "disk",
        ),
        Some(n) => (
            format!("{disk}p{n}"),
            format!("/devices/virtual/block/{disk}/{disk}p{n}"),
            "partition",
        ),
    };
    let mut env = BTreeMap::new();
    for (k, v) in [
        ("ACTION", "add"),
        ("DEVPATH", devpath.as_str()),
        ("SUBSYSTEM", "block"),
        ("DEVTYPE", devtype),
        ("DEVNAME", name.as_str()),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    if let Some(n) = partition {
        env.insert("PARTN".into(), n.to_string());
    }
    Uevent {
        action: UeventAction::Add,
        devpath,
        subsystem: "block".into(),
        devtype: Some(devtype.into()),
        devname: Some(name),
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
        p.partitions = g
            .partitions
            .iter()
            .map(|q| nodeboot::core::input::PartitionEntry {
                number: q.number,
                name: q.name.clone(),
                start_lba: q.first_lba,
                size_lba: q.last_lba.saturating_sub(q.first_lba) + 1,
            })
            .collect();
    } else if let Ok(m) = mbr::parse(head)
        && !m.partitions.is_empty()
    {
        p.partition_table = Some("dos".into());
    }
    Ok(EffectOutput::Disk { probe: p })
}
