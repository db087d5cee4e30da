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

/// `2026-11-26T01:02:03.456Z` (or with `+hh:mm`/`-hh:mm`, any number of fraction
/// digits, `t`/`z`/space separators) → milliseconds since the Unix epoch.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let sep = |at: usize, allowed: &[u8]| b.get(at).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if sep(at, b".") {
        at += 1;
        let digits = b
            .get(at..)?
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        let frac = s.get(at..at + digits.min(3))?;
        millis = frac.parse::<i64>().ok()? * 10i64.pow(3 - digits.min(3) as u32);
        at += digits;
    }
    let offset_min = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == b.len() && sep(at + 3, b":") => {
            let m = num(at + 1, 2)? * 60 + num(at + 4, 2)?;
            if *sign == b'-' { -m } else { m }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Some(secs * 1000 + millis)
}

/// (year, month, day) → days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
            parse_rfc3339_ms("2026-11-26T02:02:03.123456+01:00"),
            Some(1_795_654_923_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29 00:00:00z"),
            Some(951_782_400_000)
        );
        for bad in [
            "",
            "2026-11-26",
            "2026-13-01T00:00:00Z",
            "2026-11-26T00:00:00",
            "2026-11-26T00:00:00.Z",
            "2026-11-26T00:00:00Zjunk",
            "2026-11-26T0a:00:00Z",
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
