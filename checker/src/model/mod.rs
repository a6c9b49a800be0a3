//! Sequential specifications ("models") and their registry.
//!
//! A model says what one key's operations do when applied one at a time,
//! Porcupine-style: an initial state, and a step that applies an operation
//! to a state, answering the next state or `None` if the operation could not
//! have returned what it returned. The search never looks inside states; it
//! only clones, hashes and compares them.
//!
//! Adding a model is one file implementing [`Spec`] with a `REGISTRATION`
//! constant, plus its line in [`list`]'s table (and a `mod` line).

mod atom;
mod bank;
mod cas_register;
mod counter;
pub mod kafka;
mod knossos;
mod kv;
mod kv_append;
mod list_append;
pub mod maelstrom;
pub mod rw_register;
pub mod set_logs;
mod versioned_kv;

pub(crate) use atom::Atom;

use crate::history::Operation;
pub use crate::outcome::ShapeError;
use serde_json::Value;
use std::fmt;
use std::hash::Hash;

/// A sequential specification of one key's behaviour.
///
/// Keys are always checked apart (P-compositionality); a model of a single
/// object rejects keyed operations in `prepare`.
///
/// Contract: `step` with an operation whose output is unknown (`info`, or
/// never completed) must always succeed. An operation of unknown outcome may
/// then be placed last, where it is harmless, which is what "it may not have
/// happened" means, and a history prefix stays checkable.
pub trait Spec: Send + Sync + 'static {
    /// The state after some operations; hashed and compared by the search's cache.
    type State: Clone + Eq + Hash + Send + fmt::Debug;
    /// One operation in compact form: function, input and (unless unknown)
    /// output. Equal operations must behave the same.
    type Op: PartialEq + Send + Sync + fmt::Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Converts one history operation (its output is `op.output()`, `None`
    /// if unknown) into compact form, or says why its shape is wrong.
    fn prepare(&self, op: &Operation) -> Result<Self::Op, ShapeError>;

    /// Applies `op` to `state`: the next state, or `None` if `op` could not
    /// have returned its output from `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// Heap bytes `state` holds that no earlier state shares (its own
    /// allocations, not `size_of`): the search's memo counts them against
    /// its byte bound. The default, 0, is right for states without heap
    /// data or whose heap data is shared (an `Arc` of the history's value).
    fn state_bytes(&self, state: &Self::State) -> usize {
        let _ = state;
        0
    }

    /// True if `op` never changes the state: `step` answers the same state
    /// or `None`, whatever the state (a read). The search then linearizes it
    /// as soon as it is legal, without trying other orders around it.
    fn read_only(&self, op: &Self::Op) -> bool {
        let _ = op;
        false
    }

    /// For operations of unknown outcome (`weak`, in compact form) that
    /// could be added to the operations `kept`: which could change whether
    /// `kept` can be linearized. `weak` is in order of invocation, earliest
    /// first; a weakened operation may take effect at any moment after its
    /// invocation, or not at all. Witnesses use it to ignore the rest of a
    /// key's history when proving that a small set fails whatever the rest
    /// did. Answering `true` for every one is always right, only slower.
    fn can_matter(&self, kept: &[&Self::Op], weak: &[&Self::Op]) -> Vec<bool> {
        let _ = kept;
        vec![true; weak.len()]
    }

    /// The operations of `history` (one key's) that could have given
    /// `history[read]` the value it returned: for a read, every operation
    /// that writes that value and began before the read returned; empty for
    /// an operation that reads nothing (the default). A witness holds these
    /// for each read it holds, so a reader can check it on its own.
    fn sources(&self, history: &[&Operation], read: usize) -> Vec<usize> {
        let _ = (history, read);
        Vec::new()
    }

    /// Explains in words why the operations `history` of one key cannot be
    /// linearized, given `suspects` (indices into `history` of a small set
    /// that cannot), or `None` to fall back to a generic sentence. The
    /// explanation's claims must hold in the whole of `history`, and the
    /// operations it cites must by themselves fail to linearize.
    fn explain(&self, history: &[&Operation], suspects: &[usize]) -> Option<Explanation> {
        let _ = (history, suspects);
        None
    }
}

/// A model's account of a violation: a sentence, and the operations it cites.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The violation in words, e.g. "read of x by process 3 returned 1, but ...".
    pub text: String,
    /// Indices (into the key's operations) of the operations the sentence cites.
    pub ops: Vec<usize>,
}

/// A model that cannot be built.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelError {
    /// No model has this name.
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The initial value has the wrong shape for the model.
    BadInitial {
        /// The model's name.
        model: &'static str,
        /// What the model accepts, in words.
        expected: &'static str,
        /// What was given.
        found: Value,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Unknown { name } => {
                let names: Vec<&str> = list().iter().map(|r| r.name).collect();
                write!(out, "unknown model {name:?}; allowed: {}", names.join(", "))
            }
            ModelError::BadInitial {
                model,
                expected,
                found,
            } => {
                write!(
                    out,
                    "the initial value of {model} must be {expected}, not {found}"
                )
            }
        }
    }
}

impl std::error::Error for ModelError {}

/// One line of the model registry: a name, a one-line description, a constructor.
#[derive(Clone, Copy)]
pub struct Registration {
    /// The name users pass to `--model`.
    pub name: &'static str,
    /// What the model is, in one line (for `dsim list`).
    pub description: &'static str,
    build: fn(Option<&Value>) -> Result<Model, ModelError>,
}

impl Registration {
    /// A registry line; `build` makes the model from an optional initial value.
    pub const fn new(
        name: &'static str,
        description: &'static str,
        build: fn(Option<&Value>) -> Result<Model, ModelError>,
    ) -> Registration {
        Registration {
            name,
            description,
            build,
        }
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.debug_struct("Registration")
            .field("name", &self.name)
            .finish()
    }
}

/// Every model, in the order `dsim list` shows them.
static REGISTRY: &[Registration] = &[
    cas_register::REGISTRATION,
    knossos::MULTI_REGISTER,
    knossos::MUTEX,
    knossos::SET,
    kv::REGISTRATION,
    kv_append::REGISTRATION,
    list_append::REGISTRATION,
    counter::REGISTRATION,
    bank::REGISTRATION,
    versioned_kv::REGISTRATION,
    maelstrom::SET_FULL,
    maelstrom::G_SET,
    maelstrom::UNIQUE_IDS,
    maelstrom::G_COUNTER,
    maelstrom::PN_COUNTER,
    rw_register::REGISTRATION,
    kafka::KAFKA,
];

/// The registered models, with their one-line descriptions.
pub fn list() -> &'static [Registration] {
    REGISTRY
}

/// Builds the model called `name`, with `initial` as its initial value
/// (the model's default when `None`).
pub fn by_name(name: &str, initial: Option<&Value>) -> Result<Model, ModelError> {
    match REGISTRY.iter().find(|r| r.name == name) {
        Some(registration) => (registration.build)(initial),
        None => Err(ModelError::Unknown {
            name: name.to_string(),
        }),
    }
}

/// A model ready to check histories against: a name and a type-erased [`Spec`].
pub struct Model {
    name: &'static str,
    pub(crate) spec: Box<dyn crate::outcome::KeyChecker>,
}

impl Model {
    /// Wraps a specification under a name (the registry does this for its models).
    pub fn new<S: Spec>(name: &'static str, spec: S) -> Model {
        Model {
            name,
            spec: Box::new(spec),
        }
    }

    /// The model's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// True if the model reads an `ok` `read`'s list of integers as a set
    /// (set-full, g-set): its histories can be read with
    /// [`crate::History::reading_sets`] (or [`crate::EdnOptions`]'s
    /// `reads_as_sets`), which keeps such reads compact.
    pub fn reads_sets(&self) -> bool {
        self.spec.reads_sets()
    }
}

impl fmt::Debug for Model {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.debug_struct("Model").field("name", &self.name).finish()
    }
}

/// Shape helpers shared by the model files.
pub(crate) mod shape {
    use super::ShapeError;
    use crate::history::Operation;
    use serde_json::Value;

    /// Fails unless the invocation value is null (functions without input).
    pub fn no_input(op: &Operation) -> Result<(), ShapeError> {
        match op.value {
            Value::Null => Ok(()),
            _ => Err(bad_input(op, "no value (null)")),
        }
    }

    /// Fails unless the `ok` output is null or repeats the input (functions
    /// without output, whose completion conventionally echoes the input).
    pub fn echo_output(op: &Operation) -> Result<(), ShapeError> {
        match op.output() {
            None | Some(Value::Null) => Ok(()),
            Some(out) if *out == op.value => Ok(()),
            Some(out) => Err(bad_output(op, out, "null or its input again")),
        }
    }

    /// The invocation value as an integer.
    pub fn int_input(op: &Operation, expected: &'static str) -> Result<i64, ShapeError> {
        op.value.as_i64().ok_or_else(|| bad_input(op, expected))
    }

    /// A `txn` operation's micro-operations and, when it completed with
    /// output, the output's micro-operations (as many as the input's): the
    /// shape rw-register and list-append share. `micro` describes a valid
    /// input, `filled` a valid output.
    pub fn txn_micros<'o>(
        op: &'o Operation,
        micro: &'static str,
        filled: &'static str,
    ) -> Result<(&'o [Value], Option<&'o [Value]>), ShapeError> {
        if op.f != "txn" {
            return Err(unknown(op, &["txn"]));
        }
        let micros = op.value.as_array().ok_or_else(|| bad_input(op, micro))?;
        let outputs = match op.output() {
            None => None,
            Some(Value::Array(out)) if out.len() == micros.len() => Some(out.as_slice()),
            Some(other) => return Err(bad_output(op, other, filled)),
        };
        Ok((micros, outputs))
    }

    /// A wrong-input error for `op`.
    pub fn bad_input(op: &Operation, expected: &'static str) -> ShapeError {
        ShapeError::BadInput {
            f: op.f.clone(),
            expected,
            found: op.value.clone(),
        }
    }

    /// A wrong-output error for `op`.
    pub fn bad_output(op: &Operation, found: &Value, expected: &'static str) -> ShapeError {
        ShapeError::BadOutput {
            f: op.f.clone(),
            expected,
            found: found.clone(),
        }
    }

    /// An unknown-function error for `op`.
    pub fn unknown(op: &Operation, allowed: &'static [&'static str]) -> ShapeError {
        ShapeError::UnknownFunction {
            f: op.f.clone(),
            allowed,
        }
    }
}
