//! End-to-end runs of the memstate scenarios (MS-1 … MS-9) through the built
//! `dsim` binary: each on its own seed and on 50 further seeds, with every
//! check's verdict pinned here as well as in the scenario's `expect`.

mod common;

use common::*;

#[test]
fn benign_faithful_passes() {
    sweep("memstate-benign.json", &[], &[]);
}

#[test]
fn ms1_a_lagging_subscriber_serves_a_stale_read_and_ensure_version_fixes_it() {
    sweep("memstate-ms1-stale-read.json", &["linearizability"], &[]);
    sweep("memstate-ms1-stale-read-intended.json", &[], &[]);
}

#[test]
fn ms2_a_dropped_subscription_freezes_the_replica_unless_it_resubscribes() {
    sweep(
        "memstate-ms2-frozen-replica.json",
        &["linearizability", "availability", "liveness", "convergence"],
        &[],
    );
    sweep("memstate-ms2-frozen-replica-intended.json", &[], &[]);
}

#[test]
fn ms3_a_gap_stops_the_engine_or_diverges_it_silently() {
    sweep(
        "memstate-ms3-gap-halt.json",
        &["engines-running", "availability", "convergence"],
        &[],
    );
    let counts = sweep(
        "memstate-ms3-gap-divergence.json",
        &["replica-agreement", "convergence"],
        &["availability"],
    );
    // When the skipped record is n1's own set, its caller waits forever.
    at_least(&counts, "availability", 5);
}

#[test]
fn ms4_a_duplicate_record_stops_the_engine_or_is_applied_twice() {
    sweep(
        "memstate-ms4-duplicate-halt.json",
        &["engines-running", "availability", "convergence"],
        &[],
    );
    sweep(
        "memstate-ms4-duplicate-applied-twice.json",
        &["replica-agreement", "convergence"],
        &[],
    );
}

#[test]
fn ms5_a_nondeterministic_command_diverges_replicas_with_identical_logs() {
    sweep(
        "memstate-ms5-nondeterministic.json",
        &["replica-agreement", "convergence"],
        &[],
    );
}

#[test]
fn ms6_a_cut_from_the_stream_drops_the_subscription_and_freezes_the_faithful_engine() {
    sweep(
        "memstate-ms6-stream-partition.json",
        &["availability", "convergence", "liveness", "linearizability"],
        &[],
    );
    sweep(
        "memstate-ms6-stream-partition-intended.json",
        &["availability"],
        &[],
    );
}

#[test]
fn a_record_lost_in_silence_freezes_the_faithful_engine_and_never_makes_a_gap() {
    // engines-running passes: n1 froze (the subscription's connection
    // broke) instead of stopping on a broken sequence at the next record.
    sweep(
        "memstate-regress-silent-record-loss-freezes.json",
        &["availability", "convergence"],
        &[],
    );
}

#[test]
fn ms7_the_faithful_batcher_dies_only_after_the_clientapi_retries_are_spent() {
    sweep(
        "memstate-ms7-append-error.json",
        &["availability", "liveness"],
        &[],
    );
    // One lost answer: the ClientAPI's first retry is answered.
    sweep("memstate-ms7-one-lost-ack.json", &["availability"], &[]);
    let strip = |mut s: serde_json::Value| {
        let o = s.as_object_mut().expect("object");
        o.remove("description");
        o.remove("expect");
        s
    };
    let mut a = strip(bundled("memstate-ms7-append-error.json"));
    let b = strip(bundled("memstate-ms7-one-lost-ack.json"));
    a["services"] = b["services"].clone();
    assert_eq!(a, b, "the two differ only in how many answers are lost");
    sweep("memstate-ms7-append-error-intended.json", &[], &[]);
}

#[test]
fn ms8_blind_increments_lose_updates_and_versions_prevent_it() {
    sweep(
        "memstate-ms8-lost-update.json",
        &["increments", "linearizability"],
        &[],
    );
    sweep("memstate-ms8-lost-update-cas.json", &[], &[]);
    // The snapshot's engine counts a failed command's record: CAS works.
    sweep("memstate-ms8-cas-faithful.json", &["availability"], &[]);
    sweep(
        "memstate-ms8-cas-halts-pre-6f560ec.json",
        &["engines-running", "availability"],
        &[],
    );
}

#[test]
fn ms8_the_stop_on_a_failed_cas_is_the_pre_6f560ec_order_and_nothing_else() {
    // The same scenario with only the switch turned off: no engine stops.
    let mut s = bundled("memstate-ms8-cas-halts-pre-6f560ec.json");
    s["params"]["pre_6f560ec"] = serde_json::json!(false);
    s["expect"] = serde_json::json!({});
    let path = scratch("memstate", "pre-off.json", &s.to_string());
    let out = dsim(&["run", path.to_str().expect("path"), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["checks"]["engines-running"], "pass", "{report}");
}

#[test]
fn ms9_leaders_deposed_and_dueling() {
    sweep(
        "memstate-ms9-deposed-leader-read.json",
        &["linearizability"],
        &[],
    );
    sweep(
        "memstate-ms9-deposed-leader-marker.json",
        &["availability"],
        &[],
    );
    sweep("memstate-ms9-dueling-leaders.json", &["availability"], &[]);
}

#[test]
fn the_stream_refuses_unknown_knobs_and_foreign_nodes() {
    let bad = r#"{"protocol": "memstate", "nodes": 3,
        "services": [{"name": "stream", "params": {"subscribers": [{"node": 5, "gap": [1]}]}}],
        "workload": {"ops": 1}}"#;
    let path = scratch("memstate", "bad-node.json", bad);
    let out = dsim(&["run", path.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("subscribers[0].node is 5"),
        "{}",
        text(&out.stderr)
    );
    let unknown = bad
        .replace(r#""gap": [1]"#, r#""lag_ms": 3"#)
        .replace("5", "1");
    let path = scratch("memstate", "bad-knob.json", &unknown);
    let out = dsim(&["run", path.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("lag_ms"),
        "{}",
        text(&out.stderr)
    );
}

/// The pair differs only in `params.seeded_bugs` (and its words).
fn only_the_bug_differs(fixed: &str, bug: &str, which: &str) {
    let strip = |mut s: serde_json::Value| {
        s.as_object_mut().expect("object").remove("description");
        s.as_object_mut().expect("object").remove("expect");
        s
    };
    let fixed = strip(bundled(fixed));
    let mut bug = strip(bundled(bug));
    assert_eq!(bug["params"]["seeded_bugs"], serde_json::json!([which]));
    bug["params"]
        .as_object_mut()
        .expect("params")
        .remove("seeded_bugs");
    assert_eq!(fixed, bug);
}

#[test]
fn l1_a_duplicated_forward_runs_once_and_a_refusal_is_final() {
    for (name, floor) in [("l1-dup-forward", 10), ("l1-dup-forward-rule", 5)] {
        let fixed = format!("memstate-leader-{name}.json");
        let bug = format!("memstate-leader-{name}-bug.json");
        only_the_bug_differs(&fixed, &bug, "forward_refusal_fails");
        sweep(&fixed, &[], &[]);
        let counts = sweep(&bug, &[], &["linearizability"]);
        at_least(&counts, "linearizability", floor);
    }
}

#[test]
fn l2_the_leaders_incr_reads_through_its_own_commands_with_a_precondition() {
    let (fixed, bug) = (
        "memstate-leader-l2-incr-two.json",
        "memstate-leader-l2-incr-two-bug.json",
    );
    only_the_bug_differs(fixed, bug, "incr_from_applied");
    sweep(fixed, &[], &[]);
    sweep(bug, &["increments", "linearizability"], &[]);
}

#[test]
fn l3_a_forward_whose_answer_is_lost_is_sent_again() {
    let (fixed, bug) = (
        "memstate-leader-l3-forward-after-restart.json",
        "memstate-leader-l3-forward-after-restart-bug.json",
    );
    only_the_bug_differs(fixed, bug, "forward_once");
    sweep(fixed, &[], &[]);
    sweep(bug, &["liveness", "availability"], &[]);
}

#[test]
fn i1_an_incr_cas_with_the_value_read_is_safe_when_remove_restarts_versions() {
    let (fixed, bug) = (
        "memstate-intended-i1-incr-cas-aba.json",
        "memstate-intended-i1-incr-cas-aba-bug.json",
    );
    only_the_bug_differs(fixed, bug, "incr_version_only");
    sweep(fixed, &[], &[]);
    sweep(bug, &["linearizability"], &[]);
}

#[test]
fn l4_a_command_another_engines_record_carries_leaves_the_speculative_view() {
    let (fixed, bug) = (
        "memstate-leader-l4-stale-own.json",
        "memstate-leader-l4-stale-own-bug.json",
    );
    only_the_bug_differs(fixed, bug, "stale_own");
    sweep(fixed, &[], &[]);
    let counts = sweep(bug, &[], &["availability", "speculation-drained"]);
    at_least(&counts, "availability", 5);
    // The white-box check sees the stale entry whether or not a later incr
    // trips over it (1,977 of seeds 0..2000).
    at_least(&counts, "speculation-drained", 45);
}
