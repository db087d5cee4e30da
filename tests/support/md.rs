//! md RAID member images. With a kernel that has md (`/proc/mdstat`), `mdadm --create`
//! makes them on two loop devices and the array is stopped at once. This machine's
//! kernel has no md driver, so mdadm cannot create an array here: the superblock is
//! then written as mdadm lays it out (md_p.h), and the test requires that mdadm
//! itself (`mdadm --examine` on a loop device) and util-linux accept it.

use super::{Loop, TempDir, try_output, try_sh};
use std::path::Path;

const MD_MAGIC: u32 = 0xa92b_4efc;

pub fn make(image: &Path, scratch: &TempDir, version: &str) -> Result<(), String> {
    if Path::new("/proc/mdstat").exists() {
        return with_mdadm(image, scratch, version);
    }
    let size = std::fs::metadata(image).map_err(|e| e.to_string())?.len();
    let (off, sb) = match version {
        "0.90" => ((size & !0xFFFF) - 0x1_0000, v090(size)),
        "1.0" => ((((size >> 9) - 16) & !7) << 9, v1(size, 0)),
        "1.1" => (0, v1(size, 1)),
        "1.2" => (4096, v1(size, 2)),
        v => return Err(format!("unknown md metadata {v}")),
    };
    write_at(image, off, &sb)?;
    // The oracle's oracle: mdadm must see a member of this version.
    let l = Loop::attach(image)?;
    let examine = try_output("mdadm", &["--examine", &l.dev])?;
    let want = if version == "0.90" {
        "0.90.00"
    } else {
        version
    };
    if !examine
        .lines()
        .any(|line| line.trim_start().starts_with("Version :") && line.contains(want))
    {
        return Err(format!(
            "mdadm --examine does not report {want}:\n{examine}"
        ));
    }
    Ok(())
}

struct Stop(String);
impl Drop for Stop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("mdadm")
            .args(["--stop", &self.0])
            .status();
    }
}

fn with_mdadm(image: &Path, scratch: &TempDir, version: &str) -> Result<(), String> {
    let other = scratch.join(&format!("md-peer-{version}.img"));
    let f = std::fs::File::create(&other).map_err(|e| e.to_string())?;
    f.set_len(std::fs::metadata(image).map_err(|e| e.to_string())?.len())
        .map_err(|e| e.to_string())?;
    let a = Loop::attach(image)?;
    let b = Loop::attach(&other)?;
    let md = format!("/dev/md/nbh{}", version.replace('.', ""));
    let _stop = Stop(md.clone());
    try_sh(
        "mdadm",
        &[
            "--create",
            &md,
            "--run",
            "--quiet",
            "--metadata",
            version,
            "--level=1",
            "--raid-devices=2",
            &a.dev,
            &b.dev,
        ],
    )
}

fn write_at(path: &Path, off: u64, data: &[u8]) -> Result<(), String> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| e.to_string())?;
    f.seek(SeekFrom::Start(off)).map_err(|e| e.to_string())?;
    f.write_all(data).map_err(|e| e.to_string())
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// `mdp_superblock_1` for a two-device RAID1; `minor` 0 (end), 1 (start), 2 (4 KiB).
fn v1(size: u64, minor: u32) -> Vec<u8> {
    let sectors = size >> 9;
    let super_offset = match minor {
        0 => (sectors - 16) & !7,
        1 => 0,
        _ => 8,
    };
    let max_dev = 2usize;
    let mut sb = vec![0u8; 256 + 2 * max_dev];
    put32(&mut sb, 0, MD_MAGIC);
    put32(&mut sb, 4, 1);
    sb[16..32].copy_from_slice(b"nbharden-set-uid");
    sb[32..40].copy_from_slice(b"nb:test0");
    put64(&mut sb, 64, 1_700_000_000); // ctime
    put32(&mut sb, 72, 1); // level
    put64(&mut sb, 80, sectors - 4096); // size
    put32(&mut sb, 92, 2); // raid_disks
    put64(&mut sb, 128, if minor == 0 { 0 } else { 2048 }); // data_offset
    put64(&mut sb, 136, sectors - 4096); // data_size
    put64(&mut sb, 144, super_offset);
    sb[168..184].copy_from_slice(b"nbharden-dev-uid");
    put64(&mut sb, 192, 1_700_000_000); // utime
    put64(&mut sb, 200, 1); // events
    put64(&mut sb, 208, u64::MAX); // resync_offset: clean
    put32(&mut sb, 220, max_dev as u32);
    sb[258] = 1; // dev_roles[1] = 1
    let sum: u64 = sb
        .chunks_exact(4)
        .map(|c| u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .sum();
    let csum = (sum & 0xffff_ffff) + (sum >> 32);
    put32(&mut sb, 216, csum as u32);
    sb
}

/// `mdp_super_t` (0.90) for a two-device RAID1.
fn v090(size: u64) -> Vec<u8> {
    let mut sb = vec![0u8; 4096];
    for (i, v) in [
        MD_MAGIC,
        0,
        90,
        0,
        0,           // gvalid_words
        0x6e62_6831, // set_uuid0
        1_700_000_000,
        1, // level
        // Array size in KiB: it must fit below the superblock, or blkid ignores it.
        (((size & !0xFFFF) - 0x1_0000) >> 10) as u32,
        2, // nr_disks
        2, // raid_disks
    ]
    .into_iter()
    .enumerate()
    {
        put32(&mut sb, i * 4, v);
    }
    sb
}
