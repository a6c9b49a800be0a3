//! `dsim fuzz` through the built binary: it finds the split brain, shrinks
//! it into a file that `dsim run` replays, gives the same answers whatever
//! `--jobs` and however the range is sharded, refuses bad input with exit 2,
//! and the committed regression corpus still replays.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const LWW: &str = "scenarios/fuzz-lww-split-brain.json";
const BANK: &str = "scenarios/fuzz-bank-overdraft.json";

fn dsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsim"))
        .current_dir(ROOT)
        .args(args)
        .output()
        .expect("the dsim binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dsim-fuzz-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The JSON lines of a `--json` run: the failures, then the summary.
fn lines(out: &Output) -> (Vec<Value>, Value) {
    let mut v: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let summary = v.pop().expect("a summary line")["summary"].clone();
    assert!(summary.is_object(), "last line is the summary");
    (v, summary)
}

#[test]
fn finds_the_split_brain_and_the_shrunk_file_replays_it() {
    let dir = scratch("lww");
    let out = dsim(&[
        "fuzz",
        LWW,
        "--seeds",
        "0..40",
        "--json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let (failures, summary) = lines(&out);
    assert_eq!(summary["ran"], 40);
    assert!(!failures.is_empty(), "some of 40 seeds split the brain");
    let first = &failures[0];
    assert_eq!(first["group"], "convergence: violation (expected pass)");
    let seed = first["seed"].as_u64().unwrap();
    assert_eq!(
        first["replay"],
        format!("dsim run {LWW} --seed {seed}"),
        "each failure names its replay command"
    );
    // The replay command reproduces the very run the fuzzer saw.
    let replay = dsim(&["run", LWW, "--seed", &seed.to_string(), "--json"]);
    assert_eq!(replay.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(r["trace_fingerprint"], first["trace_fingerprint"]);
    assert_eq!(r["checks"]["convergence"], "violation");
    // The shrunk file: small, explicit, and it replays the same violation.
    let shrunk = &first["shrunk"];
    assert!(shrunk["error"].is_null(), "{shrunk}");
    let file = shrunk["file"].as_str().unwrap();
    assert!(file.ends_with(&format!("fuzz-lww-split-brain-seed{seed}.json")));
    let after = &shrunk["after"];
    assert!(after["faults"].as_u64().unwrap() <= 3, "{shrunk}");
    assert!(after["ops"].as_u64().unwrap() <= 5, "{shrunk}");
    assert!(after["events"].as_u64() < shrunk["before"]["events"].as_u64());
    let raw: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert!(raw.get("fuzz").is_none());
    assert_eq!(raw["seed"], seed);
    assert_eq!(raw["workload"]["ops"], 0, "the workload became a script");
    assert!(raw["description"].as_str().unwrap().contains("Shrunk in"));
    let run = dsim(&["run", file, "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    let r: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(r["checks"]["convergence"], "violation");
}

#[test]
fn answers_do_not_depend_on_jobs() {
    let (a, b) = (scratch("jobs1"), scratch("jobs2"));
    let run = |jobs: &str, dir: &Path| {
        let out = dsim(&[
            "fuzz",
            BANK,
            "--seeds",
            "0..60",
            "--jobs",
            jobs,
            "--json",
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        text(&out.stdout).replace(dir.to_str().unwrap(), "DIR")
    };
    let (one, two) = (run("1", &a), run("2", &b));
    assert_eq!(one, two);
    let mut files: Vec<_> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    // The HTML reports name their scenario file, so their directory.
    let read = |d: &Path, f: &std::ffi::OsStr| {
        String::from_utf8_lossy(&std::fs::read(d.join(f)).unwrap())
            .replace(d.to_str().unwrap(), "DIR")
    };
    for f in files {
        assert!(read(&a, &f) == read(&b, &f), "{f:?} differs");
    }
    // The human report is the same too (timing goes to standard error).
    let human = |jobs| text(&dsim(&["fuzz", BANK, "--seeds", "0..30", "--jobs", jobs]).stdout);
    assert_eq!(human("1"), human("2"));
}

#[test]
fn shards_split_the_range_and_merge_by_concatenation() {
    let seeds = |args: &[&str]| -> Vec<u64> {
        let mut all = vec!["fuzz", LWW, "--seeds", "10..40", "--json"];
        all.extend_from_slice(args);
        let (failures, summary) = lines(&dsim(&all));
        assert!(summary["ran"].as_u64().unwrap() <= 30);
        failures
            .iter()
            .map(|f| f["seed"].as_u64().unwrap())
            .collect()
    };
    let whole = seeds(&[]);
    let mut merged: Vec<u64> = (0..3)
        .flat_map(|i| {
            let s = seeds(&["--shard", &format!("{i}/3")]);
            assert!(s.iter().all(|x| x % 3 == i), "shard {i}: {s:?}");
            s
        })
        .collect();
    merged.sort_unstable();
    assert_eq!(merged, whole);
}

#[test]
fn calm_scenarios_exit_0() {
    let out = dsim(&[
        "fuzz",
        "scenarios/lww-benign.json",
        "--seeds",
        "0..8",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (failures, summary) = lines(&out);
    assert!(failures.is_empty());
    assert_eq!(summary["as_expected"], true);
    assert_eq!(summary["ran"], 8);
}

#[test]
fn bad_input_exits_2_naming_what_is_allowed() {
    for (args, want) in [
        (vec!["--seeds", "9..2"], "A..B"),
        (vec!["--seeds", "x"], "A..B"),
        (vec!["--shard", "8/8"], "I/N"),
        (vec!["--jobs", "0"], "--jobs"),
        // A budget that runs no seed would report success having judged
        // nothing; --shrink without --out would be ignored.
        (vec!["--time-budget", "0"], "--time-budget"),
        (vec!["--shrink", "2"], "--out <DIR>"),
        (vec!["--shrink-runs", "9"], "--out <DIR>"),
    ] {
        let mut all = vec!["fuzz", LWW];
        all.extend(args.iter().copied());
        let out = dsim(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(want),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = dsim(&["fuzz", "no/such/file.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read scenario file"));
}

/// Writes a scenario with `fuzz` block `block` and returns `dsim run`'s stderr.
fn fuzz_block_error(block: &str) -> String {
    let dir = scratch("bad-block");
    let p = dir.join("s.json");
    let src = format!("{{\"protocol\": \"lww\", \"nodes\": 2,\n \"fuzz\": {block}}}");
    std::fs::write(&p, src).unwrap();
    let out = dsim(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{block}");
    text(&out.stderr)
}

#[test]
fn fuzz_block_errors_are_located_and_say_what_is_allowed() {
    let e = fuzz_block_error(r#"{"until_ms": 100, "partitions": {"kinds": ["bridge"]}}"#);
    assert!(e.contains("s.json:2:"), "{e}");
    assert!(
        e.contains("fuzz.partitions.kinds[0]: kind bridge needs at least 3 nodes"),
        "{e}"
    );
    let e = fuzz_block_error(r#"{"until_ms": 100, "partitions": {"kinds": ["triangle"]}}"#);
    assert!(
        e.contains("unknown variant `triangle`") && e.contains("majorities-ring"),
        "{e}"
    );
    let e = fuzz_block_error(r#"{"until_ms": 100, "partitions": {"interval_ms": [0, 5]}}"#);
    assert!(
        e.contains("fuzz.partitions.interval_ms: the smallest value must be at least 1 ms"),
        "{e}"
    );
    let e = fuzz_block_error(r#"{"until_ms": 100, "flapping": {}}"#);
    assert!(
        e.contains("fuzz.flapping: flapping makes partition episodes flap"),
        "{e}"
    );
    let e = fuzz_block_error(r#"{"until_ms": 100, "storms": {}}"#);
    assert!(e.contains("unknown field `storms`"), "{e}");
    let e = fuzz_block_error(r#"{"from_ms": 50, "until_ms": 50}"#);
    assert!(
        e.contains("fuzz.until_ms: must be after from_ms (50)"),
        "{e}"
    );
    let e = fuzz_block_error(r#"{"until_ms": 100000000, "clock": {"interval_ms": [1, 2]}}"#);
    assert!(e.contains("faults per seed; at most 100000"), "{e}");
    let e = fuzz_block_error(r#"{"until_ms": 100, "pauses": {"nodes": [0, 2]}}"#);
    assert!(e.contains("s.json:2:"), "{e}");
    assert!(
        e.contains("fuzz.pauses.nodes[1]: node id 2 is out of range; this scenario has nodes 0..1"),
        "{e}"
    );
    let e = fuzz_block_error(r#"{"until_ms": 100, "messages": {"actions": ["mangle"]}}"#);
    assert!(
        e.contains("unknown variant `mangle`") && e.contains("hold"),
        "{e}"
    );
    let e = fuzz_block_error(r#"{"until_ms": 100, "messages": {"kinds": []}}"#);
    assert!(e.contains("s.json:2:"), "{e}");
    assert!(
        e.contains("fuzz.messages.kinds: must list at least one message kind"),
        "{e}"
    );
    let e = fuzz_block_error(r#"{"until_ms": 100, "messages": {"window_ms": [9, 3]}}"#);
    assert!(
        e.contains("fuzz.messages.window_ms: [min, max] needs min <= max, got [9, 3]"),
        "{e}"
    );
}

/// An LWW mesh with many keys under generated message rules that drop
/// relays: a dropped relay is never sent again, so a key that is not
/// written again stays apart. The kinds come from the probe run.
const LWW_MESSAGES: &str = r#"{
  "protocol": "lww", "variant": "faithful", "params": {"target": "self"},
  "nodes": 3, "seed": 1,
  "workload": {"clients": 3, "ops": 100, "keys": 50, "rate": {"kind": "open", "interval_ms": 5}},
  "checks": ["convergence"],
  "fuzz": {"until_ms": 500,
           "messages": {"actions": ["drop"], "interval_ms": [20, 200], "window_ms": [5, 100]}}
}"#;

#[test]
fn generated_message_rules_are_shrunk_into_a_file_that_replays() {
    let dir = scratch("messages");
    let file = dir.join("lww-messages.json");
    std::fs::write(&file, LWW_MESSAGES).unwrap();
    let file = file.to_str().unwrap();
    let printed = dsim(&["run", file, "--print-scenario"]);
    let v: Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(
        v["fuzz"]["messages"]["kinds"],
        serde_json::json!(["set", "sync"]),
        "the probe run's kinds"
    );
    let out_dir = dir.join("out");
    let out = dsim(&[
        "fuzz",
        file,
        "--seeds",
        "0..60",
        "--json",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let (failures, _) = lines(&out);
    let first = &failures[0];
    assert_eq!(first["group"], "convergence: violation (expected pass)");
    // `dsim run --seed` probes on its own and draws the same rules.
    let seed = first["seed"].as_u64().unwrap().to_string();
    let replay = dsim(&["run", file, "--seed", &seed, "--json"]);
    let r: Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(r["trace_fingerprint"], first["trace_fingerprint"]);
    let shrunk = first["shrunk"]["file"].as_str().expect("shrunk");
    let raw: Value = serde_json::from_str(&std::fs::read_to_string(shrunk).unwrap()).unwrap();
    assert!(raw.get("fuzz").is_none());
    let rules: Vec<&Value> = raw["faults"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "message")
        .collect();
    assert!(!rules.is_empty(), "a drop rule is what fails: {raw:#}");
    for r in rules {
        assert_eq!(r["action"], "drop");
        assert!(["set", "sync"].contains(&r["msg"].as_str().unwrap()), "{r}");
        assert!(r["until_ms"].as_u64() > r["at_ms"].as_u64());
    }
    let run = dsim(&["run", shrunk, "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    let r: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(r["checks"]["convergence"], "violation");
}

#[test]
fn print_scenario_shows_the_fuzz_block_with_defaults() {
    let out = dsim(&["run", BANK, "--print-scenario"]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["fuzz"];
    assert_eq!(f["swarm"], true);
    assert_eq!(f["from_ms"], 0);
    assert_eq!(
        f["partitions"]["kinds"].as_array().unwrap().len(),
        6,
        "no ring on 3 nodes"
    );
    assert!(f.get("clock").is_none());
}

/// Every file in the regression corpus replays as its `expect` says.
#[test]
fn regression_corpus_replays() {
    let dir = Path::new(ROOT).join("tests/fuzz-corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fuzz-corpus")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    for f in files {
        let out = dsim(&["run", f.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{} no longer replays as it expects:\n{}",
            f.display(),
            text(&out.stdout)
        );
    }
}

#[test]
fn hunt_counts_expected_violations_and_shrinks_them() {
    let known = "scenarios/bank-overdraft-split-brain.json";
    let out = dsim(&["fuzz", known, "--seeds", "0..5", "--json"]);
    assert_eq!(out.status.code(), Some(0), "the violations are expected");
    let dir = scratch("hunt");
    let out = dsim(&[
        "fuzz",
        known,
        "--seeds",
        "0..5",
        "--hunt",
        "--json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let (failures, summary) = lines(&out);
    assert_eq!(summary["hunt"], true);
    assert_eq!(failures.len(), 5);
    let f = &failures[0];
    assert!(f["group"]
        .as_str()
        .unwrap()
        .contains("withdrawals-covered: violation (expected violation)"));
    let file = f["shrunk"]["file"].as_str().unwrap();
    let after = f["shrunk"]["after"]["ops"].as_u64().unwrap();
    assert!(after < f["ops"].as_u64().unwrap(), "{f}");
    assert_eq!(dsim(&["run", file]).status.code(), Some(0));
}

#[test]
fn an_expected_violation_that_does_not_show_is_listed_not_shrunk() {
    // The stale-read scenario without its slow link: the violation it
    // expects never shows. Nothing is shrunk (a smaller run passes too);
    // the seeds are listed with their replay commands.
    let src =
        std::fs::read_to_string(Path::new(ROOT).join("scenarios/seqlog-stale-reads.json")).unwrap();
    let mut v: Value = serde_json::from_str(&src).unwrap();
    v["network"]["links"] = Value::Array(Vec::new());
    let dir = scratch("missing");
    let file = dir.join("no-slow-link.json");
    std::fs::write(&file, v.to_string()).unwrap();
    let out_dir = dir.join("out");
    let out = dsim(&[
        "fuzz",
        file.to_str().unwrap(),
        "--seeds",
        "0..4",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("monotonic-reads: pass (expected violation): 4 seed(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("expected violation not found"), "{stdout}");
    assert!(stdout.contains("no-slow-link.json --seed 3"), "{stdout}");
    let written = std::fs::read_dir(&out_dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(written, 0, "nothing shrunk: {stdout}");
}

#[test]
fn unknown_verdicts_come_with_a_hint_naming_the_budget_to_raise() {
    // With a 20-step budget the search cannot decide the split-brain run:
    // every seed is unknown where a violation is expected.
    let out = dsim(&[
        "fuzz",
        "scenarios/lww-split-brain-intended.json",
        "--seeds",
        "0..2",
        "--jobs",
        "1",
        "--set",
        "check_params.linearizability.budget=20",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out.stdout);
    assert!(t.contains("linearizability: unknown"), "{t}");
    assert!(
        t.contains(
            "hint: linearizability answered unknown: the search spent its budget of 20 steps"
        ) && t.contains("--set check_params.linearizability.budget=200"),
        "{t}"
    );
    // With the bundled budget the same seeds decide: no hint.
    let out = dsim(&[
        "fuzz",
        "scenarios/lww-split-brain-intended.json",
        "--seeds",
        "0..2",
        "--jobs",
        "1",
    ]);
    assert!(
        !text(&out.stdout).contains("hint:"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_long_seed_is_cut_by_the_time_budget_and_reported_as_unknown() {
    // Workload W with ten times its operations: minutes of work for one
    // seed, cut after one second.
    let mut sc: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("scenarios/bench-lww-w.json")).unwrap(),
    )
    .unwrap();
    sc["workload"]["ops"] = serde_json::json!(2_000_000);
    let dir = scratch("cut");
    let file = dir.join("long.json");
    std::fs::write(&file, sc.to_string()).unwrap();
    let started = std::time::Instant::now();
    let out = dsim(&[
        "fuzz",
        file.to_str().unwrap(),
        "--seeds",
        "7",
        "--jobs",
        "1",
        "--time-budget",
        "1",
        "--json",
    ]);
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(secs < 30.0, "the seed was cut: {secs:.1} s");
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["seed"], 7);
    assert_eq!(lines[0]["cut"], true);
    assert_eq!(lines[0]["status"], "unknown");
    assert!(lines[0]["replay"].as_str().unwrap().ends_with("--seed 7"));
    assert!(lines[0]["events"].as_u64().unwrap() < 20_000_000);
    assert_eq!(lines[1]["summary"]["cut"], 1);
    assert_eq!(lines[1]["summary"]["failed"], 0);
}

#[test]
fn a_cut_run_is_the_same_run_up_to_the_cut() {
    // Workload W cut down to 5,000 operations (some 40,000 events).
    let mut raw: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("scenarios/bench-lww-w.json")).unwrap(),
    )
    .unwrap();
    raw["workload"]["ops"] = serde_json::json!(5000);
    let file = scratch("prefix").join("w5k.json");
    std::fs::write(&file, raw.to_string()).unwrap();
    let sc = dsim::scenario::load(&file).unwrap();
    let run = |deadline| {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let rep = dsim::runner::run(
            &sc,
            dsim::runner::RunOptions {
                seed: 1,
                trace: Some(Box::new(Sink(buf.clone()))),
                observer: None,
                keep_history: false,
                trail_key: None,
                deadline,
            },
        );
        let t = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        (rep, t)
    };
    // A deadline already past: cut after the first slice.
    let (cut, cut_trace) = run(Some(std::time::Instant::now()));
    assert_eq!(cut.stop, sim::StopReason::Cut);
    assert!(cut
        .checks
        .iter()
        .all(|c| c.result.status == protocols::Status::Unknown));
    assert!(cut.checks[0]
        .result
        .summary
        .contains("cut by the time budget"));
    let (full, full_trace) = run(None);
    assert_eq!(full.stop, sim::StopReason::Quiescent);
    let (body, last) = cut_trace.trim_end().rsplit_once('\n').unwrap();
    assert!(last.contains("\"reason\":\"cut\""), "{last}");
    assert!(body.lines().count() > 1000);
    assert!(
        full_trace.starts_with(body),
        "the cut run is a prefix of the whole run"
    );
}

struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
