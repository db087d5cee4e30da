//! The slog side of a record: its fields as slog key-values ([`RecordKv`]) and back
//! ([`Collect`]), and the level mapping.

use super::fields::Fields;
use super::stream::AT_KEY;
use crate::core::event::Level;
use serde_json::Value;

pub(super) fn to_slog_level(level: Level) -> slog::Level {
    match level {
        Level::Debug => slog::Level::Debug,
        Level::Info => slog::Level::Info,
        Level::Warn => slog::Level::Warning,
        Level::Error => slog::Level::Error,
    }
}

pub(super) fn from_slog_level(level: slog::Level) -> Level {
    match level {
        slog::Level::Critical | slog::Level::Error => Level::Error,
        slog::Level::Warning => Level::Warn,
        slog::Level::Info => Level::Info,
        slog::Level::Debug | slog::Level::Trace => Level::Debug,
    }
}

pub(super) struct RecordKv<'a> {
    pub(super) at_us: u64,
    pub(super) fields: &'a Fields,
}

impl slog::KV for RecordKv<'_> {
    fn serialize(
        &self,
        record: &slog::Record<'_>,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        serializer.emit_u64(AT_KEY, self.at_us)?;
        for (key, value) in self.fields {
            if *key == "event" {
                continue;
            }
            match value {
                Value::String(s) => serializer.emit_str(key, s)?,
                Value::Bool(b) => serializer.emit_bool(key, *b)?,
                Value::Null => serializer.emit_none(key)?,
                Value::Number(n) => {
                    if let Some(u) = n.as_u64() {
                        serializer.emit_u64(key, u)?
                    } else if let Some(i) = n.as_i64() {
                        serializer.emit_i64(key, i)?
                    } else {
                        serializer.emit_f64(key, n.as_f64().unwrap_or(0.0))?
                    }
                }
                nested => {
                    slog::Value::serialize(&slog::Serde(nested.clone()), record, key, serializer)?
                }
            }
        }
        Ok(())
    }
}

/// Collects slog KVs back into typed JSON values.
#[derive(Default)]
pub(super) struct Collect {
    pub(super) at_us: u64,
    pub(super) fields: Fields,
}

impl Collect {
    fn push(&mut self, key: slog::Key, value: Value) {
        self.fields.push((key, value));
    }
}

macro_rules! emit_number {
    ($($name:ident: $t:ty),*) => {
        $(fn $name(&mut self, key: slog::Key, val: $t) -> slog::Result {
            self.push(key, Value::from(val));
            Ok(())
        })*
    };
}

impl slog::Serializer for Collect {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments<'_>) -> slog::Result {
        self.push(key, Value::String(val.to_string()));
        Ok(())
    }
    fn emit_u64(&mut self, key: slog::Key, val: u64) -> slog::Result {
        if key == AT_KEY {
            self.at_us = val;
        } else {
            self.push(key, Value::from(val));
        }
        Ok(())
    }
    emit_number!(emit_u8: u8, emit_u16: u16, emit_u32: u32, emit_usize: usize,
        emit_i8: i8, emit_i16: i16, emit_i32: i32, emit_i64: i64, emit_isize: isize,
        emit_f32: f32, emit_f64: f64, emit_bool: bool);
    fn emit_str(&mut self, key: slog::Key, val: &str) -> slog::Result {
        self.push(key, Value::String(val.to_owned()));
        Ok(())
    }
    fn emit_unit(&mut self, key: slog::Key) -> slog::Result {
        self.push(key, Value::Null);
        Ok(())
    }
    fn emit_none(&mut self, key: slog::Key) -> slog::Result {
        self.push(key, Value::Null);
        Ok(())
    }
    fn emit_serde(&mut self, key: slog::Key, value: &dyn slog::SerdeValue) -> slog::Result {
        let v = serde_json::to_value(value.as_serde()).unwrap_or(Value::Null);
        self.push(key, v);
        Ok(())
    }
}
