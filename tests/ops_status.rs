//! `nodeboot status` and `nodeboot plot` as an operator runs them: from a log file,
//! from stdin, and from a log socket speaking the world loop's protocol (`logs\n` →
//! the backlog, then the server closes).

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use support::TempDir;
use support::run::BIN;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ops/boot.jsonl");

/// `nodeboot ARGS…` fed `stdin`: exit code, stdout, stderr.
fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    support::capture(BIN, args, stdin.map(str::as_bytes))
}

fn assert_sample_table(out: &str) {
    for want in [
        "nodeboot 0.1.0 (live)",
        "\nCache\n  ready     sda1  log logs/2026-11-26T01:00:00Z",
        "\nNICs\n",
        "leased (2.29s)",
        "gave up (30.0s)",
        "\nGate\n  released  reachable after 3.07s",
        "\nServices\n",
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
}

#[test]
fn status_from_a_file_and_from_stdin() {
    let (code, out, err) = run(&["status", "--from", SAMPLE], None);
    assert_eq!(code, 0, "{err}");
    assert_sample_table(&out);
    let text = std::fs::read_to_string(SAMPLE).unwrap();
    let (code, json, _) = run(&["status", "--json", "--from", "-"], Some(&text));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["nics"]["eth0"]["address"], "10.4.0.23/24");
    assert_eq!(v["services"]["redis"]["state"], "running");
}

#[test]
fn status_reads_the_live_socket_backlog() {
    let dir = TempDir::new("status-sock");
    let sock = dir.0.join("run").join("nodeboot.sock");
    std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
    let listener = UnixListener::bind(&sock).unwrap();
    let backlog = std::fs::read_to_string(SAMPLE).unwrap();
    let server = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for _ in 0..2 {
            let (mut conn, _) = listener.accept().unwrap();
            let mut req = [0u8; 5];
            conn.read_exact(&mut req).unwrap();
            requests.push(String::from_utf8_lossy(&req).into_owned());
            conn.write_all(backlog.as_bytes()).unwrap();
        }
        requests
    });
    // --root finds <root>/run/nodeboot.sock; --socket names it.
    let root = dir.0.to_str().unwrap();
    let (code, out, err) = run(&["status", "--root", root], None);
    assert_eq!(code, 0, "{err}");
    assert_sample_table(&out);
    let (code, svg, err) = run(&["plot", "--socket", sock.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(svg.contains("data-lane=\"nic:eth1\""));
    assert_eq!(server.join().unwrap(), ["logs\n", "logs\n"]);
}

#[test]
fn a_missing_socket_is_a_clear_error() {
    let dir = TempDir::new("nosock");
    let (code, _, err) = run(&["status", "--root", dir.0.to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert!(
        err.contains("log socket") && err.contains("--from"),
        "{err}"
    );
    let (code, _, err) = run(&["status", "--bogus"], None);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn plot_writes_an_svg_file() {
    let dir = TempDir::new("plot");
    let out = dir.0.join("boot.svg");
    let (code, stdout, err) = run(&["plot", SAMPLE, "-o", out.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty());
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    let (code, _, err) = run(&["plot", "-"], Some("not a log\n"));
    assert_eq!(code, 1);
    assert!(err.contains("no JSON log records"), "{err}");
}

fn replay(trace: &str) -> String {
    let (code, out, err) = run(&["replay", trace, "--json"], None);
    assert_eq!(code, 0, "replay {trace}: {err}");
    out
}

/// The README's boot, replayed and piped into `status` as an operator would.
#[test]
fn status_of_the_replayed_boot() {
    let stream = replay(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ops/boot.trace"));
    let (code, out, err) = run(&["status", "--from", "-"], Some(&stream));
    assert_eq!(code, 0, "{err}");
    for want in [
        "nodeboot 0.1.0 (replay)",
        "\nCache\n  ready     sda1  log logs/",
        "leased (2.30s)",
        "gave up (30.0s)",
        "\nGate\n  released  reachable after 3.03s",
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
    let ork = out
        .lines()
        .find(|l| l.trim_start().starts_with("0-ork"))
        .unwrap();
    let cells: Vec<&str> = ork.split_whitespace().collect();
    assert_eq!(
        &cells[..5],
        ["0-ork", "running", "106", "1", "exit"],
        "{ork}"
    );
}

/// Every replay scenario folds and draws: `status --json` agrees with the stream's
/// last word on each subject, and `plot` gives well-formed SVG with a lane per NIC
/// and service the stream mentions.
#[test]
fn every_scenario_folds_and_plots() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios");
    let mut traces: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "trace"))
        .collect();
    traces.sort();
    assert!(traces.len() >= 10, "scenarios missing in {dir}");
    for trace in traces {
        let name = trace.display().to_string();
        let stream = replay(&name);
        let records: Vec<serde_json::Value> = stream
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let (code, json, err) = run(&["status", "--json", "--from", "-"], Some(&stream));
        assert_eq!(code, 0, "{name}: {err}");
        let state: serde_json::Value = serde_json::from_str(&json).unwrap();
        let last = |prefix: &str| {
            records
                .iter()
                .rev()
                .map(|r| r["event"].as_str().unwrap_or(""))
                .find(|e| {
                    ["cache.ready", "cache.none", "cache.failed"].contains(e)
                        && e.starts_with(prefix)
                })
        };
        let expected_cache = match last("cache.") {
            Some("cache.ready") => "ready",
            Some("cache.none") => "none",
            Some("cache.failed") => "failed",
            _ => "",
        };
        if !expected_cache.is_empty() {
            assert_eq!(state["cache"]["state"], expected_cache, "{name}");
        }
        for r in &records {
            if r["event"] == "gate.released" {
                assert_eq!(state["gate"]["state"], "released", "{name}");
                assert_eq!(state["gate"]["reason"], r["reason"], "{name}");
            }
        }
        let (code, svg, err) = run(&["plot", "-"], Some(&stream));
        assert_eq!(code, 0, "{name}: {err}");
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{name}: {e}"));
        let lanes: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("data-lane"))
            .collect();
        for r in &records {
            let ev = r["event"].as_str().unwrap_or("");
            if ev == "service.started" {
                let want = format!("service:{}", r["service"].as_str().unwrap());
                assert!(lanes.contains(&want.as_str()), "{name}: no lane {want}");
            }
            if ev == "dhcp.started" {
                let want = format!("nic:{}", r["nic"].as_str().unwrap());
                assert!(lanes.contains(&want.as_str()), "{name}: no lane {want}");
            }
        }
    }
}
