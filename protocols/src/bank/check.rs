//! The bank checks: they read what clients observed (the history) and what
//! the replicas hold at the end.

use std::collections::BTreeMap;

use sim::{EventKind, HistoryEvent, NodeId, Sim, Time, Value};

use super::{Bank, Dir, Event, Replay, Step};
use crate::ecm::{completed, fmt_ms};
use crate::CheckResult;

/// How many evidence lines a report lists before summarising.
const MAX_SHOWN: usize = 12;

/// A client deposit or withdrawal as the history shows it.
struct Write {
    key: u32,
    dir: Dir,
    amount: i64,
    process: u64,
    node: NodeId,
    invoked: Time,
    /// `None`: the run ended before it completed.
    kind: Option<EventKind>,
    id: Option<u64>,
}

/// A completed balance read.
struct Read {
    key: u32,
    process: u64,
    node: NodeId,
    invoked: Time,
    completed: Time,
    balance: i64,
    honoured: Vec<u64>,
    cancelled: Vec<u64>,
}

impl Read {
    fn describe(&self) -> String {
        let when = if self.invoked == self.completed {
            fmt_ms(self.completed)
        } else {
            format!("{}–{}", fmt_ms(self.invoked), fmt_ms(self.completed))
        };
        format!(
            "process {}'s read at n{} at {when} (balance {})",
            self.process, self.node, self.balance
        )
    }
}

/// What clients observed.
struct Observed {
    writes: Vec<Write>,
    reads: Vec<Read>,
    malformed: usize,
}

fn ids(v: &Value) -> Option<Vec<u64>> {
    match v {
        Value::List(l) => l.iter().map(|x| x.as_int().map(|i| i as u64)).collect(),
        _ => None,
    }
}

/// `[balance, [honoured], [cancelled]]`, as the node answers a read.
fn parse_read(v: &Value) -> Option<(i64, Vec<u64>, Vec<u64>)> {
    match v {
        Value::List(l) if l.len() == 3 => Some((l[0].as_int()?, ids(&l[1])?, ids(&l[2])?)),
        _ => None,
    }
}

fn dir_of(f: &str) -> Option<Dir> {
    match f {
        "deposit" => Some(Dir::Deposit),
        "withdraw" => Some(Dir::Withdraw),
        _ => None,
    }
}

fn observe(history: &[HistoryEvent]) -> Observed {
    let mut open: BTreeMap<u64, &HistoryEvent> = BTreeMap::new();
    let mut obs = Observed {
        writes: Vec::new(),
        reads: Vec::new(),
        malformed: 0,
    };
    let write = |inv: &HistoryEvent, kind: Option<EventKind>, id: Option<u64>| {
        Some(Write {
            key: inv.key.unwrap_or(0),
            dir: dir_of(inv.f)?,
            amount: inv.value.as_int()?,
            process: inv.process,
            node: inv.node,
            invoked: inv.time,
            kind,
            id,
        })
    };
    for ev in history {
        if ev.kind == EventKind::Invoke {
            open.insert(ev.process, ev);
            continue;
        }
        let Some(inv) = open.remove(&ev.process) else {
            continue;
        };
        if inv.f == "balance" && ev.kind == EventKind::Ok {
            match parse_read(&ev.value) {
                Some((balance, honoured, cancelled)) => obs.reads.push(Read {
                    key: inv.key.unwrap_or(0),
                    process: inv.process,
                    node: inv.node,
                    invoked: inv.time,
                    completed: ev.time,
                    balance,
                    honoured,
                    cancelled,
                }),
                None => obs.malformed += 1,
            }
        } else {
            let id = (ev.kind == EventKind::Ok)
                .then(|| ev.value.as_int())
                .flatten()
                .map(|i| i as u64);
            obs.writes.extend(write(inv, Some(ev.kind), id));
        }
    }
    obs.writes
        .extend(open.values().filter_map(|inv| write(inv, None, None)));
    obs.writes.sort_by_key(|w| (w.invoked, w.process));
    obs
}

/// Every event any replica holds, by account and id.
fn all_events(run: &Sim<Bank>) -> BTreeMap<u32, BTreeMap<u64, &Event>> {
    let mut out: BTreeMap<u32, BTreeMap<u64, &Event>> = BTreeMap::new();
    for n in run.nodes() {
        for (&k, acc) in n.accounts() {
            for e in acc.events() {
                out.entry(k).or_default().entry(e.id).or_insert(e);
            }
        }
    }
    out
}

/// What clients observed and what the replicas hold, indexed by event id.
struct Facts<'a> {
    obs: Observed,
    /// Event id → index in `obs.writes`.
    writes: BTreeMap<u64, usize>,
    /// Event id → a copy some replica holds.
    events: BTreeMap<u64, &'a Event>,
}

impl<'a> Facts<'a> {
    fn new(run: &'a Sim<Bank>) -> Self {
        let obs = observe(run.history());
        let writes = obs
            .writes
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Some((w.id?, i)))
            .collect();
        let events = all_events(run).into_values().flatten().collect();
        Facts {
            obs,
            writes,
            events,
        }
    }

    fn write(&self, id: u64) -> Option<&Write> {
        self.writes.get(&id).map(|&i| &self.obs.writes[i])
    }

    /// "#201 (withdraw 80 by process 1 via n1 at 250ms)".
    fn describe(&self, id: u64) -> String {
        if let Some(w) = self.write(id) {
            return format!(
                "#{id} ({} {} by process {} via n{} at {})",
                w.dir.name(),
                w.amount,
                w.process,
                w.node,
                fmt_ms(w.invoked)
            );
        }
        self.events.get(&id).map_or_else(
            || format!("#{id}"),
            |e| format!("#{id} ({} {})", e.dir.name(), e.amount),
        )
    }

    /// An amount by event id, from the history or else from any replica.
    fn amount(&self, id: u64) -> Option<i64> {
        self.write(id)
            .map(|w| w.amount)
            .or_else(|| self.events.get(&id).map(|e| e.amount))
    }
}

fn cap(mut evidence: Vec<String>) -> Vec<String> {
    if evidence.len() > MAX_SHOWN {
        let more = evidence.len() - MAX_SHOWN;
        evidence.truncate(MAX_SHOWN);
        evidence.push(format!("… and {more} more"));
    }
    evidence
}

fn malformed(obs: &Observed) -> Option<CheckResult> {
    (obs.malformed > 0).then(|| {
        CheckResult::unknown(format!(
            "{} balance read(s) did not answer [balance, [honoured], [cancelled]]",
            obs.malformed
        ))
    })
}

/// Every balance a client read is at least 0.
pub(super) fn balance_non_negative(run: &Sim<Bank>) -> CheckResult {
    let obs = observe(run.history());
    let bad: Vec<String> = obs
        .reads
        .iter()
        .filter(|r| r.balance < 0)
        .map(Read::describe)
        .collect();
    if !bad.is_empty() {
        return CheckResult::violation(
            format!("{} read(s) saw a negative balance", bad.len()),
            cap(bad),
        );
    }
    malformed(&obs).unwrap_or_else(|| {
        CheckResult::pass(format!("all {} balance read(s) were ≥ 0", obs.reads.len()))
    })
}

/// Withdrawals clients saw honoured total no more than the deposits that
/// were acknowledged or may have happened.
pub(super) fn withdrawals_covered(run: &Sim<Bank>) -> CheckResult {
    let facts = Facts::new(run);
    let obs = &facts.obs;
    // The first read that saw each withdrawal honoured, per account.
    let mut seen: BTreeMap<u32, BTreeMap<u64, &Read>> = BTreeMap::new();
    for r in &obs.reads {
        for &id in &r.honoured {
            seen.entry(r.key).or_default().entry(id).or_insert(r);
        }
    }
    let mut evidence = Vec::new();
    let mut over = 0;
    for (key, honoured) in &seen {
        let withdrawn: i128 = honoured
            .keys()
            .filter_map(|&id| facts.amount(id))
            .map(i128::from)
            .sum();
        let deposited: i128 = obs
            .writes
            .iter()
            .filter(|w| w.key == *key && w.dir == Dir::Deposit && w.kind != Some(EventKind::Fail))
            .map(|w| i128::from(w.amount))
            .sum();
        if withdrawn <= deposited {
            continue;
        }
        over += 1;
        evidence.push(format!(
            "key {key}: {} withdrawal(s) seen honoured total {withdrawn}; deposits acknowledged or in doubt total {deposited}",
            honoured.len()
        ));
        for (&id, r) in honoured {
            evidence.push(format!(
                "  {} first seen honoured by {}",
                facts.describe(id),
                r.describe()
            ));
        }
    }
    if over > 0 {
        return CheckResult::violation(
            format!("in {over} account(s) clients saw more withdrawn than was ever deposited"),
            cap(evidence),
        );
    }
    let n: usize = seen.values().map(BTreeMap::len).sum();
    malformed(obs).unwrap_or_else(|| {
        CheckResult::pass(format!(
            "the {n} withdrawal(s) clients saw honoured are covered by deposits"
        ))
    })
}

fn describe_cancel(s: &Step) -> String {
    match s.cancelled {
        Some(c) => match c.cause {
            Some(cause) => format!("{}, blamed on #{cause}", c.reason.text()),
            None => c.reason.text().to_string(),
        },
        None => "honoured".to_string(),
    }
}

/// Each live replica's final decision per (account, withdrawal id).
type Finals = BTreeMap<(u32, u64), Vec<(NodeId, Step)>>;

fn finals(run: &Sim<Bank>) -> Finals {
    let mut out = Finals::new();
    for (i, n) in run
        .nodes()
        .iter()
        .enumerate()
        .filter(|(i, _)| run.is_up(*i))
    {
        for &k in n.accounts().keys() {
            for s in n
                .replay(k)
                .steps
                .into_iter()
                .filter(|s| s.dir == Dir::Withdraw)
            {
                out.entry((k, s.id)).or_default().push((i, s));
            }
        }
    }
    out
}

/// No withdrawal a client saw honoured is cancelled by a later read (one
/// invoked after that read completed) or in a live replica's final state.
pub(super) fn decision_revoked(run: &Sim<Bank>) -> CheckResult {
    let facts = Facts::new(run);
    let obs = &facts.obs;
    let done = completed(run);
    let finals = if done { finals(run) } else { Finals::new() };
    // The first read that saw each withdrawal honoured. Reads are in
    // completion order, so every read that completed before `l` was
    // invoked is already here when `l` is looked at.
    let mut first: BTreeMap<(u32, u64), &Read> = BTreeMap::new();
    let mut revoked: BTreeMap<(u32, u64), String> = BTreeMap::new();
    for l in &obs.reads {
        for &id in &l.cancelled {
            let k = (l.key, id);
            if let Some(r) = first.get(&k).filter(|r| l.invoked > r.completed) {
                revoked.entry(k).or_insert_with(|| {
                    let fate = final_fate(finals.get(&k));
                    format!(
                        "honoured in {}; cancelled by {}{fate}",
                        r.describe(),
                        l.describe()
                    )
                });
            }
        }
        for &id in &l.honoured {
            first.entry((l.key, id)).or_insert(l);
        }
    }
    for (k, r) in &first {
        let cancelled_at: Vec<String> = finals
            .get(k)
            .into_iter()
            .flatten()
            .filter(|(_, s)| s.cancelled.is_some())
            .map(|(i, s)| format!("n{i} ({})", describe_cancel(s)))
            .collect();
        if !cancelled_at.is_empty() {
            revoked.entry(*k).or_insert_with(|| {
                format!(
                    "honoured in {}; cancelled in the final state of {} at {}",
                    r.describe(),
                    cancelled_at.join(", "),
                    fmt_ms(run.now())
                )
            });
        }
    }
    if !revoked.is_empty() {
        let evidence = revoked
            .iter()
            .map(|((key, id), what)| {
                format!("key {key}: withdrawal {} {what}", facts.describe(*id))
            })
            .collect();
        return CheckResult::violation(
            format!(
                "{} withdrawal(s) a client saw honoured were cancelled later",
                revoked.len()
            ),
            cap(evidence),
        );
    }
    if let Some(u) = malformed(obs) {
        return u;
    }
    if !done {
        return CheckResult::unknown(
            "no later read revoked a decision, and the run stopped before its end state",
        );
    }
    CheckResult::pass(format!(
        "no decision seen by {} read(s) was revoked",
        obs.reads.len()
    ))
}

/// "; in the final state: cancelled on n0 n1, honoured on n2".
fn final_fate(steps: Option<&Vec<(NodeId, Step)>>) -> String {
    let (mut cancelled, mut honoured) = (Vec::new(), Vec::new());
    for (i, s) in steps.into_iter().flatten() {
        match s.cancelled {
            Some(_) => cancelled.push(format!("n{i}")),
            None => honoured.push(format!("n{i}")),
        }
    }
    let mut parts = Vec::new();
    if !cancelled.is_empty() {
        parts.push(format!("cancelled on {}", cancelled.join(" ")));
    }
    if !honoured.is_empty() {
        parts.push(format!("honoured on {}", honoured.join(" ")));
    }
    if parts.is_empty() {
        return String::new();
    }
    format!("; in the final state: {}", parts.join(", "))
}

fn render(steps: &[Step]) -> String {
    let shown: Vec<String> = steps
        .iter()
        .take(8)
        .map(|s| {
            let fate = if s.cancelled.is_some() {
                format!(" cancelled ({})", describe_cancel(s))
            } else {
                String::new()
            };
            format!(
                "#{} {} {} @{}{fate} → {}",
                s.id,
                s.dir.name(),
                s.amount,
                fmt_ms(s.ts),
                s.balance
            )
        })
        .collect();
    let more = if steps.len() > 8 {
        format!("; … {} more", steps.len() - 8)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join("; "))
}

/// Every live replica's final balance equals the oldest-first replay of
/// every event any replica holds, and every acknowledged event is held.
pub(super) fn balance_correct(run: &Sim<Bank>) -> CheckResult {
    if !completed(run) {
        return CheckResult::unknown("the run stopped before its quiet period ended");
    }
    let facts = Facts::new(run);
    let obs = &facts.obs;
    let events = all_events(run);
    let mut evidence = Vec::new();
    let mut wrong = 0;
    for w in obs.writes.iter().filter(|w| w.kind == Some(EventKind::Ok)) {
        let held =
            w.id.is_some_and(|id| events.get(&w.key).is_some_and(|m| m.contains_key(&id)));
        if !held {
            wrong += 1;
            let id = w.id.map_or_else(|| "?".to_string(), |i| i.to_string());
            evidence.push(format!(
                "key {}: {} {} (#{id} by process {} via n{} at {}) was acknowledged but no replica holds it",
                w.key,
                w.dir.name(),
                w.amount,
                w.process,
                w.node,
                fmt_ms(w.invoked)
            ));
        }
    }
    let live: Vec<NodeId> = (0..run.nodes().len()).filter(|&i| run.is_up(i)).collect();
    for (key, evs) in &events {
        let expected = Replay::oldest_first(evs.values().copied());
        let mut by_balance: BTreeMap<i64, Vec<NodeId>> = BTreeMap::new();
        for &i in &live {
            by_balance
                .entry(run.nodes()[i].replay(*key).balance)
                .or_default()
                .push(i);
        }
        for (balance, nodes) in by_balance.iter().filter(|(b, _)| **b != expected.balance) {
            wrong += 1;
            let names: Vec<String> = nodes.iter().map(|i| format!("n{i}")).collect();
            evidence.push(format!(
                "key {key}: {} hold balance {balance}; the oldest-first replay of all {} event(s) gives {}",
                names.join(" "),
                evs.len(),
                expected.balance
            ));
            evidence.push(format!("  oldest first: {}", render(&expected.steps)));
            evidence.push(format!(
                "  n{} replayed: {}",
                nodes[0],
                render(&run.nodes()[nodes[0]].replay(*key).steps)
            ));
        }
    }
    if wrong > 0 {
        return CheckResult::violation(
            format!("{wrong} wrong final balance(s) or lost acknowledged event(s)"),
            cap(evidence),
        );
    }
    CheckResult::pass(format!(
        "{} live replica(s) hold the oldest-first balance of every event in {} account(s)",
        live.len(),
        events.len()
    ))
}
