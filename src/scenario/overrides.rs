//! `--set KEY=VALUE`: change a scenario field from the command line without
//! copying the file. The override is applied to the file's JSON before it is
//! validated, so it is checked exactly as if it had been written there, and
//! the replay line repeats it so the replay is the same run.
//!
//! KEY is a dotted path (`nodes`, `workload.rate`, `params.bugs.d4`,
//! `faults.0.at_ms`): a step into an object names a member (created if
//! absent, so a misspelt one is refused by validation as an unknown field);
//! a step into an array is an index (one past the end appends). VALUE is
//! JSON (`5`, `true`, `null`, `{"kind":"stagger","mean_ms":10}`, `"7"`);
//! anything that is not JSON is taken as a string (`variant=intended`).

use serde_json::Value;

/// One parsed `--set`.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// As the user wrote it, for messages and the replay line.
    pub text: String,
    path: Vec<String>,
    value: Value,
}

/// Parses `KEY=VALUE` (clap's value parser for `--set`).
pub fn parse(text: &str) -> Result<Override, String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected KEY=VALUE, e.g. workload.rate=5"))?;
    if key.is_empty() {
        return Err(format!("{text:?}: the key before '=' is empty"));
    }
    let path: Vec<String> = key.split('.').map(str::to_string).collect();
    if path.iter().any(String::is_empty) {
        return Err(format!(
            "{text:?}: empty step in key {key:?} (steps are separated by single dots)"
        ));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
    Ok(Override {
        text: text.to_string(),
        path,
        value,
    })
}

/// Applies `sets` in order to the scenario document `doc`.
pub fn apply(doc: &mut Value, sets: &[Override]) -> Result<(), String> {
    for set in sets {
        apply_one(doc, set).map_err(|e| format!("--set {}: {e}", set.text))?;
    }
    Ok(())
}

fn apply_one(doc: &mut Value, set: &Override) -> Result<(), String> {
    let mut at = doc;
    let mut walked = String::new();
    for (i, step) in set.path.iter().enumerate() {
        let last = i + 1 == set.path.len();
        let here = if walked.is_empty() {
            "the scenario".to_string()
        } else {
            walked.clone()
        };
        at = match at {
            Value::Object(map) => {
                if last {
                    map.insert(step.clone(), set.value.clone());
                    return Ok(());
                }
                map.entry(step.clone())
                    .or_insert_with(|| Value::Object(Default::default()))
            }
            Value::Array(items) => {
                let n = items.len();
                let index: usize = step.parse().map_err(|_| {
                    format!("{here} is a list: step {step:?} must be an index 0..={n}")
                })?;
                if index > n {
                    return Err(format!(
                        "{here} has {n} item(s): index {index} is past its end (0..={n}; {n} appends)"
                    ));
                }
                if last {
                    if index == n {
                        items.push(set.value.clone());
                    } else {
                        items[index] = set.value.clone();
                    }
                    return Ok(());
                }
                if index == n {
                    items.push(Value::Object(Default::default()));
                }
                &mut items[index]
            }
            other => {
                return Err(format!(
                    "{here} is {}, which has no field {step:?}",
                    kind(other)
                ))
            }
        };
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(step);
    }
    unreachable!("a parsed key has at least one step")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(doc: Value, sets: &[&str]) -> Result<Value, String> {
        let mut doc = doc;
        let sets: Vec<Override> = sets.iter().map(|s| parse(s).unwrap()).collect();
        apply(&mut doc, &sets).map(|()| doc)
    }

    #[test]
    fn values_are_json_or_else_strings() {
        let d = set(
            json!({"nodes": 3}),
            &[
                "nodes=5",
                "variant=intended",
                "x=\"7\"",
                "r={\"kind\":\"stagger\"}",
            ],
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"nodes": 5, "variant": "intended", "x": "7", "r": {"kind": "stagger"}})
        );
    }

    #[test]
    fn paths_walk_objects_and_lists_and_create_members() {
        let d = set(
            json!({"faults": [{"at_ms": 1}], "workload": {"ops": 10}}),
            &[
                "faults.0.at_ms=2",
                "faults.1.kind=heal",
                "workload.rate.kind=fixed",
                "params.bugs.d4=false",
            ],
        )
        .unwrap();
        assert_eq!(d["faults"], json!([{"at_ms": 2}, {"kind": "heal"}]));
        assert_eq!(d["workload"], json!({"ops": 10, "rate": {"kind": "fixed"}}));
        assert_eq!(d["params"], json!({"bugs": {"d4": false}}));
    }

    #[test]
    fn bad_keys_say_what_is_wrong() {
        assert!(parse("nodes").unwrap_err().contains("expected KEY=VALUE"));
        assert!(parse("=3").unwrap_err().contains("key before '=' is empty"));
        assert!(parse("a..b=3").unwrap_err().contains("empty step"));
        let e = set(json!({"faults": []}), &["faults.x=1"]).unwrap_err();
        assert!(
            e.contains("faults is a list: step \"x\" must be an index 0..=0"),
            "{e}"
        );
        let e = set(json!({"faults": []}), &["faults.3=1"]).unwrap_err();
        assert!(e.contains("index 3 is past its end"), "{e}");
        let e = set(json!({"nodes": 3}), &["nodes.count=1"]).unwrap_err();
        assert_eq!(
            e,
            "--set nodes.count=1: nodes is a number, which has no field \"count\""
        );
    }
}
