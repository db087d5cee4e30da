//! Bounds-checked little helpers: every read returns `None` (or an error) instead of
//! panicking, so the parsers above them cannot index out of range.

use super::{Error, Result};

/// `len` bytes at `off`, or `Truncated`.
pub fn slice(buf: &[u8], off: usize, len: usize) -> Result<&[u8]> {
    let end = off.checked_add(len).ok_or(Error::Truncated)?;
    buf.get(off..end).ok_or(Error::Truncated)
}

pub fn array<const N: usize>(buf: &[u8], off: usize) -> Result<[u8; N]> {
    let s = slice(buf, off, N)?;
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    Ok(a)
}

pub fn u16_le(buf: &[u8], off: usize) -> Result<u16> {
    array(buf, off).map(u16::from_le_bytes)
}

pub fn u32_le(buf: &[u8], off: usize) -> Result<u32> {
    array(buf, off).map(u32::from_le_bytes)
}

pub fn u64_le(buf: &[u8], off: usize) -> Result<u64> {
    array(buf, off).map(u64::from_le_bytes)
}

pub fn u32_be(buf: &[u8], off: usize) -> Result<u32> {
    array(buf, off).map(u32::from_be_bytes)
}

pub fn u32_ne(buf: &[u8], off: usize) -> Result<u32> {
    array(buf, off).map(u32::from_ne_bytes)
}

pub fn u16_ne(buf: &[u8], off: usize) -> Result<u16> {
    array(buf, off).map(u16::from_ne_bytes)
}

/// True when `buf` holds `magic` at `off` (false when out of range).
pub fn has(buf: &[u8], off: usize, magic: &[u8]) -> bool {
    slice(buf, off, magic.len()).is_ok_and(|s| s == magic)
}

/// A NUL-padded string field: up to the first NUL, lossily decoded.
pub fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(field.get(..end).unwrap_or_default()).into_owned()
}

/// A 16-byte GUID in the mixed-endian layout of GPT and EFI, as lowercase text.
pub fn guid(b: &[u8; 16]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// A 16-byte UUID in plain byte order (btrfs fsid, LUKS), as lowercase text.
pub fn uuid(b: &[u8; 16]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6],
        b[7],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// Test support: a deterministic xorshift PRNG and the "never panics" harness that
/// every parser's property test runs (random, truncated and bit-flipped inputs).
#[cfg(test)]
pub mod fuzz {
    pub struct XorShift(pub u64);

    impl XorShift {
        pub fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        pub fn below(&mut self, n: usize) -> usize {
            if n == 0 {
                0
            } else {
                (self.next_u64() % n as u64) as usize
            }
        }
    }

    /// Feeds `f` every prefix-truncation of each seed (at a few hundred cut points),
    /// `rounds` bit-flipped copies, and random buffers. `f` must simply return.
    /// `WIRE_FUZZ_ROUNDS=N` overrides `rounds` for a longer soak.
    pub fn no_panic(seeds: &[&[u8]], rounds: usize, mut f: impl FnMut(&[u8])) {
        let rounds = std::env::var("WIRE_FUZZ_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(rounds);
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for seed in seeds {
            let step = (seed.len() / 300).max(1);
            let mut cut = 0;
            while cut <= seed.len() {
                f(&seed[..cut]);
                cut += step;
            }
            for _ in 0..rounds {
                let mut b = seed.to_vec();
                if b.is_empty() {
                    break;
                }
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
                // Sometimes also overwrite a byte with an extreme value (lengths, counts).
                let i = rng.below(b.len());
                b[i] = [0, 0xFF, 0x7F, 0x80][rng.below(4)];
                f(&b);
                let cut = rng.below(b.len() + 1);
                f(&b[..cut]);
            }
        }
        for _ in 0..rounds {
            let len = rng.below(2048);
            let b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            f(&b);
        }
    }
}
