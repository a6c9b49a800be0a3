//! View change: start_view_change, do_view_change, start_view, as vrrm
//! codes them (D4–D8, D11 on) and as the paper describes them (off).

use sim::{Ctx, NodeId};

use super::msg::{Entry, Msg, ViewReport};
use super::replica::{Replica, Status};
use super::Vr;

impl Replica {
    /// A backup's failure timer fired in normal.
    pub(crate) fn on_primary_silent(&mut self, ctx: &mut Ctx<'_, Vr>) {
        let next = self.view + 1;
        if self.bugs.d4_disruptive_view_change {
            // vrrm: view += 1, start_view_change to every member including
            // itself; its own copy makes it send do_view_change.
            self.view = next;
            self.status = Status::ViewChange;
            for r in self.config.clone() {
                ctx.send(
                    r,
                    Msg::StartViewChange {
                        epoch: self.epoch,
                        view: next,
                    },
                );
            }
            return self.arm_timer(ctx);
        }
        self.start_view_change(ctx, next);
    }

    /// Paper: move to view `view` and tell everyone.
    pub(crate) fn start_view_change(&mut self, ctx: &mut Ctx<'_, Vr>, view: u64) {
        if self.status == Status::Normal && !self.awaiting_state {
            self.last_normal = self.view;
        }
        self.view = view;
        self.status = Status::ViewChange;
        self.primary = false;
        self.svc_from.clear();
        self.dvc_sent = false;
        self.dvcs.retain(|(v, _, _)| *v >= view);
        self.to_others(
            ctx,
            Msg::StartViewChange {
                epoch: self.epoch,
                view,
            },
        );
        self.arm_timer(ctx);
        self.maybe_send_dvc(ctx);
    }

    /// What this replica reports in a do_view_change.
    fn report(&self) -> ViewReport {
        let from = if self.bugs.d4_disruptive_view_change {
            self.min_commit
        } else {
            0
        };
        ViewReport {
            last_normal: if self.bugs.d4_disruptive_view_change {
                self.view
            } else {
                self.last_normal
            },
            op: self.op,
            commit: self.commit,
            log: self.log.range(from..).map(|(_, e)| e.clone()).collect(),
        }
    }

    pub(crate) fn on_start_view_change(&mut self, ctx: &mut Ctx<'_, Vr>, from: NodeId, view: u64) {
        if self.bugs.d4_disruptive_view_change {
            // vrrm: any start_view_change (normal or view_change, even for
            // the current view) sends do_view_change at once, without
            // moving to its view.
            if self.status == Status::Normal && !self.awaiting_state {
                self.last_normal = self.view;
            }
            let report = self.report();
            ctx.send(
                self.primary_of(view),
                Msg::DoViewChange {
                    epoch: self.epoch,
                    view,
                    report,
                },
            );
            self.status = Status::ViewChange;
            return self.arm_timer(ctx);
        }
        if view < self.view || (view == self.view && self.status == Status::Normal) {
            return;
        }
        if view > self.view {
            self.start_view_change(ctx, view);
        }
        if self.status == Status::ViewChange && view == self.view {
            self.svc_from.insert(from);
            self.maybe_send_dvc(ctx);
        }
    }

    /// Paper: with f start_view_change messages from others, send
    /// do_view_change to the new primary (once).
    fn maybe_send_dvc(&mut self, ctx: &mut Ctx<'_, Vr>) {
        if self.dvc_sent || self.svc_from.len() < self.others_needed() {
            return;
        }
        self.dvc_sent = true;
        let (view, report) = (self.view, self.report());
        let p = self.primary_of(view);
        if p == self.id {
            self.on_do_view_change(ctx, p, view, report);
        } else {
            ctx.send(
                p,
                Msg::DoViewChange {
                    epoch: self.epoch,
                    view,
                    report,
                },
            );
        }
    }

    pub(crate) fn on_do_view_change(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        from: NodeId,
        view: u64,
        report: ViewReport,
    ) {
        if !self.bugs.d4_disruptive_view_change {
            if view < self.view || (view == self.view && self.status != Status::ViewChange) {
                return;
            }
            if view > self.view {
                self.start_view_change(ctx, view);
            }
            if view != self.view || self.status != Status::ViewChange {
                return;
            }
            self.dvcs.retain(|(v, s, _)| !(*v == view && *s == from));
        } else if self.status != Status::ViewChange {
            return; // vrrm: late (or early) do_view_change in normal is dropped
        }
        self.dvcs.insert(0, (view, from, report));
        if self.primary_of(view) != self.id {
            return self.halt(
                ctx,
                format!("assertion failed: self() == find_primary(Config, {view})"),
            );
        }
        let oks: Vec<&(u64, NodeId, ViewReport)> =
            self.dvcs.iter().filter(|(v, _, _)| *v == view).collect();
        let has_self = oks.iter().any(|(_, s, _)| *s == self.id);
        if oks.len() >= self.quorum() && has_self {
            let chosen = self.choose(view);
            let high_commit = oks.iter().map(|(_, _, r)| r.commit).max().unwrap_or(0);
            self.finish_view_change(ctx, view, chosen, high_commit);
        }
    }

    /// The report whose log the new primary takes: the largest op (D5;
    /// among equals the one collected first, as vrrm's fold ends on it), or
    /// the largest (last-normal view, op) with the lowest sender on ties.
    fn choose(&self, view: u64) -> ViewReport {
        let oks = self.dvcs.iter().filter(|(v, _, _)| *v == view);
        let best = if self.bugs.d5_log_by_op_only {
            oks.fold(
                None,
                |best: Option<&(u64, NodeId, ViewReport)>, m| match best {
                    Some(b) if m.2.op < b.2.op => Some(b),
                    _ => Some(m),
                },
            )
        } else {
            oks.max_by(|a, b| {
                (a.2.last_normal, a.2.op, std::cmp::Reverse(a.1)).cmp(&(
                    b.2.last_normal,
                    b.2.op,
                    std::cmp::Reverse(b.1),
                ))
            })
        };
        best.map(|b| b.2.clone())
            .expect("at least f+1 reports were collected")
    }

    fn finish_view_change(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        view: u64,
        chosen: ViewReport,
        high_commit: u64,
    ) {
        if self.bugs.d6_primary_skips_execution {
            // vrrm: fill gaps from the chosen log, keep own uncommitted
            // entries, adopt the commit number without executing.
            if self.sync_log(ctx, chosen.op, &chosen.log).is_none() {
                return;
            }
            self.commit = high_commit;
        } else {
            if high_commit > chosen.op {
                // Impossible in correct VR: the chosen log holds every
                // committed op. A bug got here; losing ops quietly would
                // hide it.
                return self.halt(
                    ctx,
                    format!(
                        "VR assertion failed: view {view} chose a log ending at op {} but a do_view_change reports commit {high_commit} (committed ops would be lost)",
                        chosen.op
                    ),
                );
            }
            if !self.install_log(ctx, chosen.op, &chosen.log, high_commit) {
                return;
            }
        }
        self.op = chosen.op;
        self.view = view;
        self.last_normal = view;
        self.awaiting_state = false;
        self.primary = true;
        self.pid_primary = false;
        self.status = Status::Normal;
        self.dvcs.retain(|(v, _, _)| *v != view);
        self.acks.clear();
        self.acked.clear();
        let (log, op, commit) = if self.bugs.d6_primary_skips_execution {
            (chosen.log, chosen.op, high_commit)
        } else {
            (self.log.values().cloned().collect(), self.op, self.commit)
        };
        let sv = Msg::StartView {
            epoch: self.epoch,
            view,
            log,
            op,
            commit,
        };
        if self.bugs.d4_disruptive_view_change {
            self.to_all(ctx, sv); // vrrm sends it to itself too
        } else {
            self.to_others(ctx, sv);
        }
        if !self.bugs.d10_at_least_once {
            self.rebuild_table();
        }
        self.arm_timer(ctx);
        if !self.bugs.d13_commit_needs_ack {
            self.commit_ready(ctx);
        }
    }

    /// Paper: the client table forgets requests that did not survive the
    /// view change and learns those in the new log.
    fn rebuild_table(&mut self) {
        for t in self.table.values_mut() {
            t.retain(|_, r| r.committed);
        }
        let pending: Vec<Entry> = self
            .log
            .range(self.commit + 1..)
            .map(|(_, e)| e.clone())
            .collect();
        for e in pending {
            self.note_request(&e);
        }
    }

    /// Paper: installs a view's log (`log` up to `op`, with commit number
    /// `commit`): entries above this replica's commit number come from
    /// `log`, and the ops up to `commit` run. A commit number above `op`
    /// cannot come from a correct replica (a committed op would be lost):
    /// it halts, naming both. False when it halted.
    pub(crate) fn install_log(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        op: u64,
        log: &[Entry],
        commit: u64,
    ) -> bool {
        if commit > op {
            self.halt(
                ctx,
                format!("VR assertion failed: a log ending at op {op} with commit number {commit}"),
            );
            return false;
        }
        self.replace_log(op, log);
        self.catch_up(ctx, commit)
    }

    /// Paper: entries above the commit number come from `log`, up to `op`.
    fn replace_log(&mut self, op: u64, log: &[Entry]) {
        let keep = self.commit;
        self.log.retain(|k, _| *k <= keep);
        for e in log {
            if e.op > keep && e.op <= op {
                self.log.insert(e.op, e.clone());
            }
        }
    }

    /// vrrm's sync_log over ops `commit+1 ..= op`: inserts what is missing
    /// (a crash if `log` lacks it too), asserts committed entries equal,
    /// keeps present uncommitted ones. Returns the ops to execute (new or
    /// not yet executed); `None` when it halted.
    pub(crate) fn sync_log(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        op: u64,
        log: &[Entry],
    ) -> Option<Vec<u64>> {
        let mut run = Vec::new();
        for k in self.commit + 1..=op {
            let theirs = log.iter().find(|e| e.op == k);
            match (self.log.get(&k), theirs) {
                (None, Some(e)) => {
                    self.log.insert(k, e.clone());
                    run.push(k);
                }
                (None, None) => {
                    self.halt(
                        ctx,
                        format!("ets:insert(Log, false): op {k} is in neither log"),
                    );
                    return None;
                }
                (Some(mine), theirs) if self.done.contains(&k) => {
                    if let Some(t) = theirs.filter(|t| t.cmd != mine.cmd) {
                        let msg = format!(
                            "badmatch in sync_log: committed op {k} is {:?} here but {:?} in the new log",
                            mine.cmd, t.cmd
                        );
                        self.halt(ctx, msg);
                        return None;
                    }
                }
                (Some(_), _) => run.push(k),
            }
        }
        Some(run)
    }

    pub(crate) fn on_start_view(
        &mut self,
        ctx: &mut Ctx<'_, Vr>,
        from: NodeId,
        view: u64,
        log: Vec<Entry>,
        op: u64,
        commit: u64,
    ) {
        let _ = from;
        if self.bugs.out_of_date_recovery {
            if self.status != Status::ViewChange {
                return; // vrrm: only in view_change, any view
            }
        } else if view < self.view || (view == self.view && self.status == Status::Normal) {
            return;
        }
        let p = self.primary_of(view);
        let am_primary = p == self.id;
        if self.bugs.d7_backup_double_execution {
            let Some(run) = self.sync_log(ctx, op, &log) else {
                return;
            };
            for k in run {
                if self.execute(ctx, k).is_none() {
                    return;
                }
            }
            for k in commit + 1..=op {
                ctx.send(
                    p,
                    Msg::PrepareOk {
                        epoch: self.epoch,
                        view,
                        op: k,
                    },
                );
            }
        } else {
            if !self.install_log(ctx, op, &log, commit) {
                return;
            }
            if op > self.commit && !am_primary {
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
        let n = self.config.len();
        self.commits = if am_primary {
            vec![self.min_commit; n]
        } else if self.bugs.d11_empty_commits {
            Vec::new()
        } else {
            vec![self.commit; n]
        };
        self.op = op;
        self.view = view;
        self.last_normal = view;
        self.awaiting_state = false;
        self.primary = am_primary;
        self.pid_primary = false;
        self.status = Status::Normal;
        self.arm_timer(ctx);
    }
}
