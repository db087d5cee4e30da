//! `/dev/kmsg` as a sink for PID 1's early records (the BRIEF's "console/kmsg
//! early"): until the log file on the cache exists, info-and-above records also go to
//! the kernel's ring buffer, where pstore (ramoops) and netconsole pick them up after
//! a crash or on a headless node. Human lines, one `write` each (the kernel takes a
//! record per write), prefixed by [`KmsgDrain`] with a syslog priority from the
//! record's slog level and cut to [`KMSG_LINE_MAX`] bytes (the kernel's record limit
//! is ~1 KiB). The kernel rate
//! limits `/dev/kmsg` writers itself (`printk.devkmsg`), which is fine: the file and
//! the socket have every line.

use super::format::Format;
use super::kv::from_slog_level;
use super::render::render;
use super::stream::{LogStream, Sink, WallBase};
use crate::core::event::Level;
use std::fs::File;
use std::io::{self, Write};
use std::sync::Mutex;

/// Bytes of one line at most, prefix included.
pub const KMSG_LINE_MAX: usize = 900;
/// Facility `user` (1), as the kernel tags messages written by userspace anyway.
const FACILITY: u8 = 1;

pub struct KmsgSink<W: Write + Send> {
    out: W,
}

impl KmsgSink<File> {
    /// Open `/dev/kmsg` for writing.
    pub fn open() -> io::Result<KmsgSink<File>> {
        Ok(KmsgSink::new(
            std::fs::OpenOptions::new().write(true).open("/dev/kmsg")?,
        ))
    }
}

impl<W: Write + Send> KmsgSink<W> {
    pub fn new(out: W) -> KmsgSink<W> {
        KmsgSink { out }
    }
}

/// The syslog severity of a level.
fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug => 7,
    }
}

/// `<pri>nodeboot: line` (no newline), cut at a character boundary so that it fits
/// [`KMSG_LINE_MAX`] with its newline.
pub fn kmsg_line(level: Level, line: &str) -> String {
    let pri = FACILITY * 8 + severity(level);
    let mut out = format!("<{pri}>nodeboot: ");
    let room = KMSG_LINE_MAX.saturating_sub(out.len() + 1);
    let mut end = line.len().min(room);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(line.get(..end).unwrap_or_default());
    out
}

/// Takes [`kmsg_line`]s (from [`KmsgDrain`], through a queue).
impl<W: Write + Send> Sink for KmsgSink<W> {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        let mut text = Vec::with_capacity(line.len() + 1);
        text.extend_from_slice(line.as_bytes());
        text.push(b'\n');
        // One write = one kernel record; a short write is not retried (the kernel
        // takes whole records or fails).
        self.out.write(&text).map(|_| ())
    }
}

/// The kmsg sink's slog drain: each record as a human line with the priority of its
/// level, handed to `out` (the kmsg writer's queue).
pub struct KmsgDrain {
    out: Mutex<Box<dyn Sink>>,
    wall: WallBase,
}

impl KmsgDrain {
    pub fn new(out: Box<dyn Sink>, stream: &LogStream) -> KmsgDrain {
        KmsgDrain {
            out: Mutex::new(out),
            wall: stream.wall_base(),
        }
    }
}

impl slog::Drain for KmsgDrain {
    type Ok = ();
    type Err = slog::Never;
    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        let human = render(Format::Human, record, values, self.wall.get());
        let line = kmsg_line(from_slog_level(record.level()), &human);
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A queue that is full counts the drop itself (`log.dropped`).
        let _ = out.write_line(&line);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::{Event, Record};
    use crate::log::MemorySink;

    #[test]
    fn lines_get_the_priority_of_their_level_and_fit_a_kernel_record() {
        assert_eq!(
            kmsg_line(Level::Warn, "     2.500s WARN  cache.none       reason=x"),
            "<12>nodeboot:      2.500s WARN  cache.none       reason=x"
        );
        assert!(kmsg_line(Level::Info, "  1.000s INFO  boot.start").starts_with("<14>"));
        let long = format!("  1.000s ERROR x {}", "é".repeat(2000));
        let cut = kmsg_line(Level::Error, &long);
        assert!(cut.len() < KMSG_LINE_MAX, "{}", cut.len());
        assert!(cut.starts_with("<11>") && cut.ends_with('é'));
    }

    #[test]
    fn the_drain_renders_human_lines_at_info_and_above() {
        let stream = LogStream::new(0);
        let out = MemorySink::default();
        stream.add_drain(Level::Info, KmsgDrain::new(Box::new(out.clone()), &stream));
        let at = crate::time::Instant::from_millis(2_500);
        let none = Event::CacheNone { reason: "x".into() };
        stream.emit(&Record {
            at,
            level: Level::Warn,
            event: none,
        });
        let nic = Event::NicCarrierUnconfirmed { nic: "eth0".into() };
        stream.emit(&Record {
            at,
            level: Level::Debug,
            event: nic,
        });
        assert_eq!(
            out.lines(),
            ["<12>nodeboot:      2.500s WARN  cache.none       reason=x"]
        );
    }

    #[test]
    fn each_line_is_one_write() {
        struct Writes(Vec<Vec<u8>>);
        impl Write for Writes {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.push(b.to_vec());
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut sink = KmsgSink::new(Writes(Vec::new()));
        sink.write_line("<14>nodeboot: a").unwrap();
        sink.write_line("<14>nodeboot: b").unwrap();
        assert_eq!(
            sink.out.0,
            [b"<14>nodeboot: a\n".to_vec(), b"<14>nodeboot: b\n".to_vec()]
        );
    }
}
