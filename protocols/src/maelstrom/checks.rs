//! Maelstrom's checkers over a run's history: echo equality, unique ids,
//! Jepsen's set-full (broadcast), the g-counter's final reads and bounds,
//! and the `stats` every Maelstrom run prints.

use std::collections::BTreeMap;

use sim::{EventKind, HistoryEvent, Sim, Time, Value};

use super::{ms, Server, Workload};
use crate::generic::{ops, Op};
use crate::{CheckResult, CheckSpec};
pub use checker::model::maelstrom::{set_full, subset_sums, SetAdd, SetFull, SetRead};
pub use checker::model::set_logs::{set_full_logs, LogRead};

/// Maelstrom's stats, as a check that always passes.
pub const STATS: CheckSpec = CheckSpec {
    name: "stats",
    summary: "always passes; reports msgs-per-op (sent by servers, and in all) and operation latencies per function, as Maelstrom's :stats and :net",
};

/// How many items a report lists.
const SHOWN: usize = 8;

/// The checks every Maelstrom workload has (`stats`).
pub fn run_common<W: Workload>(name: &str, run: &Sim<Server<W>>) -> Option<CheckResult> {
    (name == "stats").then(|| stats(run))
}

fn describe(op: &Op) -> String {
    let i = op.invoke;
    let end = match op.done {
        Some(d) => format!("{:?} at {}", d.kind, ms(d.time)).to_lowercase(),
        None => "no answer".into(),
    };
    format!(
        "p{} {} on n{} invoked at {}: {end}",
        i.process,
        i.f,
        i.node,
        ms(i.time)
    )
}

/// The value at quantile `p` of sorted `xs`, as Jepsen's
/// frequency-distribution takes it: index ⌊n·p⌋, at most n − 1 (so the
/// median of an even count is the upper of the two middle values).
fn quantile(xs: &[Time], p: f64) -> Time {
    let i = ((xs.len() as f64 * p).floor() as usize).min(xs.len() - 1);
    xs[i]
}

/// Quantiles 0, 0.5, 0.95, 0.99, 1 of `xs` (µs), in ms.
pub fn quantiles(xs: &mut [Time]) -> String {
    if xs.is_empty() {
        return "none".into();
    }
    xs.sort_unstable();
    let q = |p: f64| quantile(xs, p);
    format!(
        "min {} / median {} / p95 {} / p99 {} / max {}",
        ms(q(0.0)),
        ms(q(0.5)),
        ms(q(0.95)),
        ms(q(0.99)),
        ms(q(1.0))
    )
}

/// The median (as Jepsen takes it: quantile 0.5, index ⌊n/2⌋) and maximum of `xs`.
pub fn median_max(xs: &mut [Time]) -> Option<(Time, Time)> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_unstable();
    Some((quantile(xs, 0.5), xs[xs.len() - 1]))
}

/// Maelstrom's stats: messages per operation (every message, and those
/// sent by servers), and operation latencies per function. Always passes.
fn stats<W: Workload>(run: &Sim<Server<W>>) -> CheckResult {
    let s = run.stats();
    let servers: u64 = s.sent_by_node.iter().take(run.layout().replicas).sum();
    let n_ops = s.ops.max(1) as f64;
    let mut lat: BTreeMap<&str, Vec<Time>> = BTreeMap::new();
    let (mut ok, mut fail, mut info) = (0, 0, 0);
    for op in ops(run.history()) {
        match op.kind() {
            Some(EventKind::Ok) => {
                ok += 1;
                let d = op.done.expect("completed");
                lat.entry(op.invoke.f)
                    .or_default()
                    .push(d.time - op.invoke.time);
            }
            Some(EventKind::Fail) => fail += 1,
            _ => info += 1,
        }
    }
    let evidence = lat
        .iter_mut()
        .map(|(f, xs)| format!("{f} latency ({} ok): {}", xs.len(), quantiles(xs)))
        .collect();
    CheckResult {
        status: crate::Status::Pass,
        summary: format!(
            "msgs-per-op {:.2} sent by servers ({servers} messages), {:.2} in all ({} messages); {} operations: {ok} ok, {fail} fail, {info} info",
            servers as f64 / n_ops,
            s.sent as f64 / n_ops,
            s.sent,
            s.ops
        ),
        evidence,
    }
}

/// echo, as Maelstrom's echo checker judges it: every echo invoked must
/// come back ok with the value it sent. An echo that ended `info` or
/// `fail`, or never ended, is an error there too (its completion carries
/// no echo to compare).
pub fn echo(history: &[HistoryEvent]) -> CheckResult {
    let all = ops(history);
    let wrong: Vec<&Op> = all
        .iter()
        .filter(|o| {
            o.kind() != Some(EventKind::Ok) || o.done.map(|d| &d.value) != Some(&o.invoke.value)
        })
        .collect();
    if wrong.is_empty() {
        return CheckResult::pass(format!(
            "{} echo(es), each returned ok with what it sent",
            all.len()
        ));
    }
    let not_ok = wrong
        .iter()
        .filter(|o| o.kind() != Some(EventKind::Ok))
        .count();
    let mut evidence: Vec<String> = wrong
        .iter()
        .take(SHOWN)
        .map(|o| match (o.kind(), o.done) {
            (Some(EventKind::Ok), Some(d)) => {
                format!("{}: sent {}, got {}", describe(o), o.invoke.value, d.value)
            }
            _ => format!(
                "{}: sent {}, no echo came back",
                describe(o),
                o.invoke.value
            ),
        })
        .collect();
    if wrong.len() > SHOWN {
        evidence.push(format!("… and {} more", wrong.len() - SHOWN));
    }
    CheckResult::violation(
        format!(
            "{} of {} echo(es) wrong: {} returned something else, {not_ok} did not come back ok (Maelstrom counts both)",
            wrong.len(),
            all.len(),
            wrong.len() - not_ok
        ),
        evidence,
    )
}

/// unique-ids: the ids of ok generates are distinct. `tags` are the tags
/// the servers drew (faithful ids decode as ms ≪ 22 | tag ≪ 15 | seq).
pub fn unique_ids(history: &[HistoryEvent], tags: &[u32]) -> CheckResult {
    let all = ops(history);
    let mut by_id: BTreeMap<&Value, Vec<&Op>> = BTreeMap::new();
    let mut attempted = 0;
    for o in &all {
        attempted += 1;
        if let (Some(EventKind::Ok), Some(d)) = (o.kind(), o.done) {
            by_id.entry(&d.value).or_default().push(o);
        }
    }
    let ints: Vec<i64> = by_id.keys().filter_map(|v| v.as_int()).collect();
    let range = match (ints.iter().min(), ints.iter().max()) {
        (Some(a), Some(b)) => format!("; range {a}..={b}"),
        _ => String::new(),
    };
    let dups: Vec<(&&Value, &Vec<&Op>)> = by_id.iter().filter(|(_, v)| v.len() > 1).collect();
    let summary = format!(
        "{attempted} attempted, {} ok, {} distinct id(s){range}",
        by_id.values().map(Vec::len).sum::<usize>(),
        by_id.len()
    );
    if dups.is_empty() {
        return CheckResult::pass(summary);
    }
    let mut evidence = shared_tags(tags);
    for (id, who) in dups.iter().take(SHOWN) {
        let decoded = id.as_int().map_or(String::new(), |i| {
            format!(
                " (ms {}, tag {}, seq mod 2048 = {})",
                i >> 22,
                (i >> 15) & 0x7f,
                i & 0x7ff
            )
        });
        let whom: Vec<String> = who.iter().map(|o| describe(o)).collect();
        evidence.push(format!(
            "id {id}{decoded} returned {} times: {}",
            who.len(),
            whom.join("; ")
        ));
    }
    CheckResult::violation(
        format!("{} duplicated id(s): {summary}", dups.len()),
        evidence,
    )
}

/// "nodes n0 and n3 both drew tag 42" lines.
fn shared_tags(tags: &[u32]) -> Vec<String> {
    let mut by_tag: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (i, t) in tags.iter().enumerate() {
        by_tag.entry(*t).or_default().push(format!("n{i}"));
    }
    by_tag
        .iter()
        .filter(|(_, ns)| ns.len() > 1)
        .map(|(t, ns)| format!("nodes {} drew the same tag {t}", ns.join(" and ")))
        .collect()
}

/// The adds (function `add_f`) and ok reads (`read_f`) of a run's history,
/// for [`set_full_logs`]: each read as a prefix of a log. A read answered
/// with a shared set state ([`Value::Set`]) names its node's log, so the
/// logs hold each element once per node; a read answered with a list gets
/// a log of its own.
pub fn set_ops(
    history: &[HistoryEvent],
    add_f: &str,
    read_f: &str,
) -> (Vec<SetAdd>, Vec<Vec<i64>>, Vec<LogRead>) {
    let mut adds = Vec::new();
    let mut reads = Vec::new();
    let mut logs: Vec<Vec<i64>> = Vec::new();
    // Shared logs by address: looked up only, never iterated (addresses
    // differ between runs; log numbers follow the history's order).
    let mut shared: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    // Per log: its longest state seen, to copy the log once at the end.
    let mut longest: Vec<Option<sim::IntSet>> = Vec::new();
    for o in ops(history) {
        if o.invoke.f == add_f {
            // An add that ended `fail` is kept, as Jepsen's set-full keeps
            // it: known once a read sees its element, lost if a later
            // read misses it.
            if let Some(e) = o.invoke.value.as_int() {
                adds.push(SetAdd {
                    element: e,
                    invoked: o.invoke.time,
                    ok_at: o.done.filter(|d| d.kind == EventKind::Ok).map(|d| d.time),
                });
            }
        } else if o.invoke.f == read_f {
            if let Some(d) = o.done.filter(|d| d.kind == EventKind::Ok) {
                let (log, len) = match &d.value {
                    Value::Set(s) => {
                        let log = *shared.entry(s.log_addr()).or_insert_with(|| {
                            logs.push(Vec::new());
                            longest.push(None);
                            logs.len() - 1
                        });
                        if longest[log].as_ref().is_none_or(|l| l.len() < s.len()) {
                            longest[log] = Some(s.clone());
                        }
                        (log, s.len())
                    }
                    other => {
                        let mut seen = std::collections::BTreeSet::new();
                        let own: Vec<i64> = match other {
                            Value::List(l) => l
                                .iter()
                                .filter_map(Value::as_int)
                                .filter(|&e| seen.insert(e))
                                .collect(),
                            _ => Vec::new(),
                        };
                        let len = own.len();
                        logs.push(own);
                        longest.push(None);
                        (logs.len() - 1, len)
                    }
                };
                reads.push(LogRead {
                    invoked: o.invoke.time,
                    completed: d.time,
                    log,
                    len,
                });
            }
        }
    }
    for (log, s) in longest.iter().enumerate() {
        if let Some(s) = s {
            logs[log] = s.with_elements(<[i64]>::to_vec);
        }
    }
    (adds, logs, reads)
}

/// A read's times, for [`set_full_result`].
pub trait ReadTimes {
    /// Invocation time.
    fn invoked(&self) -> Time;
    /// Completion time.
    fn completed(&self) -> Time;
}

impl ReadTimes for SetRead {
    fn invoked(&self) -> Time {
        self.invoked
    }
    fn completed(&self) -> Time {
        self.completed
    }
}

impl ReadTimes for LogRead {
    fn invoked(&self) -> Time {
        self.invoked
    }
    fn completed(&self) -> Time {
        self.completed
    }
}

/// The set-full check's verdict: invalid iff anything is lost. `reads`
/// are the reads [`set_full`] sorted.
pub fn set_full_result<R: ReadTimes>(r: &mut SetFull, reads: &[R]) -> CheckResult {
    let summary = format!(
        "{} attempted: {} stable, {} lost, {} never read; {} stale read(s) of {} element(s); stable latency {}",
        r.attempted,
        r.stable.len(),
        r.lost.len(),
        r.never_read.len(),
        r.stale_reads,
        r.stale.len(),
        quantiles(&mut r.stable_latencies)
    );
    if r.lost.is_empty() {
        let mut res = CheckResult::pass(summary);
        if !r.never_read.is_empty() {
            res.evidence.push(format!(
                "never read: {}",
                list(r.never_read.iter().map(i64::to_string))
            ));
        }
        return res;
    }
    let mut evidence: Vec<String> = r
        .lost
        .iter()
        .take(SHOWN)
        .map(|l| {
            let seen = l.last_seen.map_or("never seen".to_string(), |p| {
                format!("last seen by a read ending at {}", ms(reads[p].completed()))
            });
            format!(
                "{}: added at {}, known at {}, {seen}, missing from a read at {}",
                l.element,
                ms(l.added),
                ms(l.known),
                ms(reads[l.missed_by].invoked())
            )
        })
        .collect();
    if r.lost.len() > SHOWN {
        evidence.push(format!("… and {} more lost", r.lost.len() - SHOWN));
    }
    evidence.push(format!(
        "lost: {}; lost latency {}",
        list(r.lost.iter().map(|l| l.element.to_string())),
        quantiles(&mut r.lost_latencies)
    ));
    CheckResult::violation(format!("lost elements: {summary}"), evidence)
}

fn list(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.len() > 20 {
        format!("{} … ({} in all)", v[..20].join(", "), v.len())
    } else {
        v.join(", ")
    }
}

/// The g-counter check: every final read (the last read of its process,
/// invoked after every add completed and, in a run, once the network was
/// whole again from `calm_since` on) equals the sum of the ok adds plus the deltas of some subset
/// of the info adds (Maelstrom's check); and every read lies between 0 and
/// the sum of the adds (ok or not yet known) invoked before it ended.
pub fn g_counter(history: &[HistoryEvent], calm_since: Option<Time>) -> CheckResult {
    let all = ops(history);
    let mut last_read: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, o) in all.iter().enumerate() {
        if o.invoke.f == "read" {
            last_read.insert(o.invoke.process, i);
        }
    }
    let adds: Vec<&Op> = all
        .iter()
        .filter(|o| o.invoke.f == "add" && o.kind() != Some(EventKind::Fail))
        .collect();
    let delta = |o: &Op| o.invoke.value.as_int().unwrap_or(0);
    let ok_sum: i64 = adds
        .iter()
        .filter(|o| o.kind() == Some(EventKind::Ok))
        .map(|o| delta(o))
        .sum();
    let info: Vec<i64> = adds
        .iter()
        .filter(|o| o.kind() != Some(EventKind::Ok))
        .map(|o| delta(o))
        .collect();
    let last_add_end = adds
        .iter()
        .map(|o| o.done.map_or(Time::MAX, |d| d.time))
        .max()
        .unwrap_or(0);
    let sums = subset_sums(&info);
    let mut bad = Vec::new();
    let mut finals = 0;
    for (i, r) in all.iter().enumerate().filter(|(_, o)| o.invoke.f == "read") {
        let Some(d) = r.done.filter(|d| d.kind == EventKind::Ok) else {
            continue;
        };
        let Some(v) = d.value.as_int() else { continue };
        let upper: i64 = adds
            .iter()
            .filter(|a| a.invoke.time <= d.time)
            .map(|a| delta(a))
            .sum();
        if v < 0 || v > upper {
            bad.push(format!(
                "{} read {v}, outside 0..={upper} (the adds invoked before it ended)",
                describe(r)
            ));
            continue;
        }
        let last = last_read.get(&r.invoke.process) == Some(&i);
        if last && r.invoke.time > last_add_end && calm_since.is_none_or(|c| r.invoke.time >= c) {
            finals += 1;
            let extra = v - ok_sum;
            let fits = extra >= 0
                && sums.as_ref().map_or(extra <= info.iter().sum(), |s| {
                    s.get(extra as usize).copied().unwrap_or(false)
                });
            if !fits {
                bad.push(format!(
                    "final {} read {v}, but the ok adds sum to {ok_sum} and the {} info add(s) to {} ({})",
                    describe(r),
                    info.len(),
                    info.iter().sum::<i64>(),
                    if v < ok_sum { "acknowledged adds are missing" } else { "no subset of the info adds makes up the difference" }
                ));
            }
        }
    }
    let summary = format!(
        "{} add(s) ({} ok summing to {ok_sum}, {} info), {finals} final read(s)",
        adds.len(),
        adds.len() - info.len(),
        info.len()
    );
    if bad.is_empty() {
        if finals == 0 {
            return CheckResult::unknown(format!("no final read: {summary}"));
        }
        return CheckResult::pass(summary);
    }
    let n = bad.len();
    bad.truncate(SHOWN);
    CheckResult::violation(format!("{n} read(s) out of bounds: {summary}"), bad)
}

#[cfg(test)]
mod tests {

    #[test]
    fn quantiles_are_taken_as_jepsen_takes_them() {
        // Index ⌊n·p⌋: the median of four is the third value.
        let mut xs = vec![4000, 1000, 3000, 2000];
        assert_eq!(super::median_max(&mut xs), Some((3000, 4000)));
        assert_eq!(
            super::quantiles(&mut xs),
            format!(
                "min {} / median {} / p95 {} / p99 {} / max {}",
                super::ms(1000),
                super::ms(3000),
                super::ms(4000),
                super::ms(4000),
                super::ms(4000)
            )
        );
    }
    use super::*;

    fn add(e: i64, at: Time) -> SetAdd {
        SetAdd {
            element: e,
            invoked: at,
            ok_at: Some(at + 1),
        }
    }

    fn read(at: Time, elements: &[i64]) -> SetRead {
        SetRead {
            invoked: at,
            completed: at + 1,
            elements: elements.to_vec(),
        }
    }

    #[test]
    fn set_full_finds_lost_stale_stable_and_never_read() {
        let adds = [add(1, 0), add(2, 0), add(3, 0), add(4, 100)];
        let mut reads = vec![
            read(10, &[1, 2]),
            read(20, &[1]),    // 2 missing: stale, seen again below
            read(30, &[1, 2]), // 3 never seen; last read to start
        ];
        let mut r = set_full(&adds, &mut reads);
        assert_eq!(r.stable, vec![1, 2]);
        assert_eq!(
            r.lost.iter().map(|l| l.element).collect::<Vec<_>>(),
            vec![3]
        );
        assert_eq!(r.never_read, vec![4], "added after the last read began");
        assert_eq!((r.stale_reads, r.stale.clone()), (1, vec![2]));
        // 2 was known at 1 (its add's ok); the last read that missed it
        // was invoked at 20: Jepsen's stable latency 19.
        assert_eq!(r.stable_latencies, vec![0, 19]);
        assert_eq!(
            set_full_result(&mut r, &reads).status,
            crate::Status::Violation
        );
        let mut ok = set_full(&adds[..2], &mut reads);
        assert_eq!(set_full_result(&mut ok, &reads).status, crate::Status::Pass);
    }

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
            key: None,
            value,
            time,
            node: 0,
            position: None,
        }
    }

    #[test]
    fn g_counter_final_reads_take_ok_adds_plus_a_subset_of_info_adds() {
        use EventKind::*;
        let mut h = vec![
            ev(0, Invoke, "add", Value::Int(2), 0),
            ev(0, Ok, "add", Value::Int(2), 1),
            ev(1, Invoke, "add", Value::Int(5), 0),
            ev(1, Info, "add", Value::Null, 10),
            ev(2, Invoke, "read", Value::Null, 5),
            ev(2, Ok, "read", Value::Int(9), 6), // above every add invoked: 7
        ];
        let r = g_counter(&h, None);
        assert_eq!(r.status, crate::Status::Violation, "{r:?}");
        h.truncate(4);
        for (v, ok) in [(2, true), (7, true), (3, false), (1, false)] {
            let mut h = h.clone();
            h.push(ev(2, Invoke, "read", Value::Null, 20));
            h.push(ev(2, Ok, "read", Value::Int(v), 21));
            let r = g_counter(&h, None);
            assert_eq!(r.status == crate::Status::Pass, ok, "final read {v}: {r:?}");
        }
    }
}
