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
        _ => Box::new(Search::<S, Wide>::new(spec, ops)),
    }
}

/// Searches for a linearization of `ops`, spending at most `budget` model
/// steps; returns the outcome and the steps spent.
pub(crate) fn search<S: Spec>(spec: &S, ops: &[&Timed<S::Op>], budget: u64) -> (Outcome, u64) {
    let mut search = start(spec, ops);
    let outcome = search.resume(budget);
    (outcome, search.steps())
}

/// A set of operation indices.
trait Bits: Clone + Eq + Hash {
    fn empty(len: usize) -> Self;
    fn set(&mut self, i: usize);
    fn clear(&mut self, i: usize);
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

/// A bitset for more than 1024 operations.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Wide(Box<[u64]>);

impl Bits for Wide {
    fn empty(len: usize) -> Wide {
        Wide(vec![0; len.div_ceil(64)].into_boxed_slice())
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
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
                if self.cache.insert((self.linearized.clone(), after.clone())) {
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

    fn frontier(&self) -> Option<Frontier> {
        (self.finished == Some(Outcome::Illegal)).then(|| self.frontier_at(self.furthest))
    }
}

impl<S: Spec, B> Search<'_, S, B> {
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
