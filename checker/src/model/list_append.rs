//! `list-append`: Elle's list-append analysis. Transactions append unique
//! elements to lists and read whole lists, over any number of keys (Jepsen's
//! and Maelstrom's `txn-list-append`), judged against a consistency model.
//!
//! Shapes: `txn` takes a list of micro-operations `["append", k, v]` and
//! `["r", k, null]` (in EDN `[:append k v]`, `[:r k nil]`); an `ok`
//! completion repeats them with each read's list filled in (`nil` or `[]`:
//! the key's list is empty). Appended elements must be unique per key.
//!
//! The analysis, as Elle's `elle.list-append`:
//!
//! - **Version order** per key: the ok reads of a key, sorted by length,
//!   must each be a prefix of the next (else `incompatible-order`); the
//!   longest gives the order of the elements appended (a key appended once
//!   and never read has that one element).
//! - **Dependencies** between ok and info transactions: `wr` from the
//!   transaction that appended a read's last element to the reader; for
//!   every append of `v` after `u` in the order, `ww` from `u`'s appender
//!   and `rw` from every transaction that read the list ending in `u` (the
//!   empty list, if `v` came first); an append never read follows the last
//!   element read. Real time and process order for the models that need them.
//! - **Anomalies**: the cycles (see [`super::rw_register`]), `G1a` (an ok
//!   read of an element only a failed transaction appended), `G1b` (an ok
//!   read ending in another transaction's non-final append to the key),
//!   `internal` (a read disagrees with the transaction's own earlier
//!   appends and reads), `future-read`, `dirty-update` (a committed append
//!   after a failed one in a key's order), `lost-update`,
//!   `duplicate-elements`, `incompatible-order`; `garbage-read` (an element
//!   no transaction appended) is listed but fails no model, as in Elle.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::rw_register::{build_for, Workload};
use super::rw_register::{
    cycles_of, process_edges, realtime_edges, Analysis, Anomaly, AnomalyKind, Atom, Consistency,
    Dep, Edge, Graph, Mop, Status, Txn,
};
use super::shape::{bad_input, bad_output, txn_micros};
use super::{Model, ModelError, Registration, ShapeError};
use crate::history::{CompletionKind, Operation};

/// The registry line.
pub(crate) const REGISTRATION: Registration = Registration::new(
    "list-append",
    "Elle list-append: txn of [\"append\", k, v] and [\"r\", k, list] micro-ops over any keys (unique appends per key); ww/wr/rw (+realtime/process) dependency cycles and Elle's anomalies, judged against --consistency (default strict-serializable)",
    build,
);

fn build(initial: Option<&Value>) -> Result<Model, ModelError> {
    build_for(Workload::ListAppend, initial)
}

const MICRO: &str = "a list of micro-operations [\"append\", key, element] and [\"r\", key, null]";

/// A key or element as an atom: its JSON text.
fn atom(v: &Value) -> Option<Atom> {
    match v {
        Value::Null => None,
        // An EDN keyword (`:x`) as itself: no other atom's text starts with ':'.
        Value::String(s) if s.starts_with(':') => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Reads `op` as a list-append transaction (`index` is its position in the caller's list).
pub fn txn_of(op: &Operation, index: usize) -> Result<Txn, ShapeError> {
    let (micros, outputs) = txn_micros(
        op,
        MICRO,
        "the transaction's micro-operations again, each read's list filled in",
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
            Some("append") => {
                let value = atom(v).ok_or_else(|| bad_input(op, MICRO))?;
                mops.push(Mop::Append(key, value));
            }
            Some("r") => {
                let read = match outputs.map(|o| &o[i]) {
                    None => None,
                    Some(out) => {
                        let Some([g, k2, v2]) = out.as_array().map(Vec::as_slice) else {
                            return Err(bad_output(op, out, "[\"r\", key, list or null]"));
                        };
                        if g != f || atom(k2).as_ref() != Some(&key) {
                            return Err(bad_output(
                                op,
                                out,
                                "the same micro-operation as invoked, its list filled in",
                            ));
                        }
                        match v2 {
                            // Jepsen writes nil for a list never appended to.
                            Value::Null => Some(Vec::new()),
                            Value::Array(items) => {
                                let items: Option<Vec<Atom>> = items.iter().map(atom).collect();
                                Some(items.ok_or_else(|| {
                                    bad_output(op, out, "a read of a list of elements (no nil)")
                                })?)
                            }
                            _ => return Err(bad_output(op, out, "a read of a list or null")),
                        }
                    }
                };
                mops.push(Mop::Rl(key, read));
            }
            _ => return Err(bad_input(op, MICRO)),
        }
    }
    Ok(Txn::new(op, index, status, mops))
}

/// Reads every operation as a list-append transaction.
pub fn txns_of(ops: &[&Operation]) -> Result<Vec<Txn>, (usize, ShapeError)> {
    ops.iter()
        .enumerate()
        .map(|(i, op)| txn_of(op, i).map_err(|e| (i, e)))
        .collect()
}

fn list(items: &[Atom]) -> String {
    format!("[{}]", items.join(" "))
}

/// Analyses `txns` (all of the history's transactions, failed ones
/// included) as Elle's list-append does, inferring what `model` needs.
pub fn analyze(txns: Vec<Txn>, model: Consistency) -> Analysis {
    let (g, anomalies) = infer(&txns, model);
    cycles_of(txns, g, model, anomalies)
}

/// The dependency graph of `txns` and the anomalies found without cycles.
fn infer(txns: &[Txn], model: Consistency) -> (Graph, Vec<Anomaly>) {
    let mut anomalies = Vec::new();
    let n = txns.len();
    let possible = |t: &Txn| t.status != Status::Fail;

    // Appenders of each (key, element), and whether the append was the
    // transaction's last to that key; failed ones apart.
    // (Looked up only, never iterated: hash maps keep the run deterministic.)
    let mut appenders: HashMap<(&Atom, &Atom), (usize, bool)> = HashMap::new();
    let mut failed: HashMap<(&Atom, &Atom), usize> = HashMap::new();
    let mut appends_per_key: BTreeMap<&Atom, Vec<&Atom>> = BTreeMap::new();
    for (i, t) in txns.iter().enumerate() {
        for (j, m) in t.mops.iter().enumerate() {
            let Mop::Append(k, v) = m else { continue };
            let last = !t.mops[j + 1..]
                .iter()
                .any(|m| matches!(m, Mop::Append(k2, _) if k2 == k));
            let earlier = if possible(t) {
                appends_per_key.entry(k).or_default().push(v);
                appenders.insert((k, v), (i, last))
            } else {
                failed.insert((k, v), i).map(|w| (w, true))
            };
            if let Some((w, _)) = earlier {
                anomalies.push(Anomaly {
                    kind: AnomalyKind::DuplicateWrite,
                    txns: vec![w, i],
                    cycle: Vec::new(),
                    text: format!(
                        "{v} was appended to {k} twice (T{w} and T{i}); appends must be unique per key, so versions cannot be told apart"
                    ),
                });
            }
        }
    }

    // Reads of ok transactions: per key, the distinct lists read; readers
    // of each list's last element (None: the empty list).
    let mut lists: BTreeMap<&Atom, BTreeSet<&Vec<Atom>>> = BTreeMap::new();
    // (Looked up only, never iterated; each Vec keeps history order.)
    let mut readers: HashMap<(&Atom, Option<&Atom>), Vec<usize>> = HashMap::new();
    for (i, t) in txns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.status == Status::Ok)
    {
        for m in &t.mops {
            let Mop::Rl(k, Some(items)) = m else { continue };
            lists.entry(k).or_default().insert(items);
            let r = readers.entry((k, items.last())).or_default();
            if r.last() != Some(&i) {
                r.push(i);
            }
            let mut seen = BTreeSet::new();
            let dups: BTreeSet<&Atom> = items.iter().filter(|e| !seen.insert(*e)).collect();
            if !dups.is_empty() {
                let dups: Vec<&str> = dups.iter().map(|d| d.as_str()).collect();
                anomalies.push(Anomaly {
                    kind: AnomalyKind::DuplicateElements,
                    txns: vec![i],
                    cycle: Vec::new(),
                    text: format!(
                        "T{i} read {k} = {}, with {} more than once",
                        list(items),
                        dups.join(", ")
                    ),
                });
            }
            for e in items {
                if !appenders.contains_key(&(k, e)) {
                    if let Some(&w) = failed.get(&(k, e)) {
                        anomalies.push(Anomaly {
                            kind: AnomalyKind::G1a,
                            txns: vec![w, i],
                            cycle: Vec::new(),
                            text: format!(
                                "T{i} read {k} = {}, with {e}, which only T{w} appended, and T{w} failed (aborted read)",
                                list(items)
                            ),
                        });
                    } else {
                        anomalies.push(Anomaly {
                            kind: AnomalyKind::GarbageRead,
                            txns: vec![i],
                            cycle: Vec::new(),
                            text: format!(
                                "T{i} read {k} = {}, with {e}, which no transaction appended",
                                list(items)
                            ),
                        });
                    }
                }
            }
            if let Some(e) = items.last() {
                if let Some(&(w, false)) = appenders.get(&(k, e)) {
                    if w != i {
                        anomalies.push(Anomaly {
                            kind: AnomalyKind::G1b,
                            txns: vec![w, i],
                            cycle: Vec::new(),
                            text: format!(
                                "T{i} read {k} = {}, ending in {e}, an intermediate append of T{w}, which appended to {k} again later (intermediate read)",
                                list(items)
                            ),
                        });
                    }
                }
            }
        }
    }

    // Version orders: the longest read per key, each shorter one a prefix of it.
    let mut order: BTreeMap<&Atom, Vec<&Atom>> = BTreeMap::new();
    for (k, reads) in &lists {
        let mut sorted: Vec<&Vec<Atom>> = reads.iter().copied().collect();
        sorted.sort_by_key(|l| l.len());
        if let Some(pair) = sorted
            .windows(2)
            .find(|w| w[1].len() < w[0].len() || w[1][..w[0].len()] != w[0][..])
        {
            let involved: Vec<usize> = [pair[0], pair[1]]
                .iter()
                .filter_map(|l| {
                    readers
                        .get(&(*k, l.last()))
                        .and_then(|r| r.first().copied())
                })
                .collect();
            anomalies.push(Anomaly {
                kind: AnomalyKind::IncompatibleOrder,
                txns: involved,
                cycle: Vec::new(),
                text: format!(
                    "reads of {k} saw {} and {}: neither is a prefix of the other, so no single order of appends explains both",
                    list(pair[0]),
                    list(pair[1])
                ),
            });
        }
        let longest = sorted.last().map(|l| l.as_slice()).unwrap_or_default();
        let mut seen = BTreeSet::new();
        let distinct: Vec<&Atom> = longest.iter().filter(|e| seen.insert(*e)).collect();
        order.insert(k, distinct);
    }
    for (k, appended) in &appends_per_key {
        if let [only] = appended.as_slice() {
            order.entry(k).or_insert_with(|| vec![only]);
        }
    }

    // Internal consistency and future reads, per ok transaction.
    for (i, t) in txns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.status == Status::Ok)
    {
        // Per key: the known state (a prefix that may be unknown, then elements).
        let mut state: BTreeMap<&Atom, (bool, Vec<&Atom>)> = BTreeMap::new();
        let mut read_elements: BTreeMap<&Atom, BTreeSet<&Atom>> = BTreeMap::new();
        let mut future_reported = false;
        for m in &t.mops {
            match m {
                Mop::Append(k, v) => {
                    if !future_reported && read_elements.get(k).is_some_and(|r| r.contains(v)) {
                        future_reported = true;
                        anomalies.push(Anomaly {
                            kind: AnomalyKind::FutureRead,
                            txns: vec![i],
                            cycle: Vec::new(),
                            text: format!("T{i} read {k} with {v} before it appended {v} itself"),
                        });
                    }
                    state.entry(k).or_insert((true, Vec::new())).1.push(v);
                }
                Mop::Rl(k, Some(items)) => {
                    read_elements.entry(k).or_default().extend(items.iter());
                    if let Some((unknown_prefix, expected)) = state.get(k) {
                        let fits = if *unknown_prefix {
                            items.len() >= expected.len()
                                && items[items.len() - expected.len()..]
                                    .iter()
                                    .zip(expected)
                                    .all(|(a, b)| a == *b)
                        } else {
                            items.len() == expected.len()
                                && items.iter().zip(expected).all(|(a, b)| a == *b)
                        };
                        if !fits {
                            let shown: Vec<&str> = expected.iter().map(|e| e.as_str()).collect();
                            let expected = if *unknown_prefix {
                                format!("[... {}]", shown.join(" "))
                            } else {
                                format!("[{}]", shown.join(" "))
                            };
                            anomalies.push(Anomaly {
                                kind: AnomalyKind::Internal,
                                txns: vec![i],
                                cycle: Vec::new(),
                                text: format!(
                                    "T{i} read {k} = {}, but its own earlier reads and appends say {expected}",
                                    list(items)
                                ),
                            });
                        }
                    }
                    state.insert(k, (false, items.iter().collect()));
                }
                _ => {}
            }
        }
    }

    // Dirty update: a committed append right after failed ones in a key's order.
    for (k, elements) in &order {
        let mut after_failed: Option<usize> = None;
        for e in elements {
            let (writer, committed) = match (appenders.get(&(*k, *e)), failed.get(&(*k, *e))) {
                (Some(&(w, _)), _) => (w, txns[w].status == Status::Ok),
                (None, Some(&w)) => {
                    after_failed = Some(w);
                    continue;
                }
                (None, None) => continue,
            };
            if committed {
                if let Some(w) = after_failed.take() {
                    anomalies.push(Anomaly {
                        kind: AnomalyKind::DirtyUpdate,
                        txns: vec![w, writer],
                        cycle: Vec::new(),
                        text: format!(
                            "T{writer} appended {e} to {k} right after an element T{w} appended, and T{w} failed (dirty update)"
                        ),
                    });
                }
            }
        }
    }

    // Lost update: two ok transactions read the same list of k, then appended to k.
    let mut collide: BTreeMap<(&Atom, &Vec<Atom>), Vec<usize>> = BTreeMap::new();
    for (i, t) in txns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.status == Status::Ok)
    {
        let mut first_read: BTreeMap<&Atom, &Vec<Atom>> = BTreeMap::new();
        let mut written = BTreeSet::new();
        for m in &t.mops {
            match m {
                Mop::Rl(k, Some(items)) => {
                    first_read.entry(k).or_insert(items);
                }
                Mop::Append(k, _) if written.insert(k) => {
                    if let Some(read) = first_read.get(k) {
                        collide.entry((k, read)).or_default().push(i);
                    }
                }
                _ => {}
            }
        }
    }
    for ((k, read), both) in collide {
        if both.len() > 1 {
            let names: Vec<String> = both.iter().map(|t| format!("T{t}")).collect();
            anomalies.push(Anomaly {
                kind: AnomalyKind::LostUpdate,
                text: format!(
                    "{} all read {k} = {} and then appended to {k}: each update is lost to the others",
                    names.join(", "),
                    list(read)
                ),
                txns: both,
                cycle: Vec::new(),
            });
        }
    }

    // The dependency graph.
    let mut g = Graph::new(n);
    let mut seen = BTreeSet::new();
    // Each element's position in its key's version order (looked up only).
    let index_of: HashMap<&Atom, HashMap<&Atom, usize>> = order
        .iter()
        .map(|(k, es)| (*k, es.iter().enumerate().map(|(i, e)| (*e, i)).collect()))
        .collect();
    for (i, t) in txns.iter().enumerate().filter(|(_, t)| possible(t)) {
        for m in &t.mops {
            match m {
                Mop::Rl(k, Some(items)) if t.status == Status::Ok => {
                    let Some(last) = items.last() else { continue };
                    if let Some(&(w, _)) = appenders.get(&(k, last)) {
                        g.add(
                            &mut seen,
                            Edge {
                                from: w,
                                to: i,
                                dep: Dep::Wr,
                                why: Some((k.clone(), None, last.clone())),
                                list: true,
                            },
                        );
                    }
                }
                Mop::Append(k, v) => {
                    let elements = order.get(k).map(Vec::as_slice).unwrap_or_default();
                    let prev: Option<&Atom> = match index_of.get(k).and_then(|ix| ix.get(v)) {
                        Some(&0) => None,
                        Some(&p) => Some(elements[p - 1]),
                        None => elements.last().copied(),
                    };
                    if let Some(p) = prev {
                        if let Some(&(w, _)) = appenders.get(&(k, p)) {
                            g.add(
                                &mut seen,
                                Edge {
                                    from: w,
                                    to: i,
                                    dep: Dep::Ww,
                                    why: Some((k.clone(), Some(p.clone()), v.clone())),
                                    list: true,
                                },
                            );
                        }
                    }
                    for &r in readers.get(&(k, prev)).into_iter().flatten() {
                        g.add(
                            &mut seen,
                            Edge {
                                from: r,
                                to: i,
                                dep: Dep::Rw,
                                why: Some((k.clone(), prev.cloned(), v.clone())),
                                list: true,
                            },
                        );
                    }
                }
                _ => {}
            }
        }
    }
    if model == Consistency::StrictSerializable {
        realtime_edges(txns, &mut g, &mut seen);
    }
    if model == Consistency::StrongSessionSerializable {
        process_edges(txns, &mut g, &mut seen);
    }
    (g, anomalies)
}
