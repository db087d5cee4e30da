//! Private stand-ins for the vm helper's `world::init` (`prepare_pid1`, `power`) until
//! they land on main: mount the API filesystems, and end the node on request.

use crate::core::action::ShutdownKind;
use nix::mount::{MsFlags, mount};
use std::path::Path;

/// Mount /proc, /sys, /dev (devtmpfs) and /run (tmpfs) where they are not mounted.
pub fn prepare_pid1() -> Vec<String> {
    let mut errors = Vec::new();
    for (fstype, target, marker) in [
        ("proc", "/proc", "/proc/self"),
        ("sysfs", "/sys", "/sys/kernel"),
        ("devtmpfs", "/dev", "/dev/null"),
        ("tmpfs", "/run", ""),
    ] {
        if !marker.is_empty() && Path::new(marker).exists() {
            continue;
        }
        let _ = std::fs::create_dir_all(target);
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
        let flags = if fstype == "devtmpfs" {
            MsFlags::MS_NOSUID
        } else {
            flags
        };
        if let Err(e) = mount(Some(fstype), target, Some(fstype), flags, None::<&str>)
            && e != nix::errno::Errno::EBUSY
        {
            errors.push(format!("mount {fstype} on {target}: {e}"));
        }
    }
    errors
}

/// Sync, then reboot or power off. If the kernel refuses, keep reaping forever.
pub fn power(kind: ShutdownKind) -> ! {
    use nix::sys::reboot::{RebootMode, reboot};
    nix::unistd::sync();
    let mode = match kind {
        ShutdownKind::Reboot => RebootMode::RB_AUTOBOOT,
        ShutdownKind::PowerOff | ShutdownKind::Exit => RebootMode::RB_POWER_OFF,
    };
    let _ = reboot(mode);
    super::reap_forever()
}
