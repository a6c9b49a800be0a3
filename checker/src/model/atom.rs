//! A compact, hashable stand-in for a JSON value held by a register.

use serde_json::Value;
use std::sync::Arc;

/// A register value. Integers and null (the common case) are stored inline
/// so the search hashes and compares them cheaply; anything else keeps a
/// canonical JSON text, so equal values compare equal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Atom {
    Null,
    Bool(bool),
    Int(i64),
    Text(Arc<str>),
    Json(Arc<str>),
}

impl Atom {
    /// The atom for a JSON value.
    pub fn from_json(value: &Value) -> Atom {
        match value {
            Value::Null => Atom::Null,
            Value::Bool(b) => Atom::Bool(*b),
            Value::Number(n) if n.is_i64() => Atom::Int(n.as_i64().unwrap_or_default()),
            Value::String(s) => Atom::Text(Arc::from(s.as_str())),
            other => Atom::Json(Arc::from(canonical(other).as_str())),
        }
    }
}

/// JSON text with object keys sorted, so that equal values give equal text
/// whatever order their keys were written in.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", inner.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_give_equal_atoms() {
        assert_eq!(Atom::from_json(&json!(3)), Atom::Int(3));
        assert_ne!(Atom::from_json(&json!(3)), Atom::from_json(&json!("3")));
        assert_ne!(Atom::from_json(&json!(null)), Atom::from_json(&json!(0)));
        let a = serde_json::from_str::<Value>(r#"{"a":1,"b":[2,{"c":3,"d":4}]}"#).unwrap();
        let b = serde_json::from_str::<Value>(r#"{"b":[2,{"d":4,"c":3}],"a":1}"#).unwrap();
        assert_eq!(Atom::from_json(&a), Atom::from_json(&b));
        assert_ne!(
            Atom::from_json(&json!([1, 2])),
            Atom::from_json(&json!([2, 1]))
        );
    }
}
