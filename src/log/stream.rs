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
pub use super::sink::{MemorySink, Sink, WriteSink};
use crate::core::event::{Level, Record};
use crate::time::Instant;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

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
#[path = "stream_tests.rs"]
mod tests;
