//! Reconfiguration (epochs) as vrrm codes it: the primary commits a
//! `reconfigure` entry, starts the next epoch in view 0, sends start_epoch
//! to the new members and a commit of the new epoch to the old ones; a new
//! member pulls the log of a staying member (`state_transfer`), replays it
//! from its own snapshot and tells the leaving members (`epoch_started`);
//! a leaving member stops after f+1 of those. D12's holes are switches.

use sim::{Ctx, NodeId, Value};

use super::msg::{Entry, Msg};
use super::replica::{primary_in, Replica, Status};
use super::Vr;

impl Replica {
    /// The primary commits reconfiguration `op` to `new` (vrrm's
    /// prepare_ok handler, `'$reconfigure'` branch): start_epoch to every
    /// new member, commit(op, epoch + 1, view 0) to every old one (the
    /// leaving ones too: `Config -- NewNodes` is all of Config). Returns
    /// the reply, `None` when it halted.
    pub(crate) fn start_next_epoch(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        op: u64,
        new: &[NodeId],
    ) -> Option<Value> {
        let old = self.config.clone();
        let epoch = self.epoch + 1;
        for r in new.iter().filter(|r| !old.contains(r) && **r != self.id) {
            ctx.send(
                *r,
                Msg::StartEpoch {
                    epoch,
                    op,
                    old_config: old.clone(),
                    new_config: new.to_vec(),
                },
            );
        }
        let min_commit = self.min_commit_now(ctx)?;
        for r in old.iter().filter(|r| **r != self.id) {
            ctx.send(
                *r,
                Msg::Commit {
                    epoch,
                    view: 0,
                    commit: op,
                    min_commit,
                },
            );
        }
        self.done.insert(op);
        Some(Value::Str("ok".into()))
    }

    /// After the reconfiguration's commit: epoch + 1, view 0, primary iff
    /// first in the new configuration. With D12 the configuration itself
    /// stays the old one (vrrm never sets `config` here).
    pub(crate) fn enter_next_epoch(&mut self, new: Vec<NodeId>, op: u64) {
        self.epoch += 1;
        self.view = 0;
        self.last_normal = 0;
        self.primary = primary_in(&new, 0) == self.id;
        if !self.bugs.d12_stale_config {
            self.commits = vec![op; new.len()];
            self.old_config = std::mem::replace(&mut self.config, new);
        }
        self.status = Status::Normal;
    }

    /// A commit from another epoch (vrrm's maybe_transition): adopt the
    /// epoch, view 0, execute up to the commit (the reconfigure entry
    /// switches the configuration), and wait in transitioning.
    pub(crate) fn transition(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        epoch: u64,
        commit: u64,
        min_commit: u64,
    ) {
        self.min_commit = min_commit;
        self.epoch = epoch;
        self.view = 0;
        if !self.catch_up(ctx, commit) {
            return;
        }
        let first = self.primary_of(0) == self.id;
        if self.bugs.d12_stale_config {
            if first && self.bugs.d12_lists_replicate_undef {
                return self.halt(
                    ctx,
                    "undef: lists:replicate/2 (the new primary's commits vector after a reconfiguration, D12 before 3d69d86)".into(),
                );
            }
            if first {
                // 527e0ce: lists:duplicate(length(Config), Commit); the
                // primary flag is left as it was.
                self.commits = vec![self.commit; self.config.len()];
            }
        } else {
            self.primary = first;
            self.commits = vec![self.commit; self.config.len()];
            if first {
                self.status = Status::Normal;
                return self.arm_timer(ctx);
            }
        }
        self.status = Status::Transitioning;
    }

    /// A spare gets start_epoch: pick a staying member at random and call
    /// its state_transfer (blocking: other messages wait).
    pub(crate) fn on_start_epoch(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        epoch: u64,
        op: u64,
        old: Vec<NodeId>,
        new: Vec<NodeId>,
    ) {
        let staying: Vec<NodeId> = new.iter().filter(|r| old.contains(r)).copied().collect();
        if staying.is_empty() {
            return self.halt(
                ctx,
                "rand:uniform(0) in pick/1: the new configuration keeps no old member".into(),
            );
        }
        let source = staying[ctx.rng().below(staying.len() as u64) as usize];
        self.joining = Some((epoch, op, old, new));
        self.status = Status::Joining;
        ctx.send(source, Msg::StateTransfer);
    }

    /// vrrm's state_transfer call, answered in normal or transitioning with
    /// the whole log (no snapshot) and the commit number; with D9 it moves
    /// the source to normal.
    pub(crate) fn on_state_transfer(&mut self, ctx: &mut Ctx<'_, Vr>, from: NodeId) {
        if !matches!(self.status, Status::Normal | Status::Transitioning) {
            return;
        }
        ctx.send(
            from,
            Msg::StateTransferReply {
                log: self.log.values().cloned().collect(),
                commit: self.commit,
                view: self.view,
            },
        );
        if self.bugs.d9_probe_mutates_status {
            self.status = Status::Normal;
        }
    }

    /// The new member installs the shipped log, replays ops 1..=commit
    /// from its own snapshot (op 0: a compacted source lacks them, D14),
    /// tells the leaving members, and joins in view 0.
    pub(crate) fn on_state_transfer_reply(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        log: Vec<Entry>,
        commit: u64,
        _view: u64,
    ) {
        let Some((epoch, op, old, new)) = self.joining.take() else {
            return;
        };
        for e in log {
            self.log.insert(e.op, e);
        }
        if !self.catch_up(ctx, commit) {
            return;
        }
        for r in old.iter().filter(|r| !new.contains(r)) {
            ctx.send(*r, Msg::EpochStarted { epoch });
        }
        self.epoch = epoch;
        self.op = op;
        self.view = 0;
        self.last_normal = 0;
        self.old_config = old;
        self.config = new;
        self.status = Status::Normal;
        if self.bugs.d12_new_member_crash {
            // vrrm: `primary = find_primary(NewConfig, 0)`, a pid; commits
            // stay the record default []; no timer is armed.
            self.pid_primary = true;
            self.primary = false;
            self.commits = Vec::new();
        } else {
            self.primary = self.primary_of(0) == self.id;
            self.commits = vec![self.commit; self.config.len()];
            self.arm_timer(ctx);
        }
        for (from, msg) in std::mem::take(&mut self.postponed) {
            self.on_message(ctx, from, msg);
        }
    }

    /// A leaving member in transitioning stops after f+1 epoch_started
    /// (f of its configuration, the new one by now; vrrm counts every
    /// message, duplicates included). Elsewhere they are ignored.
    pub(crate) fn on_epoch_started(&mut self, _ctx: &mut Ctx<'_, Vr>, from: NodeId, epoch: u64) {
        if !self.bugs.vrrm_epochs || self.status != Status::Transitioning {
            return;
        }
        self.started.push((epoch, from));
        let n = self.started.iter().filter(|(e, _)| *e == epoch).count();
        if n > self.f() {
            self.status = Status::Stopped;
        }
    }
}
