//! Witnesses: a small set of operations of one key that cannot be
//! linearized, found by cutting the history at the first return after
//! which no order exists, then deleting chunks of operations, then single
//! ones, while the rest still fails (delta debugging).
//!
//! Plain deletion can mislead: deleting the write a read read from makes
//! the read "impossible" on its own, a violation the history does not
//! have. So a deletion is kept only if the rest also fails with the
//! deleted operations weakened instead: outcome unknown and interval open
//! to the end, so each may have taken effect at any moment after its
//! invocation, or not at all. A weakened read-only operation changes
//! nothing and is simply left out. This guards each deletion, not every
//! combination: weakening all deleted operations at once would make the
//! witness a proof on its own, but searching such a set is exponential in
//! its size. So when the model can explain the violation (a stale read, an
//! impossible value), its explanation, whose claims are checked against the
//! key's whole history, and the operations it cites replace the search's
//! set; otherwise the witness says it fails "taken on its own".

use crate::history::Operation;
use crate::linearizability::prepare_all;
use crate::model::Spec;
use crate::search::{search, Outcome, Timed};
use serde::Serialize;

/// Steps one minimization probe may take. A probe that runs out counts as
/// "still linearizable", so the chunk is kept and smaller ones are tried.
const PROBE_STEPS: u64 = 5_000;
/// Steps a probe deleting a single operation may take.
const SINGLE_STEPS: u64 = 50_000;

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
    /// True if each operation is needed: giving any one of them an unknown
    /// outcome (or leaving it out) lets the others be ordered. False only
    /// when a probe ran out of steps while minimizing.
    pub minimal: bool,
}

impl Witness {
    /// The witness as text: a timeline per process, the operations, and the explanation.
    pub fn render_text(&self) -> String {
        crate::render::render(self)
    }
}

/// An operation chosen for a candidate set: its index, and whether it is
/// open (its return lies after the cut, or it is weakened), so its output
/// is treated as unknown.
type Pick = (usize, bool);

/// Runs searches on candidate sets within one shared step budget.
struct Prober<'a, S: Spec> {
    spec: &'a S,
    known: &'a [Timed<S::Op>],
    open: &'a [Timed<S::Op>],
    /// Operations whose weakened form is read-only, so can be left out.
    droppable: Vec<bool>,
    remaining: u64,
}

impl<S: Spec> Prober<'_, S> {
    /// Whether exactly `picks` fail: `None` if the probe ran out of steps.
    fn illegal(&mut self, picks: &[Pick], cap: u64) -> Option<bool> {
        if picks.is_empty() {
            return Some(false);
        }
        let refs: Vec<&Timed<S::Op>> = picks
            .iter()
            .map(|&(i, open)| if open { &self.open[i] } else { &self.known[i] })
            .collect();
        let (outcome, steps) = search(self.spec, &refs, self.remaining.min(cap));
        self.remaining = self.remaining.saturating_sub(steps);
        match outcome {
            Outcome::Illegal => Some(true),
            Outcome::Linearizable => Some(false),
            Outcome::Unknown => None,
        }
    }

    /// Whether `kept` fails with every other operation of `prefix` weakened:
    /// then it fails whatever those did. Capped, so `false` may mean "unknown".
    fn fails_whatever_others(&mut self, kept: &[Pick], prefix: &[Pick]) -> bool {
        let others: Vec<Pick> = prefix
            .iter()
            .filter(|p| !kept.iter().any(|k| k.0 == p.0))
            .copied()
            .collect();
        self.still_fails(kept, &others, SINGLE_STEPS) == Some(true)
    }

    /// Whether `rest` fails both as it is and with `deleted` added back weakened.
    fn still_fails(&mut self, rest: &[Pick], deleted: &[Pick], cap: u64) -> Option<bool> {
        if self.illegal(rest, cap)? {
            let mut guarded = rest.to_vec();
            let weak = deleted.iter().filter(|&&(i, _)| !self.droppable[i]);
            guarded.extend(weak.map(|&(i, _)| (i, true)));
            guarded.sort_unstable();
            self.illegal(&guarded, cap)
        } else {
            Some(false)
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
        .map(|op| Operation {
            completion: None,
            ..(*op).clone()
        })
        .collect();
    let open = prepare_all(spec, &unreturned.iter().collect::<Vec<_>>())?;
    let droppable = open.iter().map(|t| spec.read_only(&t.op)).collect();
    let mut prober = Prober {
        spec,
        known: &known,
        open: &open,
        droppable,
        remaining: budget,
    };
    let all: Vec<Pick> = (0..ops.len()).map(|i| (i, false)).collect();
    let prefix = shortest_failing_prefix(&mut prober, &known).unwrap_or(all);
    // Suspects for the model's proof: the operation whose return made the
    // prefix fail first, then the others, latest first.
    let mut suspects: Vec<usize> = prefix.iter().rev().map(|&(i, _)| i).collect();
    let culprit = prefix
        .iter()
        .filter(|p| !p.1)
        .max_by_key(|&&(i, _)| (known[i].ret, i));
    if let Some(&(c, _)) = culprit {
        suspects.retain(|&i| i != c);
        suspects.insert(0, c);
    }
    let (picks, explanation, minimal) = match proof(&mut prober, ops, &suspects) {
        Some(found) => found,
        None => {
            let (core, minimal) = shrink(&mut prober, prefix.clone());
            let core_suspects: Vec<usize> = core.iter().map(|&(i, _)| i).collect();
            proof(&mut prober, ops, &core_suspects).unwrap_or_else(|| {
                let alone = !prober.fails_whatever_others(&core, &prefix);
                let line = culprit.and_then(|&(c, _)| ops[c].completion.as_ref()?.line);
                let text = generic_explanation(core.len(), minimal, alone, line);
                (core, text, minimal)
            })
        }
    };
    let witness_ops: Vec<Operation> = picks
        .iter()
        .map(|&(i, cut)| {
            if cut {
                unreturned[i].clone()
            } else {
                ops[i].clone()
            }
        })
        .collect();
    let key = ops.first().and_then(|op| op.key.clone());
    Some(Witness {
        key,
        ops: witness_ops,
        explanation,
        minimal,
    })
}

/// The model's explanation for `suspects`, with the operations it cites as
/// the witness, if they fail by themselves (as a proof's operations should);
/// and whether each is needed.
fn proof<S: Spec>(
    prober: &mut Prober<'_, S>,
    ops: &[&Operation],
    suspects: &[usize],
) -> Option<(Vec<Pick>, String, bool)> {
    let explained = prober.spec.explain(ops, suspects)?;
    let cited: Vec<Pick> = explained.ops.iter().map(|&i| (i, false)).collect();
    if prober.illegal(&cited, SINGLE_STEPS) != Some(true) {
        return None;
    }
    let minimal = each_needed(prober, &cited);
    Some((cited, explained.text, minimal))
}

/// True if giving any one of `picks` an unknown outcome lets them be ordered.
fn each_needed<S: Spec>(prober: &mut Prober<'_, S>, picks: &[Pick]) -> bool {
    (0..picks.len()).all(|k| {
        let mut weakened = picks.to_vec();
        weakened[k].1 = true;
        prober.illegal(&weakened, SINGLE_STEPS) == Some(false)
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
    let mut returns: Vec<(u64, usize)> = known
        .iter()
        .enumerate()
        .filter_map(|(i, t)| Some((t.ret?, i)))
        .collect();
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
    if prober.illegal(&cut(last), u64::MAX) != Some(true) {
        return None;
    }
    let (mut low, mut high) = (0, returns.len() - 1);
    while low < high {
        let middle = (low + high) / 2;
        if prober.illegal(&cut(returns[middle]), u64::MAX) == Some(true) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Some(cut(returns[high]))
}

/// Deletes chunks of operations, then single ones, while the rest still
/// fails (see the module documentation), until no single deletion does.
/// Returns the operations left and whether every single deletion was
/// decided within the probe's steps.
fn shrink<S: Spec>(prober: &mut Prober<'_, S>, mut picks: Vec<Pick>) -> (Vec<Pick>, bool) {
    let mut chunk = (picks.len() / 2).max(1);
    loop {
        let mut removed = false;
        let mut decided = true;
        let mut start = 0;
        while start < picks.len() {
            let end = (start + chunk).min(picks.len());
            let rest: Vec<Pick> = picks[..start]
                .iter()
                .chain(&picks[end..])
                .copied()
                .collect();
            // Single deletions decide minimality, so they get more steps.
            let cap = if chunk > 1 { PROBE_STEPS } else { SINGLE_STEPS };
            match prober.still_fails(&rest, &picks[start..end], cap) {
                Some(true) => {
                    picks = rest;
                    removed = true;
                }
                verdict => {
                    decided &= verdict.is_some();
                    start = end;
                }
            }
        }
        if chunk > 1 {
            chunk /= 2;
        } else if !removed || prober.remaining == 0 {
            return (picks, decided && prober.remaining > 0);
        }
    }
}

/// The sentence for a violation the model does not explain. `alone` says
/// the operations were only shown to fail taken on their own; then the
/// key's other operations (up to `last_line`) are part of the story.
fn generic_explanation(
    count: usize,
    minimal: bool,
    alone: bool,
    last_line: Option<usize>,
) -> String {
    let whatever = if alone {
        ", taken on their own,"
    } else {
        ", whatever the key's other operations did,"
    };
    let mut text = format!(
        "No order of {}{whatever} respects real time (an operation \
         that returned before another was invoked comes first) and gives every operation \
         the result it returned",
        these(count)
    );
    if minimal && count > 1 {
        text.push_str("; with any one of them of unknown outcome, an order exists");
    }
    text.push('.');
    if alone {
        let upto = last_line
            .map(|l| format!(" up to line {l}"))
            .unwrap_or_default();
        text.push_str(&format!(
            " Other operations of the key are involved too: its history{upto} already has \
             no valid order."
        ));
    }
    text
}

/// "this operation" or "these N operations".
pub(crate) fn these(count: usize) -> String {
    match count {
        1 => "this operation".to_string(),
        n => format!("these {n} operations"),
    }
}
