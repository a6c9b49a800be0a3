//! Challenge #6, totally-available transactions (Maelstrom's
//! txn-rw-register): a client sends `txn` with micro-operations
//! `["r", k, null]` and `["w", k, v]`; the node answers `txn_ok` with the
//! reads filled in.
//!
//! - `faithful-a` (cmd/txn.go, internal/txn_store.go): one store under a
//!   mutex, micro-ops applied in order; a read of a key never written
//!   returns 0 (Go's zero value), not null. Meant for one node; on several,
//!   each node is its own store.
//! - `faithful-b` (cmd/txn-b, internal/txn_store_versions.go): per node a
//!   map key → {value, version}. A txn copies the store (snapshot), runs
//!   against the copy (reads see its own earlier writes; missing keys read
//!   null), and for every write takes version = the copy's version + 1 (0
//!   for a new key) and at once sends gossip{key, value, version} to every
//!   node, itself included, by SyncRPC without a deadline, retried only on
//!   an error reply; then it answers. The store changes only when the
//!   self-addressed gossip arrives; gossip applies iff its version is
//!   greater than the stored one (or the key is new), so on equal versions
//!   whichever arrived first stays.
//! - `faithful-c` (cmd/txn-c, internal/txn_store_ts.go): like b, but the
//!   copy's versions are applied to the store right after the txn, and the
//!   whole copy is then sent to every other node. The payload is a
//!   float64-keyed map, which Go's JSON encoder refuses, so each send fails
//!   before anything is transmitted and its retry loop spins for ever:
//!   nothing replicates. dsim does not run the loops (they would never let
//!   simulated time advance); it records when each started and reports
//!   their cost in the notes and in the `spin` check: attempts ≈ spinning
//!   time / `spin_attempt_us`, one leaked callback entry per attempt.
//! - `intended`: read committed with total availability, replicas
//!   converge. Each node keeps key → (value, stamp), a stamp being
//!   (Lamport time, node id). A txn runs at once against the local store
//!   (one handler at a time, so atomically), takes stamp (clock + 1, id),
//!   stores its final value per key (never an intermediate one) and sends
//!   those final values to every other node (fire and forget); every
//!   `gossip_ms` each node also sends its whole store to every other node
//!   (anti-entropy, which repairs what partitions dropped). A receiver
//!   advances its clock to the stamps it sees and keeps, per key, the value
//!   with the greatest stamp. Every wr and ww dependency goes from a
//!   smaller stamp to a greater one (a txn's stamp exceeds every stamp it
//!   read), so no G0/G1c cycle exists; only final values of committed txns
//!   are ever visible (no G1a, G1b); last-writer-wins over a total order of
//!   stamps makes replicas agree once anti-entropy has run after the heal.

use std::collections::BTreeMap;
use std::sync::Arc;

use checker::model::rw_register::{self, Consistency};
use serde::{Deserialize, Serialize};
use sim::{Digest, NodeId, Reply, Request, Sim, Time, Value, ValueGen, MS};

use super::{Kind, Net, Server, Timer, Workload};
use crate::{CheckResult, CheckSpec, OpSpec, Variant};

/// `params`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// The consistency model the `rw-register` check judges against.
    pub consistency: String,
    /// intended: the anti-entropy period.
    #[serde(deserialize_with = "sim::ms::de")]
    pub gossip_ms: u64,
    /// faithful-c: how long one failed send attempt of a spinning loop
    /// takes, for the cost estimate.
    pub spin_attempt_us: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            consistency: "read-committed".into(),
            gossip_ms: 500,
            spin_attempt_us: 10,
        }
    }
}

/// Replicated writes: `[key, value, stamp or version, node]` each, shared
/// so that cloning a message does not copy them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Writes(pub Arc<Vec<[i64; 4]>>);

impl Serialize for Writes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_slice().serialize(s)
    }
}

/// What a reply resumes: a gossip to `to` (faithful-b), retried on an error.
#[derive(Clone, Debug)]
pub struct Cont {
    to: NodeId,
    key: i64,
    value: i64,
    version: i64,
}

/// The variants' behaviour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    #[default]
    A,
    B,
    C,
    Intended,
}

/// A txn server.
#[derive(Clone, Debug, Default)]
pub struct TxnNode {
    mode: Mode,
    id: NodeId,
    nodes: usize,
    gossip: Time,
    /// key → (value, version) for a–c (a ignores versions); key → (value,
    /// Lamport time, node) for intended.
    store: BTreeMap<i64, (i64, i64, i64)>,
    /// intended: the Lamport clock.
    clock: i64,
    /// faithful-c: when each spinning send loop started.
    spinning: Vec<Time>,
}

/// A micro-op of a request: (is write, key, value written).
type Micro = (bool, i64, Option<i64>);

fn micros(value: &Value) -> Option<Vec<Micro>> {
    let Value::List(items) = value else {
        return None;
    };
    items
        .iter()
        .map(|m| match m {
            Value::List(parts) => match parts.as_slice() {
                [Value::Str(f), Value::Int(k), v] if f == "r" => Some((false, *k, v.as_int())),
                [Value::Str(f), Value::Int(k), Value::Int(v)] if f == "w" => {
                    Some((true, *k, Some(*v)))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn mop(f: &str, k: i64, v: Option<i64>) -> Value {
    Value::List(vec![
        Value::Str(f.into()),
        Value::Int(k),
        v.map_or(Value::Null, Value::Int),
    ])
}

impl TxnNode {
    fn apply_versioned(&mut self, key: i64, value: i64, version: i64) {
        match self.store.get(&key) {
            Some(&(_, v, _)) if v >= version => {}
            _ => {
                self.store.insert(key, (value, version, 0));
            }
        }
    }

    fn merge(&mut self, w: &[i64; 4]) {
        let [key, value, lamport, node] = *w;
        self.clock = self.clock.max(lamport);
        match self.store.get(&key) {
            Some(&(_, l, n)) if (l, n) >= (lamport, node) => {}
            _ => {
                self.store.insert(key, (value, lamport, node));
            }
        }
    }

    /// Runs a txn; answers the results.
    fn run(&mut self, net: &mut Net<'_, '_, '_, Self>, ops: &[Micro]) -> Value {
        let mut out = Vec::with_capacity(ops.len());
        match self.mode {
            Mode::A => {
                for &(write, k, v) in ops {
                    if write {
                        let v = v.unwrap_or(0);
                        self.store.insert(k, (v, 0, 0));
                        out.push(mop("w", k, Some(v)));
                    } else {
                        // Go's map read of a missing key: the zero value.
                        let v = self.store.get(&k).map_or(0, |e| e.0);
                        out.push(mop("r", k, Some(v)));
                    }
                }
            }
            Mode::B | Mode::C => {
                let mut snapshot = self.store.clone();
                for &(write, k, v) in ops {
                    if write {
                        let v = v.unwrap_or(0);
                        let version = snapshot.get(&k).map_or(0, |e| e.1 + 1);
                        snapshot.insert(k, (v, version, 0));
                        if self.mode == Mode::B {
                            for to in 0..self.nodes {
                                let cont = Cont {
                                    to,
                                    key: k,
                                    value: v,
                                    version,
                                };
                                net.rpc(to, gossip(&cont), cont);
                            }
                        }
                        out.push(mop("w", k, Some(v)));
                    } else {
                        out.push(mop("r", k, snapshot.get(&k).map(|e| e.0)));
                    }
                }
                if self.mode == Mode::C {
                    for (k, (v, version, _)) in snapshot {
                        self.apply_versioned(k, v, version);
                    }
                    // One goroutine per other node, each spinning for ever.
                    let now = net.now();
                    self.spinning
                        .extend(std::iter::repeat_n(now, self.nodes.saturating_sub(1)));
                }
            }
            Mode::Intended => {
                self.clock += 1;
                let (lamport, node) = (self.clock, self.id as i64);
                let mut finals: BTreeMap<i64, i64> = BTreeMap::new();
                for &(write, k, v) in ops {
                    if write {
                        let v = v.unwrap_or(0);
                        finals.insert(k, v);
                        out.push(mop("w", k, Some(v)));
                    } else {
                        let v = finals
                            .get(&k)
                            .copied()
                            .or_else(|| self.store.get(&k).map(|e| e.0));
                        out.push(mop("r", k, v));
                    }
                }
                if !finals.is_empty() {
                    let writes: Vec<[i64; 4]> = finals
                        .iter()
                        .map(|(&k, &v)| [k, v, lamport, node])
                        .collect();
                    for w in &writes {
                        self.merge(w);
                    }
                    let writes = Writes(Arc::new(writes));
                    for to in (0..self.nodes).filter(|&p| p != self.id) {
                        net.send(
                            to,
                            Kind::TxnReplicate {
                                writes: writes.clone(),
                            },
                        );
                    }
                }
            }
        }
        Value::List(out)
    }
}

fn gossip(c: &Cont) -> Kind {
    Kind::TxnGossip {
        key: c.key,
        value: c.value,
        version: c.version,
    }
}

/// The `rw-register` check's consistency model.
fn consistency(run: &Sim<Server<TxnNode>>) -> Consistency {
    run.nodes()
        .iter()
        .find_map(|p| p.host())
        .and_then(|h| Consistency::parse(&h.params.consistency))
        .unwrap_or(Consistency::ReadCommitted)
}

/// The run's transactions, analysed against `model`.
fn analysis(
    run: &Sim<Server<TxnNode>>,
    model: Consistency,
) -> Result<rw_register::Analysis, String> {
    let history = crate::check::to_checker_history(run.history())
        .map_err(|e| format!("the run's history is malformed: {e}"))?;
    let ops: Vec<&checker::Operation> = history.operations().iter().collect();
    let txns = rw_register::txns_of(&ops)
        .map_err(|(i, e)| format!("operation {i} is not a transaction: {e}"))?;
    // With writes-follow-reads, as this check has always inferred versions.
    let inference = rw_register::Inference { wfr_keys: true };
    Ok(rw_register::analyze_with(txns, model, inference))
}

/// How many anomalies a report lists.
const SHOWN: usize = 6;

fn rw_register_check(run: &Sim<Server<TxnNode>>) -> CheckResult {
    let model = consistency(run);
    let a = match analysis(run, model) {
        Ok(a) => a,
        Err(e) => return CheckResult::unknown(e),
    };
    let count = |s: rw_register::Status| a.txns.iter().filter(|t| t.status == s).count();
    let size = format!(
        "{} txn(s): {} ok, {} info, {} fail; {} ww, {} wr, {} rw{} edge(s)",
        a.txns.len(),
        count(rw_register::Status::Ok),
        count(rw_register::Status::Info),
        count(rw_register::Status::Fail),
        a.edges[0],
        a.edges[1],
        a.edges[2],
        if a.edges[3] > 0 {
            format!(", {} rt", a.edges[3])
        } else {
            String::new()
        }
    );
    let bad = a.violations(model);
    let allowed: Vec<String> = a
        .kinds()
        .into_iter()
        .filter(|k| !model.forbids(*k))
        .map(|k| k.name().to_string())
        .collect();
    if a.undecidable() {
        return CheckResult::unknown(format!(
            "writes are not unique per key: no inference ({size})"
        ));
    }
    if bad.is_empty() {
        let also = if allowed.is_empty() {
            String::new()
        } else {
            format!("; found, and allowed: {}", allowed.join(", "))
        };
        return CheckResult::pass(format!("{size}; no anomaly {} forbids{also}", model.name()));
    }
    let kinds: Vec<String> = a
        .kinds()
        .into_iter()
        .filter(|k| model.forbids(*k))
        .map(|k| k.name().to_string())
        .collect();
    let mut evidence = Vec::new();
    for x in bad.iter().take(SHOWN) {
        evidence.extend(a.describe(x));
    }
    if bad.len() > SHOWN {
        evidence.push(format!("… and {} more", bad.len() - SHOWN));
    }
    CheckResult::violation(
        format!(
            "not {}: {} ({} anomal{}; {size})",
            model.name(),
            kinds.join(", "),
            bad.len(),
            if bad.len() == 1 { "y" } else { "ies" }
        ),
        evidence,
    )
}

fn ryw_check(run: &Sim<Server<TxnNode>>) -> CheckResult {
    let a = match analysis(run, Consistency::ReadUncommitted) {
        Ok(a) => a,
        Err(e) => return CheckResult::unknown(e),
    };
    let v = rw_register::read_your_writes(&a);
    if v.is_empty() {
        return CheckResult::pass(format!(
            "{} txn(s): every read of a key its process had written saw that write or a later one",
            a.txns.len()
        ));
    }
    let evidence = v.iter().take(8).map(|x| x.text.clone()).collect();
    CheckResult::violation(
        format!("{} read(s) missed the process's own earlier write", v.len()),
        evidence,
    )
}

/// faithful-c: the spinning send loops, as (loops, attempts, per node).
fn spin_cost(run: &Sim<Server<TxnNode>>) -> Vec<(NodeId, usize, u64)> {
    let end = run.now();
    run.nodes()
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let h = p.host()?;
            if h.w.spinning.is_empty() {
                return None;
            }
            let per = h.params.spin_attempt_us.max(1);
            let attempts =
                h.w.spinning
                    .iter()
                    .map(|&t| end.saturating_sub(t) / per)
                    .sum();
            Some((i, h.w.spinning.len(), attempts))
        })
        .collect()
}

fn spin_check(run: &Sim<Server<TxnNode>>) -> CheckResult {
    let cost = spin_cost(run);
    if cost.is_empty() {
        return CheckResult::pass("no send loop spins");
    }
    let loops: usize = cost.iter().map(|c| c.1).sum();
    let attempts: u64 = cost.iter().map(|c| c.2).sum();
    let evidence = cost
        .iter()
        .map(|(n, l, a)| {
            format!("n{n}: {l} send loop(s) spinning, about {a} failed attempt(s) and leaked callback entries by the end")
        })
        .collect();
    CheckResult::violation(
        format!("{loops} send loop(s) spin for ever (the payload never encodes), about {attempts} attempt(s) by the end of the run"),
        evidence,
    )
}

impl Workload for TxnNode {
    const NAME: &'static str = "gg-txn";
    const SUMMARY: &'static str = "Gossip Glomers #6 on a Maelstrom world: totally-available read/write-register transactions (faithful a-c as mchernyakov coded them; intended: read committed, last-writer-wins replicas that converge)";
    type Params = Params;
    type Cont = Cont;

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "faithful-a",
                summary: "cmd/txn.go: one store, micro-ops in order; a read of an unwritten key returns 0, not null",
            },
            Variant {
                name: "faithful-b",
                summary: "txn-b: snapshot; each write gossiped {key, value, version+1} to every node including self by SyncRPC without a deadline; the store changes only on gossip, greater version wins, ties keep the first arrival",
            },
            Variant {
                name: "faithful-c",
                summary: "txn-c: snapshot applied locally after the txn; its float-keyed copy never encodes, so nothing replicates and one send loop per other node spins for ever",
            },
            Variant {
                name: "intended",
                summary: "read committed, totally available: final values stamped (Lamport, node), sent to every node and re-sent by anti-entropy every gossip_ms; last writer wins, so replicas converge",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        vec![OpSpec {
            name: "txn",
            read: false,
            weight: 1,
            value: ValueGen::Txn {
                keys: 4,
                max_len: 4,
            },
        }]
    }

    fn model() -> Option<&'static str> {
        Some("rw-register")
    }

    fn checks() -> &'static [CheckSpec] {
        &[
            CheckSpec {
                name: "rw-register",
                summary: "Elle's rw-register analysis of the txn history (ww/wr/rw dependencies inferred from unique writes, the initial nil and writes-follow-reads), judged against params.consistency (default read-committed); the same as dsim check --model rw-register --wfr-keys",
            },
            CheckSpec {
                name: "read-your-writes",
                summary: "per client: a txn reading a key the client wrote in an earlier txn sees that write or a later version (not nil, not an older own write, not a version known to precede it)",
            },
            CheckSpec {
                name: "spin",
                summary: "fails while send loops spin for ever (faithful-c), with their estimated attempts",
            },
            super::checks::STATS,
        ]
    }

    fn default_checks() -> &'static [&'static str] {
        &["rw-register", "availability", "stats"]
    }

    fn validate(params: &Params, _: usize) -> Result<(), String> {
        if Consistency::parse(&params.consistency).is_none() {
            return Err(format!(
                "consistency {:?} is not a consistency model; allowed: {}",
                params.consistency,
                Consistency::names()
            ));
        }
        if params.gossip_ms == 0 {
            return Err("gossip_ms must be at least 1".into());
        }
        if params.spin_attempt_us == 0 {
            return Err("spin_attempt_us must be at least 1".into());
        }
        Ok(())
    }

    fn new(id: NodeId, nodes: usize, variant: &str, params: &Params) -> Self {
        let mode = match variant {
            "faithful-b" => Mode::B,
            "faithful-c" => Mode::C,
            "intended" => Mode::Intended,
            _ => Mode::A,
        };
        TxnNode {
            mode,
            id,
            nodes,
            gossip: params.gossip_ms * MS,
            ..TxnNode::default()
        }
    }

    fn on_init(&mut self, net: &mut Net<'_, '_, '_, Self>) {
        if self.mode == Mode::Intended {
            net.set_timer(Timer::Tick, self.gossip);
        }
    }

    fn on_request(&mut self, net: &mut Net<'_, '_, '_, Self>, req: Request) {
        let reply = match micros(&req.value) {
            Some(ops) => Reply::Ok(self.run(net, &ops)),
            None => super::error_reply(
                super::code::MALFORMED_REQUEST,
                "txn takes a list of [\"r\", k, null] and [\"w\", k, v]",
            ),
        };
        net.answer(req.id, reply);
    }

    fn on_message(
        &mut self,
        net: &mut Net<'_, '_, '_, Self>,
        from: NodeId,
        msg_id: Option<u64>,
        kind: Kind,
    ) -> Result<(), Kind> {
        match (self.mode, kind) {
            (
                Mode::B,
                Kind::TxnGossip {
                    key,
                    value,
                    version,
                },
            ) => {
                self.apply_versioned(key, value, version);
                net.reply(from, msg_id, Kind::GossipOk);
            }
            (Mode::Intended, Kind::TxnReplicate { writes }) => {
                for w in writes.0.iter() {
                    self.merge(w);
                }
            }
            (_, kind) => return Err(kind),
        }
        Ok(())
    }

    fn on_reply(&mut self, net: &mut Net<'_, '_, '_, Self>, cont: Cont, kind: Kind) {
        // `for { SyncRPC; if err == nil break }`: only an error reply retries.
        if matches!(kind, Kind::Error { .. }) {
            net.rpc(cont.to, gossip(&cont), cont);
        }
    }

    fn on_timer(&mut self, net: &mut Net<'_, '_, '_, Self>, _: Timer) {
        net.set_timer(Timer::Tick, self.gossip);
        if self.store.is_empty() {
            return;
        }
        let writes: Vec<[i64; 4]> = self
            .store
            .iter()
            .map(|(&k, &(v, l, n))| [k, v, l, n])
            .collect();
        let writes = Writes(Arc::new(writes));
        for to in (0..self.nodes).filter(|&p| p != self.id) {
            net.send(
                to,
                Kind::TxnReplicate {
                    writes: writes.clone(),
                },
            );
        }
    }

    fn digest(&self) -> Digest {
        self.store
            .iter()
            .map(|(k, e)| (k.to_string(), e.0.to_string()))
            .collect()
    }

    fn notes(run: &Sim<Server<Self>>) -> Vec<String> {
        spin_cost(run)
            .into_iter()
            .map(|(n, loops, attempts)| {
                format!(
                    "n{n} (faithful-c): {loops} send loop(s) spinning for ever since their txns (the float64-keyed payload never encodes); at {} µs per failed attempt, about {attempts} attempts and as many leaked callback entries by the end; nothing was replicated",
                    run.nodes()[n].host().map_or(0, |h| h.params.spin_attempt_us)
                )
            })
            .collect()
    }

    fn check(name: &str, run: &Sim<Server<Self>>) -> CheckResult {
        match name {
            "rw-register" => rw_register_check(run),
            "read-your-writes" => ryw_check(run),
            "spin" => spin_check(run),
            _ => CheckResult::unknown(format!("gg-txn has no check named {name}")),
        }
    }
}
