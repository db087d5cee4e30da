//! Reading the log stream back: JSON lines → `serde_json::Value` records, typed field
//! getters, and the RFC 3339 `ts` as milliseconds since the Unix epoch. Pure; every
//! operator tool (status, plot) starts here, so they read a live socket, a log file
//! and `replay --json` output the same way.

use serde_json::Value;

/// `46ms`, `1.83s`, `37.3s`.
pub fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 10_000 {
        format!("{:.2}s", ms as f64 / 1000.0)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// Every line of `text` that is a JSON object, in order. Other lines (a human
/// rendering, a truncated last line, blank lines) are skipped: a tool reading a log
/// must not fail on one bad line.
pub fn parse_stream(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(Value::is_object)
        .collect()
}

/// The record's `event` name ("" when missing).
pub fn event(record: &Value) -> &str {
    str_field(record, "event").unwrap_or("")
}

pub fn str_field<'a>(record: &'a Value, key: &str) -> Option<&'a str> {
    record.get(key).and_then(Value::as_str)
}

pub fn u64_field(record: &Value, key: &str) -> Option<u64> {
    record.get(key).and_then(Value::as_u64)
}

pub fn bool_field(record: &Value, key: &str) -> Option<bool> {
    record.get(key).and_then(Value::as_bool)
}

/// The record's `ts` as milliseconds since the Unix epoch.
pub fn ts_ms(record: &Value) -> Option<i64> {
    str_field(record, "ts").and_then(parse_rfc3339_ms)
}

/// `2026-11-26T01:02:03.456Z` (any number of fraction digits; the stream's `ts` is
/// always UTC) → milliseconds since the Unix epoch, by the `humantime` crate. Times
/// before 1970 are not log records: `None`.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let at = humantime::parse_rfc3339(s).ok()?;
    let since = at.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("1970-01-01T00:16:42.500Z"),
            Some(1_002_500)
        );
        // 2026-11-26T01:02:03Z = 1795654923 (date -d @1795654923 -u)
        assert_eq!(
            parse_rfc3339_ms("2026-11-26T01:02:03.4Z"),
            Some(1_795_654_923_400)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-26T01:02:03.123456Z"),
            Some(1_795_654_923_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29T00:00:00Z"),
            Some(951_782_400_000)
        );
        for bad in [
            "",
            "2026-11-26",
            "2026-13-01T00:00:00Z",
            "2026-11-26T00:00:00",
            "2026-11-26T00:00:00Zjunk",
            "2026-11-26T0a:00:00Z",
            "2026-02-30T00:00:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn stream_skips_what_is_not_a_record() {
        let text =
            "{\"event\":\"a\"}\n\n  12.0s INFO human line\n[1,2]\n{\"event\":\"b\"}\n{\"trunc";
        let recs = parse_stream(text);
        assert_eq!(recs.len(), 2);
        assert_eq!(event(&recs[1]), "b");
    }
}
