//! Fault generators: a scenario's `fuzz` block expanded, for one seed, into
//! a concrete, sorted fault schedule.
//!
//! Pure functions of (block, node count, seed). Each generator draws from its
//! own stream derived from the seed (`fuzz/partitions`, `fuzz/crash`,
//! `fuzz/pauses`, `fuzz/messages`, …), so
//! adding a clock generator to a scenario does not move its partitions, and
//! none of them perturbs the network or workload streams of the run itself.
//! Every generator is a timeline from `from_ms`: a calm interval, an episode
//! (a cut and its heal, a crash and its restart, a burst), again, until the
//! next episode would start at or after `until_ms`.

use serde::Serialize;
use sim::{Prob, Rng};

use crate::scenario::raw::{
    NodeRef, PartitionKind, RawFault, RawFuzz, RawFuzzClock, RawFuzzCrash, RawFuzzFlapping,
    RawFuzzLoss, RawFuzzMessages, RawFuzzPartitions, RawFuzzPauses,
};

#[path = "gen_messages.rs"]
mod messages;

/// One seed's expansion: what the swarm draw left on, and the faults.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expansion {
    /// The generators in force for this seed (after the swarm draw, if any).
    pub plan: RawFuzz,
    /// The generated faults, sorted by time (stable: same-time faults keep
    /// the order they were generated in).
    pub faults: Vec<RawFault>,
}

/// Expands `f` for a scenario of `n` nodes at `seed`.
pub fn expand(f: &RawFuzz, n: usize, seed: u64) -> Expansion {
    let plan = if f.swarm {
        swarm(f, &mut Rng::derive(seed, "fuzz/swarm"))
    } else {
        f.clone()
    };
    let mut faults = Vec::new();
    if let Some(p) = &plan.partitions {
        let mut rng = Rng::derive(seed, "fuzz/partitions");
        let mut flap_rng = Rng::derive(seed, "fuzz/flapping");
        let flap = plan.flapping.as_ref();
        partitions(&plan, p, flap, n, &mut rng, &mut flap_rng, &mut faults);
    }
    if let Some(c) = &plan.crash_restart {
        crashes(&plan, c, &mut Rng::derive(seed, "fuzz/crash"), &mut faults);
    }
    if let Some(c) = &plan.clock {
        clocks(
            &plan,
            c,
            n,
            &mut Rng::derive(seed, "fuzz/clock"),
            &mut faults,
        );
    }
    if let Some(l) = &plan.loss_bursts {
        losses(&plan, l, &mut Rng::derive(seed, "fuzz/loss"), &mut faults);
    }
    if let Some(p) = &plan.pauses {
        pauses(&plan, p, &mut Rng::derive(seed, "fuzz/pauses"), &mut faults);
    }
    if let Some(m) = &plan.messages {
        let mut rng = Rng::derive(seed, "fuzz/messages");
        messages::rules(&plan, m, n, &mut rng, &mut faults);
    }
    faults.sort_by_key(RawFault::at_ms);
    Expansion { plan, faults }
}

/// Swarm mode: each generator is on with probability 1/2, and an active one
/// strikes more or less often (its calm interval's upper bound is drawn from
/// its range), so seeds cover calm and hostile worlds. Every draw happens
/// whatever the outcome, so each seed's plan depends on nothing but the seed.
fn swarm(f: &RawFuzz, rng: &mut Rng) -> RawFuzz {
    let mut plan = f.clone();
    plan.swarm = false;
    let on = coin(rng);
    plan.partitions = f.partitions.as_ref().and_then(|p| {
        let kinds = p.kinds.clone().unwrap_or_default();
        let mut kept: Vec<PartitionKind> = kinds.iter().copied().filter(|_| coin(rng)).collect();
        let fallback = rng.below(kinds.len().max(1) as u64) as usize;
        if kept.is_empty() {
            kept.extend(kinds.get(fallback).copied());
        }
        let interval_ms = narrow(p.interval_ms, rng);
        on.then_some(RawFuzzPartitions {
            kinds: Some(kept),
            interval_ms,
            duration_ms: p.duration_ms,
        })
    });
    let on = coin(rng);
    plan.flapping = f
        .flapping
        .clone()
        .filter(|_| on && plan.partitions.is_some());
    let on = coin(rng);
    plan.crash_restart = f.crash_restart.as_ref().and_then(|c| {
        let interval_ms = narrow(c.interval_ms, rng);
        on.then_some(RawFuzzCrash {
            interval_ms,
            ..c.clone()
        })
    });
    let on = coin(rng);
    plan.clock = f.clock.as_ref().and_then(|c| {
        let interval_ms = narrow(c.interval_ms, rng);
        on.then_some(RawFuzzClock {
            interval_ms,
            ..c.clone()
        })
    });
    let on = coin(rng);
    plan.loss_bursts = f.loss_bursts.as_ref().and_then(|l| {
        let interval_ms = narrow(l.interval_ms, rng);
        on.then_some(RawFuzzLoss {
            interval_ms,
            ..l.clone()
        })
    });
    // Draws for generators added later come after all of the above, so a
    // seed's plan for the older generators stays what it was.
    let on = coin(rng);
    plan.pauses = f.pauses.as_ref().and_then(|p| {
        let interval_ms = narrow(p.interval_ms, rng);
        on.then_some(RawFuzzPauses {
            interval_ms,
            ..p.clone()
        })
    });
    let on = coin(rng);
    plan.messages = f.messages.as_ref().and_then(|m| {
        let kinds = m.kinds.as_ref().map(|k| subset(k, rng));
        let actions = subset(&m.actions, rng);
        let interval_ms = narrow(m.interval_ms, rng);
        on.then_some(RawFuzzMessages {
            kinds,
            actions,
            interval_ms,
            ..m.clone()
        })
    });
    plan
}

/// A random non-empty subset of `items` (in their order): each kept on a
/// coin, and one drawn item when no coin kept any. Empty stays empty.
fn subset<T: Clone>(items: &[T], rng: &mut Rng) -> Vec<T> {
    let mut kept: Vec<T> = items.iter().filter(|_| coin(rng)).cloned().collect();
    let fallback = rng.below(items.len().max(1) as u64) as usize;
    if kept.is_empty() {
        kept.extend(items.get(fallback).cloned());
    }
    kept
}

fn coin(rng: &mut Rng) -> bool {
    rng.below(2) == 0
}

/// A narrower range `[lo, x]` with `x` drawn from `[lo, hi]`.
fn narrow(r: [u64; 2], rng: &mut Rng) -> [u64; 2] {
    [r[0], rng.range(r[0], r[1])]
}

/// The start times of a generator's episodes: after a calm interval each,
/// while they start before `until_ms`; `episode` returns how long each took.
fn timeline(
    f: &RawFuzz,
    interval: [u64; 2],
    rng: &mut Rng,
    mut episode: impl FnMut(&mut Rng, u64) -> u64,
) {
    let mut t = f.from_ms;
    loop {
        t = t.saturating_add(rng.range(interval[0], interval[1]));
        if t >= f.until_ms {
            return;
        }
        t = t.saturating_add(episode(rng, t));
    }
}

/// Replica ids as node references.
fn refs(ids: &[u64]) -> Vec<NodeRef> {
    ids.iter().map(|&i| NodeRef::Id(i)).collect()
}

/// A cut of the network, before it is given a time.
#[derive(Clone, Debug, PartialEq)]
pub enum Cut {
    /// Groups that cannot reach each other.
    Groups(Vec<Vec<u64>>),
    /// One-way cuts `(from, to)`, applied together.
    OneWay(Vec<(Vec<u64>, Vec<u64>)>),
}

impl Cut {
    fn faults(&self, at_ms: u64, out: &mut Vec<RawFault>) {
        match self {
            Cut::Groups(groups) => out.push(RawFault::Partition {
                at_ms,
                groups: groups.iter().map(|g| refs(g)).collect(),
            }),
            Cut::OneWay(ways) => {
                out.extend(ways.iter().map(|(from, to)| RawFault::PartitionOneWay {
                    at_ms,
                    from: refs(from),
                    to: refs(to),
                }))
            }
        }
    }
}

fn partitions(
    f: &RawFuzz,
    p: &RawFuzzPartitions,
    flap: Option<&RawFuzzFlapping>,
    n: usize,
    rng: &mut Rng,
    flap_rng: &mut Rng,
    out: &mut Vec<RawFault>,
) {
    let kinds = p.kinds.as_deref().unwrap_or(&[]);
    if kinds.is_empty() {
        return;
    }
    timeline(f, p.interval_ms, rng, |rng, t| {
        let kind = kinds[rng.below(kinds.len() as u64) as usize];
        let d = rng.range(p.duration_ms[0], p.duration_ms[1]);
        let cut = cut(kind, n, rng);
        let end = t.saturating_add(d);
        let period = flap.and_then(|fl| {
            let yes = flap_rng.chance(Prob::from_f64(fl.probability).unwrap_or(Prob::ZERO));
            let period = flap_rng.range(fl.period_ms[0], fl.period_ms[1]);
            yes.then_some(period)
        });
        match period {
            Some(period) => {
                let mut s = t;
                while s < end {
                    cut.faults(s, out);
                    let heal = s.saturating_add(period).min(end);
                    out.push(RawFault::Heal { at_ms: heal });
                    s = s.saturating_add(2 * period);
                }
            }
            None => {
                cut.faults(t, out);
                out.push(RawFault::Heal { at_ms: end });
            }
        }
        d
    });
}

/// A random permutation of `0..n` (Fisher–Yates with our own draws).
fn shuffled(n: usize, rng: &mut Rng) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n as u64).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
    v
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

/// Two groups: the first `k` of `order` and the rest, each sorted.
fn split(order: &[u64], k: usize) -> Cut {
    Cut::Groups(vec![
        sorted(order[..k].to_vec()),
        sorted(order[k..].to_vec()),
    ])
}

/// The cut of one partition kind over `n` nodes.
pub fn cut(kind: PartitionKind, n: usize, rng: &mut Rng) -> Cut {
    match kind {
        PartitionKind::Halves => split(&(0..n as u64).collect::<Vec<_>>(), n / 2),
        PartitionKind::RandomHalves => split(&shuffled(n, rng), n / 2),
        PartitionKind::MajorityMinority => {
            let minority = rng.range(1, ((n - 1) / 2).max(1) as u64) as usize;
            split(&shuffled(n, rng), minority)
        }
        PartitionKind::IsolateOne => split(&shuffled(n, rng), 1),
        PartitionKind::Bridge => {
            // The bridge is order[0]; the others split into two sides that
            // cannot hear each other, while both still hear the bridge.
            let order = shuffled(n, rng);
            let rest = &order[1..];
            let half = rest.len() / 2;
            let a = sorted(rest[..half].to_vec());
            let b = sorted(rest[half..].to_vec());
            Cut::OneWay(vec![(a.clone(), b.clone()), (b, a)])
        }
        PartitionKind::MajoritiesRing => Cut::OneWay(ring(&shuffled(n, rng))),
        PartitionKind::OneWay => {
            let order = shuffled(n, rng);
            let k = rng.range(1, n as u64 - 1) as usize;
            let from = sorted(order[..k].to_vec());
            let to = sorted(order[k..].to_vec());
            Cut::OneWay(vec![(from, to)])
        }
    }
}

/// Majorities ring: on a ring in `order`, each node hears the nodes within
/// distance `d` of it, where `2d + 1` is the smallest window holding a
/// majority; it stops hearing every farther node. Distances are symmetric,
/// so the cuts are too. Each node's view is a different window of the ring.
fn ring(order: &[u64]) -> Vec<(Vec<u64>, Vec<u64>)> {
    let n = order.len();
    let majority = n / 2 + 1;
    let d = majority / 2;
    (0..n)
        .filter_map(|i| {
            let far: Vec<u64> = (0..n)
                .filter(|&j| {
                    let gap = i.abs_diff(j);
                    gap.min(n - gap) > d
                })
                .map(|j| order[j])
                .collect();
            (!far.is_empty()).then(|| (sorted(far), vec![order[i]]))
        })
        .collect()
}

fn crashes(f: &RawFuzz, c: &RawFuzzCrash, rng: &mut Rng, out: &mut Vec<RawFault>) {
    let nodes = c.nodes.as_deref().unwrap_or(&[]);
    if nodes.is_empty() {
        return;
    }
    timeline(f, c.interval_ms, rng, |rng, t| {
        let node = nodes[rng.below(nodes.len() as u64) as usize];
        let down = rng.range(c.down_ms[0], c.down_ms[1]);
        let node = NodeRef::Id(node);
        out.push(RawFault::Crash {
            at_ms: t,
            node: node.clone(),
        });
        out.push(RawFault::Restart {
            at_ms: t.saturating_add(down),
            node,
        });
        down
    });
}

fn pauses(f: &RawFuzz, p: &RawFuzzPauses, rng: &mut Rng, out: &mut Vec<RawFault>) {
    let nodes = p.nodes.as_deref().unwrap_or(&[]);
    if nodes.is_empty() {
        return;
    }
    timeline(f, p.interval_ms, rng, |rng, t| {
        let node = NodeRef::Id(nodes[rng.below(nodes.len() as u64) as usize]);
        let d = rng.range(p.duration_ms[0], p.duration_ms[1]);
        out.push(RawFault::Pause {
            at_ms: t,
            node: node.clone(),
        });
        out.push(RawFault::Resume {
            at_ms: t.saturating_add(d),
            node,
        });
        d
    });
}

fn clocks(f: &RawFuzz, c: &RawFuzzClock, n: usize, rng: &mut Rng, out: &mut Vec<RawFault>) {
    let actions: Vec<(usize, [i64; 2])> = [c.skew_ms, c.jump_ms, c.drift_ppm]
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|r| (i, r)))
        .collect();
    if actions.is_empty() {
        return;
    }
    timeline(f, c.interval_ms, rng, |rng, t| {
        let node = NodeRef::Id(rng.below(n as u64));
        let (which, [lo, hi]) = actions[rng.below(actions.len() as u64) as usize];
        let x = rng.range_i64(lo, hi);
        out.push(match which {
            0 => RawFault::ClockSkew {
                at_ms: t,
                node,
                offset_ms: x,
            },
            1 => RawFault::ClockJump {
                at_ms: t,
                node,
                delta_ms: x,
            },
            _ => RawFault::ClockDrift {
                at_ms: t,
                node,
                drift_ppm: x,
            },
        });
        0
    });
}

/// A probability in `[lo, hi]` in thousandths, so files read `0.237`, not
/// `0.23718…`; `lo` itself when no thousandth lies in the range.
fn prob_in(r: [f64; 2], rng: &mut Rng) -> f64 {
    let lo = (r[0] * 1000.0).ceil() as u64;
    let hi = (r[1] * 1000.0).floor() as u64;
    if lo > hi {
        return r[0];
    }
    rng.range(lo, hi) as f64 / 1000.0
}

fn losses(f: &RawFuzz, l: &RawFuzzLoss, rng: &mut Rng, out: &mut Vec<RawFault>) {
    timeline(f, l.interval_ms, rng, |rng, t| {
        let d = rng.range(l.duration_ms[0], l.duration_ms[1]);
        let drop = prob_in(l.drop, rng);
        let duplicate = prob_in(l.duplicate, rng);
        out.push(RawFault::Loss {
            at_ms: t,
            drop,
            duplicate,
            for_ms: d,
        });
        d
    });
}

#[cfg(test)]
#[path = "gen_tests.rs"]
mod tests;
