//! The Maelstrom world: fly.io's Gossip Glomers challenges without
//! Maelstrom. docs/protocols/maelstrom.md maps each challenge and each
//! Maelstrom option onto a scenario.
//!
//! Each workload (`gg-echo`, `gg-unique-ids`, `gg-broadcast`,
//! `gg-g-counter`) is its own protocol, so a scenario says
//! `"protocol": "gg-broadcast"` as a Maelstrom user says `-w broadcast`.
//! They share everything here:
//!
//! - **Envelopes** `{src, dest, body}` whose body carries `type`, `msg_id`
//!   and `in_reply_to`, dispatched as Maelstrom's Go library does: a
//!   non-zero `in_reply_to` goes to the callback registered for it (unknown
//!   ids are ignored); anything else goes to the handler for its type, and a
//!   type with no handler stops the process (a halt).
//! - **RPC** takes the next per-node `msg_id` and parks a continuation
//!   until the reply comes. There is no deadline: Go's `SyncRPC` with a
//!   background context never times out, so a lost request or reply leaves
//!   the continuation parked forever (the report's notes count them).
//! - **init**: every node learns its id and the node list when it starts
//!   (Maelstrom's `init`, answered by `init_ok`), then the workload's
//!   `topology` when it has one. Both come from Maelstrom's client, not
//!   from another server, so they are handled in `on_start` and not counted
//!   as server messages.
//! - **Clients** are dsim's generic client with zero latency, as Maelstrom's
//!   clients are; the scenario's `workload.timeout_ms` is Maelstrom's 5 s
//!   RPC timeout (the operation is recorded `info`).
//! - **Services** `lin-kv`, `seq-kv`, `lww-kv` and `lin-tso` are processes
//!   beside the servers ([`services`]), reached through the same network
//!   and never cut by partitions (Maelstrom partitions only servers).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sim::{Ctx, Digest, Layout, Node, NodeId, Reply, Request, RequestId, Sim, Time};

use crate::{CheckResult, CheckSpec, ClientMode, OpSpec, Protocol, ServiceSpec, Variant};

pub mod broadcast;
pub mod checks;
pub mod echo;
pub mod g_counter;
pub mod kafka;
pub mod services;
pub mod topology;
pub mod txn;
pub mod unique_ids;
pub mod wasm;

/// A shared, immutable list of integers (a gossiped set): cloning a message
/// that carries one does not copy it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ints(pub Arc<Vec<i64>>);

impl Ints {
    /// The list.
    pub fn new(v: Vec<i64>) -> Ints {
        Ints(Arc::new(v))
    }
    /// The integers.
    pub fn iter(&self) -> std::slice::Iter<'_, i64> {
        self.0.iter()
    }
}

impl Serialize for Ints {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_slice().serialize(s)
    }
}

/// One message on the wire.
#[derive(Clone, Debug, Serialize)]
pub struct Msg {
    /// Sender.
    pub src: NodeId,
    /// Receiver.
    pub dest: NodeId,
    /// What it says.
    pub body: Body,
}

/// A message body: its type and fields, and the reserved ids.
#[derive(Clone, Debug, Serialize)]
pub struct Body {
    /// The type and its fields.
    #[serde(flatten)]
    pub kind: Kind,
    /// Unique per sender when the sender expects a reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<u64>,
    /// The `msg_id` this answers (0 or absent: not a reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<u64>,
}

/// Every message type of the workloads and services here.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Kind {
    /// broadcast a–c and e: a gossiped set.
    Gossip {
        /// The set (a snapshot, or a batch plus the set).
        messages: Ints,
    },
    /// The intended broadcast's acknowledgement of a gossip.
    GossipOk,
    /// broadcast d: a client's broadcast forwarded to another server.
    Broadcast {
        /// The element.
        message: i64,
        /// Set on a forwarded body.
        gossip: bool,
        /// The sender's whole set.
        messages: Ints,
    },
    /// The answer to a forwarded broadcast (its sender has no callback).
    BroadcastOk,
    /// g-counter: a node's new value.
    Sync {
        /// The value.
        #[serde(rename = "new-val")]
        new_val: i64,
    },
    /// The answer to a sync.
    SyncOk,
    /// The intended g-counter's gossip: each node's own count, by node id.
    Counts {
        /// Per node.
        counts: Ints,
    },
    /// Key-value services: read a key.
    Read {
        /// The key.
        key: String,
    },
    /// The value read.
    ReadOk {
        /// The value.
        value: i64,
    },
    /// Key-value services: write a key.
    Write {
        /// The key.
        key: String,
        /// The value.
        value: i64,
    },
    /// A write happened.
    WriteOk,
    /// Key-value services: compare and set.
    Cas {
        /// The key.
        key: String,
        /// The expected value.
        from: i64,
        /// The new value.
        to: i64,
        /// Create the key with `to` when it does not exist.
        create_if_not_exists: bool,
    },
    /// The cas happened.
    CasOk,
    /// lin-tso: a timestamp, please.
    Ts,
    /// The timestamp.
    TsOk {
        /// Strictly greater than every earlier one.
        ts: i64,
    },
    /// txn-b: one write, gossiped to every node (self included).
    #[serde(rename = "gossip")]
    TxnGossip {
        /// The key.
        key: i64,
        /// The value.
        value: i64,
        /// The snapshot's version + 1 (0 for a new key).
        version: i64,
    },
    /// The intended txn: final values `[key, value, lamport, node]`.
    TxnReplicate {
        /// The stamped writes.
        writes: txn::Writes,
    },
    /// An error reply.
    Error {
        /// Maelstrom's error code ([`code`]).
        code: u32,
        /// Words.
        text: String,
    },
    /// kafka (untagged, so last): the workload's and the solutions' messages (their own
    /// `type`s, written as if they were variants of this enum).
    #[serde(untagged)]
    Kafka(kafka::Msg),
    /// A WebAssembly node's message, as the JSON it wrote (untagged: the
    /// body carries its own `type`).
    #[serde(untagged)]
    Json(wasm::JsonBody),
}

impl Kind {
    /// The `type` as it goes on the wire.
    pub fn name(&self) -> &str {
        match self {
            Kind::Gossip { .. } => "gossip",
            Kind::GossipOk => "gossip_ok",
            Kind::Broadcast { .. } => "broadcast",
            Kind::BroadcastOk => "broadcast_ok",
            Kind::Sync { .. } => "sync",
            Kind::SyncOk => "sync_ok",
            Kind::Counts { .. } => "counts",
            Kind::Read { .. } => "read",
            Kind::ReadOk { .. } => "read_ok",
            Kind::Write { .. } => "write",
            Kind::WriteOk => "write_ok",
            Kind::Cas { .. } => "cas",
            Kind::CasOk => "cas_ok",
            Kind::Ts => "ts",
            Kind::TsOk { .. } => "ts_ok",
            Kind::TxnGossip { .. } => "gossip",
            Kind::TxnReplicate { .. } => "txn_replicate",
            Kind::Error { .. } => "error",
            Kind::Kafka(m) => m.name(),
            Kind::Json(b) => b.kind(),
        }
    }
}

/// Maelstrom's error codes.
pub mod code {
    /// The request timed out (indefinite).
    pub const TIMEOUT: u32 = 0;
    /// No such node (definite).
    pub const NODE_NOT_FOUND: u32 = 1;
    /// The operation is not supported (definite).
    pub const NOT_SUPPORTED: u32 = 10;
    /// Temporarily unavailable (definite).
    pub const TEMPORARILY_UNAVAILABLE: u32 = 11;
    /// Malformed request (definite).
    pub const MALFORMED_REQUEST: u32 = 12;
    /// The node crashed while handling it (indefinite).
    pub const CRASH: u32 = 13;
    /// Aborted (definite).
    pub const ABORT: u32 = 14;
    /// The key does not exist (definite).
    pub const KEY_DOES_NOT_EXIST: u32 = 20;
    /// The key already exists (definite).
    pub const KEY_ALREADY_EXISTS: u32 = 21;
    /// A cas found another value (definite).
    pub const PRECONDITION_FAILED: u32 = 22;
    /// A transaction conflict (definite).
    pub const TXN_CONFLICT: u32 = 30;

    /// True when an error with `code` means the operation certainly did
    /// not happen (Maelstrom's "definite" errors); 0, 13 and every
    /// user-defined code (1000 and above) are indefinite.
    pub fn definite(code: u32) -> bool {
        matches!(code, 1 | 10 | 11 | 12 | 14 | 20 | 21 | 22 | 30)
    }
}

/// The client completion for a Maelstrom error reply: a definite error is
/// `fail`, anything else `info`.
pub fn error_reply(code: u32, text: &str) -> Reply {
    if code::definite(code) {
        Reply::Fail(sim::Value::Str(text.to_string()))
    } else {
        Reply::Info
    }
}

/// Timer tags shared by the workloads.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// A periodic ticker (gossip, batches, retries).
    Tick,
    /// unique-ids: the millisecond the node slept for is over.
    NextMs,
    /// A WebAssembly node: the deadline of the poll it is blocked in.
    Wake,
    /// A WebAssembly node: the simulated CPU time of its last activation
    /// is over (its output leaves now).
    Busy,
}

/// What a workload's server is: its handlers for client requests, server
/// messages, RPC replies and timers, plus what the runner shows of it.
pub trait Workload: Clone + Debug + Sized + 'static {
    /// The protocol's name in scenario files.
    const NAME: &'static str;
    /// One line.
    const SUMMARY: &'static str;
    /// The scenario's `params`.
    type Params: DeserializeOwned + Serialize + Default + Clone + Debug;
    /// What an RPC's reply resumes.
    type Cont: Clone + Debug;

    /// The variants; the first is the default.
    fn variants() -> &'static [Variant];
    /// The client operations.
    fn ops() -> Vec<OpSpec>;
    /// The `dsim check` model that reads this workload's history (it also
    /// backs the `linearizability` check).
    fn model() -> Option<&'static str> {
        None
    }
    /// This workload's own checks.
    fn checks() -> &'static [CheckSpec];
    /// The checks a scenario runs when it names none.
    fn default_checks() -> &'static [&'static str];
    /// The services a scenario runs when it names none.
    fn default_services() -> &'static [&'static str] {
        &[]
    }
    /// The clients this workload runs with, the first the default. With
    /// [`ClientMode::Protocol`], [`Workload::new`] builds client process
    /// `id` (an id at or past `nodes`) as well as servers.
    fn client_modes() -> &'static [ClientMode] {
        &[ClientMode::Generic]
    }
    /// Validates `params` for `nodes` servers.
    fn validate(params: &Self::Params, nodes: usize) -> Result<(), String> {
        let _ = (params, nodes);
        Ok(())
    }
    /// Server `id` of `nodes`, in `variant`.
    fn new(id: NodeId, nodes: usize, variant: &str, params: &Self::Params) -> Self;
    /// `init` (and `topology`) arrived.
    fn on_init(&mut self, net: &mut Net<'_, '_, '_, Self>);
    /// A client request.
    fn on_request(&mut self, net: &mut Net<'_, '_, '_, Self>, req: Request);
    /// A message dispatched by type; `Err(kind)` when no handler takes it
    /// (the process then exits, as Maelstrom's Go library makes it).
    fn on_message(
        &mut self,
        net: &mut Net<'_, '_, '_, Self>,
        from: NodeId,
        msg_id: Option<u64>,
        kind: Kind,
    ) -> Result<(), Kind>;
    /// The reply to an RPC this node made.
    fn on_reply(&mut self, net: &mut Net<'_, '_, '_, Self>, cont: Self::Cont, kind: Kind);
    /// A timer fired.
    fn on_timer(&mut self, net: &mut Net<'_, '_, '_, Self>, timer: Timer);
    /// The visible state, for convergence.
    fn digest(&self) -> Digest;
    /// Facts about a finished run, shown above the checks.
    fn notes(run: &Sim<Server<Self>>) -> Vec<String> {
        let _ = run;
        Vec::new()
    }
    /// Runs this workload's check `name`.
    fn check(name: &str, run: &Sim<Server<Self>>) -> CheckResult;
}

/// A server's RPC table: the next `msg_id` and the continuations parked
/// until their replies come.
#[derive(Clone, Debug)]
pub struct Rpcs<C> {
    next_id: u64,
    /// Parked continuations by `msg_id`, with their destination.
    pub parked: BTreeMap<u64, (NodeId, C)>,
}

impl<C> Default for Rpcs<C> {
    fn default() -> Self {
        Rpcs {
            next_id: 1,
            parked: BTreeMap::new(),
        }
    }
}

/// What a workload handler can do: Maelstrom's node API over dsim's context.
pub struct Net<'c, 'a, 'r, W: Workload> {
    ctx: &'c mut Ctx<'a, Server<W>>,
    rpcs: &'r mut Rpcs<W::Cont>,
}

impl<W: Workload> Net<'_, '_, '_, W> {
    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.ctx.id()
    }
    /// How many servers run (ids `0..nodes`).
    pub fn nodes(&self) -> usize {
        self.ctx.nodes()
    }
    /// This node's clock, in microseconds.
    pub fn now(&self) -> Time {
        self.ctx.now()
    }
    /// This node's random stream.
    pub fn rng(&mut self) -> &mut sim::Rng {
        self.ctx.rng()
    }
    /// The id of service `name`, if the scenario runs it.
    pub fn service(&self, name: &str) -> Option<NodeId> {
        self.ctx.service(name)
    }
    /// Fire-and-forget: a body without `msg_id` (Go's `Send`).
    pub fn send(&mut self, to: NodeId, kind: Kind) {
        self.send_body(to, kind, None, None);
    }
    /// Sends with explicit reserved ids (a body copied from a request
    /// keeps the request's `msg_id`).
    pub fn send_body(
        &mut self,
        to: NodeId,
        kind: Kind,
        msg_id: Option<u64>,
        in_reply_to: Option<u64>,
    ) {
        let src = self.ctx.id();
        self.ctx.send(
            to,
            Msg {
                src,
                dest: to,
                body: Body {
                    kind,
                    msg_id,
                    in_reply_to,
                },
            },
        );
    }
    /// Go's `RPC` (and `SyncRPC` without a deadline): takes the next
    /// `msg_id`, parks `cont` until the reply, sends. Returns the `msg_id`.
    pub fn rpc(&mut self, to: NodeId, kind: Kind, cont: W::Cont) -> u64 {
        let id = self.rpcs.next_id;
        self.rpcs.next_id += 1;
        self.rpcs.parked.insert(id, (to, cont));
        self.send_body(to, kind, Some(id), None);
        id
    }
    /// Forgets the RPC `msg_id`: its reply, if one comes, is ignored.
    pub fn forget(&mut self, msg_id: u64) {
        self.rpcs.parked.remove(&msg_id);
    }
    /// Go's `Reply`: `in_reply_to` is the request's `msg_id`, 0 when it had
    /// none (such a reply is dispatched by type, as a fresh message).
    pub fn reply(&mut self, to: NodeId, request_msg_id: Option<u64>, kind: Kind) {
        self.send_body(to, kind, None, Some(request_msg_id.unwrap_or(0)));
    }
    /// Answers client request `id`.
    pub fn answer(&mut self, id: RequestId, reply: Reply) {
        self.ctx.reply(id, reply);
    }
    /// Sets timer `t` to fire after `after` µs of this node's clock.
    pub fn set_timer(&mut self, t: Timer, after: Time) {
        self.ctx.set_timer(t, after);
    }
    /// Stops this process for good.
    pub fn halt(&mut self, reason: String) {
        self.ctx.halt(reason);
    }
}

/// A server: the workload's state plus its RPC table.
#[derive(Clone, Debug)]
pub struct Host<W: Workload> {
    /// The workload's state.
    pub w: W,
    /// Parked RPCs.
    pub rpcs: Rpcs<W::Cont>,
    /// Kept for the protocol's checks (which read their settings here).
    pub params: W::Params,
    variant: &'static str,
    id: NodeId,
    nodes: usize,
}

/// A process of a Maelstrom world running workload `W`.
#[derive(Debug)]
pub enum Server<W: Workload> {
    /// A server node (`n0`, `n1`, …).
    Node(Box<Host<W>>),
    /// A service (`lin-kv`, `seq-kv`, `lww-kv`, `lin-tso`).
    Service(services::Service),
    /// A server node that runs a user's WebAssembly program ([`wasm`]).
    Wasm(Box<wasm::Guest>),
}

impl<W: Workload> Server<W> {
    /// The server's workload state, if this is a server.
    pub fn host(&self) -> Option<&Host<W>> {
        match self {
            Server::Node(h) => Some(h),
            Server::Service(_) | Server::Wasm(_) => None,
        }
    }

    fn with_net(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        f: impl FnOnce(&mut W, &mut Net<'_, '_, '_, W>),
    ) {
        if let Server::Node(h) = self {
            let Host { w, rpcs, .. } = &mut **h;
            let mut net = Net { ctx, rpcs };
            f(w, &mut net);
        }
    }
}

impl<W: Workload> Node for Server<W> {
    type Msg = Msg;
    type Timer = Timer;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Server::Wasm(g) = self {
            return g.on_start(ctx);
        }
        self.with_net(ctx, |w, net| w.on_init(net));
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Server::Service(s) => return s.on_message(ctx, from, msg),
            Server::Wasm(g) => return g.on_message(ctx, from, msg),
            Server::Node(_) => {}
        }
        self.with_net(ctx, |w, net| {
            let body = msg.body;
            match body.in_reply_to {
                Some(r) if r != 0 => {
                    // Unknown ids are ignored, as the Go library does.
                    if let Some((_, cont)) = net.rpcs.parked.remove(&r) {
                        w.on_reply(net, cont, body.kind);
                    }
                }
                _ => {
                    if let Err(kind) = w.on_message(net, from, body.msg_id, body.kind) {
                        net.halt(format!(
                            "no handler for message type {:?} from {}: the node's main loop returns an error and the process exits",
                            kind.name(),
                            net.ctx.layout().name(from)
                        ));
                    }
                }
            }
        });
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        if let Server::Wasm(g) = self {
            return g.on_timer(ctx, timer);
        }
        self.with_net(ctx, |w, net| w.on_timer(net, timer));
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        if let Server::Wasm(g) = self {
            return g.on_request(ctx, request);
        }
        self.with_net(ctx, |w, net| w.on_request(net, request));
    }

    fn on_crash(&mut self) {
        if let Server::Wasm(g) = self {
            g.on_crash();
        }
        if let Server::Node(h) = self {
            // Nothing is durable: a Maelstrom node restarts from scratch.
            h.w = W::new(h.id, h.nodes, h.variant, &h.params);
            h.rpcs = Rpcs::default();
        }
    }

    fn digest(&self) -> Digest {
        match self {
            Server::Node(h) => h.w.digest(),
            Server::Service(_) | Server::Wasm(_) => Digest::new(),
        }
    }
}

impl<W: Workload> Protocol for Server<W> {
    const NAME: &'static str = W::NAME;
    const SUMMARY: &'static str = W::SUMMARY;
    type Params = W::Params;

    fn variants() -> &'static [Variant] {
        W::variants()
    }
    fn ops() -> Vec<OpSpec> {
        W::ops()
    }
    fn keyed() -> bool {
        false
    }
    fn model() -> Option<&'static str> {
        W::model()
    }
    fn checks() -> &'static [CheckSpec] {
        W::checks()
    }
    fn default_checks() -> &'static [&'static str] {
        W::default_checks()
    }
    fn validate(params: &W::Params, nodes: usize) -> Result<(), String> {
        W::validate(params, nodes)
    }
    fn new(id: NodeId, nodes: usize, variant: &str, params: &W::Params) -> Self {
        let variant = W::variants()
            .iter()
            .find(|v| v.name == variant)
            .map_or(W::variants()[0].name, |v| v.name);
        Server::Node(Box::new(Host {
            w: W::new(id, nodes, variant, params),
            rpcs: Rpcs::default(),
            params: params.clone(),
            variant,
            id,
            nodes,
        }))
    }
    fn services() -> &'static [ServiceSpec] {
        services::SPECS
    }
    fn default_services() -> &'static [&'static str] {
        W::default_services()
    }
    fn service(
        name: &str,
        layout: &Layout,
        _: &W::Params,
        knobs: &serde_json::Value,
    ) -> Result<Self, String> {
        services::Service::new(name, layout, knobs).map(Server::Service)
    }
    fn client_modes() -> &'static [ClientMode] {
        W::client_modes()
    }
    fn client(index: usize, layout: &Layout, variant: &str, params: &W::Params) -> Option<Self> {
        W::client_modes().contains(&ClientMode::Protocol).then(|| {
            <Self as Protocol>::new(layout.client(index), layout.replicas, variant, params)
        })
    }
    fn notes(run: &Sim<Self>) -> Vec<String> {
        let mut notes = W::notes(run);
        notes.extend(parked_notes(run));
        notes.extend(wasm::notes(run));
        for (i, p) in run.nodes().iter().enumerate() {
            if let Server::Service(s) = p {
                notes.extend(s.notes(&run.layout().name(i), run.layout()));
            }
        }
        notes
    }
    fn foreign(
        id: NodeId,
        nodes: usize,
        params: &W::Params,
        node: &wasm::Foreign,
    ) -> Result<Self, String> {
        let params = serde_json::to_value(params).unwrap_or_default();
        wasm::Guest::new(id, nodes, W::NAME, &params, node).map(|g| Server::Wasm(Box::new(g)))
    }
    fn check(name: &str, run: &Sim<Self>) -> CheckResult {
        checks::run_common(name, run).unwrap_or_else(|| W::check(name, run))
    }
}

/// One note per server with RPCs parked forever at the end of the run.
fn parked_notes<W: Workload>(run: &Sim<Server<W>>) -> Vec<String> {
    let layout = run.layout();
    let mut notes = Vec::new();
    for (i, p) in run.nodes().iter().enumerate() {
        let Some(h) = p.host() else { continue };
        if h.rpcs.parked.is_empty() || !run.is_up(i) {
            continue;
        }
        let mut to: BTreeMap<NodeId, usize> = BTreeMap::new();
        for (dest, _) in h.rpcs.parked.values() {
            *to.entry(*dest).or_default() += 1;
        }
        let list: Vec<String> = to
            .iter()
            .take(8)
            .map(|(d, n)| format!("{}×{n}", layout.name(*d)))
            .collect();
        let more = if to.len() > 8 { " …" } else { "" };
        notes.push(format!(
            "{} ({}): {} RPC(s) parked forever, their request or reply lost and no deadline set (to {}{more})",
            layout.name(i),
            h.variant,
            h.rpcs.parked.len(),
            list.join(", ")
        ));
    }
    notes
}

/// The milliseconds of a microsecond time, for reports.
pub(crate) fn ms(t: Time) -> String {
    crate::generic::ms(t)
}

#[cfg(test)]
mod tests;
