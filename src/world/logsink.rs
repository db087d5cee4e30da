//! Where the log stream goes. Records enter `crate::log::LogStream` (slog), whose
//! sinks are stderr (human on a tty, JSON otherwise) and, once `Effect::ReopenLogs`
//! names the log mount, the file `<dir>/nodeboot.log`. A JSON capture sink feeds the
//! loop's own consumers after every record: the in-memory backlog (written first to
//! the file when it opens, and sent to every new socket client) and the log socket.
//! A sink that fails drops the line, never the loop.

use super::logsock::{LogSocket, SocketNews};
use crate::core::event::{Level, Record};
use crate::log::{Format, LogStream, MemorySink, SinkId, WriteSink};
use crate::ops::sinks::SinkConfig;
use mio::Registry;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// Lines kept for late readers (the file before it exists, socket clients).
const BACKLOG_LINES: usize = 20_000;

/// A callback that gets a copy of every JSON line.
pub type LineTap = Box<dyn FnMut(&str) + Send>;

/// Human when stderr is a terminal, JSON otherwise.
pub fn stderr_format() -> Format {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        Format::Human
    } else {
        Format::Json
    }
}

pub struct LogSinks {
    stream: LogStream,
    /// JSON lines of the records just emitted, for the loop's own consumers.
    capture: MemorySink,
    backlog: VecDeque<String>,
    file: Option<(PathBuf, SinkId)>,
    pub socket: Option<LogSocket>,
    /// Extra copy of every JSON line (tests).
    pub tap: Option<LineTap>,
    /// Rotation of the log file, and the syslog sink.
    config: SinkConfig,
}

impl LogSinks {
    /// `stderr`: the format on stderr, `None` for nothing there.
    pub fn new(stderr: Option<Format>, config: SinkConfig) -> LogSinks {
        let stream = LogStream::new(0);
        if let Some(syslog) = config.syslog_sink() {
            stream.add_sink(Format::Json, Level::Info, Box::new(syslog));
        }
        if let Some(format) = stderr {
            stream.add_sink(
                format,
                Level::Debug,
                Box::new(WriteSink::new(std::io::stderr())),
            );
        }
        let capture = MemorySink::default();
        stream.add_sink(Format::Json, Level::Debug, Box::new(capture.clone()));
        LogSinks {
            stream,
            capture,
            backlog: VecDeque::new(),
            file: None,
            socket: None,
            tap: None,
            config,
        }
    }

    /// The wall clock (µs since the epoch) at monotonic zero, for `ts`.
    pub fn set_wall_base(&mut self, wall_base_us: u64) {
        self.stream.set_wall_base(wall_base_us);
    }

    /// Put one record on every sink. Returns news from the socket to log in turn.
    pub fn emit(&mut self, registry: &Registry, record: &Record) -> Vec<SocketNews> {
        self.stream.emit(record);
        let lines = match self.capture.0.lock() {
            Ok(mut l) => std::mem::take(&mut *l),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        let mut news = Vec::new();
        for line in lines {
            if let Some(tap) = &mut self.tap {
                tap(&line);
            }
            if let Some(s) = &mut self.socket {
                news.extend(s.broadcast(registry, &line));
            }
            self.backlog.push_back(line);
            if self.backlog.len() > BACKLOG_LINES {
                self.backlog.pop_front();
            }
        }
        news
    }

    /// Write the stream to `<dir>/nodeboot.log` from now on (the backlog first, the
    /// first time a file is opened).
    pub fn open_file(&mut self, dir: &Path) -> Result<PathBuf, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        // Size-capped and rotated (nodeboot.log, .1 … .N): a full log filesystem drops
        // lines, it never stops the loop.
        let mut file = self.config.log_file(dir);
        let path = file.path().to_path_buf();
        if self.file.is_none() {
            for line in &self.backlog {
                file.write_line(line)
                    .map_err(|e| format!("write {}: {e}", path.display()))?;
            }
        }
        let id = self
            .stream
            .add_sink(Format::Json, Level::Debug, Box::new(file));
        if let Some((_, old)) = self.file.replace((path.clone(), id)) {
            self.stream.remove_sink(old);
        }
        Ok(path)
    }

    pub fn backlog(&self) -> &VecDeque<String> {
        &self.backlog
    }

    /// A log socket client is ready.
    pub fn on_socket_client(&mut self, registry: &Registry, token: mio::Token) -> Vec<SocketNews> {
        match &mut self.socket {
            Some(s) => s.on_client(registry, token, &self.backlog),
            None => Vec::new(),
        }
    }
}
