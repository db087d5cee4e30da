//! Where the log stream goes: stderr (human on a tty, JSON otherwise), an in-memory
//! backlog, the file `<log dir>/nodeboot.log` once `Effect::ReopenLogs` names the log
//! mount, and the log socket. A sink that fails drops the line, never the loop.

use super::logfmt::{WallClock, human_line, json_line};
use super::logsock::{LogSocket, SocketNews};
use crate::core::event::Record;
use mio::Registry;
use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A callback that gets a copy of every JSON line.
pub type LineTap = Box<dyn FnMut(&str) + Send>;

/// Lines kept for late readers (the file before it exists, socket clients).
const BACKLOG_LINES: usize = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Human,
}

impl Format {
    /// Human when stderr is a terminal, JSON otherwise.
    pub fn for_stderr() -> Format {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            Format::Human
        } else {
            Format::Json
        }
    }
}

pub struct LogSinks {
    /// `None`: nothing on stderr (tests that read the stream elsewhere).
    stderr: Option<Format>,
    backlog: VecDeque<String>,
    file: Option<(PathBuf, File)>,
    pub socket: Option<LogSocket>,
    clock: WallClock,
    /// Extra copy of every JSON line (tests and `--record` comparisons).
    pub tap: Option<LineTap>,
}

impl LogSinks {
    pub fn new(stderr: Option<Format>, clock: WallClock) -> LogSinks {
        LogSinks {
            stderr,
            backlog: VecDeque::new(),
            file: None,
            socket: None,
            clock,
            tap: None,
        }
    }

    pub fn set_clock(&mut self, clock: WallClock) {
        self.clock = clock;
    }

    /// Put one record on every sink. Returns news from the socket to log in turn.
    pub fn emit(&mut self, registry: &Registry, record: &Record) -> Vec<SocketNews> {
        let line = json_line(record, &self.clock);
        if let Some(format) = self.stderr {
            let text = match format {
                Format::Json => line.clone(),
                Format::Human => human_line(&line),
            };
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{text}");
        }
        if let Some((_, file)) = &mut self.file {
            let _ = writeln!(file, "{line}");
        }
        if let Some(tap) = &mut self.tap {
            tap(&line);
        }
        let news = match &mut self.socket {
            Some(s) => s.broadcast(registry, &line),
            None => Vec::new(),
        };
        self.backlog.push_back(line);
        if self.backlog.len() > BACKLOG_LINES {
            self.backlog.pop_front();
        }
        news
    }

    /// Write the stream to `<dir>/nodeboot.log` from now on (the backlog first, the
    /// first time a file is opened).
    pub fn open_file(&mut self, dir: &Path) -> Result<PathBuf, String> {
        let path = dir.join("nodeboot.log");
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("open {}: {e}", path.display()))?;
        if self.file.is_none() {
            for line in &self.backlog {
                writeln!(file, "{line}").map_err(|e| format!("write {}: {e}", path.display()))?;
            }
        }
        self.file = Some((path.clone(), file));
        Ok(path)
    }

    pub fn backlog(&self) -> Vec<String> {
        self.backlog.iter().cloned().collect()
    }
}

impl LogSinks {
    /// A log socket client is ready.
    pub fn on_socket_client(&mut self, registry: &Registry, token: mio::Token) -> Vec<SocketNews> {
        match &mut self.socket {
            Some(s) => s.on_client(registry, token, &self.backlog),
            None => Vec::new(),
        }
    }
}
