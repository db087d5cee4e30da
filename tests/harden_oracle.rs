//! Disk-signature oracle: disk images made at test time by the real tools, judged by
//! nodeboot (`wire::signature::probe` on the head and tail bytes) and by util-linux
//! (`wipefs --no-act --json`, `blkid -p`). The property: nothing either tool
//! recognises is ever called unused by nodeboot, and every type util-linux names is
//! named the same way by nodeboot.
//!
//! Images that only plain files need run as any user; LVM (pvcreate) and the md
//! checks (`mdadm --examine`) need loop devices and so root. Under `CI=true` a case
//! that cannot run fails instead of skipping. Every loop device is detached by a Drop
//! guard, every image lives in a temporary directory removed at the end.

// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use nodeboot::core::action::Effect;
use nodeboot::core::event::Verdict;
use nodeboot::wire::signature;
use nodeboot::world::confine::Confinement;
use std::collections::BTreeSet;
use std::path::Path;
use support::core_harness::{probe_from_bytes, run_core};
use support::images::{cases, ends};
use support::{Loop, TempDir, ci, command_exists, is_root};

/// What util-linux says: `wipefs` types and `blkid -p` TYPE/PTTYPE.
fn util_linux(image: &Path) -> BTreeSet<String> {
    let mut types = BTreeSet::new();
    let out = std::process::Command::new("wipefs")
        .args(["--no-act", "--json"])
        .arg(image)
        .output()
        .expect("wipefs runs");
    let text = String::from_utf8_lossy(&out.stdout);
    if !text.trim().is_empty() {
        let v: serde_json::Value = serde_json::from_str(&text).expect("wipefs --json");
        for s in v["signatures"].as_array().into_iter().flatten() {
            if let Some(t) = s["type"].as_str() {
                types.insert(t.to_owned());
            }
        }
    }
    let out = std::process::Command::new("blkid")
        .args(["-p", "-o", "export"])
        .arg(image)
        .output()
        .expect("blkid runs");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(t) = line
            .strip_prefix("TYPE=")
            .or_else(|| line.strip_prefix("PTTYPE="))
        {
            types.insert(t.to_owned());
        }
    }
    types
}

/// nodeboot's name for a util-linux type, where they differ (`PMBR` is the
/// protective MBR of a GPT: nodeboot reports the GPT itself).
fn nodeboot_name(util: &str) -> &str {
    match util {
        "PMBR" => "gpt",
        other => other,
    }
}

/// The core's verdict on the image: probed for real through the effects module on a
/// loop device when root (what a live run does), else from the wire probe of its bytes.
/// Returns (verdict, reason, disk writes the core asked for).
fn core_verdict(image: &Path, scratch: &TempDir) -> (Verdict, String, usize) {
    let _ = scratch;
    let (name, probe) = if is_root() {
        let l = Loop::attach(image).expect("losetup");
        let name = l.name().to_owned();
        let confine = Confinement {
            root: scratch.0.clone(),
            disks: Some(vec![name.clone()]),
            nics: Some(Vec::new()),
            dry_run: true,
            ..Confinement::init()
        };
        let result = support::gate::run_blocking_effect(
            &Effect::ProbeDisk {
                device: name.clone(),
            },
            &confine,
        );
        drop(l);
        (name, result)
    } else {
        let (head, tail, size) = ends(image);
        ("nbimg0".to_owned(), probe_from_bytes(&head, &tail, size))
    };
    let run = run_core(&[&name], |d| {
        if d == name {
            probe.clone()
        } else if let Some(n) = d.strip_prefix(&format!("{name}p")) {
            partition_probe(image, n.parse().unwrap_or(0))
        } else {
            Err(format!("harness: no such device {d}").into())
        }
    });
    let (verdict, reason) = run
        .verdict(&name)
        .unwrap_or_else(|| panic!("no disk.seen for {name}: {:?}", run.records));
    (verdict, reason, run.writes().len())
}

/// The probe of partition `number` of the image's GPT, from its bytes (this kernel
/// parses no partition tables, so the harness plays the partition device).
fn partition_probe(image: &Path, number: u32) -> nodeboot::core::input::EffectResult {
    use std::io::{Read, Seek, SeekFrom};
    let (head, tail, size) = ends(image);
    let g = nodeboot::wire::gpt::parse(&head)
        .or_else(|_| nodeboot::wire::gpt::parse_backup(&tail, size))
        .map_err(|e| format!("no GPT: {e}"))?;
    let part = g
        .partitions
        .iter()
        .find(|p| p.number == number)
        .ok_or("no such partition")?;
    let ss = g.sector_size as u64;
    let start = part.first_lba * ss;
    let len = (part.last_lba + 1 - part.first_lba) * ss;
    let mut f = std::fs::File::open(image).map_err(|e| e.to_string())?;
    let hl = (signature::PROBE_HEAD as u64).min(len);
    let mut phead = vec![0u8; hl as usize];
    f.seek(SeekFrom::Start(start)).map_err(|e| e.to_string())?;
    f.read_exact(&mut phead).map_err(|e| e.to_string())?;
    let tl = (signature::PROBE_TAIL as u64).min(len);
    let mut ptail = vec![0u8; tl as usize];
    f.seek(SeekFrom::Start(start + len - tl))
        .map_err(|e| e.to_string())?;
    f.read_exact(&mut ptail).map_err(|e| e.to_string())?;
    probe_from_bytes(&phead, &ptail, len)
}

/// Does the core's reason for an `in-use` disk name what util-linux found? An operator
/// reads `disk.seen`'s reason: a vfat disk must not be explained as a DOS partition
/// table (a FAT boot sector also carries 0x55AA), nor an empty DOS table as unknown
/// data. Reasons about a partition (`… on loopNp1`) name the partition's content, not
/// the disk's, and are not compared.
fn reason_matches_util(reason: &str, util: &BTreeSet<String>) -> bool {
    reason.contains(" on ") || util.iter().any(|t| reason.contains(nodeboot_name(t)))
}

/// One row of the oracle table (printed; docs/hardening.md has the last run's).
pub struct Row {
    pub case: &'static str,
    pub util: BTreeSet<String>,
    pub nodeboot: BTreeSet<String>,
}

fn judge_all() -> Vec<Row> {
    let scratch = TempDir::new("oracle");
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for case in cases() {
        let missing: Vec<_> = case.tools.iter().filter(|t| !command_exists(t)).collect();
        if !missing.is_empty() || (case.needs_loop && !is_root()) {
            let why = if missing.is_empty() {
                "needs root (loop devices)".to_owned()
            } else {
                format!("missing tools {missing:?} (tools/setup.sh installs them)")
            };
            assert!(!ci(), "{}: cannot run under CI: {why}", case.name);
            eprintln!("oracle: SKIP {}: {why}", case.name);
            continue;
        }
        let image = scratch.join(&format!("{}.img", case.name));
        let f = std::fs::File::create(&image).unwrap();
        f.set_len(case.size).unwrap();
        drop(f);
        (case.build)(&image, &scratch).unwrap_or_else(|e| panic!("{}: building: {e}", case.name));

        let util = util_linux(&image);
        let (head, tail, size) = ends(&image);
        let nb: BTreeSet<String> = signature::probe(&head, &tail, size)
            .iter()
            .map(|s| s.name.to_owned())
            .collect();
        let (verdict, reason, writes) = core_verdict(&image, &scratch);
        eprintln!(
            "oracle: {:<24} util-linux {:<32} nodeboot {:<28} core {verdict:?} ({reason})",
            case.name,
            format!("{util:?}"),
            format!("{nb:?}"),
        );
        if case.name == "zeros" {
            // The control: an empty disk is unused and the core goes on to prepare it
            // (the harness refuses the write), or the checks below prove nothing.
            if verdict != Verdict::Unused || writes == 0 {
                problems.push(format!(
                    "zeros: core said {verdict:?} ({reason}), {writes} writes"
                ));
            }
        } else if case.name == "gpt-nodeboot-marked" {
            // Our own interrupted prepare (marker and layout) with an empty partition:
            // finished (mkfs of the partition), never repartitioned.
            if verdict != Verdict::Cache || writes != 1 {
                problems.push(format!(
                    "{}: expected our interrupted prepare finished by one mkfs, got {verdict:?} ({reason}), {writes} writes",
                    case.name
                ));
            }
        } else if verdict == Verdict::Unused || writes > 0 {
            problems.push(format!(
                "{}: the core called it {verdict:?} ({reason}) and asked for {writes} writes",
                case.name
            ));
        }
        if case.util_finds && util.is_empty() {
            problems.push(format!(
                "{}: util-linux found nothing (the case is broken)",
                case.name
            ));
        }
        if !util.is_empty() && nb.is_empty() {
            problems.push(format!(
                "{}: util-linux found {util:?} but nodeboot found nothing (would be UNUSED)",
                case.name
            ));
        }
        if verdict == Verdict::InUse && !util.is_empty() && !reason_matches_util(&reason, &util) {
            problems.push(format!(
                "{}: util-linux names {util:?}, the core's reason is {reason:?}",
                case.name
            ));
        }
        // The two cases that once disagreed, pinned to the exact text.
        let pinned = match case.name {
            "vfat" | "vfat32" => Some("signature vfat"),
            "dos-empty-table" => Some("partition table dos"),
            _ => None,
        };
        if let Some(want) = pinned
            && reason != want
        {
            problems.push(format!(
                "{}: the core's reason is {reason:?}, expected {want:?}",
                case.name
            ));
        }
        for t in &util {
            if !nb.contains(nodeboot_name(t)) {
                problems.push(format!(
                    "{}: util-linux names {t}, nodeboot names {nb:?}",
                    case.name
                ));
            }
        }
        if case.name == "zeros" {
            // The control: both must see nothing, or the comparisons above prove little.
            assert!(util.is_empty() && nb.is_empty(), "zeros: {util:?} {nb:?}");
        } else {
            // Every other image held data: nodeboot must never call it empty, even
            // where util-linux sees nothing (wiped magic, secondary headers only).
            if nb.is_empty() {
                problems.push(format!("{}: nodeboot found nothing", case.name));
            }
        }
        rows.push(Row {
            case: case.name,
            util,
            nodeboot: nb,
        });
        let _ = std::fs::remove_file(&image);
    }
    assert!(
        problems.is_empty(),
        "oracle disagreements:\n{}",
        problems.join("\n")
    );
    rows
}

#[test]
fn nothing_util_linux_recognises_is_unused() {
    let rows = judge_all();
    assert!(rows.len() >= 10, "only {} cases ran", rows.len());
}
