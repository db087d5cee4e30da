//! CRC32 (IEEE, as GPT uses it) and CRC32C (Castagnoli, as btrfs uses it), table-driven.
//! Written here rather than pulled in: forty lines, no dependency, `const` tables.

// Indices stay below 256 by the loop bounds; `get_mut` is not usable in a const fn.
#[allow(clippy::indexing_slicing)]
const fn table(poly: u32) -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ poly } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static IEEE: [u32; 256] = table(0xEDB8_8320);
static CASTAGNOLI: [u32; 256] = table(0x82F6_3B78);

fn update(table: &[u32; 256], crc: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(crc, |c, &b| {
        // The index is masked to 0..=255, so it is always in the table.
        let slot = table.get(((c ^ u32::from(b)) & 0xFF) as usize).copied();
        slot.unwrap_or(0) ^ (c >> 8)
    })
}

/// CRC-32/ISO-HDLC (zlib's `crc32`), as used by the GPT header and entry array.
pub fn crc32(bytes: &[u8]) -> u32 {
    !update(&IEEE, !0, bytes)
}

/// CRC-32C (Castagnoli), as used by btrfs (`csum_type` 0).
pub fn crc32c(bytes: &[u8]) -> u32 {
    !update(&CASTAGNOLI, !0, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        // The catalogue "check" value: the CRC of the ASCII digits 1 to 9.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32(b""), 0);
    }
}
