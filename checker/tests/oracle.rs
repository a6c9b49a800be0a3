//! The search against a brute-force oracle on thousands of generated
//! histories of up to 8 operations, with info, fail and missing
//! completions, for every model; and the witnesses of the violations found.
//!
//! The oracle shares no code with the checker: it tries every order of the
//! operations that respects real time (an operation that returned before
//! another was invoked comes first; an `info` or unfinished one may go
//! anywhere after its invocation), applying a reference model written here
//! over JSON values.

mod support;

use checker::{check, model, Completion, CompletionKind, History, Operation, Verdict};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use support::{apply, oracle, Kind};

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

fn invocation(kind: Kind, rng: &mut Rng) -> (&'static str, Value) {
    let small = |rng: &mut Rng| json!(rng.below(3));
    match (kind, rng.below(3)) {
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
        (Kind::Append, 1) if rng.chance(30) => ("put", json!(["a", "b"][rng.below(2) as usize])),
        (Kind::Append, _) => ("append", json!(["x", "y", "z"][rng.below(3) as usize])),
        (Kind::Counter, 0) => ("read", Value::Null),
        (Kind::Counter, _) => ("add", json!(rng.below(5) as i64 - 1)),
        (Kind::Bank, 0) => ("balance", Value::Null),
        (Kind::Bank, 1) => ("deposit", json!(rng.below(4))),
        (Kind::Bank, _) => ("withdraw", json!(1 + rng.below(3))),
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
        let (f, value) = invocation(kind, rng);
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
            set: None,
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
            // On histories this small the steps never run out: every
            // witness must be minimal, and pass the oracle's checks.
            let witness = report.witness.expect("a witness");
            assert!(
                witness.minimal,
                "witness not minimal:\n{}",
                history.to_jsonl()
            );
            // Every other operation weakened, and (registers) only those
            // writing a needed value: the checks must agree.
            for by_value in [false, true] {
                if let Err(e) =
                    support::check_witness(kind, history.operations(), &witness, by_value)
                {
                    panic!("{kind:?} history {n}: {e}:\n{}", history.to_jsonl());
                }
            }
        }
    }
    tally
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
