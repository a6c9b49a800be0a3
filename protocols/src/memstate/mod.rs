//! `memstate`: an in-memory model replicated by appending every command to
//! one shared stream and applying records in stream order as they come
//! back (DevrexLabs/memstate), and the leader election over
//! the same stream that the author's note proposes (ASSUME_LEADERSHIP).
//! docs/protocols/memstate.md says what each variant claims.
//!
//! Processes: the engines (replicas, ids `0..nodes`) and the `stream`
//! service ([`stream::Stream`]). Engines never talk to each other, except
//! in `leader`, where a follower forwards a client's operation to the
//! leader it knows.
//!
//! Variants:
//! - `faithful`: the seed's engine. A batcher sends queued commands as one
//!   append (up to 1024), one append in flight, and dies silently when an
//!   append fails (no acknowledgement after the ClientAPI's own retries:
//!   `params.append_retries` resends, `params.append_timeout_ms` apart);
//!   a record that is not the next number stops the engine for good
//!   (`allow_broken_sequence = false`) or is applied anyway (`true`); the
//!   record number is counted before the command runs, so a command that
//!   throws still counts (the snapshot; `params.pre_6f560ec` restores the
//!   order memstate had before 2020); queries read the local model at
//!   once; startup replays the log page by page, counting only records
//!   whose command did not throw, then subscribes from the next one; a
//!   dropped subscription is never renewed.
//! - `intended`: reads wait until the engine has applied everything the
//!   stream held when the read arrived (`EnsureVersion` with the stream's
//!   head), records are applied in number order (duplicates ignored, gaps
//!   refetched by subscribing again), the subscription is renewed when it
//!   drops or goes quiet, appends are retried with the same command ids and
//!   a command id is applied once.
//! - `leader`: `intended` plus ASSUME_LEADERSHIP: only the leader's
//!   commands take effect, fenced by the record number of its
//!   AssumeLeadership; heartbeats and a failure detector; reads through a
//!   no-op marker (or local, unsafe, with `params.leader_reads = "local"`).

mod check;
mod engine;
pub mod kv;
mod leader;
pub mod stream;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use sim::{Ctx, Digest, Layout, Node, NodeId, Reply, Request, RequestId, Value};

pub use engine::Engine;
pub use kv::{Cmd, Store};
pub use stream::{Stream, StreamKnobs};

use crate::{CheckResult, CheckSpec, OpSpec, Protocol, ServiceSpec, Variant};
use sim::ValueGen;

/// A record's content: the command and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The engine that appended it.
    pub origin: NodeId,
    /// The client request (the command id), for client commands.
    pub req: Option<RequestId>,
    /// `leader`: the fencing position the origin led from when it appended.
    pub since: u64,
    /// The command.
    pub cmd: Cmd,
}

/// Messages among engines and the stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Engine → stream: append these, consecutively.
    Append {
        /// The engine's batch number.
        batch: u64,
        /// The commands.
        entries: Vec<Entry>,
    },
    /// Stream → engine: the batch is in; `next` is the next record number.
    Appended {
        /// The batch.
        batch: u64,
        /// The log's length after it.
        next: u64,
    },
    /// Engine → stream: send me every record from `from` on, then live.
    Subscribe {
        /// The checkpoint.
        from: u64,
    },
    /// Stream → engine: a record.
    Record {
        /// Its number (0-based, dense).
        number: u64,
        /// Its position in the subscription (0 for the first record sent
        /// after the `subscribe`): the subscription's TCP stream, in which
        /// nothing is lost or reordered while the connection lives.
        seq: u64,
        /// Its content.
        entry: Entry,
    },
    /// Stream → engine: the subscription is dropped.
    Dropped,
    /// Engine → stream: a page of records from `from` (startup).
    Read {
        /// The first record wanted.
        from: u64,
    },
    /// Stream → engine: a page.
    Page {
        /// The first record's number.
        from: u64,
        /// The records.
        records: Vec<Entry>,
        /// More records follow this page.
        more: bool,
    },
    /// Engine → stream (`intended`): how long is the log?
    Head {
        /// Echoed in the answer (the read's request id).
        tag: RequestId,
    },
    /// Stream → engine: the log's length.
    HeadIs {
        /// The question's tag.
        tag: RequestId,
        /// The next record number.
        next: u64,
    },
    /// Follower → leader (`leader`): a client's operation, for the leader
    /// that leads from record `since` (the follower's view).
    Forward {
        /// The request.
        req: RequestId,
        /// The operation.
        op: Op,
        /// The fencing position of the leadership the follower forwards to.
        since: u64,
    },
    /// Leader → follower: the answer to a forwarded operation (its outcome
    /// as the log decided it, or `info` when the outcome is not known).
    Done {
        /// The request.
        req: RequestId,
        /// The answer.
        reply: Reply,
    },
    /// Engine → follower: this engine does not lead from `since`, and never
    /// will again once it has applied past it, so this copy of the forward
    /// never takes effect here.
    Refused {
        /// The request.
        req: RequestId,
        /// The fencing position named in the forward.
        since: u64,
    },
}

/// A client operation as an engine handles it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Op {
    /// `get`, `set`, `remove`, `incr` or `stamp`.
    pub f: &'static str,
    /// Key.
    pub key: u32,
    /// Input.
    pub value: Value,
}

/// Timer tags.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Timer {
    /// An append got no acknowledgement in time.
    AppendTimeout(u64),
    /// `intended`/`leader`: renew a quiet subscription.
    Idle,
    /// `leader`: heartbeat and failure detector.
    Tick,
    /// `leader`: a forwarded operation has had no answer: send it again.
    Forward(RequestId),
    /// Stream: a delayed record leaves.
    Deliver {
        /// The subscriber.
        to: NodeId,
        /// The record.
        number: u64,
    },
}

/// How a `leader` answers reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaderReads {
    /// Append a no-op marker and answer once it is applied (read-index).
    #[default]
    Marker,
    /// Answer from the local model at once (unsafe: a deposed leader
    /// answers from stale state).
    Local,
}

/// A bug of the `leader`/`intended` code before the December 2026 audit,
/// seeded back on purpose (`params.seeded_bugs`) so that campaigns can be
/// shown to find it. docs/protocols/memstate.md describes each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bug {
    /// L1: an engine that does not lead answers a forward `fail` at once,
    /// the follower hands that to the client, and a duplicate of the
    /// forward is executed once the engine leads (no dedupe by request).
    ForwardRefusalFails,
    /// L2: the leader's `incr` computes from its applied state (without its
    /// own commands in flight) and carries no precondition unless
    /// `incr_cas`.
    IncrFromApplied,
    /// L3: a forward and its answer are sent once: no retry, no timeout.
    ForwardOnce,
    /// I1: `incr_cas` carries only the version it read, which `Remove`
    /// restarts (ABA).
    IncrVersionOnly,
    /// L4: the leader drops a command from its `own` list only when its
    /// own record of it is applied; when another engine's record carries
    /// the request id first (the stream then drops this engine's copy as a
    /// duplicate event id), the entry stays for good and every later
    /// `incr` on the key at this engine fails its precondition.
    StaleOwn,
}

/// `params`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// `faithful`: a record out of sequence is applied anyway (else the
    /// engine stops).
    pub allow_broken_sequence: bool,
    /// `faithful`: the engine as before memstate commit 6f560ec (2020):
    /// the last record number is set only after a command ran without an
    /// exception, so a failed command leaves the engine one record behind
    /// and the next record stops it. The snapshot (8d30ac9) sets it first.
    pub pre_6f560ec: bool,
    /// An append without acknowledgement fails after this long: in
    /// `faithful` the pinned EventStore ClientAPI's operation timeout
    /// (default 7000 ms), after which the client itself sends the append
    /// again with the same event ids, `append_retries` times, before the
    /// call throws; in `intended`/`leader` the engine's own resend period
    /// (default 2000 ms; it resends for ever).
    #[serde(deserialize_with = "sim::ms::de_opt")]
    pub append_timeout_ms: Option<u64>,
    /// `faithful`: the ClientAPI's retries of a timed-out append
    /// (MaxOperationRetries, default 10); the batcher dies when they are
    /// spent.
    pub append_retries: u64,
    /// Commands per append, at most (the seed: 1024).
    pub batch_max: usize,
    /// `incr` sends the version it read as the expected version (CAS).
    pub incr_cas: bool,
    /// `intended`/`leader`: renew the subscription after this long without a record.
    #[serde(deserialize_with = "sim::ms::de")]
    pub idle_ms: u64,
    /// `leader`: the leader appends a heartbeat this often.
    #[serde(deserialize_with = "sim::ms::de")]
    pub heartbeat_ms: u64,
    /// `leader`: a follower that applies no leader record for this long
    /// (plus a random part up to as much again) stands as candidate.
    #[serde(deserialize_with = "sim::ms::de")]
    pub election_timeout_ms: u64,
    /// `leader`: how the leader answers reads.
    pub leader_reads: LeaderReads,
    /// `leader`: this engine stands as soon as it has loaded (an operator
    /// names the first leader; without one, the failure detector does).
    pub operator_leader: Option<NodeId>,
    /// `leader`: a follower sends a forward again after this long without
    /// an answer.
    #[serde(deserialize_with = "sim::ms::de")]
    pub forward_retry_ms: u64,
    /// `leader`: a follower gives a forwarded operation up (answers `info`)
    /// after this long without an answer.
    #[serde(deserialize_with = "sim::ms::de")]
    pub forward_timeout_ms: u64,
    /// Bugs seeded back on purpose (see [`Bug`]).
    pub seeded_bugs: Vec<Bug>,
}

impl Params {
    /// The append timeout for `mode` (see `append_timeout_ms`).
    pub fn append_timeout(&self, mode: Mode) -> u64 {
        let default = if mode == Mode::Faithful { 7000 } else { 2000 };
        self.append_timeout_ms.unwrap_or(default)
    }

    /// True when `bug` is seeded.
    pub fn bug(&self, bug: Bug) -> bool {
        self.seeded_bugs.contains(&bug)
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            allow_broken_sequence: false,
            pre_6f560ec: false,
            append_timeout_ms: None,
            append_retries: 10,
            batch_max: 1024,
            incr_cas: false,
            idle_ms: 200,
            heartbeat_ms: 100,
            election_timeout_ms: 500,
            leader_reads: LeaderReads::Marker,
            operator_leader: None,
            forward_retry_ms: 150,
            forward_timeout_ms: 10_000,
            seeded_bugs: Vec::new(),
        }
    }
}

/// The variants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// As the seed's code behaves.
    #[default]
    Faithful,
    /// As documented, with fresh reads.
    Intended,
    /// With ASSUME_LEADERSHIP.
    Leader,
}

/// A process of a memstate run.
#[derive(Clone, Debug)]
pub enum MemState {
    /// An engine (replica).
    Engine(Box<Engine>),
    /// The stream service.
    Stream(Box<Stream>),
}

impl Node for MemState {
    type Msg = Msg;
    type Timer = Timer;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let MemState::Engine(e) = self {
            e.on_start(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            MemState::Engine(e) => e.on_message(ctx, from, msg),
            MemState::Stream(s) => s.on_message(ctx, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (self, timer) {
            (MemState::Stream(s), Timer::Deliver { to, number }) => s.on_deliver(ctx, to, number),
            (MemState::Engine(e), t) => e.on_timer(ctx, t),
            _ => {}
        }
    }

    fn on_link_error(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId, msg: Msg) {
        // An engine treats a link error as a loss: its retries (appends,
        // forwards) resend. The stream drops the subscription it broke.
        if let MemState::Stream(s) = self {
            s.on_link_error(ctx, to, msg);
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        if let MemState::Engine(e) = self {
            let op = Op {
                f: request.f,
                key: request.key.unwrap_or(0),
                value: request.value,
            };
            e.on_op(ctx, request.id, op, engine::Answer::Direct);
        }
    }

    fn on_crash(&mut self) {
        match self {
            MemState::Engine(e) => e.on_crash(),
            MemState::Stream(s) => s.on_crash(),
        }
    }

    fn digest(&self) -> Digest {
        match self {
            MemState::Engine(e) => e.digest(),
            MemState::Stream(_) => Digest::new(),
        }
    }

    fn applied(&self) -> Option<u64> {
        match self {
            MemState::Engine(e) => Some(e.applied()),
            MemState::Stream(_) => None,
        }
    }
}

const CHECKS: &[CheckSpec] = &[
    CheckSpec {
        name: "increments",
        summary: "every key written only by incr ends with a value between its acknowledged incrs and those plus the indeterminate ones (a lost update ends lower)",
    },
    CheckSpec {
        name: "engines-running",
        summary: "no engine stopped on a broken sequence (the seed's stopped flag: every later operation on it fails)",
    },
    CheckSpec {
        name: "speculation-drained",
        summary: "leader: at the end, no engine keeps one of its own commands in the speculative view its incr reads through once it has applied a record of that command id (one left behind fails every later incr on its key)",
    },
];

impl Protocol for MemState {
    const NAME: &'static str = "memstate";
    const SUMMARY: &'static str = "an in-memory model replicated through one shared stream, applied in stream order as records come back (DevrexLabs/memstate), and leader election over the stream (ASSUME_LEADERSHIP)";
    type Params = Params;

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "faithful",
                summary: "the seed's engine: batcher that dies on an append error, stop (or go on, allow_broken_sequence) on a record out of sequence, local queries, no resubscribe",
            },
            Variant {
                name: "intended",
                summary: "reads after EnsureVersion(stream head), records in number order with refetch, resubscribe, retried appends applied once by command id",
            },
            Variant {
                name: "leader",
                summary: "intended plus ASSUME_LEADERSHIP: fenced leader commands, heartbeats and a failure detector, reads through a no-op marker (params.leader_reads = local: unsafe)",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        let op = |name, read, weight, value| OpSpec {
            name,
            read,
            weight,
            value,
        };
        vec![
            op("set", false, 1, ValueGen::Unique),
            op("get", true, 1, ValueGen::Null),
            op("remove", false, 0, ValueGen::Null),
            op("incr", false, 0, ValueGen::Null),
            op("stamp", false, 0, ValueGen::Null),
        ]
    }

    fn model() -> Option<&'static str> {
        Some("versioned-kv")
    }

    fn checks() -> &'static [CheckSpec] {
        CHECKS
    }

    fn default_checks() -> &'static [&'static str] {
        &["convergence", "replica-agreement", "engines-running"]
    }

    fn validate(params: &Params, nodes: usize) -> Result<(), String> {
        let p = params;
        if let Some(l) = p.operator_leader.filter(|l| *l >= nodes) {
            return Err(format!(
                "params.operator_leader is {l}, but engines are 0..{nodes}"
            ));
        }
        for (name, v) in [
            ("append_timeout_ms", p.append_timeout_ms.unwrap_or(1)),
            ("idle_ms", p.idle_ms),
            ("heartbeat_ms", p.heartbeat_ms),
            ("election_timeout_ms", p.election_timeout_ms),
            ("batch_max", p.batch_max as u64),
            ("forward_retry_ms", p.forward_retry_ms),
            ("forward_timeout_ms", p.forward_timeout_ms),
        ] {
            if v == 0 {
                return Err(format!("params.{name} must be at least 1"));
            }
        }
        Ok(())
    }

    fn new(_id: NodeId, _nodes: usize, variant: &str, params: &Params) -> Self {
        let mode = match variant {
            "intended" => Mode::Intended,
            "leader" => Mode::Leader,
            _ => Mode::Faithful,
        };
        MemState::Engine(Box::new(Engine::new(mode, params.clone())))
    }

    fn services() -> &'static [ServiceSpec] {
        &[ServiceSpec {
            name: "stream",
            summary: "the shared log: atomic batch append, paged reads, subscriptions from a checkpoint; knobs page, subscribers[{node, delay_ms, drop_at, duplicate, reorder, gap}], ack_loss[{node, append}]",
        }]
    }

    fn default_services() -> &'static [&'static str] {
        &["stream"]
    }

    fn service(
        name: &str,
        layout: &Layout,
        _: &Params,
        knobs: &serde_json::Value,
    ) -> Result<Self, String> {
        if name != "stream" {
            return Err(format!(
                "memstate runs no service named {name}; it runs stream"
            ));
        }
        let knobs: StreamKnobs = crate::service_knobs("stream", knobs)?;
        knobs.validate(layout)?;
        Ok(MemState::Stream(Box::new(Stream::new(knobs))))
    }

    fn check(name: &str, run: &sim::Sim<Self>) -> CheckResult {
        match name {
            "increments" => check::increments(run),
            "engines-running" => check::engines_running(run),
            "speculation-drained" => check::speculation_drained(run),
            _ => CheckResult::unknown(format!("memstate has no check named {name}")),
        }
    }
}
