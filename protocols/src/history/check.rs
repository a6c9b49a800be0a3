//! The trail checks of the history mesh, and its provenance graph as DOT.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use sim::{NodeId, Sim, Time};

use super::{Entry, History, KeyLog};
use crate::ecm::{completed, fmt_ms};
use crate::CheckResult;

/// How many problems a report lists before summarising.
const MAX_SHOWN: usize = 10;

fn short(h: u64) -> String {
    format!("{:08x}", h >> 32)
}

/// "value 4 (ts 1100ms, h=1a2b3c4d)".
fn describe(e: &Entry) -> String {
    format!("value {} (ts {}, h={})", e.value, fmt_ms(e.ts), short(e.h))
}

fn describe_hash(log: &KeyLog, h: u64) -> String {
    log.get(h)
        .map_or_else(|| format!("h={} (not held)", short(h)), describe)
}

fn live(run: &Sim<History>) -> Vec<NodeId> {
    (0..run.nodes().len()).filter(|&i| run.is_up(i)).collect()
}

fn cap(mut evidence: Vec<String>) -> Vec<String> {
    if evidence.len() > MAX_SHOWN {
        let more = evidence.len() - MAX_SHOWN;
        evidence.truncate(MAX_SHOWN);
        evidence.push(format!("… and {more} more"));
    }
    evidence
}

/// Every live replica indexes the same set of hashes for every key.
pub(super) fn trail_convergence(run: &Sim<History>) -> CheckResult {
    if !completed(run) {
        return CheckResult::unknown("the run stopped before its quiet period ended");
    }
    let live = live(run);
    let nodes = run.nodes();
    let keys: BTreeSet<u32> = live
        .iter()
        .flat_map(|&i| nodes[i].logs().keys().copied())
        .collect();
    let held = |i: NodeId, k: u32| -> BTreeSet<u64> {
        nodes[i]
            .log(k)
            .map(|l| l.hashes().collect())
            .unwrap_or_default()
    };
    let mut evidence = Vec::new();
    let mut total = 0;
    for &k in &keys {
        let all: BTreeSet<u64> = live.iter().flat_map(|&i| held(i, k)).collect();
        total += all.len();
        for &i in &live {
            // Describe each missing hash by whichever replica holds it, oldest first.
            let mut missing: Vec<(Time, String)> = all
                .difference(&held(i, k))
                .map(|&h| {
                    let e = live
                        .iter()
                        .find_map(|&j| nodes[j].log(k).and_then(|l| l.get(h)));
                    e.map_or_else(|| (0, short(h)), |e| (e.ts, describe(e)))
                })
                .collect();
            missing.sort();
            let missing: Vec<String> = missing.into_iter().map(|(_, d)| d).collect();
            if !missing.is_empty() {
                evidence.push(format!(
                    "key {k}: n{i} lacks {}: {}",
                    missing.len(),
                    missing.join(", ")
                ));
            }
        }
    }
    if evidence.is_empty() {
        return CheckResult::pass(format!(
            "{} live replica(s) hold the same {total} trail hash(es) over {} key(s)",
            live.len(),
            keys.len()
        ));
    }
    CheckResult::violation(
        format!(
            "{} replica/key pair(s) lack trail entries others hold after the final heal",
            evidence.len()
        ),
        cap(evidence),
    )
}

/// Every distinct entry's hash recomputes from what the replica holds, and
/// following links from it reaches a first write of its key.
pub(super) fn trail_integrity(run: &Sim<History>) -> CheckResult {
    if !completed(run) {
        return CheckResult::unknown("the run stopped before its quiet period ended");
    }
    let (mut checked, mut unverifiable, mut broken) = (0, 0, 0);
    let mut evidence = Vec::new();
    for i in live(run) {
        for (k, log) in run.nodes()[i].logs() {
            let gaps = chain_gaps(log);
            for h in log.hashes() {
                let Some(e) = log.get(h) else { continue };
                checked += 1;
                if !e.recomputes() {
                    unverifiable += 1;
                    let why = if e.link.is_none() && e.accepted.is_none() {
                        " (its sync carried the hash but not the hash it chains to)"
                    } else {
                        ""
                    };
                    evidence.push(format!(
                        "n{i} key {k}: {} does not recompute{why}",
                        describe(e)
                    ));
                } else if let Some(Some(gap)) = gaps.get(&h) {
                    broken += 1;
                    evidence.push(format!(
                        "n{i} key {k}: the chain from {} {gap}",
                        describe(e)
                    ));
                }
            }
        }
    }
    if evidence.is_empty() {
        return CheckResult::pass(format!(
            "all {checked} entries recompute and reach a first write"
        ));
    }
    CheckResult::violation(
        format!(
            "{unverifiable} of {checked} entries do not recompute and {broken} chain(s) break before a first write"
        ),
        cap(evidence),
    )
}

/// For every hash `log` holds, where its chain stops short of a first
/// write (`None`: it reaches one). Each hash is walked once, so long
/// chains cost linear time.
pub(super) fn chain_gaps(log: &KeyLog) -> BTreeMap<u64, Option<String>> {
    let mut memo: BTreeMap<u64, Option<String>> = BTreeMap::new();
    for start in log.hashes() {
        let mut path = BTreeSet::new();
        let mut cur = start;
        let verdict = loop {
            if let Some(v) = memo.get(&cur) {
                break v.clone();
            }
            if !path.insert(cur) {
                break Some("loops without reaching a first write".to_string());
            }
            let Some(e) = log.get(cur) else {
                break Some(format!(
                    "breaks at h={}: this replica holds no such entry",
                    short(cur)
                ));
            };
            match e.link {
                None => break None,
                Some(next) => cur = next,
            }
        };
        for h in path {
            memo.insert(h, verdict.clone());
        }
    }
    memo
}

/// Every entry chains to the version it replaced at its accepting node.
pub(super) fn trail_provenance(run: &Sim<History>) -> CheckResult {
    let mut accepted = 0;
    let mut evidence = Vec::new();
    for i in live(run) {
        for (k, log) in run.nodes()[i].logs() {
            for e in log.entries() {
                let Some(a) = e.accepted else { continue };
                accepted += 1;
                if e.link == a.replaced {
                    continue;
                }
                let to = e
                    .link
                    .map_or_else(|| "nothing".to_string(), |h| describe_hash(log, h));
                let was = a
                    .replaced
                    .map_or_else(|| "none".to_string(), |h| describe_hash(log, h));
                evidence.push(format!(
                    "n{i} key {k}: accepted {} and chained it to {to}; the version it replaced there was {was}",
                    describe(e)
                ));
            }
        }
    }
    if evidence.is_empty() {
        return CheckResult::pass(format!(
            "all {accepted} accepted entries chain to the version they replaced"
        ));
    }
    CheckResult::violation(
        format!(
            "{} of {accepted} accepted entries chain to something other than the version they replaced",
            evidence.len()
        ),
        cap(evidence),
    )
}

/// One write of the key as seen across replicas.
struct Vertex<'a> {
    entry: &'a Entry,
    accepted_by: Option<NodeId>,
    held_by: Vec<NodeId>,
    newest_at: Vec<NodeId>,
}

fn names(ids: &[NodeId]) -> String {
    ids.iter()
        .map(|i| format!("n{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The provenance graph of `key` over replicas `nodes` (indexed by node id)
/// as Graphviz DOT: one box per write, labelled with its value, timestamp,
/// origin, the node that accepted it, the replicas that hold it and those
/// whose read returns it; a solid edge to the entry its hash chains to, and
/// a dashed red edge to the version it replaced when that differs.
pub fn trail_dot(nodes: &[History], key: u32) -> String {
    let mut vertices: BTreeMap<u64, Vertex<'_>> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        let Some(log) = n.log(key) else { continue };
        let newest = log.newest().map(|e| e.h);
        for h in log.hashes() {
            let Some(e) = log.get(h) else { continue };
            let v = vertices.entry(h).or_insert(Vertex {
                entry: e,
                accepted_by: None,
                held_by: Vec::new(),
                newest_at: Vec::new(),
            });
            // The accepting node's copy knows most (the faithful link).
            if e.accepted.is_some() {
                v.entry = e;
                v.accepted_by = Some(i);
            }
            v.held_by.push(i);
            if newest == Some(h) {
                v.newest_at.push(i);
            }
        }
    }
    let mut out = format!(
        "digraph trail_key_{key} {{\n  rankdir=BT;\n  node [shape=box, fontname=\"monospace\"];\n"
    );
    let mut unknown = BTreeSet::new();
    for (h, v) in &vertices {
        let e = v.entry;
        let origin = e
            .origin
            .map_or_else(|| "unrecorded".to_string(), |o| format!("n{o}"));
        let accepted = v
            .accepted_by
            .map_or_else(|| "unknown".to_string(), |a| format!("n{a}"));
        let mut label = format!(
            "value {}\\nts {}\\nh {}\\norigin {origin}\\naccepted by {accepted}\\nheld by {}",
            e.value,
            fmt_ms(e.ts),
            short(*h),
            names(&v.held_by)
        );
        if !v.newest_at.is_empty() {
            let _ = write!(label, "\\nread at {}", names(&v.newest_at));
        }
        let style = if v.newest_at.is_empty() {
            ""
        } else {
            ", penwidth=2"
        };
        let _ = writeln!(out, "  \"{h:016x}\" [label=\"{label}\"{style}];");
        if let Some(l) = e.link {
            let _ = writeln!(out, "  \"{h:016x}\" -> \"{l:016x}\" [label=\"chains to\"];");
            unknown.insert(l);
        }
        if let Some(r) = e
            .accepted
            .and_then(|a| a.replaced)
            .filter(|&r| Some(r) != e.link)
        {
            let _ = writeln!(
                out,
                "  \"{h:016x}\" -> \"{r:016x}\" [label=\"replaced\", style=dashed, color=red, fontcolor=red];"
            );
            unknown.insert(r);
        }
    }
    for h in unknown.iter().filter(|h| !vertices.contains_key(h)) {
        let _ = writeln!(
            out,
            "  \"{h:016x}\" [label=\"h {}\\nheld by no replica\", style=dashed];",
            short(*h)
        );
    }
    out.push_str("}\n");
    out
}
