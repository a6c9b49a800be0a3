//! The event loop: one queue ordered by (time, sequence), one run.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;

use serde::Serialize;

use crate::clock::Clock;
use crate::fault::{Fault, ScheduledFault};
use crate::layout::Layout;
use crate::network::{Fate, Link, Network, PartitionMode};
use crate::node::{Ctx, Digest, Effects, Node, Reply, RequestId};
use crate::queue::Queue;
use crate::rng::{Prob, Rng};
use crate::rule::{kind_of, RuleAction, Rules};
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
    /// With [`PartitionMode::Tcp`]: how long an ordered link may stall on
    /// a partition before its sender sees a connection error (default 20 s,
    /// the seed projects' socket timeout).
    pub tcp_timeout_us: Time,
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
    /// Services that run beside the replicas, by name; their ids follow
    /// the replicas' (see [`Layout`]).
    pub services: Vec<String>,
    /// The protocol brings its own client: each workload client is a
    /// process (ids after the services) that receives the workload's
    /// operations and answers them over the simulated network. Otherwise
    /// the generic client hands operations straight to the replicas.
    pub protocol_clients: bool,
    /// Follow each replica's applied position and digest during the run
    /// (the `replica-agreement` and `monotonic-reads` checks need it).
    pub track_positions: bool,
    /// Note the kind of every message sent (a probe run for the fuzzer's
    /// message rules).
    pub collect_kinds: bool,
}

impl Default for SimConfig {
    /// Three replicas on ordered links of 1–10 ms, the generic client with
    /// no operations, no faults, a final heal and 5 s of quiet, seed 0: the
    /// scenario file's defaults.
    fn default() -> SimConfig {
        SimConfig {
            seed: 0,
            nodes: 3,
            link: Link::default(),
            links: Vec::new(),
            partition_mode: PartitionMode::Drop,
            tcp_timeout_us: 20_000 * crate::MS,
            clocks: Vec::new(),
            down_at_start: Vec::new(),
            workload: WorkloadSpec::default(),
            faults: Vec::new(),
            final_heal: true,
            quiet_us: 5_000 * crate::MS,
            max_time_us: 3_600_000 * crate::MS,
            max_events: 50_000_000,
            record_history: true,
            services: Vec::new(),
            protocol_clients: false,
            track_positions: false,
            collect_kinds: false,
        }
    }
}

impl SimConfig {
    /// Who takes part in a run of this configuration.
    pub fn layout(&self) -> Layout {
        Layout {
            replicas: self.nodes,
            services: self.services.clone(),
            clients: if self.protocol_clients {
                self.workload.client_count()
            } else {
                0
            },
        }
    }
}

/// A process that stopped itself ([`Ctx::halt`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Halt {
    /// The process.
    pub node: NodeId,
    /// When (global time).
    pub at: Time,
    /// Why, in the protocol's words.
    pub reason: String,
}

/// One replica's state at a position, as the agreement tracker saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PositionState {
    /// The replica.
    pub node: NodeId,
    /// When it reached the position (global time).
    pub at: Time,
    /// Its digest there.
    pub digest: Digest,
}

/// The first position at which two replicas held different states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// The applied position.
    pub position: u64,
    /// The first replica seen there.
    pub first: PositionState,
    /// A replica that differed from it.
    pub second: PositionState,
}

/// What a process is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Running.
    Up,
    /// Crashed, waiting for a restart.
    Down,
    /// Frozen: what arrives waits for the resume.
    Paused,
    /// Stopped itself for good (a restart fault can still start it again).
    Halted,
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
    /// The caller cut the run short between two slices ([`Sim::cut`]).
    Cut,
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
            StopReason::Cut => "cut",
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
    /// Messages a rule dropped (also counted in `dropped`).
    pub rule_dropped: u64,
    /// Messages from or to a client process (protocol clients only).
    pub client_messages: u64,
    /// Events that waited for a paused process.
    pub parked: u64,
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
    RuleEnd,
    FinalHeal,
    /// A link that stalled on a partition reaches its TCP timeout (if the
    /// stall `gen` is still the link's).
    TcpTimeout {
        from: NodeId,
        to: NodeId,
        gen: u64,
    },
}

impl<M, T> Ev<M, T> {
    /// The delivery of message `mid` to `to` (incarnation `inc`).
    #[inline(always)]
    fn deliver(mid: u64, from: NodeId, to: NodeId, inc: u32, msg: M) -> Self {
        Ev::Deliver {
            mid,
            from,
            to,
            inc,
            msg,
        }
    }
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

/// The messages a heal released on one ordered link, until the last of
/// them comes due. The link's order is kept here, not by the event queue:
/// a message that comes due on the link meanwhile (one in flight at the
/// heal) joins `waiting`, and the waiting messages are delivered right
/// after the last released one, in the order they came due, in the same
/// step. Queued again instead, at the line's time, a waiting message would
/// go after anything already queued for that time, such as a message sent
/// after the heal on the same link (the order of the queue's ties is the
/// order of pushes).
struct ReleaseLine<M> {
    /// Released messages not yet due.
    pending: usize,
    /// When the last of them is due.
    last: Time,
    /// What came due on the link before them, oldest first.
    waiting: Vec<Held<M>>,
}

/// One simulation run over nodes of type `N`.
pub struct Sim<N: Node> {
    cfg: SimConfig,
    layout: Layout,
    /// `layout.client_base()`: every send compares against it, so it is
    /// kept at hand rather than summed from the layout each time.
    client_base: NodeId,
    now: Time,
    queue: Queue<Ev<N::Msg, N::Timer>>,
    /// `(time, seq, request)` of client timeouts, in the order they are due.
    timeouts: VecDeque<(Time, u64, RequestId)>,
    nodes: Vec<N>,
    status: Vec<Status>,
    /// Events for each paused process, in the order they came due.
    parked: Vec<Vec<EvOf<N>>>,
    halts: Vec<Halt>,
    rules: Rules,
    loss_burst: bool,
    /// Since when nothing has disturbed the network: no cut, no pause, no
    /// loss burst, no message rule in force (`None`: disturbed now).
    calm_since: Option<Time>,
    positions: Option<Positions>,
    kinds: Option<BTreeSet<String>>,
    /// The handler running now halted its process: what it asks for from
    /// then on is ignored.
    halting: bool,
    /// Something must happen after every handler (a halt to finish, or
    /// positions to follow): one test on the hot path.
    after_call: bool,
    /// A send needs more than routing (rules in force, kinds to note).
    send_hooks: bool,
    /// `begin` ran.
    started: bool,
    incarnation: Vec<u32>,
    /// The receiver's incarnation when each ordered connection was made.
    conn: Vec<u32>,
    clocks: Vec<Clock>,
    node_rngs: Vec<Rng>,
    timers: Vec<BTreeMap<N::Timer, u64>>,
    timer_gen: u64,
    net: Network,
    net_rng: Rng,
    /// The staggered rate's draws, apart from the workload's own.
    stagger_rng: Rng,
    held: Vec<Held<N::Msg>>,
    /// Per directed link (`from * n + to`), in `tcp` partition mode: the
    /// stall generation, odd while the link is stalled on a cut.
    tcp_stall: Vec<u64>,
    /// Messages a heal released on ordered links and not yet dispatched,
    /// by id.
    released: BTreeSet<u64>,
    /// Per ordered link with released messages pending: the line they
    /// form, which whatever else comes due on the link waits behind.
    release_line: BTreeMap<(NodeId, NodeId), ReleaseLine<N::Msg>>,
    clients: Clients,
    faults_left: usize,
    final_heal_at: Option<Time>,
    /// No event after this time runs: the time bound, or the end of the
    /// quiet period once the final heal happened.
    deadline: Time,
    trace: Trace,
    stats: Stats,
    /// Extra copies made so far. Message ids run 1, 2, …: a send takes
    /// the next one (`sent + copies`), and so does every extra copy a
    /// duplication makes (a copy is held, released and traced as itself).
    copies: u64,
    stop: Option<StopReason>,
}

impl<N: Node> Sim<N> {
    /// A run of `nodes` (one per process: the replicas, then the services,
    /// then the client processes; see [`SimConfig::layout`]) under `cfg`,
    /// tracing to `trace_out` if given.
    pub fn new(cfg: SimConfig, nodes: Vec<N>, trace_out: Option<Box<dyn Write>>) -> Sim<N> {
        let layout = cfg.layout();
        let n = layout.total();
        assert_eq!(nodes.len(), n, "one node per process");
        let mut net = Network::new(n, cfg.link.clone(), cfg.partition_mode);
        net.set_replicas(cfg.nodes);
        // Client processes reach every other process with the workload's
        // client latency and no loss, unless a link override says otherwise.
        let client_link = Link {
            latency: cfg.workload.latency.clone(),
            drop: Prob::ZERO,
            duplicate: Prob::ZERO,
            ordered: cfg.link.ordered,
        };
        for c in layout.client_base()..n {
            for x in 0..n {
                if x != c {
                    net.set_link(c, x, client_link.clone());
                    net.set_link(x, c, client_link.clone());
                }
            }
        }
        for (from, to, link) in &cfg.links {
            net.set_link(*from, *to, link.clone());
        }
        let mut clocks = cfg.clocks.clone();
        clocks.resize(n, Clock::default());
        let mut clients = Clients::new(cfg.workload.clone(), cfg.nodes, cfg.seed);
        clients.set_recording(cfg.record_history);
        Sim {
            client_base: layout.client_base(),
            layout,
            now: 0,
            queue: Queue::default(),
            timeouts: VecDeque::new(),
            nodes,
            status: vec![Status::Up; n],
            parked: (0..n).map(|_| Vec::new()).collect(),
            halts: Vec::new(),
            rules: Rules::default(),
            loss_burst: false,
            calm_since: Some(0),
            positions: cfg.track_positions.then(|| Positions::new(cfg.nodes)),
            kinds: cfg.collect_kinds.then(BTreeSet::new),
            halting: false,
            after_call: cfg.track_positions,
            send_hooks: cfg.collect_kinds,
            started: false,
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
            stagger_rng: Rng::derive(cfg.seed, "workload/stagger"),
            held: Vec::new(),
            tcp_stall: if cfg.partition_mode == PartitionMode::Tcp {
                vec![0; n * n]
            } else {
                Vec::new()
            },
            released: BTreeSet::new(),
            release_line: BTreeMap::new(),
            clients,
            faults_left: cfg.faults.len(),
            final_heal_at: None,
            deadline: cfg.max_time_us,
            trace: Trace::new(trace_out),
            stats: Stats {
                sent_by_node: vec![0; n],
                ..Stats::default()
            },
            copies: 0,
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
        loop {
            if let Some(r) = self.run_for(u64::MAX) {
                return r;
            }
        }
    }

    /// Runs at most `events` more events: `Some(reason)` once the run has
    /// ended, `None` when the slice ran out first (call again to go on).
    /// However a run is sliced, it is the same run, event for event; the
    /// CLI slices long runs to show progress.
    pub fn run_for(&mut self, events: u64) -> Option<StopReason> {
        if let Some(r) = self.stop {
            return Some(r);
        }
        if !self.started {
            self.begin();
        }
        let limit = self
            .stats
            .events
            .saturating_add(events)
            .min(self.cfg.max_events);
        let reason = loop {
            let at_limit = self.stats.events >= limit;
            if at_limit && limit < self.cfg.max_events {
                return None; // the slice is over, not the run
            }
            let Some((time, ev)) = self.next_event() else {
                break StopReason::Quiescent;
            };
            // One test on the hot path; which bound it was (the event
            // bound, the time bound, the quiet period) is sorted out once.
            if at_limit || time > self.deadline {
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
        Some(reason)
    }

    /// Ends a run that is between two slices of [`Sim::run_for`] (its
    /// caller's budget ran out): traced as a `stop` record with reason
    /// `cut`. A run that already ended keeps its own reason.
    pub fn cut(&mut self) -> StopReason {
        if let Some(r) = self.stop {
            return r;
        }
        self.trace
            .rec(self.now, "stop")
            .s("reason", StopReason::Cut.name())
            .end();
        self.stop = Some(StopReason::Cut);
        StopReason::Cut
    }

    /// Starts the run: the start record, the schedule, every process's
    /// `on_start`.
    fn begin(&mut self) {
        self.started = true;
        self.trace
            .rec(0, "start")
            .u("seed", self.cfg.seed)
            .u("nodes", self.cfg.nodes as u64)
            .end();
        self.schedule_start();
        for &id in &self.cfg.down_at_start {
            self.status[id] = Status::Down;
        }
        for id in 0..self.nodes.len() {
            if self.status[id] == Status::Up {
                self.call(id, |n, c| n.on_start(c));
            }
        }
        self.maybe_final_heal();
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
                Rate::Open { .. } | Rate::Stagger { .. } => self.push(start, Ev::Tick),
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
                if self.status[from] == Status::Paused {
                    self.park(from, Ev::LinkError { from, to, inc, msg });
                } else if self.status[from] == Status::Up && self.incarnation[from] == inc {
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
                    if self.status[node] == Status::Paused {
                        self.park(node, Ev::Timer { node, gen, tag });
                        return;
                    }
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
                    let next = match self.cfg.workload.rate {
                        Rate::Open { interval_us } => Some(interval_us),
                        Rate::Stagger { mean_us } => {
                            Some(self.stagger_rng.below(mean_us.saturating_mul(2).max(1)))
                        }
                        Rate::Closed { .. } => None,
                    };
                    if let Some(after) = next {
                        if self.clients.may_generate(self.now + after) {
                            self.push(self.now + after, Ev::Tick);
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
                self.apply_fault(idx, &fault);
                self.update_calm();
            }
            Ev::TcpTimeout { from, to, gen } => self.tcp_timeout(from, to, gen),
            Ev::LossEnd => {
                self.trace.rec(self.now, "loss_end").end();
                self.net.restore_loss();
                self.loss_burst = false;
                self.update_calm();
            }
            Ev::RuleEnd => {
                self.expire_rules(false);
                self.update_calm();
            }
            Ev::FinalHeal => {
                self.trace.rec(self.now, "final_heal").end();
                self.net.restore_loss();
                self.loss_burst = false;
                self.expire_rules(true);
                self.heal();
                for id in 0..self.status.len() {
                    if self.status[id] == Status::Paused {
                        self.resume(id);
                    }
                }
                self.update_calm();
            }
        }
    }

    /// Ends the rules whose time is up (all of them with `all`), traced.
    fn expire_rules(&mut self, all: bool) {
        if self.rules.is_empty() {
            return;
        }
        for id in self.rules.expire(self.now, all) {
            self.trace
                .rec(self.now, "rule_end")
                .u("rule", id as u64)
                .end();
        }
        self.refresh_send_hooks();
    }

    /// Notes whether the network is whole again (or no longer).
    fn update_calm(&mut self) {
        let whole = !self.loss_burst
            && !self.rules.any_live(self.now)
            && !self.status.contains(&Status::Paused)
            && !self.net.is_partitioned();
        if !whole {
            self.calm_since = None;
        } else if self.calm_since.is_none() {
            self.calm_since = Some(self.now);
        }
    }

    /// Keeps `ev` for paused process `id` until it resumes.
    fn park(&mut self, id: NodeId, ev: EvOf<N>) {
        self.stats.parked += 1;
        if let Ev::Deliver { mid, .. } = &ev {
            self.trace.rec(self.now, "park").u("mid", *mid).end();
        }
        self.parked[id].push(ev);
    }

    /// Stops process `id` (a crash or a halt): its connections break, its
    /// timers go, and what waited for it while paused comes due now, to be
    /// dropped as undeliverable.
    fn stop(&mut self, id: NodeId, status: Status) {
        self.status[id] = status;
        self.incarnation[id] += 1;
        self.timers[id].clear();
        for ev in std::mem::take(&mut self.parked[id]) {
            self.push(self.now, ev);
        }
    }

    /// Runs paused process `id` again: what waited for it comes due now,
    /// in the order it came due before.
    fn resume(&mut self, id: NodeId) {
        self.status[id] = Status::Up;
        for ev in std::mem::take(&mut self.parked[id]) {
            self.push(self.now, ev);
        }
    }

    #[inline]
    fn deliver(&mut self, mid: u64, from: NodeId, to: NodeId, inc: u32, msg: N::Msg) {
        if !self.released.is_empty() {
            return self.deliver_after_heal(mid, from, to, inc, msg);
        }
        self.deliver_now(mid, from, to, inc, msg);
    }

    /// Delivers message `mid` while a heal's released messages are pending
    /// on some ordered link: on its own link, a message that is not one of
    /// them waits in the line ([`ReleaseLine`]); the last of them brings
    /// what waited behind it.
    #[cold]
    #[inline(never)]
    fn deliver_after_heal(&mut self, mid: u64, from: NodeId, to: NodeId, inc: u32, msg: N::Msg) {
        let mut go = vec![Held {
            mid,
            from,
            to,
            inc,
            msg,
        }];
        if let Some(line) = self.release_line.get_mut(&(from, to)) {
            if !self.released.remove(&mid) {
                line.waiting.append(&mut go);
                return;
            }
            line.pending -= 1;
            if line.pending == 0 {
                let line = self.release_line.remove(&(from, to));
                go.extend(line.into_iter().flat_map(|line| line.waiting));
            }
        }
        for h in go {
            self.deliver_now(h.mid, h.from, h.to, h.inc, h.msg);
        }
    }

    /// Delivers message `mid` now, or parks, holds or drops it.
    #[inline(always)]
    fn deliver_now(&mut self, mid: u64, from: NodeId, to: NodeId, inc: u32, msg: N::Msg) {
        let ordered = self.net.ordered(from, to);
        let reason = if self.status[to] != Status::Up {
            match self.status[to] {
                Status::Paused => {
                    self.park(to, Ev::deliver(mid, from, to, inc, msg));
                    return;
                }
                Status::Halted => Some("halted"),
                _ => Some("down"),
            }
        } else if ordered && inc != self.incarnation[to] {
            Some("connection-reset")
        } else if self.net.is_cut(from, to) {
            let tcp = self.net.partition_mode == PartitionMode::Tcp && ordered;
            if tcp {
                self.stall(from, to);
            }
            if tcp || self.net.partition_mode == PartitionMode::Hold {
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
            // Maelstrom's receivers discard in silence.
            let silent =
                reason == "partition" && self.net.partition_mode == PartitionMode::Receiver;
            if ordered && !silent {
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
        // The generic client hands the operation to its replica; a
        // protocol's client process takes it itself.
        let node = if self.layout.clients > 0 {
            self.layout.client(f.client)
        } else {
            f.node
        };
        if self.status[node] == Status::Paused {
            self.park(node, Ev::Arrive { req });
            return;
        }
        let request = f.request.clone();
        if self.status[node] != Status::Up {
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
        let position = match &mut self.positions {
            Some(p) => p.at_reply.remove(&req),
            None => None,
        };
        let Some(done) = self.clients.complete(req, reply, self.now, position) else {
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
        // A protocol's client process is the one invoking: no latency.
        let lat = if self.layout.clients > 0 { 0 } else { lat };
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
        if self.after_call {
            self.after_call(id);
        }
    }

    /// What follows a handler when something must: a halt finished (the
    /// process loses its volatile state), positions followed.
    #[cold]
    #[inline(never)]
    fn after_call(&mut self, id: NodeId) {
        if std::mem::take(&mut self.halting) {
            self.nodes[id].on_crash();
        } else if let Some(p) = &mut self.positions {
            if id < p.last.len() {
                p.observe(id, self.now, &self.nodes[id]);
            }
        }
        self.after_call = self.positions.is_some();
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: N::Msg) {
        self.stats.sent += 1;
        self.stats.sent_by_node[from] += 1;
        if from.max(to) >= self.client_base {
            self.stats.client_messages += 1;
        }
        let mid = self.stats.sent + self.copies;
        // Rules and kind collection cost one test when there are none.
        let taken = if self.send_hooks {
            self.send_hooks(from, to, &msg)
        } else {
            None
        };
        let n = self.nodes_len();
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
        if let Some(t) = taken {
            return self.send_by_rule(mid, from, to, msg, t.rule, t.action);
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
        let deliver = |msg| Ev::deliver(mid, from, to, inc, msg);
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
                rec.u("at", at).end();
                self.stats.duplicated += 1;
                self.push(at, deliver(msg.clone()));
                let copy = self.copy_of(mid, again);
                self.push(again, Ev::deliver(copy, from, to, inc, msg));
            }
        }
    }

    /// A fresh id for an extra copy of message `of`, due `at`, traced as a
    /// `copy` record.
    #[cold]
    #[inline(never)]
    fn copy_of(&mut self, of: u64, at: Time) -> u64 {
        self.copies += 1;
        let mid = self.stats.sent + self.copies;
        self.trace
            .rec(self.now, "copy")
            .u("mid", mid)
            .u("of", of)
            .u("at", at)
            .end();
        mid
    }

    /// Sends a message a rule took: traced as `send` with the rule's
    /// number and action, then dropped, duplicated, delayed or held.
    fn send_by_rule(
        &mut self,
        mid: u64,
        from: NodeId,
        to: NodeId,
        msg: N::Msg,
        rule: usize,
        action: RuleAction,
    ) {
        let inc = self.incarnation[to];
        // The network's own latency, without its loss or duplication: the
        // rule decides this message's fate.
        let natural = |this: &mut Self| {
            let lat = if from == to {
                0
            } else {
                this.net.link(from, to).latency.sample(&mut this.net_rng)
            };
            this.now + lat
        };
        let ats: Vec<Time> = match action {
            RuleAction::Drop => Vec::new(),
            RuleAction::Duplicate { copies } => {
                (0..=copies as usize).map(|_| natural(self)).collect()
            }
            RuleAction::Delay { by_us } => vec![natural(self).saturating_add(by_us)],
            RuleAction::Hold { until_us } => vec![natural(self).max(until_us)],
        };
        let mut rec = self
            .trace
            .rec(self.now, "send")
            .u("mid", mid)
            .u("from", from as u64)
            .u("to", to as u64)
            .v("msg", &msg)
            .u("rule", rule as u64)
            .s("fate", action.name());
        if let Some(&at) = ats.first() {
            rec = rec.u("at", at);
        }
        rec.end();
        if ats.is_empty() {
            self.stats.dropped += 1;
            self.stats.rule_dropped += 1;
        }
        self.stats.duplicated += ats.len().saturating_sub(1) as u64;
        let mut last = 0;
        for (i, at) in ats.iter().enumerate() {
            // Each extra copy is a message of its own (its own id).
            let id = if i == 0 { mid } else { self.copy_of(mid, *at) };
            // On an ordered link, copies keep their order and hold up what
            // follows them.
            let at = if self.net.ordered(from, to) {
                (*at).max(last)
            } else {
                *at
            };
            last = at;
            self.net.hold_line(from, to, at);
            if i + 1 == ats.len() {
                self.push(at, Ev::deliver(id, from, to, inc, msg));
                break;
            }
            self.push(at, Ev::deliver(id, from, to, inc, msg.clone()));
        }
        if !self.rules.any_live(self.now) {
            self.expire_rules(false);
            self.update_calm();
        }
    }

    /// Notes the message's kind (a probe run) and asks the rules in force
    /// what to do with it.
    #[cold]
    #[inline(never)]
    fn send_hooks(&mut self, from: NodeId, to: NodeId, msg: &N::Msg) -> Option<crate::rule::Taken> {
        if let Some(kinds) = &mut self.kinds {
            let json = serde_json::to_value(msg).unwrap_or_default();
            if let Some(k) = kind_of(&json).0 {
                if !kinds.contains(k) {
                    kinds.insert(k.to_string());
                }
            }
        }
        if self.rules.is_empty() {
            None
        } else {
            self.rules.apply(self.now, from, to, msg)
        }
    }

    /// Keeps `send_hooks` true exactly while a send needs them.
    fn refresh_send_hooks(&mut self) {
        self.send_hooks = self.kinds.is_some() || !self.rules.is_empty();
    }

    #[inline(always)]
    fn nodes_len(&self) -> usize {
        self.status.len()
    }

    fn apply_fault(&mut self, idx: usize, fault: &Fault) {
        self.trace.rec(self.now, "fault").v("fault", fault).end();
        match fault {
            Fault::Partition { groups } => self.net.partition(groups),
            Fault::PartitionOneWay { from, to } => self.net.cut_one_way(from, to),
            Fault::Heal => self.heal(),
            Fault::Crash { node } => {
                let id = *node;
                if matches!(self.status[id], Status::Up | Status::Paused) {
                    self.stop(id, Status::Down);
                    self.nodes[id].on_crash();
                }
            }
            Fault::Restart { node } => {
                let id = *node;
                if matches!(self.status[id], Status::Down | Status::Halted) {
                    self.status[id] = Status::Up;
                    self.call(id, |n, c| n.on_start(c));
                }
            }
            Fault::Pause { node } => {
                if self.status[*node] == Status::Up {
                    self.status[*node] = Status::Paused;
                }
            }
            Fault::Resume { node } => {
                if self.status[*node] == Status::Paused {
                    self.resume(*node);
                }
            }
            Fault::Message(rule) => {
                if let Some(until) = rule.until_us {
                    self.push(until.max(self.now), Ev::RuleEnd);
                }
                self.rules.add(idx, rule.clone());
                self.refresh_send_hooks();
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
                self.loss_burst = true;
                self.push(self.now.saturating_add(*for_us), Ev::LossEnd);
            }
        }
    }

    /// In `tcp` mode, marks link `from → to` stalled on a cut, if it was
    /// not yet, and sets its timeout.
    fn stall(&mut self, from: NodeId, to: NodeId) {
        let k = from * self.nodes.len() + to;
        if self.tcp_stall[k].is_multiple_of(2) {
            self.tcp_stall[k] += 1;
            let gen = self.tcp_stall[k];
            let at = self.now.saturating_add(self.cfg.tcp_timeout_us);
            self.push(at, Ev::TcpTimeout { from, to, gen });
        }
    }

    /// A stalled link's TCP timeout: every message held on it is lost and
    /// its sender sees a connection error for each (the connection died).
    fn tcp_timeout(&mut self, from: NodeId, to: NodeId, gen: u64) {
        let k = from * self.nodes.len() + to;
        if self.tcp_stall[k] != gen {
            return;
        }
        self.tcp_stall[k] += 1;
        let (dead, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.from == from && h.to == to);
        self.held = kept;
        for h in dead {
            self.stats.dropped += 1;
            self.trace
                .rec(self.now, "drop")
                .u("mid", h.mid)
                .s("reason", "tcp-timeout")
                .end();
            let inc = self.incarnation[from];
            self.push(
                self.now,
                Ev::LinkError {
                    from,
                    to,
                    inc,
                    msg: h.msg,
                },
            );
        }
    }

    fn heal(&mut self) {
        self.net.heal();
        // Stalled links recover: their pending timeouts lapse.
        for g in &mut self.tcp_stall {
            *g += *g % 2;
        }
        // On an ordered link the held messages go out in the order they
        // were sent, and nothing sent later overtakes them: not what is
        // sent from now on (the network's line is held), nor what is in
        // flight now (it waits in the [`ReleaseLine`]).
        for h in std::mem::take(&mut self.held) {
            let mut at = self.now
                + self
                    .net
                    .link(h.from, h.to)
                    .latency
                    .sample(&mut self.net_rng);
            if self.net.ordered(h.from, h.to) {
                let line = self
                    .release_line
                    .entry((h.from, h.to))
                    .or_insert(ReleaseLine {
                        pending: 0,
                        last: at,
                        waiting: Vec::new(),
                    });
                at = at.max(line.last);
                line.pending += 1;
                line.last = at;
                self.released.insert(h.mid);
                self.net.hold_line(h.from, h.to, at);
            }
            self.trace
                .rec(self.now, "release")
                .u("mid", h.mid)
                .u("at", at)
                .end();
            self.push(at, Ev::deliver(h.mid, h.from, h.to, h.inc, h.msg));
        }
    }

    /// The nodes, by id (crashed ones hold what survived the crash).
    pub fn nodes(&self) -> &[N] {
        &self.nodes
    }

    /// True when process `id` is alive: running, or paused.
    pub fn is_up(&self, id: NodeId) -> bool {
        matches!(self.status[id], Status::Up | Status::Paused)
    }

    /// What process `id` is doing (at the end: how it ended).
    pub fn status(&self, id: NodeId) -> Status {
        self.status[id]
    }

    /// Who takes part in the run.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The processes that stopped themselves, in order.
    pub fn halts(&self) -> &[Halt] {
        &self.halts
    }

    /// Since when the network has been whole (no cut, pause, loss burst or
    /// message rule in force), if it is at the end; `Some(0)` for a run no
    /// such fault touched. Crashes do not count: a node may stay down for
    /// good.
    pub fn calm_since(&self) -> Option<Time> {
        self.calm_since
    }

    /// The first position at which two replicas' states differed (runs
    /// with [`SimConfig::track_positions`]).
    pub fn divergence(&self) -> Option<&Divergence> {
        self.positions.as_ref().and_then(|p| p.divergence.as_ref())
    }

    /// How many distinct applied positions the replicas reached (runs with
    /// [`SimConfig::track_positions`]; `None` otherwise).
    pub fn positions_seen(&self) -> Option<usize> {
        self.positions.as_ref().map(|p| p.seen.len())
    }

    /// The kinds of the messages sent, in order (runs with
    /// [`SimConfig::collect_kinds`]).
    pub fn kinds(&self) -> Vec<String> {
        self.kinds.iter().flatten().cloned().collect()
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
        if !self.halting {
            Sim::send(self, node, to, msg);
        }
    }

    fn set_timer(&mut self, node: NodeId, tag: N::Timer, after: Time) {
        if self.halting {
            return;
        }
        self.timer_gen += 1;
        let gen = self.timer_gen;
        let at = self.now + self.clocks[node].global_span(after);
        self.timers[node].insert(tag.clone(), gen);
        self.push(at, Ev::Timer { node, gen, tag });
    }

    fn cancel_timer(&mut self, node: NodeId, tag: N::Timer) {
        self.timers[node].remove(&tag);
    }

    fn reply(&mut self, node: NodeId, req: RequestId, reply: Reply) {
        if !self.halting && self.clients.in_flight(req).is_some() {
            self.trace
                .rec(self.now, "reply")
                .u("req", req)
                .f("reply", &reply)
                .end();
            // A client process answers its own caller: no trip back.
            let lat = if node >= self.client_base {
                0
            } else {
                self.clients.reply_latency()
            };
            if let Some(p) = &mut self.positions {
                p.pending.push(req);
            }
            self.push(self.now + lat, Ev::Answer { req, reply });
        }
    }

    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn halt(&mut self, node: NodeId, reason: String) {
        if std::mem::replace(&mut self.halting, true) {
            return;
        }
        self.after_call = true;
        self.trace
            .rec(self.now, "halt")
            .u("node", node as u64)
            .s("reason", &reason)
            .end();
        // Its volatile state goes after the handler returns (`after_call`).
        self.stop(node, Status::Halted);
        self.halts.push(Halt {
            node,
            at: self.now,
            reason,
        });
    }
}

/// Applied positions and digests of the replicas, followed during a run.
struct Positions {
    /// Each replica's position after its last handler.
    last: Vec<Option<u64>>,
    /// The first state seen at each position.
    seen: BTreeMap<u64, PositionState>,
    divergence: Option<Divergence>,
    /// Requests answered by the handler running now.
    pending: Vec<RequestId>,
    /// The answering replica's position, by request.
    at_reply: BTreeMap<RequestId, u64>,
}

impl Positions {
    fn new(replicas: usize) -> Positions {
        Positions {
            last: vec![None; replicas],
            seen: BTreeMap::new(),
            divergence: None,
            pending: Vec::new(),
            at_reply: BTreeMap::new(),
        }
    }

    /// After a handler of replica `id`: its position for the replies it
    /// made, and its state if it reached a new position.
    fn observe<N: Node>(&mut self, id: NodeId, now: Time, node: &N) {
        let pos = node.applied();
        for req in self.pending.drain(..) {
            if let Some(p) = pos {
                self.at_reply.insert(req, p);
            }
        }
        if pos == self.last[id] {
            return;
        }
        self.last[id] = pos;
        let Some(pos) = pos else { return };
        let here = PositionState {
            node: id,
            at: now,
            digest: node.digest(),
        };
        match self.seen.entry(pos) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(here);
            }
            std::collections::btree_map::Entry::Occupied(e) => {
                if e.get().digest != here.digest && self.divergence.is_none() {
                    self.divergence = Some(Divergence {
                        position: pos,
                        first: e.get().clone(),
                        second: here,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "engine_fault_tests.rs"]
mod fault_tests;
