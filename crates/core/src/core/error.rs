//! Why an effect failed, as the core hears it: an errno-like [`ErrorKind`] the core can
//! act on (EBUSY is not EIO), and a message for people naming the object and the cause
//! as the world saw it. The message is what logs and events show; the kind is what code
//! may match on, so wording can change without changing a decision.

use serde::{Deserialize, Serialize};

/// The class of a failure, errno-like. The world maps errnos with
/// [`ErrorKind::from_errno`]; refusals by its own rules are [`ErrorKind::Refused`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No such device, file or module (ENOENT, ENXIO).
    NotFound,
    /// ENODEV. From a mount: the kernel has no such filesystem type registered (its
    /// module is not loaded, or still loading); the core then makes the filesystem
    /// available and retries once ([`fsready`](super::fsready)).
    NoDevice,
    /// In use: mounted, held, opened exclusively elsewhere (EBUSY, ETXTBSY, EAGAIN).
    Busy,
    /// The device or filesystem failed (EIO). A command that exited non-zero is
    /// `Other`: an exit status says nothing errno-like.
    Io,
    /// A deadline passed (the core's own, or ETIMEDOUT).
    TimedOut,
    /// EPERM, EACCES, EROFS.
    PermissionDenied,
    /// ENOSPC, EDQUOT.
    NoSpace,
    /// The request is malformed (EINVAL, a bad name or number).
    Invalid,
    /// The confinement or a safety rule forbids it; nothing was touched.
    Refused,
    /// Not supported here (ENOSYS, EOPNOTSUPP, ENOTTY).
    Unsupported,
    /// Anything else, and every error of a trace written before kinds existed.
    Other,
}

impl ErrorKind {
    /// The kind of a Linux errno number (the generic numbering, which x86-64 and
    /// aarch64 share; the world's tests check it against `nix::Errno`).
    pub fn from_errno(errno: i32) -> ErrorKind {
        match errno {
            2 | 6 => ErrorKind::NotFound,               // ENOENT ENXIO
            19 => ErrorKind::NoDevice,                  // ENODEV
            11 | 16 | 26 => ErrorKind::Busy,            // EAGAIN EBUSY ETXTBSY
            5 => ErrorKind::Io,                         // EIO
            110 => ErrorKind::TimedOut,                 // ETIMEDOUT
            1 | 13 | 30 => ErrorKind::PermissionDenied, // EPERM EACCES EROFS
            28 | 122 => ErrorKind::NoSpace,             // ENOSPC EDQUOT
            20 | 21 | 22 | 36 => ErrorKind::Invalid,    // ENOTDIR EISDIR EINVAL ENAMETOOLONG
            25 | 38 | 95 => ErrorKind::Unsupported,     // ENOTTY ENOSYS EOPNOTSUPP
            _ => ErrorKind::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::NoDevice => "no_device",
            ErrorKind::Busy => "busy",
            ErrorKind::Io => "io",
            ErrorKind::TimedOut => "timed_out",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NoSpace => "no_space",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Refused => "refused",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Other => "other",
        }
    }
}

/// A failed effect: `Err` of an [`EffectResult`](super::input::EffectResult).
///
/// Journals write `{"kind": "busy", "message": "…"}`; a trace written before kinds
/// existed has a plain string there, read as kind [`ErrorKind::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Written")]
pub struct EffectError {
    pub kind: ErrorKind,
    pub message: String,
}

/// What a trace may hold where an effect error goes.
#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Typed { kind: ErrorKind, message: String },
    Text(String),
}

impl From<Written> for EffectError {
    fn from(w: Written) -> EffectError {
        match w {
            Written::Typed { kind, message } => EffectError { kind, message },
            Written::Text(message) => EffectError::other(message),
        }
    }
}

impl EffectError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> EffectError {
        EffectError {
            kind,
            message: message.into(),
        }
    }

    pub fn other(message: impl Into<String>) -> EffectError {
        EffectError::new(ErrorKind::Other, message)
    }

    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == kind
    }
}

/// The message alone: what every log line and event showed before kinds existed.
impl std::fmt::Display for EffectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EffectError {}

/// A bare message is kind `Other`, as in an old trace (hand-written failures in tests).
impl From<String> for EffectError {
    fn from(message: String) -> EffectError {
        EffectError::other(message)
    }
}

impl From<&str> for EffectError {
    fn from(message: &str) -> EffectError {
        EffectError::other(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_with_its_kind_and_read_back() {
        let e = EffectError::new(ErrorKind::Busy, "sda is mounted");
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(text, r#"{"kind":"busy","message":"sda is mounted"}"#);
        assert_eq!(serde_json::from_str::<EffectError>(&text).unwrap(), e);
        assert_eq!(e.to_string(), "sda is mounted");
    }

    #[test]
    fn a_plain_string_of_an_old_trace_is_kind_other() {
        let e: EffectError = serde_json::from_str(r#""EIO""#).unwrap();
        assert_eq!(e, EffectError::new(ErrorKind::Other, "EIO"));
        let r: Result<(), EffectError> = serde_json::from_str(r#"{"Err":"x"}"#).unwrap();
        assert_eq!(r.unwrap_err().kind, ErrorKind::Other);
        assert!(serde_json::from_str::<EffectError>(r#"{"kind":"nope","message":"x"}"#).is_err());
    }

    #[test]
    fn errnos_by_kind() {
        assert_eq!(ErrorKind::from_errno(16), ErrorKind::Busy);
        assert_eq!(ErrorKind::from_errno(5), ErrorKind::Io);
        assert_eq!(ErrorKind::from_errno(2), ErrorKind::NotFound);
        assert_eq!(ErrorKind::from_errno(19), ErrorKind::NoDevice);
        assert_eq!(ErrorKind::NoDevice.as_str(), "no_device");
        assert_eq!(ErrorKind::from_errno(9999), ErrorKind::Other);
        let json = serde_json::to_string(&ErrorKind::PermissionDenied).unwrap();
        assert_eq!(
            json,
            format!("\"{}\"", ErrorKind::PermissionDenied.as_str())
        );
    }
}
