//! What a node records for the checks and the run's notes: its sync
//! phases, counters, and the first few notable moments. All of it survives
//! a crash; none of it affects the run.

use serde::Serialize;
use sim::{NodeId, Time, MS};

use super::Var;

/// How a sync phase ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseEnd {
    /// Still in sync or ready.
    Open,
    /// Back to work at this local time (µs).
    Work(Time),
    /// The node crashed during it.
    Crash,
}

/// One stretch of time a node spent out of work mode (sync or ready).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Phase {
    /// When it left work, on its own clock (µs).
    pub entered: Time,
    /// How it ended.
    pub end: PhaseEnd,
}

/// A moment worth showing in a check's evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Note {
    /// A variable_update for an op already held was counted again.
    DoubleCounted {
        /// Local time (µs).
        at: Time,
        /// The op's origin.
        from: NodeId,
        /// Its variable.
        var: Var,
        /// Its nonce.
        nonce: u64,
        /// Its delta.
        delta: i64,
    },
    /// A variable_update named a nonce already held for another op (the
    /// sender restarted its nonces): the slot is overwritten and the delta
    /// added on top.
    NonceReused {
        /// Local time (µs).
        at: Time,
        /// The op's origin.
        from: NodeId,
        /// Its variable.
        var: Var,
        /// Its nonce.
        nonce: u64,
        /// The delta held before.
        old: i64,
        /// The delta received.
        new: i64,
    },
    /// An update landed in an empty slot after this node's reset had
    /// already folded that op (same sender, nonce and delta, made before
    /// that reset) into the baseline: it is counted twice.
    Refolded {
        /// Local time (µs).
        at: Time,
        /// The op's origin.
        from: NodeId,
        /// Its variable.
        var: Var,
        /// Its nonce.
        nonce: u64,
        /// Its delta.
        delta: i64,
        /// When this node's reset folded it (local time, µs).
        reset_at: Time,
    },
    /// A sync_data replaced this node's baseline with the sender's.
    BaselineReplaced {
        /// Local time (µs).
        at: Time,
        /// The sender.
        from: NodeId,
        /// The variable.
        var: Var,
        /// The baseline before.
        old: i64,
        /// The sender's baseline, now this node's.
        new: i64,
        /// The sender's ops it came with (they replace the sender's record).
        ops: usize,
    },
    /// A sync_data replaced this node's record of a peer's ops with a
    /// history that lacks some of them (a restarted peer's, faithful).
    HistoryReplaced {
        /// Local time (µs).
        at: Time,
        /// The sender.
        from: NodeId,
        /// Its variable.
        var: Var,
        /// Ops held before that the new history lacks or changes.
        lost: usize,
        /// Their deltas' sum.
        lost_sum: i64,
    },
    /// A nonce_request named nonces this node does not hold, so the
    /// handler raised and sent no reply (faithful; the first one only).
    Unanswered {
        /// Local time (µs).
        at: Time,
        /// The requester.
        from: NodeId,
        /// Its variable.
        var: Var,
        /// Nonces asked for.
        asked: usize,
        /// The lowest nonce asked for that this node lacks.
        first_lacking: u64,
        /// How many of the asked nonces it lacks.
        lacking: usize,
        /// Whether it holds the variable at all.
        has_var: bool,
    },
    /// The node started again after a crash.
    Restarted {
        /// Local time (µs).
        at: Time,
        /// Intended: its op log survived (durable state); faithful: nothing did.
        durable: bool,
    },
    /// A ready phase reset with no stop_sync received from anyone.
    VacuousReset {
        /// Local time (µs).
        at: Time,
    },
    /// Some variables reset while others still disagreed.
    PartialReset {
        /// Local time (µs).
        at: Time,
        /// Variables reset.
        reset: usize,
        /// Variables that did not match.
        waiting: usize,
    },
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |t: Time| format!("{}.{} ms", t / MS, (t % MS) / 100);
        match *self {
            Note::DoubleCounted {
                at,
                from,
                var,
                nonce,
                delta,
            } => write!(
                f,
                "at {} counted n{from}'s op (key {var}, nonce {nonce}, {delta:+}) a second time",
                ms(at)
            ),
            Note::NonceReused { at, from, var, nonce, old, new } => write!(
                f,
                "at {} got n{from}'s key {var} nonce {nonce} ({new:+}) while holding {old:+} there: overwritten, {new:+} added on top",
                ms(at)
            ),
            Note::Refolded { at, from, var, nonce, delta, reset_at } => write!(
                f,
                "at {} counted n{from}'s delayed update (key {var}, nonce {nonce}, {delta:+}), made before the reset that at {} had already folded it into the baseline: counted twice",
                ms(at),
                ms(reset_at)
            ),
            Note::BaselineReplaced { at, from, var, old, new, ops } => write!(
                f,
                "at {} took n{from}'s sync_data for key {var}: baseline {old} replaced by {new}, and n{from}'s ops by its {ops} op(s)",
                ms(at)
            ),
            Note::HistoryReplaced { at, from, var, lost, lost_sum } => write!(
                f,
                "at {} replaced its record of n{from}'s key {var} ops with n{from}'s sync_data history, which lacks {lost} of them ({lost_sum:+}): gone for good",
                ms(at)
            ),
            Note::Unanswered { at, from, var, asked, first_lacking, lacking, has_var } => {
                let why = if has_var {
                    format!("it lacks nonce {first_lacking} ({lacking} of the {asked} asked for)")
                } else {
                    format!("it holds no key {var} at all ({asked} nonce(s) asked for)")
                };
                write!(
                    f,
                    "at {} sent no reply to n{from}'s nonce_request for key {var}: {why}; the handler's lookup raised",
                    ms(at)
                )
            }
            Note::Restarted { at, durable: false } => write!(
                f,
                "restarted at {} with nothing: no ops, no peers, nonces and baseline at 0",
                ms(at)
            ),
            Note::Restarted { at, durable: true } => write!(
                f,
                "restarted at {} from its durable state (op log, nonces, epoch, sync round)",
                ms(at)
            ),
            Note::VacuousReset { at } => {
                write!(f, "at {} reset with no stop_sync from any peer", ms(at))
            }
            Note::PartialReset { at, reset, waiting } => write!(
                f,
                "at {} reset {reset} variable(s) while {waiting} still disagreed",
                ms(at)
            ),
        }
    }
}

/// How many notes a node keeps.
const NOTES_KEPT: usize = 8;

/// Things a node counts for the checks' evidence; they survive crashes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodeStats {
    /// start_sync messages sent.
    pub start_sync_sent: u64,
    /// Variable resets.
    pub resets: u64,
    /// Ready phases that ended with no stop_sync received from anyone.
    pub vacuous_agreements: u64,
    /// variable_update applied on top of an op already held at that nonce.
    pub double_counted: u64,
    /// Messages dropped for being over `max_message_bytes`.
    pub oversize_dropped: u64,
    /// nonce_request left unanswered (an unknown nonce).
    pub unanswered_requests: u64,
    /// Crashes (each restart starts from what survived).
    pub crashes: u64,
    /// nonce_send dropped (no op map for the sender yet).
    pub nonce_sends_dropped: u64,
    /// TCP messages lost because they arrived while the listener thread
    /// slept in a start_sync handler.
    pub listener_lost: u64,
    /// When the first of them arrived (local time, µs).
    pub listener_lost_first: Option<Time>,
    /// start_sync receipts handled (each one sleeps, then re-floods).
    pub start_sync_handled: u64,
    /// Sync passes that found no max-nonce dict from a peer: per peer, the
    /// first and the last such pass (local time, µs) and how many.
    pub dictless_passes: std::collections::BTreeMap<NodeId, (Time, Time, u64)>,
    /// The first few notable moments.
    pub notes: Vec<Note>,
}

impl NodeStats {
    /// A sync pass at `at` found no max-nonce dict from `peer`.
    pub(super) fn dictless(&mut self, peer: NodeId, at: Time) {
        let e = self.dictless_passes.entry(peer).or_insert((at, at, 0));
        e.1 = at;
        e.2 += 1;
    }

    pub(super) fn note(&mut self, n: Note) {
        if self.notes.len() < NOTES_KEPT {
            self.notes.push(n);
        }
    }
}
