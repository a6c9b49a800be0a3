//! python-crdt's TCP path, modelled inside the node.
//!
//! The original opens a new TCP connection per message and retries the
//! connect until it succeeds (or the Python recursion limit, about a thousand
//! attempts, kills the thread). Scenarios give the counter one network with
//! UDP behaviour (silent loss, duplicates, reordering), so TCP's guarantees
//! are rebuilt here: every TCP message travels in a frame with a sequence
//! number, the receiver acknowledges it and drops copies it has already seen,
//! and the sender resends what is unacknowledged every `tcp_retry_ms` until
//! `tcp_attempts` sends have been made. A connection per message means no
//! order between messages, so there is none here either.
//!
//! One bound the original does not have: while a message of some kind (and
//! variable) to a peer is unacknowledged, a newer one of the same kind to
//! the same peer waits, and a still newer one replaces it in the wait. The
//! original keeps a thread per message; under the start_sync re-flood with
//! three or more nodes their number grows exponentially until the machine
//! saturates, which a simulator cannot run. With the bound the storm keeps
//! one message of each kind in flight per link: traffic that never stops,
//! as the seed describes, at a rate the simulator can afford. It only ever
//! makes the original look better than it is.

use std::collections::{BTreeMap, BTreeSet};

use sim::{Ctx, NodeId, Time, MS};

use super::{Body, Counter, Msg, Timer};

/// What makes two messages "the same kind" for coalescing.
type Kind = (&'static str, Option<u32>);

#[derive(Clone, Debug)]
struct Pending {
    body: Body,
    kind: Kind,
    sent_at: Time,
    attempts: u32,
}

/// What a receiver remembers of one sender's session.
#[derive(Clone, Debug, Default)]
struct Inbound {
    /// Every frame below this was acknowledged to the sender already.
    floor: u64,
    /// Frames at or above `floor` that were delivered.
    seen: BTreeSet<u64>,
}

/// Per-node TCP state: unacknowledged frames out, frames seen in.
#[derive(Clone, Debug, Default)]
pub(super) struct Tcp {
    /// Chosen at each start, so a restarted node's frames are not mistaken
    /// for copies of its previous life's.
    session: u64,
    next_seq: u64,
    out: BTreeMap<NodeId, BTreeMap<u64, Pending>>,
    /// The frame in flight per (peer, kind).
    by_kind: BTreeMap<(NodeId, Kind), u64>,
    /// The newest message per (peer, kind) waiting for that frame's ack.
    waiting: BTreeMap<(NodeId, Kind), Body>,
    armed: BTreeSet<NodeId>,
    inbound: BTreeMap<(NodeId, u64), Inbound>,
    /// Frames abandoned after `tcp_attempts` sends.
    pub gave_up: u64,
    /// Messages replaced by a newer one of the same kind while waiting.
    pub coalesced: u64,
}

impl Tcp {
    /// Fresh state for a node that just started with `session`.
    pub fn new(session: u64) -> Tcp {
        Tcp {
            session,
            ..Tcp::default()
        }
    }

    /// This life's session id.
    pub fn session(&self) -> u64 {
        self.session
    }

    fn floor(&self, to: NodeId) -> u64 {
        self.out
            .get(&to)
            .and_then(|m| m.keys().next().copied())
            .unwrap_or(self.next_seq)
    }

    /// Sends `body` to `to` reliably (see the module notes on waiting).
    pub fn send(&mut self, ctx: &mut Ctx<'_, Counter>, retry_ms: u64, to: NodeId, body: Body) {
        let kind = body.kind();
        if self.by_kind.contains_key(&(to, kind)) {
            if self.waiting.insert((to, kind), body).is_some() {
                self.coalesced += 1;
            }
            return;
        }
        self.transmit(ctx, retry_ms, to, kind, body);
    }

    fn transmit(
        &mut self,
        ctx: &mut Ctx<'_, Counter>,
        retry_ms: u64,
        to: NodeId,
        kind: Kind,
        body: Body,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let pending = Pending {
            body: body.clone(),
            kind,
            sent_at: ctx.now(),
            attempts: 1,
        };
        self.out.entry(to).or_default().insert(seq, pending);
        self.by_kind.insert((to, kind), seq);
        let floor = self.floor(to);
        ctx.send(
            to,
            Msg::Tcp {
                session: self.session,
                seq,
                floor,
                body,
            },
        );
        if self.armed.insert(to) {
            ctx.set_timer(Timer::Resend(to), retry_ms * MS);
        }
    }

    /// The frame in flight for (to, kind) is done with: send what waits.
    fn release(
        &mut self,
        ctx: &mut Ctx<'_, Counter>,
        retry_ms: u64,
        to: NodeId,
        kind: Kind,
        seq: u64,
    ) {
        if self.by_kind.get(&(to, kind)) != Some(&seq) {
            return;
        }
        self.by_kind.remove(&(to, kind));
        if let Some(body) = self.waiting.remove(&(to, kind)) {
            self.transmit(ctx, retry_ms, to, kind, body);
        }
    }

    /// The peer acknowledged frame `seq` of our `session`.
    pub fn on_ack(
        &mut self,
        ctx: &mut Ctx<'_, Counter>,
        retry_ms: u64,
        from: NodeId,
        session: u64,
        seq: u64,
    ) {
        if session != self.session {
            return;
        }
        if let Some(p) = self.out.get_mut(&from).and_then(|m| m.remove(&seq)) {
            self.release(ctx, retry_ms, from, p.kind, seq);
        }
    }

    /// A frame arrived: acknowledges it and says whether it is new.
    pub fn on_frame(
        &mut self,
        ctx: &mut Ctx<'_, Counter>,
        from: NodeId,
        session: u64,
        seq: u64,
        floor: u64,
    ) -> bool {
        ctx.send(from, Msg::Ack { session, seq });
        let inb = self.inbound.entry((from, session)).or_default();
        if floor > inb.floor {
            inb.floor = floor;
            inb.seen = inb.seen.split_off(&floor);
        }
        seq >= inb.floor && inb.seen.insert(seq)
    }

    /// The resend timer for `to` fired.
    pub fn on_resend(
        &mut self,
        ctx: &mut Ctx<'_, Counter>,
        retry_ms: u64,
        attempts: u32,
        to: NodeId,
    ) {
        self.armed.remove(&to);
        let now = ctx.now();
        let floor = self.floor(to);
        let session = self.session;
        let Some(out) = self.out.get_mut(&to) else {
            return;
        };
        let mut dead = Vec::new();
        for (&seq, p) in out.iter_mut() {
            if now < p.sent_at.saturating_add(retry_ms * MS) {
                continue;
            }
            if p.attempts >= attempts {
                dead.push(seq);
                continue;
            }
            p.attempts += 1;
            p.sent_at = now;
            let body = p.body.clone();
            ctx.send(
                to,
                Msg::Tcp {
                    session,
                    seq,
                    floor,
                    body,
                },
            );
        }
        let mut gone = Vec::new();
        for seq in dead {
            if let Some(p) = out.remove(&seq) {
                gone.push((p.kind, seq));
            }
        }
        let more = !out.is_empty();
        self.gave_up += gone.len() as u64;
        for (kind, seq) in gone {
            self.release(ctx, retry_ms, to, kind, seq);
        }
        if more && self.armed.insert(to) {
            ctx.set_timer(Timer::Resend(to), retry_ms * MS);
        }
    }
}
