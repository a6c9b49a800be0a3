//! The event loop: one queue ordered by (time, sequence), one run.
//!
//! [`Sim`] and its state live here; its work is split by concern:
//! `dispatch` (the loop and handler calls), `links` (sending and
//! delivering messages), `heal` (messages held on a partition, stalled TCP
//! links, the heal that releases them), `faults` (the schedule, message
//! rules, process status), `clients` (operations in and answers out),
//! `effects` (what handlers ask of the engine) and `positions` (the
//! replicas' applied positions). `config`, `event` and `outcome` hold the
//! run's input, its events and what it reports.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;

use crate::clock::Clock;
use crate::layout::Layout;
use crate::network::{Link, Network, PartitionMode};
use crate::node::{Node, RequestId};
use crate::queue::Queue;
use crate::rng::{Prob, Rng};
use crate::rule::Rules;
use crate::trace::Trace;
use crate::workload::{Clients, HistoryEvent};
use crate::{NodeId, Time};

use event::{Ev, EvOf};
use heal::{Held, ReleaseLine};
use positions::Positions;

mod clients;
mod config;
mod dispatch;
mod effects;
mod event;
mod faults;
mod heal;
mod links;
mod outcome;
mod positions;

pub use config::SimConfig;
pub use outcome::{Halt, Stats, Status, StopReason};
pub use positions::{Divergence, PositionState};

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

    #[inline(always)]
    fn nodes_len(&self) -> usize {
        self.status.len()
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

    /// Hands every trace record from now on to `observer`, field by field
    /// (see [`crate::trace::Observer`]); the fingerprint and the written
    /// trace stay the same.
    pub fn observe(&mut self, observer: Box<dyn crate::trace::Observer>) {
        self.trace.observe(observer);
    }

    /// The client history, taken out of the run (which keeps an empty
    /// one): for a caller done with the run that would otherwise copy it.
    pub fn take_history(&mut self) -> Vec<HistoryEvent> {
        std::mem::take(&mut self.clients.history)
    }

    /// Flushes the trace writer, reporting the first write error.
    pub fn finish_trace(&mut self) -> std::io::Result<()> {
        self.trace.finish()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fault_tests;
