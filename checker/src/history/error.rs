//! Malformed histories: what is wrong, and on which line.

use serde_json::Value;
use std::fmt;

/// What is wrong with a history event.
#[derive(Debug)]
pub enum HistoryErrorKind {
    /// The line is not a JSON object of the event shape.
    Json(serde_json::Error),
    /// `type` is not one of invoke, ok, fail, info.
    UnknownType(String),
    /// `key` is neither a string nor an integer.
    BadKey(Value),
    /// A completion for a process with no operation in flight.
    NoInvocation {
        /// The process named by the completion.
        process: u64,
    },
    /// An invocation for a process that already has an operation in flight.
    Busy {
        /// The busy process.
        process: u64,
        /// Where its operation was invoked, when known.
        since_line: Option<usize>,
    },
    /// An invocation for a process whose earlier operation ended in `info`.
    Retired {
        /// The process that was reused.
        process: u64,
    },
    /// A completion whose `f` or `key` differs from its invocation's.
    Mismatch {
        /// Which field differs: `f` or `key`.
        field: &'static str,
        /// The invocation's value of that field.
        invoked: String,
        /// The completion's value of that field.
        completed: String,
    },
    /// EDN text that does not parse (Jepsen's `history.edn`).
    Edn {
        /// What is wrong, e.g. "unclosed map".
        message: String,
    },
    /// An EDN event field with a value of the wrong shape, or missing.
    Field {
        /// The field, e.g. `:type`.
        field: &'static str,
        /// What is allowed, in words.
        expected: &'static str,
        /// What the event has (`missing` if absent).
        found: String,
    },
    /// A completion earlier than its invocation.
    TimeTravel {
        /// The invocation time.
        invoked: u64,
        /// The (earlier) completion time.
        completed: u64,
    },
}

/// A malformed history, with the 1-based line of the offending event when known.
#[derive(Debug)]
pub struct HistoryError {
    /// The 1-based line of the event, if the history came from text.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: HistoryErrorKind,
}

impl fmt::Display for HistoryErrorKind {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryErrorKind::Json(e) => {
                // Each line is parsed on its own, so serde's "at line 1" is
                // noise; keep its message and column.
                let text = e.to_string();
                let message = text.split(" at line ").next().unwrap_or(&text);
                write!(
                    out,
                    "{message} (column {}); an event looks like ",
                    e.column()
                )?;
                out.write_str(
                    r#"{"process":0,"type":"invoke","f":"write","key":"x","value":3,"time":1000}"#,
                )
            }
            HistoryErrorKind::UnknownType(t) => {
                write!(out, "unknown type {t:?}; allowed: invoke, ok, fail, info")
            }
            HistoryErrorKind::BadKey(k) => {
                write!(out, "key {k} is neither a string nor an integer")
            }
            HistoryErrorKind::NoInvocation { process } => {
                write!(
                    out,
                    "completion for process {process}, which has no operation in flight"
                )
            }
            HistoryErrorKind::Busy {
                process,
                since_line,
            } => {
                write!(
                    out,
                    "process {process} invokes an operation while another is in flight"
                )?;
                match since_line {
                    Some(line) => write!(out, " (invoked on line {line})"),
                    None => Ok(()),
                }
            }
            HistoryErrorKind::Retired { process } => write!(
                out,
                "process {process} is reused after an info completion; an info operation \
                 stays in flight to the end of the history, so use a new process id"
            ),
            HistoryErrorKind::Mismatch {
                field,
                invoked,
                completed,
            } => write!(
                out,
                "completion has {field} {completed} but its invocation has {field} {invoked}"
            ),
            HistoryErrorKind::Edn { message } => write!(out, "not EDN: {message}"),
            HistoryErrorKind::Field {
                field,
                expected,
                found,
            } => write!(out, "{field} is {found}; allowed: {expected}"),
            HistoryErrorKind::TimeTravel { invoked, completed } => write!(
                out,
                "completion time {completed} is before its invocation time {invoked}"
            ),
        }
    }
}

impl fmt::Display for HistoryError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(out, "line {line}: {}", self.kind),
            None => write!(out, "{}", self.kind),
        }
    }
}

impl std::error::Error for HistoryError {}
