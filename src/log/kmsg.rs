//! `/dev/kmsg` as a sink for PID 1's early records (the BRIEF's "console/kmsg
//! early"): until the log file on the cache exists, info-and-above records also go to
//! the kernel's ring buffer, where pstore (ramoops) and netconsole pick them up after
//! a crash or on a headless node. Human lines, one `write` each (the kernel takes a
//! record per write), prefixed with a syslog priority from the line's level and cut
//! to [`KMSG_LINE_MAX`] bytes (the kernel's record limit is ~1 KiB). The kernel rate
//! limits `/dev/kmsg` writers itself (`printk.devkmsg`), which is fine: the file and
//! the socket have every line.

use super::stream::Sink;
use std::fs::File;
use std::io::{self, Write};

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

/// The syslog severity of a human line (`   2.500s WARN  event …`).
fn severity(line: &str) -> u8 {
    match line.split_whitespace().nth(1) {
        Some("ERROR") => 3,
        Some("WARN") => 4,
        Some("DEBUG") => 7,
        _ => 6,
    }
}

/// `<pri>nodeboot: line`, cut at a character boundary to fit [`KMSG_LINE_MAX`].
pub fn kmsg_line(line: &str) -> String {
    let pri = FACILITY * 8 + severity(line);
    let mut out = format!("<{pri}>nodeboot: ");
    let room = KMSG_LINE_MAX.saturating_sub(out.len() + 1);
    let mut end = line.len().min(room);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(line.get(..end).unwrap_or_default());
    out.push('\n');
    out
}

impl<W: Write + Send> Sink for KmsgSink<W> {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        let text = kmsg_line(line);
        // One write = one kernel record; a short write is not retried (the kernel
        // takes whole records or fails).
        self.out.write(text.as_bytes()).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_get_a_priority_and_fit_a_kernel_record() {
        assert_eq!(
            kmsg_line("     2.500s WARN  cache.none       reason=x"),
            "<12>nodeboot:      2.500s WARN  cache.none       reason=x\n"
        );
        assert!(kmsg_line("  1.000s INFO  boot.start").starts_with("<14>"));
        let long = format!("  1.000s ERROR x {}", "é".repeat(2000));
        let cut = kmsg_line(&long);
        assert!(cut.len() <= KMSG_LINE_MAX, "{}", cut.len());
        assert!(cut.starts_with("<11>") && cut.ends_with("é\n"));
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
        sink.write_line("  1.000s INFO  a").unwrap();
        sink.write_line("  1.000s INFO  b").unwrap();
        assert_eq!(sink.out.0.len(), 2);
    }
}
