//! Candidate reductions for the shrinker: pure functions from a scenario to
//! a smaller one (or `None` when the reduction does not apply).

use crate::scenario::raw::{RawFault, RawScenario};

/// `raw` with fault `i`'s window halved, if it has one to halve.
pub fn shorten(raw: &RawScenario, i: usize) -> Option<RawScenario> {
    let earlier = &raw.faults[..i];
    let halfway = |start: u64, at: u64| (at >= start + 2).then(|| start + (at - start) / 2);
    let new = match raw.faults[i] {
        RawFault::Heal { at_ms } => {
            let start = earlier.iter().rev().find(|f| {
                matches!(
                    f,
                    RawFault::Partition { .. } | RawFault::PartitionOneWay { .. }
                )
            })?;
            RawFault::Heal {
                at_ms: halfway(start.at_ms(), at_ms)?,
            }
        }
        RawFault::Restart { at_ms, node } => {
            let start = earlier
                .iter()
                .rev()
                .find(|f| matches!(f, RawFault::Crash { node: c, .. } if *c == node))?;
            RawFault::Restart {
                at_ms: halfway(start.at_ms(), at_ms)?,
                node,
            }
        }
        RawFault::Loss {
            at_ms,
            drop,
            duplicate,
            for_ms,
        } if for_ms >= 2 => RawFault::Loss {
            at_ms,
            drop,
            duplicate,
            for_ms: for_ms / 2,
        },
        _ => return None,
    };
    let mut cand = raw.clone();
    cand.faults[i] = new;
    Some(cand)
}

/// `raw` without node `k`, ids above it renumbered; `None` when a fault
/// other than a partition, an operation, a clock, a link or the start
/// state names `k`.
pub fn without_node(raw: &RawScenario, k: u64) -> Option<RawScenario> {
    let named = raw.down_at_start.contains(&k)
        || raw.clocks.iter().any(|c| c.node == k)
        || raw.network.links.iter().any(|l| l.from == k || l.to == k)
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
        l.from = re(l.from);
        l.to = re(l.to);
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
    let re = |x: u64| if x > k { x - 1 } else { x };
    let strip =
        |xs: &[u64]| -> Vec<u64> { xs.iter().filter(|&&x| x != k).map(|&x| re(x)).collect() };
    let one = |x: u64| (x != k).then(|| re(x));
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
        | RawFault::ClockSkew { node, .. }
        | RawFault::ClockDrift { node, .. }
        | RawFault::ClockJump { node, .. } => *node = one(*node)?,
        RawFault::LinkError { from, to, .. } => (*from, *to) = (one(*from)?, one(*to)?),
        RawFault::Heal { .. } | RawFault::Loss { .. } => {}
    }
    Some(Some(g))
}
