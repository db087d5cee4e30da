//! A sink that never blocks its caller: lines go into a queue bounded in bytes, and a
//! thread of its own writes them to the real sink (a console, a file on the cache
//! filesystem, `/dev/kmsg`). A console under flow control or a disk that hangs stalls
//! only that thread; its queue fills, and further lines are dropped and counted
//! ([`SinkHealth`]) until it writes again. No sink waits on another, and the loop
//! never waits on any.
//!
//! Why a thread rather than registering the fd with the loop: a console is whatever
//! the kernel or the caller gave as stderr (a tty, a serial line, a pipe, a file);
//! setting `O_NONBLOCK` on it would change the open file description every other
//! holder shares (a shell started on it later, the test harness's pipe), regular
//! files are never "not ready" for epoll, and a write to a frozen filesystem blocks
//! in the kernel whatever the flags say. A thread handles all of them the same way.
//! A thread stuck for good (D-state) is abandoned when its sink is replaced or
//! dropped: it notices when (if ever) its write returns, and ends.

use super::stream::Sink;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Called (from the writer thread) when the sink writes again after dropping lines,
/// so that the loop can report the drops without polling.
pub type Recovered = Box<dyn Fn() + Send>;

struct Queue {
    /// Lines as given to `write_line`, or shared with the caller (`initial`: the
    /// backlog's own lines, which end in a newline).
    lines: VecDeque<Arc<str>>,
    bytes: usize,
    /// The sink is gone: the thread ends once it sees this.
    closed: bool,
    /// The thread is writing a batch it took from the queue.
    busy: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled on a new line (to the thread) and on an empty queue (to `flush`).
    ready: Condvar,
    health: Arc<SinkHealth>,
}

/// What the loop may read about a queued sink without touching its queue's lines.
#[derive(Default)]
pub struct SinkHealth {
    /// Lines dropped and not reported yet.
    dropped: AtomicU64,
    /// The thread wrote a line since the last drop: the sink has recovered.
    recovered: AtomicBool,
    /// Lines the real sink refused (its own error), for the record too.
    failed: AtomicU64,
}

impl SinkHealth {
    /// The lines dropped since the last report, if the sink writes again; taking them
    /// resets the count.
    pub fn take_recovered(&self) -> Option<u64> {
        if !self.recovered.load(Ordering::Acquire) {
            return None;
        }
        let n = self.dropped.swap(0, Ordering::AcqRel);
        (n > 0).then_some(n)
    }

    /// Drops are waiting to be reported, and the sink writes again.
    pub fn owed(&self) -> bool {
        self.recovered.load(Ordering::Acquire) && self.pending() > 0
    }

    /// Lines dropped and not reported yet (whether or not the sink recovered).
    pub fn pending(&self) -> u64 {
        self.dropped.load(Ordering::Acquire)
    }

    /// Lines the real sink failed to write (not counted as dropped).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The queue's end the stream writes into (see the module doc).
pub struct QueuedSink {
    shared: Arc<Shared>,
    max_bytes: usize,
}

impl QueuedSink {
    /// Start the writer thread `name` for `inner`, holding at most `max_bytes` of
    /// lines. `initial` lines are queued first, whatever the bound (the backlog a new
    /// file starts with, shared rather than copied; the caller bounds it; a line's
    /// trailing newline is not written twice). Fails only if the thread cannot start.
    pub fn start(
        name: &str,
        inner: Box<dyn Sink>,
        max_bytes: usize,
        initial: Vec<Arc<str>>,
        recovered: Option<Recovered>,
    ) -> io::Result<QueuedSink> {
        // The initial lines are bounded by the caller and do not count against
        // `max_bytes`: a small queue must not drop lines because of them.
        let bytes = 0;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                lines: initial.into(),
                bytes,
                closed: false,
                busy: false,
            }),
            ready: Condvar::new(),
            health: Arc::new(SinkHealth::default()),
        });
        let theirs = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("nodeboot-{name}"))
            .spawn(move || write_loop(&theirs, inner, recovered))?;
        Ok(QueuedSink { shared, max_bytes })
    }

    pub fn health(&self) -> Arc<SinkHealth> {
        Arc::clone(&self.shared.health)
    }

    /// Wait until the queue is written out, at most `bound`; true if it was.
    pub fn drain_within(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        let mut q = lock(&self.shared.queue);
        while !q.lines.is_empty() || q.busy {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            q = match self.shared.ready.wait_timeout(q, deadline - now) {
                Ok((q, _)) => q,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }
}

impl Sink for QueuedSink {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        let cost = line.len() + 1;
        let mut q = lock(&self.shared.queue);
        if q.bytes.saturating_add(cost) > self.max_bytes {
            drop(q);
            let h = &self.shared.health;
            // Count first: a writer thread that sees `recovered` still set by its
            // last batch reads a count that includes this drop, or it sees the flag
            // cleared after its next batch (the queue is full: one follows).
            h.dropped.fetch_add(1, Ordering::AcqRel);
            h.recovered.store(false, Ordering::Release);
            // Not an error for the stream: the drop is counted here and reported as
            // `log.dropped` once the sink writes again.
            return Ok(());
        }
        q.bytes += cost;
        q.lines.push_back(Arc::from(line));
        drop(q);
        self.shared.ready.notify_all();
        Ok(())
    }

    /// Bounded: a stuck sink must not hold up whoever flushes (shutdown).
    fn flush(&mut self) -> io::Result<()> {
        if self.drain_within(Duration::from_secs(1)) {
            Ok(())
        } else {
            Err(io::Error::from(io::ErrorKind::TimedOut))
        }
    }
}

impl Drop for QueuedSink {
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.ready.notify_all();
    }
}

/// The writer thread: take everything queued, write it, repeat; end when closed.
fn write_loop(shared: &Shared, mut inner: Box<dyn Sink>, recovered: Option<Recovered>) {
    loop {
        let batch = {
            let mut q = lock(&shared.queue);
            q.busy = false;
            shared.ready.notify_all(); // an empty queue for `drain_within`
            while q.lines.is_empty() && !q.closed {
                q = match shared.ready.wait(q) {
                    Ok(q) => q,
                    Err(p) => p.into_inner(),
                };
            }
            if q.lines.is_empty() {
                return; // closed and written out
            }
            q.bytes = 0;
            q.busy = true;
            std::mem::take(&mut q.lines)
        };
        for line in &batch {
            let line = line.strip_suffix('\n').unwrap_or(line);
            if inner.write_line(line).is_err() {
                shared.health.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        let _ = inner.flush();
        let h = &shared.health;
        if !h.recovered.swap(true, Ordering::AcqRel)
            && h.dropped.load(Ordering::Acquire) > 0
            && let Some(wake) = &recovered
        {
            wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemorySink;
    use std::sync::mpsc;

    /// A sink whose writes wait for a permit (a console under flow control).
    struct Gated {
        permits: Arc<Mutex<mpsc::Receiver<()>>>,
        out: MemorySink,
    }
    impl Sink for Gated {
        fn write_line(&mut self, line: &str) -> io::Result<()> {
            let _ = self.permits.lock().unwrap().recv();
            self.out.write_line(line)
        }
    }

    #[test]
    fn a_stuck_sink_drops_counts_and_reports_once_it_writes_again() {
        let (permit, permits) = mpsc::channel();
        let out = MemorySink::default();
        let (woke_tx, woke) = mpsc::channel();
        let inner = Gated {
            permits: Arc::new(Mutex::new(permits)),
            out: out.clone(),
        };
        let woke_tx = Mutex::new(woke_tx);
        let mut sink = QueuedSink::start(
            "test",
            Box::new(inner),
            100,
            Vec::new(),
            Some(Box::new(move || {
                let _ = woke_tx.lock().unwrap().send(());
            })),
        )
        .unwrap();
        let health = sink.health();
        // The thread takes what is queued when it wakes and blocks writing it; behind it
        // the queue fills again.
        let started = Instant::now();
        for i in 0..1000 {
            sink.write_line(&format!("line {i:03}")).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the writer never waits"
        );
        // At most two queues' worth got through: the batch the thread took (and is
        // stuck writing) and what filled the queue behind it (9 bytes a line).
        let through = 2 * (100 / 9);
        assert!(health.pending() >= 1000 - through, "{}", health.pending());
        assert_eq!(health.take_recovered(), None, "still stuck");
        for _ in 0..1000 {
            let _ = permit.send(());
        }
        woke.recv_timeout(Duration::from_secs(5)).unwrap();
        let dropped = health.take_recovered().unwrap();
        assert!(sink.drain_within(Duration::from_secs(5)));
        assert_eq!(out.lines().len() as u64 + dropped, 1000);
        assert_eq!(out.lines()[0], "line 000");
        assert_eq!(health.take_recovered(), None, "reported once");
    }

    #[test]
    fn initial_lines_come_first() {
        let out = MemorySink::default();
        let mut sink = QueuedSink::start(
            "t",
            Box::new(out.clone()),
            1 << 10,
            vec!["a\n".into()],
            None,
        )
        .unwrap();
        sink.write_line("b").unwrap();
        assert!(sink.drain_within(Duration::from_secs(5)));
        assert_eq!(out.lines(), vec!["a", "b"]);
    }
}
