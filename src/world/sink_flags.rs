//! The `nodeboot run` flags of the sinks that feed existing collectors, read into
//! the log sinks' typed [`SinkConfig`] (`crate::log::config`, where the sinks are).
//!
//! | flag | default | meaning |
//! |---|---|---|
//! | `--log-max-bytes N[K\|M\|G]` | `8M` | rotate `nodeboot.log` before it passes N bytes |
//! | `--log-keep N` | `5` | keep `nodeboot.log.1` … `.N` (0: start afresh) |
//! | `--syslog PATH\|stderr` | off | also send RFC 5424 messages to a unix datagram socket (`/dev/log`) or stderr |
//! | `--syslog-facility NAME` | `daemon` | `daemon`, `user`, `local0`…`local7`, or 0–23 |
//! | `--log-queue N[K\|M]` | `4M` | bytes of lines waiting for the log file's writer thread; past it lines are dropped and counted (`log.dropped sink=file`) |

use crate::args::Args;
use crate::log::SinkConfig;
use crate::log::syslog::{SyslogTarget, facility_code};

/// The flags [`from_args`] reads (all take a value).
pub const SINK_FLAGS: [&str; 5] = [
    "log-max-bytes",
    "log-keep",
    "syslog",
    "syslog-facility",
    "log-queue",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SinkFlagError {
    #[error("--log-max-bytes {0:?}: expected a size such as 8M, 512K or 1048576 (at least 4K)")]
    MaxBytes(String),
    #[error("--log-keep {0:?}: expected a count from 0 to 100")]
    Keep(String),
    #[error("--syslog-facility {0:?}: expected daemon, user, local0…local7 or 0–23")]
    Facility(String),
    #[error("--log-queue {0:?}: expected a size from 4K to 1G, such as 4M")]
    Queue(String),
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

/// Read the sink flags from parsed arguments (absent flags keep their defaults).
pub fn from_args(args: &Args) -> Result<SinkConfig, SinkFlagError> {
    let mut cfg = SinkConfig::default();
    if let Some(v) = args.value("log-max-bytes") {
        cfg.max_bytes = parse_size(v)
            .filter(|n| *n >= 4096)
            .ok_or_else(|| SinkFlagError::MaxBytes(v.to_owned()))?;
    }
    if let Some(v) = args.value("log-keep") {
        cfg.keep = v
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 100)
            .ok_or_else(|| SinkFlagError::Keep(v.to_owned()))?;
    }
    if let Some(v) = args.value("syslog") {
        cfg.syslog = Some(SyslogTarget::parse(v));
    }
    if let Some(v) = args.value("syslog-facility") {
        cfg.facility = facility_code(v).ok_or_else(|| SinkFlagError::Facility(v.to_owned()))?;
    }
    if let Some(v) = args.value("log-queue") {
        cfg.file_queue = parse_size(v)
            .filter(|n| (4096..=1 << 30).contains(n))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| SinkFlagError::Queue(v.to_owned()))?;
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Args {
        let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        Args::parse(&v, &SINK_FLAGS).unwrap()
    }

    #[test]
    fn defaults_and_flags() {
        assert_eq!(from_args(&args(&[])).unwrap(), SinkConfig::default());
        let cfg = from_args(&args(&[
            "--log-max-bytes",
            "512K",
            "--log-keep=2",
            "--syslog",
            "/dev/log",
            "--syslog-facility",
            "local3",
        ]))
        .unwrap();
        assert_eq!(cfg.max_bytes, 512 * 1024);
        assert_eq!(cfg.keep, 2);
        assert_eq!(cfg.syslog, Some(SyslogTarget::Unix("/dev/log".into())));
        assert_eq!(cfg.facility, 19);
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(
            from_args(&args(&["--log-max-bytes", "12X"])),
            Err(SinkFlagError::MaxBytes("12X".into()))
        );
        assert!(
            from_args(&args(&["--log-max-bytes", "100"])).is_err(),
            "too small"
        );
        assert!(from_args(&args(&["--log-keep", "-1"])).is_err());
        assert!(from_args(&args(&["--syslog-facility", "local9"])).is_err());
        assert_eq!(
            from_args(&args(&["--log-queue", "16K"]))
                .unwrap()
                .file_queue,
            16 << 10
        );
        assert!(from_args(&args(&["--log-queue", "1K"])).is_err());
        assert_eq!(parse_size("8MiB"), Some(8 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("99999999999999999999"), None);
    }
}
