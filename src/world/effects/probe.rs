//! `ProbeDisk`: what sysfs says about a block device, plus what the wire parsers find in
//! its first and last bytes. Read-only: the device is opened `O_RDONLY` and only read.
//! A device that cannot be read is reported `unreadable` (the core treats it as in
//! use), not as an error.

use super::block;
use super::error::{Failure, Result};
use super::mountinfo;
use crate::core::input::{DiskProbe, PartitionEntry};
use crate::wire;
use crate::world::confine::Confinement;
use std::fs::File;
use std::os::unix::fs::FileExt;

const SECTOR: u64 = 512;

pub fn probe(confine: &Confinement, device: &str) -> Result<DiskProbe> {
    block::check_name(device)?;
    if !block::exists(confine, device) {
        return Err(Failure::Invalid(format!(
            "{device}: no such block device in sysfs"
        )));
    }
    let mut probe = sysfs_facts(confine, device);
    match mountinfo::read() {
        Ok(entries) => probe.mounted = block::mounted(confine, &entries, device),
        // An unknown mount state must not look "unmounted".
        Err(_) => probe.mounted = true,
    }
    match read_ends(confine, device, probe.size_bytes) {
        // A size of 0 (unattached loop, missing medium, unreadable sysfs) proves nothing.
        Ok(_) if probe.size_bytes == 0 => probe.unreadable = true,
        Ok((head, tail)) => fill_contents(&mut probe, &head, &tail),
        Err(_) => probe.unreadable = true,
    }
    Ok(probe)
}

fn flag(confine: &Confinement, dev: &str, name: &str) -> bool {
    block::attr(confine, dev, name).is_some_and(|v| v != "0")
}

fn sysfs_facts(confine: &Confinement, device: &str) -> DiskProbe {
    // Queue and removable flags live on the whole disk.
    let disk = block::parent_disk(confine, device).unwrap_or_else(|| device.to_string());
    let sectors: u64 = block::attr(confine, device, "size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let usb = std::fs::canonicalize(block::sys_block(confine, &disk))
        .is_ok_and(|p| p.to_string_lossy().contains("/usb"));
    let mut holders = block::holders(confine, device);
    if disk == device {
        for part in block::partitions_of(confine, device) {
            holders.extend(block::holders(confine, &part));
        }
    }
    DiskProbe {
        size_bytes: sectors.saturating_mul(SECTOR),
        rotational: flag(confine, &disk, "queue/rotational"),
        removable: flag(confine, &disk, "removable"),
        read_only: flag(confine, device, "ro"),
        usb,
        holders,
        ..DiskProbe::default()
    }
}

/// The first `PROBE_HEAD` and last `PROBE_TAIL` bytes (fewer on a small device).
fn read_ends(
    confine: &Confinement,
    device: &str,
    size: u64,
) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let file = File::open(confine.dev(device))?;
    let head_len = size.min(wire::signature::PROBE_HEAD as u64);
    let tail_len = size.min(wire::signature::PROBE_TAIL as u64);
    let mut head = vec![0u8; usize::try_from(head_len).unwrap_or(0)];
    let mut tail = vec![0u8; usize::try_from(tail_len).unwrap_or(0)];
    file.read_exact_at(&mut head, 0)?;
    file.read_exact_at(&mut tail, size - tail_len)?;
    Ok((head, tail))
}

pub(super) fn fill_contents(probe: &mut DiskProbe, head: &[u8], tail: &[u8]) {
    let signatures: Vec<String> = wire::signature::probe(head, tail, probe.size_bytes)
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    // A disk whose primary table was wiped but whose backup survives still has one.
    let gpt = wire::gpt::parse(head).or_else(|_| wire::gpt::parse_backup(tail, probe.size_bytes));
    if let Ok(gpt) = gpt {
        probe.partition_table = Some("gpt".into());
        probe.sector_size = gpt.sector_size as u64;
        probe.last_usable_lba = gpt.last_usable_lba;
        probe.partitions = gpt
            .partitions
            .iter()
            .map(|p| PartitionEntry {
                number: p.number,
                name: p.name.clone(),
                start_lba: p.first_lba,
                size_lba: p.last_lba.saturating_sub(p.first_lba).saturating_add(1),
                type_guid: p.type_guid.clone(),
            })
            .collect();
    } else if let Ok(mbr) = wire::mbr::parse(head)
        && (mbr.protective() || signatures.iter().any(|s| s == "dos"))
    {
        // A protective MBR whose GPT did not parse is still "some partition table".
        // A DOS table only where the signature probe names one, as blkid does: not
        // when sector 0 is a filesystem's boot sector (a FAT boot sector parses as an
        // MBR, its boot code as bogus entries), and also when it has no entries.
        probe.partition_table = Some(if mbr.protective() { "gpt" } else { "dos" }.into());
        probe.partitions = mbr
            .partitions
            .iter()
            .filter(|p| p.kind != 0xee)
            .map(|p| PartitionEntry {
                number: p.number,
                name: String::new(),
                start_lba: u64::from(p.start_lba),
                size_lba: u64::from(p.sectors),
                type_guid: String::new(),
            })
            .collect();
    }
    probe.btrfs_label = wire::btrfs::parse_superblock(head).ok().map(|b| b.label);
    probe.signatures = signatures;
}
