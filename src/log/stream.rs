//! The log stream: a `slog::Logger` whose drain renders each record as a JSON or a
//! human line and writes it to every sink. A core [`Record`] enters through
//! [`log_record`], which hands its fields to slog as key-value pairs (`event` is the
//! message). A sink that fails drops the line and counts it: logging never panics and
//! never stops init.

use super::fields::{Fields, fields_of};
use super::format::{Format, Line, render};
use super::kv::{Collect, RecordKv, from_slog_level, to_slog_level};
use crate::core::event::{Level, Record};
use crate::time::Instant;
use serde_json::Value;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where rendered lines go (console, file, socket clients, a test buffer).
pub trait Sink: Send {
    /// Write one line (without its newline). An error drops the line.
    fn write_line(&mut self, line: &str) -> io::Result<()>;
    /// Push out anything buffered.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Any `io::Write` as a sink: the line plus `\n` in one write, flushed at once
/// ([`WriteSink::new`], for consoles, files and sockets) or when the stream is
/// flushed ([`WriteSink::buffered`], for batch output such as a replay).
pub struct WriteSink<W: Write + Send> {
    out: W,
    flush_each_line: bool,
}

impl<W: Write + Send> WriteSink<W> {
    pub fn new(out: W) -> WriteSink<W> {
        WriteSink {
            out,
            flush_each_line: true,
        }
    }
    pub fn buffered(out: W) -> WriteSink<W> {
        WriteSink {
            out,
            flush_each_line: false,
        }
    }
}

impl<W: Write + Send> Sink for WriteSink<W> {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.out.write_all(&buf)?;
        if self.flush_each_line {
            self.out.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Lines kept in memory (tests, replay checks).
#[derive(Clone, Default)]
pub struct MemorySink(pub Arc<Mutex<Vec<String>>>);

impl MemorySink {
    pub fn lines(&self) -> Vec<String> {
        lock(&self.0).clone()
    }
}

impl Sink for MemorySink {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        lock(&self.0).push(line.to_owned());
        Ok(())
    }
}

/// Names a sink so it can be removed later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinkId(u64);

struct SinkEntry {
    id: SinkId,
    format: Format,
    min_level: Level,
    sink: Box<dyn Sink>,
}

struct Shared {
    sinks: Mutex<Vec<SinkEntry>>,
    next_id: AtomicU64,
    dropped: AtomicU64,
    /// Wall clock (µs since the epoch) at monotonic instant zero.
    wall_base_us: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The slog drain behind [`LogStream`].
#[derive(Clone)]
pub struct StreamDrain {
    shared: Arc<Shared>,
}

/// The log stream of one run: add sinks, emit records.
#[derive(Clone)]
pub struct LogStream {
    logger: slog::Logger,
    shared: Arc<Shared>,
}

impl LogStream {
    /// A stream with no sinks yet. `wall_base_us` is the wall clock (µs since the
    /// epoch) at monotonic instant zero; it maps record times to `ts`.
    pub fn new(wall_base_us: u64) -> LogStream {
        let shared = Arc::new(Shared {
            sinks: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            dropped: AtomicU64::new(0),
            wall_base_us: AtomicU64::new(wall_base_us),
        });
        let drain = StreamDrain {
            shared: Arc::clone(&shared),
        };
        LogStream {
            logger: slog::Logger::root(drain, slog::o!()),
            shared,
        }
    }

    /// Learn (or correct) the wall clock at monotonic zero, e.g. from `Input::Start`.
    pub fn set_wall_base(&self, wall_base_us: u64) {
        self.shared
            .wall_base_us
            .store(wall_base_us, Ordering::Relaxed);
    }

    pub fn wall_base_us(&self) -> u64 {
        self.shared.wall_base_us.load(Ordering::Relaxed)
    }

    /// Add a sink receiving records at `min_level` and above, rendered as `format`.
    pub fn add_sink(&self, format: Format, min_level: Level, sink: Box<dyn Sink>) -> SinkId {
        let id = SinkId(self.shared.next_id.fetch_add(1, Ordering::Relaxed));
        lock(&self.shared.sinks).push(SinkEntry {
            id,
            format,
            min_level,
            sink,
        });
        id
    }

    pub fn remove_sink(&self, id: SinkId) {
        lock(&self.shared.sinks).retain(|s| s.id != id);
    }

    /// Emit one core record on every sink.
    pub fn emit(&self, record: &Record) {
        log_record(&self.logger, record);
    }

    /// Emit a line that is not a core record (replay's `input` and `action` lines):
    /// `event` and its fields at monotonic time `at`.
    pub fn emit_fields(&self, at: Instant, level: Level, event: &str, fields: &Fields) {
        log_fields(&self.logger, at.as_micros(), level, event, fields);
    }

    /// Flush every sink (buffered ones write out).
    pub fn flush(&self) {
        for entry in lock(&self.shared.sinks).iter_mut() {
            if entry.sink.flush().is_err() {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The slog logger, for code outside the core that logs directly.
    pub fn logger(&self) -> &slog::Logger {
        &self.logger
    }

    /// Lines dropped because a sink failed.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

static LOCATION: slog::RecordLocation = slog::RecordLocation {
    file: file!(),
    line: line!(),
    column: 0,
    function: "log_record",
    module: module_path!(),
};

/// The key under which a record's monotonic time (µs) travels through slog.
pub const AT_KEY: &str = "at_us";

/// Log a core record through `logger`: level mapped to slog's, `event` as the
/// message, the time as `at_us`, every other event field as a KV.
pub fn log_record(logger: &slog::Logger, record: &Record) {
    let fields = match fields_of(&record.event) {
        Ok(f) => f,
        Err(e) => vec![("error", Value::String(e.to_string()))],
    };
    let name = fields
        .iter()
        .find(|(k, _)| *k == "event")
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("unknown");
    log_fields(logger, record.at.as_micros(), record.level, name, &fields);
}

/// Log `event` with `fields` (an `event` entry among them is skipped) through slog.
pub fn log_fields(logger: &slog::Logger, at_us: u64, level: Level, name: &str, fields: &Fields) {
    let rs = slog::RecordStatic {
        location: &LOCATION,
        tag: "",
        level: to_slog_level(level),
    };
    let kv = RecordKv { at_us, fields };
    logger.log(&slog::Record::new(
        &rs,
        &format_args!("{name}"),
        slog::BorrowedKV(&kv),
    ));
}

impl slog::Drain for StreamDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        let mut kv = Collect::default();
        // A KV that fails to serialize is left out; the line still goes out.
        let _ = slog::KV::serialize(&record.kv(), record, &mut kv);
        let _ = slog::KV::serialize(values, record, &mut kv);
        let event = record.msg().to_string();
        let level = from_slog_level(record.level());
        let line = Line {
            at_us: kv.at_us,
            wall_base_us: self.shared.wall_base_us.load(Ordering::Relaxed),
            level,
            event: &event,
            fields: &kv.fields,
        };
        let mut sinks = lock(&self.shared.sinks);
        let mut json = None;
        let mut human = None;
        for entry in sinks.iter_mut().filter(|s| level >= s.min_level) {
            let text = match entry.format {
                Format::Json => json.get_or_insert_with(|| render(Format::Json, &line)),
                Format::Human => human.get_or_insert_with(|| render(Format::Human, &line)),
            };
            if entry.sink.write_line(text).is_err() {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::{Event, Verdict};

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
}
