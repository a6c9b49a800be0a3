//! A replica: its state, normal operation (request, prepare, prepare_ok,
//! commit), execution and the timers. View change and recovery live in
//! their own modules and work on the same state.

use std::collections::{BTreeMap, BTreeSet};

use sim::{Ctx, Digest, NodeId, Value, MS};

use super::app::AppState;
use super::msg::{Entry, Msg, Response, Timer, ViewReport};
use super::{Bugs, Params, Vr};

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
    /// vrrm: a primary whose reconfiguration is not committed yet, or a
    /// member that learned of a new epoch from a commit.
    Transitioning,
    /// vrrm: a new member blocked in its `state_transfer` call.
    Joining,
    /// vrrm's `{stop, normal}`: a member that left the configuration.
    Stopped,
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
    /// D12: the primary flag holds a process id (a replica that joined by
    /// start_epoch): neither `true` nor `false` to vrrm's clauses.
    pub(crate) pid_primary: bool,
    /// The configuration (replica ids; the primary of view v is
    /// config[v mod len]).
    pub(crate) config: Vec<NodeId>,
    /// The configuration before the last reconfiguration.
    pub(crate) old_config: Vec<NodeId>,
    /// The epoch (vrrm: bumped by each committed reconfiguration).
    pub(crate) epoch: u64,
    /// A joining member's start_epoch: (epoch, op, old, new config).
    pub(crate) joining: Option<(u64, u64, Vec<NodeId>, Vec<NodeId>)>,
    /// epoch_started messages collected by a leaving member: (epoch, sender).
    pub(crate) started: Vec<(u64, NodeId)>,
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
    pub(crate) responses: Vec<Response>,
    /// Messages postponed while recovering (vrrm's gen_statem postpone).
    pub(crate) postponed: Vec<(NodeId, Msg)>,
    /// Paper: it moved to a newer view by state transfer and new_state has
    /// not arrived yet: its log and `last_normal` are still those of its
    /// old view (reported as such in a view change), it logs nothing of the
    /// new view and answers no get_state.
    pub(crate) awaiting_state: bool,
    /// When (its own clock) it last asked for that state.
    pub(crate) state_asked_at: u64,
    /// Paper, on a primary: the highest op each backup acknowledged in
    /// this view (prepare_oks are cumulative), so a resend carries only
    /// what that backup lacks.
    pub(crate) acked: BTreeMap<NodeId, u64>,
    /// It crashed before: a start is a restart.
    pub(crate) restarted: bool,
    /// Why it halted last (set just before `ctx.halt`), for unit tests.
    pub(crate) halted: Option<String>,
}

impl Replica {
    /// Replica `id` of `n`.
    pub fn new(id: NodeId, n: usize, bugs: Bugs, params: &Params) -> Self {
        let config = params
            .initial_config
            .clone()
            .unwrap_or_else(|| (0..n).collect());
        Replica {
            id,
            n,
            bugs,
            params: params.clone(),
            status: Status::Unconfigured,
            primary: false,
            pid_primary: false,
            commits: vec![0; config.len()],
            config,
            old_config: Vec::new(),
            epoch: 0,
            joining: None,
            started: Vec::new(),
            view: 0,
            last_normal: 0,
            op: 0,
            commit: 0,
            min_commit: 0,
            log: BTreeMap::new(),
            done: BTreeSet::new(),
            app: AppState::new(params.app),
            table: BTreeMap::new(),
            acks: BTreeMap::new(),
            svc_from: BTreeSet::new(),
            dvc_sent: false,
            dvcs: Vec::new(),
            nonce: 0,
            responses: Vec::new(),
            postponed: Vec::new(),
            awaiting_state: false,
            state_asked_at: 0,
            acked: BTreeMap::new(),
            restarted: false,
            halted: None,
        }
    }

    /// f = ⌊(n−1)/2⌋ for the configuration's n.
    pub(crate) fn f(&self) -> usize {
        self.config.len().saturating_sub(1) / 2
    }

    /// Replicas besides this one that a quorum needs: the prepare_oks a
    /// commit needs, the start_view_change messages from others before a
    /// do_view_change. vrrm: f for any n; paper: ⌊n/2⌋, so that with this
    /// replica they are a majority (f for an odd n = 2f + 1).
    pub(crate) fn others_needed(&self) -> usize {
        if self.bugs.vrrm_quorum_f {
            self.f()
        } else {
            self.config.len() / 2
        }
    }

    /// A quorum of reports (do_view_change, recovery_response), this
    /// replica's own included where it counts: vrrm f + 1, paper a
    /// majority ⌊n/2⌋ + 1.
    pub(crate) fn quorum(&self) -> usize {
        self.others_needed() + 1
    }

    /// Recovery responses a recovering replica needs (from the others):
    /// enough to meet every majority that may hold a committed op, less
    /// the recovering replica itself, i.e. ⌈n/2⌉. For odd n that is the
    /// paper's f + 1 (= [`Self::quorum`]); for even n it is one fewer, so a
    /// restarted replica of two or four still recovers. vrrm (with
    /// `vrrm_quorum_f`) keeps its own f + 1.
    pub(crate) fn recovery_quorum(&self) -> usize {
        if self.bugs.vrrm_quorum_f {
            self.quorum()
        } else {
            let n = self.config.len();
            n - n / 2
        }
    }

    /// The primary of `view`: config[view mod n].
    pub(crate) fn primary_of(&self, view: u64) -> NodeId {
        primary_in(&self.config, view)
    }

    /// This replica's slot in the commits vector.
    pub(crate) fn slot(&self, r: NodeId) -> Option<usize> {
        self.config.iter().position(|c| *c == r)
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
        if !self.restarted && !self.config.contains(&self.id) {
            // A spare: never given initial_config; only start_epoch
            // configures it.
            self.status = Status::Unconfigured;
        } else if !self.restarted {
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

    /// Sends `msg` to every other member of the configuration.
    pub(crate) fn to_others(&self, ctx: &mut Ctx<'_, Vr>, msg: Msg) {
        for r in &self.config {
            if *r != self.id {
                ctx.send(*r, msg.clone());
            }
        }
    }

    /// Sends `msg` to every member, itself included.
    pub(crate) fn to_all(&self, ctx: &mut Ctx<'_, Vr>, msg: Msg) {
        for r in &self.config {
            ctx.send(*r, msg.clone());
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
            Status::Unconfigured => {
                // vrrm postpones requests while unconfigured (here: dropped);
                // only start_epoch configures a spare.
                if let Msg::StartEpoch {
                    epoch,
                    op,
                    old_config,
                    new_config,
                } = msg
                {
                    if self.bugs.vrrm_epochs && !self.restarted {
                        self.on_start_epoch(ctx, epoch, op, old_config, new_config);
                    }
                }
                return;
            }
            Status::Stopped => return,
            Status::Joining => {
                // Blocked in the state_transfer call: everything else waits
                // in the mailbox.
                match msg {
                    Msg::StateTransferReply { log, commit, view } => {
                        self.on_state_transfer_reply(ctx, log, commit, view)
                    }
                    other => self.postponed.push((from, other)),
                }
                return;
            }
            Status::Recovering => {
                let recovery = matches!(msg, Msg::Recovery { .. } | Msg::RecoveryResponse { .. });
                if !recovery {
                    if self.bugs.out_of_date_recovery && !matches!(msg, Msg::Request { .. }) {
                        self.postponed.push((from, msg));
                    }
                    return;
                }
            }
            _ => {}
        }
        if self.bugs.out_of_date_recovery && self.stale_filter(ctx, from, &msg) {
            return;
        }
        match msg {
            Msg::Request { req_num, cmd } => self.on_request(ctx, from, req_num, cmd),
            Msg::Prepare {
                epoch,
                view,
                op,
                commit,
                min_commit,
                entry,
            } => self.on_prepare(ctx, from, epoch, view, op, commit, min_commit, entry),
            Msg::PrepareOk { view, op, .. } => self.on_prepare_ok(ctx, from, view, op),
            Msg::Commit {
                epoch,
                view,
                commit,
                min_commit,
            } => self.on_commit(ctx, from, epoch, view, commit, min_commit),
            Msg::StartViewChange { view, .. } => self.on_start_view_change(ctx, from, view),
            Msg::DoViewChange { view, report, .. } => {
                self.on_do_view_change(ctx, from, view, report)
            }
            Msg::StartView {
                view,
                log,
                op,
                commit,
                ..
            } => self.on_start_view(ctx, from, view, log, op, commit),
            Msg::OutOfDate { epoch, view } => self.on_out_of_date(ctx, epoch, view),
            Msg::Recovery { nonce, .. } => self.on_recovery(ctx, from, nonce),
            Msg::RecoveryResponse {
                epoch,
                view,
                nonce,
                state,
            } => self.on_recovery_response(ctx, from, epoch, view, nonce, state),
            Msg::GetState { view, after } => self.on_get_state(ctx, from, view, after),
            Msg::NewState {
                view,
                after,
                entries,
                op,
                commit,
            } => self.on_new_state(ctx, view, after, entries, op, commit),
            Msg::StartEpoch { epoch, .. } => {
                // vrrm: a normal member already in that epoch answers.
                if self.bugs.vrrm_epochs && self.status == Status::Normal && epoch == self.epoch {
                    ctx.send(from, Msg::EpochStarted { epoch });
                }
            }
            Msg::EpochStarted { epoch } => self.on_epoch_started(ctx, from, epoch),
            Msg::StateTransfer => self.on_state_transfer(ctx, from),
            Msg::StateTransferReply { .. }
            | Msg::Reply { .. }
            | Msg::GetStatus { .. }
            | Msg::Status { .. } => {}
        }
    }

    /// vrrm's get_status: answered in every state but recovering (whose
    /// catch-all clause comes first and swallows calls); with D9 it moves a
    /// replica in view_change or transitioning to normal (vrrm: any state;
    /// an unconfigured replica is left as it is, docs/protocols/vr.md).
    fn on_probe(&mut self, ctx: &mut Ctx<'_, Vr>, from: NodeId, probe: u64) {
        let status = match self.status {
            Status::Normal => "normal",
            Status::ViewChange => "view_change",
            Status::Recovering | Status::Stopped => return,
            Status::Joining => {
                // Blocked in a call: the probe waits in the mailbox.
                self.postponed.push((from, Msg::GetStatus { probe }));
                return;
            }
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
        let moved = matches!(self.status, Status::ViewChange | Status::Transitioning);
        if self.bugs.d9_probe_mutates_status && moved {
            self.status = Status::Normal;
        }
    }

    /// vrrm's generic filters in normal: a message from an older epoch, or
    /// from the same epoch and an older view, is answered with out_of_date
    /// and dropped.
    fn stale_filter(&self, ctx: &mut Ctx<'_, Vr>, from: NodeId, msg: &Msg) -> bool {
        if self.status != Status::Normal {
            return false;
        }
        let (epoch, view) = match msg {
            Msg::Prepare { epoch, view, .. }
            | Msg::PrepareOk { epoch, view, .. }
            | Msg::Commit { epoch, view, .. }
            | Msg::StartViewChange { epoch, view }
            | Msg::DoViewChange { epoch, view, .. }
            | Msg::StartView { epoch, view, .. }
            | Msg::OutOfDate { epoch, view }
            | Msg::Recovery { epoch, view, .. }
            | Msg::RecoveryResponse { epoch, view, .. } => (*epoch, Some(*view)),
            // No view in vrrm's wrapper (undefined, which no integer exceeds).
            Msg::StartEpoch { epoch, .. } | Msg::EpochStarted { epoch } => (*epoch, None),
            _ => return false,
        };
        if epoch < self.epoch || (epoch == self.epoch && view.is_some_and(|v| v < self.view)) {
            ctx.send(
                from,
                Msg::OutOfDate {
                    epoch: self.epoch,
                    view: self.view,
                },
            );
            return true;
        }
        false
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_, Vr>, timer: Timer) {
        match (timer, self.status) {
            (Timer::IdleCommit, Status::Normal) if self.primary => self.on_idle(ctx),
            (Timer::Failure, Status::Normal) if !self.primary && !self.pid_primary => {
                self.on_primary_silent(ctx)
            }
            (Timer::Failure, Status::ViewChange) if !self.bugs.d8_no_view_change_retry => {
                let next = self.view + 1;
                self.start_view_change(ctx, next);
            }
            (Timer::Recovery, Status::Recovering) if !self.bugs.out_of_date_recovery => {
                self.start_recovery(ctx)
            }
            _ => {}
        }
    }
}

/// The primary of `view` in `config`: config[view mod len].
pub(crate) fn primary_in(config: &[NodeId], view: u64) -> NodeId {
    config[(view % config.len() as u64) as usize]
}
