//! Real-world network tests (root): `nodeboot run` inside a network namespace of its
//! own, its NICs veth cables to a server namespace (dnsmasq, a TCP listener), checked
//! on the log stream and on the namespace (addresses, live DHCP clients). Run as root:
//! `cargo test --test real_net`. Under `CI=true` a test that cannot run fails.
// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::run::{gate_rules, network_rules};
use support::{Lan, Listener, Netns, NodebootRun, RunConfig, TempDir, Veth, require_root};

const TOOLS: &[&str] = &["ip", "dnsmasq", "busybox", "nsenter"];
const SOON: Duration = Duration::from_secs(15);

fn pid_of(r: &Value) -> u32 {
    r["pid"].as_u64().unwrap() as u32
}

fn alive(pid: u32) -> bool {
    // A zombie is not alive: nodeboot reaps its children, so one would be a bug.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// The position of the first record matching in the stream.
fn index_of(records: &[Value], event: &str, fields: &[(&str, &str)]) -> usize {
    records
        .iter()
        .position(|r| support::run::matches(r, event, fields))
        .unwrap_or_else(|| panic!("no {event} {fields:?}"))
}

/// A run managing the NICs matching `nics` with DHCP, its gate closed for an hour.
fn dhcp_run(nics: &str) -> RunConfig {
    RunConfig {
        nics: vec![nics.into()],
        rules: vec![
            ("network.toml", network_rules(None)),
            ("gate.toml", gate_rules(&[], "1h")),
        ],
        ..Default::default()
    }
}

#[test]
fn unplugged_nic_gets_no_client_until_plugged_in() {
    if !require_root("unplugged_nic_gets_no_client_until_plugged_in", TOOLS) {
        return;
    }
    let tmp = TempDir::new("plug");
    let lan = Lan::new(tmp.path(), false);
    let (node, cable) = (&lan.node, &lan.cable);
    let mut run = NodebootRun::start(node, dhcp_run("nbe*"));
    let seen = run.wait_for("nic.seen", &[("nic", "nbe0")], SOON);
    assert_eq!(seen["managed"], true, "{seen}");
    // Unplugged: nodeboot set the link up, yet no carrier, so no client. Give it a
    // few seconds to do the wrong thing.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        run.find("dhcp.started", &[]).is_empty(),
        "a client started on an unplugged NIC"
    );
    assert!(run.find("nic.carrier", &[("up", "true")]).is_empty());
    let others: Vec<u32> = node.pids().into_iter().filter(|p| *p != run.pid).collect();
    assert!(
        others.is_empty(),
        "processes besides nodeboot in the node: {others:?}"
    );
    assert!(node.ipv4("nbe0").is_empty());
    assert!(
        node.ip(&["link", "show", "nbe0"]).contains(",UP"),
        "nodeboot did not set nbe0 up"
    );

    let plugged_at = Instant::now();
    cable.plug();
    run.wait_for("nic.carrier", &[("nic", "nbe0"), ("up", "true")], SOON);
    let started = run.wait_for("dhcp.started", &[("nic", "nbe0")], SOON);
    let leased = run.wait_for("dhcp.leased", &[("nic", "nbe0")], SOON);
    eprintln!("plug → lease: {:?}", plugged_at.elapsed());
    let records = run.records();
    assert!(
        index_of(&records, "nic.carrier", &[("nic", "nbe0"), ("up", "true")])
            < index_of(&records, "dhcp.started", &[("nic", "nbe0")])
    );
    let address = leased["address"].as_str().unwrap();
    let address = address.split('/').next().unwrap();
    assert!(address.starts_with("10.77.0."), "{leased}");
    // dhcp.leased comes from the client's report; its event script then applies the
    // address, a moment later.
    let deadline = Instant::now() + SOON;
    let mut addrs = node.ipv4("nbe0");
    while !addrs.iter().any(|a| a.split('/').next() == Some(address)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        addrs = node.ipv4("nbe0");
    }
    assert!(
        addrs.iter().any(|a| a.split('/').next() == Some(address)),
        "{address} not on nbe0: {addrs:?}"
    );
    // The client stays to renew its lease.
    let pid = pid_of(&started);
    assert!(alive(pid), "the DHCP client {pid} is gone");
    assert_eq!(run.find("dhcp.started", &[("nic", "nbe0")]).len(), 1);

    // Cable out: the client is stopped. Cable back (after more than the ~1 s in
    // which the kernel merges link changes): a new client, a new lease.
    cable.unplug();
    run.wait_for("nic.carrier", &[("nic", "nbe0"), ("up", "false")], SOON);
    let stopped = run.wait_for("dhcp.stopped", &[("nic", "nbe0")], SOON);
    assert_eq!(stopped["pid"].as_u64(), Some(pid.into()), "{stopped}");
    assert_eq!(stopped["reason"], "carrier lost", "{stopped}");
    let deadline = Instant::now() + SOON;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid), "the client {pid} still runs without carrier");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        run.find("dhcp.started", &[("nic", "nbe0")]).len(),
        1,
        "a client started without carrier"
    );
    cable.plug();
    run.wait_until("a second client", SOON, |r| {
        support::run::matches(r, "dhcp.started", &[("nic", "nbe0")])
            && r["pid"].as_u64() != Some(pid.into())
    });
    let deadline = Instant::now() + SOON;
    while run_leases(&run) < 2 {
        assert!(
            Instant::now() < deadline,
            "no second lease: {:?}",
            run.records()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = run
        .find("dhcp.started", &[("nic", "nbe0")])
        .last()
        .map(pid_of)
        .unwrap();
    assert!(alive(second));

    let status = run.stop();
    assert!(status.success(), "{status}");
    run.wait_for(
        "dhcp.stopped",
        &[("nic", "nbe0"), ("reason", "shutdown")],
        Duration::from_secs(1),
    );
    assert!(!alive(second), "the DHCP client outlived nodeboot");
}

fn run_leases(run: &NodebootRun) -> usize {
    run.find("dhcp.leased", &[("nic", "nbe0")]).len()
}

#[test]
fn dhcp_gives_up_after_30s_without_an_answer() {
    if !require_root("dhcp_gives_up_after_30s_without_an_answer", TOOLS) {
        return;
    }
    // A plugged cable with no DHCP server behind it. The real default give-up (30 s,
    // not set in the rules) applies.
    let node = Netns::new("n");
    let srv = Netns::new("s");
    let _cable = Veth::new(&node, "nbe0", &srv, "nbs0", "10.79.0.1/24", true);
    let mut run = NodebootRun::start(&node, dhcp_run("nbe*"));
    let started = run.wait_for("dhcp.started", &[("nic", "nbe0")], SOON);
    let pid = pid_of(&started);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(25));
    assert!(
        run.find("dhcp.gave_up", &[]).is_empty(),
        "gave up before 25 s"
    );
    assert!(alive(pid), "client died before the give-up");
    let gave_up = run.wait_for("dhcp.gave_up", &[("nic", "nbe0")], Duration::from_secs(20));
    let waited = t0.elapsed();
    let after_ms = gave_up["after_ms"].as_u64().unwrap();
    assert!(
        (30_000..32_000).contains(&after_ms),
        "gave up after {after_ms} ms: {gave_up}"
    );
    assert!(
        waited >= Duration::from_secs(28),
        "gave up {waited:?} after dhcp.started"
    );
    // The client is stopped and reaped; no address, no restart.
    run.wait_until("the client's exit", SOON, |r| {
        (r["event"] == "dhcp.exited" || r["event"] == "dhcp.stopped")
            && r["pid"].as_u64() == Some(pid.into())
    });
    let deadline = Instant::now() + SOON;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(pid), "the client {pid} still runs after the give-up");
    assert!(node.ipv4("nbe0").is_empty());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        run.find("dhcp.started", &[]).len(),
        1,
        "a given-up client was restarted"
    );
    assert!(run.find("dhcp.leased", &[]).is_empty());
    assert!(run.stop().success());
}

#[test]
fn gate_opens_when_the_target_is_reachable() {
    if !require_root("gate_opens_when_the_target_is_reachable", TOOLS) {
        return;
    }
    let tmp = TempDir::new("gate");
    let lan = Lan::new(tmp.path(), true);
    let node = &lan.node;
    let target = Listener::start(&lan.srv, "10.77.0.1:8080");
    let services =
        "[[service]]\nname = \"after-gate\"\nargv = [\"sleep\", \"100000\"]\n".to_string();
    let mut run = NodebootRun::start(
        node,
        RunConfig {
            nics: vec!["nbe*".into()],
            rules: vec![
                ("network.toml", network_rules(None)),
                ("gate.toml", gate_rules(&[&target.addr], "60s")),
                ("services.toml", services),
            ],
            ..Default::default()
        },
    );
    let released = run.wait_for("gate.released", &[], Duration::from_secs(30));
    assert_eq!(released["reason"], "reachable", "{released}");
    assert!(released["after_ms"].as_u64().unwrap() < 60_000);
    let service = run.wait_for("service.started", &[("service", "after-gate")], SOON);
    assert!(alive(pid_of(&service)));
    let records = run.records();
    let probe_ok = index_of(
        &records,
        "gate.probe",
        &[("target", &target.addr), ("ok", "true")],
    );
    let leased = index_of(&records, "dhcp.leased", &[("nic", "nbe0")]);
    let gate = index_of(&records, "gate.released", &[]);
    let start = index_of(&records, "service.started", &[("service", "after-gate")]);
    assert!(
        leased < probe_ok && probe_ok <= gate && gate < start,
        "order: lease {leased}, probe {probe_ok}, gate {gate}, service {start}"
    );
    assert!(run.stop().success());
}

#[test]
fn gate_opens_at_timeout_without_targets() {
    if !require_root("gate_opens_at_timeout_without_targets", TOOLS) {
        return;
    }
    // No target at all: the gate opens at its timeout, shortened to 3 s here (60 s by
    // default).
    let node = Netns::new("n");
    let services =
        "[[service]]\nname = \"after-gate\"\nargv = [\"sleep\", \"100000\"]\n".to_string();
    let mut run = NodebootRun::start(
        &node,
        RunConfig {
            nics: vec!["nbe*".into()],
            rules: vec![
                ("gate.toml", gate_rules(&[], "3s")),
                ("services.toml", services),
            ],
            ..Default::default()
        },
    );
    let t0 = Instant::now();
    let released = run.wait_for("gate.released", &[], Duration::from_secs(20));
    assert_eq!(released["reason"], "timeout", "{released}");
    let after_ms = released["after_ms"].as_u64().unwrap();
    assert!((3_000..5_000).contains(&after_ms), "{released}");
    assert!(t0.elapsed() >= Duration::from_millis(2_500));
    assert_eq!(released["level"], "warn");
    assert!(run.find("gate.probe", &[("ok", "true")]).is_empty());
    run.wait_for("service.started", &[("service", "after-gate")], SOON);
    let records = run.records();
    assert!(
        index_of(&records, "gate.released", &[])
            < index_of(&records, "service.started", &[("service", "after-gate")])
    );
    assert!(run.stop().success());
}

#[test]
fn a_carrier_the_kernel_never_confirms_is_held_then_trusted() {
    if !require_root(
        "a_carrier_the_kernel_never_confirms_is_held_then_trusted",
        TOOLS,
    ) {
        return;
    }
    // An ifb link has carrier from the start and no link detection: once up, its
    // flags say LOWER_UP|RUNNING and its operstate stays `unknown` for good, as a
    // virtio NIC's does for a moment after it registers.
    let node = Netns::new("n");
    node.ip(&["link", "add", "nbi0", "type", "ifb"]);
    let mut run = NodebootRun::start(&node, dhcp_run("nbi*"));
    let held = run.wait_for("nic.carrier_unconfirmed", &[("nic", "nbi0")], SOON);
    assert_eq!(held["level"], "debug", "{held}");
    let carrier = run.wait_for("nic.carrier", &[("nic", "nbi0"), ("up", "true")], SOON);
    // The default `carrier_confirm` (2 s), on the stream's own clock.
    let held_ms = carrier["unconfirmed_ms"].as_u64().unwrap();
    assert!((2_000..3_000).contains(&held_ms), "{carrier}");
    run.wait_for("dhcp.started", &[("nic", "nbi0")], SOON);
    let records = run.records();
    assert!(
        index_of(&records, "nic.carrier_unconfirmed", &[("nic", "nbi0")])
            < index_of(&records, "nic.carrier", &[("nic", "nbi0")])
    );
    assert_eq!(run.find("dhcp.started", &[("nic", "nbi0")]).len(), 1);
    assert!(run.stop().success());
}
