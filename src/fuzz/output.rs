//! What `dsim fuzz` prints: failing seeds grouped by what failed, each with
//! the command that replays it, and the shrunk files; or, with `--json`, one
//! object per failing seed and a summary line. Nothing here depends on the
//! number of jobs or on timing, so shards' outputs merge by concatenation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use super::campaign::{SeedOutcome, Seeds};
use super::cli::Findings;
use super::save::Saved;
use super::shrink::Size;
use crate::report::{fingerprint, replay_command};
use crate::scenario::Scenario;

/// Seeds listed with their replay command per group; `--json` lists all.
const LISTED: usize = 10;

/// The campaign being reported.
pub struct Context<'a> {
    /// The scenario.
    pub sc: &'a Scenario,
    /// The seeds of this shard.
    pub seeds: Seeds,
    /// Whether `--shard` was given.
    pub sharded: bool,
    /// `--time-budget`, if given.
    pub time_budget: Option<u64>,
    /// `--hunt`: every violation counts.
    pub hunt: bool,
}

fn groups(failed: &BTreeMap<u64, SeedOutcome>) -> BTreeMap<String, Vec<&SeedOutcome>> {
    let mut g: BTreeMap<String, Vec<&SeedOutcome>> = BTreeMap::new();
    for o in failed.values() {
        g.entry(o.group()).or_default().push(o);
    }
    g
}

/// Seeds the time budget cut (listed with the failures, failing nothing).
fn cut_count(f: &Findings) -> usize {
    f.failed.values().filter(|o| o.cut).count()
}

fn range_text(ctx: &Context) -> String {
    let s = ctx.seeds;
    let mut t = s.range_text();
    if ctx.sharded {
        let _ = write!(
            t,
            " shard {}/{} (seed % {} == {})",
            s.shard, s.shards, s.shards, s.shard
        );
    }
    t
}

fn ran_text(ctx: &Context, f: &Findings) -> String {
    if f.ran == f.planned {
        return format!("{} run", f.ran);
    }
    let last = if f.ran == 0 {
        "none".to_string()
    } else {
        format!("up to seed {}", ctx.seeds.nth(f.ran - 1))
    };
    format!(
        "{} of {} run ({last}): the time budget of {} s ran out",
        f.ran,
        f.planned,
        ctx.time_budget.unwrap_or(0)
    )
}

fn size(s: &Option<Size>) -> serde_json::Value {
    serde_json::to_value(s).unwrap_or_default()
}

fn sizes_text(a: &Size, b: &Size) -> String {
    format!(
        "faults {} -> {}, ops {} -> {}, events {} -> {}, nodes {} -> {}",
        a.faults, b.faults, a.ops, b.ops, a.events, b.events, a.nodes, b.nodes
    )
}

/// The human report on standard output.
pub fn human(ctx: &Context, f: &Findings) {
    let mut o = String::new();
    let sc = ctx.sc;
    let _ = writeln!(o, "fuzz         {} ({})", sc.name, sc.path);
    let _ = writeln!(o, "seeds        {}, {}", range_text(ctx), ran_text(ctx, f));
    let g = groups(&f.failed);
    let cut = cut_count(f);
    if f.failed.len() == cut {
        let _ = writeln!(o, "result       every seed as expected");
    } else {
        let what = if ctx.hunt {
            "with a violation or NOT as expected"
        } else {
            "NOT as expected"
        };
        let _ = writeln!(
            o,
            "result       {} of {} seeds {what}, in {} group(s)",
            f.failed.len() - cut,
            f.ran,
            g.len() - usize::from(cut > 0)
        );
    }
    if cut > 0 {
        let _ = writeln!(
            o,
            "cut          {cut} seed(s) still running when the time budget ran out: unknown"
        );
    }
    for (name, seeds) in &g {
        let _ = writeln!(o, "\n{name}: {} seed(s)", seeds.len());
        if let Some(first) = seeds.first() {
            let why = first
                .panic
                .clone()
                .or_else(|| {
                    first
                        .cut
                        .then(|| format!("cut after {} events", first.events))
                })
                .or_else(|| first.unexpected.first().map(|u| u.summary.clone()))
                .unwrap_or_default();
            let _ = writeln!(o, "  e.g. seed {}: {why}", first.seed);
        }
        let missing = seeds.first().is_some_and(|s| {
            s.panic.is_none()
                && !s.cut
                && s.unexpected
                    .iter()
                    .all(|u| u.status == protocols::Status::Pass)
        });
        if missing {
            let _ = writeln!(
                o,
                "  expected violation not found: nothing to shrink; replay a seed to see the run"
            );
        }
        if let Some(first) = seeds.first() {
            for hint in unknown_hints(ctx.sc, first) {
                let _ = writeln!(o, "  hint: {hint}");
            }
        }
        for s in seeds.iter().take(LISTED) {
            let _ = writeln!(o, "  seed {:<8} {}", s.seed, replay_command(sc, s.seed));
        }
        if seeds.len() > LISTED {
            let _ = writeln!(
                o,
                "  … and {} more (--json lists every one)",
                seeds.len() - LISTED
            );
        }
        for s in seeds.iter().filter_map(|s| f.saved.get(&s.seed)) {
            saved_text(&mut o, s);
        }
    }
    crate::report::emit(&o);
}

/// For each check of `seed` that answered `unknown` (a budget ran out, not
/// a bug found), what to raise and by how much.
fn unknown_hints(sc: &Scenario, seed: &SeedOutcome) -> Vec<String> {
    seed.unexpected
        .iter()
        .filter(|u| u.status == protocols::Status::Unknown)
        .map(|u| {
            if u.check == "linearizability" {
                let now = sc.check_params.linearizability.budget;
                format!(
                    "linearizability answered unknown: the search spent its budget of {now} steps \
                     without deciding; that is not a bug found. Raise \
                     check_params.linearizability.budget (try {}: --set \
                     check_params.linearizability.budget={}), or run fewer concurrent clients \
                     (the search grows with how many operations overlap)",
                    now.saturating_mul(10),
                    now.saturating_mul(10)
                )
            } else {
                format!(
                    "{} answered unknown ({}): that is not a bug found; it counts against the \
                     scenario because it expects {}",
                    u.check,
                    u.summary,
                    crate::report::expect_name(sc.expectation(&u.check))
                )
            }
        })
        .collect()
}

fn saved_text(o: &mut String, s: &Saved) {
    match (&s.error, &s.before, &s.after) {
        (None, Some(a), Some(b)) => {
            let _ = writeln!(
                o,
                "  shrunk       seed {} in {} runs: {}",
                s.seed,
                s.runs,
                sizes_text(a, b)
            );
            let _ = writeln!(
                o,
                "  replay       {} run {}",
                crate::report::program(),
                s.file
            );
            if let Some(r) = &s.report {
                let _ = writeln!(o, "  report       {r}");
            }
        }
        (Some(e), _, _) => {
            let _ = writeln!(o, "  not shrunk   seed {}: {e}", s.seed);
        }
        _ => {}
    }
}

/// One JSON object per failing seed, in seed order, then `{"summary": …}`.
pub fn json(ctx: &Context, f: &Findings) {
    let sc = ctx.sc;
    let mut o = String::new();
    for s in f.failed.values() {
        let mut line = json!({
            "scenario": sc.name,
            "path": sc.path,
            "seed": s.seed,
            "group": s.group(),
            "failed": s.unexpected,
            "events": s.events,
            "ops": s.ops,
            "faults": s.faults,
            "trace_fingerprint": fingerprint(s.fingerprint),
            "replay": replay_command(sc, s.seed),
        });
        if s.cut {
            line["status"] = json!("unknown");
            line["cut"] = json!(true);
        }
        if let Some(f) = sc.effective.fuzz.as_ref().filter(|f| f.swarm) {
            // What the swarm draw left on for this seed.
            line["swarm"] = json!(super::gen::expand(f, sc.sim.nodes, s.seed).plan);
        }
        if let Some(p) = &s.panic {
            line["panic"] = json!(p);
        }
        if let Some(saved) = f.saved.get(&s.seed) {
            line["shrunk"] = json!({
                "file": saved.file,
                "replay": format!("{} run {}", crate::report::program(), saved.file),
                "runs": saved.runs,
                "before": size(&saved.before),
                "after": size(&saved.after),
                "report": saved.report,
                "error": saved.error,
            });
        }
        let _ = writeln!(o, "{line}");
    }
    let groups: BTreeMap<String, usize> = groups(&f.failed)
        .into_iter()
        .map(|(k, v)| (k, v.len()))
        .collect();
    let summary = json!({"summary": {
        "scenario": sc.name,
        "path": sc.path,
        "seeds": ctx.seeds.range_text(),
        "shard": ctx.sharded.then(|| format!("{}/{}", ctx.seeds.shard, ctx.seeds.shards)),
        "planned": f.planned,
        "ran": f.ran,
        "failed": f.failed.len() - cut_count(f),
        "cut": cut_count(f),
        "groups": groups,
        "shrunk": f.saved.values().filter(|s| s.error.is_none()).map(|s| &s.file).collect::<Vec<_>>(),
        "hunt": ctx.hunt,
        "as_expected": f.failed.len() == cut_count(f),
    }});
    let _ = writeln!(o, "{summary}");
    crate::report::emit(&o);
}
