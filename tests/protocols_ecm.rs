//! End-to-end runs of the history and bank scenarios through the built
//! `dsim` binary: each on its own seed and on 50 further seeds, with every
//! check's verdict pinned here as well as in the scenario's `expect`, so a
//! scenario edited to expect something else is caught too. Where a verdict
//! depends on the seed, the test counts how often the violation shows up.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// The further seeds every scenario runs on.
const SEEDS: std::ops::Range<u64> = 1000..1050;

/// One `dsim run --json`: the exit code and the parsed report.
fn run(file: &str, seed: Option<u64>) -> (i32, Value) {
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
fn sweep(file: &str, violations: &[&str], any: &[&str]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = any.iter().map(|c| (c.to_string(), 0)).collect();
    let seeds = std::iter::once(None).chain(SEEDS.map(Some));
    for seed in seeds {
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
        for v in violations {
            assert!(checks.contains_key(*v), "{file} does not run {v}");
        }
    }
    counts
}

#[test]
fn bank_overdraft_split_brain_revokes_a_withdrawal() {
    sweep(
        "bank-overdraft-split-brain.json",
        &["withdrawals-covered", "decision-revoked"],
        &[],
    );
}

#[test]
fn bank_newest_first_is_convergent_but_wrong() {
    sweep("bank-newest-first.json", &["balance-correct"], &[]);
}

#[test]
fn bank_newest_first_intended_passes() {
    sweep("bank-newest-first-intended.json", &[], &[]);
}

#[test]
fn bank_late_event_flips_a_decision() {
    sweep(
        "bank-late-event-flip.json",
        &["withdrawals-covered", "decision-revoked"],
        &[],
    );
}

#[test]
fn bank_concurrent_reads_revoke_decisions_on_many_seeds() {
    let counts = sweep(
        "bank-concurrent-intended.json",
        &[],
        &["withdrawals-covered", "decision-revoked"],
    );
    let runs = SEEDS.count() + 1;
    // About half the seeds interleave a read with an older event in flight.
    assert!(
        counts["decision-revoked"] >= runs / 5,
        "decision-revoked fired on only {} of {runs} runs",
        counts["decision-revoked"]
    );
}

#[test]
fn history_split_brain_never_converges() {
    sweep(
        "history-split-brain.json",
        &["convergence", "trail-convergence"],
        &[],
    );
}

#[test]
fn history_split_brain_intended_heals() {
    sweep("history-split-brain-intended.json", &[], &[]);
}

#[test]
fn history_faithful_trail_does_not_record_provenance() {
    sweep(
        "history-provenance.json",
        &["trail-integrity", "trail-provenance"],
        &[],
    );
}

#[test]
fn history_intended_trail_records_provenance() {
    sweep("history-provenance-intended.json", &[], &[]);
}

#[test]
fn history_equal_timestamps_diverge_faithful_only() {
    sweep("history-equal-timestamps.json", &["convergence"], &[]);
    sweep("history-equal-timestamps-intended.json", &[], &[]);
}

#[test]
fn history_restart_isolates_faithful_and_breaks_intended_trails() {
    sweep(
        "history-restart.json",
        &["convergence", "trail-convergence"],
        &[],
    );
    sweep(
        "history-restart-intended.json",
        &["trail-convergence", "trail-integrity"],
        &[],
    );
}

#[test]
fn bank_dead_link_stays_dead_faithful_only() {
    sweep("bank-dead-link.json", &["convergence", "balance-correct"], &[]);
    sweep("bank-dead-link-intended.json", &[], &[]);
}
