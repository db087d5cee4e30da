//! The hardware watchdog (`/dev/watchdog`): opened by the loop of PID 1 only, petted
//! from the loop itself, so that a loop that hangs (a stuck syscall, a livelock)
//! stops petting and the hardware resets the node instead of leaving it dark.
//!
//! Opening the device arms it. The timeout is asked of the driver with
//! `WDIOC_SETTIMEOUT` (the driver may round it; `WDIOC_GETTIMEOUT` says what it
//! took) and the loop pets every third of it (`WDIOC_KEEPALIVE`, or a write where the
//! ioctl is missing). On a power-off the magic close (`V`) disarms it first; on a
//! reboot it stays armed, so a reboot that hangs is finished by the hardware.
//! Confined and non-PID-1 runs never open it (see `options::Settings::watchdog`).

// The watchdog ioctls (linux/watchdog.h) through nix's macros, as BLKPG in
// effects/partition.rs: each call passes a valid fd and a pointer to a local int.
#![allow(unsafe_code)]

use crate::time::Instant;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::Duration;

mod ioctl {
    nix::ioctl_read!(wdioc_keepalive, b'W', 5, libc::c_int);
    nix::ioctl_readwrite!(wdioc_settimeout, b'W', 6, libc::c_int);
    nix::ioctl_read!(wdioc_gettimeout, b'W', 7, libc::c_int);
}

/// The device PID 1 looks for.
pub const DEVICE: &str = "/dev/watchdog";
/// PID 1 looks for the device this long after its start: a watchdog driver is often
/// a module, loaded by its modalias during the coldplug.
pub const LOOK_FOR: Duration = Duration::from_secs(120);
/// How often it looks meanwhile.
pub const RETRY: Duration = Duration::from_secs(2);

pub struct Watchdog {
    file: File,
    pub device: String,
    /// What the driver runs with (after rounding).
    pub timeout: Duration,
    /// Whether the driver took the timeout we asked for (`WDIOC_SETTIMEOUT` worked).
    pub timeout_set: bool,
    next_pet: Instant,
}

impl Watchdog {
    /// Open and arm `device`; `Ok(None)` when there is no such device.
    pub fn open(device: &str, want: Duration, now: Instant) -> Result<Option<Watchdog>, String> {
        let file = match std::fs::OpenOptions::new().write(true).open(device) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("open {device}: {e}")),
        };
        let mut secs = libc::c_int::try_from(want.as_secs()).unwrap_or(libc::c_int::MAX);
        // SAFETY: a valid open fd and a pointer to a local c_int, as the ioctl expects.
        let timeout_set = unsafe { ioctl::wdioc_settimeout(file.as_raw_fd(), &mut secs) }.is_ok();
        let mut got: libc::c_int = 0;
        // SAFETY: as above.
        let timeout = match unsafe { ioctl::wdioc_gettimeout(file.as_raw_fd(), &mut got) } {
            Ok(_) if got > 0 => Duration::from_secs(u64::try_from(got).unwrap_or(1)),
            // A driver that tells nothing: assume the timeout we asked for, and pet
            // often anyway.
            _ => want,
        };
        let mut dog = Watchdog {
            file,
            device: device.to_owned(),
            timeout,
            timeout_set,
            next_pet: now,
        };
        dog.pet(now)?;
        Ok(Some(dog))
    }

    /// Pet every third of the timeout (at least once a second).
    pub fn interval(&self) -> Duration {
        (self.timeout / 3).max(Duration::from_secs(1))
    }

    /// When the loop must wake up to pet next.
    pub fn due(&self) -> Instant {
        self.next_pet
    }

    /// Pet if due; an error is returned once (the caller logs it).
    pub fn pet_if_due(&mut self, now: Instant) -> Result<(), String> {
        if now < self.next_pet {
            return Ok(());
        }
        self.pet(now)
    }

    fn pet(&mut self, now: Instant) -> Result<(), String> {
        self.next_pet = now + self.interval();
        let mut dummy: libc::c_int = 0;
        // SAFETY: a valid open fd and a pointer to a local c_int.
        if unsafe { ioctl::wdioc_keepalive(self.file.as_raw_fd(), &mut dummy) }.is_ok() {
            return Ok(());
        }
        self.file
            .write_all(b"\0")
            .map_err(|e| format!("pet {}: {e}", self.device))
    }

    /// The magic close: the driver stops the timer when the file is closed after a
    /// `V` (unless it was built with `nowayout`).
    pub fn disarm(mut self) -> Result<(), String> {
        self.file
            .write_all(b"V")
            .map_err(|e| format!("magic close {}: {e}", self.device))
    }
}
