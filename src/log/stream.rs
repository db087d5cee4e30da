//! The log stream: a `slog::Logger` over one slog [`Drain`](slog::Drain) per sink.
//! A core [`Record`] is logged once, as slog key-values ([`log_record`]: `event` is
//! the message, the fields are KVs); each sink's drain renders those KVs itself (JSON,
//! human, an RFC 5424 message…) and slog's `LevelFilter` decides which records it
//! gets. A sink that fails drops the line and counts it: logging never panics and
//! never stops init.
//!
//! Drains come and go while the stream runs (the log file opens after the cache is
//! mounted, `/dev/kmsg` stops then), so the logger's root is a fan-out over the
//! current drains.

use super::fields::Fields;
use super::format::Format;
use super::kv::{EventKv, FieldsKv, event_name, to_slog_level};
use super::render::render;
use crate::core::event::{Level, Record};
use crate::time::Instant;
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

/// Lines kept in memory, for tests and replay checks (the live loop keeps none).
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

/// One sink's drain, as the stream holds it (level filter included).
pub type SinkDrain = Box<dyn slog::Drain<Ok = (), Err = slog::Never> + Send + Sync>;

/// The wall clock (µs since the epoch) at monotonic instant zero, shared by the
/// stream and every drain that writes `ts`.
#[derive(Clone, Default)]
pub struct WallBase(Arc<AtomicU64>);

impl WallBase {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn set(&self, us: u64) {
        self.0.store(us, Ordering::Relaxed);
    }
}

/// Failures of the stream's sinks, shared with their drains.
#[derive(Clone, Default)]
pub struct Dropped(Arc<AtomicU64>);

impl Dropped {
    pub fn count(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A [`Sink`] behind a drain that renders each record in `format`.
pub struct LineDrain {
    format: Format,
    sink: Arc<Mutex<Box<dyn Sink>>>,
    wall: WallBase,
    dropped: Dropped,
}

impl slog::Drain for LineDrain {
    type Ok = ();
    type Err = slog::Never;
    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        let line = render(self.format, record, values, self.wall.get());
        if lock(&self.sink).write_line(&line).is_err() {
            self.dropped.count();
        }
        Ok(())
    }
}

struct Entry {
    id: SinkId,
    drain: SinkDrain,
    /// For [`LogStream::flush`]: the sink behind a [`LineDrain`].
    flush: Option<Arc<Mutex<Box<dyn Sink>>>>,
}

/// The logger's root: every current sink's drain in turn.
struct Fanout {
    drains: Mutex<Vec<Entry>>,
}

impl slog::Drain for Fanout {
    type Ok = ();
    type Err = slog::Never;
    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        for entry in lock(&self.drains).iter() {
            let _ = entry.drain.log(record, values);
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The log stream of one run: add sinks, emit records.
#[derive(Clone)]
pub struct LogStream {
    logger: slog::Logger,
    fanout: Arc<Fanout>,
    next_id: Arc<AtomicU64>,
    wall: WallBase,
    dropped: Dropped,
}

impl LogStream {
    /// A stream with no sinks yet. `wall_base_us` is the wall clock (µs since the
    /// epoch) at monotonic instant zero; it maps record times to `ts`.
    pub fn new(wall_base_us: u64) -> LogStream {
        let fanout = Arc::new(Fanout {
            drains: Mutex::new(Vec::new()),
        });
        let wall = WallBase::default();
        wall.set(wall_base_us);
        LogStream {
            logger: slog::Logger::root(Arc::clone(&fanout), slog::o!()),
            fanout,
            next_id: Arc::new(AtomicU64::new(1)),
            wall,
            dropped: Dropped::default(),
        }
    }

    /// Learn (or correct) the wall clock at monotonic zero, e.g. from `Input::Start`.
    pub fn set_wall_base(&self, wall_base_us: u64) {
        self.wall.set(wall_base_us);
    }

    pub fn wall_base_us(&self) -> u64 {
        self.wall.get()
    }

    /// The clock drains use for `ts`.
    pub fn wall_base(&self) -> WallBase {
        self.wall.clone()
    }

    /// The failure count drains add to.
    pub fn dropped_counter(&self) -> Dropped {
        self.dropped.clone()
    }

    /// Add a sink receiving records at `min_level` and above, rendered as `format`.
    pub fn add_sink(&self, format: Format, min_level: Level, sink: Box<dyn Sink>) -> SinkId {
        let sink = Arc::new(Mutex::new(sink));
        let drain = LineDrain {
            format,
            sink: Arc::clone(&sink),
            wall: self.wall.clone(),
            dropped: self.dropped.clone(),
        };
        self.push(filtered(drain, min_level), Some(sink))
    }

    /// Add a drain of its own (syslog, the socket's backlog) receiving records at
    /// `min_level` and above.
    pub fn add_drain<D>(&self, min_level: Level, drain: D) -> SinkId
    where
        D: slog::Drain<Ok = (), Err = slog::Never> + Send + Sync + 'static,
    {
        self.push(filtered(drain, min_level), None)
    }

    fn push(&self, drain: SinkDrain, flush: Option<Arc<Mutex<Box<dyn Sink>>>>) -> SinkId {
        let id = SinkId(self.next_id.fetch_add(1, Ordering::Relaxed));
        lock(&self.fanout.drains).push(Entry { id, drain, flush });
        id
    }

    pub fn remove_sink(&self, id: SinkId) {
        lock(&self.fanout.drains).retain(|s| s.id != id);
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
        let sinks: Vec<_> = lock(&self.fanout.drains)
            .iter()
            .filter_map(|e| e.flush.clone())
            .collect();
        for sink in sinks {
            if lock(&sink).flush().is_err() {
                self.dropped.count();
            }
        }
    }

    /// The slog logger, for code outside the core that logs directly.
    pub fn logger(&self) -> &slog::Logger {
        &self.logger
    }

    /// Lines dropped because a sink failed.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }
}

/// slog's level filter in front of `drain`.
fn filtered<D>(drain: D, min_level: Level) -> SinkDrain
where
    D: slog::Drain<Ok = (), Err = slog::Never> + Send + Sync + 'static,
{
    use slog::Drain as _;
    Box::new(drain.filter_level(to_slog_level(min_level)).ignore_res())
}

static LOCATION: slog::RecordLocation = slog::RecordLocation {
    file: file!(),
    line: line!(),
    column: 0,
    function: "log_record",
    module: module_path!(),
};

/// Log a core record through `logger`: level mapped to slog's, `event` as the
/// message, the time as `at_us`, every other event field as a KV.
pub fn log_record(logger: &slog::Logger, record: &Record) {
    let name = event_name(&record.event);
    let kv = EventKv {
        at_us: record.at.as_micros(),
        event: &record.event,
    };
    log_kv(logger, record.level, &name, &kv);
}

/// Log `event` with `fields` (an `event` entry among them is skipped) through slog.
pub fn log_fields(logger: &slog::Logger, at_us: u64, level: Level, name: &str, fields: &Fields) {
    log_kv(logger, level, name, &FieldsKv { at_us, fields });
}

fn log_kv(logger: &slog::Logger, level: Level, name: &str, kv: &dyn slog::KV) {
    let rs = slog::RecordStatic {
        location: &LOCATION,
        tag: "",
        level: to_slog_level(level),
    };
    logger.log(&slog::Record::new(
        &rs,
        &format_args!("{name}"),
        slog::BorrowedKV(kv),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::{Event, Verdict};
    use serde_json::{Value, json};

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
}
