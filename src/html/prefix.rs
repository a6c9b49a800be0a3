//! The longest linearizable prefix of one key's history, as Porcupine
//! shows it: the history cut at an instant (operations invoked by then,
//! those still running left open, as if they had timed out) is
//! linearizable up to some completion and not after the next one.

/// For the operations on `key`: the last completion time up to which the
/// cut history is linearizable, and the completion that breaks it (`None`
/// when the whole key is linearizable or the search ran out of budget).
pub fn longest(
    history: &checker::History,
    model: &checker::Model,
    key: Option<&str>,
    budget: u64,
) -> (Option<u64>, Option<u64>) {
    let ops: Vec<&checker::Operation> = history
        .operations()
        .iter()
        .filter(|o| o.key.as_deref() == key)
        .collect();
    let mut cuts: Vec<u64> = ops
        .iter()
        .filter_map(|o| o.completion.as_ref().map(|c| c.time))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    // Is the history cut at `t` linearizable? Cuts are monotone: a later
    // cut that is linearizable makes every earlier one so.
    let ok = |t: u64| -> Option<bool> {
        let cut: Vec<checker::Operation> = ops
            .iter()
            .filter(|o| o.time <= t)
            .map(|o| {
                let mut o = (*o).clone();
                o.completion = o.completion.filter(|c| c.time <= t);
                o
            })
            .collect();
        let h = checker::History::from_ops(cut).ok()?;
        match checker::check(&h, model, budget).ok()?.verdict {
            checker::Verdict::Linearizable => Some(true),
            checker::Verdict::NotLinearizable => Some(false),
            checker::Verdict::Unknown => None,
        }
    };
    // Binary search for the first cut that is not linearizable.
    let (mut lo, mut hi) = (0usize, cuts.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        match ok(cuts[mid]) {
            Some(true) => lo = mid + 1,
            Some(false) => hi = mid,
            None => return (None, None),
        }
    }
    let good = lo.checked_sub(1).map(|i| cuts[i]);
    (good, cuts.get(lo).copied())
}
