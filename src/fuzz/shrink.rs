//! Shrinking: reduce a failing run while the same check still fails the
//! same way, re-running the real runner at the same seed after every step.
//!
//! The steps, repeated while any of them helps and the run budget lasts:
//! fewer generated operations; the generated workload turned into an
//! explicit script from the run's history; fewer faults and fewer scripted
//! operations (delta debugging: drop chunks, halving the chunk size down to
//! one item); fewer nodes (a node no fault, operation or setting names
//! besides partitions, with the ids above it renumbered); shorter fault
//! windows (heals and restarts moved towards the fault they end, loss
//! bursts halved). Every candidate goes through the scenario validator, so
//! the result is always a valid scenario file, and is kept only if the
//! check fails the same way in no more events than before: every measure
//! (faults, operations, events, nodes) only goes down.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use protocols::Status;
use serde::Serialize;
use sim::{EventKind, MS};

use super::reduce::{shorten, without_node};
use crate::runner::{self, RunOptions, RunReport};
use crate::scenario::raw::{RawFault, RawScenario, RawScriptOp, RawWorkload};
use crate::scenario::{Expect, Scenario};

/// How big a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Size {
    /// Faults in the schedule.
    pub faults: usize,
    /// Client operations invoked.
    pub ops: u64,
    /// Events processed.
    pub events: u64,
    /// Nodes.
    pub nodes: u64,
}

/// A shrunk failure.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The reduced scenario: seed set, no `fuzz` block, explicit faults
    /// (and a script, when the workload could be replaced by one), only the
    /// failing check, expecting what it found.
    pub raw: RawScenario,
    /// The failing run's size.
    pub before: Size,
    /// The reduced run's size.
    pub after: Size,
    /// Runs spent.
    pub runs: u64,
}

/// What must keep happening: `check` reports `status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The check.
    pub check: String,
    /// Its verdict in the failing run.
    pub status: Status,
}

struct Shrinker<'a> {
    proto: crate::ProtocolEntry,
    path: &'a str,
    seed: u64,
    target: &'a Target,
    runs: u64,
    budget: u64,
    best: RawScenario,
    size: Size,
    changed: bool,
}

/// Shrinks the run of `sc` (already expanded for `seed`) at `seed` while
/// `target` holds, spending at most `budget` runs.
pub fn shrink(sc: &Scenario, seed: u64, target: &Target, budget: u64) -> Result<Shrunk, String> {
    let expect = match target.status {
        Status::Pass => Expect::Pass,
        Status::Violation => Expect::Violation,
        Status::Unknown => {
            return Err(format!(
                "{} answered unknown, which a scenario cannot expect",
                target.check
            ))
        }
    };
    let mut base = sc.effective.clone();
    base.fuzz = None;
    base.seed = seed;
    base.checks = Some(vec![target.check.clone()]);
    base.expect = BTreeMap::from([(target.check.clone(), expect)]);
    let mut s = Shrinker {
        proto: sc.proto,
        path: &sc.path,
        seed,
        target,
        runs: 0,
        budget: budget.max(1),
        size: Size {
            faults: 0,
            ops: 0,
            events: 0,
            nodes: 0,
        },
        best: base.clone(),
        changed: false,
    };
    if !s.accept(base) {
        return Err(format!(
            "seed {seed} does not fail the same way when run with only check {}",
            target.check
        ));
    }
    let before = s.size;
    s.fewer_generated_ops();
    s.script_from_history();
    loop {
        s.changed = false;
        // Windows last: a tight window makes the failure hang on exact
        // message timings, which dropping faults and operations disturbs.
        s.ddmin(|r| &mut r.faults);
        s.ddmin(|r| &mut r.workload.script);
        s.fewer_nodes();
        s.shorter_windows();
        if !s.changed || s.spent() {
            break;
        }
    }
    s.tidy();
    s.best.faults.sort_by_key(RawFault::at_ms);
    Ok(Shrunk {
        raw: s.best,
        before,
        after: s.size,
        runs: s.runs,
    })
}

/// Runs `raw`, a scenario of protocol `proto`, at `seed`; `None` when it
/// does not validate or panics.
pub fn run_raw(
    proto: &crate::ProtocolEntry,
    raw: &RawScenario,
    path: &str,
    seed: u64,
    history: bool,
) -> Option<RunReport> {
    let text = serde_json::to_string(raw).ok()?;
    let name = raw.name.clone().unwrap_or_default();
    let sc = proto.parse(&text, path, &name).ok()?;
    let opts = RunOptions {
        seed,
        trace: None,
        observer: None,
        keep_history: history,
        trail_key: None,
        deadline: None,
    };
    catch_unwind(AssertUnwindSafe(|| runner::run(&sc, opts))).ok()
}

/// True when `rep`'s check `target.check` reported `target.status`.
pub fn reproduces(rep: &RunReport, target: &Target) -> bool {
    rep.checks
        .iter()
        .any(|c| c.name == target.check && c.result.status == target.status)
}

impl Shrinker<'_> {
    fn spent(&self) -> bool {
        self.runs >= self.budget
    }

    fn run(&mut self, raw: &RawScenario, history: bool) -> Option<RunReport> {
        if self.spent() {
            return None;
        }
        self.runs += 1;
        run_raw(&self.proto, raw, self.path, self.seed, history)
    }

    /// Keeps `cand` if it still fails the same way in no more events (a
    /// dropped heal can leave a cut that keeps retries busy until the final
    /// heal: fewer faults, but a longer run to read).
    fn accept(&mut self, cand: RawScenario) -> bool {
        let first = self.runs == 0;
        match self.run(&cand, false) {
            Some(rep)
                if reproduces(&rep, self.target)
                    && (first || rep.stats.events <= self.size.events) =>
            {
                self.size = Size {
                    faults: cand.faults.len(),
                    ops: rep.ops,
                    events: rep.stats.events,
                    nodes: cand.nodes,
                };
                self.best = cand;
                self.changed = true;
                true
            }
            _ => false,
        }
    }

    /// Once only the script is left, the settings of generated operations
    /// (clients, pacing, mix, window; the node policy when every scripted
    /// operation names its node) go back to their defaults so that the
    /// written file leaves them out. Kept only if the check still fails.
    fn tidy(&mut self) {
        let w = &self.best.workload;
        if w.ops > 0 || self.spent() {
            return;
        }
        let d = RawWorkload::default();
        let mut cand = self.best.clone();
        let c = &mut cand.workload;
        c.clients = None;
        c.mix = None;
        c.rate = d.rate;
        c.start_ms = d.start_ms;
        c.stop_ms = d.stop_ms;
        if c.script.iter().all(|s| s.node.is_some()) {
            c.node_policy = d.node_policy;
        }
        if serde_json::to_value(&cand.workload).ok() != serde_json::to_value(w).ok() {
            self.accept(cand);
        }
    }

    /// Fewer generated operations: take away half, a quarter, … of them.
    fn fewer_generated_ops(&mut self) {
        let mut step = self.best.workload.ops / 2;
        while step > 0 && !self.spent() {
            if step <= self.best.workload.ops {
                let mut cand = self.best.clone();
                cand.workload.ops -= step;
                if self.accept(cand) {
                    continue;
                }
            }
            step /= 2;
        }
    }

    /// Replaces the generated workload with the operations the run invoked,
    /// each at its time (to the ms), client and node, so that single
    /// operations can be dropped. Kept only if the script still fails.
    fn script_from_history(&mut self) {
        if self.best.workload.ops == 0 {
            return;
        }
        let best = self.best.clone();
        let Some(rep) = self.run(&best, true) else {
            return;
        };
        let w = &best.workload;
        let scripted = w.script.iter().map(|s| s.client + 1).max().unwrap_or(0);
        // A client's process id grows by the client count after each `info`.
        let clients = w.clients.unwrap_or(0).max(scripted).max(1);
        let script = rep
            .history
            .iter()
            .filter(|h| h.kind == EventKind::Invoke)
            .map(|h| RawScriptOp {
                at_ms: h.time / MS,
                client: h.process % clients,
                node: Some(h.node as u64),
                f: h.f.to_string(),
                key: h.key,
                value: serde_json::to_value(&h.value).unwrap_or_default(),
            })
            .collect();
        let mut cand = best;
        cand.workload.ops = 0;
        cand.workload.mix = None;
        cand.workload.script = script;
        self.accept(cand);
    }

    /// Delta debugging over one list: drop chunks of it, from halves down
    /// to single items, keeping every drop after which the check still fails.
    fn ddmin<T: Clone>(&mut self, list: fn(&mut RawScenario) -> &mut Vec<T>) {
        let mut n = 2;
        loop {
            let len = list(&mut self.best).len();
            if len == 0 || self.spent() {
                return;
            }
            let chunk = len.div_ceil(n.min(len));
            let mut dropped = false;
            for start in (0..len).step_by(chunk) {
                let mut cand = self.best.clone();
                list(&mut cand).drain(start..(start + chunk).min(len));
                if self.accept(cand) {
                    n = (n - 1).max(2);
                    dropped = true;
                    break;
                }
                if self.spent() {
                    return;
                }
            }
            if !dropped {
                if chunk == 1 {
                    return;
                }
                n = (n * 2).min(len);
            }
        }
    }

    /// Moves each heal and restart halfway towards the fault it ends, and
    /// halves loss bursts, for as long as the check still fails.
    fn shorter_windows(&mut self) {
        for i in 0..self.best.faults.len() {
            while let Some(cand) = shorten(&self.best, i) {
                if !self.accept(cand) {
                    break;
                }
            }
        }
    }

    /// Removes nodes, highest id first, where nothing but partitions names them.
    fn fewer_nodes(&mut self) {
        let mut k = self.best.nodes;
        while k > 0 && self.best.nodes > 1 && !self.spent() {
            k -= 1;
            if k < self.best.nodes {
                if let Some(cand) = without_node(&self.best, k) {
                    self.accept(cand);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "shrink_tests.rs"]
mod tests;
