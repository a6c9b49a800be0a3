//! End-to-end runs of the counter (python-crdt) scenarios through the built
//! `dsim` binary: each on its own seed and on 50 further seeds, with every
//! check's verdict pinned here as well as in the scenario's `expect`. Where a
//! verdict depends on the seed (the scenario says `any`), the test counts how
//! often the violation shows up and asserts a floor well under what the
//! seeds give today, so a change that makes a failure rare is noticed.

mod common;

use common::*;

#[test]
fn full_sync_intended_completes() {
    sweep("counter-full-sync-intended.json", &[], &[]);
}

#[test]
fn start_sync_storm_keeps_every_node_out_of_work() {
    let counts = sweep(
        "counter-crdt12-start-sync-storm-faithful.json",
        &["availability", "sync-liveness"],
        &["convergence", "counter-final", "counter-bounds"],
    );
    // Today about one run in eight ends with replicas that disagree after
    // premature resets.
    at_least(&counts, "convergence", 2);
}

#[test]
fn partition_blocks_the_sync_and_refuses_writes() {
    let counts = sweep(
        "counter-crdt1-partition-faithful.json",
        &["availability", "sync-liveness"],
        &[
            "message-budget",
            "convergence",
            "counter-final",
            "counter-bounds",
        ],
    );
    at_least(&counts, "convergence", 40);
}

#[test]
fn dead_peer_blocks_the_sync_for_good() {
    // CRDT-2: n2 crashes for good and stays a peer; the sync n0 starts
    // never gets n2's dict, so n0 and n1 end the run in sync.
    let counts = sweep(
        "counter-crdt2-dead-peer-faithful.json",
        &["availability", "sync-liveness"],
        &["convergence", "counter-final", "counter-bounds"],
    );
    // The storm between n0 and n1 is paced by the start_sync handler's
    // sleep, so message-budget passes; reads above the bounds (an update
    // counted twice after it raced the hello's sync_data) show on about one
    // seed in five.
    at_least(&counts, "counter-bounds", 2);
}

#[test]
fn write_during_sync_splits_the_cluster() {
    // CRDT-11: start_sync never reaches n2, which keeps taking writes while
    // n0 and n1 sit in sync.
    let counts = sweep(
        "counter-crdt11-write-during-sync-faithful.json",
        &["availability", "sync-liveness"],
        &["convergence", "counter-final", "counter-bounds"],
    );
    // Today: 972 of seeds 0..1000 end with replicas that disagree.
    at_least(&counts, "convergence", 40);
}

#[test]
fn partition_intended_completes_after_the_heal() {
    sweep("counter-crdt1-partition-intended.json", &[], &[]);
}

#[test]
fn premature_reset_loses_updates_on_most_seeds() {
    let counts = sweep(
        "counter-crdt4-premature-reset-faithful.json",
        &["availability"],
        &[
            "counter-final",
            "convergence",
            "counter-bounds",
            "sync-liveness",
        ],
    );
    // Today about four runs in five lose increments.
    at_least(&counts, "counter-final", 30);
}

#[test]
fn premature_reset_intended_waits_for_every_vote() {
    sweep("counter-crdt4-premature-reset-intended.json", &[], &[]);
}

#[test]
fn duplicate_delivery_overcounts_reads_and_final_values() {
    sweep(
        "counter-crdt6-duplicate-faithful.json",
        &["counter-bounds", "counter-final", "convergence"],
        &[],
    );
}

#[test]
fn duplicate_delivery_intended_dedupes() {
    sweep("counter-crdt6-duplicate-intended.json", &[], &[]);
}

#[test]
fn stale_local_reads_point_at_read_lag_ms() {
    // The intended counter with reads at other replicas over slow links and
    // no allowance for staleness: counter-bounds fails, and says how to
    // allow the staleness local reads have.
    let mut v = bundled("counter-full-sync-intended.json");
    v["params"]["read_lag_ms"] = 0.into();
    v["checks"] = serde_json::json!(["counter-bounds"]);
    v["expect"] = serde_json::json!({});
    v["workload"]["node_policy"] = "round-robin".into();
    v["workload"]["rate"] = serde_json::json!({"kind": "closed", "think_ms": 1});
    v["network"]["latency"] = serde_json::json!({"dist": "uniform", "min_ms": 20, "max_ms": 40});
    let file = scratch("counter", "lag0.json", &v.to_string());
    let out = dsim(&["run", file.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &report["details"]["counter-bounds"];
    assert_eq!(d["status"], "violation", "{d}");
    assert!(d["summary"].as_str().unwrap().contains("below"), "{d}");
    assert!(
        d["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains("raise read_lag_ms")),
        "{d}"
    );
}

/// The notes of one run of `file` on its own seed.
fn notes(file: &str) -> Vec<String> {
    notes_at(file, None)
}

/// How many sync passes `node` ran without `peer`'s max-nonce dict, from
/// the note that counts them (0 if there is none).
fn dictless_passes(notes: &[String], node: &str, peer: &str) -> u64 {
    let head = format!("{node} ran ");
    let tail = format!(" sync pass(es) without {peer}'s max-nonce dict");
    notes
        .iter()
        .filter_map(|n| n.strip_prefix(&head)?.split_once(&tail))
        .map(|(count, _)| count.parse::<u64>().expect("a count"))
        .sum()
}

#[test]
fn partition_keeps_the_sync_stuck_while_it_lasts() {
    // CRDT-1 for its own reason: during the partition (300..1500 ms, status
    // loop every 100 ms) every sync pass of n0 and n1 finds no dict from n2,
    // in both variants; only the faithful one never gets back to work.
    for file in [
        "counter-crdt1-partition-faithful.json",
        "counter-crdt1-partition-intended.json",
    ] {
        let n = notes(file);
        for node in ["n0", "n1"] {
            let passes = dictless_passes(&n, node, "n2");
            assert!(
                passes >= 8,
                "{file}: {node} ran {passes} dictless passes\n{n:#?}"
            );
        }
    }
    let faithful = notes("counter-crdt1-partition-faithful.json");
    assert!(
        faithful.iter().any(|n| n.starts_with("n0 ends sync")),
        "{faithful:#?}"
    );
}

#[test]
fn ready_phase_spins_on_a_stale_sync_status() {
    // CRDT-3: n1 stays in sync and is then cut off; n0 waits in ready for
    // ever and refuses every write.
    sweep(
        "counter-crdt3-ready-spin-faithful.json",
        &["availability", "sync-liveness"],
        &[],
    );
    let n = notes("counter-crdt3-ready-spin-faithful.json");
    assert!(
        n.iter()
            .any(|l| l.starts_with("n0 waits in ready while it last saw n1 in sync")),
        "{n:#?}"
    );
}

#[test]
fn message_cliff_loses_updates_for_good() {
    // CRDT-9: sync_data and nonce_send over 8 KiB are dropped, so the lost
    // updates are never repaired.
    let counts = sweep(
        "counter-crdt9-message-cliff-faithful.json",
        &["convergence", "counter-final"],
        &["sync-liveness"],
    );
    // Today: 19,996 of seeds 0..20000.
    at_least(&counts, "sync-liveness", 45);
    let n = notes("counter-crdt9-message-cliff-faithful.json");
    assert!(
        n.iter()
            .any(|l| l.starts_with("n1 is still in sync and lacks 700 op(s) of n0")),
        "{n:#?}"
    );
    assert!(
        n.iter()
            .any(|l| l.contains("message(s) over 8192 bytes")
                && !l.contains(" dropped 0 message(s)")),
        "{n:#?}"
    );
}

#[test]
fn message_cliff_is_what_loses_the_updates() {
    // The same run with the limit lifted converges on most seeds: the
    // 8 KiB cliff, not the lost datagrams alone, is what keeps it apart.
    let mut v = bundled("counter-crdt9-message-cliff-faithful.json");
    v["params"]["max_message_bytes"] = 1_000_000.into();
    v["expect"] = serde_json::json!({});
    let file = scratch("counter-cliff", "no-cliff.json", &v.to_string());
    let mut diverged = 0;
    for seed in SEEDS {
        let out = dsim(&[
            "run",
            file.to_str().unwrap(),
            "--json",
            "--seed",
            &seed.to_string(),
        ]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        diverged += usize::from(report["checks"]["convergence"] == "violation");
    }
    // Today about one seed in nine diverges (the storm's losses).
    assert!(
        diverged <= 20,
        "{diverged} of 50 diverged without the cliff"
    );
}

#[test]
fn message_cliff_intended_repairs_the_lost_updates() {
    sweep("counter-crdt9-message-cliff-intended.json", &[], &[]);
}

#[test]
fn delayed_update_after_a_reset_is_counted_twice() {
    // CRDT-5: n0's nonce-4 update reaches n1 only after n1's reset folded
    // that op into the baseline; n1 adds it again, for good.
    let file = "counter-crdt5-delayed-update-faithful.json";
    sweep(
        file,
        &["counter-bounds", "counter-final", "convergence"],
        &[],
    );
    let notes = notes(file);
    assert!(
        notes.iter().any(|n| n.starts_with("n1 ")
            && n.contains("delayed update (key 0, nonce 4, +10)")
            && n.contains("counted twice")),
        "{notes:#?}"
    );
    let (_, report) = run(file, None);
    let d = &report["details"]["counter-final"];
    assert!(
        d["evidence"][0]
            .as_str()
            .unwrap()
            .starts_with("n1 key 0 = "),
        "only n1 is off: {d}"
    );
}

#[test]
fn delayed_update_intended_is_ignored_after_the_reset() {
    sweep("counter-crdt5-delayed-update-intended.json", &[], &[]);
}

#[test]
fn baseline_clobber_by_sync_data_of_a_node_that_missed_the_reset() {
    // CRDT-7: n2 never joined the reset; its sync_data sets n0's and n1's
    // baselines back to 0 and puts its full history in their op logs.
    let file = "counter-crdt7-baseline-clobber-faithful.json";
    sweep(
        file,
        &["counter-bounds", "counter-final", "convergence"],
        &[],
    );
    let notes = notes(file);
    for node in ["n0", "n1"] {
        assert!(
            notes.iter().any(|n| n.starts_with(&format!("{node} "))
                && n.contains("took n2's sync_data")
                && n.contains("replaced by 0")),
            "{node}: {notes:#?}"
        );
    }
    let (_, report) = run(file, None);
    let groups = report["details"]["convergence"]["summary"]
        .as_str()
        .unwrap();
    assert!(groups.contains("{n0,n1} {n2}"), "{groups}");
}

#[test]
fn baseline_clobber_intended_keeps_one_epoch() {
    sweep("counter-crdt7-baseline-clobber-intended.json", &[], &[]);
}

#[test]
fn a_bad_sync_data_period_is_refused() {
    let mut v = bundled("counter-crdt7-baseline-clobber-faithful.json");
    v["params"]["sync_data_ms"] = 0.into();
    let file = scratch("counter", "bad-sync-data.json", &v.to_string());
    let out = dsim(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("sync_data_ms must be from 1 to 3600000"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn intended_sync_data_during_and_after_a_round_keeps_the_sum() {
    // The CRDT-7 intended run with sync_data every 700 ms (some go out
    // while the round is finishing: a peer that already reset must not
    // lend its new baseline to a node still holding the old ops) and every
    // 1000 ms (one goes out in the same instant as the adds at 4000 ms and
    // is overtaken by them: it must not replace the record of the newer
    // op). Before the fixes 160 of seeds 0..500 and 979 of 0..1000 failed.
    let base = bundled("counter-crdt7-baseline-clobber-intended.json");
    for period in [700, 1000] {
        let mut v = base.clone();
        v["params"]["sync_data_ms"] = period.into();
        let name = format!("sync-data-{period}.json");
        let file = scratch("counter", &name, &v.to_string());
        let out = dsim(&["fuzz", file.to_str().unwrap(), "--seeds", "0..40"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "sync_data_ms {period}: {}",
            text(&out.stdout)
        );
    }
}

/// The notes of `file` on `seed` (the scenario's own when `None`).
fn notes_at(file: &str, seed: Option<u64>) -> Vec<String> {
    let (_, report) = run(file, seed);
    report["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| n.as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn restart_reuses_nonces_and_loses_increments() {
    // CRDT-8: n1 restarts blank; its new ops reuse nonces 0.. and its
    // sync_data replaces the peers' record of its old ops.
    let file = "counter-crdt8-restart-reuses-nonces-faithful.json";
    let counts = sweep(file, &["counter-final"], &["convergence"]);
    // Today the replicas also disagree on 13876 of seeds 0..20000.
    at_least(&counts, "convergence", 20);
    for seed in std::iter::once(None).chain((1000..1010).map(Some)) {
        let notes = notes_at(file, seed);
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("n1 restarted at") && n.contains("nonces and baseline at 0")),
            "{seed:?}: {notes:#?}"
        );
        // A peer overwrote n1's old op at a reused nonce (noted as a second
        // count when the new delta equals the old one: 8 of seeds
        // 0..20000), or n1's new history replaced the record of its old ops.
        assert!(
            notes.iter().any(|n| {
                n.contains("got n1's key 0 nonce") && n.contains("overwritten")
                    || n.contains("replaced its record of n1's key 0 ops")
                    || n.contains("counted n1's op (key 0, nonce")
            }),
            "{seed:?}: {notes:#?}"
        );
    }
}

#[test]
fn restart_intended_keeps_its_op_log() {
    sweep(
        "counter-crdt8-restart-reuses-nonces-intended.json",
        &[],
        &[],
    );
}

#[test]
fn unknown_nonce_request_gets_no_reply() {
    // CRDT-10: n0 holds n1's max-nonce dict from before n1's restart and
    // asks for ops n1 no longer has: no reply, ever.
    let file = "counter-crdt10-unknown-nonce-faithful.json";
    let counts = sweep(
        file,
        &["convergence", "counter-final"],
        &["sync-liveness", "availability", "counter-bounds"],
    );
    // Today a node is still out of work at the end on 16873 of seeds
    // 0..20000.
    at_least(&counts, "sync-liveness", 30);
    at_least(&counts, "availability", 30);
    let mut looping = 0;
    for seed in std::iter::once(None).chain((1000..1020).map(Some)) {
        let notes = notes_at(file, seed);
        assert!(
            notes.iter().any(|n| n.starts_with("n1 at")
                && n.contains("sent no reply to n0's nonce_request for key 0")),
            "{seed:?}: {notes:#?}"
        );
        looping += usize::from(
            notes
                .iter()
                .any(|n| n.starts_with("n0 is still in sync and lacks")),
        );
    }
    // n0 still asking for n1's ops at the end: about one seed in three.
    assert!(
        looping >= 2,
        "n0 loops in sync on only {looping} of 21 seeds"
    );
}

#[test]
fn unknown_nonce_intended_answers_and_survives_the_crash() {
    sweep("counter-crdt10-unknown-nonce-intended.json", &[], &[]);
    // The same run with either node crashing inside the sync round or
    // just after it: the intended node resumes from its durable state.
    let base = bundled("counter-crdt10-unknown-nonce-intended.json");
    for node in [0, 1] {
        for crash in [1005, 1040, 1080, 1120] {
            let mut v = base.clone();
            v["faults"][1]["at_ms"] = crash.into();
            v["faults"][1]["node"] = node.into();
            v["faults"][2]["at_ms"] = (crash + 250).into();
            v["faults"][2]["node"] = node.into();
            let name = format!("crdt10-intended-n{node}-{crash}.json");
            let file = scratch("counter", &name, &v.to_string());
            for seed in 0..8 {
                let seed = seed.to_string();
                let out = dsim(&["run", file.to_str().unwrap(), "--json", "--seed", &seed]);
                let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(
                    report["as_expected"], true,
                    "n{node} crashing at {crash} ms, seed {seed}: {:#}",
                    report["checks"]
                );
            }
        }
    }
}
