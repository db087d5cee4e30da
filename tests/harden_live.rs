//! The live reactor (`nodeboot run`, the real binary) against hostile disks, forged
//! events, uevent storms and process faults (root; loop devices and network
//! namespaces made here, removed by Drop guards). Each test starts nodeboot inside its
//! own fresh network namespace, so the readiness gate's probes cannot leave the
//! machine, and points the gate at 127.0.0.1:9 with a 1 s timeout.

// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use support::node::{Node, base_args};
use support::oracle_disks::{Disk, attach, changed, decided, disk_args, foreign_cases, verdicts};
use support::{Loop, TempDir, images, require_root, sha256_file};

#[test]
fn live_run_over_the_oracle_images_writes_none_of_them() {
    if !require_root("live oracle", &[]) {
        return;
    }
    let scratch = TempDir::new("live-oracle");
    let mut cases = foreign_cases();
    // The control: one blank disk, which a live run does prepare. Listed last, so
    // that the "first unused SSD" really had foreign disks before it to skip.
    cases.push("zeros");
    let mut disks = attach(&scratch, &cases);
    // A blank disk that is read-only: empty, but not writable, so not unused.
    let ro_image = images::make_as("zeros", "ro-zeros.img", &scratch).unwrap();
    let ro = Loop::attach_ro(&ro_image).unwrap();
    ro.set_ssd();
    disks.insert(
        0,
        Disk {
            case: "zeros-read-only",
            before: sha256_file(&ro_image),
            image: ro_image,
            lo: Some(ro),
        },
    );
    let root = scratch.join("root");
    let mut node = Node::start("oracle", &disk_args(&root, &disks), &root);
    let end = node.wait_for("a cache decision", 120, decided);
    let v = verdicts(&node, &disks);
    let zombies = node.zombies();
    let status = node.stop();
    drop(node);
    eprintln!("live oracle: {end}\nverdicts: {v:#?}");
    assert_eq!(
        end["event"], "cache.ready",
        "the blank control disk was not prepared"
    );
    for d in &disks {
        let verdict = v.get(d.case).map(String::as_str);
        if d.case == "zeros" {
            assert_eq!(verdict, Some("unused"), "control");
        } else if d.case == "zeros-read-only" {
            assert!(
                matches!(verdict, Some("in-use" | "excluded")),
                "read-only blank disk: {verdict:?}"
            );
        } else {
            assert!(
                matches!(verdict, Some("in-use")),
                "{}: verdict {verdict:?}",
                d.case
            );
        }
    }
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
    assert!(status.success(), "nodeboot exited {status}");
    let changed = changed(&mut disks);
    assert_eq!(
        changed,
        vec!["zeros"],
        "written images (only the blank control may be)"
    );
}

/// A partition named like ours but without nodeboot's type GUID, over data (an ext4
/// with a file, or bytes no probe knows): `in-use`, the whole image unchanged (sha256),
/// and the blank disk beside it — someone else's disk is no reason to hold back — is
/// the one prepared, without `mkfs -f`.
/// A loop minor no device uses yet (`losetup /dev/loopN` then makes it, with `add`).
fn free_loop_minor() -> u32 {
    (200..1000)
        .find(|n| {
            !std::path::Path::new(&format!("/sys/block/loop{n}")).exists()
                && !std::path::Path::new(&format!("/dev/loop{n}")).exists()
        })
        .expect("a free loop minor")
}

/// Sends `msg` to uevent group 1 from this (non-kernel) process, inside `netns`
/// (netlink multicast from user space stays in its network namespace); returns the
/// sender port the receiver sees.
fn forge_uevent(netns: &str, msg: &[u8]) -> u32 {
    let ns = netns.to_owned();
    let msg = msg.to_vec();
    std::thread::spawn(move || {
        use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_KOBJECT_UEVENT};
        let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let mut sock = Socket::new(NETLINK_KOBJECT_UEVENT).unwrap();
        let me = sock.bind_auto().unwrap().port_number();
        sock.send_to(&msg, &SocketAddr::new(0, 1), 0).unwrap();
        me
    })
    .join()
    .unwrap()
}

/// Sends `n` copies of `msg` to uevent group 1 from one socket inside `netns`, as
/// fast as it goes; the sender port and the time it took.
fn forge_uevents(netns: &str, msg: &[u8], n: usize) -> (u32, Duration) {
    let ns = netns.to_owned();
    let msg = msg.to_vec();
    std::thread::spawn(move || {
        use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_KOBJECT_UEVENT};
        let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let mut sock = Socket::new(NETLINK_KOBJECT_UEVENT).unwrap();
        let port = sock.bind_auto().unwrap().port_number();
        let t0 = std::time::Instant::now();
        for _ in 0..n {
            sock.send_to(&msg, &SocketAddr::new(0, 1), 0).unwrap();
        }
        (port, t0.elapsed())
    })
    .join()
    .unwrap()
}

/// `STORM` forged uevents at once: the stream logs at most the rate limit's burst
/// per second of `uevent.dropped` and accounts for every other one in
/// `log.suppressed`. Returns a summary for the test's report line.
fn forged_uevent_storm(node: &Node, msg: &[u8]) -> String {
    const STORM: u64 = 300;
    let dropped = |n: &Node| n.named("uevent.dropped").len() as u64;
    let suppressed = |n: &Node| -> u64 {
        n.named("log.suppressed")
            .iter()
            .filter(|v| v["record"] == "uevent.dropped")
            .filter_map(|v| v["suppressed"].as_u64())
            .sum()
    };
    let (dropped0, suppressed0) = (dropped(node), suppressed(node));
    let (port, took) = forge_uevents(node.netns(), msg, STORM as usize);
    // The summary comes once the window is over (1 s); give it a few.
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let (mut logged, mut counted) = (0, 0);
    while std::time::Instant::now() < end {
        logged = dropped(node) - dropped0;
        counted = suppressed(node) - suppressed0;
        if logged + counted >= STORM {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let burst = u64::from(nodeboot::world::ratelimit::BURST);
    let windows = took.as_secs() + 2;
    assert!(
        logged <= burst * windows,
        "{logged} uevent.dropped lines for {STORM} forged uevents in {took:?}"
    );
    assert!(counted > 0, "nothing suppressed: {logged} lines logged");
    // Kernel uevents reach this namespace too (their drops, if any, share the limit):
    // every forged one is accounted for, and little else.
    let others: Vec<Value> = node
        .named("uevent.dropped")
        .into_iter()
        .skip(dropped0 as usize)
        .filter(|v| v["sender"] != port)
        .collect();
    if node.named("uevent.overflow").is_empty() {
        let ours = logged - others.len() as u64;
        assert!(
            ours + counted >= STORM && logged + counted <= STORM + 5,
            "logged {logged} ({ours} of the storm) + suppressed {counted}; others: {others:?}"
        );
    }
    format!("storm of {STORM} in {took:?}: {logged} logged, {counted} suppressed")
}

/// rtnetlink noise inside `netns`: a forged RTM_NEWLINK announcing a NIC with
/// carrier, and garbage, both sent to the link group from user space.
fn forge_rtnetlink(netns: &str) -> usize {
    let ns = netns.to_owned();
    std::thread::spawn(move || {
        use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
        let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let mut sock = Socket::new(NETLINK_ROUTE).unwrap();
        sock.bind_auto().unwrap();
        // A listener of our own proves the forged messages really reach the group
        // (so nodeboot's silence about them is its choice, not a lost send).
        let mut listener = Socket::new(NETLINK_ROUTE).unwrap();
        listener.bind(&SocketAddr::new(0, 1)).unwrap();
        listener.set_non_blocking(true).unwrap();
        // nlmsghdr(len, RTM_NEWLINK=16, flags 0, seq, pid) + ifinfomsg + IFLA_IFNAME.
        let name = b"nbfake0\0";
        let attr_len = 4 + name.len();
        let len = 16 + 16 + attr_len.next_multiple_of(4);
        let mut m = Vec::new();
        m.extend((len as u32).to_ne_bytes());
        m.extend(16u16.to_ne_bytes());
        m.extend(0u16.to_ne_bytes());
        m.extend(1u32.to_ne_bytes());
        m.extend(0u32.to_ne_bytes());
        m.extend([0u8, 0]); // family, pad
        m.extend(1u16.to_ne_bytes()); // ARPHRD_ETHER
        m.extend(4242i32.to_ne_bytes()); // index
        m.extend((0x1u32 | 0x40 | 0x1_0000).to_ne_bytes()); // UP RUNNING LOWER_UP
        m.extend(0xffff_ffffu32.to_ne_bytes());
        m.extend((attr_len as u16).to_ne_bytes());
        m.extend(3u16.to_ne_bytes()); // IFLA_IFNAME
        m.extend(name);
        m.resize(len, 0);
        let group = SocketAddr::new(0, 1); // RTMGRP_LINK
        for msg in [
            m.clone(),
            b"\xff\xff\xff\xffgarbage".to_vec(),
            m[..20].to_vec(),
        ] {
            sock.send_to(&msg, &group, 0).unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut got = 0;
        let mut buf = vec![0u8; 8192];
        while let Ok((_, from)) = listener.recv_from(&mut &mut buf[..], 0) {
            if from.port_number() != 0 {
                got += 1;
            }
        }
        got
    })
    .join()
    .unwrap()
}

#[test]
fn forged_events_are_dropped_and_a_real_one_after_them_is_handled() {
    if !require_root("forged events", &[]) {
        return;
    }
    let scratch = TempDir::new("live-forged");
    let minor = free_loop_minor();
    let name = format!("loop{minor}");
    let root = scratch.join("root");
    let mut args = base_args(&root);
    args.extend([
        "--disk".into(),
        name.clone(),
        "--nic".into(),
        "nbfake*".into(),
    ]);
    let mut node = Node::start("forge", &args, &root);
    // No disk yet: boot goes on without a cache.
    node.wait_event("cache.none", 60);

    // 1. A forged `add` of the very disk the run may write, in the kernel framing,
    //    and the same in udevd's framing, straight to group 1.
    let devpath = format!("/devices/virtual/block/{name}");
    let kernel = format!(
        "add@{devpath}\0ACTION=add\0DEVPATH={devpath}\0SUBSYSTEM=block\0DEVTYPE=disk\0DEVNAME={name}\0SEQNUM=999999\0"
    );
    let ns = node.netns().to_owned();
    let port = forge_uevent(&ns, kernel.as_bytes());
    let ue = nodeboot::wire::uevent::parse_kernel(kernel.as_bytes()).unwrap();
    let port2 = forge_uevent(&ns, &nodeboot::wire::uevent::encode_libudev(&ue));
    node.wait_for("uevent.dropped (kernel framing)", 10, |v| {
        v["event"] == "uevent.dropped" && v["sender"] == port
    });
    node.wait_for("uevent.dropped (libudev framing)", 10, |v| {
        v["event"] == "uevent.dropped" && v["sender"] == port2
    });
    // 1b. A storm of them: a few `uevent.dropped` lines a second, the rest counted in
    //     `log.suppressed` (every one dropped either way; phase 3 shows the loop
    //     still handles a real event after it).
    let storm = forged_uevent_storm(&node, kernel.as_bytes());
    // 2. rtnetlink noise in nodeboot's namespace.
    let delivered = forge_rtnetlink(&ns);
    assert!(
        delivered >= 1,
        "the forged link messages never reached the group"
    );
    // Dropped and said so on the stream, like forged uevents.
    node.wait_for("rtnl.dropped", 10, |v| {
        v["event"] == "rtnl.dropped" && v["sender"].as_u64().is_some_and(|p| p != 0)
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(node.alive(), "nodeboot died after the forged events");
    let events = node.events();
    assert!(
        !events
            .iter()
            .any(|v| v["event"] == "disk.seen" && v["disk"] == name.as_str()),
        "a forged uevent was acted on"
    );
    assert!(
        !events.iter().any(|v| {
            v.to_string().contains("nbfake0")
                && matches!(
                    v["event"].as_str(),
                    Some("nic.seen" | "nic.carrier" | "dhcp.started")
                )
        }),
        "a forged link message was acted on"
    );

    // 3. A real kernel event after them is still handled: the disk appears for real
    //    (a new loop minor: the kernel sends `add`).
    let image = images::make("ext4", &scratch).unwrap();
    support::try_sh(
        "losetup",
        &[&format!("/dev/{name}"), &image.display().to_string()],
    )
    .unwrap();
    let lo = Loop {
        dev: format!("/dev/{name}"),
    };
    let seen = node.wait_for("disk.seen of the real disk", 30, |v| {
        v["event"] == "disk.seen" && v["disk"] == name.as_str()
    });
    assert_eq!(seen["verdict"], "in-use", "{seen}");
    let dropped = node.named("uevent.dropped").len();
    let status = node.stop();
    drop(node);
    drop(lo);
    let _ = support::try_sh("losetup", &["-d", &format!("/dev/{name}")]);
    eprintln!(
        "forged: {dropped} uevents dropped ({storm}), {delivered} rtnetlink messages delivered to the group and ignored, then {seen}"
    );
    assert!(status.success(), "nodeboot exited {status}");
}

/// The decisions of a run, with disk names replaced by their image case: final
/// verdict per disk, the selected disk, and every prepare step in order.
#[derive(Debug, PartialEq, Eq)]
struct Decisions {
    verdicts: BTreeMap<&'static str, String>,
    selected: Vec<&'static str>,
    steps: Vec<(String, bool)>,
    outcome: String,
}

fn decisions(node: &Node, disks: &[Disk]) -> Decisions {
    let case_of = |dev: &str| -> &'static str {
        disks
            .iter()
            .find(|d| dev == d.name() || dev.starts_with(&format!("{}p", d.name())))
            .map(|d| d.case)
            .unwrap_or("?")
    };
    let events = node.events();
    Decisions {
        verdicts: verdicts(node, disks),
        selected: events
            .iter()
            .filter(|v| v["event"] == "cache.selected")
            .map(|v| case_of(v["disk"].as_str().unwrap_or_default()))
            .collect(),
        steps: events
            .iter()
            .filter(|v| v["event"] == "cache.step")
            .map(|v| {
                (
                    v["step"].as_str().unwrap_or_default().to_owned(),
                    v["ok"].as_bool().unwrap_or(false),
                )
            })
            .collect(),
        outcome: events
            .iter()
            .find(|v| decided(v))
            .map(|v| v["event"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default(),
    }
}

const STORM_DISKS: &[&str] = &["ext4", "zeros", "btrfs-other-label"];

/// One boot over fresh STORM_DISKS; with `storm`, nodeboot runs without
/// CAP_NET_ADMIN (so SO_RCVBUFFORCE fails and its uevent buffer is only
/// `net.core.rmem_max`), is stopped right after `boot.start`, and `events` change
/// uevents are fired at the ext4 disk before it continues.
fn storm_run(tag: &str, storm: Option<usize>) -> (Decisions, Vec<Value>) {
    let scratch = TempDir::new(tag);
    let mut disks = attach(&scratch, STORM_DISKS);
    let root = scratch.join("root");
    let args = disk_args(&root, &disks);
    let wrapper: &[&str] = if storm.is_some() {
        &["setpriv", "--bounding-set", "-net_admin", "--"]
    } else {
        &[]
    };
    let mut node = Node::start_wrapped(tag, wrapper, &args, &root, |_| {});
    if let Some(n) = storm {
        node.wait_event("boot.start", 30);
        node.signal(nix::sys::signal::Signal::SIGSTOP);
        let uevent = format!("/sys/class/block/{}/uevent", disks[0].name());
        let t0 = std::time::Instant::now();
        for _ in 0..n {
            std::fs::write(&uevent, "change").unwrap();
        }
        eprintln!("storm: {n} change uevents in {:?}", t0.elapsed());
        node.signal(nix::sys::signal::Signal::SIGCONT);
        node.wait_event("uevent.overflow", 60);
        node.wait_event("resync", 60);
    }
    node.wait_for("a cache decision", 180, decided);
    // Let a late, wrong decision show up.
    std::thread::sleep(Duration::from_secs(3));
    let d = decisions(&node, &disks);
    let events = node.events();
    let status = node.stop();
    drop(node);
    assert!(status.success(), "{tag}: nodeboot exited {status}");
    let changed = changed(&mut disks);
    assert_eq!(changed, vec!["zeros"], "{tag}: written images");
    (d, events)
}

#[test]
fn a_uevent_storm_that_overflows_the_socket_changes_no_decision() {
    if !require_root("storm", &[]) {
        return;
    }
    let (calm, _) = storm_run("calm", None);
    let (stormy, events) = storm_run("storm", Some(20_000));
    let count = |name: &str| events.iter().filter(|v| v["event"] == name).count();
    eprintln!(
        "storm: {} overflow, {} resync, {} disk.seen, {} records\ncalm:  {calm:?}\nstorm: {stormy:?}",
        count("uevent.overflow"),
        count("resync"),
        count("disk.seen"),
        events.len()
    );
    assert_eq!(calm.outcome, "cache.ready", "{calm:?}");
    assert_eq!(calm, stormy, "the storm changed a decision");
    assert_eq!(
        stormy.steps.iter().filter(|(s, _)| s == "mkfs").count(),
        1,
        "formatted twice"
    );
}

/// Power cut during a prepare: nodeboot is killed (SIGKILL) right after `step`
/// succeeded; the next boot over the same disks finishes the prepare on the same
/// disk, formats at most once more only if mkfs had not completed, and never
/// touches the second blank disk.
fn power_cut_after(step: &str) {
    let scratch = TempDir::new(&format!("cut-{step}"));
    let mut disks = attach(&scratch, &["zeros", "zeros"]);
    // Two blank SSDs from the same case: tell them apart by device.
    let root = scratch.join("root");
    let args = disk_args(&root, &disks);
    let mut first = Node::start("cut1", &args, &root);
    let done = first.wait_for(&format!("cache.step {step}"), 120, |v| {
        v["event"] == "cache.step" && v["step"] == step && v["ok"] == true
    });
    first.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = first.stop();
    let chosen = done["device"].as_str().unwrap_or_default().to_owned();
    let mkfs_before = first
        .named("cache.step")
        .iter()
        .filter(|v| v["step"] == "mkfs" && v["ok"] == true)
        .count();
    drop(first);
    let mut second = Node::start("cut2", &args, &root);
    let end = second.wait_for("a cache decision", 120, decided);
    std::thread::sleep(Duration::from_secs(2));
    let events = second.events();
    let st = second.stop();
    drop(second);
    let mkfs_after = events
        .iter()
        .filter(|v| v["event"] == "cache.step" && v["step"] == "mkfs")
        .count();
    let resumed: Vec<_> = events
        .iter()
        .filter(|v| matches!(v["event"].as_str(), Some("cache.resumed" | "cache.found")))
        .collect();
    eprintln!("power cut after {step} on {chosen}: next boot {end}; {resumed:?}");
    assert!(st.success());
    assert_eq!(end["event"], "cache.ready", "{step}: {end}");
    let disk_of = |dev: &str| {
        disks
            .iter()
            .position(|d| dev == d.name() || dev.starts_with(&format!("{}p", d.name())))
    };
    assert_eq!(
        disk_of(end["device"].as_str().unwrap_or_default()),
        disk_of(&chosen),
        "{step}: the second boot finished on another disk"
    );
    assert!(
        !resumed.is_empty(),
        "{step}: the second boot did not recognise the prepare"
    );
    assert!(
        mkfs_before + mkfs_after <= 1,
        "{step}: formatted twice ({mkfs_before} + {mkfs_after})"
    );
    let other = 1 - disk_of(&chosen).unwrap();
    for d in disks.iter_mut() {
        d.lo.take();
    }
    assert_eq!(
        sha256_file(&disks[other].image),
        disks[other].before,
        "{step}: the other blank disk was written"
    );
}

#[test]
fn a_power_cut_after_partitioning_is_finished_on_the_same_disk() {
    if !require_root("power cut", &[]) {
        return;
    }
    power_cut_after("partition");
}

#[test]
fn a_power_cut_after_mkfs_is_finished_without_formatting_again() {
    if !require_root("power cut", &[]) {
        return;
    }
    power_cut_after("mkfs");
}
