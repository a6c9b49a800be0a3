//! A replica: its state, normal operation (request, prepare, prepare_ok,
//! commit), execution and the timers. View change and recovery live in
//! their own modules and work on the same state.

use std::collections::{BTreeMap, BTreeSet};

use sim::{Ctx, Digest, NodeId, Value, MS};

use super::app::AppState;
use super::msg::{Answer, Cmd, Entry, Msg, Timer, ViewReport};
use super::{Bugs, Counting, Params, Vr};

/// A replica's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Processing requests.
    Normal,
    /// Between views.
    ViewChange,
    /// Rebuilding its state from the others.
    Recovering,
    /// vrrm: never configured (a restarted process); answers nothing.
    Unconfigured,
    /// vrrm: a primary whose reconfiguration is not committed yet.
    Transitioning,
}

/// A client-table record of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReqRec {
    /// The client process to answer when it commits (vrrm's `From`).
    pub from: Option<NodeId>,
    /// It ran (vrrm never sets this: D10).
    pub committed: bool,
    /// What it returned.
    pub reply: Option<Value>,
}

/// A replica.
#[derive(Clone, Debug)]
pub struct Replica {
    pub(crate) id: NodeId,
    pub(crate) n: usize,
    pub(crate) bugs: Bugs,
    pub(crate) params: Params,
    pub(crate) status: Status,
    pub(crate) primary: bool,
    pub(crate) view: u64,
    pub(crate) last_normal: u64,
    pub(crate) op: u64,
    pub(crate) commit: u64,
    pub(crate) min_commit: u64,
    pub(crate) log: BTreeMap<u64, Entry>,
    /// Ops executed (vrrm's per-entry `committed` flag).
    pub(crate) done: BTreeSet<u64>,
    pub(crate) app: AppState,
    pub(crate) table: BTreeMap<NodeId, BTreeMap<u64, ReqRec>>,
    /// vrrm's per-replica commit estimates, in config order.
    pub(crate) commits: Vec<u64>,
    /// prepare_oks received, by (op, view), duplicates included.
    pub(crate) acks: BTreeMap<(u64, u64), Vec<NodeId>>,
    /// start_view_change senders for the current view (paper).
    pub(crate) svc_from: BTreeSet<NodeId>,
    /// This replica sent its do_view_change for the current view.
    pub(crate) dvc_sent: bool,
    /// do_view_change messages collected: (view, sender, report), newest first.
    pub(crate) dvcs: Vec<(u64, NodeId, ViewReport)>,
    /// The nonce of the recovery in progress.
    pub(crate) nonce: u64,
    /// recovery_responses: (sender, view, nonce, state), newest first.
    pub(crate) responses: Vec<super::recovery::Response>,
    /// Messages postponed while recovering (vrrm's gen_statem postpone).
    pub(crate) postponed: Vec<(NodeId, Msg)>,
    /// It crashed before: a start is a restart.
    pub(crate) restarted: bool,
    /// Why it halted last (set just before `ctx.halt`), for unit tests.
    pub(crate) halted: Option<String>,
}

impl Replica {
    /// Replica `id` of `n`.
    pub fn new(id: NodeId, n: usize, bugs: Bugs, params: &Params) -> Self {
        Replica {
            id,
            n,
            bugs,
            params: params.clone(),
            status: Status::Unconfigured,
            primary: false,
            view: 0,
            last_normal: 0,
            op: 0,
            commit: 0,
            min_commit: 0,
            log: BTreeMap::new(),
            done: BTreeSet::new(),
            app: AppState::new(params.app),
            table: BTreeMap::new(),
            commits: vec![0; n],
            acks: BTreeMap::new(),
            svc_from: BTreeSet::new(),
            dvc_sent: false,
            dvcs: Vec::new(),
            nonce: 0,
            responses: Vec::new(),
            postponed: Vec::new(),
            restarted: false,
            halted: None,
        }
    }

    /// f = ⌊(n−1)/2⌋.
    pub(crate) fn f(&self) -> usize {
        (self.n - 1) / 2
    }

    /// The primary of `view`: config[view mod n].
    pub(crate) fn primary_of(&self, view: u64) -> NodeId {
        (view % self.n as u64) as NodeId
    }

    pub(crate) fn applied(&self) -> u64 {
        self.commit
    }

    pub(crate) fn digest(&self) -> Digest {
        self.app.digest()
    }

    pub(crate) fn on_crash(&mut self) {
        let mut fresh = Replica::new(self.id, self.n, self.bugs, &self.params);
        fresh.restarted = true;
        *self = fresh;
    }

    pub(crate) fn on_start(&mut self, ctx: &mut Ctx<'_, Vr>) {
        if !self.restarted {
            // initial_config: config[0] is the primary of view 0.
            self.status = Status::Normal;
            self.primary = self.primary_of(0) == self.id;
            self.arm_timer(ctx);
        } else if self.bugs.restart_unconfigured {
            self.status = Status::Unconfigured;
        } else {
            self.start_recovery(ctx);
        }
    }

    /// Stops for good with `reason` (an Erlang crash).
    pub(crate) fn halt(&mut self, ctx: &mut Ctx<'_, Vr>, reason: String) {
        self.halted = Some(reason.clone());
        ctx.halt(reason);
    }

    /// Sends `msg` to every other replica.
    pub(crate) fn to_others(&self, ctx: &mut Ctx<'_, Vr>, msg: Msg) {
        for r in 0..self.n {
            if r != self.id {
                ctx.send(r, msg.clone());
            }
        }
    }

    /// The one timer: idle commit on a primary, failure on a backup.
    pub(crate) fn arm_timer(&self, ctx: &mut Ctx<'_, Vr>) {
        if self.primary && self.status == Status::Normal {
            ctx.cancel_timer(Timer::Failure);
            ctx.set_timer(Timer::IdleCommit, self.params.idle_commit_ms * MS);
        } else {
            ctx.cancel_timer(Timer::IdleCommit);
            let pct = self.params.jitter_pct;
            let m = 100 - pct + ctx.rng().range(1, 2 * pct.max(1)).min(2 * pct);
            let after = m * self.params.primary_failure_ms * MS / 100;
            ctx.set_timer(Timer::Failure, after);
        }
    }

    pub(crate) fn on_message(&mut self, ctx: &mut Ctx<'_, Vr>, from: NodeId, msg: Msg) {
        if let Msg::GetStatus { probe } = msg {
            return self.on_probe(ctx, from, probe);
        }
        match self.status {
            Status::Unconfigured => return,
            Status::Recovering => {
                let recovery = matches!(msg, Msg::Recovery { .. } | Msg::RecoveryResponse { .. });
                if !recovery {
                    if self.bugs.ood && !matches!(msg, Msg::Request { .. }) {
                        self.postponed.push((from, msg));
                    }
                    return;
                }
            }
            _ => {}
        }
        if self.bugs.ood && self.stale_filter(ctx, from, &msg) {
            return;
        }
        match msg {
            Msg::Request { req_num, cmd } => self.on_request(ctx, from, req_num, cmd),
            Msg::Prepare {
                view,
                op,
                commit,
                min_commit,
                entry,
            } => self.on_prepare(ctx, from, view, op, commit, min_commit, entry),
            Msg::PrepareOk { view, op } => self.on_prepare_ok(ctx, from, view, op),
            Msg::Commit {
                view,
                commit,
                min_commit,
            } => self.on_commit(ctx, from, view, commit, min_commit),
            Msg::StartViewChange { view } => self.on_start_view_change(ctx, from, view),
            Msg::DoViewChange { view, report } => self.on_do_view_change(ctx, from, view, report),
            Msg::StartView {
                view,
                log,
                op,
                commit,
            } => self.on_start_view(ctx, from, view, log, op, commit),
            Msg::OutOfDate { view } => self.on_out_of_date(ctx, view),
            Msg::Recovery { nonce, .. } => self.on_recovery(ctx, from, nonce),
            Msg::RecoveryResponse { view, nonce, state } => {
                self.on_recovery_response(ctx, from, view, nonce, state)
            }
            Msg::GetState { view, after } => self.on_get_state(ctx, from, view, after),
            Msg::NewState {
                view,
                after,
                entries,
                op,
                commit,
            } => self.on_new_state(ctx, view, after, entries, op, commit),
            Msg::Reply { .. } | Msg::GetStatus { .. } | Msg::Status { .. } => {}
        }
    }

    /// vrrm's get_status: answered in every state but recovering (whose
    /// catch-all clause comes first and swallows calls); with D9 it moves a
    /// replica in view_change to normal.
    fn on_probe(&mut self, ctx: &mut Ctx<'_, Vr>, from: NodeId, probe: u64) {
        let status = match self.status {
            Status::Normal => "normal",
            Status::ViewChange => "view_change",
            Status::Recovering => return,
            Status::Unconfigured => "unconfigured",
            Status::Transitioning => "transitioning",
        };
        ctx.send(
            from,
            Msg::Status {
                probe,
                status: status.into(),
            },
        );
        if self.bugs.d9 && self.status == Status::ViewChange {
            self.status = Status::Normal;
        }
    }

    /// vrrm's generic filter in normal: a message from an older view is
    /// answered with out_of_date and dropped.
    fn stale_filter(&self, ctx: &mut Ctx<'_, Vr>, from: NodeId, msg: &Msg) -> bool {
        if self.status != Status::Normal {
            return false;
        }
        let view = match msg {
            Msg::Prepare { view, .. }
            | Msg::PrepareOk { view, .. }
            | Msg::Commit { view, .. }
            | Msg::StartViewChange { view }
            | Msg::DoViewChange { view, .. }
            | Msg::StartView { view, .. }
            | Msg::OutOfDate { view }
            | Msg::Recovery { view, .. }
            | Msg::RecoveryResponse { view, .. } => *view,
            _ => return false,
        };
        if view < self.view {
            ctx.send(from, Msg::OutOfDate { view: self.view });
            return true;
        }
        false
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_, Vr>, timer: Timer) {
        match (timer, self.status) {
            (Timer::IdleCommit, Status::Normal) if self.primary => self.on_idle(ctx),
            (Timer::Failure, Status::Normal) if !self.primary => self.on_primary_silent(ctx),
            (Timer::Failure, Status::ViewChange) if !self.bugs.d8 => {
                let next = self.view + 1;
                self.start_view_change(ctx, next);
            }
            (Timer::Recovery, Status::Recovering) if !self.bugs.ood => self.start_recovery(ctx),
            _ => {}
        }
    }

    /// vrrm's min over the commits vector; `None` when it is empty (D11:
    /// `lists:min([])` crashes the process).
    fn min_commit_estimate(&mut self, ctx: &mut Ctx<'_, Vr>) -> Option<u64> {
        match self.commits.iter().min() {
            Some(m) => Some(*m),
            None => {
                self.halt(
                    ctx,
                    "lists:min([]) on an empty commits vector (D11: start_view emptied it)".into(),
                );
                None
            }
        }
    }

    fn on_idle(&mut self, ctx: &mut Ctx<'_, Vr>) {
        let Some(min_commit) = self.min_commit_estimate(ctx) else {
            return;
        };
        self.to_others(
            ctx,
            Msg::Commit {
                view: self.view,
                commit: self.commit,
                min_commit,
            },
        );
        if !self.bugs.d3 {
            // Paper: prepares not yet acknowledged by enough backups are
            // sent again (vrrm never resends one; part of D3).
            self.resend_prepares(ctx, min_commit);
        }
        self.arm_timer(ctx);
    }

    fn resend_prepares(&self, ctx: &mut Ctx<'_, Vr>, min_commit: u64) {
        for (op, entry) in self.log.range(self.commit + 1..) {
            self.to_others(
                ctx,
                Msg::Prepare {
                    view: self.view,
                    op: *op,
                    commit: self.commit,
                    min_commit,
                    entry: entry.clone(),
                },
            );
        }
    }

    fn reply(&self, ctx: &mut Ctx<'_, Vr>, to: NodeId, req_num: u64, answer: Answer) {
        ctx.send(to, Msg::Reply { req_num, answer });
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Vr>, client: NodeId, req_num: u64, cmd: Cmd) {
        if self.status == Status::Transitioning && self.primary {
            return self.halt(
                ctx,
                "bad_action_from_state_function: {reply, {error, From, reconfiguring}} (a request while transitioning, D12)".into(),
            );
        }
        if self.status != Status::Normal {
            return; // view_change: no clause, the call times out
        }
        if !self.primary {
            let p = self.primary_of(self.view);
            return self.reply(ctx, client, req_num, Answer::NotPrimary(p));
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
            if !self.bugs.d10 {
                rec.from = Some(client); // in the log: answer when it commits
                return;
            }
        }
        if !self.bugs.d10 {
            let latest = self.table.get(&client).and_then(|t| t.keys().next_back());
            if latest.is_some_and(|l| *l > req_num) {
                return; // an old request
            }
        }
        let Some(min_commit) = self.min_commit_estimate(ctx) else {
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
                view: self.view,
                op: self.op,
                commit: self.commit,
                min_commit,
                entry,
            },
        );
        self.arm_timer(ctx);
        if self.bugs.d12 && matches!(self.log[&self.op].cmd, Cmd::Reconfigure { .. }) {
            self.status = Status::Transitioning;
        }
        if !self.bugs.d13 {
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
        if self.bugs.ood {
            return self.status == Status::Normal;
        }
        if view < self.view || (view == self.view && self.status != Status::Normal) {
            return false;
        }
        if view > self.view {
            self.enter_view_by_transfer(ctx, from, view);
            return false;
        }
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn on_prepare(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        from: NodeId,
        view: u64,
        op: u64,
        commit: u64,
        min_commit: u64,
        entry: Entry,
    ) {
        if !self.view_current(ctx, from, view) || (self.primary && !self.bugs.ood) {
            return;
        }
        if self.bugs.d3 {
            // vrrm: catch up to the primary's commit, then log at any op.
            if !self.catch_up(ctx, commit) {
                return;
            }
            self.note_request(&entry);
            self.log.insert(op, entry);
            self.op = op;
            self.min_commit = min_commit;
            ctx.send(from, Msg::PrepareOk { view, op });
            return self.arm_timer(ctx);
        }
        if op == self.op + 1 {
            self.note_request(&entry);
            self.log.insert(op, entry);
            self.op = op;
        } else if op > self.op + 1 {
            ctx.send(
                from,
                Msg::GetState {
                    view,
                    after: self.op,
                },
            );
        }
        self.min_commit = min_commit;
        if op <= self.op {
            ctx.send(from, Msg::PrepareOk { view, op: self.op });
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

    fn on_commit(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        from: NodeId,
        view: u64,
        commit: u64,
        min_commit: u64,
    ) {
        if !self.view_current(ctx, from, view) || (self.primary && !self.bugs.ood) {
            return;
        }
        self.min_commit = min_commit;
        let mut to = commit;
        if !self.bugs.d3 && commit > self.op {
            ctx.send(
                from,
                Msg::GetState {
                    view,
                    after: self.op,
                },
            );
            to = self.op;
        }
        if self.catch_up(ctx, to) {
            self.arm_timer(ctx);
        }
    }

    fn on_prepare_ok(&mut self, ctx: &mut Ctx<'_, Vr>, from: NodeId, view: u64, op: u64) {
        let serving = matches!(self.status, Status::Normal | Status::Transitioning);
        if !serving || !self.primary {
            return;
        }
        if !self.bugs.ood && view != self.view {
            return;
        }
        if let Some(slot) = self.commits.get_mut(from) {
            *slot = op.saturating_sub(1).max(*slot);
        }
        if op <= self.commit {
            return;
        }
        let cumulative = self.bugs.counting == Counting::Distinct && !self.bugs.d3;
        let first = if cumulative { self.commit + 1 } else { op };
        for k in first..=op {
            self.acks.entry((k, view)).or_default().push(from);
        }
        if self.bugs.d2 {
            if self.count(op) >= self.f() {
                self.commit_one(ctx, op);
            }
        } else {
            self.commit_ready(ctx);
        }
    }

    /// prepare_oks counted for `op` in the current view (D1).
    fn count(&self, op: u64) -> usize {
        let acks = self.acks.get(&(op, self.view));
        match self.bugs.counting {
            Counting::Head => acks.map_or(0, |a| a.len().min(1)),
            Counting::PreHead => acks.map_or(0, Vec::len),
            Counting::Distinct => acks.map_or(0, |a| a.iter().collect::<BTreeSet<_>>().len()),
        }
    }

    /// Commits, in order, every op whose acks suffice.
    pub(crate) fn commit_ready(&mut self, ctx: &mut Ctx<'_, Vr>) {
        while self.commit < self.op && self.count(self.commit + 1) >= self.f() {
            if !self.commit_one(ctx, self.commit + 1) {
                return;
            }
        }
    }

    /// The primary commits `op`: runs it, answers the caller, commit := op.
    fn commit_one(&mut self, ctx: &mut Ctx<'_, Vr>, op: u64) -> bool {
        let Some(value) = self.execute(ctx, op) else {
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
                let to = if self.bugs.d10 {
                    rec.from
                } else {
                    Some(entry.client)
                };
                if let Some(to) = to {
                    self.reply(ctx, to, entry.req_num, Answer::Ok(value));
                }
            }
            None if self.bugs.d10 => {
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
        if matches!(entry.cmd, Cmd::Reconfigure { .. }) {
            // vrrm's prepare_ok handler returns to normal; it bumps the
            // epoch and sends start_epoch (not modelled) and keeps its old
            // configuration (D12).
            self.status = Status::Normal;
        }
        let every = self.params.snapshot_interval;
        if self.bugs.d14 && every > 0 && op.is_multiple_of(every) {
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
        match self.app.apply(&entry.cmd) {
            Ok(v) => {
                self.done.insert(op);
                if !self.bugs.d10 {
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
