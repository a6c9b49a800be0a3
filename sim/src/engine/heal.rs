//! Messages that meet a partition in `hold` and `tcp` modes: held, stalled
//! links timing out, and the heal that releases them in order.

use super::event::Ev;
use super::Sim;
use crate::node::Node;
use crate::{NodeId, Time};

pub(super) struct Held<M> {
    pub(super) mid: u64,
    pub(super) from: NodeId,
    pub(super) to: NodeId,
    pub(super) inc: u32,
    pub(super) msg: M,
}

/// The messages a heal (or a resume) released on one ordered link, until the last of
/// them comes due. The link's order is kept here, not by the event queue:
/// a message that comes due on the link meanwhile (one in flight at the
/// heal) joins `waiting`, and the waiting messages are delivered right
/// after the last released one, in the order they came due, in the same
/// step. Queued again instead, at the line's time, a waiting message would
/// go after anything already queued for that time, such as a message sent
/// after the heal on the same link (the order of the queue's ties is the
/// order of pushes).
pub(super) struct ReleaseLine<M> {
    /// Released messages not yet due.
    pub(super) pending: usize,
    /// When the last of them is due.
    pub(super) last: Time,
    /// What came due on the link before them, oldest first.
    pub(super) waiting: Vec<Held<M>>,
}

impl<N: Node> Sim<N> {
    /// Delivers message `mid` while a heal's released messages are pending
    /// on some ordered link: on its own link, a message that is not one of
    /// them waits in the line ([`ReleaseLine`]); the last of them brings
    /// what waited behind it.
    #[cold]
    #[inline(never)]
    pub(super) fn deliver_after_heal(
        &mut self,
        mid: u64,
        from: NodeId,
        to: NodeId,
        inc: u32,
        msg: N::Msg,
    ) {
        let mut go = vec![Held {
            mid,
            from,
            to,
            inc,
            msg,
        }];
        if let Some(line) = self.release_line.get_mut(&(from, to)) {
            if !self.released.remove(&mid) {
                line.waiting.append(&mut go);
                return;
            }
            line.pending -= 1;
            if line.pending == 0 {
                let line = self.release_line.remove(&(from, to));
                go.extend(line.into_iter().flat_map(|line| line.waiting));
            }
        }
        for h in go {
            self.deliver_now(h.mid, h.from, h.to, h.inc, h.msg);
        }
    }

    /// In `tcp` mode, marks link `from → to` stalled on a cut, if it was
    /// not yet, and sets its timeout.
    pub(super) fn stall(&mut self, from: NodeId, to: NodeId) {
        let k = from * self.nodes.len() + to;
        if self.tcp_stall[k].is_multiple_of(2) {
            self.tcp_stall[k] += 1;
            let gen = self.tcp_stall[k];
            let at = self.now.saturating_add(self.cfg.tcp_timeout_us);
            self.push(at, Ev::TcpTimeout { from, to, gen });
        }
    }

    /// A stalled link's TCP timeout: every message held on it is lost and
    /// its sender sees a connection error for each (the connection died).
    pub(super) fn tcp_timeout(&mut self, from: NodeId, to: NodeId, gen: u64) {
        let k = from * self.nodes.len() + to;
        if self.tcp_stall[k] != gen {
            return;
        }
        self.tcp_stall[k] += 1;
        let (dead, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.from == from && h.to == to);
        self.held = kept;
        for h in dead {
            self.stats.dropped += 1;
            self.trace
                .rec(self.now, "drop")
                .u("mid", h.mid)
                .s("reason", "tcp-timeout")
                .end();
            let inc = self.incarnation[from];
            self.push(
                self.now,
                Ev::LinkError {
                    from,
                    to,
                    inc,
                    msg: h.msg,
                },
            );
        }
    }

    /// Puts released message `mid`, due at `at` on ordered link
    /// `from → to`, in that link's [`ReleaseLine`]; returns when it is due
    /// (never before the line's last).
    pub(super) fn line_up(&mut self, mid: u64, from: NodeId, to: NodeId, at: Time) -> Time {
        let line = self.release_line.entry((from, to)).or_insert(ReleaseLine {
            pending: 0,
            last: at,
            waiting: Vec::new(),
        });
        let at = at.max(line.last);
        line.pending += 1;
        line.last = at;
        self.released.insert(mid);
        at
    }

    pub(super) fn heal(&mut self) {
        self.net.heal();
        // Stalled links recover: their pending timeouts lapse.
        for g in &mut self.tcp_stall {
            *g += *g % 2;
        }
        // On an ordered link the held messages go out in the order they
        // were sent, and nothing sent later overtakes them: not what is
        // sent from now on (the network's line is held), nor what is in
        // flight now (it waits in the [`ReleaseLine`]).
        for h in std::mem::take(&mut self.held) {
            let mut at = self.now
                + self
                    .net
                    .link(h.from, h.to)
                    .latency
                    .sample(&mut self.net_rng);
            if self.net.ordered(h.from, h.to) {
                at = self.line_up(h.mid, h.from, h.to, at);
                self.net.hold_line(h.from, h.to, at);
            }
            self.trace
                .rec(self.now, "release")
                .u("mid", h.mid)
                .u("at", at)
                .end();
            self.push(at, Ev::deliver(h.mid, h.from, h.to, h.inc, h.msg));
        }
    }
}
