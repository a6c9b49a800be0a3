//! Check results, and the generic checks every protocol can ask for.

use std::collections::BTreeSet;

use serde::Serialize;
use sim::{Node, Sim};

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The property held.
    Pass,
    /// The property was violated; the evidence says how.
    Violation,
    /// The check could not decide (budget spent, run cut short).
    Unknown,
}

impl Status {
    /// The name used in reports and scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Violation => "violation",
            Status::Unknown => "unknown",
        }
    }
}

/// One check's verdict with what a person needs to follow it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The verdict.
    pub status: Status,
    /// One line.
    pub summary: String,
    /// Lines of evidence: which node, which key, which operations, when.
    pub evidence: Vec<String>,
}

impl CheckResult {
    /// A pass.
    pub fn pass(summary: impl Into<String>) -> Self {
        CheckResult {
            status: Status::Pass,
            summary: summary.into(),
            evidence: Vec::new(),
        }
    }

    /// A violation with evidence.
    pub fn violation(summary: impl Into<String>, evidence: Vec<String>) -> Self {
        CheckResult {
            status: Status::Violation,
            summary: summary.into(),
            evidence,
        }
    }

    /// Undecided.
    pub fn unknown(summary: impl Into<String>) -> Self {
        CheckResult {
            status: Status::Unknown,
            summary: summary.into(),
            evidence: Vec::new(),
        }
    }
}

/// How many differing keys a convergence report lists before summarising.
const MAX_KEYS_SHOWN: usize = 10;

/// Convergence: after the final heal and the quiet period, every live
/// replica's digest must be equal (services and clients are not compared). A failure names the keys that differ and
/// each node's value for them.
pub fn convergence<N: Node>(run: &Sim<N>, completed: bool) -> CheckResult {
    if !completed {
        return CheckResult::unknown("the run stopped before its quiet period ended");
    }
    // Replicas only: services and client processes hold no replica state.
    let live: Vec<(usize, sim::Digest)> = (0..run.layout().replicas)
        .filter(|&i| run.is_up(i))
        .map(|i| (i, run.nodes()[i].digest()))
        .collect();
    if live.len() < 2 {
        return CheckResult::pass(format!(
            "{} live replica(s): nothing to compare",
            live.len()
        ));
    }
    let keys: BTreeSet<&String> = live.iter().flat_map(|(_, d)| d.keys()).collect();
    let mut differing = Vec::new();
    for k in &keys {
        let vals: Vec<Option<&String>> = live.iter().map(|(_, d)| d.get(*k)).collect();
        if vals.windows(2).any(|w| w[0] != w[1]) {
            differing.push((*k, vals));
        }
    }
    let nodes: Vec<String> = live.iter().map(|(i, _)| format!("n{i}")).collect();
    if differing.is_empty() {
        return CheckResult::pass(format!(
            "{} live replicas agree on {} key(s)",
            live.len(),
            keys.len()
        ));
    }
    let mut evidence = Vec::new();
    for (k, vals) in differing.iter().take(MAX_KEYS_SHOWN) {
        let parts: Vec<String> = nodes
            .iter()
            .zip(vals)
            .map(|(n, v)| format!("{n}={}", v.map_or("(absent)", |s| s.as_str())))
            .collect();
        evidence.push(format!("key {k}: {}", parts.join(" ")));
    }
    if differing.len() > MAX_KEYS_SHOWN {
        evidence.push(format!(
            "… and {} more key(s)",
            differing.len() - MAX_KEYS_SHOWN
        ));
    }
    let groups = agreement_groups(&live);
    CheckResult::violation(
        format!(
            "replicas disagree on {} of {} key(s) after the final heal; groups that agree: {groups}",
            differing.len(),
            keys.len()
        ),
        evidence,
    )
}

/// "{n0,n1} {n2,n3,n4}": nodes grouped by identical digests.
fn agreement_groups(live: &[(usize, sim::Digest)]) -> String {
    let mut groups: Vec<(&sim::Digest, Vec<usize>)> = Vec::new();
    for (i, d) in live {
        match groups.iter_mut().find(|(g, _)| *g == d) {
            Some((_, members)) => members.push(*i),
            None => groups.push((d, vec![*i])),
        }
    }
    groups
        .iter()
        .map(|(_, m)| {
            let names: Vec<String> = m.iter().map(|i| format!("n{i}")).collect();
            format!("{{{}}}", names.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Linearizability of the run's client history against the checker model
/// `model` (keys checked independently), within `budget` search steps. On a
/// violation the evidence is the checker's witness: a minimal set of
/// operations of one key, as a timeline per process and in words.
pub fn linearizability<N: Node>(run: &Sim<N>, model: &str, budget: u64) -> CheckResult {
    linearizability_of(run, model, budget, |_| true)
}

/// [`linearizability`] over the operations whose name `keep` accepts (a
/// protocol's admin operations, which the model does not know, left out).
pub fn linearizability_of<N: Node>(
    run: &Sim<N>,
    model: &str,
    budget: u64,
    keep: impl Fn(&str) -> bool,
) -> CheckResult {
    linearizability_witness(run, model, budget, keep).0
}

/// [`linearizability_of`], with the witness of a violation as the checker
/// found it (the HTML report draws it; finding it again would cost a
/// second search).
pub fn linearizability_witness<N: Node>(
    run: &Sim<N>,
    model: &str,
    budget: u64,
    keep: impl Fn(&str) -> bool,
) -> (CheckResult, Option<checker::Witness>) {
    let model = match checker::model::by_name(model, None) {
        Ok(m) => m,
        Err(e) => return (CheckResult::unknown(format!("no checker model: {e}")), None),
    };
    let events: Vec<sim::HistoryEvent> = run
        .history()
        .iter()
        .filter(|e| keep(e.f))
        .cloned()
        .collect();
    let history = match to_checker_history(&events) {
        Ok(h) => h,
        Err(e) => {
            return (
                CheckResult::unknown(format!("the run's history is malformed: {e}")),
                None,
            )
        }
    };
    let report = match checker::check(&history, &model, budget) {
        Ok(r) => r,
        Err(e) => {
            return (
                CheckResult::unknown(format!(
                    "an operation does not fit the {} model: {e}",
                    model.name()
                )),
                None,
            )
        }
    };
    let ops = report.ops;
    let result = match report.verdict {
        checker::Verdict::Linearizable => CheckResult::pass(format!(
            "{ops} operation(s) on {} key(s) are linearizable ({} model)",
            report.keys.len(),
            model.name()
        )),
        checker::Verdict::Unknown if report.steps < budget => CheckResult::unknown(format!(
            "the search's memo reached its bound of {} MiB after {} steps on {ops} operation(s), before the step budget ({budget})",
            checker::MEMO_BYTES >> 20,
            report.steps
        )),
        checker::Verdict::Unknown => CheckResult::unknown(format!(
            "the search spent its budget of {budget} steps on {ops} operation(s) without a verdict"
        )),
        checker::Verdict::NotLinearizable => {
            let (summary, evidence) = match &report.witness {
                Some(w) => (
                    w.explanation.clone(),
                    // The run's history is in microseconds.
                    w.render_text_with(&crate::generic::ms)
                        .lines()
                        .map(str::to_string)
                        .collect(),
                ),
                None => ("no linearization exists".to_string(), Vec::new()),
            };
            let key = report
                .key
                .as_deref()
                .map_or(String::new(), |k| format!(" (key {k})"));
            CheckResult::violation(format!("not linearizable{key}: {summary}"), evidence)
        }
    };
    (result, report.witness)
}

/// The engine's history in the checker's form (keys as decimal strings).
pub fn to_checker_history(
    events: &[sim::HistoryEvent],
) -> Result<checker::History, checker::HistoryError> {
    let mut h = checker::History::new();
    for e in events {
        let value = serde_json::to_value(&e.value).unwrap_or(serde_json::Value::Null);
        let key = e.key.map(|k| k.to_string());
        match e.kind {
            sim::EventKind::Invoke => h.invoke(e.process, e.f, key, value, e.time)?,
            sim::EventKind::Ok => {
                h.complete(e.process, checker::CompletionKind::Ok, value, e.time)?
            }
            sim::EventKind::Fail => {
                h.complete(e.process, checker::CompletionKind::Fail, value, e.time)?
            }
            sim::EventKind::Info => {
                h.complete(e.process, checker::CompletionKind::Info, value, e.time)?
            }
        };
    }
    Ok(h)
}
