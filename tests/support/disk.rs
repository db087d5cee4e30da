//! A loop device on a sparse file, as an SSD or a rotary disk.

use super::{sh, sh_quiet, unique};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `losetup -f` picks a free device and attaches in two steps; threads of one test
/// binary take turns (losetup retries on its own when another process races it).
static ATTACH: Mutex<()> = Mutex::new(());

/// A loop device attached to a sparse image; partitions removed, device detached and
/// image deleted on drop.
pub struct LoopDisk {
    /// `loopN`
    pub name: String,
    /// `/dev/loopN`
    pub dev: PathBuf,
    pub image: PathBuf,
}

impl LoopDisk {
    /// A blank disk of `size_mib` MiB in `dir`; `ssd` sets `queue/rotational` to 0.
    pub fn new(dir: &Path, size_mib: u64, ssd: bool) -> LoopDisk {
        let image = dir.join(format!("{}.img", unique("d")));
        let f = std::fs::File::create(&image).unwrap();
        f.set_len(size_mib << 20).unwrap();
        drop(f);
        let dev = {
            let _turn = ATTACH.lock().unwrap_or_else(|e| e.into_inner());
            let mut last = String::new();
            let mut dev = None;
            for _ in 0..5 {
                let out = std::process::Command::new("losetup")
                    .args(["-f", "--show"])
                    .arg(&image)
                    .output()
                    .unwrap();
                if out.status.success() {
                    dev = Some(String::from_utf8_lossy(&out.stdout).trim().to_string());
                    break;
                }
                last = String::from_utf8_lossy(&out.stderr).into_owned();
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            dev.unwrap_or_else(|| panic!("losetup -f {image:?}: {last}"))
        };
        let name = dev.trim_start_matches("/dev/").to_string();
        let disk = LoopDisk {
            name,
            dev: PathBuf::from(dev),
            image,
        };
        disk.set_rotational(!ssd);
        disk
    }

    pub fn set_rotational(&self, rotational: bool) {
        let path = format!("/sys/block/{}/queue/rotational", self.name);
        std::fs::write(&path, if rotational { "1" } else { "0" }).unwrap();
    }

    pub fn dev_str(&self) -> &str {
        self.dev.to_str().unwrap()
    }

    /// `/dev/loopNp1`
    pub fn part1(&self) -> String {
        format!("{}p1", self.dev_str())
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
        let out = std::process::Command::new("blkid")
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
        let out = std::process::Command::new("sgdisk")
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
        sh_quiet(&["partx", "-d", self.dev_str()]);
        sh_quiet(&["losetup", "-d", self.dev_str()]);
        let _ = std::fs::remove_file(&self.image);
    }
}
