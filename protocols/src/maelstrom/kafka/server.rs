//! mchernyakov's three kafka solutions as servers (see the module's
//! overview), and the shared pieces the intended one uses.

use std::collections::VecDeque;

use sim::{Digest, NodeId, Sim};

use super::{ByKey, Cont as KCont, Kafka, Msg, Params, Solution};
use crate::maelstrom::{code, Kind, Net, Server};

type N<'a, 'b, 'c, 'd> = Net<'a, 'b, 'c, Kafka>;

/// A request being handled: a client's, or one a follower forwarded.
#[derive(Clone, Debug)]
pub struct Job {
    /// Who asked (a client process, or a follower).
    pub from: NodeId,
    /// Its `msg_id`, for the reply.
    pub msg_id: Option<u64>,
    /// What it asks.
    pub req: Msg,
}

/// What a server's RPC reply resumes.
#[derive(Clone, Debug)]
pub enum Cont {
    /// b, c: the election's cas came back.
    Elect(Job),
    /// b, c: the election's read of the winner came back.
    ElectRead(Job),
    /// b, c: the leader answered a forwarded request.
    Forward(Job),
    /// c: a follower answered send_update; `rest` are still to call.
    Replicate {
        /// The send.
        job: Job,
        /// The leader's offset.
        offset: i64,
        /// Followers still to call, in order.
        rest: Vec<NodeId>,
    },
    /// c: a follower answered commit_offsets_update.
    CommitUpdate {
        /// The commit.
        job: Job,
        /// Followers still to call, in order.
        rest: Vec<NodeId>,
    },
    /// intended: the lin-kv steps of a request.
    Intended(Step),
}

/// intended: where a request's chain of lin-kv calls stands.
#[derive(Clone, Debug)]
pub enum Step {
    /// A send tried to claim `slot`.
    Claim {
        /// The send.
        job: Job,
        /// The slot tried.
        slot: i64,
    },
    /// A poll read `key`'s slot `slot`.
    PollRead {
        /// The poll.
        job: Job,
        /// Keys still to read, with their offsets (the current one first).
        todo: Vec<(String, i64)>,
        /// The slot read.
        slot: i64,
        /// What it has so far.
        got: ByKey<Vec<(i64, i64)>>,
    },
    /// A commit read a key's committed offset.
    CommitRead {
        /// The commit.
        job: Job,
        /// Keys still to commit (the current one first).
        todo: Vec<(String, i64)>,
    },
    /// A commit's cas of a key's committed offset came back.
    CommitCas {
        /// The commit.
        job: Job,
        /// Keys still to commit (the current one first).
        todo: Vec<(String, i64)>,
    },
    /// list_committed_offsets read a key's committed offset.
    ListRead {
        /// The request.
        job: Job,
        /// Keys still to read (the current one first).
        todo: Vec<String>,
        /// What it has so far.
        got: ByKey<i64>,
    },
}

/// internal/kafka_store.go: per key a dense array, and committed offsets.
#[derive(Clone, Debug, Default)]
pub struct Store {
    /// The logs.
    pub data: ByKey<Vec<i64>>,
    /// Committed offsets (overwritten).
    pub commits: ByKey<i64>,
}

impl Store {
    /// Appends; the message's offset.
    pub fn add(&mut self, key: &str, msg: i64) -> i64 {
        let log = self.data.entry(key.to_string()).or_default();
        log.push(msg);
        log.len() as i64 - 1
    }

    /// Every message from each asked offset on, for keys with data; an
    /// offset past the end of a non-empty log is Go's slice-bounds panic.
    pub fn poll(&self, offsets: &ByKey<i64>) -> Result<ByKey<Vec<(i64, i64)>>, String> {
        let mut out = ByKey::new();
        for (k, &off) in offsets {
            let Some(log) = self.data.get(k).filter(|l| !l.is_empty()) else {
                continue;
            };
            if off < 0 || off as usize > log.len() {
                return Err(format!(
                    "poll of key {k:?} at offset {off} on a log of length {}: Go's \"slice bounds out of range [{off}:{}]\" panic kills the process",
                    log.len(),
                    log.len()
                ));
            }
            let pairs: Vec<(i64, i64)> = log[off as usize..]
                .iter()
                .enumerate()
                .map(|(i, &m)| (off + i as i64, m))
                .collect();
            if !pairs.is_empty() {
                out.insert(k.clone(), pairs);
            }
        }
        Ok(out)
    }

    /// Overwrites each key's committed offset (it can move back).
    pub fn commit(&mut self, offsets: &ByKey<i64>) {
        for (k, &o) in offsets {
            self.commits.insert(k.clone(), o);
        }
    }

    /// Each key's committed offset, 0 when never committed.
    pub fn list(&self, keys: &[String]) -> ByKey<i64> {
        keys.iter()
            .map(|k| (k.clone(), self.commits.get(k).copied().unwrap_or(0)))
            .collect()
    }
}

/// A kafka server.
#[derive(Clone, Debug)]
pub struct Srv {
    pub(super) solution: Solution,
    pub(super) id: NodeId,
    pub(super) nodes: usize,
    pub(super) poll_max: u32,
    /// The data (faithful variants).
    pub store: Store,
    /// lin-kv, if the scenario runs it.
    pub(super) kv: Option<NodeId>,
    /// b, c: the cached leader (`None`: not known yet, or the election failed).
    pub leader: Option<NodeId>,
    /// b, c: the election found a leader (cached forever).
    elected: bool,
    /// b, c: a handler holds the node's (write) lock.
    locked: bool,
    /// b, c: handlers waiting for the lock, in arrival order.
    waiting: VecDeque<Job>,
    /// intended: per key, the highest slot this node knows taken, plus one.
    pub(super) hint: ByKey<i64>,
}

fn key_of(s: &str) -> String {
    s.to_string()
}

impl Srv {
    /// Server `id` of `nodes` running `solution`.
    pub fn new(solution: Solution, id: NodeId, nodes: usize, params: &Params) -> Srv {
        Srv {
            solution,
            id,
            nodes,
            poll_max: params.poll_max,
            store: Store::default(),
            kv: None,
            leader: None,
            elected: false,
            locked: false,
            waiting: VecDeque::new(),
            hint: ByKey::new(),
        }
    }

    pub(super) fn on_init(&mut self, net: &mut N<'_, '_, '_, '_>) {
        self.kv = net.service("lin-kv");
    }

    pub(super) fn on_message(
        &mut self,
        net: &mut N<'_, '_, '_, '_>,
        from: NodeId,
        msg_id: Option<u64>,
        msg: Msg,
    ) -> Result<(), Kind> {
        let job = |req| Job { from, msg_id, req };
        match (self.solution, msg) {
            (
                _,
                req @ (Msg::Send { .. }
                | Msg::Poll { .. }
                | Msg::CommitOffsets { .. }
                | Msg::ListCommittedOffsets { .. }),
            ) => {
                self.enter(net, job(req));
                Ok(())
            }
            (Solution::C, Msg::SendUpdate { key, msg }) => {
                let offset = self.store.add(&key, msg);
                net.reply(from, msg_id, Kind::Kafka(Msg::SendUpdateOk { offset }));
                Ok(())
            }
            (Solution::C, Msg::CommitOffsetsUpdate { offsets }) => {
                self.store.commit(&offsets);
                net.reply(from, msg_id, Kind::Kafka(Msg::CommitOffsetsUpdateOk));
                Ok(())
            }
            (_, other) => Err(Kind::Kafka(other)),
        }
    }

    /// A handler starts: at once, or after the handlers holding the lock.
    fn enter(&mut self, net: &mut N<'_, '_, '_, '_>, job: Job) {
        match self.solution {
            Solution::A => self.serve(net, job),
            Solution::Intended => self.intended(net, job),
            Solution::B | Solution::C => {
                self.waiting.push_back(job);
                self.pump(net);
            }
        }
    }

    /// c's read lock: poll and list_committed_offsets, served locally.
    fn shared(&self, job: &Job) -> bool {
        self.solution == Solution::C
            && matches!(job.req, Msg::Poll { .. } | Msg::ListCommittedOffsets { .. })
    }

    /// Runs waiting handlers while the lock is free (Go's RWMutex: a
    /// waiting writer holds back later readers).
    fn pump(&mut self, net: &mut N<'_, '_, '_, '_>) {
        while !self.locked {
            let Some(job) = self.waiting.pop_front() else {
                return;
            };
            if self.shared(&job) {
                self.serve(net, job);
                continue;
            }
            self.locked = true;
            self.check_leader(net, job);
        }
    }

    fn release(&mut self, net: &mut N<'_, '_, '_, '_>) {
        self.locked = false;
        self.pump(net);
    }

    /// checkLeader, then the handler's body.
    fn check_leader(&mut self, net: &mut N<'_, '_, '_, '_>, job: Job) {
        if self.elected {
            return self.dispatch(net, job);
        }
        let Some(kv) = self.kv else {
            return net.halt(
                "no lin-kv service runs in this scenario: the leader election's cas fails and the node cannot go on".into(),
            );
        };
        let me = self.id as i64;
        net.rpc(
            kv,
            Kind::Cas {
                key: "leader".into(),
                from: me,
                to: me,
                create_if_not_exists: true,
            },
            KCont::Srv(Cont::Elect(job)),
        );
    }

    /// The leader serves; a follower forwards (holding the lock) and
    /// relays the answer. A failed election leaves no leader: Go forwards
    /// to node "", which never answers.
    fn dispatch(&mut self, net: &mut N<'_, '_, '_, '_>, job: Job) {
        match self.leader {
            Some(l) if l == self.id => self.lead(net, job),
            Some(l) => {
                net.rpc(
                    l,
                    Kind::Kafka(job.req.clone()),
                    KCont::Srv(Cont::Forward(job)),
                );
            }
            None => {}
        }
    }

    /// The leader's body of a handler.
    fn lead(&mut self, net: &mut N<'_, '_, '_, '_>, job: Job) {
        if self.solution == Solution::B {
            self.serve(net, job);
            return self.release(net);
        }
        let followers: Vec<NodeId> = (0..self.nodes).filter(|&n| n != self.id).collect();
        match &job.req {
            Msg::Send { key, msg } => {
                let offset = self.store.add(key, *msg);
                self.replicate(net, job, offset, followers);
            }
            Msg::CommitOffsets { offsets } => {
                self.store.commit(offsets);
                self.commit_update(net, job, followers);
            }
            _ => {
                self.serve(net, job);
                self.release(net);
            }
        }
    }

    fn replicate(
        &mut self,
        net: &mut N<'_, '_, '_, '_>,
        job: Job,
        offset: i64,
        mut rest: Vec<NodeId>,
    ) {
        if rest.is_empty() {
            answer(net, &job, Kind::Kafka(Msg::SendOk { offset }));
            return self.release(net);
        }
        let to = rest.remove(0);
        let Msg::Send { key, msg } = &job.req else {
            return;
        };
        let update = Msg::SendUpdate {
            key: key.clone(),
            msg: *msg,
        };
        net.rpc(
            to,
            Kind::Kafka(update),
            KCont::Srv(Cont::Replicate { job, offset, rest }),
        );
    }

    fn commit_update(&mut self, net: &mut N<'_, '_, '_, '_>, job: Job, mut rest: Vec<NodeId>) {
        if rest.is_empty() {
            answer(net, &job, Kind::Kafka(Msg::CommitOffsetsOk));
            return self.release(net);
        }
        let to = rest.remove(0);
        let Msg::CommitOffsets { offsets } = &job.req else {
            return;
        };
        let update = Msg::CommitOffsetsUpdate {
            offsets: offsets.clone(),
        };
        net.rpc(
            to,
            Kind::Kafka(update),
            KCont::Srv(Cont::CommitUpdate { job, rest }),
        );
    }

    /// A handler served from this node's store, answered at once (a poll
    /// past the end halts the process instead).
    fn serve(&mut self, net: &mut N<'_, '_, '_, '_>, job: Job) {
        let out = match &job.req {
            Msg::Send { key, msg } => Msg::SendOk {
                offset: self.store.add(key, *msg),
            },
            Msg::Poll { offsets } => match self.store.poll(offsets) {
                Ok(msgs) => Msg::PollOk { msgs },
                Err(panic) => return net.halt(panic),
            },
            Msg::CommitOffsets { offsets } => {
                self.store.commit(offsets);
                Msg::CommitOffsetsOk
            }
            Msg::ListCommittedOffsets { keys } => Msg::ListCommittedOffsetsOk {
                offsets: self.store.list(keys),
            },
            _ => return,
        };
        answer(net, &job, Kind::Kafka(out));
    }

    pub(super) fn on_reply(&mut self, net: &mut N<'_, '_, '_, '_>, cont: Cont, kind: Kind) {
        match cont {
            Cont::Elect(job) => match kind {
                Kind::CasOk => {
                    self.elected = true;
                    self.leader = Some(self.id);
                    self.dispatch(net, job);
                }
                // c's CheckLeader returns any error but precondition-failed,
                // and its caller ignores it: no leader (the next handler
                // would try again, but this one forwards to "" and holds
                // the lock for good).
                Kind::Error { code: c, .. }
                    if self.solution == Solution::C && c != code::PRECONDITION_FAILED =>
                {
                    self.dispatch(net, job);
                }
                _ => {
                    if let Some(kv) = self.kv {
                        let read = Kind::Read {
                            key: "leader".into(),
                        };
                        net.rpc(kv, read, KCont::Srv(Cont::ElectRead(job)));
                    }
                }
            },
            Cont::ElectRead(job) => {
                // Only a read that answers caches a leader.
                if let Kind::ReadOk { value } = kind {
                    self.elected = true;
                    self.leader = usize::try_from(value).ok();
                }
                self.dispatch(net, job);
            }
            Cont::Forward(job) => {
                // SyncRPC answers an error body as an RPCError, which the
                // handler returns: the Go library relays it, code and all.
                let out = match (&job.req, kind) {
                    (_, e @ Kind::Error { .. }) => e,
                    (Msg::CommitOffsets { .. }, _) => Kind::Kafka(Msg::CommitOffsetsOk),
                    (_, k) => k,
                };
                answer(net, &job, out);
                self.release(net);
            }
            Cont::Replicate { job, offset, rest } => match kind {
                Kind::Kafka(Msg::SendUpdateOk { offset: theirs }) if theirs == offset => {
                    self.replicate(net, job, offset, rest);
                }
                Kind::Kafka(Msg::SendUpdateOk { offset: theirs }) => {
                    let text =
                        format!("consistency problem : send. leader:{offset} , follower {theirs}");
                    answer(
                        net,
                        &job,
                        Kind::Error {
                            code: code::CRASH,
                            text,
                        },
                    );
                    self.release(net);
                }
                other => {
                    answer(net, &job, crash_unless_error(other));
                    self.release(net);
                }
            },
            Cont::CommitUpdate { job, rest } => match kind {
                e @ Kind::Error { .. } => {
                    answer(net, &job, e);
                    self.release(net);
                }
                _ => self.commit_update(net, job, rest),
            },
            Cont::Intended(step) => self.intended_step(net, step, kind),
        }
    }

    pub(super) fn digest(&self) -> Digest {
        let mut d = Digest::new();
        if self.solution == Solution::Intended {
            return d; // the state is in lin-kv
        }
        for (k, log) in &self.store.data {
            let msgs: Vec<String> = log.iter().map(i64::to_string).collect();
            d.insert(format!("log {k}"), msgs.join(","));
        }
        for (k, o) in &self.store.commits {
            d.insert(format!("committed {k}"), o.to_string());
        }
        d
    }
}

/// Go's handler error: an RPCError passes through, anything else is crash.
fn crash_unless_error(kind: Kind) -> Kind {
    match kind {
        e @ Kind::Error { .. } => e,
        other => Kind::Error {
            code: code::CRASH,
            text: format!("unexpected reply {}", other.name()),
        },
    }
}

/// Replies to a job's asker.
pub(super) fn answer(net: &mut N<'_, '_, '_, '_>, job: &Job, kind: Kind) {
    net.reply(job.from, job.msg_id, kind);
}

pub(super) fn kv_key(kind: &str, key: &str, slot: Option<i64>) -> String {
    match slot {
        Some(s) => format!("{kind}:{}:{s}", key_of(key)),
        None => format!("{kind}:{}", key_of(key)),
    }
}

/// One note per server whose leader is not the one lin-kv holds, and the
/// log lengths of the faithful servers (replicas that differ are the story
/// of GG-6 and GG-9).
pub(super) fn notes(run: &Sim<Server<Kafka>>) -> Vec<String> {
    let layout = run.layout();
    let mut lengths = Vec::new();
    let mut notes = Vec::new();
    for (i, p) in run.nodes().iter().enumerate().take(layout.replicas) {
        let Some(Kafka::Server(s)) = p.host().map(|h| &h.w) else {
            continue;
        };
        if s.solution == Solution::Intended {
            continue;
        }
        let total: usize = s.store.data.values().map(Vec::len).sum();
        let status = if run.is_up(i) { "" } else { " (down)" };
        let leader = match (s.solution, s.leader) {
            (Solution::A, _) => String::new(),
            (_, Some(l)) => format!(", leader {}", layout.name(l)),
            (_, None) => String::new(),
        };
        lengths.push(format!("{} {total}{status}{leader}", layout.name(i)));
        if s.locked {
            notes.push(format!(
                "{}: a handler holds the node's mutex at the end of the run ({} more waiting): its SyncRPC never returned",
                layout.name(i),
                s.waiting.len()
            ));
        }
    }
    if !lengths.is_empty() {
        notes.insert(
            0,
            format!("messages held per server: {}", lengths.join(", ")),
        );
    }
    notes
}
