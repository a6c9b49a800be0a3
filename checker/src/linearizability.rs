//! Checking a history against a model: split by key, search each key,
//! and explain the first violation.

use crate::history::{History, Operation};
use crate::model::{Model, Spec};
use crate::outcome::{KeyChecker, KeyReport, ShapeError, Verdict, Witness};
use crate::search::{self, prepare_all, Outcome, Resumable, Timed};
use crate::witness::{self, MIN_WITNESS_STEPS};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The default step budget: the largest corpus history needs about 0.75M
/// steps. The search's cache keeps up to one entry (about 50-100 bytes) per
/// step, so the budget also bounds memory, here to a few hundred megabytes.
pub const DEFAULT_BUDGET: u64 = 5_000_000;

/// The result of [`check`].
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Not linearizable if any key is; else unknown if any key is; else linearizable.
    pub verdict: Verdict,
    /// The model's name.
    pub model: &'static str,
    /// The property checked: `linearizable`, or for a transactional model
    /// the consistency model (`serializable`, `strict-serializable`, ...).
    pub property: &'static str,
    /// Operations in the history, failed ones included.
    pub ops: usize,
    /// Model steps spent by the search, all keys and rounds (witness
    /// minimization not included).
    pub steps: u64,
    /// The key of the witness, if there is one.
    pub key: Option<String>,
    /// One entry per key, in key order (no key first).
    pub keys: Vec<KeyReport>,
    /// A violation on the first non-linearizable key (see [`Witness`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<Witness>,
}

/// An operation whose shape does not fit the model.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckError {
    /// The 1-based line of the invocation, when the history came from text.
    pub line: Option<usize>,
    /// The operation's index in [`History::operations`].
    pub op: usize,
    /// The model's name.
    pub model: &'static str,
    /// What is wrong.
    pub error: ShapeError,
}

impl fmt::Display for CheckError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(out, "line {line}: ")?,
            None => write!(out, "operation {}: ", self.op)?,
        }
        write!(out, "{} (model {})", self.error, self.model)
    }
}

impl std::error::Error for CheckError {}

/// The cumulative steps each unfinished key may have spent by the end of
/// the first round of the search; every later round multiplies it by [`GROWTH`].
const FIRST_ROUND: u64 = 10_000;
const GROWTH: u64 = 4;

/// Checks `history` against `model`, spending at most `budget` model steps
/// in the search, and on a violation at most half as many as the search
/// spent on the violating key (at least 20,000, at most `budget`) on
/// finding and minimising the witness.
///
/// Keys are independent, so each is searched on its own, in rounds: every
/// unfinished key's search is resumed with a growing allowance of steps,
/// and the check stops after the first round in which some key is proven
/// non-linearizable. A violation that is cheap to prove is thus found
/// without first exhausting keys that are expensive (searching a wrong key
/// with many concurrent operations can take exponential time); keys left
/// unfinished are reported with no verdict. The rounds are fixed, so the
/// report is the same on every run. Memory grows with the steps spent, so
/// the budget bounds it too. Every operation's shape is checked before any
/// search, so a bad history is reported as such.
pub fn check(history: &History, model: &Model, budget: u64) -> Result<Report, CheckError> {
    check_with(history, model, budget, true)
}

/// Like [`check`], but stops at the verdict: no witness is looked for.
/// For callers that only need the answer, and to time the search alone.
pub fn check_verdict(history: &History, model: &Model, budget: u64) -> Result<Report, CheckError> {
    check_with(history, model, budget, false)
}

fn check_with(
    history: &History,
    model: &Model,
    budget: u64,
    explain: bool,
) -> Result<Report, CheckError> {
    let ops = history.operations();
    let mut by_key: BTreeMap<Option<&str>, Vec<&Operation>> = BTreeMap::new();
    for (index, op) in ops.iter().enumerate() {
        model.spec.validate(op).map_err(|error| CheckError {
            line: op.line,
            op: index,
            model: model.name(),
            error,
        })?;
        if !op.failed() || model.spec.keeps_failed() {
            by_key.entry(op.key.as_deref()).or_default().push(op);
        }
    }
    let keys: Vec<(Option<&str>, Vec<&Operation>)> = by_key.into_iter().collect();
    let (keys, witness) = model.spec.check_keys(&keys, budget, explain);
    Ok(Report {
        verdict: overall(&keys),
        model: model.name(),
        property: model.spec.property(),
        ops: ops.len(),
        steps: keys.iter().map(|r| r.steps).sum(),
        key: witness.as_ref().and_then(|w| w.key.clone()),
        keys,
        witness,
    })
}

/// The rounds of [`check`] for one model: per-key reports and, if some
/// key is not linearizable, a witness from the first such key.
fn check_keys<S: Spec>(
    spec: &S,
    keys: &[(Option<&str>, Vec<&Operation>)],
    budget: u64,
    explain: bool,
) -> (Vec<KeyReport>, Option<Witness>) {
    let prepared: Vec<Vec<Timed<S::Op>>> = keys
        .iter()
        .map(|(_, ops)| prepare_all(spec, ops).unwrap_or_default())
        .collect();
    let refs: Vec<Vec<&Timed<S::Op>>> = prepared.iter().map(|p| p.iter().collect()).collect();
    let mut searches: Vec<Box<dyn Resumable + Send + '_>> =
        refs.iter().map(|ops| search::start(spec, ops)).collect();
    let mut reports: Vec<KeyReport> = keys
        .iter()
        .map(|(key, ops)| KeyReport {
            key: key.map(str::to_string),
            ops: ops.len(),
            verdict: None,
            steps: 0,
        })
        .collect();
    let mut remaining = budget;
    let mut target = FIRST_ROUND;
    loop {
        // Allowances are fixed in key order before the round runs, so that
        // they do not depend on which key finishes first: the rounds, and
        // so the report, are the same however keys are spread over threads.
        let mut jobs: Vec<(usize, u64)> = Vec::new();
        for (k, report) in reports.iter().enumerate() {
            if report.verdict.is_none() {
                let allowance = target.saturating_sub(report.steps).min(remaining);
                remaining -= allowance;
                jobs.push((k, allowance));
            }
        }
        let outcomes = run_round(&mut searches, &jobs, target > FIRST_ROUND);
        for (&(k, allowance), outcome) in jobs.iter().zip(outcomes) {
            let used = searches[k].steps() - reports[k].steps;
            remaining += allowance - used;
            reports[k].steps = searches[k].steps();
            reports[k].verdict = match outcome {
                Outcome::Linearizable => Some(Verdict::Linearizable),
                Outcome::Illegal => Some(Verdict::NotLinearizable),
                // Out of memo, not of steps: no later round can help (and
                // waiting for one would loop for ever, spending nothing).
                Outcome::Unknown if searches[k].exhausted() => Some(Verdict::Unknown),
                Outcome::Unknown => None,
            };
        }
        if remaining == 0 {
            for report in reports.iter_mut().filter(|r| r.verdict.is_none()) {
                report.verdict = Some(Verdict::Unknown);
            }
        }
        let found = reports
            .iter()
            .any(|r| r.verdict == Some(Verdict::NotLinearizable));
        if found || reports.iter().all(|r| r.verdict.is_some()) {
            break;
        }
        target = target.saturating_mul(GROWTH);
    }
    let witness = reports
        .iter()
        .position(|r| r.verdict == Some(Verdict::NotLinearizable))
        .filter(|_| explain)
        .and_then(|k| {
            let frontier = searches[k].frontier();
            // Minimising may take half as many steps as the search did (at
            // least a floor for cheap searches): its probes cost more per
            // step than the search, and together they must not dominate.
            let steps = (reports[k].steps / 2).max(MIN_WITNESS_STEPS).min(budget);
            witness::find(spec, &keys[k].1, frontier, steps)
        });
    drop(searches);
    (reports, witness)
}

/// Resumes the searches named by `jobs` (index, allowance); returns their
/// outcomes in job order. Keys are independent, so when `parallel` (after
/// the first round, which most histories never get past) they run on up to
/// one thread per core.
fn run_round(
    searches: &mut [Box<dyn Resumable + Send + '_>],
    jobs: &[(usize, u64)],
    parallel: bool,
) -> Vec<Outcome> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if parallel { cores.min(jobs.len()) } else { 1 };
    let mut chosen: Vec<(&mut Box<dyn Resumable + Send + '_>, u64, Outcome)> = Vec::new();
    let mut wanted = jobs.iter().peekable();
    for (k, search) in searches.iter_mut().enumerate() {
        if let Some(&(_, allowance)) = wanted.next_if(|job| job.0 == k) {
            chosen.push((search, allowance, Outcome::Unknown));
        }
    }
    if threads <= 1 {
        for (search, allowance, outcome) in &mut chosen {
            *outcome = search.resume(*allowance);
        }
    } else {
        let cells: Vec<Mutex<_>> = chosen.into_iter().map(Mutex::new).collect();
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    while let Some(cell) = cells.get(next.fetch_add(1, Ordering::Relaxed)) {
                        // Each cell is taken by exactly one thread; a poisoned
                        // lock can only follow a panic, which propagates anyway.
                        if let Ok(mut job) = cell.lock() {
                            let (search, allowance, outcome) = &mut *job;
                            *outcome = search.resume(*allowance);
                        }
                    }
                });
            }
        });
        chosen = cells
            .into_iter()
            .filter_map(|cell| cell.into_inner().ok())
            .collect();
    }
    chosen.into_iter().map(|(_, _, outcome)| outcome).collect()
}

/// Not linearizable if any key is; else unknown if any key is (or was left
/// unfinished); else linearizable.
fn overall(reports: &[KeyReport]) -> Verdict {
    let has = |v: Option<Verdict>| reports.iter().any(|r| r.verdict == v);
    if has(Some(Verdict::NotLinearizable)) {
        Verdict::NotLinearizable
    } else if has(Some(Verdict::Unknown)) || has(None) {
        Verdict::Unknown
    } else {
        Verdict::Linearizable
    }
}

impl<S: Spec> KeyChecker for S {
    fn validate(&self, op: &Operation) -> Result<(), ShapeError> {
        self.prepare(op).map(|_| ())
    }

    fn check_keys(
        &self,
        keys: &[(Option<&str>, Vec<&Operation>)],
        budget: u64,
        explain: bool,
    ) -> (Vec<KeyReport>, Option<Witness>) {
        check_keys(self, keys, budget, explain)
    }
}
