//! The kernel sockets: uevents (live, forged, overflowed) and rtnetlink; idle wake-ups.

use crate::harness::*;

pub fn uevent_of_own_loop_device_arrives_after_coldplug() {
    let disk = LoopDisk::scratch("uev", 64);
    let name = disk.name.clone();
    let w = start(quiet_settings(), None, Box::new(|_| Vec::new()));
    let n = name.clone();
    w.wait_input(
        "coldplug add of our loop device",
        |i| matches!(i, Input::Uevent { uevent } if uevent.devname.as_deref() == Some(n.as_str())),
    );
    w.wait_input("ColdplugDone", |i| *i == Input::ColdplugDone);
    std::fs::write(format!("/sys/class/block/{name}/uevent"), "change").unwrap();
    let got = w.wait_input("change uevent", |i| {
        matches!(i, Input::Uevent { uevent }
            if uevent.devname.as_deref() == Some(n.as_str())
                && uevent.action == nodeboot::wire::uevent::UeventAction::Change)
    });
    let Input::Uevent { uevent } = got else {
        unreachable!()
    };
    assert_eq!(uevent.subsystem, "block");
    assert!(uevent.seqnum.is_some());
    // Coldplug came before ColdplugDone, the live change after it.
    let inputs = w.inputs();
    let done = inputs
        .iter()
        .position(|i| *i == Input::ColdplugDone)
        .unwrap();
    let change = inputs
        .iter()
        .position(|i| matches!(i, Input::Uevent { uevent } if uevent.action == nodeboot::wire::uevent::UeventAction::Change && uevent.devname.as_deref() == Some(n.as_str())))
        .unwrap();
    assert!(change > done);
    w.finish();
}

pub fn forged_uevent_is_dropped_and_logged() {
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_KOBJECT_UEVENT};
    let w = start(quiet_settings(), None, Box::new(|_| Vec::new()));
    w.wait_input("ColdplugDone", |i| *i == Input::ColdplugDone);
    let mut sock = Socket::new(NETLINK_KOBJECT_UEVENT).unwrap();
    let me = sock.bind_auto().unwrap().port_number();
    assert_ne!(me, 0);
    let msg = b"add@/devices/nb-forged\0ACTION=add\0DEVPATH=/devices/nb-forged\0SUBSYSTEM=block\0DEVNAME=nbforged\0SEQNUM=18446744073709551000\0";
    sock.send_to(msg, &SocketAddr::new(0, 1), 0).unwrap();
    let line = w.wait_line("uevent.dropped", |l| l.contains("\"uevent.dropped\""));
    assert!(line.contains(&format!("\"sender\":{me}")), "{line}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!w.inputs().iter().any(|i| matches!(i,
        Input::Uevent { uevent } if uevent.devpath == "/devices/nb-forged")));
    w.finish();
}

pub fn rtnetlink_sees_veth_carrier_and_sets_link_up() {
    let ns = Netns::new("rt");
    // The core asks for nbv0 to be set up as soon as it is seen down.
    let react: React = Box::new(|i| match i {
        Input::Link { link } if link.name == "nbv0" && !link.admin_up() => {
            vec![Effect::SetLinkUp {
                index: link.index,
                nic: link.name.clone(),
            }]
        }
        _ => Vec::new(),
    });
    let w = start(quiet_settings_live(), Some(ns.name.clone()), react);
    // The initial dump shows lo.
    w.wait_input(
        "lo from the dump",
        |i| matches!(i, Input::Link { link } if link.name == "lo"),
    );
    sh(&format!(
        "ip -n {0} link add nbv0 type veth peer name nbv1 && ip -n {0} link set nbv1 up",
        ns.name
    ));
    w.wait_input("SetLinkUp answered Ok", |i| {
        matches!(
            i,
            Input::EffectDone {
                result: Ok(EffectOutput::Done),
                ..
            }
        )
    });
    w.wait_input(
        "nbv0 with carrier",
        |i| matches!(i, Input::Link { link } if link.name == "nbv0" && link.carrier()),
    );
    let before = w.inputs().len();
    sh(&format!("ip -n {} link set nbv1 down", ns.name));
    for _ in 0..250 {
        let inputs = w.inputs();
        if inputs
            .iter()
            .skip(before)
            .any(|i| matches!(i, Input::Link { link } if link.name == "nbv0" && !link.carrier()))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        w.inputs()
            .iter()
            .skip(before)
            .any(|i| matches!(i, Input::Link { link } if link.name == "nbv0" && !link.carrier()))
    );
    sh(&format!("ip -n {} addr add 10.77.9.1/24 dev nbv0", ns.name));
    w.wait_input(
        "address",
        |i| matches!(i, Input::Address { address, added: true, .. } if address == "10.77.9.1/24"),
    );
    sh(&format!("ip -n {} link del nbv0", ns.name));
    w.wait_input(
        "nbv0 removed",
        |i| matches!(i, Input::LinkRemoved { name, .. } if name == "nbv0"),
    );
    w.finish();
}

pub fn idle_loop_makes_no_wakeups() {
    use std::sync::atomic::Ordering::SeqCst;
    let ns = Netns::new("idle");
    let w = start(
        quiet_settings(),
        Some(ns.name.clone()),
        Box::new(|_| Vec::new()),
    );
    w.wait_input("ColdplugDone", |i| *i == Input::ColdplugDone);
    // Let the rtnetlink dumps finish.
    std::thread::sleep(Duration::from_millis(300));
    let (wakeups, empty, inputs) = (
        w.stats.wakeups.load(SeqCst),
        w.stats.empty_wakeups.load(SeqCst),
        w.stats.inputs.load(SeqCst),
    );
    let log_lines = w.lines().len();
    std::thread::sleep(Duration::from_secs(2));
    let woke = w.stats.wakeups.load(SeqCst) - wakeups;
    let woke_empty = w.stats.empty_wakeups.load(SeqCst) - empty;
    let news = (w.stats.inputs.load(SeqCst) - inputs) as usize + (w.lines().len() - log_lines);
    // No timer is armed: the loop never wakes up on its own. Block uevents of other
    // processes on this machine reach every namespace, so a wake-up must have news.
    assert_eq!(
        woke_empty, 0,
        "{woke_empty} wake-ups with nothing ready in 2 s"
    );
    assert!(
        woke as usize <= news,
        "{woke} wake-ups in 2 s for {news} inputs and log lines"
    );
    w.finish();
}

pub fn uevent_overflow_resyncs_from_sysfs() {
    let disk = LoopDisk::scratch("ovf", 64);
    let name = disk.name.clone();
    let mut settings = quiet_settings();
    settings.uevent_rcvbuf = Some(1); // the kernel's minimum: a few events
    // A slow core (1 ms per uevent) lets the burst overflow the socket.
    let react: React = Box::new(|i| {
        if matches!(i, Input::Uevent { .. }) {
            std::thread::sleep(Duration::from_millis(1));
        }
        Vec::new()
    });
    let w = start(settings, None, react);
    w.wait_input("ColdplugDone", |i| *i == Input::ColdplugDone);
    let path = format!("/sys/class/block/{name}/uevent");
    for _ in 0..400 {
        std::fs::write(&path, "change").unwrap();
    }
    w.wait_line("uevent.overflow", |l| l.contains("\"uevent.overflow\""));
    let n = name.clone();
    let resync = w.wait_input("Resync", |i| matches!(i, Input::Resync { .. }));
    let Input::Resync { devices } = resync else {
        unreachable!()
    };
    assert!(
        devices
            .iter()
            .any(|u| u.devname.as_deref() == Some(n.as_str()))
    );
    assert!(devices.iter().any(|u| u.subsystem == "net"));
    w.finish();
}

/// A burst of uevents, far more than a default-sized socket holds (~256), all reach
/// the core: the 128 MiB receive buffer (SO_RCVBUFFORCE) absorbs it.
pub fn uevent_burst_is_received_whole() {
    const BURST: usize = 20_000;
    let disk = LoopDisk::scratch("burst", 64);
    let name = disk.name.clone();
    let w = start(quiet_settings(), None, Box::new(|_| Vec::new()));
    w.wait_input("ColdplugDone", |i| *i == Input::ColdplugDone);
    let path = format!("/sys/class/block/{name}/uevent");
    let t0 = std::time::Instant::now();
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    for _ in 0..BURST {
        use std::io::Write;
        f.write_all(b"change").unwrap();
    }
    let sent = t0.elapsed();
    let count = |w: &Running| {
        w.inputs()
            .iter()
            .filter(|i| {
                matches!(i, Input::Uevent { uevent }
                    if uevent.devname.as_deref() == Some(name.as_str())
                        && uevent.action == nodeboot::wire::uevent::UeventAction::Change)
            })
            .count()
    };
    for _ in 0..1000 {
        if count(&w) >= BURST {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = count(&w);
    let all = t0.elapsed();
    eprint!("[{BURST} uevents: written in {sent:?}, all handled after {all:?}] ");
    assert_eq!(got, BURST);
    assert!(!w.lines().iter().any(|l| l.contains("uevent.overflow")));
    w.finish();
}
