//! An event's fields with `'static` names, so they can be handed to slog as KVs.
//!
//! slog keys are `&'static str`. serde passes struct field names as `&'static str`
//! too, so a tiny serde `Serializer` that accepts exactly one struct (what an
//! internally tagged `Event` serializes to) captures `(name, value)` pairs in
//! declaration order without allocating or leaking any key.

use serde::Serialize;
use serde::ser::{self, Impossible};
use serde_json::Value;

/// The fields of one serialized struct, in declaration order.
pub type Fields = Vec<(&'static str, Value)>;

/// Split `value` (a struct, or an internally tagged enum of structs) into its fields.
/// Anything else yields an error.
pub fn fields_of<T: Serialize + ?Sized>(value: &T) -> Result<Fields, FieldsError> {
    value.serialize(Capture)
}

#[derive(Debug, thiserror::Error)]
pub enum FieldsError {
    #[error("only structs can be split into log fields")]
    NotAStruct,
    #[error("{0}")]
    Custom(String),
}

impl ser::Error for FieldsError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        FieldsError::Custom(msg.to_string())
    }
}

struct Capture;

struct StructFields(Fields);

impl ser::SerializeStruct for StructFields {
    type Ok = Fields;
    type Error = FieldsError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), FieldsError> {
        let v = serde_json::to_value(value).map_err(|e| FieldsError::Custom(e.to_string()))?;
        self.0.push((key, v));
        Ok(())
    }
    fn end(self) -> Result<Fields, FieldsError> {
        Ok(self.0)
    }
}

macro_rules! not_a_struct {
    ($($name:ident($($arg:ty),*);)*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<Fields, FieldsError> {
            Err(FieldsError::NotAStruct)
        })*
    };
}

impl ser::Serializer for Capture {
    type Ok = Fields;
    type Error = FieldsError;
    type SerializeSeq = Impossible<Fields, FieldsError>;
    type SerializeTuple = Impossible<Fields, FieldsError>;
    type SerializeTupleStruct = Impossible<Fields, FieldsError>;
    type SerializeTupleVariant = Impossible<Fields, FieldsError>;
    type SerializeMap = Impossible<Fields, FieldsError>;
    type SerializeStruct = StructFields;
    type SerializeStructVariant = Impossible<Fields, FieldsError>;

    not_a_struct! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Fields, FieldsError> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Fields, FieldsError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Fields, FieldsError> {
        Err(FieldsError::NotAStruct)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, FieldsError> {
        Err(FieldsError::NotAStruct)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, FieldsError> {
        Err(FieldsError::NotAStruct)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, FieldsError> {
        Err(FieldsError::NotAStruct)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, FieldsError> {
        Err(FieldsError::NotAStruct)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, FieldsError> {
        Err(FieldsError::NotAStruct)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, FieldsError> {
        Ok(StructFields(Vec::with_capacity(len)))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, FieldsError> {
        Err(FieldsError::NotAStruct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::{Event, Verdict};

    #[test]
    fn event_fields_come_out_in_order_with_the_tag_first() {
        let e = Event::DiskSeen {
            disk: "sda".into(),
            rotational: false,
            size_bytes: 8,
            verdict: Verdict::InUse,
            reason: "gpt".into(),
        };
        let f = fields_of(&e).unwrap();
        let names: Vec<_> = f.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "event",
                "disk",
                "rotational",
                "size_bytes",
                "verdict",
                "reason"
            ]
        );
        assert_eq!(f[0].1, Value::String("disk.seen".into()));
        assert_eq!(f[4].1, Value::String("in-use".into()));
        assert!(fields_of(&3u32).is_err());
    }
}
