//! Deadlines of the cache's blocking steps (issue 9, point 3): a step that never
//! answers fails with `timed out after …` when its core timer fires, the world is told
//! to abandon it, and its late answer changes nothing.

use super::*;

fn timeouts(w: &World) -> Vec<(String, String, u64)> {
    w.records
        .iter()
        .filter_map(|e| match e {
            Event::EffectTimeout {
                effect,
                target,
                after_ms,
            } => Some((effect.clone(), target.clone(), *after_ms)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_probe_that_never_answers_makes_its_disk_in_use_and_the_boot_goes_on() {
    let mut w = World::new(policy());
    w.hold.insert("sdb".into());
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, blank(true));
    w.coldplug_done(100);
    w.run_until(60_000);
    assert_eq!(
        timeouts(&w),
        vec![("probe_disk".into(), "sdb".into(), 10_000)]
    );
    let (verdict, reason) = w.seen("sdb");
    assert_eq!(verdict, Verdict::InUse);
    assert!(reason.contains("timed out after 10s"), "{reason}");
    assert!(w.has(&Event::CacheSelected {
        disk: "sda".into(),
        kind: "ssd".into()
    }));
    assert!(w.r.cache.is_settled());
    // The probe answers at last: ignored, the verdict stands.
    w.release(61_000, "sdb");
    w.run_until(70_000);
    assert_eq!(w.seen("sdb").0, Verdict::InUse);
}

#[test]
fn an_mkfs_that_hangs_fails_the_prepare_at_its_deadline_and_is_killed() {
    let mut w = World::new(policy());
    w.hold_if = Some(Box::new(|e| matches!(e, Effect::Mkfs { .. })));
    w.disk(10, "sda", 1, blank(true));
    w.coldplug_done(100);
    w.run_until(100_000);
    assert!(!w.r.cache.is_settled(), "mkfs runs, within its deadline");
    w.run_until(200_000);
    assert!(w.has(&Event::CacheFailed {
        device: "sda1".into(),
        step: "mkfs".into(),
        error: "timed out after 120s".into()
    }));
    assert_eq!(timeouts(&w), vec![("mkfs".into(), "sda1".into(), 120_000)]);
    let mkfs = w.held.first().map(|a| a.id).expect("mkfs held");
    assert!(w.abandons.contains(&Effect::Kill {
        child: mkfs,
        signal: crate::core::action::KillSignal::Kill
    }));
    assert!(w.r.cache.is_settled(), "a failed cache lets services start");
    // The mkfs ends after all: nothing is mounted on the strength of it.
    let mounts_before = w.count("cache.step");
    w.release(200_000, "sda");
    w.run_until(260_000);
    assert_eq!(w.count("cache.step"), mounts_before);
    assert!(!w.effects.iter().any(|e| matches!(e, Effect::Mount { .. })));
}

#[test]
fn a_disk_removed_while_mkfs_hangs_settles_at_the_mkfs_deadline() {
    let mut w = World::new(policy());
    w.hold_if = Some(Box::new(|e| matches!(e, Effect::Mkfs { .. })));
    w.disk(10, "sda", 1, blank(true));
    w.coldplug_done(100);
    w.run_until(5_000);
    assert!(w.effects.iter().any(|e| matches!(e, Effect::Mkfs { .. })));
    w.remove(5_000, "sda");
    assert!(w.has(&Event::CacheFailed {
        device: "sda1".into(),
        step: "mkfs".into(),
        error: "sda removed".into()
    }));
    // The failed prepare waits for the effect in flight (it could be a mount)…
    assert!(!w.r.cache.is_settled());
    // …but not for ever: mkfs has a deadline.
    w.run_until(200_000);
    assert_eq!(timeouts(&w), vec![("mkfs".into(), "sda1".into(), 120_000)]);
    assert!(w.r.cache.is_settled());
}
