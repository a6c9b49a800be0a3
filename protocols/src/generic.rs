//! The generic checks: availability, liveness, replica agreement, monotonic
//! reads, message budget and halts. They read only generic facts (the
//! client history, the counters, the halts, when the network was last made
//! whole, and what a protocol exposes through `Node::applied` and
//! `Node::digest`), so every protocol gets them without writing a line.
//! A protocol's own check with the same name replaces the generic one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sim::{EventKind, HistoryEvent, Node, NodeId, Sim, Time, Value, MS};

use crate::{CheckResult, CheckSpec};

/// The generic checks, as `dsim list` shows them (convergence and
/// linearizability live in [`crate::check`]).
pub const SPECS: &[CheckSpec] = &[
    CheckSpec {
        name: "availability",
        summary: "the fraction of operations that ended ok, overall and among those invoked once the network was whole again, is at least check_params.availability.min_ok / min_ok_after_heal (default 1.0 each)",
    },
    CheckSpec {
        name: "liveness",
        summary: "once the network is whole again, no client waits longer than check_params.liveness.within_ms (default 5000) for an answer (ok or fail)",
    },
    CheckSpec {
        name: "replica-agreement",
        summary: "replicas at the same applied position hold the same state, compared throughout the run (protocols with an applied position)",
    },
    CheckSpec {
        name: "monotonic-reads",
        summary: "no client session and no replica answers a read from an older state than one it already answered from",
    },
    CheckSpec {
        name: "message-budget",
        summary: "messages between replicas and services per client operation stay at or under check_params.message-budget.max_per_op",
    },
    CheckSpec {
        name: "no-halts",
        summary: "no process halted itself (a failed assertion, an unhandled message)",
    },
];

/// Settings of the generic checks (`check_params` in a scenario file).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckParams {
    /// `availability`.
    pub availability: Availability,
    /// `liveness`.
    pub liveness: Liveness,
    /// `message-budget`.
    #[serde(rename = "message-budget")]
    pub message_budget: MessageBudget,
    /// `linearizability`.
    pub linearizability: Linearizability,
}

/// `check_params.linearizability`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Linearizability {
    /// The most search steps the check may spend before it answers
    /// "unknown" (`dsim check --budget`); its memo is capped at 1 GiB
    /// whatever the budget.
    pub budget: u64,
}

impl Default for Linearizability {
    fn default() -> Self {
        Linearizability {
            budget: checker::DEFAULT_BUDGET,
        }
    }
}

/// `check_params.availability`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Availability {
    /// Least fraction of all operations that must end ok.
    pub min_ok: f64,
    /// Least fraction of the operations invoked once the network was whole
    /// again that must end ok.
    pub min_ok_after_heal: f64,
}

impl Default for Availability {
    fn default() -> Self {
        Availability {
            min_ok: 1.0,
            min_ok_after_heal: 1.0,
        }
    }
}

/// `check_params.liveness`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Liveness {
    /// The longest a client may wait for an answer once the network is whole.
    #[serde(deserialize_with = "sim::ms::de")]
    pub within_ms: u64,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness { within_ms: 5_000 }
    }
}

/// `check_params.message-budget`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessageBudget {
    /// The most messages per client operation (required by the check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_per_op: Option<f64>,
    /// Count client↔server messages too (Maelstrom's "all" figure);
    /// by default only messages between replicas and services count.
    pub all: bool,
}

impl CheckParams {
    /// Range checks: `Err((field path, message))`.
    pub fn validate(&self, checks: &[String]) -> Result<(), (String, String)> {
        let frac = |x: f64, field: &str| {
            if (0.0..=1.0).contains(&x) {
                Ok(())
            } else {
                Err((
                    format!("availability.{field}"),
                    format!("must be a fraction from 0 to 1, got {x}"),
                ))
            }
        };
        if self.linearizability.budget == 0 {
            return Err((
                "linearizability.budget".into(),
                "must be at least 1 search step".into(),
            ));
        }
        frac(self.availability.min_ok, "min_ok")?;
        frac(self.availability.min_ok_after_heal, "min_ok_after_heal")?;
        if self.liveness.within_ms == 0 || self.liveness.within_ms > u64::MAX / MS {
            return Err((
                "liveness.within_ms".into(),
                format!(
                    "must be from 1 to {}, got {}",
                    u64::MAX / MS,
                    self.liveness.within_ms
                ),
            ));
        }
        match self.message_budget.max_per_op {
            Some(x) if !(x.is_finite() && x >= 0.0) => Err((
                "message-budget.max_per_op".into(),
                format!("must be a number of at least 0, got {x}"),
            )),
            None if checks.iter().any(|c| c == "message-budget") => Err((
                "message-budget.max_per_op".into(),
                "check message-budget needs a limit: the most messages per operation".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// What the generic checks need to know about the protocol.
pub struct Facts<'a> {
    /// Operations that only read.
    pub reads: &'a [&'static str],
    /// The checker model the protocol's clients follow.
    pub model: Option<&'static str>,
}

/// Runs generic check `name`, if it is one.
pub fn run<N: Node>(
    name: &str,
    sim: &Sim<N>,
    params: &CheckParams,
    facts: &Facts,
) -> Option<CheckResult> {
    Some(match name {
        "availability" => availability(sim, &params.availability),
        "liveness" => liveness(sim, &params.liveness),
        "replica-agreement" => agreement(sim),
        "monotonic-reads" => crate::generic_reads::monotonic_reads(sim.history(), facts),
        "message-budget" => budget(sim, &params.message_budget),
        "no-halts" => no_halts(sim),
        _ => return None,
    })
}

/// One client operation and its completion.
#[derive(Clone, Debug)]
pub(crate) struct Op<'a> {
    pub invoke: &'a HistoryEvent,
    /// `None`: it never completed (the run ended first).
    pub done: Option<&'a HistoryEvent>,
}

impl Op<'_> {
    pub fn kind(&self) -> Option<EventKind> {
        self.done.map(|d| d.kind)
    }
    pub fn answered(&self) -> bool {
        matches!(self.kind(), Some(EventKind::Ok | EventKind::Fail))
    }
    fn describe(&self) -> String {
        let i = self.invoke;
        let key = i.key.map_or(String::new(), |k| format!(" key {k}"));
        let input = if i.value == Value::Null {
            String::new()
        } else {
            format!(" {}", i.value)
        };
        let end = match self.done {
            Some(d) => format!(
                "{} at {}",
                match d.kind {
                    EventKind::Ok => "ok",
                    EventKind::Fail => "fail",
                    _ => "info (no answer)",
                },
                ms(d.time)
            ),
            None => "still waiting at the end".into(),
        };
        format!(
            "p{} {}{key}{input} on n{}, invoked at {}: {end}",
            i.process,
            i.f,
            i.node,
            ms(i.time)
        )
    }
}

/// The history's operations in invocation order (a process runs one at a time).
pub(crate) fn ops(history: &[HistoryEvent]) -> Vec<Op<'_>> {
    let mut out: Vec<Op> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for h in history {
        if h.kind == EventKind::Invoke {
            open.insert(h.process, out.len());
            out.push(Op {
                invoke: h,
                done: None,
            });
        } else if let Some(i) = open.remove(&h.process) {
            out[i].done = Some(h);
        }
    }
    out
}

/// A time in milliseconds, for reports.
pub(crate) fn ms(t: Time) -> String {
    if t.is_multiple_of(MS) {
        format!("{} ms", t / MS)
    } else {
        format!("{:.3} ms", t as f64 / MS as f64)
    }
}

/// How many items a report lists.
const SHOWN: usize = 8;

fn availability<N: Node>(sim: &Sim<N>, a: &Availability) -> CheckResult {
    let ops = ops(sim.history());
    if ops.is_empty() {
        return CheckResult::unknown("no client operation ran: nothing to judge");
    }
    let ok = |o: &Op| o.kind() == Some(EventKind::Ok);
    let frac = |xs: &[&Op]| xs.iter().filter(|o| ok(o)).count() as f64 / xs.len() as f64;
    let all: Vec<&Op> = ops.iter().collect();
    let overall = frac(&all);
    let calm = sim.calm_since();
    let after: Vec<&Op> = match calm {
        Some(c) => all.iter().copied().filter(|o| o.invoke.time >= c).collect(),
        None => Vec::new(),
    };
    let tally = |xs: &[&Op]| {
        let n = |k: Option<EventKind>| xs.iter().filter(|o| o.kind() == k).count();
        format!(
            "{} ok, {} fail, {} info, {} unfinished of {}",
            n(Some(EventKind::Ok)),
            n(Some(EventKind::Fail)),
            n(Some(EventKind::Info)),
            n(None),
            xs.len()
        )
    };
    let mut evidence = vec![format!("all operations: {}", tally(&all))];
    let after_part = match calm {
        None => "the network was still disturbed at the end: nothing ran after a heal".to_string(),
        Some(_) if after.is_empty() => {
            "no operation was invoked after the network was last made whole".to_string()
        }
        Some(c) => {
            evidence.push(format!("invoked from {} on: {}", ms(c), tally(&after)));
            format!(
                "{:.3} of the {} invoked after {}",
                frac(&after),
                after.len(),
                ms(c)
            )
        }
    };
    let after_bad = !after.is_empty() && frac(&after) < a.min_ok_after_heal;
    let overall_bad = overall < a.min_ok;
    let summary = format!(
        "{overall:.3} of {} operations ended ok (the scenario requires a fraction of at least {:.3}); {after_part} (requires at least {:.3})",
        all.len(),
        a.min_ok,
        a.min_ok_after_heal
    );
    if !(overall_bad || after_bad) {
        return CheckResult::pass(summary);
    }
    let pool = if after_bad { &after } else { &all };
    evidence.extend(
        pool.iter()
            .filter(|o| !ok(o))
            .take(SHOWN)
            .map(|o| o.describe()),
    );
    CheckResult::violation(summary, evidence)
}

fn liveness<N: Node>(sim: &Sim<N>, l: &Liveness) -> CheckResult {
    let Some(calm) = sim.calm_since() else {
        return CheckResult::unknown(
            "the network was still disturbed at the end (a cut, pause, loss burst or message rule in force): liveness is judged only once it is whole",
        );
    };
    let bound = l.within_ms.saturating_mul(MS);
    let end = sim.now();
    let ops = ops(sim.history());
    // Each client's operations that ran (or still waited) once calm.
    let mut by_client: BTreeMap<u64, Vec<&Op>> = BTreeMap::new();
    let clients = sim.config().workload.client_count().max(1) as u64;
    for o in &ops {
        let waiting_at_calm = o.done.is_none_or(|d| d.time > calm);
        if o.invoke.time >= calm || waiting_at_calm {
            by_client
                .entry(o.invoke.process % clients)
                .or_default()
                .push(o);
        }
    }
    if by_client.is_empty() {
        return CheckResult::unknown(format!(
            "no operation ran after the network was last made whole at {}: give the workload time after the last heal",
            ms(calm)
        ));
    }
    let mut bad = Vec::new();
    for (client, list) in &by_client {
        let mut since: Option<(Time, &Op)> = None;
        for o in list {
            let start = o.invoke.time.max(calm);
            let (from, first) = *since.get_or_insert((start, o));
            if o.answered() {
                let at = o.done.map_or(end, |d| d.time);
                if at - from > bound {
                    bad.push(wait(*client, from, at, first, o));
                }
                since = None;
            }
        }
        if let Some((from, first)) = since {
            if end.saturating_sub(from) > bound {
                let last = list.last().expect("a waiting client has operations");
                bad.push(wait(*client, from, end, first, last));
            }
        }
    }
    let summary_ok = format!(
        "after the network was whole at {}, {} client(s) were answered within {} ms",
        ms(calm),
        by_client.len(),
        l.within_ms
    );
    if bad.is_empty() {
        return CheckResult::pass(summary_ok);
    }
    let n = bad.len();
    bad.truncate(SHOWN);
    CheckResult::violation(
        format!(
            "{n} wait(s) longer than {} ms after the network was whole at {}",
            l.within_ms,
            ms(calm)
        ),
        bad,
    )
}

fn wait(client: u64, from: Time, to: Time, first: &Op, last: &Op) -> String {
    format!(
        "client {client} waited {} without an answer, from {} to {}: first for {}; last for {}",
        ms(to - from),
        ms(from),
        ms(to),
        first.describe(),
        last.describe()
    )
}

fn agreement<N: Node>(sim: &Sim<N>) -> CheckResult {
    let Some(seen) = sim.positions_seen() else {
        return CheckResult::unknown("applied positions were not tracked in this run");
    };
    if seen == 0 {
        return CheckResult::unknown(
            "this protocol exposes no applied position (Node::applied), so there is nothing to compare at",
        );
    }
    let Some(d) = sim.divergence() else {
        return CheckResult::pass(format!(
            "replicas agreed at each of the {seen} applied position(s) they reached"
        ));
    };
    let mut evidence = Vec::new();
    let keys: std::collections::BTreeSet<&String> = d
        .first
        .digest
        .keys()
        .chain(d.second.digest.keys())
        .collect();
    for k in keys {
        let (a, b) = (d.first.digest.get(k), d.second.digest.get(k));
        if a != b && evidence.len() < SHOWN {
            let show = |v: Option<&String>| v.map_or("(absent)".to_string(), |s| s.clone());
            evidence.push(format!(
                "key {k}: n{}={} n{}={}",
                d.first.node,
                show(a),
                d.second.node,
                show(b)
            ));
        }
    }
    CheckResult::violation(
        format!(
            "at applied position {} n{} (at {}) and n{} (at {}) hold different states",
            d.position,
            d.first.node,
            ms(d.first.at),
            d.second.node,
            ms(d.second.at)
        ),
        evidence,
    )
}

fn budget<N: Node>(sim: &Sim<N>, b: &MessageBudget) -> CheckResult {
    let Some(max) = b.max_per_op else {
        return CheckResult::unknown("check_params.message-budget.max_per_op is not set");
    };
    let s = sim.stats();
    if s.ops == 0 {
        return CheckResult::unknown("no client operation ran: messages per operation undefined");
    }
    let (msgs, what) = if b.all {
        (s.sent, "messages")
    } else {
        (
            s.sent - s.client_messages,
            "messages between replicas and services",
        )
    };
    let per_op = msgs as f64 / s.ops as f64;
    let summary = format!(
        "{per_op:.2} {what} per operation ({msgs} for {} operations; limit {max})",
        s.ops
    );
    if per_op <= max {
        return CheckResult::pass(summary);
    }
    let mut busiest: Vec<(NodeId, u64)> = s.sent_by_node.iter().copied().enumerate().collect();
    busiest.sort_by_key(|&(i, n)| (std::cmp::Reverse(n), i));
    let evidence = busiest
        .iter()
        .take(SHOWN)
        .map(|&(i, n)| format!("{} sent {n}", sim.layout().name(i)))
        .collect();
    CheckResult::violation(summary, evidence)
}

fn no_halts<N: Node>(sim: &Sim<N>) -> CheckResult {
    let halts = sim.halts();
    if halts.is_empty() {
        return CheckResult::pass("no process halted");
    }
    let evidence = halts
        .iter()
        .map(|h| {
            format!(
                "{} halted at {}: {}",
                sim.layout().name(h.node),
                ms(h.at),
                h.reason
            )
        })
        .collect();
    CheckResult::violation(format!("{} process(es) halted", halts.len()), evidence)
}
