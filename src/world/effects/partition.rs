//! `WritePartitionTable` (a fresh GPT, one partition of nodeboot's own type spanning
//! the disk, written with gptman while the disk is held open `O_EXCL`, after its first
//! and last bytes were read again as empty through that open, and locked until mkfs:
//! [`disklock`]) and `AddPartition` (`BLKRRPART`, then
//! `BLKPG_ADD_PARTITION` with the table's geometry: kernels without partition-table
//! parsers only ever see partitions that way).
#![allow(unsafe_code)]

use super::error::{Failure, Result};
use super::{block, disklock, probe};
use crate::wire;
use crate::world::confine::Confinement;
use nix::errno::Errno;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};

mod ioctl {
    use nix::{ioctl_none, ioctl_read_bad, ioctl_write_ptr_bad, request_code_none};

    /// `struct blkpg_partition` (linux/blkpg.h).
    #[repr(C)]
    pub struct BlkpgPartition {
        pub start: i64,
        pub length: i64,
        pub pno: libc::c_int,
        pub devname: [u8; 64],
        pub volname: [u8; 64],
    }

    /// `struct blkpg_ioctl_arg` (linux/blkpg.h).
    #[repr(C)]
    pub struct BlkpgIoctlArg {
        pub op: libc::c_int,
        pub flags: libc::c_int,
        pub datalen: libc::c_int,
        pub data: *mut libc::c_void,
    }

    pub const BLKPG_ADD_PARTITION: libc::c_int = 1;

    ioctl_none!(blkrrpart, 0x12, 95);
    ioctl_read_bad!(blksszget, request_code_none!(0x12, 104), libc::c_int);
    ioctl_write_ptr_bad!(blkpg, request_code_none!(0x12, 105), BlkpgIoctlArg);
}

/// nodeboot's own partition type: the marker that proves the disk is ours.
const NODEBOOT_TYPE: [u8; 16] = wire::gpt::TYPE_NODEBOOT_CACHE_BYTES;
const ALIGN_BYTES: u64 = wire::gpt::ALIGN_BYTES;
/// Bytes read from a disk's start to find its GPT (a 128-entry array with 4096-byte
/// sectors ends at 24 KiB).
const GPT_HEAD: usize = 64 << 10;
/// A GPT partition name holds 36 UTF-16 code units.
const MAX_NAME_UNITS: usize = 36;

fn gpt_err(disk: &str, e: impl std::fmt::Display) -> Failure {
    Failure::Gpt {
        disk: disk.to_string(),
        reason: e.to_string(),
    }
}

fn ensure_block_device(file: &File, disk: &str) -> Result<()> {
    let path = std::path::Path::new(disk);
    let meta = file.metadata().map_err(|e| Failure::io("stat", path, e))?;
    if meta.file_type().is_block_device() {
        Ok(())
    } else {
        Err(Failure::Refused(format!("{disk} is not a block device")))
    }
}

fn sector_size(file: &File, disk: &str) -> Result<u64> {
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one c_int through the pointer, which points at `size`;
    // the fd is open for the duration of the call.
    unsafe { ioctl::blksszget(file.as_raw_fd(), &mut size) }
        .map_err(|e| Failure::sys("BLKSSZGET", disk, e))?;
    match u64::try_from(size) {
        Ok(s @ (512 | 1024 | 2048 | 4096)) => Ok(s),
        _ => Err(Failure::Invalid(format!("{disk}: sector size {size}"))),
    }
}

/// Does the disk already carry exactly the table we would write (nodeboot's type GUID,
/// one partition, our layout)? Then writing again is not needed: an interrupted
/// prepare resumes. The name is not looked at: it proves nothing.
fn has_our_table(file: &File) -> bool {
    read_gpt(file).is_ok_and(|g| wire::gpt::nodeboot_layout(&g).is_ok())
}

fn read_gpt(file: &File) -> std::io::Result<wire::gpt::Gpt> {
    let mut head = vec![0u8; GPT_HEAD];
    let n = file.read_at(&mut head, 0)?;
    head.truncate(n);
    wire::gpt::parse(&head)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

/// The disk's first and last bytes, read through the fd we hold `O_EXCL`, hold no
/// table, no signature, no non-zero byte the probe does not know: the verdict
/// `unused` the core decided on still holds now that nobody else can claim the disk.
fn ensure_still_empty(file: &mut File, disk: &str) -> Result<()> {
    let path = std::path::Path::new(disk);
    let size = file
        .seek(SeekFrom::End(0))
        .map_err(|e| Failure::io("seek", path, e))?;
    let head_len = size.min(wire::signature::PROBE_HEAD as u64);
    let tail_len = size.min(wire::signature::PROBE_TAIL as u64);
    let mut head = vec![0u8; usize::try_from(head_len).unwrap_or(0)];
    let mut tail = vec![0u8; usize::try_from(tail_len).unwrap_or(0)];
    file.read_exact_at(&mut head, 0)
        .and_then(|()| file.read_exact_at(&mut tail, size - tail_len))
        .map_err(|e| Failure::io("read", path, e))?;
    let mut seen = crate::core::input::DiskProbe {
        size_bytes: size,
        ..Default::default()
    };
    probe::fill_contents(&mut seen, &head, &tail);
    let found = seen
        .partition_table
        .map(|t| format!("partition table {t}"))
        .or_else(|| seen.signatures.first().map(|s| format!("signature {s}")))
        .or_else(|| seen.btrfs_label.map(|l| format!("btrfs labelled {l}")));
    match found {
        Some(what) => Err(Failure::Busy(format!(
            "{disk} is no longer empty ({what}): not writing a table"
        ))),
        None => Ok(()),
    }
}

/// Refuse `mkfs -f` on `device` unless it is partition 1 of a disk holding exactly the
/// table nodeboot writes (its type GUID and layout), read from the disk now.
pub fn ensure_ours(confine: &Confinement, device: &str) -> Result<()> {
    let refuse = |why: String| {
        Failure::Refused(format!(
            "mkfs -f on {device}: not proven nodeboot's ({why})"
        ))
    };
    let disk =
        block::parent_disk(confine, device).ok_or_else(|| refuse("not a partition".into()))?;
    let number: Option<u32> =
        block::attr(confine, device, "partition").and_then(|n| n.parse().ok());
    let file = File::open(confine.dev(&disk)).map_err(|e| refuse(format!("open {disk}: {e}")))?;
    ensure_block_device(&file, &disk)?;
    let gpt = read_gpt(&file).map_err(|e| refuse(format!("{disk}: no GPT: {e}")))?;
    let p = wire::gpt::nodeboot_layout(&gpt).map_err(|e| refuse(format!("{disk}: {e}")))?;
    if Some(p.number) != number {
        return Err(refuse(format!(
            "partition {number:?}, the table's is {}",
            p.number
        )));
    }
    // A resumed prepare wrote no table this boot: lock the disk for its mkfs now (one
    // try; udev's shared lock is momentary, and the proof above stands without it).
    if !disklock::is_held(&disk)
        && let Ok(lock) = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
    {
        disklock::hold(&disk, lock);
    }
    Ok(())
}

fn random_guid() -> std::io::Result<[u8; 16]> {
    let mut g = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut g)?;
    // RFC 4122 version 4, variant 1 (fields 3 and 4 are stored big-endian in a GUID's
    // last 8 bytes; field 3 is little-endian at bytes 6..8).
    g[7] = (g[7] & 0x0f) | 0x40;
    g[8] = (g[8] & 0x3f) | 0x80;
    Ok(g)
}

/// Write a protective MBR and a GPT with one partition spanning the disk, then fsync.
pub fn write_table(confine: &Confinement, disk: &str, name: &str) -> Result<()> {
    if name.encode_utf16().count() > MAX_NAME_UNITS || name.contains('\0') {
        return Err(Failure::Invalid(format!(
            "partition name {name:?} does not fit a GPT entry"
        )));
    }
    if block::is_partition(confine, disk) {
        return Err(Failure::Refused(format!(
            "{disk} is a partition, not a disk"
        )));
    }
    block::ensure_unused(confine, disk)?;
    let path = confine.dev(disk);
    // O_EXCL on a block device: the open fails with EBUSY while anything has it mounted
    // or claimed, and nobody else can claim it while we hold it. This is the lock.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_EXCL | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EBUSY) => Failure::Busy(format!("{disk} is in use (O_EXCL open)")),
            _ => Failure::io("open", &path, e),
        })?;
    ensure_block_device(&file, disk)?;
    // The lock udev and our own later steps see, on a second (plain) fd: it outlives
    // this function, the O_EXCL claim does not (see `disklock`).
    // A disk this world already holds (a table write repeated) keeps its lock.
    let lock = if disklock::is_held(disk) {
        None
    } else {
        let lock_fd = File::open(&path).map_err(|e| Failure::io("open", &path, e))?;
        Some(
            disklock::lock(lock_fd)
                .map_err(|e| Failure::Busy(format!("{disk} is locked by another process ({e})")))?,
        )
    };
    let hold = |lock: Option<_>| {
        if let Some(l) = lock {
            disklock::hold(disk, l);
        }
    };
    // Defence in depth: re-check now that we hold the device.
    block::ensure_unused(confine, disk)?;
    let sector = sector_size(&file, disk)?;
    if has_our_table(&file) {
        hold(lock);
        return Ok(());
    }
    ensure_still_empty(&mut file, disk)?;
    let guid = random_guid().map_err(|e| Failure::io("read", "/dev/urandom".as_ref(), e))?;
    let mut gpt = gptman::GPT::new_from(&mut file, sector, guid).map_err(|e| gpt_err(disk, e))?;
    let align = (ALIGN_BYTES / sector).max(1);
    let first = gpt.header.first_usable_lba.div_ceil(align) * align;
    let last = gpt.header.last_usable_lba;
    if first >= last {
        return Err(Failure::Invalid(format!(
            "{disk} is too small for a partition"
        )));
    }
    let part_guid = random_guid().map_err(|e| Failure::io("read", "/dev/urandom".as_ref(), e))?;
    let entry = gptman::GPTPartitionEntry {
        partition_type_guid: NODEBOOT_TYPE,
        unique_partition_guid: part_guid,
        starting_lba: first,
        ending_lba: last,
        attribute_bits: 0,
        partition_name: name.into(),
    };
    if let Some((_, slot)) = gpt.iter_mut().find(|(n, _)| *n == 1) {
        *slot = entry;
    }
    gptman::GPT::write_protective_mbr_into(&mut file, sector).map_err(|e| gpt_err(disk, e))?;
    gpt.write_into(&mut file).map_err(|e| gpt_err(disk, e))?;
    file.sync_all()
        .map_err(|e| Failure::io("fsync", &path, e))?;
    hold(lock);
    Ok(())
}

/// Make the kernel see partition `number` of `disk`.
pub fn add_partition(confine: &Confinement, disk: &str, number: u32) -> Result<()> {
    let part = block::partition_name(disk, number);
    let path = confine.dev(disk);
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| Failure::io("open", &path, e))?;
    ensure_block_device(&file, disk)?;
    let sector = sector_size(&file, disk)?;
    // The table is read by the same parser the probe judged the disk with (gptman
    // only writes): "our table" cannot mean two things.
    let gpt = read_gpt(&file).map_err(|e| gpt_err(disk, e))?;
    let entry = gpt
        .partitions
        .iter()
        .find(|p| p.number == number)
        .ok_or_else(|| gpt_err(disk, format!("no partition {number} in the table")))?;
    if gpt.sector_size as u64 != sector {
        return Err(gpt_err(
            disk,
            format!(
                "table written for {}-byte sectors, the disk has {sector}",
                gpt.sector_size
            ),
        ));
    }
    let start = entry.first_lba.saturating_mul(sector);
    let length = (entry.last_lba.saturating_sub(entry.first_lba) + 1).saturating_mul(sector);
    if block::exists(confine, &part) {
        return check_geometry(confine, &part, start, length);
    }
    // SAFETY: BLKRRPART takes no argument; the fd is open for the call. Its failure
    // (EINVAL on a disk without partition scanning) only means "try BLKPG".
    let _ = unsafe { ioctl::blkrrpart(file.as_raw_fd()) };
    if block::exists(confine, &part) {
        return check_geometry(confine, &part, start, length);
    }
    let mut part_arg = ioctl::BlkpgPartition {
        start: i64::try_from(start).map_err(|_| gpt_err(disk, "start out of range"))?,
        length: i64::try_from(length).map_err(|_| gpt_err(disk, "length out of range"))?,
        pno: libc::c_int::try_from(number).map_err(|_| gpt_err(disk, "bad number"))?,
        devname: [0; 64],
        volname: [0; 64],
    };
    let arg = ioctl::BlkpgIoctlArg {
        op: ioctl::BLKPG_ADD_PARTITION,
        flags: 0,
        datalen: std::mem::size_of::<ioctl::BlkpgPartition>() as libc::c_int,
        data: (&raw mut part_arg).cast(),
    };
    // SAFETY: `arg` points at a live, correctly laid out blkpg_partition for the whole
    // call; the kernel copies `datalen` bytes from it and writes nothing back.
    match unsafe { ioctl::blkpg(file.as_raw_fd(), &arg) } {
        Ok(_) => Ok(()),
        // Someone (the kernel, partx, an earlier run) added it first.
        Err(Errno::EBUSY) if block::exists(confine, &part) => {
            check_geometry(confine, &part, start, length)
        }
        Err(e) => Err(Failure::sys("BLKPG_ADD_PARTITION", part, e)),
    }
}

/// A partition device the kernel already has must match the table (sysfs `start` and
/// `size` are in 512-byte units): a stale one from an older table would put the
/// filesystem in the wrong place.
fn check_geometry(confine: &Confinement, part: &str, start: u64, length: u64) -> Result<()> {
    let read = |name| block::attr(confine, part, name).and_then(|v| v.parse::<u64>().ok());
    match (read("start"), read("size")) {
        (Some(s), Some(l)) if s * 512 == start && l * 512 == length => Ok(()),
        (s, l) => Err(Failure::Busy(format!(
            "{part} exists with start {s:?} size {l:?} (512-byte sectors), \
             the table says {} and {}",
            start / 512,
            length / 512
        ))),
    }
}
