//! PRIVATE STAND-IN for `crate::wire::{signature, gpt, mbr, btrfs}` until the wire
//! helper's parsers land on main. Same planned API, minimal coverage. Delete this file
//! and switch `probe.rs` to `crate::wire` after merging main.

pub mod signature {
    /// Bytes read from the start and from the end of a device.
    pub const PROBE_HEAD: usize = 1 << 20;
    pub const PROBE_TAIL: usize = 1 << 20;

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Signature {
        pub name: &'static str,
        pub offset: u64,
    }

    fn at(buf: &[u8], off: usize, magic: &[u8]) -> bool {
        buf.get(off..off + magic.len()) == Some(magic)
    }

    fn le32(buf: &[u8], off: usize) -> u32 {
        buf.get(off..off + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .unwrap_or(0)
    }

    pub fn probe(head: &[u8], tail: &[u8], size: u64) -> Vec<Signature> {
        let _ = (tail, size);
        let mut found = Vec::new();
        let mut push = |name, offset| found.push(Signature { name, offset });
        if at(head, 0x10040, b"_BHRfS_M") {
            push("btrfs", 0x10040);
        }
        if at(head, 0x438, &[0x53, 0xef]) {
            let compat = le32(head, 0x45c);
            let incompat = le32(head, 0x460);
            let name = if incompat & (0x40 | 0x80 | 0x200) != 0 {
                "ext4"
            } else if compat & 0x4 != 0 {
                "ext3"
            } else {
                "ext2"
            };
            push(name, 0x438);
        }
        if at(head, 0, b"XFSB") {
            push("xfs", 0);
        }
        if at(head, 0, b"LUKS\xba\xbe") {
            push("crypto_LUKS", 0);
        }
        if at(head, 0x200, b"LABELONE") {
            push("LVM2_member", 0x200);
        }
        if at(head, 4096 - 10, b"SWAPSPACE2") {
            push("swap", 4096 - 10);
        }
        if at(head, 0x200, b"EFI PART") {
            push("gpt", 0x200);
        }
        found
    }
}

pub mod gpt {
    #[derive(Clone, Debug)]
    pub struct GptPartition {
        pub number: u32,
        pub name: String,
        pub first_lba: u64,
        pub last_lba: u64,
    }

    #[derive(Clone, Debug)]
    pub struct Gpt {
        pub partitions: Vec<GptPartition>,
    }

    /// The stand-in reads no backup tables.
    pub fn parse_backup(_tail: &[u8], _disk_size: u64) -> crate::wire::Result<Gpt> {
        Err(crate::wire::Error::Unsupported)
    }

    pub fn parse(buf: &[u8]) -> crate::wire::Result<Gpt> {
        let mut cur = std::io::Cursor::new(buf);
        let gpt =
            gptman::GPT::read_from(&mut cur, 512).map_err(|_| crate::wire::Error::Malformed)?;
        let partitions = gpt
            .iter()
            .filter(|(_, p)| p.is_used())
            .map(|(number, p)| GptPartition {
                number,
                name: p.partition_name.as_str().to_string(),
                first_lba: p.starting_lba,
                last_lba: p.ending_lba,
            })
            .collect();
        Ok(Gpt { partitions })
    }
}

pub mod mbr {
    #[derive(Clone, Debug)]
    pub struct MbrPartition {
        pub number: u32,
        pub kind: u8,
        pub start_lba: u32,
        pub sectors: u32,
    }

    #[derive(Clone, Debug)]
    pub struct Mbr {
        pub partitions: Vec<MbrPartition>,
    }

    impl Mbr {
        /// A GPT's protective MBR (one 0xEE entry).
        pub fn protective(&self) -> bool {
            self.partitions.iter().any(|p| p.kind == 0xee)
        }
    }

    pub fn parse(buf: &[u8]) -> crate::wire::Result<Mbr> {
        let sector = buf.get(..512).ok_or(crate::wire::Error::Truncated)?;
        if sector.get(510..512) != Some(&[0x55, 0xaa]) {
            return Err(crate::wire::Error::Malformed);
        }
        let le32 = |b: &[u8]| b.try_into().map(u32::from_le_bytes).unwrap_or(0);
        let partitions = (0..4u32)
            .filter_map(|i| {
                let off = 446 + 16 * i as usize;
                let e = sector.get(off..off + 16)?;
                let kind = *e.get(4)?;
                let sectors = le32(e.get(12..16)?);
                (kind != 0 && sectors != 0).then(|| MbrPartition {
                    number: i + 1,
                    kind,
                    start_lba: le32(e.get(8..12).unwrap_or(&[])),
                    sectors,
                })
            })
            .collect();
        Ok(Mbr { partitions })
    }
}

pub mod btrfs {
    pub struct Btrfs {
        pub label: String,
    }

    /// `head` starts at disk offset 0.
    pub fn parse_superblock(head: &[u8]) -> crate::wire::Result<Btrfs> {
        let buf = head.get(0x1_0000..).ok_or(crate::wire::Error::Truncated)?;
        if buf.get(0x40..0x48) != Some(b"_BHRfS_M") {
            return Err(crate::wire::Error::Malformed);
        }
        let raw = buf
            .get(0x12b..0x12b + 256)
            .ok_or(crate::wire::Error::Truncated)?;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let label = String::from_utf8_lossy(raw.get(..end).unwrap_or(&[])).into_owned();
        Ok(Btrfs { label })
    }
}
