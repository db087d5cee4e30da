//! Disks the world keeps locked while it prepares them: a `flock(LOCK_EX)` on a plain
//! whole-disk fd, taken by `WritePartitionTable` (while it also holds the disk
//! `O_EXCL`) and held from the table write through mkfs. udev and other tools that
//! honour the block-device locking convention (systemd's "Locking Block Device
//! Access") leave a locked disk alone, so nothing probes, wipes or partitions it
//! between our steps; and a second nodeboot cannot take it.
//!
//! The lock lives in this small table keyed by disk, not on a worker thread's stack:
//! the table write, partition add and mkfs run on different threads (or as a child),
//! and a step abandoned at its deadline must not keep the lock forever. It is
//! released when mkfs is answered (success or not), when any disk step of that disk is
//! answered with an error, or after [`MAX_HOLD`] (checked whenever the table is used):
//! a partition that never appeared ends the prepare in the core without an answer
//! from the world.
//!
//! The `O_EXCL` open itself is not kept: the kernel's partition re-scan
//! (`BLKRRPART`) and mkfs need the disk and its partition without our claim on it.

use crate::core::action::EffectId;
use nix::fcntl::{Flock, FlockArg};
use std::collections::BTreeMap;
use std::fs::File;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The longest a disk stays locked without its mkfs being answered.
pub const MAX_HOLD: Duration = Duration::from_secs(15 * 60);

struct Held {
    _lock: Flock<File>,
    since: Instant,
}

#[derive(Default)]
struct Table {
    held: BTreeMap<String, Held>,
    /// Disk steps in flight: effect → (disk, whether its answer ends the hold).
    steps: BTreeMap<EffectId, (String, bool)>,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

/// The table, whatever a panicking holder left behind (a lock table must never take
/// the loop down with it).
fn table() -> MutexGuard<'static, Option<Table>> {
    TABLE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn with<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    let mut guard = table();
    let t = guard.get_or_insert_with(Table::default);
    t.held.retain(|_, h| h.since.elapsed() < MAX_HOLD);
    f(t)
}

/// Take `flock(LOCK_EX)` on `file` (a whole-disk fd), retrying for up to 2 s: udev
/// holds a shared lock for the moment it probes a disk.
pub fn lock(file: File) -> Result<Flock<File>, nix::errno::Errno> {
    let mut file = file;
    for _ in 0..20 {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(l),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) => {
                file = f;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err((_, e)) => return Err(e),
        }
    }
    Err(nix::errno::Errno::EWOULDBLOCK)
}

/// Keep `disk` locked (replacing an older hold of the same disk).
pub fn hold(disk: &str, lock: Flock<File>) {
    with(|t| {
        t.held.insert(
            disk.to_owned(),
            Held {
                _lock: lock,
                since: Instant::now(),
            },
        )
    });
}

pub fn is_held(disk: &str) -> bool {
    with(|t| t.held.contains_key(disk))
}

pub fn release(disk: &str) {
    with(|t| t.held.remove(disk));
}

/// A disk step of `disk` started as effect `id`; `ends_hold`: its answer, whatever it
/// is, releases the disk (mkfs).
pub fn track(id: EffectId, disk: &str, ends_hold: bool) {
    with(|t| t.steps.insert(id, (disk.to_owned(), ends_hold)));
}

/// Effect `id` was answered (`ok` or not): release its disk when that ends the hold.
pub fn answered(id: EffectId, ok: bool) {
    with(|t| {
        if let Some((disk, ends_hold)) = t.steps.remove(&id)
            && (ends_hold || !ok)
        {
            t.held.remove(&disk);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_ends_with_mkfs_or_a_failed_step() {
        let file = |p: &std::path::Path| File::create(p).unwrap();
        let dir = std::env::temp_dir().join(format!("nb-disklock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("disk");
        hold("nbtestA", lock(file(&path)).unwrap());
        // A second exclusive lock on the same inode is refused while held.
        let again = Flock::lock(file(&path), FlockArg::LockExclusiveNonblock);
        assert!(again.is_err());
        track(EffectId(901), "nbtestA", false);
        answered(EffectId(901), true);
        assert!(
            is_held("nbtestA"),
            "a successful partition add keeps the lock"
        );
        track(EffectId(902), "nbtestA", true);
        answered(EffectId(902), false);
        assert!(!is_held("nbtestA"), "mkfs's answer releases it");
        assert!(Flock::lock(file(&path), FlockArg::LockExclusiveNonblock).is_ok());
        hold("nbtestB", lock(file(&dir.join("b"))).unwrap());
        track(EffectId(903), "nbtestB", false);
        answered(EffectId(903), false);
        assert!(!is_held("nbtestB"), "a failed step releases it");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
