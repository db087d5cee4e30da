//! Mount guards and mount-point checks.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Unmounts (lazily, so a busy mount never leaks) on drop.
pub struct MountGuard(pub std::path::PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Every mount point in /proc/self/mountinfo (field 5; octal escapes kept).
fn mount_points() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .collect()
}

/// Is anything mounted at `path`?
pub fn is_mount_point(path: &Path) -> bool {
    let want = path.to_string_lossy();
    mount_points().iter().any(|mp| *mp == want)
}

/// Unmounts every mount point under `root`, deepest first.
pub fn unmount_under(root: &Path) {
    let root = root.display().to_string();
    for _ in 0..3 {
        let mut points: Vec<String> = mount_points()
            .into_iter()
            .filter(|m| m == &root || m.starts_with(&format!("{root}/")))
            .collect();
        if points.is_empty() {
            return;
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = Command::new("umount").args(["-l", &p]).status();
        }
    }
}

/// Wait (bounded) until `path` exists: devtmpfs creates nodes asynchronously.
pub fn wait_for(path: &Path, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    path.exists()
}
