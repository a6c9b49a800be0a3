//! Challenge #4, grow-only counter.
//!
//! `faithful` (mchernyakov's cmd/counter.go): one seq-kv key, `"key"`.
//! Every handler takes the node's mutex, so a node's adds, reads and syncs
//! run one at a time, in arrival order (they wait in line here). An add
//! loops { read the key (an error reads as 0); cas(read, read + delta,
//! create) } until the cas succeeds, sets `local` to the new value, and
//! then sends `sync{new-val}` to every node, itself included, by SyncRPC
//! without a deadline, retried on error replies: a lost sync or reply parks
//! forever. A sync sets `local := max(local, new-val)`. A read reads the
//! key: on an error it answers 0 (ignoring `local`), otherwise
//! max(read, local). seq-kv calls have no deadline either: a lost one
//! parks the handler, and the mutex with it, forever.
//!
//! `intended`: a state-based G-counter CRDT, no service: each node counts
//! its own adds, gossips the vector of counts to every other node every
//! `gossip_ms` (fire and forget; the state is idempotent, so the next
//! gossip repairs a lost one), merges by pointwise max, and reads the sum.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use sim::{Digest, NodeId, Reply, Request, RequestId, Sim, Value, ValueGen, MS};

use super::{Ints, Kind, Net, Server, Timer, Workload};
use crate::{CheckResult, CheckSpec, OpSpec, Variant};

/// The key the faithful solution uses.
const KEY: &str = "key";

/// `params`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// intended: the gossip period.
    #[serde(deserialize_with = "sim::ms::de")]
    pub gossip_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { gossip_ms: 500 }
    }
}

/// Work waiting for the node's mutex.
#[derive(Clone, Debug)]
enum Work {
    Add {
        req: RequestId,
        delta: i64,
    },
    Read {
        req: RequestId,
    },
    Sync {
        from: NodeId,
        msg_id: Option<u64>,
        val: i64,
    },
}

/// What a reply resumes.
#[derive(Clone, Debug)]
pub enum Cont {
    /// An add's read of the key came back.
    AddRead {
        /// The client request.
        req: RequestId,
        /// Its delta.
        delta: i64,
    },
    /// An add's cas came back.
    AddCas {
        /// The client request.
        req: RequestId,
        /// Its delta.
        delta: i64,
        /// The value it set.
        to: i64,
    },
    /// A client read's read of the key came back.
    Read {
        /// The client request.
        req: RequestId,
    },
    /// A sync to `to` with `val` was answered.
    Sync {
        /// The peer.
        to: NodeId,
        /// The value.
        val: i64,
    },
}

/// A g-counter server.
#[derive(Clone, Debug, Default)]
pub struct GCounter {
    intended: bool,
    id: NodeId,
    nodes: usize,
    gossip: u64,
    /// faithful: the node's local value.
    local: i64,
    busy: bool,
    waiting: VecDeque<Work>,
    kv: Option<NodeId>,
    /// intended: every node's own count as far as this node knows.
    counts: Vec<i64>,
}

impl GCounter {
    fn pump(&mut self, net: &mut Net<'_, '_, '_, Self>) {
        while !self.busy {
            let Some(w) = self.waiting.pop_front() else {
                return;
            };
            match w {
                Work::Sync { from, msg_id, val } => {
                    self.local = self.local.max(val);
                    net.reply(from, msg_id, Kind::SyncOk);
                }
                Work::Add { req, delta } => {
                    self.busy = true;
                    self.kv_read(net, Cont::AddRead { req, delta });
                }
                Work::Read { req } => {
                    self.busy = true;
                    self.kv_read(net, Cont::Read { req });
                }
            }
        }
    }

    fn kv_read(&mut self, net: &mut Net<'_, '_, '_, Self>, cont: Cont) {
        match self.kv {
            Some(kv) => {
                net.rpc(kv, Kind::Read { key: KEY.into() }, cont);
            }
            None => net.halt(
                "no seq-kv service runs in this scenario: the KV call fails and the handler panics"
                    .into(),
            ),
        }
    }

    fn add_done(&mut self, net: &mut Net<'_, '_, '_, Self>, req: RequestId, delta: i64, to: i64) {
        self.local = to;
        for n in 0..self.nodes {
            net.rpc(n, Kind::Sync { new_val: to }, Cont::Sync { to: n, val: to });
        }
        self.busy = false;
        net.answer(req, Reply::Ok(Value::Int(delta)));
        self.pump(net);
    }
}

impl Workload for GCounter {
    const NAME: &'static str = "gg-g-counter";
    const SUMMARY: &'static str = "Gossip Glomers #4 on a Maelstrom world: a grow-only counter (faithful: seq-kv cas plus max gossip; intended: a G-counter CRDT)";
    type Params = Params;
    type Cont = Cont;

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "faithful",
                summary: "cmd/counter.go: seq-kv read + cas loop under a node mutex, then sync{new-val} to every node (self included) by SyncRPC without a deadline; read = max(seq-kv read, local), 0 on a read error",
            },
            Variant {
                name: "intended",
                summary: "G-counter CRDT: per-node counts gossiped to every node every gossip_ms, merged by max, read as the sum",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        vec![
            OpSpec {
                name: "add",
                read: false,
                weight: 1,
                value: ValueGen::Range { min: 0, max: 4 },
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
        Some("g-counter")
    }

    fn checks() -> &'static [CheckSpec] {
        &[
            CheckSpec {
                name: "g-counter",
                summary: "every final read (the last read of a client, invoked after every add completed and the network was whole again) equals the sum of ok adds plus a subset of info adds; every read lies between 0 and the sum of the adds invoked before it ended",
            },
            super::checks::STATS,
        ]
    }

    fn default_checks() -> &'static [&'static str] {
        &["g-counter", "availability", "stats"]
    }

    fn default_services() -> &'static [&'static str] {
        &["seq-kv"]
    }

    fn validate(params: &Params, _: usize) -> Result<(), String> {
        if params.gossip_ms == 0 {
            return Err("gossip_ms must be at least 1".into());
        }
        Ok(())
    }

    fn new(id: NodeId, nodes: usize, variant: &str, params: &Params) -> Self {
        GCounter {
            intended: variant == "intended",
            id,
            nodes,
            gossip: params.gossip_ms * MS,
            counts: vec![0; nodes],
            ..GCounter::default()
        }
    }

    fn on_init(&mut self, net: &mut Net<'_, '_, '_, Self>) {
        self.kv = net.service("seq-kv");
        if self.intended {
            net.set_timer(Timer::Tick, self.gossip);
        }
    }

    fn on_request(&mut self, net: &mut Net<'_, '_, '_, Self>, req: Request) {
        let delta = req.value.as_int().unwrap_or(0);
        if self.intended {
            let v = if req.f == "add" {
                self.counts[self.id] += delta;
                Value::Int(delta)
            } else {
                Value::Int(self.counts.iter().sum())
            };
            return net.answer(req.id, Reply::Ok(v));
        }
        let w = if req.f == "add" {
            Work::Add { req: req.id, delta }
        } else {
            Work::Read { req: req.id }
        };
        self.waiting.push_back(w);
        self.pump(net);
    }

    fn on_message(
        &mut self,
        net: &mut Net<'_, '_, '_, Self>,
        from: NodeId,
        msg_id: Option<u64>,
        kind: Kind,
    ) -> Result<(), Kind> {
        match (self.intended, kind) {
            (false, Kind::Sync { new_val }) => {
                self.waiting.push_back(Work::Sync {
                    from,
                    msg_id,
                    val: new_val,
                });
                self.pump(net);
            }
            (true, Kind::Counts { counts }) => {
                for (mine, theirs) in self.counts.iter_mut().zip(counts.iter()) {
                    *mine = (*mine).max(*theirs);
                }
            }
            (_, kind) => return Err(kind),
        }
        Ok(())
    }

    fn on_reply(&mut self, net: &mut Net<'_, '_, '_, Self>, cont: Cont, kind: Kind) {
        let read = match &kind {
            Kind::ReadOk { value } => Some(*value),
            _ => None,
        };
        match cont {
            Cont::AddRead { req, delta } => {
                let from = read.unwrap_or(0);
                let cas = Kind::Cas {
                    key: KEY.into(),
                    from,
                    to: from + delta,
                    create_if_not_exists: true,
                };
                if let Some(kv) = self.kv {
                    net.rpc(
                        kv,
                        cas,
                        Cont::AddCas {
                            req,
                            delta,
                            to: from + delta,
                        },
                    );
                }
            }
            Cont::AddCas { req, delta, to } => {
                if matches!(kind, Kind::CasOk) {
                    self.add_done(net, req, delta, to);
                } else {
                    self.kv_read(net, Cont::AddRead { req, delta });
                }
            }
            Cont::Read { req } => {
                let v = read.map_or(0, |r| r.max(self.local));
                self.busy = false;
                net.answer(req, Reply::Ok(Value::Int(v)));
                self.pump(net);
            }
            Cont::Sync { to, val } => {
                if matches!(kind, Kind::Error { .. }) {
                    net.rpc(to, Kind::Sync { new_val: val }, Cont::Sync { to, val });
                }
            }
        }
    }

    fn on_timer(&mut self, net: &mut Net<'_, '_, '_, Self>, _: Timer) {
        net.set_timer(Timer::Tick, self.gossip);
        let counts = Ints::new(self.counts.clone());
        for p in (0..self.nodes).filter(|&p| p != self.id) {
            net.send(
                p,
                Kind::Counts {
                    counts: counts.clone(),
                },
            );
        }
    }

    fn digest(&self) -> Digest {
        let v = if self.intended {
            self.counts.iter().sum()
        } else {
            self.local
        };
        std::iter::once(("value".to_string(), v.to_string())).collect()
    }

    fn check(name: &str, run: &Sim<Server<Self>>) -> CheckResult {
        match name {
            "g-counter" => super::checks::g_counter(run.history(), run.calm_since()),
            _ => CheckResult::unknown(format!("gg-g-counter has no check named {name}")),
        }
    }
}
