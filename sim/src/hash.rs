//! Stable hashing for trace fingerprints and derived seeds.
//!
//! std's `DefaultHasher` may change between Rust releases, and `#[derive(Hash)]`
//! leaves the byte layout of enums and strings to the compiler, so neither can
//! back a fingerprint that users compare across machines. Here the mixing
//! function and the encoding of every value are ours: integers are hashed as
//! little-endian words, strings and byte slices with their length, and any
//! `serde::Serialize` value through a small serializer that feeds the hasher
//! directly (no allocation on the hot path).

use serde::ser::{self, Serialize};

/// A fast, stable, non-cryptographic 64-bit hasher over 64-bit words.
#[derive(Clone, Copy, Debug)]
pub struct StableHasher {
    h: u64,
}

/// An odd multiplier (2^64 / golden ratio).
const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher::new()
    }
}

impl StableHasher {
    /// A hasher in its initial state.
    pub const fn new() -> StableHasher {
        StableHasher {
            h: 0x243F_6A88_85A3_08D3,
        }
    }

    /// Mixes in one 64-bit word: `h = (rotl(h, 5) ^ x) · MUL`, the step of
    /// rustc's FxHasher. It runs on every field of every trace record, so it
    /// is three instructions. Each step is a bijection of the state for a
    /// fixed word and of the word for a fixed state, so a trace that differs
    /// in a single word always ends in a different state; the multiply makes
    /// the order of words matter, and the rotation brings back down the high
    /// bits the multiply pushes up (without it, flips of the top bit in any
    /// two words would cancel). `finish` mixes the state once more.
    #[inline(always)]
    pub fn word(&mut self, x: u64) {
        self.h = (self.h.rotate_left(5) ^ x).wrapping_mul(MUL);
    }

    /// Mixes in a byte string and its length.
    #[inline]
    pub fn bytes(&mut self, b: &[u8]) {
        self.word(b.len() as u64);
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(w));
        }
    }

    /// Mixes in any serializable value, by its serde data model.
    #[inline]
    pub fn value<T: Serialize + ?Sized>(&mut self, v: &T) {
        // Our serializer never fails.
        let _ = v.serialize(&mut *self);
    }

    /// The hash of everything mixed in so far.
    pub fn finish(&self) -> u64 {
        let mut s = self.h;
        splitmix64(&mut s)
    }
}

/// Values the trace hashes on every client operation, hashed directly:
/// the same words as [`StableHasher::value`] produces through serde (a test
/// holds the two paths equal), without the serializer's calls.
pub trait Fingerprint: Serialize {
    /// Mixes `self` into `h`.
    fn fingerprint(&self, h: &mut StableHasher);
}

impl Fingerprint for crate::node::Value {
    #[inline(always)]
    fn fingerprint(&self, h: &mut StableHasher) {
        use crate::node::Value;
        // `Value` is untagged: each variant hashes as its content alone.
        match *self {
            Value::Int(i) => h.word(i as u64),
            Value::Null => h.word(T_UNIT),
            Value::Bool(b) => {
                h.word(T_BOOL);
                h.word(u64::from(b));
            }
            Value::Str(_) | Value::List(_) | Value::Set(_) => h.value(self),
        }
    }
}

impl Fingerprint for crate::node::Reply {
    #[inline(always)]
    fn fingerprint(&self, h: &mut StableHasher) {
        use crate::node::Reply;
        h.word(T_VARIANT);
        match self {
            Reply::Ok(v) => {
                h.word(0);
                v.fingerprint(h);
            }
            Reply::Fail(v) => {
                h.word(1);
                v.fingerprint(h);
            }
            Reply::Info => h.word(2),
        }
    }
}

impl Fingerprint for crate::workload::EventKind {
    #[inline(always)]
    fn fingerprint(&self, h: &mut StableHasher) {
        h.word(T_VARIANT);
        h.word(*self as u64);
    }
}

impl Fingerprint for Option<u32> {
    #[inline(always)]
    fn fingerprint(&self, h: &mut StableHasher) {
        match *self {
            None => h.word(T_NONE),
            Some(k) => {
                h.word(T_SOME);
                h.word(u64::from(k));
            }
        }
    }
}

/// One step of SplitMix64: advances `state` and returns a well-mixed word.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over bytes: used for short labels, where speed does not matter.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The error type of the hashing serializer; it is never produced.
#[derive(Debug)]
pub struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unreachable")
    }
}
impl std::error::Error for Never {}
impl ser::Error for Never {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Never
    }
}

// Tags keep values of different shapes apart (None vs unit vs 0, …).
const T_BOOL: u64 = 1;
const T_FLOAT: u64 = 3;
const T_STR: u64 = 4;
const T_NONE: u64 = 5;
const T_SOME: u64 = 6;
const T_UNIT: u64 = 7;
const T_VARIANT: u64 = 8;
const T_SEQ: u64 = 9;
const T_MAP: u64 = 10;
const T_END: u64 = 11;

impl ser::Serializer for &mut StableHasher {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<(), Never> {
        self.word(T_BOOL);
        self.word(u64::from(v));
        Ok(())
    }
    #[inline]
    fn serialize_i8(self, v: i8) -> Result<(), Never> {
        self.serialize_i64(i64::from(v))
    }
    #[inline]
    fn serialize_i16(self, v: i16) -> Result<(), Never> {
        self.serialize_i64(i64::from(v))
    }
    #[inline]
    fn serialize_i32(self, v: i32) -> Result<(), Never> {
        self.serialize_i64(i64::from(v))
    }
    // Integers are one word each, untagged: a value's type fixes where
    // integers stand, and the hot path (messages of a few integers) halves.
    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), Never> {
        self.word(v as u64);
        Ok(())
    }
    #[inline]
    fn serialize_u8(self, v: u8) -> Result<(), Never> {
        self.serialize_u64(u64::from(v))
    }
    #[inline]
    fn serialize_u16(self, v: u16) -> Result<(), Never> {
        self.serialize_u64(u64::from(v))
    }
    #[inline]
    fn serialize_u32(self, v: u32) -> Result<(), Never> {
        self.serialize_u64(u64::from(v))
    }
    #[inline]
    fn serialize_u64(self, v: u64) -> Result<(), Never> {
        self.word(v);
        Ok(())
    }
    #[inline]
    fn serialize_f32(self, v: f32) -> Result<(), Never> {
        self.serialize_f64(f64::from(v))
    }
    #[inline]
    fn serialize_f64(self, v: f64) -> Result<(), Never> {
        self.word(T_FLOAT);
        self.word(v.to_bits());
        Ok(())
    }
    #[inline]
    fn serialize_char(self, v: char) -> Result<(), Never> {
        self.serialize_u64(u64::from(v))
    }
    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), Never> {
        self.word(T_STR);
        self.bytes(v.as_bytes());
        Ok(())
    }
    #[inline]
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Never> {
        self.word(T_STR);
        self.bytes(v);
        Ok(())
    }
    #[inline]
    fn serialize_none(self) -> Result<(), Never> {
        self.word(T_NONE);
        Ok(())
    }
    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Never> {
        self.word(T_SOME);
        v.serialize(self)
    }
    #[inline]
    fn serialize_unit(self) -> Result<(), Never> {
        self.word(T_UNIT);
        Ok(())
    }
    #[inline]
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Never> {
        self.serialize_unit()
    }
    #[inline]
    fn serialize_unit_variant(self, _: &'static str, i: u32, _: &'static str) -> Result<(), Never> {
        self.word(T_VARIANT);
        self.word(u64::from(i));
        Ok(())
    }
    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Never> {
        v.serialize(self)
    }
    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        i: u32,
        _: &'static str,
        v: &T,
    ) -> Result<(), Never> {
        self.word(T_VARIANT);
        self.word(u64::from(i));
        v.serialize(self)
    }
    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, Never> {
        self.word(T_SEQ);
        self.word(len.map_or(u64::MAX, |l| l as u64));
        Ok(self)
    }
    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Self, Never> {
        self.serialize_seq(Some(len))
    }
    #[inline]
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Self, Never> {
        self.serialize_seq(Some(len))
    }
    #[inline]
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        i: u32,
        _: &'static str,
        len: usize,
    ) -> Result<Self, Never> {
        self.word(T_VARIANT);
        self.word(u64::from(i));
        self.serialize_seq(Some(len))
    }
    #[inline]
    fn serialize_map(self, len: Option<usize>) -> Result<Self, Never> {
        self.word(T_MAP);
        self.word(len.map_or(u64::MAX, |l| l as u64));
        Ok(self)
    }
    // A struct's fields are fixed by its type: no length, no end marker.
    #[inline]
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Never> {
        Ok(self)
    }
    #[inline]
    fn serialize_struct_variant(
        self,
        _: &'static str,
        i: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Never> {
        self.word(T_VARIANT ^ (u64::from(i) << 8));
        Ok(self)
    }
}

macro_rules! compound {
    ($($tr:ident :: $m:ident),*) => {$(
        impl ser::$tr for &mut StableHasher {
            type Ok = ();
            type Error = Never;
            #[inline]
            fn $m<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Never> {
                v.serialize(&mut **self)
            }
            #[inline]
            fn end(self) -> Result<(), Never> {
                self.word(T_END);
                Ok(())
            }
        }
    )*};
}
compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for &mut StableHasher {
    type Ok = ();
    type Error = Never;
    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Never> {
        k.serialize(&mut **self)
    }
    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Never> {
        v.serialize(&mut **self)
    }
    #[inline]
    fn end(self) -> Result<(), Never> {
        self.word(T_END);
        Ok(())
    }
}

impl ser::SerializeStruct for &mut StableHasher {
    type Ok = ();
    type Error = Never;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Never> {
        v.serialize(&mut **self)
    }
    #[inline]
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut StableHasher {
    type Ok = ();
    type Error = Never;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Never> {
        v.serialize(&mut **self)
    }
    #[inline]
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct path hashes exactly what the serde path does.
    #[test]
    fn fingerprint_matches_the_serde_path() {
        use crate::node::{Reply, Value};
        use crate::workload::EventKind;
        fn same<T: Fingerprint>(v: &T) {
            let (mut a, mut b) = (StableHasher::new(), StableHasher::new());
            a.word(7);
            b.word(7);
            v.fingerprint(&mut a);
            b.value(v);
            assert_eq!(
                a.finish(),
                b.finish(),
                "{}",
                serde_json::to_string(v).unwrap()
            );
            assert_eq!(a.h, b.h);
        }
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(0),
            Value::Int(-5),
            Value::Int(i64::MAX),
            Value::Str("x".into()),
            Value::List(vec![Value::Int(1), Value::Null]),
        ];
        for v in &values {
            same(v);
            same(&Reply::Ok(v.clone()));
            same(&Reply::Fail(v.clone()));
        }
        same(&Reply::Info);
        for k in [
            EventKind::Invoke,
            EventKind::Ok,
            EventKind::Fail,
            EventKind::Info,
        ] {
            same(&k);
        }
        for k in [None, Some(0u32), Some(99)] {
            same(&k);
        }
    }

    /// The words of a 300-word trace, with word `i` changed to `x`.
    fn trace_with(i: usize, x: u64) -> u64 {
        let mut s = StableHasher::new();
        for j in 0..300u64 {
            s.word(if j as usize == i {
                x
            } else {
                j * 0x1234_5678_9abc
            });
        }
        s.finish()
    }

    #[test]
    fn any_single_changed_word_changes_the_hash() {
        let base = trace_with(usize::MAX, 0);
        for i in [0, 1, 63, 64, 150, 299] {
            for x in [0, 1, 1 << 63, u64::MAX, 0xdead_beef] {
                if x != i as u64 * 0x1234_5678_9abc {
                    assert_ne!(trace_with(i, x), base, "word {i} = {x:#x}");
                }
            }
        }
    }

    #[test]
    fn top_bit_flips_in_two_words_do_not_cancel() {
        let flip = |a: usize, b: usize| {
            let mut s = StableHasher::new();
            for j in 0..200usize {
                let w = j as u64 ^ if j == a || j == b { 1 << 63 } else { 0 };
                s.word(w);
            }
            s.finish()
        };
        let none = flip(usize::MAX, usize::MAX);
        for (a, b) in [(3, 4), (10, 74), (0, 199), (50, 114)] {
            assert_ne!(flip(a, b), none, "words {a} and {b}");
        }
    }

    use serde::Serialize;

    #[derive(Serialize)]
    enum Msg {
        Set { key: u32, value: i64 },
        Sync(u32, i64),
        Ping,
    }

    fn h<T: Serialize>(v: &T) -> u64 {
        let mut s = StableHasher::new();
        s.value(v);
        s.finish()
    }

    #[test]
    fn golden_values_are_frozen() {
        // These numbers are part of the fingerprint contract: if they change,
        // every fingerprint users have recorded changes.
        assert_eq!(h(&(1u64, "x")), GOLDEN_TUPLE);
        assert_eq!(fnv1a(b"network"), 0x1e8e57b2909b2a85);
    }
    const GOLDEN_TUPLE: u64 = 0xd44f_bcb1_5ec4_6d12;

    #[test]
    fn shapes_are_kept_apart() {
        assert_ne!(h(&Msg::Set { key: 1, value: 2 }), h(&Msg::Sync(1, 2)));
        assert_ne!(h(&Msg::Ping), h(&()));
        assert_ne!(h(&Some(0u8)), h(&0u8));
        assert_ne!(h(&None::<u8>), h(&()));
        assert_ne!(h(&"ab"), h(&("a", "b")));
        assert_ne!(h(&vec![1u8, 2]), h(&vec![2u8, 1]));
        assert_eq!(
            h(&Msg::Set { key: 1, value: 2 }),
            h(&Msg::Set { key: 1, value: 2 })
        );
    }

    #[test]
    fn int_widths_hash_alike() {
        assert_eq!(h(&5u8), h(&5u64));
        assert_eq!(h(&-5i32), h(&-5i64));
    }

    #[test]
    fn words_far_apart_cannot_swap_unseen() {
        // A rotate-xor hash would let words whose rotations coincide swap
        // (64 places apart); the multiply in the chain prevents it.
        let fp = |swap: bool| {
            let mut s = StableHasher::new();
            for i in 0..200u64 {
                let x = match (i, swap) {
                    (10, false) | (74, true) => 7,
                    (74, false) | (10, true) => 9,
                    _ => i,
                };
                s.word(x);
            }
            s.finish()
        };
        assert_ne!(fp(false), fp(true));
    }

    #[test]
    fn bytes_encode_length() {
        let mut a = StableHasher::new();
        a.bytes(b"abc\0");
        let mut b = StableHasher::new();
        b.bytes(b"abc");
        assert_ne!(a.finish(), b.finish());
    }
}
