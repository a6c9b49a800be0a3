//! Helpers shared by the end-to-end protocol tests: run a scenario through
//! the built binary and sweep it over its own seed plus fifty more.

#![allow(dead_code)] // each test file uses its own subset

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// The further seeds every scenario runs on.
pub const SEEDS: std::ops::Range<u64> = 1000..1050;

/// Runs on the scenario's own seed plus [`SEEDS`].
pub const RUNS: usize = 51;

/// One `dsim run --json`: the exit code and the parsed report.
pub fn run(file: &str, seed: Option<u64>) -> (i32, Value) {
    let path = format!("{}/scenarios/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsim"));
    cmd.args(["run", &path, "--json"]);
    if let Some(s) = seed {
        cmd.args(["--seed", &s.to_string()]);
    }
    let out = cmd.output().expect("the dsim binary runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{file} seed {seed:?}: no JSON report ({e})\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// Runs `file` on its own seed and on [`SEEDS`]; every check must pass
/// except `violations` (always a violation) and `any` (either; counted).
/// Returns how many runs found a violation, per `any` check.
pub fn sweep(file: &str, violations: &[&str], any: &[&str]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = any.iter().map(|c| (c.to_string(), 0)).collect();
    for seed in std::iter::once(None).chain(SEEDS.map(Some)) {
        let (code, report) = run(file, seed);
        let replay = report["replay"].as_str().unwrap_or("?");
        assert_eq!(
            code, 0,
            "{file}: not as expected; replay with `{replay}`\n{report:#}"
        );
        assert_eq!(report["as_expected"], true, "{file}: `{replay}`");
        let checks = report["checks"].as_object().expect("checks object");
        for (name, status) in checks {
            let status = status.as_str().unwrap_or("?");
            if let Some(n) = counts.get_mut(name) {
                assert_ne!(status, "unknown", "{file} {name}: `{replay}`");
                *n += usize::from(status == "violation");
            } else {
                let want = if violations.contains(&name.as_str()) {
                    "violation"
                } else {
                    "pass"
                };
                assert_eq!(
                    status, want,
                    "{file} {name}: `{replay}`\n{:#}",
                    report["details"][name]
                );
            }
        }
        for v in violations.iter().chain(any) {
            assert!(checks.contains_key(*v), "{file} does not run {v}");
        }
    }
    counts
}

/// Asserts that `check` found a violation on at least `floor` of [`RUNS`].
pub fn at_least(counts: &BTreeMap<String, usize>, check: &str, floor: usize) {
    assert!(
        counts[check] >= floor,
        "{check} fired on only {} of {RUNS} runs (floor {floor})",
        counts[check]
    );
}

/// A bundled scenario file, parsed, to derive a variant from.
pub fn bundled(file: &str) -> Value {
    let path = format!("{}/scenarios/{file}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs the built `dsim` with `args` from the repository's root.
pub fn dsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the dsim binary runs")
}

/// Bytes from a process as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A scratch file `name` holding `contents`, in a directory unique to this
/// test process and `suite`.
pub fn scratch(suite: &str, name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dsim-{suite}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, contents).expect("write scratch file");
    p
}

/// One mutation of the non-empty bytes `b`, for the parser fuzz tests: a
/// byte flipped, a span deleted or duplicated (up to `span` bytes), one of
/// `tokens` inserted, the number at or after a point replaced by one of the
/// first `numeric` tokens, or the text cut short.
pub fn mutate_once(
    b: &mut Vec<u8>,
    tokens: &[&str],
    numeric: usize,
    span: usize,
    rng: &mut rand_chacha::ChaCha8Rng,
) {
    use rand::Rng as _;
    let at = rng.gen_range(0..b.len());
    match rng.gen_range(0..6) {
        0 => b[at] = rng.gen(),
        1 => {
            let end = (at + rng.gen_range(1..16)).min(b.len());
            b.drain(at..end);
        }
        2 => {
            let end = (at + rng.gen_range(1..span)).min(b.len());
            let dup = b[at..end].to_vec();
            b.splice(at..at, dup);
        }
        3 => {
            let t = tokens[rng.gen_range(0..tokens.len())].as_bytes();
            b.splice(at..at, t.iter().copied());
        }
        4 => {
            // Replace the number that starts at or after `at`.
            if let Some(start) = (at..b.len()).find(|&i| b[i].is_ascii_digit()) {
                let end = (start..b.len())
                    .find(|&i| !b[i].is_ascii_digit())
                    .unwrap_or(b.len());
                let t = tokens[rng.gen_range(0..numeric)].as_bytes();
                b.splice(start..end, t.iter().copied());
            }
        }
        _ => b.truncate(at),
    }
}
