//! Children must not inherit the loop's blocked signal mask (std's `Command` keeps
//! it: a DHCP client would never see SIGTERM). The mask is cleared in the child,
//! between fork and exec.
#![allow(unsafe_code)]

use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use std::os::unix::process::CommandExt;
use std::process::Command;

pub fn clear_signal_mask_in_child(cmd: &mut Command) {
    let empty = SigSet::empty();
    // SAFETY: the closure runs in the forked child before exec. It only calls
    // sigprocmask(2), which is async-signal-safe, on a set built before the fork
    // (no allocation, no lock taken in the child).
    unsafe {
        cmd.pre_exec(move || {
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&empty), None).map_err(std::io::Error::from)
        });
    }
}
