//! Disk images made by the real tools (mkfs.*, cryptsetup, pvcreate, mdadm, sgdisk,
//! sfdisk), shared by the oracle and the live tests.

use super::{Loop, TempDir, try_run, try_sh};
use nodeboot::wire::signature;
use std::path::Path;

pub const MIB: u64 = 1 << 20;

/// How an image is made.
pub struct Case {
    pub name: &'static str,
    pub size: u64,
    /// Commands the builder needs (checked first).
    pub tools: &'static [&'static str],
    /// Needs a loop device (root).
    pub needs_loop: bool,
    pub build: fn(&Path, &TempDir) -> Result<(), String>,
    /// util-linux is expected to find something (a sanity check of the case itself).
    pub util_finds: bool,
}

fn key_file(s: &TempDir) -> String {
    let k = s.join("luks.key");
    if !k.exists() {
        std::fs::write(&k, b"nodeboot harden oracle key material 0123456789").unwrap();
    }
    k.display().to_string()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// Fill a byte range of an image with pseudo-random bytes (data no probe recognises,
/// as a power cut during someone else's write, or an encrypted volume, leaves).
fn noise(path: &Path, off: u64, len: u64) -> Result<(), String> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| e.to_string())?;
    f.seek(SeekFrom::Start(off)).map_err(|e| e.to_string())?;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    f.write_all(&bytes).map_err(|e| e.to_string())
}

/// Zero a byte range of an image (keeps it sparse-sized).
fn zero(path: &Path, off: u64, len: u64) -> Result<(), String> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| e.to_string())?;
    f.seek(SeekFrom::Start(off)).map_err(|e| e.to_string())?;
    f.write_all(&vec![0u8; len as usize])
        .map_err(|e| e.to_string())
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "zeros",
            size: 256 * MIB,
            tools: &[],
            needs_loop: false,
            build: |_, _| Ok(()),
            util_finds: false,
        },
        Case {
            name: "ext4",
            size: 256 * MIB,
            tools: &["mkfs.ext4"],
            needs_loop: false,
            build: |i, _| try_sh("mkfs.ext4", &["-q", "-F", &p(i)]),
            util_finds: true,
        },
        Case {
            name: "ext2",
            size: 64 * MIB,
            tools: &["mkfs.ext2"],
            needs_loop: false,
            build: |i, _| try_sh("mkfs.ext2", &["-q", "-F", &p(i)]),
            util_finds: true,
        },
        Case {
            name: "xfs",
            size: 512 * MIB,
            tools: &["mkfs.xfs"],
            needs_loop: false,
            build: |i, _| try_sh("mkfs.xfs", &["-q", "-f", &p(i)]),
            util_finds: true,
        },
        Case {
            name: "vfat",
            size: 64 * MIB,
            tools: &["mkfs.vfat"],
            needs_loop: false,
            build: |i, _| try_sh("mkfs.vfat", &[&p(i)]),
            util_finds: true,
        },
        Case {
            name: "vfat32",
            size: 256 * MIB,
            tools: &["mkfs.vfat"],
            needs_loop: false,
            build: |i, _| try_sh("mkfs.vfat", &["-F", "32", &p(i)]),
            util_finds: true,
        },
        Case {
            name: "swap",
            size: 64 * MIB,
            tools: &["mkswap"],
            needs_loop: false,
            build: |i, _| try_sh("mkswap", &[&p(i)]),
            util_finds: true,
        },
        Case {
            name: "btrfs-other-label",
            size: 256 * MIB,
            tools: &["mkfs.btrfs"],
            needs_loop: false,
            build: |i, _| try_sh("mkfs.btrfs", &["-q", "-f", "-L", "scratch", &p(i)]),
            util_finds: true,
        },
        Case {
            name: "btrfs-no-label",
            size: 256 * MIB,
            tools: &["mkfs.btrfs"],
            needs_loop: false,
            build: |i, _| try_sh("mkfs.btrfs", &["-q", "-f", &p(i)]),
            util_finds: true,
        },
        Case {
            name: "luks1",
            size: 64 * MIB,
            tools: &["cryptsetup"],
            needs_loop: false,
            build: |i, s| {
                let k = key_file(s);
                try_sh(
                    "cryptsetup",
                    &[
                        "luksFormat",
                        "-q",
                        "--type",
                        "luks1",
                        "--pbkdf-force-iterations",
                        "1000",
                        "--key-file",
                        &k,
                        &p(i),
                    ],
                )
            },
            util_finds: true,
        },
        Case {
            name: "luks2",
            size: 64 * MIB,
            tools: &["cryptsetup"],
            needs_loop: false,
            build: |i, s| {
                let k = key_file(s);
                try_sh(
                    "cryptsetup",
                    &[
                        "luksFormat",
                        "-q",
                        "--type",
                        "luks2",
                        "--pbkdf",
                        "pbkdf2",
                        "--pbkdf-force-iterations",
                        "1000",
                        "--key-file",
                        &k,
                        &p(i),
                    ],
                )
            },
            util_finds: true,
        },
        Case {
            // LUKS2 keeps a second header; with the first one gone it still owns the disk.
            name: "luks2-secondary-only",
            size: 64 * MIB,
            tools: &["cryptsetup"],
            needs_loop: false,
            build: |i, s| {
                let k = key_file(s);
                try_sh(
                    "cryptsetup",
                    &[
                        "luksFormat",
                        "-q",
                        "--type",
                        "luks2",
                        "--pbkdf",
                        "pbkdf2",
                        "--pbkdf-force-iterations",
                        "1000",
                        "--key-file",
                        &k,
                        &p(i),
                    ],
                )?;
                zero(i, 0, 4096)
            },
            util_finds: false,
        },
        Case {
            name: "gpt-no-partitions",
            size: 128 * MIB,
            tools: &["sgdisk"],
            needs_loop: false,
            build: |i, _| try_sh("sgdisk", &["-o", &p(i)]),
            util_finds: true,
        },
        Case {
            name: "gpt-one-partition",
            size: 128 * MIB,
            tools: &["sgdisk"],
            needs_loop: false,
            build: |i, _| try_sh("sgdisk", &["-o", "-n", "1:0:0", "-c", "1:data", &p(i)]),
            util_finds: true,
        },
        Case {
            // Our own label as a GPT partition name, sgdisk's default type, no
            // filesystem: a name proves nothing, so someone else's (`in-use`).
            name: "gpt-named-sp_zos-cache",
            size: 128 * MIB,
            tools: &["sgdisk"],
            needs_loop: false,
            build: |i, _| {
                try_sh(
                    "sgdisk",
                    &["-o", "-n", "1:0:0", "-c", "1:sp_zos-cache", &p(i)],
                )
            },
            util_finds: true,
        },
        Case {
            // Exactly the table nodeboot writes (its type GUID, 1 MiB aligned, to the
            // last usable LBA), no filesystem: our interrupted prepare (`cache`).
            name: "gpt-nodeboot-marked",
            size: 128 * MIB,
            tools: &["sgdisk"],
            needs_loop: false,
            build: |i, _| {
                let t = format!("1:{}", nodeboot::wire::gpt::TYPE_NODEBOOT_CACHE);
                try_sh(
                    "sgdisk",
                    &["-o", "-n", "1:0:0", "-t", &t, "-c", "1:sp_zos-cache", &p(i)],
                )
            },
            util_finds: true,
        },
        Case {
            // Named like our partition (sgdisk's default type), holding data no probe
            // recognises: once "resumed" and formatted by name; now `in-use`.
            name: "gpt-sp_zos-cache-holding-random",
            size: 128 * MIB,
            tools: &["sgdisk"],
            needs_loop: false,
            build: |i, _| {
                try_sh(
                    "sgdisk",
                    &["-o", "-n", "1:0:0", "-c", "1:sp_zos-cache", &p(i)],
                )?;
                noise(i, MIB, 4 * MIB)
            },
            util_finds: true,
        },
        Case {
            // A Linux partition named as gdisk names it by default ("Linux
            // filesystem", its type's name), holding data: the label may be set to
            // that name on the kernel command line.
            name: "gpt-default-name-holding-random",
            size: 128 * MIB,
            tools: &["sgdisk"],
            needs_loop: false,
            build: |i, _| {
                try_sh(
                    "sgdisk",
                    &["-o", "-n", "1:0:0", "-c", "1:Linux filesystem", &p(i)],
                )?;
                noise(i, MIB, 4 * MIB)
            },
            util_finds: true,
        },
        Case {
            // Looks like our interrupted prepare, but the partition holds an ext4: the
            // core must find it when it probes the partition, and refuse to format.
            name: "gpt-sp_zos-cache-holding-ext4",
            size: 128 * MIB,
            tools: &["sgdisk", "mkfs.ext4"],
            needs_loop: false,
            build: |i, _| {
                try_sh(
                    "sgdisk",
                    &["-o", "-n", "1:2048:0", "-c", "1:sp_zos-cache", &p(i)],
                )?;
                // Partition 1 starts at LBA 2048 (1 MiB) and ends before the backup GPT.
                let blocks = ((128 * MIB - 1024 * 1024 - 34 * 512) / 4096).to_string();
                try_sh(
                    "mkfs.ext4",
                    &[
                        "-q",
                        "-F",
                        "-b",
                        "4096",
                        "-E",
                        "offset=1048576",
                        &p(i),
                        &blocks,
                    ],
                )
            },
            util_finds: true,
        },
        Case {
            // Only the backup GPT at the end survives (first 34 sectors zeroed).
            name: "gpt-backup-only",
            size: 128 * MIB,
            tools: &["sgdisk"],
            needs_loop: false,
            build: |i, _| {
                try_sh("sgdisk", &["-o", "-n", "1:0:0", &p(i)])?;
                zero(i, 0, 34 * 512)
            },
            util_finds: false,
        },
        Case {
            name: "dos-one-partition",
            size: 128 * MIB,
            tools: &["sfdisk"],
            needs_loop: false,
            build: |i, _| try_run("sfdisk", &["-q", &p(i)], Some(b"label: dos\n,,83\n")),
            util_finds: true,
        },
        Case {
            name: "dos-empty-table",
            size: 128 * MIB,
            tools: &["sfdisk"],
            needs_loop: false,
            build: |i, _| try_run("sfdisk", &["-q", &p(i)], Some(b"label: dos\n")),
            util_finds: true,
        },
        Case {
            name: "ext4-wiped-by-wipefs",
            size: 64 * MIB,
            tools: &["mkfs.ext4", "wipefs"],
            needs_loop: false,
            build: |i, _| {
                try_sh("mkfs.ext4", &["-q", "-F", &p(i)])?;
                try_sh("wipefs", &["-q", "-a", &p(i)])
            },
            util_finds: false,
        },
        Case {
            name: "lvm2-pv",
            size: 64 * MIB,
            tools: &["pvcreate", "losetup"],
            needs_loop: true,
            build: |i, _| {
                let l = Loop::attach(i)?;
                try_sh("pvcreate", &["-q", "-y", "-ff", &l.dev])
            },
            util_finds: true,
        },
        Case {
            name: "md-0.90",
            size: 64 * MIB,
            tools: &["mdadm", "losetup"],
            needs_loop: true,
            build: |i, s| super::md::make(i, s, "0.90"),
            util_finds: true,
        },
        Case {
            name: "md-1.0",
            size: 64 * MIB,
            tools: &["mdadm", "losetup"],
            needs_loop: true,
            build: |i, s| super::md::make(i, s, "1.0"),
            util_finds: true,
        },
        Case {
            name: "md-1.1",
            size: 64 * MIB,
            tools: &["mdadm", "losetup"],
            needs_loop: true,
            build: |i, s| super::md::make(i, s, "1.1"),
            util_finds: true,
        },
        Case {
            name: "md-1.2",
            size: 64 * MIB,
            tools: &["mdadm", "losetup"],
            needs_loop: true,
            build: |i, s| super::md::make(i, s, "1.2"),
            util_finds: true,
        },
    ]
}

/// Head and tail bytes of an image, as the effects probe reads them of a device.
pub fn ends(image: &Path) -> (Vec<u8>, Vec<u8>, u64) {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(image).unwrap();
    let size = f.metadata().unwrap().len();
    let mut head = vec![0u8; (signature::PROBE_HEAD as u64).min(size) as usize];
    f.read_exact(&mut head).unwrap();
    let tail_len = (signature::PROBE_TAIL as u64).min(size);
    f.seek(SeekFrom::Start(size - tail_len)).unwrap();
    let mut tail = vec![0u8; tail_len as usize];
    f.read_exact(&mut tail).unwrap();
    (head, tail, size)
}

/// Makes the image of case `name` in `scratch` (sparse file of the case's size).
pub fn make(name: &str, scratch: &TempDir) -> Result<std::path::PathBuf, String> {
    make_as(name, &format!("{name}.img"), scratch)
}

/// As [`make`], into file `file` of `scratch` (two images of one case).
pub fn make_as(name: &str, file: &str, scratch: &TempDir) -> Result<std::path::PathBuf, String> {
    let case = cases()
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("no image case {name}"))?;
    let image = scratch.join(file);
    let f = std::fs::File::create(&image).map_err(|e| e.to_string())?;
    f.set_len(case.size).map_err(|e| e.to_string())?;
    drop(f);
    (case.build)(&image, scratch)?;
    Ok(image)
}
