//! The btrfs superblock: the primary copy at 64 KiB. Kernel uevents carry no
//! filesystem labels, so the cache disk is recognised by reading this.
//!
//! Layout (`struct btrfs_super_block`, offsets within the superblock): `csum[32]` at 0,
//! `fsid[16]` at 0x20, magic `_BHRfS_M` at 0x40, generation at 0x48, csum_type (u16) at
//! 0xC4, `label[256]` at 0x12B. The checksum covers bytes 0x20..0x1000. For
//! `csum_type` 0 (crc32c, the default) it is verified; the other types (xxhash64,
//! sha256, blake2b) are not computed here and the superblock is accepted on its magic
//! alone (`checksum_verified` says which).

use super::bytes;
use super::crc::crc32c;
use super::{Error, Result};

/// Disk offset of the primary superblock.
pub const SUPERBLOCK_OFFSET: usize = 0x1_0000;
/// Bytes of the superblock covered by its checksum (and read by [`parse_superblock`]).
pub const SUPERBLOCK_LEN: usize = 0x1000;
pub const MAGIC: &[u8; 8] = b"_BHRfS_M";
const MAGIC_AT: usize = 0x40;
const FSID_AT: usize = 0x20;
const GENERATION_AT: usize = 0x48;
const CSUM_TYPE_AT: usize = 0xC4;
const LABEL_AT: usize = 0x12B;
const LABEL_LEN: usize = 256;
const CSUM_TYPE_CRC32C: u16 = 0;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Btrfs {
    /// Up to the first NUL (empty when unlabelled).
    pub label: String,
    /// The filesystem UUID, as `blkid` prints it.
    pub fsid: String,
    pub generation: u64,
    /// False when the checksum type is not crc32c and so was not checked.
    pub checksum_verified: bool,
}

/// True when the btrfs magic is at its place in `head` (a cheap probe).
pub fn has_magic(head: &[u8]) -> bool {
    bytes::has(head, SUPERBLOCK_OFFSET + MAGIC_AT, MAGIC)
}

/// Parses the primary superblock from a buffer that starts at disk offset 0 and holds
/// at least 68 KiB.
pub fn parse_superblock(head: &[u8]) -> Result<Btrfs> {
    let sb = bytes::slice(head, SUPERBLOCK_OFFSET, SUPERBLOCK_LEN)?;
    if !bytes::has(sb, MAGIC_AT, MAGIC) {
        return Err(Error::Malformed);
    }
    let checksum_verified = bytes::u16_le(sb, CSUM_TYPE_AT)? == CSUM_TYPE_CRC32C;
    if checksum_verified {
        let stored = bytes::u32_le(sb, 0)?;
        if crc32c(bytes::slice(sb, 0x20, SUPERBLOCK_LEN - 0x20)?) != stored {
            return Err(Error::Malformed);
        }
    }
    Ok(Btrfs {
        label: bytes::cstr(bytes::slice(sb, LABEL_AT, LABEL_LEN)?),
        fsid: bytes::uuid(&bytes::array(sb, FSID_AT)?),
        generation: bytes::u64_le(sb, GENERATION_AT)?,
        checksum_verified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::fuzz;

    /// The 4 KiB superblock of `mkfs.btrfs -L sp_zos-cache -U 01234567-…` (btrfs-progs
    /// 6.2) on a 128 MiB file; `dump-super` reported generation 6, csum 0x652e3cc5.
    static SUPER: &[u8] = include_bytes!("testdata/btrfs_super.bin");

    fn image() -> Vec<u8> {
        let mut disk = vec![0u8; SUPERBLOCK_OFFSET];
        disk.extend_from_slice(SUPER);
        disk
    }

    #[test]
    fn real_superblock() {
        let fs = parse_superblock(&image()).unwrap();
        assert_eq!(fs.label, "sp_zos-cache");
        assert_eq!(fs.fsid, "01234567-89ab-cdef-0123-456789abcdef");
        assert_eq!(fs.generation, 6);
        assert!(fs.checksum_verified);
        assert!(has_magic(&image()));
    }

    #[test]
    fn corrupted_or_short() {
        let mut img = image();
        img[SUPERBLOCK_OFFSET + LABEL_AT] = b'X';
        assert_eq!(parse_superblock(&img), Err(Error::Malformed));
        let img = image();
        assert_eq!(
            parse_superblock(&img[..SUPERBLOCK_OFFSET + 100]),
            Err(Error::Truncated)
        );
        assert_eq!(parse_superblock(&vec![0; 0x20000]), Err(Error::Malformed));
    }

    #[test]
    fn other_checksum_types_are_accepted_unverified() {
        let mut img = image();
        img[SUPERBLOCK_OFFSET + CSUM_TYPE_AT] = 1; // xxhash64
        let fs = parse_superblock(&img).unwrap();
        assert!(!fs.checksum_verified);
        assert_eq!(fs.label, "sp_zos-cache");
    }

    #[test]
    fn never_panics() {
        fuzz::no_panic(&[SUPER], 3000, |b| {
            let mut img = vec![0u8; SUPERBLOCK_OFFSET];
            img.extend_from_slice(b);
            let _ = parse_superblock(&img);
            let _ = parse_superblock(b);
            // With a checksum type that is not verified, mutations reach the decoders.
            if img.len() > SUPERBLOCK_OFFSET + CSUM_TYPE_AT {
                img[SUPERBLOCK_OFFSET + CSUM_TYPE_AT] = 2;
                let _ = parse_superblock(&img);
            }
        });
    }
}
