//! The events of the queue.

use crate::node::{Node, Reply, RequestId};
use crate::NodeId;

pub(super) enum Ev<M, T> {
    Deliver {
        mid: u64,
        from: NodeId,
        to: NodeId,
        inc: u32,
        msg: M,
    },
    LinkError {
        from: NodeId,
        to: NodeId,
        inc: u32,
        msg: M,
    },
    Timer {
        node: NodeId,
        gen: u64,
        tag: T,
    },
    Arrive {
        req: RequestId,
    },
    Answer {
        req: RequestId,
        reply: Reply,
    },
    Timeout {
        req: RequestId,
    },
    Script {
        idx: usize,
    },
    Tick,
    Wake {
        client: usize,
    },
    Fault {
        idx: usize,
    },
    LossEnd,
    RuleEnd,
    FinalHeal,
    /// A link that stalled on a partition reaches its TCP timeout (if the
    /// stall `gen` is still the link's).
    TcpTimeout {
        from: NodeId,
        to: NodeId,
        gen: u64,
    },
}

impl<M, T> Ev<M, T> {
    /// The delivery of message `mid` to `to` (incarnation `inc`).
    #[inline(always)]
    pub(super) fn deliver(mid: u64, from: NodeId, to: NodeId, inc: u32, msg: M) -> Self {
        Ev::Deliver {
            mid,
            from,
            to,
            inc,
            msg,
        }
    }
}

/// The event type of a run over nodes `N`.
pub(super) type EvOf<N> = Ev<<N as Node>::Msg, <N as Node>::Timer>;
