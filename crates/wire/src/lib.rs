//! Wire formats: bytes in, typed values out. No IO, no state, no panics.
//!
//! Every parser here takes a byte slice it does not trust (a netlink datagram, the
//! first and last sectors of a disk) and returns either a typed value or the one
//! tiny [`Error`]: at this layer a parse failure just means "drop it" (smoltcp's
//! contract).
//!
//! - [`uevent`]: kernel uevent datagrams and the libudev monitor framing (parse, encode).
//! - [`rtnetlink`]: rtnetlink datagrams → link/address events; dump and link-up requests.
//! - [`gpt`], [`mbr`]: partition tables (GPT primary and backup, 512/4096 sectors; DOS).
//! - [`btrfs`]: the superblock at 64 KiB (label, fsid, generation; crc32c checked).
//! - [`signature`]: "is this disk in use?" probes over the head and tail of a disk.
//! - [`bytes`], [`crc`]: bounds-checked reads and the two CRCs the formats need.
//! - [`devname`]: the kernel's names for partitions.
//! - [`link`]: link state (`LinkState`, `OperState`, `IFF_*`) as rtnetlink reports it.
//! - [`modalias`]: the kernel's module index (modules.alias globs, built-ins) → the
//!   modules a `MODALIAS` names, as kmod's `modprobe -R` resolves it.
//!
//! Each parser's tests run on bytes captured from a real kernel or written by the real
//! tools (`testdata/`), and each has a `never_panics` property test (truncated,
//! bit-flipped and random input from a seeded xorshift; `WIRE_FUZZ_ROUNDS=N` soaks).

// PID 1 never panics: the restriction lints hold for every library crate of the
// workspace (crate attributes rather than `[lints]`, which would reach integration
// tests and benches too; `#[cfg(test)]` code is exempt through clippy.toml).
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::exit
)]

pub mod btrfs;
pub mod bytes;
pub mod crc;
pub mod devname;
pub mod gpt;
pub mod link;
pub mod mbr;
pub mod modalias;
pub mod rtnetlink;
pub mod signature;
pub mod uevent;

/// Why bytes were not accepted. Deliberately small: callers log and drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than the format requires.
    #[error("truncated")]
    Truncated,
    /// A magic number, checksum or required field is wrong.
    #[error("malformed")]
    Malformed,
    /// Well-formed, but not something this parser handles.
    #[error("unsupported")]
    Unsupported,
}

pub type Result<T> = core::result::Result<T, Error>;
