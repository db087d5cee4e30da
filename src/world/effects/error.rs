//! Why an effect failed, as the world code that carries it out sees it. Each message
//! names the object and the cause; the loop hands it to the core as an
//! [`EffectError`] whose kind comes from the variant (and the errno, where one exists).

use crate::core::input::{EffectError, ErrorKind};
use crate::world::errno::{errno_kind, io_kind};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The confinement or a safety rule forbids it (device not allow-listed, path
    /// outside the root, a table that is not nodeboot's).
    #[error("refused: {0}")]
    Refused(String),
    /// The device is mounted, held, or could not be opened exclusively.
    #[error("busy: {0}")]
    Busy(String),
    /// The request itself is malformed (bad name, bad number).
    #[error("invalid: {0}")]
    Invalid(String),
    /// A filesystem call failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// An ioctl or other syscall failed.
    #[error("{op} {object}: {errno}")]
    Sys {
        op: &'static str,
        object: String,
        errno: nix::errno::Errno,
    },
    /// The partition table could not be read or written.
    #[error("gpt on {disk}: {reason}")]
    Gpt { disk: String, reason: String },
}

impl Failure {
    pub fn io(op: &'static str, path: &Path, source: std::io::Error) -> Failure {
        Failure::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn sys(op: &'static str, object: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Failure::Sys {
            op,
            object: object.into(),
            errno,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Failure::Refused(_) => ErrorKind::Refused,
            Failure::Busy(_) => ErrorKind::Busy,
            Failure::Invalid(_) => ErrorKind::Invalid,
            Failure::Io { source, .. } => io_kind(source),
            Failure::Sys { errno, .. } => errno_kind(*errno),
            Failure::Gpt { .. } => ErrorKind::Other,
        }
    }
}

impl From<Failure> for EffectError {
    fn from(f: Failure) -> EffectError {
        EffectError::new(f.kind(), f.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Failure>;
