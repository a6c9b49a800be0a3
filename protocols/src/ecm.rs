//! Pieces shared by the eventually-consistent-mesh nodes:
//! where an origin pushes a write, the per-peer links with their two failure
//! behaviours, the Python-`heapq` store that history and bank keep per key,
//! and small helpers their checks share.

use serde::{Deserialize, Serialize};
use sim::{Ctx, Node, NodeId, Sim, Time};

use crate::handshake::{Handshake, Inbound};
pub use crate::mesh::{fmt_ms, Mode, Timer};

/// Which node an origin pushes a write to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Every node in turn, the origin included (the original load generator).
    #[default]
    RoundRobin,
    /// The origin itself.
    #[serde(rename = "self")]
    Itself,
    /// The next node by id.
    Next,
}

impl Target {
    /// The node to push the next write to; `next` is the round-robin cursor.
    pub fn pick(self, me: NodeId, nodes: usize, next: &mut usize) -> NodeId {
        match self {
            Target::Itself => me,
            Target::Next => (me + 1) % nodes,
            Target::RoundRobin => {
                // `next` stays within 0..=nodes, so this is `next % nodes`
                // without a division on every write.
                let t = if *next < nodes { *next } else { *next % nodes };
                *next = t + 1;
                t
            }
        }
    }
}

/// Parameters of the `params` object shared by the mesh protocols.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Where origins push writes.
    pub target: Target,
    /// Intended variant: pause before retrying after a link error (and,
    /// with `handshake`, before retrying a refused connect).
    #[serde(deserialize_with = "sim::ms::de")]
    pub retry_ms: u64,
    /// ECM-11, opt-in (history and bank): model connection set-up and its
    /// handshake race. Absent: no connections are modelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake: Option<Handshake>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            target: Target::RoundRobin,
            retry_ms: 100,
            handshake: None,
        }
    }
}

impl Params {
    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), String> {
        // A zero pause would resend into a partition forever at one instant.
        if self.retry_ms == 0 {
            return Err("retry_ms must be at least 1".into());
        }
        if let Some(h) = &self.handshake {
            h.validate()?;
        }
        Ok(())
    }

    /// Outbound links for `nodes` peers that behave as `mode` does.
    pub fn links<M: Clone>(&self, nodes: usize, mode: Mode) -> Links<M> {
        let on_error = match mode {
            Mode::Faithful => OnError::Die,
            Mode::Intended => OnError::Retry,
        };
        Links::new(nodes, on_error, self.retry_ms.saturating_mul(sim::MS))
    }

    /// The inbound side (ECM-11) these parameters ask for in `mode`.
    pub fn inbound(&self, mode: Mode) -> Inbound {
        Inbound::new(self.handshake.as_ref(), mode, self.retry_ms)
    }
}

/// Run notes of a mesh: every dead link of every node.
pub fn link_notes<N: Node, M: Clone>(run: &Sim<N>, links: impl Fn(&N) -> &Links<M>) -> Vec<String> {
    run.nodes()
        .iter()
        .enumerate()
        .flat_map(|(i, n)| links(n).notes(i))
        .collect()
}

/// Run notes of a mesh whose nodes may model connections: every dead link,
/// then every receive loop that died (ECM-11).
pub fn mesh_notes<N: Node, M: Clone>(
    run: &Sim<N>,
    parts: impl Fn(&N) -> (&Links<M>, &Inbound),
) -> Vec<String> {
    let mut notes = link_notes(run, |n| parts(n).0);
    notes.extend(
        run.nodes()
            .iter()
            .enumerate()
            .filter_map(|(i, n)| parts(n).1.note(i)),
    );
    notes
}

/// What a link does after it reports an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// The original: the link's sender stops for good, so everything queued
    /// later for that peer is silently never sent (§1.2).
    Die,
    /// Intended: keep the message and resend it after a pause.
    Retry,
}

/// A node's outbound links to every peer.
#[derive(Clone, Debug)]
pub struct Links<M> {
    on_error: OnError,
    retry_us: Time,
    /// When each link died (local clock), if it did.
    dead: Vec<Option<Time>>,
    /// Messages never sent because their link was dead.
    unsent: Vec<u64>,
    retry: Vec<Vec<M>>,
}

impl<M: Clone> Links<M> {
    /// Links to `nodes` peers that behave as `on_error` says.
    pub fn new(nodes: usize, on_error: OnError, retry_us: Time) -> Self {
        Links {
            on_error,
            retry_us,
            dead: vec![None; nodes],
            unsent: vec![0; nodes],
            retry: vec![Vec::new(); nodes],
        }
    }

    /// Fresh links, as a (re)started process opens them.
    pub fn reset(&mut self, nodes: usize) {
        self.dead = vec![None; nodes];
        self.unsent = vec![0; nodes];
        self.retry = vec![Vec::new(); nodes];
    }

    /// Sends `msg` unless the link to `to` has died. The link to oneself
    /// never dies. While earlier messages wait to be resent, a new one
    /// queues behind them, so a retried link stays first-in first-out.
    pub fn send<N: Node<Msg = M, Timer = Timer>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        to: NodeId,
        msg: M,
    ) {
        if to != ctx.id() {
            match self.dead.get(to) {
                Some(None) => {}
                Some(Some(_)) => {
                    self.unsent[to] += 1;
                    return;
                }
                None => return,
            }
            if let Some(queue) = self.retry.get_mut(to).filter(|q| !q.is_empty()) {
                queue.push(msg);
                return;
            }
        }
        ctx.send(to, msg);
    }

    /// One line per dead link of node `me`, for run notes.
    pub fn notes(&self, me: NodeId) -> Vec<String> {
        self.dead
            .iter()
            .enumerate()
            .filter_map(|(to, d)| {
                d.map(|at| {
                    format!(
                        "link n{me} -> n{to} died at {} (n{me}'s clock) after a connection error and was never reopened; {} later message(s) to n{to} were never sent",
                        fmt_ms(at),
                        self.unsent[to]
                    )
                })
            })
            .collect()
    }

    /// The link to `to` reported that `msg` was not delivered.
    pub fn on_error<N: Node<Msg = M, Timer = Timer>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        to: NodeId,
        msg: M,
    ) {
        let Some(queue) = self.retry.get_mut(to) else {
            return;
        };
        match self.on_error {
            OnError::Die => {
                if self.dead[to].is_none() {
                    self.dead[to] = Some(ctx.now());
                }
            }
            OnError::Retry => {
                if queue.is_empty() {
                    ctx.set_timer(Timer::Retry(to), self.retry_us);
                }
                queue.push(msg);
            }
        }
    }

    /// The retry timer for `to` fired: resend what waits for it.
    pub fn on_retry<N: Node<Msg = M, Timer = Timer>>(&mut self, ctx: &mut Ctx<'_, N>, to: NodeId) {
        let Some(queue) = self.retry.get_mut(to) else {
            return;
        };
        for msg in std::mem::take(queue) {
            ctx.send(to, msg);
        }
    }

    /// Forgets queued retries (a crash loses them).
    pub fn clear(&mut self) {
        self.retry.iter_mut().for_each(Vec::clear);
    }
}

/// Something stored in a [`TsHeap`], ordered by its rank: the timestamp
/// first, then whatever tie-break the variant wants (zeros for none).
pub trait Stamped {
    /// The rank; the largest sits at the root.
    fn rank(&self) -> (Time, u64, i64);
}

/// Python's `heapq` over a list whose items compare with an inverted `<`,
/// as node_history and node_bank keep them: the largest timestamp sits at
/// the root, and among equal ranks the layout — so the arrival order —
/// decides. The array itself is visible because the original reads its
/// last slot.
#[derive(Clone, Debug)]
pub struct TsHeap<T> {
    items: Vec<T>,
}

impl<T> Default for TsHeap<T> {
    fn default() -> Self {
        TsHeap { items: Vec::new() }
    }
}

impl<T: Stamped + Clone> TsHeap<T> {
    /// An empty heap.
    pub fn new() -> Self {
        TsHeap { items: Vec::new() }
    }

    /// `a < b` under the inverted comparator.
    fn less(a: &T, b: &T) -> bool {
        a.rank() > b.rank()
    }

    /// `heapq.heappush`.
    pub fn push(&mut self, item: T) {
        self.items.push(item);
        let end = self.items.len() - 1;
        self.sift_down(0, end);
    }

    /// `heapq.heappop`.
    pub fn pop(&mut self) -> Option<T> {
        let last = self.items.pop()?;
        if self.items.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.items[0], last);
        self.sift_up(0);
        Some(top)
    }

    /// `heap[0]`: the newest item.
    pub fn root(&self) -> Option<&T> {
        self.items.first()
    }

    /// `heap[-1]`: whatever sits in the last slot of the array.
    pub fn last_slot(&self) -> Option<&T> {
        self.items.last()
    }

    /// The array, in layout order.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// Every item in heap-pop order (newest first), leaving the heap as is.
    pub fn pop_order(&self) -> Vec<T> {
        let mut copy = self.clone();
        let mut out = Vec::with_capacity(self.items.len());
        while let Some(x) = copy.pop() {
            out.push(x);
        }
        out
    }

    // heapq's `_siftdown`: move the item at `pos` towards the root while it
    // is strictly "less" than its parent, so equals stay below.
    fn sift_down(&mut self, start: usize, mut pos: usize) {
        while pos > start {
            let parent = (pos - 1) / 2;
            if Self::less(&self.items[pos], &self.items[parent]) {
                self.items.swap(pos, parent);
                pos = parent;
            } else {
                break;
            }
        }
    }

    // heapq's `_siftup`: bubble the smaller child up to a leaf, then sift
    // the item back down. The right child wins unless the left is strictly
    // smaller, which is what decides ties.
    fn sift_up(&mut self, mut pos: usize) {
        let end = self.items.len();
        let start = pos;
        let mut child = 2 * pos + 1;
        while child < end {
            let right = child + 1;
            if right < end && !Self::less(&self.items[child], &self.items[right]) {
                child = right;
            }
            self.items.swap(pos, child);
            pos = child;
            child = 2 * pos + 1;
        }
        self.sift_down(start, pos);
    }
}

/// True when a finished run reached its planned end (not a time or event
/// limit), so end-state checks apply.
pub fn completed<N: Node>(run: &Sim<N>) -> bool {
    run.stop_reason().is_some_and(|r| r.completed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct It(Time, char);
    impl Stamped for It {
        fn rank(&self) -> (Time, u64, i64) {
            (self.0, 0, 0)
        }
    }

    fn heap(items: &[It]) -> TsHeap<It> {
        let mut h = TsHeap::new();
        for i in items {
            h.push(i.clone());
        }
        h
    }

    #[test]
    fn newest_at_the_root_and_the_last_slot_is_a_leaf() {
        let h = heap(&[It(1, 'a'), It(2, 'b'), It(3, 'c')]);
        // [1] → [2,1] → [3,1,2] as Python's heapq lays it out.
        assert_eq!(h.items(), &[It(3, 'c'), It(1, 'a'), It(2, 'b')]);
        assert_eq!(h.root(), Some(&It(3, 'c')));
        assert_eq!(h.last_slot(), Some(&It(2, 'b')));
    }

    #[test]
    fn equal_timestamps_keep_the_first_arrival_at_the_root() {
        let h = heap(&[It(5, 'a'), It(5, 'b')]);
        assert_eq!(h.root(), Some(&It(5, 'a')));
        let h = heap(&[It(5, 'b'), It(5, 'a')]);
        assert_eq!(h.root(), Some(&It(5, 'b')));
    }

    #[test]
    fn pop_order_is_newest_first_and_leaves_the_heap_alone() {
        let h = heap(&[It(4, 'a'), It(9, 'b'), It(1, 'c'), It(7, 'd'), It(3, 'e')]);
        let ts: Vec<Time> = h.pop_order().iter().map(|i| i.0).collect();
        assert_eq!(ts, vec![9, 7, 4, 3, 1]);
        assert_eq!(h.items().len(), 5);
    }

    #[test]
    fn ties_in_pop_order_follow_heapq() {
        // Checked against CPython: heapq on four equal items pops a, c, b, d,
        // because after the first pop the right child wins the tie.
        let h = heap(&[It(5, 'a'), It(5, 'b'), It(5, 'c'), It(5, 'd')]);
        let order: Vec<char> = h.pop_order().iter().map(|i| i.1).collect();
        assert_eq!(order, vec!['a', 'c', 'b', 'd']);
    }

    #[test]
    fn round_robin_starts_at_the_cursor_and_wraps() {
        let mut next = 2;
        let picks: Vec<NodeId> = (0..4)
            .map(|_| Target::RoundRobin.pick(2, 3, &mut next))
            .collect();
        assert_eq!(picks, vec![2, 0, 1, 2]);
        assert_eq!(Target::Next.pick(2, 3, &mut next), 0);
        assert_eq!(Target::Itself.pick(2, 3, &mut next), 2);
    }

    #[test]
    fn milliseconds_render_without_trailing_zeros() {
        assert_eq!(fmt_ms(1_200_000), "1200ms");
        assert_eq!(fmt_ms(3_500), "3.5ms");
        assert_eq!(fmt_ms(7), "0.007ms");
    }
}

/// Building runs by hand for unit tests, until scenario files can be used.
#[cfg(test)]
pub(crate) mod testkit {
    use sim::{
        Fault, Latency, Link, NodePolicy, PartitionMode, Prob, Rate, ScheduledFault, ScriptOp,
        SimConfig, Value, WorkloadSpec, MS,
    };

    /// A scripted operation at `at_ms` by `client` through `node`.
    pub fn op(at_ms: u64, client: usize, node: usize, f: &'static str, value: Value) -> ScriptOp {
        ScriptOp {
            at: at_ms * MS,
            client,
            node: Some(node),
            f,
            key: Some(0),
            value,
        }
    }

    /// `fault` at `at_ms`.
    pub fn fault(at_ms: u64, fault: Fault) -> ScheduledFault {
        ScheduledFault {
            at: at_ms * MS,
            fault,
        }
    }

    /// `nodes` nodes on ordered 5 ms links, running `script` under `faults`.
    pub fn config(nodes: usize, script: Vec<ScriptOp>, faults: Vec<ScheduledFault>) -> SimConfig {
        SimConfig {
            seed: 1,
            nodes,
            link: Link {
                latency: Latency::Fixed { us: 5 * MS },
                drop: Prob::ZERO,
                duplicate: Prob::ZERO,
                ordered: true,
            },
            links: Vec::new(),
            partition_mode: PartitionMode::Drop,
            clocks: Vec::new(),
            down_at_start: Vec::new(),
            workload: WorkloadSpec {
                clients: 0,
                ops: 0,
                keys: Some(1),
                mix: Vec::new(),
                rate: Rate::Closed { think_us: 0 },
                node_policy: NodePolicy::Fixed,
                timeout_us: 1_000 * MS,
                start_us: 0,
                stop_us: None,
                script,
                latency: Latency::Fixed { us: 0 },
            },
            faults,
            final_heal: true,
            quiet_us: 2_000 * MS,
            max_time_us: 3_600_000 * MS,
            max_events: 1_000_000,
            record_history: true,
            ..SimConfig::default()
        }
    }
}
