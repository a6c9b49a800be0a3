//! memstate's own checks.

use std::collections::BTreeMap;

use sim::{EventKind, Sim};

use super::MemState;
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
