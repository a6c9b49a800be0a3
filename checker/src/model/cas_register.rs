//! `cas-register`: one register with read, write and compare-and-set.
//!
//! Shapes: `read` has value `null` and returns the value read; `write v`
//! returns `null` or `v`; `cas [old, new]` returns `null` or `[old, new]`.
//! An `ok` cas succeeded (the register held `old`); a cas that found another
//! value is a `fail` and is dropped. Values are any JSON; the initial value
//! defaults to `null`. The `kv` model is this register, once per key.

use super::shape::{bad_input, echo_output, no_input, unknown};
use super::{Atom, Model, Registration, ShapeError, Spec};
use crate::history::Operation;
use serde_json::Value;

/// The registry line.
pub(crate) const REGISTRATION: Registration = Registration::new(
    "cas-register",
    "one register (no keys): read, write v, cas [old,new]; initial null",
    |initial| Ok(Model::new("cas-register", CasRegister::new(initial, false))),
);

const FUNCTIONS: &[&str] = &["read", "write", "cas"];

/// A register, keyed (one per key, as `kv`) or not.
#[derive(Debug)]
pub(crate) struct CasRegister {
    initial: Value,
    initial_atom: Atom,
    keyed: bool,
}

/// A register operation; a `None` or `known: false` output is unknown.
#[derive(Debug, PartialEq)]
pub(crate) enum RegisterOp {
    Read(Option<Atom>),
    Write(Atom),
    Cas { old: Atom, new: Atom, known: bool },
}

impl CasRegister {
    /// A register starting at `initial` (null if `None`).
    pub(crate) fn new(initial: Option<&Value>, keyed: bool) -> CasRegister {
        let initial = initial.cloned().unwrap_or(Value::Null);
        CasRegister { initial_atom: Atom::from_json(&initial), initial, keyed }
    }
}

/// The pair of a cas invocation.
fn cas_pair(value: &Value) -> Option<(&Value, &Value)> {
    match value.as_array().map(Vec::as_slice) {
        Some([old, new]) => Some((old, new)),
        _ => None,
    }
}

impl Spec for CasRegister {
    type State = Atom;
    type Op = RegisterOp;

    fn init(&self) -> Atom {
        self.initial_atom.clone()
    }

    fn prepare(&self, op: &Operation) -> Result<RegisterOp, ShapeError> {
        if let (false, Some(key)) = (self.keyed, &op.key) {
            return Err(ShapeError::KeyNotAllowed { key: key.clone(), instead: Some("kv") });
        }
        match op.f.as_str() {
            "read" => {
                no_input(op)?;
                Ok(RegisterOp::Read(op.output().map(Atom::from_json)))
            }
            "write" => {
                echo_output(op)?;
                Ok(RegisterOp::Write(Atom::from_json(&op.value)))
            }
            "cas" => {
                let (old, new) =
                    cas_pair(&op.value).ok_or_else(|| bad_input(op, "a pair [old, new]"))?;
                echo_output(op)?;
                let known = op.output().is_some();
                Ok(RegisterOp::Cas { old: Atom::from_json(old), new: Atom::from_json(new), known })
            }
            _ => Err(unknown(op, FUNCTIONS)),
        }
    }

    fn step(&self, state: &Atom, op: &RegisterOp) -> Option<Atom> {
        match op {
            RegisterOp::Read(Some(value)) => (state == value).then(|| state.clone()),
            RegisterOp::Read(None) => Some(state.clone()),
            RegisterOp::Write(value) => Some(value.clone()),
            RegisterOp::Cas { old, new, known } => match (state == old, known) {
                (true, _) => Some(new.clone()),
                (false, true) => None,
                (false, false) => Some(state.clone()),
            },
        }
    }

    fn read_only(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read(_))
    }

    fn explain(&self, witness: &[Operation], history: &[&Operation]) -> Option<String> {
        witness.iter().filter(|op| op.f == "read").find_map(|read| {
            let value = read.output()?;
            self.explain_read(read, value, witness, history)
        })
    }
}

/// The value an operation may set the register to, if it writes.
fn sets(op: &Operation) -> Option<&Value> {
    match op.f.as_str() {
        "write" => Some(&op.value),
        "cas" => cas_pair(&op.value).map(|(_, new)| new),
        _ => None,
    }
}

/// "write x=2", "cas x 1->2", "write 2" (no key).
fn phrase(op: &Operation) -> String {
    let key = op.key.as_deref().map(|k| format!("{k}="));
    match (op.f.as_str(), cas_pair(&op.value)) {
        ("cas", Some((old, new))) => match &op.key {
            Some(k) => format!("cas {k} {old}->{new}"),
            None => format!("cas {old}->{new}"),
        },
        _ => format!("{} {}{}", op.f, key.unwrap_or_default(), op.value),
    }
}

impl CasRegister {
    /// Proves a read wrong in words, if it read a value that was impossible
    /// or stale; every claim is checked against the key's whole history, so
    /// the sentence is a proof, not a guess.
    fn explain_read(
        &self,
        read: &Operation,
        value: &Value,
        witness: &[Operation],
        history: &[&Operation],
    ) -> Option<String> {
        let read_end = read.end_time()?;
        let subject = match &read.key {
            Some(k) => format!("read of {k} by process {}", read.process),
            None => format!("read by process {}", read.process),
        };
        // Writers that could come before the read in some order.
        let writers: Vec<&&Operation> = history
            .iter()
            .filter(|op| !op.failed() && op.time <= read_end && sets(op) == Some(value))
            .collect();
        let is_initial = *value == self.initial;
        if writers.is_empty() && !is_initial {
            return Some(format!(
                "{subject} returned {value}, but nothing could have written {value} by the \
                 time the read returned: no write or cas of {value} began before then, and \
                 the initial value is {}.",
                self.initial
            ));
        }
        // An overwrite that completed before the read began, after every writer of the value.
        let overwrite = witness.iter().chain(history.iter().copied()).find(|o| {
            let (Some(end), Some(set)) = (o.end_time(), sets(o)) else { return false };
            end < read.time
                && set != value
                && writers.iter().all(|w| w.end_time().is_some_and(|e| e < o.time))
        })?;
        let returned = if is_initial {
            format!("{value}, the initial value")
        } else {
            value.to_string()
        };
        let mut text = format!(
            "{subject} returned {returned}, but {} by process {} completed before the read \
             began, and nothing wrote {value} after it",
            phrase(overwrite),
            overwrite.process
        );
        if !writers.is_empty() {
            let names: Vec<String> =
                writers.iter().map(|w| format!("{} by process {}", phrase(w), w.process)).collect();
            text.push_str(&format!(
                ": every write of {value} ({}) completed before {} began",
                names.join(", "),
                phrase(overwrite)
            ));
        }
        text.push('.');
        Some(text)
    }
}
