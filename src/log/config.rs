//! What the sinks that feed existing collectors are configured with: the log file's
//! rotation and queue, and the syslog output. Lives with the sinks it builds; the
//! binary reads the `nodeboot run` flags into it (src/cli/sinks.rs).
//!
//! | flag | default | meaning |
//! |---|---|---|
//! | `--log-max-bytes N[K\|M\|G]` | `8M` | rotate `nodeboot.log` before it passes N bytes |
//! | `--log-keep N` | `5` | keep `nodeboot.log.1` … `.N` (0: start afresh) |
//! | `--syslog PATH\|stderr` | off | also send RFC 5424 messages to a unix datagram socket (`/dev/log`) or stderr |
//! | `--syslog-facility NAME` | `daemon` | `daemon`, `user`, `local0`…`local7`, or 0–23 |
//! | `--log-queue N[K\|M]` | `4M` | bytes of lines waiting for the log file's writer thread; past it lines are dropped and counted (`log.dropped sink=file`) |

use super::rotate::{DEFAULT_KEEP, DEFAULT_MAX_BYTES, RotatingFile};
use super::syslog::{DEFAULT_FACILITY, SyslogSink, SyslogTarget};
use std::path::Path;

/// Bytes of lines the log file's queue holds by default (a disk that stalls for a
/// while loses nothing; one that hangs costs at most this much memory).
pub const DEFAULT_FILE_QUEUE: usize = 4 << 20;

/// The log file's name inside the log directory.
pub const LOG_FILE: &str = "nodeboot.log";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkConfig {
    pub max_bytes: u64,
    pub keep: usize,
    pub syslog: Option<SyslogTarget>,
    pub facility: u8,
    /// Bytes the log file's writer queue holds.
    pub file_queue: usize,
}

impl Default for SinkConfig {
    fn default() -> SinkConfig {
        SinkConfig {
            max_bytes: DEFAULT_MAX_BYTES,
            keep: DEFAULT_KEEP,
            syslog: None,
            facility: DEFAULT_FACILITY,
            file_queue: DEFAULT_FILE_QUEUE,
        }
    }
}

impl SinkConfig {
    /// The rotated log file in `log_dir` (`/var/log` once the cache holds it).
    pub fn log_file(&self, log_dir: &Path) -> RotatingFile {
        RotatingFile::new(log_dir.join(LOG_FILE), self.max_bytes, self.keep)
    }

    /// The syslog sink, if `--syslog` was given.
    pub fn syslog_sink(&self) -> Option<SyslogSink> {
        self.syslog
            .clone()
            .map(|target| SyslogSink::new(target, self.facility))
    }
}

/// `8M`, `512K`, `1G`, `1048576`, `8MiB` → bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_and_syslog_come_from_the_config() {
        let cfg = SinkConfig {
            syslog: Some(SyslogTarget::Unix("/dev/log".into())),
            ..SinkConfig::default()
        };
        let file = cfg.log_file(Path::new("/var/log"));
        assert_eq!(file.path(), Path::new("/var/log/nodeboot.log"));
        assert!(cfg.syslog_sink().is_some());
        assert!(SinkConfig::default().syslog_sink().is_none());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("8MiB"), Some(8 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("12X"), None);
        assert_eq!(parse_size("99999999999999999999"), None);
    }
}
