//! PID-1 duties that are not the loop's: the pseudo-filesystems and console a bare
//! kernel hands over without, powering off or rebooting, and the last-resort reaper.
//!
//! The kernel runs `/init` with no mounts but the initramfs, possibly no open
//! stdin/stdout/stderr (when the archive has no `/dev/console`), and an environment of
//! `HOME=/ TERM=linux` (no `PATH`). [`prepare_pid1`] fixes all of that (and turns
//! Ctrl-Alt-Del into SIGINT for PID 1, as every init does) and reports what it could
//! not fix; it never panics, and each step is skipped when already done (a
//! `/dev` the kernel automounted, a `/run` an outer init made). The mount plan is data
//! ([`mount_plan`]) so that it is tested without being PID 1.
//!
//! PID 1 must never exit (the kernel panics): [`power`] only returns when nodeboot is
//! not PID 1, and [`reap_forever`] is where PID 1 ends up if powering off fails.

// `std::env::set_var` is unsafe since edition 2024; PID 1 sets PATH once, before any
// thread exists (see `ensure_path`).
#![allow(unsafe_code)]

use crate::core::action::ShutdownKind;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl, open};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, dup2_stderr, dup2_stdin, dup2_stdout};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

/// The `PATH` PID 1 gives itself and its children when the kernel gave none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One filesystem PID 1 mounts when its target is not a mount point yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountSpec {
    pub source: &'static str,
    pub target: &'static str,
    pub fstype: &'static str,
    pub flags: MsFlags,
    pub data: &'static str,
}

/// What PID 1 mounts, in order (parents before children: `/dev` before `/dev/pts`).
/// `/var/log` is a tmpfs until the cache's log subvolume is mounted over it; what was
/// written there is copied into the subvolume then.
pub fn mount_plan() -> Vec<MountSpec> {
    let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    vec![
        MountSpec {
            source: "proc",
            target: "/proc",
            fstype: "proc",
            flags: nosuid_nodev_noexec,
            data: "",
        },
        MountSpec {
            source: "sysfs",
            target: "/sys",
            fstype: "sysfs",
            flags: nosuid_nodev_noexec,
            data: "",
        },
        MountSpec {
            source: "devtmpfs",
            target: "/dev",
            fstype: "devtmpfs",
            flags: MsFlags::MS_NOSUID,
            data: "mode=0755",
        },
        MountSpec {
            source: "devpts",
            target: "/dev/pts",
            fstype: "devpts",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            data: "gid=5,mode=0620,ptmxmode=0666",
        },
        MountSpec {
            source: "tmpfs",
            target: "/run",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: "mode=0755",
        },
        MountSpec {
            source: "tmpfs",
            target: "/var/log",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: "mode=0755",
        },
    ]
}

/// The mount points listed in a `/proc/self/mounts` text (octal escapes decoded).
pub fn mount_points(proc_mounts: &str) -> Vec<String> {
    proc_mounts
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .map(unescape_mount_field)
        .collect()
}

/// `/proc/self/mounts` writes space, tab, newline and backslash as `\040` etc.
fn unescape_mount_field(field: &str) -> String {
    super::effects::mountinfo::unescape(field)
}

/// The specs of `plan` whose target is not already mounted.
pub fn missing_mounts(plan: &[MountSpec], mounted: &[String]) -> Vec<MountSpec> {
    plan.iter()
        .filter(|spec| needs_mount(spec, mounted))
        .cloned()
        .collect()
}

fn needs_mount(spec: &MountSpec, mounted: &[String]) -> bool {
    !mounted.iter().any(|m| m == spec.target)
}

/// Make a bare kernel's process environment fit for PID 1: mount the pseudo-filesystems
/// that are missing, give stdin/stdout/stderr the console if they are closed, and set
/// `PATH` if the kernel gave none. Returns the problems met (each one line), never
/// panics; an empty list means everything is in place.
///
/// Does nothing unless this process is PID 1: `nodeboot init` run by hand on a
/// developer machine must not mount a tmpfs over the host's `/var/log`.
pub fn prepare_pid1() -> Vec<String> {
    if std::process::id() != 1 {
        return vec!["not PID 1: no filesystem mounted, console left alone".into()];
    }
    let mut problems = Vec::new();
    for spec in mount_plan() {
        // Re-read every time: /proc itself is the first mount of the plan.
        let mounted = std::fs::read_to_string("/proc/self/mounts")
            .map(|text| mount_points(&text))
            .unwrap_or_default();
        if !needs_mount(&spec, &mounted) {
            continue;
        }
        if let Err(problem) = mount_one(&spec) {
            problems.push(problem);
        }
    }
    problems.extend(ensure_console());
    ensure_path();
    // Ctrl-Alt-Del becomes SIGINT to PID 1 (an orderly reboot through the loop)
    // instead of an immediate kernel restart with nothing synced.
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        problems.push(format!("disable Ctrl-Alt-Del: {e}"));
    }
    problems
}

fn mount_one(spec: &MountSpec) -> Result<(), String> {
    if let Err(e) = std::fs::create_dir_all(spec.target) {
        return Err(format!("mkdir {}: {e}", spec.target));
    }
    let data = Some(spec.data).filter(|d| !d.is_empty());
    match mount(
        Some(spec.source),
        spec.target,
        Some(spec.fstype),
        spec.flags,
        data,
    ) {
        // EBUSY: something is mounted there already (a /proc we could not read).
        Ok(()) | Err(Errno::EBUSY) => Ok(()),
        Err(e) => Err(format!(
            "mount {} on {} ({}): {e}",
            spec.source, spec.target, spec.fstype
        )),
    }
}

/// Open `/dev/console` on whichever of fds 0, 1, 2 are closed.
fn ensure_console() -> Vec<String> {
    let closed: Vec<i32> = (0..3).filter(|fd| !fd_is_open(*fd)).collect();
    if closed.is_empty() {
        return Vec::new();
    }
    let console = match open(
        "/dev/console",
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            return vec![format!(
                "open /dev/console: {e} (fds {closed:?} stay closed)"
            )];
        }
    };
    let mut problems = Vec::new();
    for fd in closed {
        let result = match fd {
            0 => dup2_stdin(&console),
            1 => dup2_stdout(&console),
            _ => dup2_stderr(&console),
        };
        if let Err(e) = result {
            problems.push(format!("dup2 /dev/console to fd {fd}: {e}"));
        }
    }
    // `console` may itself have landed on one of 0..3 (the lowest free fd): keep it
    // then, it is that standard stream now.
    if (0..3).any(|fd| fd == std::os::fd::AsRawFd::as_raw_fd(&console)) {
        std::mem::forget(console);
    }
    problems
}

fn fd_is_open(fd: i32) -> bool {
    // SAFETY: the fd is only borrowed for the duration of one fcntl(F_GETFD), which
    // neither closes nor takes ownership of it; EBADF just means it is closed.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    fcntl(borrowed.as_fd(), FcntlArg::F_GETFD).is_ok()
}

/// The kernel starts init without `PATH`; children (udhcpc, its script, services)
/// need one to find `ip`, `modprobe` and friends.
fn ensure_path() {
    if std::env::var_os("PATH").is_none() {
        // SAFETY: called by PID 1 from `prepare_pid1`, before the loop starts any
        // thread, so no other thread can be reading the environment.
        unsafe { std::env::set_var("PATH", DEFAULT_PATH) };
    }
}

/// The `reboot(2)` command for a shutdown request. `Exit` as PID 1 means power off:
/// PID 1 has nothing to exit to.
pub fn reboot_mode(kind: ShutdownKind) -> nix::sys::reboot::RebootMode {
    use nix::sys::reboot::RebootMode;
    match kind {
        ShutdownKind::Reboot => RebootMode::RB_AUTOBOOT,
        ShutdownKind::PowerOff | ShutdownKind::Exit => RebootMode::RB_POWER_OFF,
    }
}

/// Sync, then power off or reboot. Only PID 1 does this: any other process returns
/// at once (a live run on a developer machine must never power the host off), and the
/// caller ends its run. As PID 1 this never returns: if `reboot(2)` fails, it reaps
/// forever rather than let `main` return (the kernel panics when PID 1 exits).
pub fn power(kind: ShutdownKind) {
    if std::process::id() != 1 {
        return;
    }
    // Bounded: a disk that hangs must not keep the node from rebooting. After the
    // loop's shutdown (which synced, and logged it) this returns at once.
    sync_within(SYNC_DEADLINE);
    let mode = reboot_mode(kind);
    // reboot(2) only comes back with an error (its Ok type is uninhabited).
    let Err(e) = nix::sys::reboot::reboot(mode);
    eprintln!("nodeboot: reboot({mode:?}) failed: {e}; reaping children forever");
    reap_forever()
}

/// How long a shutdown waits for `sync(2)`: a disk that hangs must not keep the node
/// from rebooting (the kernel flushes what it can on the way down anyway).
pub const SYNC_DEADLINE: Duration = Duration::from_secs(10);

/// `sync(2)`, waited for at most `deadline` (a sync stuck on a hung disk is left
/// behind): true if it returned in time. Without a thread to spare, synced here.
pub fn sync_within(deadline: Duration) -> bool {
    match super::within::within("nodeboot-sync", deadline, nix::unistd::sync) {
        Ok(()) => true,
        Err(super::within::Missed::Late) => false,
        Err(super::within::Missed::NoThread(_)) => {
            nix::unistd::sync();
            true
        }
    }
}

/// PID 1's last resort: reap every child forever. Sleeps when there are none (so a
/// child adopted later is still reaped within a second).
pub fn reap_forever() -> ! {
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_MOUNTS: &str = "\
/dev/vda / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
devtmpfs /dev devtmpfs rw,nosuid,size=4096k,mode=755 0 0
tmpfs /mnt/with\\040space tmpfs rw 0 0
";

    #[test]
    fn mount_plan_puts_parents_first_and_covers_the_pid1_filesystems() {
        let plan = mount_plan();
        let targets: Vec<&str> = plan.iter().map(|s| s.target).collect();
        assert_eq!(
            targets,
            ["/proc", "/sys", "/dev", "/dev/pts", "/run", "/var/log"]
        );
        // Every target's parent mount (if it is in the plan) comes earlier.
        for (i, spec) in plan.iter().enumerate() {
            for (j, other) in plan.iter().enumerate() {
                if spec.target.starts_with(&format!("{}/", other.target)) {
                    assert!(j < i, "{} must come after {}", spec.target, other.target);
                }
            }
        }
        let dev = plan.iter().find(|s| s.target == "/dev").unwrap();
        assert_eq!(dev.fstype, "devtmpfs");
        assert!(
            !dev.flags.contains(MsFlags::MS_NODEV),
            "/dev needs device nodes"
        );
        let log = plan.iter().find(|s| s.target == "/var/log").unwrap();
        assert_eq!(log.fstype, "tmpfs");
    }

    #[test]
    fn mount_points_are_read_and_unescaped() {
        let points = mount_points(HOST_MOUNTS);
        assert_eq!(
            points,
            ["/", "/proc", "/sys", "/dev", "/mnt/with space"].map(String::from)
        );
        assert_eq!(mount_points(""), Vec::<String>::new());
        assert_eq!(mount_points("garbage\n"), Vec::<String>::new());
        assert_eq!(unescape_mount_field("a\\134b\\011"), "a\\b\t");
        assert_eq!(unescape_mount_field("trailing\\04"), "trailing\\04");
    }

    #[test]
    fn only_missing_mounts_are_made() {
        let missing = missing_mounts(&mount_plan(), &mount_points(HOST_MOUNTS));
        let targets: Vec<&str> = missing.iter().map(|s| s.target).collect();
        assert_eq!(targets, ["/dev/pts", "/run", "/var/log"]);
        let all = missing_mounts(&mount_plan(), &[]);
        assert_eq!(all.len(), mount_plan().len());
    }

    #[test]
    fn shutdown_kinds_map_to_reboot_modes() {
        use nix::sys::reboot::RebootMode;
        assert_eq!(reboot_mode(ShutdownKind::Reboot), RebootMode::RB_AUTOBOOT);
        assert_eq!(
            reboot_mode(ShutdownKind::PowerOff),
            RebootMode::RB_POWER_OFF
        );
        assert_eq!(reboot_mode(ShutdownKind::Exit), RebootMode::RB_POWER_OFF);
    }

    #[test]
    fn prepare_pid1_touches_nothing_when_not_pid1() {
        assert_ne!(std::process::id(), 1);
        let problems = prepare_pid1();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems.iter().all(|p| p.contains("not PID 1")));
    }

    #[test]
    fn power_returns_when_not_pid1() {
        // Test processes are never PID 1: this must return instead of powering off.
        assert_ne!(std::process::id(), 1);
        power(ShutdownKind::PowerOff);
    }

    #[test]
    fn open_standard_streams_are_detected() {
        // The test harness has its standard streams open (possibly on /dev/null).
        assert!(fd_is_open(2));
        assert!(!fd_is_open(987_654));
    }
}
