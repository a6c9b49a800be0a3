//! End-to-end runs of the Gossip Glomers transaction scenarios (GG-10 to
//! GG-14, benign, intended under partitions) through the built `dsim`
//! binary, on their own seed and 50 more, with the mechanism each
//! description names checked in the report; and `dsim check --model
//! rw-register` reading a run's history.

mod common;

use common::*;

fn detail(report: &serde_json::Value, check: &str) -> String {
    report["details"][check].to_string()
}

#[test]
fn gg10_equal_versions_keep_the_first_arrival_and_replicas_diverge() {
    sweep(
        "gg10-txn-b-version-tie-divergence.json",
        &["convergence"],
        &[],
    );
    let (_, r) = run("gg10-txn-b-version-tie-divergence.json", None);
    assert!(
        detail(&r, "convergence").contains("key 1: n0=2 n1=3 n2=2"),
        "{r:#}"
    );
    assert_eq!(r["checks"]["rw-register"], "pass");
}

#[test]
fn gg10_two_txns_on_one_node_tie_too() {
    sweep(
        "gg10-txn-b-version-tie-one-node.json",
        &["convergence"],
        &[],
    );
    let (_, r) = run("gg10-txn-b-version-tie-one-node.json", None);
    assert!(
        detail(&r, "convergence").contains("key 1: n0=2 n1=3"),
        "{r:#}"
    );
}

#[test]
fn gg11_a_read_before_the_self_gossip_misses_the_own_write() {
    sweep(
        "gg11-txn-b-read-your-writes-gap.json",
        &["read-your-writes"],
        &[],
    );
    let (_, r) = run("gg11-txn-b-read-your-writes-gap.json", None);
    let d = detail(&r, "read-your-writes");
    assert!(
        d.contains("process 0 wrote 1 = 1 in T0, then T1 read 1 = nil"),
        "{d}"
    );
}

#[test]
fn gg12_a_gossiped_intermediate_write_is_read_g1b() {
    sweep("gg12-txn-b-intermediate-read.json", &["rw-register"], &[]);
    let (_, r) = run("gg12-txn-b-intermediate-read.json", None);
    let d = detail(&r, "rw-register");
    assert!(d.contains("not read-committed: G1b (1 anomaly"), "{d}");
    assert!(d.contains("an intermediate write of T0"), "{d}");
}

#[test]
fn gg13_txn_c_replicates_nothing_and_spins() {
    sweep(
        "gg13-txn-c-replicates-nothing.json",
        &["convergence", "spin"],
        &[],
    );
    let (_, r) = run("gg13-txn-c-replicates-nothing.json", None);
    assert!(detail(&r, "convergence").contains("n0=1 n1=(absent)"));
    assert!(detail(&r, "spin").contains("2 send loop(s) spin for ever"));
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("n0 (faithful-c): 1 send loop(s) spinning"),
        "{notes}"
    );
}

#[test]
fn gg14_zero_for_null_makes_a_spurious_g1c_and_a_garbage_read() {
    sweep("gg14-txn-a-zero-for-null.json", &["rw-register"], &[]);
    let (_, r) = run("gg14-txn-a-zero-for-null.json", None);
    let d = detail(&r, "rw-register");
    // Elle reports no garbage-read, so it fails no model (dsim lists it).
    assert!(d.contains("not read-committed: G1c"), "{d}");
    assert!(d.contains("T0 read 1 = 0, which T1 wrote"), "{d}");
}

#[test]
fn benign_and_intended_under_partitions_pass_on_every_seed() {
    sweep("gg-txn-benign.json", &[], &[]);
    sweep("gg-txn-intended-partition.json", &[], &[]);
}

#[test]
fn dsim_check_reads_a_txn_run_history() {
    let history = std::env::temp_dir().join(format!("dsim-txn-{}.jsonl", std::process::id()));
    let h = history.to_str().unwrap();
    let out = dsim(&[
        "run",
        "scenarios/gg12-txn-b-intermediate-read.json",
        "--history",
        h,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rc = dsim(&[
        "check",
        "--model",
        "rw-register",
        "--consistency",
        "read-committed",
        h,
    ]);
    assert_eq!(rc.status.code(), Some(1), "{}", text(&rc.stdout));
    assert!(text(&rc.stdout).contains("not read-committed: G1b"));
    let ru = dsim(&[
        "check",
        "--model",
        "rw-register",
        "--consistency",
        "read-uncommitted",
        h,
    ]);
    assert_eq!(ru.status.code(), Some(0), "{}", text(&ru.stdout));
    let bad = dsim(&[
        "check",
        "--model",
        "rw-register",
        "--consistency",
        "snapshot",
        h,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("allowed: read-uncommitted, read-committed"));
    let wrong = dsim(&["check", "--model", "kv", "--consistency", "serializable", h]);
    assert_eq!(wrong.status.code(), Some(2));
    let _ = std::fs::remove_file(&history);
}

#[test]
fn each_hand_made_history_shows_exactly_its_anomaly() {
    const MODELS: [&str; 5] = [
        "read-uncommitted",
        "read-committed",
        "repeatable-read",
        "serializable",
        "strict-serializable",
    ];
    for (file, kind, weakest) in [
        ("g0", "G0", 0),
        // Listed, but Elle fails no model for it.
        ("garbage-read", "garbage-read", 99),
        ("g1a", "G1a", 1),
        ("g1b", "G1b", 1),
        ("g1c", "G1c", 1),
        // Elle's repeatable read forbids G2-item, not G-single.
        ("g-single", "G-single", 3),
        ("g2-item", "G2-item", 2),
        ("internal", "internal", 3),
        ("g-single-realtime", "G-single-realtime", 4),
    ] {
        let path = format!("checker/tests/rw-register/{file}.jsonl");
        // A ww edge needs a version order past the initial state: G0 is
        // found with writes-follow-reads (Elle's :wfr-keys?), not by default.
        let wfr = if file == "g0" { "--wfr-keys" } else { "--" };
        for (m, model) in MODELS.iter().enumerate() {
            let out = dsim(&[
                "check",
                "--model",
                "rw-register",
                "--consistency",
                model,
                wfr,
                &path,
            ]);
            let want = if m >= weakest { 1 } else { 0 };
            assert_eq!(
                out.status.code(),
                Some(want),
                "{file} at {model}: {}",
                text(&out.stdout)
            );
            if m >= weakest {
                let expected = format!("not {model}: {kind} (1 anomaly in all)");
                assert!(
                    text(&out.stdout).replace('\n', " ").contains(&expected),
                    "{file} at {model}: {}",
                    text(&out.stdout)
                );
            }
        }
    }
}

#[test]
fn a_mix_sets_the_txn_generator_and_a_bad_one_is_refused() {
    let base = std::fs::read_to_string(format!(
        "{}/scenarios/gg-txn-benign.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut s: serde_json::Value = serde_json::from_str(&base).unwrap();
    s["workload"]["ops"] = 200.into();
    s["workload"]["mix"] =
        serde_json::json!([{"f": "txn", "value": {"txn": {"keys": 2, "max_len": 6}}}]);
    let good = scratch("txn", "mix.json", &s.to_string());
    let history = scratch("txn", "mix.jsonl", "");
    let out = dsim(&[
        "run",
        good.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let mut longest = 0;
    for line in std::fs::read_to_string(&history).unwrap().lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let mops = e["value"].as_array().unwrap();
        longest = longest.max(mops.len());
        assert!(mops.len() <= 6);
        assert!(mops.iter().all(|m| m[1].as_i64().unwrap() < 2), "{line}");
    }
    assert!(longest > 4, "the mix's max_len is used");
    s["workload"]["mix"] =
        serde_json::json!([{"f": "txn", "value": {"txn": {"keys": 0, "max_len": 6}}}]);
    let bad = scratch("txn", "bad.json", &s.to_string());
    let out = dsim(&["run", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("workload.mix[0].value.txn: must be"),
        "{}",
        text(&out.stderr)
    );
}
