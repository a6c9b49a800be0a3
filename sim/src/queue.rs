//! The event queue: earliest `(time, seq)` first.
//!
//! Every push takes the next number `seq` of one counter, and [`Queue::pop`]
//! returns the queued event with the smallest `(time, seq)`: the earliest,
//! and among equal times the first pushed. Runs replay event for event only
//! because this order is exact, so the structure below is built around
//! keeping it.
//!
//! # Design
//!
//! Simulated time moves on in small steps (latencies of milliseconds) while
//! some events (timers) wait seconds ahead. Time is cut into *buckets* of
//! 2^14 microseconds (16.4 ms), and an event is kept according to its
//! bucket's distance from the bucket of `now`, the time of the last pop:
//!
//! - `now`'s bucket and the next one are in the *wheel*: one slot per
//!   microsecond, `t` in slot `t % SLOTS`, so each slot stands for exactly
//!   one time. A slot is a FIFO: a circular singly linked list through a
//!   slab of nodes that hold the events inline; the slot keeps only its
//!   tail, whose `next` is the head. A two-level occupancy bitmap finds the
//!   next non-empty slot with a couple of `trailing_zeros`.
//! - The 4,096 buckets after those (67 s) each have a *bag*: a plain list
//!   of `(time, node)` in push order, moved into the wheel in one pass when
//!   the wheel reaches its bucket.
//! - Anything later waits in a binary heap keyed by `(time, seq)` until its
//!   bucket comes within the bags' reach.
//!
//! Pushes and pops thus take amortized constant time, but for the heap's
//! logarithm beyond the bags: the wheel only ever scans bitmaps, and each
//! event moves at most twice (heap to bag, bag to wheel), as a node index
//! with its time, the event itself staying put in the slab.
//!
//! # Why the order is exact
//!
//! Invariant: each event is where its bucket belongs, and every wheel slot
//! and every bag lists its events in `seq` order. The wheel's times are then
//! all earlier than the bags', and theirs than the heap's, so the head of the
//! first occupied slot from `now` round the wheel is the smallest
//! `(time, seq)` queued. The invariant survives:
//!
//! - a push: it appends where its bucket belongs, and its `seq` is the
//!   largest of all;
//! - the wheel taking over a bucket, when `now` moves into the wheel's
//!   second bucket (or jumps ahead over an empty wheel): the bucket's bag is
//!   emptied into the wheel in order, into slots that are empty since they
//!   last stood for times before `now`. Then the heap's events of the
//!   buckets that come within the bags' reach (within the wheel's, after a
//!   jump) move there in `(time, seq)` order. Until this moment pushes to
//!   those buckets went to the bag or the heap, so everything moved is older
//!   than any later push to the same place.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Debug;

use crate::Time;

/// log2 of [`BUCKET`].
const BUCKET_BITS: u32 = 14;
/// Microseconds per bucket: 16.4 ms, longer than typical message latencies,
/// so that those go straight into the wheel.
const BUCKET: Time = 1 << BUCKET_BITS;
/// Wheel slots, one per microsecond of two buckets: 128 KiB of tails and a
/// 4 KiB bitmap, small enough to stay in cache.
const SLOTS: usize = 2 * BUCKET as usize;
const MASK: usize = SLOTS - 1;
/// Bags, one per bucket after the wheel's: they reach 67 s ahead.
const BAGS: usize = 1 << 12;
/// No node.
const NIL: u32 = u32::MAX;

/// A slab entry: a queued event, or a free entry when `ev` is `None`.
struct Node<E> {
    /// The next node of its slot's circular list, or of the free list.
    next: u32,
    /// The event's sequence number (for [`Queue::peek_key`]).
    seq: u64,
    ev: Option<E>,
}

/// A deterministic priority queue of events of type `E`.
pub struct Queue<E> {
    /// The time of the last pop: nothing queued is earlier.
    now: Time,
    /// The last sequence number given out.
    seq: u64,
    /// The first bucket after the wheel's two: `now`'s bucket + 2.
    end: u64,
    /// Per slot, the tail node of its list (meaningful while it is occupied).
    tails: Box<[u32; SLOTS]>,
    /// The occupied slots.
    slots: Bitmap<{ SLOTS / 64 }, { SLOTS / 64 / 64 }>,
    /// Events in the wheel.
    in_wheel: usize,
    /// Bag `b % BAGS` holds `(time, node)` of the events of bucket `b`, for
    /// `end <= b < end + BAGS`, in push order.
    bags: Box<[Vec<(Time, u32)>; BAGS]>,
    /// The non-empty bags.
    filled: Bitmap<{ BAGS / 64 }, { BAGS / 64 / 64 }>,
    /// Events in bags.
    in_bags: usize,
    /// `(time, seq, node)` of the events of buckets from `end + BAGS` on.
    far: BinaryHeap<Reverse<(Time, u64, u32)>>,
    /// Every queued event's node; unused nodes are chained from `free`.
    nodes: Vec<Node<E>>,
    free: u32,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Queue {
            now: 0,
            seq: 0,
            end: 2,
            tails: boxed(|| NIL),
            slots: Bitmap::default(),
            in_wheel: 0,
            bags: boxed(Vec::new),
            filled: Bitmap::default(),
            in_bags: 0,
            far: BinaryHeap::new(),
            nodes: Vec::new(),
            free: NIL,
        }
    }
}

/// An array built on the heap, never on the stack.
fn boxed<T: Debug, const N: usize>(f: impl FnMut() -> T) -> Box<[T; N]> {
    std::iter::repeat_with(f)
        .take(N)
        .collect::<Box<[T]>>()
        .try_into()
        .expect("N elements")
}

impl<E> Queue<E> {
    /// Schedules `ev` at `time`; among equal times, earlier pushes come first.
    #[inline(always)]
    pub fn push(&mut self, time: Time, ev: E) {
        debug_assert!(time >= self.now, "no event is scheduled in the past");
        self.seq += 1;
        let node = self.alloc(ev);
        if time >> BUCKET_BITS < self.end {
            self.link(time, node);
        } else {
            self.push_later(time, node);
        }
    }

    /// Takes the next sequence number for an event its owner keeps outside
    /// the queue (at a time no earlier than the last pop), so that the owner
    /// can merge it with the queue's events by `(time, seq)` through
    /// [`Queue::peek_key`]. The engine keeps client timeouts this way: most
    /// are dead before they are due and are dropped without ever being queued.
    #[inline(always)]
    pub fn reserve_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Removes and returns the earliest event. Always inlined: it is the
    /// run loop's hottest call (one per event).
    #[inline(always)]
    pub fn pop(&mut self) -> Option<(Time, E)> {
        if self.in_wheel == 0 && !self.skip_ahead() {
            return None;
        }
        let (slot, time) = self.first_in_wheel();
        let next_bucket = (time ^ self.now) >> BUCKET_BITS != 0;
        self.now = time;
        if next_bucket {
            // Into the wheel's second bucket: the wheel moves on by one.
            self.extend(self.end + 1);
        }
        let tail = self.tails[slot];
        let head = self.nodes[tail as usize].next;
        if head == tail {
            self.slots.remove(slot);
        } else {
            self.nodes[tail as usize].next = self.nodes[head as usize].next;
        }
        self.in_wheel -= 1;
        let node = &mut self.nodes[head as usize];
        let ev = node.ev.take().expect("a linked node holds an event");
        node.next = self.free;
        self.free = head;
        Some((time, ev))
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<Time> {
        self.peek_key().map(|(time, _)| time)
    }

    /// True when the earliest event comes before `(time, seq)`. Cheap for
    /// a time past the wheel while the wheel holds events (client timeouts,
    /// seconds ahead): those come first without looking for them.
    #[inline(always)]
    pub fn first_is_before(&self, time: Time, seq: u64) -> bool {
        if self.in_wheel > 0 && time >> BUCKET_BITS >= self.end {
            return true;
        }
        self.peek_key().is_some_and(|k| k < (time, seq))
    }

    /// The `(time, seq)` of the earliest event: the event [`Queue::pop`]
    /// returns next.
    #[inline]
    pub fn peek_key(&self) -> Option<(Time, u64)> {
        if self.in_wheel > 0 {
            let (slot, time) = self.first_in_wheel();
            let head = self.nodes[self.tails[slot] as usize].next;
            Some((time, self.nodes[head as usize].seq))
        } else if let Some(bag) = self.first_bag() {
            self.bags[bag as usize % BAGS]
                .iter()
                .map(|&(time, node)| (time, self.nodes[node as usize].seq))
                .min()
        } else {
            self.far.peek().map(|r| (r.0 .0, r.0 .1))
        }
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.in_wheel + self.in_bags + self.far.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores `ev` in a free node.
    #[inline(always)]
    fn alloc(&mut self, ev: E) -> u32 {
        if self.free == NIL {
            let i = self.nodes.len();
            assert!(i < NIL as usize, "fewer than 2^32 - 1 events are queued");
            self.nodes.push(Node {
                next: NIL,
                seq: self.seq,
                ev: Some(ev),
            });
            i as u32
        } else {
            let i = self.free;
            let node = &mut self.nodes[i as usize];
            self.free = node.next;
            node.seq = self.seq;
            node.ev = Some(ev);
            i
        }
    }

    /// Appends `node` to the list of the slot of `time`, which must be in
    /// the wheel's buckets.
    #[inline(always)]
    fn link(&mut self, time: Time, node: u32) {
        let slot = time as usize & MASK;
        if self.slots.insert(slot) {
            self.nodes[node as usize].next = node;
        } else {
            let tail = self.tails[slot] as usize;
            self.nodes[node as usize].next = self.nodes[tail].next;
            self.nodes[tail].next = node;
        }
        self.tails[slot] = node;
        self.in_wheel += 1;
    }

    /// Keeps `node`, due at `time` after the wheel's buckets, in its bag or
    /// the heap. Out of line: [`Queue::push`] is inlined into every caller.
    #[inline(never)]
    fn push_later(&mut self, time: Time, node: u32) {
        let bucket = time >> BUCKET_BITS;
        if bucket - self.end < BAGS as u64 {
            self.bag(bucket, time, node);
        } else {
            self.far.push(Reverse((time, self.seq, node)));
        }
    }

    /// Appends `node`, due at `time` in `bucket`, to the bucket's bag.
    #[inline(always)]
    fn bag(&mut self, bucket: u64, time: Time, node: u32) {
        let i = bucket as usize % BAGS;
        if self.bags[i].is_empty() {
            self.filled.insert(i);
        }
        self.bags[i].push((time, node));
        self.in_bags += 1;
    }

    /// The first occupied slot from `now` round the wheel, and its time.
    /// The wheel must not be empty.
    #[inline(always)]
    fn first_in_wheel(&self) -> (usize, Time) {
        let cursor = self.now as usize & MASK;
        let slot = self
            .slots
            .first_from(cursor)
            .expect("the wheel is not empty");
        let ahead = slot.wrapping_sub(cursor) & MASK;
        (slot, self.now + ahead as Time)
    }

    /// The first bucket with a non-empty bag.
    fn first_bag(&self) -> Option<u64> {
        let from = self.end as usize % BAGS;
        let i = self.filled.first_from(from)?;
        Some(self.end + ((i + BAGS - from) % BAGS) as u64)
    }

    /// With the wheel empty, moves `now` on to the start of the first bucket
    /// that holds events and has the wheel take it over. False when nothing
    /// is queued.
    #[inline(never)]
    fn skip_ahead(&mut self) -> bool {
        let bucket = match (self.first_bag(), self.far.peek()) {
            (Some(bucket), _) => bucket,
            (None, Some(r)) => r.0 .0 >> BUCKET_BITS,
            (None, None) => return false,
        };
        // Not the time of an event, but none is queued before it, and the
        // pop under way returns one from this bucket.
        self.now = bucket << BUCKET_BITS;
        self.extend(bucket + 2);
        true
    }

    /// Moves the wheel's end on to bucket `end`, the bucket after `now`'s
    /// next: the bags of the buckets the wheel takes over empty into it, and
    /// the heap's events of buckets that come within reach move to where
    /// they now belong.
    #[inline(never)]
    fn extend(&mut self, end: u64) {
        // Of the buckets taken over, only `now`'s and the next can hold
        // events: nothing is queued before `now`.
        for bucket in self.end.max(end - 2)..end {
            let i = bucket as usize % BAGS;
            if self.bags[i].is_empty() {
                continue;
            }
            let mut bag = std::mem::take(&mut self.bags[i]);
            for &(time, node) in &bag {
                self.link(time, node);
            }
            self.in_bags -= bag.len();
            bag.clear();
            self.bags[i] = bag; // keeps its allocation
            self.filled.remove(i);
        }
        self.end = end;
        while let Some(&Reverse((time, _, node))) = self.far.peek() {
            let bucket = time >> BUCKET_BITS;
            if bucket >= end + BAGS as u64 {
                break;
            }
            self.far.pop();
            if bucket < end {
                self.link(time, node);
            } else {
                self.bag(bucket, time, node);
            }
        }
    }
}

/// A set of `0..64 * W` with one summary bit per word (`S = W / 64`), which
/// finds the next member in a few instructions.
struct Bitmap<const W: usize, const S: usize> {
    words: [u64; W],
    summary: [u64; S],
}

impl<const W: usize, const S: usize> Default for Bitmap<W, S> {
    fn default() -> Self {
        Bitmap {
            words: [0; W],
            summary: [0; S],
        }
    }
}

impl<const W: usize, const S: usize> Bitmap<W, S> {
    /// Adds `i`; true if it was not a member.
    #[inline(always)]
    fn insert(&mut self, i: usize) -> bool {
        let (w, bit) = (i / 64, 1 << (i % 64));
        if self.words[w] & bit != 0 {
            return false;
        }
        self.words[w] |= bit;
        self.summary[w / 64] |= 1 << (w % 64);
        true
    }

    /// Removes `i`.
    #[inline(always)]
    fn remove(&mut self, i: usize) {
        let w = i / 64;
        self.words[w] &= !(1 << (i % 64));
        if self.words[w] == 0 {
            self.summary[w / 64] &= !(1 << (w % 64));
        }
    }

    /// The first member from `from` on, going round past the end to 0.
    #[inline(always)]
    fn first_from(&self, from: usize) -> Option<usize> {
        let w = from / 64;
        let bits = self.words[w] & (u64::MAX << (from % 64));
        if bits != 0 {
            return Some(w * 64 + bits.trailing_zeros() as usize);
        }
        let w = self.first_word_from((w + 1) % W)?;
        Some(w * 64 + self.words[w].trailing_zeros() as usize)
    }

    /// The first non-zero word from `from` on, going round. The summary
    /// word it starts in is looked at twice: first from `from`'s bit on,
    /// last, after going round, whole.
    fn first_word_from(&self, from: usize) -> Option<usize> {
        let s = from / 64;
        let mut bits = self.summary[s] & (u64::MAX << (from % 64));
        for k in 1..=S + 1 {
            if bits != 0 {
                return Some((s + k - 1) % S * 64 + bits.trailing_zeros() as usize);
            }
            bits = self.summary[(s + k) % S];
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn earliest_first_ties_in_push_order() {
        let mut q = Queue::default();
        q.push(5, "a");
        q.push(3, "b");
        q.push(5, "c");
        q.push(3, "d");
        q.push(5, "e");
        q.push(4, "f");
        assert_eq!(q.pop(), Some((3, "b")));
        q.push(3, "g"); // due now: after everything already due now
        let order: Vec<&str> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!["d", "g", "f", "a", "c", "e"]);
        assert!(q.is_empty());
    }

    #[test]
    fn matches_a_sorted_reference_under_random_use() {
        let mut r = Rng::derive(9, "queue");
        let mut q = Queue::default();
        let mut reference: Vec<(Time, u64)> = Vec::new();
        let mut seq = 0;
        let mut now = 0;
        let mut mono = 0;
        let mut popped = Vec::new();
        for _ in 0..5000 {
            match r.below(3) {
                0 => {
                    seq += 1;
                    // Often exactly now: behind everything already due now.
                    let t = now + r.below(50).saturating_sub(25);
                    q.push(t, seq);
                    reference.push((t, seq));
                }
                1 => {
                    seq += 1;
                    mono = mono.max(now) + r.below(5);
                    q.push(mono, seq);
                    reference.push((mono, seq));
                }
                _ => {
                    if let Some((t, s)) = q.pop() {
                        now = t;
                        popped.push((t, s));
                    }
                }
            }
        }
        while let Some(x) = q.pop() {
            popped.push(x);
        }
        // Every pop was the minimum of what was queued at that moment, so
        // the popped sequence replays the reference order per pop; checking
        // the multiset and the per-time order is enough here.
        let mut sorted = reference.clone();
        sorted.sort();
        let mut got = popped.clone();
        got.sort();
        assert_eq!(got, sorted);
        assert!(
            popped.windows(2).all(|w| w[0] < w[1]),
            "(time, seq) strictly increases"
        );
    }
}

#[cfg(test)]
mod lanes {
    use super::*;
    use crate::rng::Rng;

    /// Pops must come out in strictly increasing (time, seq) whatever mix of
    /// lanes, near and far times, and pops the events arrive in.
    #[test]
    fn pops_are_sorted_under_mixed_lanes_and_spreads() {
        for seed in 0..20 {
            let mut r = Rng::derive(seed, "queue-lanes");
            let mut q = Queue::default();
            let (mut now, mut mono, mut seq) = (0u64, 0u64, 0u64);
            let mut pushed = Vec::new();
            let mut popped = Vec::new();
            for _ in 0..3000 {
                match r.below(6) {
                    0 | 1 => {
                        let spread = [1, 10, 1_000, 1 << 40][r.below(4) as usize];
                        seq += 1;
                        let t = now + r.below(spread);
                        q.push(t, seq);
                        pushed.push((t, seq));
                    }
                    2 => {
                        seq += 1;
                        mono = mono.max(now) + r.below(300);
                        q.push(mono, seq);
                        pushed.push((mono, seq));
                    }
                    _ => {
                        if let Some((t, s)) = q.pop() {
                            assert!(t >= now);
                            now = t;
                            popped.push((t, s));
                        }
                    }
                }
            }
            while let Some(x) = q.pop() {
                popped.push(x);
            }
            assert!(
                popped.windows(2).all(|w| w[0] < w[1]),
                "seed {seed}: out of order"
            );
            pushed.sort();
            assert_eq!(popped, pushed, "seed {seed}: every event exactly once");
        }
    }
}

#[cfg(test)]
mod model {
    use std::collections::BTreeMap;

    use super::*;
    use crate::rng::Rng;

    /// How far the bags reach past the wheel.
    const REACH: Time = BAGS as Time * BUCKET;

    /// A queue driven in step with the obviously right model of it, a sorted
    /// map from `(time, seq)`; each event's payload is its `seq`. Every pop
    /// must return the model's first entry, and `len` and `peek_time` must
    /// agree with the model after every operation.
    struct Checked {
        q: Queue<u64>,
        model: BTreeMap<(Time, u64), ()>,
        seq: u64,
        now: Time,
        last_monotone: Time,
    }

    impl Checked {
        fn new() -> Checked {
            Checked {
                q: Queue::default(),
                model: BTreeMap::new(),
                seq: 0,
                now: 0,
                last_monotone: 0,
            }
        }

        fn push(&mut self, time: Time) -> u64 {
            self.seq += 1;
            self.q.push(time, self.seq);
            self.model.insert((time, self.seq), ());
            self.check();
            self.seq
        }

        fn push_monotone(&mut self, time: Time) -> u64 {
            assert!(time >= self.last_monotone, "test bug: not monotone");
            self.last_monotone = time;
            self.seq += 1;
            self.q.push(time, self.seq);
            self.model.insert((time, self.seq), ());
            self.check();
            self.seq
        }

        fn pop(&mut self) -> Option<(Time, u64)> {
            let want = self.model.pop_first().map(|(k, ())| k);
            let got = self.q.pop();
            assert_eq!(got, want, "pop after seq {}", self.seq);
            if let Some((t, _)) = got {
                self.now = t;
            }
            self.check();
            got
        }

        /// Pushes an event at `time` and pops until it has come out.
        fn go_to(&mut self, time: Time) {
            let s = self.push(time);
            while self.pop().expect("it is queued").1 != s {}
        }

        fn drain(&mut self) -> Vec<u64> {
            std::iter::from_fn(|| self.pop().map(|(_, s)| s)).collect()
        }

        fn check(&self) {
            assert_eq!(self.q.len(), self.model.len());
            assert_eq!(self.q.is_empty(), self.model.is_empty());
            assert_eq!(self.q.peek_time(), self.model.keys().next().map(|k| k.0));
            assert_eq!(self.q.peek_key(), self.model.keys().next().copied());
        }
    }

    /// How far ahead pushes go: the same time, near, around the edges of
    /// buckets, of the wheel and of the bags' reach, and very far.
    const SPREADS: [Time; 17] = [
        0,
        1,
        7,
        1_000,
        10_000,
        BUCKET - 1,
        BUCKET,
        BUCKET + 1,
        2 * BUCKET - 1,
        2 * BUCKET,
        2 * BUCKET + 1,
        5 * BUCKET,
        REACH - 1,
        REACH,
        REACH + 2 * BUCKET,
        3 * REACH,
        1 << 40,
    ];

    #[test]
    fn matches_a_sorted_model_under_random_use() {
        for seed in 0..300 {
            let mut r = Rng::derive(seed, "queue-model");
            let pick = |r: &mut Rng| SPREADS[r.below(SPREADS.len() as u64) as usize];
            // Each seed draws its own mix: a few spreads, a timeout for
            // `push_monotone`, and how often to pop (so lengths vary).
            let spreads: Vec<Time> = (0..1 + r.below(3)).map(|_| pick(&mut r)).collect();
            let timeout = pick(&mut r);
            let pops = 2 + r.below(5);
            let mut c = Checked::new();
            for _ in 0..1_500 {
                let op = r.below(6 + pops);
                if op < 4 {
                    let spread = spreads[r.below(spreads.len() as u64) as usize];
                    // Often exactly the spread, to land on edges.
                    let ahead = if r.below(4) == 0 {
                        spread
                    } else {
                        r.range(0, spread)
                    };
                    c.push(c.now + ahead);
                } else if op == 4 {
                    // As the engine does: now + a constant.
                    c.push_monotone(c.last_monotone.max(c.now + timeout));
                } else if op == 5 {
                    // Any non-decreasing times.
                    let spread = spreads[r.below(spreads.len() as u64) as usize];
                    c.push_monotone(c.last_monotone.max(c.now) + r.range(0, spread));
                } else {
                    c.pop();
                }
            }
            c.drain();
        }
    }

    /// Events kept outside the queue with a reserved sequence number (as
    /// the engine keeps client timeouts: times that never decrease, most of
    /// them dropped before they are due) merge with the queue's events in
    /// exact `(time, seq)` order through `first_is_before`.
    #[test]
    fn reserved_events_merge_in_order() {
        let spread = |r: &mut Rng| SPREADS[r.below(SPREADS.len() as u64) as usize];
        for seed in 0..200 {
            let mut r = Rng::derive(seed, "queue-reserved");
            let mut q: Queue<u64> = Queue::default();
            let mut lane: std::collections::VecDeque<(Time, u64)> = Default::default();
            let mut model: BTreeMap<(Time, u64), ()> = BTreeMap::new();
            let ahead = spread(&mut r);
            let (mut now, mut lane_last) = (0, 0);
            for _ in 0..2000 {
                match r.below(6) {
                    0 | 1 => {
                        let t = now + spread(&mut r);
                        let s = q.seq + 1;
                        q.push(t, s);
                        model.insert((t, s), ());
                    }
                    2 => {
                        lane_last = lane_last.max(now + ahead);
                        let s = q.reserve_seq();
                        lane.push_back((lane_last, s));
                        model.insert((lane_last, s), ());
                    }
                    3 => {
                        if let Some(k) = lane.pop_front() {
                            model.remove(&k); // dropped, as a completed request's timeout
                        }
                    }
                    _ => {
                        let got = match lane.front() {
                            Some(&(t, s)) if !q.first_is_before(t, s) => lane.pop_front(),
                            _ => q.pop(),
                        };
                        assert_eq!(got, model.pop_first().map(|(k, ())| k), "seed {seed}");
                        if let Some((t, _)) = got {
                            now = t;
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn an_empty_queue_has_nothing_to_give() {
        let mut c = Checked::new();
        assert_eq!(c.pop(), None);
        c.push(0);
        c.push(1 << 40);
        assert_eq!(c.drain(), vec![1, 2]);
        assert_eq!(c.pop(), None);
        // Still usable after running dry far ahead.
        c.push(c.now);
        c.push_monotone(c.now + 2 * BUCKET);
        c.push(c.now + 1);
        assert_eq!(c.drain(), vec![3, 5, 4]);
        assert_eq!(c.pop(), None);
    }

    #[test]
    fn pushes_at_the_edges_keep_their_order() {
        for base in [0, 12_345, 3 * BUCKET + 17, REACH + 5, 1 << 40] {
            let mut c = Checked::new();
            c.go_to(base);
            // The end of the wheel and the end of the bags' reach.
            let wheel = (base / BUCKET + 2) * BUCKET;
            let reach = wheel + REACH;
            for t in [wheel - 1, wheel, wheel + 1, base, wheel - 1, wheel] {
                c.push(t);
            }
            for t in [reach - 1, reach, reach + 1, reach - 1, reach] {
                c.push(t);
            }
            c.push_monotone(wheel);
            c.push_monotone(reach);
            c.push(base);
            c.drain();
        }
    }

    #[test]
    fn events_moving_closer_stay_ahead_of_newer_pushes_at_their_time() {
        let t = 5 * REACH + 3 * BUCKET + 99;
        let mut c = Checked::new();
        let mut at_t = vec![c.push(t), c.push_monotone(t)]; // in the heap
        c.go_to(t - REACH);
        at_t.push(c.push(t)); // now in its bag, behind the heap's
        c.go_to(t - BUCKET - 1);
        at_t.push(c.push(t)); // still in the bag
        c.go_to(t - BUCKET + 1);
        at_t.push(c.push(t)); // the wheel has taken it over
        at_t.push(c.push_monotone(t));
        c.go_to(t - 1);
        let after = c.push(t + 1);
        at_t.push(c.push(t));
        at_t.push(after);
        assert_eq!(c.drain(), at_t);
    }

    #[test]
    fn skipping_over_an_empty_wheel_brings_in_whole_buckets() {
        for from_heap in [false, true] {
            let mut c = Checked::new();
            let mut start = 40 * BUCKET;
            if from_heap {
                c.go_to(REACH);
                start += 2 * REACH; // beyond the bags' reach
            }
            for t in [start + 2 * BUCKET, start + 5, start + BUCKET, start + 5] {
                c.push(t);
            }
            c.push(start + 2 * BUCKET - 1);
            c.push(start + 3 * REACH);
            assert_eq!(c.pop().map(|e| e.0), Some(start + 5));
            // The wheel now covers `start .. start + 2 * BUCKET`.
            c.push(start + 5);
            c.push(start + 2 * BUCKET - 1);
            c.push(start + 2 * BUCKET);
            c.push(start + BUCKET);
            c.drain();
        }
    }

    #[test]
    fn a_far_bag_just_behind_the_bags_cursor_is_found() {
        let mut c = Checked::new();
        c.go_to(70 * BUCKET + 3); // the bags start at bucket 72
        let last = (72 + BAGS as Time - 1) * BUCKET;
        let a = c.push(last + 5);
        let b = c.push(last);
        assert_eq!(c.drain(), vec![b, a]);
    }

    #[test]
    fn bitmap_finds_members_going_round() {
        let mut r = Rng::derive(1, "bitmap");
        let mut m = Bitmap::<130, 3>::default();
        let mut set = std::collections::BTreeSet::new();
        let n = 130 * 64;
        for _ in 0..20_000 {
            let i = r.below(n as u64) as usize;
            if r.below(2) == 0 {
                assert_eq!(m.insert(i), set.insert(i));
            } else {
                m.remove(i);
                set.remove(&i);
            }
            let from = r.below(n as u64) as usize;
            let want = set.range(from..).next().or(set.iter().next()).copied();
            assert_eq!(m.first_from(from), want);
        }
    }

    #[test]
    fn the_wheel_and_the_bags_wrap_many_times() {
        let mut r = Rng::derive(3, "queue-wraps");
        let mut c = Checked::new();
        for _ in 0..16 {
            c.push(r.range(0, 4 * BUCKET));
        }
        for _ in 0..100_000 {
            c.pop();
            c.push(c.now + r.range(0, 4 * BUCKET));
            if r.below(8) == 0 {
                c.push_monotone(c.last_monotone.max(c.now + REACH / 3));
                c.push(c.now + r.range(0, 2 * REACH));
                c.pop();
                c.pop();
            }
        }
        assert!(
            c.now > 20 * REACH,
            "the bags wrapped {} times",
            c.now / REACH
        );
        c.drain();
    }

    #[test]
    fn times_up_to_the_last_microsecond() {
        let end = Time::MAX;
        let mut c = Checked::new();
        let a = c.push(end);
        let b = c.push(end - 1);
        let d = c.push_monotone(end);
        let e = c.push(end - 3 * BUCKET);
        assert_eq!(c.pop(), Some((end - 3 * BUCKET, e)));
        let f = c.push(end); // in its bag
        assert_eq!(c.pop(), Some((end - 1, b)));
        let g = c.push(end); // in the wheel
        assert_eq!(c.drain(), vec![a, d, f, g]);
        let h = c.push(end);
        assert_eq!(c.drain(), vec![h]);
    }
}
