//! End-to-end runs of the LWW scenarios through the built `dsim` binary,
//! each on its own seed and on 50 further seeds, with every check's verdict
//! pinned here as well as in the scenario's `expect`.

mod common;

use common::*;

#[test]
fn origin_blindness_faithful_never_converges() {
    sweep(
        "lww-origin-blindness-faithful.json",
        &["convergence", "linearizability"],
        &[],
    );
}

#[test]
fn origin_blindness_intended_converges_and_is_linearizable() {
    sweep("lww-origin-blindness-intended.json", &[], &[]);
}

#[test]
fn clock_skew_loses_an_acknowledged_write_though_replicas_agree() {
    sweep("lww-clock-skew-lost-update.json", &["linearizability"], &[]);
}

#[test]
fn stale_read_without_partition() {
    sweep("lww-stale-read.json", &["linearizability"], &[]);
}

#[test]
fn split_brain_faithful_never_converges() {
    sweep(
        "lww-split-brain-faithful.json",
        &["convergence", "linearizability"],
        &[],
    );
}

#[test]
fn split_brain_intended_converges_but_is_not_linearizable() {
    sweep("lww-split-brain-intended.json", &["linearizability"], &[]);
}

#[test]
fn benign_run_converges() {
    sweep("lww-benign.json", &[], &[]);
}

/// The control for the split brain: the same scenario with its faults
/// removed converges on every seed, so the partition (and the dead links it
/// leaves) is what breaks convergence, not origin blindness or timestamp
/// ties.
#[test]
fn split_brain_faithful_converges_without_the_partition() {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/lww-split-brain-faithful.json"
    ))
    .unwrap();
    let mut sc: serde_json::Value = serde_json::from_str(&src).unwrap();
    sc["faults"] = serde_json::json!([]);
    sc["checks"] = serde_json::json!(["convergence"]);
    sc["expect"] = serde_json::json!({});
    let dir = std::env::temp_dir().join(format!("dsim-lww-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("no-partition.json");
    std::fs::write(&path, sc.to_string()).unwrap();
    for seed in std::iter::once(7).chain(SEEDS) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
            .args([
                "run",
                path.to_str().unwrap(),
                "--seed",
                &seed.to_string(),
                "--json",
            ])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["checks"]["convergence"], "pass",
            "seed {seed}: diverged without any fault"
        );
    }
}
