//! Where a [`LineDrain`](super::stream::LineDrain) writes its lines: the [`Sink`]
//! trait, any `io::Write` ([`WriteSink`]) and an in-memory buffer for tests and
//! replay checks ([`MemorySink`]).

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
