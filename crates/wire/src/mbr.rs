//! The DOS (MBR) partition table: boot signature 0x55AA at byte 510, four 16-byte
//! entries from byte 446. A single entry of type 0xEE is a GPT's protective MBR.

use super::bytes;
use super::{Error, Result};

pub const SECTOR: usize = 512;
const ENTRIES_AT: usize = 446;
const SIGNATURE_AT: usize = 510;
/// Partition type of a GPT protective MBR entry.
pub const TYPE_GPT_PROTECTIVE: u8 = 0xEE;
/// Extended partition types (their logical partitions are not followed here).
pub const TYPES_EXTENDED: [u8; 3] = [0x05, 0x0F, 0x85];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MbrPartition {
    /// 1..=4, the slot in the table.
    pub number: u32,
    pub bootable: bool,
    /// The partition type byte (0x83 Linux, 0x82 swap, 0x07 NTFS, 0xEE GPT…).
    pub kind: u8,
    pub start_lba: u32,
    pub sectors: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mbr {
    /// The 32-bit disk signature at byte 440.
    pub disk_id: u32,
    /// Non-empty slots only.
    pub partitions: Vec<MbrPartition>,
}

impl Mbr {
    /// A GPT protective MBR: some entry has type 0xEE.
    pub fn protective(&self) -> bool {
        self.partitions
            .iter()
            .any(|p| p.kind == TYPE_GPT_PROTECTIVE)
    }
}

/// Parses sector 0. Fails without the 0x55AA signature, or when a boot indicator is
/// neither 0x00 nor 0x80 (then the sector is a boot record of something else, such as
/// a FAT boot sector, not a partition table).
pub fn parse(sector0: &[u8]) -> Result<Mbr> {
    let sector = bytes::slice(sector0, 0, SECTOR)?;
    if !bytes::has(sector, SIGNATURE_AT, &[0x55, 0xAA]) {
        return Err(Error::Malformed);
    }
    let mut partitions = Vec::new();
    for slot in 0..4usize {
        let e = bytes::slice(sector, ENTRIES_AT + 16 * slot, 16)?;
        let boot = bytes::array::<1>(e, 0)?[0];
        if boot != 0 && boot != 0x80 {
            return Err(Error::Malformed);
        }
        let kind = bytes::array::<1>(e, 4)?[0];
        let start_lba = bytes::u32_le(e, 8)?;
        let sectors = bytes::u32_le(e, 12)?;
        if kind == 0 || sectors == 0 {
            continue;
        }
        partitions.push(MbrPartition {
            number: slot as u32 + 1,
            bootable: boot == 0x80,
            kind,
            start_lba,
            sectors,
        });
    }
    Ok(Mbr {
        disk_id: bytes::u32_le(sector, 440)?,
        partitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::fuzz;

    /// `sfdisk` (util-linux 2.38) on a 64 MiB file: label-id 0x12345678,
    /// 1: start 2048 size 20480 type 83 bootable, 2: start 22528 type 82 (to the end).
    static MBR: &[u8] = include_bytes!("testdata/mbr_head.bin");
    static GPT_HEAD: &[u8] = include_bytes!("testdata/gpt512_head.bin");

    #[test]
    fn real_dos_table() {
        let m = parse(MBR).unwrap();
        assert_eq!(m.disk_id, 0x1234_5678);
        assert!(!m.protective());
        assert_eq!(
            m.partitions,
            vec![
                MbrPartition {
                    number: 1,
                    bootable: true,
                    kind: 0x83,
                    start_lba: 2048,
                    sectors: 20480
                },
                MbrPartition {
                    number: 2,
                    bootable: false,
                    kind: 0x82,
                    start_lba: 22528,
                    sectors: 131072 - 22528
                },
            ]
        );
    }

    #[test]
    fn protective_mbr_of_a_gpt() {
        let m = parse(GPT_HEAD).unwrap();
        assert!(m.protective());
        assert_eq!(m.partitions.len(), 1);
        assert_eq!(m.partitions[0].start_lba, 1);
    }

    #[test]
    fn rejects() {
        assert_eq!(parse(&MBR[..511]), Err(Error::Truncated));
        assert_eq!(parse(&[0; 512]), Err(Error::Malformed));
        let mut bad = MBR.to_vec();
        bad[446] = 0x12;
        assert_eq!(parse(&bad), Err(Error::Malformed));
    }

    #[test]
    fn never_panics() {
        fuzz::no_panic(&[MBR, &GPT_HEAD[..512]], 3000, |b| {
            let _ = parse(b);
        });
    }
}
