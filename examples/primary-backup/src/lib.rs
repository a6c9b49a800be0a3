//! A primary-backup key-value register, written against dsim's public API
//! from outside dsim's repository: the worked example of
//! `docs/writing-a-protocol.md`.
//!
//! Replica `view % n` is the primary of `view` (replica 0 at the start);
//! the others are backups. A client may ask any replica: a backup forwards
//! the operation to the primary it knows and relays the answer. The primary
//! numbers each write (`seq` 1, 2, 3, …), applies it and sends it to every
//! backup; a backup applies writes in `seq` order and acknowledges the
//! highest it has. A backup that is behind (a lost update, a restart, a
//! new view) asks for the primary's whole store. Reads are answered from
//! the primary's store. The store, the view and `seq` are on disk
//! (durable); pending client operations are in memory.
//!
//! Two variants:
//! - `async` (the bug, as such systems are often first written): the
//!   primary acknowledges a write as soon as it has applied it, before any
//!   backup has it, and a backup that has not heard from its primary for
//!   `failover_ms` promotes itself to the next view. A primary that crashes
//!   (or is cut off) after acknowledging a write the backups never got
//!   loses it when the promoted backup's store overwrites its own, and
//!   during a partition both sides accept writes.
//! - `sync` (the fix): a write is acknowledged only when every backup has
//!   it, and backups never promote themselves. It is linearizable under any
//!   partition, crash and loss; the price is availability: while a backup
//!   is unreachable no write completes (a two-replica system cannot have
//!   both, and this one chooses safety).

use std::collections::BTreeMap;

use dsim::protocols::{register_ops, CheckResult, CheckSpec, OpSpec, Protocol, Variant};
use dsim::sim::{
    Ctx, Digest, EventKind, Node, NodeId, Reply, Request, RequestId, Sim, Time, Value, MS,
};
use serde::{Deserialize, Serialize};

/// The scenario's `params`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// How long a backup waits for its primary before it promotes itself
    /// (`async` only), in ms.
    pub failover_ms: u64,
    /// How often the primary sends its heartbeat and re-sends what a
    /// backup has not acknowledged, in ms.
    pub tick_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            failover_ms: 300,
            tick_ms: 50,
        }
    }
}

/// Messages between replicas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Backup → primary: a client's operation, to answer with `Done`.
    Forward {
        /// The client request.
        req: RequestId,
        /// `read` or `write`.
        f: &'static str,
        /// Key.
        key: u32,
        /// A write's value.
        value: i64,
    },
    /// Primary → backup: the answer to a forwarded operation.
    Done {
        /// The client request.
        req: RequestId,
        /// The answer.
        reply: Reply,
    },
    /// Primary → backups: write number `seq` of `view`.
    Update {
        /// The primary's view.
        view: u64,
        /// The write's number.
        seq: u64,
        /// Key.
        key: u32,
        /// Value.
        value: i64,
    },
    /// Primary → backups: the whole store up to `seq` (heartbeat and
    /// catch-up).
    Snapshot {
        /// The primary's view.
        view: u64,
        /// The last write in it.
        seq: u64,
        /// Key → value.
        store: BTreeMap<u32, i64>,
    },
    /// Primary → a backup that has everything: I am alive.
    Heartbeat {
        /// The primary's view.
        view: u64,
    },
    /// Backup → primary: I have every write up to `seq` of `view`.
    Ack {
        /// The backup's view.
        view: u64,
        /// Its last applied write.
        seq: u64,
    },
    /// Any → a replica in an older view: the current view.
    NewView {
        /// The view.
        view: u64,
    },
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Primary: heartbeat and re-send; backup: is the primary alive?
    Tick,
}

/// An operation the primary has not answered yet.
#[derive(Clone, Debug)]
struct Pending {
    /// The write's number: answered once every backup has it (`sync`).
    seq: u64,
    /// Where the answer goes.
    to: Answer,
    /// The value written.
    value: i64,
}

/// Where an answer goes: the client itself, or the backup that forwarded it.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Client(RequestId),
    Via(NodeId, RequestId),
}

/// One replica.
#[derive(Clone, Debug)]
pub struct PrimaryBackup {
    sync: bool,
    params: Params,
    n: usize,
    // Durable.
    view: u64,
    seq: u64,
    store: BTreeMap<u32, i64>,
    // Volatile.
    acked: BTreeMap<NodeId, u64>,
    pending: Vec<Pending>,
    last_heard: Time,
}

impl PrimaryBackup {
    fn primary(&self) -> NodeId {
        (self.view % self.n as u64) as NodeId
    }

    fn is_primary(&self, ctx: &Ctx<'_, Self>) -> bool {
        self.primary() == ctx.id()
    }

    /// The primary handles operation `f` from `to`.
    fn serve(&mut self, ctx: &mut Ctx<'_, Self>, to: Answer, f: &str, key: u32, value: i64) {
        if f == "read" {
            let v = self.store.get(&key).map_or(Value::Null, |&v| Value::Int(v));
            answer(ctx, to, Reply::Ok(v));
            return;
        }
        self.seq += 1;
        self.store.insert(key, value);
        let (view, seq) = (self.view, self.seq);
        for b in backups(ctx) {
            ctx.send(
                b,
                Msg::Update {
                    view,
                    seq,
                    key,
                    value,
                },
            );
        }
        if self.sync && self.n > 1 {
            self.pending.push(Pending { seq, to, value });
        } else {
            answer(ctx, to, Reply::Ok(Value::Int(value)));
        }
    }

    /// Answers every pending write that every backup now has.
    fn settle(&mut self, ctx: &mut Ctx<'_, Self>) {
        let done_upto = backups(ctx)
            .into_iter()
            .map(|b| self.acked.get(&b).copied().unwrap_or(0))
            .min()
            .unwrap_or(self.seq);
        let (done, waiting): (Vec<Pending>, Vec<Pending>) =
            self.pending.drain(..).partition(|p| p.seq <= done_upto);
        self.pending = waiting;
        for p in done {
            answer(ctx, p.to, Reply::Ok(Value::Int(p.value)));
        }
    }

    /// Moves to `view` (higher than ours): whatever we were, we now follow
    /// its primary, and the operations we had not answered are in doubt. A
    /// replica that follows forgets its position, so the new primary's
    /// store replaces whatever it holds (`async`: the writes a deposed
    /// primary acknowledged alone are lost here).
    fn adopt(&mut self, ctx: &mut Ctx<'_, Self>, view: u64) {
        self.view = view;
        if !self.is_primary(ctx) {
            self.seq = 0;
        }
        self.acked.clear();
        for p in std::mem::take(&mut self.pending) {
            answer(ctx, p.to, Reply::Info);
        }
        self.last_heard = ctx.now();
    }

    /// A message from the primary of `view`: a sender in an older view is
    /// told the current one and ignored (false); a newer view is adopted;
    /// either way the primary was heard from now.
    fn hear_primary(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, view: u64) -> bool {
        if view < self.view {
            ctx.send(from, Msg::NewView { view: self.view });
            return false;
        }
        if view > self.view {
            self.adopt(ctx, view);
        }
        self.last_heard = ctx.now();
        true
    }

    fn on_update(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        view: u64,
        seq: u64,
        kv: (u32, i64),
    ) {
        if !self.hear_primary(ctx, from, view) {
            return;
        }
        if seq == self.seq + 1 {
            self.seq = seq;
            self.store.insert(kv.0, kv.1);
        }
        // Behind (or ahead after a view change): the acknowledgement says
        // where we are, and the primary's next tick sends its store.
        ctx.send(
            from,
            Msg::Ack {
                view,
                seq: self.seq,
            },
        );
    }
}

/// Every replica but this one.
fn backups(ctx: &Ctx<'_, PrimaryBackup>) -> Vec<NodeId> {
    let me = ctx.id();
    (0..ctx.nodes()).filter(|&b| b != me).collect()
}

fn answer(ctx: &mut Ctx<'_, PrimaryBackup>, to: Answer, reply: Reply) {
    match to {
        Answer::Client(req) => ctx.reply(req, reply),
        Answer::Via(node, req) => ctx.send(node, Msg::Done { req, reply }),
    }
}

impl Node for PrimaryBackup {
    type Msg = Msg;
    type Timer = Timer;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.last_heard = ctx.now();
        ctx.set_timer(Timer::Tick, self.params.tick_ms * MS);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Forward { req, f, key, value } => {
                if self.is_primary(ctx) {
                    self.serve(ctx, Answer::Via(from, req), f, key, value);
                } else {
                    // Certainly not applied here: the client may try again.
                    let reply = Reply::Fail(Value::Str("not primary".into()));
                    ctx.send(from, Msg::Done { req, reply });
                }
            }
            Msg::Done { req, reply } => ctx.reply(req, reply),
            Msg::Update {
                view,
                seq,
                key,
                value,
            } => self.on_update(ctx, from, view, seq, (key, value)),
            Msg::Snapshot { view, seq, store } => {
                if !self.hear_primary(ctx, from, view) {
                    return;
                }
                // A late snapshot older than what we have changes nothing
                // (within a view, equal numbers mean equal stores).
                if seq >= self.seq {
                    self.seq = seq;
                    self.store = store;
                }
                ctx.send(
                    from,
                    Msg::Ack {
                        view,
                        seq: self.seq,
                    },
                );
            }
            Msg::Heartbeat { view } => {
                if !self.hear_primary(ctx, from, view) {
                    return;
                }
                ctx.send(
                    from,
                    Msg::Ack {
                        view,
                        seq: self.seq,
                    },
                );
            }
            Msg::Ack { view, seq } => {
                if view > self.view {
                    self.adopt(ctx, view);
                } else if view == self.view && self.is_primary(ctx) {
                    // Acknowledgements can arrive out of order.
                    let acked = self.acked.entry(from).or_insert(0);
                    *acked = (*acked).max(seq);
                    self.settle(ctx);
                }
            }
            Msg::NewView { view } => {
                if view > self.view {
                    self.adopt(ctx, view);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: Timer) {
        ctx.set_timer(Timer::Tick, self.params.tick_ms * MS);
        if self.is_primary(ctx) {
            // Heartbeat, and the whole store to a backup that lags.
            let (view, seq) = (self.view, self.seq);
            for b in backups(ctx) {
                if self.acked.get(&b) != Some(&seq) {
                    let store = self.store.clone();
                    ctx.send(b, Msg::Snapshot { view, seq, store });
                } else {
                    ctx.send(b, Msg::Heartbeat { view });
                }
            }
            return;
        }
        let silent = ctx.now().saturating_sub(self.last_heard);
        if !self.sync && silent >= self.params.failover_ms * MS {
            // Promote: the next view this replica leads.
            let n = self.n as u64;
            let mut view = self.view + 1;
            while view % n != ctx.id() as u64 {
                view += 1;
            }
            self.adopt(ctx, view);
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, r: Request) {
        let key = r.key.unwrap_or(0);
        let value = r.value.as_int().unwrap_or(0);
        if self.is_primary(ctx) {
            self.serve(ctx, Answer::Client(r.id), r.f, key, value);
        } else {
            let f = r.f;
            let primary = self.primary();
            ctx.send(
                primary,
                Msg::Forward {
                    req: r.id,
                    f,
                    key,
                    value,
                },
            );
        }
    }

    fn on_crash(&mut self) {
        self.acked.clear();
        self.pending.clear();
    }

    fn digest(&self) -> Digest {
        self.store
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl Protocol for PrimaryBackup {
    const NAME: &'static str = "pb";
    const SUMMARY: &'static str =
        "primary-backup key-value register (an example protocol from outside dsim)";
    type Params = Params;

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "async",
                summary:
                    "acknowledges a write before any backup has it; a silent primary is replaced",
            },
            Variant {
                name: "sync",
                summary: "acknowledges a write once every backup has it; no failover",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        register_ops()
    }

    fn model() -> Option<&'static str> {
        Some("kv")
    }

    fn default_checks() -> &'static [&'static str] {
        &["linearizability", "convergence"]
    }

    fn checks() -> &'static [CheckSpec] {
        &[CheckSpec {
            name: "acked-writes-kept",
            summary: "a write acknowledged after every other write of its key had completed is the value every live replica holds at the end",
        }]
    }

    fn check(name: &str, run: &Sim<Self>) -> CheckResult {
        match name {
            "acked-writes-kept" => acked_writes_kept(run),
            _ => CheckResult::unknown(format!("pb has no check named {name}")),
        }
    }

    fn validate(params: &Params, nodes: usize) -> Result<(), String> {
        if nodes < 2 {
            return Err(format!(
                "pb needs a primary and at least one backup: nodes must be 2 or more, got {nodes}"
            ));
        }
        if params.tick_ms == 0 {
            return Err("params.tick_ms must be at least 1".into());
        }
        if params.failover_ms <= params.tick_ms {
            return Err(format!(
                "params.failover_ms ({}) must be longer than params.tick_ms ({}), or every backup promotes itself between two heartbeats",
                params.failover_ms, params.tick_ms
            ));
        }
        Ok(())
    }

    fn new(_id: NodeId, nodes: usize, variant: &str, params: &Params) -> Self {
        PrimaryBackup {
            sync: variant == "sync",
            params: params.clone(),
            n: nodes,
            view: 0,
            seq: 0,
            store: BTreeMap::new(),
            acked: BTreeMap::new(),
            pending: Vec::new(),
            last_heard: 0,
        }
    }
}

/// One write of the history: its key, value, when it was invoked and when
/// it completed (`None`: never, or with an unknown outcome).
struct Write {
    process: u64,
    key: u32,
    value: i64,
    invoked: Time,
    acked: Option<Time>,
}

/// The check `acked-writes-kept`, a custom check of the kind
/// docs/writing-a-protocol.md walks through. It reads the client history
/// and the replicas' final state from the finished run:
///
/// 1. Pair each invocation with its completion (a process has one
///    operation in flight at a time), keeping the writes that did not
///    `fail` (a failed write certainly did not happen).
/// 2. Per key, the *last* write is one that was acknowledged `ok` and
///    invoked after every other write of that key had completed: no other
///    write can have been ordered after it, so whatever the protocol does,
///    a correct one must end with that value. (A key whose writes overlap
///    at the end, or whose latest write has an unknown outcome, has no last
///    write and is not judged.)
/// 3. Every replica that is up at the end must hold that value.
fn acked_writes_kept(run: &Sim<PrimaryBackup>) -> CheckResult {
    let mut in_flight: BTreeMap<u64, usize> = BTreeMap::new();
    let mut writes: Vec<Write> = Vec::new();
    let mut failed: Vec<usize> = Vec::new();
    for e in run.history() {
        match e.kind {
            EventKind::Invoke if e.f == "write" => {
                in_flight.insert(e.process, writes.len());
                writes.push(Write {
                    process: e.process,
                    key: e.key.unwrap_or(0),
                    value: e.value.as_int().unwrap_or(0),
                    invoked: e.time,
                    acked: None,
                });
            }
            EventKind::Invoke => {
                in_flight.remove(&e.process);
            }
            EventKind::Ok => {
                if let Some(i) = in_flight.remove(&e.process) {
                    writes[i].acked = Some(e.time);
                }
            }
            EventKind::Fail => {
                if let Some(i) = in_flight.remove(&e.process) {
                    failed.push(i);
                }
            }
            EventKind::Info => {
                in_flight.remove(&e.process);
            }
        }
    }
    let writes: Vec<&Write> = writes
        .iter()
        .enumerate()
        .filter(|(i, _)| !failed.contains(i))
        .map(|(_, w)| w)
        .collect();
    let keys: std::collections::BTreeSet<u32> = writes.iter().map(|w| w.key).collect();
    let mut evidence = Vec::new();
    let mut judged = 0;
    for key in keys {
        let of_key: Vec<&&Write> = writes.iter().filter(|w| w.key == key).collect();
        let last = of_key.iter().find(|w| {
            w.acked.is_some()
                && of_key
                    .iter()
                    .filter(|o| !std::ptr::eq(**o, **w))
                    .all(|o| o.acked.is_some_and(|t| t < w.invoked))
        });
        let Some(last) = last else { continue };
        judged += 1;
        let holders: Vec<String> = run
            .nodes()
            .iter()
            .enumerate()
            .filter(|(id, _)| run.is_up(*id))
            .filter(|(_, n)| n.store.get(&key) != Some(&last.value))
            .map(|(id, n)| match n.store.get(&key) {
                Some(v) => format!("n{id} holds {v}"),
                None => format!("n{id} holds nothing"),
            })
            .collect();
        if !holders.is_empty() {
            evidence.push(format!(
                "key {key}: write {} by process {} was acknowledged at {:.3} ms after every other write of key {key} had completed, but at the end {}",
                last.value,
                last.process,
                last.acked.unwrap_or(0) as f64 / 1000.0,
                holders.join(", ")
            ));
        }
    }
    if evidence.is_empty() {
        CheckResult::pass(format!(
            "every live replica holds the last acknowledged write of each of the {judged} key(s) that have one"
        ))
    } else {
        CheckResult::violation(
            format!(
                "{} of {judged} key(s) lost their last acknowledged write",
                evidence.len()
            ),
            evidence,
        )
    }
}
