//! The dsim engine: one seeded, single-threaded event loop that plays the
//! network, the clocks, the faults and the clients for pluggable protocol
//! nodes, and records a trace whose fingerprint identifies the run.
//!
//! Same [`SimConfig`] + same nodes = the same run, event for event: time is
//! an integer (microseconds), randomness comes from per-purpose ChaCha8
//! streams derived from one seed, collections on the run path are ordered,
//! and probabilities are exact integer ratios.
//!
//! ```
//! use sim::{Ctx, Digest, Node, NodeId, Request, Reply, Value};
//!
//! /// A node that answers every request with its own id.
//! struct Echo;
//! impl Node for Echo {
//!     type Msg = ();
//!     type Timer = ();
//!     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
//!     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
//!     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ()) {}
//!     fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, r: Request) {
//!         let me = ctx.id() as i64;
//!         ctx.reply(r.id, Reply::Ok(Value::Int(me)));
//!     }
//!     fn on_crash(&mut self) {}
//!     fn digest(&self) -> Digest { Digest::new() }
//! }
//! let mut h = sim::Harness::new(Echo, 2, 3);
//! let effects = h.request(Request { id: 9, node: 2, f: "read", key: None, value: Value::Null });
//! assert_eq!(effects.len(), 1);
//! ```

#![warn(missing_docs)]

pub mod clock;
pub mod engine;
pub mod fault;
pub mod hash;
pub mod intset;
pub mod layout;
pub mod ms;
pub mod network;
pub mod node;
pub mod queue;
pub mod rng;
pub mod rule;
pub mod trace;
pub mod workload;

pub use clock::Clock;
pub use engine::{Divergence, Halt, PositionState, Sim, SimConfig, Stats, Status, StopReason};
pub use fault::{Fault, ScheduledFault};
pub use intset::{GrowSet, IntSet};
pub use layout::{Layout, Role};
pub use ms::{Ms, MAX_MS};
pub use network::{Latency, Link, Network, PartitionMode};
pub use node::{
    Ctx, Digest, Effect, EffectOf, Effects, Harness, Node, Recorder, Reply, Request, RequestId,
    Value,
};
pub use rng::{Prob, Rng};
pub use rule::{MessageMatch, MessageRule, RuleAction};
pub use workload::{
    EventKind, HistoryEvent, MixEntry, NodePolicy, Rate, ScriptOp, ValueGen, WorkloadSpec,
};

/// A node's index, `0..nodes`.
pub type NodeId = usize;

/// Simulated time in microseconds.
pub type Time = u64;

/// Microseconds per millisecond.
pub const MS: Time = 1_000;
