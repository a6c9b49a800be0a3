//! `cas-register`: one register with read, write and compare-and-set.
//!
//! Shapes: `read` has value `null` and returns the value read; `write v`
//! returns `null` or `v`; `cas [old, new]` returns `null` or `[old, new]`.
//! An `ok` cas succeeded (the register held `old`); a cas that found another
//! value is a `fail` and is dropped. Values are any JSON; the initial value
//! defaults to `null`. The `kv` model is this register, once per key.

use super::shape::{bad_input, echo_output, no_input, unknown};
use super::{Atom, Explanation, Model, Registration, ShapeError, Spec};
use crate::history::Operation;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

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

impl RegisterOp {
    /// The value this operation needs to find in the register (a read's
    /// value, a cas's old one); a write finds nothing.
    fn finds(&self) -> Option<&Atom> {
        match self {
            RegisterOp::Read(value) => value.as_ref(),
            RegisterOp::Cas { old, .. } => Some(old),
            RegisterOp::Write(_) => None,
        }
    }
}

impl CasRegister {
    /// A register starting at `initial` (null if `None`).
    pub(crate) fn new(initial: Option<&Value>, keyed: bool) -> CasRegister {
        let initial = initial.cloned().unwrap_or(Value::Null);
        CasRegister {
            initial_atom: Atom::from_json(&initial),
            initial,
            keyed,
        }
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
            return Err(ShapeError::KeyNotAllowed {
                key: key.clone(),
                instead: Some("kv"),
            });
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
                Ok(RegisterOp::Cas {
                    old: Atom::from_json(old),
                    new: Atom::from_json(new),
                    known,
                })
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

    /// A write of unknown outcome matters only if it writes a value some
    /// operation needs to find (a read's result, a cas's `old`), and a cas
    /// of unknown outcome only if its `new` is such a value (then its `old`
    /// is needed too). Any other one sets a value nothing accepts until a
    /// kept write or cas overwrites it, so leaving it out changes nothing.
    ///
    /// Of weakened operations that are alike (writes of one value, or cas
    /// of one pair), no more matter than there are operations that find
    /// the value they set (kept reads and cas of it, and the weakened cas
    /// that matter): in any order, one that helps is followed by its own
    /// such operation before the register changes again, and the
    /// earliest-invoked of them can stand in for whichever ones an order
    /// uses (each may go wherever a later-invoked one can). So only that
    /// many, earliest first, are kept; with few values and many writers
    /// this is most of the saving.
    fn can_matter(&self, kept: &[&RegisterOp], weak: &[&RegisterOp]) -> Vec<bool> {
        // Asked "is this in?" only, never iterated: its order reaches nothing.
        let mut needed: HashSet<&Atom> = kept.iter().filter_map(|op| op.finds()).collect();
        let mut matter = vec![false; weak.len()];
        loop {
            let mut grew = false;
            for (k, op) in weak.iter().enumerate() {
                if matter[k] {
                    continue;
                }
                matter[k] = match op {
                    RegisterOp::Write(value) => needed.contains(value),
                    RegisterOp::Cas { old, new, .. } if needed.contains(new) => {
                        needed.insert(old);
                        true
                    }
                    _ => false,
                };
                grew |= matter[k];
            }
            if !grew {
                cap_blind_writes(kept, weak, &mut matter);
                return matter;
            }
        }
    }

    fn sources(&self, history: &[&Operation], read: usize) -> Vec<usize> {
        let op = history[read];
        let (Some(value), Some(end)) = (op.output().filter(|_| op.f == "read"), op.end_time())
        else {
            return Vec::new();
        };
        (0..history.len())
            .filter(|&w| {
                let writer = history[w];
                !writer.failed() && writer.time <= end && sets(writer) == Some(value)
            })
            .collect()
    }

    fn explain(&self, history: &[&Operation], suspects: &[usize]) -> Option<Explanation> {
        suspects
            .iter()
            .find_map(|&r| self.explain_read(history, r, suspects))
    }
}

/// Keeps, of the weakened operations that `matter` and are alike (writes
/// of one value, or cas of one pair), only the earliest as many as there
/// are operations that find the value they set (see
/// [`CasRegister::can_matter`]).
fn cap_blind_writes(kept: &[&RegisterOp], weak: &[&RegisterOp], matter: &mut [bool]) {
    // Both maps are looked up by key, never iterated: their order reaches
    // nothing.
    let mut finders: HashMap<&Atom, usize> = HashMap::new();
    let weak_finders = weak.iter().zip(matter.iter()).filter(|(_, m)| **m);
    for op in kept.iter().chain(weak_finders.map(|(op, _)| op)) {
        if let Some(value) = op.finds() {
            *finders.entry(value).or_default() += 1;
        }
    }
    let mut used: HashMap<(Option<&Atom>, &Atom), usize> = HashMap::new();
    for (op, m) in weak.iter().zip(matter.iter_mut()) {
        let alike = match op {
            RegisterOp::Write(value) => (None, value),
            RegisterOp::Cas { old, new, .. } => (Some(old), new),
            RegisterOp::Read(_) => continue,
        };
        if *m {
            let count = used.entry(alike).or_default();
            *count += 1;
            *m = *count <= finders.get(alike.1).copied().unwrap_or(0);
        }
    }
}

/// Writers an explanation names before saying how many more there are.
const NAMED: usize = 6;

/// The value an operation may set the register to, if it writes.
fn sets(op: &Operation) -> Option<&Value> {
    match op.f.as_str() {
        "write" => Some(&op.value),
        "cas" => cas_pair(&op.value).map(|(_, new)| new),
        _ => None,
    }
}

/// The value an `ok` operation shows the register held: what it wrote, or what it read.
fn observed(op: &Operation) -> Option<&Value> {
    match op.f.as_str() {
        "read" => op.output(),
        _ => op.output().and(sets(op)),
    }
}

/// "write x=2", "cas x 1->2", "read x" (or "write 2" without a key).
fn phrase(op: &Operation) -> String {
    let key = op.key.as_deref().map(|k| format!("{k}="));
    match (op.f.as_str(), cas_pair(&op.value)) {
        ("cas", Some((old, new))) => match &op.key {
            Some(k) => format!("cas {k} {old}->{new}"),
            None => format!("cas {old}->{new}"),
        },
        ("read", _) => match &op.key {
            Some(k) => format!("read of {k} returning {}", show(op.output())),
            None => format!("read returning {}", show(op.output())),
        },
        _ => format!("{} {}{}", op.f, key.unwrap_or_default(), op.value),
    }
}

fn show(value: Option<&Value>) -> String {
    value.map_or("?".to_string(), Value::to_string)
}

impl CasRegister {
    /// Proves the read `history[r]` wrong in words, if it read a value that
    /// was impossible or stale; every claim is checked against the key's
    /// whole history, so the sentence is a proof, not a guess.
    fn explain_read(
        &self,
        history: &[&Operation],
        r: usize,
        suspects: &[usize],
    ) -> Option<Explanation> {
        let read = history[r];
        let value = read.output().filter(|_| read.f == "read")?;
        let read_end = read.end_time()?;
        let subject = match &read.key {
            Some(k) => format!("read of {k} by process {}", read.process),
            None => format!("read by process {}", read.process),
        };
        // Writers that could come before the read in some order.
        let writers: Vec<usize> = (0..history.len())
            .filter(|&w| {
                let op = history[w];
                !op.failed() && op.time <= read_end && sets(op) == Some(value)
            })
            .collect();
        let is_initial = *value == self.initial;
        if writers.is_empty() && !is_initial {
            let text = format!(
                "{subject} returned {value}, but nothing could have written {value} by the \
                 time the read returned: no write or cas of {value} began before then, and \
                 the initial value is {}.",
                self.initial
            );
            return Some(Explanation { text, ops: vec![r] });
        }
        // An operation that showed another value (by writing or reading
        // it), completed before the read began, and began after every
        // writer of the read's value had completed. Suspects first.
        // Writes are preferred: a read needs its own writers cited too.
        let candidates = || suspects.iter().copied().chain(0..history.len());
        let fits = |o: &usize| {
            let op = history[*o];
            let (Some(end), Some(seen)) = (op.end_time(), observed(op)) else {
                return false;
            };
            end < read.time
                && seen != value
                && writers
                    .iter()
                    .all(|&w| history[w].end_time().is_some_and(|e| e < op.time))
        };
        let o = candidates()
            .filter(|o| history[*o].f != "read")
            .find(fits)
            .or_else(|| candidates().find(fits))?;
        let overwrite = history[o];
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
            // Name a few; the witness lists them all.
            let mut names: Vec<String> = writers
                .iter()
                .take(NAMED)
                .map(|&w| format!("{} by process {}", phrase(history[w]), history[w].process))
                .collect();
            if writers.len() > NAMED {
                names.push(format!("and {} more", writers.len() - NAMED));
            }
            text.push_str(&format!(
                ": every write of {value} ({}) completed before {} began",
                names.join(", "),
                phrase(overwrite)
            ));
        }
        text.push('.');
        let mut ops = writers;
        ops.extend([o, r]);
        if overwrite.f == "read" {
            // Whatever wrote the value the other read saw, before it returned.
            let seen = observed(overwrite);
            let end = overwrite.end_time();
            ops.extend((0..history.len()).filter(|&w| {
                let op = history[w];
                !op.failed() && sets(op) == seen && end.is_some_and(|e| op.time <= e)
            }));
        }
        ops.sort_unstable();
        ops.dedup();
        Some(Explanation { text, ops })
    }
}
