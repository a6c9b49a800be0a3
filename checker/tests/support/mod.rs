//! Shared by the checker's tests: a brute-force linearizability oracle that
//! shares no code with the checker, and the witness checks built on it.
//!
//! The oracle tries every order of the operations that respects real time
//! (an operation that returned before another was invoked comes first; an
//! `info` or unfinished one may go anywhere after its invocation, or last),
//! applying a reference model written here over JSON values.

#![allow(dead_code)]

use checker::{Operation, Witness};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Kind {
    Register,
    Kv,
    Append,
    Counter,
    Bank,
}

impl Kind {
    pub fn model(self) -> &'static str {
        match self {
            Kind::Register => "cas-register",
            Kind::Kv => "kv",
            Kind::Append => "kv-append",
            Kind::Counter => "counter",
            Kind::Bank => "bank",
        }
    }

    pub fn initial(self) -> Value {
        match self {
            Kind::Register | Kind::Kv => Value::Null,
            Kind::Append => json!(""),
            Kind::Counter | Kind::Bank => json!(0),
        }
    }
}

/// The reference model: applies `op` (output `None` if unknown) to `state`.
pub fn apply(
    kind: Kind,
    state: &Value,
    f: &str,
    input: &Value,
    out: Option<&Value>,
) -> Option<Value> {
    let int = |v: &Value| v.as_i64().unwrap_or(i64::MIN);
    let returned = |v: Value| match out {
        Some(o) if *o != v => None,
        _ => Some(state.clone()),
    };
    match (kind, f) {
        (_, "read" | "get" | "balance") => returned(state.clone()),
        (_, "write" | "put") => Some(input.clone()),
        (_, "cas") => match (*state == input[0], out.is_some()) {
            (true, _) => Some(input[1].clone()),
            (false, true) => None,
            (false, false) => Some(state.clone()),
        },
        (_, "append") => Some(json!(format!("{}{}", state.as_str()?, input.as_str()?))),
        (_, "add" | "deposit") => Some(json!(int(state) + int(input))),
        (_, "withdraw") => {
            let enough = int(state) >= int(input);
            match out.map(|o| o.as_bool()) {
                Some(Some(taken)) if taken != enough => None,
                _ if enough => Some(json!(int(state) - int(input))),
                _ => Some(state.clone()),
            }
        }
        _ => None,
    }
}

/// Tries every real-time-respecting order of the (unfailed) operations.
pub fn oracle(kind: Kind, ops: &[Operation]) -> bool {
    let live: Vec<&Operation> = ops.iter().filter(|op| !op.failed()).collect();
    let states: BTreeMap<Option<String>, Value> = BTreeMap::new();
    let mut placed = vec![false; live.len()];
    orders(kind, &live, &mut placed, &states)
}

fn orders(
    kind: Kind,
    ops: &[&Operation],
    placed: &mut Vec<bool>,
    states: &BTreeMap<Option<String>, Value>,
) -> bool {
    if placed.iter().all(|&p| p) {
        return true;
    }
    for i in 0..ops.len() {
        if placed[i] {
            continue;
        }
        // Every unplaced operation that returned before `i` began must come first.
        let blocked = (0..ops.len())
            .any(|j| !placed[j] && j != i && ops[j].end_time().is_some_and(|e| e < ops[i].time));
        if blocked {
            continue;
        }
        let key = ops[i].key.clone();
        let state = states.get(&key).cloned().unwrap_or_else(|| kind.initial());
        let Some(next) = apply(kind, &state, &ops[i].f, &ops[i].value, ops[i].output()) else {
            continue;
        };
        let mut after = states.clone();
        after.insert(key, next);
        placed[i] = true;
        let found = orders(kind, ops, placed, &after);
        placed[i] = false;
        if found {
            return true;
        }
    }
    false
}

/// Whether `ops` have no valid order: by the oracle when there are at most
/// 8 of them, else by the checker's search (which the oracle tests
/// cross-check on thousands of small histories).
pub fn fails(kind: Kind, ops: &[Operation]) -> bool {
    if ops.len() <= 8 {
        return !oracle(kind, ops);
    }
    // Weakened operations get processes of their own: each stays in flight.
    let ops: Vec<Operation> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| match op.completion {
            None => Operation {
                process: 1_000_000 + i as u64,
                ..op.clone()
            },
            Some(_) => op.clone(),
        })
        .collect();
    let history = checker::History::from_ops(ops).expect("a well-formed history");
    let model = checker::model::by_name(kind.model(), Some(&kind.initial())).expect("model");
    let report = checker::check(&history, &model, 50_000_000).expect("ops fit the model");
    assert_ne!(
        report.verdict,
        checker::Verdict::Unknown,
        "the check ran out"
    );
    report.verdict == checker::Verdict::NotLinearizable
}

/// The same operation (a witness shows some with their completion cut).
fn same(a: &Operation, b: &Operation) -> bool {
    a.process == b.process && a.time == b.time && a.f == b.f && a.key == b.key
}

/// The history's other operations that could change whether the witness
/// fails, each weakened (outcome unknown, open to the end): unfailed ones
/// of its key, not reads (a weakened read changes nothing), invoked by the
/// witness's last return (later ones can go after all of it); for
/// registers, if `by_value`, only writers of a value the witness needs.
pub fn weakened_others(
    kind: Kind,
    ops: &[Operation],
    witness: &Witness,
    by_value: bool,
) -> Vec<Operation> {
    let horizon = witness.ops.iter().filter_map(Operation::end_time).max();
    let mut others: Vec<Operation> = ops
        .iter()
        .filter(|op| !op.failed() && op.key == witness.key)
        .filter(|op| !matches!(op.f.as_str(), "read" | "get" | "balance"))
        .filter(|op| horizon.is_some_and(|h| op.time <= h))
        .filter(|op| !witness.ops.iter().any(|w| same(w, op)))
        .map(|op| Operation {
            completion: None,
            ..op.clone()
        })
        .collect();
    if by_value && matches!(kind, Kind::Register | Kind::Kv) {
        // A write of a value no kept operation needs sets a value nothing
        // accepts until a kept write overwrites it: it cannot help.
        let mut needed: Vec<Value> = witness
            .ops
            .iter()
            .filter_map(|op| match op.f.as_str() {
                "read" => op.output().cloned(),
                "cas" => Some(op.value[0].clone()),
                _ => None,
            })
            .collect();
        let mut kept = vec![false; others.len()];
        loop {
            let before = kept.clone();
            for (k, op) in others.iter().enumerate() {
                let sets = if op.f == "cas" {
                    &op.value[1]
                } else {
                    &op.value
                };
                if !kept[k] && needed.contains(sets) {
                    kept[k] = true;
                    if op.f == "cas" {
                        needed.push(op.value[0].clone());
                    }
                }
            }
            if kept == before {
                break;
            }
        }
        let mut k = 0;
        others.retain(|_| {
            k += 1;
            kept[k - 1]
        });
    }
    others
}

/// Checks a witness of `ops` (one history): it fails on its own; it fails
/// with the history's other operations weakened, so whatever they did; and
/// when it says it is minimal, with any one of its own operations weakened
/// too, an order exists. `by_value` limits the others weakened for
/// registers (see [`weakened_others`]). `Err` says which property broke.
pub fn check_witness(
    kind: Kind,
    ops: &[Operation],
    witness: &Witness,
    by_value: bool,
) -> Result<(), String> {
    if witness.ops.is_empty() {
        return Err("empty witness".into());
    }
    if !fails(kind, &witness.ops) {
        return Err("the witness has a valid order on its own".into());
    }
    let others = weakened_others(kind, ops, witness, by_value);
    let with_others =
        |mine: &[Operation]| -> Vec<Operation> { mine.iter().chain(&others).cloned().collect() };
    if !fails(kind, &with_others(&witness.ops)) {
        return Err(format!(
            "the witness is no proof: it has an order with the {} other operations weakened",
            others.len()
        ));
    }
    if witness.minimal {
        // The reads-from rule: a register witness holds every write that
        // could have given one of its reads its value; such a write is
        // needed by the rule, and leaving out a read leaves out the writes
        // only it needed.
        let sources = |r: &Operation| -> Vec<usize> {
            let (Some(c), true) = (
                &r.completion,
                r.f == "read" && matches!(kind, Kind::Register | Kind::Kv),
            ) else {
                return Vec::new();
            };
            if c.kind != checker::CompletionKind::Ok {
                return Vec::new();
            }
            (0..witness.ops.len())
                .filter(|&w| {
                    let op = &witness.ops[w];
                    let sets = match op.f.as_str() {
                        "write" => Some(&op.value),
                        "cas" => op.value.get(1),
                        _ => None,
                    };
                    sets == Some(&c.value) && op.time <= c.time
                })
                .collect()
        };
        let needed_by_rule: Vec<usize> = witness.ops.iter().flat_map(sources).collect();
        for k in 0..witness.ops.len() {
            if needed_by_rule.contains(&k) {
                continue;
            }
            let mut mine = witness.ops.clone();
            mine[k].completion = None;
            for w in sources(&witness.ops[k]) {
                let still = witness
                    .ops
                    .iter()
                    .enumerate()
                    .any(|(j, r)| j != k && sources(r).contains(&w));
                if !still {
                    mine[w].completion = None;
                }
            }
            if fails(kind, &with_others(&mine)) {
                return Err(format!("witness operation {k} is not needed"));
            }
        }
    }
    Ok(())
}
