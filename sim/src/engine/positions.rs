//! Following the replicas' applied positions and digests during a run
//! (the agreement and monotonic-reads checks).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::node::{Digest, Node, RequestId};
use crate::{NodeId, Time};

/// One replica's state at a position, as the agreement tracker saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PositionState {
    /// The replica.
    pub node: NodeId,
    /// When it reached the position (global time).
    pub at: Time,
    /// Its digest there.
    pub digest: Digest,
}

/// The first position at which two replicas held different states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// The applied position.
    pub position: u64,
    /// The first replica seen there.
    pub first: PositionState,
    /// A replica that differed from it.
    pub second: PositionState,
}

/// Applied positions and digests of the replicas, followed during a run.
pub(super) struct Positions {
    /// Each replica's position after its last handler.
    pub(super) last: Vec<Option<u64>>,
    /// The first state seen at each position.
    pub(super) seen: BTreeMap<u64, PositionState>,
    pub(super) divergence: Option<Divergence>,
    /// Requests answered by the handler running now.
    pub(super) pending: Vec<RequestId>,
    /// The answering replica's position, by request.
    pub(super) at_reply: BTreeMap<RequestId, u64>,
}

impl Positions {
    pub(super) fn new(replicas: usize) -> Positions {
        Positions {
            last: vec![None; replicas],
            seen: BTreeMap::new(),
            divergence: None,
            pending: Vec::new(),
            at_reply: BTreeMap::new(),
        }
    }

    /// After a handler of replica `id`: its position for the replies it
    /// made, and its state if it reached a new position.
    pub(super) fn observe<N: Node>(&mut self, id: NodeId, now: Time, node: &N) {
        let pos = node.applied();
        for req in self.pending.drain(..) {
            if let Some(p) = pos {
                self.at_reply.insert(req, p);
            }
        }
        if pos == self.last[id] {
            return;
        }
        self.last[id] = pos;
        let Some(pos) = pos else { return };
        let here = PositionState {
            node: id,
            at: now,
            digest: node.digest(),
        };
        match self.seen.entry(pos) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(here);
            }
            std::collections::btree_map::Entry::Occupied(e) => {
                if e.get().digest != here.digest && self.divergence.is_none() {
                    self.divergence = Some(Divergence {
                        position: pos,
                        first: e.get().clone(),
                        second: here,
                    });
                }
            }
        }
    }
}
