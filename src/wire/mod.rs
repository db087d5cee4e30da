//! Wire formats: bytes in, typed values out. No IO, no state, no panics.
//!
//! Every parser here takes a byte slice it does not trust (a netlink datagram, the
//! first and last sectors of a disk) and returns either a typed value or the one
//! tiny [`Error`]: at this layer a parse failure just means "drop it" (smoltcp's
//! contract). Each module is fuzzed (`fuzz/`).

pub mod btrfs;
pub mod bytes;
pub mod crc;
pub mod gpt;
pub mod mbr;
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
