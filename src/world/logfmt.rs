//! Record → one JSON line / one human line. A private stand-in for the log stream of
//! `crate::log` (the trace helper's `LogStream`) until it lands on main.

use crate::core::event::Record;
use crate::time::Instant;

/// Maps core instants to wall-clock time for the `ts` field.
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    pub mono: Instant,
    pub wall_us: u64,
}

impl WallClock {
    pub fn at(&self, t: Instant) -> u64 {
        if t >= self.mono {
            self.wall_us
                .saturating_add(t.as_micros() - self.mono.as_micros())
        } else {
            self.wall_us
                .saturating_sub(self.mono.as_micros() - t.as_micros())
        }
    }
}

/// `{"ts":"…","level":"…","event":"…",fields…}`
pub fn json_line(record: &Record, clock: &WallClock) -> String {
    let ts = rfc3339(clock.at(record.at));
    let event = serde_json::to_string(&record.event).unwrap_or_else(|_| "{}".into());
    let fields = event.strip_prefix('{').unwrap_or("}");
    let sep = if fields == "}" { "" } else { "," };
    format!(
        "{{\"ts\":\"{ts}\",\"level\":\"{}\"{sep}{fields}",
        record.level.as_str()
    )
}

/// `12:00:01.234 info  disk.seen disk=sda verdict=unused …` from a JSON line.
pub fn human_line(json: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
        return json.to_owned();
    };
    let get = |k: &str| map.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let ts = get("ts");
    let time = ts.get(11..23).unwrap_or(ts);
    let mut out = format!("{time} {:<5} {}", get("level"), get("event"));
    for (k, v) in &map {
        if matches!(k.as_str(), "ts" | "level" | "event") {
            continue;
        }
        let v = match v {
            serde_json::Value::String(s) if !s.contains(' ') && !s.is_empty() => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!(" {k}={v}"));
    }
    out
}

/// Microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339(unix_us: u64) -> String {
    let secs = unix_us / 1_000_000;
    let millis = (unix_us % 1_000_000) / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;
    use crate::core::event::{Event, Level};

    #[test]
    fn formats_records() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_000_000_123_456), "2026-11-18T11:06:40.123Z");
        let clock = WallClock {
            mono: Instant::from_secs(10),
            wall_us: 1_000_000,
        };
        let r = Record {
            at: Instant::from_secs(11),
            level: Level::Info,
            event: Event::NicCarrier {
                nic: "eth0".into(),
                up: true,
            },
        };
        let line = json_line(&r, &clock);
        assert_eq!(
            line,
            r#"{"ts":"1970-01-01T00:00:02.000Z","level":"info","event":"nic.carrier","nic":"eth0","up":true}"#
        );
        assert_eq!(
            human_line(&line),
            "00:00:02.000 info  nic.carrier nic=eth0 up=true"
        );
        let empty = Record {
            at: Instant::from_secs(11),
            level: Level::Warn,
            event: Event::UeventOverflow {},
        };
        assert!(
            json_line(&empty, &clock).ends_with(r#""level":"warn","event":"uevent.overflow"}"#)
        );
    }
}
