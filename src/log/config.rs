//! What the sinks that feed existing collectors are configured with (`nodeboot run`
//! flags, parsed by `world::options`): the log file's rotation and queue, and the
//! syslog output. Lives with the sinks it builds.

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
}
