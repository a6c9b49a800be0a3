//! The `leader` variant: ASSUME_LEADERSHIP through the stream (SEEDS.md
//! §4.6). Every engine tracks, in stream order, who leads and from which
//! record (the fencing position); a command is applied only when its origin
//! led at its position and still leads from the position it was appended
//! under. Heartbeats keep followers from standing; a follower that applies
//! no leader record for the election timeout (plus a random part) appends
//! its own AssumeLeadership.

use sim::{Ctx, Reply, RequestId, Time, Value, MS};

use super::engine::{answer, Answer, Engine};
use super::kv::Cmd;
use super::{Entry, LeaderReads, MemState, Msg, Op, Timer};

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

    /// A follower hands the operation to the leader it knows.
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
                self.forwarded.insert(req);
                ctx.send(l, Msg::Forward { req, op });
            }
            (Answer::Direct, None) => answer(ctx, to, req, fail("not leader: no leader known")),
            (Answer::Node(_), _) => answer(ctx, to, req, fail("not leader")),
        }
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
            return answer(ctx, to, req, Reply::Ok(self.store.read(key)));
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
                    answer(ctx, to, r, reply);
                }
                false
            }
            _ if self.admits(entry) => true,
            _ => {
                let waiting = entry
                    .req
                    .filter(|_| mine)
                    .and_then(|r| self.pending.remove(&r).map(|p| (r, p)));
                if let Some((r, p)) = waiting {
                    let why = format!("not leader: rejected at record {number}");
                    answer(ctx, p.to, r, Reply::Fail(Value::Str(why)));
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
