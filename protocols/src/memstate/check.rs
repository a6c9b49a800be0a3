//! memstate's own checks.

use std::collections::BTreeMap;

use sim::{EventKind, Sim};

use super::{MemState, Mode};
use crate::CheckResult;

/// `increments`: a key that only `incr` writes must end, on every live
/// engine, at a value between its acknowledged incrs and those plus the
/// ones of unknown outcome. A blind read-modify-write that loses an update
/// ends lower than the acknowledged count.
pub fn increments(run: &Sim<MemState>) -> CheckResult {
    // key → (ok, info, other writers seen)
    let mut counts: BTreeMap<u32, (u64, u64, bool)> = BTreeMap::new();
    let mut open = BTreeMap::new();
    for ev in run.history() {
        if ev.kind == EventKind::Invoke {
            open.insert(ev.process, ev);
            continue;
        }
        let Some(inv) = open.remove(&ev.process) else {
            continue;
        };
        let Some(key) = inv.key else { continue };
        let c = counts.entry(key).or_insert((0, 0, false));
        match (inv.f, ev.kind) {
            ("incr", EventKind::Ok) => c.0 += 1,
            ("incr", EventKind::Info) => c.1 += 1,
            ("incr", _) | ("get", _) => {}
            _ => c.2 = true,
        }
    }
    for inv in open.values() {
        if let (Some(key), "incr") = (inv.key, inv.f) {
            counts.entry(key).or_insert((0, 0, false)).1 += 1;
        }
    }
    counts.retain(|_, c| !c.2 && c.0 + c.1 > 0);
    if counts.is_empty() {
        return CheckResult::unknown("no key was written by incr alone");
    }
    let mut evidence = Vec::new();
    for (id, node) in run.nodes().iter().enumerate() {
        let MemState::Engine(e) = node else { continue };
        if !run.is_up(id) {
            continue;
        }
        for (&key, &(ok, info, _)) in &counts {
            let v = e.store().get(key).map_or(0, |(v, _)| v);
            if v < ok as i64 || v > (ok + info) as i64 {
                evidence.push(format!(
                    "n{id}: key {key} ends at {v}, but {ok} incr were acknowledged and {info} are of unknown outcome ({} lost)",
                    ok as i64 - v
                ));
            }
        }
    }
    if evidence.is_empty() {
        CheckResult::pass(format!(
            "{} key(s): every live engine's final value lies between the acknowledged incrs and those plus the indeterminate ones",
            counts.len()
        ))
    } else {
        CheckResult::violation(
            "acknowledged increments are missing from the final value (lost update)",
            evidence,
        )
    }
}

/// `engines-running`: no engine stopped on a broken sequence.
pub fn engines_running(run: &Sim<MemState>) -> CheckResult {
    let evidence: Vec<String> = run
        .nodes()
        .iter()
        .enumerate()
        .filter_map(|(id, n)| match n {
            MemState::Engine(e) => e
                .stopped()
                .map(|why| format!("n{id} stopped: {why}; every later operation on it fails")),
            MemState::Stream(_) => None,
        })
        .collect();
    if evidence.is_empty() {
        CheckResult::pass("no engine stopped")
    } else {
        CheckResult::violation(
            format!("{} engine(s) stopped on a broken sequence", evidence.len()),
            evidence,
        )
    }
}

/// `speculation-drained` (`leader`): at the end of the run, no engine that
/// is up keeps one of its own commands in its speculative view (the list
/// its `incr` reads through) once it has applied a record that carries the
/// command's id. That record decides the command (applied or rejected;
/// the stream keeps one record per id), so the entry must be gone. One
/// left behind (L4) skews every later `incr` on its key at that engine:
/// the precondition it carries never holds, and the increments fail with
/// no other writer.
pub fn speculation_drained(run: &Sim<MemState>) -> CheckResult {
    // Command id → the number of the first record that carries it.
    let mut first: BTreeMap<u64, u64> = BTreeMap::new();
    for n in run.nodes() {
        if let MemState::Stream(s) = n {
            for (i, e) in s.log().iter().enumerate() {
                if let Some(r) = e.req {
                    first.entry(r).or_insert(i as u64);
                }
            }
        }
    }
    let mut judged = 0;
    let mut evidence = Vec::new();
    for (id, node) in run.nodes().iter().enumerate() {
        let MemState::Engine(e) = node else { continue };
        if e.mode != Mode::Leader || !run.is_up(id) || e.loading {
            continue;
        }
        judged += 1;
        for (req, cmd) in &e.own {
            if let Some(&at) = first.get(req).filter(|&&at| at < e.applied()) {
                evidence.push(format!(
                    "n{id}: its command {cmd:?} (request {req}) is still in its speculative view, although n{id} has applied record {at}, which carries that request"
                ));
            }
        }
    }
    if judged == 0 {
        return CheckResult::unknown("no leader-variant engine was up and loaded at the end");
    }
    if evidence.is_empty() {
        CheckResult::pass(format!(
            "{judged} engine(s) up: no own command left in a speculative view after its record was applied"
        ))
    } else {
        CheckResult::violation(
            "own commands left in a leader's speculative view after their record was applied (later incrs on those keys fail their precondition)",
            evidence,
        )
    }
}
