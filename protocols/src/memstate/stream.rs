//! The stream service (the seed's EventStore stream "memstate"): a dense
//! log of records numbered from 0, appended a batch at a time, read a page
//! at a time at startup, and pushed to subscribers from a checkpoint on.
//!
//! Its knobs inject the faults the seed's backend can produce, each aimed
//! at one subscriber or one append: a delay on every record to one
//! subscriber, a subscription dropped at a record (the backend's
//! "subscriber too slow"; memstate registers no handler for it), a record
//! sent twice, sent after the next one, or skipped, and an append whose
//! acknowledgement is lost. Each record fault is spent once: a
//! resubscription from before it gets the record as it is.
//!
//! Like an EventStore catch-up subscription over TCP, a subscription
//! delivers records in order or is dropped: a record that the network
//! fails to deliver (a link error: a cut, a broken connection) ends the
//! subscription, and nothing more is sent until the engine subscribes
//! again (the faithful engine never does). Each record carries its
//! position in the subscription (`seq`), so that the engine's side of the
//! connection can tell a record the network lost in silence (a loss
//! burst, a `drop` rule, a `receiver`-mode cut, or a later record that
//! arrives after a heal although an earlier one met the cut): TCP never
//! delivers past a missing segment, so that too ends the subscription. Appends are idempotent by event
//! id (the command id), as EventStore's are for a retried write: a command
//! already in the log is not appended again.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sim::{Ctx, Layout, NodeId, RequestId, MS};

use super::{Entry, MemState, Msg, Timer};

/// One subscriber's faults (`services[].params.subscribers[]`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberFaults {
    /// The subscriber (a replica id).
    pub node: NodeId,
    /// Every record to it leaves this much later.
    #[serde(default)]
    #[serde(deserialize_with = "sim::ms::de")]
    pub delay_ms: u64,
    /// The subscription is dropped when this record would be sent (the
    /// subscriber gets `dropped`, and nothing more until it subscribes again).
    #[serde(default)]
    pub drop_at: Option<u64>,
    /// Records sent twice.
    #[serde(default)]
    pub duplicate: Vec<u64>,
    /// Records sent after the record that follows them.
    #[serde(default)]
    pub reorder: Vec<u64>,
    /// Records never sent (a gap).
    #[serde(default)]
    pub gap: Vec<u64>,
}

/// An append whose acknowledgement is lost.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AckLoss {
    /// The appending replica.
    pub node: NodeId,
    /// Its n-th append (from 1).
    pub append: u64,
    /// The acknowledgements of this many appends from the n-th on are lost
    /// (a retry is an append too).
    #[serde(default = "one")]
    pub count: u64,
}

fn one() -> u64 {
    1
}

/// The stream's knobs (`services[].params`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamKnobs {
    /// Records per page of a startup read (the seed's read batch: 4096).
    pub page: u64,
    /// Faults aimed at subscribers.
    pub subscribers: Vec<SubscriberFaults>,
    /// Appends whose acknowledgement is lost.
    pub ack_loss: Vec<AckLoss>,
}

impl Default for StreamKnobs {
    fn default() -> Self {
        StreamKnobs {
            page: 4096,
            subscribers: Vec::new(),
            ack_loss: Vec::new(),
        }
    }
}

impl StreamKnobs {
    /// Refuses knobs that name processes that are not replicas.
    pub fn validate(&self, layout: &Layout) -> Result<(), String> {
        if self.page == 0 {
            return Err("stream: page must be at least 1".into());
        }
        let n = layout.replicas;
        for (i, s) in self.subscribers.iter().enumerate() {
            if s.node >= n {
                return Err(format!(
                    "stream: subscribers[{i}].node is {}, but replicas are 0..{n}",
                    s.node
                ));
            }
        }
        for (i, a) in self.ack_loss.iter().enumerate() {
            if a.node >= n || a.append == 0 || a.count == 0 {
                return Err(format!(
                    "stream: ack_loss[{i}] needs node in 0..{n}, append from 1 and count from 1"
                ));
            }
        }
        Ok(())
    }
}

/// What a record fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fate {
    Duplicate,
    Reorder,
    Gap,
}

/// The stream service.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    knobs: StreamKnobs,
    /// The log; a record's number is its index.
    log: Vec<Entry>,
    /// Subscriber → the next record to send it.
    subs: BTreeMap<NodeId, u64>,
    /// Appends received, per replica (for `ack_loss`).
    appends: BTreeMap<NodeId, u64>,
    /// Record faults and drops already spent.
    spent: BTreeSet<(NodeId, u64, Fate)>,
    dropped: BTreeSet<NodeId>,
    /// Records held back for `reorder`: sent after the next one.
    held: BTreeMap<NodeId, u64>,
    /// Delayed records on their way (sending one again while it waits
    /// would push its timer back).
    delayed: BTreeSet<(NodeId, u64)>,
    /// Command ids in the log (idempotent appends).
    ids: BTreeSet<RequestId>,
    /// Subscriber → the position in its subscription of the next record
    /// sent (`Msg::Record::seq`).
    seqs: BTreeMap<NodeId, u64>,
}

impl Stream {
    /// The service, configured by `knobs`.
    pub fn new(knobs: StreamKnobs) -> Self {
        Stream {
            knobs,
            ..Stream::default()
        }
    }

    /// The log (for checks and tests).
    pub fn log(&self) -> &[Entry] {
        &self.log
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, MemState>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Append { batch, entries } => {
                let n = self.appends.entry(from).or_insert(0);
                *n += 1;
                let lost = self
                    .knobs
                    .ack_loss
                    .iter()
                    .any(|a| a.node == from && (a.append..a.append + a.count).contains(n));
                for e in entries {
                    if e.req.is_none_or(|r| self.ids.insert(r)) {
                        self.log.push(e);
                    }
                }
                if !lost {
                    let next = self.log.len() as u64;
                    ctx.send(from, Msg::Appended { batch, next });
                }
                let subs: Vec<NodeId> = self.subs.keys().copied().collect();
                for s in subs {
                    self.pump(ctx, s);
                }
            }
            Msg::Subscribe { from: at } => {
                self.held.remove(&from);
                self.subs.insert(from, at);
                self.seqs.insert(from, 0);
                self.pump(ctx, from);
            }
            Msg::Read { from: at } => {
                let start = (at as usize).min(self.log.len());
                let end = (start + self.knobs.page as usize).min(self.log.len());
                ctx.send(
                    from,
                    Msg::Page {
                        from: start as u64,
                        records: self.log[start..end].to_vec(),
                        more: end < self.log.len(),
                    },
                );
            }
            Msg::Head { tag } => {
                let next = self.log.len() as u64;
                ctx.send(from, Msg::HeadIs { tag, next });
            }
            _ => {}
        }
    }

    /// Sends subscriber `to` every record it has not had yet.
    fn pump(&mut self, ctx: &mut Ctx<'_, MemState>, to: NodeId) {
        while let Some(&next) = self.subs.get(&to) {
            if next >= self.log.len() as u64 {
                return;
            }
            let faults = self.knobs.subscribers.iter().find(|s| s.node == to);
            if let Some(f) = faults {
                if f.drop_at.is_some_and(|d| next >= d) && self.dropped.insert(to) {
                    self.subs.remove(&to);
                    ctx.send(to, Msg::Dropped);
                    return;
                }
            }
            self.subs.insert(to, next + 1);
            self.deliver(ctx, to, next);
        }
    }

    fn fate(&mut self, to: NodeId, number: u64) -> Option<Fate> {
        let f = self.knobs.subscribers.iter().find(|s| s.node == to)?;
        let fate = if f.gap.contains(&number) {
            Fate::Gap
        } else if f.reorder.contains(&number) {
            Fate::Reorder
        } else if f.duplicate.contains(&number) {
            Fate::Duplicate
        } else {
            return None;
        };
        self.spent.insert((to, number, fate)).then_some(fate)
    }

    fn deliver(&mut self, ctx: &mut Ctx<'_, MemState>, to: NodeId, number: u64) {
        match self.fate(to, number) {
            Some(Fate::Gap) => return,
            Some(Fate::Reorder) => {
                self.held.insert(to, number);
                return;
            }
            Some(Fate::Duplicate) => self.send(ctx, to, number),
            None => {}
        }
        self.send(ctx, to, number);
        if let Some(h) = self.held.get(&to).copied().filter(|h| *h + 1 == number) {
            self.held.remove(&to);
            self.send(ctx, to, h);
        }
    }

    fn send(&mut self, ctx: &mut Ctx<'_, MemState>, to: NodeId, number: u64) {
        let delay = self
            .knobs
            .subscribers
            .iter()
            .find(|s| s.node == to)
            .map_or(0, |s| s.delay_ms);
        if delay == 0 {
            self.send_now(ctx, to, number);
        } else if self.delayed.insert((to, number)) {
            // Each delayed record has its own timer, so they leave in order.
            ctx.set_timer(Timer::Deliver { to, number }, delay * MS);
        }
    }

    /// A delayed record's timer fired.
    pub(super) fn on_deliver(&mut self, ctx: &mut Ctx<'_, MemState>, to: NodeId, number: u64) {
        if self.delayed.remove(&(to, number)) {
            self.send_now(ctx, to, number);
        }
    }

    /// A record did not reach its subscriber: the subscription is dropped
    /// (in order or not at all). Other messages are answers the engine
    /// asks for again.
    pub(super) fn on_link_error(&mut self, _: &mut Ctx<'_, MemState>, to: NodeId, msg: Msg) {
        if let Msg::Record { .. } = msg {
            self.subs.remove(&to);
            self.held.remove(&to);
            self.seqs.remove(&to);
            self.delayed.retain(|(n, _)| *n != to);
        }
    }

    fn send_now(&mut self, ctx: &mut Ctx<'_, MemState>, to: NodeId, number: u64) {
        if let Some(entry) = self.log.get(number as usize) {
            let seq = self.seqs.entry(to).or_insert(0);
            let msg = Msg::Record {
                number,
                seq: *seq,
                entry: entry.clone(),
            };
            *seq += 1;
            ctx.send(to, msg);
        }
    }

    /// A crash loses the subscriptions; the log is durable.
    pub(super) fn on_crash(&mut self) {
        self.subs.clear();
        self.held.clear();
        self.seqs.clear();
        self.delayed.clear();
    }
}
