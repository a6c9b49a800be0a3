//! Times the checker on every corpus file and on a set of generated hard
//! non-linearizable histories.
//!
//! `cargo bench -p dsim-checker --bench corpus [FILTER]` prints, per
//! history, the verdict, the search steps, the best of several runs of the
//! search alone (`check_verdict`) and of a full check (`check`: search and,
//! on a violation, the witness), their ratio, and the witness's size; then
//! totals. Parsing is not timed. A benchmark, not a test: it asserts
//! nothing about time.
//!
//! The hard set (see `support/hard.rs`): long, concurrent register
//! histories over five values, spoiled by one read late in the history that
//! returns a value nobody wrote (`corrupted`), a value written once long
//! before (`stale`), or another written value (`wrong`). Proving them
//! non-linearizable takes as many steps as the corpus's hardest files.

#[path = "support/hard.rs"]
mod hard;

use checker::{check, check_verdict, model, History, Model, Report, DEFAULT_BUDGET};
use hard::{Shape, Spoil};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

/// The hard set: name, shape, seed.
fn hard_set() -> Vec<(String, Shape, u64)> {
    let shape = |processes, ops, spoil| Shape {
        processes,
        ops,
        values: 5,
        duration_max: 40,
        spoil,
    };
    let mut set = Vec::new();
    for seed in [1, 2, 3] {
        set.push((
            format!("corrupted-1k-{seed}"),
            shape(10, 1000, Spoil::Corrupted),
            seed,
        ));
        set.push((
            format!("stale-1k-{seed}"),
            shape(10, 1000, Spoil::Stale),
            seed,
        ));
    }
    for seed in [0, 6, 9] {
        set.push((
            format!("wrong-200-{seed}"),
            shape(10, 200, Spoil::Wrong),
            seed,
        ));
    }
    set.push(("wrong-1k-1".into(), shape(10, 1000, Spoil::Wrong), 1));
    set.push(("stale-10k-0".into(), shape(4, 10_000, Spoil::Stale), 0));
    set.push(("stale-10k-10p-0".into(), shape(10, 10_000, Spoil::Stale), 0));
    let many_values = Shape {
        values: 10_000,
        ..shape(10, 10_000, Spoil::Stale)
    };
    set.push(("stale-10k-10p-unique-0".into(), many_values, 0));
    set
}

/// The timings of one history.
struct Timing {
    search: Duration,
    total: Duration,
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    println!(
        "{:<22} {:>6} {:>17} {:>9} {:>10} {:>10} {:>6} {:>8}",
        "history", "ops", "verdict", "steps", "search ms", "total ms", "ratio", "witness"
    );
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let manifest_text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest");
    let manifest: Value = serde_json::from_str(&manifest_text).expect("manifest JSON");
    let mut corpus = Vec::new();
    for entry in manifest["files"].as_array().expect("files") {
        let name = entry["file"].as_str().expect("file name");
        if !wanted(name) {
            continue;
        }
        let text = std::fs::read_to_string(dir.join(name)).expect("corpus file");
        let history = History::parse_jsonl(&text).expect("corpus history");
        let model_name = entry["model"].as_str().expect("model");
        let model = model::by_name(model_name, Some(&entry["initial_value"])).expect("model");
        corpus.push(measure(name, &history, &model));
    }
    summary("corpus", &corpus);
    let register = model::by_name("cas-register", None).expect("model");
    let mut hard = Vec::new();
    for (name, shape, seed) in hard_set() {
        if wanted(&name) {
            hard.push(measure(&name, &hard::register(shape, seed), &register));
        }
    }
    summary("hard set", &hard);
}

/// Times one history and prints its line.
fn measure(name: &str, history: &History, model: &Model) -> Timing {
    let best = |f: &dyn Fn() -> Report| -> (Duration, Report) {
        let mut best = Duration::MAX;
        let mut last = None;
        for _ in 0..RUNS {
            let start = Instant::now();
            let report = f();
            best = best.min(start.elapsed());
            last = Some(report);
        }
        (best, last.expect("at least one run"))
    };
    let (search, _) = best(&|| check_verdict(history, model, DEFAULT_BUDGET).expect("check"));
    let (total, report) = best(&|| check(history, model, DEFAULT_BUDGET).expect("check"));
    let witness = match &report.witness {
        Some(w) if w.minimal => format!("{}", w.ops.len()),
        Some(w) => format!("{}*", w.ops.len()),
        None => "-".to_string(),
    };
    println!(
        "{name:<22} {:>6} {:>17} {:>9} {:>10.3} {:>10.3} {:>6.2} {witness:>8}",
        report.ops,
        report.verdict,
        report.steps,
        ms(search),
        ms(total),
        total.as_secs_f64() / search.as_secs_f64()
    );
    Timing { search, total }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Totals of a set, and its worst ratio of total to search time.
fn summary(set: &str, timings: &[Timing]) {
    if timings.is_empty() {
        return;
    }
    let search: Duration = timings.iter().map(|t| t.search).sum();
    let total: Duration = timings.iter().map(|t| t.total).sum();
    let worst = timings
        .iter()
        .map(|t| t.total.as_secs_f64() / t.search.as_secs_f64())
        .fold(0.0, f64::max);
    println!(
        "{set}: search {:.1} ms, total {:.1} ms (x{:.2}); worst ratio x{worst:.2} \
         (best of {RUNS} runs each; witness * = not minimised)\n",
        ms(search),
        ms(total),
        total.as_secs_f64() / search.as_secs_f64()
    );
}
