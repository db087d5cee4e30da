//! Devices that come, go, change, or were lost with uevents (resync).

use super::*;

#[test]
fn a_disk_removed_mid_prepare_fails_the_prepare() {
    let mut w = World::new(policy());
    w.partitions_appear = false;
    w.disk(10, "sda", 1, blank(true));
    w.coldplug_done(100);
    w.run_until(3_000); // waiting for the partition
    w.remove(3_000, "sda");
    assert!(w.has(&Event::DiskGone { disk: "sda".into() }));
    assert!(w.has(&Event::CacheFailed {
        device: "sda".into(),
        step: "add-partition".into(),
        error: "sda removed".into()
    }));
    w.run_until(60_000);
    assert_eq!(w.count("cache.failed"), 1);
}

#[test]
fn resync_takes_no_decision_twice() {
    let mut w = World::new(policy());
    w.partitions_appear = false;
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, blank(true));
    w.coldplug_done(100);
    w.run_until(3_000); // preparing sda, waiting for sda1
    let present = |w: &World, names: &[&str]| -> Vec<Uevent> {
        names
            .iter()
            .map(|n| {
                let devtype = if n.ends_with('1') {
                    "partition"
                } else {
                    "disk"
                };
                uevent(UeventAction::Add, n, &w.devpaths[*n], devtype)
            })
            .collect()
    };
    // sda1 appeared while uevents were lost; a new blank disk too
    w.probes.insert("sda1".into(), blank(true));
    w.devpaths
        .insert("sda1".into(), format!("{}/sda1", w.devpaths["sda"]));
    w.probes.insert("sdc".into(), blank(true));
    w.devpaths.insert(
        "sdc".into(),
        "/devices/pci0000:00/0000:00:00.0/block/sdc".into(),
    );
    let devices = present(&w, &["sda", "sdb", "sdc", "sda1"]);
    w.input(3_000, Input::Resync { devices });
    assert!(w.has(&Event::Resync {
        devices: 4,
        added: 2,
        removed: 0
    }));
    w.run_until(60_000);
    assert!(w.has(&ready("sda1", 3)));
    let devices = present(&w, &["sda", "sdb", "sdc", "sda1"]);
    w.input(61_000, Input::Resync { devices });
    w.run_until(120_000);
    assert_eq!(w.count("cache.selected"), 1);
    assert_eq!(w.count("cache.settled"), 1);
    assert_eq!(w.written(), vec!["table sda", "mkfs sda1"]);
}

#[test]
fn resync_missing_the_prepared_disk_fails_the_prepare() {
    let mut w = World::new(policy());
    w.partitions_appear = false;
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, blank(true));
    w.coldplug_done(100);
    w.run_until(3_000);
    let devices = vec![uevent(UeventAction::Add, "sdb", &w.devpaths["sdb"], "disk")];
    w.input(3_000, Input::Resync { devices });
    w.run_until(60_000);
    assert!(w.has(&Event::DiskGone { disk: "sda".into() }));
    assert_eq!(w.count("cache.failed"), 1);
    assert_eq!(w.written(), vec!["table sda"]);
}

#[test]
fn a_change_uevent_reprobes_a_disk_but_not_the_one_being_written() {
    let mut w = World::new(policy());
    w.disk(10, "sda", 1, blank(true));
    w.disk(20, "sdb", 2, blank(true));
    w.coldplug_done(100);
    w.run_until(60_000);
    let probes = |w: &World, d: &str| {
        w.effects
            .iter()
            .filter(|e| matches!(e, Effect::ProbeDisk { device } if device == d))
            .count()
    };
    for d in ["sda", "sdb"] {
        let devpath = w.devpaths[d].clone();
        let u = uevent(UeventAction::Change, d, &devpath, "disk");
        w.input(61_000, Input::Uevent { uevent: u });
    }
    assert_eq!(probes(&w, "sda"), 1);
    assert_eq!(probes(&w, "sdb"), 2);
}
