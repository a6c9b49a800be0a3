//! What a check answers, shared by the models, the search and the
//! report: the verdict, a key's result, a witness, the shape errors, and the
//! type-erased interface every model is checked through. It sits below all
//! of them (it uses only the history), so none imports another in a circle.

use crate::history::Operation;
use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// The answer for a history or for one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Some order of the operations respects real time and the model.
    Linearizable,
    /// No such order exists.
    NotLinearizable,
    /// The step budget ran out before the search could tell.
    Unknown,
}

impl Verdict {
    /// The verdict as written in reports: `linearizable`, `not-linearizable`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable => "not-linearizable",
            Verdict::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str(self.as_str())
    }
}

/// The result for one key.
#[derive(Clone, Debug, Serialize)]
pub struct KeyReport {
    /// The key (`None` for operations without a key).
    pub key: Option<String>,
    /// Operations checked (failed ones are dropped and not counted).
    pub ops: usize,
    /// The key's verdict; `None` if the check stopped before finishing
    /// this key because another key was found non-linearizable.
    pub verdict: Option<Verdict>,
    /// Model steps the search spent on this key, over all rounds.
    pub steps: u64,
}

/// A violation a person can read: operations of one key that cannot be
/// linearized, whatever the key's other operations did, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Witness {
    /// The key the operations touch (`None` for operations without a key).
    pub key: Option<String>,
    /// The operations, in invocation order. An operation that had not
    /// returned when the violation became certain has no completion here.
    pub ops: Vec<Operation>,
    /// Why they cannot be linearized, in words; it names only these operations.
    pub explanation: String,
    /// What the operations show, when it is not that they cannot be
    /// linearized (a transactional model's: "these 2 transactions form a
    /// G-single cycle"); `None` for linearizability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// True if each operation is needed: with any one of them weakened like
    /// the key's other operations, an order exists (1-minimal). False when
    /// the steps allowed for minimising ran out first.
    pub minimal: bool,
}

/// An operation whose shape does not fit the model.
#[derive(Debug, Clone, PartialEq)]
pub enum ShapeError {
    /// The function is not one the model knows.
    UnknownFunction {
        /// The function named in the history.
        f: String,
        /// The functions the model knows.
        allowed: &'static [&'static str],
    },
    /// The invocation's value has the wrong shape.
    BadInput {
        /// The operation's function.
        f: String,
        /// What the model accepts, in words.
        expected: &'static str,
        /// What the history has.
        found: Value,
    },
    /// The `ok` completion's value has the wrong shape.
    BadOutput {
        /// The operation's function.
        f: String,
        /// What the model accepts, in words.
        expected: &'static str,
        /// What the history has.
        found: Value,
    },
    /// The operation has a key, but the model is a single object.
    KeyNotAllowed {
        /// The key in the history.
        key: String,
        /// The keyed model to use instead, if there is one.
        instead: Option<&'static str>,
    },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeError::UnknownFunction { f, allowed } => {
                write!(
                    out,
                    "unknown function {f:?}; allowed: {}",
                    allowed.join(", ")
                )
            }
            ShapeError::BadInput { f, expected, found } => {
                write!(out, "{f} takes {expected} as its value, not {found}")
            }
            ShapeError::BadOutput { f, expected, found } => {
                write!(out, "an ok {f} returns {expected}, not {found}")
            }
            ShapeError::KeyNotAllowed { key, instead } => {
                write!(
                    out,
                    "this model has no keys, but the operation has key {key:?}"
                )?;
                match instead {
                    Some(model) => write!(out, "; use --model {model} for keyed histories"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for ShapeError {}

/// A [`crate::Spec`] with its types erased, so models can live in one registry.
pub(crate) trait KeyChecker: Send + Sync {
    /// Checks one operation's shape.
    fn validate(&self, op: &Operation) -> Result<(), ShapeError>;
    /// True if [`KeyChecker::check_keys`] wants failed operations too (the
    /// analyses of aborted reads, rw-register's and kafka's G1a, need them);
    /// by default they are dropped.
    fn keeps_failed(&self) -> bool {
        false
    }
    /// True if the model reads an `ok` `read`'s list of integers as a set
    /// ([`crate::History::reading_sets`] can then keep it compact).
    fn reads_sets(&self) -> bool {
        false
    }
    /// The property checked, as a report names it (`linearizable`, or a
    /// consistency model such as `serializable`).
    fn property(&self) -> &'static str {
        "linearizable"
    }
    /// Searches the keys' (validated, unfailed) operations, and finds a
    /// witness if `explain`; see [`crate::check`].
    fn check_keys(
        &self,
        keys: &[(Option<&str>, Vec<&Operation>)],
        budget: u64,
        explain: bool,
    ) -> (Vec<KeyReport>, Option<Witness>);
}
