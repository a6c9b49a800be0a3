//! Scenario files written by the shrinker: settings equal to their defaults
//! left out, fields in the order a person reads them, and every fault and
//! scripted operation on one line.

use serde_json::{Map, Value};

use crate::scenario::raw::{RawNetwork, RawRun, RawScenario, RawWorkload};

/// Fields in reading order; the rest follow alphabetically.
const ORDER: &[&str] = &[
    "name",
    "description",
    "protocol",
    "variant",
    "params",
    "nodes",
    "seed",
    "network",
    "clocks",
    "down_at_start",
    "workload",
    "faults",
    "run",
    "checks",
    "expect",
    "at_ms",
    "kind",
    "client",
    "node",
    "f",
    "key",
    "value",
];

/// Lines longer than this are broken up.
const WIDTH: usize = 100;

/// `raw` as scenario file text.
pub fn scenario_text(raw: &RawScenario) -> String {
    let mut v = serde_json::to_value(raw).unwrap_or(Value::Null);
    if let Value::Object(top) = &mut v {
        prune(top, "network", &RawNetwork::default());
        prune(top, "workload", &RawWorkload::default());
        prune(top, "run", &RawRun::default());
        for key in ["clocks", "down_at_start", "faults"] {
            if top
                .get(key)
                .is_some_and(|x| x.as_array().is_some_and(Vec::is_empty))
            {
                top.remove(key);
            }
        }
        if top
            .get("params")
            .is_some_and(|x| x.as_object().is_some_and(Map::is_empty))
        {
            top.remove("params");
        }
    }
    let mut out = String::new();
    write(&v, 0, &mut out);
    out.push('\n');
    out
}

/// Removes the members of `top[key]` equal to `default`'s, and the object
/// itself when nothing is left.
fn prune<T: serde::Serialize>(top: &mut Map<String, Value>, key: &str, default: &T) {
    let Ok(Value::Object(def)) = serde_json::to_value(default) else {
        return;
    };
    if let Some(Value::Object(m)) = top.get_mut(key) {
        m.retain(|k, x| def.get(k) != Some(x));
        if m.is_empty() {
            top.remove(key);
        }
    }
}

fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut members: Vec<(&String, &Value)> = m.iter().collect();
    let rank = |k: &str| ORDER.iter().position(|o| *o == k).unwrap_or(ORDER.len());
    members.sort_by(|a, b| (rank(a.0), a.0).cmp(&(rank(b.0), b.0)));
    members
}

/// One line: `{"a": 1, "b": [1, 2]}`.
fn compact(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let parts: Vec<String> = sorted(m)
                .into_iter()
                .map(|(k, x)| format!("{}: {}", Value::String(k.clone()), compact(x)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(compact).collect();
            format!("[{}]", parts.join(", "))
        }
        scalar => scalar.to_string(),
    }
}

fn write(v: &Value, indent: usize, out: &mut String) {
    let flat = compact(v);
    let nested = matches!(v, Value::Object(_) | Value::Array(_));
    if !nested || indent + flat.len() <= WIDTH {
        out.push_str(&flat);
        return;
    }
    let pad = " ".repeat(indent + 2);
    let (open, close, items): (char, char, Vec<(Option<&String>, &Value)>) = match v {
        Value::Object(m) => (
            '{',
            '}',
            sorted(m).into_iter().map(|(k, x)| (Some(k), x)).collect(),
        ),
        Value::Array(a) => ('[', ']', a.iter().map(|x| (None, x)).collect()),
        _ => unreachable!("scalars are written flat"),
    };
    out.push(open);
    out.push('\n');
    let last = items.len().saturating_sub(1);
    for (i, (k, x)) in items.into_iter().enumerate() {
        out.push_str(&pad);
        if let Some(k) = k {
            out.push_str(&format!("{}: ", Value::String(k.clone())));
        }
        write(x, indent + 2, out);
        out.push_str(if i < last { ",\n" } else { "\n" });
    }
    out.push_str(&" ".repeat(indent));
    out.push(close);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_left_out_and_faults_sit_on_one_line_each() {
        let text = r#"{"protocol": "lww", "nodes": 3, "workload": {"ops": 0, "script": [
            {"at_ms": 5, "client": 1, "node": 2, "f": "write", "key": 0, "value": 7}]},
            "faults": [{"at_ms": 10, "kind": "partition", "groups": [[0], [1, 2]]},
                       {"at_ms": 20, "kind": "heal"}]}"#;
        let sc = crate::scenario::parse(text, "t.json", "t").unwrap();
        let out = scenario_text(&sc.effective);
        assert!(!out.contains("\"run\""), "{out}");
        assert!(!out.contains("latency"), "{out}");
        assert!(
            out.contains(r#"{"at_ms": 10, "kind": "partition", "groups": [[0], [1, 2]]}"#),
            "{out}"
        );
        assert!(
            out.contains(
                r#"{"at_ms": 5, "client": 1, "node": 2, "f": "write", "key": 0, "value": 7}"#
            ),
            "{out}"
        );
        // Same scenario once read back.
        let again = crate::scenario::parse(&out, "t.json", "t").unwrap();
        assert_eq!(
            serde_json::to_value(&again.effective).unwrap(),
            serde_json::to_value(&sc.effective).unwrap()
        );
    }
}
