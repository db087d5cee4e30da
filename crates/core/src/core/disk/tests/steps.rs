//! The prepare steps: resume, refusals before mkfs, failures, log names, prune.

use super::*;
use std::time::Duration;

#[test]
fn interrupted_prepare_with_partition_present_is_resumed_at_mkfs() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true)); // first in order, blank
    w.disk(20, "sdb", 2, our_gpt(false));
    w.partition(21, "sdb", blank(false));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(
        w.seen("sdb"),
        (Verdict::Cache, "interrupted prepare".into())
    );
    assert!(w.has(&Event::CacheResumed {
        disk: "sdb".into(),
        from_step: "mkfs".into()
    }));
    let mut expected = vec![("mkfs".to_string(), "sdb1".to_string(), true)];
    expected.extend(mount_sequence("sdb1"));
    assert_eq!(w.steps(), expected);
    assert_eq!(w.written(), vec!["mkfs sdb1"]);
    assert!(
        w.effects
            .iter()
            .filter(|e| !matches!(e, Effect::ProbeDisk { .. }))
            .all(|e| !format!("{e:?}").contains("\"sda"))
    );
}

#[test]
fn interrupted_prepare_without_partition_device_is_resumed_at_add_partition() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, our_gpt(true));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheResumed {
        disk: "sdb".into(),
        from_step: "add-partition".into()
    }));
    let mut expected = vec![
        ("add-partition".to_string(), "sdb".to_string(), true),
        ("mkfs".to_string(), "sdb1".to_string(), true),
    ];
    expected.extend(mount_sequence("sdb1"));
    assert_eq!(w.steps(), expected);
    assert_eq!(w.written(), vec!["mkfs sdb1"]);
}

#[test]
fn a_hidden_labelled_partition_is_mounted_not_formatted() {
    // A kernel that parses no partition tables shows last boot's cache as a bare GPT.
    let mut w = World::new(policy());
    w.disk(10, "sdb", 2, our_gpt(true));
    w.probes.insert("sdb1".into(), labelled());
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheFound {
        device: "sdb1".into()
    }));
    assert!(w.written().is_empty());
    assert!(w.has(&ready("sdb1", 2)));
}

#[test]
fn a_fresh_partition_holding_a_signature_is_not_formatted() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true));
    w.probes.insert(
        "sda1".into(),
        DiskProbe {
            signatures: vec!["ext4".into()],
            ..blank(true)
        },
    );
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(w.written(), vec!["table sda"]);
    assert!(w.has(&Event::CacheFailed {
        device: "sda1".into(),
        step: "mkfs".into(),
        error: "refusing to format: partition holds signature ext4".into()
    }));
}

#[test]
fn a_partition_that_never_appears_fails_the_prepare() {
    let mut w = World::new(policy());
    w.partitions_appear = false;
    w.disk(10, "sda", 1, blank(true));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheFailed {
        device: "sda".into(),
        step: "add-partition".into(),
        error: "partition 1 of sda did not appear within 10000 ms".into()
    }));
    assert_eq!(w.written(), vec!["table sda"]);
}

#[test]
fn the_partition_wait_is_the_policy_s() {
    let mut p = policy();
    p.cache.partition_wait = Duration::from_secs(3);
    let mut w = World::new(p);
    w.partitions_appear = false;
    w.disk(10, "sda", 1, blank(true));
    w.coldplug_done(100);
    // decided at 2.1 s (coldplug at 0.1 s, then the 2 s quiet period); the table
    // and add-partition are answered at once
    w.run_until(2_100 + 2_999);
    assert_eq!(w.settled_at(), Some(2_000));
    assert_eq!(w.count("cache.failed"), 0, "not before partition_wait");
    w.run_until(2_100 + 3_000);
    assert!(w.has(&Event::CacheFailed {
        device: "sda".into(),
        step: "add-partition".into(),
        error: "partition 1 of sda did not appear within 3000 ms".into()
    }));
}

#[test]
fn log_subvolume_names_avoid_collisions_and_old_ones_are_pruned() {
    let mut w = World::new(policy()); // keep_logs = 3
    let now = logname::timestamp(WALL);
    w.subvolumes = vec![
        "20250101T000000Z".into(),
        now.clone(),
        "20260101T000000Z".into(),
        "20240101T000000Z".into(),
        "keep-me".into(),
    ];
    w.fail(
        "busy",
        |e| matches!(e, Effect::DeleteSubvolume { path } if path.ends_with("20240101T000000Z")),
    );
    w.disk(10, "sda", 1, labelled());
    w.coldplug_done(100);
    w.run_until(60_000);
    let name = format!("{now}.1");
    assert!(w.has(&Event::CacheReady {
        device: "sda".into(),
        log_subvolume: format!("logs/{name}")
    }));
    assert!(w.effects.contains(&Effect::CreateSubvolume {
        path: format!("{POOL}/logs/{name}")
    }));
    let pruned: Vec<&Event> = w
        .records
        .iter()
        .filter(|e| matches!(e, Event::CachePruned { .. }))
        .collect();
    assert_eq!(
        pruned,
        vec![
            &Event::CachePruned {
                subvolume: "logs/20240101T000000Z".into(),
                ok: false
            },
            &Event::CachePruned {
                subvolume: "logs/20250101T000000Z".into(),
                ok: true
            },
        ]
    );
}

#[test]
fn mkfs_failure_fails_the_cache_and_nothing_else_is_formatted() {
    let mut w = World::new(policy());
    w.fail("mkfs.btrfs exited 1", |e| matches!(e, Effect::Mkfs { .. }));
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, blank(true));
    w.coldplug_done(100);
    w.run_until(20_000);
    assert!(w.has(&Event::CacheFailed {
        device: "sda1".into(),
        step: "mkfs".into(),
        error: "mkfs.btrfs exited 1".into()
    }));
    assert!(w.steps().contains(&("mkfs".into(), "sda1".into(), false)));
    // a disk arriving later does not get formatted either
    w.disk(30_000, "sdc", 3, blank(true));
    w.run_until(90_000);
    assert_eq!(w.written(), vec!["table sda", "mkfs sda1"]);
    assert_eq!(w.count("cache.selected"), 1);
    for t in [
        Timer::SettleQuiet,
        Timer::SettleDeadline,
        Timer::PartitionWait,
    ] {
        assert!(!w.r.cx.timers.is_armed(&t), "{t:?} left armed");
    }
}

#[test]
fn a_labelled_filesystem_that_fails_to_mount_is_an_error_not_a_reason_to_format() {
    let mut w = World::new(policy());
    w.fail("EIO", |e| matches!(e, Effect::Mount { .. }));
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, labelled());
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheFailed {
        device: "sdb".into(),
        step: "mount-pool".into(),
        error: "EIO".into()
    }));
    assert!(w.written().is_empty());
    assert_eq!(w.count("cache.none"), 0);
}

#[test]
fn an_unfinished_mkfs_of_ours_is_finished_but_a_foreign_filesystem_is_not() {
    let unknown = || DiskProbe {
        signatures: vec!["unknown-data".into()],
        ..blank(true)
    };
    // the disk as the wire probe reports it: the table's own signature
    let gpt = || DiskProbe {
        signatures: vec!["gpt".into()],
        ..our_gpt(true)
    };
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, gpt());
    w.partition(11, "sda", unknown());
    w.disk(20, "sdb", 2, gpt());
    w.partition(
        21,
        "sdb",
        DiskProbe {
            signatures: vec!["ext4".into()],
            ..blank(true)
        },
    );
    w.disk(30, "sdc", 3, blank(true));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(
        w.seen("sda"),
        (Verdict::Cache, "interrupted prepare".into())
    );
    assert_eq!(
        w.seen("sdb"),
        (Verdict::InUse, "signature ext4 on sdb1".into())
    );
    assert!(w.has(&Event::CacheResumed {
        disk: "sda".into(),
        from_step: "mkfs".into()
    }));
    assert_eq!(w.written(), vec!["mkfs sda1"]);
}

#[test]
fn a_hidden_partition_of_ours_with_an_unfinished_mkfs_is_formatted_again() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, our_gpt(true));
    w.probes.insert(
        "sda1".into(),
        DiskProbe {
            signatures: vec!["unknown-data".into()],
            ..blank(true)
        },
    );
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(w.written(), vec!["mkfs sda1"]);
    assert!(w.has(&ready("sda1", 2)));
}

#[test]
fn a_fresh_partition_with_unknown_data_is_not_formatted() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true));
    w.probes.insert(
        "sda1".into(),
        DiskProbe {
            signatures: vec!["unknown-data".into()],
            ..blank(true)
        },
    );
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(w.written(), vec!["table sda"]);
    assert_eq!(w.count("cache.failed"), 1);
}
