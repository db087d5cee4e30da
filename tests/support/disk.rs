//! Loop devices: [`Loop`] attaches an image made by the caller; [`LoopDisk`] is a loop
//! device on a sparse image of its own, as an SSD or a rotary disk. Both remove the
//! partitions and detach on drop (also when a test panics).

use super::{TempDir, sh, unique};
use nodeboot::world::confine::Confinement;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

/// `losetup -f` picks a free device and attaches in two steps; threads of one test
/// binary take turns (losetup retries on its own when another process races it).
static ATTACH: Mutex<()> = Mutex::new(());

/// Tests of one binary that set up several loop devices and partitions take turns.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The start of a root test on one loop SSD: this binary's turn ([`serial`]), a temp
/// dir, and the SSD `<tag>.img` in it ([`LoopDisk::prepared`]). None (skip) when not
/// root, a failure under `CI=true`. Bind the three in this order: the disk goes first,
/// then the dir, then the turn.
pub fn loop_ssd_test(
    test: &str,
    tag: &str,
    size_mib: u64,
    prepare: Option<&[&str]>,
) -> Option<(MutexGuard<'static, ()>, TempDir, LoopDisk)> {
    if !super::require_root(test, &[]) {
        return None;
    }
    let turn = serial();
    let tmp = TempDir::new(tag);
    let disk = LoopDisk::prepared(tmp.path(), tag, size_mib, prepare);
    Some((turn, tmp, disk))
}

/// A loop device attached to an image; partitions removed and detached on drop.
pub struct Loop {
    /// `/dev/loopN`.
    pub dev: String,
}

impl Loop {
    pub fn attach(image: &Path) -> Result<Loop, String> {
        Loop::attach_with(image, &[])
    }
    /// Read-only (`losetup -r`).
    pub fn attach_ro(image: &Path) -> Result<Loop, String> {
        Loop::attach_with(image, &["-r"])
    }
    fn attach_with(image: &Path, flags: &[&str]) -> Result<Loop, String> {
        let _turn = ATTACH.lock().unwrap_or_else(|e| e.into_inner());
        let mut last = String::new();
        for _ in 0..5 {
            let out = Command::new("losetup")
                .args(flags)
                .args(["-f", "--show"])
                .arg(image)
                .output()
                .map_err(|e| format!("losetup: {e}"))?;
            if out.status.success() {
                let dev = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if !dev.starts_with("/dev/loop") {
                    return Err(format!("losetup printed {dev:?}"));
                }
                return Ok(Loop { dev });
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Err(format!("losetup -f {image:?}: {last}"))
    }
    /// `loopN`.
    pub fn name(&self) -> &str {
        self.dev.trim_start_matches("/dev/")
    }
    /// Marks the device an SSD (rotational 0), as the brief's sandbox does.
    pub fn set_ssd(&self) {
        let _ = std::fs::write(format!("/sys/block/{}/queue/rotational", self.name()), "0");
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        // Partitions added with BLKPG may outlive a detach on a disk without partscan.
        let _ = Command::new("partx")
            .args(["-d", &self.dev])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

/// A loop device attached to a sparse image it owns; detached (by its [`Loop`]) and the
/// image deleted on drop.
pub struct LoopDisk {
    /// `loopN`
    pub name: String,
    /// `/dev/loopN`
    pub dev: PathBuf,
    pub image: PathBuf,
    attached: Loop,
    /// The directory of a [`LoopDisk::scratch`] disk, removed after the detach.
    _dir: Option<TempDir>,
}

impl LoopDisk {
    /// A blank disk of `size_mib` MiB in `dir`; `ssd` sets `queue/rotational` to 0.
    pub fn new(dir: &Path, size_mib: u64, ssd: bool) -> LoopDisk {
        let disk = LoopDisk::attach_new(dir.join(format!("{}.img", unique("d"))), size_mib, None);
        disk.set_rotational(!ssd);
        disk
    }

    /// A `size_mib` SSD on `dir/<tag>.img`, optionally prepared (e.g. `mkfs.ext4`)
    /// before it is attached.
    pub fn prepared(dir: &Path, tag: &str, size_mib: u64, prepare: Option<&[&str]>) -> LoopDisk {
        let disk = LoopDisk::attach_new(dir.join(format!("{tag}.img")), size_mib, prepare);
        disk.set_rotational(false);
        disk
    }

    /// A blank disk in a temporary directory of its own, its rotational flag left as
    /// the kernel set it.
    pub fn scratch(tag: &str, size_mib: u64) -> LoopDisk {
        let dir = TempDir::new(tag);
        let mut disk = LoopDisk::attach_new(dir.join("disk.img"), size_mib, None);
        disk._dir = Some(dir);
        disk
    }

    fn attach_new(image: PathBuf, size_mib: u64, prepare: Option<&[&str]>) -> LoopDisk {
        let f = std::fs::File::create(&image).unwrap();
        f.set_len(size_mib << 20).unwrap();
        drop(f);
        if let Some(cmd) = prepare {
            let img = image.to_string_lossy().into_owned();
            let mut argv: Vec<&str> = cmd.to_vec();
            argv.push(&img);
            sh(&argv);
        }
        let attached = Loop::attach(&image).unwrap_or_else(|e| panic!("{e}"));
        LoopDisk {
            name: attached.name().to_owned(),
            dev: PathBuf::from(&attached.dev),
            image,
            attached,
            _dir: None,
        }
    }

    pub fn set_rotational(&self, rotational: bool) {
        let path = format!("/sys/block/{}/queue/rotational", self.name);
        std::fs::write(&path, if rotational { "1" } else { "0" }).unwrap();
    }

    pub fn dev_str(&self) -> &str {
        &self.attached.dev
    }

    /// `/dev/loopNp1`
    pub fn part1(&self) -> String {
        format!("{}p1", self.dev_str())
    }

    /// `loopNpN` (a name, as the core and the confinement use it).
    pub fn part(&self, n: u32) -> String {
        format!("{}p{n}", self.name)
    }

    /// The `--disk` allow-list entries for this disk and its partitions.
    pub fn allow_flags(&self) -> Vec<String> {
        vec![
            "--disk".into(),
            self.name.clone(),
            "--disk".into(),
            format!("{}p*", self.name),
        ]
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

    /// Write a filesystem straight on the disk: `mkfs.ext4 -L precious`.
    pub fn mkfs_ext4(&self) {
        sh(&["mkfs.ext4", "-q", "-F", "-L", "precious", self.dev_str()]);
    }

    /// What an earlier boot left: GPT with one partition `label`, the partition made
    /// visible (`partx -a`: this kernel parses no partition tables), btrfs labelled
    /// `label` on it.
    pub fn prepare_cache(&self, label: &str) {
        sh(&[
            "sgdisk",
            "-o",
            "-n",
            "1:0:0",
            "-c",
            &format!("1:{label}"),
            self.dev_str(),
        ]);
        sh(&["partx", "-a", self.dev_str()]);
        sh(&["mkfs.btrfs", "-q", "-f", "-L", label, &self.part1()]);
    }

    /// `blkid -p` of a device: `TYPE`, `LABEL`, `UUID`, … (empty when nothing is found).
    pub fn blkid(dev: &str) -> std::collections::BTreeMap<String, String> {
        let out = Command::new("blkid")
            .args(["-p", "-o", "export", dev])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The partition names in the GPT (`sgdisk -p`), empty when there is none.
    pub fn gpt_partition_names(&self) -> Vec<String> {
        let out = Command::new("sgdisk")
            .args(["-p", self.dev_str()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        // Rows after the "Number  Start (sector) …" header: number, start, end, size,
        // unit, code, name.
        text.lines()
            .skip_while(|l| !l.trim_start().starts_with("Number"))
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(6).map(str::to_string))
            .collect()
    }

    /// True when every byte of the image is zero (a blank disk stayed blank).
    pub fn all_zero(&self) -> bool {
        use std::io::Read;
        let mut f = std::fs::File::open(&self.dev).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                return true;
            }
            if buf[..n].iter().any(|b| *b != 0) {
                return false;
            }
        }
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        // The image goes now; `attached` detaches the device right after.
        let _ = std::fs::remove_file(&self.image);
    }
}
