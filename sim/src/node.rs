//! The contract between the engine and a protocol node.
//!
//! A node never touches the network, the clock or the clients directly: each
//! callback gets a [`Ctx`] that hands out read-only facts (its id, the
//! cluster size, its own clock, its own random stream) and takes effects
//! (`send`, `broadcast`, `set_timer`, `cancel_timer`, `reply`). Each effect
//! goes, in the order the handler asks for it, to an [`Effects`] sink: in a
//! run that is the engine, which applies it at once through one chokepoint
//! where it is traced and where faults apply (nothing the handler can see
//! changes by that); in a unit test it is a `Vec` of [`Effect`]s. Handlers
//! are therefore plain functions of (state, input) and can be unit-tested
//! with [`Harness`].

use std::collections::BTreeMap;
use std::fmt::Debug;

use serde::{Deserialize, Serialize};

use crate::layout::Layout;
use crate::rng::Rng;
use crate::{NodeId, Time};

/// A protocol node. Implementations must be deterministic given the inputs
/// and the context's random stream.
pub trait Node {
    /// Messages between nodes.
    type Msg: Clone + Debug + Serialize;
    /// Timer tags. Setting a timer whose tag is already set resets it.
    type Timer: Clone + Debug + Ord + Serialize;

    /// Called when the node starts, and again when it restarts after a crash.
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>);
    /// A message from another node (or from itself).
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Self::Msg);
    /// A timer set earlier fired.
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Self::Timer);
    /// A client operation arrived. Answer it now or later with [`Ctx::reply`].
    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request);
    /// An ordered (TCP-like) link reported that `msg` to `to` was not
    /// delivered: the peer is partitioned away or down, or the connection
    /// broke. Unordered links lose messages silently. The default ignores it.
    fn on_link_error(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId, msg: Self::Msg) {
        let _ = (ctx, to, msg);
    }
    /// The node crashed (or halted itself): drop everything that is not
    /// durable. The engine calls [`Node::on_start`] when it restarts.
    fn on_crash(&mut self);
    /// The replica's visible state, key by key, for the convergence check.
    fn digest(&self) -> Digest;
    /// The position in the protocol's total order up to which this replica
    /// has applied (a commit number, the last applied record), when the
    /// protocol has one. Equal positions on two replicas must mean equal
    /// prefixes of the same order: the `replica-agreement` check compares
    /// their digests there, and `monotonic-reads` orders reads by it.
    /// `None` (the default): the protocol has no such position.
    fn applied(&self) -> Option<u64> {
        None
    }
}

/// A replica's visible state: key → rendered value, in key order.
pub type Digest = BTreeMap<String, String>;

/// A value carried by client operations and recorded in histories.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(untagged)]
pub enum Value {
    /// No value (`null`): a read's input, or "nothing there".
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A list, e.g. `[old, new]` for cas.
    List(Vec<Value>),
    /// A set of integers, one state of a node's [`GrowSet`](crate::GrowSet)
    /// (a broadcast read's answer): shared with the node's other states,
    /// written as the ascending list of its elements. Reading JSON never
    /// makes one (that list reads as a `List`).
    Set(crate::IntSet),
}

impl Value {
    /// The integer inside, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Set(s) => {
                f.write_str("[")?;
                for (i, e) in s.sorted().iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Identifies one client operation for its whole life.
pub type RequestId = u64;

/// A client operation as a node (or a protocol's client process) receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Request {
    /// Reply to this id.
    pub id: RequestId,
    /// The replica the workload's node policy chose for it: the node that
    /// receives it from the generic client, and where a protocol's client
    /// process should start.
    pub node: NodeId,
    /// The operation's name, one of the protocol's declared operations.
    pub f: &'static str,
    /// The key, when the workload uses keys.
    pub key: Option<u32>,
    /// The input value (a write's value; `null` for reads).
    pub value: Value,
}

/// A node's answer to a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The operation took effect; the value is its result.
    Ok(Value),
    /// The operation certainly did not take effect.
    Fail(Value),
    /// The node cannot say whether it took effect.
    Info,
}

/// An effect a handler asked for; the engine applies them in order.
#[derive(Clone, Debug)]
pub enum Effect<M, T> {
    /// Send `msg` to `to`.
    Send {
        /// Destination.
        to: NodeId,
        /// Payload.
        msg: M,
    },
    /// Fire `tag` after `after` microseconds of this node's clock.
    SetTimer {
        /// The timer's tag.
        tag: T,
        /// Local-clock delay.
        after: Time,
    },
    /// Forget the timer `tag`.
    CancelTimer {
        /// The timer's tag.
        tag: T,
    },
    /// Answer a client.
    Reply {
        /// The request answered.
        id: RequestId,
        /// The answer.
        reply: Reply,
    },
    /// Stop for good, as a process that failed an assertion.
    Halt {
        /// Why, in the protocol's words.
        reason: String,
    },
}

/// The effect type of node `N`.
pub type EffectOf<N> = Effect<<N as Node>::Msg, <N as Node>::Timer>;

/// Where the effects of node `node`'s handler go, one call per effect, in
/// the order the handler asked for them. The engine applies them; a `Vec`
/// records them (for [`Harness`] and unit tests).
pub trait Effects<M, T> {
    /// `node` sends `msg` to `to`.
    fn send(&mut self, node: NodeId, to: NodeId, msg: M);
    /// `node` sets timer `tag` to fire after `after` µs of its own clock.
    fn set_timer(&mut self, node: NodeId, tag: T, after: Time);
    /// `node` cancels timer `tag`.
    fn cancel_timer(&mut self, node: NodeId, tag: T);
    /// `node` answers client request `id`.
    fn reply(&mut self, node: NodeId, id: RequestId, reply: Reply);
    /// `node` stops for good (see [`Ctx::halt`]).
    fn halt(&mut self, node: NodeId, reason: String);
    /// Who takes part in the run (asked rarely: not on the hot path).
    fn layout(&self) -> &Layout;
}

/// An effect sink that records effects in a `Vec` (for [`Harness`] and
/// unit tests), in a run laid out as `layout`.
pub struct Recorder<M, T> {
    /// Who takes part.
    pub layout: Layout,
    /// The effects recorded, in order.
    pub effects: Vec<Effect<M, T>>,
}

impl<M, T> Recorder<M, T> {
    /// Records `e` unless the handler already halted (what a halted
    /// process asks for never happens).
    fn push(&mut self, e: Effect<M, T>) {
        if !matches!(self.effects.last(), Some(Effect::Halt { .. })) {
            self.effects.push(e);
        }
    }
}

impl<M, T> Effects<M, T> for Recorder<M, T> {
    fn send(&mut self, _: NodeId, to: NodeId, msg: M) {
        self.push(Effect::Send { to, msg });
    }
    fn set_timer(&mut self, _: NodeId, tag: T, after: Time) {
        self.push(Effect::SetTimer { tag, after });
    }
    fn cancel_timer(&mut self, _: NodeId, tag: T) {
        self.push(Effect::CancelTimer { tag });
    }
    fn reply(&mut self, _: NodeId, id: RequestId, reply: Reply) {
        self.push(Effect::Reply { id, reply });
    }
    fn halt(&mut self, _: NodeId, reason: String) {
        self.push(Effect::Halt { reason });
    }
    fn layout(&self) -> &Layout {
        &self.layout
    }
}

/// What a handler can see and do.
pub struct Ctx<'a, N: Node + ?Sized> {
    id: NodeId,
    nodes: usize,
    now: Time,
    rng: &'a mut Rng,
    effects: &'a mut dyn Effects<N::Msg, N::Timer>,
}

impl<'a, N: Node + ?Sized> Ctx<'a, N> {
    /// A context for one handler call of process `id` in a run of
    /// `nodes` replicas (the engine and [`Harness`] build these).
    pub fn new(
        id: NodeId,
        nodes: usize,
        now: Time,
        rng: &'a mut Rng,
        effects: &'a mut dyn Effects<N::Msg, N::Timer>,
    ) -> Self {
        Ctx {
            id,
            nodes,
            now,
            rng,
            effects,
        }
    }

    /// Who takes part in the run: replicas, services, client processes.
    pub fn layout(&self) -> &Layout {
        self.effects.layout()
    }

    /// The id of service `name`, if the scenario runs it.
    pub fn service(&self, name: &str) -> Option<NodeId> {
        self.layout().service(name)
    }

    /// Stops this process for good, as a process does after a failed
    /// assertion, a panic or an unhandled message: what it did before in
    /// this handler stands (messages already sent are on the wire), nothing
    /// it asks for afterwards happens, it loses its volatile state (as in a
    /// crash), receives nothing more and its timers never fire. The report
    /// lists the halt with `reason`, and the `no-halts` check fails.
    pub fn halt(&mut self, reason: impl Into<String>) {
        self.effects.halt(self.id, reason.into());
    }

    /// This node's id.
    #[inline]
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// How many replicas the cluster has (their ids are `0..nodes`;
    /// services and client processes come after them).
    #[inline]
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Every other replica's id, in order.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> {
        let me = self.id;
        (0..self.nodes).filter(move |&p| p != me)
    }

    /// This node's clock, in microseconds (skewed, drifting, may jump back).
    #[inline]
    pub fn now(&self) -> Time {
        self.now
    }

    /// This node's own random stream.
    #[inline]
    pub fn rng(&mut self) -> &mut Rng {
        self.rng
    }

    /// Sends `msg` to process `to` (a replica, a service, a client
    /// process; may be this process itself).
    #[inline]
    pub fn send(&mut self, to: NodeId, msg: N::Msg) {
        self.effects.send(self.id, to, msg);
    }

    /// Sends `msg` to every other replica.
    pub fn broadcast(&mut self, msg: N::Msg) {
        for to in 0..self.nodes {
            if to != self.id {
                self.send(to, msg.clone());
            }
        }
    }

    /// Fires `tag` after `after` microseconds of this node's clock; replaces
    /// a pending timer with the same tag.
    pub fn set_timer(&mut self, tag: N::Timer, after: Time) {
        self.effects.set_timer(self.id, tag, after);
    }

    /// Cancels the pending timer `tag`, if any.
    pub fn cancel_timer(&mut self, tag: N::Timer) {
        self.effects.cancel_timer(self.id, tag);
    }

    /// Answers client request `id`. From a replica, the answer travels back
    /// to the generic client; from a protocol's client process, it
    /// completes the operation at once.
    pub fn reply(&mut self, id: RequestId, reply: Reply) {
        self.effects.reply(self.id, id, reply);
    }
}

/// Drives one node's handlers outside the engine, for unit tests: each call
/// returns the effects the handler recorded.
pub struct Harness<N: Node> {
    /// The node under test.
    pub node: N,
    /// Its id.
    pub id: NodeId,
    /// The local clock reading handed to the next call.
    pub now: Time,
    rng: Rng,
    sink: Recorder<N::Msg, N::Timer>,
}

impl<N: Node> Harness<N> {
    /// Wraps `node` as node `id` of a cluster of `nodes` replicas.
    pub fn new(node: N, id: NodeId, nodes: usize) -> Self {
        Harness::with_layout(node, id, Layout::replicas(nodes))
    }

    /// Wraps `node` as process `id` of a run laid out as `layout`.
    pub fn with_layout(node: N, id: NodeId, layout: Layout) -> Self {
        Harness {
            node,
            id,
            now: 0,
            rng: Rng::derive(0, "harness"),
            sink: Recorder {
                layout,
                effects: Vec::new(),
            },
        }
    }

    /// Who takes part in the run the node sees.
    pub fn layout(&self) -> &Layout {
        &self.sink.layout
    }

    fn call(&mut self, f: impl FnOnce(&mut N, &mut Ctx<'_, N>)) -> Vec<EffectOf<N>> {
        let nodes = self.sink.layout.replicas;
        let mut ctx = Ctx::new(self.id, nodes, self.now, &mut self.rng, &mut self.sink);
        f(&mut self.node, &mut ctx);
        std::mem::take(&mut self.sink.effects)
    }

    /// Calls `on_start`.
    pub fn start(&mut self) -> Vec<EffectOf<N>> {
        self.call(|n, c| n.on_start(c))
    }

    /// Calls `on_message`.
    pub fn message(&mut self, from: NodeId, msg: N::Msg) -> Vec<EffectOf<N>> {
        self.call(|n, c| n.on_message(c, from, msg))
    }

    /// Calls `on_timer`.
    pub fn timer(&mut self, tag: N::Timer) -> Vec<EffectOf<N>> {
        self.call(|n, c| n.on_timer(c, tag))
    }

    /// Calls `on_request`.
    pub fn request(&mut self, request: Request) -> Vec<EffectOf<N>> {
        self.call(|n, c| n.on_request(c, request))
    }

    /// Calls `on_link_error`.
    pub fn link_error(&mut self, to: NodeId, msg: N::Msg) -> Vec<EffectOf<N>> {
        self.call(|n, c| n.on_link_error(c, to, msg))
    }
}
