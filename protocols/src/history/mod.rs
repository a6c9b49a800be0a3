//! The mesh with a hash "trail" per entry, from samsquire/eventually-consistent-mesh
//! (node_history.py).
//!
//! Links, load and read rule are those of [`crate::lww`]: an origin stamps a
//! client's write with its clock and pushes it as `set` to one target, which
//! stores it and relays `sync` one hop. Each key is a Python `heapq` with an
//! inverted comparator ([`TsHeap`]), so a read returns the entry with the
//! largest timestamp, and equal timestamps are decided by the heap layout,
//! i.e. by the arrival order at each node. The target hashes the entry into
//! a trail; every replica indexes the write under that hash.
//!
//! Variants:
//! - `faithful`: a new entry's hash chains to the hash in the **last slot of
//!   the heap array**, an arbitrary leaf rather than the version it
//!   replaced, and the origin is never recorded. The `sync` carries the hash
//!   alone, so no other replica can recompute it. A link that reports an
//!   error is dead for good.
//! - `intended`: an entry chains to the key's newest entry at the accepting
//!   node (the version it replaced), records its origin, and the `sync`
//!   carries both so every replica can follow the chain back to the key's
//!   first write. Equal timestamps are ordered by (origin, value) on every
//!   node, as in lww's intended variant. A failed link is retried until the
//!   message gets through.
//!
//! The relay goes to every node but the target itself, so the origin does
//! receive its write (lww's origin blindness is gone). The handshake race of
//! ECM-11 is opt-in (`params.handshake`, see [`crate::handshake`]).

mod check;

use std::collections::BTreeMap;

use serde::Serialize;
use sim::hash::fnv1a;
use sim::{Ctx, Digest, Node, NodeId, Reply, Request, Sim, Time, Value};

pub use crate::ecm::Params;
use crate::ecm::{Links, Mode, Stamped, TsHeap};
use crate::handshake::{Connecting, Inbound};
use crate::{CheckResult, CheckSpec, OpSpec, Protocol, Variant};

pub use crate::ecm::Timer;
pub use check::trail_dot;

/// Wire messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Msg {
    /// ECM-11 only (`params.handshake`): a connection to the receiver's
    /// server, whose handshake `server <index>` is read a little later.
    Connect,
    /// Origin → target: hash this into the trail, store it and relay it.
    Set {
        /// Key.
        key: u32,
        /// Value.
        value: i64,
        /// The origin's clock when it sent the write.
        ts: Time,
    },
    /// Target → replica: store this under hash `h` (never relayed).
    Sync {
        /// Key.
        key: u32,
        /// Value.
        value: i64,
        /// The original timestamp.
        ts: Time,
        /// The entry's trail hash.
        h: u64,
        /// Intended only: the hash this entry chains to.
        #[serde(skip_serializing_if = "Option::is_none")]
        link: Option<u64>,
        /// Intended only: the node the client wrote through.
        #[serde(skip_serializing_if = "Option::is_none")]
        origin: Option<NodeId>,
    },
}

/// One stored write of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Key.
    pub key: u32,
    /// Value.
    pub value: i64,
    /// Timestamp (the origin's clock).
    pub ts: Time,
    /// Trail hash: [`trail_hash`] of `link` and the entry's text.
    pub h: u64,
    /// The hash this entry chains to, when this replica knows it.
    pub link: Option<u64>,
    /// The origin node, when recorded (intended only).
    pub origin: Option<NodeId>,
    /// Set on the node that accepted the `set`: the hash of the key's newest
    /// entry there at that moment, i.e. the version this write replaced.
    /// The simulator keeps it to judge provenance; the protocol does not.
    pub accepted: Option<Accepted>,
}

/// What the accepting node knew when it hashed an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The key's newest entry at the accepting node, if any.
    pub replaced: Option<u64>,
}

/// The text an entry is hashed as. The origin is part of it only when the
/// variant records one.
pub fn entry_text(key: u32, value: i64, ts: Time, origin: Option<NodeId>) -> String {
    match origin {
        None => format!("set {key} {value} {ts}"),
        Some(o) => format!("set {key} {value} {ts} n{o}"),
    }
}

/// The trail hash: H(text) for a first write, H(hex(link) ‖ hex(H(text)))
/// after it, with FNV-1a so it is the same on every machine.
pub fn trail_hash(link: Option<u64>, text: &str) -> u64 {
    let own = fnv1a(text.as_bytes());
    match link {
        None => own,
        Some(p) => fnv1a(format!("{p:016x}{own:016x}").as_bytes()),
    }
}

impl Entry {
    /// True when `h` recomputes from what this entry records.
    pub fn recomputes(&self) -> bool {
        self.h
            == trail_hash(
                self.link,
                &entry_text(self.key, self.value, self.ts, self.origin),
            )
    }
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    rank: (Time, u64, i64),
    idx: usize,
}

impl Stamped for Slot {
    fn rank(&self) -> (Time, u64, i64) {
        self.rank
    }
}

/// Everything one replica holds for one key.
#[derive(Clone, Debug, Default)]
pub struct KeyLog {
    entries: Vec<Entry>,
    heap: TsHeap<Slot>,
    index: BTreeMap<u64, usize>,
}

impl KeyLog {
    fn insert(&mut self, e: Entry) {
        let idx = self.entries.len();
        // Faithful: the timestamp alone, so ties go by layout (ECM-3).
        // Intended: one total order on every node, as lww's intended variant.
        let rank = match e.origin {
            Some(o) => (e.ts, o as u64, e.value),
            None => (e.ts, 0, 0),
        };
        self.heap.push(Slot { rank, idx });
        // As the original's dict: a repeated hash points at the latest copy.
        self.index.insert(e.h, idx);
        self.entries.push(e);
    }

    /// The entries in arrival order (duplicates included).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The heap root: what a read returns.
    pub fn newest(&self) -> Option<&Entry> {
        self.heap.root().map(|s| &self.entries[s.idx])
    }

    /// The entry in the last slot of the heap array.
    pub fn last_slot(&self) -> Option<&Entry> {
        self.heap.last_slot().map(|s| &self.entries[s.idx])
    }

    /// The entry indexed under hash `h`.
    pub fn get(&self, h: u64) -> Option<&Entry> {
        self.index.get(&h).map(|&i| &self.entries[i])
    }

    /// The distinct hashes held, in order.
    pub fn hashes(&self) -> impl Iterator<Item = u64> + '_ {
        self.index.keys().copied()
    }
}

/// One replica of the history mesh.
#[derive(Clone, Debug)]
pub struct History {
    mode: Mode,
    params: Params,
    logs: BTreeMap<u32, KeyLog>,
    next_target: usize,
    links: Links<Msg>,
    inbound: Inbound,
}

impl History {
    /// What this replica holds for `key`.
    pub fn log(&self, key: u32) -> Option<&KeyLog> {
        self.logs.get(&key)
    }

    /// Every key this replica holds, in order.
    pub fn logs(&self) -> &BTreeMap<u32, KeyLog> {
        &self.logs
    }

    /// The target's side of a `set`: chain the entry into the trail and store it.
    fn accept(&mut self, origin: NodeId, key: u32, value: i64, ts: Time) -> Entry {
        let log = self.logs.entry(key).or_default();
        let replaced = log.newest().map(|e| e.h);
        let (link, origin) = match self.mode {
            Mode::Faithful => (log.last_slot().map(|e| e.h), None),
            Mode::Intended => (replaced, Some(origin)),
        };
        let h = trail_hash(link, &entry_text(key, value, ts, origin));
        let e = Entry {
            key,
            value,
            ts,
            h,
            link,
            origin,
            accepted: Some(Accepted { replaced }),
        };
        log.insert(e.clone());
        e
    }
}

impl Connecting for Msg {
    fn connect() -> Self {
        Msg::Connect
    }

    fn is_connect(&self) -> bool {
        matches!(self, Msg::Connect)
    }
}

impl Node for History {
    type Msg = Msg;
    type Timer = Timer;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.links.reset(ctx.nodes());
        self.next_target = ctx.id();
        self.inbound.on_start(ctx);
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, r: Request) {
        let key = r.key.unwrap_or(0);
        if r.f == "write" {
            let value = r.value.as_int().unwrap_or(0);
            let to = self
                .params
                .target
                .pick(ctx.id(), ctx.nodes(), &mut self.next_target);
            let ts = ctx.now();
            self.links.send(ctx, to, Msg::Set { key, value, ts });
            // Acknowledged once queued, before any replica has applied it.
            ctx.reply(r.id, Reply::Ok(r.value));
        } else {
            if !self.inbound.answers() {
                // ECM-11: the read is a `get` to a server that reads nothing.
                return;
            }
            let v = self
                .log(key)
                .and_then(KeyLog::newest)
                .map_or(Value::Null, |e| Value::Int(e.value));
            ctx.reply(r.id, Reply::Ok(v));
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        if !self.inbound.on_message(ctx, from, &msg) {
            return;
        }
        match msg {
            Msg::Connect => {}
            Msg::Set { key, value, ts } => {
                let e = self.accept(from, key, value, ts);
                let (link, origin) = match self.mode {
                    // The faithful wire format has no room for either.
                    Mode::Faithful => (None, None),
                    Mode::Intended => (e.link, e.origin),
                };
                let me = ctx.id();
                let relay = self.inbound.relay_targets(ctx.now(), me, ctx.nodes(), from);
                for peer in relay {
                    let sync = Msg::Sync {
                        key,
                        value,
                        ts,
                        h: e.h,
                        link,
                        origin,
                    };
                    self.links.send(ctx, peer, sync);
                }
            }
            Msg::Sync {
                key,
                value,
                ts,
                h,
                link,
                origin,
            } => {
                let e = Entry {
                    key,
                    value,
                    ts,
                    h,
                    link,
                    origin,
                    accepted: None,
                };
                self.logs.entry(key).or_default().insert(e);
            }
        }
    }

    fn on_link_error(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId, msg: Msg) {
        if let Some(msg) = self.inbound.on_link_error(ctx, to, msg) {
            self.links.on_error(ctx, to, msg);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        if self.inbound.on_timer(ctx, &timer) {
            return;
        }
        if let Timer::Retry(to) = timer {
            self.links.on_retry(ctx, to);
        }
    }

    fn on_crash(&mut self) {
        // A Python process: nothing survives.
        self.logs.clear();
        self.next_target = 0;
        self.links.clear();
    }

    fn digest(&self) -> Digest {
        self.logs
            .iter()
            .filter_map(|(k, log)| Some((k.to_string(), log.newest()?.value.to_string())))
            .collect()
    }
}

/// The checks history adds to the generic ones.
const CHECKS: &[CheckSpec] = &[
    CheckSpec {
        name: "trail-convergence",
        summary: "after the final heal every live replica indexes the same trail hashes for every key",
    },
    CheckSpec {
        name: "trail-integrity",
        summary: "every entry's hash recomputes from what its replica holds, and its chain reaches a first write",
    },
    CheckSpec {
        name: "trail-provenance",
        summary: "every entry chains to the version it replaced at the node that accepted it",
    },
];

impl Protocol for History {
    const NAME: &'static str = "history";
    const SUMMARY: &'static str =
        "last-writer-wins mesh with a per-entry hash trail meant to record provenance (eventually-consistent-mesh node_history)";
    type Params = Params;

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "faithful",
                summary: "as coded: hash chains to the heap's last slot, origin unrecorded, a link that errors stays dead; with params.handshake, a set relayed before every handshake is read ends the receive loop (ECM-11)",
            },
            Variant {
                name: "intended",
                summary: "hash chains to the replaced version and records the origin; ties by (origin, value); failed links retried",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        crate::register_ops()
    }

    const RECORDS_PROVENANCE: bool = true;

    fn provenance_dot(run: &sim::Sim<Self>, key: u32) -> Option<String> {
        Some(check::trail_dot(run.nodes(), key))
    }

    fn notes(run: &sim::Sim<Self>) -> Vec<String> {
        crate::ecm::mesh_notes(run, |n| (&n.links, &n.inbound))
    }

    fn model() -> Option<&'static str> {
        // Clients see a register per key, exactly as with lww.
        Some("kv")
    }

    fn checks() -> &'static [CheckSpec] {
        CHECKS
    }

    fn default_checks() -> &'static [&'static str] {
        &[
            "convergence",
            "trail-convergence",
            "trail-integrity",
            "trail-provenance",
        ]
    }

    fn validate(params: &Params, _nodes: usize) -> Result<(), String> {
        params.validate()
    }

    fn new(_id: NodeId, nodes: usize, variant: &str, params: &Params) -> Self {
        let mode = Mode::of(variant);
        History {
            mode,
            params: params.clone(),
            logs: BTreeMap::new(),
            next_target: 0,
            links: params.links(nodes, mode),
            inbound: params.inbound(mode),
        }
    }

    fn check(name: &str, run: &Sim<Self>) -> CheckResult {
        match name {
            "trail-convergence" => check::trail_convergence(run),
            "trail-integrity" => check::trail_integrity(run),
            "trail-provenance" => check::trail_provenance(run),
            _ => CheckResult::unknown(format!("history has no check named {name}")),
        }
    }
}

#[cfg(test)]
mod tests;
