//! End-to-end runs of the history and bank scenarios through the built
//! `dsim` binary: each on its own seed and on 50 further seeds, with every
//! check's verdict pinned here as well as in the scenario's `expect`, so a
//! scenario edited to expect something else is caught too. Where a verdict
//! depends on the seed, the test counts how often the violation shows up.

mod common;

use common::*;

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
    sweep(
        "bank-dead-link.json",
        &["convergence", "balance-correct"],
        &[],
    );
    sweep("bank-dead-link-intended.json", &[], &[]);
}

/// The run notes of `file` on its own seed, joined.
fn notes(file: &str) -> String {
    let (_, report) = run(file, None);
    report["notes"]
        .as_array()
        .expect("notes array")
        .iter()
        .filter_map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn history_handshake_race_kills_the_receive_loop_faithful_only() {
    sweep(
        "history-ecm11-handshake-race.json",
        &["convergence", "availability", "liveness"],
        &[],
    );
    let n = notes("history-ecm11-handshake-race.json");
    assert!(
        n.contains("n1's receive loop died") && n.contains("connection from n2"),
        "{n}"
    );
    sweep("history-ecm11-handshake-race-intended.json", &[], &[]);
    let n = notes("history-ecm11-handshake-race-intended.json");
    assert!(!n.contains("receive loop died"), "{n}");
}

#[test]
fn bank_handshake_race_kills_the_receive_loop_faithful_only() {
    sweep(
        "bank-ecm11-handshake-race.json",
        &["convergence", "availability", "liveness", "balance-correct"],
        &[],
    );
    let n = notes("bank-ecm11-handshake-race.json");
    assert!(
        n.contains("n1's receive loop died") && n.contains("answered none of 5 read(s)"),
        "{n}"
    );
    sweep("bank-ecm11-handshake-race-intended.json", &[], &[]);
}

/// Each scenario of `cases` must exit 2 with its message in stderr.
fn refused(name: &str, cases: &[(&str, &str)]) {
    for (i, (json, want)) in cases.iter().enumerate() {
        let p = scratch("ecm", &format!("{name}-{i}.json"), json);
        let out = dsim(&["run", p.to_str().expect("utf-8 path")]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{json}: {err}");
        assert!(err.contains(want), "{json}: {err}");
    }
}

#[test]
fn handshake_param_is_refused_where_it_does_not_apply() {
    let cases = [
        (
            r#"{"protocol":"lww","nodes":3,"params":{"handshake":{"gap_ms":200}}}"#,
            "lww has no handshake race",
        ),
        (
            r#"{"protocol":"history","nodes":3,"params":{"handshake":{"gap_ms":0}}}"#,
            "handshake.gap_ms must be from 1",
        ),
        (
            r#"{"protocol":"bank","nodes":3,"params":{"handshake":{"gap":5}}}"#,
            "params.handshake.gap: unknown field `gap`, expected `gap_ms`",
        ),
    ];
    refused("bad-handshake", &cases);
}

#[test]
fn cluster_jepsen_is_not_linearizable_on_most_seeds_and_converges() {
    let counts = sweep("cluster-jepsen.json", &[], &["linearizability"]);
    // 17,629 of seeds 0..20000 (88 %); 51 runs should show well over half.
    at_least(&counts, "linearizability", 35);
}

#[test]
fn cluster_jepsen_long_is_never_linearizable() {
    sweep("cluster-jepsen-long.json", &["linearizability"], &[]);
}

#[test]
fn cluster_restart_leaves_the_restarted_host_behind_for_good() {
    sweep(
        "cluster-restart.json",
        &["linearizability", "convergence"],
        &[],
    );
    let n = notes("cluster-restart.json");
    assert!(
        n.contains("-> n2 died") && n.contains("never reopened"),
        "{n}"
    );
}

#[test]
fn cluster_refuses_params_and_the_generic_client() {
    let cases = [
        (
            r#"{"protocol":"cluster","nodes":5,"params":{"retry_ms":5},"workload":{"client":"protocol"}}"#,
            "unknown field `retry_ms`",
        ),
        (
            r#"{"protocol":"cluster","nodes":5,"workload":{"client":"generic"}}"#,
            "generic",
        ),
    ];
    refused("bad-cluster", &cases);
}
