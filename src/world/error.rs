//! The world's errors. Each variant names the syscall (or step) and the object it was
//! applied to, so a log line is enough to find the cause. None of them ends the loop:
//! the loop logs them (`world.error`) and goes on without the failed part.

use super::errno::{errno_kind, io_kind};
use crate::core::input::{EffectError, ErrorKind};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// Creating the mio poll instance or registering a source with it.
    #[error("epoll ({what}): {source}")]
    Poll {
        what: &'static str,
        source: std::io::Error,
    },
    /// socket/bind/setsockopt on a netlink socket.
    #[error("netlink {what} ({socket}): {source}")]
    Netlink {
        what: &'static str,
        socket: &'static str,
        source: std::io::Error,
    },
    /// recvfrom on a netlink socket (other than EAGAIN/ENOBUFS).
    #[error("recvfrom ({socket}): {source}")]
    Recv {
        socket: &'static str,
        source: std::io::Error,
    },
    /// sigprocmask / signalfd / read on the signalfd.
    #[error("signalfd ({what}): {source}")]
    Signals {
        what: &'static str,
        source: nix::Error,
    },
    /// fork/exec of a child.
    #[error("spawn {argv0:?}: {source}")]
    Spawn {
        argv0: String,
        source: std::io::Error,
    },
    /// killpg on a child's process group.
    #[error("killpg({pgid}, {signal}): {source}")]
    Kill {
        pgid: i32,
        signal: &'static str,
        source: nix::Error,
    },
    /// Reading a sysfs file during a scan.
    #[error("read {path:?}: {source}")]
    Sysfs {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Opening or writing a log sink.
    #[error("log sink {path:?} ({what}): {source}")]
    LogSink {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Opening or writing the `--record` journal.
    #[error("journal {path:?}: {source}")]
    Journal {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Starting the worker thread.
    /// A log sink that could not be set up (the others work without it).
    #[error("log sink: {0}")]
    Setup(String),
    #[error("worker thread: {source}")]
    Worker { source: std::io::Error },
    /// The clock could not be read.
    #[error("clock_gettime(CLOCK_BOOTTIME): {source}")]
    Clock { source: nix::Error },
    /// `nodeboot.debug.fail_after` (fault injection): the loop fails on purpose, to
    /// test PID 1's fallback.
    #[error("fault injection: nodeboot.debug.fail_after={after_s}")]
    Injected { after_s: u64 },
}

impl WorldError {
    /// The errno-like kind, for an effect that failed with this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            WorldError::Poll { source, .. }
            | WorldError::Netlink { source, .. }
            | WorldError::Recv { source, .. }
            | WorldError::Spawn { source, .. }
            | WorldError::Sysfs { source, .. }
            | WorldError::LogSink { source, .. }
            | WorldError::Journal { source, .. }
            | WorldError::Worker { source } => io_kind(source),
            WorldError::Signals { source, .. }
            | WorldError::Kill { source, .. }
            | WorldError::Clock { source } => errno_kind(*source),
            WorldError::Setup(_) | WorldError::Injected { .. } => ErrorKind::Other,
        }
    }
}

impl From<WorldError> for EffectError {
    fn from(e: WorldError) -> EffectError {
        EffectError::new(e.kind(), e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, WorldError>;
