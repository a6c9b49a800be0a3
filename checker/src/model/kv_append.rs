//! `kv-append`: string values per key, with get, put and append.
//!
//! Shapes: `get` has value `null` and returns the string; `put s` and
//! `append s` take a string and return `null` or `s`. Append concatenates
//! without a separator. Every key starts at the initial value (default `""`).

use super::shape::{bad_input, bad_output, echo_output, no_input, unknown};
use super::{Model, ModelError, Registration, ShapeError, Spec};
use crate::history::Operation;
use serde_json::Value;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The registry line.
pub(crate) const REGISTRATION: Registration = Registration::new(
    "kv-append",
    "string values per key: get, put s, append s (concatenation); initial \"\"",
    build,
);

const FUNCTIONS: &[&str] = &["get", "put", "append"];

fn build(initial: Option<&Value>) -> Result<Model, ModelError> {
    let initial = match initial {
        None => "",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            let (model, expected, found) = ("kv-append", "a string", other.clone());
            return Err(ModelError::BadInitial {
                model,
                expected,
                found,
            });
        }
    };
    Ok(Model::new(
        "kv-append",
        KvAppend {
            initial: Text::new(initial),
        },
    ))
}

/// Multiplier of the polynomial string hash.
const BASE: u64 = 0x100_0000_01b3;

/// A string with its polynomial hash, h(s) = sum of s[i] * BASE^(len-1-i)
/// (wrapping). The search hashes states on every step; keeping the hash
/// means an append updates it in O(suffix) instead of rehashing the string.
#[derive(Clone, Debug)]
struct Text {
    hash: u64,
    text: Arc<str>,
}

impl Text {
    fn new(text: &str) -> Text {
        Text {
            hash: poly_hash(text),
            text: Arc::from(text),
        }
    }
}

fn poly_hash(text: &str) -> u64 {
    text.bytes()
        .fold(0, |h, b| h.wrapping_mul(BASE).wrapping_add(u64::from(b)))
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.hash == other.hash && self.text == other.text
    }
}

impl Eq for Text {}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A suffix to append, with its hash and BASE^len, to extend a hash.
#[derive(Debug, PartialEq)]
struct Suffix {
    text: Box<str>,
    hash: u64,
    shift: u64,
}

impl Suffix {
    fn new(text: &str) -> Suffix {
        let shift = (0..text.len()).fold(1u64, |p, _| p.wrapping_mul(BASE));
        Suffix {
            text: Box::from(text),
            hash: poly_hash(text),
            shift,
        }
    }
}

/// The specification of one key.
#[derive(Debug)]
struct KvAppend {
    initial: Text,
}

/// One operation; a `None` output is unknown.
#[derive(Debug, PartialEq)]
enum AppendOp {
    Get(Option<Text>),
    Put(Text),
    Append(Suffix),
}

impl Spec for KvAppend {
    type State = Text;
    type Op = AppendOp;

    fn init(&self) -> Text {
        self.initial.clone()
    }

    fn prepare(&self, op: &Operation) -> Result<AppendOp, ShapeError> {
        let text_input = || op.value.as_str().ok_or_else(|| bad_input(op, "a string"));
        match op.f.as_str() {
            "get" => {
                no_input(op)?;
                let output = match op.output() {
                    None => None,
                    Some(Value::String(s)) => Some(Text::new(s)),
                    Some(other) => return Err(bad_output(op, other, "a string")),
                };
                Ok(AppendOp::Get(output))
            }
            "put" => {
                let text = text_input()?;
                echo_output(op)?;
                Ok(AppendOp::Put(Text::new(text)))
            }
            "append" => {
                let text = text_input()?;
                echo_output(op)?;
                Ok(AppendOp::Append(Suffix::new(text)))
            }
            _ => Err(unknown(op, FUNCTIONS)),
        }
    }

    fn read_only(&self, op: &AppendOp) -> bool {
        matches!(op, AppendOp::Get(_))
    }

    fn step(&self, state: &Text, op: &AppendOp) -> Option<Text> {
        match op {
            AppendOp::Get(Some(text)) => (state == text).then(|| state.clone()),
            AppendOp::Get(None) => Some(state.clone()),
            AppendOp::Put(text) => Some(text.clone()),
            AppendOp::Append(suffix) => {
                let mut next = String::with_capacity(state.text.len() + suffix.text.len());
                next.push_str(&state.text);
                next.push_str(&suffix.text);
                let hash = state
                    .hash
                    .wrapping_mul(suffix.shift)
                    .wrapping_add(suffix.hash);
                Some(Text {
                    hash,
                    text: Arc::from(next),
                })
            }
        }
    }
}
