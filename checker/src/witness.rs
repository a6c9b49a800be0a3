//! Witnesses: a smallest set of operations of one key that cannot be
//! linearized, found by cutting the history at the first return that makes
//! it impossible and then deleting operations while the rest still fails.

use crate::history::Operation;
use crate::linearizability::prepare_all;
use crate::model::Spec;
use crate::search::{search, Outcome, Timed};
use serde::Serialize;

/// A violation a person can read: operations of one key that cannot be
/// linearized, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Witness {
    /// The key the operations touch (`None` for operations without a key).
    pub key: Option<String>,
    /// The operations, in invocation order. An operation that had not
    /// returned when the violation became certain has no completion here.
    pub ops: Vec<Operation>,
    /// Why they cannot be linearized, in words.
    pub explanation: String,
    /// True if removing any one operation leaves a linearizable set (false
    /// only when the budget ran out while minimizing).
    pub minimal: bool,
}

impl Witness {
    /// The witness as text: a timeline per process, the operations, and the explanation.
    pub fn render_text(&self) -> String {
        crate::render::render(self)
    }
}

/// An operation chosen for a candidate set: its index, and whether it is
/// cut (its return lies after the cut, so its output is treated as unknown).
type Pick = (usize, bool);

/// Runs searches on candidate sets within one shared step budget.
struct Prober<'a, S: Spec> {
    spec: &'a S,
    known: &'a [Timed<S::Op>],
    open: &'a [Timed<S::Op>],
    remaining: u64,
    /// False once any search ran out of budget: minimality is then not proven.
    conclusive: bool,
}

impl<S: Spec> Prober<'_, S> {
    fn illegal(&mut self, picks: &[Pick]) -> bool {
        if picks.is_empty() {
            return false;
        }
        if self.remaining == 0 {
            self.conclusive = false;
            return false;
        }
        let refs: Vec<&Timed<S::Op>> = picks
            .iter()
            .map(|&(i, cut)| if cut { &self.open[i] } else { &self.known[i] })
            .collect();
        let (outcome, steps) = search(self.spec, &refs, self.remaining);
        self.remaining = self.remaining.saturating_sub(steps);
        match outcome {
            Outcome::Illegal => true,
            Outcome::Linearizable => false,
            Outcome::Unknown => {
                self.conclusive = false;
                false
            }
        }
    }
}

/// Finds a minimal witness among `ops` (one key, known to be non-linearizable),
/// spending at most `budget` model steps; `None` if an operation does not
/// fit the model (which `check` rules out before searching).
pub(crate) fn find<S: Spec>(spec: &S, ops: &[&Operation], budget: u64) -> Option<Witness> {
    let known = prepare_all(spec, ops)?;
    // The same operations as if they had not returned (yet).
    let unreturned: Vec<Operation> = ops
        .iter()
        .map(|op| Operation { completion: None, ..(*op).clone() })
        .collect();
    let open = prepare_all(spec, &unreturned.iter().collect::<Vec<_>>())?;
    let mut prober = Prober { spec, known: &known, open: &open, remaining: budget, conclusive: true };
    let all: Vec<Pick> = (0..ops.len()).map(|i| (i, false)).collect();
    let start = shortest_failing_prefix(&mut prober, &known).unwrap_or(all);
    let picks = shrink(&mut prober, start);
    let witness_ops: Vec<Operation> = picks
        .iter()
        .map(|&(i, cut)| if cut { unreturned[i].clone() } else { ops[i].clone() })
        .collect();
    let explanation = spec
        .explain(&witness_ops, ops)
        .unwrap_or_else(|| generic_explanation(witness_ops.len(), prober.conclusive));
    Some(Witness {
        key: ops.first().and_then(|op| op.key.clone()),
        ops: witness_ops,
        explanation,
        minimal: prober.conclusive,
    })
}

/// The history up to the first return after which no linearization exists.
///
/// Cutting at a return keeps the operations invoked by then, with those
/// still running treated as of unknown outcome. Such a prefix of a
/// linearizable history is linearizable, so "the prefix fails" only grows
/// with the cut, and a binary search finds the first failing return. This
/// both shrinks the work and anchors the witness on the moment it went wrong.
fn shortest_failing_prefix<S: Spec>(
    prober: &mut Prober<'_, S>,
    known: &[Timed<S::Op>],
) -> Option<Vec<Pick>> {
    let mut returns: Vec<(u64, usize)> =
        known.iter().enumerate().filter_map(|(i, t)| Some((t.ret?, i))).collect();
    returns.sort_unstable();
    let cut = |at: (u64, usize)| -> Vec<Pick> {
        known
            .iter()
            .enumerate()
            .filter(|(_, t)| t.call <= at.0)
            .map(|(i, t)| (i, t.ret.is_some_and(|r| (r, i) > at)))
            .collect()
    };
    let last = *returns.last()?;
    if !prober.illegal(&cut(last)) {
        return None;
    }
    let (mut low, mut high) = (0, returns.len() - 1);
    while low < high {
        let middle = (low + high) / 2;
        if prober.illegal(&cut(returns[middle])) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Some(cut(returns[high]))
}

/// Deletes chunks of operations, then single ones, while the rest still
/// fails, until no single deletion keeps it failing (delta debugging).
fn shrink<S: Spec>(prober: &mut Prober<'_, S>, mut picks: Vec<Pick>) -> Vec<Pick> {
    let mut chunk = (picks.len() / 2).max(1);
    loop {
        let mut removed = false;
        let mut start = 0;
        while start < picks.len() {
            let end = (start + chunk).min(picks.len());
            let rest: Vec<Pick> = picks[..start].iter().chain(&picks[end..]).copied().collect();
            if prober.illegal(&rest) {
                picks = rest;
                removed = true;
            } else {
                start = end;
            }
        }
        if chunk > 1 {
            chunk /= 2;
        } else if !removed || prober.remaining == 0 {
            return picks;
        }
    }
}

fn generic_explanation(count: usize, minimal: bool) -> String {
    let mut text = format!(
        "No order of these {count} operations respects real time (an operation that \
         returned before another was invoked comes first) and gives every operation the \
         result it returned"
    );
    if minimal {
        text.push_str("; without any one of them, such an order exists");
    }
    text.push('.');
    text
}
