//! Messages between processes: sending (routing, connection errors,
//! copies, message rules) and delivering.

use super::event::Ev;
use super::heal::Held;
use super::{Sim, Status};
use crate::network::{Fate, PartitionMode};
use crate::node::Node;
use crate::rule::{kind_of, RuleAction};
use crate::{NodeId, Time};

impl<N: Node> Sim<N> {
    pub(super) fn send(&mut self, from: NodeId, to: NodeId, msg: N::Msg) {
        self.stats.sent += 1;
        self.stats.sent_by_node[from] += 1;
        if from.max(to) >= self.client_base {
            self.stats.client_messages += 1;
        }
        let mid = self.stats.sent + self.copies;
        // Rules and kind collection cost one test when there are none.
        let taken = if self.send_hooks {
            self.send_hooks(from, to, &msg)
        } else {
            None
        };
        let n = self.nodes_len();
        if self.net.ordered(from, to) {
            // A connection breaks once when armed to, and once after each
            // restart of the receiver (the old connection is gone).
            let broke =
                self.net.take_error(from, to) || self.conn[from * n + to] != self.incarnation[to];
            if broke {
                self.conn[from * n + to] = self.incarnation[to];
                self.trace
                    .rec(self.now, "send")
                    .u("mid", mid)
                    .u("from", from as u64)
                    .u("to", to as u64)
                    .v("msg", &msg)
                    .s("fate", "connection-error")
                    .end();
                let inc = self.incarnation[from];
                self.push(self.now, Ev::LinkError { from, to, inc, msg });
                return;
            }
        }
        if let Some(t) = taken {
            return self.send_by_rule(mid, from, to, msg, t.rule, t.action);
        }
        let fate = self.net.route(self.now, from, to, &mut self.net_rng);
        let rec = self
            .trace
            .rec(self.now, "send")
            .u("mid", mid)
            .u("from", from as u64)
            .u("to", to as u64)
            .v("msg", &msg);
        let inc = self.incarnation[to];
        let deliver = |msg| Ev::deliver(mid, from, to, inc, msg);
        match fate {
            Fate::Lost => {
                rec.s("fate", "lost").end();
                self.stats.lost += 1;
            }
            Fate::Deliver(at) => {
                rec.u("at", at).end();
                self.push(at, deliver(msg));
            }
            Fate::Twice(at, again) => {
                rec.u("at", at).end();
                self.stats.duplicated += 1;
                self.push(at, deliver(msg.clone()));
                let copy = self.copy_of(mid, again);
                self.push(again, Ev::deliver(copy, from, to, inc, msg));
            }
        }
    }

    /// A fresh id for an extra copy of message `of`, due `at`, traced as a
    /// `copy` record.
    #[cold]
    #[inline(never)]
    pub(super) fn copy_of(&mut self, of: u64, at: Time) -> u64 {
        self.copies += 1;
        let mid = self.stats.sent + self.copies;
        self.trace
            .rec(self.now, "copy")
            .u("mid", mid)
            .u("of", of)
            .u("at", at)
            .end();
        mid
    }

    /// Sends a message a rule took: traced as `send` with the rule's
    /// number and action, then dropped, duplicated, delayed or held.
    pub(super) fn send_by_rule(
        &mut self,
        mid: u64,
        from: NodeId,
        to: NodeId,
        msg: N::Msg,
        rule: usize,
        action: RuleAction,
    ) {
        let inc = self.incarnation[to];
        // The network's own latency, without its loss or duplication: the
        // rule decides this message's fate.
        let natural = |this: &mut Self| {
            let lat = if from == to {
                0
            } else {
                this.net.link(from, to).latency.sample(&mut this.net_rng)
            };
            this.now + lat
        };
        let ats: Vec<Time> = match action {
            RuleAction::Drop => Vec::new(),
            RuleAction::Duplicate { copies } => {
                (0..=copies as usize).map(|_| natural(self)).collect()
            }
            RuleAction::Delay { by_us } => vec![natural(self).saturating_add(by_us)],
            RuleAction::Hold { until_us } => vec![natural(self).max(until_us)],
        };
        let mut rec = self
            .trace
            .rec(self.now, "send")
            .u("mid", mid)
            .u("from", from as u64)
            .u("to", to as u64)
            .v("msg", &msg)
            .u("rule", rule as u64)
            .s("fate", action.name());
        if let Some(&at) = ats.first() {
            rec = rec.u("at", at);
        }
        rec.end();
        if ats.is_empty() {
            self.stats.dropped += 1;
            self.stats.rule_dropped += 1;
        }
        self.stats.duplicated += ats.len().saturating_sub(1) as u64;
        let mut last = 0;
        for (i, at) in ats.iter().enumerate() {
            // Each extra copy is a message of its own (its own id).
            let id = if i == 0 { mid } else { self.copy_of(mid, *at) };
            // On an ordered link, copies keep their order and hold up what
            // follows them.
            let at = if self.net.ordered(from, to) {
                (*at).max(last)
            } else {
                *at
            };
            last = at;
            self.net.hold_line(from, to, at);
            if i + 1 == ats.len() {
                self.push(at, Ev::deliver(id, from, to, inc, msg));
                break;
            }
            self.push(at, Ev::deliver(id, from, to, inc, msg.clone()));
        }
        if !self.rules.any_live(self.now) {
            self.expire_rules(false);
            self.update_calm();
        }
    }

    /// Notes the message's kind (a probe run) and asks the rules in force
    /// what to do with it.
    #[cold]
    #[inline(never)]
    pub(super) fn send_hooks(
        &mut self,
        from: NodeId,
        to: NodeId,
        msg: &N::Msg,
    ) -> Option<crate::rule::Taken> {
        if let Some(kinds) = &mut self.kinds {
            let json = serde_json::to_value(msg).unwrap_or_default();
            if let Some(k) = kind_of(&json).0 {
                if !kinds.contains(k) {
                    kinds.insert(k.to_string());
                }
            }
        }
        if self.rules.is_empty() {
            None
        } else {
            self.rules.apply(self.now, from, to, msg)
        }
    }

    /// Keeps `send_hooks` true exactly while a send needs them.
    pub(super) fn refresh_send_hooks(&mut self) {
        self.send_hooks = self.kinds.is_some() || !self.rules.is_empty();
    }

    #[inline]
    pub(super) fn deliver(&mut self, mid: u64, from: NodeId, to: NodeId, inc: u32, msg: N::Msg) {
        if !self.released.is_empty() {
            return self.deliver_after_heal(mid, from, to, inc, msg);
        }
        self.deliver_now(mid, from, to, inc, msg);
    }

    /// Delivers message `mid` now, or parks, holds or drops it.
    #[inline(always)]
    pub(super) fn deliver_now(
        &mut self,
        mid: u64,
        from: NodeId,
        to: NodeId,
        inc: u32,
        msg: N::Msg,
    ) {
        let ordered = self.net.ordered(from, to);
        let reason = if self.status[to] != Status::Up {
            match self.status[to] {
                Status::Paused => {
                    self.park(to, Ev::deliver(mid, from, to, inc, msg));
                    return;
                }
                Status::Halted => Some("halted"),
                _ => Some("down"),
            }
        } else if ordered && inc != self.incarnation[to] {
            Some("connection-reset")
        } else if self.net.is_cut(from, to) {
            let tcp = self.net.partition_mode == PartitionMode::Tcp && ordered;
            if tcp {
                self.stall(from, to);
            }
            if tcp || self.net.partition_mode == PartitionMode::Hold {
                self.trace.rec(self.now, "hold").u("mid", mid).end();
                self.held.push(Held {
                    mid,
                    from,
                    to,
                    inc,
                    msg,
                });
                return;
            }
            Some("partition")
        } else {
            None
        };
        if let Some(reason) = reason {
            self.stats.dropped += 1;
            self.trace
                .rec(self.now, "drop")
                .u("mid", mid)
                .s("reason", reason)
                .end();
            // Maelstrom's receivers discard in silence.
            let silent =
                reason == "partition" && self.net.partition_mode == PartitionMode::Receiver;
            if ordered && !silent {
                let inc = self.incarnation[from];
                self.push(self.now, Ev::LinkError { from, to, inc, msg });
            }
            return;
        }
        self.stats.delivered += 1;
        self.trace
            .rec(self.now, "deliver")
            .u("mid", mid)
            .u("from", from as u64)
            .u("to", to as u64)
            .end();
        self.call(to, |n, c| n.on_message(c, from, msg));
    }
}
