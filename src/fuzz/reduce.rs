//! Candidate reductions for the shrinker: pure functions from a scenario to
//! a smaller one (or `None` when the reduction does not apply).

use crate::scenario::raw::{NodeRef, RawFault, RawScenario};

/// `raw` with fault `i`'s window halved, if it has one to halve: a heal,
/// restart or resume moved halfway towards the fault it ends, a loss burst
/// or a message rule's window halved, a rule's delay halved.
pub fn shorten(raw: &RawScenario, i: usize) -> Option<RawScenario> {
    let earlier = &raw.faults[..i];
    let halfway = |start: u64, at: u64| (at >= start + 2).then(|| start + (at - start) / 2);
    let new = match &raw.faults[i] {
        RawFault::Heal { at_ms } => {
            let start = earlier.iter().rev().find(|f| {
                matches!(
                    f,
                    RawFault::Partition { .. } | RawFault::PartitionOneWay { .. }
                )
            })?;
            RawFault::Heal {
                at_ms: halfway(start.at_ms(), *at_ms)?,
            }
        }
        RawFault::Restart { at_ms, node } => {
            let start = earlier
                .iter()
                .rev()
                .find(|f| matches!(f, RawFault::Crash { node: c, .. } if c == node))?;
            RawFault::Restart {
                at_ms: halfway(start.at_ms(), *at_ms)?,
                node: node.clone(),
            }
        }
        RawFault::Resume { at_ms, node } => {
            let start = earlier
                .iter()
                .rev()
                .find(|f| matches!(f, RawFault::Pause { node: c, .. } if c == node))?;
            RawFault::Resume {
                at_ms: halfway(start.at_ms(), *at_ms)?,
                node: node.clone(),
            }
        }
        RawFault::Loss {
            at_ms,
            drop,
            duplicate,
            for_ms,
        } if *for_ms >= 2 => RawFault::Loss {
            at_ms: *at_ms,
            drop: *drop,
            duplicate: *duplicate,
            for_ms: for_ms / 2,
        },
        RawFault::Message(r) => {
            let mut r = r.clone();
            if let Some(d) = r.delay_ms.filter(|&d| d >= 2) {
                r.delay_ms = Some(d / 2);
            } else if let Some(u) = r.until_ms {
                r.until_ms = Some(halfway(r.at_ms, u).filter(|&h| h > r.at_ms)?);
            } else {
                return None;
            }
            RawFault::Message(r)
        }
        _ => return None,
    };
    let mut cand = raw.clone();
    cand.faults[i] = new;
    Some(cand)
}

/// The replica a reference names (`2` or `"n2"`), if it names one.
fn replica_of(r: &NodeRef) -> Option<u64> {
    match r {
        NodeRef::Id(x) => Some(*x),
        NodeRef::Name(s) => s.strip_prefix('n').and_then(|d| d.parse().ok()),
    }
}

/// `r` once replica `k` is gone and the ids above it move down (`None`:
/// `r` is `k`). Services and client processes keep their names.
fn renumber(r: &NodeRef, k: u64) -> Option<NodeRef> {
    match replica_of(r) {
        Some(x) if x == k => None,
        Some(x) => Some(NodeRef::Id(if x > k { x - 1 } else { x })),
        None => Some(r.clone()),
    }
}

/// `raw` without node `k`, ids above it renumbered; `None` when a fault
/// other than a partition, an operation, a clock, a link or the start
/// state names `k`.
pub fn without_node(raw: &RawScenario, k: u64) -> Option<RawScenario> {
    let named = raw.down_at_start.contains(&k)
        || raw.clocks.iter().any(|c| c.node == k)
        || raw
            .network
            .links
            .iter()
            .any(|l| replica_of(&l.from) == Some(k) || replica_of(&l.to) == Some(k))
        || raw.workload.script.iter().any(|s| s.node == Some(k));
    if named {
        return None;
    }
    let re = |x: u64| if x > k { x - 1 } else { x };
    let mut c = raw.clone();
    c.nodes -= 1;
    c.faults = Vec::new();
    for f in &raw.faults {
        c.faults.extend(fault_without(f, k)?);
    }
    for s in &mut c.workload.script {
        s.node = s.node.map(re);
    }
    for cl in &mut c.clocks {
        cl.node = re(cl.node);
    }
    for l in &mut c.network.links {
        l.from = renumber(&l.from, k)?;
        l.to = renumber(&l.to, k)?;
    }
    for d in &mut c.down_at_start {
        *d = re(*d);
    }
    Some(c)
}

/// Fault `f` once node `k` is gone and the ids above it move down:
/// `Some(None)` when nothing is left of it (a one-way cut without senders
/// or receivers), `None` when it names `k` in a way that cannot be dropped.
fn fault_without(f: &RawFault, k: u64) -> Option<Option<RawFault>> {
    let strip =
        |xs: &[NodeRef]| -> Vec<NodeRef> { xs.iter().filter_map(|x| renumber(x, k)).collect() };
    let one = |x: &NodeRef| renumber(x, k);
    let mut g = f.clone();
    match &mut g {
        RawFault::Partition { groups, .. } => {
            *groups = groups
                .iter()
                .map(|g| strip(g))
                .filter(|g| !g.is_empty())
                .collect();
        }
        RawFault::PartitionOneWay { from, to, .. } => {
            (*from, *to) = (strip(from), strip(to));
            if from.is_empty() || to.is_empty() {
                return Some(None);
            }
        }
        RawFault::Crash { node, .. }
        | RawFault::Restart { node, .. }
        | RawFault::Pause { node, .. }
        | RawFault::Resume { node, .. }
        | RawFault::ClockSkew { node, .. }
        | RawFault::ClockDrift { node, .. }
        | RawFault::ClockJump { node, .. } => *node = one(node)?,
        RawFault::LinkError { from, to, .. } => (*from, *to) = (one(from)?, one(to)?),
        RawFault::Message(r) => {
            // A rule that names `k` would match other messages without it.
            let names_k = r.from.iter().chain(&r.to).any(|x| replica_of(x) == Some(k));
            if names_k {
                return None;
            }
            r.from = strip(&r.from);
            r.to = strip(&r.to);
        }
        RawFault::Heal { .. } | RawFault::Loss { .. } => {}
    }
    Some(Some(g))
}
