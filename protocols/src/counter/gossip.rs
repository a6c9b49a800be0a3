//! Work-mode traffic: local adds, hellos and peer discovery, variable
//! updates and sync_data, and the dispatch of every application message.

use std::collections::BTreeMap;

use sim::{Ctx, NodeId, Reply, Request, Time, Value};

use super::{Body, Counter, Msg, Note, Status, Var};

impl Counter {
    pub(super) fn on_add(&mut self, ctx: &mut Ctx<'_, Self>, r: &Request, var: Var) {
        if !self.known_or_created(var) || self.status != Status::Work {
            // The original prints "invalid variable name" or "wait full-sync
            // to finish" and does nothing.
            ctx.reply(r.id, Reply::Fail(Value::Null));
            return;
        }
        let delta = r.value.as_int().unwrap_or(0);
        let epoch = self.epoch_tag();
        let c = self.vars.entry(var).or_default();
        let nonce = c.next_nonce;
        let gen = c.resets;
        c.next_nonce += 1;
        c.own_ops.insert(nonce, delta);
        c.value = c.value.saturating_add(delta);
        ctx.broadcast(Msg::Udp {
            body: Body::VariableUpdate {
                variable_name: var,
                operation: delta,
                nonce,
                epoch,
                gen,
            },
        });
        ctx.reply(r.id, Reply::Ok(r.value.clone()));
    }

    fn on_hello(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, status: Status, session: u64) {
        let restarted = !self.faithful()
            && self
                .sessions
                .insert(from, session)
                .is_some_and(|s| s != session);
        if self.peers.contains_key(&from) && !restarted {
            return;
        }
        let vars: Vec<Var> = self.vars.keys().copied().collect();
        for var in vars {
            let body = self.sync_data(var);
            self.tcp(ctx, from, body);
            // As coded, the peer is recorded inside this loop: a node with
            // no variables never records a peer from its hello.
            self.peers.insert(from, status);
        }
        if !self.faithful() {
            self.peers.insert(from, status);
        }
        self.tcp(
            ctx,
            from,
            Body::HelloReceived {
                status: self.status,
            },
        );
        if status == Status::Work && self.status != Status::Work {
            let body = self.start_sync_body();
            self.tcp(ctx, from, body);
        }
    }

    pub(super) fn sync_data(&self, var: Var) -> Body {
        let c = self.vars.get(&var).cloned().unwrap_or_default();
        Body::SyncData {
            variable_name: var,
            history: c.own_ops,
            previous_value: c.baseline,
            epoch: self.epoch_tag(),
        }
    }

    fn on_sync_data(
        &mut self,
        now: Time,
        from: NodeId,
        var: Var,
        history: BTreeMap<u64, i64>,
        base: i64,
        epoch: Option<u64>,
    ) {
        let mut merge = false;
        if let Some(e) = epoch {
            // Intended: within an epoch an op never changes, so a history
            // adds to what is held; a TCP snapshot may arrive after a newer
            // UDP update, which replacing would lose.
            merge = e == self.epoch;
            if e < self.epoch {
                return; // From before a reset this node already made.
            }
            if e > self.epoch && e == self.round {
                // The sender reset in the round this node is finishing (it
                // has this node's vote): this node will reset by itself,
                // and the sender's post-reset baseline on top of this
                // node's unfolded ops would count them twice.
                return;
            }
            // A newer epoch: this node joined after a reset.
            self.epoch = e;
        }
        let c = self.vars.entry(var).or_default();
        // Whichever baseline arrived last wins: there is no rule (§2.8).
        c.baseline = base;
        // The ops held before that the record no longer has as they were.
        let gone: Vec<i64> = if merge {
            // Merged: only a nonce the history holds with another delta.
            let held = c.peer_ops.entry(from).or_default();
            let changed = history
                .iter()
                .filter_map(|(n, d)| held.get(n).filter(|old| *old != d).copied())
                .collect();
            held.extend(history);
            changed
        } else {
            let old = c.peer_ops.insert(from, history).unwrap_or_default();
            let new = &c.peer_ops[&from];
            old.into_iter()
                .filter(|(n, d)| new.get(n) != Some(d))
                .map(|(_, d)| d)
                .collect()
        };
        c.recompute();
        if !gone.is_empty() {
            self.stats.note(Note::HistoryReplaced {
                at: now,
                from,
                var,
                lost: gone.len(),
                lost_sum: gone.iter().fold(0i64, |a, d| a.saturating_add(*d)),
            });
        }
    }

    pub(super) fn on_update(
        &mut self,
        now: Time,
        from: NodeId,
        var: Var,
        delta: i64,
        nonce: u64,
        epoch: Option<u64>,
    ) {
        if let Some(e) = epoch {
            if e < self.epoch {
                return; // Already folded into the baseline by an agreed reset.
            }
            if e > self.epoch {
                self.future.push((from, var, nonce, delta, e));
                return;
            }
        }
        let faithful = self.faithful();
        let c = self.vars.entry(var).or_default();
        let ops = c.peer_ops.entry(from).or_default();
        if let Some(&old) = ops.get(&nonce) {
            if !faithful {
                return;
            }
            self.stats.double_counted += 1;
            self.stats.note(if old == delta {
                Note::DoubleCounted {
                    at: now,
                    from,
                    var,
                    nonce,
                    delta,
                }
            } else {
                Note::NonceReused {
                    at: now,
                    from,
                    var,
                    nonce,
                    old,
                    new: delta,
                }
            });
        }
        ops.insert(nonce, delta);
        c.value = c.value.saturating_add(delta);
    }

    /// Notes (faithful): an update that lands in an empty slot although
    /// this node's last reset folded that very op into the baseline: the
    /// sender made it before as many resets as this node has made, and the
    /// reset folded the same delta at that (sender, nonce).
    fn note_refolded(
        &mut self,
        at: Time,
        from: NodeId,
        var: Var,
        delta: i64,
        nonce: u64,
        gen: u64,
    ) {
        let Some(c) = self.vars.get(&var).filter(|_| self.faithful()) else {
            return;
        };
        let empty = !c
            .peer_ops
            .get(&from)
            .is_some_and(|o| o.contains_key(&nonce));
        let folded = c.folded.get(&from).and_then(|o| o.get(&nonce)) == Some(&delta);
        if empty && folded && gen < c.resets {
            let reset_at = c.reset_at;
            self.stats.note(Note::Refolded {
                at,
                from,
                var,
                nonce,
                delta,
                reset_at,
            });
        }
    }

    /// Notes (faithful): a sync_data that replaces this node's baseline.
    fn note_baseline(
        &mut self,
        at: Time,
        from: NodeId,
        var: Var,
        history: &BTreeMap<u64, i64>,
        base: i64,
    ) {
        let old = self.vars.get(&var).map_or(0, |c| c.baseline);
        if self.faithful() && old != base {
            self.stats.note(Note::BaselineReplaced {
                at,
                from,
                var,
                old,
                new: base,
                ops: history.len(),
            });
        }
    }

    pub(super) fn receive(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, body: Body) {
        if self.faithful() && body.encoded_len() > self.params.max_message_bytes {
            // Python reads 8192 bytes, gets a truncated fragment, fails to parse.
            self.stats.oversize_dropped += 1;
            return;
        }
        match body {
            Body::Hello { status, session } => self.on_hello(ctx, from, status, session),
            Body::HelloReceived { status } => {
                self.peers.insert(from, status);
            }
            Body::Status { status, epoch } => {
                self.peers.insert(from, status);
                if let Some(e) = epoch {
                    self.peer_epochs.insert(from, e);
                }
            }
            Body::VariableUpdate {
                variable_name,
                operation,
                nonce,
                epoch,
                gen,
            } => {
                self.note_refolded(ctx.now(), from, variable_name, operation, nonce, gen);
                self.on_update(ctx.now(), from, variable_name, operation, nonce, epoch)
            }
            Body::SyncData {
                variable_name,
                history,
                previous_value,
                epoch,
            } => {
                self.note_baseline(ctx.now(), from, variable_name, &history, previous_value);
                self.on_sync_data(
                    ctx.now(),
                    from,
                    variable_name,
                    history,
                    previous_value,
                    epoch,
                )
            }
            other => self.receive_sync(ctx, from, other),
        }
    }
}
