//! The `leader` variant: ASSUME_LEADERSHIP through the stream (the
//! author's gist). Every engine tracks, in stream order, who leads and from which
//! record (the fencing position); a command is applied only when its origin
//! led at its position and still leads from the position it was appended
//! under. Heartbeats keep followers from standing; a follower that applies
//! no leader record for the election timeout (plus a random part) appends
//! its own AssumeLeadership.

use std::collections::BTreeSet;

use sim::{Ctx, NodeId, Reply, RequestId, Time, Value, MS};

use super::engine::{Answer, Engine, Forwarded};
use super::kv::Cmd;
use super::{Bug, Entry, LeaderReads, MemState, Msg, Op, Timer};

impl Engine {
    /// True when this engine leads at its applied position.
    pub(crate) fn leads(&self, me: usize) -> bool {
        self.leader == Some(me)
    }

    /// True when `entry` is a command its origin may issue here.
    pub(crate) fn admits(&self, entry: &Entry) -> bool {
        entry.cmd.is_app() && self.leader == Some(entry.origin) && entry.since == self.since
    }

    pub(crate) fn arm_candidacy(&mut self, ctx: &mut Ctx<'_, MemState>) {
        let t = self.params.election_timeout_ms * MS;
        self.candidate_after = ctx.now() + t + ctx.rng().below(t);
    }

    /// A follower hands the operation to the leader it knows, naming the
    /// fencing position it knows that leader by. With no leader known it
    /// fails at once (nothing was sent, so nothing can take effect).
    pub(crate) fn forward(
        &mut self,
        ctx: &mut Ctx<'_, MemState>,
        req: RequestId,
        op: Op,
        to: Answer,
    ) {
        let fail = |why: &str| Reply::Fail(Value::Str(why.into()));
        match (to, self.leader) {
            (Answer::Direct, Some(l)) => {
                let since = self.since;
                let mut sent = BTreeSet::new();
                sent.insert((l, since));
                let f = Forwarded {
                    op: op.clone(),
                    at: ctx.now(),
                    sent,
                    refused: BTreeSet::new(),
                };
                self.forwarded.insert(req, f);
                ctx.send(l, Msg::Forward { req, op, since });
                if !self.params.bug(Bug::ForwardOnce) {
                    ctx.set_timer(Timer::Forward(req), self.params.forward_retry_ms * MS);
                }
            }
            (Answer::Direct, None) => {
                self.answer(ctx, to, req, fail("not leader: no leader known"))
            }
            (Answer::Node(n), _) if self.params.bug(Bug::ForwardRefusalFails) => {
                self.answer(ctx, Answer::Node(n), req, fail("not leader"))
            }
            (Answer::Node(n), _) => {
                let since = self.since;
                ctx.send(n, Msg::Refused { req, since });
            }
        }
    }

    /// A forward arrived: run it if this engine leads from `since`, answer
    /// it again if it ran already, refuse it for good if this engine has
    /// applied past `since` and does not lead from it, and wait while it
    /// has not applied that far (it cannot know yet).
    pub(crate) fn on_forward(
        &mut self,
        ctx: &mut Ctx<'_, MemState>,
        from: NodeId,
        req: RequestId,
        op: Op,
        since: u64,
    ) {
        let to = Answer::Node(from);
        if self.params.bug(Bug::ForwardRefusalFails) {
            return self.on_op(ctx, req, op, to);
        }
        if let Some(reply) = self.fwd_results.get(&req).cloned() {
            return ctx.send(from, Msg::Done { req, reply });
        }
        if self.pending.contains_key(&req) || self.markers.contains_key(&req) {
            return; // a copy is running here: its answer will come
        }
        if self.loading || self.next <= since {
            return self.early.push((req, op, from, since));
        }
        if self.applied_ids.contains(&req) {
            // It took effect (or was rejected) before this engine last
            // started, and its answer is lost with that incarnation.
            return self.answer(ctx, to, req, Reply::Info);
        }
        if self.leads(ctx.id()) && self.since == since {
            return self.on_op(ctx, req, op, to);
        }
        ctx.send(from, Msg::Refused { req, since });
    }

    /// Decides the forwards that waited for this engine to apply the
    /// record their leadership starts at.
    pub(crate) fn decide_early_forwards(&mut self, ctx: &mut Ctx<'_, MemState>) {
        if self.early.is_empty() || self.loading {
            return;
        }
        let next = self.next;
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.early)
            .into_iter()
            .partition(|f| f.3 < next);
        self.early = wait;
        for (req, op, from, since) in ready {
            self.on_forward(ctx, from, req, op, since);
        }
    }

    /// A copy of a forwarded operation was refused for good. The client
    /// gets `fail` only once every copy sent has been refused; otherwise
    /// another copy may still take effect.
    pub(crate) fn on_refused(
        &mut self,
        ctx: &mut Ctx<'_, MemState>,
        from: NodeId,
        req: RequestId,
        since: u64,
    ) {
        let Some(f) = self.forwarded.get_mut(&req) else {
            return;
        };
        f.refused.insert((from, since));
        if f.sent.is_subset(&f.refused) {
            self.forwarded.remove(&req);
            ctx.cancel_timer(Timer::Forward(req));
            let why = format!("not leader: n{from} does not lead from record {since}");
            ctx.reply(req, Reply::Fail(Value::Str(why)));
        }
    }

    /// A forward has had no answer for `forward_retry_ms`: send it again to
    /// the leader known now (same request id), or give up with `info`
    /// after `forward_timeout_ms`.
    pub(crate) fn forward_again(&mut self, ctx: &mut Ctx<'_, MemState>, req: RequestId) {
        let now = ctx.now();
        let target = self.leader.map(|l| (l, self.since));
        let Some(f) = self.forwarded.get_mut(&req) else {
            return;
        };
        if now >= f.at + self.params.forward_timeout_ms * MS {
            self.forwarded.remove(&req);
            return ctx.reply(req, Reply::Info);
        }
        if let Some((l, since)) = target.filter(|t| !f.refused.contains(t)) {
            f.sent.insert((l, since));
            let op = f.op.clone();
            ctx.send(l, Msg::Forward { req, op, since });
        }
        ctx.set_timer(Timer::Forward(req), self.params.forward_retry_ms * MS);
    }

    /// A read at the leader.
    pub(crate) fn leader_get(
        &mut self,
        ctx: &mut Ctx<'_, MemState>,
        req: RequestId,
        key: u32,
        to: Answer,
    ) {
        if self.params.leader_reads == LeaderReads::Local {
            let reply = Reply::Ok(self.store.read(key));
            return self.answer(ctx, to, req, reply);
        }
        self.markers.insert(req, (key, to));
        let entry = Entry {
            origin: ctx.id(),
            req: Some(req),
            since: self.since,
            cmd: Cmd::Marker,
        };
        self.enqueue(ctx, entry);
    }

    /// Leader bookkeeping while replaying the log at startup.
    pub(crate) fn replay_leader(&mut self, entry: &Entry, number: u64, now: Time) {
        match entry.cmd {
            Cmd::AssumeLeadership => {
                self.leader = Some(entry.origin);
                self.since = number;
                self.leader_seen = now;
            }
            Cmd::Heartbeat if self.leader == Some(entry.origin) => self.leader_seen = now,
            _ => {}
        }
    }

    /// Applies the leader rules to a record; true when its command is to
    /// run on the model.
    pub(crate) fn apply_leader(
        &mut self,
        ctx: &mut Ctx<'_, MemState>,
        number: u64,
        entry: &Entry,
    ) -> bool {
        let me = ctx.id();
        let mine = entry.origin == me;
        if self.leader == Some(entry.origin) {
            // Any record of the leader shows it alive.
            self.leader_seen = ctx.now();
            self.arm_candidacy(ctx);
        }
        match entry.cmd {
            Cmd::AssumeLeadership | Cmd::Heartbeat => {
                self.replay_leader(entry, number, ctx.now());
                if self.leader == Some(entry.origin) {
                    self.arm_candidacy(ctx);
                }
                false
            }
            Cmd::Marker => {
                let waiting = entry
                    .req
                    .filter(|_| mine)
                    .and_then(|r| self.markers.remove(&r).map(|w| (r, w)));
                if let Some((r, (key, to))) = waiting {
                    let reply = if self.leads(me) && entry.since == self.since {
                        Reply::Ok(self.store.read(key))
                    } else {
                        Reply::Fail(Value::Str(format!("not leader at record {number}")))
                    };
                    self.answer(ctx, to, r, reply);
                }
                false
            }
            _ if self.admits(entry) => true,
            _ => {
                let waiting = entry
                    .req
                    .and_then(|r| self.pending.remove(&r).map(|p| (r, p)));
                if let Some((r, p)) = waiting {
                    let why = format!("not leader: rejected at record {number}");
                    self.answer(ctx, p.to, r, Reply::Fail(Value::Str(why)));
                }
                false
            }
        }
    }

    /// Heartbeat when leading; stand when the leader has gone quiet.
    pub(crate) fn on_tick(&mut self, ctx: &mut Ctx<'_, MemState>) {
        ctx.set_timer(Timer::Tick, self.params.heartbeat_ms * MS);
        if self.loading || self.stopped.is_some() || self.busy() {
            return;
        }
        let me = ctx.id();
        let cmd = if self.leads(me) {
            Cmd::Heartbeat
        } else if ctx.now() >= self.candidate_after {
            self.arm_candidacy(ctx);
            Cmd::AssumeLeadership
        } else {
            return;
        };
        let entry = Entry {
            origin: me,
            req: None,
            since: self.since,
            cmd,
        };
        self.enqueue(ctx, entry);
    }
}
