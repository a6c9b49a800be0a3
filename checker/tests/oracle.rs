//! The search against a brute-force oracle on thousands of generated
//! histories of up to 8 operations, with info, fail and missing
//! completions, for every model; and the witnesses of the violations found.
//!
//! The oracle shares no code with the checker: it tries every order of the
//! operations that respects real time (an operation that returned before
//! another was invoked comes first; an `info` or unfinished one may go
//! anywhere after its invocation), applying a reference model written here
//! over JSON values.

use checker::{check, model, Completion, CompletionKind, History, Operation, Verdict};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// splitmix64: a tiny deterministic generator, so the test needs no crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Register,
    Kv,
    Append,
    Counter,
    Bank,
}

impl Kind {
    fn model(self) -> &'static str {
        match self {
            Kind::Register => "cas-register",
            Kind::Kv => "kv",
            Kind::Append => "kv-append",
            Kind::Counter => "counter",
            Kind::Bank => "bank",
        }
    }

    fn initial(self) -> Value {
        match self {
            Kind::Register | Kind::Kv => Value::Null,
            Kind::Append => json!(""),
            Kind::Counter | Kind::Bank => json!(0),
        }
    }

    /// A random invocation: function and input.
    fn invocation(self, rng: &mut Rng) -> (&'static str, Value) {
        let small = |rng: &mut Rng| json!(rng.below(3));
        match (self, rng.below(3)) {
            (Kind::Register | Kind::Kv, 0) => ("read", Value::Null),
            (Kind::Register | Kind::Kv, 1) => ("write", small(rng)),
            (Kind::Register | Kind::Kv, _) => {
                let old = if rng.chance(25) {
                    Value::Null
                } else {
                    small(rng)
                };
                ("cas", json!([old, small(rng)]))
            }
            (Kind::Append, 0) => ("get", Value::Null),
            (Kind::Append, 1) if rng.chance(30) => {
                ("put", json!(["a", "b"][rng.below(2) as usize]))
            }
            (Kind::Append, _) => ("append", json!(["x", "y", "z"][rng.below(3) as usize])),
            (Kind::Counter, 0) => ("read", Value::Null),
            (Kind::Counter, _) => ("add", json!(rng.below(5) as i64 - 1)),
            (Kind::Bank, 0) => ("balance", Value::Null),
            (Kind::Bank, 1) => ("deposit", json!(rng.below(4))),
            (Kind::Bank, _) => ("withdraw", json!(1 + rng.below(3))),
        }
    }
}

/// The reference model: applies `op` (output `None` if unknown) to `state`.
fn apply(kind: Kind, state: &Value, f: &str, input: &Value, out: Option<&Value>) -> Option<Value> {
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

/// The output a completed operation reports, for the history.
fn output(kind: Kind, state: &Value, f: &str, input: &Value) -> Value {
    match f {
        "read" | "get" | "balance" => state.clone(),
        "withdraw" => json!(state.as_i64() >= input.as_i64()),
        _ => {
            let _ = kind;
            input.clone()
        }
    }
}

/// Tries every real-time-respecting order of the (unfailed) operations.
fn oracle(kind: Kind, ops: &[Operation]) -> bool {
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

/// A random history: operations on up to 3 processes (2 keys for keyed
/// models), each given a true effect point so most histories are
/// plausible, then an output perturbed now and then.
fn generate(kind: Kind, rng: &mut Rng) -> History {
    let count = 1 + rng.below(8) as usize;
    let mut next_process = 3;
    let mut processes: Vec<u64> = vec![0, 1, 2];
    let mut busy_until: Vec<u64> = vec![0; 3];
    let mut ops = Vec::new();
    for _ in 0..count {
        let slot = rng.below(3) as usize;
        let call = busy_until[slot] + 1 + rng.below(6);
        let ret = call + 1 + rng.below(8);
        let (f, value) = kind.invocation(rng);
        let keyed = matches!(kind, Kind::Kv | Kind::Append | Kind::Counter) && rng.chance(50);
        let key = keyed.then(|| ["k", "j"][rng.below(2) as usize].to_string());
        let ending = match rng.below(10) {
            0 => Some(CompletionKind::Fail),
            1 => Some(CompletionKind::Info),
            2 => None,
            _ => Some(CompletionKind::Ok),
        };
        let process = processes[slot];
        busy_until[slot] = ret;
        if ending != Some(CompletionKind::Ok) && ending != Some(CompletionKind::Fail) {
            // An info or unfinished operation stays in flight: retire its process.
            processes[slot] = next_process;
            next_process += 1;
        }
        let completion = ending.map(|kind| Completion {
            kind,
            value: Value::Null,
            time: ret,
            line: None,
        });
        ops.push((
            Operation {
                process,
                f: f.to_string(),
                key,
                value,
                time: call,
                completion,
                line: None,
            },
            ret,
        ));
    }
    // Effect points: a random moment inside each interval (unknown or
    // unfinished operations maybe never); outputs follow from that order.
    let mut effects: Vec<(u64, usize)> = Vec::new();
    for (i, (op, ret)) in ops.iter().enumerate() {
        let happens = match op.completion.as_ref().map(|c| c.kind) {
            Some(CompletionKind::Ok) => true,
            Some(CompletionKind::Fail) => false,
            _ => rng.chance(50),
        };
        if happens {
            let span = (ret - op.time) * 10;
            effects.push((op.time * 10 + 1 + rng.below(span.max(2) - 1), i));
        }
    }
    effects.sort_unstable();
    let mut states: BTreeMap<Option<String>, Value> = BTreeMap::new();
    for &(_, i) in &effects {
        let op = &mut ops[i].0;
        let state = states
            .get(&op.key)
            .cloned()
            .unwrap_or_else(|| kind.initial());
        let out = output(kind, &state, &op.f, &op.value);
        if let Some(next) = apply(kind, &state, &op.f, &op.value, None) {
            states.insert(op.key.clone(), next);
        }
        if let Some(c) = op.completion.as_mut() {
            if c.kind == CompletionKind::Ok {
                c.value = out;
            }
        }
    }
    if rng.chance(60) {
        // Perturb one ok output to a plausible wrong one.
        let i = rng.below(ops.len() as u64) as usize;
        let op = &mut ops[i].0;
        if let Some(c) = op
            .completion
            .as_mut()
            .filter(|c| c.kind == CompletionKind::Ok)
        {
            c.value = match op.f.as_str() {
                "read" => json!(rng.below(3)),
                "get" => json!(["", "x", "y", "xy", "a", "ax"][rng.below(6) as usize]),
                "balance" => json!(rng.below(4)),
                "withdraw" => json!(rng.chance(50)),
                _ => c.value.clone(),
            };
        }
    }
    History::from_ops(ops.into_iter().map(|(op, _)| op).collect()).expect("generated history")
}

/// Cross-checks `count` histories of one model; returns (linearizable, not).
fn cross_check(kind: Kind, seed: u64, count: usize) -> (usize, usize) {
    let mut rng = Rng(seed);
    let model = model::by_name(kind.model(), None).unwrap();
    let mut tally = (0, 0);
    for n in 0..count {
        let history = generate(kind, &mut rng);
        let expected = oracle(kind, history.operations());
        let report = check(&history, &model, 1_000_000).unwrap();
        let want = if expected {
            Verdict::Linearizable
        } else {
            Verdict::NotLinearizable
        };
        assert_eq!(
            report.verdict,
            want,
            "{kind:?} history {n}:\n{}",
            history.to_jsonl()
        );
        if expected {
            tally.0 += 1;
        } else {
            tally.1 += 1;
            check_witness(kind, &history, &report.witness.expect("a witness"));
        }
    }
    tally
}

/// A witness is a proof and minimal, by the oracle: it fails on its own;
/// it fails with every other operation of its key weakened (outcome
/// unknown, interval open to the end), so it fails whatever they did; and
/// with any one of its own operations weakened too, an order exists. On
/// histories this small the step budget never runs out, so every witness
/// must say it is minimal.
fn check_witness(kind: Kind, history: &History, witness: &checker::Witness) {
    let text = history.to_jsonl();
    assert!(!witness.ops.is_empty(), "{text}");
    assert!(witness.minimal, "witness not minimal:\n{text}");
    assert!(!oracle(kind, &witness.ops), "witness linearizable:\n{text}");
    let others = weakened_others(history, witness);
    let with_others =
        |ops: &[Operation]| -> Vec<Operation> { ops.iter().chain(&others).cloned().collect() };
    assert!(
        !oracle(kind, &with_others(&witness.ops)),
        "witness is no proof: it passes with the key's other operations weakened:\n{text}"
    );
    for k in 0..witness.ops.len() {
        let mut ops = witness.ops.clone();
        ops[k].completion = None;
        assert!(
            oracle(kind, &with_others(&ops)),
            "witness op {k} not needed:\n{text}"
        );
    }
}

/// The history's other unfailed operations of the witness's key, each
/// with its outcome unknown.
fn weakened_others(history: &History, witness: &checker::Witness) -> Vec<Operation> {
    let same = |a: &Operation, b: &Operation| {
        a.process == b.process && a.time == b.time && a.f == b.f && a.key == b.key
    };
    history
        .operations()
        .iter()
        .filter(|op| !op.failed() && op.key == witness.key)
        .filter(|op| !witness.ops.iter().any(|w| same(w, op)))
        .map(|op| Operation {
            completion: None,
            ..op.clone()
        })
        .collect()
}

#[test]
fn register_search_agrees_with_the_oracle() {
    let (ok, bad) = cross_check(Kind::Register, 1, 3000);
    assert!(ok > 600 && bad > 250, "verdict mix {ok}/{bad}");
}

#[test]
fn kv_search_agrees_with_the_oracle() {
    let (ok, bad) = cross_check(Kind::Kv, 2, 2000);
    assert!(ok > 400 && bad > 150, "verdict mix {ok}/{bad}");
}

#[test]
fn kv_append_search_agrees_with_the_oracle() {
    let (ok, bad) = cross_check(Kind::Append, 3, 3000);
    assert!(ok > 600 && bad > 250, "verdict mix {ok}/{bad}");
}

#[test]
fn counter_search_agrees_with_the_oracle() {
    let (ok, bad) = cross_check(Kind::Counter, 4, 3000);
    assert!(ok > 600 && bad > 250, "verdict mix {ok}/{bad}");
}

#[test]
fn bank_search_agrees_with_the_oracle() {
    let (ok, bad) = cross_check(Kind::Bank, 5, 3000);
    assert!(ok > 600 && bad > 250, "verdict mix {ok}/{bad}");
}
