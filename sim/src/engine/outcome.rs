//! What a run reports about itself: how each process and the run ended,
//! and its counters.

use serde::Serialize;

use crate::{NodeId, Time};

/// A process that stopped itself ([`Ctx::halt`](crate::node::Ctx::halt)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Halt {
    /// The process.
    pub node: NodeId,
    /// When (global time).
    pub at: Time,
    /// Why, in the protocol's words.
    pub reason: String,
}

/// What a process is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Running.
    Up,
    /// Crashed, waiting for a restart.
    Down,
    /// Frozen: what arrives waits for the resume.
    Paused,
    /// Stopped itself for good (a restart fault can still start it again).
    Halted,
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// Nothing was left to happen.
    Quiescent,
    /// The quiet period after the final heal ended.
    QuietPeriodEnded,
    /// Simulated time reached the bound.
    TimeLimit,
    /// The event count reached the bound.
    EventLimit,
    /// The caller cut the run short between two slices ([`Sim::cut`](super::Sim::cut)).
    Cut,
}

impl StopReason {
    /// True when the run reached its planned end, so end-state checks apply.
    pub fn completed(self) -> bool {
        matches!(self, StopReason::Quiescent | StopReason::QuietPeriodEnded)
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Quiescent => "quiescent",
            StopReason::QuietPeriodEnded => "quiet-period-ended",
            StopReason::TimeLimit => "time-limit",
            StopReason::EventLimit => "event-limit",
            StopReason::Cut => "cut",
        }
    }
}

/// Counters of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Events processed.
    pub events: u64,
    /// Node-to-node messages sent (self-sends included).
    pub sent: u64,
    /// Messages sent by each node.
    pub sent_by_node: Vec<u64>,
    /// Node-to-node messages handed to a node.
    pub delivered: u64,
    /// Lost by the network's drop chance.
    pub lost: u64,
    /// Extra copies made by the duplicate chance.
    pub duplicated: u64,
    /// Dropped because of a partition, a down node or a broken connection.
    pub dropped: u64,
    /// Connection errors reported to senders.
    pub link_errors: u64,
    /// Messages a rule dropped (also counted in `dropped`).
    pub rule_dropped: u64,
    /// Messages from or to a client process (protocol clients only).
    pub client_messages: u64,
    /// Events that waited for a paused process.
    pub parked: u64,
    /// Timers fired.
    pub timers: u64,
    /// Client operations invoked.
    pub ops: u64,
}
