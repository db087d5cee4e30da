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
//! The drain builds the header from the record's slog level, time and message (the
//! event): nothing is parsed back out of the JSON.
//!
//! Transports: a unix datagram socket (`/dev/log`), non-blocking — a full or absent
//! receiver drops the line and counts it, the next line reconnects — or stderr, one
//! message per line (for a container runtime that collects stderr).

use super::format::{Format, rfc3339_millis};
use super::kv::from_slog_level;
use super::render::{at_us, render};
use super::stream::{Dropped, LogStream, WallBase};
use crate::core::event::Level;
use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Mutex;

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

fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug => 7,
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

/// One RFC 5424 message: the record's level, time (µs since the epoch), event name,
/// and its JSON line as MSG.
pub fn format_message(
    facility: u8,
    hostname: &str,
    pid: u32,
    level: Level,
    unix_us: u64,
    event: &str,
    json: &str,
) -> String {
    let sev = severity(level);
    let pri = u16::from(facility.min(23)) * 8 + u16::from(sev);
    // The stream's ts: RFC 3339 in UTC with milliseconds, as RFC 5424 wants.
    let ts = rfc3339_millis(unix_us);
    let msgid = header_field(event, 32);
    format!(
        "<{pri}>1 {ts} {} nodeboot {pid} {msgid} - {json}",
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

    /// Send one message. Failure drops it and counts it.
    pub fn write_message(&mut self, msg: &str) -> io::Result<()> {
        let result = self.send(msg);
        if result.is_err() {
            self.dropped += 1;
        }
        result
    }

    /// This sink as a drain of `stream` (at `min_level` and above): each record
    /// becomes one message, its header read from the record's level, time and
    /// event, its MSG the record's JSON line.
    pub fn drain(self, stream: &LogStream) -> SyslogDrain {
        SyslogDrain {
            sink: Mutex::new(self),
            wall: stream.wall_base(),
            dropped: stream.dropped_counter(),
        }
    }
}

/// The syslog sink's slog drain (see [`SyslogSink::drain`]).
pub struct SyslogDrain {
    sink: Mutex<SyslogSink>,
    wall: WallBase,
    dropped: Dropped,
}

impl slog::Drain for SyslogDrain {
    type Ok = ();
    type Err = slog::Never;
    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        let wall = self.wall.get();
        let json = render(Format::Json, record, values, wall);
        let event = record.msg().to_string();
        let unix_us = wall.saturating_add(at_us(record));
        let mut sink = self
            .sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (facility, pid) = (sink.facility, sink.pid);
        let level = from_slog_level(record.level());
        let msg = format_message(facility, &sink.hostname, pid, level, unix_us, &event, &json);
        if sink.write_message(&msg).is_err() {
            self.dropped.count();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READY: &str = r#"{"ts":"2026-11-26T01:00:03.632Z","level":"info","event":"cache.ready","device":"sda1","log_subvolume":"logs/x"}"#;
    /// 2026-11-26T01:00:03.632Z
    const READY_US: u64 = 1_795_654_803_632_000;

    #[test]
    fn messages_follow_rfc5424() {
        let msg = |fac, level, event| format_message(fac, "n", 7, level, READY_US, event, "{}");
        assert_eq!(
            format_message(3, "node-17", 1, Level::Info, READY_US, "cache.ready", READY),
            format!("<30>1 2026-11-26T01:00:03.632Z node-17 nodeboot 1 cache.ready - {READY}")
        );
        assert!(
            msg(3, Level::Warn, "dhcp.gave_up")
                .starts_with("<28>1 2026-11-26T01:00:03.632Z n nodeboot 7 dhcp.gave_up - {")
        );
        assert!(
            msg(16 + 7, Level::Error, "service.failed").starts_with("<187>1 "),
            "local7.err"
        );
        assert!(msg(3, Level::Debug, "gate.probe").starts_with("<31>1 "));
    }

    #[test]
    fn header_fields_are_sanitised_and_nil_when_empty() {
        // Spaces and non-ASCII cannot appear in header fields; MSGID is ≤ 32 chars.
        let odd = "a very long event name that goes on and on é";
        let msg = format_message(3, "my host", 9, Level::Info, 0, odd, "{}");
        let fields: Vec<&str> = msg.splitn(8, ' ').collect();
        assert_eq!(fields[1], "1970-01-01T00:00:00.000Z");
        assert_eq!(fields[2], "myhost");
        assert_eq!(fields[5], "averylongeventnamethatgoesonando");
        assert_eq!(fields[5].len(), 32);
        assert_eq!(fields[6], "-");
        let nil = format_message(3, "", 9, Level::Info, 0, "", "{}");
        assert_eq!(nil, "<30>1 1970-01-01T00:00:00.000Z - nodeboot 9 - - {}");
    }

    #[test]
    fn on_the_log_stream_each_record_becomes_one_message() {
        use crate::core::event::{Event, Record};
        let dir = std::env::temp_dir().join(format!("nb-syslog-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).unwrap();
        let stream = LogStream::new(1_795_654_800_000_000);
        let sink = SyslogSink::new(SyslogTarget::Unix(path.clone()), DEFAULT_FACILITY);
        stream.add_drain(Level::Info, sink.drain(&stream));
        let record = |level, event| Record {
            at: crate::time::Instant::from_millis(37_252),
            level,
            event,
        };
        stream.emit(&record(
            Level::Debug,
            Event::NicCarrierUnconfirmed { nic: "eth0".into() },
        ));
        stream.emit(&record(
            Level::Warn,
            Event::DhcpGaveUp {
                nic: "eth1".into(),
                after_ms: 30_000,
            },
        ));
        let mut buf = [0u8; 4096];
        let n = receiver.recv(&mut buf).unwrap();
        let got = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(got.starts_with("<28>1 2026-11-26T01:00:37.252Z "), "{got}");
        let json = r#"{"ts":"2026-11-26T01:00:37.252Z","level":"warn","event":"dhcp.gave_up","nic":"eth1","after_ms":30000}"#;
        assert!(
            got.ends_with(&format!(
                " nodeboot {} dhcp.gave_up - {json}",
                std::process::id()
            )),
            "{got}"
        );
        receiver.set_nonblocking(true).unwrap();
        assert!(
            receiver.recv(&mut buf).is_err(),
            "the debug record was filtered out"
        );
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
        assert!(sink.write_message(READY).is_err(), "no receiver yet");
        assert_eq!(sink.dropped(), 1);
        let receiver = UnixDatagram::bind(&path).unwrap();
        sink.write_message(READY).unwrap();
        let mut buf = [0u8; 4096];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), READY);
        // A receiver that stops reading: the sink drops instead of blocking.
        let mut sent = 0;
        for _ in 0..100_000 {
            if sink.write_message(READY).is_ok() {
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
