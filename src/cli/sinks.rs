//! The flags of the sinks that feed existing collectors (`nodeboot run`; see
//! `log::config` for the table): absent flags keep [`SinkConfig`]'s defaults.

use crate::args::Args;
use nodeboot::log::SinkConfig;
use nodeboot::log::config::parse_size;
use nodeboot::log::syslog::{SyslogTarget, facility_code};

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

/// Read the sink flags from parsed arguments.
pub fn parse(args: &Args) -> Result<SinkConfig, SinkFlagError> {
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

    const SINK_FLAGS: [&str; 5] = [
        "log-max-bytes",
        "log-keep",
        "syslog",
        "syslog-facility",
        "log-queue",
    ];

    fn args(v: &[&str]) -> Args {
        let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        Args::parse(&v, &SINK_FLAGS).unwrap()
    }

    #[test]
    fn defaults_and_flags() {
        assert_eq!(parse(&args(&[])).unwrap(), SinkConfig::default());
        let cfg = parse(&args(&[
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
            parse(&args(&["--log-max-bytes", "12X"])),
            Err(SinkFlagError::MaxBytes("12X".into()))
        );
        assert!(
            parse(&args(&["--log-max-bytes", "100"])).is_err(),
            "too small"
        );
        assert!(parse(&args(&["--log-keep", "-1"])).is_err());
        assert!(parse(&args(&["--syslog-facility", "local9"])).is_err());
        assert_eq!(
            parse(&args(&["--log-queue", "16K"])).unwrap().file_queue,
            16 << 10
        );
        assert!(parse(&args(&["--log-queue", "1K"])).is_err());
    }
}
