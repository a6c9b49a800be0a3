//! A fuzz campaign: the seeds of a range (or of one shard of it), each run
//! once and single-threaded, spread over worker threads. Workers take seeds
//! in order from a shared counter and send outcomes back over a channel;
//! callers key results by seed, so what they print does not depend on the
//! number of workers or on which finished first.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use protocols::Status;
use serde::Serialize;

use crate::runner::{self, RunOptions};
use crate::scenario::{Expect, Scenario};

/// The seeds a campaign runs: `start..=last`, keeping those with
/// `seed % shards == shard` (round-robin sharding, so every shard gets the
/// same mix of low and high seeds and shards finish together). The last
/// seed is inclusive so that a range can end at `u64::MAX`; `last < start`
/// is an empty range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    /// First seed of the range.
    pub start: u64,
    /// The last seed of the range (included).
    pub last: u64,
    /// This shard's index, `0..shards`.
    pub shard: u64,
    /// How many shards split the range.
    pub shards: u64,
}

impl Seeds {
    /// The first seed of this shard.
    fn first(&self) -> Option<u64> {
        let offset = (self.shard + self.shards - self.start % self.shards) % self.shards;
        self.start.checked_add(offset).filter(|&f| f <= self.last)
    }

    /// How many seeds this shard runs (a range of all 2^64 seeds in one
    /// shard is refused when `--seeds` is parsed, so this cannot overflow
    /// except for that one range, which it clamps).
    pub fn len(&self) -> u64 {
        match self.first() {
            None => 0,
            Some(first) => ((self.last - first) / self.shards).saturating_add(1),
        }
    }

    /// True when the shard holds no seed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th seed of this shard.
    pub fn nth(&self, i: u64) -> u64 {
        self.first().unwrap_or(self.start) + i * self.shards
    }

    /// The range as `--seeds` reads it: `A..B` (B excluded), or `A..=B`
    /// when it ends at the largest seed.
    pub fn range_text(&self) -> String {
        match self.last.checked_add(1) {
            Some(end) => format!("{}..{end}", self.start),
            None => format!("{}..={}", self.start, self.last),
        }
    }
}

/// A check whose verdict the scenario did not expect (or, when hunting,
/// any violation).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Unexpected {
    /// Check name.
    pub check: String,
    /// What it found.
    pub status: Status,
    /// What the scenario expects.
    pub expected: Expect,
    /// Its one-line summary.
    pub summary: String,
}

/// What one seed did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeedOutcome {
    /// The seed.
    pub seed: u64,
    /// Checks not as expected, in the scenario's order.
    pub unexpected: Vec<Unexpected>,
    /// The panic message, if the run panicked (a bug in dsim or a protocol).
    pub panic: Option<String>,
    /// Events processed.
    pub events: u64,
    /// Client operations invoked.
    pub ops: u64,
    /// Faults in the schedule (fixed and generated).
    pub faults: usize,
    /// Trace fingerprint.
    pub fingerprint: u64,
    /// True when the time budget ran out while this seed ran: it was cut
    /// there, and every verdict is unknown.
    pub cut: bool,
}

impl SeedOutcome {
    /// True when every check was as the scenario expects.
    pub fn as_expected(&self) -> bool {
        self.panic.is_none() && self.unexpected.is_empty() && !self.cut
    }

    /// The failure group this seed belongs to, e.g.
    /// `convergence: violation (expected pass)`; checks joined by `; `.
    pub fn group(&self) -> String {
        if self.panic.is_some() {
            return "panic".into();
        }
        if self.cut {
            return CUT_GROUP.into();
        }
        self.unexpected
            .iter()
            .map(|u| {
                format!(
                    "{}: {} (expected {})",
                    u.check,
                    u.status.name(),
                    crate::report::expect_name(u.expected)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The group of the seeds the time budget cut.
pub const CUT_GROUP: &str = "cut by the time budget: every check unknown";

/// One job per core: the default of `dsim fuzz --jobs` and of the library.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The text of a panic payload.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Runs `sc` at `seed` (its `fuzz` block expanded) and judges it. With
/// `hunt`, every violation counts as a failure, even an expected one.
/// Past `deadline` (wall clock) the run is cut: the outcome says `cut`.
pub fn run_seed(sc: &Scenario, seed: u64, hunt: bool, deadline: Option<Instant>) -> SeedOutcome {
    let mut out = SeedOutcome {
        seed,
        unexpected: Vec::new(),
        panic: None,
        events: 0,
        ops: 0,
        faults: 0,
        fingerprint: 0,
        cut: false,
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let sc = super::at_seed(sc, seed).map_err(|e| e.to_string())?;
        let opts = RunOptions {
            seed,
            trace: None,
            observer: None,
            keep_history: false,
            trail_key: None,
            deadline,
        };
        Ok::<_, String>((sc.sim.faults.len(), runner::run(&sc, opts)))
    }));
    match result {
        Ok(Ok((faults, rep))) => {
            out.faults = faults;
            out.events = rep.stats.events;
            out.ops = rep.ops;
            out.fingerprint = rep.fingerprint;
            out.cut = rep.stop == sim::StopReason::Cut;
            out.unexpected = rep
                .checks
                .iter()
                .filter(|c| {
                    !out.cut && (!c.as_expected || (hunt && c.result.status == Status::Violation))
                })
                .map(|c| Unexpected {
                    check: c.name.clone(),
                    status: c.result.status,
                    expected: c.expected,
                    summary: c.result.summary.clone(),
                })
                .collect();
        }
        Ok(Err(e)) => out.panic = Some(e),
        Err(p) => out.panic = Some(panic_text(p.as_ref())),
    }
    out
}

/// Runs `work(0)`, `work(1)`, … `work(count - 1)` on `jobs` threads and
/// hands each result to `done` on the calling thread as it arrives. After
/// `deadline`, no new item starts; items are taken in order, so the ones
/// that ran are always `0..k`. Returns `k`.
pub fn parallel<R: Send>(
    count: u64,
    jobs: usize,
    deadline: Option<Instant>,
    work: impl Fn(u64) -> R + Sync,
    mut done: impl FnMut(u64, R),
) -> u64 {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let mut ran = 0;
    std::thread::scope(|s| {
        let threads = (jobs.max(1) as u64).min(count.max(1));
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, work) = (&next, &work);
            s.spawn(move || loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed) as u64;
                if i >= count || tx.send((i, work(i))).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            ran += 1;
            done(i, r);
        }
    });
    ran
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_a_range_round_robin_without_gaps_or_overlaps() {
        for (start, end) in [(0u64, 100u64), (3, 17), (5, 6), (10, 10), (7, 8)] {
            for shards in 1..6 {
                let mut all: Vec<u64> = (0..shards)
                    .flat_map(|shard| {
                        let s = Seeds {
                            start,
                            last: end.wrapping_sub(1),
                            shard,
                            shards,
                        };
                        (0..s.len()).map(move |i| s.nth(i))
                    })
                    .collect();
                for shard in 0..shards {
                    let s = Seeds {
                        start,
                        last: end.wrapping_sub(1),
                        shard,
                        shards,
                    };
                    assert!((0..s.len()).all(|i| s.nth(i) % shards == shard));
                }
                all.sort_unstable();
                assert_eq!(
                    all,
                    (start..end).collect::<Vec<_>>(),
                    "{start}..{end} / {shards}"
                );
            }
        }
    }

    #[test]
    fn a_range_can_end_at_the_largest_seed() {
        let top = Seeds {
            start: u64::MAX - 4,
            last: u64::MAX,
            shard: 1,
            shards: 2,
        };
        let seeds: Vec<u64> = (0..top.len()).map(|i| top.nth(i)).collect();
        assert_eq!(seeds, [u64::MAX - 4, u64::MAX - 2, u64::MAX]);
        assert_eq!(top.range_text(), format!("{}..={}", u64::MAX - 4, u64::MAX));
        let empty = Seeds {
            start: u64::MAX,
            last: u64::MAX,
            shard: 0,
            shards: 2,
        };
        assert_eq!(empty.len(), 0, "u64::MAX is odd: not in shard 0");
    }

    #[test]
    fn parallel_runs_every_item_once_whatever_the_job_count() {
        for jobs in [1, 2, 7] {
            let mut seen = Vec::new();
            let ran = parallel(50, jobs, None, |i| i * i, |i, r| seen.push((i, r)));
            seen.sort_unstable();
            assert_eq!(ran, 50);
            assert_eq!(seen, (0..50).map(|i| (i, i * i)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_past_deadline_starts_nothing() {
        let ran = parallel(10, 2, Some(Instant::now()), |i| i, |_, _| {});
        assert_eq!(ran, 0);
    }
}
