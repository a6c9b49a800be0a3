//! `seqlog`: a key-value store replicated through a sequencer's log. Not one
//! of the seed systems: it is dsim's worked example of a protocol that uses
//! a service (the `sequencer`), its own client processes, halts, and the
//! applied positions the generic checks compare, small enough to read in
//! one sitting. docs/protocols/seqlog.md walks through it.
//!
//! Each write goes from the replica a client asked to the sequencer, which
//! numbers it (positions 1, 2, 3, …) and sends the entry to every replica;
//! each replica applies entries in position order and answers the writer's
//! client when its own entry comes back. Reads are answered at once from
//! the replica's state (no freshness check: a lagging replica is stale).
//!
//! Variants:
//! - `naive` applies entries in the order they arrive and trusts the
//!   network to keep it: an entry that is not the next position trips an
//!   assertion and the replica halts (`params.on_gap = "halt"`), or is
//!   applied anyway (`"apply"`), so replicas diverge at equal positions.
//! - `ordered` keeps out-of-order entries until the gap fills, ignores
//!   duplicates, asks the sequencer again for what is missing after
//!   `params.fetch_ms`, and answers a retried write only once.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sim::{Ctx, Digest, Layout, Node, NodeId, Reply, Request, RequestId, Value, MS};

use crate::{ClientMode, OpSpec, Protocol, ServiceSpec, Variant};

/// One write in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Write {
    /// The replica that appended it.
    pub origin: NodeId,
    /// The client request it carries (retries reuse it).
    pub req: RequestId,
    /// Key.
    pub key: u32,
    /// Value.
    pub value: i64,
}

/// Messages among replicas, the sequencer and client processes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Client process → replica: an operation.
    Op {
        /// The request.
        req: RequestId,
        /// `read` or `write`.
        f: &'static str,
        /// Key.
        key: u32,
        /// A write's value.
        value: i64,
    },
    /// Replica → client process: the answer.
    Done {
        /// The request.
        req: RequestId,
        /// The value read, or the value written.
        value: Value,
    },
    /// Replica → sequencer: number this write.
    Append(Write),
    /// Sequencer → replicas: the write at `pos`.
    Entry {
        /// Its position.
        pos: u64,
        /// The write.
        write: Write,
    },
    /// Replica → sequencer (`ordered`): send me everything from `from` on.
    Fetch {
        /// The first position wanted.
        from: u64,
    },
}

/// Timer tags.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Timer {
    /// A replica's gap has lasted `fetch_ms`: ask again.
    Fetch,
    /// The sequencer sends its batch.
    Batch,
    /// A client process tries its request at the next replica.
    Retry(RequestId),
}

/// What a naive replica does with an entry that is not the next position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnGap {
    /// Trip an assertion: the replica halts.
    #[default]
    Halt,
    /// Apply it anyway.
    Apply,
}

/// `params`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// `naive`: what an out-of-order entry does.
    pub on_gap: OnGap,
    /// `ordered`: how long a gap lasts before the replica asks again.
    #[serde(deserialize_with = "sim::ms::de")]
    pub fetch_ms: u64,
    /// Client processes: how long to wait before trying the next replica.
    #[serde(deserialize_with = "sim::ms::de")]
    pub retry_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            on_gap: OnGap::Halt,
            fetch_ms: 50,
            retry_ms: 200,
        }
    }
}

/// The sequencer's knobs (`services[].params`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SequencerKnobs {
    /// Send entries in batches every `batch_ms` (0: each at once).
    #[serde(deserialize_with = "sim::ms::de")]
    pub batch_ms: u64,
}

/// A replica.
#[derive(Clone, Debug, Default)]
pub struct Replica {
    ordered: bool,
    params: Params,
    sequencer: Option<NodeId>,
    /// Applied state.
    store: BTreeMap<u32, i64>,
    /// The last applied position.
    applied: u64,
    /// Entries that arrived ahead of a gap (`ordered`).
    ahead: BTreeMap<u64, Write>,
    /// Requests this replica appended: who waits for the answer.
    waiting: BTreeMap<RequestId, Answer>,
    /// Requests already applied (`ordered` answers a retry from here).
    done: BTreeSet<RequestId>,
    /// The fetch timer is set (`ordered`). Arming it again on every entry
    /// that arrives behind a gap would push it back forever.
    fetching: bool,
}

/// Where an answer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// To the generic client.
    Direct,
    /// To a client process.
    Process(NodeId),
}

/// A client process.
#[derive(Clone, Debug, Default)]
pub struct Client {
    retry_ms: u64,
    replicas: usize,
    /// The request in flight and the replica it went to last.
    current: Option<(Request, NodeId)>,
}

/// The sequencer service.
#[derive(Clone, Debug, Default)]
pub struct Sequencer {
    knobs: SequencerKnobs,
    log: Vec<Write>,
    /// Positions not yet sent (batching).
    unsent: u64,
    replicas: usize,
}

/// A process of a seqlog run.
#[derive(Clone, Debug)]
pub enum SeqLog {
    /// A replica.
    Replica(Replica),
    /// A client process.
    Client(Client),
    /// The sequencer.
    Sequencer(Sequencer),
}

impl Replica {
    fn on_request(
        &mut self,
        ctx: &mut Ctx<'_, SeqLog>,
        req: RequestId,
        f: &str,
        key: u32,
        value: i64,
        to: Answer,
    ) {
        if f == "read" {
            let v = self.store.get(&key).map_or(Value::Null, |v| Value::Int(*v));
            return answer(ctx, to, req, v);
        }
        if self.ordered && self.done.contains(&req) {
            return answer(ctx, to, req, Value::Int(value));
        }
        let Some(seq) = self.sequencer else {
            return ctx.halt("no sequencer service runs in this scenario");
        };
        self.waiting.insert(req, to);
        let origin = ctx.id();
        ctx.send(
            seq,
            Msg::Append(Write {
                origin,
                req,
                key,
                value,
            }),
        );
    }

    fn on_entry(&mut self, ctx: &mut Ctx<'_, SeqLog>, pos: u64, w: Write) {
        let next = self.applied + 1;
        if !self.ordered {
            if pos != next && self.params.on_gap == OnGap::Halt {
                return ctx.halt(format!(
                    "assertion failed: entry {pos} arrived when {next} was expected"
                ));
            }
            self.applied += 1;
            return self.apply(ctx, w);
        }
        if pos < next {
            return; // a duplicate
        }
        self.ahead.insert(pos, w);
        while let Some(w) = self.ahead.remove(&(self.applied + 1)) {
            self.applied += 1;
            self.apply(ctx, w);
        }
        if self.ahead.is_empty() {
            if std::mem::take(&mut self.fetching) {
                ctx.cancel_timer(Timer::Fetch);
            }
        } else if !self.fetching {
            self.fetching = true;
            ctx.set_timer(Timer::Fetch, self.params.fetch_ms * MS);
        }
    }

    fn apply(&mut self, ctx: &mut Ctx<'_, SeqLog>, w: Write) {
        self.store.insert(w.key, w.value);
        if w.origin == ctx.id() {
            self.done.insert(w.req);
            if let Some(to) = self.waiting.remove(&w.req) {
                answer(ctx, to, w.req, Value::Int(w.value));
            }
        }
    }
}

fn answer(ctx: &mut Ctx<'_, SeqLog>, to: Answer, req: RequestId, value: Value) {
    match to {
        Answer::Direct => ctx.reply(req, Reply::Ok(value)),
        Answer::Process(p) => ctx.send(p, Msg::Done { req, value }),
    }
}

impl Sequencer {
    fn on_message(&mut self, ctx: &mut Ctx<'_, SeqLog>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Append(w) => {
                self.log.push(w);
                if self.knobs.batch_ms == 0 {
                    self.send_from(ctx, self.log.len() as u64, None);
                } else if self.unsent == 0 {
                    self.unsent = self.log.len() as u64;
                    ctx.set_timer(Timer::Batch, self.knobs.batch_ms * MS);
                }
            }
            Msg::Fetch { from: pos } => self.send_from(ctx, pos.max(1), Some(from)),
            _ => {}
        }
    }

    /// Sends entries `from..` to `to`, or to every replica.
    fn send_from(&self, ctx: &mut Ctx<'_, SeqLog>, from: u64, to: Option<NodeId>) {
        for pos in from..=self.log.len() as u64 {
            let write = self.log[pos as usize - 1].clone();
            let targets: Vec<NodeId> = match to {
                Some(t) => vec![t],
                None => (0..self.replicas).collect(),
            };
            for t in targets {
                ctx.send(
                    t,
                    Msg::Entry {
                        pos,
                        write: write.clone(),
                    },
                );
            }
        }
    }
}

impl Node for SeqLog {
    type Msg = Msg;
    type Timer = Timer;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let SeqLog::Replica(r) = self {
            r.sequencer = ctx.service("sequencer");
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (SeqLog::Replica(r), Msg::Op { req, f, key, value }) => {
                r.on_request(ctx, req, f, key, value, Answer::Process(from))
            }
            (SeqLog::Replica(r), Msg::Entry { pos, write }) => r.on_entry(ctx, pos, write),
            (SeqLog::Sequencer(s), msg) => s.on_message(ctx, from, msg),
            (SeqLog::Client(c), Msg::Done { req, value }) => {
                if c.current.as_ref().is_some_and(|(r, _)| r.id == req) {
                    c.current = None;
                    ctx.cancel_timer(Timer::Retry(req));
                    ctx.reply(req, Reply::Ok(value));
                }
            }
            (_, msg) => ctx.halt(format!("unexpected message {msg:?}")),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (self, timer) {
            (SeqLog::Replica(r), Timer::Fetch) => {
                if let Some(seq) = r.sequencer {
                    ctx.send(
                        seq,
                        Msg::Fetch {
                            from: r.applied + 1,
                        },
                    );
                    ctx.set_timer(Timer::Fetch, r.params.fetch_ms * MS);
                }
            }
            (SeqLog::Sequencer(s), Timer::Batch) => {
                let from = std::mem::take(&mut s.unsent);
                s.send_from(ctx, from, None);
            }
            (SeqLog::Client(c), Timer::Retry(req)) => {
                if let Some((r, at)) = c.current.as_mut().filter(|(r, _)| r.id == req) {
                    *at = (*at + 1) % c.replicas;
                    let msg = op_msg(r);
                    ctx.send(*at, msg);
                    ctx.set_timer(Timer::Retry(req), c.retry_ms * MS);
                }
            }
            _ => {}
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        match self {
            SeqLog::Replica(r) => {
                let (key, value) = (
                    request.key.unwrap_or(0),
                    request.value.as_int().unwrap_or(0),
                );
                r.on_request(ctx, request.id, request.f, key, value, Answer::Direct)
            }
            SeqLog::Client(c) => {
                // A new operation supersedes one the workload gave up on.
                ctx.send(request.node, op_msg(&request));
                ctx.set_timer(Timer::Retry(request.id), c.retry_ms * MS);
                c.current = Some((request.clone(), request.node));
            }
            SeqLog::Sequencer(_) => {}
        }
    }

    fn on_crash(&mut self) {
        match self {
            SeqLog::Replica(r) => {
                // Nothing is durable: a restarted replica starts from an
                // empty state and learns the log again from the sequencer.
                *r = Replica {
                    ordered: r.ordered,
                    params: r.params.clone(),
                    ..Replica::default()
                }
            }
            SeqLog::Client(c) => c.current = None,
            SeqLog::Sequencer(_) => {}
        }
    }

    fn digest(&self) -> Digest {
        match self {
            SeqLog::Replica(r) => r
                .store
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            _ => Digest::new(),
        }
    }

    fn applied(&self) -> Option<u64> {
        match self {
            SeqLog::Replica(r) => Some(r.applied),
            _ => None,
        }
    }
}

fn op_msg(r: &Request) -> Msg {
    Msg::Op {
        req: r.id,
        f: r.f,
        key: r.key.unwrap_or(0),
        value: r.value.as_int().unwrap_or(0),
    }
}

impl Protocol for SeqLog {
    const NAME: &'static str = "seqlog";
    const SUMMARY: &'static str = "key-value store replicated through a sequencer service's log; not a seed system: dsim's worked example of services, client processes, halts and applied positions";
    type Params = Params;

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "naive",
                summary: "applies entries as they arrive; an out-of-order entry halts the replica (params.on_gap = halt) or is applied anyway (apply)",
            },
            Variant {
                name: "ordered",
                summary: "applies entries in position order, ignores duplicates, fetches what is missing after params.fetch_ms, answers a retried write once",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        crate::register_ops()
    }

    fn model() -> Option<&'static str> {
        Some("kv")
    }

    fn default_checks() -> &'static [&'static str] {
        &["convergence", "replica-agreement", "no-halts"]
    }

    fn validate(params: &Params, _nodes: usize) -> Result<(), String> {
        if params.fetch_ms == 0 || params.retry_ms == 0 {
            return Err("fetch_ms and retry_ms must be at least 1".into());
        }
        Ok(())
    }

    fn new(_id: NodeId, _nodes: usize, variant: &str, params: &Params) -> Self {
        SeqLog::Replica(Replica {
            ordered: variant == "ordered",
            params: params.clone(),
            ..Replica::default()
        })
    }

    fn services() -> &'static [ServiceSpec] {
        &[ServiceSpec {
            name: "sequencer",
            summary: "numbers every appended write and sends it to every replica; knob batch_ms (0: at once)",
        }]
    }

    fn default_services() -> &'static [&'static str] {
        &["sequencer"]
    }

    fn service(
        name: &str,
        layout: &Layout,
        _: &Params,
        knobs: &serde_json::Value,
    ) -> Result<Self, String> {
        if name != "sequencer" {
            return Err(format!("seqlog runs no service named {name}"));
        }
        let knobs: SequencerKnobs = crate::service_knobs("sequencer", knobs)?;
        Ok(SeqLog::Sequencer(Sequencer {
            knobs,
            replicas: layout.replicas,
            ..Sequencer::default()
        }))
    }

    fn client_modes() -> &'static [ClientMode] {
        &[ClientMode::Generic, ClientMode::Protocol]
    }

    fn client(_: usize, layout: &Layout, _: &str, params: &Params) -> Option<Self> {
        Some(SeqLog::Client(Client {
            retry_ms: params.retry_ms,
            replicas: layout.replicas,
            current: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::{Effect, Harness};

    fn layout() -> Layout {
        Layout {
            replicas: 3,
            services: vec!["sequencer".into()],
            clients: 1,
        }
    }

    fn replica(variant: &str) -> Harness<SeqLog> {
        let mut h =
            Harness::with_layout(SeqLog::new(1, 3, variant, &Params::default()), 1, layout());
        h.start();
        h
    }

    fn entry(pos: u64, value: i64) -> Msg {
        Msg::Entry {
            pos,
            write: Write {
                origin: 0,
                req: pos,
                key: 0,
                value,
            },
        }
    }

    #[test]
    fn a_naive_replica_halts_on_a_gap_and_an_ordered_one_waits_and_fetches() {
        let mut n = replica("naive");
        n.message(3, entry(1, 10));
        let fx = n.message(3, entry(3, 30));
        assert!(
            matches!(&fx[..], [Effect::Halt { reason }] if reason.contains("entry 3 arrived when 2")),
            "{fx:?}"
        );
        let mut o = replica("ordered");
        o.message(3, entry(1, 10));
        let fx = o.message(3, entry(3, 30));
        assert!(
            matches!(
                &fx[..],
                [Effect::SetTimer {
                    tag: Timer::Fetch,
                    ..
                }]
            ),
            "{fx:?}"
        );
        assert_eq!(o.node.applied(), Some(1));
        let fx = o.timer(Timer::Fetch);
        assert!(fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                to: 3,
                msg: Msg::Fetch { from: 2 }
            }
        )));
        o.message(3, entry(2, 20));
        assert_eq!(o.node.applied(), Some(3));
        assert_eq!(o.node.digest().get("0").map(String::as_str), Some("30"));
        o.message(3, entry(2, 20));
        assert_eq!(o.node.applied(), Some(3), "a duplicate is ignored");
    }

    #[test]
    fn a_write_is_answered_when_its_own_entry_comes_back() {
        let mut n = replica("ordered");
        let fx = n.request(Request {
            id: 7,
            node: 1,
            f: "write",
            key: Some(0),
            value: Value::Int(5),
        });
        assert!(matches!(&fx[..], [Effect::Send { to: 3, msg: Msg::Append(w) }] if w.req == 7));
        let mine = Msg::Entry {
            pos: 1,
            write: Write {
                origin: 1,
                req: 7,
                key: 0,
                value: 5,
            },
        };
        let fx = n.message(3, mine);
        assert!(
            fx.iter().any(|e| matches!(
                e,
                Effect::Reply {
                    id: 7,
                    reply: Reply::Ok(Value::Int(5))
                }
            )),
            "{fx:?}"
        );
    }
}
