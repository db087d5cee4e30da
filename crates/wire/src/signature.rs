//! "Is this disk in use?": magic-number probes over the first and last bytes of a
//! block device, named as `blkid` names them (`TYPE=`).
//!
//! The rule that matters more than any single probe: **when in doubt, it is used.** If
//! no known format is recognised but the probed head or tail holds any non-zero byte,
//! [`probe`] returns `unknown-data`. Only an all-zero head and tail is "empty". Probes
//! are deliberately generous (a magic number is enough; checksums are not required),
//! because a false "in use" costs a cache disk and a false "empty" costs someone's data.
//!
//! Parsing is bounded: every probe reads fixed offsets of the given buffers and
//! allocates nothing proportional to on-disk lengths.

use super::{btrfs, bytes, gpt, mbr};

/// Bytes to read from the start of the disk. 4 MiB + 4 KiB reaches the last LUKS2
/// secondary header offset (4 MiB); everything else lies in the first 1 MiB.
pub const PROBE_HEAD: usize = (4 << 20) + 4096;
/// Bytes to read from the end: md 0.90/1.0 superblocks, ZFS labels 2 and 3 (512 KiB),
/// the backup GPT.
pub const PROBE_TAIL: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    /// blkid-style `TYPE` (`ext4`, `swap`, `LVM2_member`, `gpt`, …, or `unknown-data`).
    pub name: &'static str,
    /// Disk offset of the structure that was recognised.
    pub offset: u64,
}

pub const UNKNOWN_DATA: &str = "unknown-data";

/// What was read: the first bytes, the last bytes, and the disk's size.
struct Disk<'a> {
    head: &'a [u8],
    tail: &'a [u8],
    size: u64,
}

impl Disk<'_> {
    /// `len` bytes at disk offset `off`, from whichever buffer holds them.
    fn at(&self, off: u64, len: usize) -> Option<&[u8]> {
        if let Some(s) = usize::try_from(off)
            .ok()
            .and_then(|o| bytes::slice(self.head, o, len).ok())
        {
            return Some(s);
        }
        let tail_start = self.size.checked_sub(self.tail.len() as u64)?;
        let o = usize::try_from(off.checked_sub(tail_start)?).ok()?;
        bytes::slice(self.tail, o, len).ok()
    }

    fn has(&self, off: u64, magic: &[u8]) -> bool {
        self.at(off, magic.len()) == Some(magic)
    }

    fn u32_le(&self, off: u64) -> Option<u32> {
        bytes::u32_le(self.at(off, 4)?, 0).ok()
    }
}

/// Every signature found in `head` (the disk's first bytes, ideally [`PROBE_HEAD`])
/// and `tail` (its last bytes, ideally [`PROBE_TAIL`]) of a disk of `disk_size` bytes.
/// Never empty unless both buffers are entirely zero.
pub fn probe(head: &[u8], tail: &[u8], disk_size: u64) -> Vec<Signature> {
    let d = Disk {
        head,
        tail,
        size: disk_size,
    };
    let mut found = Vec::new();
    let mut add = |name: &'static str, offset: u64| {
        if !found
            .iter()
            .any(|s: &Signature| s.name == name && s.offset == offset)
        {
            found.push(Signature { name, offset });
        }
    };
    filesystems(&d, &mut add);
    containers(&d, &mut add);
    partition_tables(&d, &mut add);
    // A DOS table is only reported if no filesystem boot sector claimed sector 0.
    if found
        .iter()
        .any(|s| s.offset == 0 && s.name != "dos" && s.name != "gpt")
    {
        found.retain(|s| s.name != "dos");
    }
    if found.is_empty() && (head.iter().any(|&b| b != 0) || tail.iter().any(|&b| b != 0)) {
        found.push(Signature {
            name: UNKNOWN_DATA,
            offset: 0,
        });
    }
    found
}

fn filesystems(d: &Disk, add: &mut impl FnMut(&'static str, u64)) {
    if let Some(name) = ext(d) {
        add(name, 1024);
    }
    if d.has(0, b"XFSB") {
        add("xfs", 0);
    }
    if vfat(d) {
        add("vfat", 0);
    }
    if d.has(3, b"NTFS    ") {
        add("ntfs", 0);
    }
    if d.has(3, b"EXFAT   ") {
        add("exfat", 0);
    }
    if btrfs::has_magic(d.head) {
        add("btrfs", btrfs::SUPERBLOCK_OFFSET as u64);
    }
    if d.has(0x8001, b"CD001") {
        add("iso9660", 0x8000);
    }
    if d.u32_le(1024) == Some(0xF2F5_2010) {
        add("f2fs", 1024);
    }
    if d.has(0, b"hsqs") {
        add("squashfs", 0);
    }
    if d.has(32768, b"JFS1") {
        add("jfs", 32768);
    }
    for magic in [&b"ReIsErFs"[..], b"ReIsEr2Fs", b"ReIsEr3Fs"] {
        if d.has(0x10000 + 52, magic) {
            add("reiserfs", 0x10000);
        }
    }
    if d.has(1024, b"H+") || d.has(1024, b"HX") {
        add("hfsplus", 1024);
    }
    swap(d, add);
}

/// ext2/3/4, told apart by feature flags as blkid does.
fn ext(d: &Disk) -> Option<&'static str> {
    let sb = d.at(1024, 0x68)?;
    if !bytes::has(sb, 0x38, &[0x53, 0xEF]) {
        return None;
    }
    let compat = bytes::u32_le(sb, 0x5C).ok()?;
    let incompat = bytes::u32_le(sb, 0x60).ok()?;
    let ro_compat = bytes::u32_le(sb, 0x64).ok()?;
    const HAS_JOURNAL: u32 = 0x4;
    const JOURNAL_DEV: u32 = 0x8;
    // FILETYPE | META_BG, and for ext3 also RECOVER.
    const EXT2_INCOMPAT: u32 = 0x2 | 0x10;
    const EXT3_INCOMPAT: u32 = EXT2_INCOMPAT | 0x4;
    // SPARSE_SUPER | LARGE_FILE | BTREE_DIR
    const EXT23_RO_COMPAT: u32 = 0x1 | 0x2 | 0x4;
    Some(if incompat & JOURNAL_DEV != 0 {
        "jbd"
    } else if compat & HAS_JOURNAL == 0
        && incompat & !EXT2_INCOMPAT == 0
        && ro_compat & !EXT23_RO_COMPAT == 0
    {
        "ext2"
    } else if compat & HAS_JOURNAL != 0
        && incompat & !EXT3_INCOMPAT == 0
        && ro_compat & !EXT23_RO_COMPAT == 0
    {
        "ext3"
    } else {
        "ext4"
    })
}

fn vfat(d: &Disk) -> bool {
    let jump = d.at(0, 1).and_then(|b| b.first().copied());
    if !matches!(jump, Some(0xEB | 0xE9)) || !d.has(510, &[0x55, 0xAA]) {
        return false;
    }
    d.has(0x52, b"FAT32   ")
        || d.has(0x52, b"MSWIN")
        || [&b"FAT12   "[..], b"FAT16   ", b"FAT     ", b"MSDOS"]
            .iter()
            .any(|m| d.has(0x36, m))
}

/// Linux swap (v1 `SWAPSPACE2`, old v0 `SWAP-SPACE`) and hibernation images, at the
/// end of the first page for every page size Linux has used.
fn swap(d: &Disk, add: &mut impl FnMut(&'static str, u64)) {
    for page in [4096u64, 8192, 16384, 65536] {
        let at = page - 10;
        if d.has(at, b"SWAPSPACE2") || d.has(at, b"SWAP-SPACE") {
            add("swap", 0);
        }
        for magic in [&b"S1SUSPEND"[..], b"S2SUSPEND", b"ULSUSPEND", b"LINHIB0001"] {
            if d.has(page - magic.len() as u64, magic) {
                add("swsuspend", 0);
            }
        }
    }
}

const MD_MAGIC: u32 = 0xa92b_4efc;
const BCACHE_MAGIC: [u8; 16] = [
    0xc6, 0x85, 0x73, 0xf6, 0x4e, 0x1a, 0x45, 0xca, 0x82, 0x65, 0xf5, 0x7f, 0x48, 0xba, 0x6d, 0x81,
];
const BCACHEFS_MAGIC: [u8; 16] = [
    0xc6, 0x85, 0x73, 0xf6, 0x66, 0xce, 0x90, 0xa9, 0xd9, 0x6a, 0x60, 0xcf, 0x80, 0x3d, 0xf7, 0xef,
];
const ZFS_UBERBLOCK_MAGIC: u64 = 0x00ba_b10c;
const ZFS_LABEL: u64 = 256 << 10;
/// LUKS2 places its secondary header at one of these offsets (by metadata size).
pub const LUKS2_SECONDARY: [u64; 9] = [
    0x4000, 0x8000, 0x1_0000, 0x2_0000, 0x4_0000, 0x8_0000, 0x10_0000, 0x20_0000, 0x40_0000,
];

/// RAID, volume managers, encryption, caches: things that own the whole device.
fn containers(d: &Disk, add: &mut impl FnMut(&'static str, u64)) {
    for sector in 0..4u64 {
        if d.has(sector * 512, b"LABELONE") && d.has(sector * 512 + 0x18, b"LVM2 001") {
            add("LVM2_member", sector * 512);
        }
    }
    if d.has(0, b"LUKS\xba\xbe") {
        add("crypto_LUKS", 0);
    }
    for off in LUKS2_SECONDARY {
        if d.has(off, b"SKUL\xba\xbe") {
            add("crypto_LUKS", off);
        }
    }
    md(d, add);
    if d.has(4096 + 24, &BCACHE_MAGIC) {
        add("bcache", 4096);
    }
    if d.has(4096 + 24, &BCACHEFS_MAGIC) {
        add("bcachefs", 4096);
    }
    zfs(d, add);
}

/// Linux md superblocks: 1.1 at 0, 1.2 at 4 KiB, 1.0 near the end, 0.90 in the last
/// 64 KiB-aligned 64 KiB.
fn md(d: &Disk, add: &mut impl FnMut(&'static str, u64)) {
    for off in [0u64, 4096] {
        if d.u32_le(off) == Some(MD_MAGIC) && d.u32_le(off + 4) == Some(1) {
            add("linux_raid_member", off);
        }
    }
    let sectors = d.size >> 9;
    if sectors >= 16 {
        let off = ((sectors - 16) & !7) << 9;
        if d.u32_le(off) == Some(MD_MAGIC) && d.u32_le(off + 4) == Some(1) {
            add("linux_raid_member", off);
        }
    }
    if d.size >= 0x2_0000 {
        let off = (d.size & !0xFFFF) - 0x1_0000;
        let magic = d.at(off, 4).and_then(|b| bytes::array::<4>(b, 0).ok());
        if magic
            .is_some_and(|m| u32::from_le_bytes(m) == MD_MAGIC || u32::from_be_bytes(m) == MD_MAGIC)
        {
            add("linux_raid_member", off);
        }
    }
}

/// ZFS: four 256 KiB labels (two at each end); each holds an uberblock ring in its
/// second half. One uberblock magic (either byte order) in any label is enough.
fn zfs(d: &Disk, add: &mut impl FnMut(&'static str, u64)) {
    let aligned = d.size & !(ZFS_LABEL - 1);
    let mut labels = vec![0, ZFS_LABEL];
    if aligned >= 4 * ZFS_LABEL {
        labels.extend([aligned - 2 * ZFS_LABEL, aligned - ZFS_LABEL]);
    }
    for label in labels {
        let ring = label + ZFS_LABEL / 2;
        let hit = (0..128u64).any(|slot| {
            d.at(ring + slot * 1024, 8)
                .and_then(|b| bytes::array::<8>(b, 0).ok())
                .is_some_and(|m| {
                    u64::from_le_bytes(m) == ZFS_UBERBLOCK_MAGIC
                        || u64::from_be_bytes(m) == ZFS_UBERBLOCK_MAGIC
                })
        });
        if hit {
            add("zfs_member", label);
        }
    }
}

/// GPT (primary or backup) and DOS tables. A GPT is reported on its signature alone
/// even when a checksum fails (a damaged table still means the disk was in use).
fn partition_tables(d: &Disk, add: &mut impl FnMut(&'static str, u64)) {
    let mut gpt_seen = false;
    for ss in gpt::SECTOR_SIZES {
        let ss = ss as u64;
        if d.has(ss, gpt::SIGNATURE) {
            add("gpt", ss);
            gpt_seen = true;
        }
        if d.size >= 2 * ss && d.size.is_multiple_of(ss) && d.has(d.size - ss, gpt::SIGNATURE) {
            add("gpt", d.size - ss);
            gpt_seen = true;
        }
    }
    if let Ok(m) = mbr::parse(d.head) {
        if m.protective() && !gpt_seen {
            // A protective MBR whose GPT is gone: still a partitioned disk.
            add("gpt", 0);
        } else if !m.protective() {
            // An empty table (0x55AA, no entries) is a DOS table too, as blkid says
            // (`PTTYPE=dos`); a filesystem boot sector with the same signature is
            // dropped again by the caller.
            add("dos", 0);
        }
    }
}

#[cfg(test)]
#[path = "signature_tests.rs"]
mod tests;
