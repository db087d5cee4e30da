//! Ownership by proof: nodeboot's type GUID and layout make a disk ours, a name does
//! not; `mkfs -f` only on a disk proven ours; labelled filesystems after a failure and
//! duplicates.

use super::*;

fn unknown_data() -> DiskProbe {
    DiskProbe {
        signatures: vec!["unknown-data".into()],
        ..blank(true)
    }
}

fn mkfs_forced(w: &World) -> Vec<bool> {
    w.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Mkfs { force, .. } => Some(*force),
            _ => None,
        })
        .collect()
}

#[test]
fn a_partition_only_named_like_ours_is_in_use_whatever_it_holds() {
    let mut w = World::new(policy());
    // Same name, same layout, the default Linux type: data on it is someone's.
    w.disk(10, "sda", 1, named_only(true));
    w.partition(11, "sda", unknown_data());
    w.disk(20, "sdb", 2, named_only(true));
    w.partition(21, "sdb", blank(true));
    w.disk(30, "sdc", 3, blank(true));
    w.coldplug_done(100);
    w.run_until(60_000);
    let reason = "gpt partition 1 named sp_zos-cache without nodeboot's type GUID";
    assert_eq!(w.seen("sda"), (Verdict::InUse, reason.into()));
    assert_eq!(w.seen("sdb"), (Verdict::InUse, reason.into()));
    assert_eq!(w.count("cache.resumed"), 0);
    // Not ours, so no reason to hold back: the blank disk is prepared, without -f.
    assert_eq!(w.written(), vec!["table sdc", "mkfs sdc1"]);
    assert_eq!(mkfs_forced(&w), vec![false]);
}

#[test]
fn a_label_equal_to_a_common_partition_name_proves_nothing() {
    let mut p = policy();
    p.cache.label = "Linux filesystem".into();
    let mut w = World::new(p);
    let mut probe = named_only(true);
    probe.partitions[0].name = "Linux filesystem".into();
    w.disk(10, "sda", 1, probe);
    w.partition(11, "sda", unknown_data());
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(w.seen("sda").0, Verdict::InUse);
    assert!(w.written().is_empty());
}

#[test]
fn our_marked_disk_is_resumed_with_force_and_a_fresh_one_is_formatted_without() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, our_gpt(true));
    w.partition(21, "sdb", unknown_data());
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(w.written(), vec!["mkfs sdb1"]);
    assert_eq!(mkfs_forced(&w), vec![true]);
    assert!(w.has(&ready("sdb1", 2)));
}

#[test]
fn a_marked_disk_that_is_not_exactly_ours_fails_loudly_and_no_other_disk_is_chosen() {
    let cases: Vec<(DiskProbe, Option<DiskProbe>, &str)> = vec![
        // someone made a filesystem on our partition
        (
            our_gpt(true),
            Some(DiskProbe {
                signatures: vec!["ext4".into()],
                ..blank(true)
            }),
            "signature ext4 on sda1",
        ),
        // our type GUID but a partition that does not span the disk
        (
            {
                let mut p = our_gpt(true);
                p.partitions[0].size_lba -= 2048;
                p
            },
            None,
            "not the last usable LBA",
        ),
        // our type GUID among other partitions
        (
            {
                let mut p = our_gpt(true);
                let mut second = p.partitions[0].clone();
                second.number = 2;
                p.partitions.push(second);
                p
            },
            None,
            "among 2 partitions",
        ),
    ];
    for (disk, part, why) in cases {
        let mut w = World::new(policy());
        w.disk(10, "sda", 1, disk);
        if let Some(part) = part {
            w.partition(11, "sda", part);
        }
        w.disk(20, "sdb", 2, blank(true));
        w.coldplug_done(100);
        w.run_until(60_000);
        let (verdict, reason) = w.seen("sda");
        assert_eq!(verdict, Verdict::InUse);
        assert!(reason.contains(why), "{reason}");
        let failed: Vec<&Event> = w
            .records
            .iter()
            .filter(|e| matches!(e, Event::CacheFailed { step, device, .. } if step == "resume" && device == "sda"))
            .collect();
        assert_eq!(failed.len(), 1, "{why}: {:?}", w.names());
        assert!(w.written().is_empty(), "{why}");
        assert_eq!(w.count("cache.selected"), 0);
        assert!(w.r.cache.is_settled());
    }
}

#[test]
fn a_labelled_cache_plugged_after_a_failure_is_mounted() {
    let mut w = World::new(policy());
    w.fail("mkfs.btrfs exited 1", |e| matches!(e, Effect::Mkfs { .. }));
    w.disk(10, "sda", 1, blank(true));
    w.coldplug_done(100);
    w.run_until(20_000);
    assert_eq!(w.count("cache.failed"), 1);
    w.disk(30_000, "sdb", 2, labelled());
    w.run_until(60_000);
    assert!(w.has(&Event::CacheFound {
        device: "sdb".into()
    }));
    assert!(w.has(&ready("sdb", 30)));
    assert_eq!(w.written(), vec!["table sda", "mkfs sda1"]);
}

#[test]
fn two_labelled_caches_are_a_warning_and_the_second_is_never_mounted() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, labelled());
    w.disk(20, "sdb", 2, labelled());
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheDuplicate {
        device: "sdb".into(),
        other: "sda".into()
    }));
    assert!(w.has(&ready("sda", 0)));
    // A third one plugged while the first is in use: named once, never mounted.
    w.disk(61_000, "sdc", 3, labelled());
    w.run_until(90_000);
    assert!(w.has(&Event::CacheDuplicate {
        device: "sdc".into(),
        other: "sda".into()
    }));
    let mounted_elsewhere = w
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Mount { source, .. } if source != "/dev/sda"));
    assert!(!mounted_elsewhere, "{:?}", w.effects);
    assert_eq!(w.count("cache.duplicate"), 2);
}
