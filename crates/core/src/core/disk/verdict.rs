//! What a block device is to the cache: excluded by kind or policy (decided from its
//! name alone, never probed), or — from the probes of the disk and its partitions —
//! our cache, provably unused, or in use. When in doubt, in use: formatting a disk that
//! held data is the worst thing this program can do.

use crate::core::event::Verdict;
use crate::core::input::DiskProbe;
use crate::core::policy::{CachePolicy, any_match, glob_match};
use crate::wire::gpt::{TYPE_NODEBOOT_CACHE, check_layout};

/// Kernel name prefixes of block devices that are never a cache disk: virtual,
/// stacked, network or optical devices. `loop` is in the list unless the policy
/// allows it (tests and sandboxes).
const EXCLUDED_KINDS: &[(&str, &str)] = &[
    ("ram", "ram disk"),
    ("zram", "zram device"),
    ("dm-", "device-mapper device"),
    ("md", "md raid device"),
    ("nbd", "network block device"),
    ("sr", "optical drive"),
    ("fd", "floppy drive"),
    ("mtdblock", "mtd flash device"),
];

/// Signatures a world may report for the partition table itself (the protective MBR
/// of a GPT); they say nothing about data beyond the table.
const TABLE_SIGNATURES: &[&str] = &["gpt", "PMBR"];

/// What the signature probe reports for non-zero bytes it does not recognise.
const UNKNOWN_DATA: &str = "unknown-data";

/// `Some(reason)` when `name` is excluded without probing.
pub fn excluded(policy: &CachePolicy, name: &str) -> Option<String> {
    if name.starts_with("loop") && !policy.allow_loop {
        return Some("loop device".into());
    }
    if let Some((_, what)) = EXCLUDED_KINDS.iter().find(|(p, _)| name.starts_with(p)) {
        return Some((*what).into());
    }
    if let Some(p) = policy.exclude.iter().find(|p| glob_match(p, name)) {
        return Some(format!("excluded by pattern {p}"));
    }
    if policy
        .allow
        .as_ref()
        .is_some_and(|allow| !any_match(allow, name))
    {
        return Some("not in allow list".into());
    }
    None
}

/// A probed partition of the disk being judged.
pub struct PartView<'a> {
    pub name: &'a str,
    pub probe: &'a DiskProbe,
}

/// Why a disk is what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reason: String,
    /// The device holding our labelled filesystem (the disk or one of its partitions).
    pub labelled: Option<String>,
    /// The disk holds our own interrupted prepare: exactly the table nodeboot writes
    /// (marker type GUID, one 1 MiB-aligned partition spanning the disk), and on the
    /// partition nothing but, at most, an unfinished mkfs.
    pub interrupted: bool,
    /// The disk bears nodeboot's marker (a partition with its type GUID). Such a disk
    /// is resumed or the cache fails loudly: it never lets another disk be chosen.
    pub marked: bool,
}

impl Judgement {
    fn new(verdict: Verdict, reason: impl Into<String>) -> Judgement {
        Judgement {
            verdict,
            reason: reason.into(),
            labelled: None,
            interrupted: false,
            marked: false,
        }
    }

    fn marked(mut self, marked: bool) -> Judgement {
        self.marked = marked;
        self
    }
}

/// Judge a disk from its own probe and the probes of its known partitions (all of
/// them answered). Order of questions: removable or USB → `excluded`; our label
/// anywhere → `cache`; our marker with exactly our layout and at most an unfinished
/// mkfs → `cache` (interrupted); our marker otherwise, or our name without it →
/// `in-use`; then the first thing found that makes it used → `in-use`; only a disk
/// that passes every check is `unused`.
pub fn judge(label: &str, disk: &str, probe: &DiskProbe, parts: &[PartView<'_>]) -> Judgement {
    // Removable media and USB disks are a kind of device, like loop or sr, that only
    // the probe (sysfs) reveals: `excluded`, even when they carry our label.
    if probe.removable {
        return Judgement::new(Verdict::Excluded, "removable");
    }
    if probe.usb {
        return Judgement::new(Verdict::Excluded, "usb");
    }
    if probe.btrfs_label.as_deref() == Some(label) {
        let mut j = Judgement::new(Verdict::Cache, format!("label {label}"));
        j.labelled = Some(disk.to_owned());
        return j;
    }
    if let Some(p) = parts
        .iter()
        .find(|p| p.probe.btrfs_label.as_deref() == Some(label))
    {
        let mut j = Judgement::new(Verdict::Cache, format!("label {label} on {}", p.name));
        j.labelled = Some(p.name.to_owned());
        return j;
    }
    let marked = probe
        .partitions
        .iter()
        .any(|p| p.type_guid.eq_ignore_ascii_case(TYPE_NODEBOOT_CACHE));
    if let Some(reason) = device_in_use(probe) {
        return Judgement::new(Verdict::InUse, reason).marked(marked);
    }
    if marked {
        let problem = our_layout(probe).err().or_else(|| {
            parts
                .iter()
                .find_map(|p| ours_unfinished(p.probe).map(|r| format!("{r} on {}", p.name)))
        });
        return match problem {
            Some(reason) => Judgement::new(Verdict::InUse, reason).marked(true),
            None => {
                let mut j = Judgement::new(Verdict::Cache, "interrupted prepare").marked(true);
                j.interrupted = true;
                j
            }
        };
    }
    // Our name without our marker proves nothing: anyone may name a partition so (and
    // the label may be a common name such as sgdisk's "Linux filesystem").
    if let Some(p) = probe.partitions.iter().find(|p| p.name == label) {
        return Judgement::new(
            Verdict::InUse,
            format!(
                "gpt partition {} named {label} without nodeboot's type GUID",
                p.number
            ),
        );
    }
    if let Some(table) = &probe.partition_table {
        return Judgement::new(Verdict::InUse, format!("partition table {table}"));
    }
    if let Some(reason) = signature_reason(probe) {
        return Judgement::new(Verdict::InUse, reason);
    }
    if let Some(reason) = parts
        .iter()
        .find_map(|p| signature_reason(p.probe).map(|r| format!("{r} on {}", p.name)))
    {
        return Judgement::new(Verdict::InUse, reason);
    }
    if let Some(p) = parts.first() {
        return Judgement::new(Verdict::InUse, format!("partition {}", p.name));
    }
    Judgement::new(Verdict::Unused, "empty")
}

/// The checks that hold for any device we would write to, our own table included.
fn device_in_use(probe: &DiskProbe) -> Option<String> {
    let reason = if probe.unreadable {
        "unreadable".to_owned()
    } else if probe.size_bytes == 0 {
        "size 0".to_owned()
    } else if probe.read_only {
        "read-only".to_owned()
    } else if probe.mounted {
        "mounted".to_owned()
    } else if !probe.holders.is_empty() {
        format!("holders {}", probe.holders.join(","))
    } else {
        return None;
    };
    Some(reason)
}

/// Exactly the table our `partition` step writes ([`check_layout`]), and nothing but
/// the table on the disk itself.
fn our_layout(probe: &DiskProbe) -> Result<(), String> {
    if probe.partition_table.as_deref() != Some("gpt") {
        return Err("nodeboot's partition type outside a GPT".into());
    }
    let [p] = probe.partitions.as_slice() else {
        return Err(format!(
            "nodeboot's partition type among {} partitions",
            probe.partitions.len()
        ));
    };
    check_layout(
        p.number,
        &p.type_guid,
        p.start_lba,
        p.size_lba,
        probe.sector_size,
        probe.last_usable_lba,
    )
    .map_err(|e| format!("nodeboot's partition type, but {e}"))?;
    if let Some(sig) = probe
        .signatures
        .iter()
        .find(|s| !TABLE_SIGNATURES.contains(&s.as_str()))
    {
        return Err(format!(
            "nodeboot's partition type, but signature {sig} on the disk"
        ));
    }
    if let Some(l) = &probe.btrfs_label {
        return Err(format!(
            "nodeboot's partition type, but a btrfs labelled {l} on the disk"
        ));
    }
    Ok(())
}

/// Why the partition of our own table holds something that is not an unfinished
/// `mkfs.btrfs` of ours: any known signature, or a btrfs with another label.
/// `unknown-data` alone is tolerated there: a power cut during mkfs leaves tree
/// blocks without a superblock, and only nodeboot writes its partition type GUID.
pub fn ours_unfinished(probe: &DiskProbe) -> Option<String> {
    if probe.unreadable {
        return Some("unreadable".into());
    }
    let mut known = probe.signatures.iter().filter(|s| *s != UNKNOWN_DATA);
    if let Some(sig) = known.next() {
        return Some(format!("signature {sig}"));
    }
    probe
        .btrfs_label
        .as_ref()
        .map(|l| format!("btrfs labelled {l}"))
}

/// The first signature found (any, `unknown-data` included), or a foreign btrfs label.
pub fn signature_reason(probe: &DiskProbe) -> Option<String> {
    if probe.unreadable {
        return Some("unreadable".into());
    }
    if let Some(sig) = probe.signatures.first() {
        return Some(format!("signature {sig}"));
    }
    probe
        .btrfs_label
        .as_ref()
        .map(|l| format!("btrfs labelled {l}"))
}
