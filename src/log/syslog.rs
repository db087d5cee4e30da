//! An RFC 5424 syslog output, so standard collectors (rsyslog, syslog-ng, Vector,
//! Fluent Bit) ingest the stream unchanged:
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME nodeboot PROCID MSGID - MSG
//! <30>1 2026-11-26T01:00:03.632Z node-17 nodeboot 1 cache.ready - {"ts":…,"event":"cache.ready",…}
//! ```
//!
//! PRI is facility × 8 + severity (`error` 3, `warn` 4, `info` 6, `debug` 7; facility
//! `daemon` (3) by default), TIMESTAMP the record's `ts`, MSGID its `event`, no
//! structured data (`-`), and MSG the JSON record itself (plain ASCII JSON, so no BOM).
//! A line that is not a JSON record goes out with `-` as TIMESTAMP and MSGID.
//!
//! Transports: a unix datagram socket (`/dev/log`), non-blocking — a full or absent
//! receiver drops the line and counts it, the next line reconnects — or stderr, one
//! message per line (for a container runtime that collects stderr).

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// `daemon`.
pub const DEFAULT_FACILITY: u8 = 3;

/// Where syslog messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyslogTarget {
    /// A unix datagram socket such as `/dev/log`.
    Unix(PathBuf),
    Stderr,
}

impl SyslogTarget {
    /// `stderr` or `-` → stderr; anything else is a socket path.
    pub fn parse(s: &str) -> SyslogTarget {
        match s {
            "stderr" | "-" => SyslogTarget::Stderr,
            path => SyslogTarget::Unix(PathBuf::from(path)),
        }
    }
}

/// RFC 5424 facility by name (`daemon`, `local0`…`local7`, `user`, `syslog`) or number.
pub fn facility_code(name: &str) -> Option<u8> {
    match name {
        "kern" => Some(0),
        "user" => Some(1),
        "daemon" => Some(3),
        "auth" => Some(4),
        "syslog" => Some(5),
        other => {
            if let Some(n) = other.strip_prefix("local") {
                return n.parse::<u8>().ok().filter(|n| *n <= 7).map(|n| 16 + n);
            }
            other.parse::<u8>().ok().filter(|n| *n <= 23)
        }
    }
}

fn severity(level: &str) -> u8 {
    match level {
        "error" => 3,
        "warn" | "warning" => 4,
        "debug" => 7,
        _ => 6,
    }
}

/// Keep only PRINTUSASCII (33..=126), at most `max` characters; `-` if nothing is left.
fn header_field(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if clean.is_empty() {
        "-".to_owned()
    } else {
        clean
    }
}

/// One RFC 5424 message for one rendered log line.
pub fn format_message(facility: u8, hostname: &str, pid: u32, line: &str) -> String {
    let record = serde_json::from_str::<serde_json::Value>(line).ok();
    let field = |k: &str| {
        record
            .as_ref()
            .and_then(|r| r.get(k))
            .and_then(|v| v.as_str())
    };
    let sev = severity(field("level").unwrap_or("info"));
    let pri = u16::from(facility.min(23)) * 8 + u16::from(sev);
    // The stream's ts is RFC 3339 in UTC with milliseconds, as RFC 5424 wants; a
    // value that does not parse becomes the NILVALUE.
    let ts = field("ts")
        .filter(|t| crate::ops::record::parse_rfc3339_ms(t).is_some())
        .map_or_else(|| "-".to_owned(), |t| header_field(t, 64));
    let msgid = field("event").map_or_else(|| "-".to_owned(), |e| header_field(e, 32));
    format!(
        "<{pri}>1 {ts} {} nodeboot {pid} {msgid} - {line}",
        header_field(hostname, 255)
    )
}

/// The syslog sink.
#[derive(Debug)]
pub struct SyslogSink {
    target: SyslogTarget,
    socket: Option<UnixDatagram>,
    facility: u8,
    hostname: String,
    pid: u32,
    dropped: u64,
}

impl SyslogSink {
    pub fn new(target: SyslogTarget, facility: u8) -> SyslogSink {
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        SyslogSink {
            target,
            socket: None,
            facility,
            hostname,
            pid: std::process::id(),
            dropped: 0,
        }
    }

    /// Messages dropped (receiver absent, full, or refusing).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn send(&mut self, msg: &str) -> io::Result<()> {
        match &self.target {
            SyslogTarget::Stderr => {
                let mut buf = Vec::with_capacity(msg.len() + 1);
                buf.extend_from_slice(msg.as_bytes());
                buf.push(b'\n');
                io::stderr().lock().write_all(&buf)
            }
            SyslogTarget::Unix(path) => {
                if self.socket.is_none() {
                    let sock = UnixDatagram::unbound()?;
                    sock.set_nonblocking(true)?;
                    sock.connect(path)?;
                    self.socket = Some(sock);
                }
                let sock = self
                    .socket
                    .as_ref()
                    .ok_or_else(|| io::Error::other("syslog socket not open"))?;
                match sock.send(msg.as_bytes()) {
                    Ok(_) => Ok(()),
                    // The receiver is busy: drop this one, keep the connection.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(e),
                    // Gone or restarted: reconnect on the next line.
                    Err(e) => {
                        self.socket = None;
                        Err(e)
                    }
                }
            }
        }
    }

    /// Send one rendered line (a JSON record). Failure drops it and counts it.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let msg = format_message(self.facility, &self.hostname, self.pid, line);
        let result = self.send(&msg);
        if result.is_err() {
            self.dropped += 1;
        }
        result
    }
}

/// On the log stream, with JSON lines (MSG is the record):
/// `stream.add_sink(Format::Json, Level::Info, Box::new(syslog))`.
impl super::Sink for SyslogSink {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        SyslogSink::write_line(self, line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READY: &str = r#"{"ts":"2026-11-26T01:00:03.632Z","level":"info","event":"cache.ready","device":"sda1","log_subvolume":"logs/x"}"#;

    #[test]
    fn messages_follow_rfc5424() {
        assert_eq!(
            format_message(3, "node-17", 1, READY),
            format!("<30>1 2026-11-26T01:00:03.632Z node-17 nodeboot 1 cache.ready - {READY}")
        );
        let warn = r#"{"ts":"2026-11-26T01:00:37.252Z","level":"warn","event":"dhcp.gave_up","nic":"eth1","after_ms":30000}"#;
        assert!(
            format_message(3, "n", 7, warn)
                .starts_with("<28>1 2026-11-26T01:00:37.252Z n nodeboot 7 dhcp.gave_up - {")
        );
        let err = r#"{"ts":"2026-11-26T01:00:01.000Z","level":"error","event":"service.failed"}"#;
        assert!(
            format_message(16 + 7, "n", 7, err).starts_with("<187>1 "),
            "local7.err"
        );
        let debug = r#"{"ts":"2026-11-26T01:00:01.000Z","level":"debug","event":"gate.probe"}"#;
        assert!(format_message(3, "n", 7, debug).starts_with("<31>1 "));
    }

    #[test]
    fn header_fields_are_sanitised_and_nil_when_missing() {
        // Not JSON: NILVALUE timestamp and msgid, the line as MSG.
        assert_eq!(
            format_message(3, "", 9, "  1.000s INFO  boot.start"),
            "<30>1 - - nodeboot 9 - -   1.000s INFO  boot.start"
        );
        // Spaces and non-ASCII cannot appear in header fields; MSGID is ≤ 32 chars.
        let odd = r#"{"ts":"yesterday","event":"a very long event name that goes on and on é"}"#;
        let msg = format_message(3, "my host", 9, odd);
        let fields: Vec<&str> = msg.splitn(8, ' ').collect();
        assert_eq!(fields[1], "-", "bad ts is NILVALUE");
        assert_eq!(fields[2], "myhost");
        assert_eq!(fields[5], "averylongeventnamethatgoesonando");
        assert_eq!(fields[5].len(), 32);
        assert_eq!(fields[6], "-");
    }

    #[test]
    fn on_the_log_stream_each_record_becomes_one_message() {
        use crate::core::event::{Event, Level, Record};
        use crate::log::{Format, LogStream};
        let dir = std::env::temp_dir().join(format!("nb-syslog-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).unwrap();
        let stream = LogStream::new(1_795_654_800_000_000);
        let sink = SyslogSink::new(SyslogTarget::Unix(path.clone()), DEFAULT_FACILITY);
        stream.add_sink(Format::Json, Level::Info, Box::new(sink));
        stream.emit(&Record {
            at: crate::time::Instant::from_millis(37_252),
            level: Level::Warn,
            event: Event::DhcpGaveUp {
                nic: "eth1".into(),
                after_ms: 30_000,
            },
        });
        let mut buf = [0u8; 4096];
        let n = receiver.recv(&mut buf).unwrap();
        let got = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(got.starts_with("<28>1 2026-11-26T01:00:37.252Z "), "{got}");
        assert!(got.contains(" nodeboot ") && got.contains(" dhcp.gave_up - {\"ts\":"));
        assert_eq!(stream.dropped(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn facility_names() {
        assert_eq!(facility_code("daemon"), Some(3));
        assert_eq!(facility_code("local0"), Some(16));
        assert_eq!(facility_code("local7"), Some(23));
        assert_eq!(facility_code("local8"), None);
        assert_eq!(facility_code("10"), Some(10));
        assert_eq!(facility_code("nope"), None);
        assert_eq!(SyslogTarget::parse("stderr"), SyslogTarget::Stderr);
        assert_eq!(
            SyslogTarget::parse("/dev/log"),
            SyslogTarget::Unix("/dev/log".into())
        );
    }

    #[test]
    fn datagrams_reach_a_unix_socket_and_absence_drops() {
        let dir = std::env::temp_dir().join(format!("nb-syslog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let _ = std::fs::remove_file(&path);
        let mut sink = SyslogSink::new(SyslogTarget::Unix(path.clone()), 3);
        assert!(sink.write_line(READY).is_err(), "no receiver yet");
        assert_eq!(sink.dropped(), 1);
        let receiver = UnixDatagram::bind(&path).unwrap();
        sink.write_line(READY).unwrap();
        let mut buf = [0u8; 4096];
        let n = receiver.recv(&mut buf).unwrap();
        let got = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(got.starts_with("<30>1 2026-11-26T01:00:03.632Z "), "{got}");
        assert!(got.ends_with(READY));
        // A receiver that stops reading: the sink drops instead of blocking.
        let mut sent = 0;
        for _ in 0..100_000 {
            if sink.write_line(READY).is_ok() {
                sent += 1;
            } else {
                break;
            }
        }
        assert!(
            sent < 100_000,
            "a full receiver must make sends fail, not block"
        );
        assert_eq!(sink.dropped(), 2);
        drop(receiver);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
