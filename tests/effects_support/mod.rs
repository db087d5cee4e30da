//! Shared scaffolding for the `effects_*` root tests: loop disks on sparse files in a
//! private temp dir, mount guards, and the root/CI rule. Every guard undoes its setup
//! in `Drop`, so a failing test still detaches its loop devices and unmounts.
#![allow(dead_code)]

use nodeboot::world::confine::Confinement;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Loop setup is not race-free between concurrent `losetup -f` calls; the tests of one
/// binary take turns.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// True when the test may run. Not root: skip, except under `CI=true` where a skipped
/// root test is a failure.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root, and CI=true forbids skipping");
    }
    eprintln!("{test}: skipped (not root)");
    false
}

pub fn run(argv: &[&str]) -> String {
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A directory under /tmp, removed with everything in it on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("nb-effects-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loop device on a sparse file; partitions removed and device detached on drop.
pub struct LoopDisk {
    pub name: String,
    pub dev: PathBuf,
    pub image: PathBuf,
}

impl LoopDisk {
    /// `size_mib` sparse file in `dir`, optionally prepared (e.g. `mkfs.ext4`) before
    /// it is attached, then marked as an SSD.
    pub fn new(dir: &Path, tag: &str, size_mib: u64, prepare: Option<&[&str]>) -> LoopDisk {
        let image = dir.join(format!("{tag}.img"));
        let f = std::fs::File::create(&image).unwrap();
        f.set_len(size_mib << 20).unwrap();
        drop(f);
        if let Some(cmd) = prepare {
            let mut argv: Vec<&str> = cmd.to_vec();
            let img = image.to_string_lossy().into_owned();
            argv.push(&img);
            run(&argv);
        }
        let dev = run(&["losetup", "-f", "--show", &image.to_string_lossy()])
            .trim()
            .to_string();
        let name = dev.trim_start_matches("/dev/").to_string();
        assert!(name.starts_with("loop"), "unexpected loop device {dev}");
        let disk = LoopDisk {
            name,
            dev: PathBuf::from(dev),
            image,
        };
        std::fs::write(format!("/sys/block/{}/queue/rotational", disk.name), "0").unwrap();
        disk
    }

    /// A confinement that allows exactly this disk (which covers its partitions), rooted
    /// at `root`: what `--disk loopN` gives.
    pub fn confinement(&self, root: &Path) -> Confinement {
        Confinement {
            root: root.to_path_buf(),
            disks: Some(vec![self.name.clone()]),
            nics: Some(vec![]),
            dry_run: false,
            dev_dir: PathBuf::from("/dev"),
            sys_dir: PathBuf::from("/sys"),
        }
    }

    pub fn part(&self, n: u32) -> String {
        format!("{}p{n}", self.name)
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        // Partitions added with BLKPG may outlive a detach on a disk without partscan.
        let _ = Command::new("partx").arg("-d").arg(&self.dev).output();
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).output();
    }
}

/// Unmounts (lazily, so a busy mount never leaks) on drop.
pub struct MountGuard(pub PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
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

/// Is anything mounted at `path` (per /proc/self/mountinfo)?
pub fn is_mount_point(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let want = path.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|mp| mp == want))
}
