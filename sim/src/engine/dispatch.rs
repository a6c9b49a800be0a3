//! The event loop: taking the next event, dispatching it, running
//! handlers, and knowing when the run ends.

use super::event::{Ev, EvOf};
use super::{Sim, Status, StopReason};
use crate::node::{Ctx, Node};
use crate::workload::Rate;
use crate::{NodeId, Time};

impl<N: Node> Sim<N> {
    /// Runs to the end and says why it stopped.
    pub fn run(&mut self) -> StopReason {
        loop {
            if let Some(r) = self.run_for(u64::MAX) {
                return r;
            }
        }
    }

    /// Runs at most `events` more events: `Some(reason)` once the run has
    /// ended, `None` when the slice ran out first (call again to go on).
    /// However a run is sliced, it is the same run, event for event; the
    /// CLI slices long runs to show progress.
    pub fn run_for(&mut self, events: u64) -> Option<StopReason> {
        if let Some(r) = self.stop {
            return Some(r);
        }
        if !self.started {
            self.begin();
        }
        let limit = self
            .stats
            .events
            .saturating_add(events)
            .min(self.cfg.max_events);
        let reason = loop {
            let at_limit = self.stats.events >= limit;
            if at_limit && limit < self.cfg.max_events {
                return None; // the slice is over, not the run
            }
            let Some((time, ev)) = self.next_event() else {
                break StopReason::Quiescent;
            };
            // One test on the hot path; which bound it was (the event
            // bound, the time bound, the quiet period) is sorted out once.
            if at_limit || time > self.deadline {
                break self.stop_at(time);
            }
            self.now = time;
            self.stats.events += 1;
            // Only client and fault events can finish the workload or the
            // schedule; messages and timers cannot, so they skip the test.
            let may_finish = !matches!(
                ev,
                Ev::Deliver { .. } | Ev::Timer { .. } | Ev::LinkError { .. }
            );
            self.dispatch(ev);
            if may_finish {
                self.maybe_final_heal();
            }
        };
        self.trace
            .rec(self.now, "stop")
            .s("reason", reason.name())
            .end();
        self.stop = Some(reason);
        Some(reason)
    }

    /// Ends a run that is between two slices of [`Sim::run_for`] (its
    /// caller's budget ran out): traced as a `stop` record with reason
    /// `cut`. A run that already ended keeps its own reason.
    pub fn cut(&mut self) -> StopReason {
        if let Some(r) = self.stop {
            return r;
        }
        self.trace
            .rec(self.now, "stop")
            .s("reason", StopReason::Cut.name())
            .end();
        self.stop = Some(StopReason::Cut);
        StopReason::Cut
    }

    /// Starts the run: the start record, the schedule, every process's
    /// `on_start`.
    pub(super) fn begin(&mut self) {
        self.started = true;
        self.trace
            .rec(0, "start")
            .u("seed", self.cfg.seed)
            .u("nodes", self.cfg.nodes as u64)
            .end();
        self.schedule_start();
        for &id in &self.cfg.down_at_start {
            self.status[id] = Status::Down;
        }
        for id in 0..self.nodes.len() {
            if self.status[id] == Status::Up {
                self.call(id, |n, c| n.on_start(c));
            }
        }
        self.maybe_final_heal();
    }

    /// The next event by `(time, seq)`: from the queue, or the timeout of
    /// the oldest request still in flight. The timeout of a request that
    /// already completed is no event: it neither moves time nor keeps a
    /// finished run alive, so it is dropped here without ever being queued.
    #[inline(always)]
    pub(super) fn next_event(&mut self) -> Option<(Time, EvOf<N>)> {
        while let Some(&(time, seq, req)) = self.timeouts.front() {
            if self.clients.in_flight(req).is_none() {
                self.timeouts.pop_front();
                continue;
            }
            if self.queue.first_is_before(time, seq) {
                break;
            }
            self.timeouts.pop_front();
            return Some((time, Ev::Timeout { req }));
        }
        self.queue.pop()
    }

    /// Why the run stops when the next event, at `time`, is past a bound.
    pub(super) fn stop_at(&mut self, time: Time) -> StopReason {
        if let Some(h) = self.final_heal_at {
            let end = h.saturating_add(self.cfg.quiet_us);
            if time > end {
                self.now = end;
                return StopReason::QuietPeriodEnded;
            }
        }
        if time > self.cfg.max_time_us {
            self.now = self.cfg.max_time_us;
            return StopReason::TimeLimit;
        }
        StopReason::EventLimit
    }

    pub(super) fn schedule_start(&mut self) {
        for idx in 0..self.cfg.faults.len() {
            let at = self.cfg.faults[idx].at;
            self.push(at, Ev::Fault { idx });
        }
        for idx in 0..self.cfg.workload.script.len() {
            let at = self.cfg.workload.script[idx].at;
            self.push(at, Ev::Script { idx });
        }
        let start = self.cfg.workload.start_us;
        if self.clients.may_generate(start) {
            match self.cfg.workload.rate {
                Rate::Open { .. } | Rate::Stagger { .. } => self.push(start, Ev::Tick),
                Rate::Closed { .. } => {
                    for client in 0..self.cfg.workload.clients {
                        self.push(start, Ev::Wake { client });
                    }
                }
            }
        }
    }

    /// Once the clients and the fault schedule are done, heal everything and
    /// start the quiet period.
    #[inline]
    pub(super) fn maybe_final_heal(&mut self) {
        if self.final_heal_at.is_some()
            || !self.cfg.final_heal
            || self.faults_left > 0
            || !self.clients.done(self.now)
        {
            return;
        }
        self.final_heal_at = Some(self.now);
        self.deadline = self
            .deadline
            .min(self.now.saturating_add(self.cfg.quiet_us));
        self.push(self.now, Ev::FinalHeal);
    }

    pub(super) fn dispatch(&mut self, ev: Ev<N::Msg, N::Timer>) {
        match ev {
            Ev::Deliver {
                mid,
                from,
                to,
                inc,
                msg,
            } => self.deliver(mid, from, to, inc, msg),
            Ev::LinkError { from, to, inc, msg } => {
                if self.status[from] == Status::Paused {
                    self.park(from, Ev::LinkError { from, to, inc, msg });
                } else if self.status[from] == Status::Up && self.incarnation[from] == inc {
                    self.trace
                        .rec(self.now, "link_error")
                        .u("from", from as u64)
                        .u("to", to as u64)
                        .end();
                    self.stats.link_errors += 1;
                    self.call(from, |n, c| n.on_link_error(c, to, msg));
                }
            }
            Ev::Timer { node, gen, tag } => {
                if self.timers[node].get(&tag) == Some(&gen) {
                    if self.status[node] == Status::Paused {
                        self.park(node, Ev::Timer { node, gen, tag });
                        return;
                    }
                    self.timers[node].remove(&tag);
                    self.stats.timers += 1;
                    self.trace
                        .rec(self.now, "timer")
                        .u("node", node as u64)
                        .v("tag", &tag)
                        .end();
                    self.call(node, |n, c| n.on_timer(c, tag));
                }
            }
            Ev::Arrive { req } => self.arrive(req),
            Ev::Answer { req, reply } => self.answer(req, Some(&reply)),
            Ev::Timeout { req } => self.answer(req, None),
            Ev::Script { idx } => {
                let c = self.clients.queue_script(idx);
                self.try_invoke(c);
            }
            Ev::Tick => {
                if self.clients.may_generate(self.now) {
                    let c = self.clients.next_open_client();
                    let invoked = self.clients.generate_for(c, self.now);
                    self.invoked(c, invoked);
                    let next = match self.cfg.workload.rate {
                        Rate::Open { interval_us } => Some(interval_us),
                        Rate::Stagger { mean_us } => {
                            Some(self.stagger_rng.below(mean_us.saturating_mul(2).max(1)))
                        }
                        Rate::Closed { .. } => None,
                    };
                    if let Some(after) = next {
                        if self.clients.may_generate(self.now + after) {
                            self.push(self.now + after, Ev::Tick);
                        }
                    }
                }
            }
            Ev::Wake { client } => {
                if self.clients.may_generate(self.now) {
                    let invoked = self.clients.generate_for(client, self.now);
                    self.invoked(client, invoked);
                }
            }
            Ev::Fault { idx } => {
                self.faults_left -= 1;
                let fault = self.cfg.faults[idx].fault.clone();
                self.apply_fault(idx, &fault);
                self.update_calm();
            }
            Ev::TcpTimeout { from, to, gen } => self.tcp_timeout(from, to, gen),
            Ev::LossEnd => {
                self.trace.rec(self.now, "loss_end").end();
                self.net.restore_loss();
                self.loss_burst = false;
                self.update_calm();
            }
            Ev::RuleEnd => {
                self.expire_rules(false);
                self.update_calm();
            }
            Ev::FinalHeal => {
                self.trace.rec(self.now, "final_heal").end();
                self.net.restore_loss();
                self.loss_burst = false;
                self.expire_rules(true);
                self.heal();
                for id in 0..self.status.len() {
                    if self.status[id] == Status::Paused {
                        self.resume(id);
                    }
                }
                self.update_calm();
            }
        }
    }

    /// Runs one handler of node `id`; the engine applies each effect as the
    /// handler asks for it (see [`Effects`](crate::node::Effects)).
    pub(super) fn call(&mut self, id: NodeId, f: impl FnOnce(&mut N, &mut Ctx<'_, N>)) {
        let local = self.clocks[id].local(self.now);
        // The handler borrows its node and its random stream while the engine
        // is the effect sink: both vectors step out of `self` for the call
        // (moving a Vec moves three words). Nothing reads them meanwhile.
        let mut nodes = std::mem::take(&mut self.nodes);
        let mut rngs = std::mem::take(&mut self.node_rngs);
        {
            let mut ctx = Ctx::new(id, self.cfg.nodes, local, &mut rngs[id], self);
            f(&mut nodes[id], &mut ctx);
        }
        // What is put back is the empty vectors `take` left: they never
        // allocated, so forgetting them frees nothing (and skips two calls
        // to Vec's destructor per handler).
        std::mem::forget(std::mem::replace(&mut self.nodes, nodes));
        std::mem::forget(std::mem::replace(&mut self.node_rngs, rngs));
        if self.after_call {
            self.after_call(id);
        }
    }

    /// What follows a handler when something must: a halt finished (the
    /// process loses its volatile state), positions followed.
    #[cold]
    #[inline(never)]
    pub(super) fn after_call(&mut self, id: NodeId) {
        if std::mem::take(&mut self.halting) {
            self.nodes[id].on_crash();
        } else if let Some(p) = &mut self.positions {
            if id < p.last.len() {
                p.observe(id, self.now, &self.nodes[id]);
            }
        }
        self.after_call = self.positions.is_some();
    }
}
