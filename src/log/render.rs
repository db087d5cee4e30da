//! Rendering a slog record straight from its key-values: a JSON line
//! (`{"ts","level","event",…fields}`, fields in the order they were logged) or a
//! human line (`  12.345s INFO  disk.seen        disk=sda verdict=unused`). Each
//! drain calls [`render`] for its own format; nothing is collected in between.

use super::format::{Format, human_value, level_upper, rfc3339_millis};
use super::kv::{AT_KEY, from_slog_level};
use serde_json::Value;
use std::fmt::Write as _;

/// The fields of a record, rendered: its monotonic time and the text after the
/// header (`,"disk":"sda",…` or ` disk=sda …`).
struct Body {
    format: Format,
    at_us: u64,
    text: String,
}

impl Body {
    fn key(&mut self, key: &str) {
        match self.format {
            Format::Json => {
                self.text.push(',');
                push_json(&mut self.text, &key);
                self.text.push(':');
            }
            Format::Human => {
                self.text.push(' ');
                self.text.push_str(key);
                self.text.push('=');
            }
        }
    }

    fn value(&mut self, key: slog::Key, value: &Value) {
        if matches!(key, "ts" | "level" | "event") {
            return; // the header has them
        }
        self.key(key);
        match self.format {
            Format::Json => push_json(&mut self.text, value),
            Format::Human => self.text.push_str(&human_value(value)),
        }
    }
}

fn push_json<T: serde::Serialize + ?Sized>(out: &mut String, value: &T) {
    // Serializing a string, number or `Value` into JSON cannot fail.
    if let Ok(text) = serde_json::to_string(value) {
        out.push_str(&text);
    }
}

macro_rules! emit_as_value {
    ($($name:ident: $t:ty),*) => {
        $(fn $name(&mut self, key: slog::Key, val: $t) -> slog::Result {
            self.value(key, &Value::from(val));
            Ok(())
        })*
    };
}

impl slog::Serializer for Body {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments<'_>) -> slog::Result {
        self.value(key, &Value::String(val.to_string()));
        Ok(())
    }
    fn emit_u64(&mut self, key: slog::Key, val: u64) -> slog::Result {
        if key == AT_KEY {
            self.at_us = val;
        } else {
            self.value(key, &Value::from(val));
        }
        Ok(())
    }
    emit_as_value!(emit_u8: u8, emit_u16: u16, emit_u32: u32, emit_usize: usize,
        emit_i8: i8, emit_i16: i16, emit_i32: i32, emit_i64: i64, emit_isize: isize,
        emit_f32: f32, emit_f64: f64, emit_bool: bool, emit_str: &str);
    fn emit_unit(&mut self, key: slog::Key) -> slog::Result {
        self.value(key, &Value::Null);
        Ok(())
    }
    fn emit_none(&mut self, key: slog::Key) -> slog::Result {
        self.value(key, &Value::Null);
        Ok(())
    }
    fn emit_serde(&mut self, key: slog::Key, value: &dyn slog::SerdeValue) -> slog::Result {
        let v = serde_json::to_value(value.as_serde()).unwrap_or(Value::Null);
        self.value(key, &v);
        Ok(())
    }
}

/// One record as a line (no newline). `wall_base_us`: the wall clock (µs since the
/// epoch) at monotonic zero, for `ts`. A KV that fails to serialize is left out; the
/// line still goes out.
pub fn render(
    format: Format,
    record: &slog::Record<'_>,
    values: &slog::OwnedKVList,
    wall_base_us: u64,
) -> String {
    let mut body = Body {
        format,
        at_us: 0,
        text: String::new(),
    };
    let _ = slog::KV::serialize(&record.kv(), record, &mut body);
    let _ = slog::KV::serialize(values, record, &mut body);
    let level = from_slog_level(record.level());
    let event = record.msg().to_string();
    let mut out = String::with_capacity(body.text.len() + 64);
    match format {
        Format::Json => {
            out.push_str("{\"ts\":\"");
            out.push_str(&rfc3339_millis(wall_base_us.saturating_add(body.at_us)));
            out.push_str("\",\"level\":\"");
            out.push_str(level.as_str());
            out.push_str("\",\"event\":");
            push_json(&mut out, &event);
            out.push_str(&body.text);
            out.push('}');
        }
        Format::Human => {
            let (secs, millis) = (body.at_us / 1_000_000, (body.at_us % 1_000_000) / 1000);
            let upper = level_upper(level);
            let _ = write!(out, "{secs:>6}.{millis:03}s {upper:<5} {event:<16}");
            out.push_str(&body.text);
            while out.ends_with(' ') {
                out.pop();
            }
        }
    }
    out
}

/// The monotonic time (µs) a record carries as [`AT_KEY`], 0 if none.
pub fn at_us(record: &slog::Record<'_>) -> u64 {
    struct At(u64);
    impl slog::Serializer for At {
        fn emit_arguments(&mut self, _: slog::Key, _: &std::fmt::Arguments<'_>) -> slog::Result {
            Ok(())
        }
        fn emit_u64(&mut self, key: slog::Key, val: u64) -> slog::Result {
            if key == AT_KEY {
                self.0 = val;
                // Found: stop serializing the rest.
                return Err(slog::Error::Other);
            }
            Ok(())
        }
    }
    let mut at = At(0);
    let _ = slog::KV::serialize(&record.kv(), record, &mut at);
    at.0
}
