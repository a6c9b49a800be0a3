//! The full-sync machine: the sync messages' handlers and
//! the status loop that drives Work → Sync → Ready → Work.

use std::collections::{BTreeMap, BTreeSet};

use sim::{Ctx, NodeId, Reply, RequestId, Value, MS};

use super::{Body, Counter, Note, Status, Step, Timer, Var};

impl Counter {
    /// start_sync carrying my next nonces (and, intended, the round).
    pub(super) fn start_sync_body(&self) -> Body {
        Body::StartSync {
            variable_max_nonce_dict: self.max_nonces(),
            round: (!self.faithful()).then_some(self.round),
        }
    }

    /// The client asked for a full sync (`s k` on stdin).
    pub(super) fn on_sync_request(&mut self, ctx: &mut Ctx<'_, Self>, id: RequestId) {
        if self.faithful() {
            // No guard: a sync typed during a sync starts another flood.
            // `_start_full_sync` sets the status, then sleeps 0.1 s in the
            // input thread before it sends start_sync (meanwhile the status
            // loop may already run sync passes).
            self.set_status(ctx.now(), Status::Sync);
            if self.params.sync_sleep_ms > 0 {
                ctx.set_timer(Timer::FullSync(id), self.params.sync_sleep_ms * MS);
                return;
            }
            self.full_sync_woke(ctx, id);
            return;
        }
        if self.status != Status::Work {
            ctx.reply(id, Reply::Fail(Value::Null));
            return;
        }
        // Round ids are unique per initiator (ids are below 64) and
        // higher than any round this node has seen.
        let round = (self.round.max(self.epoch) / 64 + 1) * 64 + ctx.id() as u64;
        self.join(ctx, round);
        ctx.reply(id, Reply::Ok(Value::Null));
    }

    /// Faithful: `_start_full_sync` wakes and floods start_sync.
    pub(super) fn full_sync_woke(&mut self, ctx: &mut Ctx<'_, Self>, id: RequestId) {
        let body = self.start_sync_body();
        self.tell_peers(ctx, body);
        ctx.reply(id, Reply::Ok(Value::Null));
    }

    /// Intended, on a restart from durable state: sends again what the
    /// connections lost in the crash may have carried. Every peer gets this
    /// node's history (sync_data, as a new peer would); a sync in progress
    /// is announced again (its start_sync for the round, also while it waits
    /// for the votes), and a vote already
    /// cast (in ready, before or after the reset) is cast again: until the
    /// node is back at work its values are the ones it voted with.
    pub(super) fn resume(&mut self, ctx: &mut Ctx<'_, Self>) {
        let vars: Vec<Var> = self.vars.keys().copied().collect();
        let peers: Vec<NodeId> = self.peers.keys().copied().collect();
        for &p in &peers {
            for &var in &vars {
                let body = self.sync_data(var);
                self.tcp(ctx, p, body);
            }
        }
        match self.step {
            Step::Main if self.status == Status::Sync => {
                // The dicts it holds are durable, and the peers' TCP layer
                // resends whatever had not reached it: only its own
                // start_sync may have died with its connections.
                let body = self.start_sync_body();
                self.tell_peers(ctx, body);
            }
            Step::ReadyVote | Step::ReadyDone => {
                if self.step == Step::ReadyVote {
                    // A peer may still lack its dict: unchanged since the
                    // round began, as writes are refused.
                    let body = self.start_sync_body();
                    self.tell_peers(ctx, body);
                }
                let body = Body::StopSync {
                    variable_value_dict: self.values(),
                    round: Some(self.round),
                };
                self.tell_peers(ctx, body);
            }
            Step::Main | Step::ReadyWait => {}
        }
    }

    /// Intended: enter `round`, forgetting any older one, and announce it once.
    fn join(&mut self, ctx: &mut Ctx<'_, Self>, round: u64) {
        self.round = round;
        self.peer_max_nonces.clear();
        self.step = Step::Main;
        self.set_status(ctx.now(), Status::Sync);
        let body = self.start_sync_body();
        self.tell_peers(ctx, body);
    }

    /// The sync messages' handlers.
    pub(super) fn receive_sync(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, body: Body) {
        match body {
            Body::StartSync {
                variable_max_nonce_dict: dict,
                round,
            } => self.on_start_sync(ctx, from, dict, round),
            Body::SyncMismatchRequest => {
                let dict = self.max_nonces();
                self.tcp(
                    ctx,
                    from,
                    Body::SyncMismatchData {
                        variable_max_nonce_dict: dict,
                    },
                );
            }
            Body::SyncMismatchData {
                variable_max_nonce_dict: dict,
            } => {
                if self.faithful() || self.status != Status::Work {
                    self.take_dict(ctx, from, dict);
                }
            }
            Body::NonceRequest {
                variable_name,
                nonce_number_list,
            } => self.on_nonce_request(ctx, from, variable_name, &nonce_number_list),
            Body::NonceSend {
                variable_name,
                nonce_dict,
                epoch,
            } => self.on_nonce_send(from, variable_name, nonce_dict, epoch),
            Body::StopSync {
                variable_value_dict,
                round,
            } => {
                self.peer_final_values
                    .insert(from, (round.unwrap_or(0), variable_value_dict));
            }
            Body::Hello { .. }
            | Body::HelloReceived { .. }
            | Body::Status { .. }
            | Body::VariableUpdate { .. }
            | Body::SyncData { .. } => {}
        }
    }

    fn on_start_sync(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        dict: BTreeMap<Var, u64>,
        round: Option<u64>,
    ) {
        if self.faithful() {
            // Every receipt re-floods, in any status: late copies knock
            // nodes that are back at work into sync again. The handler sets
            // the status, then sleeps 0.1 s in the listener thread.
            self.stats.start_sync_handled += 1;
            self.set_status(ctx.now(), Status::Sync);
            if self.params.sync_sleep_ms > 0 {
                self.listener = Some((from, dict));
                ctx.set_timer(Timer::Listener, self.params.sync_sleep_ms * MS);
                return;
            }
            let body = self.start_sync_body();
            self.tell_peers(ctx, body);
        } else {
            let round = round.unwrap_or(0);
            if round <= self.epoch || round < self.round {
                return; // A late copy of a finished or abandoned round.
            }
            if round > self.round || self.status == Status::Work {
                self.join(ctx, round);
            }
        }
        self.take_dict(ctx, from, dict);
    }

    /// Faithful: the start_sync handler wakes from its sleep, floods its own
    /// start_sync (with the nonces as they are now) and asks the sender for
    /// its ops; the listener takes connections again.
    pub(super) fn start_sync_woke(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some((from, dict)) = self.listener.take() else {
            return;
        };
        let body = self.start_sync_body();
        self.tell_peers(ctx, body);
        self.take_dict(ctx, from, dict);
    }

    /// A peer's max-nonce dict (start_sync or sync_mismatch_data): ask it
    /// for ops and keep the dict for the sync passes. Faithful, as coded:
    /// each variable named is created if new, a nonce_request goes out per
    /// variable even when its list is empty, and the dict is stored inside
    /// that loop, so an empty dict (a peer with no variables) is never
    /// stored.
    fn take_dict(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, dict: BTreeMap<Var, u64>) {
        if self.faithful() {
            for &var in dict.keys() {
                self.vars.entry(var).or_default();
            }
        }
        self.request_nonces(ctx, from, &dict);
        if !self.faithful() || !dict.is_empty() {
            self.peer_max_nonces.insert(from, dict);
        }
    }

    /// Asks `from` for its ops below each variable's max that this node
    /// lacks. Faithful: the test looks nonces up among peer ids instead of
    /// the peer's nonces, so it asks for every nonce below the max, and it
    /// sends the request even when that is none.
    fn request_nonces(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, dict: &BTreeMap<Var, u64>) {
        for (&var, &max) in dict {
            let list: Vec<u64> = if self.faithful() {
                (0..max).collect()
            } else {
                let have = self.vars.get(&var).and_then(|c| c.peer_ops.get(&from));
                (0..max)
                    .filter(|n| !have.is_some_and(|h| h.contains_key(n)))
                    .collect()
            };
            if !list.is_empty() || self.faithful() {
                let body = Body::NonceRequest {
                    variable_name: var,
                    nonce_number_list: list,
                };
                self.tcp(ctx, from, body);
            }
        }
    }

    fn on_nonce_request(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, var: Var, list: &[u64]) {
        let own = self.vars.get(&var).map(|c| &c.own_ops);
        let found: BTreeMap<u64, i64> = list
            .iter()
            .filter_map(|n| own.and_then(|o| o.get(n)).map(|d| (*n, *d)))
            .collect();
        if self.faithful() && (own.is_none() || found.len() < list.len()) {
            // own_ops[n] raises KeyError in the handler thread: no reply at all.
            if self.stats.unanswered_requests == 0 {
                let lacking: Vec<u64> = list
                    .iter()
                    .filter(|n| !own.is_some_and(|o| o.contains_key(n)))
                    .copied()
                    .collect();
                self.stats.note(Note::Unanswered {
                    at: ctx.now(),
                    from,
                    var,
                    asked: list.len(),
                    first_lacking: lacking.iter().min().copied().unwrap_or(0),
                    lacking: lacking.len(),
                    has_var: own.is_some(),
                });
            }
            self.stats.unanswered_requests += 1;
            return;
        }
        let epoch = self.epoch_tag();
        self.tcp(
            ctx,
            from,
            Body::NonceSend {
                variable_name: var,
                nonce_dict: found,
                epoch,
            },
        );
    }

    fn on_nonce_send(
        &mut self,
        from: NodeId,
        var: Var,
        dict: BTreeMap<u64, i64>,
        epoch: Option<u64>,
    ) {
        if self.faithful() {
            let Some(ops) = self
                .vars
                .get_mut(&var)
                .and_then(|c| c.peer_ops.get_mut(&from))
            else {
                self.stats.nonce_sends_dropped += 1;
                return;
            };
            ops.extend(dict);
        } else {
            if epoch != Some(self.epoch) {
                return; // Ops of another epoch: folded already, or not yet ours.
            }
            let c = self.vars.entry(var).or_default();
            c.peer_ops.entry(from).or_default().extend(dict);
        }
        if let Some(c) = self.vars.get_mut(&var) {
            c.recompute();
        }
    }

    /// One pass of the status loop.
    pub(super) fn on_loop(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self.step {
            Step::Main => {
                let body = self.status_body(self.status);
                self.tell_peers(ctx, body);
                if self.status == Status::Sync {
                    if self.faithful() {
                        self.sync_pass_faithful(ctx);
                    } else {
                        self.sync_pass_intended(ctx);
                    }
                }
            }
            Step::ReadyWait => self.ready_wait(ctx),
            Step::ReadyVote if self.faithful() => self.vote_faithful(ctx),
            Step::ReadyVote => self.vote_intended(ctx),
            Step::ReadyDone => {
                let body = self.status_body(self.status);
                self.tell_peers(ctx, body);
                self.ready_done(ctx);
            }
        }
    }

    /// Records, for the notes, every peer this sync pass has no dict from.
    fn note_dictless(&mut self, ctx: &Ctx<'_, Self>) {
        let now = ctx.now();
        let missing: Vec<NodeId> = self.dictless_peers().collect();
        for p in missing {
            self.stats.dictless(p, now);
        }
    }

    fn sync_pass_faithful(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.note_dictless(ctx);
        let mut ready = true;
        // As coded, the test compares counts, not members: a dict from a
        // node that is not (yet) a peer can stand in for a missing peer's.
        if self.peer_max_nonces.len() != self.peers.len() {
            ready = false;
            self.tell_peers(ctx, Body::SyncMismatchRequest);
        }
        // ... and goes on with the dicts it holds.
        let dicts: Vec<(NodeId, Var, u64)> = self
            .peer_max_nonces
            .iter()
            .flat_map(|(&p, d)| d.iter().map(move |(&v, &m)| (p, v, m)))
            .collect();
        for (p, var, max) in dicts {
            if max == 0 {
                continue; // range(0): nothing is looked up.
            }
            let c = self.vars.entry(var).or_default();
            let Some(have) = c.peer_ops.get(&p) else {
                // peer_ops[p] is missing: ask for nonce 0, then the lookup
                // raises and the pass is over.
                let body = Body::NonceRequest {
                    variable_name: var,
                    nonce_number_list: vec![0],
                };
                self.tcp(ctx, p, body);
                return;
            };
            let list: Vec<u64> = (0..max).filter(|n| !have.contains_key(n)).collect();
            if !list.is_empty() {
                ready = false;
                let body = Body::NonceRequest {
                    variable_name: var,
                    nonce_number_list: list,
                };
                self.tcp(ctx, p, body);
            }
        }
        if ready {
            self.set_status(ctx.now(), Status::Ready);
            self.tell_peers(ctx, self.status_body(Status::Ready));
            self.peer_max_nonces.clear();
            self.step = Step::ReadyWait;
        }
    }

    fn ready_wait(&mut self, ctx: &mut Ctx<'_, Self>) {
        // Peers last seen in work count as done; a peer last seen in sync
        // that never reports again keeps this node here forever.
        if self.peers.values().any(|s| *s == Status::Sync) {
            return;
        }
        let body = Body::StopSync {
            variable_value_dict: self.values(),
            round: None,
        };
        self.tell_peers(ctx, body);
        self.step = Step::ReadyVote;
    }

    fn vote_faithful(&mut self, ctx: &mut Ctx<'_, Self>) {
        let vacuous = self.peer_final_values.is_empty();
        let votes = &self.peer_final_values;
        let now = ctx.now();
        let (mut reset, mut waiting) = (0, 0);
        for (var, c) in self.vars.iter_mut() {
            // Every stop_sync ever received votes, stale ones included; with
            // none at all the test passes vacuously. Each variable resets on
            // its own as soon as it matches.
            if votes.values().all(|(_, d)| d.get(var) == Some(&c.value)) {
                c.reset(now);
                reset += 1;
            } else {
                waiting += 1;
            }
        }
        self.stats.resets += reset as u64;
        let at = ctx.now();
        if reset > 0 && waiting > 0 {
            self.stats.note(Note::PartialReset { at, reset, waiting });
        }
        if waiting == 0 {
            if vacuous {
                self.stats.vacuous_agreements += 1;
                self.stats.note(Note::VacuousReset { at });
            }
            self.back_to_work(ctx);
        }
    }

    fn sync_pass_intended(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.note_dictless(ctx);
        if self
            .peers
            .keys()
            .any(|p| !self.peer_max_nonces.contains_key(p))
        {
            return; // start_sync is reliable: every peer's answer will come.
        }
        let dicts: Vec<(NodeId, BTreeMap<Var, u64>)> = self
            .peer_max_nonces
            .iter()
            .map(|(p, d)| (*p, d.clone()))
            .collect();
        let mut missing = false;
        for (p, dict) in dicts {
            missing |= dict.iter().any(|(var, &max)| {
                let have = self.vars.get(var).and_then(|c| c.peer_ops.get(&p));
                (0..max).any(|n| !have.is_some_and(|h| h.contains_key(&n)))
            });
            // Ask again: a reply may belong to an older epoch and be ignored.
            self.request_nonces(ctx, p, &dict);
        }
        if !missing {
            self.set_status(ctx.now(), Status::Ready);
            self.tell_peers(ctx, self.status_body(Status::Ready));
            let body = Body::StopSync {
                variable_value_dict: self.values(),
                round: Some(self.round),
            };
            self.tell_peers(ctx, body);
            self.step = Step::ReadyVote;
        }
    }

    fn vote_intended(&mut self, ctx: &mut Ctx<'_, Self>) {
        let mine = self.values();
        let round = self.round;
        let mut agree = true;
        for p in self.peers.keys() {
            let Some((_, theirs)) = self.peer_final_values.get(p).filter(|(r, _)| *r == round)
            else {
                return; // Not everyone has voted in this round yet.
            };
            let vars: BTreeSet<&Var> = mine.keys().chain(theirs.keys()).collect();
            agree &= vars
                .iter()
                .all(|v| mine.get(v).copied().unwrap_or(0) == theirs.get(v).copied().unwrap_or(0));
        }
        if !agree {
            // Cannot happen when every op was fetched; if it does, the node
            // stays in ready and sync-liveness reports it.
            return;
        }
        let now = ctx.now();
        for c in self.vars.values_mut() {
            c.reset(now);
            self.stats.resets += 1;
        }
        self.epoch = round;
        self.peer_max_nonces.clear();
        self.step = Step::ReadyDone;
        let body = self.status_body(Status::Ready);
        self.tell_peers(ctx, body);
        self.ready_done(ctx);
    }

    /// Intended, step 5 of the README: back to work only once every peer
    /// has reset as well, so that no new op reaches a node that would fold
    /// it into the old epoch or miss it in a read served meanwhile.
    fn ready_done(&mut self, ctx: &mut Ctx<'_, Self>) {
        let epoch = self.epoch;
        if !self
            .peers
            .keys()
            .all(|p| self.peer_epochs.get(p).is_some_and(|e| *e >= epoch))
        {
            return;
        }
        self.back_to_work(ctx);
        for (from, var, nonce, delta, e) in std::mem::take(&mut self.future) {
            self.on_update(ctx.now(), from, var, delta, nonce, Some(e));
        }
    }

    fn status_body(&self, status: Status) -> Body {
        Body::Status {
            status,
            epoch: self.epoch_tag(),
        }
    }

    fn back_to_work(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.set_status(ctx.now(), Status::Work);
        self.tell_peers(ctx, self.status_body(Status::Work));
        self.step = Step::Main;
    }
}
