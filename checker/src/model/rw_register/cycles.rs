//! Cycle search over a transaction dependency graph, as Elle does it
//! (`elle.txn`): for each cycle anomaly a consistency model forbids, the
//! strongly connected components of the graph restricted to the edges that
//! anomaly may use, then, through edges of each component, the shortest
//! cycle that meets the anomaly's rules; a cycle is then named by its edges
//! (Elle's cycle explainer): one rw edge is G-single; two or more, with two
//! adjacent, G2-item, else G-nonadjacent; no rw but a wr, G1c; only ww, G0;
//! `-realtime` if it uses a real-time edge, else `-process` if it uses a
//! process edge.
//!
//! When a forbidden cycle exists but no search found one within its bounds,
//! the component is reported instead (Elle's `*-cycle-exists`), so a verdict
//! never depends on the bounds.

use super::{Anomaly, AnomalyKind, Consistency, Dep, Edge, Graph};
use std::collections::{BTreeSet, VecDeque};

/// How many cycles of one kind are reported.
const CYCLES_PER_KIND: usize = 4;
/// How many first edges a search tries per kind before it stops.
const SEARCH_EDGES: usize = 64;

/// The extra edges a variant may (and must) use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Plain,
    Process,
    Realtime,
}

/// The data-dependency shape of a cycle anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    G0,
    G1c,
    GSingle,
    GNonadjacent,
    G2Item,
}

impl Shape {
    fn kind(self, variant: Variant) -> AnomalyKind {
        use AnomalyKind::*;
        match (self, variant) {
            (Shape::G0, Variant::Plain) => G0,
            (Shape::G0, Variant::Process) => G0Process,
            (Shape::G0, Variant::Realtime) => G0Realtime,
            (Shape::G1c, Variant::Plain) => G1c,
            (Shape::G1c, Variant::Process) => G1cProcess,
            (Shape::G1c, Variant::Realtime) => G1cRealtime,
            (Shape::GSingle, Variant::Plain) => GSingle,
            (Shape::GSingle, Variant::Process) => GSingleProcess,
            (Shape::GSingle, Variant::Realtime) => GSingleRealtime,
            (Shape::GNonadjacent, Variant::Plain) => GNonadjacent,
            (Shape::GNonadjacent, Variant::Process) => GNonadjacentProcess,
            (Shape::GNonadjacent, Variant::Realtime) => GNonadjacentRealtime,
            (Shape::G2Item, Variant::Plain) => G2Item,
            (Shape::G2Item, Variant::Process) => G2ItemProcess,
            (Shape::G2Item, Variant::Realtime) => G2ItemRealtime,
        }
    }

    /// The edges the cycle may use, before the variant's.
    fn allows(self, dep: Dep) -> bool {
        match self {
            Shape::G0 => dep == Dep::Ww,
            Shape::G1c => matches!(dep, Dep::Ww | Dep::Wr),
            _ => matches!(dep, Dep::Ww | Dep::Wr | Dep::Rw),
        }
    }

    /// Which edges a search starts from (its first edge), without a variant.
    fn starts(self, dep: Dep) -> bool {
        match self {
            Shape::G0 => dep == Dep::Ww,
            Shape::G1c => dep == Dep::Wr,
            Shape::GSingle | Shape::G2Item => dep == Dep::Rw,
            Shape::GNonadjacent => matches!(dep, Dep::Ww | Dep::Wr),
        }
    }
}

/// The name of a cycle, from its edges (Elle's cycle explainer).
pub(super) fn classify(cycle: &[Edge]) -> AnomalyKind {
    let count = |d: Dep| cycle.iter().filter(|e| e.dep == d).count();
    let n = cycle.len();
    let adjacent = (0..n).any(|i| cycle[i].dep == Dep::Rw && cycle[(i + 1) % n].dep == Dep::Rw);
    let shape = match count(Dep::Rw) {
        1 => Shape::GSingle,
        0 if count(Dep::Wr) > 0 => Shape::G1c,
        0 => Shape::G0,
        _ if adjacent => Shape::G2Item,
        _ => Shape::GNonadjacent,
    };
    let variant = if count(Dep::Rt) > 0 {
        Variant::Realtime
    } else if count(Dep::Process) > 0 {
        Variant::Process
    } else {
        Variant::Plain
    };
    shape.kind(variant)
}

/// What a path has used so far, packed in a few bits: rw edges (0, 1,
/// 2 = two or more), whether the last edge was rw, whether two rw edges
/// were adjacent, whether a wr edge and a variant edge were used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct State(u8);

impl State {
    const STATES: usize = 48;

    fn new(first: Dep, variant: Variant) -> State {
        State(0).after(first, variant)
    }

    fn rw(self) -> u8 {
        self.0 % 3
    }
    fn last_rw(self) -> bool {
        (self.0 / 3) % 2 == 1
    }
    fn adjacent(self) -> bool {
        (self.0 / 6) % 2 == 1
    }
    fn wr(self) -> bool {
        (self.0 / 12) % 2 == 1
    }
    fn extra(self) -> bool {
        (self.0 / 24) % 2 == 1
    }

    fn pack(rw: u8, last_rw: bool, adjacent: bool, wr: bool, extra: bool) -> State {
        State(
            rw.min(2)
                + 3 * u8::from(last_rw)
                + 6 * u8::from(adjacent)
                + 12 * u8::from(wr)
                + 24 * u8::from(extra),
        )
    }

    fn after(self, dep: Dep, variant: Variant) -> State {
        let rw = dep == Dep::Rw;
        let extra = match variant {
            Variant::Plain => false,
            Variant::Process => dep == Dep::Process,
            Variant::Realtime => dep == Dep::Rt,
        };
        State::pack(
            self.rw() + u8::from(rw),
            rw,
            self.adjacent() || (rw && self.last_rw()),
            self.wr() || dep == Dep::Wr,
            self.extra() || extra,
        )
    }

    /// Whether a path in this state, closed back to a first edge `first`,
    /// is a cycle of `shape` and `variant`.
    fn closes(self, first: Dep, shape: Shape, variant: Variant) -> bool {
        if variant != Variant::Plain && !self.extra() {
            return false;
        }
        let wrap = self.last_rw() && first == Dep::Rw;
        match shape {
            Shape::G0 => true,
            Shape::G1c => self.wr(),
            Shape::GSingle => self.rw() == 1,
            Shape::GNonadjacent => self.rw() == 2 && !self.adjacent() && !wrap,
            Shape::G2Item => self.rw() == 2 && (self.adjacent() || wrap),
        }
    }

    /// Whether a path in this state can still become a cycle of `shape`.
    fn viable(self, shape: Shape) -> bool {
        match shape {
            Shape::GSingle => self.rw() <= 1,
            Shape::GNonadjacent => !self.adjacent(),
            _ => true,
        }
    }
}

/// The shapes and variants `model` forbids, worst first.
fn searches(model: Consistency) -> Vec<(Shape, Variant)> {
    let mut out = Vec::new();
    for variant in [Variant::Plain, Variant::Process, Variant::Realtime] {
        for shape in [
            Shape::G0,
            Shape::G1c,
            Shape::GSingle,
            Shape::GNonadjacent,
            Shape::G2Item,
        ] {
            if model.forbids(shape.kind(variant)) {
                out.push((shape, variant));
            }
        }
    }
    out
}

/// Finds and names the cycles `model` forbids (kinds it allows are not
/// searched for), then reports any component that still holds a forbidden
/// cycle no search found.
pub(super) fn cycles(g: &Graph, model: Consistency, anomalies: &mut Vec<Anomaly>) {
    // Most histories have no cycle at all: one pass over every edge proves it.
    let all = g.scc(&|_| true);
    let mut size = vec![0u32; g.out.len()];
    for &c in &all {
        size[c] += 1;
    }
    if size.iter().all(|&n| n <= 1) {
        return;
    }
    drop(all);
    let mut found: BTreeSet<Vec<usize>> = BTreeSet::new();
    // Components per set of edge kinds (searches share them).
    let mut comps: Vec<(u8, Vec<usize>)> = Vec::new();
    for (shape, variant) in searches(model) {
        let allowed = |d: Dep| {
            shape.allows(d)
                || (variant == Variant::Process && d == Dep::Process)
                || (variant == Variant::Realtime && matches!(d, Dep::Rt | Dep::Process))
        };
        let mask = [Dep::Ww, Dep::Wr, Dep::Rw, Dep::Rt, Dep::Process]
            .iter()
            .enumerate()
            .filter(|(_, &d)| allowed(d))
            .fold(0u8, |m, (i, _)| m | (1 << i));
        let index = match comps.iter().position(|(m, _)| *m == mask) {
            Some(i) => i,
            None => {
                comps.push((mask, g.scc(&allowed)));
                comps.len() - 1
            }
        };
        let comp = &comps[index].1;
        let starts = |d: Dep| match variant {
            Variant::Plain => shape.starts(d),
            Variant::Process => d == Dep::Process,
            Variant::Realtime => d == Dep::Rt,
        };
        let mut reported = 0;
        let mut tried = 0;
        for (id, e) in g.edges.iter().enumerate() {
            if reported >= CYCLES_PER_KIND || tried >= SEARCH_EDGES {
                break;
            }
            if !starts(e.dep) || comp[e.from] != comp[e.to] {
                continue;
            }
            tried += 1;
            let Some(back) = path_back(g, id, &allowed, comp, shape, variant) else {
                continue;
            };
            let mut ids = vec![id];
            ids.extend(back);
            let mut nodes: Vec<usize> = ids.iter().map(|&e| g.edges[e].from).collect();
            nodes.sort_unstable();
            let visits = nodes.len();
            nodes.dedup();
            // A walk through a transaction twice is two cycles; the same
            // transactions as a cycle already reported are the same anomaly.
            if nodes.len() != visits || !found.insert(nodes) {
                continue;
            }
            let cycle: Vec<Edge> = ids.iter().map(|&e| g.edges[e].clone()).collect();
            let kind = classify(&cycle);
            debug_assert_eq!(kind, shape.kind(variant));
            let txns: Vec<usize> = cycle.iter().map(|e| e.from).collect();
            let chain: Vec<String> = cycle
                .iter()
                .map(|e| format!("T{} -{}->", e.from, e.dep.name()))
                .collect();
            let text = format!(
                "a cycle of {} transactions: {} T{}",
                txns.len(),
                chain.join(" "),
                cycle[0].from,
            );
            anomalies.push(Anomaly {
                kind,
                txns,
                cycle,
                text,
            });
            reported += 1;
        }
    }
    // A fallback, as Elle's *-cycle-exists: a component of the model's own
    // dependency graph (for the models where any cycle in it is forbidden)
    // that no search above named (their bounds ran out).
    if !anomalies.iter().any(|a| model.forbids(a.kind)) {
        cycle_exists(g, model, anomalies);
    }
}

/// Reports the smallest strongly connected component of the edges whose
/// every cycle `model` forbids, if there is one.
fn cycle_exists(g: &Graph, model: Consistency, anomalies: &mut Vec<Anomaly>) {
    use Consistency::*;
    let (kind, what): (AnomalyKind, &str) = match model {
        ReadUncommitted => (AnomalyKind::CycleExists, "ww"),
        ReadCommitted => (AnomalyKind::CycleExists, "ww and wr"),
        // Some cycles are allowed: no component proves a forbidden one.
        RepeatableRead | SnapshotIsolation => return,
        Serializable => (AnomalyKind::CycleExists, "ww, wr and rw"),
        StrongSessionSerializable => (AnomalyKind::CycleExistsProcess, "ww, wr, rw and process"),
        StrictSerializable => (AnomalyKind::CycleExistsRealtime, "ww, wr, rw and realtime"),
    };
    let allowed = |d: Dep| match model {
        ReadUncommitted => d == Dep::Ww,
        ReadCommitted => matches!(d, Dep::Ww | Dep::Wr),
        _ => true,
    };
    let comp = g.scc(&allowed);
    let mut size = vec![0usize; g.out.len()];
    for &c in &comp {
        size[c] += 1;
    }
    let smallest = (0..size.len())
        .filter(|&c| size[c] > 1)
        .min_by_key(|&c| size[c]);
    if let Some(c) = smallest {
        let txns: Vec<usize> = (0..comp.len()).filter(|&t| comp[t] == c).collect();
        anomalies.push(Anomaly {
            kind,
            text: format!(
                "{} transactions form a strongly connected component of {what} edges, so a cycle {} forbids exists among them; the cycle search ran out of bounds before naming it",
                txns.len(),
                model.name()
            ),
            txns,
            cycle: Vec::new(),
        });
    }
}

/// The shortest path (edge ids) from edge `first`'s head back to its tail,
/// inside its component, over edges `allowed`, such that with `first` it
/// is a cycle of `shape` and `variant`.
fn path_back(
    g: &Graph,
    first: usize,
    allowed: &dyn Fn(Dep) -> bool,
    comp: &[usize],
    shape: Shape,
    variant: Variant,
) -> Option<Vec<usize>> {
    let e0 = &g.edges[first];
    let (start, goal, c) = (e0.to, e0.from, comp[e0.from]);
    // Local indices for the component's nodes, in a sorted list.
    let members: Vec<usize> = (0..comp.len()).filter(|&t| comp[t] == c).collect();
    let local = |t: usize| members.binary_search(&t).ok();
    let n = members.len();
    // The edge into each state, and the state it came from (u32::MAX: none).
    let mut parent: Vec<(u32, u32)> = vec![(u32::MAX, u32::MAX); n * State::STATES];
    let mut seen = vec![false; n * State::STATES];
    let s0 = State::new(e0.dep, variant);
    let at = |node: usize, s: State| node * State::STATES + s.0 as usize;
    let start_l = local(start)?;
    seen[at(start_l, s0)] = true;
    let mut queue = VecDeque::from([(start_l, s0)]);
    while let Some((v, s)) = queue.pop_front() {
        if members[v] == goal && s.closes(e0.dep, shape, variant) {
            let mut path = Vec::new();
            let mut state = at(v, s);
            while parent[state].0 != u32::MAX {
                let (e, prev) = parent[state];
                path.push(e as usize);
                state = prev as usize;
            }
            path.reverse();
            return Some(path);
        }
        if members[v] == goal {
            // A path through the goal is two cycles; go no further.
            continue;
        }
        for &e in &g.out[members[v]] {
            let edge = &g.edges[e];
            if !allowed(edge.dep) {
                continue;
            }
            let Some(w) = local(edge.to) else { continue };
            let s2 = s.after(edge.dep, variant);
            if !s2.viable(shape) {
                continue;
            }
            let k = at(w, s2);
            if !seen[k] {
                seen[k] = true;
                parent[k] = (e as u32, at(v, s) as u32);
                queue.push_back((w, s2));
            }
        }
    }
    None
}
