//! The `monotonic-reads` check: no client session, and no replica, answers
//! a read from an older state than one it already answered from.
//!
//! "Older" needs an order of states. In the order of preference:
//! 1. **applied positions** (`Node::applied`), recorded with each ok
//!    answer from a replica: a read answered at a lower position than an
//!    earlier read went back;
//! 2. **counters** (the `counter` model) whose adds are never negative: a
//!    lower value than an earlier read went back;
//! 3. **registers** (`cas-register`, `kv`) whose written values are
//!    unique: a read of a value whose write had completed before the write
//!    of an earlier read's value was even invoked went back (in real time),
//!    and so does a read of the initial `null` after a read of a write.
//!
//! A session is a client process (a new process after an `info` is a new
//! session).

use std::collections::BTreeMap;

use sim::{EventKind, HistoryEvent, Time, Value};

use crate::generic::{ms, ops, Facts, Op};
use crate::CheckResult;

/// How many items a report lists.
const SHOWN: usize = 8;

/// Where one read stands in the order of states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    /// An applied position, or a counter's value.
    At(i128),
    /// A register's state: the real-time interval of the write that made
    /// it (`None`: the initial state, before every write).
    Write(Option<(Time, Time)>),
}

impl Rank {
    /// True when `self` is certainly older than `earlier`.
    fn before(&self, earlier: &Rank) -> bool {
        match (self, earlier) {
            (Rank::At(a), Rank::At(b)) => a < b,
            (Rank::Write(None), Rank::Write(Some(_))) => true,
            // Written (completed) before the other write was invoked.
            (Rank::Write(Some((_, done))), Rank::Write(Some((invoked, _)))) => done < invoked,
            _ => false,
        }
    }
}

/// How a read is placed in the order of states.
type RankOf = Box<dyn Fn(&Op) -> Option<Rank>>;

/// Each written (key, value) and the interval of its only write.
type Writes = BTreeMap<(Option<u32>, Value), Option<(Time, Time)>>;

/// Runs the check.
pub fn monotonic_reads(history: &[HistoryEvent], facts: &Facts) -> CheckResult {
    let ops = ops(history);
    let reads: Vec<&Op> = ops
        .iter()
        .filter(|o| facts.reads.contains(&o.invoke.f) && o.kind() == Some(EventKind::Ok))
        .collect();
    if reads.is_empty() {
        return CheckResult::unknown("no read ended ok: nothing to judge");
    }
    let (how, rank): (&str, RankOf) = if reads
        .iter()
        .any(|r| r.done.and_then(|d| d.position).is_some())
    {
        (
            "applied positions",
            Box::new(|r: &Op| r.done.and_then(|d| d.position).map(|p| Rank::At(p.into()))),
        )
    } else if facts.model == Some("counter") && counter_only_grows(&ops) {
        (
            "counter values",
            Box::new(|r: &Op| {
                r.done
                    .and_then(|d| d.value.as_int())
                    .map(|v| Rank::At(v.into()))
            }),
        )
    } else if matches!(facts.model, Some("cas-register" | "kv")) {
        let writes = unique_writes(&ops, facts);
        (
            "the real-time order of unique writes",
            Box::new(move |r: &Op| {
                let d = r.done?;
                if d.value == Value::Null {
                    return Some(Rank::Write(None));
                }
                writes
                    .get(&(r.invoke.key, d.value.clone()))
                    .copied()
                    .flatten()
                    .map(|w| Rank::Write(Some(w)))
            }),
        )
    } else {
        return CheckResult::unknown(
                "no order of states to judge reads by: the protocol exposes no applied position and its model is neither a growing counter nor a register",
            );
    };
    let mut by_done: Vec<&Op> = reads.clone();
    by_done.sort_by_key(|r| r.done.map(|d| d.time));
    let mut bad = Vec::new();
    // Per session and per replica (and key): the read of the newest state
    // answered so far.
    let mut session: BTreeMap<(u64, Option<u32>), (Rank, &Op)> = BTreeMap::new();
    let mut replica: BTreeMap<(usize, Option<u32>), (Rank, &Op)> = BTreeMap::new();
    for r in by_done {
        let Some(k) = rank(r) else { continue };
        let key = r.invoke.key;
        let s = (r.invoke.process, key);
        let n = (r.invoke.node, key);
        if let Some((newest, by)) = session.get(&s) {
            if k.before(newest) {
                bad.push(format!(
                    "session p{} went back: {} after {}",
                    s.0,
                    read(r),
                    read(by)
                ));
            }
        }
        if let Some((newest, by)) = replica.get(&n) {
            if k.before(newest) {
                bad.push(format!(
                    "replica n{} went back: {} after {}",
                    n.0,
                    read(r),
                    read(by)
                ));
            }
        }
        keep_newest(session.entry(s), k, r);
        keep_newest(replica.entry(n), k, r);
    }
    if bad.is_empty() {
        return CheckResult::pass(format!("{} read(s) never went back, by {how}", reads.len()));
    }
    let n = bad.len();
    bad.truncate(SHOWN);
    CheckResult::violation(
        format!("{n} read(s) went back to an older state (ordered by {how})"),
        bad,
    )
}

/// How strongly a state bounds later reads: a later read went back if it
/// is older than the strongest state read before it.
fn strength(r: &Rank) -> (u8, i128) {
    match r {
        Rank::At(v) => (1, *v),
        Rank::Write(None) => (0, 0),
        Rank::Write(Some((invoked, _))) => (1, i128::from(*invoked)),
    }
}

/// Keeps in `slot` the read of the strongest state.
fn keep_newest<'a, K: Ord>(
    slot: std::collections::btree_map::Entry<'_, K, (Rank, &'a Op<'a>)>,
    k: Rank,
    r: &'a Op<'a>,
) {
    use std::collections::btree_map::Entry;
    match slot {
        Entry::Vacant(e) => {
            e.insert((k, r));
        }
        Entry::Occupied(mut e) => {
            if strength(&k) > strength(&e.get().0) {
                e.insert((k, r));
            }
        }
    }
}

fn read(r: &Op) -> String {
    let d = r.done.expect("reads judged here completed");
    let key = r.invoke.key.map_or(String::new(), |k| format!(" key {k}"));
    let at = d
        .position
        .map_or(String::new(), |p| format!(" at position {p}"));
    format!(
        "p{} read{key} -> {} from n{}{at} ({}–{})",
        r.invoke.process,
        d.value,
        r.invoke.node,
        ms(r.invoke.time),
        ms(d.time)
    )
}

/// True when no add that may have happened is negative.
fn counter_only_grows(ops: &[Op]) -> bool {
    ops.iter()
        .filter(|o| o.invoke.f == "add" && o.kind() != Some(EventKind::Fail))
        .all(|o| o.invoke.value.as_int().is_none_or(|v| v >= 0))
}

/// Each written (key, value) with its write's interval (invocation, ok
/// completion); `None` when the value was written more than once, or the
/// write never completed ok (its interval is open).
fn unique_writes(ops: &[Op], facts: &Facts) -> Writes {
    let mut out = Writes::new();
    for o in ops {
        if facts.reads.contains(&o.invoke.f) || o.kind() == Some(EventKind::Fail) {
            continue;
        }
        let span = o
            .done
            .filter(|d| d.kind == EventKind::Ok)
            .map(|d| (o.invoke.time, d.time));
        out.entry((o.invoke.key, o.invoke.value.clone()))
            .and_modify(|e| *e = None)
            .or_insert(span);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(
        process: u64,
        kind: EventKind,
        f: &'static str,
        value: Value,
        time: Time,
    ) -> HistoryEvent {
        HistoryEvent {
            process,
            kind,
            f,
            key: Some(0),
            value,
            time,
            node: process as usize,
            position: None,
        }
    }

    /// `(process, f, input, output, invoked, completed)`.
    type Spec = (u64, &'static str, i64, Option<i64>, Time, Time);

    /// Operations as a history.
    fn history(ops: &[Spec]) -> Vec<HistoryEvent> {
        let mut h = Vec::new();
        for &(p, f, input, output, start, end) in ops {
            let v = |x: Option<i64>| x.map_or(Value::Null, Value::Int);
            let input = if f == "read" {
                Value::Null
            } else {
                Value::Int(input)
            };
            h.push(ev(p, EventKind::Invoke, f, input.clone(), start));
            let out = if f == "read" { v(output) } else { input };
            h.push(ev(p, EventKind::Ok, f, out, end));
        }
        h.sort_by_key(|e| e.time);
        h
    }

    const READS: &[&str] = &["read"];

    fn judge(h: &[HistoryEvent], model: &'static str) -> CheckResult {
        monotonic_reads(
            h,
            &Facts {
                reads: READS,
                model: Some(model),
            },
        )
    }

    #[test]
    fn a_register_read_of_an_overwritten_value_after_a_newer_one_goes_back() {
        // write 1 completes at 20, before write 2 begins at 50; p2 reads
        // 2 then 1.
        let ops = [
            (0, "write", 1, None, 10, 20),
            (1, "write", 2, None, 50, 60),
            (2, "read", 0, Some(2), 70, 71),
            (2, "read", 0, Some(1), 80, 81),
        ];
        let r = judge(&history(&ops), "kv");
        assert_eq!(r.status, crate::Status::Violation, "{r:?}");
        assert!(r.evidence[0].contains("session p2 went back"), "{r:?}");
        // Concurrent writes have no order: reading 2 then 1 is allowed.
        let mut concurrent = ops;
        concurrent[0].5 = 55;
        assert_eq!(
            judge(&history(&concurrent), "kv").status,
            crate::Status::Pass
        );
        // The initial state after a written value goes back too.
        let null = [
            (0, "write", 1, None, 10, 20),
            (2, "read", 0, Some(1), 30, 31),
            (2, "read", 0, None, 40, 41),
        ];
        assert_eq!(
            judge(&history(&null), "kv").status,
            crate::Status::Violation
        );
    }

    #[test]
    fn a_growing_counter_must_not_read_less_and_a_shrinking_one_is_not_judged() {
        let ops = [
            (0, "add", 5, None, 10, 20),
            (1, "read", 0, Some(5), 30, 31),
            (1, "read", 0, Some(3), 40, 41),
        ];
        assert_eq!(
            judge(&history(&ops), "counter").status,
            crate::Status::Violation
        );
        let mut shrinking = ops.to_vec();
        shrinking.push((0, "add", -2, None, 50, 60));
        assert_eq!(
            judge(&history(&shrinking), "counter").status,
            crate::Status::Unknown
        );
    }

    #[test]
    fn positions_order_reads_across_replicas_and_sessions() {
        let mut h = history(&[
            (1, "read", 0, Some(7), 30, 31),
            (1, "read", 0, Some(7), 40, 41),
        ]);
        let mut pos = [9, 4].into_iter();
        for e in h.iter_mut().filter(|e| e.kind == EventKind::Ok) {
            e.position = pos.next();
        }
        let r = judge(&h, "kv");
        assert_eq!(r.status, crate::Status::Violation);
        assert!(r.summary.contains("applied positions"), "{r:?}");
        assert!(r.evidence[0].contains("at position 4"), "{r:?}");
    }
}
