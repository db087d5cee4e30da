//! Tests of the log stream: sinks, drains, levels, rendering.

use super::*;
use crate::core::event::{Event, Verdict};
use serde_json::{Value, json};
use std::io;

struct Broken;
impl Sink for Broken {
    fn write_line(&mut self, _: &str) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

fn disk_seen() -> Record {
    Record {
        at: Instant::from_millis(2_500),
        level: Level::Info,
        event: Event::DiskSeen {
            disk: "sda".into(),
            rotational: true,
            size_bytes: 1024,
            verdict: Verdict::Unused,
            reason: "empty".into(),
        },
    }
}

#[test]
fn records_reach_each_sink_in_its_format_and_level() {
    let stream = LogStream::new(1_000_000_000);
    let json = MemorySink::default();
    let human = MemorySink::default();
    let errors_only = MemorySink::default();
    stream.add_sink(Format::Json, Level::Debug, Box::new(json.clone()));
    stream.add_sink(Format::Human, Level::Info, Box::new(human.clone()));
    stream.add_sink(Format::Json, Level::Error, Box::new(errors_only.clone()));
    stream.emit(&disk_seen());
    stream.emit(&Record {
        at: Instant::from_millis(3_000),
        level: Level::Warn,
        event: Event::GateWaiting {
            targets: vec!["a:1".into(), "b:2".into()],
            timeout_ms: 60_000,
        },
    });
    let json = json.lines();
    assert_eq!(json.len(), 2);
    assert_eq!(
        json[0],
        r#"{"ts":"1970-01-01T00:16:42.500Z","level":"info","event":"disk.seen","disk":"sda","rotational":true,"size_bytes":1024,"verdict":"unused","reason":"empty"}"#
    );
    // Nested values travel through slog's serde support intact.
    let v: Value = serde_json::from_str(&json[1]).unwrap();
    assert_eq!(v["targets"], serde_json::json!(["a:1", "b:2"]));
    assert_eq!(v["level"], "warn");
    assert_eq!(
        human.lines()[0],
        "     2.500s INFO  disk.seen        disk=sda rotational=true size_bytes=1024 verdict=unused reason=empty"
    );
    assert!(errors_only.lines().is_empty());
}

#[test]
fn a_failing_sink_drops_and_counts_and_others_still_get_the_line() {
    let stream = LogStream::new(0);
    let good = MemorySink::default();
    stream.add_sink(Format::Json, Level::Debug, Box::new(Broken));
    let id = stream.add_sink(Format::Json, Level::Debug, Box::new(good.clone()));
    stream.emit(&disk_seen());
    stream.emit(&disk_seen());
    assert_eq!(stream.dropped(), 2);
    assert_eq!(good.lines().len(), 2);
    stream.remove_sink(id);
    stream.emit(&disk_seen());
    assert_eq!(good.lines().len(), 2);
}

#[test]
fn plain_slog_calls_land_on_the_stream_too() {
    let stream = LogStream::new(0);
    let sink = MemorySink::default();
    stream.add_sink(Format::Json, Level::Debug, Box::new(sink.clone()));
    slog::warn!(stream.logger(), "world.error"; "syscall" => "mount", "errno" => 19u32);
    let v: Value = serde_json::from_str(&sink.lines()[0]).unwrap();
    assert_eq!(v["event"], "world.error");
    assert_eq!(v["errno"], 19);
    assert_eq!(v["level"], "warn");
}

fn sample() -> Fields {
    vec![
        ("event", json!("disk.seen")),
        ("disk", json!("sda")),
        ("size_bytes", json!(8_589_934_592u64)),
        ("rotational", json!(false)),
        ("reason", json!("no partition table, no signature")),
        ("targets", json!(["1.1.1.1:53"])),
    ]
}

#[test]
fn loose_fields_render_in_order_after_ts_level_event() {
    let stream = LogStream::new(1_000_000);
    let (json, human) = (MemorySink::default(), MemorySink::default());
    stream.add_sink(Format::Json, Level::Debug, Box::new(json.clone()));
    stream.add_sink(Format::Human, Level::Debug, Box::new(human.clone()));
    let at = Instant::from_micros(12_345_678);
    stream.emit_fields(at, Level::Warn, "disk.seen", &sample());
    assert_eq!(
        json.lines(),
        [
            r#"{"ts":"1970-01-01T00:00:13.345Z","level":"warn","event":"disk.seen","disk":"sda","size_bytes":8589934592,"rotational":false,"reason":"no partition table, no signature","targets":["1.1.1.1:53"]}"#
        ]
    );
    assert_eq!(
        human.lines(),
        [
            "    12.345s WARN  disk.seen        disk=sda size_bytes=8589934592 rotational=false \
         reason=\"no partition table, no signature\" targets=[\"1.1.1.1:53\"]"
        ]
    );
}

#[test]
fn a_drain_of_its_own_gets_records_at_its_level_only() {
    struct Count(Arc<AtomicU64>);
    impl slog::Drain for Count {
        type Ok = ();
        type Err = slog::Never;
        fn log(&self, _: &slog::Record<'_>, _: &slog::OwnedKVList) -> Result<(), slog::Never> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }
    let stream = LogStream::new(0);
    let n = Arc::new(AtomicU64::new(0));
    let id = stream.add_drain(Level::Warn, Count(Arc::clone(&n)));
    stream.emit(&disk_seen());
    stream.emit_fields(Instant::from_millis(1), Level::Error, "x", &Vec::new());
    assert_eq!(
        n.load(Ordering::Relaxed),
        1,
        "info filtered out, error passed"
    );
    stream.remove_sink(id);
    stream.emit_fields(Instant::from_millis(1), Level::Error, "x", &Vec::new());
    assert_eq!(n.load(Ordering::Relaxed), 1);
}
