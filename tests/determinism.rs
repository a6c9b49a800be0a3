//! Same scenario + same seed = the same run, byte for byte: every bundled
//! scenario runs twice through the binary and the traces are compared; one
//! small scenario's trace is pinned as a golden file.
//!
//! `DSIM_BLESS=1 cargo test --test determinism` rewrites the golden trace on
//! purpose (review the diff: every change in it is a change in behaviour).

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn scratch_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("dsim-det-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Runs `scenario` with a trace; returns (fingerprint, trace bytes).
fn traced(scenario: &Path, trace: &Path) -> (String, Vec<u8>) {
    let out = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--json",
            "--trace",
            trace.to_str().unwrap(),
        ])
        .output()
        .expect("dsim runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: {}",
            scenario.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let fp = v["trace_fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_string();
    (fp, std::fs::read(trace).expect("trace written"))
}

fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (la, lb) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    for (i, (x, y)) in la.lines().zip(lb.lines()).enumerate() {
        if x != y {
            return format!(
                "first divergent event, line {}:\n  run 1: {x}\n  run 2: {y}",
                i + 1
            );
        }
    }
    format!(
        "one trace is a prefix of the other ({} vs {} lines)",
        la.lines().count(),
        lb.lines().count()
    )
}

#[test]
fn every_bundled_scenario_replays_byte_for_byte() {
    let dir = scratch_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("scenarios"))
        .expect("scenarios/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "bundled scenarios found: {files:?}");
    for f in files {
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        if name.starts_with("bench-") {
            continue; // benchmark-sized; covered by the fingerprint test below
        }
        let (fa, ta) = traced(&f, &dir.join(format!("{name}.1")));
        let (fb, tb) = traced(&f, &dir.join(format!("{name}.2")));
        assert!(
            ta == tb,
            "{name}: traces differ; {}",
            first_difference(&ta, &tb)
        );
        assert_eq!(fa, fb, "{name}: fingerprints differ");
        assert!(!ta.is_empty(), "{name}: empty trace");
    }
}

#[test]
fn benchmark_scenario_fingerprint_is_stable() {
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_dsim"))
            .args([
                "run",
                &format!("{ROOT}/scenarios/bench-lww-w.json"),
                "--json",
            ])
            .output()
            .expect("dsim runs");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (
            v["trace_fingerprint"].clone(),
            v["messages"]["delivered"].clone(),
        )
    };
    let a = run();
    assert_eq!(a, run());
    assert!(
        a.1.as_u64().unwrap() > 900_000,
        "W delivers about a million messages: {a:?}"
    );
}

#[test]
fn golden_trace_is_unchanged() {
    let golden = Path::new(ROOT).join("tests/golden/lww-origin-blindness-faithful.jsonl");
    let scenario = Path::new(ROOT).join("scenarios/lww-origin-blindness-faithful.json");
    let out = scratch_dir().join("golden.jsonl");
    let (_, trace) = traced(&scenario, &out);
    if std::env::var_os("DSIM_BLESS").is_some() {
        std::fs::write(&golden, &trace).expect("write golden");
        return;
    }
    let want = std::fs::read(&golden).expect("golden trace exists (DSIM_BLESS=1 to create)");
    assert!(
        trace == want,
        "the trace of {} changed; {}\nIf the change is intended, rerun with DSIM_BLESS=1 and review the diff.",
        scenario.display(),
        first_difference(&want, &trace)
    );
}
