//! A generator of hard non-linearizable histories: long, highly concurrent
//! register histories over a few values (so many orders look plausible),
//! produced from a true order of effects and then spoiled in one place.
//!
//! Three spoilers: a *corrupted read* returns a value nobody wrote; a
//! *wrong read* returns another of the values written, one the register
//! did not hold then; a *stale read* returns a value overwritten long
//! before (a write whose value is written by nobody else). All are
//! deterministic in the seed. Shared by the `corpus` bench and the witness tests.

use checker::{Completion, CompletionKind, History, Operation};
use serde_json::{json, Value};

/// How the history is spoiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spoil {
    /// One read late in the history returns a value nobody wrote.
    Corrupted,
    /// One read late in the history returns another of the values written
    /// (one the register did not hold then, unless some order allows it).
    Wrong,
    /// One read late in the history returns a value written (once) long before.
    Stale,
}

/// The shape of a generated history.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Concurrent client processes.
    pub processes: u64,
    /// Operations in all.
    pub ops: usize,
    /// Values written: 0..values (a stale read's value is outside this range).
    pub values: u64,
    /// Longest operation, in ticks (shortest is 1).
    pub duration_max: u64,
    /// How the history is spoiled.
    pub spoil: Spoil,
}

/// splitmix64: a tiny deterministic generator, so no crates are needed.
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
}

/// One generated operation before outputs are known.
struct Planned {
    process: u64,
    f: &'static str,
    value: Value,
    call: u64,
    ret: u64,
    /// When it takes effect (inside its interval, times 4 to leave room).
    effect: u64,
}

/// A `cas-register` history of `shape`, spoiled once.
pub fn register(shape: Shape, seed: u64) -> History {
    let mut rng = Rng(seed);
    let mut free = vec![0u64; shape.processes as usize];
    let mut planned: Vec<Planned> = Vec::with_capacity(shape.ops);
    for _ in 0..shape.ops {
        // The process free soonest starts next, after a short think.
        let p = (0..free.len()).min_by_key(|&p| (free[p], p)).unwrap_or(0);
        let call = free[p] + 1 + rng.below(3);
        let ret = call + 1 + rng.below(shape.duration_max);
        free[p] = ret;
        let small = |rng: &mut Rng| json!(rng.below(shape.values));
        let (f, value) = match rng.below(10) {
            0..=4 => ("read", Value::Null),
            5..=7 => ("write", small(&mut rng)),
            _ => ("cas", json!([small(&mut rng), small(&mut rng)])),
        };
        let effect = call * 4 + 1 + rng.below((ret - call) * 4 - 1);
        planned.push(Planned {
            process: p as u64,
            f,
            value,
            call,
            ret,
            effect,
        });
    }
    if shape.spoil == Spoil::Stale {
        // The one write of a fresh value, early on.
        if let Some(w) = planned
            .iter_mut()
            .take(shape.ops / 10)
            .find(|o| o.f == "write")
        {
            w.value = json!(shape.values);
        }
    }
    let outputs = outcomes(&planned);
    let spoiled = spoil_target(&planned, &mut rng);
    let mut ops: Vec<Operation> = Vec::with_capacity(planned.len());
    for (i, o) in planned.into_iter().enumerate() {
        let (kind, mut out) = outputs[i].clone();
        if Some(i) == spoiled {
            out = match shape.spoil {
                Spoil::Corrupted => json!(shape.values + 1),
                Spoil::Wrong => {
                    let held = out.as_u64().unwrap_or(0);
                    json!((held + 1 + rng.below(shape.values - 1)) % shape.values)
                }
                Spoil::Stale => json!(shape.values),
            };
        }
        ops.push(Operation {
            process: o.process,
            f: o.f.to_string(),
            key: None,
            value: o.value,
            time: o.call,
            completion: Some(Completion {
                kind,
                value: out,
                set: None,
                time: o.ret,
                line: None,
            }),
            line: None,
        });
    }
    History::from_ops(ops).expect("a generated history is well formed")
}

/// Each operation's completion, applying effects in effect order to a
/// register starting at null: reads return what it holds; a cas that
/// finds another value fails.
fn outcomes(planned: &[Planned]) -> Vec<(CompletionKind, Value)> {
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| (planned[i].effect, i));
    let mut state = Value::Null;
    let mut out = vec![(CompletionKind::Ok, Value::Null); planned.len()];
    for i in order {
        let o = &planned[i];
        out[i] = match o.f {
            "read" => (CompletionKind::Ok, state.clone()),
            "write" => {
                state = o.value.clone();
                (CompletionKind::Ok, o.value.clone())
            }
            _ if state == o.value[0] => {
                state = o.value[1].clone();
                (CompletionKind::Ok, o.value.clone())
            }
            _ => (CompletionKind::Fail, o.value.clone()),
        };
    }
    out
}

/// A read in the last tenth of the history, to spoil.
fn spoil_target(planned: &[Planned], rng: &mut Rng) -> Option<usize> {
    let from = planned.len() - planned.len() / 10;
    let reads: Vec<usize> = (from..planned.len())
        .filter(|&i| planned[i].f == "read")
        .collect();
    (!reads.is_empty()).then(|| reads[rng.below(reads.len() as u64) as usize])
}
