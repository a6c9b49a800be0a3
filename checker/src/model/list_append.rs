//! `list-append`: a list of integers per key, read and appended to in
//! transactions, as in Jepsen's list-append workload (one key per
//! transaction, so that keys can be checked apart).
//!
//! Shapes: `txn` takes a list of micro-operations, each `["append", k, v]`
//! (v an integer) or `["r", k, null]`, where every `k` is the operation's
//! key; an `ok` completion repeats them with each read's list filled in
//! (`["r", k, [1, 2]]`). A transaction applies its micro-operations in
//! order, at one moment. Every key starts empty. A transaction touching
//! several keys cannot be checked key by key (that needs a transactional
//! checker such as Elle) and is refused.

use super::kv_append::{Suffix, Text};
use super::shape::{bad_input, bad_output, txn_micros};
use super::{Model, ModelError, Registration, ShapeError, Spec};
use crate::history::Operation;
use serde_json::Value;

/// The registry line.
pub(crate) const REGISTRATION: Registration = Registration::new(
    "list-append",
    "a list of integers per key: txn of [\"append\", k, v] and [\"r\", k, list], one key per txn (Jepsen list-append); initial []",
    build,
);

const MICRO: &str =
    "a list of [\"append\", key, integer] and [\"r\", key, null], every key the operation's";

fn build(initial: Option<&Value>) -> Result<Model, ModelError> {
    match initial {
        None => {}
        Some(Value::Array(items)) if items.is_empty() => {}
        Some(other) => {
            return Err(ModelError::BadInitial {
                model: "list-append",
                expected: "the empty list []",
                found: other.clone(),
            })
        }
    }
    Ok(Model::new("list-append", ListAppend))
}

/// The specification of one key.
#[derive(Debug)]
struct ListAppend;

/// One micro-operation: a list is a text of 8 bytes per element, so the
/// chained, hashed texts of `kv-append` serve here too.
#[derive(Debug, PartialEq)]
enum Micro {
    Append(Suffix),
    /// The list read, or `None` if unknown.
    Read(Option<Text>),
}

/// The bytes of a list of integers.
fn encode(items: &[i64]) -> Vec<u8> {
    items.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Whether `key` (a micro-operation's) is the operation's key.
fn same_key(key: &Value, op: &Operation) -> bool {
    let text = match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return false,
    };
    op.key.as_deref() == Some(text.as_str())
}

impl Spec for ListAppend {
    type State = Text;
    type Op = Vec<Micro>;

    fn init(&self) -> Text {
        Text::from_bytes(&[])
    }

    fn prepare(&self, op: &Operation) -> Result<Vec<Micro>, ShapeError> {
        let (micros, outputs) = txn_micros(
            op,
            MICRO,
            "the transaction's micro-operations, each read's list filled in",
        )?;
        let mut prepared = Vec::with_capacity(micros.len());
        for (k, micro) in micros.iter().enumerate() {
            let Some([f, key, value]) = micro.as_array().map(Vec::as_slice) else {
                return Err(bad_input(op, MICRO));
            };
            if !same_key(key, op) {
                return Err(bad_input(op, MICRO));
            }
            match (f.as_str(), value) {
                (Some("append"), Value::Number(n)) if n.is_i64() => {
                    let v = n.as_i64().unwrap_or_default();
                    prepared.push(Micro::Append(Suffix::from_bytes(&encode(&[v]))));
                }
                (Some("r"), Value::Null) => {
                    let read = match outputs.map(|out| &out[k][2]) {
                        None => None,
                        Some(Value::Array(items)) => {
                            let ints: Option<Vec<i64>> = items.iter().map(Value::as_i64).collect();
                            let ints = ints.ok_or_else(|| {
                                bad_output(op, &out_of(outputs, k), "a list of integers read")
                            })?;
                            Some(Text::from_bytes(&encode(&ints)))
                        }
                        // Jepsen writes nil for a read of a key never appended to.
                        Some(Value::Null) => Some(Text::from_bytes(&[])),
                        Some(other) => {
                            return Err(bad_output(op, other, "a list of integers read"))
                        }
                    };
                    prepared.push(Micro::Read(read));
                }
                _ => return Err(bad_input(op, MICRO)),
            }
        }
        Ok(prepared)
    }

    fn read_only(&self, op: &Vec<Micro>) -> bool {
        op.iter().all(|m| matches!(m, Micro::Read(_)))
    }

    fn step(&self, state: &Text, op: &Vec<Micro>) -> Option<Text> {
        let mut state = state.clone();
        for micro in op {
            match micro {
                Micro::Append(suffix) => state = state.append(suffix),
                Micro::Read(Some(list)) if *list != state => return None,
                Micro::Read(_) => {}
            }
        }
        Some(state)
    }
}

/// The `k`th micro-operation of an output, for an error message.
fn out_of(outputs: Option<&[Value]>, k: usize) -> Value {
    outputs
        .and_then(|out| out.get(k))
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::{check, model, History, Verdict};

    fn history(lines: &[&str]) -> History {
        History::parse_jsonl(&lines.join("\n")).unwrap()
    }

    #[test]
    fn reads_see_appends_in_order() {
        let m = model::by_name("list-append", None).unwrap();
        let ok = history(&[
            r#"{"process":0,"type":"invoke","f":"txn","key":1,"value":[["append",1,5],["r",1,null]],"time":1}"#,
            r#"{"process":0,"type":"ok","f":"txn","key":1,"value":[["append",1,5],["r",1,[5]]],"time":2}"#,
            r#"{"process":1,"type":"invoke","f":"txn","key":1,"value":[["append",1,6]],"time":3}"#,
            r#"{"process":1,"type":"ok","f":"txn","key":1,"value":[["append",1,6]],"time":4}"#,
            r#"{"process":2,"type":"invoke","f":"txn","key":1,"value":[["r",1,null]],"time":5}"#,
            r#"{"process":2,"type":"ok","f":"txn","key":1,"value":[["r",1,[5,6]]],"time":6}"#,
        ]);
        assert_eq!(check(&ok, &m, 1000).unwrap().verdict, Verdict::Linearizable);
        let text = ok.to_jsonl().replace("[5,6]", "[6,5]");
        let bad = History::parse_jsonl(&text).unwrap();
        let report = check(&bad, &m, 1000).unwrap();
        assert_eq!(report.verdict, Verdict::NotLinearizable);
    }

    #[test]
    fn a_transaction_on_two_keys_is_refused() {
        let m = model::by_name("list-append", None).unwrap();
        let two = history(&[
            r#"{"process":0,"type":"invoke","f":"txn","key":1,"value":[["append",1,5],["r",2,null]],"time":1}"#,
        ]);
        let error = check(&two, &m, 1000).unwrap_err();
        assert!(
            error.to_string().contains("every key the operation's"),
            "{error}"
        );
    }
}
