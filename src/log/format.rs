//! Rendering one log line: JSON (`{"ts","level","event",…fields}`) or a human line
//! for terminals (`  12.345s INFO  disk.seen        disk=sda verdict=unused`).
//! Pure functions; the timestamps are written here (RFC 3339 UTC, milliseconds), no
//! date crate needed.

use super::fields::Fields;
use crate::core::event::Level;
use crate::time::UtcTime;
use serde_json::Value;
use std::fmt::Write as _;

/// How a sink wants its lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (the public interface).
    Json,
    /// Aligned, readable text for terminals.
    Human,
}

/// One line to render: monotonic time, the wall clock at monotonic zero, the level,
/// the event name and the event's other fields.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    pub at_us: u64,
    pub wall_base_us: u64,
    pub level: Level,
    pub event: &'a str,
    pub fields: &'a Fields,
}

pub fn render(format: Format, line: &Line<'_>) -> String {
    match format {
        Format::Json => json_line(line),
        Format::Human => human_line(line),
    }
}

/// `{"ts":"…","level":"info","event":"disk.seen","disk":"sda",…}` (fields in their
/// declaration order; no trailing newline).
pub fn json_line(line: &Line<'_>) -> String {
    let mut out = String::with_capacity(128);
    out.push_str("{\"ts\":\"");
    out.push_str(&rfc3339_millis(
        line.wall_base_us.saturating_add(line.at_us),
    ));
    out.push_str("\",\"level\":\"");
    out.push_str(line.level.as_str());
    out.push_str("\",\"event\":");
    push_json_str(&mut out, line.event);
    for (key, value) in line.fields {
        if matches!(*key, "ts" | "level" | "event") {
            continue;
        }
        out.push(',');
        push_json_str(&mut out, key);
        out.push(':');
        out.push_str(&value.to_string());
    }
    out.push('}');
    out
}

/// `  12.345s INFO  disk.seen        disk=sda verdict=unused reason="no signature"`:
/// seconds since monotonic zero, the level, the event, then `key=value` pairs (values
/// with spaces or quotes are JSON-quoted, lists and maps are compact JSON).
pub fn human_line(line: &Line<'_>) -> String {
    let mut out = String::with_capacity(96);
    let secs = line.at_us / 1_000_000;
    let millis = (line.at_us % 1_000_000) / 1000;
    let _ = write!(
        out,
        "{:>6}.{:03}s {:<5} {:<16}",
        secs,
        millis,
        level_upper(line.level),
        line.event
    );
    for (key, value) in line.fields {
        if matches!(*key, "ts" | "level" | "event") {
            continue;
        }
        out.push(' ');
        out.push_str(key);
        out.push('=');
        out.push_str(&human_value(value));
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

fn level_upper(level: Level) -> &'static str {
    match level {
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warn => "WARN",
        Level::Error => "ERROR",
    }
}

/// A field value as text: bare when that cannot be misread, JSON otherwise.
pub fn human_value(value: &Value) -> String {
    match value {
        Value::String(s) => {
            let bare = !s.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=');
            if bare { s.clone() } else { value.to_string() }
        }
        other => other.to_string(),
    }
}

fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&Value::String(s.to_owned()).to_string());
}

/// RFC 3339 UTC with milliseconds (`2026-11-26T00:57:20.123Z`) for microseconds
/// since the Unix epoch.
pub fn rfc3339_millis(unix_us: u64) -> String {
    let t = UtcTime::from_unix_secs(unix_us / 1_000_000);
    let millis = (unix_us % 1_000_000) / 1000;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day of a century leap year) 12:34:56.789
        assert_eq!(
            rfc3339_millis(951_827_696_789_999),
            "2000-02-29T12:34:56.789Z"
        );
        assert_eq!(
            rfc3339_millis(1_795_481_840_000_000),
            "2026-11-24T00:57:20.000Z"
        );
        // last second of 2100 (not a leap year)
        assert_eq!(
            rfc3339_millis(4_133_980_799_000_000),
            "2100-12-31T23:59:59.000Z"
        );
    }

    fn sample() -> Fields {
        vec![
            ("event", json!("disk.seen")),
            ("disk", json!("sda")),
            ("size_bytes", json!(8_589_934_592u64)),
            ("rotational", json!(false)),
            ("reason", json!("no partition table, no signature")),
            ("targets", json!(["1.1.1.1:53"])),
        ]
    }

    #[test]
    fn json_line_has_ts_level_event_then_fields_in_order() {
        let fields = sample();
        let line = Line {
            at_us: 12_345_678,
            wall_base_us: 1_000_000,
            level: Level::Info,
            event: "disk.seen",
            fields: &fields,
        };
        let text = json_line(&line);
        assert_eq!(
            text,
            r#"{"ts":"1970-01-01T00:00:13.345Z","level":"info","event":"disk.seen","disk":"sda","size_bytes":8589934592,"rotational":false,"reason":"no partition table, no signature","targets":["1.1.1.1:53"]}"#
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["event"], "disk.seen");
    }

    #[test]
    fn human_line_is_aligned_and_quotes_only_when_needed() {
        let fields = sample();
        let line = Line {
            at_us: 12_345_678,
            wall_base_us: 0,
            level: Level::Warn,
            event: "disk.seen",
            fields: &fields,
        };
        assert_eq!(
            human_line(&line),
            "    12.345s WARN  disk.seen        disk=sda size_bytes=8589934592 rotational=false \
             reason=\"no partition table, no signature\" targets=[\"1.1.1.1:53\"]"
        );
        assert_eq!(human_value(&json!("")), "\"\"");
    }
}
