//! Witnesses: a small set of operations of one key that fails whatever
//! the key's other operations did, and in which every operation is needed.
//!
//! Plain deletion misleads: deleting the write a read read from makes the
//! read "impossible" on its own, a violation the history does not have. So
//! a set of operations counts as a witness only if it cannot be linearized
//! with every other operation of the key *weakened*: outcome unknown and
//! interval open to the end, so each may have taken effect at any moment
//! after its invocation, or not at all (a weakened read changes nothing and
//! is left out; the model says which other weakened operations could matter,
//! see [`Spec::can_matter`]). Such a set is a proof on its own: the real
//! history is one of the possibilities it rules out. Adding operations to a
//! proof keeps it a proof, so it can be shrunk by deletion (delta debugging).
//!
//! The search hands over a first proof for free: the history cut at the
//! latest return it got stuck at (see `Frontier`). From there, a model's
//! explanation (a stale or impossible read) is tried first; otherwise only
//! the latest-ending operations are kept (with whatever could matter to
//! them), as few as still prove it, found by doubling then bisecting; then
//! chunks, then single operations are deleted, until no single deletion
//! leaves a proof: the
//! witness is then *minimal* (1-minimal: with any one of its operations
//! weakened like the others, an order exists). All this spends a bounded
//! number of steps; when they run out, the witness is still a proof, and
//! says it was not minimised.

use crate::history::Operation;
use crate::model::Spec;
use crate::outcome::Witness;
use crate::render::these;
use crate::search::{prepare_all, search, Frontier, Outcome, Timed};

/// The fewest steps minimising may take, however cheap the search was.
pub(crate) const MIN_WITNESS_STEPS: u64 = 20_000;
/// Suspects handed to the model's explanation: the culprit and the latest others.
const SUSPECTS: usize = 64;

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
    /// Each operation's form in the failing prefix (open if cut), or
    /// `None` if invoked after the cut.
    in_prefix: Vec<Option<bool>>,
    remaining: u64,
}

impl<S: Spec> Prober<'_, S> {
    fn timed(&self, (i, open): Pick) -> &Timed<S::Op> {
        if open {
            &self.open[i]
        } else {
            &self.known[i]
        }
    }

    /// Puts operations in order of invocation, as [`Spec::can_matter`]
    /// receives its weakened ones.
    fn by_call(&self, ops: &mut [usize]) {
        ops.sort_by_key(|&i| (self.open[i].call, i));
    }

    /// Whether exactly `picks` fail: `None` if the probe ran out of steps
    /// (at most `cap`).
    fn illegal(&mut self, picks: &[Pick], cap: u64) -> Option<bool> {
        if picks.is_empty() {
            return Some(false);
        }
        if self.remaining == 0 {
            return None;
        }
        let refs: Vec<&Timed<S::Op>> = picks.iter().map(|&p| self.timed(p)).collect();
        let (outcome, steps) = search(self.spec, &refs, self.remaining.min(cap));
        self.remaining = self.remaining.saturating_sub(steps);
        match outcome {
            Outcome::Illegal => Some(true),
            Outcome::Linearizable => Some(false),
            Outcome::Unknown => None,
        }
    }

    /// Whether `picks` fail whatever every other operation of the key did
    /// (see the module documentation): `None` if the probe ran out of steps.
    ///
    /// A weakened operation invoked after the last return among `picks`
    /// can be placed after all of them, where it changes no result, so only
    /// earlier ones are added, and of those only what the model says could matter.
    fn proves(&mut self, picks: &[Pick], cap: u64) -> Option<bool> {
        let horizon = picks
            .iter()
            .filter(|p| !p.1)
            .filter_map(|&(i, _)| self.known[i].ret)
            .max();
        let Some(horizon) = horizon else {
            // Every operation's outcome is unknown: all may go last.
            return Some(false);
        };
        let mut inside = vec![false; self.known.len()];
        for &(i, _) in picks {
            inside[i] = true;
        }
        let mut candidates: Vec<usize> = (0..self.known.len())
            .filter(|&i| !inside[i] && !self.droppable[i] && self.open[i].call <= horizon)
            .collect();
        self.by_call(&mut candidates);
        let kept: Vec<&S::Op> = picks.iter().map(|&p| &self.timed(p).op).collect();
        let weak: Vec<&S::Op> = candidates.iter().map(|&i| &self.open[i].op).collect();
        let matter = self.spec.can_matter(&kept, &weak);
        let mut all = picks.to_vec();
        all.extend(
            candidates
                .iter()
                .zip(matter)
                .filter(|(_, m)| *m)
                .map(|(&i, _)| (i, true)),
        );
        self.illegal(&all, cap)
    }

    /// `picks` with every operation of the prefix that could matter to
    /// them added, in its prefix form, until none is left out: then no
    /// weakened operation can matter, and a proof probe is a plain search.
    fn close(&self, picks: &[Pick]) -> Vec<Pick> {
        let mut inside = vec![false; self.known.len()];
        for &(i, _) in picks {
            inside[i] = true;
        }
        let mut all = picks.to_vec();
        loop {
            let horizon = all
                .iter()
                .filter(|p| !p.1)
                .filter_map(|&(i, _)| self.known[i].ret)
                .max()
                .unwrap_or(0);
            let mut candidates: Vec<usize> = (0..self.known.len())
                .filter(|&i| {
                    !inside[i]
                        && self.in_prefix[i].is_some()
                        && !self.droppable[i]
                        && self.open[i].call <= horizon
                })
                .collect();
            self.by_call(&mut candidates);
            let kept: Vec<&S::Op> = all.iter().map(|&p| &self.timed(p).op).collect();
            let weak: Vec<&S::Op> = candidates.iter().map(|&i| &self.open[i].op).collect();
            let matter = self.spec.can_matter(&kept, &weak);
            let before = all.len();
            for (&i, m) in candidates.iter().zip(matter) {
                if let (true, Some(open)) = (m, self.in_prefix[i]) {
                    inside[i] = true;
                    all.push((i, open));
                }
            }
            if all.len() == before {
                all.sort_unstable();
                return all;
            }
        }
    }

    /// Whether `picks` stop being a proof when any one of them is left
    /// out (becomes one of the weakened others); `None` if a probe ran out.
    fn each_needed(&mut self, picks: &[Pick], cap: u64) -> Option<bool> {
        for k in 0..picks.len() {
            let mut rest = picks.to_vec();
            rest.remove(k);
            if self.proves(&rest, cap)? {
                return Some(false);
            }
        }
        Some(true)
    }
}

/// Finds a witness among `ops` (one key, proven non-linearizable; the
/// search's `frontier` if it has one), spending at most `budget` model
/// steps; `None` if an operation does not fit the model (which `check`
/// rules out before searching).
pub(crate) fn find<S: Spec>(
    spec: &S,
    ops: &[&Operation],
    frontier: Option<Frontier>,
    budget: u64,
) -> Option<Witness> {
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
    let (prefix, culprit) = match frontier {
        Some(f) => (f.prefix, Some(f.culprit)),
        None => ((0..ops.len()).map(|i| (i, false)).collect(), None),
    };
    let mut in_prefix = vec![None; ops.len()];
    for &(i, open) in &prefix {
        in_prefix[i] = Some(open);
    }
    let mut prober = Prober {
        spec,
        known: &known,
        open: &open,
        droppable,
        in_prefix,
        remaining: budget,
    };
    let (picks, explanation, minimal) = explained(&mut prober, ops, &prefix, culprit)
        .unwrap_or_else(|| {
            let (core, minimal) = shrink(&mut prober, prefix);
            let (core, minimal, closed) = with_sources(&mut prober, ops, core, minimal);
            let mut text = describe(prober.spec, ops, &core, minimal);
            if closed {
                text.push_str(
                    " Every write that could have given one of their reads its value is among them.",
                );
            }
            (core, text, minimal)
        });
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
    Some(Witness {
        claim: None,
        key: ops.first().and_then(|op| op.key.clone()),
        ops: witness_ops,
        explanation,
        minimal,
    })
}

/// The model's explanation of the prefix's violation, if it gives one
/// whose operations are a minimal proof.
fn explained<S: Spec>(
    prober: &mut Prober<'_, S>,
    ops: &[&Operation],
    prefix: &[Pick],
    culprit: Option<usize>,
) -> Option<(Vec<Pick>, String, bool)> {
    // The operation whose return made the prefix fail, then the latest others.
    let mut suspects: Vec<usize> = culprit.into_iter().collect();
    suspects.extend(
        prefix
            .iter()
            .rev()
            .map(|p| p.0)
            .filter(|&i| Some(i) != culprit)
            .take(SUSPECTS),
    );
    let explanation = prober.spec.explain(ops, &suspects)?;
    let mut cited: Vec<Pick> = explanation.ops.iter().map(|&i| (i, false)).collect();
    cited.sort_unstable();
    // The model's proof is a shortcut: it may not spend the shrinking's steps.
    let cap = prober.remaining / 16;
    if prober.proves(&cited, cap) != Some(true) || prober.each_needed(&cited, cap) != Some(true) {
        return None;
    }
    Some((cited, explanation.text, true))
}

/// `picks` with, for every read among them, each operation that could have
/// given it its value ([`Spec::sources`]), so the witness can be checked on
/// its own; then shrunk again under that rule (an operation is left out only
/// with the writes no read left needs), until no single one can go. Returns
/// the operations, whether each is known to be needed, and whether the
/// model named any sources (the rule applies).
fn with_sources<S: Spec>(
    prober: &mut Prober<'_, S>,
    ops: &[&Operation],
    picks: Vec<Pick>,
    minimal: bool,
) -> (Vec<Pick>, bool, bool) {
    let close = |picks: &[Pick], prober: &Prober<'_, S>| -> (Vec<Pick>, bool) {
        let mut all = picks.to_vec();
        let mut any = false;
        let mut k = 0;
        while k < all.len() {
            let (i, open) = all[k];
            if !open {
                for j in prober.spec.sources(ops, i) {
                    any = true;
                    if !all.iter().any(|p| p.0 == j) {
                        if let Some(form) = prober.in_prefix[j] {
                            all.push((j, form));
                        }
                    }
                }
            }
            k += 1;
        }
        all.sort_unstable();
        (all, any)
    };
    let (mut closed, any) = close(&picks, prober);
    if !any {
        return (picks, minimal, false);
    }
    if closed.len() == picks.len() {
        return (closed, minimal, true);
    }
    // Adding operations keeps a proof a proof; now drop what the rule allows.
    let mut decided = minimal;
    loop {
        let mut removed = false;
        let mut k = 0;
        while k < closed.len() && prober.remaining > 0 {
            let mut rest = closed.clone();
            rest.remove(k);
            let (rest, _) = close(&rest, prober);
            if rest.len() >= closed.len() {
                k += 1;
                continue;
            }
            match prober.proves(&rest, u64::MAX) {
                Some(true) => {
                    closed = rest;
                    removed = true;
                }
                verdict => {
                    decided &= verdict.is_some();
                    k += 1;
                }
            }
        }
        if prober.remaining == 0 {
            return (closed, false, true);
        }
        if !removed {
            return (closed, decided, true);
        }
    }
}

/// The words for a witness found by shrinking: the model's, if it explains
/// exactly these operations; else a generic sentence.
fn describe<S: Spec>(spec: &S, ops: &[&Operation], core: &[Pick], minimal: bool) -> String {
    let closed: Vec<usize> = core.iter().filter(|p| !p.1).map(|p| p.0).collect();
    if minimal && closed.len() == core.len() {
        if let Some(explanation) = spec.explain(ops, &closed) {
            let mut cited = explanation.ops.clone();
            cited.sort_unstable();
            if cited == closed {
                return explanation.text;
            }
        }
    }
    generic_explanation(core.len(), minimal)
}

/// Cuts away the earliest-ending operations (binary search), then chunks,
/// then single ones, while the rest is still a proof (see the module
/// documentation), until no single deletion leaves one or the steps run out.
/// Returns the operations left and whether each is known to be needed
/// (every single deletion was tried to the end and left no proof).
fn shrink<S: Spec>(prober: &mut Prober<'_, S>, mut picks: Vec<Pick>) -> (Vec<Pick>, bool) {
    // A violation is usually recent: operations that ended long before the
    // cut often do not matter. So keep only the latest-ending ones (with
    // whatever could matter to them): 1, 2, 4, ... of them until they prove
    // the violation, then the fewest by binary search, since keeping more
    // only proves more. Small sets first, because a probe's cost grows
    // with its size. Operations cut open come first, so they go first.
    let chunk_cap = (prober.remaining / 16).max(10_000);
    picks.sort_by_key(|&(i, open)| {
        let end = if open { None } else { prober.known[i].ret };
        (end.is_some(), end, i)
    });
    let n = picks.len();
    let proves = |prober: &mut Prober<'_, S>, kept: usize| {
        let window = prober.close(&picks[n - kept..]);
        prober.proves(&window, chunk_cap) == Some(true)
    };
    let mut kept = 1;
    while kept < n && !proves(prober, kept) {
        kept = (kept * 2).min(n);
    }
    // Now `kept` proves it (all of them do) and half as many did not.
    let (mut low, mut high) = (kept / 2 + 1, kept);
    while low < high {
        let middle = (low + high) / 2;
        if proves(prober, middle) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    picks = prober.close(&picks[n - high..]);
    let mut chunk = (picks.len() / 2).max(1);
    loop {
        let mut removed = false;
        let mut decided = true;
        let mut start = 0;
        while start < picks.len() && prober.remaining > 0 {
            let end = (start + chunk).min(picks.len());
            let mut rest: Vec<Pick> = picks[..start]
                .iter()
                .chain(&picks[end..])
                .copied()
                .collect();
            // A chunk is deleted with whatever could matter to the rest
            // kept (a cheap probe, with nothing weakened that matters);
            // single operations are deleted outright, weakened.
            let cap = if chunk > 1 {
                rest = prober.close(&rest);
                if rest.len() >= picks.len() {
                    start = end;
                    continue;
                }
                chunk_cap
            } else {
                u64::MAX
            };
            match prober.proves(&rest, cap) {
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
        if prober.remaining == 0 {
            return (picks, false);
        }
        if chunk > 1 {
            chunk /= 2;
        } else if !removed {
            return (picks, decided);
        }
    }
}

/// The sentence for a violation the model does not explain.
fn generic_explanation(count: usize, minimal: bool) -> String {
    let mut text = format!(
        "No order of {} respects real time (an operation that returned before another \
         was invoked comes first) and gives every operation the result it returned, \
         whatever the key's other operations did",
        these(count)
    );
    if minimal && count > 1 {
        text.push_str("; with any one of them of unknown outcome too, an order exists");
    }
    text.push('.');
    if !minimal {
        text.push_str(" Not minimised: the steps allowed for shrinking ran out.");
    }
    text
}
