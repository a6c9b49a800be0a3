//! What one run is given: the validated scenario.

use crate::clock::Clock;
use crate::fault::ScheduledFault;
use crate::layout::Layout;
use crate::network::{Link, PartitionMode};
use crate::workload::WorkloadSpec;
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
