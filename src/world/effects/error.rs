//! Why an effect failed or was refused. The loop reports it to the core as the
//! `Err(String)` of an `EffectResult`, so each message names the object and the cause.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    /// The confinement forbids it (device not allow-listed, path outside the root).
    #[error("refused: {0}")]
    Refused(String),
    /// A dry run never writes.
    #[error("dry run: would {0}")]
    DryRun(String),
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

impl EffectError {
    pub fn io(op: &'static str, path: &Path, source: std::io::Error) -> EffectError {
        EffectError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn sys(op: &'static str, object: impl Into<String>, errno: nix::errno::Errno) -> Self {
        EffectError::Sys {
            op,
            object: object.into(),
            errno,
        }
    }
}

pub type Result<T> = std::result::Result<T, EffectError>;
