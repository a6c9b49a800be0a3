//! Recovery (vrrm's out_of_date-triggered one, the paper's after a
//! restart) and the paper's state transfer (get_state / new_state).

use sim::{Ctx, NodeId, MS};

use super::msg::{Entry, Msg, Response};
use super::replica::{Replica, Status};
use super::Vr;

impl Replica {
    /// Paper: a restarted replica lost its state; it asks every other
    /// replica, with a fresh nonce, and asks again until it recovers.
    pub(crate) fn start_recovery(&mut self, ctx: &mut Ctx<'_, Vr>) {
        self.status = Status::Recovering;
        self.nonce = ctx.rng().next_u64();
        self.responses.clear();
        self.to_others(
            ctx,
            Msg::Recovery {
                epoch: self.epoch,
                view: self.view,
                nonce: self.nonce,
            },
        );
        ctx.set_timer(
            super::msg::Timer::Recovery,
            self.params.primary_failure_ms * MS,
        );
    }

    /// vrrm: out_of_date from a replica in another view or epoch starts
    /// recovery, adopting both.
    pub(crate) fn on_out_of_date(&mut self, ctx: &mut Ctx<'_, Vr>, epoch: u64, view: u64) {
        let same = view == self.view && epoch == self.epoch;
        if !self.bugs.out_of_date_recovery || self.status != Status::Normal || same {
            return;
        }
        self.nonce = ctx.rng().next_u64();
        self.responses.clear();
        self.view = view;
        self.epoch = epoch;
        self.status = Status::Recovering;
        self.to_others(
            ctx,
            Msg::Recovery {
                epoch,
                view,
                nonce: self.nonce,
            },
        );
    }

    pub(crate) fn on_recovery(&mut self, ctx: &mut Ctx<'_, Vr>, from: NodeId, nonce: u64) {
        // vrrm answers with `primary = false` or `true`; a pid (D12) is
        // neither, and the catch-all drops the message.
        if self.status != Status::Normal || self.pid_primary {
            return;
        }
        let state = self
            .primary
            .then(|| (self.log.values().cloned().collect(), self.op, self.commit));
        ctx.send(
            from,
            Msg::RecoveryResponse {
                epoch: self.epoch,
                view: self.view,
                nonce,
                state,
            },
        );
    }

    pub(crate) fn on_recovery_response(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        from: NodeId,
        epoch: u64,
        view: u64,
        nonce: u64,
        state: Option<(Vec<Entry>, u64, u64)>,
    ) {
        if self.status != Status::Recovering || nonce != self.nonce {
            return;
        }
        if !self.bugs.out_of_date_recovery {
            self.responses.retain(|r| r.0 != from);
        }
        self.responses.insert(0, (from, view, nonce, state));
        if self.responses.len() < self.recovery_quorum() {
            return;
        }
        let primary = if self.bugs.out_of_date_recovery {
            // vrrm: any response that carries a log.
            self.responses.iter().find(|r| r.3.is_some())
        } else {
            // Paper: the primary of the latest view among the responses.
            let latest = self.responses.iter().map(|r| r.1).max().unwrap_or(0);
            let p = self.primary_of(latest);
            self.responses
                .iter()
                .find(|r| r.0 == p && r.1 == latest && r.3.is_some())
        };
        let Some((_, _, _, Some((log, op, commit)))) = primary.cloned() else {
            return;
        };
        // vrrm adopts the view of the message in hand; the paper, the
        // primary's (the same thing when it is the primary's response).
        let adopted = if self.bugs.out_of_date_recovery {
            view
        } else {
            primary_view(&self.responses)
        };
        if self.bugs.out_of_date_recovery {
            self.epoch = epoch;
        }
        self.finish_recovery(ctx, adopted, log, op, commit);
    }

    fn finish_recovery(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        view: u64,
        log: Vec<Entry>,
        op: u64,
        commit: u64,
    ) {
        let keep = self.commit;
        self.log.retain(|k, _| *k <= keep); // trunc_uncommitted
        if self.bugs.d7_backup_double_execution {
            let Some(run) = self.sync_log(ctx, op, &log) else {
                return;
            };
            for k in run {
                if self.execute(ctx, k).is_none() {
                    return;
                }
            }
            self.commit = commit;
        } else {
            if !self.install_log(ctx, op, &log, commit) {
                return;
            }
        }
        self.op = op;
        self.view = view;
        self.last_normal = view;
        self.responses.clear();
        if self.bugs.vrrm_epochs && !self.config.contains(&self.id) {
            // vrrm: a reconfiguration in the merged log left this replica
            // out: {stop, normal}.
            self.status = Status::Stopped;
            return;
        }
        self.primary = self.primary_of(view) == self.id;
        self.pid_primary = false;
        self.status = Status::Normal;
        ctx.cancel_timer(super::msg::Timer::Recovery);
        self.arm_timer(ctx);
        for (from, msg) in std::mem::take(&mut self.postponed) {
            self.on_message(ctx, from, msg);
        }
    }

    /// Paper: a message from the primary of a newer view. The replica
    /// moves to that view and asks the sender for the log after its commit
    /// number, but keeps its log and its last-normal view until new_state
    /// installs the view's log: until then it is a replica of its old view
    /// to a view change (its log may hold committed ops the new view's
    /// primary is about to lose, and a report claiming the new view with a
    /// truncated log would outrank the replicas that have them).
    ///
    /// With `seeded_transfer_truncation` it does what dsim did before the
    /// 2026-12 audit (and VRR section 5.2 reads as): truncates to the
    /// commit number and takes the new view as last-normal at once.
    pub(crate) fn enter_view_by_transfer(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        from: NodeId,
        view: u64,
    ) {
        if self.bugs.seeded_transfer_truncation {
            let keep = self.commit;
            self.log.retain(|k, _| *k <= keep);
            self.op = self.commit;
            self.last_normal = view;
        } else {
            self.awaiting_state = true;
        }
        self.view = view;
        self.status = Status::Normal;
        self.primary = false;
        self.arm_timer(ctx);
        self.ask_state(ctx, from);
    }

    /// Sends get_state for the current view to `to`: after the commit
    /// number while awaiting a view's log, else after the op number (a gap
    /// in this view).
    pub(crate) fn ask_state(&mut self, ctx: &mut Ctx<'_, Vr>, to: NodeId) {
        let after = if self.awaiting_state {
            self.commit
        } else {
            self.op
        };
        self.state_asked_at = ctx.now();
        ctx.send(
            to,
            Msg::GetState {
                view: self.view,
                after,
            },
        );
    }

    /// While awaiting state, a prepare or commit of the view from its
    /// primary: the primary is alive (the failure timer restarts) and the
    /// request is sent again if the last one is an idle interval old
    /// (get_state or new_state may have been lost).
    pub(crate) fn still_awaiting(&mut self, ctx: &mut Ctx<'_, Vr>, from: NodeId) {
        let now = ctx.now();
        let due = self.state_asked_at + self.params.idle_commit_ms * MS;
        if now >= due || now < self.state_asked_at {
            self.ask_state(ctx, from);
        }
        self.arm_timer(ctx);
    }

    pub(crate) fn on_get_state(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        from: NodeId,
        view: u64,
        after: u64,
    ) {
        let has_view_log = self.status == Status::Normal && !self.awaiting_state;
        if !has_view_log || view != self.view || self.op < after {
            return;
        }
        let entries = self
            .log
            .range(after + 1..)
            .map(|(_, e)| e.clone())
            .collect();
        ctx.send(
            from,
            Msg::NewState {
                view,
                after,
                entries,
                op: self.op,
                commit: self.commit,
            },
        );
    }

    pub(crate) fn on_new_state(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        view: u64,
        after: u64,
        entries: Vec<Entry>,
        op: u64,
        commit: u64,
    ) {
        let expected = if self.awaiting_state {
            self.commit
        } else {
            self.op
        };
        if self.status != Status::Normal || view != self.view || after != expected || self.primary {
            return;
        }
        // Entries up to `after` are committed (awaiting: ours; else in
        // this view's log already); the view's log replaces the rest.
        self.log.retain(|k, _| *k <= after);
        for e in entries {
            self.note_request(&e);
            self.log.insert(e.op, e);
        }
        self.op = op;
        if self.awaiting_state {
            self.awaiting_state = false;
            self.last_normal = view;
        }
        if !self.catch_up(ctx, commit.min(op)) {
            return;
        }
        let p = self.primary_of(view);
        ctx.send(
            p,
            Msg::PrepareOk {
                epoch: self.epoch,
                view,
                op,
            },
        );
    }
}

/// The view of the latest primary among `responses`.
fn primary_view(responses: &[Response]) -> u64 {
    responses.iter().map(|r| r.1).max().unwrap_or(0)
}
