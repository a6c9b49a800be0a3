//! The fault schedule: faults applied, message rules ending, processes
//! stopped, paused and resumed, and whether the network is whole.

use super::event::{Ev, EvOf};
use super::{Sim, Status};
use crate::fault::Fault;
use crate::node::Node;
use crate::NodeId;

impl<N: Node> Sim<N> {
    pub(super) fn apply_fault(&mut self, idx: usize, fault: &Fault) {
        self.trace.rec(self.now, "fault").v("fault", fault).end();
        match fault {
            Fault::Partition { groups } => self.net.partition(groups),
            Fault::PartitionOneWay { from, to } => self.net.cut_one_way(from, to),
            Fault::Heal => self.heal(),
            Fault::Crash { node } => {
                let id = *node;
                if matches!(self.status[id], Status::Up | Status::Paused) {
                    self.stop(id, Status::Down);
                    self.nodes[id].on_crash();
                }
            }
            Fault::Restart { node } => {
                let id = *node;
                if matches!(self.status[id], Status::Down | Status::Halted) {
                    self.status[id] = Status::Up;
                    self.call(id, |n, c| n.on_start(c));
                }
            }
            Fault::Pause { node } => {
                if self.status[*node] == Status::Up {
                    self.status[*node] = Status::Paused;
                }
            }
            Fault::Resume { node } => {
                if self.status[*node] == Status::Paused {
                    self.resume(*node);
                }
            }
            Fault::Message(rule) => {
                if let Some(until) = rule.until_us {
                    self.push(until.max(self.now), Ev::RuleEnd);
                }
                self.rules.add(idx, rule.clone());
                self.refresh_send_hooks();
            }
            Fault::ClockSkew { node, offset_us } => {
                self.clocks[*node].set_skew(self.now, *offset_us)
            }
            Fault::ClockDrift { node, drift_ppm } => {
                self.clocks[*node].set_drift(self.now, *drift_ppm)
            }
            Fault::ClockJump { node, delta_us } => self.clocks[*node].jump(*delta_us),
            Fault::LinkError { from, to } => self.net.inject_error(*from, *to),
            Fault::Loss {
                drop,
                duplicate,
                for_us,
            } => {
                self.net.set_loss(*drop, *duplicate);
                self.loss_burst = true;
                self.push(self.now.saturating_add(*for_us), Ev::LossEnd);
            }
        }
    }

    /// Ends the rules whose time is up (all of them with `all`), traced.
    pub(super) fn expire_rules(&mut self, all: bool) {
        if self.rules.is_empty() {
            return;
        }
        for id in self.rules.expire(self.now, all) {
            self.trace
                .rec(self.now, "rule_end")
                .u("rule", id as u64)
                .end();
        }
        self.refresh_send_hooks();
    }

    /// Notes whether the network is whole again (or no longer).
    pub(super) fn update_calm(&mut self) {
        let whole = !self.loss_burst
            && !self.rules.any_live(self.now)
            && !self.status.contains(&Status::Paused)
            && !self.net.is_partitioned();
        if !whole {
            self.calm_since = None;
        } else if self.calm_since.is_none() {
            self.calm_since = Some(self.now);
        }
    }

    /// Keeps `ev` for paused process `id` until it resumes.
    pub(super) fn park(&mut self, id: NodeId, ev: EvOf<N>) {
        self.stats.parked += 1;
        if let Ev::Deliver { mid, .. } = &ev {
            self.trace.rec(self.now, "park").u("mid", *mid).end();
        }
        self.parked[id].push(ev);
    }

    /// Stops process `id` (a crash or a halt): its connections break, its
    /// timers go, and what waited for it while paused comes due now, to be
    /// dropped as undeliverable.
    pub(super) fn stop(&mut self, id: NodeId, status: Status) {
        self.status[id] = status;
        self.incarnation[id] += 1;
        self.timers[id].clear();
        for ev in std::mem::take(&mut self.parked[id]) {
            self.push(self.now, ev);
        }
    }

    /// Runs paused process `id` again: what waited for it comes due now,
    /// in the order it came due before. On an ordered link the messages
    /// that waited form a [`ReleaseLine`](super::heal::ReleaseLine) as a heal's released ones do: a
    /// message already queued for this moment (sent after them) waits
    /// behind them instead of going first.
    pub(super) fn resume(&mut self, id: NodeId) {
        self.status[id] = Status::Up;
        for ev in std::mem::take(&mut self.parked[id]) {
            if let Ev::Deliver { mid, from, to, .. } = ev {
                if self.net.ordered(from, to) {
                    self.line_up(mid, from, to, self.now);
                }
            }
            self.push(self.now, ev);
        }
    }
}
