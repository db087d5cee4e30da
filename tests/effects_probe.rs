//! ProbeDisk on real loop devices (root; skipped otherwise unless CI=true).
// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use nodeboot::core::action::Effect;
use nodeboot::core::input::{DiskProbe, EffectOutput, ErrorKind};
use nodeboot::world::confine::Confinement;
use nodeboot::world::effects::Plan;
use support::disk::{loop_ssd_test, serial};
use support::gate::{plan, run_blocking};
use support::*;

fn probe(confine: &Confinement, device: &str) -> DiskProbe {
    let effect = Effect::ProbeDisk {
        device: device.into(),
    };
    assert_eq!(plan(&effect, confine).unwrap(), Plan::Blocking);
    match run_blocking(&effect, confine).unwrap() {
        EffectOutput::Disk { probe } => probe,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn blank_disk_has_no_signatures_and_the_right_size() {
    let Some((_turn, tmp, disk)) = loop_ssd_test(
        "blank_disk_has_no_signatures_and_the_right_size",
        "blank",
        64,
        None,
    ) else {
        return;
    };
    let p = probe(&disk.confinement(tmp.path()), &disk.name);
    assert_eq!(p.size_bytes, 64 << 20);
    assert!(!p.rotational, "rotational was set to 0");
    assert!(p.signatures.is_empty(), "{:?}", p.signatures);
    assert_eq!(p.partition_table, None);
    assert!(p.partitions.is_empty());
    assert_eq!(p.btrfs_label, None);
    assert!(!p.mounted && !p.unreadable && !p.read_only && !p.removable && !p.usb);
    assert!(p.holders.is_empty());

    // The same disk, rotary again: the flag follows sysfs.
    std::fs::write(format!("/sys/block/{}/queue/rotational", disk.name), "1").unwrap();
    assert!(probe(&disk.confinement(tmp.path()), &disk.name).rotational);
}

#[test]
fn ext4_disk_says_ext4() {
    let Some((_turn, tmp, disk)) = loop_ssd_test(
        "ext4_disk_says_ext4",
        "ext4",
        32,
        Some(&["mkfs.ext4", "-q", "-F"]),
    ) else {
        return;
    };
    let p = probe(&disk.confinement(tmp.path()), &disk.name);
    assert!(
        p.signatures.iter().any(|s| s == "ext4"),
        "{:?}",
        p.signatures
    );
    assert_eq!(p.btrfs_label, None);
    assert_eq!(p.partition_table, None);
    assert_eq!(p.size_bytes, 32 << 20);
}

#[test]
fn probe_is_read_only_and_refused_off_the_allow_list() {
    let Some((_turn, tmp, disk)) = loop_ssd_test(
        "probe_is_read_only_and_refused_off_the_allow_list",
        "ro",
        16,
        Some(&["mkfs.ext4", "-q", "-F"]),
    ) else {
        return;
    };
    let before = std::fs::read(&disk.image).unwrap();
    // Not on the allow-list: refused at the gate, like every effect on the disk.
    let elsewhere = Confinement {
        disks: Some(vec!["nbnothing".into()]),
        ..disk.confinement(tmp.path())
    };
    let effect = Effect::ProbeDisk {
        device: disk.name.clone(),
    };
    let refused = support::gate::admit(&effect, &elsewhere).unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Refused, "{refused}");
    // Allowed: probing reads and changes nothing, in a dry run too.
    let confine = Confinement {
        dry_run: true,
        ..disk.confinement(tmp.path())
    };
    let p = probe(&confine, &disk.name);
    assert!(p.signatures.iter().any(|s| s == "ext4"));
    assert_eq!(
        std::fs::read(&disk.image).unwrap(),
        before,
        "probe changed the disk"
    );
    // A device that does not exist is an error, not a blank disk.
    let missing = Effect::ProbeDisk {
        device: "nbmissing0".into(),
    };
    assert!(run_blocking(&missing, &confine).is_err());
}

#[test]
fn a_device_that_cannot_be_read_is_unreadable_not_blank() {
    let Some((_turn, tmp, disk)) = loop_ssd_test(
        "a_device_that_cannot_be_read_is_unreadable_not_blank",
        "unread",
        16,
        None,
    ) else {
        return;
    };
    // sysfs knows the disk, but its device node is not where the world looks.
    let empty_dev = tmp.path().join("dev");
    std::fs::create_dir(&empty_dev).unwrap();
    let confine = Confinement {
        dev_dir: empty_dev,
        ..disk.confinement(tmp.path())
    };
    let p = probe(&confine, &disk.name);
    assert!(p.unreadable);
    assert_eq!(p.size_bytes, 16 << 20);
    assert!(p.signatures.is_empty());
}

#[test]
fn a_mounted_whole_disk_is_reported_mounted() {
    let Some((_turn, tmp, disk)) = loop_ssd_test(
        "a_mounted_whole_disk_is_reported_mounted",
        "mounted",
        32,
        Some(&["mkfs.ext4", "-q", "-F"]),
    ) else {
        return;
    };
    let target = tmp.path().join("m");
    std::fs::create_dir(&target).unwrap();
    sh(&[
        "mount",
        &disk.dev.to_string_lossy(),
        &target.to_string_lossy(),
    ]);
    let _guard = MountGuard(target.clone());
    let confine = disk.confinement(tmp.path());
    assert!(probe(&confine, &disk.name).mounted);
    // And a write to it is refused before anything is opened for writing.
    let effect = Effect::WritePartitionTable {
        disk: disk.name.clone(),
        name: "sp_zos-cache".into(),
    };
    let before = std::fs::read(&disk.image).unwrap();
    assert_eq!(
        plan(&effect, &confine).unwrap_err(),
        format!("busy: {} is mounted", disk.name)
    );
    assert!(
        run_blocking(&effect, &confine)
            .unwrap_err()
            .starts_with("busy:")
    );
    drop(_guard);
    // No MBR or GPT header appeared (ext4 itself leaves bytes 0..1024 alone; mounting
    // updates its superblock, so only this region can be compared).
    let after = std::fs::read(&disk.image).unwrap();
    assert!(before[..1024] == after[..1024], "sectors 0-1 changed");
}

#[test]
fn partition_tables_are_reported_dos_gpt_and_backup_only_gpt() {
    if !require_root(
        "partition_tables_are_reported_dos_gpt_and_backup_only_gpt",
        &[],
    ) {
        return;
    }
    let _s = serial();
    let tmp = TempDir::new("tables");
    // The image path arrives as $0.
    let dos = LoopDisk::prepared(
        tmp.path(),
        "dos",
        32,
        Some(&["sh", "-c", "echo ',,L' | sfdisk -q \"$0\""]),
    );
    let p = probe(&dos.confinement(tmp.path()), &dos.name);
    assert_eq!(p.partition_table.as_deref(), Some("dos"));
    assert_eq!(p.partitions.len(), 1);
    assert_eq!(p.partitions[0].number, 1);
    assert_eq!(p.partitions[0].start_lba, 2048);
    assert!(!p.signatures.is_empty());

    let gpt = LoopDisk::prepared(
        tmp.path(),
        "gpt",
        32,
        Some(&["sgdisk", "-o", "-n", "1:0:0", "-c", "1:data"]),
    );
    let p = probe(&gpt.confinement(tmp.path()), &gpt.name);
    assert_eq!(p.partition_table.as_deref(), Some("gpt"));
    assert_eq!(p.partitions.len(), 1);
    assert_eq!(p.partitions[0].name, "data");
    assert!(
        p.signatures.iter().any(|s| s == "gpt"),
        "{:?}",
        p.signatures
    );

    // Primary table wiped, backup intact: still a partitioned disk.
    let backup = LoopDisk::prepared(
        tmp.path(),
        "backup",
        32,
        Some(&[
            "sh",
            "-c",
            "sgdisk -o -n 1:0:0 -c 1:kept \"$0\" >/dev/null && \
             dd if=/dev/zero of=\"$0\" bs=512 count=34 conv=notrunc status=none",
        ]),
    );
    let p = probe(&backup.confinement(tmp.path()), &backup.name);
    assert_eq!(p.partition_table.as_deref(), Some("gpt"));
    assert_eq!(p.partitions.first().map(|e| e.name.as_str()), Some("kept"));
}
