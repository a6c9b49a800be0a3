//! Times the checker on every corpus file, and on the whole corpus.
//!
//! `cargo bench -p dsim-checker --bench corpus` prints, per file, the
//! verdict, the search steps and the best of several runs of a full check
//! (parse not included; witness minimization included on violations), then
//! the total. A benchmark, not a test: it asserts nothing about time.

use checker::{check, model, History, DEFAULT_BUDGET};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let manifest_text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest");
    let manifest: Value = serde_json::from_str(&manifest_text).expect("manifest JSON");
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut total = Duration::ZERO;
    let mut slowest = (Duration::ZERO, String::new());
    println!(
        "{:<22} {:>6} {:>18} {:>10} {:>10}",
        "file", "ops", "verdict", "steps", "ms"
    );
    for entry in manifest["files"].as_array().expect("files") {
        let name = entry["file"].as_str().expect("file name");
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let text = std::fs::read_to_string(dir.join(name)).expect("corpus file");
        let history = History::parse_jsonl(&text).expect("corpus history");
        let model_name = entry["model"].as_str().expect("model");
        let model = model::by_name(model_name, Some(&entry["initial_value"])).expect("model");
        let mut best = Duration::MAX;
        let mut last = None;
        for _ in 0..RUNS {
            let start = Instant::now();
            let report = check(&history, &model, DEFAULT_BUDGET).expect("check");
            best = best.min(start.elapsed());
            last = Some(report);
        }
        let report = last.expect("at least one run");
        let ms = best.as_secs_f64() * 1e3;
        println!(
            "{name:<22} {:>6} {:>18} {:>10} {ms:>10.3}",
            report.ops, report.verdict, report.steps
        );
        total += best;
        if best > slowest.0 {
            slowest = (best, name.to_string());
        }
    }
    println!(
        "total {:.1} ms; slowest {} at {:.1} ms (best of {RUNS} runs each)",
        total.as_secs_f64() * 1e3,
        slowest.1,
        slowest.0.as_secs_f64() * 1e3
    );
}
