//! The op-log integer CRDT of yilmaz-burak/python-crdt, with its blocking
//! Work / Sync / Ready "full sync" (SEEDS.md §2).
//!
//! Every node keeps, per named variable (a workload key `k` is variable `k`),
//! a baseline, its own ops by nonce and every peer's ops by (peer, nonce);
//! the value is the baseline plus all of them. A local `add` is broadcast as
//! a UDP `variable_update`; a manual `sync` (here a client operation) starts
//! the full sync: nodes freeze writes, fetch each other's missing ops by
//! nonce, exchange their values in `stop_sync` and, where they agree, fold
//! everything into the baseline and restart their nonces at 0.
//!
//! Transport: UDP messages (hello, variable_update, the periodic sync_data)
//! go straight onto the scenario's network, which should be unordered; TCP
//! messages go through [`tcp`], a reliable layer with acknowledgements and
//! resends kept inside the node. See that module for the one bound it adds.
//!
//! Variants:
//! - `faithful`: as coded. start_sync is re-flooded on every receipt and has
//!   no round id; a node whose peers have sent no stop_sync agrees with no
//!   one and resets; each variable resets on its own as soon as it matches;
//!   a message over 8 KiB of JSON is dropped by its receiver; a nonce_request
//!   naming a nonce the peer lacks gets no reply; a nonce_send from a peer
//!   with no op map yet is dropped; a duplicate variable_update is counted
//!   twice; nonces and baseline restart at 0 after a crash.
//! - `intended`: as the README means it. A sync round has an id; each node
//!   joins a round once and sends its own start_sync once; late copies of
//!   old rounds are ignored; a node resets only when every peer's stop_sync
//!   for this round agrees on every variable, all variables at once. Ops are
//!   tagged with the epoch (the last agreed round) and deduplicated by
//!   (node, nonce) within it; only missing nonces are requested and requests
//!   are always answered.

mod checks;
mod sync;
mod tcp;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sim::{Ctx, Digest, Node, NodeId, Reply, Request, Sim, Time, Value, ValueGen, MS};

use crate::{CheckResult, CheckSpec, OpSpec, Protocol, Variant};
use tcp::Tcp;

/// A variable's name: the workload key.
pub type Var = u32;

/// Parameters of the `params` object in a scenario.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Period of the UDP hello broadcast.
    pub hello_ms: u64,
    /// Period of the status loop that also drives the full sync.
    pub status_ms: u64,
    /// Period of the UDP sync_data broadcast (100 s in the original).
    pub sync_data_ms: u64,
    /// Pause before an unacknowledged TCP message is sent again.
    pub tcp_retry_ms: u64,
    /// Sends of one TCP message before it is abandoned (the recursion limit).
    pub tcp_attempts: u32,
    /// Faithful: a message whose JSON is longer than this is dropped.
    pub max_message_bytes: usize,
    /// counter-bounds: adds acknowledged less than this long before a read
    /// began may still be missing from it (0: every one must be counted).
    pub read_lag_ms: u64,
    /// availability: largest acceptable fraction of adds refused or timed out.
    pub refused_max: f64,
    /// sync-liveness: a sync phase must end this long after it began or
    /// after the final heal, whichever is later.
    pub sync_deadline_ms: u64,
    /// message-budget: largest acceptable node-to-node messages per client operation.
    pub messages_per_op_max: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            hello_ms: 100,
            status_ms: 100,
            sync_data_ms: 100_000,
            tcp_retry_ms: 50,
            tcp_attempts: 1000,
            max_message_bytes: 8192,
            read_lag_ms: 0,
            refused_max: 0.5,
            sync_deadline_ms: 2000,
            messages_per_op_max: 100.0,
        }
    }
}

/// A node's status as python-crdt names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepting writes.
    Work,
    /// Fetching missing ops; writes refused.
    Sync,
    /// Exchanging values before the reset; writes refused.
    Ready,
}

/// Application messages (JSON objects whose discriminator is `msg_type`).
/// `epoch` and `round` exist only in the intended variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "msg_type", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Body {
    /// UDP, every `hello_ms`: I exist, in this status.
    Hello { status: Status, session: u64 },
    /// TCP, reply to a first hello.
    HelloReceived { status: Status },
    /// TCP, every `status_ms` and on transitions.
    Status {
        status: Status,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<u64>,
    },
    /// UDP, a local add.
    VariableUpdate {
        variable_name: Var,
        operation: i64,
        nonce: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<u64>,
    },
    /// UDP every `sync_data_ms`, TCP to a new peer: my own ops and baseline.
    SyncData {
        variable_name: Var,
        history: BTreeMap<u64, i64>,
        previous_value: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<u64>,
    },
    /// TCP: enter the full sync; my next nonce per variable.
    StartSync {
        variable_max_nonce_dict: BTreeMap<Var, u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        round: Option<u64>,
    },
    /// TCP: send me your next nonces.
    SyncMismatchRequest,
    /// TCP: my next nonce per variable (no status change).
    SyncMismatchData {
        variable_max_nonce_dict: BTreeMap<Var, u64>,
    },
    /// TCP: send me these ops of yours.
    NonceRequest {
        variable_name: Var,
        nonce_number_list: Vec<u64>,
    },
    /// TCP: the ops asked for.
    NonceSend {
        variable_name: Var,
        nonce_dict: BTreeMap<u64, i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<u64>,
    },
    /// TCP, on entering ready: my value per variable.
    StopSync {
        variable_value_dict: BTreeMap<Var, i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        round: Option<u64>,
    },
}

impl Body {
    /// The coalescing kind: the message type, plus the variable for the
    /// per-variable ones.
    fn kind(&self) -> (&'static str, Option<Var>) {
        match self {
            Body::Hello { .. } => ("hello", None),
            Body::HelloReceived { .. } => ("hello_received", None),
            Body::Status { .. } => ("status", None),
            Body::VariableUpdate { variable_name, .. } => ("variable_update", Some(*variable_name)),
            Body::SyncData { variable_name, .. } => ("sync_data", Some(*variable_name)),
            Body::StartSync { .. } => ("start_sync", None),
            Body::SyncMismatchRequest => ("sync_mismatch_request", None),
            Body::SyncMismatchData { .. } => ("sync_mismatch_data", None),
            Body::NonceRequest { variable_name, .. } => ("nonce_request", Some(*variable_name)),
            Body::NonceSend { variable_name, .. } => ("nonce_send", Some(*variable_name)),
            Body::StopSync { .. } => ("stop_sync", None),
        }
    }

    /// The length of this message's JSON encoding, for the 8 KiB cliff.
    /// Only messages that grow with the op log can cross it, so the rest are
    /// not encoded at all.
    fn encoded_len(&self) -> usize {
        match self {
            Body::SyncData { .. }
            | Body::NonceRequest { .. }
            | Body::NonceSend { .. }
            | Body::StartSync { .. }
            | Body::SyncMismatchData { .. }
            | Body::StopSync { .. } => serde_json::to_vec(self).map_or(0, |v| v.len()),
            _ => 0,
        }
    }
}

/// Wire messages: a datagram, a TCP frame, or a TCP acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "via", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Msg {
    /// Unreliable, unordered, may be duplicated.
    Udp { body: Body },
    /// Reliable: acknowledged, resent, deduplicated (see [`tcp`]).
    Tcp {
        session: u64,
        seq: u64,
        floor: u64,
        body: Body,
    },
    /// Acknowledges frame `seq` of the receiver's `session`.
    Ack { session: u64, seq: u64 },
}

/// Timer tags.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Timer {
    /// Broadcast hello.
    Hello,
    /// One pass of the status loop (and of the full-sync machine).
    Loop,
    /// Broadcast sync_data.
    SyncData,
    /// Resend unacknowledged TCP messages to this peer.
    Resend(NodeId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Faithful,
    Intended,
}

/// Where the status-loop thread is. In the original the ready phase is a
/// blocking loop inside that thread: while in it, the thread sends no
/// periodic status and ignores status changes that message handlers make,
/// and when it ends it sets the status to work whatever it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Main,
    /// Waiting until no peer's last known status is sync.
    ReadyWait,
    /// stop_sync sent; comparing values every pass.
    ReadyVote,
    /// Intended: reset done; back to work once every peer has reset too.
    ReadyDone,
}

/// One variable's CRDT.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Crdt {
    value: i64,
    own_ops: BTreeMap<u64, i64>,
    peer_ops: BTreeMap<NodeId, BTreeMap<u64, i64>>,
    next_nonce: u64,
    baseline: i64,
}

impl Crdt {
    /// value := baseline + Σ own + Σ peers' (saturating: deltas come from scenarios).
    fn recompute(&mut self) {
        let own = self.own_ops.values();
        let peers = self.peer_ops.values().flat_map(BTreeMap::values);
        self.value = own
            .chain(peers)
            .fold(self.baseline, |a, &d| a.saturating_add(d));
    }

    fn reset(&mut self) {
        self.baseline = self.value;
        self.own_ops.clear();
        self.peer_ops.clear();
        self.next_nonce = 0;
    }
}

/// How a sync phase ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseEnd {
    /// Still in sync or ready.
    Open,
    /// Back to work at this local time (µs).
    Work(Time),
    /// The node crashed during it.
    Crash,
}

/// One stretch of time a node spent out of work mode (sync or ready).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Phase {
    /// When it left work, on its own clock (µs).
    pub entered: Time,
    /// How it ended.
    pub end: PhaseEnd,
}

/// A moment worth showing in a check's evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Note {
    /// A variable_update for an op already held was counted again.
    DoubleCounted {
        /// Local time (µs).
        at: Time,
        /// The op's origin.
        from: NodeId,
        /// Its variable.
        var: Var,
        /// Its nonce.
        nonce: u64,
        /// Its delta.
        delta: i64,
    },
    /// A variable_update named a nonce already held for another op (the
    /// sender restarted its nonces): the slot is overwritten and the delta
    /// added on top.
    NonceReused {
        /// Local time (µs).
        at: Time,
        /// The op's origin.
        from: NodeId,
        /// Its variable.
        var: Var,
        /// Its nonce.
        nonce: u64,
        /// The delta held before.
        old: i64,
        /// The delta received.
        new: i64,
    },
    /// A ready phase reset with no stop_sync received from anyone.
    VacuousReset {
        /// Local time (µs).
        at: Time,
    },
    /// Some variables reset while others still disagreed.
    PartialReset {
        /// Local time (µs).
        at: Time,
        /// Variables reset.
        reset: usize,
        /// Variables that did not match.
        waiting: usize,
    },
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |t: Time| format!("{}.{} ms", t / MS, (t % MS) / 100);
        match *self {
            Note::DoubleCounted {
                at,
                from,
                var,
                nonce,
                delta,
            } => write!(
                f,
                "at {} counted n{from}'s op (key {var}, nonce {nonce}, {delta:+}) a second time",
                ms(at)
            ),
            Note::NonceReused { at, from, var, nonce, old, new } => write!(
                f,
                "at {} got n{from}'s key {var} nonce {nonce} ({new:+}) while holding {old:+} there: overwritten, {new:+} added on top",
                ms(at)
            ),
            Note::VacuousReset { at } => {
                write!(f, "at {} reset with no stop_sync from any peer", ms(at))
            }
            Note::PartialReset { at, reset, waiting } => write!(
                f,
                "at {} reset {reset} variable(s) while {waiting} still disagreed",
                ms(at)
            ),
        }
    }
}

/// How many notes a node keeps.
const NOTES_KEPT: usize = 8;

/// Things a node counts for the checks' evidence; they survive crashes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodeStats {
    /// start_sync messages sent.
    pub start_sync_sent: u64,
    /// Variable resets.
    pub resets: u64,
    /// Ready phases that ended with no stop_sync received from anyone.
    pub vacuous_agreements: u64,
    /// variable_update applied on top of an op already held at that nonce.
    pub double_counted: u64,
    /// Messages dropped for being over `max_message_bytes`.
    pub oversize_dropped: u64,
    /// nonce_request left unanswered (an unknown nonce).
    pub unanswered_requests: u64,
    /// nonce_send dropped (no op map for the sender yet).
    pub nonce_sends_dropped: u64,
    /// The first few notable moments.
    pub notes: Vec<Note>,
}

impl NodeStats {
    fn note(&mut self, n: Note) {
        if self.notes.len() < NOTES_KEPT {
            self.notes.push(n);
        }
    }
}

/// One python-crdt node.
#[derive(Clone, Debug)]
pub struct Counter {
    mode: Mode,
    params: Params,
    status: Status,
    step: Step,
    peers: BTreeMap<NodeId, Status>,
    /// Intended: each peer's session, to notice that it restarted.
    sessions: BTreeMap<NodeId, u64>,
    vars: BTreeMap<Var, Crdt>,
    peer_max_nonces: BTreeMap<NodeId, BTreeMap<Var, u64>>,
    /// Every stop_sync ever received, with its round (0 in faithful). Never cleared.
    peer_final_values: BTreeMap<NodeId, (u64, BTreeMap<Var, i64>)>,
    /// Intended: the round being synced (0: none yet).
    round: u64,
    /// Intended: the last round this node reset in; ops carry it.
    epoch: u64,
    /// Intended: the last epoch each peer reported.
    peer_epochs: BTreeMap<NodeId, u64>,
    /// Intended: updates from peers already in the next epoch, applied after our reset.
    future: Vec<(NodeId, Var, u64, i64, u64)>,
    tcp: Tcp,
    phases: Vec<Phase>,
    stats: NodeStats,
}

impl Counter {
    fn faithful(&self) -> bool {
        self.mode == Mode::Faithful
    }

    /// The node's status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Every sync phase this node went through, in order.
    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// Counters for evidence.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// The parameters the node was built with (the checks read their thresholds here).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The local value of every variable.
    pub fn values(&self) -> BTreeMap<Var, i64> {
        self.vars.iter().map(|(k, c)| (*k, c.value)).collect()
    }

    fn max_nonces(&self) -> BTreeMap<Var, u64> {
        self.vars.iter().map(|(k, c)| (*k, c.next_nonce)).collect()
    }

    fn epoch_tag(&self) -> Option<u64> {
        (!self.faithful()).then_some(self.epoch)
    }

    /// Changes status, recording when a sync phase begins and ends.
    fn set_status(&mut self, now: Time, s: Status) {
        if self.status == Status::Work && s != Status::Work {
            self.phases.push(Phase {
                entered: now,
                end: PhaseEnd::Open,
            });
        } else if self.status != Status::Work && s == Status::Work {
            if let Some(p) = self.phases.last_mut() {
                p.end = PhaseEnd::Work(now);
            }
        }
        self.status = s;
    }

    fn tcp(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId, body: Body) {
        if matches!(body, Body::StartSync { .. }) {
            self.stats.start_sync_sent += 1;
        }
        self.tcp.send(ctx, self.params.tcp_retry_ms, to, body);
    }

    /// TCP to every peer this node has recorded.
    fn tell_peers(&mut self, ctx: &mut Ctx<'_, Self>, body: Body) {
        let peers: Vec<NodeId> = self.peers.keys().copied().collect();
        for p in peers {
            self.tcp(ctx, p, body.clone());
        }
    }

    fn on_add(&mut self, ctx: &mut Ctx<'_, Self>, r: &Request, var: Var) {
        if self.status != Status::Work {
            // The original prints "wait for the full sync" and does nothing.
            ctx.reply(r.id, Reply::Fail(Value::Null));
            return;
        }
        let delta = r.value.as_int().unwrap_or(0);
        let epoch = self.epoch_tag();
        let c = self.vars.entry(var).or_default();
        let nonce = c.next_nonce;
        c.next_nonce += 1;
        c.own_ops.insert(nonce, delta);
        c.value = c.value.saturating_add(delta);
        ctx.broadcast(Msg::Udp {
            body: Body::VariableUpdate {
                variable_name: var,
                operation: delta,
                nonce,
                epoch,
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

    fn sync_data(&self, var: Var) -> Body {
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
        from: NodeId,
        var: Var,
        history: BTreeMap<u64, i64>,
        base: i64,
        epoch: Option<u64>,
    ) {
        if let Some(e) = epoch {
            if e < self.epoch {
                return; // From before a reset this node already made.
            }
            // A newer epoch: this node joined or restarted after a reset.
            self.epoch = e;
        }
        let c = self.vars.entry(var).or_default();
        // Whichever baseline arrived last wins: there is no rule (§2.8).
        c.baseline = base;
        c.peer_ops.insert(from, history);
        c.recompute();
    }

    fn on_update(
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

    fn receive(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, body: Body) {
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
            } => self.on_update(ctx.now(), from, variable_name, operation, nonce, epoch),
            Body::SyncData {
                variable_name,
                history,
                previous_value,
                epoch,
            } => self.on_sync_data(from, variable_name, history, previous_value, epoch),
            other => self.receive_sync(ctx, from, other),
        }
    }

    fn fresh(mode: Mode, params: Params, phases: Vec<Phase>, stats: NodeStats) -> Counter {
        Counter {
            mode,
            params,
            status: Status::Work,
            step: Step::Main,
            peers: BTreeMap::new(),
            sessions: BTreeMap::new(),
            vars: BTreeMap::new(),
            peer_max_nonces: BTreeMap::new(),
            peer_final_values: BTreeMap::new(),
            round: 0,
            epoch: 0,
            peer_epochs: BTreeMap::new(),
            future: Vec::new(),
            tcp: Tcp::default(),
            phases,
            stats,
        }
    }
}

impl Node for Counter {
    type Msg = Msg;
    type Timer = Timer;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let session = ctx.rng().next_u64();
        self.tcp = Tcp::new(session);
        ctx.set_timer(Timer::Hello, 0);
        // Processes start at different moments; so do their status loops.
        let first = ctx.rng().range(1, self.params.status_ms * MS);
        ctx.set_timer(Timer::Loop, first);
        // The startup pass of the sync_data task finds no variables.
        ctx.set_timer(Timer::SyncData, self.params.sync_data_ms * MS);
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, r: Request) {
        let var = r.key.unwrap_or(0);
        match r.f {
            "add" => self.on_add(ctx, &r, var),
            "read" => {
                // Served in every mode; a variable never heard of reads as 0.
                let v = self.vars.get(&var).map_or(0, |c| c.value);
                ctx.reply(r.id, Reply::Ok(Value::Int(v)));
            }
            "sync" => self.on_sync_request(ctx, r.id),
            _ => ctx.reply(r.id, Reply::Fail(Value::Null)),
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Udp { body } => self.receive(ctx, from, body),
            Msg::Tcp {
                session,
                seq,
                floor,
                body,
            } => {
                if self.tcp.on_frame(ctx, from, session, seq, floor) {
                    self.receive(ctx, from, body);
                }
            }
            Msg::Ack { session, seq } => {
                let retry = self.params.tcp_retry_ms;
                self.tcp.on_ack(ctx, retry, from, session, seq);
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Hello => {
                let body = Body::Hello {
                    status: self.status,
                    session: self.tcp.session(),
                };
                ctx.broadcast(Msg::Udp { body });
                ctx.set_timer(Timer::Hello, self.params.hello_ms * MS);
            }
            Timer::Loop => {
                ctx.set_timer(Timer::Loop, self.params.status_ms * MS);
                self.on_loop(ctx);
            }
            Timer::SyncData => {
                let vars: Vec<Var> = self.vars.keys().copied().collect();
                for var in vars {
                    ctx.broadcast(Msg::Udp {
                        body: self.sync_data(var),
                    });
                }
                ctx.set_timer(Timer::SyncData, self.params.sync_data_ms * MS);
            }
            Timer::Resend(to) => {
                let p = &self.params;
                self.tcp.on_resend(ctx, p.tcp_retry_ms, p.tcp_attempts, to);
            }
        }
    }

    fn on_crash(&mut self) {
        // A Python process: nothing survives; the same IP comes back with
        // nonces and baseline at 0. Observations for the checks are kept.
        let mut phases = std::mem::take(&mut self.phases);
        if let Some(p) = phases.last_mut().filter(|p| p.end == PhaseEnd::Open) {
            p.end = PhaseEnd::Crash;
        }
        let stats = std::mem::take(&mut self.stats);
        *self = Counter::fresh(self.mode, self.params.clone(), phases, stats);
    }

    fn digest(&self) -> Digest {
        self.vars
            .iter()
            .map(|(k, c)| (k.to_string(), c.value.to_string()))
            .collect()
    }
}

impl Protocol for Counter {
    const NAME: &'static str = "counter";
    const SUMMARY: &'static str =
        "op-log integer CRDT with a blocking Work/Sync/Ready full sync and history reset (python-crdt)";
    type Params = Params;

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "faithful",
                summary: "as coded: start_sync re-flood, vacuous and partial reset, 8 KiB cliff, unanswered nonce requests, double-counted duplicates",
            },
            Variant {
                name: "intended",
                summary: "sync rounds with ids, reset only on every peer's agreement for the round, epoch-tagged ops deduplicated by (node, nonce)",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        vec![
            OpSpec {
                name: "add",
                weight: 3,
                value: ValueGen::Range { min: 1, max: 10 },
            },
            OpSpec {
                name: "read",
                weight: 1,
                value: ValueGen::Null,
            },
            OpSpec {
                name: "sync",
                weight: 0,
                value: ValueGen::Null,
            },
        ]
    }

    fn model() -> Option<&'static str> {
        // Reads are local and updates asynchronous, so linearizability is
        // not the question; counter-bounds is. The history also carries
        // `sync`, which the checker's counter model does not know.
        None
    }

    fn checks() -> &'static [CheckSpec] {
        checks::SPECS
    }

    fn default_checks() -> &'static [&'static str] {
        &[
            "convergence",
            "counter-final",
            "counter-bounds",
            "availability",
            "sync-liveness",
            "message-budget",
        ]
    }

    fn validate(p: &Params, _nodes: usize) -> Result<(), String> {
        let periods = [
            ("hello_ms", p.hello_ms),
            ("status_ms", p.status_ms),
            ("sync_data_ms", p.sync_data_ms),
            ("tcp_retry_ms", p.tcp_retry_ms),
        ];
        if let Some((name, _)) = periods.iter().find(|(_, v)| *v == 0 || *v > 3_600_000) {
            return Err(format!("{name} must be from 1 to 3600000"));
        }
        if p.tcp_attempts == 0 {
            return Err("tcp_attempts must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&p.refused_max) {
            return Err("refused_max is a fraction from 0 to 1".into());
        }
        if p.messages_per_op_max.is_nan() || p.messages_per_op_max < 0.0 {
            return Err("messages_per_op_max must be a number of at least 0".into());
        }
        Ok(())
    }

    fn new(_id: NodeId, _nodes: usize, variant: &str, params: &Params) -> Self {
        let mode = if variant == "intended" {
            Mode::Intended
        } else {
            Mode::Faithful
        };
        Counter::fresh(mode, params.clone(), Vec::new(), NodeStats::default())
    }

    fn check(name: &str, run: &Sim<Self>) -> CheckResult {
        checks::run(name, run)
    }

    fn notes(run: &Sim<Self>) -> Vec<String> {
        checks::notes(run)
    }
}
