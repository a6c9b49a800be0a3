//! Challenge #3, broadcast (a–e).
//!
//! Faithful variants follow mchernyakov's code message by message:
//! - `faithful-abc` (cmd/broadcast.go): a 100 ms ticker started by
//!   `topology`; each tick picks 3 node ids at random with replacement (all
//!   of them when there are at most 3), from an RNG seeded with the
//!   wall-clock second (every node picks the same ids within a second),
//!   self included, and `Send`s the whole set as `gossip` without a
//!   `msg_id`. The receiver takes the union and `Reply`s the same body: the
//!   reply's `in_reply_to` is 0, so it is dispatched as fresh gossip and
//!   answered again. Every gossip starts a ping-pong that only a lost
//!   message ends.
//! - `faithful-d` (cmd/broadcast_d.go): a client broadcast is forwarded
//!   once to every other node, with the gossip flag, the client's `msg_id`
//!   and the whole set; no timer, no retry.
//! - `faithful-e` (cmd/broadcast_e.go): a client broadcast joins a batch;
//!   every 600 ms a non-empty batch, followed by the whole set, goes to
//!   every other node by `SyncRPC` without a deadline, retried only on an
//!   error reply. A lost gossip or reply parks its goroutine forever.
//!
//! Intended variants send each new element from the node that received it
//! straight to every other node and keep it, per peer, until that peer
//! acknowledges it; unacknowledged elements ride along on later sends and
//! are sent again after `tick_ms`. `intended-d` sends at once
//! (latency-bound), `intended-e` batches every `tick_ms` (message-bound).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sim::{Digest, GrowSet, NodeId, Reply, Request, Rng, Sim, Time, Value, ValueGen, MS};

use super::topology::Topology;
use super::{Ints, Kind, Net, Server, Timer, Workload};
use crate::{CheckResult, CheckSpec, OpSpec, Variant};

/// Bounds on stable latencies (the `stable-latency` check).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyBounds {
    /// The median must be below this.
    #[serde(deserialize_with = "sim::ms::de")]
    pub median_ms: u64,
    /// The maximum must be below this.
    #[serde(deserialize_with = "sim::ms::de")]
    pub max_ms: u64,
}

/// `params`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Maelstrom's `--topology` (the faithful and intended solutions
    /// ignore the neighbours; `faithful-abc` and `-e` start their ticker
    /// on it).
    pub topology: Topology,
    /// The ticker's period: faithful-abc 100, faithful-e 600,
    /// intended-d 400 (retry), intended-e 500 (batch) by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "sim::ms::de_opt")]
    pub tick_ms: Option<u64>,
    /// faithful-abc: how many random picks per tick (default 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picks: Option<usize>,
    /// The `stable-latency` check's bounds (fly.io's efficiency bars).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_latency: Option<LatencyBounds>,
}

/// Which program runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kindof {
    /// cmd/broadcast.go.
    #[default]
    FaithfulAbc,
    /// cmd/broadcast_d.go.
    FaithfulD,
    /// cmd/broadcast_e.go.
    FaithfulE,
    /// Send at once, acknowledge, retry.
    IntendedD,
    /// Batch, acknowledge, retry.
    IntendedE,
}

/// What a gossip RPC's reply resumes.
#[derive(Clone, Debug)]
pub enum Cont {
    /// faithful-e: the `SyncRPC` loop to `to` with `data` (retried on error).
    Retry {
        /// The peer.
        to: NodeId,
        /// The body.
        data: Ints,
    },
    /// intended: `peer` acknowledged `data`.
    Ack {
        /// The peer.
        peer: NodeId,
        /// What it acknowledged.
        data: Ints,
    },
}

/// A broadcast server.
#[derive(Clone, Debug, Default)]
pub struct Broadcast {
    program: Kindof,
    id: NodeId,
    nodes: usize,
    tick: Time,
    picks: usize,
    /// The elements known here. A read answers one state of it, shared with
    /// the other reads' answers (the history would otherwise hold every
    /// read's whole set: O(n²) integers for n operations).
    set: GrowSet,
    /// faithful-e: the batch since the last tick.
    batch: Vec<i64>,
    /// intended: per peer, the elements it has not acknowledged.
    unacked: Vec<BTreeSet<i64>>,
    /// intended: per peer, when elements last went to it.
    last_sent: Vec<Time>,
    /// intended: per peer, the RPC whose acknowledgement is awaited (a
    /// resend supersedes it: the new one carries everything unacknowledged).
    awaiting: Vec<Option<u64>>,
    /// Gossip messages received from each node (the ping-pong's count).
    pub gossip_from: Vec<u64>,
    /// Neighbours from `topology` (kept, as the solutions keep them, unused).
    pub neighbours: Vec<NodeId>,
}

impl Broadcast {
    fn snapshot(&self) -> Ints {
        Ints::new(self.set.elements())
    }

    /// faithful-abc: this tick's picks, from an RNG seeded with the
    /// wall-clock second (the same on every node within a second).
    fn picks(&self, now: Time) -> Vec<NodeId> {
        if self.nodes <= self.picks {
            return (0..self.nodes).collect();
        }
        let mut rng = Rng::derive(now / (1000 * MS), "gg-broadcast/wall-clock-second");
        (0..self.picks)
            .map(|_| rng.below(self.nodes as u64) as usize)
            .collect()
    }

    fn send_unacked(&mut self, net: &mut Net<'_, '_, '_, Self>, peer: NodeId) {
        let data: Ints = Ints::new(self.unacked[peer].iter().copied().collect());
        self.last_sent[peer] = net.now();
        if let Some(old) = self.awaiting[peer].take() {
            net.forget(old);
        }
        self.awaiting[peer] = Some(net.rpc(
            peer,
            Kind::Gossip {
                messages: data.clone(),
            },
            Cont::Ack { peer, data },
        ));
    }

    fn on_broadcast(&mut self, net: &mut Net<'_, '_, '_, Self>, req: &Request) {
        let Some(e) = req.value.as_int() else { return };
        let new = self.set.insert(e);
        match self.program {
            Kindof::FaithfulAbc => {}
            Kindof::FaithfulD => {
                let messages = self.snapshot();
                // The client's body, forwarded: it keeps the client's msg_id.
                let client_msg_id = req.id + 1;
                for to in (0..self.nodes).filter(|&p| p != self.id) {
                    net.send_body(
                        to,
                        Kind::Broadcast {
                            message: e,
                            gossip: true,
                            messages: messages.clone(),
                        },
                        Some(client_msg_id),
                        None,
                    );
                }
            }
            Kindof::FaithfulE => self.batch.push(e),
            Kindof::IntendedD | Kindof::IntendedE if new => {
                let (me, n) = (self.id, self.nodes);
                for p in (0..n).filter(|&p| p != me) {
                    self.unacked[p].insert(e);
                    if self.program == Kindof::IntendedD {
                        self.send_unacked(net, p);
                    }
                }
            }
            _ => {}
        }
    }
}

impl Workload for Broadcast {
    const NAME: &'static str = "gg-broadcast";
    const SUMMARY: &'static str = "Gossip Glomers #3a–e on a Maelstrom world: broadcast integers to every node; reads return the set (Jepsen set-full)";
    type Params = Params;
    type Cont = Cont;

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "faithful-abc",
                summary: "cmd/broadcast.go: every 100 ms gossip the whole set to 3 random picks (seeded by the wall-clock second) without msg_id; each reply is fresh gossip: endless ping-pong",
            },
            Variant {
                name: "faithful-d",
                summary: "cmd/broadcast_d.go: forward each client broadcast once to every other node with the whole set; no retry",
            },
            Variant {
                name: "faithful-e",
                summary: "cmd/broadcast_e.go: every 600 ms send the batch plus the set to every other node by SyncRPC without a deadline; a lost message parks it forever",
            },
            Variant {
                name: "intended-d",
                summary: "send each new element at once to every other node, keep it per peer until acknowledged, resend after tick_ms (400)",
            },
            Variant {
                name: "intended-e",
                summary: "as intended-d, but batched every tick_ms (500)",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        vec![
            OpSpec {
                name: "broadcast",
                read: false,
                weight: 1,
                value: ValueGen::Unique,
            },
            OpSpec {
                name: "read",
                read: true,
                weight: 1,
                value: ValueGen::Null,
            },
        ]
    }

    fn model() -> Option<&'static str> {
        Some("set-full")
    }

    fn checks() -> &'static [CheckSpec] {
        &[
            CheckSpec {
                name: "set-full",
                summary: "Jepsen's set-full: every element is stable, lost, or never read; stale reads and stable latencies reported; invalid iff anything is lost",
            },
            CheckSpec {
                name: "stable-latency",
                summary: "the median and maximum stable latency are below params.stable_latency (fly.io's efficiency bars)",
            },

            super::checks::STATS,
        ]
    }

    fn default_checks() -> &'static [&'static str] {
        &["set-full", "availability", "stats"]
    }

    fn validate(params: &Params, _: usize) -> Result<(), String> {
        if params.tick_ms == Some(0) {
            return Err("tick_ms must be at least 1".into());
        }
        if params.picks == Some(0) {
            return Err("picks must be at least 1".into());
        }
        Ok(())
    }

    fn new(id: NodeId, nodes: usize, variant: &str, params: &Params) -> Self {
        let program = match variant {
            "faithful-d" => Kindof::FaithfulD,
            "faithful-e" => Kindof::FaithfulE,
            "intended-d" => Kindof::IntendedD,
            "intended-e" => Kindof::IntendedE,
            _ => Kindof::FaithfulAbc,
        };
        let tick = params.tick_ms.unwrap_or(match program {
            Kindof::FaithfulAbc => 100,
            Kindof::FaithfulE => 600,
            Kindof::IntendedE => 500,
            _ => 400,
        });
        Broadcast {
            program,
            id,
            nodes,
            tick: tick * MS,
            picks: params.picks.unwrap_or(3),
            unacked: vec![BTreeSet::new(); nodes],
            last_sent: vec![0; nodes],
            awaiting: vec![None; nodes],
            gossip_from: vec![0; nodes],
            neighbours: params.topology.neighbours(id, nodes),
            ..Broadcast::default()
        }
    }

    fn on_init(&mut self, net: &mut Net<'_, '_, '_, Self>) {
        // The topology message starts the ticker (faithful d has none).
        if self.program != Kindof::FaithfulD {
            net.set_timer(Timer::Tick, self.tick);
        }
    }

    fn on_request(&mut self, net: &mut Net<'_, '_, '_, Self>, req: Request) {
        match req.f {
            "broadcast" => {
                self.on_broadcast(net, &req);
                net.answer(req.id, Reply::Ok(req.value));
            }
            _ => {
                net.answer(req.id, Reply::Ok(Value::Set(self.set.snapshot())));
            }
        }
    }

    fn on_message(
        &mut self,
        net: &mut Net<'_, '_, '_, Self>,
        from: NodeId,
        msg_id: Option<u64>,
        kind: Kind,
    ) -> Result<(), Kind> {
        match (self.program, kind) {
            (
                Kindof::FaithfulD,
                Kind::Broadcast {
                    message, messages, ..
                },
            ) => {
                self.set.insert(message);
                self.set.extend(messages.iter().copied());
                net.reply(from, msg_id, Kind::BroadcastOk);
            }
            (Kindof::FaithfulAbc | Kindof::FaithfulE, Kind::Gossip { messages }) => {
                self.gossip_from[from] += 1;
                self.set.extend(messages.iter().copied());
                // Reply(msg, body): the same body back.
                net.reply(from, msg_id, Kind::Gossip { messages });
            }
            (Kindof::IntendedD | Kindof::IntendedE, Kind::Gossip { messages }) => {
                self.set.extend(messages.iter().copied());
                net.reply(from, msg_id, Kind::GossipOk);
            }
            (_, kind) => return Err(kind),
        }
        Ok(())
    }

    fn on_reply(&mut self, net: &mut Net<'_, '_, '_, Self>, cont: Cont, kind: Kind) {
        match cont {
            Cont::Retry { to, data } => {
                if matches!(kind, Kind::Error { .. }) {
                    net.rpc(
                        to,
                        Kind::Gossip {
                            messages: data.clone(),
                        },
                        Cont::Retry { to, data },
                    );
                }
            }
            Cont::Ack { peer, data } => {
                self.awaiting[peer] = None;
                if matches!(kind, Kind::GossipOk) {
                    for e in data.iter() {
                        self.unacked[peer].remove(e);
                    }
                }
            }
        }
    }

    fn on_timer(&mut self, net: &mut Net<'_, '_, '_, Self>, _: Timer) {
        net.set_timer(Timer::Tick, self.tick);
        let now = net.now();
        match self.program {
            Kindof::FaithfulAbc => {
                let messages = self.snapshot();
                // A pick of itself is skipped: dsim delivers a message to
                // oneself at once, so the self ping-pong Maelstrom runs at
                // network latency would loop at one instant (a deviation,
                // docs/protocols/maelstrom.md; it only lowers the count).
                for to in self.picks(now).into_iter().filter(|&p| p != self.id) {
                    net.send(
                        to,
                        Kind::Gossip {
                            messages: messages.clone(),
                        },
                    );
                }
            }
            Kindof::FaithfulE if !self.batch.is_empty() => {
                let mut data = std::mem::take(&mut self.batch);
                data.extend(self.set.elements());
                let data = Ints::new(data);
                for to in (0..self.nodes).filter(|&p| p != self.id) {
                    net.rpc(
                        to,
                        Kind::Gossip {
                            messages: data.clone(),
                        },
                        Cont::Retry {
                            to,
                            data: data.clone(),
                        },
                    );
                }
            }
            Kindof::IntendedD | Kindof::IntendedE => {
                let (me, n) = (self.id, self.nodes);
                for p in (0..n).filter(|&p| p != me) {
                    let due = self.program == Kindof::IntendedE
                        || now.saturating_sub(self.last_sent[p]) >= self.tick;
                    if !self.unacked[p].is_empty() && due {
                        self.send_unacked(net, p);
                    }
                }
            }
            _ => {}
        }
    }

    fn digest(&self) -> Digest {
        self.set
            .elements()
            .iter()
            .map(|e| (e.to_string(), "present".to_string()))
            .collect()
    }

    fn notes(run: &Sim<Server<Self>>) -> Vec<String> {
        // The busiest ping-pong pairs: gossip received both ways.
        let hosts: Vec<&Broadcast> = run
            .nodes()
            .iter()
            .filter_map(|p| p.host())
            .map(|h| &h.w)
            .collect();
        let mut pairs: Vec<(u64, usize, usize)> = Vec::new();
        for (a, ha) in hosts.iter().enumerate() {
            for (b, hb) in hosts.iter().enumerate().skip(a + 1) {
                let n = ha.gossip_from.get(b).copied().unwrap_or(0)
                    + hb.gossip_from.get(a).copied().unwrap_or(0);
                if n > 0 {
                    pairs.push((n, a, b));
                }
            }
        }
        if pairs.is_empty()
            || hosts
                .first()
                .is_none_or(|h| h.program != Kindof::FaithfulAbc)
        {
            return Vec::new();
        }
        pairs.sort_by_key(|&(n, a, b)| (std::cmp::Reverse(n), a, b));
        let total: u64 = pairs.iter().map(|p| p.0).sum();
        let top: Vec<String> = pairs
            .iter()
            .take(3)
            .map(|(n, a, b)| format!("n{a}<->n{b} {n}"))
            .collect();
        vec![format!(
            "gossip ping-pong: {total} gossip messages between servers; busiest pairs {}",
            top.join(", ")
        )]
    }

    fn check(name: &str, run: &Sim<Server<Self>>) -> CheckResult {
        let (adds, logs, mut reads) = super::checks::set_ops(run.history(), "broadcast", "read");
        let mut r = super::checks::set_full_logs(&adds, &logs, &mut reads);
        match name {
            "set-full" => super::checks::set_full_result(&mut r, &reads),
            "stable-latency" => {
                let bounds = run
                    .nodes()
                    .iter()
                    .find_map(|p| p.host())
                    .and_then(|h| h.params.stable_latency.clone());
                let Some(b) = bounds else {
                    return CheckResult::unknown(
                        "stable-latency needs params.stable_latency {median_ms, max_ms}",
                    );
                };
                let Some((median, max)) = super::checks::median_max(&mut r.stable_latencies) else {
                    return CheckResult::unknown("no element became stable");
                };
                let summary = format!(
                    "stable latency median {} (bound {} ms), max {} (bound {} ms), over {} element(s)",
                    super::ms(median),
                    b.median_ms,
                    super::ms(max),
                    b.max_ms,
                    r.stable_latencies.len()
                );
                if median < b.median_ms * MS && max < b.max_ms * MS {
                    CheckResult::pass(summary)
                } else {
                    CheckResult::violation(summary, Vec::new())
                }
            }
            _ => CheckResult::unknown(format!("gg-broadcast has no check named {name}")),
        }
    }
}
