//! The scenario file as written: serde structs that reject unknown fields.
//! Defaults that depend on nothing else live here; the ones that depend on
//! the protocol or the node count are filled in by `normalize`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default = "empty_object")]
    pub params: serde_json::Value,
    pub nodes: u64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub network: RawNetwork,
    /// Services that run beside the replicas (absent: the protocol's
    /// default ones; see `dsim list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<RawService>>,
    #[serde(default)]
    pub clocks: Vec<RawClock>,
    #[serde(default)]
    pub down_at_start: Vec<u64>,
    #[serde(default)]
    pub workload: RawWorkload,
    #[serde(default)]
    pub faults: Vec<RawFault>,
    #[serde(default)]
    pub run: RawRun,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<String>>,
    #[serde(default)]
    pub expect: BTreeMap<String, Expect>,
    /// Settings of the generic checks.
    #[serde(default, skip_serializing_if = "is_default_params")]
    pub check_params: protocols::CheckParams,
    /// Fault generators expanded per seed (see `dsim::fuzz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuzz: Option<RawFuzz>,
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
    pub name: String,
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

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawLatency {
    Fixed {
        ms: u64,
    },
    Uniform {
        min_ms: u64,
        max_ms: u64,
    },
    Exponential {
        #[serde(default)]
        min_ms: u64,
        mean_ms: u64,
        max_ms: u64,
    },
    Normal {
        mean_ms: u64,
        sd_ms: u64,
        #[serde(default)]
        min_ms: u64,
        max_ms: u64,
    },
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawNetwork {
    pub latency: RawLatency,
    pub drop: f64,
    pub duplicate: f64,
    pub ordered: bool,
    pub partition_mode: sim::PartitionMode,
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
            links: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    pub from: NodeRef,
    pub to: NodeRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<RawLatency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordered: Option<bool>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawClock {
    pub node: u64,
    #[serde(default)]
    pub skew_ms: i64,
    #[serde(default)]
    pub drift_ppm: i64,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWorkload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clients: Option<u64>,
    pub ops: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mix: Option<Vec<RawMix>>,
    pub rate: RawRate,
    pub node_policy: sim::NodePolicy,
    pub timeout_ms: u64,
    pub start_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_ms: Option<u64>,
    pub latency: RawLatency,
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

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMix {
    pub f: String,
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawRate {
    Closed { think_ms: u64 },
    Open { interval_ms: u64 },
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawScriptOp {
    pub at_ms: u64,
    #[serde(default)]
    pub client: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<u64>,
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<u32>,
    #[serde(default)]
    pub value: serde_json::Value,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawFault {
    Partition {
        at_ms: u64,
        groups: Vec<Vec<NodeRef>>,
    },
    PartitionOneWay {
        at_ms: u64,
        from: Vec<NodeRef>,
        to: Vec<NodeRef>,
    },
    Heal {
        at_ms: u64,
    },
    Crash {
        at_ms: u64,
        node: NodeRef,
    },
    Restart {
        at_ms: u64,
        node: NodeRef,
    },
    Pause {
        at_ms: u64,
        node: NodeRef,
    },
    Resume {
        at_ms: u64,
        node: NodeRef,
    },
    ClockSkew {
        at_ms: u64,
        node: NodeRef,
        offset_ms: i64,
    },
    ClockDrift {
        at_ms: u64,
        node: NodeRef,
        drift_ppm: i64,
    },
    ClockJump {
        at_ms: u64,
        node: NodeRef,
        delta_ms: i64,
    },
    LinkError {
        at_ms: u64,
        from: NodeRef,
        to: NodeRef,
    },
    /// A targeted message rule (see docs/scenario-format.md).
    Message(RawMessageRule),
    Loss {
        at_ms: u64,
        drop: f64,
        #[serde(default)]
        duplicate: f64,
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
    Drop,
    Duplicate,
    Delay,
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
    pub at_ms: u64,
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

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRun {
    pub quiet_ms: u64,
    pub final_heal: bool,
    pub max_time_ms: u64,
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
