//! The pieces of a log line: the two formats, RFC 3339 timestamps (UTC,
//! milliseconds; no date crate needed), human values and level names. Pure
//! functions; `render` puts a record's line together from them.

use crate::core::event::Level;
use crate::time::UtcTime;
use serde_json::Value;

/// How a sink wants its lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (the public interface).
    Json,
    /// Aligned, readable text for terminals.
    Human,
}

pub(super) fn level_upper(level: Level) -> &'static str {
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

    #[test]
    fn human_values_are_bare_unless_that_could_mislead() {
        assert_eq!(human_value(&json!("sda")), "sda");
        assert_eq!(human_value(&json!("no signature")), "\"no signature\"");
        assert_eq!(human_value(&json!(["a"])), "[\"a\"]");
        assert_eq!(human_value(&json!("")), "\"\"");
    }
}
