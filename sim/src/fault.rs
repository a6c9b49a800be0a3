//! The fault vocabulary: what a schedule (or a fuzzer) can do to a run.

use serde::Serialize;

use crate::rng::Prob;
use crate::rule::MessageRule;
use crate::{NodeId, Time};

/// One fault. Every fault is an event in the trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Cut every link between different groups (nodes in no group form one
    /// more group). Replaces any earlier partition.
    Partition {
        /// The sides.
        groups: Vec<Vec<NodeId>>,
    },
    /// Cut the links from every node in `from` to every node in `to`, one way.
    PartitionOneWay {
        /// Senders whose messages are cut.
        from: Vec<NodeId>,
        /// Receivers that stop hearing them.
        to: Vec<NodeId>,
    },
    /// Remove every partition and release held messages.
    Heal,
    /// Stop a node; it loses its volatile state.
    Crash {
        /// The node.
        node: NodeId,
    },
    /// Start a crashed (or halted) node again from its durable state.
    Restart {
        /// The node.
        node: NodeId,
    },
    /// Freeze a process (a GC pause, a suspended VM): it runs no handler;
    /// messages to it and its timers wait, its clock runs on.
    Pause {
        /// The process.
        node: NodeId,
    },
    /// Let a paused process run again: what waited is handled in the order
    /// it arrived.
    Resume {
        /// The process.
        node: NodeId,
    },
    /// Put a targeted message rule in force (see [`crate::rule`]).
    Message(MessageRule),
    /// Set a node's clock offset from true time.
    ClockSkew {
        /// The node.
        node: NodeId,
        /// Offset in microseconds (negative: behind).
        offset_us: i64,
    },
    /// Set a node's clock drift.
    ClockDrift {
        /// The node.
        node: NodeId,
        /// Microseconds gained per second.
        drift_ppm: i64,
    },
    /// Step a node's clock at once (it may go backwards).
    ClockJump {
        /// The node.
        node: NodeId,
        /// The step in microseconds.
        delta_us: i64,
    },
    /// The next message on an ordered link fails with a connection error.
    LinkError {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
    },
    /// A burst of loss and duplication on every link for a while.
    Loss {
        /// Chance each message is lost.
        drop: Prob,
        /// Chance each message is duplicated.
        duplicate: Prob,
        /// How long the burst lasts, in microseconds.
        for_us: Time,
    },
}

impl Fault {
    /// The node ids this fault names, for validation.
    pub fn nodes(&self) -> Vec<NodeId> {
        match self {
            Fault::Partition { groups } => groups.iter().flatten().copied().collect(),
            Fault::PartitionOneWay { from, to } => from.iter().chain(to).copied().collect(),
            Fault::Heal | Fault::Loss { .. } => Vec::new(),
            Fault::Message(r) => r
                .matches
                .from
                .iter()
                .chain(&r.matches.to)
                .copied()
                .collect(),
            Fault::Crash { node }
            | Fault::Restart { node }
            | Fault::Pause { node }
            | Fault::Resume { node }
            | Fault::ClockSkew { node, .. }
            | Fault::ClockDrift { node, .. }
            | Fault::ClockJump { node, .. } => vec![*node],
            Fault::LinkError { from, to } => vec![*from, *to],
        }
    }
}

/// A fault and when it happens (global time, microseconds).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScheduledFault {
    /// When.
    pub at: Time,
    /// What.
    pub fault: Fault,
}
