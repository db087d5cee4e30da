//! Issue 9, points 4 and 5, live (root; loop disks, veths, namespaces made here and
//! removed by Drop guards): a service flooding its output, a log filesystem frozen
//! after `cache.ready`, and a thousand idle log socket clients. Each runs `nodeboot
//! run` confined to one loop disk and one veth inside its own network namespace, and
//! checks that the loop still handles what matters (a carrier change, a status
//! request) while its log sinks are under pressure. Numbers go to stderr (and the
//! README); the bounds asserted here are generous safety checks.

// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::run::{cache_rules, gate_rules, network_rules};
use support::{Lan, LoopDisk, NodebootRun, RunConfig, TempDir, require_root};

const TOOLS: &[&str] = &[
    "ip",
    "dnsmasq",
    "busybox",
    "nsenter",
    "mkfs.btrfs",
    "fsfreeze",
];
/// A carrier change must be on the stream within this (a safety bound; the measured
/// latency is printed).
const CARRIER_BOUND: Duration = Duration::from_secs(5);
/// nodeboot's resident memory, at most, whatever its children write.
const RSS_BOUND_KIB: u64 = 64 * 1024;

/// A run on `lan`'s node namespace, confined to `disk` and `nbe*`, with `services`.
fn start(lan: &Lan, disk: &LoopDisk, services: &str, extra: &[&str]) -> NodebootRun {
    NodebootRun::start(
        &lan.node,
        RunConfig {
            disks: disk.allow_flags(),
            nics: vec!["nbe*".into()],
            rules: vec![
                ("network.toml", network_rules(None)),
                ("gate.toml", gate_rules(&["127.0.0.1:9"], "1s")),
                ("cache.toml", cache_rules()),
                ("services.toml", services.to_string()),
            ],
            extra: extra.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
    )
}

fn socket(run: &NodebootRun) -> PathBuf {
    run.dir.join("nodeboot.sock")
}

/// `VmRSS` of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of `pid` (all its threads), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: state is field 3, utime 14, stime 15 (1-based) → 11, 12 here.
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

fn ticks_per_sec() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100, |v| v as u64)
}

/// Send `request` on the log socket; the first line of the answer (`None`: none
/// within `within`).
fn ask(sock: &Path, request: &str, within: Duration) -> Option<String> {
    let mut s = UnixStream::connect(sock).ok()?;
    s.set_read_timeout(Some(within)).ok()?;
    s.write_all(format!("{request}\n").as_bytes()).ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    (!line.is_empty()).then_some(line)
}

/// Unplug the cable, then plug it back; the time each `nic.carrier` took to appear
/// (polled every 10 ms).
fn carrier_round_trip(run: &NodebootRun, lan: &Lan) -> (Duration, Duration) {
    let down = carrier_after(run, "false", || lan.cable.unplug());
    let up = carrier_after(run, "true", || lan.cable.plug());
    (down, up)
}

fn carrier_after(run: &NodebootRun, up: &str, change: impl FnOnce()) -> Duration {
    let count = || run.find("nic.carrier", &[("nic", "nbe0"), ("up", up)]).len();
    let before = count();
    let t = Instant::now();
    change();
    while count() == before {
        assert!(
            t.elapsed() < CARRIER_BOUND,
            "no nic.carrier up={up} within {CARRIER_BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    t.elapsed()
}

/// As `wait_for`, but on failure shows the stream without `child.output` lines.
fn wait_quietly(run: &NodebootRun, event: &str, within: Duration) {
    let t = Instant::now();
    while run.find(event, &[]).is_empty() {
        if t.elapsed() > within {
            let others: Vec<String> = run
                .records()
                .into_iter()
                .filter(|r| r["event"] != "child.output")
                .map(|r| r.to_string())
                .collect();
            panic!("no {event} within {within:?}; stream:\n{}", others.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_service_flooding_its_output_for_60s_leaves_nodeboot_small_and_responsive() {
    if !require_root("flooding service", TOOLS) {
        return;
    }
    let tmp = TempDir::new("flood");
    let lan = Lan::new(tmp.path(), true);
    let disk = LoopDisk::new(tmp.path(), 256, true);
    // Two streams at full speed: ~60-byte lines on stdout, a few MB/s on stderr.
    let services = "[[service]]\nname = \"flood\"\nargv = [\"sh\", \"-c\", \
        \"yes 'a chatty service writes this line as fast as it can' & \
        cat /dev/zero | tr '\\\\000' x >&2\"]\n";
    let mut run = start(&lan, &disk, services, &[]);
    wait_quietly(&run, "cache.ready", Duration::from_secs(120));
    run.wait_for(
        "service.started",
        &[("service", "flood")],
        Duration::from_secs(60),
    );
    run.wait_for(
        "nic.carrier",
        &[("nic", "nbe0"), ("up", "true")],
        Duration::from_secs(30),
    );
    let pid = run.pid;
    let (t0, cpu0) = (Instant::now(), cpu_ticks(pid));
    let mut peak = 0;
    let mut carrier = Vec::new();
    let mut status_answers = 0;
    while t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_secs(1));
        peak = peak.max(rss_kib(pid));
        let s = t0.elapsed().as_secs();
        if s % 20 == 10 && carrier.len() < 2 {
            carrier.push(carrier_round_trip(&run, &lan));
        }
        if ask(&socket(&run), "status", Duration::from_secs(5))
            .is_some_and(|l| l.contains("\"status\""))
        {
            status_answers += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid) - cpu0) as f64 / ticks_per_sec() as f64 / secs * 100.0;
    let outputs = run
        .find("child.output", &[("child", "service:flood")])
        .len();
    let suppressed: u64 = run
        .find("child.suppressed", &[("child", "service:flood")])
        .iter()
        .filter_map(|r| r["suppressed"].as_u64())
        .sum();
    let log_file = std::fs::metadata(format!(
        "/proc/{pid}/root{}/nodeboot.log",
        run.path("/var/log").display()
    ))
    .map(|m| m.len())
    .unwrap_or(0);
    eprintln!(
        "flood 60 s: nodeboot CPU {cpu:.0}% of a core, peak RSS {peak} KiB; \
         carrier down/up seen after {carrier:?}; {outputs} child.output records, \
         {suppressed} lines suppressed; {status_answers} status answers; nodeboot.log {log_file} bytes"
    );
    assert!(run.is_running(), "nodeboot died under the flood");
    assert!(peak > 0 && peak < RSS_BOUND_KIB, "peak RSS {peak} KiB");
    assert_eq!(carrier.len(), 2, "carrier changes not all seen");
    assert!(
        status_answers >= 30,
        "{status_answers} status answers in 60 s"
    );
    // The per-child limit (200 lines a second, and a burst per window) held, and the
    // rest was counted rather than lost silently.
    assert!(
        outputs as f64 <= 200.0 * (secs + 10.0),
        "{outputs} child.output in {secs:.0} s"
    );
    assert!(suppressed > 100_000, "only {suppressed} suppressed");
    assert!(run.stop().success());
}
