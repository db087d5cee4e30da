//! A record's slog side: an [`Event`] handed to slog as key-values ([`EventKv`]),
//! straight from its serde fields (no intermediate map), replay's loose [`Fields`]
//! likewise ([`FieldsKv`]), and the level mapping. Every drain renders from these
//! key-values; nothing collects them back.
//!
//! The keys are the serde field names of `core::event::Event` (slog keys are
//! `&'static str`, and so are serde's field names): the golden test
//! `tests/log_event_keys.rs` pins them, so renaming a Rust field cannot change the
//! stream unnoticed.

use super::fields::Fields;
use crate::core::event::{Event, Level};
use serde::Serialize;
use serde::ser::{self, Impossible};
use serde_json::Value;

/// The key under which a record's monotonic time (µs) travels through slog; drains
/// read it for `ts` (with the stream's wall clock) and the human line's seconds.
pub const AT_KEY: &str = "at_us";

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

/// A core event as slog key-values: `at_us`, then its fields in declaration order
/// (the `event` tag is the record's message, not a KV).
pub struct EventKv<'a> {
    pub at_us: u64,
    pub event: &'a Event,
}

impl slog::KV for EventKv<'_> {
    fn serialize(&self, _: &slog::Record<'_>, out: &mut dyn slog::Serializer) -> slog::Result {
        out.emit_u64(AT_KEY, self.at_us)?;
        self.event.serialize(ToSlog { out }).map_err(|e| match e {
            SerError::Slog(e) => e,
            SerError::NotAStruct | SerError::Custom(_) => slog::Error::Other,
        })
    }
}

/// Loose fields (replay's `input` and `action` lines) as slog key-values; an `event`
/// entry among them is skipped (it is the message).
pub struct FieldsKv<'a> {
    pub at_us: u64,
    pub fields: &'a Fields,
}

impl slog::KV for FieldsKv<'_> {
    fn serialize(&self, _: &slog::Record<'_>, out: &mut dyn slog::Serializer) -> slog::Result {
        out.emit_u64(AT_KEY, self.at_us)?;
        for (key, value) in self.fields {
            if *key != "event" {
                emit_value(out, key, value)?;
            }
        }
        Ok(())
    }
}

fn emit_value(out: &mut dyn slog::Serializer, key: slog::Key, value: &Value) -> slog::Result {
    match value {
        Value::String(s) => out.emit_str(key, s),
        Value::Bool(b) => out.emit_bool(key, *b),
        Value::Null => out.emit_none(key),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => out.emit_u64(key, u),
            (None, Some(i)) => out.emit_i64(key, i),
            (None, None) => out.emit_f64(key, n.as_f64().unwrap_or(0.0)),
        },
        nested => out.emit_serde(key, &slog::Serde(nested.clone())),
    }
}

/// The name of an event as it appears on the stream (its serde tag), read without
/// serializing the rest of it.
pub fn event_name(event: &Event) -> String {
    match event.serialize(TagOnly) {
        Err(SerError::Custom(name)) => name,
        _ => String::new(),
    }
}

#[derive(Debug)]
enum SerError {
    Slog(slog::Error),
    NotAStruct,
    /// serde's own errors; [`TagOnly`] also stops with the tag it found here.
    Custom(String),
}

impl std::fmt::Display for SerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SerError::Slog(e) => write!(f, "{e}"),
            SerError::NotAStruct => f.write_str("only structs become log fields"),
            SerError::Custom(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        SerError::Custom(msg.to_string())
    }
}

/// A struct (what an internally tagged `Event` serializes to) → slog KVs.
struct ToSlog<'o> {
    out: &'o mut dyn slog::Serializer,
}

struct Fields2Slog<'o> {
    out: &'o mut dyn slog::Serializer,
}

impl ser::SerializeStruct for Fields2Slog<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        if key == "event" {
            return Ok(()); // the tag: the record's message
        }
        // Plain values go to slog as they are; anything nested (lists, maps, a JSON
        // `detail`) as a serde value, the same JSON as before.
        let value = serde_json::to_value(value).map_err(|e| SerError::Custom(e.to_string()))?;
        emit_value(self.out, key, &value).map_err(SerError::Slog)
    }
    fn end(self) -> Result<(), SerError> {
        Ok(())
    }
}

/// Stops at the `event` tag (the first field of an internally tagged enum).
struct TagOnly;

struct TagField;

impl ser::SerializeStruct for TagField {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        if key != "event" {
            return Err(SerError::NotAStruct);
        }
        match serde_json::to_value(value) {
            Ok(Value::String(name)) => Err(SerError::Custom(name)),
            _ => Err(SerError::NotAStruct),
        }
    }
    fn end(self) -> Result<(), SerError> {
        Err(SerError::NotAStruct)
    }
}

macro_rules! only_structs {
    ($ok:ty; $($name:ident($($arg:ty),*);)*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<$ok, SerError> {
            Err(SerError::NotAStruct)
        })*
        fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<$ok, SerError> {
            value.serialize(self)
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<$ok, SerError> {
            value.serialize(self)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self, _: &'static str, _: u32, _: &'static str, _: &T,
        ) -> Result<$ok, SerError> {
            Err(SerError::NotAStruct)
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, SerError> {
            Err(SerError::NotAStruct)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, SerError> {
            Err(SerError::NotAStruct)
        }
        fn serialize_tuple_struct(
            self, _: &'static str, _: usize,
        ) -> Result<Self::SerializeTupleStruct, SerError> {
            Err(SerError::NotAStruct)
        }
        fn serialize_tuple_variant(
            self, _: &'static str, _: u32, _: &'static str, _: usize,
        ) -> Result<Self::SerializeTupleVariant, SerError> {
            Err(SerError::NotAStruct)
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SerError> {
            Err(SerError::NotAStruct)
        }
        fn serialize_struct_variant(
            self, _: &'static str, _: u32, _: &'static str, _: usize,
        ) -> Result<Self::SerializeStructVariant, SerError> {
            Err(SerError::NotAStruct)
        }
    };
}

impl<'o> ser::Serializer for ToSlog<'o> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Impossible<(), SerError>;
    type SerializeTuple = Impossible<(), SerError>;
    type SerializeTupleStruct = Impossible<(), SerError>;
    type SerializeTupleVariant = Impossible<(), SerError>;
    type SerializeMap = Impossible<(), SerError>;
    type SerializeStruct = Fields2Slog<'o>;
    type SerializeStructVariant = Impossible<(), SerError>;

    only_structs! { ();
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32);
        serialize_i64(i64); serialize_u8(u8); serialize_u16(u16); serialize_u32(u32);
        serialize_u64(u64); serialize_f32(f32); serialize_f64(f64); serialize_char(char);
        serialize_str(&str); serialize_bytes(&[u8]); serialize_none(); serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Fields2Slog<'o>, SerError> {
        Ok(Fields2Slog { out: self.out })
    }
}

impl ser::Serializer for TagOnly {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Impossible<(), SerError>;
    type SerializeTuple = Impossible<(), SerError>;
    type SerializeTupleStruct = Impossible<(), SerError>;
    type SerializeTupleVariant = Impossible<(), SerError>;
    type SerializeMap = Impossible<(), SerError>;
    type SerializeStruct = TagField;
    type SerializeStructVariant = Impossible<(), SerError>;

    only_structs! { ();
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32);
        serialize_i64(i64); serialize_u8(u8); serialize_u16(u16); serialize_u32(u32);
        serialize_u64(u64); serialize_f32(f32); serialize_f64(f64); serialize_char(char);
        serialize_str(&str); serialize_bytes(&[u8]); serialize_none(); serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<TagField, SerError> {
        Ok(TagField)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::Verdict;

    #[test]
    fn event_names_are_their_tags() {
        let e = Event::DiskSeen {
            disk: "sda".into(),
            rotational: false,
            size_bytes: 8,
            verdict: Verdict::InUse,
            reason: "gpt".into(),
        };
        assert_eq!(event_name(&e), "disk.seen");
        assert_eq!(event_name(&Event::UeventOverflow {}), "uevent.overflow");
        assert_eq!(event_name(&e), e.name());
    }
}
