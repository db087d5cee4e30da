//! Ownership by proof, live (issue 9, point 8): `nodeboot run` over loop disks whose
//! partitions merely bear our name (or a common name the kernel command line made the
//! label) leaves them alone, byte for byte; our own marked disk with a half-made btrfs
//! is resumed and finished. Root; loop devices removed by their guards.

#[allow(dead_code)]
mod support;

use serde_json::Value;
use support::node::Node;
use support::oracle_disks::{Disk, attach, changed, decided, disk_args, verdict_of, verdicts};
use support::{Loop, TempDir, images, require_root, sha256_file};

fn name_only_is_in_use(tag: &str, cases: &[&'static str], cmdline: Option<&str>, reason: &str) {
    let scratch = TempDir::new(tag);
    let mut disks = attach(&scratch, cases);
    let root = scratch.join("root");
    let mut args = disk_args(&root, &disks);
    if let Some(words) = cmdline {
        let at = args.iter().position(|a| a == "--cmdline").unwrap() + 1;
        args[at] = format!("{} {words}", args[at]);
    }
    let mut node = Node::start(tag, &args, &root);
    let end = node.wait_for("a cache decision", 120, decided);
    let v = verdicts(&node, &disks);
    let events = node.events();
    let status = node.stop();
    drop(node);
    eprintln!("{tag}: {end}\nverdicts: {v:#?}");
    assert!(
        events.iter().all(|e| e["event"] != "rules.error"),
        "{tag}: {events:?}"
    );
    for case in cases.iter().filter(|c| **c != "zeros") {
        assert_eq!(v.get(case).map(String::as_str), Some("in-use"), "{case}");
    }
    // The reason shows the label in force (from the command line when given).
    for d in disks.iter().filter(|d| d.case != "zeros") {
        let name = d.name();
        let seen = events
            .iter()
            .rev()
            .find(|e| e["event"] == "disk.seen" && e["disk"] == name.as_str())
            .unwrap();
        assert!(
            seen["reason"].as_str().is_some_and(|r| r.contains(reason)),
            "{}: {seen}",
            d.case
        );
    }
    assert!(
        !events.iter().any(|e| e["event"] == "cache.resumed"),
        "{tag}: a name-only partition was resumed"
    );
    let seen: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "disk.seen")
        .collect();
    assert_eq!(end["event"], "cache.ready", "{end}\n{seen:#?}");
    assert!(status.success(), "nodeboot exited {status}");
    assert_eq!(changed(&mut disks), vec!["zeros"], "{tag}: written images");
}

#[test]
fn our_partition_name_over_foreign_data_is_in_use_live() {
    if !require_root("live name-only partition", &["sgdisk", "mkfs.ext4"]) {
        return;
    }
    name_only_is_in_use(
        "nameonly",
        &[
            "gpt-sp_zos-cache-holding-ext4",
            "gpt-sp_zos-cache-holding-random",
            "gpt-named-sp_zos-cache",
            "zeros",
        ],
        None,
        "named sp_zos-cache without nodeboot's type GUID",
    );
}

#[test]
fn a_cmdline_label_equal_to_a_common_partition_name_proves_nothing_live() {
    if !require_root("live label from the command line", &["sgdisk"]) {
        return;
    }
    name_only_is_in_use(
        "defname",
        &["gpt-default-name-holding-random", "zeros"],
        Some("\"nodeboot.label=Linux filesystem\""),
        "named Linux filesystem without nodeboot's type GUID",
    );
}

/// A power cut during mkfs: our marked table (nodeboot's type GUID, our layout) and on
/// its partition a btrfs whose superblock magic never made it to the disk (tree
/// blocks and the rest of the superblock are there: data no probe names). The next
/// boot resumes that disk and finishes it with `mkfs -f`; the blank disk beside it is
/// never touched.
#[test]
fn our_marked_disk_with_a_partial_btrfs_is_resumed_and_finished_live() {
    if !require_root("live partial mkfs", &["sgdisk", "mkfs.btrfs"]) {
        return;
    }
    let scratch = TempDir::new("partial");
    let size: u64 = 256 << 20;
    let image = scratch.join("marked.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(size)
        .unwrap();
    let t = format!("1:{}", nodeboot::wire::gpt::TYPE_NODEBOOT_CACHE);
    let img = image.display().to_string();
    support::sh(&[
        "sgdisk",
        "-o",
        "-n",
        "1:0:0",
        "-t",
        &t,
        "-c",
        "1:sp_zos-cache",
        &img,
    ]);
    // Partition 1: LBA 2048 to the last usable LBA (size/512 - 34).
    let part_len = (size / 512 - 34 - 2048 + 1) * 512;
    let fs = scratch.join("part.img");
    std::fs::File::create(&fs)
        .unwrap()
        .set_len(part_len)
        .unwrap();
    support::sh(&[
        "mkfs.btrfs",
        "-q",
        "-f",
        "-L",
        "sp_zos-cache",
        &fs.display().to_string(),
    ]);
    let mut bytes = std::fs::read(&fs).unwrap();
    // The superblock at 64 KiB loses its magic (`_BHRfS_M` at +64): unfinished.
    bytes[65536 + 64..65536 + 72].fill(0);
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&image)
            .unwrap();
        f.seek(SeekFrom::Start(1 << 20)).unwrap();
        f.write_all(&bytes).unwrap();
    }
    drop(bytes);
    let before = sha256_file(&image);
    let lo = Loop::attach(&image).unwrap();
    lo.set_ssd();
    let mut disks = attach(&scratch, &["zeros"]);
    disks.insert(
        0,
        Disk {
            case: "marked-partial-btrfs",
            image: image.clone(),
            lo: Some(lo),
            before,
        },
    );
    let root = scratch.join("root");
    let mut node = Node::start("partial", &disk_args(&root, &disks), &root);
    let end = node.wait_for("a cache decision", 120, decided);
    let events = node.events();
    let status = node.stop();
    drop(node);
    eprintln!("partial mkfs: {end}");
    let ours = disks[0].name();
    let v = verdict_of(&events, &ours);
    assert_eq!(v.as_deref(), Some("cache"), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "cache.resumed" && e["disk"] == ours.as_str()),
        "{events:?}"
    );
    assert_eq!(end["event"], "cache.ready", "{end}");
    assert!(
        end["device"]
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("{ours}p"))),
        "{end}"
    );
    assert!(status.success(), "nodeboot exited {status}");
    let changed = changed(&mut disks);
    assert_eq!(
        changed,
        vec!["marked-partial-btrfs"],
        "only our disk is written"
    );
    // Finished: the partition now holds a complete btrfs with our label.
    let (head, _, _) = images::ends(&image);
    let g = nodeboot::wire::gpt::parse(&head).unwrap();
    assert!(nodeboot::wire::gpt::nodeboot_layout(&g).is_ok());
    let mut sb = vec![0u8; 1 << 20];
    use std::os::unix::fs::FileExt;
    std::fs::File::open(&image)
        .unwrap()
        .read_exact_at(&mut sb, 1 << 20)
        .unwrap();
    let label = nodeboot::wire::btrfs::parse_superblock(&sb).map(|b| b.label);
    assert_eq!(label.ok().as_deref(), Some("sp_zos-cache"));
}
