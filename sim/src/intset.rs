//! A grow-only set of integers whose states can be kept without copying.
//!
//! A broadcast node answers every read with its whole set; recording each
//! answer as a list made a history of n operations hold O(n²) integers
//! (20,000 operations: 2.6 GB). A [`GrowSet`] appends each new element to
//! one log shared by all of its states: a state ([`IntSet`]) is that log
//! and how many elements of it were there, so keeping a read's answer costs
//! two words, and the log holds each element once.
//!
//! The log only grows, so the prefix a state names never changes. An
//! [`IntSet`] compares, hashes, prints and serializes as its elements in
//! ascending order, exactly like the list of integers it stands for.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a [`GrowSet`] and its states share: the elements in the order they
/// joined, and (to list a state's elements in ascending order without
/// sorting them each time) the first `sorted_upto` of them as (element,
/// place in `order`) in ascending order, brought up to date when asked.
#[derive(Debug, Default, Clone)]
struct Shared {
    order: Vec<i64>,
    sorted: Vec<(i64, usize)>,
    sorted_upto: usize,
}

impl Shared {
    /// Merges the elements that joined since the last call into `sorted`:
    /// O(size) per call, sequential, so a read answered after each change
    /// costs what copying its list would.
    fn catch_up(&mut self) {
        if self.sorted_upto == self.order.len() {
            return;
        }
        let mut new: Vec<(i64, usize)> = (self.sorted_upto..self.order.len())
            .map(|p| (self.order[p], p))
            .collect();
        new.sort_unstable();
        let old = std::mem::take(&mut self.sorted);
        let mut merged = Vec::with_capacity(old.len() + new.len());
        let (mut a, mut b) = (old.into_iter().peekable(), new.into_iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x <= y => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => break,
            };
            merged.extend(next);
        }
        self.sorted = merged;
        self.sorted_upto = self.order.len();
    }
}

type Log = Arc<RwLock<Shared>>;

fn read(log: &Log) -> RwLockReadGuard<'_, Shared> {
    // A poisoned lock means a panic elsewhere; the log itself is intact
    // (an append is one push; a merge replaces `sorted` whole).
    log.read().unwrap_or_else(|e| e.into_inner())
}

fn write(log: &Log) -> std::sync::RwLockWriteGuard<'_, Shared> {
    log.write().unwrap_or_else(|e| e.into_inner())
}

/// A grow-only set of integers (a node's state) that hands out cheap
/// immutable states of itself ([`GrowSet::snapshot`]).
#[derive(Debug, Default)]
pub struct GrowSet {
    members: BTreeSet<i64>,
    log: Log,
}

impl Clone for GrowSet {
    /// A copy gets a log of its own: two sets appending to one log would
    /// change each other's states.
    fn clone(&self) -> GrowSet {
        GrowSet {
            members: self.members.clone(),
            log: Arc::new(RwLock::new(read(&self.log).clone())),
        }
    }
}

impl GrowSet {
    /// An empty set.
    pub fn new() -> GrowSet {
        GrowSet::default()
    }

    /// Adds `e`; true if it was not there.
    pub fn insert(&mut self, e: i64) -> bool {
        if !self.members.insert(e) {
            return false;
        }
        write(&self.log).order.push(e);
        true
    }

    /// Adds every element of `it`.
    pub fn extend(&mut self, it: impl IntoIterator<Item = i64>) {
        for e in it {
            self.insert(e);
        }
    }

    /// Whether `e` is in the set.
    pub fn contains(&self, e: &i64) -> bool {
        self.members.contains(e)
    }

    /// How many elements.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements in ascending order (a copy).
    pub fn elements(&self) -> Vec<i64> {
        self.members.iter().copied().collect()
    }

    /// The set as it is now, sharing this set's log (no elements copied).
    pub fn snapshot(&self) -> IntSet {
        IntSet {
            len: self.len(),
            log: Arc::clone(&self.log),
        }
    }
}

/// An iterator that knows how many items are left (serializers write a
/// list's length first, as they do for a `Vec`).
struct Exact<I> {
    it: I,
    left: usize,
}

impl<I: Iterator<Item = i64>> ExactSizeIterator for Exact<I> {}

impl<I: Iterator<Item = i64>> Iterator for Exact<I> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        let e = self.it.next()?;
        self.left = self.left.saturating_sub(1);
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// One state of a [`GrowSet`]: the first `len` elements of its log.
#[derive(Clone, Debug)]
pub struct IntSet {
    log: Log,
    len: usize,
}

impl IntSet {
    /// A state holding exactly `elements` (duplicates dropped), with a log
    /// of its own.
    pub fn from_elements(elements: impl IntoIterator<Item = i64>) -> IntSet {
        let mut s = GrowSet::new();
        s.extend(elements);
        s.snapshot()
    }

    /// How many elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `f` with the elements in the order they joined the set (the
    /// log's prefix; no copy).
    pub fn with_elements<R>(&self, f: impl FnOnce(&[i64]) -> R) -> R {
        f(&read(&self.log).order[..self.len])
    }

    /// Calls `f` with the elements in ascending order (no copy: the log's
    /// sorted elements, those that joined before this state).
    pub fn with_sorted<R>(&self, f: impl FnOnce(&mut dyn ExactSizeIterator<Item = i64>) -> R) -> R {
        let mut log = write(&self.log);
        log.catch_up();
        let len = self.len;
        let mut it = Exact {
            it: log
                .sorted
                .iter()
                .filter(move |&&(_, p)| p < len)
                .map(|&(e, _)| e),
            left: len,
        };
        f(&mut it)
    }

    /// The elements in ascending order (a copy).
    pub fn sorted(&self) -> Vec<i64> {
        self.with_sorted(|it| it.collect())
    }

    /// Whether two states share one log: then the shorter one's elements
    /// are the first elements of the longer one.
    pub fn same_log(&self, other: &IntSet) -> bool {
        Arc::ptr_eq(&self.log, &other.log)
    }

    /// The log's address, to group states by log in a lookup table (never
    /// to order anything: addresses differ between runs).
    pub fn log_addr(&self) -> usize {
        Arc::as_ptr(&self.log) as *const () as usize
    }
}

impl PartialEq for IntSet {
    fn eq(&self, other: &IntSet) -> bool {
        self.len == other.len && (self.same_log(other) || self.sorted() == other.sorted())
    }
}

impl Eq for IntSet {}

impl PartialOrd for IntSet {
    fn partial_cmp(&self, other: &IntSet) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IntSet {
    fn cmp(&self, other: &IntSet) -> std::cmp::Ordering {
        if self.same_log(other) && self.len == other.len {
            return std::cmp::Ordering::Equal;
        }
        self.sorted().cmp(&other.sorted())
    }
}

impl std::hash::Hash for IntSet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As the Vec<i64> of its elements hashes.
        state.write_usize(self.len);
        self.with_sorted(|it| it.for_each(|e| e.hash(state)));
    }
}

impl Serialize for IntSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with_sorted(|it| s.collect_seq(it))
    }
}

impl<'de> Deserialize<'de> for IntSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<IntSet, D::Error> {
        Ok(IntSet::from_elements(Vec::<i64>::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_keeps_its_elements_while_the_set_grows() {
        let mut s = GrowSet::new();
        s.extend([5, 1, 3]);
        let a = s.snapshot();
        assert!(!s.insert(1));
        s.extend([0, 9]);
        let b = s.snapshot();
        assert_eq!(a.sorted(), vec![1, 3, 5]);
        assert_eq!(b.sorted(), vec![0, 1, 3, 5, 9]);
        assert!(a.same_log(&b));
        assert_eq!(a, IntSet::from_elements([3, 5, 1]));
        assert_ne!(a, b);
        assert_eq!(serde_json::to_string(&b).unwrap(), "[0,1,3,5,9]");
    }

    #[test]
    fn a_state_hashes_and_prints_as_the_list_it_stands_for() {
        use crate::hash::{Fingerprint, StableHasher};
        use crate::Value;
        let mut s = GrowSet::new();
        s.extend([9, -2, 4]);
        let state = s.snapshot();
        s.insert(1);
        let set = Value::Set(state);
        let list = Value::List(vec![Value::Int(-2), Value::Int(4), Value::Int(9)]);
        let (mut a, mut b) = (StableHasher::new(), StableHasher::new());
        set.fingerprint(&mut a);
        list.fingerprint(&mut b);
        assert_eq!(a.finish(), b.finish());
        assert_eq!(set.to_string(), list.to_string());
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            serde_json::to_string(&list).unwrap()
        );
    }

    #[test]
    fn a_cloned_set_does_not_change_the_states_of_the_original() {
        let mut s = GrowSet::new();
        s.extend([1, 2]);
        let mut c = s.clone();
        c.insert(7);
        s.insert(8);
        let (a, b) = (s.snapshot(), c.snapshot());
        assert!(!a.same_log(&b));
        assert_eq!(a.sorted(), vec![1, 2, 8]);
        assert_eq!(b.sorted(), vec![1, 2, 7]);
    }
}
