//! Clients: what they ask, when, and of which node; and the history they record.

use std::collections::VecDeque;

use serde::Serialize;

use crate::network::Latency;
use crate::node::{Reply, Request, RequestId, Value};
use crate::rng::Rng;
use crate::{NodeId, Time};

/// How generated operations are paced.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rate {
    /// Each client issues its next operation `think_us` after the previous completed.
    Closed {
        /// Pause between operations.
        think_us: Time,
    },
    /// One operation every `interval_us`, handed to clients in turn; a busy
    /// client queues it and invokes it when its current operation completes.
    Open {
        /// Time between operations.
        interval_us: Time,
    },
    /// Jepsen's `gen/stagger`: the first operation at the start, then each
    /// one a uniform random time in `[0, 2·mean_us)` after the previous, so
    /// `mean_us` apart on average, handed to clients in turn as `Open` does.
    Stagger {
        /// The mean time between operations.
        mean_us: Time,
    },
}

/// Which node a client sends an operation to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodePolicy {
    /// Client `c` always talks to node `c mod n`.
    Fixed,
    /// Each client moves to the next node for each operation.
    RoundRobin,
    /// A uniformly random node per operation.
    Random,
}

/// How a generated operation's input value is drawn.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueGen {
    /// `null` (reads).
    Null,
    /// 1, 2, 3, … across the whole run, so every written value is distinct.
    Unique,
    /// A uniform integer in `min..=max`.
    Range {
        /// Smallest.
        min: i64,
        /// Largest.
        max: i64,
    },
    /// Always this value.
    Const(Value),
    /// A transaction (Maelstrom's txn-rw-register): 1..=`max_len`
    /// micro-operations `["r", k, null]` or `["w", k, v]`, each a read or a
    /// write with equal odds, `k` uniform in `0..keys`, every written `v`
    /// drawn from the same counter as `Unique`, so writes are unique.
    Txn {
        /// Keys drawn from `0..keys`.
        keys: u32,
        /// At most this many micro-operations.
        max_len: u32,
    },
}

/// One kind of generated operation and how often it is drawn.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MixEntry {
    /// Operation name.
    pub f: &'static str,
    /// Relative weight.
    pub weight: u32,
    /// Input value.
    pub value: ValueGen,
}

/// A scripted operation: this client, at this time, this operation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScriptOp {
    /// When the client wants to invoke it (later if it is still busy).
    pub at: Time,
    /// Which client.
    pub client: usize,
    /// Which node; `None` follows the node policy.
    pub node: Option<NodeId>,
    /// Operation name.
    pub f: &'static str,
    /// Key, if keyed.
    pub key: Option<u32>,
    /// Input value.
    pub value: Value,
}

/// The whole client workload of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadSpec {
    /// Clients that run generated operations (script clients may add more).
    pub clients: usize,
    /// Generated operations in total.
    pub ops: u64,
    /// Keys `0..keys`; `None` for an unkeyed workload.
    pub keys: Option<u32>,
    /// Operation mix for generated operations.
    pub mix: Vec<MixEntry>,
    /// Pacing.
    pub rate: Rate,
    /// Node choice.
    pub node_policy: NodePolicy,
    /// After this long without a reply an operation is recorded as `info`.
    pub timeout_us: Time,
    /// When generation starts.
    pub start_us: Time,
    /// No generated operation is invoked after this time.
    pub stop_us: Option<Time>,
    /// Scripted operations.
    pub script: Vec<ScriptOp>,
    /// Client↔node latency, each way.
    pub latency: Latency,
}

/// The kind of a history event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The client sent the operation.
    Invoke,
    /// It took effect.
    Ok,
    /// It certainly did not take effect.
    Fail,
    /// Unknown outcome (timeout, or the node could not say).
    Info,
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryEvent {
    /// Client process (a fresh one replaces a process after an `info`).
    pub process: u64,
    /// Invoke or completion.
    pub kind: EventKind,
    /// Operation name.
    pub f: &'static str,
    /// Key.
    pub key: Option<u32>,
    /// Input (invoke) or result (completion).
    pub value: Value,
    /// Global time in microseconds.
    pub time: Time,
    /// The node the operation went to.
    pub node: NodeId,
    /// On an `ok` completion: the answering replica's applied position
    /// when it answered (runs that track positions, protocols that have
    /// them; see `Node::applied`).
    pub position: Option<u64>,
}

impl Default for WorkloadSpec {
    /// No clients and no operations; closed loop without think time, fixed
    /// nodes, a 1 s timeout, zero client latency.
    fn default() -> WorkloadSpec {
        WorkloadSpec {
            clients: 0,
            ops: 0,
            keys: None,
            mix: Vec::new(),
            rate: Rate::Closed { think_us: 0 },
            node_policy: NodePolicy::Fixed,
            timeout_us: 1_000 * crate::MS,
            start_us: 0,
            stop_us: None,
            script: Vec::new(),
            latency: Latency::Fixed { us: 0 },
        }
    }
}

impl WorkloadSpec {
    /// How many clients run: the generated ones, or more if the script
    /// names a higher client.
    pub fn client_count(&self) -> usize {
        let scripted = self.script.iter().map(|s| s.client + 1).max().unwrap_or(0);
        self.clients.max(scripted)
    }
}

#[derive(Clone, Debug)]
struct Planned {
    f: &'static str,
    key: Option<u32>,
    value: Value,
    node: Option<NodeId>,
}

#[derive(Clone, Debug)]
struct Client {
    process: u64,
    busy: Option<RequestId>,
    pending: VecDeque<Planned>,
    next_node: usize,
}

/// Who completed an operation, and how (the value is the reply's).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Completion<'r> {
    pub client: usize,
    pub process: u64,
    pub kind: EventKind,
    pub value: &'r Value,
}

/// The kind of completion a reply makes (`None`: a timeout), and its value.
#[inline]
fn outcome(reply: Option<&Reply>) -> (EventKind, &Value) {
    const NULL: &Value = &Value::Null;
    match reply {
        Some(Reply::Ok(v)) => (EventKind::Ok, v),
        Some(Reply::Fail(v)) => (EventKind::Fail, v),
        Some(Reply::Info) | None => (EventKind::Info, NULL),
    }
}

/// A request that has been invoked and not yet completed.
#[derive(Clone, Debug)]
pub(crate) struct InFlight {
    pub client: usize,
    pub node: NodeId,
    pub request: Request,
}

/// Client state during a run.
pub(crate) struct Clients {
    pub spec: WorkloadSpec,
    clients: Vec<Client>,
    rng: Rng,
    latency_rng: Rng,
    generated: u64,
    next_unique: i64,
    next_open_client: usize,
    scripts_left: usize,
    next_request: RequestId,
    /// Requests by id, from `first_request` on; completed ones are `None`
    /// and fall off the front, so this stays as small as what is in flight.
    in_flight: VecDeque<Option<InFlight>>,
    first_request: RequestId,
    record: bool,
    /// Requests that have left their queue and not completed.
    pub busy: usize,
    pub history: Vec<HistoryEvent>,
    nodes: usize,
    weights: Vec<u32>,
}

impl Clients {
    pub fn new(spec: WorkloadSpec, nodes: usize, seed: u64) -> Clients {
        let n = spec.client_count();
        let clients = (0..n)
            .map(|c| Client {
                process: c as u64,
                busy: None,
                pending: VecDeque::new(),
                next_node: c % nodes.max(1),
            })
            .collect();
        Clients {
            weights: spec.mix.iter().map(|m| m.weight).collect(),
            scripts_left: spec.script.len(),
            spec,
            clients,
            rng: Rng::derive(seed, "workload"),
            latency_rng: Rng::derive(seed, "client-latency"),
            generated: 0,
            next_unique: 1,
            next_open_client: 0,
            next_request: 0,
            in_flight: VecDeque::new(),
            first_request: 0,
            record: true,
            busy: 0,
            history: Vec::new(),
            nodes,
        }
    }

    /// Stops recording the history (for runs whose checks do not need it).
    pub fn set_recording(&mut self, on: bool) {
        self.record = on;
    }

    /// True while generated operations remain to be issued at `now`.
    #[inline]
    pub fn may_generate(&self, now: Time) -> bool {
        self.generated < self.spec.ops
            && !self.spec.mix.is_empty()
            && self.spec.clients > 0
            && self.spec.stop_us.is_none_or(|s| now <= s)
    }

    /// True when every operation has been issued and completed.
    #[inline]
    pub fn done(&self, now: Time) -> bool {
        self.busy == 0
            && self.scripts_left == 0
            && !self.may_generate(now)
            && self.clients.iter().all(|c| c.pending.is_empty())
    }

    fn plan(&mut self) -> Planned {
        self.generated += 1;
        let m = if self.spec.mix.len() == 1 {
            &self.spec.mix[0]
        } else {
            &self.spec.mix[self.rng.weighted(&self.weights)]
        };
        let f = m.f;
        let gen = m.value.clone();
        let key = self.spec.keys.map(|k| self.rng.below(u64::from(k)) as u32);
        let value = match gen {
            ValueGen::Null => Value::Null,
            ValueGen::Unique => {
                self.next_unique += 1;
                Value::Int(self.next_unique - 1)
            }
            ValueGen::Range { min, max } => Value::Int(self.rng.range_i64(min, max)),
            ValueGen::Const(v) => v,
            ValueGen::Txn { keys, max_len } => {
                let len = 1 + self.rng.below(u64::from(max_len.max(1)));
                let mops = (0..len)
                    .map(|_| {
                        let k = Value::Int(self.rng.below(u64::from(keys.max(1))) as i64);
                        if self.rng.below(2) == 0 {
                            Value::List(vec![Value::Str("r".into()), k, Value::Null])
                        } else {
                            self.next_unique += 1;
                            let v = Value::Int(self.next_unique - 1);
                            Value::List(vec![Value::Str("w".into()), k, v])
                        }
                    })
                    .collect();
                Value::List(mops)
            }
        };
        Planned {
            f,
            key,
            value,
            node: None,
        }
    }

    /// Generates one operation for `client` and invokes it if the client is
    /// idle (as [`Clients::try_invoke`] does); otherwise it waits in the
    /// client's queue. An idle client with nothing queued takes it straight
    /// away, without a trip through the queue.
    pub fn generate_for(&mut self, client: usize, now: Time) -> Option<(RequestId, NodeId, Time)> {
        let p = self.plan();
        let c = &mut self.clients[client];
        if c.busy.is_none() && c.pending.is_empty() {
            return Some(self.invoke(client, p, now));
        }
        c.pending.push_back(p);
        self.try_invoke(client, now)
    }

    /// The next client in turn (open loop).
    pub fn next_open_client(&mut self) -> usize {
        // Wrapping with a compare, not a division.
        let c = self.next_open_client;
        self.next_open_client = if c + 1 < self.spec.clients { c + 1 } else { 0 };
        c
    }

    /// Queues scripted operation `i` on its client; returns the client.
    pub fn queue_script(&mut self, i: usize) -> usize {
        self.scripts_left -= 1;
        let s = &self.spec.script[i];
        let c = s.client;
        let p = Planned {
            f: s.f,
            key: s.key,
            value: s.value.clone(),
            node: s.node,
        };
        self.clients[c].pending.push_back(p);
        c
    }

    /// If `client` is idle and has work queued, invokes it: records the
    /// invocation and returns the request id, target node and latency to it.
    pub fn try_invoke(&mut self, client: usize, now: Time) -> Option<(RequestId, NodeId, Time)> {
        let c = &mut self.clients[client];
        if c.busy.is_some() {
            return None;
        }
        let p = c.pending.pop_front()?;
        Some(self.invoke(client, p, now))
    }

    /// Invokes `p` on idle `client`.
    fn invoke(&mut self, client: usize, p: Planned, now: Time) -> (RequestId, NodeId, Time) {
        let c = &mut self.clients[client];
        let node = match (p.node, self.spec.node_policy) {
            (Some(n), _) => n,
            (None, NodePolicy::Fixed) => client % self.nodes,
            (None, NodePolicy::RoundRobin) => {
                // `next_node` stays below `nodes`: wrap with a compare.
                let n = c.next_node;
                c.next_node = if n + 1 < self.nodes { n + 1 } else { 0 };
                n
            }
            (None, NodePolicy::Random) => self.rng.below(self.nodes as u64) as usize,
        };
        let id = self.next_request;
        self.next_request += 1;
        let c = &mut self.clients[client];
        c.busy = Some(id);
        self.busy += 1;
        let process = c.process;
        if self.record {
            self.history.push(HistoryEvent {
                process,
                kind: EventKind::Invoke,
                f: p.f,
                key: p.key,
                value: p.value.clone(),
                time: now,
                node,
                position: None,
            });
        }
        let request = Request {
            id,
            node,
            f: p.f,
            key: p.key,
            value: p.value,
        };
        self.in_flight.push_back(Some(InFlight {
            client,
            node,
            request,
        }));
        let lat = self.spec.latency.sample(&mut self.latency_rng);
        (id, node, lat)
    }

    /// The in-flight request `id`, if it has not completed.
    #[inline]
    pub fn in_flight(&self, id: RequestId) -> Option<&InFlight> {
        let i = id.checked_sub(self.first_request)?;
        self.in_flight.get(i as usize).and_then(|r| r.as_ref())
    }

    /// A latency draw for a reply travelling back to a client.
    #[inline]
    pub fn reply_latency(&mut self) -> Time {
        self.spec.latency.sample(&mut self.latency_rng)
    }

    /// Completes request `id` with `reply` (or as `info` on a timeout),
    /// answered at applied `position`. Returns who completed it and how,
    /// or `None` when the request had already completed.
    pub fn complete<'r>(
        &mut self,
        id: RequestId,
        reply: Option<&'r Reply>,
        now: Time,
        position: Option<u64>,
    ) -> Option<Completion<'r>> {
        let i = id.checked_sub(self.first_request)?;
        let f = self.in_flight.get_mut(i as usize)?.take()?;
        while let Some(None) = self.in_flight.front() {
            self.in_flight.pop_front();
            self.first_request += 1;
        }
        let n_clients = self.clients.len() as u64;
        let c = &mut self.clients[f.client];
        c.busy = None;
        self.busy -= 1;
        let (kind, value) = outcome(reply);
        let process = c.process;
        if kind == EventKind::Info {
            // A process whose operation's outcome is unknown is never reused.
            c.process += n_clients;
        }
        if self.record {
            self.history.push(HistoryEvent {
                process,
                kind,
                f: f.request.f,
                key: f.request.key,
                value: value.clone(),
                time: now,
                node: f.node,
                position: if kind == EventKind::Ok {
                    position
                } else {
                    None
                },
            });
        }
        Some(Completion {
            client: f.client,
            process,
            kind,
            value,
        })
    }

    /// The process id client `c` currently uses.
    pub fn process_of(&self, c: usize) -> u64 {
        self.clients[c].process
    }
}
