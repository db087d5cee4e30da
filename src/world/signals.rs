//! Signals through a signalfd: SIGCHLD (reap), SIGTERM/SIGINT/SIGUSR1/SIGUSR2/SIGPWR
//! (requests), SIGHUP (logged as `signal.ignored`: nodeboot has nothing to reload, but
//! a sender should see that it arrived). The signals are blocked in the calling thread before any other thread
//! starts, so threads spawned later inherit the mask and only the signalfd sees them.
//! Children get a clean mask back: std's `Command` resets it before exec.

use super::error::{Result, WorldError};
use crate::core::input::{ExitStatus, SignalKind};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// Every signal the loop (and the fallback after it) takes through the mask.
pub const CAUGHT: [Signal; 7] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPWR,
    Signal::SIGHUP,
];

/// [`CAUGHT`] as a signal set (the mask the loop blocks, the set the fallback waits on).
pub fn caught_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in CAUGHT {
        set.add(s);
    }
    set
}

pub struct Signals {
    fd: SignalFd,
}

/// What was read from the signalfd.
#[derive(Debug, PartialEq, Eq)]
pub enum Caught {
    /// One or more children changed state: reap.
    Child,
    /// A request for the core.
    Request(SignalKind),
    /// A signal that asks nothing of nodeboot: logged, nothing else.
    Ignored(&'static str),
}

impl Signals {
    pub fn open() -> Result<Signals> {
        let mask = caught_set();
        mask.thread_block().map_err(|source| WorldError::Signals {
            what: "sigprocmask(SIG_BLOCK)",
            source,
        })?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|source| WorldError::Signals {
                what: "signalfd",
                source,
            })?;
        Ok(Signals { fd })
    }

    pub fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.fd.as_raw_fd()
    }

    /// Read every pending signal; `pid1` decides what SIGTERM/SIGINT mean.
    pub fn drain(&mut self, pid1: bool) -> Result<Vec<Caught>> {
        let mut out = Vec::new();
        loop {
            match self.fd.read_signal() {
                Ok(Some(info)) => {
                    let signo = i32::try_from(info.ssi_signo).unwrap_or(0);
                    if let Some(c) = classify(signo, pid1) {
                        out.push(c);
                    }
                }
                Ok(None) => return Ok(out),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(out),
                Err(source) => {
                    return Err(WorldError::Signals {
                        what: "read(signalfd)",
                        source,
                    });
                }
            }
        }
    }
}

/// The mapping documented on `SignalKind`.
pub fn classify(signo: i32, pid1: bool) -> Option<Caught> {
    let kind = match Signal::try_from(signo).ok()? {
        Signal::SIGCHLD => return Some(Caught::Child),
        Signal::SIGTERM | Signal::SIGINT if pid1 => SignalKind::Reboot,
        Signal::SIGTERM | Signal::SIGINT => SignalKind::Stop,
        Signal::SIGUSR1 => SignalKind::Status,
        // SIGPWR: what UPS daemons and container managers send for a power-off.
        Signal::SIGUSR2 | Signal::SIGPWR => SignalKind::PowerOff,
        Signal::SIGHUP => return Some(Caught::Ignored("SIGHUP")),
        _ => return None,
    };
    Some(Caught::Request(kind))
}

/// Reap children that have exited. As PID 1 every child (orphans are ours too):
/// `waitpid(-1, WNOHANG)` until none is left. Otherwise only the pids we started, so a
/// process embedding the loop (a test) keeps its own children.
pub fn reap(pid1: bool, ours: &[i32]) -> Vec<(i32, ExitStatus)> {
    let mut out = Vec::new();
    if pid1 {
        while let Some(r) = wait_one(-1) {
            out.push(r);
        }
    } else {
        for pid in ours {
            if let Some(r) = wait_one(*pid) {
                out.push(r);
            }
        }
    }
    out
}

/// One `waitpid(pid, WNOHANG)`: the exit of one child, or `None` if none is ready.
fn wait_one(pid: i32) -> Option<(i32, ExitStatus)> {
    loop {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) => return Some((p.as_raw(), ExitStatus::Code(code))),
            Ok(WaitStatus::Signaled(p, sig, _)) => {
                return Some((p.as_raw(), ExitStatus::Signal(sig as i32)));
            }
            Ok(WaitStatus::StillAlive) => return None,
            Ok(_) => return None, // stopped/continued: not an exit
            Err(Errno::EINTR) => continue,
            Err(_) => return None, // ECHILD: no such child
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_mapping_depends_on_pid1() {
        assert_eq!(
            classify(libc::SIGTERM, true),
            Some(Caught::Request(SignalKind::Reboot))
        );
        assert_eq!(
            classify(libc::SIGTERM, false),
            Some(Caught::Request(SignalKind::Stop))
        );
        assert_eq!(
            classify(libc::SIGUSR1, false),
            Some(Caught::Request(SignalKind::Status))
        );
        assert_eq!(
            classify(libc::SIGUSR2, true),
            Some(Caught::Request(SignalKind::PowerOff))
        );
        assert_eq!(classify(libc::SIGCHLD, true), Some(Caught::Child));
        assert_eq!(
            classify(libc::SIGPWR, true),
            Some(Caught::Request(SignalKind::PowerOff))
        );
        assert_eq!(
            classify(libc::SIGPWR, false),
            Some(Caught::Request(SignalKind::PowerOff))
        );
        assert_eq!(
            classify(libc::SIGHUP, true),
            Some(Caught::Ignored("SIGHUP"))
        );
        assert_eq!(classify(libc::SIGWINCH, true), None);
        // Everything classified is in the blocked set (else it would kill PID 1 or be
        // lost to its default action).
        for s in CAUGHT {
            assert!(classify(s as i32, true).is_some(), "{s:?}");
        }
    }
}
