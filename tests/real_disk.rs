//! Real-world cache-disk tests (root): `nodeboot run` confined to loop disks made by
//! each test, checked on the log stream and on the disks themselves (partition tables,
//! btrfs labels and UUIDs, checksums, subvolumes, mounts). Run as root:
//! `cargo test --test real_disk`. Under `CI=true` a test that cannot run fails.
// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use std::time::Duration;
use support::run::{cache_rules, gate_rules};
use support::{
    LoopDisk, Netns, NodebootRun, RunConfig, TempDir, require_root, sha256_file, sha256_range,
};

const LABEL: &str = "sp_zos-cache";
const TOOLS: &[&str] = &[
    "losetup",
    "partx",
    "sgdisk",
    "mkfs.btrfs",
    "mkfs.ext4",
    "blkid",
    "btrfs",
    "nsenter",
    "ip",
    "sha256sum",
];
const READY: Duration = Duration::from_secs(60);

fn disk_rules() -> Vec<(&'static str, String)> {
    vec![
        ("cache.toml", cache_rules()),
        ("gate.toml", gate_rules(&[], "1h")),
        ("network.toml", "[network]\ninclude = []\n".into()),
    ]
}

/// Subvolume paths under the pool, as `btrfs subvolume list` prints them.
fn subvolumes(run: &NodebootRun) -> Vec<String> {
    let pool = run.path("/mnt/storagepool/sp_zos-cache");
    run.in_mounts(&["btrfs", "subvolume", "list", pool.to_str().unwrap()])
        .lines()
        .filter_map(|l| l.split(" path ").nth(1).map(str::to_string))
        .collect()
}

/// The pool, `cache` and this boot's `logs/<ts>` are mounted from `device` under the
/// run's root; the subvolumes exist. Returns the log subvolume.
fn assert_cache_in_place(run: &NodebootRun, device: &str) -> String {
    let ready = run.wait_for("cache.ready", &[], READY);
    let log_subvolume = ready["log_subvolume"].as_str().unwrap().to_string();
    assert!(log_subvolume.starts_with("logs/"), "{ready}");
    let pool = run
        .mount_at("/mnt/storagepool/sp_zos-cache")
        .expect("pool not mounted");
    assert_eq!(
        (pool.0.as_str(), pool.2.as_str()),
        (device, "btrfs"),
        "{pool:?}"
    );
    let cache = run.mount_at("/var/cache").expect("/var/cache not mounted");
    assert_eq!(cache.0, device);
    assert!(cache.3.contains("subvol=/cache"), "{cache:?}");
    let log = run.mount_at("/var/log").expect("/var/log not mounted");
    assert_eq!(log.0, device);
    assert!(
        log.3.contains(&format!("subvol=/{log_subvolume}")),
        "{log:?}"
    );
    let subvols = subvolumes(run);
    for want in ["cache", "logs", log_subvolume.as_str()] {
        assert!(
            subvols.iter().any(|s| s == want),
            "no subvolume {want}: {subvols:?}"
        );
    }
    log_subvolume
}

#[test]
fn ssd_is_chosen_over_rotary_and_ext4_is_untouched() {
    if !require_root("ssd_is_chosen_over_rotary_and_ext4_is_untouched", TOOLS) {
        return;
    }
    let tmp = TempDir::new("ssd");
    // The rotary disk comes first in name order; the SSD must still win.
    let hdd = LoopDisk::new(tmp.path(), 512, false);
    let ssd = LoopDisk::new(tmp.path(), 512, true);
    let ext = LoopDisk::new(tmp.path(), 256, false);
    ext.mkfs_ext4();
    let ext_before = sha256_file(&ext.image);
    let ns = Netns::new("d");
    let mut disks = Vec::new();
    for d in [&hdd, &ssd, &ext] {
        disks.extend(d.allow_flags());
    }
    let mut run = NodebootRun::start(
        &ns,
        RunConfig {
            disks,
            rules: disk_rules(),
            root_files: vec![(
                "var/log/early.log",
                "written before the cache existed\n".into(),
            )],
            ..Default::default()
        },
    );

    // The log stream.
    let selected = run.wait_for("cache.selected", &[], READY);
    assert_eq!(selected["disk"], ssd.name.as_str(), "{selected}");
    assert_eq!(selected["kind"], "ssd");
    let log_subvolume = assert_cache_in_place(&run, &ssd.part1());
    let seen = |d: &LoopDisk| run.find("disk.seen", &[("disk", &d.name)]);
    assert!(
        seen(&hdd)
            .iter()
            .any(|r| r["verdict"] == "unused" && r["rotational"] == true),
        "{:?}",
        seen(&hdd)
    );
    assert!(
        seen(&ssd)
            .iter()
            .any(|r| r["verdict"] == "unused" && r["rotational"] == false),
        "{:?}",
        seen(&ssd)
    );
    assert!(
        seen(&ext).iter().all(|r| r["verdict"] == "in-use"),
        "{:?}",
        seen(&ext)
    );
    assert!(!seen(&ext).is_empty());
    for step in [
        "partition",
        "mkfs",
        "mount-pool",
        "subvolumes",
        "mount-cache",
        "mount-logs",
    ] {
        let r = run.wait_for("cache.step", &[("step", step)], Duration::from_secs(1));
        assert_eq!(r["ok"], true, "{r}");
    }
    assert!(run.find("cache.found", &[]).is_empty());

    // Early logs were copied into the new log subvolume.
    let early = run.in_mounts(&["cat", run.path("/var/log/early.log").to_str().unwrap()]);
    assert_eq!(early, "written before the cache existed\n");

    // The disks themselves: GPT on the SSD only, btrfs labelled on its partition,
    // the rotary disk still all zeros, the ext4 disk bit for bit the same.
    assert_eq!(ssd.gpt_partition_names(), vec![LABEL.to_string()]);
    let fs = LoopDisk::blkid(&ssd.part1());
    assert_eq!(fs.get("TYPE").map(String::as_str), Some("btrfs"), "{fs:?}");
    assert_eq!(fs.get("LABEL").map(String::as_str), Some(LABEL), "{fs:?}");
    assert!(run.find("cache.step", &[("device", &hdd.name)]).is_empty());
    assert!(hdd.all_zero(), "the rotary disk was written");
    assert!(hdd.gpt_partition_names().is_empty());
    assert_eq!(sha256_file(&ext.image), ext_before, "the ext4 disk changed");

    let status = run.stop();
    assert!(status.success(), "nodeboot run exited with {status}");
    assert!(!run.find("shutdown", &[]).is_empty());
    // After the run, its mounts went with its mount namespace; the log subvolume stays.
    assert!(log_subvolume.len() > "logs/".len());
    assert_eq!(sha256_file(&ext.image), ext_before, "the ext4 disk changed");
}

#[test]
fn labelled_disk_is_reused_not_rewritten() {
    if !require_root("labelled_disk_is_reused_not_rewritten", TOOLS) {
        return;
    }
    let tmp = TempDir::new("reuse");
    // A blank SSD that would be chosen if nodeboot created a cache…
    let blank = LoopDisk::new(tmp.path(), 512, true);
    // …and a rotary disk holding a cache from an earlier boot.
    let old = LoopDisk::new(tmp.path(), 512, false);
    old.prepare_cache(LABEL);
    let size = std::fs::metadata(&old.image).unwrap().len();
    // Mounting btrfs writes its superblocks, so the filesystem is followed by its UUID;
    // the partition table (primary GPT in the first MiB, backup in the last 33
    // sectors) must stay byte for byte.
    let gpt_head = sha256_range(&old.image, 0, 1 << 20);
    let gpt_tail = sha256_range(&old.image, size - 33 * 512, 33 * 512);
    let fs_before = LoopDisk::blkid(&old.part1());
    assert_eq!(fs_before.get("LABEL").map(String::as_str), Some(LABEL));

    let ns = Netns::new("r");
    let mut disks = blank.allow_flags();
    disks.extend(old.allow_flags());
    let mut run = NodebootRun::start(
        &ns,
        RunConfig {
            disks,
            rules: disk_rules(),
            ..Default::default()
        },
    );

    let found = run.wait_for("cache.found", &[], READY);
    assert_eq!(
        found["device"]
            .as_str()
            .map(|d| d.trim_start_matches("/dev/")),
        Some(format!("{}p1", old.name).as_str()),
        "{found}"
    );
    assert_cache_in_place(&run, &old.part1());
    assert!(
        run.find("cache.selected", &[]).is_empty(),
        "a disk was selected for a new cache"
    );
    for step in ["partition", "add-partition", "mkfs"] {
        assert!(
            run.find("cache.step", &[("step", step)]).is_empty(),
            "step {step} ran on a reused cache"
        );
    }

    assert!(blank.all_zero(), "the blank SSD was written");
    assert_eq!(
        sha256_range(&old.image, 0, 1 << 20),
        gpt_head,
        "primary GPT rewritten"
    );
    assert_eq!(
        sha256_range(&old.image, size - 33 * 512, 33 * 512),
        gpt_tail,
        "backup GPT rewritten"
    );
    let fs_after = LoopDisk::blkid(&old.part1());
    assert_eq!(
        fs_after.get("UUID"),
        fs_before.get("UUID"),
        "the filesystem was recreated"
    );
    assert_eq!(fs_after.get("LABEL").map(String::as_str), Some(LABEL));
    assert_eq!(old.gpt_partition_names(), vec![LABEL.to_string()]);

    let status = run.stop();
    assert!(status.success(), "nodeboot run exited with {status}");
    // Still the same filesystem once nodeboot let go of it.
    assert_eq!(
        LoopDisk::blkid(&old.part1()).get("UUID"),
        fs_before.get("UUID")
    );
}

#[test]
fn a_failed_prepare_leaves_nothing_mounted() {
    if !require_root("a_failed_prepare_leaves_nothing_mounted", TOOLS) {
        return;
    }
    let tmp = TempDir::new("undo");
    let ssd = LoopDisk::new(tmp.path(), 512, true);
    let ns = Netns::new("u");
    let mut run = NodebootRun::start(
        &ns,
        RunConfig {
            disks: ssd.allow_flags(),
            rules: disk_rules(),
            // A file where /var/cache should be: mount-cache fails after mount-pool.
            root_files: vec![("var/cache", "not a directory\n".into())],
            ..Default::default()
        },
    );
    let failed = run.wait_for("cache.failed", &[], READY);
    assert_eq!(failed["step"], "mount-cache", "{failed}");
    let undone = run.wait_for("cache.step", &[("step", "unmount-pool")], READY);
    assert_eq!(undone["ok"], true, "{undone}");
    let pool = run.find("cache.step", &[("step", "mount-pool")]);
    assert!(pool.iter().any(|r| r["ok"] == true), "{pool:?}");
    // Nothing of the disk is mounted in nodeboot's mount namespace any more.
    let part = format!("/dev/{}", ssd.part1());
    let text = std::fs::read_to_string(format!("/proc/{}/mountinfo", run.pid)).unwrap();
    let left: Vec<&str> = text
        .lines()
        .filter(|l| l.split(' ').any(|field| field == part))
        .collect();
    assert!(left.is_empty(), "still mounted: {left:?}");
    let under_root = run.mounts();
    assert!(
        under_root.iter().all(|m| m.0 != part),
        "still mounted under the root: {under_root:?}"
    );
    assert!(run.mount_at("/mnt/storagepool/sp_zos-cache").is_none());
    assert!(run.find("cache.ready", &[]).is_empty());
    let status = run.stop();
    assert!(status.success(), "nodeboot run exited with {status}");
}
