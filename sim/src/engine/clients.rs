//! The clients' side of a run: operations arriving at processes, answers
//! and timeouts completing them, new ones invoked.

use super::event::Ev;
use super::{Sim, Status};
use crate::node::{Node, Reply, RequestId};
use crate::workload::Rate;
use crate::{NodeId, Time};

impl<N: Node> Sim<N> {
    pub(super) fn arrive(&mut self, req: RequestId) {
        let Some(f) = self.clients.in_flight(req) else {
            return;
        };
        // The generic client hands the operation to its replica; a
        // protocol's client process takes it itself.
        let node = if self.layout.clients > 0 {
            self.layout.client(f.client)
        } else {
            f.node
        };
        if self.status[node] == Status::Paused {
            self.park(node, Ev::Arrive { req });
            return;
        }
        let request = f.request.clone();
        if self.status[node] != Status::Up {
            self.trace
                .rec(self.now, "request_lost")
                .u("req", req)
                .u("node", node as u64)
                .end();
            return;
        }
        self.trace
            .rec(self.now, "request")
            .u("req", req)
            .u("node", node as u64)
            .end();
        self.call(node, |n, c| n.on_request(c, request));
    }

    pub(super) fn answer(&mut self, req: RequestId, reply: Option<&Reply>) {
        let position = match &mut self.positions {
            Some(p) => p.at_reply.remove(&req),
            None => None,
        };
        let Some(done) = self.clients.complete(req, reply, self.now, position) else {
            return;
        };
        let client = done.client;
        self.trace
            .rec(self.now, "complete")
            .u("req", req)
            .u("process", done.process)
            .f("type", &done.kind)
            .f("value", done.value)
            .end();
        if let Rate::Closed { think_us } = self.cfg.workload.rate {
            if self.clients.may_generate(self.now + think_us) && client < self.cfg.workload.clients
            {
                self.push(self.now + think_us, Ev::Wake { client });
            }
        }
        self.try_invoke(client);
    }

    pub(super) fn try_invoke(&mut self, client: usize) {
        let invoked = self.clients.try_invoke(client, self.now);
        self.invoked(client, invoked);
    }

    /// Traces an invocation by `client` (if there was one) and schedules
    /// its arrival at the node and its timeout.
    pub(super) fn invoked(&mut self, client: usize, invoked: Option<(RequestId, NodeId, Time)>) {
        let Some((req, node, lat)) = invoked else {
            return;
        };
        self.stats.ops += 1;
        let r = &self.clients.in_flight(req).expect("just invoked").request;
        self.trace
            .rec(self.now, "invoke")
            .u("req", req)
            .u("process", self.clients.process_of(client))
            .u("node", node as u64)
            .s("f", r.f)
            .f("key", &r.key)
            .f("value", &r.value)
            .end();
        // A protocol's client process is the one invoking: no latency.
        let lat = if self.layout.clients > 0 { 0 } else { lat };
        self.push(self.now + lat, Ev::Arrive { req });
        // Every timeout is "now + the same constant", so they are due in the
        // order they are set: a FIFO beside the queue, merged by (time, seq).
        let seq = self.queue.reserve_seq();
        let at = self.now + self.cfg.workload.timeout_us;
        self.timeouts.push_back((at, seq, req));
    }
}
