//! A message's kind read straight from its JSON text, without building a
//! `serde_json::Value`: the same answer as `sim::rule::kind_of` (a `body`
//! object's `type`-like tag, else the message's own, else the only key of
//! an externally tagged enum), for a fraction of the cost on big traces.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

const TAGS: [&str; 4] = ["type", "msg_type", "kind", "via"];

/// The kind of a message, if it has one.
#[derive(Default)]
pub struct KindOf(pub Option<String>);

/// What a map's keys say: its tags (in [`TAGS`] order), its `body`'s tag,
/// its first key and how many keys it has.
#[derive(Default)]
struct Scan {
    tags: [Option<String>; 4],
    body: Option<String>,
    first: Option<String>,
    keys: usize,
}

fn scan<'de, A: MapAccess<'de>>(mut map: A, nested: bool) -> Result<Scan, A::Error> {
    let mut s = Scan::default();
    while let Some(k) = map.next_key::<String>()? {
        s.keys += 1;
        if let Some(i) = TAGS.iter().position(|t| *t == k) {
            s.tags[i] = map.next_value::<Str>()?.0;
        } else if k == "body" && !nested {
            s.body = map.next_value::<Body>()?.0;
        } else {
            map.next_value::<IgnoredAny>()?;
        }
        if s.keys == 1 {
            s.first = Some(k);
        }
    }
    Ok(s)
}

/// Implements a visitor whose every non-map, non-string value means `None`.
macro_rules! none_otherwise {
    () => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Self::Value::default())
        }
    };
}

/// A string value, or `None` for anything else.
#[derive(Default)]
struct Str(Option<String>);

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, s: &str) -> Result<Str, E> {
                Ok(Str(Some(s.to_string())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Str, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Str(None))
            }
            none_otherwise!();
        }
        d.deserialize_any(V)
    }
}

/// A `body` object's tag.
#[derive(Default)]
struct Body(Option<String>);

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Body;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, _: &str) -> Result<Body, E> {
                Ok(Body(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Body, A::Error> {
                let s = scan(map, true)?;
                Ok(Body(s.tags.into_iter().flatten().next()))
            }
            none_otherwise!();
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for KindOf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KindOf;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, s: &str) -> Result<KindOf, E> {
                Ok(KindOf(Some(s.to_string())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<KindOf, A::Error> {
                let s = scan(map, false)?;
                let tag = s.tags.into_iter().flatten().next();
                let only = if s.keys == 1 { s.first } else { None };
                Ok(KindOf(s.body.or(tag).or(only)))
            }
            none_otherwise!();
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kind_as_the_engine_does() {
        for text in [
            r#"{"set":{"key":0,"type":"x"}}"#,
            r#"{"type":"append","kind":"no","x":[1,{"a":2}]}"#,
            r#"{"src":"c1","body":{"msg_type":"read","type":"txn"},"type":"outer"}"#,
            r#"{"src":"c1","body":{"n":1},"via":"relay"}"#,
            r#""ping""#,
            r#"{"a":1,"b":2}"#,
            r#"[1,2]"#,
            r#"7"#,
        ] {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            let want = sim::rule::kind_of(&v).0.map(str::to_string);
            let got = serde_json::from_str::<KindOf>(text).unwrap().0;
            assert_eq!(got, want, "{text}");
        }
    }
}
