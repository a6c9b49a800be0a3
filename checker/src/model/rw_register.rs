//! `rw-register`: an Elle-style analysis of transactions over read/write
//! registers (Maelstrom's txn-rw-register workload, Jepsen's Elle
//! `rw-register`), judged against a consistency model.
//!
//! Shapes: `txn` takes a list of micro-operations `["r", k, null]` and
//! `["w", k, v]` (keys and values integers or strings); an `ok` completion
//! repeats them with each read's value filled in (`null`: the key was never
//! written). `info` and `fail` completions carry nothing the analysis uses:
//! their writes come from the invocation. Writes must be unique per key.
//!
//! The analysis, as Elle's:
//!
//! - **External** reads and writes: a transaction's first read of a key that
//!   it had not written before, and its last write of a key. A read of a
//!   key the transaction wrote earlier must see that write, and two reads
//!   without a write between them must agree (`internal` otherwise).
//! - **Version order** per key, as Elle's default: the initial state only,
//!   `nil` precedes every value written or read. With [`Inference`]'s
//!   `wfr_keys` (Elle's `:wfr-keys?`, `--wfr-keys`), writes also follow
//!   reads: an ok transaction that externally read `k = v1` and externally
//!   wrote `k = v2` puts `v1` before `v2`; if these edges order any key in a
//!   cycle, that is `cyclic-versions` and none of them is used (Elle drops
//!   the analyzer).
//! - **Dependencies** between ok transactions: `wr` (T1 externally wrote
//!   the value T2 externally read), and for every inferred version edge
//!   `v1 → v2`: `ww` from the writers of `v1` to the writers of `v2`, `rw`
//!   from the readers of `v1` (of `nil`, for the initial state) to the
//!   writers of `v2`. For strict serializability, `rt` (real time: T1 ended
//!   ok before T2, ok or info, was invoked), kept transitively reduced as
//!   Elle does. No dependency at all, and nothing forbidden seen: unknown
//!   (Elle's `empty-transaction-graph`).
//! - **Anomalies**: `G0` (a cycle of ww), `G1a` (an ok read of a value only
//!   a failed transaction wrote), `G1b` (an ok read of another
//!   transaction's intermediate write), `G1c` (a cycle of ww and wr, at least
//!   one wr), `G-single` (a cycle with exactly one rw), `G2-item` (a cycle
//!   with two or more rw), their `-realtime` forms (the cycle needs an rt
//!   edge), `lost-update` (two ok transactions read the same version of a
//!   key and both wrote it), `internal`, `cyclic-versions`, and two that
//!   Elle does not report: `garbage-read` (a read of a value nobody wrote)
//!   and `duplicate-write` (a value written twice to one key; the history
//!   breaks the unique-writes assumption, and the verdict is unknown).
//!
//! Which anomalies a model forbids is [`Consistency::forbids`], after
//! Elle's table: read-uncommitted (PL-1) forbids G0 and cyclic-versions;
//! read-committed (PL-2) adds G1a, G1b, G1c; repeatable-read (PL-2.99)
//! adds G-single, G2-item and lost-update; serializable (PL-3) adds
//! internal; strict-serializable adds the -realtime cycles. garbage-read
//! fails no model unless asked for (`anomalies`), as Elle ignores reads of
//! values nobody wrote. Read-your-writes per session is a separate check
//! ([`read_your_writes`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

mod cycles;

use super::shape::{bad_input, bad_output, txn_micros};
use super::{Model, ModelError, Registration, ShapeError};
use crate::history::{CompletionKind, Operation};
use crate::outcome::{KeyChecker, KeyReport, Verdict, Witness};

/// The registry line.
pub(crate) const REGISTRATION: Registration = Registration::new(
    "rw-register",
    "Elle rw-register: txn of [\"r\", k, v] and [\"w\", k, v] micro-ops (unique writes per key); ww/wr/rw (+rt) dependency cycles, G0 G1a G1b G1c G-single G2-item, judged against --consistency (default strict-serializable); initial: a consistency name or {\"consistency\": name, \"read_your_writes\": bool}",
    build,
);

const MICRO: &str =
    "a list of micro-operations [\"r\", key, null] and [\"w\", key, value] (keys and values integers or strings)";

/// A consistency model the history is judged against, with the anomalies
/// Elle's `elle.consistency-model` says it prohibits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Consistency {
    /// Adya PL-1.
    ReadUncommitted,
    /// Adya PL-2.
    ReadCommitted,
    /// Adya PL-2.99.
    RepeatableRead,
    /// Snapshot isolation (Adya PL-SI, as Elle formalizes it).
    SnapshotIsolation,
    /// Adya PL-3 (conflict serializability).
    Serializable,
    /// PL-3 plus each process's order.
    StrongSessionSerializable,
    /// PL-3 plus real-time order.
    StrictSerializable,
}

impl Consistency {
    /// Every model.
    pub const ALL: [Consistency; 7] = [
        Consistency::ReadUncommitted,
        Consistency::ReadCommitted,
        Consistency::RepeatableRead,
        Consistency::SnapshotIsolation,
        Consistency::Serializable,
        Consistency::StrongSessionSerializable,
        Consistency::StrictSerializable,
    ];

    /// The model's name, as `--consistency` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Consistency::ReadUncommitted => "read-uncommitted",
            Consistency::ReadCommitted => "read-committed",
            Consistency::RepeatableRead => "repeatable-read",
            Consistency::SnapshotIsolation => "snapshot-isolation",
            Consistency::Serializable => "serializable",
            Consistency::StrongSessionSerializable => "strong-session-serializable",
            Consistency::StrictSerializable => "strict-serializable",
        }
    }

    /// The model called `name` (Elle's names and aliases: `PL-1`, `PL-2`,
    /// `PL-2.99`, `PL-SI`, `PL-3`, `PL-SS`, `strong-serializable`).
    pub fn parse(name: &str) -> Option<Consistency> {
        let name = name.strip_prefix(':').unwrap_or(name);
        let alias = match name {
            "PL-1" => "read-uncommitted",
            "PL-2" => "read-committed",
            "PL-2.99" => "repeatable-read",
            "PL-SI" => "snapshot-isolation",
            "PL-3" | "conflict-serializable" => "serializable",
            "PL-SS" | "strong-serializable" => "strict-serializable",
            other => other,
        };
        Consistency::ALL.into_iter().find(|c| c.name() == alias)
    }

    /// The names, for error messages.
    pub fn names() -> String {
        Consistency::ALL.map(Consistency::name).join(", ")
    }

    /// Whether the model forbids anomaly `a`: Elle's prohibited set, the
    /// anomalies the model and the models it implies proscribe, and every
    /// anomaly that implies one of those (see the module docs).
    pub fn forbids(self, a: AnomalyKind) -> bool {
        use AnomalyKind::*;
        use Consistency::*;
        let cycle_level = |c: Consistency| match c {
            ReadUncommitted => 0,
            ReadCommitted => 1,
            RepeatableRead | SnapshotIsolation => 2,
            Serializable => 3,
            StrongSessionSerializable => 4,
            StrictSerializable => 5,
        };
        let level = cycle_level(self);
        match a {
            G0 | DuplicateElements | CyclicVersions => true,
            G1a | G1b | G1c | IncompatibleOrder | DirtyUpdate | FutureRead => level >= 1,
            G2Item => self == RepeatableRead || level >= 3,
            LostUpdate => level >= 2,
            Internal | GSingle | GNonadjacent => self == SnapshotIsolation || level >= 3,
            // Only reported for the model's own graph (see `cycles`).
            CycleExists | CycleExistsProcess | CycleExistsRealtime => true,
            G0Process | G1cProcess | GSingleProcess | GNonadjacentProcess | G2ItemProcess => {
                level >= 4
            }
            G0Realtime | G1cRealtime | GSingleRealtime | GNonadjacentRealtime | G2ItemRealtime => {
                level >= 5
            }
            GarbageRead | DuplicateWrite => false,
        }
    }

    /// The extra edges the model needs: real time (strict), process order (strong session).
    fn realtime(self) -> bool {
        self == Consistency::StrictSerializable
    }

    fn process(self) -> bool {
        self == Consistency::StrongSessionSerializable
    }
}

/// The kinds of anomaly the analysis reports, named as Elle names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AnomalyKind {
    /// A cycle of write-write dependencies.
    G0,
    /// An ok read of a value written only by a failed transaction.
    G1a,
    /// An ok read of another transaction's intermediate (not final) write.
    G1b,
    /// A cycle of ww and wr dependencies, at least one wr.
    G1c,
    /// A cycle with exactly one rw (anti-)dependency.
    GSingle,
    /// A cycle with two or more rw dependencies, no two adjacent.
    GNonadjacent,
    /// A cycle with two or more rw dependencies, two of them adjacent.
    G2Item,
    /// G0 that needs a process-order edge.
    G0Process,
    /// G1c that needs a process-order edge.
    G1cProcess,
    /// G-single that needs a process-order edge.
    GSingleProcess,
    /// G-nonadjacent that needs a process-order edge.
    GNonadjacentProcess,
    /// G2-item that needs a process-order edge.
    G2ItemProcess,
    /// G0 that needs a real-time edge.
    G0Realtime,
    /// G1c that needs a real-time edge.
    G1cRealtime,
    /// G-single that needs a real-time edge.
    GSingleRealtime,
    /// G-nonadjacent that needs a real-time edge.
    GNonadjacentRealtime,
    /// G2-item that needs a real-time edge.
    G2ItemRealtime,
    /// Two ok transactions read the same version of a key and both wrote it.
    LostUpdate,
    /// A transaction's read disagrees with its own earlier write or read.
    Internal,
    /// A transaction read a value it only writes later (list-append).
    FutureRead,
    /// A read saw the same appended element twice (list-append).
    DuplicateElements,
    /// Two reads of a key, neither a prefix of the other (list-append).
    IncompatibleOrder,
    /// A committed append follows a failed one in a key's order (list-append).
    DirtyUpdate,
    /// The writes-follow-reads version order of a key is cyclic.
    CyclicVersions,
    /// A cycle of data dependencies exists, unnamed (the search's bounds ran out).
    CycleExists,
    /// A cycle with process edges exists, unnamed.
    CycleExistsProcess,
    /// A cycle with real-time edges exists, unnamed.
    CycleExistsRealtime,
    /// A read of a value no transaction wrote. Elle reports nothing for it;
    /// listed for information, it fails no model unless asked for.
    GarbageRead,
    /// A value written twice to one key: writes are not unique.
    DuplicateWrite,
}

impl AnomalyKind {
    /// Every kind.
    pub const ALL: [AnomalyKind; 29] = {
        use AnomalyKind::*;
        [
            G0,
            G1a,
            G1b,
            G1c,
            GSingle,
            GNonadjacent,
            G2Item,
            G0Process,
            G1cProcess,
            GSingleProcess,
            GNonadjacentProcess,
            G2ItemProcess,
            G0Realtime,
            G1cRealtime,
            GSingleRealtime,
            GNonadjacentRealtime,
            G2ItemRealtime,
            LostUpdate,
            Internal,
            FutureRead,
            DuplicateElements,
            IncompatibleOrder,
            DirtyUpdate,
            CyclicVersions,
            CycleExists,
            CycleExistsProcess,
            CycleExistsRealtime,
            GarbageRead,
            DuplicateWrite,
        ]
    };

    /// Elle's name.
    pub fn name(self) -> &'static str {
        use AnomalyKind::*;
        match self {
            G0 => "G0",
            G1a => "G1a",
            G1b => "G1b",
            G1c => "G1c",
            GSingle => "G-single",
            GNonadjacent => "G-nonadjacent",
            G2Item => "G2-item",
            G0Process => "G0-process",
            G1cProcess => "G1c-process",
            GSingleProcess => "G-single-process",
            GNonadjacentProcess => "G-nonadjacent-process",
            G2ItemProcess => "G2-item-process",
            G0Realtime => "G0-realtime",
            G1cRealtime => "G1c-realtime",
            GSingleRealtime => "G-single-realtime",
            GNonadjacentRealtime => "G-nonadjacent-realtime",
            G2ItemRealtime => "G2-item-realtime",
            LostUpdate => "lost-update",
            Internal => "internal",
            FutureRead => "future-read",
            DuplicateElements => "duplicate-elements",
            IncompatibleOrder => "incompatible-order",
            DirtyUpdate => "dirty-update",
            CyclicVersions => "cyclic-versions",
            CycleExists => "cycle-exists",
            CycleExistsProcess => "cycle-exists-process",
            CycleExistsRealtime => "cycle-exists-realtime",
            GarbageRead => "garbage-read",
            DuplicateWrite => "duplicate-write",
        }
    }

    /// The kind called `name`.
    pub fn parse(name: &str) -> Option<AnomalyKind> {
        let name = name.strip_prefix(':').unwrap_or(name);
        AnomalyKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str(self.name())
    }
}

/// A key or value, as its JSON text (`1`, `"x"`).
pub type Atom = String;

/// One micro-operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mop {
    /// A read of key, and the value seen (`None`: nil, or unknown when the
    /// transaction did not end ok).
    R(Atom, Option<Atom>),
    /// A write of key = value.
    W(Atom, Atom),
    /// An append of an element to key's list (list-append).
    Append(Atom, Atom),
    /// A read of key's list (list-append): its elements, `None` if unknown.
    Rl(Atom, Option<Vec<Atom>>),
}

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Committed; its reads are known.
    Ok,
    /// Unknown outcome (or never completed).
    Info,
    /// Definitely did not happen.
    Fail,
}

/// One transaction of the history.
#[derive(Clone, Debug)]
pub struct Txn {
    /// Index of the operation it came from (in the caller's list).
    pub op: usize,
    /// The client process.
    pub process: u64,
    /// How it ended.
    pub status: Status,
    /// Invocation time.
    pub invoked: u64,
    /// Completion time (`None`: never completed).
    pub completed: Option<u64>,
    /// Its micro-operations, reads filled in when ok.
    pub mops: Vec<Mop>,
}

impl Txn {
    /// The transaction of history operation `op` (at `index` in the
    /// caller's list) that ended `status`, with micro-operations `mops`.
    pub fn new(op: &Operation, index: usize, status: Status, mops: Vec<Mop>) -> Txn {
        Txn {
            op: index,
            process: op.process,
            status,
            invoked: op.time,
            completed: op.completion.as_ref().map(|c| c.time),
            mops,
        }
    }

    /// External reads: the first read of each key not written before it in the txn.
    pub fn ext_reads(&self) -> BTreeMap<&Atom, &Option<Atom>> {
        let mut out = BTreeMap::new();
        let mut written = BTreeSet::new();
        for m in &self.mops {
            match m {
                Mop::R(k, v) if !written.contains(k) => {
                    out.entry(k).or_insert(v);
                }
                Mop::R(..) | Mop::Append(..) | Mop::Rl(..) => {}
                Mop::W(k, _) => {
                    written.insert(k);
                }
            }
        }
        out
    }

    /// External writes: the last write of each key.
    pub fn ext_writes(&self) -> BTreeMap<&Atom, &Atom> {
        let mut out = BTreeMap::new();
        for m in &self.mops {
            if let Mop::W(k, v) = m {
                out.insert(k, v);
            }
        }
        out
    }

    fn render(&self, name: usize) -> String {
        let status = match self.status {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Fail => "fail",
        };
        let mops: Vec<String> = self
            .mops
            .iter()
            .map(|m| match m {
                Mop::R(k, v) => format!("r {k} {}", v.as_deref().unwrap_or("nil")),
                Mop::W(k, v) => format!("w {k} {v}"),
                Mop::Append(k, v) => format!("append {k} {v}"),
                Mop::Rl(k, None) => format!("r {k} ?"),
                Mop::Rl(k, Some(list)) => format!("r {k} [{}]", list.join(" ")),
            })
            .collect();
        format!(
            "T{name} (process {}, {status}, invoked at {}): [{}]",
            self.process,
            self.invoked,
            mops.join(", ")
        )
    }
}

/// The kind of a dependency edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dep {
    /// Write-write: a later version overwrote.
    Ww,
    /// Write-read: the reader saw the writer's value.
    Wr,
    /// Read-write: the writer overwrote the version the reader saw.
    Rw,
    /// Real time: one ended before the other began.
    Rt,
    /// Process order: one process ran one, then the other.
    Process,
}

impl Dep {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Dep::Ww => "ww",
            Dep::Wr => "wr",
            Dep::Rw => "rw",
            Dep::Rt => "realtime",
            Dep::Process => "process",
        }
    }
}

/// One dependency edge between transactions (indices into the txn list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// From.
    pub from: usize,
    /// To.
    pub to: usize,
    /// Its kind.
    pub dep: Dep,
    /// Key and the versions involved (`v1 → v2`), or none for rt.
    pub why: Option<(Atom, Option<Atom>, Atom)>,
    /// True for list-append's edges (the versions are appended elements,
    /// `None` the empty list), false for registers'.
    pub list: bool,
}

impl Edge {
    /// The edge in words, as Elle explains it.
    pub fn render(&self) -> String {
        let (from, to) = (self.from, self.to);
        let nil = |v: &Option<Atom>| v.as_deref().unwrap_or("nil").to_string();
        let name = self.dep.name();
        let why = match (&self.why, self.dep, self.list) {
            (None, Dep::Process, _) => {
                format!("one process ran T{from}, then T{to}")
            }
            (None, _, _) => format!("T{from} completed before T{to} was invoked"),
            (Some((k, _, v)), Dep::Wr, false) => format!("T{to} read {k} = {v}, which T{from} wrote"),
            (Some((k, _, v)), Dep::Wr, true) => {
                format!("T{to} observed T{from}'s append of {v} to key {k}")
            }
            (Some((k, v1, v2)), Dep::Ww, false) => format!(
                "T{from} wrote {k} = {}, T{to} wrote {v2}, later in the version order",
                nil(v1)
            ),
            (Some((k, v1, v2)), Dep::Ww, true) => {
                format!("T{to} appended {v2} after T{from} appended {} to {k}", nil(v1))
            }
            (Some((k, None, v2)), _, true) => format!(
                "T{from} observed the initial (empty) state of {k}, which T{to} created by appending {v2}"
            ),
            (Some((k, Some(_), v2)), _, true) => {
                format!("T{from} did not observe T{to}'s append of {v2} to {k}")
            }
            (Some((k, v1, v2)), _, false) => format!(
                "T{from} read {k} = {}, T{to} wrote {v2}, later in the version order",
                nil(v1)
            ),
        };
        format!("T{from} -{name}-> T{to}: {why}")
    }
}

/// One anomaly: its kind, the transactions involved, and in words.
#[derive(Clone, Debug)]
pub struct Anomaly {
    /// What it is.
    pub kind: AnomalyKind,
    /// The transactions involved (indices into [`Analysis::txns`]); for a
    /// cycle, in cycle order.
    pub txns: Vec<usize>,
    /// For a cycle, its edges in order; the last one closes it.
    pub cycle: Vec<Edge>,
    /// The anomaly in one sentence.
    pub text: String,
}

/// The result of [`analyze`].
#[derive(Clone, Debug)]
pub struct Analysis {
    /// The transactions, in the order given.
    pub txns: Vec<Txn>,
    /// Every anomaly found (cycles: up to a few per kind).
    pub anomalies: Vec<Anomaly>,
    /// Dependency edges inferred, by kind (ww, wr, rw, realtime, process).
    pub edges: [usize; 5],
    /// The dependency edges (one per pair and kind).
    pub graph: Vec<Edge>,
}

impl Analysis {
    /// The anomalies `model` forbids, by kind (G0 first, then G1a, G1b,
    /// G1c, G-single, G2-item, the realtime cycles, and the rest).
    pub fn violations(&self, model: Consistency) -> Vec<&Anomaly> {
        // (Elle's prohibited set for the model.)
        let mut bad: Vec<&Anomaly> = self
            .anomalies
            .iter()
            .filter(|a| model.forbids(a.kind))
            .collect();
        bad.sort_by_key(|a| a.kind);
        bad
    }

    /// True if the unique-writes assumption failed: no verdict is possible.
    pub fn undecidable(&self) -> bool {
        self.anomalies
            .iter()
            .any(|a| a.kind == AnomalyKind::DuplicateWrite)
    }

    /// The kinds found, each once, in order.
    pub fn kinds(&self) -> Vec<AnomalyKind> {
        let set: BTreeSet<AnomalyKind> = self.anomalies.iter().map(|a| a.kind).collect();
        set.into_iter().collect()
    }

    /// An anomaly in one paragraph: what, the transactions, the edges.
    pub fn describe_line(&self, a: &Anomaly) -> String {
        let txns: Vec<String> = a.txns.iter().map(|&t| self.txns[t].render(t)).collect();
        let mut out = format!("{}: {}. Transactions: {}.", a.kind, a.text, txns.join("; "));
        if !a.cycle.is_empty() {
            let edges: Vec<String> = a.cycle.iter().map(Edge::render).collect();
            out.push_str(&format!(
                " Edges: {}, which closes the cycle.",
                edges.join("; ")
            ));
        }
        out
    }

    /// An anomaly and the transactions it names, as lines of text.
    pub fn describe(&self, a: &Anomaly) -> Vec<String> {
        let mut lines = vec![format!("{}: {}", a.kind, a.text)];
        for &t in &a.txns {
            lines.push(format!("  {}", self.txns[t].render(t)));
        }
        for (i, e) in a.cycle.iter().enumerate() {
            let closing = if i + 1 == a.cycle.len() {
                " — closes the cycle"
            } else {
                ""
            };
            lines.push(format!("  {}{closing}", e.render()));
        }
        lines
    }
}

/// The micro-operations of an atom-valued JSON list.
fn atom(v: &Value) -> Option<Atom> {
    match v {
        // An EDN keyword (`:x`) as itself: no other atom's text starts with ':'.
        Value::String(s) if s.starts_with(':') => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Value::String(_) => Some(v.to_string()),
        _ => None,
    }
}

/// Reads `op` as a transaction (`index` is its position in the caller's list).
pub fn txn_of(op: &Operation, index: usize) -> Result<Txn, ShapeError> {
    let (micros, outputs) = txn_micros(
        op,
        MICRO,
        "the transaction's micro-operations again, each read's value filled in",
    )?;
    let status = match &op.completion {
        Some(c) if c.kind == CompletionKind::Ok => Status::Ok,
        Some(c) if c.kind == CompletionKind::Fail => Status::Fail,
        _ => Status::Info,
    };
    let mut mops = Vec::with_capacity(micros.len());
    for (i, micro) in micros.iter().enumerate() {
        let Some([f, k, v]) = micro.as_array().map(Vec::as_slice) else {
            return Err(bad_input(op, MICRO));
        };
        let key = atom(k).ok_or_else(|| bad_input(op, MICRO))?;
        match f.as_str() {
            Some("r") => {
                let read = match outputs.map(|o| &o[i]) {
                    None => None,
                    Some(out) => {
                        let Some([g, k2, v2]) = out.as_array().map(Vec::as_slice) else {
                            return Err(bad_output(op, out, "[\"r\", key, value or null]"));
                        };
                        if g != f || atom(k2).as_ref() != Some(&key) {
                            return Err(bad_output(
                                op,
                                out,
                                "the same micro-operation as invoked, its value filled in",
                            ));
                        }
                        match v2 {
                            Value::Null => None,
                            v2 => Some(atom(v2).ok_or_else(|| {
                                bad_output(op, out, "a read of an integer, a string or null")
                            })?),
                        }
                    }
                };
                mops.push(Mop::R(key, read));
            }
            Some("w") => {
                let value = atom(v).ok_or_else(|| bad_input(op, MICRO))?;
                mops.push(Mop::W(key, value));
            }
            _ => return Err(bad_input(op, MICRO)),
        }
    }
    Ok(Txn::new(op, index, status, mops))
}

/// Reads every operation as a transaction.
pub fn txns_of(ops: &[&Operation]) -> Result<Vec<Txn>, (usize, ShapeError)> {
    ops.iter()
        .enumerate()
        .map(|(i, op)| txn_of(op, i).map_err(|e| (i, e)))
        .collect()
}

/// The dependency graph: edges and adjacency.
pub(crate) struct Graph {
    pub(crate) edges: Vec<Edge>,
    pub(crate) out: Vec<Vec<usize>>,
}

impl Graph {
    pub(crate) fn new(n: usize) -> Graph {
        Graph {
            edges: Vec::new(),
            out: vec![Vec::new(); n],
        }
    }

    pub(crate) fn add(&mut self, seen: &mut BTreeSet<(usize, usize, Dep)>, e: Edge) {
        if e.from == e.to || !seen.insert((e.from, e.to, e.dep)) {
            return;
        }
        self.out[e.from].push(self.edges.len());
        self.edges.push(e);
    }

    /// Strongly connected components over edges `allowed`: a component id per node.
    fn scc(&self, allowed: &dyn Fn(Dep) -> bool) -> Vec<usize> {
        // Iterative Tarjan.
        let n = self.out.len();
        let mut index = vec![usize::MAX; n];
        let mut low = vec![0; n];
        let mut on = vec![false; n];
        let mut comp = vec![usize::MAX; n];
        let mut stack = Vec::new();
        let mut next = 0;
        let mut comps = 0;
        for root in 0..n {
            if index[root] != usize::MAX {
                continue;
            }
            let mut work: Vec<(usize, usize)> = vec![(root, 0)];
            index[root] = next;
            low[root] = next;
            next += 1;
            stack.push(root);
            on[root] = true;
            while let Some(&mut (v, ref mut i)) = work.last_mut() {
                if *i < self.out[v].len() {
                    let e = &self.edges[self.out[v][*i]];
                    *i += 1;
                    if !allowed(e.dep) {
                        continue;
                    }
                    let w = e.to;
                    if index[w] == usize::MAX {
                        index[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on[w] = true;
                        work.push((w, 0));
                    } else if on[w] {
                        low[v] = low[v].min(index[w]);
                    }
                } else {
                    work.pop();
                    if let Some(&(u, _)) = work.last() {
                        low[u] = low[u].min(low[v]);
                    }
                    if low[v] == index[v] {
                        while let Some(w) = stack.pop() {
                            on[w] = false;
                            comp[w] = comps;
                            if w == v {
                                break;
                            }
                        }
                        comps += 1;
                    }
                }
            }
        }
        comp
    }
}

/// The inferred version graph of one key: edges `v1 → v2` (`None` is nil).
type Versions = BTreeSet<(Option<Atom>, Atom)>;

/// Whether `edges` (wfr edges of one key, non-nil) contain a cycle; if so one value on it.
fn version_cycle(edges: &Versions) -> Option<Vec<Atom>> {
    let mut out: BTreeMap<&Atom, Vec<&Atom>> = BTreeMap::new();
    for (a, b) in edges {
        if let Some(a) = a {
            out.entry(a).or_default().push(b);
        }
    }
    // Colour DFS.
    let mut state: BTreeMap<&Atom, u8> = BTreeMap::new();
    for &start in out.keys() {
        if state.get(start).copied().unwrap_or(0) != 0 {
            continue;
        }
        let mut stack: Vec<(&Atom, usize)> = vec![(start, 0)];
        state.insert(start, 1);
        while let Some(&mut (v, ref mut i)) = stack.last_mut() {
            let next = out.get(v).and_then(|n| n.get(*i)).copied();
            *i += 1;
            match next {
                None => {
                    state.insert(v, 2);
                    stack.pop();
                }
                Some(w) => match state.get(w).copied().unwrap_or(0) {
                    0 => {
                        state.insert(w, 1);
                        stack.push((w, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(x, _)| *x == w).unwrap_or(0);
                        return Some(stack[from..].iter().map(|(x, _)| (*x).clone()).collect());
                    }
                    _ => {}
                },
            }
        }
    }
    None
}

/// How a key's version order is inferred, as Elle's rw-register options.
/// The default is Elle's: only the initial state (nil precedes every value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inference {
    /// Elle's `:wfr-keys?`: within an ok transaction, a write of a key
    /// follows the transaction's read of it (the value read precedes the
    /// value written).
    pub wfr_keys: bool,
}

/// Analyses `txns` (all of the history's transactions, failed ones
/// included) with Elle's default version inference (the initial state
/// only), inferring what `model` needs (real-time edges only for
/// strict-serializable).
pub fn analyze(txns: Vec<Txn>, model: Consistency) -> Analysis {
    analyze_with(txns, model, Inference::default())
}

/// [`analyze`], with the version order inferred as `inference` says.
pub fn analyze_with(txns: Vec<Txn>, model: Consistency, inference: Inference) -> Analysis {
    let mut anomalies = Vec::new();
    let n = txns.len();
    let ok = |t: &Txn| t.status == Status::Ok;

    // Writers of each (key, value): (txn, final?).
    let mut writers: BTreeMap<(&Atom, &Atom), Vec<(usize, bool)>> = BTreeMap::new();
    for (i, t) in txns.iter().enumerate() {
        let finals = t.ext_writes();
        for (j, m) in t.mops.iter().enumerate() {
            if let Mop::W(k, v) = m {
                let last = !t.mops[j + 1..]
                    .iter()
                    .any(|m| matches!(m, Mop::W(k2, _) if k2 == k));
                debug_assert!(!last || finals.get(k) == Some(&v));
                writers.entry((k, v)).or_default().push((i, last));
            }
        }
    }
    let mut duplicated = false;
    for ((k, v), ws) in &writers {
        let distinct: BTreeSet<usize> = ws.iter().map(|w| w.0).collect();
        if ws.len() > 1 {
            duplicated = true;
            anomalies.push(Anomaly {
                kind: AnomalyKind::DuplicateWrite,
                txns: distinct.into_iter().collect(),
                cycle: Vec::new(),
                text: format!(
                    "{k} = {v} was written {} times; writes must be unique per key, so versions cannot be told apart",
                    ws.len()
                ),
            });
        }
    }

    // Internal consistency, G1a, G1b, garbage reads.
    for (i, t) in txns.iter().enumerate().filter(|(_, t)| ok(t)) {
        let mut state: BTreeMap<&Atom, &Option<Atom>> = BTreeMap::new();
        let mut wrote: BTreeMap<&Atom, Option<Atom>> = BTreeMap::new();
        for m in &t.mops {
            match m {
                Mop::W(k, v) => {
                    wrote.insert(k, Some(v.clone()));
                }
                Mop::R(k, v) => {
                    // What this read must see: the txn's own last write of
                    // k, else what it read of k before.
                    let (before, how, tail) = match wrote.get(k) {
                        Some(w) => (Some(w), "wrote", ""),
                        None => (state.get(k).copied(), "read", " with no write between"),
                    };
                    // As Elle: an earlier read of nil sets no expectation.
                    if let Some(seen) = before.filter(|seen| seen.is_some() && *seen != v) {
                        anomalies.push(Anomaly {
                            kind: AnomalyKind::Internal,
                            txns: vec![i],
                            cycle: Vec::new(),
                            text: format!(
                                "T{i} {how} {k} = {} and then read {k} = {}{tail}",
                                seen.as_deref().unwrap_or("nil"),
                                v.as_deref().unwrap_or("nil")
                            ),
                        });
                    }
                    if !wrote.contains_key(k) {
                        state.insert(k, v);
                    }
                }
                Mop::Append(..) | Mop::Rl(..) => {}
            }
        }
        // Every read, as Elle's G1a and G1b look at every read mop (a later
        // read of a key can see what the first did not); a garbage read
        // only when external.
        let external = t.ext_reads();
        let mut reads: BTreeSet<(&Atom, &Atom)> = BTreeSet::new();
        for m in &t.mops {
            if let Mop::R(k, Some(v)) = m {
                reads.insert((k, v));
            }
        }
        for (k, v) in reads {
            match writers.get(&(k, v)) {
                None if external.get(k).is_some_and(|e| e.as_ref() == Some(v)) => {
                    anomalies.push(Anomaly {
                        kind: AnomalyKind::GarbageRead,
                        txns: vec![i],
                        cycle: Vec::new(),
                        text: format!("T{i} read {k} = {v}, a value no transaction wrote"),
                    })
                }
                None => {}
                Some(ws) => {
                    for &(w, last) in ws.iter().filter(|(w, _)| *w != i) {
                        if txns[w].status == Status::Fail {
                            anomalies.push(Anomaly {
                                kind: AnomalyKind::G1a,
                                txns: vec![w, i],
                                cycle: Vec::new(),
                                text: format!(
                                    "T{i} read {k} = {v}, written by T{w}, which failed (aborted read)"
                                ),
                            });
                        } else if !last {
                            anomalies.push(Anomaly {
                                kind: AnomalyKind::G1b,
                                txns: vec![w, i],
                                cycle: Vec::new(),
                                text: format!(
                                    "T{i} read {k} = {v}, an intermediate write of T{w}, which wrote {k} again later (intermediate read)"
                                ),
                            });
                        }
                    }
                }
            }
        }
    }

    // Indices of ok external reads and writes.
    let mut ext_readers: BTreeMap<&Atom, BTreeMap<Option<&Atom>, Vec<usize>>> = BTreeMap::new();
    let mut ext_writers: BTreeMap<&Atom, BTreeMap<&Atom, Vec<usize>>> = BTreeMap::new();
    for (i, t) in txns.iter().enumerate().filter(|(_, t)| ok(t)) {
        for (k, v) in t.ext_reads() {
            ext_readers
                .entry(k)
                .or_default()
                .entry(v.as_ref())
                .or_default()
                .push(i);
        }
        for (k, v) in t.ext_writes() {
            ext_writers
                .entry(k)
                .or_default()
                .entry(v)
                .or_default()
                .push(i);
        }
    }

    // Version graphs: the initial state, then (if asked) writes follow reads.
    let mut versions: BTreeMap<&Atom, Versions> = BTreeMap::new();
    for t in txns.iter().filter(|t| t.status != Status::Fail) {
        for (k, v) in t.ext_writes() {
            versions.entry(k).or_default().insert((None, v.clone()));
        }
        if ok(t) {
            for (k, v) in t.ext_reads() {
                if let Some(v) = v {
                    versions.entry(k).or_default().insert((None, v.clone()));
                }
            }
        }
    }
    if inference.wfr_keys {
        // Writes follow reads (Elle's `:wfr-keys?`). As Elle, when these
        // edges put the versions of any key in a cycle, the whole analyzer
        // is left out (and every such cycle reported).
        let mut wfr: BTreeMap<&Atom, Versions> = BTreeMap::new();
        for t in txns.iter().filter(|t| ok(t)) {
            let writes = t.ext_writes();
            for (k, v) in t.ext_reads() {
                if let (Some(v), Some(&w)) = (v, writes.get(k)) {
                    if v != w {
                        wfr.entry(k)
                            .or_default()
                            .insert((Some(v.clone()), w.clone()));
                    }
                }
            }
        }
        let mut cyclic = false;
        for (k, edges) in &wfr {
            let Some(cycle) = version_cycle(edges) else {
                continue;
            };
            cyclic = true;
            let mut involved = BTreeSet::new();
            for v in &cycle {
                if let Some(ws) = ext_writers.get(k).and_then(|m| m.get(v)) {
                    involved.extend(ws.iter().copied());
                }
            }
            anomalies.push(Anomaly {
                kind: AnomalyKind::CyclicVersions,
                txns: involved.into_iter().collect(),
                cycle: Vec::new(),
                text: format!(
                    "writes follow reads orders the versions of {k} in a cycle: {} → {}; no writes-follow-reads edge is used (of any key)",
                    cycle.join(" → "),
                    cycle[0]
                ),
            });
        }
        if !cyclic {
            for (k, edges) in wfr {
                versions.entry(k).or_default().extend(edges);
            }
        }
    }

    // Lost update: two ok txns read the same version of k and both wrote k.
    for (k, by_value) in &ext_readers {
        for (v, readers) in by_value {
            let both: Vec<usize> = readers
                .iter()
                .copied()
                .filter(|&r| txns[r].ext_writes().contains_key(k))
                .collect();
            if both.len() > 1 {
                anomalies.push(Anomaly {
                    kind: AnomalyKind::LostUpdate,
                    txns: both.clone(),
                    cycle: Vec::new(),
                    text: format!(
                        "{} transactions read {k} = {} and each wrote {k}: {}",
                        both.len(),
                        v.map_or("nil", |v| v.as_str()),
                        both.iter()
                            .map(|t| format!("T{t}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
    }

    // The dependency graph.
    let mut g = Graph::new(n);
    let mut seen = BTreeSet::new();
    for (k, by_value) in &ext_readers {
        for (v, readers) in by_value {
            let Some(v) = v else { continue };
            let Some(ws) = ext_writers.get(k).and_then(|m| m.get(v)) else {
                continue;
            };
            if ws.len() != 1 {
                continue; // duplicate writes: no inference
            }
            for &r in readers {
                g.add(
                    &mut seen,
                    Edge {
                        from: ws[0],
                        to: r,
                        dep: Dep::Wr,
                        why: Some(((*k).clone(), None, (*v).clone())),
                        list: false,
                    },
                );
            }
        }
    }
    for (k, vg) in &versions {
        let none = BTreeMap::new();
        let writes = ext_writers.get(k).unwrap_or(&none);
        let reads_none = BTreeMap::new();
        let reads = ext_readers.get(k).unwrap_or(&reads_none);
        for (v1, v2) in vg {
            let Some(w2) = writes.get(v2) else { continue };
            if duplicated && w2.len() > 1 {
                continue;
            }
            if let Some(v1) = v1 {
                if let Some(w1) = writes.get(v1) {
                    for &a in w1 {
                        for &b in w2 {
                            g.add(
                                &mut seen,
                                Edge {
                                    from: a,
                                    to: b,
                                    dep: Dep::Ww,
                                    why: Some(((*k).clone(), Some(v1.clone()), v2.clone())),
                                    list: false,
                                },
                            );
                        }
                    }
                }
            }
            if let Some(r1) = reads.get(&v1.as_ref()) {
                for &a in r1 {
                    for &b in w2 {
                        g.add(
                            &mut seen,
                            Edge {
                                from: a,
                                to: b,
                                dep: Dep::Rw,
                                why: Some(((*k).clone(), v1.clone(), v2.clone())),
                                list: false,
                            },
                        );
                    }
                }
            }
        }
    }
    if model.realtime() {
        realtime_edges(&txns, &mut g, &mut seen);
    }
    if model.process() {
        process_edges(&txns, &mut g, &mut seen);
    }
    cycles_of(txns, g, model, anomalies)
}

/// Adds the cycles `model` forbids to `anomalies`: the analysis of `txns`.
pub(crate) fn cycles_of(
    txns: Vec<Txn>,
    g: Graph,
    model: Consistency,
    mut anomalies: Vec<Anomaly>,
) -> Analysis {
    let mut counts = [0usize; 5];
    for e in &g.edges {
        counts[e.dep as usize] += 1;
    }
    cycles::cycles(&g, model, &mut anomalies);
    Analysis {
        txns,
        anomalies,
        edges: counts,
        graph: g.edges,
    }
}

/// Process-order edges: each ok transaction to its process's next one.
pub(crate) fn process_edges(txns: &[Txn], g: &mut Graph, seen: &mut BTreeSet<(usize, usize, Dep)>) {
    let mut last: BTreeMap<u64, usize> = BTreeMap::new();
    let mut order: Vec<usize> = (0..txns.len())
        .filter(|&i| txns[i].status == Status::Ok)
        .collect();
    order.sort_by_key(|&i| (txns[i].invoked, i));
    for i in order {
        if let Some(prev) = last.insert(txns[i].process, i) {
            g.add(
                seen,
                Edge {
                    from: prev,
                    to: i,
                    dep: Dep::Process,
                    why: None,
                    list: false,
                },
            );
        }
    }
}

/// Real-time edges, transitively reduced, as Elle's realtime graph: each
/// transaction that ended ok or info (crashed: it may take effect later)
/// follows the frontier of ok transactions that had ended when it was
/// invoked and that no other ended ok transaction followed. An info
/// transaction precedes nothing in real time (it may not have ended); a
/// failed one took no effect, so edges to it are left out (Elle draws
/// them, but a failed transaction has no other edge and is on no cycle).
pub(crate) fn realtime_edges(
    txns: &[Txn],
    g: &mut Graph,
    seen: &mut BTreeSet<(usize, usize, Dep)>,
) {
    // Events (time, 0 invocation / 1 completion, txn); at equal times an
    // invocation sorts first: ending at t does not precede starting at t.
    let mut events: Vec<(u64, u8, usize)> = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        match t.status {
            Status::Ok => {
                events.push((t.invoked, 0, i));
                if let Some(c) = t.completed {
                    events.push((c, 1, i));
                }
            }
            Status::Info => events.push((t.invoked, 0, i)),
            Status::Fail => {}
        }
    }
    events.sort();
    let mut frontier: BTreeSet<usize> = BTreeSet::new();
    let mut preds: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (_, kind, i) in events {
        if kind == 0 {
            let p: Vec<usize> = frontier.iter().copied().collect();
            for &f in &p {
                g.add(
                    seen,
                    Edge {
                        from: f,
                        to: i,
                        dep: Dep::Rt,
                        why: None,
                        list: false,
                    },
                );
            }
            if txns[i].status == Status::Ok {
                preds.insert(i, p);
            }
        } else {
            for p in preds.remove(&i).unwrap_or_default() {
                frontier.remove(&p);
            }
            frontier.insert(i);
        }
    }
}

/// A read-your-writes violation: a later transaction of the same process
/// read a key the process had written, and saw something older.
#[derive(Clone, Debug)]
pub struct RywViolation {
    /// The transaction that wrote.
    pub writer: usize,
    /// The later transaction that read.
    pub reader: usize,
    /// The key.
    pub key: Atom,
    /// What the process last wrote.
    pub wrote: Atom,
    /// What the read returned (`None`: nil).
    pub read: Option<Atom>,
    /// Why the read is older, in words.
    pub text: String,
}

/// Read-your-writes per session: for each process, an ok transaction's
/// external read of a key the process wrote in an earlier ok transaction
/// (its latest write of the key, `w`) must not return a version known to
/// be older than `w`: nil, an earlier write of the same process to that key
/// (a session's own writes are ordered by the session), or a value that
/// the inferred version order puts before `w`.
pub fn read_your_writes(analysis: &Analysis) -> Vec<RywViolation> {
    let txns = &analysis.txns;
    // Version order edges from writes-follow-reads, for "before".
    let mut after: BTreeMap<(&Atom, &Atom), BTreeSet<&Atom>> = BTreeMap::new();
    for t in txns.iter().filter(|t| t.status == Status::Ok) {
        let writes = t.ext_writes();
        for (k, v) in t.ext_reads() {
            if let (Some(v), Some(w)) = (v, writes.get(k)) {
                after.entry((k, v)).or_default().insert(w);
            }
        }
    }
    let precedes = |k: &Atom, a: &Atom, b: &Atom| -> bool {
        let mut stack = vec![a];
        let mut seen = BTreeSet::new();
        while let Some(x) = stack.pop() {
            if !seen.insert(x) {
                continue;
            }
            for y in after.get(&(k, x)).into_iter().flatten() {
                if *y == b {
                    return true;
                }
                stack.push(y);
            }
        }
        false
    };
    let mut by_process: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, t) in txns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.status == Status::Ok)
    {
        by_process.entry(t.process).or_default().push(i);
    }
    let mut out = Vec::new();
    for list in by_process.values_mut() {
        list.sort_by_key(|&i| (txns[i].invoked, i));
        // Per key: the latest write (txn, value) and every earlier own value.
        let mut last: BTreeMap<&Atom, (usize, &Atom)> = BTreeMap::new();
        let mut older: BTreeMap<&Atom, BTreeSet<&Atom>> = BTreeMap::new();
        for &i in list.iter() {
            for (k, v) in txns[i].ext_reads() {
                let Some(&(w, wrote)) = last.get(k) else {
                    continue;
                };
                let why = match v {
                    None => Some("nil, the initial state".to_string()),
                    Some(v) if v == wrote => None,
                    Some(v) if older.get(k).is_some_and(|o| o.contains(v)) => {
                        Some(format!("{v}, which the process wrote before {wrote}"))
                    }
                    Some(v) if precedes(k, v, wrote) => {
                        Some(format!("{v}, which the version order puts before {wrote}"))
                    }
                    Some(_) => None,
                };
                if let Some(why) = why {
                    out.push(RywViolation {
                        writer: w,
                        reader: i,
                        key: k.clone(),
                        wrote: wrote.clone(),
                        read: v.clone(),
                        text: format!(
                            "process {} wrote {k} = {wrote} in T{w}, then T{i} read {k} = {why}",
                            txns[i].process
                        ),
                    });
                }
            }
            for (k, v) in txns[i].ext_writes() {
                if let Some((_, prev)) = last.insert(k, (i, v)) {
                    older.entry(k).or_default().insert(prev);
                }
            }
        }
    }
    out
}

/// Which of Elle's workloads a transactional model reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Workload {
    RwRegister,
    ListAppend,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::RwRegister => "rw-register",
            Workload::ListAppend => "list-append",
        }
    }
}

/// A transactional model's settings, from `--initial` / `--consistency` /
/// `--anomalies`.
#[derive(Clone, Debug)]
struct Transactional {
    workload: Workload,
    model: Consistency,
    ryw: bool,
    /// Anomalies to fail on besides the model's (Elle's `:anomalies`).
    also: Vec<AnomalyKind>,
    /// rw-register's version inference (`wfr_keys`).
    inference: Inference,
}

impl Transactional {
    fn forbids(&self, a: AnomalyKind) -> bool {
        self.model.forbids(a) || self.also.contains(&a)
    }
}

/// Builds a transactional model: `initial` is a consistency model's name,
/// or `{"consistency": name, "read_your_writes": bool, "anomalies": [names],
/// "wfr_keys": bool}` (`wfr_keys`: rw-register only).
pub(crate) fn build_for(workload: Workload, initial: Option<&Value>) -> Result<Model, ModelError> {
    let name = workload.name();
    let bad = |found: &Value| {
        ModelError::BadInitial {
        model: name,
        expected: "a consistency model's name (read-uncommitted, read-committed, repeatable-read, snapshot-isolation, serializable, strong-session-serializable, strict-serializable) or {\"consistency\": name, \"read_your_writes\": bool, \"anomalies\": [anomaly names], \"wfr_keys\": bool (rw-register only)}",
        found: found.clone(),
    }
    };
    let mut settings = Transactional {
        workload,
        model: Consistency::StrictSerializable,
        ryw: false,
        also: Vec::new(),
        inference: Inference::default(),
    };
    match initial {
        None | Some(Value::Null) => {}
        Some(v @ Value::String(s)) => {
            settings.model = Consistency::parse(s).ok_or_else(|| bad(v))?
        }
        Some(v @ Value::Object(o)) => {
            for (field, x) in o {
                match (field.as_str(), x) {
                    ("consistency", Value::String(s)) => {
                        settings.model = Consistency::parse(s).ok_or_else(|| bad(v))?
                    }
                    ("read_your_writes", Value::Bool(b)) => settings.ryw = *b,
                    ("wfr_keys", Value::Bool(b)) if workload == Workload::RwRegister => {
                        settings.inference.wfr_keys = *b
                    }
                    ("anomalies", Value::Array(names)) => {
                        for n in names {
                            let kind = n.as_str().and_then(AnomalyKind::parse);
                            settings.also.push(kind.ok_or_else(|| bad(v))?);
                        }
                    }
                    _ => return Err(bad(v)),
                }
            }
        }
        Some(v) => return Err(bad(v)),
    }
    Ok(Model {
        name,
        spec: Box::new(settings),
    })
}

fn build(initial: Option<&Value>) -> Result<Model, ModelError> {
    build_for(Workload::RwRegister, initial)
}

impl KeyChecker for Transactional {
    fn validate(&self, op: &Operation) -> Result<(), ShapeError> {
        match self.workload {
            Workload::RwRegister => txn_of(op, 0).map(|_| ()),
            Workload::ListAppend => super::list_append::txn_of(op, 0).map(|_| ()),
        }
    }

    fn keeps_failed(&self) -> bool {
        true
    }

    fn property(&self) -> &'static str {
        self.model.name()
    }

    fn check_keys(
        &self,
        keys: &[(Option<&str>, Vec<&Operation>)],
        _budget: u64,
        _explain: bool,
    ) -> (Vec<KeyReport>, Option<Witness>) {
        let mut ops: Vec<&Operation> = keys.iter().flat_map(|(_, o)| o.iter().copied()).collect();
        ops.sort_by_key(|o| (o.time, o.line, o.process));
        // Every operation was validated already.
        let analysis = match self.workload {
            Workload::RwRegister => analyze_with(
                txns_of(&ops).unwrap_or_default(),
                self.model,
                self.inference,
            ),
            Workload::ListAppend => super::list_append::analyze(
                super::list_append::txns_of(&ops).unwrap_or_default(),
                self.model,
            ),
        };
        let (verdict, witness) = judge(&analysis, self, &ops);
        let report = KeyReport {
            key: None,
            ops: ops.len(),
            verdict: Some(verdict),
            steps: analysis.edges.iter().sum::<usize>() as u64,
        };
        (vec![report], witness)
    }
}

/// The verdict and, on a violation, a witness: the first (worst) violation's
/// transactions, its cycle with every edge explained, and every kind found.
fn judge(
    analysis: &Analysis,
    settings: &Transactional,
    ops: &[&Operation],
) -> (Verdict, Option<Witness>) {
    let mut bad: Vec<&Anomaly> = analysis
        .anomalies
        .iter()
        .filter(|a| settings.forbids(a.kind))
        .collect();
    bad.sort_by_key(|a| a.kind);
    let ryw_bad = if settings.ryw {
        read_your_writes(analysis)
    } else {
        Vec::new()
    };
    if bad.is_empty() && ryw_bad.is_empty() {
        // As Elle's empty-transaction-graph: with no dependency inferred at
        // all, nothing was checked, and the answer is unknown.
        let verdict = if analysis.undecidable() || analysis.graph.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Linearizable
        };
        return (verdict, None);
    }
    let mut kinds: Vec<String> = analysis
        .kinds()
        .into_iter()
        .filter(|k| settings.forbids(*k))
        .map(|k| k.name().to_string())
        .collect();
    if !ryw_bad.is_empty() {
        kinds.push("read-your-writes".into());
    }
    let (first_txns, first_text) = match bad.first() {
        Some(a) => (a.txns.clone(), analysis.describe(a).join("\n")),
        None => {
            let r = &ryw_bad[0];
            (
                vec![r.writer, r.reader],
                format!("read-your-writes: {}", r.text),
            )
        }
    };
    let mut cited: Vec<usize> = first_txns.iter().map(|&t| analysis.txns[t].op).collect();
    cited.sort_unstable();
    cited.dedup();
    let total = bad.len() + ryw_bad.len();
    let allowed: Vec<&str> = analysis
        .kinds()
        .into_iter()
        .filter(|k| !settings.forbids(*k))
        .map(AnomalyKind::name)
        .collect();
    let mut text = format!(
        "not {}: {} ({total} anomal{} in all)",
        settings.model.name(),
        kinds.join(", "),
        if total == 1 { "y" } else { "ies" }
    );
    if !allowed.is_empty() {
        text.push_str(&format!(
            "; also seen, which {} allows: {}",
            settings.model.name(),
            allowed.join(", ")
        ));
    }
    text.push_str(&format!("\n{first_text}"));
    (
        Verdict::NotLinearizable,
        Some(Witness {
            claim: Some(match bad.first() {
                Some(a) if !a.cycle.is_empty() => format!(
                    "these {} transactions form a {} cycle",
                    a.txns.len(),
                    a.kind
                ),
                Some(a) => format!("{} shown by these transactions", a.kind),
                None => "read-your-writes fails on these transactions".to_string(),
            }),
            key: None,
            ops: cited.into_iter().map(|i| ops[i].clone()).collect(),
            explanation: text,
            minimal: false,
        }),
    )
}

#[cfg(test)]
mod tests;
