//! Fuzzing: fault generators a scenario asks for in its `fuzz` block, the
//! campaign that runs many seeds in parallel, and the shrinker that reduces
//! a failing run to a small scenario file that replays it.
//!
//! A scenario with a `fuzz` block is a family of runs: for each seed,
//! [`gen::expand`] draws a concrete fault schedule that [`at_seed`] appends
//! to the fixed one. `dsim run FILE --seed N` and `dsim fuzz FILE` both go
//! through [`at_seed`], so a failing fuzz seed replays exactly.
//!
//! From code, [`search`] runs a campaign and [`shrink_into`] turns its
//! failures into scenario files, as `dsim fuzz --out DIR` does:
//!
//! ```no_run
//! let sc = dsim::scenario::load(std::path::Path::new("scenarios/fuzz-lww-split-brain.json"))?;
//! let failed = dsim::fuzz::search(&sc, 0..200, 0)?;
//! let saved = dsim::fuzz::shrink_into(&sc, &failed, std::path::Path::new("shrunk"), 1, 2_000);
//! for s in saved.values() {
//!     println!("seed {} -> {} ({:?})", s.seed, s.file, s.error);
//! }
//! # Ok::<(), dsim::scenario::ScenarioError>(())
//! ```

pub mod campaign;
pub mod check;
pub mod cli;
pub mod file;
pub mod gen;
pub mod output;
pub mod probe;
pub mod reduce;
pub mod save;
pub mod shrink;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use crate::scenario::raw::RawFuzz;
use crate::scenario::{self, Scenario, ScenarioError};

/// The scenario as it runs at `seed`: the `fuzz` block expanded into faults
/// appended to the fixed schedule and validated again; without a `fuzz`
/// block, the scenario itself. The result has no `fuzz` block, so calling
/// this twice does not add faults twice. A `fuzz.messages` block without
/// `kinds` takes them from a probe run (see [`probe`]) unless [`resolve`]
/// has already filled them in.
pub fn at_seed(sc: &Scenario, seed: u64) -> Result<Scenario, ScenarioError> {
    let Some(f) = &sc.effective.fuzz else {
        return Ok(sc.clone());
    };
    let f = resolved(sc, f)?;
    let mut raw = sc.effective.clone();
    raw.fuzz = None;
    raw.faults
        .extend(gen::expand(&f, sc.sim.nodes, seed).faults);
    // Stable, as validation sorts: same-time faults keep their order.
    raw.faults.sort_by_key(scenario::raw::RawFault::at_ms);
    let text = serde_json::to_string(&raw).map_err(|e| ScenarioError {
        file: sc.path.clone(),
        line: 0,
        col: 0,
        field: "fuzz".into(),
        message: format!("cannot expand the fuzz block: {e}"),
    })?;
    let mut expanded = sc.proto.parse(&text, &sc.path, &sc.name)?;
    expanded.variant_note = sc.variant_note.clone();
    Ok(expanded)
}

/// Runs every seed of `seeds` of `sc` on `jobs` threads (0: one per core)
/// and returns the seeds that were not as the scenario expects, by seed.
/// The outcome of each seed depends on the seed alone, never on `jobs`.
pub fn search(
    sc: &Scenario,
    seeds: Range<u64>,
    jobs: usize,
) -> Result<BTreeMap<u64, campaign::SeedOutcome>, ScenarioError> {
    let mut sc = sc.clone();
    resolve(&mut sc)?;
    let jobs = match jobs {
        0 => campaign::default_jobs(),
        j => j,
    };
    let count = seeds.end.saturating_sub(seeds.start);
    let mut failed = BTreeMap::new();
    campaign::parallel(
        count,
        jobs,
        None,
        |i| campaign::run_seed(&sc, seeds.start + i, false, None),
        |_, o| {
            if !o.as_expected() {
                failed.insert(o.seed, o);
            }
        },
    );
    Ok(failed)
}

/// Shrinks the first `per_group` failures of each kind in `failed` (as
/// [`search`] returns them), spending at most `runs` runs on each, and
/// writes each as a scenario file (with its HTML report) into `dir`. Each
/// written file replays its failure with `dsim run FILE` (exit 0 while it
/// still fails the same way). Failures with nothing to shrink (a panic, an
/// unknown verdict, an expected violation that did not show) are skipped.
pub fn shrink_into(
    sc: &Scenario,
    failed: &BTreeMap<u64, campaign::SeedOutcome>,
    dir: &Path,
    per_group: u64,
    runs: u64,
) -> BTreeMap<u64, save::Saved> {
    let mut sc = sc.clone();
    if let Err(e) = resolve(&mut sc) {
        return failed
            .keys()
            .map(|&seed| {
                let saved = save::Saved::failed(seed, e.to_string());
                (seed, saved)
            })
            .collect();
    }
    save::shrink_all(
        &sc,
        &save::picks(failed, per_group),
        dir,
        campaign::default_jobs(),
        runs,
    )
}

/// Fills in what the `fuzz` block leaves to the probe run (the kinds of
/// `fuzz.messages`), so that every later [`at_seed`] skips the probe. A
/// campaign calls this once; the expansions are the same with or without.
pub fn resolve(sc: &mut Scenario) -> Result<(), ScenarioError> {
    if let Some(f) = &sc.effective.fuzz {
        if let Cow::Owned(f) = resolved(sc, f)? {
            sc.effective.fuzz = Some(f);
        }
    }
    Ok(())
}

/// `f` with the message kinds from the probe run when it needs them.
fn resolved<'a>(sc: &Scenario, f: &'a RawFuzz) -> Result<Cow<'a, RawFuzz>, ScenarioError> {
    match &f.messages {
        Some(m) if m.kinds.is_none() => {
            let kinds = probe::message_kinds(sc).map_err(|message| ScenarioError {
                file: sc.path.clone(),
                line: 0,
                col: 0,
                field: "fuzz.messages.kinds".into(),
                message,
            })?;
            let mut f = f.clone();
            if let Some(m) = f.messages.as_mut() {
                m.kinds = Some(kinds);
            }
            Ok(Cow::Owned(f))
        }
        _ => Ok(Cow::Borrowed(f)),
    }
}
