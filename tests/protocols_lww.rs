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
