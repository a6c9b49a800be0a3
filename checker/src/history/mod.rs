//! Histories: the operations clients invoked, and what came back.
//!
//! A history is read from (and written to) JSON Lines, one event per line,
//! read from a Jepsen `history.edn` ([`History::parse_edn`]),
//! or built event by event with [`History::invoke`] and [`History::complete`].
//! Either way the same rules hold, so a history that exists is well formed:
//! a process runs one operation at a time, every completion has an
//! invocation, and a process whose operation ended in `info` is never
//! reused (its operation may still take effect, so it is still in flight).

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

mod edn;
mod error;

pub use error::{HistoryError, HistoryErrorKind};

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CompletionKind {
    /// It took effect and returned its value.
    Ok,
    /// It definitely did not take effect; the checker drops it.
    Fail,
    /// Its outcome is unknown: it may take effect at any time after its invocation.
    Info,
}

impl CompletionKind {
    /// The `type` word of this kind in the JSON Lines format.
    pub fn as_str(self) -> &'static str {
        match self {
            CompletionKind::Ok => "ok",
            CompletionKind::Fail => "fail",
            CompletionKind::Info => "info",
        }
    }
}

/// The end of an operation: how it ended, the value that came back, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// How the operation ended.
    pub kind: CompletionKind,
    /// The value on the completion event (the output, for `ok`).
    pub value: Value,
    /// When the completion was observed.
    pub time: u64,
    /// The 1-based line of the completion event, when read from a file.
    pub line: Option<usize>,
}

/// One client operation: its invocation and, if it came, its completion.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// The client process that ran it.
    pub process: u64,
    /// The function, e.g. `read`, `write`, `cas`.
    pub f: String,
    /// The key it touched; `None` for a single-register history.
    pub key: Option<String>,
    /// The value on the invocation event (the input).
    pub value: Value,
    /// When it was invoked.
    pub time: u64,
    /// How it ended; `None` if it never completed (treated like `info`).
    pub completion: Option<Completion>,
    /// The 1-based line of the invocation event, when read from a file.
    pub line: Option<usize>,
}

impl Operation {
    /// The output, if the operation completed `ok`.
    pub fn output(&self) -> Option<&Value> {
        match &self.completion {
            Some(c) if c.kind == CompletionKind::Ok => Some(&c.value),
            _ => None,
        }
    }

    /// True if the operation definitely did not happen (`fail`).
    pub fn failed(&self) -> bool {
        matches!(&self.completion, Some(c) if c.kind == CompletionKind::Fail)
    }

    /// The end of its interval: the `ok` time, or `None` if open to the end
    /// of the history (`info`, or never completed).
    pub fn end_time(&self) -> Option<u64> {
        self.output().and(self.completion.as_ref().map(|c| c.time))
    }
}

/// One event of the JSON Lines format, as written in a file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    process: u64,
    #[serde(rename = "type")]
    kind: String,
    f: String,
    #[serde(default)]
    key: Option<Value>,
    #[serde(default)]
    value: Value,
    time: u64,
}

/// One event to write, in the format's field order.
#[derive(Serialize)]
struct OutEvent<'a> {
    process: u64,
    #[serde(rename = "type")]
    kind: &'a str,
    f: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    value: &'a Value,
    time: u64,
}

/// A reference to one event: an operation's invocation or its completion.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Event {
    Invoke(usize),
    Complete(usize),
}

/// A well-formed history: operations in invocation order, plus the order
/// in which their events happened (so it can be written back unchanged).
#[derive(Clone, Debug, Default)]
pub struct History {
    ops: Vec<Operation>,
    events: Vec<Event>,
    in_flight: BTreeMap<u64, usize>,
    retired: BTreeSet<u64>,
}

impl History {
    /// An empty history, to be filled with [`History::invoke`] and [`History::complete`].
    pub fn new() -> History {
        History::default()
    }

    /// The operations, in invocation order.
    pub fn operations(&self) -> &[Operation] {
        &self.ops
    }

    /// Records an invocation; returns the operation's index.
    pub fn invoke(
        &mut self,
        process: u64,
        f: impl Into<String>,
        key: Option<String>,
        value: Value,
        time: u64,
    ) -> Result<usize, HistoryError> {
        self.invoke_at(process, f.into(), key, value, time, None)
    }

    /// Records the completion of `process`'s operation in flight; returns its index.
    pub fn complete(
        &mut self,
        process: u64,
        kind: CompletionKind,
        value: Value,
        time: u64,
    ) -> Result<usize, HistoryError> {
        self.complete_at(process, kind, value, time, None)
    }

    /// Builds a history from whole operations, ordering their events by time
    /// (an invocation before a completion at the same time) and checking the
    /// same rules as the event-by-event builder.
    pub fn from_ops(ops: Vec<Operation>) -> Result<History, HistoryError> {
        let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            events.push((op.time, 0, i));
            if let Some(c) = &op.completion {
                events.push((c.time, 1, i));
            }
        }
        events.sort_unstable();
        let mut history = History::new();
        for (_, phase, i) in events {
            let op = &ops[i];
            if phase == 0 {
                let f = op.f.clone();
                history.invoke_at(
                    op.process,
                    f,
                    op.key.clone(),
                    op.value.clone(),
                    op.time,
                    op.line,
                )?;
            } else if let Some(c) = &op.completion {
                history.complete_at(op.process, c.kind, c.value.clone(), c.time, c.line)?;
            }
        }
        Ok(history)
    }

    /// Parses the JSON Lines format; blank lines are skipped.
    pub fn parse_jsonl(text: &str) -> Result<History, HistoryError> {
        let mut history = History::new();
        for (index, line_text) in text.lines().enumerate() {
            if line_text.trim().is_empty() {
                continue;
            }
            let line = Some(index + 1);
            let error = |kind| HistoryError { line, kind };
            let raw: RawEvent =
                serde_json::from_str(line_text).map_err(|e| error(HistoryErrorKind::Json(e)))?;
            let key = match raw.key {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s),
                Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
                Some(other) => return Err(error(HistoryErrorKind::BadKey(other))),
            };
            let kind = match raw.kind.as_str() {
                "invoke" => None,
                "ok" => Some(CompletionKind::Ok),
                "fail" => Some(CompletionKind::Fail),
                "info" => Some(CompletionKind::Info),
                _ => return Err(error(HistoryErrorKind::UnknownType(raw.kind))),
            };
            match kind {
                None => history.invoke_at(raw.process, raw.f, key, raw.value, raw.time, line)?,
                Some(kind) => {
                    let index =
                        history.complete_at(raw.process, kind, raw.value, raw.time, line)?;
                    history.check_echo(index, &raw.f, key.as_deref(), line)?
                }
            };
        }
        Ok(history)
    }

    /// Writes the history as JSON Lines, events in the order they happened.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for event in &self.events {
            let (op, kind, value, time) = match *event {
                Event::Invoke(i) => (&self.ops[i], "invoke", &self.ops[i].value, self.ops[i].time),
                Event::Complete(i) => {
                    let op = &self.ops[i];
                    match &op.completion {
                        Some(c) => (op, c.kind.as_str(), &c.value, c.time),
                        None => continue,
                    }
                }
            };
            let line = OutEvent {
                process: op.process,
                kind,
                f: &op.f,
                key: op.key.as_deref(),
                value,
                time,
            };
            // Serializing a struct of strings, integers and a Value cannot fail.
            if let Ok(text) = serde_json::to_string(&line) {
                out.push_str(&text);
                out.push('\n');
            }
        }
        out
    }

    fn invoke_at(
        &mut self,
        process: u64,
        f: String,
        key: Option<String>,
        value: Value,
        time: u64,
        line: Option<usize>,
    ) -> Result<usize, HistoryError> {
        let error = |kind| HistoryError { line, kind };
        if let Some(&busy) = self.in_flight.get(&process) {
            let since_line = self.ops[busy].line;
            return Err(error(HistoryErrorKind::Busy {
                process,
                since_line,
            }));
        }
        if self.retired.contains(&process) {
            return Err(error(HistoryErrorKind::Retired { process }));
        }
        let index = self.ops.len();
        self.ops.push(Operation {
            process,
            f,
            key,
            value,
            time,
            completion: None,
            line,
        });
        self.in_flight.insert(process, index);
        self.events.push(Event::Invoke(index));
        Ok(index)
    }

    fn complete_at(
        &mut self,
        process: u64,
        kind: CompletionKind,
        value: Value,
        time: u64,
        line: Option<usize>,
    ) -> Result<usize, HistoryError> {
        let error = |kind| HistoryError { line, kind };
        let Some(index) = self.in_flight.remove(&process) else {
            return Err(error(HistoryErrorKind::NoInvocation { process }));
        };
        let op = &mut self.ops[index];
        if time < op.time {
            return Err(error(HistoryErrorKind::TimeTravel {
                invoked: op.time,
                completed: time,
            }));
        }
        op.completion = Some(Completion {
            kind,
            value,
            time,
            line,
        });
        if kind == CompletionKind::Info {
            self.retired.insert(process);
        }
        self.events.push(Event::Complete(index));
        Ok(index)
    }

    /// Checks that a completion line repeats its invocation's `f` and (if given) `key`.
    fn check_echo(
        &self,
        index: usize,
        f: &str,
        key: Option<&str>,
        line: Option<usize>,
    ) -> Result<usize, HistoryError> {
        let op = &self.ops[index];
        let mismatch = if op.f != f {
            Some(("f", format!("{:?}", op.f), format!("{f:?}")))
        } else if key.is_some() && key != op.key.as_deref() {
            let shown = |k: Option<&str>| k.map_or("(none)".to_string(), |k| format!("{k:?}"));
            Some(("key", shown(op.key.as_deref()), shown(key)))
        } else {
            None
        };
        match mismatch {
            None => Ok(index),
            Some((field, invoked, completed)) => Err(HistoryError {
                line,
                kind: HistoryErrorKind::Mismatch {
                    field,
                    invoked,
                    completed,
                },
            }),
        }
    }
}

/// Serializes an operation flat, as a witness shows it: invocation fields,
/// then `type` (`ok`, `fail`, `info`, or `none` if it never completed),
/// `output`, `end_time` and the source lines.
impl Serialize for Operation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("process", &self.process)?;
        map.serialize_entry("f", &self.f)?;
        if let Some(key) = &self.key {
            map.serialize_entry("key", key)?;
        }
        map.serialize_entry("value", &self.value)?;
        map.serialize_entry("time", &self.time)?;
        match &self.completion {
            Some(c) => {
                map.serialize_entry("type", c.kind.as_str())?;
                map.serialize_entry("output", &c.value)?;
                map.serialize_entry("end_time", &c.time)?;
            }
            None => map.serialize_entry("type", "none")?,
        }
        if let Some(line) = self.line {
            map.serialize_entry("line", &line)?;
        }
        map.end()
    }
}
