//! The engine as the sink of handlers' effects.

use super::event::Ev;
use super::{Halt, Sim, Status};
use crate::layout::Layout;
use crate::node::{Effects, Node, Reply, RequestId};
use crate::{NodeId, Time};

/// The engine as the sink of handlers' effects: each is applied (traced,
/// routed, scheduled) the moment the handler asks for it.
impl<N: Node> Effects<N::Msg, N::Timer> for Sim<N> {
    #[inline]
    fn send(&mut self, node: NodeId, to: NodeId, msg: N::Msg) {
        if !self.halting {
            Sim::send(self, node, to, msg);
        }
    }

    fn set_timer(&mut self, node: NodeId, tag: N::Timer, after: Time) {
        if self.halting {
            return;
        }
        self.timer_gen += 1;
        let gen = self.timer_gen;
        let at = self.now + self.clocks[node].global_span(after);
        self.timers[node].insert(tag.clone(), gen);
        self.push(at, Ev::Timer { node, gen, tag });
    }

    fn cancel_timer(&mut self, node: NodeId, tag: N::Timer) {
        self.timers[node].remove(&tag);
    }

    fn reply(&mut self, node: NodeId, req: RequestId, reply: Reply) {
        if !self.halting && self.clients.in_flight(req).is_some() {
            self.trace
                .rec(self.now, "reply")
                .u("req", req)
                .f("reply", &reply)
                .end();
            // A client process answers its own caller: no trip back.
            let lat = if node >= self.client_base {
                0
            } else {
                self.clients.reply_latency()
            };
            if let Some(p) = &mut self.positions {
                p.pending.push(req);
            }
            self.push(self.now + lat, Ev::Answer { req, reply });
        }
    }

    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn halt(&mut self, node: NodeId, reason: String) {
        if std::mem::replace(&mut self.halting, true) {
            return;
        }
        self.after_call = true;
        self.trace
            .rec(self.now, "halt")
            .u("node", node as u64)
            .s("reason", &reason)
            .end();
        // Its volatile state goes after the handler returns (`after_call`).
        self.stop(node, Status::Halted);
        self.halts.push(Halt {
            node,
            at: self.now,
            reason,
        });
    }
}
