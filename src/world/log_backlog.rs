//! The log socket's sink: a slog drain that renders each record as a JSON line once,
//! keeps it in the backlog (bounded in bytes) and queues it for every following
//! socket client. The line is one `Arc<str>` shared by the backlog, the clients and
//! the log file's first batch: each line is kept once, however many hold it.

use super::logsock::{LogSocket, SocketNews};
use crate::log::Format;
use crate::log::stream::{LogStream, WallBase};
use mio::Registry;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// The JSON lines kept for late readers (the file before it exists, socket clients),
/// each with its newline.
pub struct Backlog {
    lines: VecDeque<Arc<str>>,
    bytes: usize,
    max_bytes: usize,
}

impl Backlog {
    pub fn new(max_bytes: usize) -> Backlog {
        Backlog {
            lines: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    pub fn push(&mut self, line: Arc<str>) {
        self.bytes += line.len();
        self.lines.push_back(line);
        while self.bytes > self.max_bytes {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= old.len();
        }
        // A burst that has rolled out must not keep its slots.
        if self.lines.capacity() > 2 * self.lines.len().max(64) {
            self.lines.shrink_to_fit();
        }
    }

    pub fn lines(&self) -> &VecDeque<Arc<str>> {
        &self.lines
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The backlog and the socket it serves, shared by the drain and the loop.
pub struct SocketSide {
    pub backlog: Backlog,
    pub socket: Option<LogSocket>,
    /// The loop's registry (a clone), for the drain's writes to clients.
    pub registry: Option<Registry>,
    /// What the socket said while lines were written, for the loop to log.
    news: Vec<SocketNews>,
}

impl SocketSide {
    pub fn new(backlog_bytes: usize) -> SocketSide {
        SocketSide {
            backlog: Backlog::new(backlog_bytes),
            socket: None,
            registry: None,
            news: Vec::new(),
        }
    }

    /// What the socket said since the last call.
    pub fn take_news(&mut self) -> Vec<SocketNews> {
        std::mem::take(&mut self.news)
    }
}

pub type Shared = Arc<Mutex<SocketSide>>;

pub fn lock(side: &Shared) -> MutexGuard<'_, SocketSide> {
    side.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The drain (add it to the stream at debug: the backlog keeps every record).
pub struct BacklogDrain {
    side: Shared,
    wall: WallBase,
}

impl BacklogDrain {
    pub fn new(side: &Shared, stream: &LogStream) -> BacklogDrain {
        BacklogDrain {
            side: Arc::clone(side),
            wall: stream.wall_base(),
        }
    }
}

impl slog::Drain for BacklogDrain {
    type Ok = ();
    type Err = slog::Never;
    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        let mut line = crate::log::render(Format::Json, record, values, self.wall.get());
        line.push('\n');
        let line: Arc<str> = Arc::from(line);
        let mut side = lock(&self.side);
        let side = &mut *side;
        if let (Some(socket), Some(registry)) = (&mut side.socket, &side.registry) {
            let news = socket.broadcast(registry, &line);
            side.news.extend(news);
        }
        side.backlog.push(line);
        Ok(())
    }
}
