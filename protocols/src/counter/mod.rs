//! The op-log integer CRDT of yilmaz-burak/python-crdt, with its blocking
//! Work / Sync / Ready "full sync".
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
//! messages go through `tcp`, a reliable layer with acknowledgements and
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
//!   are always answered. Its state is durable: a crash loses only its TCP
//!   connections, and a restart sends again what they may have carried.

mod checks;
mod gossip;
mod msg;
mod observe;
mod sync;
mod tcp;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sim::{Ctx, Digest, Node, NodeId, Reply, Request, Sim, Time, Value, ValueGen, MS};

use crate::{CheckResult, CheckSpec, OpSpec, Protocol, Variant};
pub use msg::{Body, Msg, Timer};
pub use observe::{NodeStats, Note, Phase, PhaseEnd};
use tcp::Tcp;

/// A variable's name: the workload key.
pub type Var = u32;

/// Parameters of the `params` object in a scenario.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Period of the UDP hello broadcast.
    #[serde(deserialize_with = "sim::ms::de")]
    pub hello_ms: u64,
    /// Period of the status loop that also drives the full sync.
    #[serde(deserialize_with = "sim::ms::de")]
    pub status_ms: u64,
    /// Period of the UDP sync_data broadcast (100 s in the original).
    #[serde(deserialize_with = "sim::ms::de")]
    pub sync_data_ms: u64,
    /// Pause before an unacknowledged TCP message is sent again.
    #[serde(deserialize_with = "sim::ms::de")]
    pub tcp_retry_ms: u64,
    /// Sends of one TCP message before it is abandoned (the recursion limit).
    pub tcp_attempts: u32,
    /// Faithful: a message whose JSON is longer than this is dropped.
    pub max_message_bytes: usize,
    /// Faithful: the `time.sleep(0.1)` at the top of the start_sync handler
    /// (which holds the single TCP listener thread: a TCP message that
    /// arrives meanwhile is lost) and in `_start_full_sync` (which delays
    /// the first start_sync). 0: no sleep.
    #[serde(deserialize_with = "sim::ms::de")]
    pub sync_sleep_ms: u64,
    /// Faithful: an `add` or `sync` on a variable the node does not hold
    /// first creates it, as if the operator had typed `create k` just
    /// before. With `false` they are refused, as the original refuses them
    /// ("invalid variable name"), and a scenario creates variables with the
    /// `create` op. Reads of an unknown variable are refused either way.
    pub implicit_create: bool,
    /// counter-bounds: adds acknowledged less than this long before a read
    /// began may still be missing from it (0: every one must be counted).
    #[serde(deserialize_with = "sim::ms::de")]
    pub read_lag_ms: u64,
    /// availability: largest acceptable fraction of adds refused or timed out.
    pub refused_max: f64,
    /// sync-liveness: a sync phase must end this long after it began or
    /// after the final heal, whichever is later.
    #[serde(deserialize_with = "sim::ms::de")]
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
            sync_sleep_ms: 100,
            implicit_create: true,
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
    /// Observation only (notes): resets of this variable so far.
    resets: u64,
    /// Observation only (notes): the peers' ops the last reset folded into
    /// the baseline, and when (local time, µs).
    folded: BTreeMap<NodeId, BTreeMap<u64, i64>>,
    reset_at: Time,
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

    fn reset(&mut self, at: Time) {
        self.baseline = self.value;
        self.own_ops.clear();
        self.folded = std::mem::take(&mut self.peer_ops);
        self.next_nonce = 0;
        self.resets += 1;
        self.reset_at = at;
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
    /// Faithful: the start_sync whose handler sleeps, holding the TCP
    /// listener, until `Timer::Listener` fires.
    listener: Option<(NodeId, BTreeMap<Var, u64>)>,
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

    /// Whether `var` exists for a user command, creating it first where
    /// `implicit_create` (or the intended variant) allows.
    fn known_or_created(&mut self, var: Var) -> bool {
        if self.vars.contains_key(&var) {
            return true;
        }
        if self.faithful() && !self.params.implicit_create {
            return false;
        }
        self.vars.insert(var, Crdt::default());
        true
    }

    /// Faithful: peers this node knows but holds no max-nonce dict from
    /// (what keeps a sync pass from finishing), while it is in sync.
    pub fn missing_dicts(&self) -> Vec<NodeId> {
        if self.status != Status::Sync || self.step != Step::Main {
            return Vec::new();
        }
        self.dictless_peers().collect()
    }

    /// Known peers this node holds no max-nonce dict from.
    fn dictless_peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.peers
            .keys()
            .filter(|p| !self.peer_max_nonces.contains_key(p))
            .copied()
    }

    /// Peers whose last known status is sync, while this node waits in
    /// ready for them (the ready phase's busy-wait).
    pub fn waiting_in_ready_for(&self) -> Vec<NodeId> {
        if self.step != Step::ReadyWait {
            return Vec::new();
        }
        self.peers
            .iter()
            .filter(|(_, s)| **s == Status::Sync)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Ops this node still lacks while in a sync pass, per (peer,
    /// variable), by the max-nonce dicts it holds: what each pass requests.
    pub fn lacking(&self) -> Vec<(NodeId, Var, usize)> {
        let mut out = Vec::new();
        if self.status != Status::Sync || self.step != Step::Main {
            return out;
        }
        for (p, d) in &self.peer_max_nonces {
            for (var, &max) in d {
                let have = self.vars.get(var).and_then(|c| c.peer_ops.get(p));
                let n = (0..max)
                    .filter(|n| !have.is_some_and(|h| h.contains_key(n)))
                    .count();
                if n > 0 {
                    out.push((*p, *var, n));
                }
            }
        }
        out
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
            listener: None,
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
        if self.stats.crashes > 0 {
            let durable = !self.faithful();
            self.stats.note(Note::Restarted {
                at: ctx.now(),
                durable,
            });
            if durable {
                self.resume(ctx);
            }
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, r: Request) {
        let var = r.key.unwrap_or(0);
        match r.f {
            "add" => self.on_add(ctx, &r, var),
            "read" => {
                // Served in every mode. Faithful: `get k` on a variable the
                // node never heard of raises and prints "invalid variable
                // name"; intended: it reads as 0.
                match self.vars.get(&var) {
                    Some(c) => ctx.reply(r.id, Reply::Ok(Value::Int(c.value))),
                    None if self.faithful() => ctx.reply(r.id, Reply::Fail(Value::Null)),
                    None => ctx.reply(r.id, Reply::Ok(Value::Int(0))),
                }
            }
            "sync" => {
                if self.known_or_created(var) {
                    self.on_sync_request(ctx, r.id);
                } else {
                    ctx.reply(r.id, Reply::Fail(Value::Null));
                }
            }
            "create" => {
                // `create k`: local only. As coded it replaces a variable
                // that exists with a fresh one (value, ops and nonces lost).
                if self.faithful() || !self.vars.contains_key(&var) {
                    self.vars.insert(var, Crdt::default());
                }
                ctx.reply(r.id, Reply::Ok(Value::Null));
            }
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
                    if self.listener.is_some() {
                        // The listener thread sleeps in a start_sync handler.
                        // The connection completes into the listening
                        // socket's backlog and the sender's sendall returns,
                        // but the listener closes that socket when the
                        // handler is done, which resets every connection in
                        // the backlog: the message is lost, and the sender
                        // never knows (the ack stands for its success).
                        self.stats.listener_lost += 1;
                        if self.stats.listener_lost_first.is_none() {
                            self.stats.listener_lost_first = Some(ctx.now());
                        }
                        return;
                    }
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
            Timer::Listener => self.start_sync_woke(ctx),
            Timer::FullSync(id) => self.full_sync_woke(ctx, id),
            Timer::Resend(to) => {
                let p = &self.params;
                self.tcp.on_resend(ctx, p.tcp_retry_ms, p.tcp_attempts, to);
            }
        }
    }

    fn on_crash(&mut self) {
        self.stats.crashes += 1;
        if !self.faithful() {
            // Intended: every state change is on disk before the node acts
            // on it (op log, nonces, baselines, epoch, round, status, votes,
            // peers), so a restart resumes where the crash stopped it. Only
            // its TCP connections die: the unacknowledged messages are
            // lost, and `on_start` sends again what they carried. A sync
            // phase in progress goes on across the crash.
            self.tcp = Tcp::default();
            return;
        }
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
                summary: "as coded: start_sync re-flood (its 0.1 s sleep holds the TCP listener; messages arriving meanwhile are lost), vacuous and partial reset, 8 KiB cliff, unanswered nonce requests, double-counted duplicates, unknown variables refused",
            },
            Variant {
                name: "intended",
                summary: "sync rounds with ids, reset only on every peer's agreement for the round, epoch-tagged ops deduplicated by (node, nonce), state durable across a crash",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        vec![
            OpSpec {
                name: "add",
                read: false,
                weight: 3,
                value: ValueGen::Range { min: 1, max: 10 },
            },
            OpSpec {
                name: "read",
                read: true,
                weight: 1,
                value: ValueGen::Null,
            },
            OpSpec {
                name: "sync",
                read: false,
                weight: 0,
                value: ValueGen::Null,
            },
            OpSpec {
                name: "create",
                read: false,
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
        if p.sync_sleep_ms > 3_600_000 {
            return Err("sync_sleep_ms must be from 0 to 3600000".into());
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
