//! The event loop: one queue ordered by (time, sequence), one run.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;

use serde::Serialize;

use crate::clock::Clock;
use crate::fault::{Fault, ScheduledFault};
use crate::network::{Fate, Link, Network, PartitionMode};
use crate::node::{Ctx, Effects, Node, Reply, RequestId};
use crate::queue::Queue;
use crate::rng::Rng;
use crate::trace::Trace;
use crate::workload::{Clients, HistoryEvent, Rate, WorkloadSpec};
use crate::{NodeId, Time};

/// Everything the engine needs to run one scenario, validated.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Root seed.
    pub seed: u64,
    /// Number of nodes.
    pub nodes: usize,
    /// Behaviour of every link unless overridden.
    pub link: Link,
    /// Per-link overrides `(from, to, link)`.
    pub links: Vec<(NodeId, NodeId, Link)>,
    /// Messages that meet a partition are dropped or held.
    pub partition_mode: PartitionMode,
    /// Initial clock of each node (missing ones are exact).
    pub clocks: Vec<Clock>,
    /// Nodes that are down when the run starts (they join with a restart fault).
    pub down_at_start: Vec<NodeId>,
    /// Clients.
    pub workload: WorkloadSpec,
    /// Fault schedule.
    pub faults: Vec<ScheduledFault>,
    /// Heal everything once the workload and the schedule are done.
    pub final_heal: bool,
    /// After the final heal, run this long for replicas to settle.
    pub quiet_us: Time,
    /// Hard bound on simulated time.
    pub max_time_us: Time,
    /// Hard bound on processed events.
    pub max_events: u64,
    /// Record the client history (checks and `--history` need it).
    pub record_history: bool,
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// Nothing was left to happen.
    Quiescent,
    /// The quiet period after the final heal ended.
    QuietPeriodEnded,
    /// Simulated time reached the bound.
    TimeLimit,
    /// The event count reached the bound.
    EventLimit,
}

impl StopReason {
    /// True when the run reached its planned end, so end-state checks apply.
    pub fn completed(self) -> bool {
        matches!(self, StopReason::Quiescent | StopReason::QuietPeriodEnded)
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Quiescent => "quiescent",
            StopReason::QuietPeriodEnded => "quiet-period-ended",
            StopReason::TimeLimit => "time-limit",
            StopReason::EventLimit => "event-limit",
        }
    }
}

/// Counters of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Events processed.
    pub events: u64,
    /// Node-to-node messages sent (self-sends included).
    pub sent: u64,
    /// Messages sent by each node.
    pub sent_by_node: Vec<u64>,
    /// Node-to-node messages handed to a node.
    pub delivered: u64,
    /// Lost by the network's drop chance.
    pub lost: u64,
    /// Extra copies made by the duplicate chance.
    pub duplicated: u64,
    /// Dropped because of a partition, a down node or a broken connection.
    pub dropped: u64,
    /// Connection errors reported to senders.
    pub link_errors: u64,
    /// Timers fired.
    pub timers: u64,
    /// Client operations invoked.
    pub ops: u64,
}

enum Ev<M, T> {
    Deliver {
        mid: u64,
        from: NodeId,
        to: NodeId,
        inc: u32,
        msg: M,
    },
    LinkError {
        from: NodeId,
        to: NodeId,
        inc: u32,
        msg: M,
    },
    Timer {
        node: NodeId,
        gen: u64,
        tag: T,
    },
    Arrive {
        req: RequestId,
    },
    Answer {
        req: RequestId,
        reply: Reply,
    },
    Timeout {
        req: RequestId,
    },
    Script {
        idx: usize,
    },
    Tick,
    Wake {
        client: usize,
    },
    Fault {
        idx: usize,
    },
    LossEnd,
    FinalHeal,
}

/// The event type of a run over nodes `N`.
type EvOf<N> = Ev<<N as Node>::Msg, <N as Node>::Timer>;

struct Held<M> {
    mid: u64,
    from: NodeId,
    to: NodeId,
    inc: u32,
    msg: M,
}

/// One simulation run over nodes of type `N`.
pub struct Sim<N: Node> {
    cfg: SimConfig,
    now: Time,
    queue: Queue<Ev<N::Msg, N::Timer>>,
    /// `(time, seq, request)` of client timeouts, in the order they are due.
    timeouts: VecDeque<(Time, u64, RequestId)>,
    nodes: Vec<N>,
    up: Vec<bool>,
    incarnation: Vec<u32>,
    /// The receiver's incarnation when each ordered connection was made.
    conn: Vec<u32>,
    clocks: Vec<Clock>,
    node_rngs: Vec<Rng>,
    timers: Vec<BTreeMap<N::Timer, u64>>,
    timer_gen: u64,
    net: Network,
    net_rng: Rng,
    held: Vec<Held<N::Msg>>,
    clients: Clients,
    faults_left: usize,
    final_heal_at: Option<Time>,
    /// No event after this time runs: the time bound, or the end of the
    /// quiet period once the final heal happened.
    deadline: Time,
    trace: Trace,
    stats: Stats,
    stop: Option<StopReason>,
}

impl<N: Node> Sim<N> {
    /// A run of `nodes` (one per id) under `cfg`, tracing to `trace_out` if given.
    pub fn new(cfg: SimConfig, nodes: Vec<N>, trace_out: Option<Box<dyn Write>>) -> Sim<N> {
        assert_eq!(nodes.len(), cfg.nodes, "one node per id");
        let n = cfg.nodes;
        let mut net = Network::new(n, cfg.link.clone(), cfg.partition_mode);
        for (from, to, link) in &cfg.links {
            net.set_link(*from, *to, link.clone());
        }
        let mut clocks = cfg.clocks.clone();
        clocks.resize(n, Clock::default());
        let mut clients = Clients::new(cfg.workload.clone(), n, cfg.seed);
        clients.set_recording(cfg.record_history);
        Sim {
            now: 0,
            queue: Queue::default(),
            timeouts: VecDeque::new(),
            nodes,
            up: vec![true; n],
            incarnation: vec![0; n],
            conn: vec![0; n * n],
            clocks,
            node_rngs: (0..n)
                .map(|i| Rng::derive(cfg.seed, &format!("node/{i}")))
                .collect(),
            timers: (0..n).map(|_| BTreeMap::new()).collect(),
            timer_gen: 0,
            net,
            net_rng: Rng::derive(cfg.seed, "network"),
            held: Vec::new(),
            clients,
            faults_left: cfg.faults.len(),
            final_heal_at: None,
            deadline: cfg.max_time_us,
            trace: Trace::new(trace_out),
            stats: Stats {
                sent_by_node: vec![0; n],
                ..Stats::default()
            },
            stop: None,
            cfg,
        }
    }

    #[inline]
    fn push(&mut self, time: Time, ev: Ev<N::Msg, N::Timer>) {
        self.queue.push(time, ev);
    }

    /// Runs to the end and says why it stopped.
    pub fn run(&mut self) -> StopReason {
        if let Some(r) = self.stop {
            return r;
        }
        self.trace
            .rec(0, "start")
            .u("seed", self.cfg.seed)
            .u("nodes", self.cfg.nodes as u64)
            .end();
        self.schedule_start();
        for &id in &self.cfg.down_at_start {
            self.up[id] = false;
        }
        for id in 0..self.cfg.nodes {
            if self.up[id] {
                self.call(id, |n, c| n.on_start(c));
            }
        }
        self.maybe_final_heal();
        let reason = loop {
            let Some((time, ev)) = self.next_event() else {
                break StopReason::Quiescent;
            };
            // One test on the hot path; which bound it was is sorted out once.
            if time > self.deadline || self.stats.events >= self.cfg.max_events {
                break self.stop_at(time);
            }
            self.now = time;
            self.stats.events += 1;
            // Only client and fault events can finish the workload or the
            // schedule; messages and timers cannot, so they skip the test.
            let may_finish = !matches!(
                ev,
                Ev::Deliver { .. } | Ev::Timer { .. } | Ev::LinkError { .. }
            );
            self.dispatch(ev);
            if may_finish {
                self.maybe_final_heal();
            }
        };
        self.trace
            .rec(self.now, "stop")
            .s("reason", reason.name())
            .end();
        self.stop = Some(reason);
        reason
    }

    /// The next event by `(time, seq)`: from the queue, or the timeout of
    /// the oldest request still in flight. The timeout of a request that
    /// already completed is no event: it neither moves time nor keeps a
    /// finished run alive, so it is dropped here without ever being queued.
    #[inline(always)]
    fn next_event(&mut self) -> Option<(Time, EvOf<N>)> {
        while let Some(&(time, seq, req)) = self.timeouts.front() {
            if self.clients.in_flight(req).is_none() {
                self.timeouts.pop_front();
                continue;
            }
            if self.queue.first_is_before(time, seq) {
                break;
            }
            self.timeouts.pop_front();
            return Some((time, Ev::Timeout { req }));
        }
        self.queue.pop()
    }

    /// Why the run stops when the next event, at `time`, is past a bound.
    fn stop_at(&mut self, time: Time) -> StopReason {
        if let Some(h) = self.final_heal_at {
            let end = h.saturating_add(self.cfg.quiet_us);
            if time > end {
                self.now = end;
                return StopReason::QuietPeriodEnded;
            }
        }
        if time > self.cfg.max_time_us {
            self.now = self.cfg.max_time_us;
            return StopReason::TimeLimit;
        }
        StopReason::EventLimit
    }

    fn schedule_start(&mut self) {
        for idx in 0..self.cfg.faults.len() {
            let at = self.cfg.faults[idx].at;
            self.push(at, Ev::Fault { idx });
        }
        for idx in 0..self.cfg.workload.script.len() {
            let at = self.cfg.workload.script[idx].at;
            self.push(at, Ev::Script { idx });
        }
        let start = self.cfg.workload.start_us;
        if self.clients.may_generate(start) {
            match self.cfg.workload.rate {
                Rate::Open { .. } => self.push(start, Ev::Tick),
                Rate::Closed { .. } => {
                    for client in 0..self.cfg.workload.clients {
                        self.push(start, Ev::Wake { client });
                    }
                }
            }
        }
    }

    /// Once the clients and the fault schedule are done, heal everything and
    /// start the quiet period.
    #[inline]
    fn maybe_final_heal(&mut self) {
        if self.final_heal_at.is_some()
            || !self.cfg.final_heal
            || self.faults_left > 0
            || !self.clients.done(self.now)
        {
            return;
        }
        self.final_heal_at = Some(self.now);
        self.deadline = self
            .deadline
            .min(self.now.saturating_add(self.cfg.quiet_us));
        self.push(self.now, Ev::FinalHeal);
    }

    fn dispatch(&mut self, ev: Ev<N::Msg, N::Timer>) {
        match ev {
            Ev::Deliver {
                mid,
                from,
                to,
                inc,
                msg,
            } => self.deliver(mid, from, to, inc, msg),
            Ev::LinkError { from, to, inc, msg } => {
                if self.up[from] && self.incarnation[from] == inc {
                    self.trace
                        .rec(self.now, "link_error")
                        .u("from", from as u64)
                        .u("to", to as u64)
                        .end();
                    self.stats.link_errors += 1;
                    self.call(from, |n, c| n.on_link_error(c, to, msg));
                }
            }
            Ev::Timer { node, gen, tag } => {
                if self.timers[node].get(&tag) == Some(&gen) {
                    self.timers[node].remove(&tag);
                    self.stats.timers += 1;
                    self.trace
                        .rec(self.now, "timer")
                        .u("node", node as u64)
                        .v("tag", &tag)
                        .end();
                    self.call(node, |n, c| n.on_timer(c, tag));
                }
            }
            Ev::Arrive { req } => self.arrive(req),
            Ev::Answer { req, reply } => self.answer(req, Some(&reply)),
            Ev::Timeout { req } => self.answer(req, None),
            Ev::Script { idx } => {
                let c = self.clients.queue_script(idx);
                self.try_invoke(c);
            }
            Ev::Tick => {
                if self.clients.may_generate(self.now) {
                    let c = self.clients.next_open_client();
                    let invoked = self.clients.generate_for(c, self.now);
                    self.invoked(c, invoked);
                    if let Rate::Open { interval_us } = self.cfg.workload.rate {
                        if self.clients.may_generate(self.now + interval_us) {
                            self.push(self.now + interval_us, Ev::Tick);
                        }
                    }
                }
            }
            Ev::Wake { client } => {
                if self.clients.may_generate(self.now) {
                    let invoked = self.clients.generate_for(client, self.now);
                    self.invoked(client, invoked);
                }
            }
            Ev::Fault { idx } => {
                self.faults_left -= 1;
                let fault = self.cfg.faults[idx].fault.clone();
                self.apply_fault(&fault);
            }
            Ev::LossEnd => {
                self.trace.rec(self.now, "loss_end").end();
                self.net.restore_loss();
            }
            Ev::FinalHeal => {
                self.trace.rec(self.now, "final_heal").end();
                self.net.restore_loss();
                self.heal();
            }
        }
    }

    fn deliver(&mut self, mid: u64, from: NodeId, to: NodeId, inc: u32, msg: N::Msg) {
        let ordered = self.net.ordered(from, to);
        let reason = if !self.up[to] {
            Some("down")
        } else if ordered && inc != self.incarnation[to] {
            Some("connection-reset")
        } else if self.net.is_cut(from, to) {
            if self.net.partition_mode == PartitionMode::Hold {
                self.trace.rec(self.now, "hold").u("mid", mid).end();
                self.held.push(Held {
                    mid,
                    from,
                    to,
                    inc,
                    msg,
                });
                return;
            }
            Some("partition")
        } else {
            None
        };
        if let Some(reason) = reason {
            self.stats.dropped += 1;
            self.trace
                .rec(self.now, "drop")
                .u("mid", mid)
                .s("reason", reason)
                .end();
            if ordered {
                let inc = self.incarnation[from];
                self.push(self.now, Ev::LinkError { from, to, inc, msg });
            }
            return;
        }
        self.stats.delivered += 1;
        self.trace
            .rec(self.now, "deliver")
            .u("mid", mid)
            .u("from", from as u64)
            .u("to", to as u64)
            .end();
        self.call(to, |n, c| n.on_message(c, from, msg));
    }

    fn arrive(&mut self, req: RequestId) {
        let Some(f) = self.clients.in_flight(req) else {
            return;
        };
        let node = f.node;
        let request = f.request.clone();
        if !self.up[node] {
            self.trace
                .rec(self.now, "request_lost")
                .u("req", req)
                .u("node", node as u64)
                .end();
            return;
        }
        self.trace
            .rec(self.now, "request")
            .u("req", req)
            .u("node", node as u64)
            .end();
        self.call(node, |n, c| n.on_request(c, request));
    }

    fn answer(&mut self, req: RequestId, reply: Option<&Reply>) {
        let Some(done) = self.clients.complete(req, reply, self.now) else {
            return;
        };
        let client = done.client;
        self.trace
            .rec(self.now, "complete")
            .u("req", req)
            .u("process", done.process)
            .f("type", &done.kind)
            .f("value", done.value)
            .end();
        if let Rate::Closed { think_us } = self.cfg.workload.rate {
            if self.clients.may_generate(self.now + think_us) && client < self.cfg.workload.clients
            {
                self.push(self.now + think_us, Ev::Wake { client });
            }
        }
        self.try_invoke(client);
    }

    fn try_invoke(&mut self, client: usize) {
        let invoked = self.clients.try_invoke(client, self.now);
        self.invoked(client, invoked);
    }

    /// Traces an invocation by `client` (if there was one) and schedules
    /// its arrival at the node and its timeout.
    fn invoked(&mut self, client: usize, invoked: Option<(RequestId, NodeId, Time)>) {
        let Some((req, node, lat)) = invoked else {
            return;
        };
        self.stats.ops += 1;
        let r = &self.clients.in_flight(req).expect("just invoked").request;
        self.trace
            .rec(self.now, "invoke")
            .u("req", req)
            .u("process", self.clients.process_of(client))
            .u("node", node as u64)
            .s("f", r.f)
            .f("key", &r.key)
            .f("value", &r.value)
            .end();
        self.push(self.now + lat, Ev::Arrive { req });
        // Every timeout is "now + the same constant", so they are due in the
        // order they are set: a FIFO beside the queue, merged by (time, seq).
        let seq = self.queue.reserve_seq();
        let at = self.now + self.cfg.workload.timeout_us;
        self.timeouts.push_back((at, seq, req));
    }

    /// Runs one handler of node `id`; the engine applies each effect as the
    /// handler asks for it (see [`Effects`]).
    fn call(&mut self, id: NodeId, f: impl FnOnce(&mut N, &mut Ctx<'_, N>)) {
        let local = self.clocks[id].local(self.now);
        // The handler borrows its node and its random stream while the engine
        // is the effect sink: both vectors step out of `self` for the call
        // (moving a Vec moves three words). Nothing reads them meanwhile.
        let mut nodes = std::mem::take(&mut self.nodes);
        let mut rngs = std::mem::take(&mut self.node_rngs);
        {
            let mut ctx = Ctx::new(id, self.cfg.nodes, local, &mut rngs[id], self);
            f(&mut nodes[id], &mut ctx);
        }
        // What is put back is the empty vectors `take` left: they never
        // allocated, so forgetting them frees nothing (and skips two calls
        // to Vec's destructor per handler).
        std::mem::forget(std::mem::replace(&mut self.nodes, nodes));
        std::mem::forget(std::mem::replace(&mut self.node_rngs, rngs));
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: N::Msg) {
        self.stats.sent += 1;
        self.stats.sent_by_node[from] += 1;
        let mid = self.stats.sent;
        let n = self.cfg.nodes;
        if self.net.ordered(from, to) {
            // A connection breaks once when armed to, and once after each
            // restart of the receiver (the old connection is gone).
            let broke =
                self.net.take_error(from, to) || self.conn[from * n + to] != self.incarnation[to];
            if broke {
                self.conn[from * n + to] = self.incarnation[to];
                self.trace
                    .rec(self.now, "send")
                    .u("mid", mid)
                    .u("from", from as u64)
                    .u("to", to as u64)
                    .v("msg", &msg)
                    .s("fate", "connection-error")
                    .end();
                let inc = self.incarnation[from];
                self.push(self.now, Ev::LinkError { from, to, inc, msg });
                return;
            }
        }
        let fate = self.net.route(self.now, from, to, &mut self.net_rng);
        let rec = self
            .trace
            .rec(self.now, "send")
            .u("mid", mid)
            .u("from", from as u64)
            .u("to", to as u64)
            .v("msg", &msg);
        let inc = self.incarnation[to];
        let deliver = |msg| Ev::Deliver {
            mid,
            from,
            to,
            inc,
            msg,
        };
        match fate {
            Fate::Lost => {
                rec.s("fate", "lost").end();
                self.stats.lost += 1;
            }
            Fate::Deliver(at) => {
                rec.u("at", at).end();
                self.push(at, deliver(msg));
            }
            Fate::Twice(at, again) => {
                rec.u("at", at).u("again", again).end();
                self.stats.duplicated += 1;
                self.push(at, deliver(msg.clone()));
                self.push(again, deliver(msg));
            }
        }
    }

    fn apply_fault(&mut self, fault: &Fault) {
        self.trace.rec(self.now, "fault").v("fault", fault).end();
        match fault {
            Fault::Partition { groups } => self.net.partition(groups),
            Fault::PartitionOneWay { from, to } => self.net.cut_one_way(from, to),
            Fault::Heal => self.heal(),
            Fault::Crash { node } => {
                let id = *node;
                if self.up[id] {
                    self.up[id] = false;
                    self.incarnation[id] += 1;
                    self.timers[id].clear();
                    self.nodes[id].on_crash();
                }
            }
            Fault::Restart { node } => {
                let id = *node;
                if !self.up[id] {
                    self.up[id] = true;
                    self.call(id, |n, c| n.on_start(c));
                }
            }
            Fault::ClockSkew { node, offset_us } => {
                self.clocks[*node].set_skew(self.now, *offset_us)
            }
            Fault::ClockDrift { node, drift_ppm } => {
                self.clocks[*node].set_drift(self.now, *drift_ppm)
            }
            Fault::ClockJump { node, delta_us } => self.clocks[*node].jump(*delta_us),
            Fault::LinkError { from, to } => self.net.inject_error(*from, *to),
            Fault::Loss {
                drop,
                duplicate,
                for_us,
            } => {
                self.net.set_loss(*drop, *duplicate);
                self.push(self.now + for_us, Ev::LossEnd);
            }
        }
    }

    fn heal(&mut self) {
        self.net.heal();
        for h in std::mem::take(&mut self.held) {
            let at = self.now
                + self
                    .net
                    .link(h.from, h.to)
                    .latency
                    .sample(&mut self.net_rng);
            self.trace
                .rec(self.now, "release")
                .u("mid", h.mid)
                .u("at", at)
                .end();
            self.push(
                at,
                Ev::Deliver {
                    mid: h.mid,
                    from: h.from,
                    to: h.to,
                    inc: h.inc,
                    msg: h.msg,
                },
            );
        }
    }

    /// The nodes, by id (crashed ones hold what survived the crash).
    pub fn nodes(&self) -> &[N] {
        &self.nodes
    }

    /// True when node `id` is running.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.up[id]
    }

    /// The client history, in order.
    pub fn history(&self) -> &[HistoryEvent] {
        &self.clients.history
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The trace fingerprint so far.
    pub fn fingerprint(&self) -> u64 {
        self.trace.fingerprint()
    }

    /// Simulated time now (at the end: when the run stopped).
    pub fn now(&self) -> Time {
        self.now
    }

    /// Why the run stopped (`None` before it ran).
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.stop
    }

    /// When the final heal happened, if it did.
    pub fn final_heal_at(&self) -> Option<Time> {
        self.final_heal_at
    }

    /// The configuration this run uses.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Flushes the trace writer, reporting the first write error.
    pub fn finish_trace(&mut self) -> std::io::Result<()> {
        self.trace.finish()
    }
}

/// The engine as the sink of handlers' effects: each is applied (traced,
/// routed, scheduled) the moment the handler asks for it.
impl<N: Node> Effects<N::Msg, N::Timer> for Sim<N> {
    #[inline]
    fn send(&mut self, node: NodeId, to: NodeId, msg: N::Msg) {
        Sim::send(self, node, to, msg);
    }

    fn set_timer(&mut self, node: NodeId, tag: N::Timer, after: Time) {
        self.timer_gen += 1;
        let gen = self.timer_gen;
        let at = self.now + self.clocks[node].global_span(after);
        self.timers[node].insert(tag.clone(), gen);
        self.push(at, Ev::Timer { node, gen, tag });
    }

    fn cancel_timer(&mut self, node: NodeId, tag: N::Timer) {
        self.timers[node].remove(&tag);
    }

    fn reply(&mut self, _node: NodeId, req: RequestId, reply: Reply) {
        if self.clients.in_flight(req).is_some() {
            self.trace
                .rec(self.now, "reply")
                .u("req", req)
                .f("reply", &reply)
                .end();
            let lat = self.clients.reply_latency();
            self.push(self.now + lat, Ev::Answer { req, reply });
        }
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
