//! The enum variant a value serializes as, without serializing the rest: a
//! serde `Serializer` that answers at the first call. An externally tagged
//! enum variant (serde's default, `"Name"` or `{"Name": …}` in JSON) gives
//! its name; a newtype struct is looked through (JSON writes it as its
//! content); any other shape gives `None`. The answer comes back as the
//! error, so the variant's contents are never visited.

use std::fmt;

use serde::ser::{self, Impossible, Serialize};

/// The probe.
pub(super) struct Probe;

/// How a probe stops: with the variant's name, or `None`.
#[derive(Debug)]
pub(super) struct Stop(pub Option<&'static str>);

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "variant {:?}", self.0)
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop(None)
    }
}

type R = Result<&'static str, Stop>;

/// Methods that mean "not an enum variant".
macro_rules! not_a_variant {
    ($($name:ident($($arg:ty),*);)*) => {
        $(
            fn $name(self, $(_: $arg),*) -> R {
                Err(Stop(None))
            }
        )*
    };
}

impl ser::Serializer for Probe {
    type Ok = &'static str;
    type Error = Stop;
    type SerializeSeq = Impossible<&'static str, Stop>;
    type SerializeTuple = Impossible<&'static str, Stop>;
    type SerializeTupleStruct = Impossible<&'static str, Stop>;
    type SerializeTupleVariant = Impossible<&'static str, Stop>;
    type SerializeMap = Impossible<&'static str, Stop>;
    type SerializeStruct = Impossible<&'static str, Stop>;
    type SerializeStructVariant = Impossible<&'static str, Stop>;

    not_a_variant! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
    }

    // JSON writes `Some(x)` as `x`.
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> R {
        v.serialize(self)
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> R {
        Ok(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> R {
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: &T,
    ) -> R {
        Ok(variant)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Stop> {
        Err(Stop(None))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Stop> {
        Err(Stop(None))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Stop> {
        Err(Stop(None))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Stop> {
        Err(Stop(Some(variant)))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Stop> {
        Err(Stop(None))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Stop> {
        Err(Stop(None))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Stop> {
        Err(Stop(Some(variant)))
    }

    fn is_human_readable(&self) -> bool {
        true
    }
}
