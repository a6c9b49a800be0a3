//! node_cluster and its Jepsen test, from samsquire/eventually-consistent-mesh
//! (node_cluster.py, jepsen.etcdemo/src/jepsen/etcdemo.clj).
//!
//! node_cluster is [`crate::bank`]'s storage deployed on N hosts with no
//! built-in load: only the Jepsen clients write. A host stores every event
//! exactly as bank does ([`Account`]: a heap with the largest timestamp at
//! the root, the root popped and pushed back on every persist) and relays a
//! client's `set` one hop as `sync` to every other host. What differs from
//! bank is what a read returns: `get balance` answers the **amount of the
//! root event**, the newest write by timestamp, not a replayed balance (or
//! 999999999999 when there is none, which the client reads as nil). So
//! Jepsen sees a last-writer-wins register.
//!
//! The Jepsen clients ([`JepsenClient`], one per workload client, each bound
//! to one host by the workload's `fixed` node policy) send `set <random
//! direction> balance v <nanoTime>` and report `:ok` at once — before the
//! host has even read it — and `get balance`, waiting for the 8-byte answer.
//! All clients run in one JVM, so their timestamps come from one monotonic
//! clock (here: each client process's clock, which scenarios leave unskewed).
//!
//! Links: a node_cluster sender retries a failed send forever, so a
//! partition only delays (TCP retransmits; scenarios use `partition_mode:
//! "hold"`), but a connection that broke (a host restarted) is never
//! reopened: the sender spins on the dead socket and nothing more gets
//! through, which the link model records as a dead link.

mod client;

use serde::{Deserialize, Serialize};
use sim::{Ctx, Digest, Layout, Node, NodeId, Request, Sim, Time, ValueGen};

use crate::bank::{Account, Dir, Event};
use crate::ecm::{Links, OnError, Timer};
use crate::{ClientMode, OpSpec, Protocol, Variant};

pub use client::JepsenClient;

/// What `get balance` answers when the key holds no event; the client
/// turns it into nil.
pub const EMPTY: i64 = 999_999_999_999;

/// The parent pointer every event carries: node_cluster creates the
/// `balance` key empty at start, so its first event takes the `-1` of an
/// empty heap and every later one copies the root's.
pub const NO_PARENT: i64 = -1;

/// Wire messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Msg {
    /// Client → host: `set <dir> balance <v> <ts>`.
    Set {
        /// The direction, drawn at random by the client (reads ignore it).
        dir: Dir,
        /// The written value.
        amount: i64,
        /// The client's clock (Jepsen's `System/nanoTime`).
        ts: Time,
    },
    /// Host → host: `sync <dir> balance <v> <h> <ts>` (never relayed).
    Sync {
        /// The direction.
        dir: Dir,
        /// The written value.
        amount: i64,
        /// The parent pointer (always [`NO_PARENT`]).
        h: i64,
        /// The original timestamp.
        ts: Time,
    },
    /// Client → host: `get balance <ts>`.
    Get,
    /// Host → client: the 8-byte answer to a `get`.
    Value {
        /// The root event's amount, or [`EMPTY`].
        value: i64,
    },
}

/// `params`: node_cluster has no knobs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

/// One host running node_cluster.
#[derive(Clone, Debug)]
pub struct Host {
    account: Account,
    links: Links<Msg>,
    counter: u64,
}

impl Host {
    /// A host of a cluster of `nodes`.
    pub fn new(nodes: usize) -> Self {
        Host {
            account: Account::default(),
            // A broken connection is retried forever but never reopened.
            links: Links::new(nodes, OnError::Die, 0),
            counter: 0,
        }
    }

    /// The events this host holds, in arrival order.
    pub fn events(&self) -> &[Event] {
        self.account.events()
    }

    /// What `get balance` answers now.
    pub fn latest(&self) -> i64 {
        self.account.newest().map_or(EMPTY, |e| e.amount)
    }

    /// `persist`: store an event under the parent pointer `h`.
    fn persist(&mut self, dir: Dir, amount: i64, ts: Time, h: i64) {
        self.counter += 1;
        self.account.push(Event {
            id: self.counter,
            local_id: self.counter,
            dir,
            amount,
            ts,
            // The original's -1, kept as the pointer's bit pattern.
            h: h as u64,
            cancelled: None,
            children: Vec::new(),
        });
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Cluster>) {
        self.links.reset(ctx.nodes());
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Cluster>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Set { dir, amount, ts } => {
                let h = self.account.newest().map_or(NO_PARENT, |e| e.h as i64);
                self.persist(dir, amount, ts, h);
                // To every handshaken peer connection; Jepsen's
                // `clientonly` connections (index -1) are skipped.
                let me = ctx.id();
                for peer in (0..ctx.nodes()).filter(|&p| p != me) {
                    let sync = Msg::Sync { dir, amount, h, ts };
                    self.links.send(ctx, peer, sync);
                }
            }
            Msg::Sync { dir, amount, h, ts } => self.persist(dir, amount, ts, h),
            Msg::Get => {
                // Written straight back on the client's connection.
                let value = self.latest();
                ctx.send(from, Msg::Value { value });
            }
            Msg::Value { .. } => {}
        }
    }

    fn on_crash(&mut self) {
        // A Python process: nothing survives.
        self.account = Account::default();
        self.counter = 0;
        self.links.clear();
    }
}

/// A process of a cluster run.
#[derive(Clone, Debug)]
pub enum Cluster {
    /// A host running node_cluster.
    Host(Box<Host>),
    /// A Jepsen client.
    Client(JepsenClient),
}

impl Node for Cluster {
    type Msg = Msg;
    type Timer = Timer;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Cluster::Host(h) = self {
            h.on_start(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Cluster::Host(h) => h.on_message(ctx, from, msg),
            Cluster::Client(c) => c.on_message(ctx, msg),
        }
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _timer: Timer) {}

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        match self {
            // Only the Jepsen clients drive load; a request from the
            // generic client has nobody to answer to.
            Cluster::Host(_) => ctx.reply(request.id, sim::Reply::Info),
            Cluster::Client(c) => c.on_request(ctx, request),
        }
    }

    fn on_link_error(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId, msg: Msg) {
        match self {
            Cluster::Host(h) => {
                // A reply to a client that went away is simply lost.
                if matches!(msg, Msg::Sync { .. }) {
                    h.links.on_error(ctx, to, msg);
                }
            }
            Cluster::Client(c) => c.on_link_error(ctx, msg),
        }
    }

    fn on_crash(&mut self) {
        match self {
            Cluster::Host(h) => h.on_crash(),
            Cluster::Client(c) => c.on_crash(),
        }
    }

    fn digest(&self) -> Digest {
        match self {
            // What a read returns, and how many events the heap holds: a
            // host that lost syncs differs even when its newest amount
            // happens to equal another's (values are only 0..4).
            Cluster::Host(h) => match h.account.newest() {
                Some(e) => [
                    ("balance".to_string(), e.amount.to_string()),
                    ("events".to_string(), h.events().len().to_string()),
                ]
                .into(),
                None => Digest::new(),
            },
            Cluster::Client(_) => Digest::new(),
        }
    }
}

impl Protocol for Cluster {
    const NAME: &'static str = "cluster";
    const SUMMARY: &'static str = "node_cluster: bank's storage on N hosts, driven only by Jepsen clients that ack writes before sending them; a read returns the newest event's amount, so Jepsen sees a last-writer-wins register (eventually-consistent-mesh node_cluster + etcdemo.clj)";
    type Params = Params;

    fn variants() -> &'static [Variant] {
        &[Variant {
            name: "faithful",
            summary: "as coded: reads answer the root event's amount, writes are acked by the client before the host reads them, one relay hop, broken connections never reopened",
        }]
    }

    fn ops() -> Vec<OpSpec> {
        // etcdemo.clj's `(rand-int 5)`: written values repeat.
        let mut ops = crate::register_ops();
        for op in ops.iter_mut().filter(|o| o.name == "write") {
            op.value = ValueGen::Range { min: 0, max: 4 };
        }
        ops
    }

    fn keyed() -> bool {
        false
    }

    fn model() -> Option<&'static str> {
        // Knossos's cas-register; Jepsen generates only reads and writes.
        Some("cas-register")
    }

    fn default_checks() -> &'static [&'static str] {
        &["linearizability", "convergence"]
    }

    fn new(_id: NodeId, nodes: usize, _variant: &str, _params: &Params) -> Self {
        Cluster::Host(Box::new(Host::new(nodes)))
    }

    fn client_modes() -> &'static [ClientMode] {
        &[ClientMode::Protocol]
    }

    fn client(_: usize, _layout: &Layout, _: &str, _: &Params) -> Option<Self> {
        Some(Cluster::Client(JepsenClient::default()))
    }

    fn notes(run: &Sim<Self>) -> Vec<String> {
        run.nodes()
            .iter()
            .enumerate()
            .flat_map(|(i, n)| match n {
                Cluster::Host(h) => h.links.notes(i),
                Cluster::Client(_) => Vec::new(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
