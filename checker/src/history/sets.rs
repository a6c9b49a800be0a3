//! Reads of a growing set, kept as what each adds to the one before.
//!
//! A Maelstrom broadcast or g-set node answers every read with its whole
//! set, so a history of n operations lists O(n²) integers: the 20,000
//! operations of a gg-broadcast run are a 241 MB file, and held as JSON
//! values (32 bytes an integer) they took 2 GB. Checked as set-full, a read
//! is a set; a process's reads (of one key) usually each hold the one
//! before. A [`ReadSet`] is then its predecessor plus the elements it adds:
//! the reads of one process form a chain whose pieces hold each element
//! once, so the history takes memory linear in what it adds, not in what
//! it lists. A read that does not hold its predecessor (an element was
//! lost, or the process reads another node) starts a chain of its own.
//!
//! What a read keeps is its set: the order of its list and repeated
//! elements are not kept (set-full reads a read as a set, as Jepsen's does;
//! Jepsen counts repeats as `:duplicated`, but its test `(< v 1)` on a
//! frequency never holds, so none is ever reported).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// One piece of a chain: the elements a read added to its predecessor's.
struct Piece {
    prev: Option<Arc<Piece>>,
    /// Ascending, none of them in `prev`'s set.
    added: Box<[i64]>,
    /// Elements in this piece and all before it.
    len: usize,
    /// The chain's identity (shared by its pieces), for grouping reads by chain.
    chain: Arc<()>,
}

impl Drop for Piece {
    // A chain is as long as a process's reads: dropping it piece by piece
    // from the tip, not by recursion, keeps the stack flat.
    fn drop(&mut self) {
        let mut prev = self.prev.take();
        while let Some(piece) = prev {
            prev = match Arc::try_unwrap(piece) {
                Ok(mut alone) => alone.prev.take(),
                Err(_) => None,
            };
        }
    }
}

/// An ok read's integers as a set: the first [`ReadSet::len`] elements of
/// its chain ([`ReadSet::chain`]).
#[derive(Clone)]
pub struct ReadSet(Arc<Piece>);

impl ReadSet {
    /// How many distinct elements the read returned.
    pub fn len(&self) -> usize {
        self.0.len
    }

    /// True if the read returned nothing.
    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    /// Identifies the chain the read is on (equal for reads of one chain):
    /// for a lookup table only, never to order anything.
    pub fn chain(&self) -> usize {
        Arc::as_ptr(&self.0.chain) as usize
    }

    /// The chain's elements up to this read, in the order its pieces added
    /// them (each piece ascending): the read's set, as a prefix of the log
    /// that every later read of the chain extends.
    pub fn log(&self) -> Vec<i64> {
        let mut pieces = Vec::new();
        let mut at = Some(&self.0);
        while let Some(p) = at {
            pieces.push(&p.added);
            at = p.prev.as_ref();
        }
        let mut out = Vec::with_capacity(self.0.len);
        for piece in pieces.into_iter().rev() {
            out.extend_from_slice(piece);
        }
        out
    }

    /// The elements in ascending order.
    pub fn sorted(&self) -> Vec<i64> {
        let mut all = self.log();
        all.sort_unstable();
        all
    }

    /// The read as the list of integers it stands for (ascending).
    pub fn to_value(&self) -> Value {
        Value::Array(self.sorted().into_iter().map(Value::from).collect())
    }
}

impl PartialEq for ReadSet {
    fn eq(&self, other: &ReadSet) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.len() == other.len() && self.sorted() == other.sorted())
    }
}

impl fmt::Debug for ReadSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.sorted()).finish()
    }
}

/// Turns ok reads that list integers into [`ReadSet`]s, each on the chain
/// of the same process's previous read of the same key when it holds that
/// read's set.
#[derive(Clone, Default)]
pub(crate) struct ReadSets {
    /// Per (process, key): its last read, and that read's elements ascending.
    last: BTreeMap<(u64, Option<String>), (ReadSet, Vec<i64>)>,
}

impl fmt::Debug for ReadSets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReadSets({} chains in use)", self.last.len())
    }
}

impl ReadSets {
    /// `value` as a [`ReadSet`] if it is a list of integers (each fitting
    /// an i64); `None` leaves it a JSON value.
    pub(crate) fn compact(
        &mut self,
        process: u64,
        key: Option<&str>,
        value: &Value,
    ) -> Option<ReadSet> {
        let list = value.as_array()?;
        let mut elements = list
            .iter()
            .map(Value::as_i64)
            .collect::<Option<Vec<i64>>>()?;
        elements.sort_unstable();
        elements.dedup();
        let slot = (process, key.map(str::to_string));
        let set = match self.last.get(&slot) {
            Some((prev, before)) => match added_to(before, &elements) {
                Some(added) => ReadSet(Arc::new(Piece {
                    prev: Some(prev.0.clone()),
                    added: added.into_boxed_slice(),
                    len: elements.len(),
                    chain: prev.0.chain.clone(),
                })),
                None => chain_of(elements.clone()),
            },
            None => chain_of(elements.clone()),
        };
        self.last.insert(slot, (set.clone(), elements));
        Some(set)
    }
}

/// A read that starts a chain.
fn chain_of(elements: Vec<i64>) -> ReadSet {
    ReadSet(Arc::new(Piece {
        prev: None,
        len: elements.len(),
        added: elements.into_boxed_slice(),
        chain: Arc::new(()),
    }))
}

/// The elements of `now` not in `before`, if `before` is a subset of `now`
/// (both ascending, without repeats).
fn added_to(before: &[i64], now: &[i64]) -> Option<Vec<i64>> {
    if before.len() > now.len() {
        return None;
    }
    let mut added = Vec::with_capacity(now.len() - before.len());
    let mut old = before.iter().peekable();
    for &e in now {
        match old.peek() {
            Some(&&o) if o == e => {
                old.next();
            }
            Some(&&o) if o < e => return None,
            _ => added.push(e),
        }
    }
    old.peek().is_none().then_some(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_read_holding_the_last_extends_its_chain_and_others_start_one() {
        let mut sets = ReadSets::default();
        let a = sets.compact(1, None, &json!([3, 1, 2, 1])).unwrap();
        let b = sets.compact(1, None, &json!([4, 2, 3, 1])).unwrap();
        assert_eq!(a.sorted(), vec![1, 2, 3]);
        assert_eq!(b.sorted(), vec![1, 2, 3, 4]);
        assert_eq!(a.chain(), b.chain());
        assert_eq!(b.log(), vec![1, 2, 3, 4]);
        assert_eq!(
            b.0.added.len(),
            1,
            "the second read keeps only what it adds"
        );
        // 2 is gone: not a superset, so a chain of its own.
        let c = sets.compact(1, None, &json!([1, 3, 4, 5])).unwrap();
        assert_ne!(c.chain(), b.chain());
        assert_eq!(c.sorted(), vec![1, 3, 4, 5]);
        // Another process, or another key, has its own predecessor.
        let d = sets.compact(2, None, &json!([1, 2, 3, 4, 5, 6])).unwrap();
        assert_ne!(d.chain(), c.chain());
        let e = sets.compact(1, Some("k"), &json!([1, 3, 4, 5, 9])).unwrap();
        assert_ne!(e.chain(), c.chain());
        assert_eq!(e.to_value(), json!([1, 3, 4, 5, 9]));
        assert_eq!(c, ReadSet(chain_of(vec![1, 3, 4, 5]).0));
    }

    #[test]
    fn only_lists_of_integers_are_kept_as_sets() {
        let mut sets = ReadSets::default();
        assert!(sets.compact(1, None, &json!([1, "x"])).is_none());
        assert!(sets.compact(1, None, &json!(3)).is_none());
        assert!(sets.compact(1, None, &json!([1.5])).is_none());
        assert!(sets
            .compact(1, None, &json!([18446744073709551615u64]))
            .is_none());
        assert!(sets.compact(1, None, &json!([])).unwrap().is_empty());
    }

    #[test]
    fn a_long_chain_drops_without_recursing() {
        // 1,000,000 pieces: dropped by recursion, they would overflow the
        // test thread's stack.
        let mut tip = chain_of(vec![0]);
        for i in 1..1_000_000i64 {
            tip = ReadSet(Arc::new(Piece {
                prev: Some(tip.0.clone()),
                added: vec![i].into_boxed_slice(),
                len: i as usize + 1,
                chain: tip.0.chain.clone(),
            }));
        }
        assert_eq!(tip.len(), 1_000_000);
        drop(tip);
    }
}
