//! Replaying an account's events into a balance, by the original's rules.

use sim::Time;

use super::{Dir, Event};

/// Why a replay skipped a withdrawal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The running balance was zero or less.
    BelowZero,
    /// The running balance was positive but short.
    NotLargeEnough,
}

impl Reason {
    /// The original's wording.
    pub fn text(self) -> &'static str {
        match self {
            Reason::BelowZero => "below 0",
            Reason::NotLargeEnough => "not large enough",
        }
    }
}

/// A cancelled withdrawal's reason and the event blamed for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancel {
    /// Why.
    pub reason: Reason,
    /// The id of the last earlier-replayed event whose balance fell short.
    pub cause: Option<u64>,
}

/// What one replay decided for one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The event's id.
    pub id: u64,
    /// Deposit or withdrawal.
    pub dir: Dir,
    /// Amount.
    pub amount: i64,
    /// Timestamp.
    pub ts: Time,
    /// `None` when applied; the cancellation otherwise.
    pub cancelled: Option<Cancel>,
    /// The running balance after this event.
    pub balance: i64,
}

/// The outcome of replaying an account's events in some order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replay {
    /// The final balance.
    pub balance: i64,
    /// Every event, in replay order.
    pub steps: Vec<Step>,
}

impl Replay {
    /// Replays `events` in the order given, by the original's rules, but
    /// with a blame search that considers every earlier event (the
    /// original's skips the first: see [`Replay::as_coded`]).
    pub fn of<'a>(events: impl IntoIterator<Item = &'a Event>) -> Replay {
        Replay::blaming(events, 0)
    }

    /// Replays `events` in the order given exactly as node_bank's
    /// `getvalue` does, including its blame search,
    /// `range(item_index - 1, 0, -1)`, which stops before the first
    /// replayed event: a withdrawal whose only short predecessor is the
    /// first event is cancelled "not large enough" with nobody blamed.
    pub fn as_coded<'a>(events: impl IntoIterator<Item = &'a Event>) -> Replay {
        Replay::blaming(events, 1)
    }

    /// The replay, blaming only events at replay position `first` or later.
    fn blaming<'a>(events: impl IntoIterator<Item = &'a Event>, first: usize) -> Replay {
        let mut r = Replay::default();
        for e in events {
            let cancelled = match e.dir {
                Dir::Deposit => {
                    r.balance = r.balance.saturating_add(e.amount);
                    None
                }
                Dir::Withdraw if r.balance >= e.amount => {
                    r.balance = r.balance.saturating_sub(e.amount);
                    None
                }
                Dir::Withdraw if r.balance <= 0 => Some(Cancel {
                    reason: Reason::BelowZero,
                    cause: None,
                }),
                Dir::Withdraw => Some(Cancel {
                    reason: Reason::NotLargeEnough,
                    cause: r
                        .steps
                        .get(first..)
                        .unwrap_or_default()
                        .iter()
                        .rev()
                        .find(|s| s.balance < e.amount)
                        .map(|s| s.id),
                }),
            };
            r.steps.push(Step {
                id: e.id,
                dir: e.dir,
                amount: e.amount,
                ts: e.ts,
                cancelled,
                balance: r.balance,
            });
        }
        r
    }

    /// Replays `events` oldest first, ties by id: the intended semantics.
    pub fn oldest_first<'a>(events: impl IntoIterator<Item = &'a Event>) -> Replay {
        let mut v: Vec<&Event> = events.into_iter().collect();
        v.sort_by_key(|e| (e.ts, e.id));
        Replay::of(v)
    }

    /// Ids of withdrawals this replay honoured.
    pub fn honoured(&self) -> Vec<u64> {
        self.withdrawals(false)
    }

    /// Ids of withdrawals this replay cancelled.
    pub fn cancelled(&self) -> Vec<u64> {
        self.withdrawals(true)
    }

    fn withdrawals(&self, cancelled: bool) -> Vec<u64> {
        self.steps
            .iter()
            .filter(|s| s.dir == Dir::Withdraw && s.cancelled.is_some() == cancelled)
            .map(|s| s.id)
            .collect()
    }
}
