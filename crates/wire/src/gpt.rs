//! GUID partition tables: the primary (protective MBR at LBA 0, header at LBA 1, entry
//! array where the header says) and the backup (header in the last sector, entries
//! just before it). Both CRC32s (header and entry array) are verified. Sector sizes
//! 512 and 4096 are tried, in that order.

use super::bytes;
use super::crc::crc32;
use super::mbr;
use super::{Error, Result};

pub const SIGNATURE: &[u8; 8] = b"EFI PART";
pub const SECTOR_SIZES: [usize; 2] = [512, 4096];
/// Type GUID of a Linux filesystem partition (`8300` in sgdisk).
pub const TYPE_LINUX_FS: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";
/// Type GUID of nodeboot's cache partition: the marker that proves a disk is ours. A
/// fixed random GUID (generated once for nodeboot, never used by anything else), so a
/// partition only merely *named* like ours is never taken for ours.
pub const TYPE_NODEBOOT_CACHE: &str = "63c82dd0-a35a-4a0e-99b3-c2bf5ad6e168";
/// [`TYPE_NODEBOOT_CACHE`] in the on-disk mixed-endian byte order.
pub const TYPE_NODEBOOT_CACHE_BYTES: [u8; 16] = [
    0xd0, 0x2d, 0xc8, 0x63, 0x5a, 0xa3, 0x0e, 0x4a, 0x99, 0xb3, 0xc2, 0xbf, 0x5a, 0xd6, 0xe1, 0x68,
];
/// Our partition starts on a 1 MiB boundary.
pub const ALIGN_BYTES: u64 = 1 << 20;
const HEADER_MIN: usize = 92;
const ENTRY_MIN: usize = 128;
/// Sanity bound on one entry: the spec allows 128 × 2^n; nothing real exceeds this.
const ENTRY_MAX: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GptPartition {
    /// The 1-based slot in the entry array (what the kernel names `sdaN`).
    pub number: u32,
    pub type_guid: String,
    pub unique_guid: String,
    pub first_lba: u64,
    /// Inclusive.
    pub last_lba: u64,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gpt {
    pub disk_guid: String,
    /// Used entries only, in slot order.
    pub partitions: Vec<GptPartition>,
    pub sector_size: usize,
    /// LBA of this header and of the other copy.
    pub my_lba: u64,
    pub alternate_lba: u64,
    pub first_usable_lba: u64,
    pub last_usable_lba: u64,
    /// LBA 0 holds a protective (0xEE) MBR. Only known for the primary table; a
    /// missing one is reported, not rejected (when in doubt, a disk is in use).
    pub protective_mbr: bool,
}

struct Header {
    my_lba: u64,
    alternate_lba: u64,
    first_usable: u64,
    last_usable: u64,
    disk_guid: [u8; 16],
    entries_lba: u64,
    entries: usize,
    entry_size: usize,
    entries_crc: u32,
}

/// Is this exactly the table nodeboot writes: one used entry, in slot 1, with
/// nodeboot's type GUID, starting on a 1 MiB boundary and ending on the last usable
/// LBA? `Err` says what differs.
pub fn nodeboot_layout(g: &Gpt) -> std::result::Result<&GptPartition, String> {
    let [p] = g.partitions.as_slice() else {
        return Err(format!("{} partitions, not 1", g.partitions.len()));
    };
    check_layout(
        p.number,
        &p.type_guid,
        p.first_lba,
        p.last_lba.saturating_sub(p.first_lba).saturating_add(1),
        g.sector_size as u64,
        g.last_usable_lba,
    )?;
    Ok(p)
}

/// The layout rule of [`nodeboot_layout`] on plain numbers (the core checks a probe's
/// entries with it too).
pub fn check_layout(
    number: u32,
    type_guid: &str,
    start_lba: u64,
    size_lba: u64,
    sector_size: u64,
    last_usable_lba: u64,
) -> std::result::Result<(), String> {
    if !type_guid.eq_ignore_ascii_case(TYPE_NODEBOOT_CACHE) {
        return Err(format!("type GUID {type_guid}, not nodeboot's"));
    }
    if number != 1 {
        return Err(format!("partition number {number}, not 1"));
    }
    if sector_size == 0 || !(start_lba.saturating_mul(sector_size)).is_multiple_of(ALIGN_BYTES) {
        return Err(format!("start LBA {start_lba} not 1 MiB aligned"));
    }
    let last = start_lba.saturating_add(size_lba).saturating_sub(1);
    if size_lba == 0 || last != last_usable_lba {
        return Err(format!(
            "ends at LBA {last}, not the last usable LBA {last_usable_lba}"
        ));
    }
    Ok(())
}

/// Checks and decodes a header sector (signature, size, CRC32).
fn header(sector: &[u8]) -> Result<Header> {
    if !bytes::has(sector, 0, SIGNATURE) {
        return Err(Error::Malformed);
    }
    let size = bytes::u32_le(sector, 12)? as usize;
    if size < HEADER_MIN || size > sector.len() {
        return Err(Error::Malformed);
    }
    let mut copy = bytes::slice(sector, 0, size)?.to_vec();
    let stored = bytes::u32_le(&copy, 16)?;
    if let Some(field) = copy.get_mut(16..20) {
        field.fill(0);
    }
    if crc32(&copy) != stored {
        return Err(Error::Malformed);
    }
    let entry_size = bytes::u32_le(sector, 84)? as usize;
    if !(ENTRY_MIN..=ENTRY_MAX).contains(&entry_size) || !entry_size.is_multiple_of(8) {
        return Err(Error::Malformed);
    }
    Ok(Header {
        my_lba: bytes::u64_le(sector, 24)?,
        alternate_lba: bytes::u64_le(sector, 32)?,
        first_usable: bytes::u64_le(sector, 40)?,
        last_usable: bytes::u64_le(sector, 48)?,
        disk_guid: bytes::array(sector, 56)?,
        entries_lba: bytes::u64_le(sector, 72)?,
        entries: bytes::u32_le(sector, 80)? as usize,
        entry_size,
        entries_crc: bytes::u32_le(sector, 88)?,
    })
}

/// Decodes the entry array (already located in the buffer), checking its CRC32.
fn entries(h: &Header, array: &[u8]) -> Result<Vec<GptPartition>> {
    if crc32(array) != h.entries_crc {
        return Err(Error::Malformed);
    }
    let mut out = Vec::new();
    for (slot, e) in array.chunks_exact(h.entry_size).enumerate() {
        let type_guid: [u8; 16] = bytes::array(e, 0)?;
        if type_guid == [0; 16] {
            continue;
        }
        let units: Vec<u16> = bytes::slice(e, 56, 72)?
            .chunks_exact(2)
            .map(|c| {
                u16::from_le_bytes([
                    c.first().copied().unwrap_or(0),
                    c.last().copied().unwrap_or(0),
                ])
            })
            .take_while(|&u| u != 0)
            .collect();
        out.push(GptPartition {
            number: slot as u32 + 1,
            type_guid: bytes::guid(&type_guid),
            unique_guid: bytes::guid(&bytes::array(e, 16)?),
            first_lba: bytes::u64_le(e, 32)?,
            last_lba: bytes::u64_le(e, 40)?,
            name: char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect(),
        });
    }
    Ok(out)
}

fn assemble(
    h: &Header,
    partitions: Vec<GptPartition>,
    sector_size: usize,
    protective_mbr: bool,
) -> Gpt {
    Gpt {
        disk_guid: bytes::guid(&h.disk_guid),
        partitions,
        sector_size,
        my_lba: h.my_lba,
        alternate_lba: h.alternate_lba,
        first_usable_lba: h.first_usable,
        last_usable_lba: h.last_usable,
        protective_mbr,
    }
}

/// Byte length of the entry array, bounded by the buffer it must fit in.
fn array_len(h: &Header, limit: usize) -> Result<usize> {
    let len = h
        .entries
        .checked_mul(h.entry_size)
        .ok_or(Error::Malformed)?;
    if len > limit {
        return Err(Error::Truncated);
    }
    Ok(len)
}

/// The primary GPT with a given sector size, from a buffer starting at disk offset 0.
pub fn parse_with_sector_size(head: &[u8], sector_size: usize) -> Result<Gpt> {
    let h = header(bytes::slice(head, sector_size, sector_size)?)?;
    if h.my_lba != 1 {
        return Err(Error::Malformed);
    }
    let off = usize::try_from(h.entries_lba)
        .ok()
        .and_then(|lba| lba.checked_mul(sector_size))
        .ok_or(Error::Malformed)?;
    let len = array_len(&h, head.len())?;
    let parts = entries(&h, bytes::slice(head, off, len)?)?;
    let protective = mbr::parse(head).is_ok_and(|m| m.protective());
    Ok(assemble(&h, parts, sector_size, protective))
}

fn first_ok(mut attempt: impl FnMut(usize) -> Result<Gpt>) -> Result<Gpt> {
    let mut err = Error::Malformed;
    for (i, ss) in SECTOR_SIZES.into_iter().enumerate() {
        match attempt(ss) {
            Ok(g) => return Ok(g),
            Err(e) if i == 0 => err = e,
            Err(_) => {}
        }
    }
    Err(err)
}

/// The primary GPT, from the first sectors of a disk (34 × 512 bytes, or 6 × 4096, is
/// enough for the usual 128-entry array).
pub fn parse(head: &[u8]) -> Result<Gpt> {
    first_ok(|ss| parse_with_sector_size(head, ss))
}

/// The backup GPT with a given sector size. `tail` is the last `tail.len()` bytes of a
/// disk of `disk_size` bytes.
pub fn parse_backup_with_sector_size(
    tail: &[u8],
    disk_size: u64,
    sector_size: usize,
) -> Result<Gpt> {
    let ss = sector_size as u64;
    if !disk_size.is_multiple_of(ss) || disk_size < 2 * ss || (tail.len() as u64) > disk_size {
        return Err(Error::Malformed);
    }
    let last_lba = disk_size / ss - 1;
    let header_at = tail
        .len()
        .checked_sub(sector_size)
        .ok_or(Error::Truncated)?;
    let h = header(bytes::slice(tail, header_at, sector_size)?)?;
    if h.my_lba != last_lba {
        return Err(Error::Malformed);
    }
    let tail_start = disk_size - tail.len() as u64;
    let off = h
        .entries_lba
        .checked_mul(ss)
        .and_then(|abs| abs.checked_sub(tail_start))
        .and_then(|o| usize::try_from(o).ok())
        .ok_or(Error::Truncated)?;
    let len = array_len(&h, tail.len())?;
    let parts = entries(&h, bytes::slice(tail, off, len)?)?;
    Ok(assemble(&h, parts, sector_size, false))
}

/// The backup GPT (header in the last sector). A disk whose primary table was wiped
/// but whose backup survives is still in use.
pub fn parse_backup(tail: &[u8], disk_size: u64) -> Result<Gpt> {
    first_ok(|ss| parse_backup_with_sector_size(tail, disk_size, ss))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::fuzz;

    /// `sgdisk -U 11111111-2222-3333-4444-555555555555 -n1:2048:+10M -t1:8300
    /// -u1:aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee -c1:sp_zos-cache -n2:0:0 -t2:8200
    /// -c2:données` on a 64 MiB file: the first 34 and last 33 sectors.
    static HEAD: &[u8] = include_bytes!("testdata/gpt512_head.bin");
    static TAIL: &[u8] = include_bytes!("testdata/gpt512_tail.bin");
    const DISK: u64 = 64 << 20;
    /// `sgdisk -n1:0:0 -c1:sp_zos-cache` on a 64 MiB loop device with 4096-byte
    /// sectors (`losetup -b 4096`): the first 6 sectors.
    static HEAD_4K: &[u8] = include_bytes!("testdata/gpt4k_head.bin");

    fn check_512(g: &Gpt) {
        assert_eq!(g.sector_size, 512);
        assert_eq!(g.disk_guid, "11111111-2222-3333-4444-555555555555");
        assert_eq!(g.partitions.len(), 2);
        let p1 = &g.partitions[0];
        assert_eq!(p1.number, 1);
        assert_eq!(p1.type_guid, TYPE_LINUX_FS);
        assert_eq!(p1.unique_guid, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
        assert_eq!((p1.first_lba, p1.last_lba), (2048, 22527));
        assert_eq!(p1.name, "sp_zos-cache");
        let p2 = &g.partitions[1];
        assert_eq!(p2.number, 2);
        assert_eq!(p2.type_guid, "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"); // Linux swap
        assert_eq!((p2.first_lba, p2.last_lba), (22528, 131038));
        assert_eq!(p2.name, "données");
    }

    #[test]
    fn primary_512() {
        let g = parse(HEAD).unwrap();
        check_512(&g);
        assert!(g.protective_mbr);
        assert_eq!((g.my_lba, g.alternate_lba), (1, DISK / 512 - 1));
    }

    #[test]
    fn backup_512() {
        let g = parse_backup(TAIL, DISK).unwrap();
        check_512(&g);
        assert_eq!((g.my_lba, g.alternate_lba), (DISK / 512 - 1, 1));
        // Wrong disk size: the header does not sit where it says it does.
        assert!(parse_backup(TAIL, DISK + 512).is_err());
        // A larger tail (the probe reads 1 MiB) works as well.
        let mut big = vec![0u8; 1 << 20];
        let n = big.len();
        big[n - TAIL.len()..].copy_from_slice(TAIL);
        check_512(&parse_backup(&big, DISK).unwrap());
    }

    #[test]
    fn primary_4096() {
        let g = parse(HEAD_4K).unwrap();
        assert_eq!(g.sector_size, 4096);
        assert_eq!(g.partitions.len(), 1);
        assert_eq!(g.partitions[0].name, "sp_zos-cache");
        assert_eq!(g.partitions[0].first_lba, 256);
        assert_eq!(g.partitions[0].last_lba, 16378);
        assert!(g.protective_mbr);
    }

    #[test]
    fn nodeboot_marker_and_layout() {
        assert_eq!(bytes::guid(&TYPE_NODEBOOT_CACHE_BYTES), TYPE_NODEBOOT_CACHE);
        // Named like ours, sgdisk's default type, spanning the disk: still not ours.
        let g = parse(HEAD_4K).unwrap();
        let err = nodeboot_layout(&g).unwrap_err();
        assert!(err.contains("type GUID"), "{err}");
        let ok =
            |n, start, size, last| check_layout(n, TYPE_NODEBOOT_CACHE, start, size, 512, last);
        assert_eq!(ok(1, 2048, 100, 2147), Ok(()));
        assert!(ok(2, 2048, 100, 2147).is_err());
        assert!(ok(1, 2047, 101, 2147).is_err(), "unaligned");
        assert!(ok(1, 2048, 99, 2147).is_err(), "short of the end");
        assert!(ok(1, 2048, 0, 2047).is_err());
        assert_eq!(
            check_layout(1, TYPE_NODEBOOT_CACHE, 256, 10, 4096, 265),
            Ok(())
        );
        assert!(check_layout(1, TYPE_NODEBOOT_CACHE, 256, 10, 0, 265).is_err());
    }

    #[test]
    fn checksums_are_verified() {
        let mut h = HEAD.to_vec();
        h[512 + 60] ^= 1; // disk GUID byte: header CRC fails
        assert_eq!(parse(&h), Err(Error::Malformed));
        let mut e = HEAD.to_vec();
        e[1024 + 56] ^= 1; // a name byte: entry-array CRC fails
        assert_eq!(parse(&e), Err(Error::Malformed));
        assert_eq!(parse(&HEAD[..1024 + 100]), Err(Error::Truncated));
        assert_eq!(parse(&[0u8; 8192]), Err(Error::Malformed));
    }

    /// Recomputes both CRCs of a primary table (512-byte sectors) in place, so that
    /// mutated headers get past the checksums and exercise the bounds checks.
    fn fix_crcs(head: &mut [u8]) {
        let n = u32::from_le_bytes(head[512 + 80..512 + 84].try_into().unwrap()) as usize;
        let size = u32::from_le_bytes(head[512 + 84..512 + 88].try_into().unwrap()) as usize;
        if let Some(array) = n
            .checked_mul(size)
            .and_then(|len| head.get(1024..1024 + len))
        {
            let crc = crc32(array);
            head[512 + 88..512 + 92].copy_from_slice(&crc.to_le_bytes());
        }
        head[512 + 16..512 + 20].fill(0);
        let crc = crc32(&head[512..512 + 92]);
        head[512 + 16..512 + 20].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn hostile_header_fields_are_bounded() {
        let cases: [(usize, &[u8]); 6] = [
            (80, &u32::MAX.to_le_bytes()), // entry count
            (84, &u32::MAX.to_le_bytes()), // entry size
            (84, &8u32.to_le_bytes()),     // entry size below 128
            (72, &u64::MAX.to_le_bytes()), // entry array LBA
            (12, &u32::MAX.to_le_bytes()), // header size
            (24, &7u64.to_le_bytes()),     // my_lba
        ];
        for (off, value) in cases {
            let mut h = HEAD.to_vec();
            h[512 + off..512 + off + value.len()].copy_from_slice(value);
            fix_crcs(&mut h);
            assert!(parse(&h).is_err(), "field at {off}");
        }
        // Fewer entries than usual, with valid CRCs, still parses.
        let mut h = HEAD.to_vec();
        h[512 + 80..512 + 84].copy_from_slice(&4u32.to_le_bytes());
        fix_crcs(&mut h);
        assert_eq!(parse(&h).unwrap().partitions.len(), 2);
    }

    #[test]
    fn never_panics_past_the_checksums() {
        let mut rng = fuzz::XorShift(7);
        for _ in 0..3000 {
            let mut h = HEAD.to_vec();
            for _ in 0..1 + rng.below(4) {
                let i = 512 + rng.below(92);
                h[i] = rng.next_u64() as u8;
            }
            if rng.below(2) == 0 {
                let i = 1024 + rng.below(256);
                h[i] = rng.next_u64() as u8;
            }
            fix_crcs(&mut h);
            let _ = parse(&h);
            let cut = rng.below(h.len());
            let _ = parse(&h[..cut]);
        }
    }

    #[test]
    fn never_panics() {
        fuzz::no_panic(&[HEAD, &HEAD_4K[..8192 + 512]], 1500, |b| {
            let _ = parse(b);
            let _ = parse_backup(b, DISK);
            let _ = parse_backup(b, b.len() as u64);
        });
        fuzz::no_panic(&[TAIL], 1500, |b| {
            let _ = parse_backup(b, DISK);
            let _ = parse_backup(b, u64::MAX);
        });
    }
}
