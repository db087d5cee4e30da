//! Where PID 1 goes when its loop cannot run or fails: it keeps reaping, and still
//! reboots or powers off on request, so a node whose loop died can be restarted
//! normally (`reboot`, a UPS daemon's SIGPWR, Ctrl-Alt-Del) instead of only by a
//! power cycle.
//!
//! The signals of `signals::Signals` stay blocked and are taken with `sigwait`, one
//! at a time: SIGCHLD reaps every exited child, SIGTERM/SIGINT (Ctrl-Alt-Del) sync and
//! reboot, SIGUSR2/SIGPWR sync and power off (after `kill(-1)` TERM, 2 s, KILL),
//! anything else is ignored. With
//! `nodeboot.emergency=shell` on the kernel command line, a shell runs on
//! `/dev/console` and is started again when it exits (at most once a second), so an
//! operator at the console can look at what failed.

use super::signals::{Caught, classify};
use crate::core::action::ShutdownKind;
use crate::core::input::SignalKind;
use nix::errno::Errno;
use nix::sys::signal::SigSet;
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The shell of `nodeboot.emergency=shell`.
pub const SHELL: &str = "/bin/sh";

/// The signals the fallback waits for (the loop's set, so nothing is lost between).
pub fn signal_set() -> SigSet {
    super::signals::caught_set()
}

/// What a signal means to the fallback: reap, power, or nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Reap,
    Power(ShutdownKind),
    Ignore,
}

/// PID 1's meaning of each signal, without the loop.
pub fn decide(signo: i32) -> Decision {
    match classify(signo, true) {
        Some(Caught::Child) => Decision::Reap,
        Some(Caught::Request(SignalKind::Reboot)) => Decision::Power(ShutdownKind::Reboot),
        Some(Caught::Request(SignalKind::PowerOff)) => Decision::Power(ShutdownKind::PowerOff),
        _ => Decision::Ignore,
    }
}

/// Never returns. `emergency_shell`: keep a shell on the console.
pub fn run(emergency_shell: bool) -> ! {
    let set = signal_set();
    // Blocked already when the loop opened its signalfd; again in case it never did.
    if let Err(e) = set.thread_block() {
        eprintln!("nodeboot: fallback: sigprocmask: {e}");
    }
    let mut shell = Shell::new(emergency_shell);
    shell.ensure();
    loop {
        // Children may have exited before the first wait: reap first, every turn.
        for pid in reap_all() {
            shell.exited(pid);
        }
        shell.ensure();
        let signal = match set.wait() {
            Ok(s) => s,
            Err(_) => {
                // sigwait only fails on a bad set: do not spin.
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        match decide(signal as i32) {
            Decision::Reap | Decision::Ignore => {}
            Decision::Power(kind) => {
                eprintln!("nodeboot: fallback: {signal:?}: {kind:?}");
                stop_everything();
                // Returns only if reboot(2) failed (then it reaps forever).
                super::init::power(kind);
            }
        }
    }
}

/// Without the loop there is no service order to keep: `kill(-1, SIGTERM)`, reap for
/// up to [`STRAGGLER_GRACE`], `kill(-1, SIGKILL)`, so that files are closed before
/// the sync.
fn stop_everything() {
    use nix::sys::signal::{Signal, kill};
    if std::process::id() != 1 {
        return; // kill(-1) outside PID 1 would signal every process of the user
    }
    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
    let until = Instant::now() + STRAGGLER_GRACE;
    while Instant::now() < until {
        reap_all();
        // ECHILD: nothing left to wait for.
        if matches!(
            waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)),
            Err(Errno::ECHILD)
        ) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    reap_all();
}

/// Between `kill(-1, SIGTERM)` and `kill(-1, SIGKILL)` in the fallback.
const STRAGGLER_GRACE: Duration = Duration::from_secs(2);

/// Every exited child, reaped (the loop's reaper, as PID 1: any child).
fn reap_all() -> Vec<i32> {
    super::signals::reap(true, &[])
        .into_iter()
        .map(|(pid, _)| pid)
        .collect()
}

/// The emergency shell, respawned at most once a second.
struct Shell {
    enabled: bool,
    pid: Option<i32>,
    last_start: Option<Instant>,
}

impl Shell {
    fn new(enabled: bool) -> Shell {
        Shell {
            enabled,
            pid: None,
            last_start: None,
        }
    }

    fn exited(&mut self, pid: i32) {
        if self.pid == Some(pid) {
            self.pid = None;
        }
    }

    fn ensure(&mut self) {
        if !self.enabled || self.pid.is_some() {
            return;
        }
        if let Some(t) = self.last_start
            && t.elapsed() < Duration::from_secs(1)
        {
            // Too soon: SIGCHLD of the next exit, or any signal, brings us back; a
            // shell that dies at once is retried at most once a second.
            std::thread::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()));
        }
        self.last_start = Some(Instant::now());
        match console_shell() {
            Ok(pid) => {
                eprintln!("nodeboot: emergency shell on /dev/console (pid {pid})");
                self.pid = Some(pid);
            }
            Err(e) => {
                eprintln!("nodeboot: emergency shell: {e}");
                // No shell binary: do not retry forever at 1 Hz.
                self.enabled = false;
            }
        }
    }
}

/// `/bin/sh` on `/dev/console` (std's `Command` resets the signal mask).
fn console_shell() -> Result<i32, String> {
    let console = |what| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/console")
            .map(Stdio::from)
            .map_err(|e| format!("open /dev/console for {what}: {e}"))
    };
    let child = Command::new(SHELL)
        .stdin(console("stdin")?)
        .stdout(console("stdout")?)
        .stderr(console("stderr")?)
        .env("PS1", "nodeboot-emergency# ")
        .spawn()
        .map_err(|e| format!("{SHELL}: {e}"))?;
    i32::try_from(child.id()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    #[test]
    fn every_power_signal_still_works_without_the_loop() {
        assert_eq!(decide(libc::SIGCHLD), Decision::Reap);
        assert_eq!(decide(libc::SIGTERM), Decision::Power(ShutdownKind::Reboot));
        // Ctrl-Alt-Del reaches PID 1 as SIGINT.
        assert_eq!(decide(libc::SIGINT), Decision::Power(ShutdownKind::Reboot));
        assert_eq!(
            decide(libc::SIGUSR2),
            Decision::Power(ShutdownKind::PowerOff)
        );
        assert_eq!(
            decide(libc::SIGPWR),
            Decision::Power(ShutdownKind::PowerOff)
        );
        assert_eq!(decide(libc::SIGHUP), Decision::Ignore);
        assert_eq!(decide(libc::SIGUSR1), Decision::Ignore);
        for s in [
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGUSR2,
        ] {
            assert!(signal_set().contains(s));
        }
        assert!(signal_set().contains(Signal::SIGPWR));
    }
}
