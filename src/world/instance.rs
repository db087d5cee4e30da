//! One nodeboot per root: `flock(LOCK_EX)` on `<root>/run/nodeboot.lock`, held for the
//! life of the process (the kernel drops it when the process ends, even on SIGKILL, so
//! a stale file never blocks the next run). A second `nodeboot run` on the same root is
//! refused before it binds the log socket — binding replaces a stale socket file, which
//! would otherwise delete the first instance's live one — and before it touches a
//! disk. Runs on different roots (a rack simulation) lock different files. As PID 1
//! the root is `/`, and a lock that cannot be taken never stops the boot.

use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// `nodeboot run`'s exit code when another instance holds the root.
pub const EXIT_ANOTHER_INSTANCE: i32 = 3;

/// Held while it lives.
pub struct InstanceLock {
    _lock: Flock<File>,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("another nodeboot is running on root {root} (it holds {path}); one instance per root")]
    Running { root: String, path: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The lock file of `root`.
pub fn lock_path(root: &Path) -> PathBuf {
    root.join("run/nodeboot.lock")
}

/// Take the lock of `root` (creating `<root>/run` and the file), or say who holds it.
/// The file gets the holder's pid, for operators; the lock, not the pid, is the truth.
pub fn acquire(root: &Path) -> Result<InstanceLock, InstanceError> {
    let path = lock_path(root);
    let io = |source| InstanceError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // O_NOFOLLOW: a symlink planted at the lock path must not make us create or
    // truncate a file elsewhere.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(io)?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            return Err(InstanceError::Running {
                root: root.display().to_string(),
                path: path.display().to_string(),
            });
        }
        Err((_, e)) => return Err(io(std::io::Error::from(e))),
    };
    let _ = lock.set_len(0);
    let _ = writeln!(lock, "{}", std::process::id());
    Ok(InstanceLock { _lock: lock, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_per_root_and_released_on_drop() {
        let base = std::env::temp_dir().join(format!("nb-instance-{}", std::process::id()));
        let (a, b) = (base.join("a"), base.join("b"));
        let first = acquire(&a).unwrap();
        let err = acquire(&a).err().unwrap();
        assert!(matches!(err, InstanceError::Running { .. }), "{err}");
        assert!(err.to_string().contains("another nodeboot"), "{err}");
        // Another root is another instance's business.
        let other = acquire(&b).unwrap();
        drop(first);
        assert!(acquire(&a).is_ok());
        drop(other);
        // A symlink at the lock path is not followed.
        let c = base.join("c");
        std::fs::create_dir_all(c.join("run")).unwrap();
        std::os::unix::fs::symlink(base.join("elsewhere"), lock_path(&c)).unwrap();
        assert!(matches!(acquire(&c), Err(InstanceError::Io { .. })));
        assert!(!base.join("elsewhere").exists());
        let _ = std::fs::remove_dir_all(&base);
    }
}
