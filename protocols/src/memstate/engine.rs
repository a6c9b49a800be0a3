//! The engine: a replica of the model that appends commands to the stream
//! through its batcher and applies records in stream order.

use std::collections::{BTreeMap, BTreeSet};

use sim::{Ctx, Digest, NodeId, Reply, RequestId, Time, Value, MS};

use super::kv::{Cmd, CmdError, Store};
use super::{Bug, Entry, MemState, Mode, Msg, Op, Params, Timer};

/// Where an answer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// To the generic client.
    Direct,
    /// To the follower that forwarded the operation (`leader`).
    Node(NodeId),
}

/// A command waiting for its own record.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub to: Answer,
    pub f: &'static str,
}

/// An engine.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    pub(crate) mode: Mode,
    pub(crate) params: Params,
    pub(crate) stream: Option<NodeId>,
    /// Replaying the log at startup; operations wait in `parked`.
    pub(crate) loading: bool,
    parked: Vec<(RequestId, Op, Answer)>,
    pub(crate) store: Store,
    /// The next record number expected (the seed's last record number + 1).
    pub(crate) next: u64,
    /// Loading: the next record to read (the startup read's position, which
    /// runs ahead of `next` past commands that threw, in `faithful`).
    read_pos: u64,
    /// `faithful`: stopped on a broken sequence, and why.
    pub(crate) stopped: Option<String>,
    /// Records applied out of sequence (`allow_broken_sequence`).
    pub(crate) broken: u64,
    pub(crate) pending: BTreeMap<RequestId, Pending>,
    /// The batcher's queue, the append in flight and its number.
    queue: Vec<Entry>,
    in_flight: Option<(u64, Vec<Entry>)>,
    batches: u64,
    /// `faithful`: times the batch in flight has been sent (the ClientAPI
    /// retries a timed-out append with the same event ids).
    attempts: u64,
    /// `faithful`: the batcher died on an append error.
    pub(crate) batcher_dead: bool,
    /// `intended`: reads waiting for the stream's head, then for the engine
    /// to apply up to it.
    heads: BTreeMap<RequestId, (u32, Answer)>,
    reads: Vec<(u64, RequestId, u32, Answer)>,
    /// `intended`/`leader`: records that came ahead of a gap.
    ahead: BTreeMap<u64, Entry>,
    /// Command ids applied (each is applied once).
    pub(crate) applied_ids: BTreeSet<RequestId>,
    /// A record arrived since the last idle tick.
    heard: bool,
    /// `faithful`: the position in the subscription of the next record
    /// (`Msg::Record::seq`), and whether the subscription broke (a record
    /// missing or out of place on its connection: the connection is gone,
    /// and with it the subscription, which the seed never renews).
    sub_seq: u64,
    sub_broken: bool,
    /// `leader`: the leader at the applied position, and its fencing position.
    pub(crate) leader: Option<NodeId>,
    pub(crate) since: u64,
    /// `leader`: when this engine last applied a record of the leader.
    pub(crate) leader_seen: Time,
    pub(crate) candidate_after: Time,
    /// `leader`: reads waiting for their marker.
    pub(crate) markers: BTreeMap<RequestId, (u32, Answer)>,
    /// `leader`: operations this follower forwarded, waiting for an answer.
    pub(crate) forwarded: BTreeMap<RequestId, Forwarded>,
    /// `leader`: forwards that name a leadership from a record this engine
    /// has not applied yet; decided once it has.
    pub(crate) early: Vec<(RequestId, Op, NodeId, u64)>,
    /// `leader`: answers sent for forwarded operations (sent again when
    /// the forward comes again).
    pub(crate) fwd_results: BTreeMap<RequestId, Reply>,
    /// `leader`: this engine's own commands not yet applied, in append
    /// order (the leader's `incr` reads through them).
    pub(crate) own: Vec<(RequestId, Cmd)>,
}

/// A follower's forwarded operation.
#[derive(Clone, Debug)]
pub(crate) struct Forwarded {
    pub op: Op,
    /// When the client's operation arrived.
    pub at: Time,
    /// The (engine, fencing position) pairs a copy was sent to, and those
    /// that refused it for good.
    pub sent: BTreeSet<(NodeId, u64)>,
    pub refused: BTreeSet<(NodeId, u64)>,
}

impl Engine {
    /// An engine in `mode`.
    pub fn new(mode: Mode, params: Params) -> Self {
        Engine {
            mode,
            params,
            ..Engine::default()
        }
    }

    /// Records applied (the seed's last record number + 1).
    pub fn applied(&self) -> u64 {
        self.next
    }

    /// Why the engine stopped, if it did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// The model.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn digest(&self) -> Digest {
        self.store
            .iter()
            .map(|(k, (v, ver))| (k.to_string(), format!("{v}@{ver}")))
            .collect()
    }

    pub(crate) fn on_crash(&mut self) {
        // Nothing is durable: a restarted engine replays the whole log.
        // Batch numbers go on: they stand for the ClientAPI's correlation
        // ids (GUIDs), so an acknowledgement to the engine's previous life
        // never matches a batch of this one (on an unordered link one can
        // still arrive after the restart).
        let batches = self.batches;
        *self = Engine::new(self.mode, self.params.clone());
        self.batches = batches;
    }

    pub(crate) fn on_start(&mut self, ctx: &mut Ctx<'_, MemState>) {
        self.stream = ctx.service("stream");
        let Some(s) = self.stream else {
            return ctx.halt("no stream service runs in this scenario");
        };
        self.loading = true;
        ctx.send(s, Msg::Read { from: 0 });
        if self.mode != Mode::Faithful {
            // A lost page would leave the engine loading for good.
            ctx.set_timer(Timer::Idle, self.params.idle_ms * MS);
        }
    }

    fn on_page(&mut self, ctx: &mut Ctx<'_, MemState>, from: u64, records: Vec<Entry>, more: bool) {
        if !self.loading || from != self.read_pos {
            return;
        }
        let now = ctx.now();
        for entry in records {
            self.replay(entry, now);
        }
        let s = self.stream.expect("loading needs the stream");
        if more {
            return ctx.send(
                s,
                Msg::Read {
                    from: self.read_pos,
                },
            );
        }
        self.loading = false;
        self.sub_seq = 0;
        self.sub_broken = false;
        ctx.send(s, Msg::Subscribe { from: self.next });
        if self.mode != Mode::Faithful {
            ctx.set_timer(Timer::Idle, self.params.idle_ms * MS);
        }
        if self.mode == Mode::Leader {
            self.leader_seen = now;
            self.arm_candidacy(ctx);
            ctx.set_timer(Timer::Tick, self.params.heartbeat_ms * MS);
            if self.params.operator_leader == Some(ctx.id()) && self.leader.is_none() {
                self.candidate_after = now;
                self.on_tick(ctx);
            }
        }
        for (req, op, to) in std::mem::take(&mut self.parked) {
            self.on_op(ctx, req, op, to);
        }
        self.decide_early_forwards(ctx);
    }

    /// Applies a replayed record: no answers, exceptions ignored.
    fn replay(&mut self, entry: Entry, now: Time) {
        let number = self.read_pos;
        self.read_pos += 1;
        if self.mode == Mode::Faithful {
            // The snapshot's startup path (EngineBuilder.Load) keeps the
            // pre-6f560ec order: the last record number is set inside the
            // `try`, after the command ran, so it is the last record that
            // did not throw. The engine subscribes from the one after it:
            // trailing failed commands are delivered and run again.
            if self.execute_cmd(&entry.cmd, None).is_ok() {
                self.next = number + 1;
            }
            return;
        }
        self.next = number + 1;
        if let Some(r) = entry.req {
            if !self.applied_ids.insert(r) {
                return;
            }
        }
        if self.mode == Mode::Leader {
            self.replay_leader(&entry, number, now);
            if !self.admits(&entry) {
                return;
            }
        }
        let _ = self.execute_cmd(&entry.cmd, None);
    }

    pub(crate) fn on_message(&mut self, ctx: &mut Ctx<'_, MemState>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Page {
                from,
                records,
                more,
            } => self.on_page(ctx, from, records, more),
            Msg::Record { number, seq, entry } => {
                self.heard = true;
                if self.mode == Mode::Faithful {
                    // The subscription's connection delivers in order or
                    // breaks: a record not at the next position means the
                    // connection lost one, so the subscription is dropped
                    // (the seed registers no handler: the engine freezes).
                    // `intended`/`leader` need no such check: a record
                    // missing by number makes them subscribe again.
                    if self.sub_broken || seq != self.sub_seq {
                        self.sub_broken = true;
                        return;
                    }
                    self.sub_seq += 1;
                    self.on_record_faithful(ctx, number, entry)
                } else {
                    self.on_record_ordered(ctx, number, entry)
                }
            }
            Msg::Appended { batch, .. }
                if self.in_flight.as_ref().is_some_and(|(b, _)| *b == batch) =>
            {
                self.in_flight = None;
                ctx.cancel_timer(Timer::AppendTimeout(batch));
                self.pump(ctx);
            }
            // The seed registers no drop handler: the faithful engine
            // freezes. The others subscribe again.
            Msg::Dropped if self.mode != Mode::Faithful => self.resubscribe(ctx),
            Msg::HeadIs { tag, next } => {
                if let Some((key, to)) = self.heads.remove(&tag) {
                    self.reads.push((next, tag, key, to));
                    self.answer_reads(ctx);
                }
            }
            Msg::Forward { req, op, since } => self.on_forward(ctx, from, req, op, since),
            Msg::Done { req, reply } if self.forwarded.remove(&req).is_some() => {
                ctx.cancel_timer(Timer::Forward(req));
                ctx.reply(req, reply);
            }
            Msg::Refused { req, since } => self.on_refused(ctx, from, req, since),
            _ => {}
        }
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_, MemState>, timer: Timer) {
        match timer {
            Timer::AppendTimeout(batch) => {
                let Some((b, entries)) = self.in_flight.take() else {
                    return;
                };
                if b != batch {
                    self.in_flight = Some((b, entries));
                    return;
                }
                if self.mode == Mode::Faithful {
                    if self.attempts <= self.params.append_retries {
                        // The ClientAPI retries the operation itself, with
                        // the same event ids (the stream is idempotent).
                        self.attempts += 1;
                        return self.send_batch(ctx, entries);
                    }
                    // Retries spent: `.Result` throws, and the exception
                    // ends the batcher's task; the queue stays, and nobody
                    // takes from it again.
                    self.batcher_dead = true;
                    return;
                }
                // Retried with the same command ids: applied once.
                self.send_batch(ctx, entries);
            }
            Timer::Idle => {
                if self.loading {
                    if let Some(s) = self.stream {
                        let from = self.read_pos;
                        ctx.send(s, Msg::Read { from });
                    }
                } else {
                    if !std::mem::take(&mut self.heard) || !self.ahead.is_empty() {
                        // Quiet, or stuck behind a gap whose refetch was lost.
                        self.resubscribe(ctx);
                    }
                    // A read whose head question or answer was lost asks again.
                    if let Some(s) = self.stream {
                        for &tag in self.heads.keys() {
                            ctx.send(s, Msg::Head { tag });
                        }
                    }
                }
                ctx.set_timer(Timer::Idle, self.params.idle_ms * MS);
            }
            Timer::Tick => self.on_tick(ctx),
            Timer::Forward(req) => self.forward_again(ctx, req),
            Timer::Deliver { .. } => {}
        }
    }

    pub(crate) fn resubscribe(&mut self, ctx: &mut Ctx<'_, MemState>) {
        if let Some(s) = self.stream.filter(|_| !self.loading) {
            ctx.send(s, Msg::Subscribe { from: self.next });
        }
    }

    /// A client's operation (from the generic client or a follower).
    pub(crate) fn on_op(
        &mut self,
        ctx: &mut Ctx<'_, MemState>,
        req: RequestId,
        op: Op,
        to: Answer,
    ) {
        if self.loading {
            return self.parked.push((req, op, to));
        }
        if let Some(why) = &self.stopped {
            let reply = Reply::Fail(Value::Str(format!("engine stopped: {why}")));
            return self.answer(ctx, to, req, reply);
        }
        if self.mode == Mode::Leader && !self.leads(ctx.id()) {
            return self.forward(ctx, req, op, to);
        }
        let cmd = match op.f {
            "get" => return self.on_get(ctx, req, op.key, to),
            "set" => match set_input(&op.value) {
                Some((value, expected)) => Cmd::Set {
                    key: op.key,
                    value,
                    expected,
                    expected_value: None,
                },
                None => {
                    let why = format!(
                        "set takes an integer or [value, expected_version], not {}",
                        op.value
                    );
                    return self.answer(ctx, to, req, Reply::Fail(Value::Str(why)));
                }
            },
            "remove" => Cmd::Remove {
                key: op.key,
                expected: op.value.as_int().map(|v| v as u64),
            },
            "incr" => self.incr(op.key),
            "stamp" => Cmd::Stamp { key: op.key },
            f => {
                let why = format!("memstate has no operation {f}");
                return self.answer(ctx, to, req, Reply::Fail(Value::Str(why)));
            }
        };
        self.pending.insert(req, Pending { to, f: op.f });
        if self.mode == Mode::Leader {
            self.own.push((req, cmd.clone()));
        }
        let entry = Entry {
            origin: ctx.id(),
            req: Some(req),
            since: self.since,
            cmd,
        };
        self.enqueue(ctx, entry);
    }

    fn on_get(&mut self, ctx: &mut Ctx<'_, MemState>, req: RequestId, key: u32, to: Answer) {
        match self.mode {
            Mode::Faithful => self.answer(ctx, to, req, Reply::Ok(self.store.read(key))),
            Mode::Intended => {
                let s = self.stream.expect("running needs the stream");
                self.heads.insert(req, (key, to));
                ctx.send(s, Msg::Head { tag: req });
            }
            Mode::Leader => self.leader_get(ctx, req, key, to),
        }
    }

    /// Answers the reads whose head the engine has reached.
    fn answer_reads(&mut self, ctx: &mut Ctx<'_, MemState>) {
        let next = self.next;
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reads)
            .into_iter()
            .partition(|r| r.0 <= next);
        self.reads = wait;
        for (_, req, key, to) in ready {
            self.answer(ctx, to, req, Reply::Ok(self.store.read(key)));
        }
    }

    /// True when the batcher has an append in flight or queued.
    pub(crate) fn busy(&self) -> bool {
        self.in_flight.is_some() || !self.queue.is_empty()
    }

    /// The batcher: queue a command and send an append if none is in flight.
    pub(crate) fn enqueue(&mut self, ctx: &mut Ctx<'_, MemState>, entry: Entry) {
        self.queue.push(entry);
        self.pump(ctx);
    }

    fn pump(&mut self, ctx: &mut Ctx<'_, MemState>) {
        if self.batcher_dead || self.in_flight.is_some() || self.queue.is_empty() {
            return;
        }
        let n = self.queue.len().min(self.params.batch_max);
        let entries: Vec<Entry> = self.queue.drain(..n).collect();
        self.attempts = 1;
        self.send_batch(ctx, entries);
    }

    fn send_batch(&mut self, ctx: &mut Ctx<'_, MemState>, entries: Vec<Entry>) {
        let Some(s) = self.stream else { return };
        self.batches += 1;
        let batch = self.batches;
        ctx.send(
            s,
            Msg::Append {
                batch,
                entries: entries.clone(),
            },
        );
        self.in_flight = Some((batch, entries));
        ctx.set_timer(
            Timer::AppendTimeout(batch),
            self.params.append_timeout(self.mode) * MS,
        );
    }

    /// The seed's `OnRecordReceived`.
    fn on_record_faithful(&mut self, ctx: &mut Ctx<'_, MemState>, number: u64, entry: Entry) {
        if self.stopped.is_some() || self.loading {
            return;
        }
        let mine = entry
            .req
            .filter(|_| entry.origin == ctx.id())
            .and_then(|r| self.pending.remove(&r).map(|p| (r, p)));
        if number != self.next {
            if !self.params.allow_broken_sequence {
                let why = format!("broken sequence, expected {}, got {number}", self.next);
                self.stopped = Some(why);
                // The caller gets the exception, but the command is in the
                // log and the other engines apply it: indeterminate.
                if let Some((r, p)) = mine {
                    self.answer(ctx, p.to, r, Reply::Info);
                }
                return;
            }
            self.broken += 1;
        }
        // The snapshot (8d30ac9, Engine.cs:176-177, since 6f560ec "fix bug
        // broken record sequence after failed command") sets the last record
        // number before it runs the command, so a command that throws still
        // counts its record. `pre_6f560ec` restores the older order: the
        // number is set only after the command ran without an exception.
        if !self.params.pre_6f560ec {
            self.next = number + 1;
        }
        let result = self.execute_cmd(&entry.cmd, Some(ctx));
        if self.params.pre_6f560ec && result.is_ok() {
            self.next = number + 1;
        }
        if let Some((r, p)) = mine {
            self.answer(ctx, p.to, r, reply_of(p.f, result));
        }
    }

    /// `intended`/`leader`: records in number order, each command id once.
    fn on_record_ordered(&mut self, ctx: &mut Ctx<'_, MemState>, number: u64, entry: Entry) {
        if self.loading || number < self.next {
            return;
        }
        let gap_before = !self.ahead.is_empty();
        self.ahead.insert(number, entry);
        while let Some(e) = self.ahead.remove(&self.next) {
            let n = self.next;
            self.next += 1;
            self.apply_ordered(ctx, n, e);
        }
        if !self.ahead.is_empty() && !gap_before {
            // A record is missing: ask for everything from it again.
            self.resubscribe(ctx);
        }
        self.answer_reads(ctx);
        self.decide_early_forwards(ctx);
    }

    fn apply_ordered(&mut self, ctx: &mut Ctx<'_, MemState>, number: u64, entry: Entry) {
        // A request id names one client operation: once any engine's record
        // of it is applied (or rejected), this engine's copy can never take
        // effect, so it leaves the speculative view.
        let mine = entry.origin == ctx.id();
        let stale_own = self.params.bug(Bug::StaleOwn);
        if let Some(r) = entry.req.filter(|_| mine || !stale_own) {
            self.own.retain(|(q, _)| *q != r);
        }
        if let Some(r) = entry.req {
            if !self.applied_ids.insert(r) {
                // A retried append, or a command appended twice: applied
                // already. A caller still waiting cannot learn its result.
                if let Some(p) = self.pending.remove(&r) {
                    self.answer(ctx, p.to, r, Reply::Info);
                }
                return;
            }
        }
        if self.mode == Mode::Leader && !self.apply_leader(ctx, number, &entry) {
            return;
        }
        let result = self.execute_cmd(&entry.cmd, Some(ctx));
        // A request id names one client operation: whichever engine's
        // record carries it (two leaders may both have appended a
        // forwarded one), a caller waiting here gets its outcome.
        if let Some((r, p)) = entry
            .req
            .and_then(|r| self.pending.remove(&r).map(|p| (r, p)))
        {
            self.answer(ctx, p.to, r, reply_of(p.f, result));
        }
    }

    /// `incr`: read the key and write it plus one. `faithful`/`intended`
    /// read the applied model: a blind read-modify-write, unless
    /// `incr_cas`, which adds the version read (`intended` also the value
    /// read, so a key removed and set again since does not match).
    /// `leader` reads through its own commands not yet applied and always
    /// carries the value and version read as an apply-time precondition.
    fn incr(&self, key: u32) -> Cmd {
        let leader = self.mode == Mode::Leader && !self.params.bug(Bug::IncrFromApplied);
        let read = if leader {
            self.speculative(key)
        } else {
            self.store.get(key)
        };
        let (v, ver) = read.unwrap_or((0, 0));
        let cas = leader || self.params.incr_cas;
        let with_value =
            cas && self.mode != Mode::Faithful && !self.params.bug(Bug::IncrVersionOnly);
        Cmd::Set {
            key,
            value: v + 1,
            expected: cas.then_some(ver),
            expected_value: read.filter(|_| with_value).map(|(v, _)| v),
        }
    }

    /// `leader`: the key as it will be once this engine's own unapplied
    /// commands are applied (while it leads, nothing else is admitted in
    /// between; if anything is, the precondition fails at apply time).
    fn speculative(&self, key: u32) -> Option<(i64, u64)> {
        let mut cur = self.store.get(key);
        for (_, cmd) in &self.own {
            let ver = cur.map_or(0, |c| c.1);
            match *cmd {
                Cmd::Set {
                    key: k,
                    value,
                    expected,
                    expected_value,
                } if k == key => {
                    let holds = expected.is_none_or(|e| e == ver)
                        && expected_value.is_none_or(|ev| cur.is_none_or(|c| c.0 == ev));
                    if holds {
                        cur = Some((value, ver + 1));
                    }
                }
                Cmd::Remove { key: k, expected }
                    if k == key && cur.is_some() && expected.is_none_or(|e| e == ver) =>
                {
                    cur = None
                }
                // The value is drawn at apply time; a precondition on the
                // guess fails unless it guessed right.
                Cmd::Stamp { key: k } if k == key => cur = Some((0, ver + 1)),
                _ => {}
            }
        }
        cur
    }

    /// Sends `reply` for `req` where it goes. An answer to a forwarded
    /// operation is kept, so that a forward sent again (its answer lost)
    /// gets it again instead of running twice.
    pub(crate) fn answer(
        &mut self,
        ctx: &mut Ctx<'_, MemState>,
        to: Answer,
        req: RequestId,
        reply: Reply,
    ) {
        match to {
            Answer::Direct => ctx.reply(req, reply),
            Answer::Node(n) => {
                if self.mode == Mode::Leader && !self.params.bug(Bug::ForwardRefusalFails) {
                    self.fwd_results.insert(req, reply.clone());
                }
                ctx.send(n, Msg::Done { req, reply });
            }
        }
    }

    /// Runs a command on the model.
    fn execute_cmd(
        &mut self,
        cmd: &Cmd,
        ctx: Option<&mut Ctx<'_, MemState>>,
    ) -> Result<Value, CmdError> {
        match *cmd {
            Cmd::Set {
                key,
                value,
                expected,
                expected_value,
            } => self
                .store
                .set(key, value, expected, expected_value)
                .map(|v| Value::Int(v as i64)),
            Cmd::Remove { key, expected } => self.store.remove(key, expected).map(|()| Value::Null),
            Cmd::Stamp { key } => {
                // Non-deterministic: each engine draws its own value (a
                // replay draws 0, as a command reading an unset clock).
                let v = ctx.map_or(0, |c| c.rng().below(1_000_000) as i64);
                self.store.set(key, v, None, None).map(|_| Value::Int(v))
            }
            _ => Ok(Value::Null),
        }
    }
}

/// `set`'s input: `v` or `[v, expected_version]` (`null` for none).
fn set_input(v: &Value) -> Option<(i64, Option<u64>)> {
    match v {
        Value::Int(v) => Some((*v, None)),
        Value::List(l) => match l.as_slice() {
            [Value::Int(v)] | [Value::Int(v), Value::Null] => Some((*v, None)),
            [Value::Int(v), Value::Int(e)] if *e >= 0 => Some((*v, Some(*e as u64))),
            _ => None,
        },
        _ => None,
    }
}

/// The answer a command's caller gets.
fn reply_of(f: &str, result: Result<Value, CmdError>) -> Reply {
    match result {
        // `incr` answers nothing: the increments check counts its oks.
        Ok(_) if f == "incr" => Reply::Ok(Value::Null),
        Ok(v) => Reply::Ok(v),
        Err(e) => Reply::Fail(Value::Str(e.to_string())),
    }
}
