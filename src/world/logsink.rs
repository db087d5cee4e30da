//! Where the log stream goes. Records enter `crate::log::LogStream` (slog) once,
//! as key-values; each sink is a slog drain of its own, filtered by level by slog:
//! the console (stderr: human on a tty, JSON otherwise), `/dev/kmsg` early (PID 1),
//! once `Effect::ReopenLogs` names the log mount the file `<dir>/nodeboot.log`,
//! syslog (`--syslog`), and the log socket's backlog ([`BacklogDrain`]: bounded in
//! bytes, written first to the file when it opens, sent to every new socket client
//! without a copy). The remote sink of the stream issue is one more drain beside
//! these ([`LogSinks::add_drain`]). The console, kmsg and the file are
//! [`QueuedSink`]s: each is written by a thread of its own from a queue bounded in
//! bytes, so a console under flow control or a log disk that hangs never stalls the
//! loop; what does not fit is dropped, counted, and reported as `log.dropped` once
//! that sink writes again (at most once a second per sink).

use super::log_backlog::{self, BacklogDrain, SocketSide};
use super::logsock::{LogSocket, SocketNews};
use crate::core::event::{Event, Level, Record};
use crate::log::kmsg::{KmsgDrain, KmsgSink};
use crate::log::queued::{QueuedSink, Recovered, SinkHealth};
use crate::log::{Format, LogStream, SinkConfig, SinkId, WriteSink};
use crate::time::{Duration, Instant};
use mio::Registry;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Bytes the console's queue holds: ~90 s of a 115200 baud serial line.
pub const CONSOLE_QUEUE_BYTES: usize = 1 << 20;
/// Bytes the `/dev/kmsg` queue holds (the kernel rate limits it anyway).
pub const KMSG_QUEUE_BYTES: usize = 64 << 10;
/// One `log.dropped` per sink per this, at most.
const DROP_REPORT_EVERY: Duration = Duration::from_secs(1);

/// A callback that gets a copy of every JSON line.
pub type LineTap = Box<dyn FnMut(&str) + Send>;
/// Wakes the loop (from a sink's thread).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// The sinks and the log socket `settings` ask for; what failed to open comes back
/// as errors to log (the others work without it).
pub fn open(
    settings: &super::options::Settings,
    registry: &Registry,
    listener: mio::Token,
    waker: &Arc<mio::Waker>,
) -> (LogSinks, Vec<super::error::WorldError>) {
    use super::error::WorldError;
    let waker = Arc::clone(waker);
    let (logs, errors) = LogSinks::new(
        settings.stderr.map(|f| (f, settings.console_level)),
        settings.pid1,
        settings.sinks.clone(),
        settings.policy.log_backlog,
        Some(Arc::new(move || {
            let _ = waker.wake();
        })),
    );
    let mut errors: Vec<WorldError> = errors.into_iter().map(WorldError::Setup).collect();
    if let Some(path) = &settings.socket {
        let limits = super::logsock::Limits {
            clients: settings.policy.log_clients,
            ..super::logsock::Limits::default()
        };
        // The backlog's drain writes to clients with a registry of its own (a
        // clone of the loop's: the same epoll instance).
        let bound = registry.try_clone().and_then(|clone| {
            let socket = LogSocket::bind(path, registry, listener, limits)?;
            Ok((socket, clone))
        });
        match bound {
            Ok((socket, clone)) => {
                let mut side = log_backlog::lock(&logs.side);
                side.socket = Some(socket);
                side.registry = Some(clone);
            }
            Err(source) => errors.push(WorldError::LogSink {
                what: "bind",
                path: path.clone(),
                source,
            }),
        }
    }
    (logs, errors)
}

/// A queued sink the loop watches for drops.
struct Watched {
    name: &'static str,
    id: SinkId,
    health: Arc<SinkHealth>,
    last_report: Option<Instant>,
}

pub struct LogSinks {
    stream: LogStream,
    /// The backlog and the log socket, shared with the backlog's drain.
    side: log_backlog::Shared,
    file: Option<PathBuf>,
    /// The queued sinks: console, kmsg, file.
    watched: Vec<Watched>,
    /// The tap's drain, if one is set.
    tap: Option<SinkId>,
    /// Rotation of the log file, and the syslog sink.
    config: SinkConfig,
    wake: Option<Wake>,
}

/// A [`LineTap`] as a drain.
struct TapDrain {
    tap: Mutex<LineTap>,
    wall: crate::log::stream::WallBase,
}

impl slog::Drain for TapDrain {
    type Ok = ();
    type Err = slog::Never;
    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        let line = crate::log::render(Format::Json, record, values, self.wall.get());
        let mut tap = self
            .tap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tap(&line);
        Ok(())
    }
}

impl LogSinks {
    /// `console`: the format and least level on stderr, `None` for nothing there.
    /// `kmsg`: also write info-and-above to `/dev/kmsg` until the file opens (PID 1).
    /// `wake` wakes the loop when a sink writes again after dropping lines.
    pub fn new(
        console: Option<(Format, Level)>,
        kmsg: bool,
        config: SinkConfig,
        backlog_bytes: usize,
        wake: Option<Wake>,
    ) -> (LogSinks, Vec<String>) {
        let mut errors = Vec::new();
        let stream = LogStream::new(0);
        if let Some(syslog) = config.syslog_sink() {
            stream.add_drain(Level::Info, syslog.drain(&stream));
        }
        let mut sinks = LogSinks {
            stream,
            side: Arc::new(Mutex::new(SocketSide::new(backlog_bytes))),
            file: None,
            watched: Vec::new(),
            tap: None,
            config,
            wake,
        };
        if let Some((format, level)) = console {
            let out = Box::new(WriteSink::new(std::io::stderr()));
            let added = sinks.add_queued("console", out, CONSOLE_QUEUE_BYTES, |s, q| {
                s.add_sink(format, level, Box::new(q))
            });
            if let Err(e) = added {
                errors.push(e);
            }
        }
        if kmsg {
            let added = KmsgSink::open()
                .map_err(|e| format!("open /dev/kmsg: {e}"))
                .and_then(|k| {
                    sinks.add_queued("kmsg", Box::new(k), KMSG_QUEUE_BYTES, |s, q| {
                        s.add_drain(Level::Info, KmsgDrain::new(Box::new(q), s))
                    })
                });
            if let Err(e) = added {
                errors.push(e);
            }
        }
        let backlog = BacklogDrain::new(&sinks.side, &sinks.stream);
        sinks.stream.add_drain(Level::Debug, backlog);
        (sinks, errors)
    }

    fn recovered(&self) -> Option<Recovered> {
        let wake = self.wake.clone()?;
        Some(Box::new(move || wake()))
    }

    /// Start `inner`'s writer thread and put its queue on the stream with `attach`
    /// (as a sink or behind a drain of its own).
    fn add_queued(
        &mut self,
        name: &'static str,
        inner: Box<dyn crate::log::Sink>,
        max_bytes: usize,
        attach: impl FnOnce(&LogStream, QueuedSink) -> SinkId,
    ) -> Result<(), String> {
        let sink = QueuedSink::start(name, inner, max_bytes, Vec::new(), self.recovered())
            .map_err(|e| format!("start the {name} writer thread: {e}"))?;
        let health = sink.health();
        let id = attach(&self.stream, sink);
        self.watched.push(Watched {
            name,
            id,
            health,
            last_report: None,
        });
        Ok(())
    }

    /// The wall clock (µs since the epoch) at monotonic zero, for `ts`.
    pub fn set_wall_base(&mut self, wall_base_us: u64) {
        self.stream.set_wall_base(wall_base_us);
    }

    /// One more sink (the remote sink of the stream issue): a slog drain receiving
    /// records at `min_level` and above.
    pub fn add_drain<D>(&mut self, min_level: Level, drain: D) -> SinkId
    where
        D: slog::Drain<Ok = (), Err = slog::Never> + Send + Sync + 'static,
    {
        self.stream.add_drain(min_level, drain)
    }

    /// A copy of every JSON line to `tap` (tests); replaces an earlier tap.
    pub fn set_tap(&mut self, tap: LineTap) {
        if let Some(old) = self.tap.take() {
            self.stream.remove_sink(old);
        }
        let drain = TapDrain {
            tap: Mutex::new(tap),
            wall: self.stream.wall_base(),
        };
        self.tap = Some(self.stream.add_drain(Level::Debug, drain));
    }

    /// Put one record on every sink. Returns news from the socket to log in turn.
    pub fn emit(&mut self, record: &Record) -> Vec<SocketNews> {
        self.stream.emit(record);
        log_backlog::lock(&self.side).take_news()
    }

    /// Write the stream to `<dir>/nodeboot.log` from now on, through its own queue
    /// and thread (the backlog first, the first time a file is opened). The early
    /// `/dev/kmsg` copy stops here. Only `mkdir` runs on the loop thread (once, right
    /// after the mount); every write happens on the file's thread.
    pub fn open_file(&mut self, dir: &Path) -> Result<PathBuf, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        // Size-capped and rotated (nodeboot.log, .1 … .N): a full log filesystem drops
        // lines, it never stops the loop.
        let file = self.config.log_file(dir);
        let path = file.path().to_path_buf();
        // The backlog's own lines (shared, not copied), newlines and all.
        let initial = if self.file.is_none() {
            let side = log_backlog::lock(&self.side);
            side.backlog.lines().iter().cloned().collect()
        } else {
            Vec::new()
        };
        let sink = QueuedSink::start(
            "file",
            Box::new(file),
            self.config.file_queue,
            initial,
            self.recovered(),
        )
        .map_err(|e| format!("start the log file's writer thread: {e}"))?;
        let health = sink.health();
        let id = self
            .stream
            .add_sink(Format::Json, Level::Debug, Box::new(sink));
        // The old file's sink (and thread, stuck or not) goes; so does kmsg.
        let old: Vec<SinkId> = self
            .watched
            .iter()
            .filter(|w| w.name == "file" || w.name == "kmsg")
            .map(|w| w.id)
            .collect();
        for old in old {
            self.stream.remove_sink(old);
        }
        self.watched
            .retain(|w| w.name != "file" && w.name != "kmsg");
        self.watched.push(Watched {
            name: "file",
            id,
            health,
            last_report: None,
        });
        self.file = Some(path.clone());
        Ok(path)
    }

    /// Bytes in the backlog.
    pub fn backlog_bytes(&self) -> usize {
        log_backlog::lock(&self.side).backlog.bytes()
    }

    /// `log.dropped` records owed by `now`: a sink that dropped lines writes again,
    /// and its last report is at least [`DROP_REPORT_EVERY`] old.
    pub fn drop_reports(&mut self, now: Instant) -> Vec<Event> {
        let mut out = Vec::new();
        for w in &mut self.watched {
            if w.last_report.is_some_and(|t| now < t + DROP_REPORT_EVERY) {
                continue;
            }
            if let Some(dropped) = w.health.take_recovered() {
                w.last_report = Some(now);
                out.push(Event::LogDropped {
                    sink: w.name.into(),
                    dropped,
                });
            }
        }
        out
    }

    /// When the loop must wake for a `log.dropped` held back by the rate limit.
    pub fn drop_report_due(&self) -> Option<Instant> {
        self.watched
            .iter()
            .filter(|w| w.health.owed())
            .filter_map(|w| w.last_report.map(|t| t + DROP_REPORT_EVERY))
            .min()
    }

    /// Give each queued sink up to a second to write out what it holds (shutdown).
    pub fn flush(&self) {
        self.stream.flush();
    }

    /// A log socket client is ready.
    pub fn on_socket_client(&mut self, registry: &Registry, token: mio::Token) -> Vec<SocketNews> {
        let mut side = log_backlog::lock(&self.side);
        let side = &mut *side;
        match &mut side.socket {
            Some(s) => s.on_client(registry, token, side.backlog.lines()),
            None => Vec::new(),
        }
    }

    /// The log socket's listener is ready.
    pub fn on_socket_accept(&mut self, registry: &Registry, now: Instant) -> Vec<SocketNews> {
        match &mut log_backlog::lock(&self.side).socket {
            Some(s) => s.on_accept(registry, now),
            None => Vec::new(),
        }
    }

    /// Close log socket clients idle too long.
    pub fn expire_idle_clients(&mut self, registry: &Registry, now: Instant) -> Vec<SocketNews> {
        match &mut log_backlog::lock(&self.side).socket {
            Some(s) => s.expire_idle(registry, now),
            None => Vec::new(),
        }
    }

    /// When the oldest client still waiting for its request times out.
    pub fn socket_idle_due(&self) -> Option<Instant> {
        let side = log_backlog::lock(&self.side);
        side.socket.as_ref().and_then(LogSocket::idle_due)
    }

    /// Let go of the socket's clients (shutdown).
    pub fn deregister_socket(&mut self, registry: &Registry) {
        if let Some(s) = &mut log_backlog::lock(&self.side).socket {
            s.deregister(registry);
        }
    }
}
