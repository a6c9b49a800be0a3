//! Maelstrom's kafka client (maelstrom.workload.kafka's `Client`) as a
//! client process.
//!
//! It keeps, per assigned key, the next offset it wants. A `poll` asks the
//! node for messages from those offsets, advances each key's offset past
//! the highest one returned, and then commits the highest offset it polled
//! per key; the poll is `ok` once the commit is. A `send` returns
//! `[offset, msg]` (a send polls nothing, so it commits nothing). An
//! `assign` replaces the assigned keys: each starts from the client's own
//! offset, else the server's committed offset, else 0. A `crash` (and any
//! operation that ends `info`: Jepsen then opens a new client) forgets
//! every offset. Every error ends the operation `info`, as the client has no
//! error mapping: an exception in `invoke!` is Jepsen's `info`.
//!
//! The history records keys as strings, a poll's value as a list of
//! `[key, [[offset, msg], …]]` pairs, an assign's as the keys assigned.

use std::collections::BTreeSet;

use sim::{NodeId, Reply, Request, RequestId, Value};

use super::{ByKey, Cont, Kafka, Msg};
use crate::maelstrom::{Kind, Net};

type N<'a, 'b, 'c, 'd> = Net<'a, 'b, 'c, Kafka>;

/// The operation in flight.
#[derive(Clone, Debug)]
struct Call {
    id: RequestId,
    node: NodeId,
    /// The RPC waiting for its reply.
    rpc: u64,
    stage: Stage,
}

#[derive(Clone, Debug)]
enum Stage {
    Sending { msg: i64 },
    Polling,
    Committing { out: Value },
    Listing { keys: Vec<String> },
}

/// A kafka client process.
#[derive(Clone, Debug, Default)]
pub struct Client {
    /// Per assigned key, the next offset to poll.
    pub offsets: ByKey<i64>,
    /// Keys this client's operations have named (an assign without a list
    /// assigns these).
    known: BTreeSet<String>,
    /// Numbers calls, so a late reply to an abandoned one is ignored.
    calls: u64,
    current: Option<Call>,
}

fn key_name(k: u32) -> String {
    k.to_string()
}

impl Client {
    /// Forgets every offset: the client Jepsen opens after a crash.
    fn reset(&mut self, net: &mut N<'_, '_, '_, '_>) {
        if let Some(c) = self.current.take() {
            net.forget(c.rpc);
        }
        self.offsets.clear();
    }

    fn call(
        &mut self,
        net: &mut N<'_, '_, '_, '_>,
        id: RequestId,
        node: NodeId,
        msg: Msg,
        stage: Stage,
    ) {
        self.calls += 1;
        let rpc = net.rpc(node, Kind::Kafka(msg), Cont::Client(self.calls));
        self.current = Some(Call {
            id,
            node,
            rpc,
            stage,
        });
    }

    pub(super) fn on_request(&mut self, net: &mut N<'_, '_, '_, '_>, req: Request) {
        if self.current.is_some() {
            // The workload gave up on the operation in flight (info): Jepsen
            // tears this client down and opens a fresh one.
            self.reset(net);
        }
        if let Some(k) = req.key {
            self.known.insert(key_name(k));
        }
        let node = req.node;
        match req.f {
            "send" => {
                let key = key_name(req.key.unwrap_or(0));
                let msg = req.value.as_int().unwrap_or(0);
                self.call(
                    net,
                    req.id,
                    node,
                    Msg::Send { key, msg },
                    Stage::Sending { msg },
                );
            }
            "poll" => {
                let offsets = self.offsets.clone();
                self.call(net, req.id, node, Msg::Poll { offsets }, Stage::Polling);
            }
            "assign" => {
                let keys: Vec<String> = match &req.value {
                    Value::List(l) => l
                        .iter()
                        .filter_map(|v| match v {
                            Value::Int(i) => Some(i.to_string()),
                            Value::Str(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect(),
                    _ => self.known.iter().cloned().collect(),
                };
                self.known.extend(keys.iter().cloned());
                let list = Msg::ListCommittedOffsets { keys: keys.clone() };
                self.call(net, req.id, node, list, Stage::Listing { keys });
            }
            _ => {
                // crash: the client is torn down; the operation is info.
                self.reset(net);
                net.answer(req.id, Reply::Info);
            }
        }
    }

    pub(super) fn on_reply(&mut self, net: &mut N<'_, '_, '_, '_>, n: u64, kind: Kind) {
        if n != self.calls {
            return;
        }
        let Some(call) = self.current.take() else {
            return;
        };
        match (call.stage, kind) {
            (Stage::Sending { msg }, Kind::Kafka(Msg::SendOk { offset })) => {
                net.answer(
                    call.id,
                    Reply::Ok(Value::List(vec![Value::Int(offset), Value::Int(msg)])),
                );
            }
            (Stage::Polling, Kind::Kafka(Msg::PollOk { msgs })) => {
                let mut highest = ByKey::new();
                let mut out = Vec::new();
                for (k, pairs) in &msgs {
                    let Some(top) = pairs.iter().map(|p| p.0).max() else {
                        continue;
                    };
                    highest.insert(k.clone(), top);
                    let next = self.offsets.entry(k.clone()).or_insert(top + 1);
                    *next = (*next).max(top + 1);
                    let list = pairs
                        .iter()
                        .map(|&(o, m)| Value::List(vec![Value::Int(o), Value::Int(m)]))
                        .collect();
                    out.push(Value::List(vec![Value::Str(k.clone()), Value::List(list)]));
                }
                let out = Value::List(out);
                if highest.is_empty() {
                    return net.answer(call.id, Reply::Ok(out));
                }
                let commit = Msg::CommitOffsets { offsets: highest };
                self.call(net, call.id, call.node, commit, Stage::Committing { out });
            }
            (Stage::Committing { out }, Kind::Kafka(Msg::CommitOffsetsOk)) => {
                net.answer(call.id, Reply::Ok(out));
            }
            (Stage::Listing { keys }, Kind::Kafka(Msg::ListCommittedOffsetsOk { offsets })) => {
                let next: ByKey<i64> = keys
                    .iter()
                    .map(|k| {
                        let o = self
                            .offsets
                            .get(k)
                            .or_else(|| offsets.get(k))
                            .copied()
                            .unwrap_or(0);
                        (k.clone(), o)
                    })
                    .collect();
                self.offsets = next;
                let list = keys.into_iter().map(Value::Str).collect();
                net.answer(call.id, Reply::Ok(Value::List(list)));
            }
            _ => {
                // An error reply (or any other): an exception, so info.
                self.offsets.clear();
                net.answer(call.id, Reply::Info);
            }
        }
    }
}
