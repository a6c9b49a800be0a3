//! Knossos's other models, checked for linearizability:
//!
//! - `mutex`: `acquire` and `release` (no values); an acquire succeeds only
//!   when the lock is free, a release only when it is held. Starts free.
//! - `multi-register`: `txn` of micro-operations `["read", k, v]` and
//!   `["write", k, v]` (also `r` / `w`; in EDN `[:read :x nil]`), applied
//!   at one moment; a read of `nil` is a read of unknown value, as Knossos
//!   has it. Every register starts unwritten (reads `nil`).
//! - `set`: `add x` (returns null or `x`) and `read`, which returns the
//!   whole set (a list, in any order); starts empty.

use super::shape::{bad_input, bad_output, txn_micros, unknown};
use super::{Atom, Model, ModelError, Registration, ShapeError, Spec};
use crate::history::Operation;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Registration of `mutex`.
pub(crate) const MUTEX: Registration = Registration::new(
    "mutex",
    "Knossos mutex: acquire, release (no values); a lock held by at most one at a time",
    |i| no_initial(i, "mutex").map(|()| Model::new("mutex", Mutex)),
);

/// Registration of `multi-register`.
pub(crate) const MULTI_REGISTER: Registration = Registration::new(
    "multi-register",
    "Knossos multi-register: txn of [\"read\", k, v] and [\"write\", k, v] over several registers, atomically; a read of nil is unknown",
    |i| no_initial(i, "multi-register").map(|()| Model::new("multi-register", MultiRegister)),
);

/// Registration of `set`.
pub(crate) const SET: Registration = Registration::new(
    "set",
    "Knossos set: add x, read → the whole set (a list, any order); linearizable",
    |i| no_initial(i, "set").map(|()| Model::new("set", Set)),
);

fn no_initial(initial: Option<&Value>, model: &'static str) -> Result<(), ModelError> {
    match initial {
        None | Some(Value::Null) => Ok(()),
        Some(v) => Err(ModelError::BadInitial {
            model,
            expected: "absent (the model starts empty)",
            found: v.clone(),
        }),
    }
}

#[derive(Debug)]
struct Mutex;

/// An acquire or a release, and whether it is known to have succeeded.
#[derive(Debug, PartialEq)]
enum Lock {
    Acquire(bool),
    Release(bool),
}

impl Spec for Mutex {
    type State = bool;
    type Op = Lock;

    fn init(&self) -> bool {
        false
    }

    fn prepare(&self, op: &Operation) -> Result<Lock, ShapeError> {
        let known = op.output().is_some();
        match op.f.as_str() {
            "acquire" => Ok(Lock::Acquire(known)),
            "release" => Ok(Lock::Release(known)),
            _ => Err(unknown(op, &["acquire", "release"])),
        }
    }

    fn step(&self, held: &bool, op: &Lock) -> Option<bool> {
        match op {
            Lock::Acquire(_) if !held => Some(true),
            Lock::Release(_) if *held => Some(false),
            // An operation of unknown outcome may not have happened.
            Lock::Acquire(false) | Lock::Release(false) => Some(*held),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct MultiRegister;

/// One micro-operation: a read (`None`: unknown value) or a write.
#[derive(Debug, PartialEq)]
enum Micro {
    Read(Atom, Option<Atom>),
    Write(Atom, Atom),
}

/// The heap bytes of a B-tree of `len` entries of `entry` bytes: std's
/// nodes hold at most 11 entries (at least 5 but the root's) plus a
/// header; counted at the fullest, a lower bound.
fn tree_bytes(len: usize, entry: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let nodes = len.div_ceil(11);
    nodes * (11 * entry + 16)
}

const MICRO: &str = "a list of micro-operations [\"read\", key, null] and [\"write\", key, value]";

impl Spec for MultiRegister {
    type State = BTreeMap<Atom, Atom>;
    type Op = Vec<Micro>;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn state_bytes(&self, state: &Self::State) -> usize {
        // Each state is a map of its own (the atoms' text is shared).
        tree_bytes(state.len(), 2 * std::mem::size_of::<Atom>())
    }

    fn prepare(&self, op: &Operation) -> Result<Vec<Micro>, ShapeError> {
        let (micros, outputs) = txn_micros(
            op,
            MICRO,
            "the micro-operations again, each read's value filled in",
        )?;
        let mut out = Vec::with_capacity(micros.len());
        for (i, micro) in micros.iter().enumerate() {
            let Some([f, k, v]) = micro.as_array().map(Vec::as_slice) else {
                return Err(bad_input(op, MICRO));
            };
            let key = Atom::from_json(k);
            match f.as_str() {
                Some("read" | "r") => {
                    let read = match outputs.map(|o| &o[i]) {
                        None => None,
                        Some(done) => match done.as_array().map(Vec::as_slice) {
                            Some([_, _, Value::Null]) => None,
                            Some([_, _, v]) => Some(Atom::from_json(v)),
                            _ => return Err(bad_output(op, done, "[\"read\", key, value]")),
                        },
                    };
                    out.push(Micro::Read(key, read));
                }
                Some("write" | "w") => out.push(Micro::Write(key, Atom::from_json(v))),
                _ => return Err(bad_input(op, MICRO)),
            }
        }
        Ok(out)
    }

    fn read_only(&self, op: &Vec<Micro>) -> bool {
        op.iter().all(|m| matches!(m, Micro::Read(..)))
    }

    fn step(&self, state: &Self::State, op: &Vec<Micro>) -> Option<Self::State> {
        let mut next = state.clone();
        for m in op {
            match m {
                Micro::Write(k, v) => {
                    next.insert(k.clone(), v.clone());
                }
                Micro::Read(k, Some(v)) if next.get(k) != Some(v) => return None,
                Micro::Read(..) => {}
            }
        }
        Some(next)
    }
}

#[derive(Debug)]
struct Set;

#[derive(Debug, PartialEq)]
enum SetOp {
    Add(Atom),
    Read(Option<BTreeSet<Atom>>),
}

impl Spec for Set {
    type State = BTreeSet<Atom>;
    type Op = SetOp;

    fn init(&self) -> Self::State {
        BTreeSet::new()
    }

    fn state_bytes(&self, state: &Self::State) -> usize {
        tree_bytes(state.len(), std::mem::size_of::<Atom>())
    }

    fn prepare(&self, op: &Operation) -> Result<SetOp, ShapeError> {
        match op.f.as_str() {
            "add" => Ok(SetOp::Add(Atom::from_json(&op.value))),
            "read" => match op.output() {
                None => Ok(SetOp::Read(None)),
                Some(Value::Array(items)) => Ok(SetOp::Read(Some(
                    items.iter().map(Atom::from_json).collect(),
                ))),
                Some(other) => Err(bad_output(op, other, "the set read, as a list")),
            },
            _ => Err(unknown(op, &["add", "read"])),
        }
    }

    fn read_only(&self, op: &SetOp) -> bool {
        matches!(op, SetOp::Read(_))
    }

    fn step(&self, state: &Self::State, op: &SetOp) -> Option<Self::State> {
        match op {
            SetOp::Add(x) => {
                let mut next = state.clone();
                next.insert(x.clone());
                Some(next)
            }
            SetOp::Read(Some(seen)) if seen != state => None,
            SetOp::Read(_) => Some(state.clone()),
        }
    }
}
