//! A failed prepare undoes its mounts: last made first, each a `cache.step`, and the
//! cache counts as settled (services may start) only once every unmount is answered.

use super::*;

fn unmounts(w: &World) -> Vec<(String, String)> {
    w.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Unmount { source, target } => Some((source.clone(), target.clone())),
            _ => None,
        })
        .collect()
}

/// The `cache.step` records from the failed step on.
fn steps_from(w: &World, step: &str) -> Vec<(String, String, bool)> {
    let steps = w.steps();
    let at = steps.iter().position(|(s, _, _)| s == step).unwrap();
    steps[at..].to_vec()
}

fn step(name: &str, device: &str, ok: bool) -> (String, String, bool) {
    (name.into(), device.into(), ok)
}

#[test]
fn a_failure_after_mount_pool_unmounts_the_pool() {
    let mut w = World::new(policy());
    w.fail("ENOSPC", |e| matches!(e, Effect::CopyTree { .. }));
    w.disk(10, "sda", 1, labelled());
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheFailed {
        device: "sda".into(),
        step: "copy-logs".into(),
        error: "ENOSPC".into()
    }));
    assert_eq!(
        steps_from(&w, "copy-logs"),
        vec![
            step("copy-logs", "sda", false),
            step("unmount-pool", "sda", true)
        ]
    );
    assert_eq!(unmounts(&w), vec![("/dev/sda".into(), POOL.into())]);
    // `cache.failed` says what failed; the undo follows it.
    let names = w.names();
    let failed = names.iter().position(|n| n == "cache.failed").unwrap();
    let undone = names.iter().rposition(|n| n == "cache.step").unwrap();
    assert!(failed < undone, "{names:?}");
    assert!(w.r.cache.is_settled());
    assert_eq!(w.r.cache.summary(), "failed sda at copy-logs");
}

#[test]
fn a_failure_after_the_binds_unmounts_all_three_in_reverse_order() {
    let mut w = World::new(policy());
    w.fail("EACCES", |e| matches!(e, Effect::ReopenLogs { .. }));
    w.disk(10, "sda", 1, blank(true));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert!(w.has(&Event::CacheFailed {
        device: "sda1".into(),
        step: "reopen-logs".into(),
        error: "EACCES".into()
    }));
    assert_eq!(
        steps_from(&w, "reopen-logs"),
        vec![
            step("reopen-logs", "sda1", false),
            step("unmount-logs", "sda1", true),
            step("unmount-cache", "sda1", true),
            step("unmount-pool", "sda1", true),
        ]
    );
    let src = "/dev/sda1".to_string();
    assert_eq!(
        unmounts(&w),
        vec![
            (src.clone(), "/var/log".into()),
            (src.clone(), "/var/cache".into()),
            (src, POOL.into()),
        ]
    );
    assert_eq!(w.count("cache.ready"), 0);
    assert_eq!(w.written(), vec!["table sda", "mkfs sda1"]);
}

#[test]
fn an_unmount_that_fails_is_logged_and_the_other_mounts_are_still_undone() {
    let mut w = World::new(policy());
    w.fail(
        "EIO",
        |e| matches!(e, Effect::Mount { target, .. } if target == "/var/log"),
    );
    w.fail(
        "umount /var/cache: EINVAL",
        |e| matches!(e, Effect::Unmount { target, .. } if target == "/var/cache"),
    );
    w.disk(10, "sda", 1, labelled());
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(
        steps_from(&w, "mount-logs"),
        vec![
            step("mount-logs", "sda", false),
            step("unmount-cache", "sda", false),
            step("unmount-pool", "sda", true),
        ]
    );
    let error = w.records.iter().find_map(|e| match e {
        Event::CacheStep { step, error, .. } if step == "unmount-cache" => error.clone(),
        _ => None,
    });
    assert_eq!(error.as_deref(), Some("umount /var/cache: EINVAL"));
    assert!(w.r.cache.is_settled());
    assert_eq!(w.r.cache.summary(), "failed sda at mount-logs");
}

#[test]
fn a_failure_before_any_mount_unmounts_nothing() {
    let mut w = World::new(policy());
    w.fail("EIO", |e| matches!(e, Effect::Mount { .. }));
    w.disk(10, "sda", 1, labelled());
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(w.count("cache.failed"), 1);
    assert!(unmounts(&w).is_empty());
    assert_eq!(w.steps(), vec![step("mount-pool", "sda", false)]);
    assert!(w.r.cache.is_settled());
}

#[test]
fn the_cache_settles_only_once_the_undo_is_answered() {
    let mut w = World::new(policy());
    w.fail("ENOSPC", |e| matches!(e, Effect::CreateSubvolume { .. }));
    w.hold_if = Some(Box::new(|e| matches!(e, Effect::Unmount { .. })));
    w.disk(10, "sda", 1, labelled());
    w.coldplug_done(100);
    w.run_until(30_000);
    assert_eq!(w.count("cache.failed"), 1);
    assert_eq!(unmounts(&w).len(), 1, "the unmount is asked for");
    assert!(
        !w.r.cache.is_settled(),
        "services must not start on a pool still mounted"
    );
    assert_eq!(
        w.r.cache.summary(),
        "failed sda at subvolumes, undoing: unmount-pool"
    );
    w.release(31_000, "");
    assert!(w.r.cache.is_settled());
    assert_eq!(w.steps().last(), Some(&step("unmount-pool", "sda", true)));
}

#[test]
fn a_disk_removed_while_a_mount_is_in_flight_has_that_mount_undone_too() {
    let mut w = World::new(policy());
    w.hold_if = Some(Box::new(
        |e| matches!(e, Effect::Mount { target, .. } if target == "/var/cache"),
    ));
    w.disk(10, "sda", 1, labelled());
    w.coldplug_done(100);
    w.run_until(30_000);
    assert_eq!(w.held.len(), 1, "mount-cache is in flight");
    w.remove(30_000, "sda");
    assert!(w.has(&Event::CacheFailed {
        device: "sda".into(),
        step: "mount-cache".into(),
        error: "sda removed".into()
    }));
    assert!(unmounts(&w).is_empty(), "waits for the mount in flight");
    assert!(!w.r.cache.is_settled());
    // The mount completes after all: it is undone, then the pool.
    w.release(31_000, "");
    assert_eq!(
        unmounts(&w),
        vec![
            ("/dev/sda".into(), "/var/cache".into()),
            ("/dev/sda".into(), POOL.into()),
        ]
    );
    assert!(w.r.cache.is_settled());
    assert_eq!(w.count("cache.failed"), 1);
    assert!(!w.steps().contains(&step("mount-cache", "sda", true)));
}
