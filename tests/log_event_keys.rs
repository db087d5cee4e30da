//! The JSON keys of every event are a public interface (README "The log stream"):
//! they come from the serde field names of `core::event::Event`, so this test pins
//! them. Each event kind is built (optional fields filled), rendered as a JSON line by
//! the log stream, and its keys, in order, compared with `tests/golden/event-keys.txt`.
//! It also fails when an event of the Rust type, of the golden file or of the README's
//! table is missing from another, or when the README names a key the event does not
//! have. Renaming a field must be a decision: update the golden file (and the README).

use nodeboot::core::event::{Event, Level, Record, Verdict};
use nodeboot::log::{Format, LogStream, MemorySink};
use nodeboot::time::Instant;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use std::collections::{BTreeMap, BTreeSet};

const GOLDEN: &str = "tests/golden/event-keys.txt";

fn s(v: &str) -> String {
    v.to_owned()
}

/// One of each event, every optional field set.
fn samples() -> Vec<Event> {
    vec![
        Event::BootStart {
            version: s("1"),
            mode: s("init"),
            argv: vec![s("quiet")],
        },
        Event::RulesError {
            file: s("f"),
            line: 1,
            message: s("m"),
        },
        Event::DiskSeen {
            disk: s("sda"),
            rotational: false,
            size_bytes: 1,
            verdict: Verdict::Unused,
            reason: s("r"),
        },
        Event::DiskGone { disk: s("sda") },
        Event::CacheSettled {
            candidates: 1,
            after_ms: 1,
            reason: s("quiet"),
        },
        Event::CacheFound { device: s("sda1") },
        Event::CacheResumed {
            disk: s("sda"),
            from_step: s("mkfs"),
        },
        Event::CacheSelected {
            disk: s("sda"),
            kind: s("ssd"),
        },
        Event::CacheStep {
            step: s("mkfs"),
            device: s("sda1"),
            ok: false,
            ms: 1,
            error: Some(s("e")),
        },
        Event::CacheReady {
            device: s("sda1"),
            log_subvolume: s("logs/x"),
        },
        Event::CacheNone { reason: s("r") },
        Event::CacheFailed {
            device: s("sda1"),
            step: s("mkfs"),
            error: s("e"),
        },
        Event::CachePruned {
            subvolume: s("logs/x"),
            ok: true,
        },
        Event::CacheDuplicate {
            device: s("sdb1"),
            other: s("sda1"),
        },
        Event::ModuleLoad {
            modalias: s("pci:x"),
            ok: true,
            module: Some(s("btrfs")),
            ms: Some(1),
        },
        Event::ModuleUnmatched {
            modalias: s("acpi:x"),
        },
        Event::ModulePresent {
            modalias: s("pci:x"),
            module: s("virtio_pci"),
        },
        Event::FsWait {
            fstype: s("btrfs"),
            module: s("btrfs"),
            preload: true,
        },
        Event::FsReady {
            fstype: s("btrfs"),
            how: s("preload"),
            ms: 1,
        },
        Event::FsMissing {
            fstype: s("btrfs"),
            step: s("mount-pool"),
            error: s("e"),
        },
        Event::NicSeen {
            nic: s("eth0"),
            index: 2,
            managed: true,
            reason: s("r"),
        },
        Event::NicCarrier {
            nic: s("eth0"),
            up: true,
            unconfirmed_ms: Some(1),
        },
        Event::NicCarrierUnconfirmed { nic: s("eth0") },
        Event::NicRenamed {
            from: s("eth0"),
            to: s("enp1"),
        },
        Event::NicRemoved { nic: s("eth0") },
        Event::DhcpStarted {
            nic: s("eth0"),
            pid: 1,
        },
        Event::DhcpLeased {
            nic: s("eth0"),
            address: s("10.0.0.2/24"),
            after_ms: 1,
        },
        Event::DhcpGaveUp {
            nic: s("eth0"),
            after_ms: 1,
        },
        Event::DhcpExited {
            nic: s("eth0"),
            pid: 1,
            status: s("exit 0"),
        },
        Event::DhcpRestarting {
            nic: s("eth0"),
            backoff_ms: 1,
        },
        Event::DhcpStopped {
            nic: s("eth0"),
            pid: 1,
            reason: s("removed"),
        },
        Event::GateWaiting {
            targets: vec![s("a:1")],
            timeout_ms: 1,
        },
        Event::GateProbe {
            target: s("a:1"),
            ok: false,
            error: Some(s("e")),
        },
        Event::GateReleased {
            reason: s("reachable"),
            after_ms: 1,
        },
        Event::ServiceStarted {
            service: s("a"),
            pid: 1,
        },
        Event::ServiceExited {
            service: s("a"),
            pid: 1,
            status: s("exit 0"),
        },
        Event::ServiceRestarting {
            service: s("a"),
            backoff_ms: 1,
        },
        Event::ServiceFailed {
            service: s("a"),
            error: s("e"),
        },
        Event::ServiceDone { service: s("a") },
        Event::ChildOutput {
            child: s("service:a"),
            stream: s("stdout"),
            line: s("l"),
        },
        Event::EffectFailed {
            effect: s("mount"),
            error: s("e"),
        },
        Event::UeventDropped {
            reason: s("r"),
            sender: 1,
        },
        Event::RtnlDropped {
            reason: s("r"),
            sender: 1,
        },
        Event::LogSuppressed {
            record: s("uevent.dropped"),
            suppressed: 1,
            window_ms: 1,
        },
        Event::LogDropped {
            sink: s("file"),
            dropped: 1,
        },
        Event::ChildSuppressed {
            child: s("service:a"),
            suppressed: 1,
            window_ms: 1,
        },
        Event::UeventOverflow {},
        Event::Resync {
            devices: 1,
            added: 1,
            removed: 1,
        },
        Event::EffectDryRun {
            effect: s("mount"),
            detail: serde_json::json!({"a": 1}),
        },
        Event::EffectRefused {
            effect: s("mount"),
            error: s("e"),
        },
        Event::WorldError { error: s("e") },
        Event::Status {
            cache: s("ready"),
            nics: vec![s("eth0")],
            gate: s("open"),
            services: vec![s("a")],
        },
        Event::Shutdown { kind: s("reboot") },
        Event::EffectTimeout {
            effect: s("mount"),
            target: s("/x"),
            after_ms: 1,
        },
        Event::CacheWaiting {
            state: s("preparing"),
            max_ms: 1,
        },
        Event::CacheHoldExpired {
            state: s("preparing"),
            after_ms: 1,
        },
        Event::WorkerAbandoned {
            effect: s("mount"),
            stuck: 1,
            max: 2,
        },
        Event::ShutdownStep {
            step: s("unmount"),
            ok: false,
            ms: 1,
            target: Some(s("/x")),
            error: Some(s("e")),
        },
        Event::WatchdogArmed {
            device: s("/dev/watchdog"),
            timeout_s: 1,
            set: true,
        },
        Event::SignalIgnored {
            signal: s("SIGHUP"),
        },
        Event::DebugHang { after_s: 1 },
    ]
}

/// The keys of a JSON object, in the order they appear.
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

/// Every event's name → its keys after `ts`, `level`, `event`, as the stream renders
/// them.
fn rendered() -> BTreeMap<String, Vec<String>> {
    let stream = LogStream::new(0);
    let out = MemorySink::default();
    stream.add_sink(Format::Json, Level::Debug, Box::new(out.clone()));
    let mut map = BTreeMap::new();
    for event in samples() {
        let name = event.name();
        stream.emit(&Record {
            at: Instant::from_millis(1),
            level: Level::Info,
            event,
        });
        let lines = out.lines();
        let line = lines.last().unwrap();
        let Keys(keys) = serde_json::from_str(line).unwrap();
        assert_eq!(keys[..3], ["ts", "level", "event"], "{line}");
        assert!(
            map.insert(name.clone(), keys[3..].to_vec()).is_none(),
            "{name} twice"
        );
    }
    map
}

/// `name: key key …` lines (`#` comments and blank lines skipped).
fn golden() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(GOLDEN).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, keys) = l.split_once(':').unwrap_or((l, ""));
            (
                name.trim().to_owned(),
                keys.split_whitespace().map(str::to_owned).collect(),
            )
        })
        .collect()
}

/// Every variant name of `Event`, from serde itself (its "unknown variant" error lists
/// them all): an event added to the type without a sample here fails the test.
fn variants() -> BTreeSet<String> {
    let err = serde_json::from_str::<Event>(r#"{"event":"?"}"#)
        .unwrap_err()
        .to_string();
    let list = err.split("expected one of").nth(1).unwrap();
    list.split(',')
        .map(|v| v.trim().trim_matches('`').to_owned())
        .map(|v| v.split('`').next().unwrap_or_default().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The README's event table: each row's event names and the backticked keys of its
/// fields column (parenthesised remarks, which name values, left out).
fn readme() -> Vec<(Vec<String>, BTreeSet<String>)> {
    let text = std::fs::read_to_string("README.md").unwrap();
    let table = text.split("| event | when | fields |").nth(1).unwrap();
    let ticked =
        |s: &str| -> Vec<String> { s.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    let mut rows = Vec::new();
    for line in table.lines().skip(2) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').collect();
        let names = ticked(cells[1]);
        let mut fields = String::new();
        let mut depth = 0;
        for c in cells[cells.len() - 2].chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                c if depth == 0 => fields.push(c),
                _ => {}
            }
        }
        rows.push((names, ticked(&fields).into_iter().collect()));
    }
    rows
}

#[test]
fn every_event_renders_the_keys_of_the_golden_file() {
    let rendered = rendered();
    let golden = golden();
    let mut missing = String::new();
    for (name, keys) in &rendered {
        match golden.get(name) {
            Some(want) => assert_eq!(keys, want, "{name}: keys (in order) differ from {GOLDEN}"),
            None => missing.push_str(&format!("{name}: {}\n", keys.join(" "))),
        }
    }
    assert!(
        missing.is_empty(),
        "events with no line in {GOLDEN}:\n{missing}"
    );
    for name in golden.keys() {
        assert!(
            rendered.contains_key(name),
            "{GOLDEN} names {name}, which no event renders"
        );
    }
    let names: BTreeSet<String> = rendered.keys().cloned().collect();
    assert_eq!(names, variants(), "every Event variant needs a sample here");
}

#[test]
fn the_readme_table_and_the_golden_file_name_the_same_events_and_keys() {
    let golden = golden();
    let mut listed = BTreeSet::new();
    for (names, fields) in readme() {
        let mut keys = BTreeSet::new();
        for name in &names {
            let Some(k) = golden.get(name) else {
                panic!("README's event table lists {name}, which {GOLDEN} does not");
            };
            keys.extend(k.iter().cloned());
            listed.insert(name.clone());
        }
        for field in &fields {
            assert!(
                keys.contains(field),
                "README: {names:?} has no key {field:?} ({keys:?})"
            );
        }
    }
    for name in golden.keys() {
        assert!(
            listed.contains(name),
            "{name} is missing from README's event table"
        );
    }
}
