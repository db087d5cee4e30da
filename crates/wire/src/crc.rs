//! The two CRCs the on-disk formats use, from the `crc` crate (already in the tree
//! through gptman, which checks the same GPT CRCs when it writes a table).

use crc::{CRC_32_ISCSI, CRC_32_ISO_HDLC, Crc};

/// Tables computed at compile time.
const IEEE: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);
const CASTAGNOLI: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// CRC-32/ISO-HDLC (zlib's `crc32`), as used by the GPT header and entry array.
pub fn crc32(bytes: &[u8]) -> u32 {
    IEEE.checksum(bytes)
}

/// CRC-32C (Castagnoli, CRC-32/ISCSI), as used by btrfs (`csum_type` 0).
pub fn crc32c(bytes: &[u8]) -> u32 {
    CASTAGNOLI.checksum(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The catalogue's check values (CRC of "123456789").
    #[test]
    fn check_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32(b""), 0);
    }
}
