//! The counter's checks: read bounds at read time, final values,
//! availability of writes, liveness of the full sync, message budget.

use std::collections::BTreeMap;

use sim::{EventKind, HistoryEvent, NodeId, Sim, Time, MS};

use super::{Counter, PhaseEnd, Var};
use crate::{CheckResult, CheckSpec};

/// The checks `dsim list` shows and scenarios may name.
pub(super) const SPECS: &[CheckSpec] = &[
    CheckSpec {
        name: "counter-bounds",
        summary: "every read lies between the adds acknowledged before it began and those plus every add that may have taken effect",
    },
    CheckSpec {
        name: "counter-final",
        summary: "after the final heal every live replica equals the sum of acknowledged adds, give or take the indeterminate ones",
    },
    CheckSpec {
        name: "availability",
        summary: "the fraction of adds refused or timed out stays under params.refused_max",
    },
    CheckSpec {
        name: "sync-liveness",
        summary: "every sync phase returns to work within params.sync_deadline_ms of its start or of the final heal",
    },
    CheckSpec {
        name: "message-budget",
        summary: "node-to-node messages per client operation stay under params.messages_per_op_max",
    },
];

/// How many violating items a report lists.
const SHOWN: usize = 8;

/// Runs check `name` on a finished run.
pub(super) fn run(name: &str, run: &Sim<Counter>) -> CheckResult {
    match name {
        "counter-bounds" => bounds(run),
        "counter-final" => final_values(run),
        "availability" => availability(run),
        "sync-liveness" => liveness(run),
        "message-budget" => budget(run),
        "convergence" => crate::check::convergence(run, completed(run)),
        _ => CheckResult::unknown(format!("counter has no check named {name}")),
    }
}

/// True when the run reached its planned end, so end-state checks apply.
fn completed(run: &Sim<Counter>) -> bool {
    run.stop_reason().is_some_and(|r| r.completed())
}

/// What explains a run: where each node ended, how often it flooded
/// start_sync, and the first notable moments it recorded.
pub(super) fn notes(run: &Sim<Counter>) -> Vec<String> {
    let mut out = Vec::new();
    for (i, n) in run.nodes().iter().enumerate() {
        let s = n.stats();
        let open = n.phases().last().filter(|p| p.end == PhaseEnd::Open);
        let phase = match open {
            Some(p) => format!("out of work since {}", ms(p.entered)),
            None => "in work".to_string(),
        };
        out.push(format!(
            "n{i} ends {:?} ({phase}) after {} sync phase(s); it sent {} start_sync and reset {} variable(s)",
            n.status(),
            n.phases().len(),
            s.start_sync_sent,
            s.resets
        ).to_lowercase());
        if s.start_sync_handled > 0 {
            let lost = match s.listener_lost_first {
                Some(t) => format!(
                    "; {} TCP message(s) to it were lost meanwhile, the first at {}",
                    s.listener_lost,
                    ms(t)
                ),
                None => String::new(),
            };
            out.push(format!(
                "n{i} handled {} start_sync, each sleeping {} ms with its TCP listener held{lost}",
                s.start_sync_handled,
                n.params().sync_sleep_ms
            ));
        }
        for (p, (first, last, passes)) in &s.dictless_passes {
            out.push(format!(
                "n{i} ran {passes} sync pass(es) without n{p}'s max-nonce dict, from {} to {}: none of them could finish",
                ms(*first),
                ms(*last)
            ));
        }
        let names = |ids: Vec<NodeId>| {
            let names: Vec<String> = ids.iter().map(|p| format!("n{p}")).collect();
            names.join(", ")
        };
        let missing = n.missing_dicts();
        if !missing.is_empty() {
            out.push(format!(
                "n{i} is still in sync without the max-nonce dict of {}: no sync pass can finish",
                names(missing)
            ));
        }
        let waited = n.waiting_in_ready_for();
        if !waited.is_empty() {
            out.push(format!(
                "n{i} waits in ready while it last saw {} in sync: it sends no stop_sync until that changes",
                names(waited)
            ));
        }
        let lacking = n.lacking();
        if !lacking.is_empty() {
            let parts: Vec<String> = lacking
                .iter()
                .map(|(p, v, k)| format!("{k} op(s) of n{p} on key {v}"))
                .collect();
            out.push(format!(
                "n{i} is still in sync and lacks {}: each sync pass asks for them again",
                parts.join(", ")
            ));
        }
        if s.oversize_dropped > 0 || s.unanswered_requests > 0 {
            out.push(format!(
                "n{i} dropped {} message(s) over {} bytes and left {} nonce_request(s) unanswered",
                s.oversize_dropped,
                n.params().max_message_bytes,
                s.unanswered_requests
            ));
        }
        out.extend(s.notes.iter().take(3).map(|note| format!("n{i} {note}")));
    }
    out
}

fn ms(t: Time) -> String {
    format!("{}.{} ms", t / MS, (t % MS) / 100)
}

/// One client operation with its completion, if any.
#[derive(Clone, Debug)]
struct Op<'a> {
    f: &'a str,
    var: Var,
    input: i64,
    node: NodeId,
    process: u64,
    invoked: Time,
    /// `None`: never completed (as good as info).
    done: Option<&'a HistoryEvent>,
}

impl Op<'_> {
    fn kind(&self) -> Option<EventKind> {
        self.done.map(|d| d.kind)
    }
    fn ok_at(&self) -> Option<Time> {
        self.done
            .filter(|d| d.kind == EventKind::Ok)
            .map(|d| d.time)
    }
}

fn ops(history: &[HistoryEvent]) -> Vec<Op<'_>> {
    let mut ops: Vec<Op> = Vec::new();
    // A process runs one operation at a time: its open one is the last one.
    let mut open: std::collections::BTreeMap<u64, usize> = std::collections::BTreeMap::new();
    for h in history {
        if h.kind == EventKind::Invoke {
            open.insert(h.process, ops.len());
            ops.push(Op {
                f: h.f,
                var: h.key.unwrap_or(0),
                input: h.value.as_int().unwrap_or(0),
                node: h.node,
                process: h.process,
                invoked: h.time,
                done: None,
            });
        } else if let Some(i) = open.remove(&h.process) {
            ops[i].done = Some(h);
        }
    }
    ops
}

/// The sum of adds to `var` that certainly took effect, and the least and
/// most that the possibly-effective ones add to it.
#[derive(Clone, Copy, Debug, Default)]
struct Bounds {
    definite: i128,
    definite_n: usize,
    down: i128,
    up: i128,
    possible_n: usize,
}

impl Bounds {
    fn lo(&self) -> i128 {
        self.definite + self.down
    }
    fn hi(&self) -> i128 {
        self.definite + self.up
    }
    fn describe(&self) -> String {
        format!(
            "[{}, {}]: {} acknowledged add(s) sum to {}, {} more may have taken effect ({:+}..{:+})",
            self.lo(),
            self.hi(),
            self.definite_n,
            self.definite,
            self.possible_n,
            self.down,
            self.up
        )
    }
}

/// Bounds for `var` where an add counts as definite if `definite(op)` and
/// as possible if `possible(op)`.
fn bounds_for(
    adds: &[&Op],
    var: Var,
    definite: impl Fn(&Op) -> bool,
    possible: impl Fn(&Op) -> bool,
) -> Bounds {
    let mut b = Bounds::default();
    for a in adds.iter().filter(|a| a.var == var) {
        let d = i128::from(a.input);
        if definite(a) {
            b.definite += d;
            b.definite_n += 1;
        } else if possible(a) {
            b.down += d.min(0);
            b.up += d.max(0);
            b.possible_n += 1;
        }
    }
    b
}

/// Running sums over adds in some order: the count, the sum, and the sums
/// of the positive and of the negative inputs, after each prefix.
#[derive(Default)]
struct Prefix {
    keys: Vec<Time>,
    sums: Vec<(usize, i128, i128, i128)>,
}

impl Prefix {
    fn build(mut items: Vec<(Time, i128)>) -> Prefix {
        items.sort_unstable();
        let mut sums = vec![(0, 0, 0, 0)];
        for &(_, d) in &items {
            let (n, s, up, down) = *sums.last().expect("starts with zeros");
            sums.push((n + 1, s + d, up + d.max(0), down + d.min(0)));
        }
        Prefix {
            keys: items.into_iter().map(|(k, _)| k).collect(),
            sums,
        }
    }

    /// The sums over the items whose key is below `t`.
    fn below(&self, t: Time) -> (usize, i128, i128, i128) {
        self.sums[self.keys.partition_point(|&k| k < t)]
    }
}

/// The bounds of every read of one variable in O(log n) each, instead of
/// a pass over every add per read: an add is definite for a read invoked
/// at `t` when it was acknowledged before `t - lag`, and possible when it
/// was invoked before the read returned. Definite adds are possible too
/// (acknowledged means invoked earlier), so the possible-only sums are
/// differences of two prefix sums.
struct ReadIndex {
    acked: Prefix,
    invoked: Prefix,
}

impl ReadIndex {
    fn build(adds: &[&Op], lag: Time) -> BTreeMap<Var, ReadIndex> {
        let mut acked: BTreeMap<Var, Vec<(Time, i128)>> = BTreeMap::new();
        let mut invoked: BTreeMap<Var, Vec<(Time, i128)>> = BTreeMap::new();
        for a in adds {
            let d = i128::from(a.input);
            if let Some(t) = a.ok_at() {
                // Strictly before `invoked - lag` ⇔ `t + lag` below `invoked`.
                acked
                    .entry(a.var)
                    .or_default()
                    .push((t.saturating_add(lag), d));
            }
            invoked.entry(a.var).or_default().push((a.invoked, d));
        }
        invoked
            .into_iter()
            .map(|(var, inv)| {
                let ack = acked.remove(&var).unwrap_or_default();
                (
                    var,
                    ReadIndex {
                        acked: Prefix::build(ack),
                        invoked: Prefix::build(inv),
                    },
                )
            })
            .collect()
    }

    /// The bounds of a read invoked at `start` that returned at `end`.
    fn at(&self, start: Time, end: Time) -> Bounds {
        let (dn, ds, dup, ddown) = self.acked.below(start);
        let (pn, _, pup, pdown) = self.invoked.below(end);
        Bounds {
            definite: ds,
            definite_n: dn,
            up: pup - dup,
            down: pdown - ddown,
            possible_n: pn - dn,
        }
    }
}

/// Adds that may have taken effect at all (a refused one did not).
fn adds<'a>(ops: &'a [Op<'a>]) -> Vec<&'a Op<'a>> {
    ops.iter()
        .filter(|o| o.f == "add" && o.kind() != Some(EventKind::Fail))
        .collect()
}

fn bounds(run: &Sim<Counter>) -> CheckResult {
    let lag = run.nodes().first().map_or(0, |n| n.params().read_lag_ms) * MS;
    let ops = ops(run.history());
    let adds = adds(&ops);
    let index = ReadIndex::build(&adds, lag);
    let mut bad = Vec::new();
    let mut reads = 0;
    for r in ops.iter().filter(|o| o.f == "read") {
        let Some(done) = r.done.filter(|d| d.kind == EventKind::Ok) else {
            continue;
        };
        let Some(v) = done.value.as_int() else {
            continue;
        };
        reads += 1;
        let b = index
            .get(&r.var)
            .map_or_else(Bounds::default, |ix| ix.at(r.invoked, done.time));
        let v = i128::from(v);
        if v < b.lo() || v > b.hi() {
            let side = if v > b.hi() { "above" } else { "below" };
            bad.push(format!(
                "n{} read key {} = {v} ({side} the bounds) between {} and {} (process {}); bounds {}",
                r.node,
                r.var,
                ms(r.invoked),
                ms(done.time),
                r.process,
                b.describe()
            ));
        }
    }
    if bad.is_empty() {
        return CheckResult::pass(format!("all {reads} read(s) lie within their bounds"));
    }
    let n = bad.len();
    let above = bad.iter().filter(|l| l.contains("(above")).count();
    bad.truncate(SHOWN);
    if n > SHOWN {
        bad.push(format!("… and {} more", n - SHOWN));
    }
    bad.extend(hints(run));
    let below = n - above;
    if below > 0 {
        // Reads are local: a replica may not have heard of an add yet.
        bad.push(format!(
            "reads below the bounds may be stale local reads: an add counts as seen by every replica {} after it was acknowledged (params.read_lag_ms = {}); raise read_lag_ms to the staleness this variant allows",
            ms(lag),
            lag / MS
        ));
    }
    CheckResult::violation(
        format!("{n} of {reads} read(s) outside the possible sums ({above} above: something counted that never happened or twice; {below} below: an acknowledged add not seen, or a stale read within params.read_lag_ms)"),
        bad,
    )
}

fn final_values(run: &Sim<Counter>) -> CheckResult {
    if !completed(run) {
        return CheckResult::unknown("the run stopped before its quiet period ended");
    }
    let ops = ops(run.history());
    let adds = adds(&ops);
    let mut vars: Vec<Var> = adds.iter().map(|a| a.var).collect();
    let live: Vec<(usize, &Counter)> = run
        .nodes()
        .iter()
        .enumerate()
        .filter(|(i, _)| run.is_up(*i))
        .collect();
    for (_, n) in &live {
        vars.extend(n.values().keys());
    }
    vars.sort_unstable();
    vars.dedup();
    let mut bad = Vec::new();
    for &var in &vars {
        let b = bounds_for(
            &adds,
            var,
            |a| a.ok_at().is_some(),
            |a| a.kind() != Some(EventKind::Ok),
        );
        for (i, n) in &live {
            let v = i128::from(n.values().get(&var).copied().unwrap_or(0));
            if v < b.lo() || v > b.hi() {
                bad.push(format!("n{i} key {var} = {v}, expected {}", b.describe()));
            }
        }
    }
    if bad.is_empty() {
        return CheckResult::pass(format!(
            "{} live replica(s) hold a possible sum for each of {} key(s)",
            live.len(),
            vars.len()
        ));
    }
    let n = bad.len();
    bad.truncate(SHOWN);
    bad.extend(hints(run));
    CheckResult::violation(
        format!("{n} replica value(s) are not a possible sum of the adds"),
        bad,
    )
}

fn availability(run: &Sim<Counter>) -> CheckResult {
    let max = run.nodes().first().map_or(0.5, |n| n.params().refused_max);
    let ops = ops(run.history());
    let adds: Vec<&Op> = ops.iter().filter(|o| o.f == "add").collect();
    if adds.is_empty() {
        return CheckResult::pass("no adds were attempted");
    }
    let refused: Vec<&&Op> = adds
        .iter()
        .filter(|a| a.kind() == Some(EventKind::Fail))
        .collect();
    let timed = adds
        .iter()
        .filter(|a| matches!(a.kind(), Some(EventKind::Info) | None))
        .count();
    let frac = (refused.len() + timed) as f64 / adds.len() as f64;
    let summary = format!(
        "{} of {} adds ({:.0}%) were refused ({}) or timed out ({}); the limit is {:.0}%",
        refused.len() + timed,
        adds.len(),
        frac * 100.0,
        refused.len(),
        timed,
        max * 100.0
    );
    let mut evidence = Vec::new();
    for node in 0..run.nodes().len() {
        let mine: Vec<&&&Op> = refused.iter().filter(|a| a.node == node).collect();
        if let (Some(first), Some(last)) = (mine.first(), mine.last()) {
            evidence.push(format!(
                "n{node} refused {} add(s), the first invoked at {}, the last at {}",
                mine.len(),
                ms(first.invoked),
                ms(last.invoked)
            ));
        }
    }
    if frac > max {
        CheckResult::violation(summary, evidence)
    } else {
        CheckResult {
            evidence,
            ..CheckResult::pass(summary)
        }
    }
}

fn liveness(run: &Sim<Counter>) -> CheckResult {
    let deadline_us = run
        .nodes()
        .first()
        .map_or(0, |n| n.params().sync_deadline_ms)
        * MS;
    let heal = run.final_heal_at().unwrap_or(0);
    let now = run.now();
    let mut bad = Vec::new();
    let mut phases = 0;
    let mut undecided = 0;
    let mut too_late = 0;
    for (i, n) in run.nodes().iter().enumerate() {
        for p in n.phases() {
            phases += 1;
            let deadline = p.entered.max(heal).saturating_add(deadline_us);
            let late = match p.end {
                PhaseEnd::Crash => false,
                PhaseEnd::Work(t) => t > deadline,
                PhaseEnd::Open if !run.is_up(i) => false,
                PhaseEnd::Open => {
                    // A phase begun after the heal and cut off by the end of
                    // the run cannot be judged, and says nothing about the
                    // heal; one begun before it means the run was too short.
                    if now < deadline {
                        if p.entered > heal {
                            too_late += 1;
                        } else {
                            undecided += 1;
                        }
                    }
                    now >= deadline
                }
            };
            if late {
                let end = match p.end {
                    PhaseEnd::Work(t) => format!("returned to work only at {}", ms(t)),
                    _ => format!("was still {:?} at the end ({})", n.status(), ms(now))
                        .to_lowercase(),
                };
                bad.push(format!(
                    "n{i} left work at {} and {end}; deadline {} ({} after {})",
                    ms(p.entered),
                    ms(deadline),
                    ms(deadline_us),
                    if heal > p.entered {
                        "the final heal"
                    } else {
                        "it began"
                    }
                ));
            }
        }
    }
    if bad.is_empty() && undecided > 0 {
        return CheckResult::unknown(format!(
            "{undecided} sync phase(s) still open when the run ended, before their deadline; run longer than {} after the final heal",
            ms(deadline_us)
        ));
    }
    if bad.is_empty() {
        let note = if too_late > 0 {
            format!(" ({too_late} begun too close to the end to judge)")
        } else {
            String::new()
        };
        return CheckResult::pass(format!(
            "{phases} sync phase(s), each back to work in time{note}"
        ));
    }
    let n = bad.len();
    bad.truncate(SHOWN);
    bad.extend(hints(run));
    let after = match run.final_heal_at() {
        Some(h) => format!("the final heal (at {})", ms(h)),
        None => "their start (the run has no final heal)".to_string(),
    };
    CheckResult::violation(
        format!(
            "{n} sync phase(s) never completed within {} after {after}",
            ms(deadline_us)
        ),
        bad,
    )
}

fn budget(run: &Sim<Counter>) -> CheckResult {
    let max = run
        .nodes()
        .first()
        .map_or(100.0, |n| n.params().messages_per_op_max);
    let ops = run
        .history()
        .iter()
        .filter(|h| h.kind == EventKind::Invoke)
        .count();
    let sent = run.stats().sent;
    if ops == 0 {
        return CheckResult::unknown(format!("{sent} messages but no client operations"));
    }
    let per = sent as f64 / ops as f64;
    let summary = format!("{sent} node-to-node messages for {ops} client operations: {per:.1} per operation (limit {max})");
    let evidence: Vec<String> = run
        .nodes()
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "n{i} sent {} message(s), {} of them start_sync",
                run.stats().sent_by_node.get(i).copied().unwrap_or(0),
                n.stats().start_sync_sent
            )
        })
        .collect();
    if per > max {
        CheckResult::violation(summary, evidence)
    } else {
        CheckResult {
            evidence,
            ..CheckResult::pass(summary)
        }
    }
}

/// One line with each node's notable counters, to point at the cause.
fn hints(run: &Sim<Counter>) -> Vec<String> {
    let parts: Vec<String> = run
        .nodes()
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let s = n.stats();
            format!(
                "n{i}: status {:?}, resets {}, vacuous agreements {}, double-counted updates {}, oversize drops {}, unanswered nonce requests {}, dropped nonce_sends {}, tcp messages lost at a sleeping listener {}",
                n.status(),
                s.resets,
                s.vacuous_agreements,
                s.double_counted,
                s.oversize_dropped,
                s.unanswered_requests,
                s.nonce_sends_dropped,
                s.listener_lost
            )
            .to_lowercase()
        })
        .collect();
    let mut out = vec![format!("node counters: {}", parts.join("; "))];
    for (i, n) in run.nodes().iter().enumerate() {
        out.extend(n.stats().notes.iter().map(|note| format!("n{i} {note}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::Rng;

    /// The indexed bounds equal a pass over every add, on random adds and
    /// reads (some adds acknowledged, some not, negative ones included).
    #[test]
    fn indexed_read_bounds_equal_a_pass_over_every_add() {
        for seed in 0..50 {
            let mut rng = Rng::derive(seed, "bounds");
            let mut events: Vec<HistoryEvent> = Vec::new();
            for p in 0..40u64 {
                let start = rng.range(0, 1000);
                let end = start + rng.range(0, 300);
                let f = if rng.below(3) == 0 { "read" } else { "add" };
                let value = sim::Value::Int(rng.range_i64(-5, 20));
                let ev = |kind, value, time| HistoryEvent {
                    process: p,
                    kind,
                    f,
                    key: Some(rng_key(p)),
                    value,
                    time,
                    node: 0,
                    position: None,
                };
                events.push(ev(EventKind::Invoke, value.clone(), start));
                let kind = match rng.below(4) {
                    0 => EventKind::Info,
                    1 => EventKind::Fail,
                    _ => EventKind::Ok,
                };
                events.push(ev(kind, value, end));
            }
            events.sort_by_key(|e| e.time);
            let ops = ops(&events);
            let adds = adds(&ops);
            let lag = rng.range(0, 100);
            let index = ReadIndex::build(&adds, lag);
            for r in ops.iter().filter(|o| o.f == "read") {
                let Some(done) = r.done else { continue };
                let slow = bounds_for(
                    &adds,
                    r.var,
                    |a| a.ok_at().is_some_and(|t| t.saturating_add(lag) < r.invoked),
                    |a| a.invoked < done.time,
                );
                let fast = index
                    .get(&r.var)
                    .map_or_else(Bounds::default, |ix| ix.at(r.invoked, done.time));
                assert_eq!(
                    (
                        fast.definite,
                        fast.definite_n,
                        fast.up,
                        fast.down,
                        fast.possible_n
                    ),
                    (
                        slow.definite,
                        slow.definite_n,
                        slow.up,
                        slow.down,
                        slow.possible_n
                    ),
                    "seed {seed}"
                );
            }
        }
    }

    fn rng_key(p: u64) -> Var {
        (p % 2) as Var
    }
}
