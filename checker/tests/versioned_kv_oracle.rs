//! The `versioned-kv` model against a brute-force oracle: thousands of
//! generated one-key histories of up to 6 operations (with `info` and
//! unfinished ones), each judged by trying every real-time-respecting order
//! of every subset of the operations of unknown outcome, applying a
//! reference store written here; the checker must agree on every one.

use checker::{check, model, CompletionKind, History, Verdict};
use serde_json::{json, Value};

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

#[derive(Clone, Debug)]
struct Op {
    f: &'static str,
    input: Value,
    /// `None`: unknown outcome.
    output: Option<Value>,
    invoke: u64,
    /// `None`: never returned.
    complete: Option<u64>,
}

/// The reference store: (value, version) or absent; answers the op's
/// output, or `None` when the op fails.
fn apply(state: &Option<(i64, u64)>, op: &Op) -> Option<(Option<(i64, u64)>, Value)> {
    let version = state.map_or(0, |s| s.1);
    match op.f {
        "get" => Some((*state, state.map_or(Value::Null, |(v, n)| json!([v, n])))),
        "set" => {
            let (v, expected) = match &op.input {
                Value::Array(a) => (a[0].as_i64().unwrap(), a[1].as_u64()),
                v => (v.as_i64().unwrap(), None),
            };
            if expected.is_some_and(|e| e != version) {
                return None;
            }
            Some((Some((v, version + 1)), json!(version + 1)))
        }
        "remove" => {
            let expected = op.input.as_u64();
            if state.is_none() || expected.is_some_and(|e| e != version) {
                return None;
            }
            Some((None, Value::Null))
        }
        "incr" => {
            let v = state.map_or(0, |s| s.0);
            Some((Some((v + 1, version + 1)), Value::Null))
        }
        _ => unreachable!(),
    }
}

fn search(state: Option<(i64, u64)>, ops: &[Op], done: &mut Vec<bool>) -> bool {
    if done.iter().zip(ops).all(|(d, o)| *d || o.output.is_none()) {
        return true;
    }
    for i in 0..ops.len() {
        if done[i] {
            continue;
        }
        // i may go next only if no pending op returned (ok) before i was
        // invoked; an `info` one never returned, whatever its line says.
        let blocked = (0..ops.len()).any(|j| {
            !done[j]
                && j != i
                && ops[j].output.is_some()
                && ops[j].complete.is_some_and(|c| c < ops[i].invoke)
        });
        if blocked {
            continue;
        }
        if let Some((next, out)) = apply(&state, &ops[i]) {
            if ops[i].output.as_ref().is_none_or(|o| *o == out) {
                done[i] = true;
                if search(next, ops, done) {
                    return true;
                }
                done[i] = false;
            }
        }
    }
    false
}

fn generate(rng: &mut Rng) -> Vec<Op> {
    let n = 1 + rng.below(6) as usize;
    let mut ops = Vec::new();
    for _ in 0..n {
        let invoke = rng.below(20);
        let complete = (rng.below(8) != 0).then(|| invoke + 1 + rng.below(10));
        let (f, input) = match rng.below(5) {
            0 | 1 => {
                let v = rng.below(3) as i64;
                if rng.below(2) == 0 {
                    ("set", json!(v))
                } else {
                    ("set", json!([v, rng.below(3)]))
                }
            }
            2 => ("get", Value::Null),
            3 => ("incr", Value::Null),
            _ => (
                "remove",
                if rng.below(2) == 0 {
                    Value::Null
                } else {
                    json!(rng.below(3))
                },
            ),
        };
        let output = match (complete.is_some() && rng.below(5) != 0, f) {
            (false, _) => None,
            (true, "get") => Some(if rng.below(4) == 0 {
                Value::Null
            } else {
                json!([rng.below(3), 1 + rng.below(3)])
            }),
            (true, "set") => Some(json!(1 + rng.below(3))),
            (true, _) => Some(Value::Null),
        };
        ops.push(Op {
            f,
            input,
            output,
            invoke,
            complete,
        });
    }
    ops
}

fn history(ops: &[Op]) -> History {
    let mut events: Vec<(u64, usize, bool)> = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        events.push((o.invoke * 2, i, true));
        if let Some(c) = o.complete {
            events.push((c * 2 + 1, i, false));
        }
    }
    events.sort();
    let mut h = History::new();
    for (t, i, inv) in events {
        let o = &ops[i];
        if inv {
            h.invoke(i as u64, o.f, Some("x".into()), o.input.clone(), t)
                .unwrap();
        } else {
            let (kind, v) = match &o.output {
                Some(v) => (CompletionKind::Ok, v.clone()),
                None => (CompletionKind::Info, Value::Null),
            };
            h.complete(i as u64, kind, v, t).unwrap();
        }
    }
    h
}

#[test]
fn the_search_agrees_with_brute_force() {
    let m = model::by_name("versioned-kv", None).unwrap();
    let mut rng = Rng(7);
    let (mut yes, mut no) = (0, 0);
    for _ in 0..4000 {
        let mut ops = generate(&mut rng);
        // An op that never returned has an open interval.
        for o in &mut ops {
            if o.complete.is_none() {
                o.output = None;
            }
        }
        let want = search(None, &ops, &mut vec![false; ops.len()]);
        let got = check(&history(&ops), &m, checker::DEFAULT_BUDGET)
            .unwrap()
            .verdict;
        let want_v = if want {
            Verdict::Linearizable
        } else {
            Verdict::NotLinearizable
        };
        assert_eq!(got, want_v, "{ops:#?}");
        if want {
            yes += 1
        } else {
            no += 1
        }
    }
    assert!(
        yes > 500 && no > 500,
        "both verdicts are exercised: {yes} / {no}"
    );
}
