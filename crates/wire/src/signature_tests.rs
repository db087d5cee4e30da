//! Tests for `signature`: hand-built buffers for every format (always run), then
//! images made by the real tools on sparse files (skipped when a tool is missing,
//! except under `CI=true`, where a missing tool fails the test).

use super::*;
use crate::bytes::fuzz;
use std::path::{Path, PathBuf};
use std::process::Command;

const MIB: u64 = 1 << 20;

fn names(found: &[Signature]) -> Vec<&'static str> {
    found.iter().map(|s| s.name).collect()
}

/// A zeroed disk of `size` bytes as (head, tail) buffers, with `put` applied at disk
/// offsets first.
fn disk(size: u64, put: &[(u64, &[u8])]) -> (Vec<u8>, Vec<u8>) {
    let mut whole = vec![0u8; size as usize];
    for (off, bytes) in put {
        whole[*off as usize..*off as usize + bytes.len()].copy_from_slice(bytes);
    }
    let head = whole[..PROBE_HEAD.min(whole.len())].to_vec();
    let tail = whole[whole.len() - PROBE_TAIL.min(whole.len())..].to_vec();
    (head, tail)
}

fn probe_with(size: u64, put: &[(u64, &[u8])]) -> Vec<Signature> {
    let (h, t) = disk(size, put);
    probe(&h, &t, size)
}

#[test]
fn empty_disk_is_empty_and_any_byte_is_unknown_data() {
    assert_eq!(probe_with(8 * MIB, &[]), vec![]);
    assert_eq!(probe(&[], &[], 0), vec![]);
    for off in [0, 777, 3 * MIB, 8 * MIB - 1] {
        let found = probe_with(8 * MIB, &[(off, &[1])]);
        assert_eq!(names(&found), vec![UNKNOWN_DATA], "byte at {off}");
    }
}

fn ext_sb(compat: u32, incompat: u32, ro: u32) -> Vec<u8> {
    let mut sb = vec![0u8; 0x68];
    sb[0x38..0x3A].copy_from_slice(&[0x53, 0xEF]);
    sb[0x5C..0x60].copy_from_slice(&compat.to_le_bytes());
    sb[0x60..0x64].copy_from_slice(&incompat.to_le_bytes());
    sb[0x64..0x68].copy_from_slice(&ro.to_le_bytes());
    sb
}

#[test]
fn ext_flavours_by_feature_flags() {
    let cases = [
        (ext_sb(0, 0x2, 0x3), "ext2"),
        (ext_sb(0x4, 0x2, 0x3), "ext3"),
        (ext_sb(0x4, 0x2 | 0x40 | 0x80, 0x3), "ext4"), // extents, 64bit
        (ext_sb(0x4, 0x2, 0x3 | 0x8), "ext4"),         // huge_file
        (ext_sb(0, 0x8, 0), "jbd"),
    ];
    for (sb, want) in cases {
        let found = probe_with(4 * MIB, &[(1024, &sb)]);
        assert_eq!(
            found,
            vec![Signature {
                name: want,
                offset: 1024
            }]
        );
    }
}

#[test]
fn hand_built_magics() {
    let mut fat = vec![0u8; 512];
    fat[0] = 0xEB;
    fat[0x52..0x5A].copy_from_slice(b"FAT32   ");
    fat[510] = 0x55;
    fat[511] = 0xAA;
    let lvm = include_bytes!("testdata/lvm2_head.bin");
    let f2fs = 0xF2F5_2010u32.to_le_bytes();
    let z_le = ZFS_UBERBLOCK_MAGIC.to_le_bytes();
    let z_be = ZFS_UBERBLOCK_MAGIC.to_be_bytes();
    let md = [0xfc, 0x4e, 0x2b, 0xa9, 1, 0, 0, 0];
    type Case<'a> = (Vec<(u64, &'a [u8])>, &'static str, u64);
    let cases: Vec<Case> = vec![
        (vec![(0, &b"XFSB"[..])], "xfs", 0),
        (vec![(0, &fat[..])], "vfat", 0),
        (
            vec![(3, &b"NTFS    "[..]), (510, &[0x55, 0xAA][..])],
            "ntfs",
            0,
        ),
        (vec![(3, &b"EXFAT   "[..])], "exfat", 0),
        (vec![(4086, &b"SWAPSPACE2"[..])], "swap", 0),
        (vec![(65526, &b"SWAP-SPACE"[..])], "swap", 0),
        (vec![(8192 - 9, &b"S1SUSPEND"[..])], "swsuspend", 0),
        (vec![(0, &lvm[..])], "LVM2_member", 512),
        (vec![(0, &b"LUKS\xba\xbe"[..])], "crypto_LUKS", 0),
        (
            vec![(0x40_0000, &b"SKUL\xba\xbe"[..])],
            "crypto_LUKS",
            0x40_0000,
        ),
        (vec![(0, &md[..])], "linux_raid_member", 0),
        (vec![(4096, &md[..])], "linux_raid_member", 4096),
        (vec![(4096 + 24, &BCACHE_MAGIC[..])], "bcache", 4096),
        (vec![(0x8001, &b"CD001"[..])], "iso9660", 0x8000),
        (vec![(0x10040, &b"_BHRfS_M"[..])], "btrfs", 0x10000),
        (vec![(1024, &f2fs[..])], "f2fs", 1024),
        (vec![(0, &b"hsqs"[..])], "squashfs", 0),
        (vec![(512, &b"EFI PART"[..])], "gpt", 512),
        (vec![(4096, &b"EFI PART"[..])], "gpt", 4096),
        (vec![(ZFS_LABEL / 2 + 5 * 1024, &z_le[..])], "zfs_member", 0),
        (
            vec![(ZFS_LABEL * 3 / 2, &z_be[..])],
            "zfs_member",
            ZFS_LABEL,
        ),
    ];
    for (put, want, off) in cases {
        let found = probe_with(8 * MIB, &put);
        assert_eq!(
            found,
            vec![Signature {
                name: want,
                offset: off
            }],
            "{want}"
        );
    }
}

#[test]
fn signatures_at_the_end() {
    let size = 64 * MIB + 3 * 512; // not a multiple of 64 KiB or of 4 KiB
    let sectors = size >> 9;
    let md10 = ((sectors - 16) & !7) << 9;
    let md090 = (size & !0xFFFF) - 0x1_0000;
    let aligned = size & !(ZFS_LABEL - 1);
    let cases: Vec<(u64, &[u8], &str)> = vec![
        (
            md10,
            &[0xfc, 0x4e, 0x2b, 0xa9, 1, 0, 0, 0],
            "linux_raid_member",
        ),
        (md090, &[0xfc, 0x4e, 0x2b, 0xa9], "linux_raid_member"),
        (md090, &[0xa9, 0x2b, 0x4e, 0xfc], "linux_raid_member"),
        (
            aligned - ZFS_LABEL / 2,
            &[0x0c, 0xb1, 0xba, 0, 0, 0, 0, 0],
            "zfs_member",
        ),
    ];
    for (off, magic, want) in cases {
        let found = probe_with(size, &[(off, magic)]);
        assert_eq!(names(&found), vec![want], "at {off}");
    }
    // The backup GPT header in the last sector (512-byte sectors: size must divide).
    let size = 64 * MIB;
    let found = probe_with(size, &[(size - 512, b"EFI PART")]);
    assert_eq!(
        found,
        vec![Signature {
            name: "gpt",
            offset: size - 512
        }]
    );
}

#[test]
fn empty_dos_table_is_dos_and_a_fat_boot_sector_is_not() {
    // 0x55AA and four empty entries: blkid's `PTTYPE=dos`.
    let mut empty = vec![0u8; 512];
    empty[440..444].copy_from_slice(&0x1234_5678u32.to_le_bytes());
    empty[510] = 0x55;
    empty[511] = 0xAA;
    assert_eq!(
        probe_with(64 * MIB, &[(0, &empty[..])]),
        vec![Signature {
            name: "dos",
            offset: 0
        }]
    );
    // A FAT boot sector whose boot code reads as valid "entries" (boot indicators
    // 0x00, non-zero types): vfat only, as blkid says.
    let mut fat = empty.clone();
    fat[0] = 0xEB;
    fat[0x36..0x3E].copy_from_slice(b"FAT16   ");
    fat[446 + 4] = 0x0e;
    fat[446 + 12] = 0x10;
    assert!(crate::mbr::parse(&fat).is_ok_and(|m| !m.partitions.is_empty()));
    assert_eq!(names(&probe_with(64 * MIB, &[(0, &fat[..])])), vec!["vfat"]);
}

#[test]
fn dos_table_but_not_a_boot_sector() {
    let mbr = include_bytes!("testdata/mbr_head.bin");
    assert_eq!(
        probe_with(64 * MIB, &[(0, mbr)]),
        vec![Signature {
            name: "dos",
            offset: 0
        }]
    );
    let gpt_head = include_bytes!("testdata/gpt512_head.bin");
    let found = probe_with(64 * MIB, &[(0, gpt_head)]);
    assert_eq!(names(&found), vec!["gpt"]);
    // A protective MBR whose GPT header is gone still marks a partitioned disk.
    let found = probe_with(64 * MIB, &[(0, &gpt_head[..512])]);
    assert_eq!(
        found,
        vec![Signature {
            name: "gpt",
            offset: 0
        }]
    );
}

#[test]
fn short_buffers_and_small_disks() {
    // Head and tail shorter than asked (a tiny disk): still bounded and correct.
    let (h, t) = disk(64 * 1024, &[(0, b"XFSB")]);
    assert_eq!(names(&probe(&h, &t, 64 * 1024)), vec!["xfs"]);
    assert_eq!(names(&probe(b"XFSB", &[], 4)), vec!["xfs"]);
    // Inconsistent sizes (tail longer than the disk) do not panic.
    let _ = probe(&[1; 10], &[1; 100], 5);
    let _ = probe(&[], &[0; 100], u64::MAX);
}

#[test]
fn never_panics() {
    let gpt_head = include_bytes!("testdata/gpt512_head.bin");
    let lvm = include_bytes!("testdata/lvm2_head.bin");
    let btrfs_sb = include_bytes!("testdata/btrfs_super.bin");
    fuzz::no_panic(&[gpt_head, lvm, btrfs_sb], 300, |b| {
        let found = probe(b, b, b.len() as u64);
        // The core invariant: non-zero input is never reported as empty.
        assert!(found.is_empty() == b.iter().all(|&x| x == 0));
        let _ = probe(b, &[], u64::MAX);
        let _ = probe(&[], b, 1 << 40);
    });
}

// ---- images made by the real tools ----------------------------------------------

/// A scratch directory removed on drop (also when a test fails).
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("nb-wire-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The tool's path, or `None` (a skip, announced) — under `CI=true` a missing tool
/// fails the test instead.
fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name} is not installed and CI=true: install it (see README)");
        }
        eprintln!("SKIP: {name} not installed");
    }
    found
}

fn sparse(path: &Path, size: u64) {
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn probe_file(path: &Path) -> Vec<Signature> {
    let bytes = std::fs::read(path).unwrap();
    let size = bytes.len() as u64;
    let head = &bytes[..PROBE_HEAD.min(bytes.len())];
    let tail = &bytes[bytes.len() - PROBE_TAIL.min(bytes.len())..];
    probe(head, tail, size)
}

/// Makes a `size` sparse file, runs `tool args… FILE` (or with the file where `{}` is),
/// and probes it.
fn made_by(tool_name: &str, args: &[&str], size: u64) -> Option<Vec<Signature>> {
    let exe = tool(tool_name)?;
    let dir = Scratch::new(tool_name);
    let img = dir.path("disk.img");
    sparse(&img, size);
    let mut cmd = Command::new(exe);
    let img_s = img.to_str().unwrap();
    if args.contains(&"{}") {
        cmd.args(args.iter().map(|a| if *a == "{}" { img_s } else { a }));
    } else {
        cmd.args(args).arg(&img);
    }
    run(&mut cmd);
    Some(probe_file(&img))
}

fn expect_tool(tool_name: &str, args: &[&str], size: u64, want: &[&str]) {
    if let Some(found) = made_by(tool_name, args, size) {
        assert_eq!(names(&found), want, "{tool_name} {args:?}");
    }
}

#[test]
fn real_ext2_ext3_ext4() {
    expect_tool("mkfs.ext2", &["-q", "-F"], 32 * MIB, &["ext2"]);
    expect_tool("mkfs.ext3", &["-q", "-F"], 32 * MIB, &["ext3"]);
    expect_tool("mkfs.ext4", &["-q", "-F"], 32 * MIB, &["ext4"]);
}

#[test]
fn real_xfs() {
    expect_tool("mkfs.xfs", &["-q", "-f"], 512 * MIB, &["xfs"]);
}

#[test]
fn real_vfat_ntfs_exfat() {
    expect_tool("mkfs.vfat", &[], 32 * MIB, &["vfat"]);
    expect_tool("mkfs.vfat", &["-F", "32"], 64 * MIB, &["vfat"]);
    expect_tool("mkfs.ntfs", &["-Q", "-F", "-q"], 32 * MIB, &["ntfs"]);
    expect_tool("mkfs.exfat", &[], 32 * MIB, &["exfat"]);
}

#[test]
fn real_swap_both_page_sizes() {
    expect_tool("mkswap", &[], 16 * MIB, &["swap"]);
    expect_tool("mkswap", &["--pagesize", "65536"], 16 * MIB, &["swap"]);
}

#[test]
fn real_btrfs_f2fs_squashfs_iso() {
    expect_tool(
        "mkfs.btrfs",
        &["-q", "-f", "-L", "x"],
        128 * MIB,
        &["btrfs"],
    );
    expect_tool("mkfs.f2fs", &["-q", "-f"], 64 * MIB, &["f2fs"]);
    let (Some(mksq), Some(geniso)) = (tool("mksquashfs"), tool("genisoimage")) else {
        return;
    };
    let dir = Scratch::new("content");
    std::fs::create_dir(dir.path("src")).unwrap();
    std::fs::write(dir.path("src/hello"), b"hello").unwrap();
    let sq = dir.path("sq.img");
    run(Command::new(mksq)
        .arg(dir.path("src"))
        .arg(&sq)
        .args(["-quiet", "-noappend"]));
    assert_eq!(names(&probe_file(&sq)), vec!["squashfs"]);
    let iso = dir.path("cd.iso");
    run(Command::new(geniso)
        .args(["-quiet", "-o"])
        .arg(&iso)
        .arg(dir.path("src")));
    assert_eq!(names(&probe_file(&iso)), vec!["iso9660"]);
}

#[test]
fn real_bcache() {
    expect_tool("make-bcache", &["-B", "{}"], 32 * MIB, &["bcache"]);
}

#[test]
fn real_partition_tables() {
    let found = made_by("sgdisk", &["-n1:0:0"], 64 * MIB);
    if let Some(found) = found {
        // Primary (LBA 1) and backup (last sector).
        assert_eq!(
            found,
            vec![
                Signature {
                    name: "gpt",
                    offset: 512
                },
                Signature {
                    name: "gpt",
                    offset: 64 * MIB - 512
                }
            ]
        );
    }
    let Some(sfdisk) = tool("sfdisk") else { return };
    let dir = Scratch::new("sfdisk");
    let img = dir.path("d.img");
    sparse(&img, 64 * MIB);
    let mut child = Command::new(sfdisk)
        .arg("-q")
        .arg(&img)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"label: dos\nstart=2048, type=83\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(names(&probe_file(&img)), vec!["dos"]);
}

#[test]
fn real_luks1_luks2_and_luks2_secondary() {
    let Some(cs) = tool("cryptsetup") else { return };
    let dir = Scratch::new("luks");
    let key = dir.path("key");
    std::fs::write(&key, b"not a secret").unwrap();
    for kind in ["luks1", "luks2"] {
        let img = dir.path(kind);
        sparse(&img, 32 * MIB);
        run(Command::new(&cs)
            .args(["luksFormat", "--batch-mode", "--type", kind])
            .args(["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"])
            .arg("--key-file")
            .arg(&key)
            .arg(&img));
        let found = probe_file(&img);
        assert_eq!(
            found[0],
            Signature {
                name: "crypto_LUKS",
                offset: 0
            },
            "{kind}"
        );
        assert!(
            names(&found).iter().all(|n| *n == "crypto_LUKS"),
            "{found:?}"
        );
        if kind == "luks2" {
            // The secondary header survives a wiped primary.
            let mut bytes = std::fs::read(&img).unwrap();
            bytes[..0x4000].fill(0);
            let size = bytes.len() as u64;
            let found = probe(
                &bytes[..PROBE_HEAD],
                &bytes[bytes.len() - PROBE_TAIL..],
                size,
            );
            assert_eq!(
                found[0],
                Signature {
                    name: "crypto_LUKS",
                    offset: 0x4000
                }
            );
        }
    }
}

#[test]
fn real_gpt_backup_alone_is_in_use() {
    let Some(sgdisk) = tool("sgdisk") else { return };
    let dir = Scratch::new("gptbackup");
    let img = dir.path("d.img");
    sparse(&img, 64 * MIB);
    run(Command::new(sgdisk).arg("-n1:0:0").arg(&img));
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[..34 * 512].fill(0); // wipe the primary table and the protective MBR
    let size = bytes.len() as u64;
    let tail = &bytes[bytes.len() - PROBE_TAIL..];
    let found = probe(&bytes[..PROBE_HEAD], tail, size);
    assert_eq!(
        found,
        vec![Signature {
            name: "gpt",
            offset: size - 512
        }]
    );
    let g = gpt::parse_backup(tail, size).unwrap();
    assert_eq!(g.partitions.len(), 1);
}

#[test]
fn real_btrfs_superblock_label() {
    let Some(mkfs) = tool("mkfs.btrfs") else {
        return;
    };
    let dir = Scratch::new("btrfs-label");
    let img = dir.path("d.img");
    sparse(&img, 128 * MIB);
    run(Command::new(mkfs)
        .args(["-q", "-f", "-L", "sp_zos-cache"])
        .arg(&img));
    let bytes = std::fs::read(&img).unwrap();
    let fs = btrfs::parse_superblock(&bytes[..PROBE_HEAD]).unwrap();
    assert_eq!(fs.label, "sp_zos-cache");
    assert!(fs.checksum_verified);
    assert!(fs.generation > 0);
    assert_eq!(fs.fsid.len(), 36);
}
