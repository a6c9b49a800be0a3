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
mod sets;

pub use edn::{EdnOptions, EdnReader, NilRead};
pub use error::{HistoryError, HistoryErrorKind};
pub use sets::ReadSet;
pub(crate) use sets::ReadSets;

/// The unit of a history's times: how they are shown, never how they are
/// compared (only their order matters to a check).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Microseconds: dsim's own histories (`dsim run --history`), and JSON Lines.
    #[default]
    Micros,
    /// Nanoseconds: Jepsen's `:time`.
    Nanos,
    /// Positions in the file: the history had no usable times.
    Position,
}

impl TimeUnit {
    /// A time in this unit, for people: `1.250 ms`, `42 µs`, `event 7`.
    pub fn show(self, t: u64) -> String {
        let micros = match self {
            TimeUnit::Position => return format!("#{t}"),
            TimeUnit::Micros => t as f64,
            TimeUnit::Nanos => t as f64 / 1000.0,
        };
        if micros >= 1_000_000.0 {
            format!("{:.6} s", micros / 1_000_000.0)
        } else if micros >= 1000.0 {
            format!("{:.3} ms", micros / 1000.0)
        } else if self == TimeUnit::Nanos {
            format!("{t} ns")
        } else {
            format!("{t} µs")
        }
    }
}

/// A key as the history keeps it: a string as itself unless it reads as
/// JSON (`"1"`, `"true"`), which is kept quoted (`"\"1\""`); a number, or
/// any other value, as its JSON text. So the integer key `1` and the string
/// key `"1"` stay two keys, and EDN's keyword `:x` (read as `":x"`) and
/// string `"x"` too. `None` for null (no key).
pub fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) if serde_json::from_str::<Value>(s).is_err() => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A key text as people read it: `"x"` for the string, `1` for the integer,
/// `"1"` for the string that reads as an integer, `:x` for a keyword.
pub fn show_key(text: &str) -> String {
    if serde_json::from_str::<Value>(text).is_ok() || text.starts_with(':') {
        text.to_string()
    } else {
        format!("{text:?}")
    }
}

/// The value a key text stands for (the inverse of [`key_text`]).
pub fn key_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// A JSON line with every integer literal too large for i64/u64 turned
/// into the string `#<digits>N` (as the EDN reader reads a big integer),
/// so it keeps its identity instead of becoming an inexact float.
fn widen_big_integers(line: &str) -> std::borrow::Cow<'_, str> {
    let bytes = line.as_bytes();
    let mut run = 0;
    if !bytes.iter().any(|b| {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        run >= 20
    }) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 8);
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if b == b'\\' {
                out.push_str(&line[i..(i + 2).min(line.len())]);
                i += 2;
                continue;
            }
            in_string = b != b'"';
        } else if b == b'"' {
            in_string = true;
        } else if b == b'-' || b.is_ascii_digit() {
            let start = i;
            let mut j = i + 1;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            let integral = !matches!(bytes.get(j), Some(b'.' | b'e' | b'E'));
            let token = &line[start..j];
            if integral && token.parse::<i64>().is_err() && token.parse::<u64>().is_err() {
                let token = token.trim_start_matches('-');
                let sign = if start < j && bytes[start] == b'-' {
                    "-"
                } else {
                    ""
                };
                let digits = token.trim_start_matches('0');
                out.push_str(&format!("\"#{sign}{digits}N\""));
                i = j;
                continue;
            }
            out.push_str(token);
            i = j;
            continue;
        }
        let ch = line[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    std::borrow::Cow::Owned(out)
}

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
    /// The value on the completion event (the output, for `ok`); `null`
    /// when the output is kept as [`Completion::set`].
    pub value: Value,
    /// An ok read's list of integers, kept as a set sharing storage with
    /// the process's earlier reads, when the history was read for a model
    /// that reads sets ([`History::reading_sets`]); `value` is then `null`.
    pub set: Option<ReadSet>,
    /// When the completion was observed.
    pub time: u64,
    /// The 1-based line of the completion event, when read from a file.
    pub line: Option<usize>,
}

impl Completion {
    /// The value that came back, as written (a [`Completion::set`] as its
    /// elements in ascending order).
    pub fn output_value(&self) -> std::borrow::Cow<'_, Value> {
        match &self.set {
            Some(set) => std::borrow::Cow::Owned(set.to_value()),
            None => std::borrow::Cow::Borrowed(&self.value),
        }
    }
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

    /// The output, if the operation completed `ok`, as written (a read
    /// kept as a set as its elements ascending; see [`Completion::output_value`]).
    pub fn output_value(&self) -> Option<std::borrow::Cow<'_, Value>> {
        match &self.completion {
            Some(c) if c.kind == CompletionKind::Ok => Some(c.output_value()),
            _ => None,
        }
    }

    /// The output of an `ok` read kept as a set ([`History::reading_sets`]).
    pub fn read_set(&self) -> Option<&ReadSet> {
        match &self.completion {
            Some(c) if c.kind == CompletionKind::Ok => c.set.as_ref(),
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
    key: Option<Value>,
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
    time_unit: TimeUnit,
    /// Set by [`History::reading_sets`].
    read_sets: Option<ReadSets>,
}

impl History {
    /// An empty history, to be filled with [`History::invoke`] and [`History::complete`].
    pub fn new() -> History {
        History::default()
    }

    /// An empty history that keeps each `ok` `read` returning a list of
    /// integers as a [`ReadSet`] ([`Completion::set`]): a set, stored as
    /// what it adds to the same process's previous read of the same key.
    /// For models that read such reads as sets (set-full, g-set), whose
    /// histories list O(n²) integers; the order and repeats of each list
    /// are not kept.
    pub fn reading_sets() -> History {
        History {
            read_sets: Some(ReadSets::default()),
            ..History::default()
        }
    }

    /// The operations, in invocation order.
    pub fn operations(&self) -> &[Operation] {
        &self.ops
    }

    /// The unit of the history's times (for showing them).
    pub fn time_unit(&self) -> TimeUnit {
        self.time_unit
    }

    /// Sets the unit of the history's times.
    pub fn set_time_unit(&mut self, unit: TimeUnit) {
        self.time_unit = unit;
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
                let value = c.output_value().into_owned();
                history.complete_at(op.process, c.kind, value, c.time, c.line)?;
            }
        }
        Ok(history)
    }

    /// Parses the JSON Lines format; blank lines are skipped.
    pub fn parse_jsonl(text: &str) -> Result<History, HistoryError> {
        let mut reader = JsonlReader::new();
        for line in text.lines() {
            reader.line(line)?;
        }
        Ok(reader.finish())
    }

    /// Writes the history as JSON Lines, events in the order they happened.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for event in &self.events {
            let (op, kind, value, time) = match *event {
                Event::Invoke(i) => {
                    let op = &self.ops[i];
                    (op, "invoke", std::borrow::Cow::Borrowed(&op.value), op.time)
                }
                Event::Complete(i) => {
                    let op = &self.ops[i];
                    match &op.completion {
                        Some(c) => (op, c.kind.as_str(), c.output_value(), c.time),
                        None => continue,
                    }
                }
            };
            let line = OutEvent {
                process: op.process,
                kind,
                f: &op.f,
                key: op.key.as_deref().map(key_value),
                value: &value,
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

    /// Records an operation whole, invoked at `invoked` and completed as
    /// `kind` at `completed`, outside the one-at-a-time rule (for histories
    /// of completions only, whose operations are taken as concurrent).
    #[allow(clippy::too_many_arguments)]
    fn push_whole(
        &mut self,
        process: u64,
        f: String,
        key: Option<String>,
        value: Value,
        invoked: u64,
        kind: CompletionKind,
        completed: u64,
        line: Option<usize>,
    ) {
        let index = self.ops.len();
        let output = if kind == CompletionKind::Ok {
            value.clone()
        } else {
            Value::Null
        };
        self.ops.push(Operation {
            process,
            f,
            key,
            value,
            time: invoked,
            completion: Some(Completion {
                kind,
                value: output,
                set: None,
                time: completed,
                line,
            }),
            line,
        });
        self.events.push(Event::Invoke(index));
        self.events.push(Event::Complete(index));
    }

    /// Records an `ok` read whose value is unknown (Knossos's `nil`): its
    /// outcome is unknown like `info`'s, but the process goes on.
    fn complete_unknown(
        &mut self,
        process: u64,
        time: u64,
        line: Option<usize>,
    ) -> Result<usize, HistoryError> {
        let index = self.complete_at(process, CompletionKind::Info, Value::Null, time, line)?;
        self.retired.remove(&process);
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
        let set = match &mut self.read_sets {
            Some(sets) if kind == CompletionKind::Ok && op.f == "read" => {
                sets.compact(process, op.key.as_deref(), &value)
            }
            _ => None,
        };
        let value = if set.is_some() { Value::Null } else { value };
        op.completion = Some(Completion {
            kind,
            value,
            set,
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
                map.serialize_entry("output", &c.output_value())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys_and_big_integers_keep_their_identity() {
        let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":1,\"value\":18446744073709551616,\"time\":0}\n\
                    {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"key\":1,\"value\":18446744073709551616,\"time\":1}\n\
                    {\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"1\",\"value\":null,\"time\":2}\n\
                    {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":\"1\",\"value\":18446744073709551617,\"time\":3}\n";
        let h = History::parse_jsonl(text).unwrap();
        let ops = h.operations();
        assert_ne!(ops[0].key, ops[1].key);
        assert_eq!(ops[0].value, Value::String("#18446744073709551616N".into()));
        assert_ne!(ops[0].output(), ops[1].output());
        // Written back, the keys keep their types.
        let again = History::parse_jsonl(&h.to_jsonl()).unwrap();
        assert_eq!(again.operations()[0].key, ops[0].key);
        assert_eq!(again.operations()[1].key, ops[1].key);
        assert!(h.to_jsonl().contains("\"key\":1,"), "{}", h.to_jsonl());
        // Escapes in strings are not touched by the integer pass.
        let line = "{\"a\":\"\\\"123456789012345678901234\",\"b\":-123456789012345678901234}";
        assert_eq!(
            widen_big_integers(line),
            "{\"a\":\"\\\"123456789012345678901234\",\"b\":\"#-123456789012345678901234N\"}"
        );
    }
}

/// Reads JSON Lines one line at a time (a file read in chunks, a pipe as it
/// is written), so a bad line fails before the rest is read.
#[derive(Debug, Default)]
pub struct JsonlReader {
    history: History,
    line: usize,
}

impl JsonlReader {
    /// A reader at line 1.
    pub fn new() -> JsonlReader {
        JsonlReader::default()
    }

    /// A reader at line 1 into a [`History::reading_sets`].
    pub fn reading_sets() -> JsonlReader {
        JsonlReader {
            history: History::reading_sets(),
            line: 0,
        }
    }

    /// Reads the next line (without its newline); a blank one is skipped.
    pub fn line(&mut self, line_text: &str) -> Result<(), HistoryError> {
        self.line += 1;
        if line_text.trim().is_empty() {
            return Ok(());
        }
        let history = &mut self.history;
        let line = Some(self.line);
        let error = |kind| HistoryError { line, kind };
        let raw: RawEvent = serde_json::from_str(&widen_big_integers(line_text))
            .map_err(|e| error(HistoryErrorKind::Json(e)))?;
        let key = match raw.key {
            None | Some(Value::Null) => None,
            Some(k @ (Value::String(_) | Value::Number(_))) => key_text(&k),
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
                let index = history.complete_at(raw.process, kind, raw.value, raw.time, line)?;
                history.check_echo(index, &raw.f, key.as_deref(), line)?
            }
        };
        Ok(())
    }

    /// The history read.
    pub fn finish(self) -> History {
        self.history
    }
}
