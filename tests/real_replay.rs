//! A live run's journal replays to the same log stream (root): `nodeboot run --record`
//! on a loop SSD and a veth with dnsmasq and a reachability target, stopped with
//! SIGTERM, then `nodeboot replay` of the journal must print the same events in the
//! same order (`ts` aside, and the records the world writes itself, which are not
//! decisions of the core). Under `CI=true` a test that cannot run fails.
// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use std::time::Duration;
use support::run::{cache_rules, core_events, gate_rules, network_rules, replay};
use support::{Lan, Listener, LoopDisk, NodebootRun, RunConfig, TempDir, require_root};

#[test]
fn recorded_live_run_replays_to_the_same_events() {
    let tools = [
        "ip",
        "dnsmasq",
        "busybox",
        "losetup",
        "mkfs.btrfs",
        "nsenter",
    ];
    if !require_root("recorded_live_run_replays_to_the_same_events", &tools) {
        return;
    }
    let tmp = TempDir::new("replay");
    let ssd = LoopDisk::new(tmp.path(), 512, true);
    let lan = Lan::new(tmp.path(), true);
    let node = &lan.node;
    let target = Listener::start(&lan.srv, "10.77.0.1:8080");
    let services = "[[service]]\nname = \"svc\"\nargv = [\"sh\", \"-c\", \"echo svc up; exec sleep 100000\"]\n".to_string();
    let mut run = NodebootRun::start(
        node,
        RunConfig {
            disks: ssd.allow_flags(),
            nics: vec!["nbe*".into()],
            record: true,
            rules: vec![
                ("cache.toml", cache_rules()),
                ("network.toml", network_rules(None)),
                ("gate.toml", gate_rules(&[&target.addr], "60s")),
                ("services.toml", services),
            ],
            ..Default::default()
        },
    );
    let long = Duration::from_secs(60);
    run.wait_for("cache.ready", &[], long);
    run.wait_for("dhcp.leased", &[("nic", "nbe0")], long);
    run.wait_for("gate.released", &[("reason", "reachable")], long);
    run.wait_for("child.output", &[("child", "service:svc")], long);
    assert!(run.stop().success());

    let live = core_events(&run.records());
    let trace = run.record.clone().unwrap();
    let (records, stderr) = replay(&trace, &[]);
    let replayed = core_events(&records);
    let first_diff = live
        .iter()
        .zip(&replayed)
        .position(|(a, b)| a != b)
        .unwrap_or(live.len().min(replayed.len()));
    assert!(
        live == replayed,
        "replay differs at event {first_diff} (live {} events, replay {}):\n  live:   {}\n  replay: {}\nreplay stderr: {stderr}",
        live.len(),
        replayed.len(),
        live.get(first_diff).map_or("(end)", String::as_str),
        replayed.get(first_diff).map_or("(end)", String::as_str),
    );
    // Not trivially equal: the run did something.
    for event in [
        "cache.ready",
        "dhcp.leased",
        "gate.released",
        "service.started",
    ] {
        assert!(
            live.iter()
                .any(|e| e.contains(&format!("\"event\":\"{event}\""))),
            "no {event}"
        );
    }
}
