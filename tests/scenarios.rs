//! Replay scenarios (tests/scenarios/): every `*.trace` and `*.udevadm` file is
//! replayed through the same code path as `nodeboot replay`, and its log stream is
//! checked against `<name>.expect` (see `nodeboot::trace::expect` for the syntax).

// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use nodeboot::trace::{Output, ReplayConfig, expect, replay_file};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

fn scenarios() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("trace" | "udevadm")
            )
        })
        .collect();
    files.sort();
    files
}

fn records_of(path: &Path) -> Result<Vec<Value>, String> {
    let mut records = Vec::new();
    replay_file(&ReplayConfig::new(path), &mut |o| {
        if let Output::Record(r) = o {
            records.push(expect::record_value(r));
        }
    })?;
    Ok(records)
}

fn check_one(path: &Path) -> Result<(), String> {
    let expect_path = path.with_extension("expect");
    let text = std::fs::read_to_string(&expect_path)
        .map_err(|e| format!("{}: {e}", expect_path.display()))?;
    let expectations = expect::parse(&text)?;
    let records = records_of(path)?;
    expect::check(&expectations, &records)
}

#[test]
fn every_scenario_produces_its_expected_log_stream() {
    let files = scenarios();
    assert!(files.len() >= 18, "scenarios missing: {files:?}");
    let mut failed = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match check_one(path) {
            Ok(()) => eprintln!("ok      {name}"),
            Err(e) => {
                eprintln!("FAILED  {name}\n{e}\n");
                failed.push(name);
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} scenarios failed: {failed:?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn replay_is_deterministic() {
    for path in scenarios() {
        assert_eq!(records_of(&path), records_of(&path), "{}", path.display());
    }
}

#[test]
fn the_cli_prints_the_json_stream_and_checks_expectations() {
    let bin = support::run::BIN;
    let trace = scenario_dir().join("cache-no-disk.trace");
    let dir = support::TempDir::new("trace");
    let tmp = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let good = tmp(
        "good.expect",
        "boot.start mode=replay\n! boot.start mode=init\n",
    );
    let out = std::process::Command::new(bin)
        .args(["replay", "--json"])
        .arg(&trace)
        .arg("--expect")
        .arg(&good)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\n{stderr}\n{stdout}",
        out.status
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["event"], "boot.start");
    assert_eq!(lines[0]["mode"], "replay");
    // The header's wall clock (1795000000 = 2026-11-18T11:06:40Z) maps time zero.
    assert_eq!(lines[0]["ts"], "2026-11-18T11:06:40.000Z");
    for l in &lines {
        assert!(l["ts"].is_string() && l["level"].is_string() && l["event"].is_string());
    }

    // --human is one aligned line per record; --inputs adds the inputs.
    let out = std::process::Command::new(bin)
        .args(["replay", "--human", "--inputs"])
        .arg(scenario_dir().join("cache-only-rotary.trace"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let human = String::from_utf8(out.stdout).unwrap();
    let first = human.lines().next().unwrap();
    assert!(
        first.starts_with("     0.000s DEBUG input            kind=start"),
        "{human}"
    );
    assert!(
        human.contains("     0.000s INFO  boot.start       version="),
        "{human}"
    );
    assert!(
        human.contains("     0.100s DEBUG input            kind=uevent action=add devpath="),
        "{human}"
    );
    assert!(human.contains(" kind=coldplug_done"), "{human}");

    // A wrong expectation fails with exit 1 and names the line.
    let bad = tmp("bad.expect", "boot.start mode=init\n");
    let out = std::process::Command::new(bin)
        .args(["replay", "--json"])
        .arg(&trace)
        .arg("--expect")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));

    // A udevadm capture without a side file: every disk gets the default (8 GiB,
    // empty), SSD when --ssd matches.
    let capture = tmp(
        "capture.udevadm",
        &std::fs::read_to_string(scenario_dir().join("capture-coldplug.udevadm")).unwrap(),
    );
    let expect = tmp(
        "capture.expect",
        "* disk.seen disk=sda verdict=unused rotational=false size_bytes=8589934592\n\
         * disk.seen disk=sdb verdict=in-use reason~sdb1\n\
         cache.selected disk=sda kind=ssd\ncache.ready device~sda\n",
    );
    let out = std::process::Command::new(bin)
        .args(["replay", "--json", "--ssd", "sda"])
        .arg(&capture)
        .arg("--expect")
        .arg(&expect)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Garbage is refused with exit 2.
    let out = std::process::Command::new(bin)
        .args(["replay"])
        .arg(scenario_dir().join("capture-coldplug.expect"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A recorded trace (every input, simulated answers included, as the live world
/// journals them) replays to exactly the stream the run produced.
#[test]
fn a_recorded_run_replays_to_the_same_stream() {
    use nodeboot::trace::{Header, TraceKind, TraceWriter};
    for name in [
        "cache-ssd-over-rotary",
        "dhcp-crash-restart-backoff",
        "services-after-gate-in-order",
    ] {
        let scenario = scenario_dir().join(format!("{name}.trace"));
        let dir = support::TempDir::new("trace");
        let recorded = dir.join(&format!("{name}.trace"));
        let scenario_header = nodeboot::trace::TraceReader::new(std::io::BufReader::new(
            std::fs::File::open(&scenario).unwrap(),
        ))
        .unwrap()
        .header()
        .clone();
        // The live world writes the policy it runs by into the header.
        let mut header = Header::new(TraceKind::Recorded, 1_795_000_000);
        header.policy = scenario_header.policy;
        let mut writer = TraceWriter::create(&recorded, &header).unwrap();
        let mut live = Vec::new();
        let mut last_input = None;
        replay_file(&ReplayConfig::new(&scenario), &mut |o| match o {
            Output::Input(at, input) => {
                writer.record(at, input).unwrap();
                last_input = Some(at);
            }
            Output::Record(r) => live.push(r.clone()),
            Output::Action(..) => {}
        })
        .unwrap();
        drop(writer);
        // The recorded run ends at its last input; compare up to there.
        let end = last_input.unwrap();
        live.retain(|r| r.at <= end);
        let mut replayed = Vec::new();
        let summary = replay_file(&ReplayConfig::new(&recorded), &mut |o| {
            if let Output::Record(r) = o {
                replayed.push(r.clone());
            }
        })
        .unwrap();
        assert!(summary.inputs > 5, "{name}");
        assert_eq!(replayed, live, "{name}");
    }
}

/// `replay_file` or `replay_file_in_turns`.
type RunFile =
    fn(&ReplayConfig, &mut dyn FnMut(Output<'_>)) -> Result<nodeboot::trace::Summary, String>;

/// Everything a run reports, times included, as comparable lines.
fn full_stream(path: &Path, run: RunFile) -> (Vec<String>, nodeboot::trace::Summary) {
    let mut lines = Vec::new();
    let summary = run(&ReplayConfig::new(path), &mut |o| {
        lines.push(match o {
            Output::Input(at, i) => format!("{at:?} input {}", serde_json::to_string(i).unwrap()),
            Output::Record(r) => format!("record {}", serde_json::to_string(r).unwrap()),
            Output::Action(at, a) => format!("{at:?} action {}", serde_json::to_string(a).unwrap()),
        })
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (lines, summary)
}

/// The one driver (`core::driver`): a scenario run the way the live loop runs (it
/// wakes at its first timer or ready source, fires the timers due, then reads every
/// ready source) gives exactly the replay's stream — inputs, records and actions, at
/// the same times.
#[test]
fn live_loop_turns_and_replay_give_the_same_stream() {
    use nodeboot::trace::replay_file_in_turns;
    let mut files = scenarios();
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ops/boot.trace"));
    for path in &files {
        let (replayed, r_sum) = full_stream(path, replay_file);
        let (live, l_sum) = full_stream(path, replay_file_in_turns);
        assert_eq!(r_sum, l_sum, "{}", path.display());
        assert!(r_sum.records > 0, "{}", path.display());
        if let Some(i) =
            (0..replayed.len().max(live.len())).find(|&i| replayed.get(i) != live.get(i))
        {
            panic!(
                "{}: the streams part at line {i}:\nreplay: {:?}\nlive:   {:?}",
                path.display(),
                replayed.get(i),
                live.get(i)
            );
        }
    }
    // Among them, one that has every kind of input: disks (uevents, mkfs), links,
    // children (DHCP clients and services, spawned and exited), timers, a shutdown.
    let name = "shutdown-after-cache-ready.trace";
    let (stream, summary) = full_stream(&scenario_dir().join(name), replay_file);
    for what in [
        r#"input {"kind":"uevent""#,
        r#"input {"kind":"link""#,
        r#"input {"kind":"effect_done""#,
        r#"input {"kind":"child_exited""#,
        r#""effect":"mkfs""#,
        r#""effect":"spawn""#,
        r#""effect":"shutdown""#,
    ] {
        assert!(
            stream.iter().any(|l| l.contains(what)),
            "no {what} in {name}"
        );
    }
    assert!(summary.timeouts > 0, "no timer fired in {name}");
}
