use super::*;
use serde_json::json;

/// A record at `ms` after 2026-11-26T01:00:00Z.
fn rec(ms: u64, event: &str, fields: Value) -> Value {
    let mut v = json!({
        "ts": format!("2026-11-26T01:{:02}:{:02}.{:03}Z", ms / 60_000, (ms / 1000) % 60, ms % 1000),
        "level": "info",
        "event": event,
    });
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), fields) {
        obj.extend(extra);
    }
    v
}

fn fold(records: &[Value]) -> NodeState {
    NodeState::from_records(records)
}

#[test]
fn boot_start_sets_version_and_uptime_follows_the_last_record() {
    let s = fold(&[
        rec(
            0,
            "boot.start",
            json!({"version": "0.1.0", "mode": "replay"}),
        ),
        rec(2_500, "nic.carrier", json!({"nic": "eth0", "up": true})),
    ]);
    let boot = s.boot.as_ref().unwrap();
    assert_eq!(
        (boot.version.as_str(), boot.mode.as_str()),
        ("0.1.0", "replay")
    );
    assert_eq!(s.uptime_ms, Some(2_500));
    assert_eq!(s.records, 2);
    assert_eq!(s.nics["eth0"].since_ms, Some(2_500));
}

#[test]
fn cache_prepare_goes_through_steps_to_ready() {
    let mut s = NodeState::new();
    s.apply(&rec(
        0,
        "boot.start",
        json!({"version": "v", "mode": "live"}),
    ));
    s.apply(&rec(
        5,
        "disk.seen",
        json!({"disk": "sda", "verdict": "unused"}),
    ));
    s.apply(&rec(
        10,
        "cache.selected",
        json!({"disk": "sda", "kind": "ssd"}),
    ));
    assert_eq!(s.cache.state, CacheState::Preparing);
    s.apply(&rec(
        50,
        "cache.step",
        json!({"step": "partition", "device": "sda", "ok": true, "ms": 40}),
    ));
    assert_eq!(s.cache.step.as_deref(), Some("partition"));
    s.apply(&rec(
        900,
        "cache.step",
        json!({"step": "mkfs", "device": "sda1", "ok": true, "ms": 800}),
    ));
    assert_eq!(s.cache.device.as_deref(), Some("sda1"));
    s.apply(&rec(
        950,
        "cache.ready",
        json!({"device": "sda1", "log_subvolume": "logs/x"}),
    ));
    let c = &s.cache;
    assert_eq!(c.state, CacheState::Ready);
    assert_eq!(c.kind.as_deref(), Some("ssd"));
    assert_eq!(c.log_subvolume.as_deref(), Some("logs/x"));
    assert_eq!(c.steps.len(), 2);
    assert_eq!(c.steps[1].ms, 800);
    assert_eq!(c.disks_seen["sda"], "unused");
    assert_eq!(c.since_ms, Some(950));
    assert!(!c.reused);
}

#[test]
fn cache_failure_none_and_reuse() {
    let failed = fold(&[
        rec(0, "cache.found", json!({"device": "sdb1"})),
        rec(
            20,
            "cache.step",
            json!({"step": "mount", "device": "sdb1", "ok": false, "ms": 3, "error": "EIO"}),
        ),
        rec(
            21,
            "cache.failed",
            json!({"device": "sdb1", "step": "mount", "error": "mount: EIO"}),
        ),
    ]);
    assert_eq!(failed.cache.state, CacheState::Failed);
    assert!(failed.cache.reused);
    assert_eq!(failed.cache.error.as_deref(), Some("mount: EIO"));
    assert_eq!(failed.cache.step.as_deref(), Some("mount"));

    // The undo after a failure is history; the failure stays what status shows.
    let undone = fold(&[
        rec(
            20,
            "cache.step",
            json!({"step": "copy-logs", "device": "sda1", "ok": false, "ms": 3, "error": "ENOSPC"}),
        ),
        rec(
            21,
            "cache.failed",
            json!({"device": "sda1", "step": "copy-logs", "error": "ENOSPC"}),
        ),
        rec(
            40,
            "cache.step",
            json!({"step": "unmount-pool", "device": "sda1", "ok": false, "ms": 19, "error": "EBUSY"}),
        ),
    ]);
    assert_eq!(undone.cache.state, CacheState::Failed);
    assert_eq!(undone.cache.step.as_deref(), Some("copy-logs"));
    assert_eq!(undone.cache.error.as_deref(), Some("ENOSPC"));
    assert_eq!(undone.cache.steps.len(), 2);

    let none = fold(&[rec(0, "cache.none", json!({"reason": "no unused disk"}))]);
    assert_eq!(none.cache.state, CacheState::None);
    assert_eq!(none.cache.reason.as_deref(), Some("no unused disk"));
}

#[test]
fn nic_lease_carrier_loss_and_give_up() {
    let mut s = NodeState::new();
    s.apply(&rec(
        0,
        "nic.seen",
        json!({"nic": "eth0", "index": 2, "managed": true, "reason": "physical"}),
    ));
    s.apply(&rec(10, "nic.carrier", json!({"nic": "eth0", "up": true})));
    s.apply(&rec(11, "dhcp.started", json!({"nic": "eth0", "pid": 42})));
    assert_eq!(s.nics["eth0"].dhcp, DhcpState::Running);
    assert_eq!(s.nics["eth0"].pid, Some(42));
    s.apply(&rec(
        900,
        "dhcp.leased",
        json!({"nic": "eth0", "address": "10.0.0.2/24", "after_ms": 889}),
    ));
    let n = &s.nics["eth0"];
    assert_eq!(
        (n.dhcp, n.address.as_deref(), n.after_ms),
        (DhcpState::Leased, Some("10.0.0.2/24"), Some(889))
    );

    // Carrier lost: client stopped, lease gone; the exit that follows keeps "stopped".
    s.apply(&rec(
        2000,
        "nic.carrier",
        json!({"nic": "eth0", "up": false}),
    ));
    s.apply(&rec(
        2001,
        "dhcp.stopped",
        json!({"nic": "eth0", "pid": 42, "reason": "carrier lost"}),
    ));
    s.apply(&rec(
        2002,
        "dhcp.exited",
        json!({"nic": "eth0", "pid": 42, "status": "signal 15"}),
    ));
    let n = &s.nics["eth0"];
    assert_eq!(
        (n.carrier, n.dhcp, n.pid, n.address.as_deref()),
        (Some(false), DhcpState::Stopped, None, None)
    );
    assert_eq!(n.last_exit.as_deref(), Some("signal 15"));
    assert_eq!(n.restarts, 0);

    s.apply(&rec(
        3000,
        "nic.carrier",
        json!({"nic": "eth0", "up": true}),
    ));
    s.apply(&rec(
        3001,
        "dhcp.started",
        json!({"nic": "eth0", "pid": 50}),
    ));
    s.apply(&rec(
        33001,
        "dhcp.gave_up",
        json!({"nic": "eth0", "after_ms": 30000}),
    ));
    s.apply(&rec(
        33002,
        "dhcp.stopped",
        json!({"nic": "eth0", "pid": 50, "reason": "gave up"}),
    ));
    let n = &s.nics["eth0"];
    assert_eq!(
        (n.dhcp, n.after_ms, n.pid),
        (DhcpState::GaveUp, Some(30000), None)
    );
}

#[test]
fn dhcp_client_crash_counts_restarts() {
    let s = fold(&[
        rec(0, "dhcp.started", json!({"nic": "eth1", "pid": 7})),
        rec(
            5,
            "dhcp.exited",
            json!({"nic": "eth1", "pid": 7, "status": "exit 1"}),
        ),
        rec(
            6,
            "dhcp.restarting",
            json!({"nic": "eth1", "backoff_ms": 500}),
        ),
        rec(506, "dhcp.started", json!({"nic": "eth1", "pid": 8})),
        rec(
            600,
            "dhcp.exited",
            json!({"nic": "eth1", "pid": 8, "status": "exit 1"}),
        ),
    ]);
    let n = &s.nics["eth1"];
    assert_eq!((n.dhcp, n.restarts, n.pid), (DhcpState::Exited, 1, None));
    assert_eq!(n.last_exit.as_deref(), Some("exit 1"));
}

#[test]
fn nic_rename_moves_the_entry() {
    let s = fold(&[
        rec(0, "nic.carrier", json!({"nic": "eth0", "up": true})),
        rec(1, "nic.renamed", json!({"from": "eth0", "to": "enp1s0"})),
    ]);
    assert!(!s.nics.contains_key("eth0"));
    assert_eq!(s.nics["enp1s0"].carrier, Some(true));
}

#[test]
fn gate_waits_probes_and_releases() {
    let mut s = NodeState::new();
    assert_eq!(s.gate.state, GateState::Pending);
    s.apply(&rec(0, "boot.start", json!({})));
    s.apply(&rec(
        40,
        "gate.waiting",
        json!({"targets": ["1.1.1.1:443"], "timeout_ms": 60000}),
    ));
    s.apply(&rec(
        1040,
        "gate.probe",
        json!({"target": "1.1.1.1:443", "ok": false, "error": "unreachable"}),
    ));
    assert_eq!(s.gate.state, GateState::Waiting);
    assert_eq!(s.gate.probes_failed, 1);
    s.apply(&rec(
        60040,
        "gate.released",
        json!({"reason": "timeout", "after_ms": 60000}),
    ));
    let g = &s.gate;
    assert_eq!(
        (g.state, g.reason.as_deref(), g.after_ms),
        (GateState::Released, Some("timeout"), Some(60000))
    );
    assert_eq!(g.targets, vec!["1.1.1.1:443"]);
    assert_eq!(g.since_ms, Some(60040));
    assert_eq!(g.last_probe_error.as_deref(), Some("unreachable"));
}

#[test]
fn services_run_exit_restart_and_fail() {
    let s = fold(&[
        rec(0, "service.started", json!({"service": "redis", "pid": 10})),
        rec(0, "service.started", json!({"service": "0-ork", "pid": 11})),
        rec(
            50,
            "service.exited",
            json!({"service": "0-ork", "pid": 11, "status": "exit 1"}),
        ),
        rec(
            51,
            "service.restarting",
            json!({"service": "0-ork", "backoff_ms": 1000}),
        ),
        rec(
            1051,
            "service.started",
            json!({"service": "0-ork", "pid": 12}),
        ),
        rec(
            1100,
            "service.failed",
            json!({"service": "nft", "error": "no such file"}),
        ),
    ]);
    let redis = &s.services["redis"];
    assert_eq!(
        (redis.state, redis.pid, redis.restarts),
        (ServiceState::Running, Some(10), 0)
    );
    let ork = &s.services["0-ork"];
    assert_eq!(
        (ork.state, ork.pid, ork.restarts),
        (ServiceState::Running, Some(12), 1)
    );
    assert_eq!(ork.last_exit.as_deref(), Some("exit 1"));
    assert_eq!(s.services["nft"].state, ServiceState::Failed);
}

#[test]
fn unknown_events_are_counted_and_ignored_and_a_new_boot_starts_afresh() {
    let mut s = fold(&[
        rec(0, "boot.start", json!({"version": "a", "mode": "live"})),
        rec(1, "service.started", json!({"service": "redis", "pid": 10})),
        rec(2, "something.new", json!({"x": 1})),
        json!({"event": "service.started"}),
    ]);
    assert_eq!(s.records, 4);
    assert_eq!(s.services.len(), 1);
    s.apply(&rec(
        9,
        "boot.start",
        json!({"version": "b", "mode": "init"}),
    ));
    assert!(s.services.is_empty());
    assert_eq!(s.records, 1);
    assert_eq!(s.boot.unwrap().version, "b");
}

#[test]
fn warnings_and_errors_are_counted() {
    let mut w = rec(0, "dhcp.gave_up", json!({"nic": "eth0", "after_ms": 1}));
    w["level"] = json!("warn");
    let mut e = rec(0, "service.failed", json!({"service": "x", "error": "y"}));
    e["level"] = json!("error");
    let s = fold(&[w, e]);
    assert_eq!((s.warnings, s.errors), (1, 1));
}

#[test]
fn the_sample_boot_folds_to_its_end_state() {
    let text = include_str!("../../../tests/ops/boot.jsonl");
    let s = NodeState::from_records(&crate::ops::record::parse_stream(text));
    assert_eq!(s.cache.state, CacheState::Ready);
    assert_eq!(s.cache.steps.len(), 7);
    assert_eq!(s.nics["eth0"].dhcp, DhcpState::Leased);
    assert_eq!(s.nics["eth1"].dhcp, DhcpState::GaveUp);
    assert_eq!(s.nics["lo"].managed, Some(false));
    assert_eq!(s.gate.reason.as_deref(), Some("reachable"));
    assert_eq!(s.services["0-ork"].restarts, 1);
    assert_eq!(s.uptime_ms, Some(37_260));
}

#[test]
fn a_one_shot_service_is_done() {
    let s = fold(&[
        rec(0, "boot.start", json!({"version": "v", "mode": "replay"})),
        rec(0, "service.started", json!({"service": "nft", "pid": 5})),
        rec(
            200,
            "service.exited",
            json!({"service": "nft", "pid": 5, "status": "exit 0"}),
        ),
        rec(200, "service.done", json!({"service": "nft"})),
    ]);
    let nft = &s.services["nft"];
    assert_eq!(
        (nft.state, nft.pid, nft.restarts),
        (ServiceState::Done, None, 0)
    );
    assert_eq!(nft.since_ms, Some(200));
}
