//! The kind of an OS error, for the core's [`EffectError`]: the errno when there is
//! one ([`ErrorKind::from_errno`]), else what `std` made of it.

use crate::core::input::{EffectError, ErrorKind};

/// The kind of an `io::Error`: its errno, or (no errno) its `std` kind.
pub fn io_kind(e: &std::io::Error) -> ErrorKind {
    use std::io::ErrorKind as Io;
    if let Some(errno) = e.raw_os_error() {
        return ErrorKind::from_errno(errno);
    }
    match e.kind() {
        Io::NotFound => ErrorKind::NotFound,
        Io::PermissionDenied | Io::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
        Io::TimedOut => ErrorKind::TimedOut,
        Io::InvalidInput | Io::InvalidData => ErrorKind::Invalid,
        Io::ResourceBusy | Io::WouldBlock => ErrorKind::Busy,
        Io::StorageFull => ErrorKind::NoSpace,
        Io::Unsupported => ErrorKind::Unsupported,
        _ => ErrorKind::Other,
    }
}

pub fn errno_kind(e: nix::errno::Errno) -> ErrorKind {
    ErrorKind::from_errno(e as i32)
}

/// `message` with the kind of `e`.
pub fn from_io(e: &std::io::Error, message: String) -> EffectError {
    EffectError::new(io_kind(e), message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn the_core_numbers_are_this_kernel_s() {
        let expected = [
            (Errno::ENOENT, ErrorKind::NotFound),
            (Errno::ENXIO, ErrorKind::NotFound),
            (Errno::ENODEV, ErrorKind::NoDevice),
            (Errno::EAGAIN, ErrorKind::Busy),
            (Errno::EBUSY, ErrorKind::Busy),
            (Errno::ETXTBSY, ErrorKind::Busy),
            (Errno::EIO, ErrorKind::Io),
            (Errno::ETIMEDOUT, ErrorKind::TimedOut),
            (Errno::EPERM, ErrorKind::PermissionDenied),
            (Errno::EACCES, ErrorKind::PermissionDenied),
            (Errno::EROFS, ErrorKind::PermissionDenied),
            (Errno::ENOSPC, ErrorKind::NoSpace),
            (Errno::EDQUOT, ErrorKind::NoSpace),
            (Errno::ENOTDIR, ErrorKind::Invalid),
            (Errno::EISDIR, ErrorKind::Invalid),
            (Errno::EINVAL, ErrorKind::Invalid),
            (Errno::ENAMETOOLONG, ErrorKind::Invalid),
            (Errno::ENOTTY, ErrorKind::Unsupported),
            (Errno::ENOSYS, ErrorKind::Unsupported),
            (Errno::EOPNOTSUPP, ErrorKind::Unsupported),
            (Errno::ECONNREFUSED, ErrorKind::Other),
        ];
        for (errno, kind) in expected {
            assert_eq!(errno_kind(errno), kind, "{errno}");
            assert_eq!(io_kind(&std::io::Error::from(errno)), kind, "{errno}");
        }
        let custom = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        assert_eq!(io_kind(&custom), ErrorKind::NotFound);
    }
}
