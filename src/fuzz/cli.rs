//! `dsim fuzz SCENARIO`: run a range of seeds in parallel, group the seeds
//! that were not as the scenario expects by what failed, and (with `--out`)
//! shrink the first of each group into a scenario file that replays it.
//!
//! Exit codes: 0 every seed as expected, 1 some seed was not (with
//! `--hunt`: or showed any violation), 2 bad input.
//! Standard output does not depend on `--jobs`; timing goes to standard
//! error, and the progress bar too (only on a terminal, never with `--json`).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::campaign::{self, SeedOutcome, Seeds};
use super::output;
use super::save::{self, Saved};
use crate::scenario::Scenario;

/// Arguments of `dsim fuzz`.
#[derive(clap::Args, Debug)]
pub struct FuzzArgs {
    /// The scenario file (JSON); its `fuzz` block, if any, draws each seed's faults.
    pub scenario: PathBuf,
    /// Change a scenario field before it is validated: KEY is a dotted path
    /// (`nodes`, `variant`, `workload.rate`, `params.bugs.d4`,
    /// `faults.0.at_ms`), VALUE is JSON or else a string. Repeatable; the
    /// replay line repeats it.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = crate::scenario::overrides::parse)]
    pub sets: Vec<crate::scenario::overrides::Override>,
    /// Seeds to run: A..B (B excluded), A..=B (B included), or one seed N.
    #[arg(long, value_name = "A..B", default_value = "0..1000", value_parser = parse_seeds)]
    pub seeds: SeedRange,
    /// Worker threads (default: every core); each run stays single-threaded.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Run only the seeds with seed % N == I (shards interleave).
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Stop after SECS seconds of wall time (at least 1): no new seed
    /// starts, and a seed still running is cut there and reported as
    /// unknown, with the command that replays it.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub time_budget: Option<u64>,
    /// Shrink failures and write them as scenario files into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// With --out: how many failing seeds of each group to shrink.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "out")]
    pub shrink: u64,
    /// With --out: runs each shrink may spend.
    #[arg(long, value_name = "N", default_value_t = 2000, requires = "out")]
    pub shrink_runs: u64,
    /// Count every violation as a failure, even one the scenario expects
    /// (to shrink a known bug to its smallest run).
    #[arg(long)]
    pub hunt: bool,
    /// One JSON object per failing seed, then a summary line.
    #[arg(long)]
    pub json: bool,
}

/// A `--seeds` range, `start..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    /// First seed.
    pub start: u64,
    /// The last seed (included).
    pub last: u64,
}

/// A `--shard I/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: u64,
    /// How many shards.
    pub count: u64,
}

/// Parses `A..B` (A < B, B excluded), `A..=B` (A ≤ B, B included) or a
/// single seed `N`; every seed up to 2^64−1 can be reached.
pub fn parse_seeds(s: &str) -> Result<SeedRange, String> {
    let bad = || {
        format!(
            "expected A..B (B excluded), A..=B (B included) or one seed N, with whole numbers from 0 to {}, got {s:?}",
            u64::MAX
        )
    };
    let num = |x: &str| x.trim().parse::<u64>().map_err(|_| bad());
    let range = if let Some((a, b)) = s.split_once("..=") {
        let (start, last) = (num(a)?, num(b)?);
        if start > last {
            return Err(format!("{s:?} holds no seed; expected A..=B with A ≤ B"));
        }
        SeedRange { start, last }
    } else if let Some((a, b)) = s.split_once("..") {
        let (start, end) = (num(a)?, num(b)?);
        if start >= end {
            return Err(format!(
                "{s:?} holds no seed; expected A..B with A < B (B excluded)"
            ));
        }
        SeedRange {
            start,
            last: end - 1,
        }
    } else {
        let n = num(s)?;
        SeedRange { start: n, last: n }
    };
    if range.start == 0 && range.last == u64::MAX {
        return Err(format!(
            "{s:?} is all 2^64 seeds; a campaign runs at most 2^64-1 (start at 1)"
        ));
    }
    Ok(range)
}

/// Parses `I/N` with N ≥ 1 and I < N.
pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad =
        || format!("expected I/N with whole numbers, N at least 1 and I from 0 to N-1, got {s:?}");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let index: u64 = i.trim().parse().map_err(|_| bad())?;
    let count: u64 = n.trim().parse().map_err(|_| bad())?;
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

/// What a campaign found, in seed order.
pub struct Findings {
    /// Seeds planned for this shard.
    pub planned: u64,
    /// Seeds run (all of them unless the time budget ran out).
    pub ran: u64,
    /// The seeds that were not as expected, by seed.
    pub failed: BTreeMap<u64, SeedOutcome>,
    /// Shrunk failures, by seed.
    pub saved: BTreeMap<u64, Saved>,
}

/// Runs `dsim fuzz`.
pub fn run(registry: &crate::Registry, args: &FuzzArgs) -> ExitCode {
    let mut sc = match registry.load_with(&args.scenario, &args.sets) {
        Ok(sc) => sc,
        Err(e) => return bad_input(e),
    };
    // The probe run for `fuzz.messages` kinds, once for the whole campaign.
    if let Err(e) = super::resolve(&mut sc) {
        return bad_input(e);
    }
    if let Some(dir) = &args.out {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return bad_input(format!("--out: cannot create {}: {e}", dir.display()));
        }
        // Find out now, not after the whole campaign has run.
        if let Err(e) = save::check_writable(dir) {
            return bad_input(format!("--out: cannot write into {}: {e}", dir.display()));
        }
    }
    let shard = args.shard.unwrap_or(Shard { index: 0, count: 1 });
    let seeds = Seeds {
        start: args.seeds.start,
        last: args.seeds.last,
        shard: shard.index,
        shards: shard.count,
    };
    let jobs = args.jobs.map_or_else(campaign::default_jobs, usize::from);
    let started = Instant::now();
    let deadline = args.time_budget.map(|s| started + Duration::from_secs(s));
    let (ran, failed) = run_seeds(&sc, seeds, jobs, deadline, args);
    let elapsed = started.elapsed();
    let saved = match &args.out {
        Some(dir) if args.shrink > 0 => {
            let picks = save::picks(&failed, args.shrink);
            save::shrink_all(&sc, &picks, dir, jobs, args.shrink_runs)
        }
        _ => BTreeMap::new(),
    };
    let found = Findings {
        planned: seeds.len(),
        ran,
        failed,
        saved,
    };
    let rate = ran as f64 / elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "{} fuzz: {ran} seed{} in {:.2} s ({rate:.0} seeds/s, {jobs} job{})",
        crate::report::program(),
        if ran == 1 { "" } else { "s" },
        elapsed.as_secs_f64(),
        if jobs == 1 { "" } else { "s" }
    );
    let ctx = output::Context {
        sc: &sc,
        seeds,
        sharded: args.shard.is_some(),
        time_budget: args.time_budget,
        hunt: args.hunt,
    };
    if args.json {
        output::json(&ctx, &found);
    } else {
        output::human(&ctx, &found);
    }
    if found
        .saved
        .values()
        .any(|s| s.error.is_some() && s.io_error)
    {
        return ExitCode::from(2);
    }
    // A seed the budget cut is reported, but fails nothing: like a seed
    // that never started, it has no verdict.
    if found.failed.values().all(|o| o.cut && o.panic.is_none()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs every seed; returns how many ran and the failures by seed.
fn run_seeds(
    sc: &Scenario,
    seeds: Seeds,
    jobs: usize,
    deadline: Option<Instant>,
    args: &FuzzArgs,
) -> (u64, BTreeMap<u64, SeedOutcome>) {
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(seeds.len());
        // Under 80 columns, so the bar never wraps where the terminal's
        // width is unknown; the rate as whole seeds per second.
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:24}] {pos}/{len} seeds {rate} {msg}",
        ) {
            let style = style.with_key(
                "rate",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}/s", s.per_sec());
                },
            );
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message("0 failures");
        bar
    });
    let mut failed = BTreeMap::new();
    let ran = campaign::parallel(
        seeds.len(),
        jobs,
        deadline,
        |i| campaign::run_seed(sc, seeds.nth(i), args.hunt, deadline),
        |_, o| {
            if !o.as_expected() {
                failed.insert(o.seed, o);
            }
            if let Some(b) = &bar {
                b.inc(1);
                b.set_message(format!("{} failures", failed.len()));
            }
        },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    (ran, failed)
}

fn bad_input(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_and_shards_parse_or_say_what_is_allowed() {
        assert_eq!(parse_seeds("3..10"), Ok(SeedRange { start: 3, last: 9 }));
        assert_eq!(parse_seeds("3..=10"), Ok(SeedRange { start: 3, last: 10 }));
        assert_eq!(parse_seeds("7"), Ok(SeedRange { start: 7, last: 7 }));
        let max = u64::MAX;
        assert_eq!(
            parse_seeds(&max.to_string()),
            Ok(SeedRange {
                start: max,
                last: max
            })
        );
        assert_eq!(
            parse_seeds(&format!("{}..={max}", max - 1)),
            Ok(SeedRange {
                start: max - 1,
                last: max
            })
        );
        assert!(parse_seeds(&format!("0..={max}"))
            .unwrap_err()
            .contains("2^64"));
        assert!(parse_seeds("5..=4").unwrap_err().contains("no seed"));
        for bad in ["", "x", "1..", "..5", "5..5", "9..2", "-1..3", "1...3"] {
            let e = parse_seeds(bad).unwrap_err();
            assert!(e.contains("A..B"), "{bad}: {e}");
        }
        assert_eq!(parse_shard("3/8"), Ok(Shard { index: 3, count: 8 }));
        for bad in ["8/8", "1/0", "3", "a/b", "-1/2"] {
            let e = parse_shard(bad).unwrap_err();
            assert!(e.contains("I/N"), "{bad}: {e}");
        }
    }
}
