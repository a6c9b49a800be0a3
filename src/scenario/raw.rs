//! The scenario file as written: serde structs that reject unknown fields.
//! Defaults that depend on nothing else live here; the ones that depend on
//! the protocol or the node count are filled in by `normalize`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// The scenario's name (absent: the file name without `.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free text shown by `dsim list` (default: empty).
    #[serde(default)]
    pub description: String,
    /// The protocol to run, by name (required; see `dsim list`).
    pub protocol: String,
    /// The protocol's variant (absent: its first variant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Protocol parameters, checked by the protocol (default: `{}`).
    #[serde(default = "empty_object")]
    pub params: serde_json::Value,
    /// How many replicas, with ids `0..nodes` (required, 1 to 256).
    pub nodes: u64,
    /// The seed of every random draw (default 0; `--seed N` overrides it).
    #[serde(default)]
    pub seed: u64,
    /// Latency, loss, ordering and partition behaviour of the links
    /// (default: see [`RawNetwork`]).
    #[serde(default)]
    pub network: RawNetwork,
    /// Services that run beside the replicas (absent: the protocol's
    /// default ones; see `dsim list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<RawService>>,
    /// Replica clocks at the start, at most one entry per node (default:
    /// every clock exact).
    #[serde(default)]
    pub clocks: Vec<RawClock>,
    /// Replica ids that are down at the start and join with a `restart`
    /// fault (default: none).
    #[serde(default)]
    pub down_at_start: Vec<u64>,
    /// What the clients do (default: see [`RawWorkload`]).
    #[serde(default)]
    pub workload: RawWorkload,
    /// The fixed fault schedule, in any order; same-time faults keep file
    /// order (default: none).
    #[serde(default)]
    pub faults: Vec<RawFault>,
    /// The final heal, the quiet period and the run's limits (default: see
    /// [`RawRun`]).
    #[serde(default)]
    pub run: RawRun,
    /// The checks to run, each once (absent: the protocol's default checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<String>>,
    /// What each check must report, by check name; a run check that is not
    /// listed must pass.
    #[serde(default)]
    pub expect: BTreeMap<String, Expect>,
    /// Settings of the generic checks.
    #[serde(default, skip_serializing_if = "is_default_params")]
    pub check_params: protocols::CheckParams,
    /// Fault generators expanded per seed (see `dsim::fuzz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuzz: Option<RawFuzz>,
    /// The replicas run a user's program instead of the protocol's own
    /// code (absent: the protocol's code; see docs/wasm-nodes.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<RawNode>,
}

/// `"node": {"wasm": "node.wasm", …}`: every replica runs this WebAssembly
/// (WASI preview 1) program as a Maelstrom node.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    /// The module's path, relative to the scenario file (required).
    pub wasm: String,
    /// Simulated CPU time per executed instruction, in ns (default 0: a
    /// handler takes no simulated time).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ns_per_instruction: u64,
    /// The most instructions a node may run between two blocks before it
    /// is halted as stuck (default 1,000,000,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instructions: Option<u64>,
    /// Each node's memory cap, in MiB (default 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

fn is_default_params(p: &protocols::CheckParams) -> bool {
    *p == protocols::CheckParams::default()
}

fn is_empty_object(v: &serde_json::Value) -> bool {
    v.as_object().is_some_and(|o| o.is_empty())
}

/// A service to run, and its knobs.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// One of the services the protocol offers, each listed once (see
    /// `dsim list`); faults and links name the process by it.
    pub name: String,
    /// The service's knobs, checked by the protocol; unknown knobs are
    /// errors (default: `{}`).
    #[serde(default = "empty_object", skip_serializing_if = "is_empty_object")]
    pub params: serde_json::Value,
}

/// A process named in a fault or a link: a replica's id (`2`), or a name
/// (`"n2"`, a service's name such as `"stream"`, a client process `"c0"`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeRef {
    /// A replica id.
    Id(u64),
    /// A name.
    Name(String),
}

impl NodeRef {
    /// The replica id, when this is one.
    pub fn id(&self) -> Option<u64> {
        match self {
            NodeRef::Id(i) => Some(*i),
            NodeRef::Name(_) => None,
        }
    }
}

impl From<u64> for NodeRef {
    fn from(i: u64) -> NodeRef {
        NodeRef::Id(i)
    }
}

impl std::fmt::Display for NodeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeRef::Id(i) => write!(f, "{i}"),
            NodeRef::Name(n) => write!(f, "{n:?}"),
        }
    }
}

impl Serialize for NodeRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            NodeRef::Id(i) => s.serialize_u64(*i),
            NodeRef::Name(n) => s.serialize_str(n),
        }
    }
}

impl<'de> Deserialize<'de> for NodeRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NodeRef, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = NodeRef;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a replica id (a non-negative integer) or a process name (\"n0\", a service's name, \"c0\")")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NodeRef, E> {
                Ok(NodeRef::Id(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NodeRef, E> {
                Ok(NodeRef::Name(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// What a scenario expects of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The check must pass.
    Pass,
    /// The check must find a violation.
    Violation,
    /// Either: the outcome depends on the seed.
    Any,
}

/// A latency distribution, named by `dist`; `min_ms` must not exceed
/// `max_ms`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawLatency {
    /// `"fixed"`: always the same latency.
    Fixed {
        /// The latency, in ms (required).
        ms: u64,
    },
    /// `"uniform"`: uniform over `min_ms..=max_ms`.
    Uniform {
        /// The smallest latency, in ms (required).
        min_ms: u64,
        /// The largest latency, in ms (required).
        max_ms: u64,
    },
    /// `"exponential"`: `min_ms` plus an exponential with mean `mean_ms`,
    /// capped at `max_ms`.
    Exponential {
        /// Added to every draw, in ms (default 0).
        #[serde(default)]
        min_ms: u64,
        /// The mean of the exponential part, in ms (required).
        mean_ms: u64,
        /// The cap, in ms (required).
        max_ms: u64,
    },
    /// `"normal"`: a normal distribution clamped into `min_ms..=max_ms`.
    Normal {
        /// The mean, in ms (required).
        mean_ms: u64,
        /// The standard deviation, in ms (required).
        sd_ms: u64,
        /// The lower bound, in ms (default 0).
        #[serde(default)]
        min_ms: u64,
        /// The upper bound, in ms (required).
        max_ms: u64,
    },
}

/// The `network` block: how every link behaves unless `links` says otherwise.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawNetwork {
    /// Each message's delay on a link (default: uniform 1 to 10 ms).
    pub latency: RawLatency,
    /// Chance a message is lost, a probability 0..1 (default 0).
    pub drop: f64,
    /// Chance a message is delivered twice, a probability 0..1 (default 0).
    pub duplicate: f64,
    /// FIFO delivery and connection errors, as over TCP; `false`: as over
    /// UDP (default `true`).
    pub ordered: bool,
    /// What happens to a message whose receiver is cut off from its sender
    /// when it arrives: `drop`, `hold`, `receiver` or `tcp` (default `drop`).
    pub partition_mode: sim::PartitionMode,
    /// With `partition_mode: "tcp"`: how long an ordered link may stall on
    /// a partition before its sender sees a connection error, in ms
    /// (default 20000, the seed projects' socket timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_timeout_ms: Option<u64>,
    /// Allow random `drop` / `duplicate` on ordered links (TCP delivers
    /// everything once, in order, or fails the connection; default false:
    /// such a setting is an error).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lossy_ordered: bool,
    /// Links whose settings differ from these defaults (default: none).
    pub links: Vec<RawLink>,
}

impl Default for RawNetwork {
    fn default() -> Self {
        RawNetwork {
            latency: RawLatency::Uniform {
                min_ms: 1,
                max_ms: 10,
            },
            drop: 0.0,
            duplicate: 0.0,
            ordered: true,
            partition_mode: sim::PartitionMode::Drop,
            tcp_timeout_ms: None,
            lossy_ordered: false,
            links: Vec::new(),
        }
    }
}

/// One directed link whose settings override the network's.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    /// The sending process: a replica id or a process name (required).
    pub from: NodeRef,
    /// The receiving process, other than `from` (required).
    pub to: NodeRef,
    /// The link's latency (absent: the network's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<RawLatency>,
    /// Chance a message is lost, a probability 0..1 (absent: the network's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<f64>,
    /// Chance a message is delivered twice, a probability 0..1 (absent: the
    /// network's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<f64>,
    /// Whether the link is FIFO with connection errors (absent: the
    /// network's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordered: Option<bool>,
    /// Allow random loss or duplication on this link although it is
    /// ordered (absent: the network's `lossy_ordered`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lossy_ordered: Option<bool>,
}

/// A replica's clock at the start of the run.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawClock {
    /// The replica's node id (required).
    pub node: u64,
    /// The clock's offset from true time, in ms; negative: behind (default 0).
    #[serde(default)]
    pub skew_ms: i64,
    /// The clock's drift, in microseconds gained per second (default 0).
    #[serde(default)]
    pub drift_ppm: i64,
}

/// The `workload` block: the clients, the operations they generate and the
/// scripted ones.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWorkload {
    /// How many clients, at most 100,000 (absent: one per node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clients: Option<u64>,
    /// Generated operations in total; 0: the script only (default 100).
    pub ops: u64,
    /// Keys `0..keys`, at most 1,000,000; 0: unkeyed (absent: 1 for a keyed
    /// protocol, else 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<u32>,
    /// The operations generated and their weights (absent: the protocol's
    /// default mix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mix: Option<Vec<RawMix>>,
    /// How generated operations are paced (default: closed, 10 ms think time).
    pub rate: RawRate,
    /// Which node a client sends each operation to: `fixed`, `round-robin`
    /// or `random` (default `fixed`).
    pub node_policy: sim::NodePolicy,
    /// How long a client waits for a reply before it records the operation
    /// as `info`, in ms, at least 1 (default 1000).
    pub timeout_ms: u64,
    /// No generated operation is invoked before this time, in ms (default 0).
    pub start_ms: u64,
    /// No generated operation is invoked after this time, in ms (absent: no
    /// limit; generation ends when `ops` are issued).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_ms: Option<u64>,
    /// Client-to-node latency, each way (default: fixed 0 ms).
    pub latency: RawLatency,
    /// Operations at fixed times, beside the generated ones (default: none).
    pub script: Vec<RawScriptOp>,
    /// Which client runs the operations (default: the protocol's first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<protocols::ClientMode>,
}

impl Default for RawWorkload {
    fn default() -> Self {
        RawWorkload {
            clients: None,
            ops: 100,
            keys: None,
            mix: None,
            rate: RawRate::Closed { think_ms: 10 },
            node_policy: sim::NodePolicy::Fixed,
            timeout_ms: 1000,
            start_ms: 0,
            stop_ms: None,
            latency: RawLatency::Fixed { ms: 0 },
            script: Vec::new(),
            client: None,
        }
    }
}

/// One kind of generated operation and how often it is drawn.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMix {
    /// The operation's name, one the protocol offers (required).
    pub f: String,
    /// Its relative weight among the mix's entries (default 1).
    #[serde(default = "one")]
    pub weight: u32,
    /// How its input is drawn: `"unique"`, `"null"`, `{"min": A, "max": B}`
    /// or `{"const": V}` (absent: the operation's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

fn one() -> u32 {
    1
}

/// How generated operations are paced, named by `kind`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawRate {
    /// `"closed"`: each client issues its next operation `think_ms` after
    /// the previous one completed.
    Closed {
        /// The pause between a client's operations, in ms (required).
        think_ms: u64,
    },
    /// `"open"`: one operation every `interval_ms`, handed to clients in turn.
    Open {
        /// The time between operations, in ms, at least 1 (required).
        interval_ms: u64,
    },
    /// `"stagger"`: Jepsen's `gen/stagger`: each operation a uniform random
    /// time in `[0, 2·mean_ms)` after the previous, handed to clients in turn.
    Stagger {
        /// The mean time between operations, in ms, at least 1 (required).
        mean_ms: u64,
    },
}

/// A scripted operation: this client, at this time, this operation.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawScriptOp {
    /// When the client invokes it, in ms; later if it is still busy (required).
    pub at_ms: u64,
    /// The client's id, at most 9999 and at most one past the clients in use
    /// (default 0).
    #[serde(default)]
    pub client: u64,
    /// The replica's node id it goes to (absent: the node policy's choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<u64>,
    /// The operation's name, one the protocol offers (required).
    pub f: String,
    /// The key, in `0..workload.keys` (absent: key 0, or none when unkeyed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<u32>,
    /// The input: an integer, string, boolean, null or a list of them
    /// (default `null`).
    #[serde(default)]
    pub value: serde_json::Value,
}

/// One scheduled fault, named by `kind`; `at_ms` is when it happens, in ms
/// (required in every kind).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawFault {
    /// `"partition"`: cut every link between different groups.
    Partition {
        /// When the cut happens, in ms.
        at_ms: u64,
        /// The sides, processes each in at most one; replicas in none form
        /// one more side, other processes in none reach every side.
        groups: Vec<Vec<NodeRef>>,
    },
    /// `"partition_one_way"`: cut the links from each `from` to each `to`.
    PartitionOneWay {
        /// When the cut happens, in ms.
        at_ms: u64,
        /// Senders whose messages are cut.
        from: Vec<NodeRef>,
        /// Receivers that stop hearing them.
        to: Vec<NodeRef>,
    },
    /// `"heal"`: every cut ends and held messages are released.
    Heal {
        /// When the heal happens, in ms.
        at_ms: u64,
    },
    /// `"crash"`: the process stops and loses its volatile state.
    Crash {
        /// When the crash happens, in ms.
        at_ms: u64,
        /// The process that crashes.
        node: NodeRef,
    },
    /// `"restart"`: a crashed, halted or down-at-start process starts again
    /// from its durable state.
    Restart {
        /// When the restart happens, in ms.
        at_ms: u64,
        /// The process that restarts.
        node: NodeRef,
    },
    /// `"pause"`: the process runs no handler; what comes to it waits.
    Pause {
        /// When the pause starts, in ms.
        at_ms: u64,
        /// The process that pauses.
        node: NodeRef,
    },
    /// `"resume"`: a paused process runs again and handles what waited.
    Resume {
        /// When the process resumes, in ms.
        at_ms: u64,
        /// The process that resumes.
        node: NodeRef,
    },
    /// `"clock_skew"`: set a process's clock offset from true time.
    ClockSkew {
        /// When the offset is set, in ms.
        at_ms: u64,
        /// The process whose clock changes.
        node: NodeRef,
        /// The offset from true time, in ms; negative: behind.
        offset_ms: i64,
    },
    /// `"clock_drift"`: set a process's clock drift.
    ClockDrift {
        /// When the drift is set, in ms.
        at_ms: u64,
        /// The process whose clock changes.
        node: NodeRef,
        /// Microseconds gained per second; above -1000000.
        drift_ppm: i64,
    },
    /// `"clock_jump"`: step a process's clock at once.
    ClockJump {
        /// When the clock steps, in ms.
        at_ms: u64,
        /// The process whose clock changes.
        node: NodeRef,
        /// The step, in ms; negative: the clock goes backwards.
        delta_ms: i64,
    },
    /// `"link_error"`: the next message on the ordered link `from` → `to`
    /// fails with a connection error.
    LinkError {
        /// When the link breaks, in ms.
        at_ms: u64,
        /// The link's sender.
        from: NodeRef,
        /// The link's receiver.
        to: NodeRef,
    },
    /// A targeted message rule (see docs/scenario-format.md).
    Message(RawMessageRule),
    /// `"loss"`: a burst of loss and duplication on every link.
    Loss {
        /// When the burst starts, in ms.
        at_ms: u64,
        /// Chance each message is lost, a probability 0..1 (required).
        drop: f64,
        /// Chance each message is duplicated, a probability 0..1 (default 0).
        #[serde(default)]
        duplicate: f64,
        /// How long the burst lasts, in ms (required).
        for_ms: u64,
    },
}

impl RawFault {
    /// When the fault happens.
    pub fn at_ms(&self) -> u64 {
        match *self {
            RawFault::Partition { at_ms, .. }
            | RawFault::PartitionOneWay { at_ms, .. }
            | RawFault::Heal { at_ms }
            | RawFault::Crash { at_ms, .. }
            | RawFault::Restart { at_ms, .. }
            | RawFault::Pause { at_ms, .. }
            | RawFault::Resume { at_ms, .. }
            | RawFault::Message(RawMessageRule { at_ms, .. })
            | RawFault::ClockSkew { at_ms, .. }
            | RawFault::ClockDrift { at_ms, .. }
            | RawFault::ClockJump { at_ms, .. }
            | RawFault::LinkError { at_ms, .. }
            | RawFault::Loss { at_ms, .. } => at_ms,
        }
    }
}

/// What a message rule does.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum RawRuleAction {
    /// `"drop"`: the message is lost.
    Drop,
    /// `"duplicate"`: the message is sent with `copies` extra copies.
    Duplicate,
    /// `"delay"`: `delay_ms` is added to the message's latency.
    Delay,
    /// `"hold"`: the message is delivered no earlier than `hold_until_ms`.
    Hold,
}

impl RawRuleAction {
    /// Every action, in the order the docs list them.
    pub const ALL: [RawRuleAction; 4] = [
        RawRuleAction::Drop,
        RawRuleAction::Duplicate,
        RawRuleAction::Delay,
        RawRuleAction::Hold,
    ];

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            RawRuleAction::Drop => "drop",
            RawRuleAction::Duplicate => "duplicate",
            RawRuleAction::Delay => "delay",
            RawRuleAction::Hold => "hold",
        }
    }
}

/// `{"kind": "message", …}`: a targeted message fault, in force from
/// `at_ms` to `until_ms` (or the final heal).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawMessageRule {
    /// When the rule comes into force, in ms (required).
    pub at_ms: u64,
    /// When the rule ends, in ms, after `at_ms` (absent: the final heal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    /// Senders (absent: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<NodeRef>,
    /// Receivers (absent: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<NodeRef>,
    /// The message kind (its serialized variant tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    /// One field and the value it must have: `{"op": 7}`.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub where_: Option<BTreeMap<String, serde_json::Value>>,
    /// Only the n-th matching message (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<u64>,
    /// What happens to a matching message (required).
    pub action: RawRuleAction,
    /// `duplicate`: extra copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<u32>,
    /// `delay`: added delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// `hold`: earliest delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_until_ms: Option<u64>,
}

/// The `run` block: how the run ends.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRun {
    /// How long the run goes on after the workload, the faults and the final
    /// heal are done, in ms (default 5000).
    pub quiet_ms: u64,
    /// Whether every link is restored once the workload and the faults are
    /// done (default `true`).
    pub final_heal: bool,
    /// The run stops at this simulated time, in ms, at least 1 (default
    /// 3,600,000).
    pub max_time_ms: u64,
    /// The run stops after this many events (default 50,000,000).
    pub max_events: u64,
}

impl Default for RawRun {
    fn default() -> Self {
        RawRun {
            quiet_ms: 5_000,
            final_heal: true,
            max_time_ms: 3_600_000,
            max_events: 50_000_000,
        }
    }
}

/// The `fuzz` block: fault generators that expand, for each seed, into a
/// concrete schedule appended to `faults`. Ranges are `[min, max]`, inclusive.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawFuzz {
    /// No generated fault starts before this.
    #[serde(default)]
    pub from_ms: u64,
    /// No episode starts at or after this (its heal, restart or later flaps may).
    pub until_ms: u64,
    /// Each seed first draws which generators are on and how often they strike.
    #[serde(default)]
    pub swarm: bool,
    /// Partition episodes: cut, wait, heal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<RawFuzzPartitions>,
    /// Some partition episodes flap: cut and heal again and again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flapping: Option<RawFuzzFlapping>,
    /// One node at a time crashes and restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_restart: Option<RawFuzzCrash>,
    /// Clock skews, jumps and drifts on random nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<RawFuzzClock>,
    /// Bursts of loss and duplication on every link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_bursts: Option<RawFuzzLoss>,
    /// One process at a time pauses and resumes (a GC pause, a stalled VM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pauses: Option<RawFuzzPauses>,
    /// Targeted message rules: drop, duplicate, delay or hold one kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<RawFuzzMessages>,
}

/// The shapes a generated partition can take.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionKind {
    /// Nodes `0..n/2` against the rest.
    Halves,
    /// A random half against the other half.
    RandomHalves,
    /// A random minority against the majority.
    MajorityMinority,
    /// One random node against the rest.
    IsolateOne,
    /// Two random halves that both still reach one bridge node.
    Bridge,
    /// Every node sees a majority around it on a random ring, no two the same.
    MajoritiesRing,
    /// One random side stops hearing the other (one direction only).
    OneWay,
}

impl PartitionKind {
    /// Every kind, in catalogue order.
    pub const ALL: [PartitionKind; 7] = [
        PartitionKind::Halves,
        PartitionKind::RandomHalves,
        PartitionKind::MajorityMinority,
        PartitionKind::IsolateOne,
        PartitionKind::Bridge,
        PartitionKind::MajoritiesRing,
        PartitionKind::OneWay,
    ];

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            PartitionKind::Halves => "halves",
            PartitionKind::RandomHalves => "random-halves",
            PartitionKind::MajorityMinority => "majority-minority",
            PartitionKind::IsolateOne => "isolate-one",
            PartitionKind::Bridge => "bridge",
            PartitionKind::MajoritiesRing => "majorities-ring",
            PartitionKind::OneWay => "one-way",
        }
    }

    /// The fewest nodes for which this kind cuts anything.
    pub fn min_nodes(self) -> usize {
        match self {
            PartitionKind::Bridge => 3,
            PartitionKind::MajoritiesRing => 4,
            _ => 2,
        }
    }
}

/// `fuzz.partitions`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RawFuzzPartitions {
    /// Kinds drawn from (default: every kind this node count allows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<PartitionKind>>,
    /// Calm time before each episode.
    pub interval_ms: [u64; 2],
    /// How long each episode lasts.
    pub duration_ms: [u64; 2],
}

impl Default for RawFuzzPartitions {
    fn default() -> Self {
        RawFuzzPartitions {
            kinds: None,
            interval_ms: [100, 1000],
            duration_ms: [50, 500],
        }
    }
}

/// `fuzz.flapping`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RawFuzzFlapping {
    /// Chance that a partition episode flaps.
    pub probability: f64,
    /// How long each cut (and each heal between cuts) lasts.
    pub period_ms: [u64; 2],
}

impl Default for RawFuzzFlapping {
    fn default() -> Self {
        RawFuzzFlapping {
            probability: 0.5,
            period_ms: [10, 100],
        }
    }
}

/// `fuzz.crash_restart`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RawFuzzCrash {
    /// Nodes that may crash (default: every node not down at start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<u64>>,
    /// Time between a restart and the next crash.
    pub interval_ms: [u64; 2],
    /// How long a crashed node stays down.
    pub down_ms: [u64; 2],
}

impl Default for RawFuzzCrash {
    fn default() -> Self {
        RawFuzzCrash {
            nodes: None,
            interval_ms: [200, 2000],
            down_ms: [50, 1000],
        }
    }
}

/// `fuzz.clock`: each event picks a node and one of the configured changes.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RawFuzzClock {
    /// Time between clock events.
    pub interval_ms: [u64; 2],
    /// Set a node's offset from true time (`clock_skew`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skew_ms: Option<[i64; 2]>,
    /// Step a node's clock (`clock_jump`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jump_ms: Option<[i64; 2]>,
    /// Set a node's drift (`clock_drift`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift_ppm: Option<[i64; 2]>,
}

impl Default for RawFuzzClock {
    fn default() -> Self {
        RawFuzzClock {
            interval_ms: [200, 2000],
            skew_ms: None,
            jump_ms: None,
            drift_ppm: None,
        }
    }
}

/// `fuzz.loss_bursts`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RawFuzzLoss {
    /// Calm time before each burst.
    pub interval_ms: [u64; 2],
    /// How long each burst lasts.
    pub duration_ms: [u64; 2],
    /// Chance each message is lost during a burst.
    pub drop: [f64; 2],
    /// Chance each message is duplicated during a burst.
    pub duplicate: [f64; 2],
}

impl Default for RawFuzzLoss {
    fn default() -> Self {
        RawFuzzLoss {
            interval_ms: [200, 2000],
            duration_ms: [50, 300],
            drop: [0.1, 0.5],
            duplicate: [0.0, 0.0],
        }
    }
}

/// `fuzz.pauses`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RawFuzzPauses {
    /// Replicas that may pause (default: every replica not down at start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<u64>>,
    /// Time between a resume and the next pause.
    pub interval_ms: [u64; 2],
    /// How long a paused process stays paused.
    pub duration_ms: [u64; 2],
}

impl Default for RawFuzzPauses {
    fn default() -> Self {
        RawFuzzPauses {
            nodes: None,
            interval_ms: [200, 2000],
            duration_ms: [10, 500],
        }
    }
}

/// `fuzz.messages`: each episode is one `message` rule in force for a window.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RawFuzzMessages {
    /// Message kinds drawn from (default: the kinds a probe run sends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<String>>,
    /// Actions drawn from.
    pub actions: Vec<RawRuleAction>,
    /// Calm time before each rule.
    pub interval_ms: [u64; 2],
    /// How long each rule stays in force (`until_ms = at_ms + window`).
    pub window_ms: [u64; 2],
    /// Chance that a rule takes only the first matching message.
    pub occurrence: f64,
    /// `delay`: the added delay.
    pub delay_ms: [u64; 2],
    /// `duplicate`: the extra copies.
    pub copies: [u32; 2],
}

impl Default for RawFuzzMessages {
    fn default() -> Self {
        RawFuzzMessages {
            kinds: None,
            actions: RawRuleAction::ALL.to_vec(),
            interval_ms: [100, 1000],
            window_ms: [10, 500],
            occurrence: 0.5,
            delay_ms: [10, 500],
            copies: [1, 3],
        }
    }
}
