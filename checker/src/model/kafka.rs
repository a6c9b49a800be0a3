//! `kafka`: Jepsen's queue analysis (jepsen.tests.kafka), as Maelstrom's
//! kafka workload runs it, over a history of sends, polls and assigns.
//!
//! A history's operations (docs/history-format.md, "kafka histories"):
//!
//! - `send`, key `k`, value `msg` → ok `[offset, msg]`;
//! - `poll`, value null → ok `{k: [[offset, msg], …], …}` (or the same as a
//!   list of `[k, [[offset, msg], …]]` pairs);
//! - `txn`, value `[["send", k, msg], ["poll"], …]` → ok the same micro-ops
//!   completed (`["send", k, [offset, msg]]`, `["poll", {k: pairs}]`);
//! - `assign`, value (or ok value) the list of keys the client now reads;
//! - `crash`: the client process ends (its operation is `info`).
//!
//! From them the analysis builds, per key, the log every send and poll
//! agrees on (offset → messages), then reports what Jepsen reports:
//! `inconsistent-offsets`, `duplicate`, `lost-write`, `poll-skip`,
//! `nonmonotonic-poll`, `nonmonotonic-send`, `int-poll-skip`,
//! `int-nonmonotonic-poll`, `int-send-skip`, `int-nonmonotonic-send`,
//! `G1a`, `precommitted-read` and `unseen`. `int-send-skip` is allowed
//! (Jepsen's allowed error types), and so are the G0 cycles, which are
//! therefore not searched; every other anomaly makes the history invalid.
//! A skip or a step backwards between operations is not tracked across an
//! `assign` that drops the key, as Jepsen's does not.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use super::{shape, Model, ModelError, Registration, ShapeError};
use crate::history::{CompletionKind, Operation};
use crate::outcome::{KeyChecker, KeyReport, Verdict, Witness};

/// Registration of `kafka`.
pub(crate) const KAFKA: Registration = Registration::new(
    "kafka",
    "Jepsen's queue analysis (Maelstrom kafka): send k msg → [offset, msg], poll → {k: [[offset, msg]…]}, txn, assign [keys], crash; invalid on lost-write, duplicate, inconsistent-offsets, skips, nonmonotonic polls or sends, G1a, precommitted-read, unseen",
    build,
);

fn build(initial: Option<&Value>) -> Result<Model, ModelError> {
    match initial {
        None | Some(Value::Null) => Ok(Model {
            name: "kafka",
            spec: Box::new(Kafka),
        }),
        Some(v) => Err(ModelError::BadInitial {
            model: "kafka",
            expected: "absent (this check has no initial value)",
            found: v.clone(),
        }),
    }
}

struct Kafka;

/// The kinds of anomaly, in the order reports list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Anomaly {
    /// Two different messages at one offset of a key.
    InconsistentOffsets,
    /// One message at two offsets of a key.
    Duplicate,
    /// An acknowledged message below the highest offset polled was never polled.
    LostWrite,
    /// A process's poll began past messages it had not read.
    PollSkip,
    /// A process's poll began at or before where its previous one ended.
    NonmonotonicPoll,
    /// A process's send landed at or before its previous send to the key.
    NonmonotonicSend,
    /// One poll skipped messages between two it returned.
    IntPollSkip,
    /// One poll returned messages out of log order, or one twice.
    IntNonmonotonicPoll,
    /// One operation's sends to a key skipped offsets (allowed).
    IntSendSkip,
    /// One operation's sends to a key went backwards.
    IntNonmonotonicSend,
    /// A poll returned a message whose send failed.
    G1a,
    /// An operation polled a message it sent itself.
    PrecommittedRead,
    /// Acknowledged messages that no poll returned by the end.
    Unseen,
}

impl Anomaly {
    /// Jepsen's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Anomaly::InconsistentOffsets => "inconsistent-offsets",
            Anomaly::Duplicate => "duplicate",
            Anomaly::LostWrite => "lost-write",
            Anomaly::PollSkip => "poll-skip",
            Anomaly::NonmonotonicPoll => "nonmonotonic-poll",
            Anomaly::NonmonotonicSend => "nonmonotonic-send",
            Anomaly::IntPollSkip => "int-poll-skip",
            Anomaly::IntNonmonotonicPoll => "int-nonmonotonic-poll",
            Anomaly::IntSendSkip => "int-send-skip",
            Anomaly::IntNonmonotonicSend => "int-nonmonotonic-send",
            Anomaly::G1a => "G1a",
            Anomaly::PrecommittedRead => "precommitted-read",
            Anomaly::Unseen => "unseen",
        }
    }

    /// False for the anomalies Jepsen's kafka checker allows.
    pub fn is_error(self) -> bool {
        self != Anomaly::IntSendSkip
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str(self.name())
    }
}

/// One anomaly found: its kind, key, offsets, and the operations involved.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// What it is.
    pub anomaly: Anomaly,
    /// The key.
    pub key: String,
    /// The offsets concerned (in the log's own numbering).
    pub offsets: Vec<i64>,
    /// Indices (into the analysed operations) of the operations involved.
    pub ops: Vec<usize>,
    /// In words.
    pub text: String,
}

/// What the analysis found.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// Every anomaly, in report order (by kind, then key and offset).
    pub found: Vec<Found>,
    /// Keys with a log.
    pub keys: usize,
    /// Messages acknowledged by ok sends.
    pub acked: usize,
    /// Distinct messages some ok poll returned.
    pub polled: usize,
}

impl Analysis {
    /// The anomalies that make the history invalid.
    pub fn errors(&self) -> impl Iterator<Item = &Found> {
        self.found.iter().filter(|f| f.anomaly.is_error())
    }

    /// True when nothing but allowed anomalies was found.
    pub fn valid(&self) -> bool {
        self.errors().next().is_none()
    }

    /// Each kind found, with its count: `lost-write ×2, unseen ×1`.
    pub fn tally(&self) -> String {
        let mut by: BTreeMap<Anomaly, usize> = BTreeMap::new();
        for f in &self.found {
            *by.entry(f.anomaly).or_default() += 1;
        }
        let parts: Vec<String> = by
            .iter()
            .map(|(a, n)| {
                let allowed = if a.is_error() { "" } else { " (allowed)" };
                format!("{a} ×{n}{allowed}")
            })
            .collect();
        parts.join(", ")
    }
}

/// One micro-operation, completed as far as the history tells.
/// A poll's messages: per key, `(offset, msg)` pairs in the order returned.
type Polled = Vec<(String, Vec<(i64, i64)>)>;

#[derive(Clone, Debug)]
enum Mop {
    Send {
        key: String,
        msg: i64,
        offset: Option<i64>,
    },
    Poll(Polled),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Ok,
    Info,
    Fail,
}

#[derive(Clone, Debug)]
enum Act {
    Txn(Vec<Mop>),
    Assign(Vec<String>),
    Other,
}

#[derive(Clone, Debug)]
struct KOp {
    process: u64,
    status: Status,
    act: Act,
}

impl KOp {
    fn writes(&self) -> BTreeMap<&str, Vec<(Option<i64>, i64)>> {
        let mut out: BTreeMap<&str, Vec<(Option<i64>, i64)>> = BTreeMap::new();
        if let Act::Txn(mops) = &self.act {
            for m in mops {
                if let Mop::Send { key, msg, offset } = m {
                    out.entry(key).or_default().push((*offset, *msg));
                }
            }
        }
        out
    }

    /// The messages read per key, in the order polled (ok or info ops that
    /// carry polls; an unknown outcome carries none).
    fn reads(&self) -> BTreeMap<&str, Vec<(i64, i64)>> {
        let mut out: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
        if let Act::Txn(mops) = &self.act {
            for m in mops {
                if let Mop::Poll(keys) = m {
                    for (k, pairs) in keys {
                        out.entry(k).or_default().extend(pairs.iter().copied());
                    }
                }
            }
        }
        out
    }
}

const FNS: &[&str] = &["send", "poll", "txn", "assign", "crash"];

fn key_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn pairs(v: &Value) -> Option<Vec<(i64, i64)>> {
    v.as_array()?
        .iter()
        .map(|p| match p.as_array().map(Vec::as_slice) {
            Some([o, m]) => Some((o.as_i64()?, m.as_i64()?)),
            _ => None,
        })
        .collect()
}

/// `{k: pairs}` or `[[k, pairs], …]`.
fn poll_msgs(v: &Value) -> Option<Polled> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Object(o) => o
            .iter()
            .map(|(k, p)| Some((k.clone(), pairs(p)?)))
            .collect(),
        Value::Array(a) => a
            .iter()
            .map(|e| match e.as_array().map(Vec::as_slice) {
                Some([k, p]) => Some((key_str(k)?, pairs(p)?)),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

const SEND_OUT: &str = "[offset, msg] (integers)";
const POLL_OUT: &str = "{key: [[offset, msg], …]} or [[key, [[offset, msg], …]], …]";
const TXN_IN: &str = "a list of micro-ops [\"send\", key, msg] and [\"poll\"]";
const TXN_OUT: &str = "the micro-ops completed: [\"send\", key, [offset, msg]] and [\"poll\", {key: [[offset, msg], …]}]";
const KEYS: &str = "a list of keys (strings or integers)";

fn mops_in(v: &Value) -> Option<Vec<Mop>> {
    v.as_array()?
        .iter()
        .map(|m| match m.as_array().map(Vec::as_slice) {
            Some([f, k, msg]) if f == "send" => Some(Mop::Send {
                key: key_str(k)?,
                msg: msg.as_i64()?,
                offset: None,
            }),
            Some([f]) if f == "poll" => Some(Mop::Poll(Vec::new())),
            _ => None,
        })
        .collect()
}

fn mops_out(v: &Value) -> Option<Vec<Mop>> {
    v.as_array()?
        .iter()
        .map(|m| match m.as_array().map(Vec::as_slice) {
            Some([f, k, p]) if f == "send" => {
                let [o, msg] = p.as_array()?.as_slice() else {
                    return None;
                };
                Some(Mop::Send {
                    key: key_str(k)?,
                    msg: msg.as_i64()?,
                    offset: o.as_i64(),
                })
            }
            Some([f, msgs]) if f == "poll" => Some(Mop::Poll(poll_msgs(msgs)?)),
            Some([f]) if f == "poll" => Some(Mop::Poll(Vec::new())),
            _ => None,
        })
        .collect()
}

/// The operation's analysable form, or why its shape is wrong.
fn parse(op: &Operation) -> Result<KOp, ShapeError> {
    let status = match &op.completion {
        Some(c) if c.kind == CompletionKind::Ok => Status::Ok,
        Some(c) if c.kind == CompletionKind::Fail => Status::Fail,
        _ => Status::Info,
    };
    let out = op.output();
    // Maelstrom's client records a send or a poll as a one-micro-op
    // transaction: `send [["send", k, msg]]` → `[["send", k, [offset, msg]]]`.
    let f = match op.f.as_str() {
        "send" | "poll"
            if op
                .value
                .as_array()
                .is_some_and(|v| v.iter().all(Value::is_array)) =>
        {
            "txn"
        }
        f => f,
    };
    let act = match f {
        "send" => {
            let key = op
                .key
                .clone()
                .ok_or_else(|| shape::bad_input(op, "a message, with the log's key in key"))?;
            let msg = shape::int_input(op, "an integer message")?;
            let offset = match out {
                None => None,
                Some(v) => match v.as_array().map(Vec::as_slice) {
                    Some([o, m]) if m.as_i64() == Some(msg) && o.as_i64().is_some() => o.as_i64(),
                    _ => return Err(shape::bad_output(op, v, SEND_OUT)),
                },
            };
            Act::Txn(vec![Mop::Send { key, msg, offset }])
        }
        "poll" => match out {
            None => Act::Txn(Vec::new()),
            Some(v) => Act::Txn(vec![Mop::Poll(
                poll_msgs(v).ok_or_else(|| shape::bad_output(op, v, POLL_OUT))?,
            )]),
        },
        "txn" => {
            let invoked = mops_in(&op.value).ok_or_else(|| shape::bad_input(op, TXN_IN))?;
            match out {
                None => Act::Txn(
                    invoked
                        .into_iter()
                        .filter(|m| matches!(m, Mop::Send { .. }))
                        .collect(),
                ),
                Some(v) => Act::Txn(mops_out(v).ok_or_else(|| shape::bad_output(op, v, TXN_OUT))?),
            }
        }
        "assign" => {
            let from = match out {
                Some(v) if v.is_array() => v,
                _ => &op.value,
            };
            let keys = from
                .as_array()
                .and_then(|a| a.iter().map(key_str).collect::<Option<Vec<_>>>());
            match (keys, status) {
                (Some(keys), _) => Act::Assign(keys),
                // An assign of unknown keys that did not complete assigned
                // nothing the history can tell.
                (None, Status::Info | Status::Fail) if from.is_null() => Act::Other,
                (None, _) => return Err(shape::bad_input(op, KEYS)),
            }
        }
        "crash" => Act::Other,
        _ => return Err(shape::unknown(op, FNS)),
    };
    Ok(KOp {
        process: op.process,
        status,
        act,
    })
}

/// Per key: the log (offset → messages), and its dense order.
#[derive(Default, Debug)]
struct Order {
    log: BTreeMap<i64, BTreeSet<i64>>,
    /// Dense index → the (smallest) message at that offset.
    by_index: Vec<i64>,
    /// Dense index → its offset.
    offset_of: Vec<i64>,
    /// Message → its dense index (the last offset it appears at).
    by_value: BTreeMap<i64, usize>,
}

impl Order {
    fn finish(&mut self) {
        for (&off, msgs) in &self.log {
            let first = *msgs.iter().next().expect("a logged offset has a message");
            self.by_value.insert(first, self.by_index.len());
            self.by_index.push(first);
            self.offset_of.push(off);
        }
    }

    /// The dense distance from `a` to `b`, 1 when either is unknown.
    fn delta(&self, a: i64, b: i64) -> i64 {
        match (self.by_value.get(&a), self.by_value.get(&b)) {
            (Some(&i), Some(&j)) => j as i64 - i as i64,
            _ => 1,
        }
    }

    fn offset(&self, m: i64) -> Option<i64> {
        self.by_value.get(&m).map(|&i| self.offset_of[i])
    }

    /// The offsets strictly between messages `a` and `b`.
    fn between(&self, a: i64, b: i64) -> Vec<i64> {
        match (self.by_value.get(&a), self.by_value.get(&b)) {
            (Some(&i), Some(&j)) if j > i + 1 => self.offset_of[i + 1..j].to_vec(),
            _ => Vec::new(),
        }
    }
}

struct Facts<'a> {
    ops: &'a [KOp],
    /// Per key: message → the op that sent it (the last one, as Jepsen's map).
    writer: BTreeMap<String, BTreeMap<i64, usize>>,
    /// Per key: messages returned by ok polls.
    read_ok: BTreeMap<String, BTreeSet<i64>>,
    /// Per key: message → ops that polled it.
    readers: BTreeMap<String, BTreeMap<i64, Vec<usize>>>,
    orders: BTreeMap<String, Order>,
}

impl Facts<'_> {
    /// Ok, or info with some message of it polled by an ok op.
    fn must_have_committed(&self, i: usize) -> bool {
        let op = &self.ops[i];
        match op.status {
            Status::Ok => true,
            Status::Fail => false,
            Status::Info => op.writes().iter().any(|(k, ws)| {
                self.read_ok
                    .get(*k)
                    .is_some_and(|r| ws.iter().any(|(_, m)| r.contains(m)))
            }),
        }
    }

    fn order(&self, k: &str) -> Option<&Order> {
        self.orders.get(k)
    }
}

fn facts(ops: &[KOp]) -> Facts<'_> {
    let mut f = Facts {
        ops,
        writer: BTreeMap::new(),
        read_ok: BTreeMap::new(),
        readers: BTreeMap::new(),
        orders: BTreeMap::new(),
    };
    for (i, op) in ops.iter().enumerate() {
        for (k, ws) in op.writes() {
            for (_, m) in ws {
                f.writer.entry(k.to_string()).or_default().insert(m, i);
            }
        }
        if op.status == Status::Fail {
            continue;
        }
        for (k, rs) in op.reads() {
            for (_, m) in rs {
                if op.status == Status::Ok {
                    f.read_ok.entry(k.to_string()).or_default().insert(m);
                }
                let who = f
                    .readers
                    .entry(k.to_string())
                    .or_default()
                    .entry(m)
                    .or_default();
                if who.last() != Some(&i) {
                    who.push(i);
                }
            }
        }
    }
    let mut orders: BTreeMap<String, Order> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        if op.status == Status::Fail {
            continue;
        }
        if f.must_have_committed(i) {
            for (k, ws) in op.writes() {
                for (o, m) in ws {
                    if let Some(o) = o {
                        let log = &mut orders.entry(k.to_string()).or_default().log;
                        log.entry(o).or_default().insert(m);
                    }
                }
            }
        }
        for (k, rs) in op.reads() {
            let log = &mut orders.entry(k.to_string()).or_default().log;
            for (o, m) in rs {
                log.entry(o).or_default().insert(m);
            }
        }
    }
    for o in orders.values_mut() {
        o.finish();
    }
    f.orders = orders;
    f
}

/// Runs the analysis over `history`'s operations (every one, failed ones
/// included: G1a needs the failed sends), or says which has the wrong shape.
pub fn analyze(history: &[&Operation]) -> Result<Analysis, (usize, ShapeError)> {
    let mut order: Vec<usize> = (0..history.len()).collect();
    order.sort_by_key(|&i| (history[i].time, history[i].process));
    let ops: Vec<KOp> = order
        .iter()
        .map(|&i| parse(history[i]).map_err(|e| (i, e)))
        .collect::<Result<_, _>>()?;
    let mut a = analyze_ops(&ops);
    // Report operations by their index in `history`.
    for f in &mut a.found {
        for i in &mut f.ops {
            *i = order[*i];
        }
    }
    Ok(a)
}

fn analyze_ops(ops: &[KOp]) -> Analysis {
    let f = facts(ops);
    let mut found = Vec::new();
    log_errors(&f, &mut found);
    lost_writes(&f, &mut found);
    external(&f, &mut found);
    internal(&f, &mut found);
    aborted_and_own_reads(&f, &mut found);
    unseen(&f, &mut found);
    found.sort_by(|a, b| {
        (a.anomaly, &a.key, &a.offsets, &a.ops).cmp(&(b.anomaly, &b.key, &b.offsets, &b.ops))
    });
    let acked: BTreeSet<(&str, i64)> = ops
        .iter()
        .filter(|o| o.status == Status::Ok)
        .flat_map(|o| {
            o.writes()
                .into_iter()
                .flat_map(|(k, ws)| ws.into_iter().map(move |(_, m)| (k, m)))
                .collect::<Vec<_>>()
        })
        .collect();
    Analysis {
        found,
        keys: f.orders.len(),
        acked: acked.len(),
        polled: f.read_ok.values().map(BTreeSet::len).sum(),
    }
}

fn who(f: &Facts<'_>, i: usize) -> String {
    format!("process {}", f.ops[i].process)
}

/// inconsistent-offsets and duplicate.
fn log_errors(f: &Facts<'_>, found: &mut Vec<Found>) {
    for (k, o) in &f.orders {
        let mut at: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (&off, msgs) in &o.log {
            if msgs.len() > 1 {
                let mut ops = involved(f, k, msgs.iter().copied());
                ops.sort_unstable();
                ops.dedup();
                let list: Vec<String> = msgs.iter().map(i64::to_string).collect();
                found.push(Found {
                    anomaly: Anomaly::InconsistentOffsets,
                    key: k.clone(),
                    offsets: vec![off],
                    ops,
                    text: format!(
                        "key {k:?}: offset {off} holds messages {} in different operations",
                        list.join(" and ")
                    ),
                });
            }
            for &m in msgs {
                at.entry(m).or_default().push(off);
            }
        }
        for (m, offs) in at.into_iter().filter(|(_, v)| v.len() > 1) {
            let list: Vec<String> = offs.iter().map(i64::to_string).collect();
            found.push(Found {
                anomaly: Anomaly::Duplicate,
                key: k.clone(),
                ops: involved(f, k, [m]),
                text: format!(
                    "key {k:?}: message {m} is at {} offsets ({})",
                    offs.len(),
                    list.join(", ")
                ),
                offsets: offs,
            });
        }
    }
}

/// The writer and the first readers of messages `ms` of key `k`.
fn involved(f: &Facts<'_>, k: &str, ms: impl IntoIterator<Item = i64>) -> Vec<usize> {
    let mut out = Vec::new();
    for m in ms {
        out.extend(f.writer.get(k).and_then(|w| w.get(&m)).copied());
        if let Some(rs) = f.readers.get(k).and_then(|r| r.get(&m)) {
            out.extend(rs.iter().take(2).copied());
        }
    }
    out
}

/// lost-write: a message whose earliest offset lies at or below the
/// highest offset polled, never polled, though its send must have happened.
fn lost_writes(f: &Facts<'_>, found: &mut Vec<Found>) {
    for (k, read) in &f.read_ok {
        let Some(o) = f.order(k) else { continue };
        // Dense positions of the offsets, their messages' first and last positions.
        let offs: Vec<i64> = o.log.keys().copied().collect();
        let mut first: BTreeMap<i64, usize> = BTreeMap::new();
        let mut last: BTreeMap<i64, usize> = BTreeMap::new();
        for (i, msgs) in o.log.values().enumerate() {
            for &m in msgs {
                first.entry(m).or_insert(i);
                last.insert(m, i);
            }
        }
        let Some((bound, max_msg)) = read
            .iter()
            .filter_map(|m| first.get(m).map(|&i| (i, *m)))
            .max()
        else {
            continue;
        };
        let max_reader = f.readers[k.as_str()]
            .get(&max_msg)
            .and_then(|r| r.first().copied());
        for (&m, &i) in &last {
            if i > bound || read.contains(&m) {
                continue;
            }
            let Some(&w) = f.writer.get(k).and_then(|w| w.get(&m)) else {
                continue;
            };
            if !f.must_have_committed(w) {
                continue;
            }
            let mut ops = vec![w];
            ops.extend(max_reader);
            found.push(Found {
                anomaly: Anomaly::LostWrite,
                key: k.clone(),
                offsets: vec![offs[first[&m]], offs[bound]],
                ops,
                text: format!(
                    "key {k:?}: message {m} at offset {} (sent by {}) was never polled, yet offset {} (message {max_msg}) was{}",
                    offs[first[&m]],
                    who(f, w),
                    offs[bound],
                    max_reader.map_or(String::new(), |r| format!(", by {}", who(f, r)))
                ),
            });
        }
    }
}

/// poll-skip, nonmonotonic-poll and nonmonotonic-send: between one
/// process's operations, forgetting keys an assign drops.
fn external(f: &Facts<'_>, found: &mut Vec<Found>) {
    let mut last_read: BTreeMap<(u64, String), usize> = BTreeMap::new();
    let mut last_send: BTreeMap<(u64, String), usize> = BTreeMap::new();
    for (i, op) in f.ops.iter().enumerate() {
        let p = op.process;
        match &op.act {
            Act::Assign(keys) if op.status != Status::Fail => {
                let keep = |(q, k): &(u64, String)| *q != p || keys.contains(k);
                last_read.retain(|x, _| keep(x));
                last_send.retain(|x, _| keep(x));
            }
            Act::Txn(_) => {
                if op.status == Status::Ok {
                    for (k, rs) in op.reads() {
                        let Some(&(_, m2)) = rs.first() else { continue };
                        if let Some(&j) = last_read.get(&(p, k.to_string())) {
                            let m1 = f.ops[j].reads()[k].last().expect("it read the key").1;
                            ext_poll(f, found, k, (j, m1), (i, m2));
                        }
                        last_read.insert((p, k.to_string()), i);
                    }
                }
                if op.status == Status::Fail {
                    continue;
                }
                for (k, ws) in op.writes() {
                    let m2 = ws[0].1;
                    if let Some(&j) = last_send.get(&(p, k.to_string())) {
                        let m1 = f.ops[j].writes()[k].last().expect("it sent to the key").1;
                        let Some(o) = f.order(k) else { continue };
                        if o.delta(m1, m2) < 1 {
                            found.push(Found {
                                anomaly: Anomaly::NonmonotonicSend,
                                key: k.to_string(),
                                offsets: offsets(o, [m1, m2]),
                                ops: vec![j, i],
                                text: format!(
                                    "key {k:?}: {} sent message {m2} at offset {}, not after its previous send, message {m1} at offset {}",
                                    who(f, i),
                                    show(o.offset(m2)),
                                    show(o.offset(m1))
                                ),
                            });
                        }
                    }
                    last_send.insert((p, k.to_string()), i);
                }
            }
            _ => {}
        }
    }
}

fn show(o: Option<i64>) -> String {
    o.map_or("?".into(), |o| o.to_string())
}

fn offsets(o: &Order, ms: impl IntoIterator<Item = i64>) -> Vec<i64> {
    ms.into_iter().filter_map(|m| o.offset(m)).collect()
}

fn ext_poll(f: &Facts<'_>, found: &mut Vec<Found>, k: &str, a: (usize, i64), b: (usize, i64)) {
    let Some(o) = f.order(k) else { return };
    let ((j, m1), (i, m2)) = (a, b);
    let d = o.delta(m1, m2);
    if d > 1 {
        let skipped = o.between(m1, m2);
        found.push(Found {
            anomaly: Anomaly::PollSkip,
            key: k.to_string(),
            ops: vec![j, i],
            text: format!(
                "key {k:?}: {} polled up to offset {} and then from offset {}, skipping offset(s) {}",
                who(f, i),
                show(o.offset(m1)),
                show(o.offset(m2)),
                list(&skipped)
            ),
            offsets: skipped,
        });
    } else if d < 1 {
        found.push(Found {
            anomaly: Anomaly::NonmonotonicPoll,
            key: k.to_string(),
            offsets: offsets(o, [m1, m2]),
            ops: vec![j, i],
            text: format!(
                "key {k:?}: {} polled up to offset {} and then again from offset {}",
                who(f, i),
                show(o.offset(m1)),
                show(o.offset(m2))
            ),
        });
    }
}

fn list(xs: &[i64]) -> String {
    let s: Vec<String> = xs.iter().map(i64::to_string).collect();
    s.join(", ")
}

/// int-poll-skip, int-nonmonotonic-poll, int-send-skip and
/// int-nonmonotonic-send: consecutive messages of a key within one operation.
fn internal(f: &Facts<'_>, found: &mut Vec<Found>) {
    for (i, op) in f.ops.iter().enumerate() {
        if op.status == Status::Fail {
            continue;
        }
        let sides = [
            (
                op.reads(),
                Anomaly::IntPollSkip,
                Anomaly::IntNonmonotonicPoll,
                "polled",
            ),
            (
                op.writes()
                    .into_iter()
                    .map(|(k, ws)| {
                        (
                            k,
                            ws.into_iter().map(|(o, m)| (o.unwrap_or(-1), m)).collect(),
                        )
                    })
                    .collect(),
                Anomaly::IntSendSkip,
                Anomaly::IntNonmonotonicSend,
                "sent",
            ),
        ];
        for (by_key, skip, back, verb) in sides {
            for (k, ms) in by_key {
                let Some(o) = f.order(k) else { continue };
                for w in ms.windows(2) {
                    let (m1, m2) = (w[0].1, w[1].1);
                    let d = o.delta(m1, m2);
                    if d > 1 {
                        let skipped = o.between(m1, m2);
                        found.push(Found {
                            anomaly: skip,
                            key: k.to_string(),
                            ops: vec![i],
                            text: format!(
                                "key {k:?}: one operation of {} {verb} offset {} and then offset {}, skipping offset(s) {}",
                                who(f, i),
                                show(o.offset(m1)),
                                show(o.offset(m2)),
                                list(&skipped)
                            ),
                            offsets: skipped,
                        });
                    } else if d < 1 {
                        found.push(Found {
                            anomaly: back,
                            key: k.to_string(),
                            offsets: offsets(o, [m1, m2]),
                            ops: vec![i],
                            text: format!(
                                "key {k:?}: one operation of {} {verb} message {m1} (offset {}) and then message {m2} (offset {}), not later in the log",
                                who(f, i),
                                show(o.offset(m1)),
                                show(o.offset(m2))
                            ),
                        });
                    }
                }
            }
        }
    }
}

/// G1a (an ok poll returned a message whose send failed) and
/// precommitted-read (an operation polled its own send).
fn aborted_and_own_reads(f: &Facts<'_>, found: &mut Vec<Found>) {
    for (i, op) in f.ops.iter().enumerate() {
        if op.status == Status::Fail {
            continue;
        }
        let writes = op.writes();
        for (k, rs) in op.reads() {
            for &(off, m) in &rs {
                let w = f.writer.get(k).and_then(|w| w.get(&m)).copied();
                if op.status == Status::Ok {
                    if let Some(w) = w.filter(|&w| f.ops[w].status == Status::Fail) {
                        found.push(Found {
                            anomaly: Anomaly::G1a,
                            key: k.to_string(),
                            offsets: vec![off],
                            ops: vec![w, i],
                            text: format!(
                                "key {k:?}: {} polled message {m} at offset {off}, whose send by {} failed",
                                who(f, i),
                                who(f, w)
                            ),
                        });
                    }
                }
            }
            if let Some(ws) = writes.get(k) {
                if let Some(&(off, m)) = rs.iter().find(|(_, m)| ws.iter().any(|(_, x)| x == m)) {
                    found.push(Found {
                        anomaly: Anomaly::PrecommittedRead,
                        key: k.to_string(),
                        offsets: vec![off],
                        ops: vec![i],
                        text: format!(
                            "key {k:?}: an operation of {} polled message {m} (offset {off}), which it sent itself",
                            who(f, i)
                        ),
                    });
                }
            }
        }
    }
}

/// unseen: messages acknowledged by ok sends that no ok poll returned.
fn unseen(f: &Facts<'_>, found: &mut Vec<Found>) {
    // Per key: (offset, msg, sending op) of each unseen message.
    type Unpolled = Vec<(Option<i64>, i64, usize)>;
    let mut by_key: BTreeMap<&str, Unpolled> = BTreeMap::new();
    for (i, op) in f.ops.iter().enumerate() {
        if op.status != Status::Ok {
            continue;
        }
        for (k, ws) in op.writes() {
            for (o, m) in ws {
                if !f.read_ok.get(k).is_some_and(|r| r.contains(&m)) {
                    by_key.entry(k).or_default().push((o, m, i));
                }
            }
        }
    }
    for (k, ms) in by_key {
        let msgs: Vec<String> = ms
            .iter()
            .take(8)
            .map(|(o, m, _)| format!("{m} (offset {})", show(*o)))
            .collect();
        let more = if ms.len() > 8 { ", …" } else { "" };
        found.push(Found {
            anomaly: Anomaly::Unseen,
            key: k.to_string(),
            offsets: ms.iter().filter_map(|x| x.0).collect(),
            ops: ms.iter().take(8).map(|x| x.2).collect(),
            text: format!(
                "key {k:?}: {} acknowledged message(s) never polled: {}{more}",
                ms.len(),
                msgs.join(", ")
            ),
        });
    }
}

impl KeyChecker for Kafka {
    fn validate(&self, op: &Operation) -> Result<(), ShapeError> {
        parse(op).map(|_| ())
    }

    fn keeps_failed(&self) -> bool {
        true
    }

    fn check_keys(
        &self,
        keys: &[(Option<&str>, Vec<&Operation>)],
        _budget: u64,
        _explain: bool,
    ) -> (Vec<KeyReport>, Option<Witness>) {
        let all: Vec<&Operation> = keys
            .iter()
            .flat_map(|(_, ops)| ops.iter().copied())
            .collect();
        let Ok(a) = analyze(&all) else {
            // Shapes were validated before the check.
            return (Vec::new(), None);
        };
        let verdict = if a.valid() {
            Verdict::Linearizable
        } else {
            Verdict::NotLinearizable
        };
        let witness = a.errors().next().map(|first| Witness {
            claim: None,
            key: Some(first.key.clone()),
            ops: first.ops.iter().map(|&i| all[i].clone()).collect(),
            explanation: format!(
                "{} ({}); first: {}: {}",
                summary(&a),
                a.tally(),
                first.anomaly,
                first.text
            ),
            minimal: false,
        });
        let report = KeyReport {
            key: None,
            ops: all.len(),
            verdict: Some(verdict),
            steps: all.len() as u64,
        };
        (vec![report], witness)
    }
}

/// "3 error(s) over 2 key(s)".
pub fn summary(a: &Analysis) -> String {
    format!(
        "{} error(s) over {} key(s), {} acknowledged message(s), {} polled",
        a.errors().count(),
        a.keys,
        a.acked,
        a.polled
    )
}
