//! The cache-disk effects on real loop devices, in the order the core asks for them:
//! GPT, partition, mkfs, mount, subvolumes (root; skipped otherwise unless CI=true).
// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use nodeboot::core::action::Effect;
use nodeboot::core::input::{DiskProbe, EffectOutput};
use nodeboot::world::confine::Confinement;
use nodeboot::world::effects::{Pass, Plan, disklock};
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;
use std::time::Duration;
use support::disk::{loop_ssd_test, serial};
use support::gate::{plan, run_blocking};
use support::*;

const LABEL: &str = "sp_zos-cache";

fn blocking(effect: &Effect, confine: &Confinement) -> Result<EffectOutput, String> {
    assert_eq!(plan(effect, confine)?, Plan::Blocking, "{effect:?}");
    run_blocking(effect, confine)
}

fn probe(confine: &Confinement, device: &str) -> DiskProbe {
    match blocking(
        &Effect::ProbeDisk {
            device: device.into(),
        },
        confine,
    )
    .unwrap()
    {
        EffectOutput::Disk { probe } => probe,
        other => panic!("unexpected {other:?}"),
    }
}

fn write_table(disk: &LoopDisk) -> Effect {
    Effect::WritePartitionTable {
        disk: disk.name.clone(),
        name: LABEL.into(),
    }
}

/// Run the planned command (what the loop does with `Plan::Command`).
fn run_planned(effect: &Effect, confine: &Confinement) {
    let Plan::Command(argv) = plan(effect, confine).unwrap() else {
        panic!("{effect:?} should be a command");
    };
    let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// GPT written, partition added, btrfs made: what every later test starts from.
fn prepared(disk: &LoopDisk, confine: &Confinement) {
    blocking(&write_table(disk), confine).unwrap();
    let add = Effect::AddPartition {
        disk: disk.name.clone(),
        number: 1,
    };
    blocking(&add, confine).unwrap();
    assert!(wait_for(
        &std::path::PathBuf::from(format!("/dev/{}", disk.part(1))),
        Duration::from_secs(5)
    ));
    let mkfs = Effect::Mkfs {
        device: disk.part(1),
        label: LABEL.into(),
        force: false,
    };
    run_planned(&mkfs, confine);
    disklock::release(&disk.name);
}

/// Another process's `flock(LOCK_EX|LOCK_NB)` on the whole disk fails (as udev's would).
fn flock_refused(disk: &LoopDisk) -> bool {
    let f = std::fs::File::open(&disk.dev).unwrap();
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).is_err()
}

#[test]
fn the_table_is_written_only_on_a_disk_still_empty_under_the_exclusive_open() {
    // Data written after the probe (a race the core cannot see): refused, unchanged.
    let Some((_turn, tmp, disk)) = loop_ssd_test("still_empty", "race", 64, None) else {
        return;
    };
    let confine = disk.confinement(tmp.path());
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&disk.dev)
            .unwrap();
        f.seek(SeekFrom::Start(300 << 10)).unwrap();
        f.write_all(b"someone else's bytes").unwrap();
        f.sync_all().unwrap();
    }
    let before = sha256_file(&disk.dev);
    let err = blocking(&write_table(&disk), &confine).unwrap_err();
    assert!(err.contains("no longer empty"), "{err}");
    assert_eq!(sha256_file(&disk.dev), before, "written although not empty");
    assert!(!disklock::is_held(&disk.name));
}

#[test]
fn mkfs_force_only_on_a_partition_proven_ours() {
    // sgdisk's default partition, named like ours, made visible: mkfs -f is refused
    // (not our type GUID); plain mkfs is planned without -f.
    let Some((_turn, tmp, disk)) = loop_ssd_test(
        "mkfs_force_only_on_ours",
        "force",
        256,
        Some(&["sgdisk", "-o", "-n", "1:0:0", "-c", "1:sp_zos-cache"]),
    ) else {
        return;
    };
    let confine = disk.confinement(tmp.path());
    sh(&["partx", "-a", disk.dev_str()]);
    let mkfs = |force| Effect::Mkfs {
        device: disk.part(1),
        label: LABEL.into(),
        force,
    };
    let err = plan(&mkfs(true), &confine).unwrap_err();
    assert!(err.contains("not proven nodeboot's"), "{err}");
    assert!(err.contains("type GUID"), "{err}");
    let Plan::Command(argv) = plan(&mkfs(false), &confine).unwrap() else {
        panic!("mkfs is a command");
    };
    assert!(!argv.iter().any(|a| a == "-f"), "{argv:?}");
    // The same disk with nodeboot's type GUID: -f is allowed.
    let t = format!("1:{}", nodeboot::wire::gpt::TYPE_NODEBOOT_CACHE);
    sh(&["sgdisk", "-t", &t, disk.dev_str()]);
    let Plan::Command(argv) = plan(&mkfs(true), &confine).unwrap() else {
        panic!("mkfs is a command");
    };
    assert!(argv.iter().any(|a| a == "-f"), "{argv:?}");
    disklock::release(&disk.name);
    sh(&["partx", "-d", disk.dev_str()]);
}

#[test]
fn gpt_then_partition_then_btrfs() {
    let Some((_turn, tmp, disk)) = loop_ssd_test("gpt_then_partition_then_btrfs", "gpt", 256, None)
    else {
        return;
    };
    let confine = disk.confinement(tmp.path());

    let t = std::time::Instant::now();
    blocking(&write_table(&disk), &confine).unwrap();
    eprintln!("write_partition_table: {:?}", t.elapsed());
    let table = sh(&["sgdisk", "-p", &disk.dev.to_string_lossy()]);
    let rows: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("Number"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(rows.len(), 1, "{table}");
    let cols: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(cols[0], "1");
    assert_eq!(cols[1], "2048", "1 MiB aligned start: {table}");
    // nodeboot's own type GUID (sgdisk shows it as code FFFF: unknown to it).
    let info = sh(&["sgdisk", "-i", "1", &disk.dev.to_string_lossy()]);
    assert!(
        info.contains(&nodeboot::wire::gpt::TYPE_NODEBOOT_CACHE.to_uppercase()),
        "{info}"
    );
    assert_eq!(*cols.last().unwrap(), LABEL);
    assert!(sh(&["sgdisk", "-v", &disk.dev.to_string_lossy()]).contains("No problems found"));

    // Idempotent: the same table is recognised and not rewritten.
    let before = std::fs::read(&disk.image).unwrap();
    blocking(&write_table(&disk), &confine).unwrap();
    assert!(
        std::fs::read(&disk.image).unwrap() == before,
        "table rewritten"
    );

    // The probe sees it.
    let p = probe(&confine, &disk.name);
    assert_eq!(p.partition_table.as_deref(), Some("gpt"));
    assert_eq!(p.partitions.len(), 1);
    assert_eq!(p.partitions[0].name, LABEL);
    assert_eq!(p.partitions[0].start_lba, 2048);
    assert_eq!(
        p.partitions[0].type_guid,
        nodeboot::wire::gpt::TYPE_NODEBOOT_CACHE
    );
    assert_eq!(p.sector_size, 512);
    assert_eq!(
        p.partitions[0].start_lba + p.partitions[0].size_lba - 1,
        p.last_usable_lba
    );
    assert!(
        p.signatures.iter().any(|s| s == "gpt"),
        "{:?}",
        p.signatures
    );

    // This kernel parses no tables: the partition appears through BLKPG.
    let sys = std::path::PathBuf::from(format!("/sys/class/block/{}", disk.part(1)));
    assert!(!sys.exists());
    let add = Effect::AddPartition {
        disk: disk.name.clone(),
        number: 1,
    };
    let t = std::time::Instant::now();
    blocking(&add, &confine).unwrap();
    eprintln!("add_partition: {:?}", t.elapsed());
    assert!(sys.exists());
    assert!(wait_for(
        &std::path::PathBuf::from(format!("/dev/{}", disk.part(1))),
        Duration::from_secs(5)
    ));
    let start: u64 = std::fs::read_to_string(sys.join("start"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(start, 2048);
    // Again: already there is success.
    blocking(&add, &confine).unwrap();
    // A partition the table does not have is an error.
    let bad = Effect::AddPartition {
        disk: disk.name.clone(),
        number: 2,
    };
    assert!(
        blocking(&bad, &confine)
            .unwrap_err()
            .contains("no partition 2")
    );

    let mkfs = Effect::Mkfs {
        device: disk.part(1),
        label: LABEL.into(),
        force: false,
    };
    // The disk is the unit of permission: allowing only the partition's name is not
    // enough, allowing the disk covers the partition.
    let only_part = Confinement {
        disks: Some(vec![disk.part(1)]),
        ..confine.clone()
    };
    assert_eq!(
        plan(&mkfs, &only_part).unwrap_err(),
        format!("refused: {} is not on the disk allow-list", disk.name)
    );
    // The disk is still locked from the table write (flock LOCK_EX), and mkfs runs
    // under that lock.
    assert!(disklock::is_held(&disk.name));
    assert!(flock_refused(&disk));
    run_planned(&mkfs, &confine);
    disklock::release(&disk.name);
    assert!(!flock_refused(&disk));
    let t = std::time::Instant::now();
    let p = probe(&confine, &disk.part(1));
    eprintln!("probe_disk (partition): {:?}", t.elapsed());
    assert_eq!(p.btrfs_label.as_deref(), Some(LABEL));
    assert!(
        p.signatures.iter().any(|s| s == "btrfs"),
        "{:?}",
        p.signatures
    );
    assert!(!p.rotational, "a partition reports its disk's queue");
    // 524288 sectors; the backup table takes the last 33; the partition starts at 2048.
    assert_eq!(p.size_bytes, (524_288 - 33 - 2048) * 512);
}

#[test]
fn mount_and_subvolumes_under_a_temp_root() {
    if !require_root("mount_and_subvolumes_under_a_temp_root", &[]) {
        return;
    }
    let _s = serial();
    let tmp = TempDir::new("mnt");
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let disk = LoopDisk::prepared(tmp.path(), "mnt", 256, None);
    let confine = disk.confinement(&root);
    prepared(&disk, &confine);

    let pool = "/mnt/storagepool/sp_zos-cache";
    let mount_pool = Effect::Mount {
        source: disk.part(1),
        target: pool.into(),
        fstype: "btrfs".into(),
        options: String::new(),
    };
    blocking(&mount_pool, &confine).unwrap();
    let _pool_guard = MountGuard(root.join(pool.trim_start_matches('/')));
    assert!(is_mount_point(&root.join("mnt/storagepool/sp_zos-cache")));
    // Mounted again from the same source: success, nothing stacked.
    blocking(&mount_pool, &confine).unwrap();
    let count = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains("sp_zos-cache"))
        .count();
    assert_eq!(count, 1);

    for path in [
        "cache",
        "logs",
        "logs/20260101-000000",
        "logs/20260102-000000",
    ] {
        let e = Effect::CreateSubvolume {
            path: format!("{pool}/{path}"),
        };
        blocking(&e, &confine).unwrap();
        blocking(&e, &confine).unwrap(); // exists = success
    }
    // A plain directory is not a subvolume and is not listed.
    std::fs::create_dir(root.join("mnt/storagepool/sp_zos-cache/plain")).unwrap();
    let list = |p: &str| match blocking(&Effect::ListSubvolumes { path: p.into() }, &confine) {
        Ok(EffectOutput::Subvolumes { names }) => names,
        other => panic!("{other:?}"),
    };
    assert_eq!(list(pool), vec!["cache", "logs"]);
    assert_eq!(
        list(&format!("{pool}/logs")),
        vec!["20260101-000000", "20260102-000000"]
    );
    // Creating over a plain directory is refused.
    let over_plain = Effect::CreateSubvolume {
        path: format!("{pool}/plain"),
    };
    assert!(
        blocking(&over_plain, &confine)
            .unwrap_err()
            .contains("not a subvolume")
    );

    let del = Effect::DeleteSubvolume {
        path: format!("{pool}/logs/20260101-000000"),
    };
    blocking(&del, &confine).unwrap();
    blocking(&del, &confine).unwrap(); // gone = success
    assert_eq!(list(&format!("{pool}/logs")), vec!["20260102-000000"]);
    let del_plain = Effect::DeleteSubvolume {
        path: format!("{pool}/plain"),
    };
    assert!(blocking(&del_plain, &confine).is_err());
    assert!(root.join("mnt/storagepool/sp_zos-cache/plain").is_dir());

    // Subvolume mounts, as the cache needs them.
    // The core names the source as a path; both forms are accepted.
    let mount_cache = Effect::Mount {
        source: format!("/dev/{}", disk.part(1)),
        target: "/var/cache".into(),
        fstype: "btrfs".into(),
        options: "subvol=cache".into(),
    };
    blocking(&mount_cache, &confine).unwrap();
    let _cache_guard = MountGuard(root.join("var/cache"));
    std::fs::write(root.join("var/cache/marker"), "x").unwrap();
    assert!(
        root.join("mnt/storagepool/sp_zos-cache/cache/marker")
            .exists()
    );
    blocking(&mount_cache, &confine).unwrap();

    // The probe now says mounted, for the partition and for its disk.
    assert!(probe(&confine, &disk.part(1)).mounted);
    assert!(probe(&confine, &disk.name).mounted);

    // A mounted disk is never written: refused at plan time and by run_blocking.
    let err = plan(&write_table(&disk), &confine).unwrap_err();
    assert!(err.starts_with("busy:"), "{err}");
    assert!(
        run_blocking(&write_table(&disk), &confine)
            .unwrap_err()
            .starts_with("busy:")
    );
    let mkfs = Effect::Mkfs {
        device: disk.part(1),
        label: LABEL.into(),
        force: false,
    };
    assert!(plan(&mkfs, &confine).unwrap_err().starts_with("busy:"));
}

#[test]
fn exclusive_open_is_the_lock() {
    let Some((_turn, tmp, disk)) = loop_ssd_test("exclusive_open_is_the_lock", "excl", 64, None)
    else {
        return;
    };
    let confine = disk.confinement(tmp.path());
    let before = std::fs::read(&disk.image).unwrap();
    let holder = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL)
        .open(&disk.dev)
        .unwrap();
    let err = run_blocking(&write_table(&disk), &confine).unwrap_err();
    assert!(err.contains("O_EXCL"), "{err}");
    assert!(std::fs::read(&disk.image).unwrap() == before);
    drop(holder);
    blocking(&write_table(&disk), &confine).unwrap();
}

#[test]
fn mount_target_cannot_escape_the_root() {
    if !require_root("mount_target_cannot_escape_the_root", &[]) {
        return;
    }
    let _s = serial();
    let tmp = TempDir::new("esc");
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("var")).unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("var/log")).unwrap();
    let disk = LoopDisk::prepared(tmp.path(), "esc", 256, None);
    let confine = disk.confinement(&root);
    prepared(&disk, &confine);
    let e = Effect::Mount {
        source: disk.part(1),
        target: "/var/log".into(),
        fstype: "btrfs".into(),
        options: String::new(),
    };
    let err = run_blocking(&e, &confine).unwrap_err();
    assert!(err.contains("outside the root"), "{err}");
    assert!(!is_mount_point(&outside));
}

#[test]
fn dry_run_writes_nothing() {
    let Some((_turn, tmp, disk)) = loop_ssd_test("dry_run_writes_nothing", "dry", 64, None) else {
        return;
    };
    let confine = Confinement {
        dry_run: true,
        ..disk.confinement(tmp.path())
    };
    let before = std::fs::read(&disk.image).unwrap();
    for effect in [
        write_table(&disk),
        Effect::AddPartition {
            disk: disk.name.clone(),
            number: 1,
        },
        Effect::Mkfs {
            device: disk.name.clone(),
            label: LABEL.into(),
            force: false,
        },
    ] {
        // The gate hands every write back as a dry run: the loop only logs it.
        assert!(
            matches!(support::gate::admit(&effect, &confine), Ok(Pass::DryRun(e)) if e == effect),
            "{effect:?}"
        );
    }
    assert!(
        std::fs::read(&disk.image).unwrap() == before,
        "dry run wrote"
    );
    // Reading is still allowed.
    assert_eq!(probe(&confine, &disk.name).size_bytes, 64 << 20);
}

/// Lines of /proc/self/mountinfo whose source is `/dev/<device>`.
fn mounts_of(device: &str) -> Vec<String> {
    let want = format!("/dev/{device}");
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            l.split(" - ")
                .nth(1)
                .and_then(|rest| rest.split(' ').nth(1))
                .is_some_and(|src| src == want)
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn unmount_undoes_only_our_mount_and_detaches_a_busy_one() {
    if !require_root("unmount_undoes_only_our_mount_and_detaches_a_busy_one", &[]) {
        return;
    }
    let _s = serial();
    let tmp = TempDir::new("umnt");
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let disk = LoopDisk::prepared(tmp.path(), "umnt", 256, None);
    let confine = disk.confinement(&root);
    prepared(&disk, &confine);
    let part = disk.part(1);
    let source = format!("/dev/{part}");
    let pool = "/mnt/storagepool/sp_zos-cache";
    let mount = |target: &str, options: &str| Effect::Mount {
        source: source.clone(),
        target: target.into(),
        fstype: "btrfs".into(),
        options: options.into(),
    };
    let unmount = |target: &str| Effect::Unmount {
        source: source.clone(),
        target: target.into(),
    };
    blocking(&mount(pool, ""), &confine).unwrap();
    let _pool_guard = MountGuard(root.join(pool.trim_start_matches('/')));
    blocking(
        &Effect::CreateSubvolume {
            path: format!("{pool}/cache"),
        },
        &confine,
    )
    .unwrap();
    blocking(&mount("/var/cache", "subvol=cache"), &confine).unwrap();
    let _cache_guard = MountGuard(root.join("var/cache"));
    assert_eq!(mounts_of(&part).len(), 2);

    // Something else mounted on top of ours is not taken away.
    let tmpfs_at = root.join("var/cache");
    nix::mount::mount(
        Some("tmpfs"),
        &tmpfs_at,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let err = blocking(&unmount("/var/cache"), &confine).unwrap_err();
    assert!(
        err.starts_with("refused:") && err.contains("tmpfs"),
        "{err}"
    );
    assert!(is_mount_point(&tmpfs_at));
    nix::mount::umount(&tmpfs_at).unwrap();

    // Ours goes, and a second unmount finds nothing to undo: success.
    blocking(&unmount("/var/cache"), &confine).unwrap();
    assert_eq!(mounts_of(&part).len(), 1, "{:?}", mounts_of(&part));
    blocking(&unmount("/var/cache"), &confine).unwrap();
    blocking(&unmount("/no/such/dir"), &confine).unwrap();

    // A pool held busy (a file open on it) is detached: gone from the mount table.
    let held = std::fs::File::create(root.join("mnt/storagepool/sp_zos-cache/held")).unwrap();
    blocking(&unmount(pool), &confine).unwrap();
    assert!(mounts_of(&part).is_empty(), "{:?}", mounts_of(&part));
    drop(held);

    // Not on the allow-list, or a dry run: refused before anything is looked at.
    let other = Effect::Unmount {
        source: "/dev/vda".into(),
        target: pool.into(),
    };
    assert!(plan(&other, &confine).unwrap_err().starts_with("refused:"));
    let dry = Confinement {
        dry_run: true,
        ..confine.clone()
    };
    assert!(matches!(
        support::gate::admit(&unmount(pool), &dry),
        Ok(Pass::DryRun(_))
    ));
}
