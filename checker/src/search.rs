//! The Wing–Gong linearizability search with Lowe's memoization.
//!
//! Operations become call and return entries in one doubly linked list,
//! sorted by time. The search walks the list: at a call it tries to
//! linearize that operation now (apply it to the model state; if legal and
//! the pair (set of linearized operations, state) is new, lift the operation
//! out of the list and start again from the head); at a return whose call is
//! still in the list, no order of what came before works, so it backtracks.
//! The cache of visited (set, state) pairs is what makes this fast: the same
//! configuration is never explored twice.
//!
//! Two prunings cut the orders tried without losing any linearization:
//!
//! - A read-only operation that is legal now is placed now, with no
//!   alternative tried in its place. Its call is in the list, so everything
//!   that must precede it is placed; it leaves the state as it is; so any
//!   linearization that places it later still works with it placed here.
//! - Of equal operations open to the end of the history, the later-invoked
//!   is placed only after the earlier one (see [`twins`]).

use crate::history::Operation;
use crate::model::Spec;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// One operation ready for the search: compact form and interval.
#[derive(Debug)]
pub(crate) struct Timed<O> {
    /// The operation in the model's compact form.
    pub op: O,
    /// Invocation time.
    pub call: u64,
    /// Completion time, or `None` if open to the end of the history.
    pub ret: Option<u64>,
}

/// What the search found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Linearizable,
    Illegal,
    /// The step budget ran out first (or, when resuming, not finished yet).
    Unknown,
}

/// A search that runs in slices of steps, keeping its place in between.
pub(crate) trait Resumable {
    /// Runs at most `steps` more model steps; `Unknown` if not finished yet.
    fn resume(&mut self, steps: u64) -> Outcome;
    /// Model steps spent so far.
    fn steps(&self) -> u64;
    /// True when no allowance can help: the memo is full.
    fn exhausted(&self) -> bool;
    /// After an illegal outcome: the history cut at the latest return the
    /// walk ever got stuck at (see [`Search::frontier`]).
    fn frontier(&self) -> Option<Frontier>;
}

/// A prefix of the history that is already not linearizable, learnt from
/// the search for free: every operation invoked before the cut, those
/// returning after it marked open (outcome unknown).
#[derive(Clone, Debug)]
pub(crate) struct Frontier {
    /// (operation index, open) for each operation invoked before the cut.
    pub prefix: Vec<(usize, bool)>,
    /// The operation whose return is the cut: no order of what came
    /// before could be followed by it.
    pub culprit: usize,
}

/// Every operation in the search's form, or `None` if one does not fit.
pub(crate) fn prepare_all<S: Spec>(spec: &S, ops: &[&Operation]) -> Option<Vec<Timed<S::Op>>> {
    ops.iter()
        .map(|op| {
            let prepared = spec.prepare(op).ok()?;
            Some(Timed {
                op: prepared,
                call: op.time,
                ret: op.end_time(),
            })
        })
        .collect()
}

/// A search for a linearization of `ops`, ready to be resumed.
pub(crate) fn start<'a, S: Spec>(
    spec: &'a S,
    ops: &'a [&'a Timed<S::Op>],
) -> Box<dyn Resumable + Send + 'a> {
    // Sets of up to 1024 operations live inline in the cache entries,
    // because a heap allocation per entry would dominate the search's time;
    // the smallest size that fits keeps hashing cheap.
    match ops.len() {
        0..=128 => Box::new(Search::<S, u128>::new(spec, ops)),
        129..=256 => Box::new(Search::<S, [u64; 4]>::new(spec, ops)),
        257..=512 => Box::new(Search::<S, [u64; 8]>::new(spec, ops)),
        513..=1024 => Box::new(Search::<S, [u64; 16]>::new(spec, ops)),
        _ => Box::new(Search::<S, Runs>::new(spec, ops)),
    }
}

/// Searches for a linearization of `ops`, spending at most `budget` model
/// steps; returns the outcome and the steps spent.
pub(crate) fn search<S: Spec>(spec: &S, ops: &[&Timed<S::Op>], budget: u64) -> (Outcome, u64) {
    let mut search = start(spec, ops);
    let outcome = search.resume(budget);
    (outcome, search.steps())
}

/// The most bytes the memo of one search may hold (its configurations,
/// counted as stored: each entry, its set's allocation and its state's own
/// heap bytes ([`Spec::state_bytes`](crate::model::Spec::state_bytes)), and
/// the table's growth before it happens). Past it the search answers "unknown" rather than
/// exhausting memory: on a long single-key history each configuration
/// holds a bitset of all its operations, so steps alone do not bound memory.
pub const MEMO_BYTES: usize = 1 << 30;

/// A set of operation indices.
trait Bits: Clone + Eq + Hash {
    fn empty(len: usize) -> Self;
    fn set(&mut self, i: usize);
    fn clear(&mut self, i: usize);
    /// Bytes it holds beyond its own size (a heap allocation).
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl Bits for u128 {
    fn empty(_: usize) -> u128 {
        0
    }
    fn set(&mut self, i: usize) {
        *self |= 1 << i;
    }
    fn clear(&mut self, i: usize) {
        *self &= !(1 << i);
    }
}

impl<const N: usize> Bits for [u64; N] {
    fn empty(_: usize) -> [u64; N] {
        [0; N]
    }
    fn set(&mut self, i: usize) {
        self[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self[i / 64] &= !(1 << (i % 64));
    }
}

/// A set of more than 1024 operations, as its maximal runs of consecutive
/// indices (sorted, disjoint, never adjacent). Operations are numbered in
/// invocation order, and a search linearizes them roughly in that order,
/// so a configuration is a few runs: a long prefix, and the operations
/// around the ones still open. A bitset would cost n/8 bytes per memo
/// entry, which makes the memo of a long single-key history quadratic
/// (10^5 operations: 12.5 KB per entry); the runs of a sequential history
/// cost 8 bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Runs(Vec<(u32, u32)>);

impl Bits for Runs {
    fn empty(_: usize) -> Runs {
        Runs(Vec::new())
    }
    fn set(&mut self, i: usize) {
        let i = i as u32;
        let runs = &mut self.0;
        // The first run that ends at or after i (ends are exclusive).
        let k = runs.partition_point(|&(_, end)| end < i);
        if k < runs.len() && runs[k].0 <= i && i < runs[k].1 {
            return;
        }
        let joins_left = k < runs.len() && runs[k].1 == i;
        let next = if joins_left { k + 1 } else { k };
        let joins_right = next < runs.len() && runs[next].0 == i + 1;
        match (joins_left, joins_right) {
            (true, true) => {
                runs[k].1 = runs[next].1;
                runs.remove(next);
            }
            (true, false) => runs[k].1 = i + 1,
            (false, true) => runs[next].0 = i,
            (false, false) => runs.insert(k, (i, i + 1)),
        }
    }
    fn clear(&mut self, i: usize) {
        let i = i as u32;
        let runs = &mut self.0;
        let k = runs.partition_point(|&(_, end)| end <= i);
        let Some(&(start, end)) = runs.get(k).filter(|r| r.0 <= i) else {
            return;
        };
        match (start == i, end == i + 1) {
            (true, true) => {
                runs.remove(k);
            }
            (true, false) => runs[k].0 = i + 1,
            (false, true) => runs[k].1 = i,
            (false, false) => {
                runs[k].1 = i;
                runs.insert(k + 1, (i + 1, end));
            }
        }
    }
    fn heap_bytes(&self) -> usize {
        match self.0.capacity() {
            0 => 0,
            c => c * 8 + 16, // the runs and the allocator's header
        }
    }
}

/// A small multiplicative hasher (FxHash's recipe). The cache is only ever
/// asked "have we been here?", never iterated, so its hashing cannot affect
/// results; a fixed, fast hash keeps runs reproducible and quick.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

const HEAD: usize = 0;

/// For each open operation, the latest earlier-invoked open operation equal
/// to it. If two equal operations are both open to the end, swapping their
/// places in any linearization gives another, so the search need only
/// place them in invocation order (ties broken by index, as in the list).
fn twins<O: PartialEq>(ops: &[&Timed<O>]) -> Vec<Option<usize>> {
    let mut open: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].ret.is_none()).collect();
    open.sort_by_key(|&i| (ops[i].call, i));
    let mut twin = vec![None; ops.len()];
    for (k, &i) in open.iter().enumerate() {
        twin[i] = open[..k]
            .iter()
            .rev()
            .copied()
            .find(|&j| ops[j].op == ops[i].op);
    }
    twin
}

/// The search's working state over one set of operations.
struct Search<'a, S: Spec, B> {
    spec: &'a S,
    ops: &'a [&'a Timed<S::Op>],
    /// Entry `e` (1-based; 0 is the head, `tail` the tail sentinel) is the
    /// call (if `is_call[e]`) or return of operation `op_of[e]`.
    op_of: Vec<usize>,
    is_call: Vec<bool>,
    /// The call and return entries of each operation.
    call_of: Vec<usize>,
    ret_of: Vec<usize>,
    next: Vec<usize>,
    prev: Vec<usize>,
    tail: usize,
    /// Operations that never change the state (see [`Spec::read_only`]).
    read_only: Vec<bool>,
    /// For an open operation, the previous open operation equal to it.
    twin: Vec<Option<usize>>,
    /// Which operations are linearized (the bitset, but cheap to test).
    done: Vec<bool>,
    /// Configurations (linearized set, state) already explored or being explored.
    /// Only asked "is this in?": never iterated, so its order cannot reach a
    /// verdict, and a hash set is the fastest answer.
    cache: HashSet<(B, S::State), BuildHasherDefault<FxHasher>>,
    linearized: B,
    state: S::State,
    /// The choices made: each linearized call entry and the state before it.
    stack: Vec<(usize, S::State)>,
    /// The entry the walk stands on.
    entry: usize,
    steps: u64,
    finished: Option<Outcome>,
    /// The latest return entry at which the walk had to backtrack.
    furthest: usize,
    /// What one memo entry costs besides its set's heap bytes, what the
    /// memo holds, and how many bytes it may hold.
    entry_bytes: usize,
    memo_bytes: usize,
    memo_limit: usize,
}

impl<'a, S: Spec, B: Bits> Search<'a, S, B> {
    fn new(spec: &'a S, ops: &'a [&'a Timed<S::Op>]) -> Self {
        // Entries in time order. At equal times a call sorts before a
        // return, so operations that merely touch are treated as concurrent
        // (the lenient reading: a timestamp cannot order them). Open returns
        // sort after everything.
        let mut order: Vec<(bool, u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, t) in ops.iter().enumerate() {
            order.push((false, t.call, 0, i));
            order.push((t.ret.is_none(), t.ret.unwrap_or(u64::MAX), 1, i));
        }
        order.sort_unstable();
        let len = order.len();
        let tail = len + 1;
        let mut op_of = vec![0; len + 2];
        let mut is_call = vec![false; len + 2];
        let mut call_of = vec![0; ops.len()];
        let mut ret_of = vec![0; ops.len()];
        for (slot, &(_, _, phase, i)) in order.iter().enumerate() {
            let e = slot + 1;
            op_of[e] = i;
            is_call[e] = phase == 0;
            if phase == 0 {
                call_of[i] = e;
            } else {
                ret_of[i] = e;
            }
        }
        let next = (0..len + 2).map(|e| e + 1).collect();
        let prev = (0..len + 2).map(|e| e.saturating_sub(1)).collect();
        let read_only = ops.iter().map(|t| spec.read_only(&t.op)).collect();
        Search {
            spec,
            ops,
            op_of,
            is_call,
            call_of,
            ret_of,
            next,
            prev,
            tail,
            read_only,
            twin: twins(ops),
            done: vec![false; ops.len()],
            cache: HashSet::default(),
            linearized: B::empty(ops.len()),
            state: spec.init(),
            stack: Vec::new(),
            entry: 1,
            steps: 0,
            finished: None,
            furthest: 0,
            // The entry itself and its hash table slot's control byte; each
            // entry adds its set's own allocation.
            entry_bytes: std::mem::size_of::<(B, S::State)>() + 1,
            memo_bytes: 0,
            memo_limit: MEMO_BYTES,
        }
    }

    /// Takes a call entry and its return out of the list.
    fn lift(&mut self, call: usize) {
        for e in [call, self.ret_of[self.op_of[call]]] {
            let (p, n) = (self.prev[e], self.next[e]);
            self.next[p] = n;
            self.prev[n] = p;
        }
    }

    /// Puts back what `lift` took out; lifts are undone in reverse order.
    fn unlift(&mut self, call: usize) {
        for e in [self.ret_of[self.op_of[call]], call] {
            let (p, n) = (self.prev[e], self.next[e]);
            self.next[p] = e;
            self.prev[n] = e;
        }
    }

    /// The walk itself; see the module documentation.
    fn run(&mut self, allowance: u64) -> Outcome {
        let limit = self.steps.saturating_add(allowance);
        let mut entry = self.entry;
        // True when `entry` is the return of a read just undone or found
        // explored, stood on only to keep undoing: not a place the walk
        // got stuck at by walking.
        let mut jumped = false;
        while self.next[HEAD] != self.tail {
            if !self.is_call[entry] {
                // A return whose call is not linearized yet: nothing placed
                // so far can be followed by it, so undo the last choice.
                if !jumped {
                    self.furthest = self.furthest.max(entry);
                }
                let Some((call, previous)) = self.stack.pop() else {
                    return Outcome::Illegal;
                };
                let i = self.op_of[call];
                self.state = previous;
                self.linearized.clear(i);
                self.done[i] = false;
                self.unlift(call);
                // A legal read-only operation was placed without choice
                // (see below): trying others in its place is pointless, so
                // keep undoing, by standing on its (pending) return.
                jumped = self.read_only[i];
                entry = if jumped {
                    self.ret_of[i]
                } else {
                    self.next[call]
                };
                continue;
            }
            let i = self.op_of[entry];
            if self.twin[i].is_some_and(|j| !self.done[j]) {
                // Equal open operations are interchangeable: place them in
                // invocation order only.
                entry = self.next[entry];
                continue;
            }
            if self.steps >= limit {
                self.entry = entry;
                return Outcome::Unknown;
            }
            self.steps += 1;
            if let Some(after) = self.spec.step(&self.state, &self.ops[i].op) {
                self.linearized.set(i);
                let state_bytes = self.spec.state_bytes(&after);
                let cost = self.entry_bytes + self.linearized.heap_bytes() + state_bytes;
                if self
                    .memo_bytes
                    .saturating_add(cost)
                    .saturating_add(self.growth_bytes())
                    >= self.memo_limit
                {
                    // Out of memory, not of steps: no resume can help.
                    self.linearized.clear(i);
                    self.finished = Some(Outcome::Unknown);
                    self.cache = HashSet::default();
                    self.stack = Vec::new();
                    return Outcome::Unknown;
                }
                if self.cache.insert((self.linearized.clone(), after.clone())) {
                    self.memo_bytes += cost;
                    let before = std::mem::replace(&mut self.state, after);
                    self.stack.push((entry, before));
                    self.done[i] = true;
                    self.lift(entry);
                    entry = self.next[HEAD];
                    continue;
                }
                self.linearized.clear(i);
                if self.read_only[i] {
                    // Placing this read now leads to an explored dead end,
                    // so (as below) no other choice here can succeed.
                    entry = self.ret_of[i];
                    jumped = true;
                    continue;
                }
            }
            entry = self.next[entry];
        }
        Outcome::Linearizable
    }
}

impl<S: Spec, B: Bits> Resumable for Search<'_, S, B> {
    fn resume(&mut self, steps: u64) -> Outcome {
        if let Some(outcome) = self.finished {
            return outcome;
        }
        let outcome = self.run(steps);
        if outcome != Outcome::Unknown {
            self.finished = Some(outcome);
            // The answer is all that is needed now: free the cache.
            self.cache = HashSet::default();
            self.stack = Vec::new();
        }
        outcome
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn exhausted(&self) -> bool {
        self.finished == Some(Outcome::Unknown)
    }

    fn frontier(&self) -> Option<Frontier> {
        (self.finished == Some(Outcome::Illegal)).then(|| self.frontier_at(self.furthest))
    }
}

impl<S: Spec, B> Search<'_, S, B> {
    /// The bytes the memo's table would take at once if the next entry
    /// made it grow: the new table (twice the slots) while the old one
    /// still lives. Zero while it has room. Counted before the insert, so
    /// that a growing table can never ask for more than the memo's bound.
    fn growth_bytes(&self) -> usize {
        if self.cache.len() < self.cache.capacity() {
            return 0;
        }
        let slots = (self.cache.capacity().max(1) * 2 * 8 / 7).next_power_of_two();
        slots.saturating_mul(self.entry_bytes)
    }

    /// The history cut at return entry `cut`.
    ///
    /// If this prefix had an order, the walk, which tries every order
    /// (up to the prunings, which lose none), would have linearized every
    /// operation returning by the cut and got stuck only later, or not at
    /// all. So the prefix cut at the latest return the walk got stuck at
    /// has no order: a proof the search found along the way.
    fn frontier_at(&self, cut: usize) -> Frontier {
        let prefix = (0..self.ops.len())
            .filter(|&i| self.call_of[i] < cut)
            .map(|i| (i, self.ret_of[i] > cut))
            .collect();
        Frontier {
            prefix,
            culprit: self.op_of[cut],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Operation;
    use crate::model::ShapeError;
    use std::collections::BTreeSet;

    /// splitmix64.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % n
        }
    }

    #[test]
    fn runs_hold_the_same_set_as_a_btreeset() {
        let mut rng = Rng(1);
        for round in 0..200 {
            let (mut runs, mut model) = (Runs::empty(0), BTreeSet::new());
            for _ in 0..300 {
                let i = rng.below(40) as usize;
                if rng.below(3) == 0 {
                    runs.clear(i);
                    model.remove(&(i as u32));
                } else {
                    runs.set(i);
                    model.insert(i as u32);
                }
                // Canonical: sorted, disjoint, never adjacent, none empty.
                assert!(runs.0.iter().all(|&(s, e)| s < e), "{round}: {:?}", runs.0);
                assert!(
                    runs.0.windows(2).all(|w| w[0].1 < w[1].0),
                    "{round}: {:?}",
                    runs.0
                );
                let held: BTreeSet<u32> = runs.0.iter().flat_map(|&(s, e)| s..e).collect();
                assert_eq!(held, model, "round {round}");
            }
        }
    }

    /// A register: writes and reads of small integers.
    struct Reg;
    #[derive(Debug, PartialEq)]
    enum RegOp {
        Write(u8),
        Read(Option<u8>),
    }
    impl Spec for Reg {
        type State = u8;
        type Op = RegOp;
        fn init(&self) -> u8 {
            0
        }
        fn prepare(&self, _: &Operation) -> Result<RegOp, ShapeError> {
            unreachable!("the test builds operations directly")
        }
        fn step(&self, s: &u8, op: &RegOp) -> Option<u8> {
            match *op {
                RegOp::Write(v) => Some(v),
                RegOp::Read(None) => Some(*s),
                RegOp::Read(Some(v)) => (v == *s).then_some(*s),
            }
        }
        fn read_only(&self, op: &RegOp) -> bool {
            matches!(op, RegOp::Read(_))
        }
    }

    /// A log of writes: each state owns a vector of every write so far.
    struct Log;
    impl Spec for Log {
        type State = Vec<u8>;
        type Op = RegOp;
        fn init(&self) -> Vec<u8> {
            Vec::new()
        }
        fn prepare(&self, _: &Operation) -> Result<RegOp, ShapeError> {
            unreachable!("the test builds operations directly")
        }
        fn step(&self, s: &Vec<u8>, op: &RegOp) -> Option<Vec<u8>> {
            match *op {
                RegOp::Write(v) => {
                    let mut next = Vec::with_capacity(256);
                    next.extend_from_slice(s);
                    next.push(v);
                    Some(next)
                }
                RegOp::Read(None) => Some(s.clone()),
                RegOp::Read(Some(v)) => (s.last() == Some(&v)).then(|| s.clone()),
            }
        }
        fn state_bytes(&self, s: &Vec<u8>) -> usize {
            s.capacity()
        }
    }

    #[test]
    fn the_memo_counts_its_states_bytes_and_ends_unknown_at_its_bound() {
        // 24 concurrent distinct writes and a read nothing wrote: every
        // order is tried, each memo entry owns a 256-byte state.
        let mut ops: Vec<Timed<RegOp>> = (0..24)
            .map(|i| Timed {
                op: RegOp::Write(i),
                call: 0,
                ret: Some(100),
            })
            .collect();
        ops.push(Timed {
            op: RegOp::Read(Some(99)),
            call: 200,
            ret: Some(201),
        });
        let refs: Vec<&Timed<RegOp>> = ops.iter().collect();
        let mut s = Search::<Log, u128>::new(&Log, &refs);
        s.memo_limit = 1 << 20;
        assert_eq!(s.resume(u64::MAX), Outcome::Unknown);
        assert!(s.exhausted(), "the memo's bound, not the steps, ended it");
        // What the memo counted covers its states' own bytes: one entry
        // costs its table entry plus 256, so it stopped below 1 MiB / 256
        // entries (without the states it would have taken about 40 times
        // as many, past the bound in real bytes).
        let entry = std::mem::size_of::<(u128, Vec<u8>)>() + 1;
        assert!(s.memo_bytes <= s.memo_limit);
        assert!(
            s.steps() <= (2 * (1 << 20) / (entry + 256)) as u64,
            "{} steps",
            s.steps()
        );
    }

    #[test]
    fn a_search_over_runs_is_the_search_over_a_bitset() {
        // The set's representation must change nothing: same outcome, same
        // steps, on concurrent histories with open operations.
        let mut rng = Rng(7);
        let mut outcomes = [0; 3];
        for _ in 0..3000 {
            let n = 1 + rng.below(12) as usize;
            let ops: Vec<Timed<RegOp>> = (0..n)
                .map(|_| {
                    let call = rng.below(20);
                    let ret = (rng.below(8) != 0).then(|| call + 1 + rng.below(6));
                    let op = match rng.below(2) {
                        0 => RegOp::Write(rng.below(3) as u8),
                        _ => RegOp::Read((rng.below(4) != 0).then(|| rng.below(3) as u8)),
                    };
                    Timed { op, call, ret }
                })
                .collect();
            let refs: Vec<&Timed<RegOp>> = ops.iter().collect();
            let mut a = Search::<Reg, u128>::new(&Reg, &refs);
            let mut b = Search::<Reg, Runs>::new(&Reg, &refs);
            let (oa, ob) = (a.resume(10_000), b.resume(10_000));
            assert_eq!((oa, a.steps()), (ob, b.steps()), "{ops:?}");
            outcomes[oa as usize] += 1;
        }
        // Both verdicts occur, so the comparison means something.
        assert!(
            outcomes.iter().filter(|&&c| c > 100).count() >= 2,
            "{outcomes:?}"
        );
    }
}
