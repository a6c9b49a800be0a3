//! Challenge #5, kafka-style log: Maelstrom's kafka workload, its client,
//! and mchernyakov's three solutions plus an intended one.
//!
//! - `faithful-a` (cmd/kafka.go, internal/kafka_store.go): one node's
//!   store. Per key a dense array; send appends and answers the index;
//!   poll answers every `[offset, msg]` from the asked offset to the end, for
//!   each key with data. An offset past the end of a non-empty log is Go's
//!   slice-bounds panic: the process exits (a halt). commit_offsets
//!   overwrites, so a commit can move back; list_committed_offsets answers 0
//!   for a key never committed.
//! - `faithful-b` (cmd/kafka_b.go): the same store on the leader only. On
//!   its first request, under the node's mutex, a node does lin-kv
//!   cas("leader", self, self, create); on failure it reads the key, and
//!   caches the winner forever. A follower forwards every request to the
//!   leader by SyncRPC without a deadline, still holding the mutex, so its
//!   handlers run one at a time and a lost forward stops the node for good.
//! - `faithful-c` (cmd/kafka_c.go): the leader (chosen as in b) appends,
//!   then calls send_update on each other node in turn by SyncRPC, holding
//!   its mutex for the whole send; a follower's offset that differs is an
//!   error (Maelstrom's crash, code 13) after the leader and the earlier
//!   followers appended. commit_offsets goes to the leader, which commits
//!   and calls commit_offsets_update on each follower. poll and
//!   list_committed_offsets are served locally on any node, under the read
//!   side of the node's lock.
//! - `intended`: the log lives in lin-kv (never partitioned, as Maelstrom's
//!   services are not). A send claims the first free slot of its key with
//!   cas(slot, msg, msg, create) — claiming and writing in one atomic step —
//!   starting from the highest slot this node has seen; a taken slot sends
//!   it to the next. Slots are never freed, so the log is dense, every
//!   later send lands after every earlier one, and a poll reads slots from
//!   the asked offset up to the first free one. Committed offsets are
//!   lin-kv keys that only grow (read, then cas). Any node serves any
//!   request, so a partition of the servers costs nothing.
//!
//! The client ([`client`]) is Maelstrom's kafka client as a client process.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sim::{Digest, NodeId, Request, Sim, ValueGen};

use super::{Kind, Net, Server, Timer, Workload};
use crate::{CheckResult, CheckSpec, ClientMode, OpSpec, Variant};

pub mod client;
mod intended;
mod server;
#[cfg(test)]
mod tests;

pub use server::Srv;

/// Offsets or messages by key.
pub type ByKey<T> = BTreeMap<String, T>;

/// The kafka workload's messages, and the solutions' own. They read back
/// from JSON too: a WebAssembly node's replies to the client processes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Msg {
    /// Append `msg` to log `key`.
    Send {
        /// The log.
        key: String,
        /// The message.
        msg: i64,
    },
    /// The offset it got.
    SendOk {
        /// Its offset.
        offset: i64,
    },
    /// Messages from these offsets on.
    Poll {
        /// Per key, the first offset wanted.
        offsets: ByKey<i64>,
    },
    /// `[offset, msg]` pairs per key.
    PollOk {
        /// Per key.
        msgs: ByKey<Vec<(i64, i64)>>,
    },
    /// The client processed up to these offsets.
    CommitOffsets {
        /// Per key.
        offsets: ByKey<i64>,
    },
    /// Committed.
    CommitOffsetsOk,
    /// The committed offsets of these keys, please.
    ListCommittedOffsets {
        /// The keys.
        keys: Vec<String>,
    },
    /// Per key (absent: none).
    ListCommittedOffsetsOk {
        /// Per key.
        offsets: ByKey<i64>,
    },
    /// faithful-c: the leader's append, replayed on a follower.
    SendUpdate {
        /// The log.
        key: String,
        /// The message.
        msg: i64,
    },
    /// The follower's offset for it.
    SendUpdateOk {
        /// Its offset on the follower.
        offset: i64,
    },
    /// faithful-c: the leader's commit, replayed on a follower.
    CommitOffsetsUpdate {
        /// Per key.
        offsets: ByKey<i64>,
    },
    /// Done.
    CommitOffsetsUpdateOk,
}

impl Msg {
    /// The `type` as it goes on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Send { .. } => "send",
            Msg::SendOk { .. } => "send_ok",
            Msg::Poll { .. } => "poll",
            Msg::PollOk { .. } => "poll_ok",
            Msg::CommitOffsets { .. } => "commit_offsets",
            Msg::CommitOffsetsOk => "commit_offsets_ok",
            Msg::ListCommittedOffsets { .. } => "list_committed_offsets",
            Msg::ListCommittedOffsetsOk { .. } => "list_committed_offsets_ok",
            Msg::SendUpdate { .. } => "send_update",
            Msg::SendUpdateOk { .. } => "send_update_ok",
            Msg::CommitOffsetsUpdate { .. } => "commit_offsets_update",
            Msg::CommitOffsetsUpdateOk => "commit_offsets_update_ok",
        }
    }
}

/// `params`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// intended: the most messages a poll returns per key (each is one
    /// lin-kv read).
    pub poll_max: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params { poll_max: 10 }
    }
}

/// Which solution a server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Solution {
    /// cmd/kafka.go.
    A,
    /// cmd/kafka_b.go.
    B,
    /// cmd/kafka_c.go.
    C,
    /// The lin-kv log.
    Intended,
}

/// A process of the kafka world: a server, or a client process.
#[derive(Clone, Debug)]
pub enum Kafka {
    /// A server running one of the solutions.
    Server(Box<Srv>),
    /// Maelstrom's kafka client.
    Client(Box<client::Client>),
}

/// What an RPC's reply resumes.
#[derive(Clone, Debug)]
pub enum Cont {
    /// A server's handler.
    Srv(server::Cont),
    /// The client's call number `n`.
    Client(u64),
}

/// The message a kafka body is.
pub(crate) fn kafka(kind: Kind) -> Result<Msg, Kind> {
    match kind {
        Kind::Kafka(m) => Ok(m),
        other => Err(other),
    }
}

impl Workload for Kafka {
    const NAME: &'static str = "gg-kafka";
    const SUMMARY: &'static str = "Gossip Glomers #5 on a Maelstrom world: a kafka-style log with Maelstrom's kafka client (faithful a/b/c: mchernyakov's single node, forwarding leader, synchronously replicating leader; intended: a log in lin-kv)";
    type Params = Params;
    type Cont = Cont;

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "faithful-a",
                summary: "cmd/kafka.go: one node's dense arrays; a poll past the end panics (halt); commits overwrite; never-committed keys list as 0",
            },
            Variant {
                name: "faithful-b",
                summary: "cmd/kafka_b.go: lin-kv cas leader election cached forever; followers forward everything by SyncRPC holding their mutex; the leader serves from its one copy",
            },
            Variant {
                name: "faithful-c",
                summary: "cmd/kafka_c.go: the leader appends, then send_update to each follower in turn holding its mutex, an error after partial application on a mismatch; polls served locally",
            },
            Variant {
                name: "intended",
                summary: "the log in lin-kv: a send claims its key's first free slot by cas(create), polls read slots up to the first free one, commits only grow",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        vec![
            OpSpec {
                name: "send",
                read: false,
                weight: 8,
                value: ValueGen::Unique,
            },
            OpSpec {
                name: "poll",
                read: true,
                weight: 8,
                value: ValueGen::Null,
            },
            OpSpec {
                name: "assign",
                read: false,
                weight: 1,
                value: ValueGen::Null,
            },
            OpSpec {
                name: "crash",
                read: false,
                weight: 0,
                value: ValueGen::Null,
            },
        ]
    }

    fn model() -> Option<&'static str> {
        Some("kafka")
    }

    fn checks() -> &'static [CheckSpec] {
        &[
            CheckSpec {
                name: "kafka",
                summary: "Jepsen's queue analysis (dsim check --model kafka): no inconsistent-offsets, duplicate, lost-write, poll-skip, nonmonotonic poll or send (nor their internal variants), G1a, precommitted-read or unseen message",
            },
            super::checks::STATS,
        ]
    }

    fn default_checks() -> &'static [&'static str] {
        &["kafka", "availability", "stats"]
    }

    fn default_services() -> &'static [&'static str] {
        &["lin-kv"]
    }

    fn client_modes() -> &'static [ClientMode] {
        &[ClientMode::Protocol]
    }

    fn validate(params: &Params, _: usize) -> Result<(), String> {
        if params.poll_max == 0 {
            return Err("poll_max must be at least 1".into());
        }
        Ok(())
    }

    fn new(id: NodeId, nodes: usize, variant: &str, params: &Params) -> Self {
        if id >= nodes {
            return Kafka::Client(Box::default());
        }
        let solution = match variant {
            "faithful-b" => Solution::B,
            "faithful-c" => Solution::C,
            "intended" => Solution::Intended,
            _ => Solution::A,
        };
        Kafka::Server(Box::new(Srv::new(solution, id, nodes, params)))
    }

    fn on_init(&mut self, net: &mut Net<'_, '_, '_, Self>) {
        if let Kafka::Server(s) = self {
            s.on_init(net);
        }
    }

    fn on_request(&mut self, net: &mut Net<'_, '_, '_, Self>, req: Request) {
        if let Kafka::Client(c) = self {
            c.on_request(net, req);
        }
    }

    fn on_message(
        &mut self,
        net: &mut Net<'_, '_, '_, Self>,
        from: NodeId,
        msg_id: Option<u64>,
        kind: Kind,
    ) -> Result<(), Kind> {
        match self {
            Kafka::Server(s) => s.on_message(net, from, msg_id, kafka(kind)?),
            // A client process takes only replies.
            Kafka::Client(_) => Ok(()),
        }
    }

    fn on_reply(&mut self, net: &mut Net<'_, '_, '_, Self>, cont: Cont, kind: Kind) {
        match (self, cont) {
            (Kafka::Server(s), Cont::Srv(c)) => s.on_reply(net, c, kind),
            (Kafka::Client(c), Cont::Client(n)) => c.on_reply(net, n, kind),
            _ => {}
        }
    }

    fn on_timer(&mut self, _: &mut Net<'_, '_, '_, Self>, _: Timer) {}

    fn digest(&self) -> Digest {
        match self {
            Kafka::Server(s) => s.digest(),
            Kafka::Client(_) => Digest::new(),
        }
    }

    fn notes(run: &Sim<Server<Self>>) -> Vec<String> {
        server::notes(run)
    }

    fn check(name: &str, run: &Sim<Server<Self>>) -> CheckResult {
        match name {
            "kafka" => check(run.history()),
            _ => CheckResult::unknown(format!("gg-kafka has no check named {name}")),
        }
    }
}

/// The `kafka` check: the checker's analysis of the run's history.
pub fn check(history: &[sim::HistoryEvent]) -> CheckResult {
    let h = match crate::check::to_checker_history(history) {
        Ok(h) => h,
        Err(e) => return CheckResult::unknown(format!("the history is not well formed: {e}")),
    };
    let ops: Vec<&checker::history::Operation> = h.operations().iter().collect();
    let a = match checker::model::kafka::analyze(&ops) {
        Ok(a) => a,
        Err((i, e)) => return CheckResult::unknown(format!("operation {i}: {e}")),
    };
    let summary = checker::model::kafka::summary(&a);
    let evidence: Vec<String> = a
        .found
        .iter()
        .take(12)
        .map(|f| {
            let procs: Vec<String> = f
                .ops
                .iter()
                .map(|&i| {
                    format!(
                        "p{} {} at {}",
                        ops[i].process,
                        ops[i].f,
                        super::ms(ops[i].time)
                    )
                })
                .collect();
            format!("{}: {} [{}]", f.anomaly, f.text, procs.join(", "))
        })
        .collect();
    if a.valid() {
        let tally = if a.found.is_empty() {
            String::new()
        } else {
            format!(" ({})", a.tally())
        };
        CheckResult::pass(format!("{summary}{tally}"))
    } else {
        CheckResult::violation(format!("{summary}: {}", a.tally()), evidence)
    }
}
