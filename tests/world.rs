//! The world beyond replicas, through the built binary: services, client
//! processes, halts, pauses, message rules, receiver-side partitions, the
//! generic checks, and the errors a scenario gets for each new field.

mod common;

use std::path::PathBuf;

use serde_json::Value;

use common::{dsim, text};

fn scratch(name: &str, contents: &str) -> PathBuf {
    common::scratch("world", name, contents)
}

/// The trace of a run of `contents`, one parsed record per line.
fn trace(name: &str, contents: &str) -> (Value, Vec<Value>) {
    let p = scratch(name, contents);
    let t = p.with_extension("trace.jsonl");
    let out = dsim(&[
        "run",
        p.to_str().unwrap(),
        "--json",
        "--trace",
        t.to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: {e}: {}", text(&out.stderr)));
    let lines = std::fs::read_to_string(&t).expect("trace written");
    let recs = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("trace line is JSON"))
        .collect();
    (report, recs)
}

fn events<'a>(recs: &'a [Value], ev: &str) -> Vec<&'a Value> {
    recs.iter().filter(|r| r["ev"] == ev).collect()
}

#[test]
fn every_new_fault_shows_in_the_trace_and_the_report() {
    let sc = r#"{
      "protocol": "seqlog", "variant": "naive", "nodes": 3, "seed": 4,
      "network": {"latency": {"dist": "fixed", "ms": 2}, "partition_mode": "receiver"},
      "workload": {"clients": 3, "ops": 40, "keys": 1, "timeout_ms": 300},
      "faults": [
        {"kind": "message", "at_ms": 0, "to": [2], "msg": "entry", "where": {"pos": 2}, "occurrence": 1, "action": "duplicate", "copies": 1},
        {"kind": "message", "at_ms": 0, "until_ms": 60, "from": ["sequencer"], "to": [0], "msg": "entry", "action": "delay", "delay_ms": 1},
        {"kind": "message", "at_ms": 0, "to": [0], "msg": "entry", "where": {"pos": 9}, "occurrence": 1, "action": "hold", "hold_until_ms": 500},
        {"kind": "pause", "at_ms": 5, "node": "n1"},
        {"kind": "resume", "at_ms": 40, "node": 1},
        {"kind": "partition", "at_ms": 60, "groups": [[0], [1, 2, "sequencer"]]},
        {"kind": "heal", "at_ms": 300}
      ],
      "checks": ["no-halts", "convergence"],
      "expect": {"no-halts": "any", "convergence": "any"}
    }"#;
    let (report, recs) = trace("all-faults.json", sc);
    let fates: Vec<&str> = events(&recs, "send")
        .iter()
        .filter_map(|r| r["fate"].as_str())
        .collect();
    for f in ["duplicate", "delay", "hold"] {
        assert!(fates.contains(&f), "a send taken by a {f} rule: {fates:?}");
    }
    // The duplicated entry 2 reached n2 twice: n2 (naive, halt on gap)
    // halts when the copy arrives after it already applied position 2.
    // (n0, which missed entries in the cut, halts later on a gap too.)
    let halts = events(&recs, "halt");
    assert_eq!(halts[0]["node"], 2, "{halts:?}");
    assert_eq!(report["halts"][0]["node"], "n2");
    assert!(report["halts"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("entry 2 arrived when 3"));
    // Messages to the paused n1 waited.
    assert!(!events(&recs, "park").is_empty());
    assert!(
        !events(&recs, "rule_end").is_empty(),
        "the delay rule ended at 60 ms"
    );
    // Receiver-side partitions drop without a connection error: the same
    // run with `drop` partitions reports more of them (those of the halt
    // are in both).
    let partition_drops = events(&recs, "drop")
        .iter()
        .filter(|r| r["reason"] == "partition")
        .count();
    assert!(partition_drops > 0);
    let (_, with_drop) = trace(
        "all-faults-drop.json",
        &sc.replace("\"receiver\"", "\"drop\""),
    );
    assert_eq!(
        events(&with_drop, "link_error").len(),
        events(&recs, "link_error").len() + partition_drops,
    );
    let kinds: Vec<&str> = events(&recs, "fault")
        .iter()
        .filter_map(|r| r["fault"]["kind"].as_str())
        .collect();
    for k in ["message", "pause", "resume", "partition", "heal"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
}

#[test]
fn the_same_scenario_without_the_duplicate_does_not_halt() {
    // The control for the test above: the halt comes from the rule.
    let sc = r#"{
      "protocol": "seqlog", "variant": "naive", "nodes": 3, "seed": 4,
      "network": {"latency": {"dist": "fixed", "ms": 2}},
      "workload": {"clients": 3, "ops": 40, "keys": 1, "timeout_ms": 300},
      "checks": ["no-halts"]
    }"#;
    let (report, recs) = trace("no-duplicate.json", sc);
    assert!(events(&recs, "halt").is_empty());
    assert_eq!(report["checks"]["no-halts"], "pass");
}

#[test]
fn the_apply_on_arrival_divergence_needs_its_rule() {
    let path = format!(
        "{}/scenarios/seqlog-apply-on-arrival.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut sc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    sc["faults"] = Value::Array(Vec::new());
    sc["expect"] = serde_json::json!({});
    let p = scratch("no-rule.json", &sc.to_string());
    let out = dsim(&["run", p.to_str().unwrap(), "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["checks"]["replica-agreement"], "pass");
    assert_eq!(report["checks"]["convergence"], "pass");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn the_purpose_built_scenarios_show_each_generic_check() {
    // Each generic check fails where a scenario says it must, on the
    // scenario's seed and 50 more, and passes on the benign run.
    common::sweep("seqlog-benign.json", &[], &[]);
    common::sweep(
        "seqlog-gap-halt.json",
        &["no-halts", "availability", "liveness"],
        &[],
    );
    common::sweep(
        "seqlog-apply-on-arrival.json",
        &["replica-agreement", "convergence"],
        &[],
    );
    common::sweep("seqlog-stale-reads.json", &["monotonic-reads"], &[]);
    common::sweep("seqlog-pause.json", &["availability"], &[]);
    common::sweep("seqlog-fanout-budget.json", &["message-budget"], &[]);
    common::sweep("seqlog-sequencer-cut.json", &[], &[]);
    common::sweep("seqlog-sequencer-cut-generic.json", &["availability"], &[]);
}

#[test]
fn protocol_clients_mask_the_cut_that_fails_the_generic_client() {
    let (_, protocol) = common::run("seqlog-sequencer-cut.json", Some(7));
    let (_, generic) = common::run("seqlog-sequencer-cut-generic.json", Some(7));
    assert_eq!(protocol["checks"]["availability"], "pass");
    assert_eq!(generic["checks"]["availability"], "violation");
    // Client processes exchange messages over the network; the generic
    // client sends none.
    assert!(protocol["messages"]["sent"].as_u64() > generic["messages"]["sent"].as_u64());
}

/// Runs a broken scenario and returns its one stderr line.
fn bad(name: &str, contents: &str) -> String {
    let p = scratch(name, contents);
    let out = dsim(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{name}: one line, got:\n{err}");
    assert!(err.contains(name), "{err}");
    err
}

fn seqlog_with(extra: &str) -> String {
    format!(r#"{{"protocol": "seqlog", "nodes": 3, "workload": {{"ops": 4}}, {extra}}}"#)
}

#[test]
fn new_fields_refuse_bad_values_with_located_messages() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "svc-unknown.json",
            r#""services": [{"name": "stream"}]"#,
            &[
                ":1:",
                "services[0].name",
                "unknown service \"stream\"",
                "allowed: sequencer",
            ],
        ),
        (
            "svc-knob.json",
            r#""services": [{"name": "sequencer", "params": {"batch": 3}}]"#,
            &["services[0].params", "unknown field `batch`"],
        ),
        (
            "proc-name.json",
            r#""faults": [{"kind": "pause", "at_ms": 1, "node": "stream"}]"#,
            &[
                "faults[0].node",
                "no process is called \"stream\"",
                "\"sequencer\"",
            ],
        ),
        (
            "client-name.json",
            r#""faults": [{"kind": "crash", "at_ms": 1, "node": "c0"}]"#,
            &["faults[0].node", "no process is called \"c0\""],
        ),
        (
            "rule-copies.json",
            r#""faults": [{"kind": "message", "at_ms": 1, "action": "duplicate"}]"#,
            &["faults[0].action", "action duplicate needs copies"],
        ),
        (
            "rule-where.json",
            r#""faults": [{"kind": "message", "at_ms": 1, "action": "drop", "where": {"a": 1, "b": 2}}]"#,
            &["faults[0].where", "exactly one field"],
        ),
        (
            "rule-occurrence.json",
            r#""faults": [{"kind": "message", "at_ms": 1, "action": "drop", "occurrence": 0}]"#,
            &["faults[0].occurrence", "count from 1"],
        ),
        (
            "rule-until.json",
            r#""faults": [{"kind": "message", "at_ms": 9, "until_ms": 9, "action": "drop"}]"#,
            &["faults[0].until_ms", "must be after at_ms (9)"],
        ),
        (
            "rule-mixed.json",
            r#""faults": [{"kind": "message", "at_ms": 1, "action": "drop", "delay_ms": 5}]"#,
            &[
                "faults[0].delay_ms",
                "delay_ms goes with action delay, not drop",
            ],
        ),
        (
            "rule-unknown.json",
            r#""faults": [{"kind": "message", "at_ms": 1, "action": "drop", "kind_of": "x"}]"#,
            &["unknown field `kind_of`"],
        ),
        (
            "budget.json",
            r#""checks": ["message-budget"]"#,
            &["check_params.message-budget.max_per_op", "needs a limit"],
        ),
        (
            "avail.json",
            r#""check_params": {"availability": {"min_ok": 1.5}}"#,
            &["check_params.availability.min_ok", "fraction from 0 to 1"],
        ),
        (
            "params-unknown.json",
            r#""check_params": {"latency": {}}"#,
            &["unknown field `latency`"],
        ),
        (
            "mode.json",
            r#""network": {"partition_mode": "sender"}"#,
            &["network.partition_mode", "receiver"],
        ),
    ];
    for (name, extra, wants) in cases {
        let err = bad(name, &seqlog_with(extra));
        for w in *wants {
            assert!(err.contains(w), "{name}: want {w:?} in: {err}");
        }
    }
    let lww = r#"{"protocol": "lww", "nodes": 3, "workload": {"client": "protocol"}}"#;
    let err = bad("lww-client.json", lww);
    assert!(
        err.contains("workload.client")
            && err.contains("lww cannot run the protocol client; allowed: generic"),
        "{err}"
    );
    let err = bad(
        "lww-svc.json",
        r#"{"protocol": "lww", "nodes": 3, "services": [{"name": "sequencer"}]}"#,
    );
    assert!(err.contains("lww runs no services"), "{err}");
}

#[test]
fn a_printed_seqlog_scenario_names_its_default_service_and_runs_the_same() {
    let out = dsim(&["run", "scenarios/seqlog-benign.json", "--print-scenario"]);
    let printed = text(&out.stdout);
    let v: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(v["services"][0]["name"], "sequencer");
    let p = scratch("printed.json", &printed);
    let a = dsim(&["run", "scenarios/seqlog-benign.json", "--json"]);
    let b = dsim(&["run", p.to_str().unwrap(), "--json"]);
    let fa: Value = serde_json::from_slice(&a.stdout).unwrap();
    let fb: Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_eq!(fa["trace_fingerprint"], fb["trace_fingerprint"]);
}
