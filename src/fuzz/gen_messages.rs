//! The `fuzz.messages` generator: one targeted message rule at a time, each
//! in force for a drawn window, then a calm interval before the next.
//!
//! Each episode draws, in this order and whatever the action turns out to
//! be: the window, the kind, the action, the target (any link, one sender
//! or one receiver), the sender or receiver, whether the rule takes only
//! the first matching message, the extra copies and the added delay. A
//! fixed number of draws per rule keeps one rule's choices from shifting
//! the next rule's.

use sim::{Prob, Rng};

use super::timeline;
use crate::scenario::raw::{
    NodeRef, RawFault, RawFuzz, RawFuzzMessages, RawMessageRule, RawRuleAction,
};

/// Appends the rules of `m` over `n` replicas to `out`. Without kinds (an
/// unresolved block), rules match every kind.
pub(super) fn rules(
    f: &RawFuzz,
    m: &RawFuzzMessages,
    n: usize,
    rng: &mut Rng,
    out: &mut Vec<RawFault>,
) {
    if m.actions.is_empty() || n == 0 {
        return;
    }
    let kinds = m.kinds.as_deref().unwrap_or(&[]);
    let once = Prob::from_f64(m.occurrence).unwrap_or(Prob::ZERO);
    timeline(f, m.interval_ms, rng, |rng, t| {
        let window = rng.range(m.window_ms[0], m.window_ms[1]);
        let msg = pick(kinds, rng).cloned();
        let action = *pick(&m.actions, rng).expect("actions are not empty");
        let target = rng.below(3);
        let node = vec![NodeRef::Id(rng.below(n as u64))];
        let occurrence = rng.chance(once).then_some(1);
        let copies = rng.range(u64::from(m.copies[0]), u64::from(m.copies[1])) as u32;
        let delay_ms = rng.range(m.delay_ms[0], m.delay_ms[1]);
        let until_ms = t.saturating_add(window);
        let (from, to) = match target {
            0 => (Vec::new(), Vec::new()),
            1 => (node, Vec::new()),
            _ => (Vec::new(), node),
        };
        out.push(RawFault::Message(RawMessageRule {
            at_ms: t,
            until_ms: Some(until_ms),
            from,
            to,
            msg,
            where_: None,
            occurrence,
            action,
            copies: (action == RawRuleAction::Duplicate).then_some(copies),
            delay_ms: (action == RawRuleAction::Delay).then_some(delay_ms),
            // What the rule holds is released together when it ends.
            hold_until_ms: (action == RawRuleAction::Hold).then_some(until_ms),
        }));
        window
    });
}

/// One item of `items`, drawn (a draw is made even when there is none).
fn pick<'a, T>(items: &'a [T], rng: &mut Rng) -> Option<&'a T> {
    let i = rng.below(items.len().max(1) as u64) as usize;
    items.get(i)
}
