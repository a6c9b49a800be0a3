//! A balance replayed from deposits and withdrawals, from
//! samsquire/eventually-consistent-mesh (node_bank.py).
//!
//! Links and relay are those of [`crate::history`]: an origin stamps a
//! client's deposit or withdrawal with its clock and pushes it as `set` to
//! one target, which stores it and relays `sync` to every other node. No
//! event is refused when written: a withdrawal is acknowledged at once,
//! whatever the balance. Each read replays every event known to the replica
//! from a balance of 0: a withdrawal the running balance covers is
//! subtracted, any other is skipped and marked cancelled ("below 0" when
//! the balance is not positive, else "not large enough", blaming the last
//! event whose balance fell short). So the fate of a withdrawal is decided
//! at read time and changes as events arrive.
//!
//! Variants:
//! - `faithful`: replay in heap-pop order, which under the inverted
//!   comparator is **newest first**, so a withdrawal is honoured only if
//!   deposits made after it cover it. Cancelled flags are written onto the
//!   stored events and never cleared. A link that reports an error is dead
//!   for good.
//! - `intended`: replay oldest first (ties by event id), recomputing every
//!   decision; failed links are retried until the message gets through.
//!
//! Client operations and their values:
//! - `deposit n`, `withdraw n`: acknowledged at once with `ok <id>`, the
//!   event's id (`100·seq + origin`, a simulator-only handle so checks can
//!   follow the event; the original has no unique event id).
//! - `balance`: `ok [balance, [honoured withdrawal ids], [cancelled
//!   withdrawal ids]]`, both lists as decided by this read's replay.
//!
//! Checks: see [`Bank::checks`]; they read the client history and the
//! replicas' final events.

mod check;
mod replay;

use std::collections::BTreeMap;

use serde::Serialize;
use sim::{Ctx, Digest, Node, NodeId, Reply, Request, Sim, Time, Value, ValueGen};

pub use crate::ecm::Params;
use crate::ecm::{Links, Mode, Stamped, TsHeap};
use crate::handshake::{Connecting, Inbound};
use crate::{CheckResult, CheckSpec, OpSpec, Protocol, Variant};

pub use crate::ecm::Timer;
pub use replay::{Cancel, Reason, Replay, Step};

/// Which way money moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    /// Adds to the balance.
    Deposit,
    /// Takes from the balance, if the replay finds it covered.
    Withdraw,
}

impl Dir {
    /// The operation name.
    pub fn name(self) -> &'static str {
        match self {
            Dir::Deposit => "deposit",
            Dir::Withdraw => "withdraw",
        }
    }
}

/// Wire messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Msg {
    /// ECM-11 only (`params.handshake`): a connection to the receiver's
    /// server, whose handshake `server <index>` is read a little later.
    Connect,
    /// Origin → target: store this event and relay it.
    Set {
        /// Account.
        key: u32,
        /// Deposit or withdrawal.
        dir: Dir,
        /// Amount.
        amount: i64,
        /// The origin's clock when it sent the event.
        ts: Time,
        /// Simulator-only event id.
        id: u64,
    },
    /// Target → replica: store this event (never relayed).
    Sync {
        /// Account.
        key: u32,
        /// Deposit or withdrawal.
        dir: Dir,
        /// Amount.
        amount: i64,
        /// The target's parent pointer.
        h: u64,
        /// The original timestamp.
        ts: Time,
        /// Simulator-only event id.
        id: u64,
    },
}

/// One stored event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Simulator-only id (`100·seq + origin`).
    pub id: u64,
    /// This replica's arrival counter.
    pub local_id: u64,
    /// Deposit or withdrawal.
    pub dir: Dir,
    /// Amount.
    pub amount: i64,
    /// Timestamp (the origin's clock).
    pub ts: Time,
    /// The parent pointer: the newest event's `h` at the accepting node
    /// (the local counter for a key's first event).
    pub h: u64,
    /// Set by a replay that skipped it (faithful: never cleared).
    pub cancelled: Option<Cancel>,
    /// Local ids of events accepted while this one was the newest.
    pub children: Vec<u64>,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    ts: Time,
    idx: usize,
}

impl Stamped for Slot {
    // Ties stay with the heap layout: only the faithful replay and the
    // parent pointer use the heap, and both are as coded.
    fn rank(&self) -> (Time, u64, i64) {
        (self.ts, 0, 0)
    }
}

/// One replica's events of one account.
#[derive(Clone, Debug, Default)]
pub struct Account {
    events: Vec<Event>,
    heap: TsHeap<Slot>,
}

impl Account {
    /// The events in arrival order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Stores `e` as the original's `persist` does (node_cluster.py, the
    /// version with the provenance graph): pop the root, push it back,
    /// record `e` as its child, push `e`. With equal timestamps the pop and
    /// re-push move the root, which decides later parents and the replay
    /// order among the ties.
    pub(crate) fn push(&mut self, mut e: Event) {
        if let Some(root) = self.heap.pop() {
            self.heap.push(root);
            self.events[root.idx].children.push(e.local_id);
        }
        e.children.clear();
        self.heap.push(Slot {
            ts: e.ts,
            idx: self.events.len(),
        });
        self.events.push(e);
    }

    /// The heap root: the event with the largest timestamp.
    pub(crate) fn newest(&self) -> Option<&Event> {
        let idx = self.heap.root()?.idx;
        self.events.get(idx)
    }
}

/// One replica of the bank mesh.
#[derive(Clone, Debug)]
pub struct Bank {
    mode: Mode,
    params: Params,
    accounts: BTreeMap<u32, Account>,
    next_target: usize,
    links: Links<Msg>,
    inbound: Inbound,
    local_counter: u64,
    /// Event ids issued by this origin. Simulator bookkeeping, so it
    /// survives crashes and ids stay unique.
    issued: u64,
}

impl Bank {
    /// What this replica holds for account `key`.
    pub fn account(&self, key: u32) -> Option<&Account> {
        self.accounts.get(&key)
    }

    /// Every account this replica holds, in order.
    pub fn accounts(&self) -> &BTreeMap<u32, Account> {
        &self.accounts
    }

    /// Replays account `key` as this variant does on a read.
    pub fn replay(&self, key: u32) -> Replay {
        let Some(acc) = self.accounts.get(&key) else {
            return Replay::default();
        };
        match self.mode {
            Mode::Faithful => {
                Replay::as_coded(acc.heap.pop_order().iter().map(|s| &acc.events[s.idx]))
            }
            Mode::Intended => Replay::oldest_first(&acc.events),
        }
    }

    fn on_read(&mut self, key: u32) -> Value {
        let r = self.replay(key);
        if let Some(acc) = self.accounts.get_mut(&key) {
            let decided: BTreeMap<u64, Option<Cancel>> =
                r.steps.iter().map(|s| (s.id, s.cancelled)).collect();
            for e in &mut acc.events {
                match (self.mode, decided.get(&e.id).copied().flatten()) {
                    (_, Some(c)) => e.cancelled = Some(c),
                    // The original writes flags and never clears them.
                    (Mode::Faithful, None) => {}
                    (Mode::Intended, None) => e.cancelled = None,
                }
            }
        }
        let ids = |v: Vec<u64>| Value::List(v.into_iter().map(|i| Value::Int(i as i64)).collect());
        Value::List(vec![
            Value::Int(r.balance),
            ids(r.honoured()),
            ids(r.cancelled()),
        ])
    }

    /// The target's side of a `set`: link it under the newest event and store it.
    fn accept(&mut self, key: u32, dir: Dir, amount: i64, ts: Time, id: u64) -> u64 {
        self.local_counter += 1;
        let local_id = self.local_counter;
        let acc = self.accounts.entry(key).or_default();
        let h = match acc.newest() {
            Some(root) => root.h,
            None => local_id,
        };
        acc.push(Event {
            id,
            local_id,
            dir,
            amount,
            ts,
            h,
            cancelled: None,
            children: Vec::new(),
        });
        h
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

impl Node for Bank {
    type Msg = Msg;
    type Timer = Timer;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.links.reset(ctx.nodes());
        self.next_target = ctx.id();
        self.inbound.on_start(ctx);
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, r: Request) {
        let key = r.key.unwrap_or(0);
        let dir = match r.f {
            "deposit" => Dir::Deposit,
            "withdraw" => Dir::Withdraw,
            "balance" => {
                if !self.inbound.answers() {
                    // ECM-11: the read is a `get` to a server that reads nothing.
                    return;
                }
                let v = self.on_read(key);
                ctx.reply(r.id, Reply::Ok(v));
                return;
            }
            _ => {
                ctx.reply(
                    r.id,
                    Reply::Fail(Value::Str(format!("bank has no operation {}", r.f))),
                );
                return;
            }
        };
        let Some(amount) = r.value.as_int() else {
            ctx.reply(
                r.id,
                Reply::Fail(Value::Str("the amount must be an integer".into())),
            );
            return;
        };
        self.issued += 1;
        let id = self.issued * 100 + ctx.id() as u64;
        let to = self
            .params
            .target
            .pick(ctx.id(), ctx.nodes(), &mut self.next_target);
        let ts = ctx.now();
        self.links.send(
            ctx,
            to,
            Msg::Set {
                key,
                dir,
                amount,
                ts,
                id,
            },
        );
        // Never refused: acknowledged once queued, whatever the balance.
        ctx.reply(r.id, Reply::Ok(Value::Int(id as i64)));
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        if !self.inbound.on_message(ctx, from, &msg) {
            return;
        }
        match msg {
            Msg::Connect => {}
            Msg::Set {
                key,
                dir,
                amount,
                ts,
                id,
            } => {
                let h = self.accept(key, dir, amount, ts, id);
                let me = ctx.id();
                let relay = self.inbound.relay_targets(ctx.now(), me, ctx.nodes(), from);
                for peer in relay {
                    let sync = Msg::Sync {
                        key,
                        dir,
                        amount,
                        h,
                        ts,
                        id,
                    };
                    self.links.send(ctx, peer, sync);
                }
            }
            Msg::Sync {
                key,
                dir,
                amount,
                h,
                ts,
                id,
            } => {
                self.local_counter += 1;
                let e = Event {
                    id,
                    local_id: self.local_counter,
                    dir,
                    amount,
                    ts,
                    h,
                    cancelled: None,
                    children: Vec::new(),
                };
                self.accounts.entry(key).or_default().push(e);
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
        self.accounts.clear();
        self.next_target = 0;
        self.local_counter = 0;
        self.links.clear();
    }

    fn digest(&self) -> Digest {
        self.accounts
            .keys()
            .map(|&k| (k.to_string(), self.replay(k).balance.to_string()))
            .collect()
    }
}

/// The checks bank adds to the generic ones.
const CHECKS: &[CheckSpec] = &[
    CheckSpec {
        name: "balance-non-negative",
        summary: "every balance a client read is at least 0",
    },
    CheckSpec {
        name: "withdrawals-covered",
        summary: "withdrawals clients saw honoured total no more than the deposits made",
    },
    CheckSpec {
        name: "decision-revoked",
        summary: "no withdrawal a client saw honoured is cancelled by a later read or in the final state",
    },
    CheckSpec {
        name: "balance-correct",
        summary: "every final balance equals the oldest-first replay of every event, and no acknowledged event is lost",
    },
];

impl Protocol for Bank {
    const NAME: &'static str = "bank";
    const SUMMARY: &'static str =
        "a balance replayed from replicated deposits and withdrawals, decided at read time (eventually-consistent-mesh node_bank)";
    type Params = Params;

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "faithful",
                summary: "as coded: replay newest first, sticky cancelled flags, a link that errors stays dead; with params.handshake, a set relayed before every handshake is read ends the receive loop (ECM-11)",
            },
            Variant {
                name: "intended",
                summary: "replay oldest first; failed links are retried",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        let amount = ValueGen::Range { min: 1, max: 100 };
        vec![
            OpSpec {
                name: "deposit",
                read: false,
                weight: 1,
                value: amount.clone(),
            },
            OpSpec {
                name: "withdraw",
                read: false,
                weight: 1,
                value: amount,
            },
            OpSpec {
                name: "balance",
                read: true,
                weight: 1,
                value: ValueGen::Null,
            },
        ]
    }

    fn keyed() -> bool {
        false
    }

    fn notes(run: &sim::Sim<Self>) -> Vec<String> {
        crate::ecm::mesh_notes(run, |n| (&n.links, &n.inbound))
    }

    fn model() -> Option<&'static str> {
        // The checker's bank model expects withdrawals to answer true/false
        // and reads to return a bare integer; this node does neither.
        None
    }

    fn checks() -> &'static [CheckSpec] {
        CHECKS
    }

    fn default_checks() -> &'static [&'static str] {
        &[
            "convergence",
            "balance-non-negative",
            "withdrawals-covered",
            "decision-revoked",
            "balance-correct",
        ]
    }

    fn validate(params: &Params, _nodes: usize) -> Result<(), String> {
        params.validate()
    }

    fn new(_id: NodeId, nodes: usize, variant: &str, params: &Params) -> Self {
        let mode = Mode::of(variant);
        Bank {
            mode,
            params: params.clone(),
            accounts: BTreeMap::new(),
            next_target: 0,
            links: params.links(nodes, mode),
            inbound: params.inbound(mode),
            local_counter: 0,
            issued: 0,
        }
    }

    fn check(name: &str, run: &Sim<Self>) -> CheckResult {
        match name {
            "balance-non-negative" => check::balance_non_negative(run),
            "withdrawals-covered" => check::withdrawals_covered(run),
            "decision-revoked" => check::decision_revoked(run),
            "balance-correct" => check::balance_correct(run),
            _ => CheckResult::unknown(format!("bank has no check named {name}")),
        }
    }
}

#[cfg(test)]
mod tests;
