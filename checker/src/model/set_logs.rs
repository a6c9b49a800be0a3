//! Jepsen's set-full ([`set_full`](super::maelstrom::set_full)) over reads
//! that are prefixes of shared logs, in memory linear in the history.
//!
//! A broadcast node's set only grows, so each read it answers is the first
//! `len` elements of that node's log of arrivals. Given as (log, len)
//! instead of as lists, n operations take O(n) memory where the lists took
//! O(n²); this analysis never expands a read into its elements. Element
//! `e`, at position `pos` of log `L`, is in a read of `L` iff the read's
//! `len > pos`: each question set-full asks about the reads holding `e` is
//! then a question about the reads of a few logs with `len` above a
//! threshold, answered from per-log tables (suffix minima, a Fenwick tree
//! and a maximum tree swept by `len`). Cost:
//! O((reads + log elements) · log reads + adds · logs · log reads).
//!
//! The answer is the same [`SetFull`] as the list form's, field for field
//! (a test holds the two equal on random histories).

use super::maelstrom::{jepsen_latency, Lost, SetAdd, SetFull};

/// One ok read: the first `len` elements of `logs[log]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRead {
    /// Invocation time.
    pub invoked: u64,
    /// Completion time.
    pub completed: u64,
    /// Which log.
    pub log: usize,
    /// How many of its first elements the read returned.
    pub len: usize,
}

/// Counts of points over positions `0..n` (a Fenwick tree).
struct Counts(Vec<u32>);

impl Counts {
    fn add(&mut self, at: usize, d: i32) {
        let mut i = at + 1;
        while i < self.0.len() {
            self.0[i] = self.0[i].wrapping_add_signed(d);
            i += i & i.wrapping_neg();
        }
    }

    /// Points in `0..b`.
    fn prefix(&self, b: usize) -> u32 {
        let (mut i, mut s) = (b, 0u32);
        while i > 0 {
            s += self.0[i];
            i &= i - 1;
        }
        s
    }
}

/// Maximum over points set on positions `0..n` (a segment tree).
struct Maxes {
    n: usize,
    t: Vec<Option<u64>>,
}

impl Maxes {
    fn set(&mut self, at: usize, v: Option<u64>) {
        let mut i = at + self.n;
        self.t[i] = v;
        while i > 1 {
            i /= 2;
            self.t[i] = self.t[2 * i].max(self.t[2 * i + 1]);
        }
    }

    fn max(&self, a: usize, b: usize) -> Option<u64> {
        let (mut l, mut r, mut m) = (a + self.n, b + self.n, None);
        while l < r {
            if l & 1 == 1 {
                m = m.max(self.t[l]);
                l += 1;
            }
            if r & 1 == 1 {
                r -= 1;
                m = m.max(self.t[r]);
            }
            l /= 2;
            r /= 2;
        }
        m
    }
}

/// One log's reads, as the analysis looks them up.
struct LogReads {
    /// (len, read index, completed), by `len`.
    by_len: Vec<(usize, usize, u64)>,
    /// From each position of `by_len` to its end: the least completion
    /// and the greatest read index.
    suffix: Vec<(u64, usize)>,
    /// The read indices, ascending.
    by_idx: Vec<usize>,
}

impl LogReads {
    /// Where the reads holding position `pos` start in `by_len`.
    fn holding(&self, pos: usize) -> usize {
        self.by_len.partition_point(|r| r.0 <= pos)
    }

    /// The greatest index among this log's reads with index in `a..b`.
    fn last_in(&self, a: usize, b: usize) -> Option<usize> {
        let j = self.by_idx.partition_point(|&x| x < b);
        j.checked_sub(1).map(|j| self.by_idx[j]).filter(|&i| i >= a)
    }
}

/// What the sweeps must answer for one add holding element `e` at `pos`
/// of a log: present reads in `count_from..last`, and the last absent
/// read in `absent_from..last` (the greatest index: reads are in
/// invocation order).
struct Query {
    pos: usize,
    add: usize,
    count_from: usize,
    absent_from: usize,
    last: usize,
}

/// Jepsen's set-full over `adds` and the ok `reads`, each the first `len`
/// elements of one of `logs` (a log's later repeats of an element are
/// ignored). `reads` are sorted here by (invocation, completion); the
/// indices in the answer are into that order.
pub fn set_full_logs(adds: &[SetAdd], logs: &[Vec<i64>], reads: &mut [LogRead]) -> SetFull {
    reads.sort_by_key(|r| (r.invoked, r.completed));
    let n = reads.len();
    let mut per_log: Vec<Vec<usize>> = vec![Vec::new(); logs.len()];
    for (i, r) in reads.iter().enumerate() {
        per_log[r.log].push(i);
    }
    let tables: Vec<LogReads> = per_log
        .into_iter()
        .map(|by_idx| {
            let mut by_len: Vec<(usize, usize, u64)> = by_idx
                .iter()
                .map(|&i| (reads[i].len, i, reads[i].completed))
                .collect();
            by_len.sort_unstable();
            let mut suffix = vec![(u64::MAX, 0usize); by_len.len()];
            let mut acc = (u64::MAX, 0usize);
            for (k, &(_, i, c)) in by_len.iter().enumerate().rev() {
                acc = (acc.0.min(c), acc.1.max(i));
                suffix[k] = acc;
            }
            LogReads {
                by_len,
                suffix,
                by_idx,
            }
        })
        .collect();
    // Every (element, log, first position), by element then log.
    let mut occ: Vec<(i64, usize, usize)> = logs
        .iter()
        .enumerate()
        .flat_map(|(l, log)| log.iter().enumerate().map(move |(p, &e)| (e, l, p)))
        .collect();
    occ.sort_unstable();
    occ.dedup_by_key(|o| (o.0, o.1));
    let occ_of = |e: i64| {
        let a = occ.partition_point(|o| o.0 < e);
        let b = occ.partition_point(|o| o.0 <= e);
        &occ[a..b]
    };
    let after = |t: u64| reads.partition_point(|r| r.invoked <= t);
    let from_invoked = |t: u64| reads.partition_point(|r| r.invoked < t);

    let mut out = SetFull {
        attempted: adds.len(),
        ..SetFull::default()
    };
    // Per add still undecided after the first pass: (last present,
    // stale-range start, absent-range start, known).
    let mut pending: Vec<Option<(usize, usize, usize, u64)>> = vec![None; adds.len()];
    let mut queries: Vec<Vec<Query>> = (0..logs.len()).map(|_| Vec::new()).collect();
    let mut lost_or_never: Vec<Option<Result<Lost, i64>>> = vec![None; adds.len()];
    for (k, a) in adds.iter().enumerate() {
        let e = a.element;
        let mut first_seen: Option<u64> = None;
        let mut last_present: Option<usize> = None;
        for &(_, l, pos) in occ_of(e) {
            let t = &tables[l];
            let j = t.holding(pos);
            if j < t.by_len.len() {
                let (c, i) = t.suffix[j];
                first_seen = Some(first_seen.map_or(c, |f| f.min(c)));
                last_present = Some(last_present.map_or(i, |p| p.max(i)));
            }
        }
        let known = match (a.ok_at, first_seen) {
            (Some(x), Some(y)) => x.min(y),
            (Some(x), None) => x,
            (None, Some(y)) => y,
            (None, None) => continue,
        };
        let from = last_present.map_or(0, |p| p + 1);
        let miss = from.max(after(known));
        if miss < n {
            lost_or_never[k] = Some(Ok(Lost {
                element: e,
                added: a.invoked,
                known,
                last_seen: last_present,
                missed_by: miss,
            }));
            continue;
        }
        let Some(p) = last_present else {
            lost_or_never[k] = Some(Err(e));
            continue;
        };
        let (q, q2) = (after(known).min(p), from_invoked(a.invoked).min(p));
        pending[k] = Some((p, q, q2, known));
        for &(_, l, pos) in occ_of(e) {
            queries[l].push(Query {
                pos,
                add: k,
                count_from: q,
                absent_from: q2,
                last: p,
            });
        }
    }

    // Present reads per add in its stale range, and the latest absent read
    // of the logs that hold its element.
    let mut present = vec![0u64; adds.len()];
    let mut absent_max: Vec<Option<usize>> = vec![None; adds.len()];
    let mut counts = Counts(vec![0; n + 1]);
    let size = n.next_power_of_two().max(1);
    let mut maxes = Maxes {
        n: size,
        t: vec![None; 2 * size],
    };
    let index = |m: Option<u64>| m.map(|i| i as usize);
    for (l, qs) in queries.iter_mut().enumerate() {
        let t = &tables[l];
        // Present: len > pos. Sweep pos downwards, adding reads by len.
        qs.sort_by_key(|q| std::cmp::Reverse(q.pos));
        let mut j = t.by_len.len();
        for q in qs.iter() {
            while j > 0 && t.by_len[j - 1].0 > q.pos {
                j -= 1;
                counts.add(t.by_len[j].1, 1);
            }
            present[q.add] +=
                u64::from(counts.prefix(q.last) - counts.prefix(q.count_from.min(q.last)));
        }
        for &(_, i, _) in &t.by_len[j..] {
            counts.add(i, -1);
        }
        // Absent: len <= pos. Sweep pos upwards.
        qs.sort_by_key(|q| q.pos);
        let mut j = 0;
        for q in qs.iter() {
            while j < t.by_len.len() && t.by_len[j].0 <= q.pos {
                let i = t.by_len[j].1;
                maxes.set(i, Some(i as u64));
                j += 1;
            }
            let m = index(maxes.max(q.absent_from, q.last));
            absent_max[q.add] = absent_max[q.add].max(m);
        }
        for &(_, i, _) in &t.by_len[..j] {
            maxes.set(i, None);
        }
    }

    for (k, a) in adds.iter().enumerate() {
        match lost_or_never[k].take() {
            Some(Ok(lost)) => {
                if let Some(p) = lost.last_seen {
                    out.lost_latencies
                        .push(jepsen_latency(reads[p].invoked, lost.known));
                }
                out.lost.push(lost);
                continue;
            }
            Some(Err(e)) => {
                out.never_read.push(e);
                continue;
            }
            None => {}
        }
        let Some((p, q, q2, known)) = pending[k] else {
            continue;
        };
        let e = a.element;
        let stale = (p - q) as u64 - present[k];
        if stale > 0 {
            out.stale_reads += stale as usize;
            out.stale.push(e);
        }
        // Absent reads of the logs that do not hold `e` at all.
        let holding = occ_of(e);
        let mut last_absent = absent_max[k];
        for (l, t) in tables.iter().enumerate() {
            if holding.binary_search_by_key(&l, |o| o.1).is_err() {
                last_absent = last_absent.max(t.last_in(q2, p));
            }
        }
        out.stable.push(e);
        out.stable_latencies
            .push(last_absent.map_or(0, |i| jepsen_latency(reads[i].invoked, known)));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::maelstrom::{set_full, SetRead};

    /// The list form of each read, for the reference analysis.
    fn as_lists(logs: &[Vec<i64>], reads: &[LogRead]) -> Vec<SetRead> {
        reads
            .iter()
            .map(|r| {
                let mut elements = logs[r.log][..r.len].to_vec();
                elements.sort_unstable();
                elements.dedup();
                SetRead {
                    invoked: r.invoked,
                    completed: r.completed,
                    elements,
                }
            })
            .collect()
    }

    /// A seeded splitmix64 stream (this crate has no RNG dependency).
    /// A small seeded generator for the randomized tests of this module and
    /// of [`super::super::maelstrom`]'s.
    pub(crate) struct Rng(pub(crate) u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// Uniform in `r` (a `start..end` range).
        pub(crate) fn below(&mut self, a: usize, b: usize) -> usize {
            a + (self.next() % (b - a) as u64) as usize
        }

        pub(crate) fn gen_bool(&mut self, p: f64) -> bool {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
        }
    }

    #[test]
    fn the_log_form_answers_what_the_list_form_answers() {
        let mut rng = Rng(7);
        for round in 0..3000 {
            let elements = rng.below(1, 12) as i64;
            let adds: Vec<SetAdd> = (0..rng.below(0, 14))
                .map(|_| {
                    let invoked = rng.below(0, 40) as u64;
                    SetAdd {
                        element: rng.below(0, elements as usize) as i64,
                        invoked,
                        ok_at: rng.gen_bool(0.7).then(|| invoked + rng.below(0, 10) as u64),
                    }
                })
                .collect();
            let logs: Vec<Vec<i64>> = (0..rng.below(1, 5))
                .map(|_| {
                    let mut l: Vec<i64> = (0..elements).filter(|_| rng.gen_bool(0.6)).collect();
                    // Arrival order differs from element order.
                    for i in (1..l.len()).rev() {
                        l.swap(i, rng.below(0, i + 1));
                    }
                    l
                })
                .collect();
            let mut reads: Vec<LogRead> = (0..rng.below(0, 16))
                .map(|_| {
                    let log = rng.below(0, logs.len());
                    let invoked = rng.below(0, 50) as u64;
                    LogRead {
                        invoked,
                        completed: invoked + rng.below(0, 8) as u64,
                        log,
                        len: rng.below(0, logs[log].len() + 1),
                    }
                })
                .collect();
            let mut lists = as_lists(&logs, &reads);
            let want = set_full(&adds, &mut lists);
            let got = set_full_logs(&adds, &logs, &mut reads);
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "round {round}");
            // The indices point at the same reads in both sorted orders.
            let times: Vec<(u64, u64)> = reads.iter().map(|r| (r.invoked, r.completed)).collect();
            let want_times: Vec<(u64, u64)> =
                lists.iter().map(|r| (r.invoked, r.completed)).collect();
            assert_eq!(times, want_times);
        }
    }
}
