//! Normal operation: a client request at the primary, prepare and
//! prepare_ok, commit (the message and the idle timer), execution, and the
//! client table.

use std::collections::BTreeSet;

use sim::{Ctx, NodeId, Value};

use super::msg::{Answer, Cmd, Entry, Msg};
use super::replica::{Replica, ReqRec, Status};
use super::{Counting, Vr};

/// The most prepares the paper's primary resends to one backup per idle
/// tick.
const RESEND_MAX: usize = 16;

impl Replica {
    /// vrrm's min over the commits vector; `None` when it is empty
    /// (`lists:min([])` crashes the process: D11, or D12 for a member that
    /// joined by start_epoch).
    pub(crate) fn min_commit_now(&mut self, ctx: &mut Ctx<'_, Vr>) -> Option<u64> {
        match self.commits.iter().min() {
            Some(m) => Some(*m),
            None => {
                let why = if self.pid_primary {
                    "D12: a member that joined by start_epoch has the record default [] and a pid as its primary flag"
                } else {
                    "D11: start_view emptied it"
                };
                self.halt(
                    ctx,
                    format!("lists:min([]) on an empty commits vector ({why})"),
                );
                None
            }
        }
    }

    pub(crate) fn on_idle(&mut self, ctx: &mut Ctx<'_, Vr>) {
        let Some(min_commit) = self.min_commit_now(ctx) else {
            return;
        };
        self.to_others(
            ctx,
            Msg::Commit {
                epoch: self.epoch,
                view: self.view,
                commit: self.commit,
                min_commit,
            },
        );
        if !self.bugs.d3_no_gap_check {
            // Paper: prepares not yet acknowledged by enough backups are
            // sent again (vrrm never resends one; part of D3).
            self.resend_prepares(ctx, min_commit);
        }
        self.arm_timer(ctx);
    }

    /// Sends each backup the uncommitted prepares it has not acknowledged
    /// (prepare_oks are cumulative), at most `RESEND_MAX` a tick: a backup
    /// that lacks committed ops learns of them from the commit number and
    /// fetches them by get_state, and one that is far behind gets the next
    /// batch on the next tick.
    fn resend_prepares(&self, ctx: &mut Ctx<'_, Vr>, min_commit: u64) {
        for r in &self.config {
            if *r == self.id {
                continue;
            }
            let acked = self.acked.get(r).copied().unwrap_or(0);
            let from = acked.max(self.commit) + 1;
            for (op, entry) in self.log.range(from..).take(RESEND_MAX) {
                ctx.send(
                    *r,
                    Msg::Prepare {
                        epoch: self.epoch,
                        view: self.view,
                        op: *op,
                        commit: self.commit,
                        min_commit,
                        entry: entry.clone(),
                    },
                );
            }
        }
    }

    fn reply(&self, ctx: &mut Ctx<'_, Vr>, to: NodeId, req_num: u64, answer: Answer) {
        ctx.send(to, Msg::Reply { req_num, answer });
    }

    pub(crate) fn on_request(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        client: NodeId,
        req_num: u64,
        cmd: Cmd,
    ) {
        if self.status == Status::Transitioning && self.primary {
            return self.halt(
                ctx,
                "bad_action_from_state_function: {reply, {error, From, reconfiguring}} (a request while transitioning, D12)".into(),
            );
        }
        let transitioning = self.status == Status::Transitioning;
        let answers = self.status == Status::Normal || (transitioning && !self.primary);
        if !answers {
            return; // view_change: no clause, the call times out
        }
        if !self.primary && !self.pid_primary {
            // vrrm answers in normal or transitioning, and moves to normal.
            if transitioning && self.bugs.d9_probe_mutates_status {
                self.status = Status::Normal;
            }
            let p = self.primary_of(self.view);
            return self.reply(ctx, client, req_num, Answer::NotPrimary(p));
        }
        if transitioning {
            return; // D12 off: a request waits out the reconfiguration
        }
        if matches!(cmd, Cmd::Reconfigure { .. }) && !self.bugs.vrrm_epochs {
            return self.reply(
                ctx,
                client,
                req_num,
                Answer::Refused(
                    "reconfiguration is not implemented: the paper variant has no epochs (VRR section 7); set params.bugs.vrrm_epochs for vrrm's".into(),
                ),
            );
        }
        if let Some(rec) = self
            .table
            .get_mut(&client)
            .and_then(|t| t.get_mut(&req_num))
        {
            if rec.committed {
                let v = rec.reply.clone().unwrap_or_default();
                return self.reply(ctx, client, req_num, Answer::Ok(v));
            }
            if !self.bugs.d10_at_least_once {
                rec.from = Some(client); // in the log: answer when it commits
                return;
            }
        }
        if !self.bugs.d10_at_least_once {
            let latest = self.table.get(&client).and_then(|t| t.keys().next_back());
            if latest.is_some_and(|l| *l > req_num) {
                return; // an old request
            }
        }
        let Some(min_commit) = self.min_commit_now(ctx) else {
            return;
        };
        self.op += 1;
        let entry = Entry {
            op: self.op,
            view: self.view,
            client,
            req_num,
            cmd,
        };
        self.log.insert(self.op, entry.clone());
        let rec = ReqRec {
            from: Some(client),
            ..ReqRec::default()
        };
        self.table.entry(client).or_default().insert(req_num, rec);
        self.to_others(
            ctx,
            Msg::Prepare {
                epoch: self.epoch,
                view: self.view,
                op: self.op,
                commit: self.commit,
                min_commit,
                entry,
            },
        );
        self.arm_timer(ctx);
        if self.bugs.d12_transitioning_crash
            && matches!(self.log[&self.op].cmd, Cmd::Reconfigure { .. })
        {
            self.status = Status::Transitioning;
        }
        if !self.bugs.d13_commit_needs_ack {
            self.commit_ready(ctx);
        }
    }

    /// The view of a normal-operation message is acceptable. Paper: older
    /// views are ignored and a newer one is caught up with by state
    /// transfer; vrrm (already filtered) takes newer views as its own.
    fn view_current(&mut self, ctx: &mut Ctx<'_, Vr>, from: NodeId, view: u64) -> bool {
        if self.status != Status::Normal && !(self.status == Status::ViewChange && view > self.view)
        {
            return false;
        }
        if self.bugs.out_of_date_recovery {
            return self.status == Status::Normal;
        }
        if view < self.view || (view == self.view && self.status != Status::Normal) {
            return false;
        }
        if view > self.view {
            self.enter_view_by_transfer(ctx, from, view);
            return false;
        }
        if self.awaiting_state {
            self.still_awaiting(ctx, from);
            return false;
        }
        true
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_prepare(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        from: NodeId,
        epoch: u64,
        view: u64,
        op: u64,
        commit: u64,
        min_commit: u64,
        entry: Entry,
    ) {
        if !self.view_current(ctx, from, view) || (self.primary && !self.bugs.out_of_date_recovery)
        {
            return;
        }
        if self.bugs.d3_no_gap_check {
            // vrrm: catch up to the primary's commit, then log at any op.
            if !self.catch_up(ctx, commit) {
                return;
            }
            self.note_request(&entry);
            self.log.insert(op, entry);
            self.op = op;
            self.min_commit = min_commit;
            ctx.send(from, Msg::PrepareOk { epoch, view, op });
            return self.arm_timer(ctx);
        }
        if op == self.op + 1 {
            self.note_request(&entry);
            self.log.insert(op, entry);
            self.op = op;
        } else if op > self.op + 1 {
            self.ask_state(ctx, from);
        }
        self.min_commit = min_commit;
        if op <= self.op {
            ctx.send(
                from,
                Msg::PrepareOk {
                    epoch,
                    view,
                    op: self.op,
                },
            );
        }
        let to = commit.min(self.op);
        if self.catch_up(ctx, to) {
            self.arm_timer(ctx);
        }
    }

    /// Records a request seen in a prepare (no caller to answer).
    pub(crate) fn note_request(&mut self, entry: &Entry) {
        self.table
            .entry(entry.client)
            .or_default()
            .entry(entry.req_num)
            .or_default();
    }

    pub(crate) fn on_commit(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        from: NodeId,
        epoch: u64,
        view: u64,
        commit: u64,
        min_commit: u64,
    ) {
        if self.bugs.vrrm_epochs && matches!(self.status, Status::Normal | Status::Transitioning) {
            if epoch != self.epoch {
                return self.transition(ctx, epoch, commit, min_commit);
            }
            // vrrm: a commit of the same epoch ends transitioning.
            self.status = Status::Normal;
        }
        if !self.view_current(ctx, from, view) || (self.primary && !self.bugs.out_of_date_recovery)
        {
            return;
        }
        self.min_commit = min_commit;
        let mut to = commit;
        if !self.bugs.d3_no_gap_check && commit > self.op {
            self.ask_state(ctx, from);
            to = self.op;
        }
        if self.catch_up(ctx, to) {
            self.arm_timer(ctx);
        }
    }

    pub(crate) fn on_prepare_ok(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        from: NodeId,
        view: u64,
        op: u64,
    ) {
        let serving = matches!(self.status, Status::Normal | Status::Transitioning);
        if !serving || !self.primary {
            return;
        }
        if !self.bugs.out_of_date_recovery && view != self.view {
            return;
        }
        let slot = self.slot(from);
        if let Some(slot) = slot.and_then(|i| self.commits.get_mut(i)) {
            *slot = op.saturating_sub(1).max(*slot);
        }
        if op <= self.commit {
            return;
        }
        let cumulative = self.bugs.d1_counting == Counting::Distinct && !self.bugs.d3_no_gap_check;
        if cumulative {
            let acked = self.acked.entry(from).or_default();
            *acked = op.max(*acked);
        }
        let first = if cumulative { self.commit + 1 } else { op };
        for k in first..=op {
            self.acks.entry((k, view)).or_default().push(from);
        }
        if self.bugs.d2_commit_out_of_order {
            if self.count(op) >= self.others_needed() {
                self.commit_one(ctx, op);
            }
        } else {
            self.commit_ready(ctx);
        }
    }

    /// prepare_oks counted for `op` in the current view (D1).
    fn count(&self, op: u64) -> usize {
        let acks = self.acks.get(&(op, self.view));
        match self.bugs.d1_counting {
            Counting::Head => acks.map_or(0, |a| a.len().min(1)),
            Counting::PreHead => acks.map_or(0, Vec::len),
            Counting::Distinct => acks.map_or(0, |a| a.iter().collect::<BTreeSet<_>>().len()),
        }
    }

    /// Commits, in order, every op whose acks suffice.
    pub(crate) fn commit_ready(&mut self, ctx: &mut Ctx<'_, Vr>) {
        while self.commit < self.op && self.count(self.commit + 1) >= self.others_needed() {
            if !self.commit_one(ctx, self.commit + 1) {
                return;
            }
        }
    }

    /// The primary commits `op`: runs it, answers the caller, commit := op.
    fn commit_one(&mut self, ctx: &mut Ctx<'_, Vr>, op: u64) -> bool {
        let entry = self.log.get(&op).cloned();
        let new_config = match entry.as_ref().map(|e| &e.cmd) {
            Some(Cmd::Reconfigure { config }) if self.bugs.vrrm_epochs => Some(config.clone()),
            _ => None,
        };
        let value = match &new_config {
            Some(new) => self.start_next_epoch(ctx, op, new),
            None => self.execute(ctx, op),
        };
        let Some(value) = value else {
            return false;
        };
        let entry = self.log[&op].clone();
        let rec = self
            .table
            .get_mut(&entry.client)
            .and_then(|t| t.get_mut(&entry.req_num));
        match rec {
            Some(rec) => {
                rec.reply = Some(value.clone());
                let to = if self.bugs.d10_at_least_once {
                    rec.from
                } else {
                    Some(entry.client)
                };
                if let Some(to) = to {
                    self.reply(ctx, to, entry.req_num, Answer::Ok(value));
                }
            }
            None if self.bugs.d10_at_least_once => {
                self.halt(
                    ctx,
                    format!(
                        "error({{from, error}}): no client-table record for request {} of c{} (op {op})",
                        entry.req_num, entry.client
                    ),
                );
                return false;
            }
            None => self.reply(ctx, entry.client, entry.req_num, Answer::Ok(value)),
        }
        self.commit = op;
        self.acks.retain(|(k, _), _| *k > op);
        if let Some(new) = new_config {
            // vrrm's prepare_ok handler: the next epoch, view 0, normal.
            self.enter_next_epoch(new, op);
        } else if matches!(entry.cmd, Cmd::Reconfigure { .. }) {
            self.status = Status::Normal;
        }
        let every = self.params.snapshot_interval;
        if self.bugs.d14_compaction && every > 0 && op.is_multiple_of(every) {
            // vrrm's maybe_compact: the app state becomes the snapshot
            // (which no shipped log carries) and every entry up to op goes.
            self.log.retain(|k, _| *k > op);
        }
        true
    }

    /// Executes op `op` on the app (vrrm's upcall), marking it done; `None`
    /// (and a halt) when it is missing from the log or the app crashes.
    pub(crate) fn execute(&mut self, ctx: &mut Ctx<'_, Vr>, op: u64) -> Option<Value> {
        let Some(entry) = self.log.get(&op) else {
            self.halt(
                ctx,
                format!("get_log_entry({op}): op {op} is not in the log (error {{noes, []}})"),
            );
            return None;
        };
        let (client, req_num) = (entry.client, entry.req_num);
        if let (Cmd::Reconfigure { config }, true) = (&entry.cmd, self.bugs.vrrm_epochs) {
            // vrrm's do_upcalls: {OldConfig, Config} becomes {Config, New}.
            let new = config.clone();
            self.old_config = std::mem::replace(&mut self.config, new);
        }
        match self.app.apply(&entry.cmd) {
            Ok(v) => {
                self.done.insert(op);
                if !self.bugs.d10_at_least_once {
                    let rec = self
                        .table
                        .entry(client)
                        .or_default()
                        .entry(req_num)
                        .or_default();
                    rec.committed = true;
                    rec.reply = Some(v.clone());
                }
                Some(v)
            }
            Err(e) => {
                self.halt(ctx, e);
                None
            }
        }
    }

    /// Executes ops `commit+1 ..= to` in order (vrrm's maybe_catchup);
    /// false when it halted.
    pub(crate) fn catch_up(&mut self, ctx: &mut Ctx<'_, Vr>, to: u64) -> bool {
        while self.commit < to {
            if self.execute(ctx, self.commit + 1).is_none() {
                return false;
            }
            self.commit += 1;
        }
        true
    }
}
