//! The command-line contract, through the built binary: exit codes, one
//! clear located error for bad scenario files, the JSON report's shape, and
//! that the printed replay command reproduces the run.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{dsim, text};

fn scratch(name: &str, contents: &str) -> PathBuf {
    common::scratch("cli", name, contents)
}

const GOOD: &str = r#"{
  "protocol": "lww",
  "nodes": 3,
  "workload": { "ops": 20 },
  "faults": [ { "at_ms": 50, "kind": "crash", "node": 2 } ]
}"#;

/// Runs a broken scenario and returns its one stderr line.
fn bad(name: &str, contents: &str) -> String {
    let p = scratch(name, contents);
    let out = dsim(&["run", p.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{name}: exit code; stderr: {}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{name}: one line, got:\n{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains(name),
        "{name}: the message names the file: {err}"
    );
    err
}

#[test]
fn malformed_json_names_line_and_column() {
    let err = bad(
        "malformed.json",
        "{\n  \"protocol\": \"lww\",\n  \"nodes\": 3,,\n}",
    );
    assert!(err.contains("malformed.json:3:14: malformed JSON"), "{err}");
}

#[test]
fn unknown_field_is_an_error_that_lists_the_allowed_ones() {
    let err = bad(
        "unknown.json",
        "{\"protocol\": \"lww\", \"nodes\": 3,\n \"workload\": {\"opz\": 3}}",
    );
    assert!(err.contains("unknown.json:2:"), "{err}");
    assert!(err.contains("workload.opz"), "{err}");
    assert!(
        err.contains("unknown field `opz`") && err.contains("`ops`"),
        "{err}"
    );
}

#[test]
fn wrong_type_names_the_field() {
    let err = bad("type.json", "{\"protocol\": \"lww\", \"nodes\": \"three\"}");
    assert!(
        err.contains("type.json:1:") && err.contains("nodes:"),
        "{err}"
    );
    assert!(err.contains("expected a non-negative integer"), "{err}");
}

#[test]
fn node_id_out_of_range_is_located_after_parsing() {
    let err = bad(
        "range.json",
        "{\n \"protocol\": \"lww\",\n \"nodes\": 3,\n \"faults\": [\n  {\"at_ms\": 5, \"kind\": \"crash\", \"node\": 7}\n ]\n}",
    );
    assert!(err.contains("range.json:5:"), "{err}");
    assert!(
        err.contains("faults[0].node: node id 7 is out of range; this scenario has nodes 0..2"),
        "{err}"
    );
}

#[test]
fn negative_time_is_refused() {
    let err = bad(
        "negative.json",
        "{\"protocol\": \"lww\", \"nodes\": 3, \"faults\": [{\"kind\": \"heal\", \"at_ms\": -5}]}",
    );
    assert!(err.contains("faults[0].at_ms"), "{err}");
    assert!(err.contains("expected a non-negative integer"), "{err}");
}

#[test]
fn semantic_errors_say_what_is_allowed() {
    let err = bad("proto.json", "{\"protocol\": \"raft\", \"nodes\": 3}");
    assert!(
        err.contains("unknown protocol \"raft\"; allowed: lww"),
        "{err}"
    );
    let err = bad(
        "op.json",
        "{\"protocol\": \"lww\", \"nodes\": 3, \"workload\": {\"mix\": [{\"f\": \"incr\"}]}}",
    );
    assert!(
        err.contains("workload.mix[0].f: unknown operation \"incr\" for lww; allowed: write, read"),
        "{err}"
    );
    let err = bad(
        "prob.json",
        "{\"protocol\": \"lww\", \"nodes\": 3, \"network\": {\"drop\": 1.5}}",
    );
    assert!(
        err.contains("network.drop: probability 1.5 is out of range"),
        "{err}"
    );
    let err = bad(
        "stagger.json",
        "{\"protocol\": \"lww\", \"nodes\": 3, \"workload\": {\"rate\": {\"kind\": \"stagger\", \"mean_ms\": 0}}}",
    );
    assert!(
        err.contains("workload.rate.mean_ms: must be at least 1"),
        "{err}"
    );
    let err = bad(
        "stagger-field.json",
        "{\"protocol\": \"lww\", \"nodes\": 3, \"workload\": {\"rate\": {\"kind\": \"stagger\", \"interval_ms\": 5}}}",
    );
    assert!(
        err.contains("unknown field `interval_ms`, expected `mean_ms`"),
        "{err}"
    );
    let err = bad("expect.json", "{\"protocol\": \"lww\", \"nodes\": 3, \"checks\": [\"convergence\"], \"expect\": {\"bogus\": \"pass\"}}");
    assert!(err.contains("expect.bogus"), "{err}");
    let err = bad(
        "params.json",
        "{\"protocol\": \"lww\", \"nodes\": 3, \"params\": {\"targt\": \"self\"}}",
    );
    assert!(
        err.contains("params") && err.contains("unknown field `targt`"),
        "{err}"
    );
}

#[test]
fn loss_on_ordered_links_and_a_stray_tcp_timeout_are_errors() {
    let err = bad(
        "lossy.json",
        "{\"protocol\": \"lww\", \"nodes\": 3,\n \"network\": {\"duplicate\": 0.1}}",
    );
    assert!(
        err.contains("lossy.json:2:")
            && err.contains("network.duplicate: random duplicate on an ordered (TCP-like) link"),
        "{err}"
    );
    assert!(err.contains("\"lossy_ordered\": true"), "{err}");
    let err = bad(
        "lossy-link.json",
        "{\"protocol\": \"lww\", \"nodes\": 3, \"network\": {\"ordered\": false, \"drop\": 0.1, \"links\": [{\"from\": 0, \"to\": 1, \"ordered\": true}]}}",
    );
    assert!(err.contains("network.links[0].drop: random drop"), "{err}");
    let err = bad(
        "timeout.json",
        "{\"protocol\": \"lww\", \"nodes\": 3, \"network\": {\"tcp_timeout_ms\": 500}}",
    );
    assert!(
        err.contains("network.tcp_timeout_ms: applies only with \"partition_mode\": \"tcp\" (this network's is \"drop\")"),
        "{err}"
    );
    // Both are accepted when the scenario says so.
    for (name, network) in [
        ("lossy-ok.json", "{\"drop\": 0.1, \"lossy_ordered\": true}"),
        ("udp-ok.json", "{\"drop\": 0.1, \"ordered\": false}"),
        (
            "tcp-ok.json",
            "{\"partition_mode\": \"tcp\", \"tcp_timeout_ms\": 500}",
        ),
    ] {
        let text = format!("{{\"protocol\": \"lww\", \"nodes\": 3, \"network\": {network}}}");
        let p = scratch(name, &text);
        let out = dsim(&["run", p.to_str().unwrap()]);
        // It runs (a lossy run may fail its checks: exit 1); it is not refused.
        let stderr = self::text(&out.stderr);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{name}: {stderr}");
        assert!(!stderr.contains("error:"), "{name}: {stderr}");
    }
}

#[test]
fn lww_split_over_tcp_fails_links_only_past_the_socket_timeout() {
    let long = dsim(&["run", "scenarios/lww-split-brain-tcp-faithful.json"]);
    let out = text(&long.stdout);
    assert_eq!(long.status.code(), Some(0), "{out}");
    assert!(out.contains("link n0 -> n2 died at 202"), "{out}");
    assert!(
        out.contains("convergence      VIOLATION (expected)"),
        "{out}"
    );
    let short = dsim(&["run", "scenarios/lww-split-brain-tcp-short-faithful.json"]);
    let out = text(&short.stdout);
    assert_eq!(short.status.code(), Some(0), "{out}");
    assert!(
        !out.contains("died at"),
        "no link fails in a 700 ms stall: {out}"
    );
    assert!(out.contains("convergence      PASS"), "{out}");
}

#[test]
fn missing_file_and_bad_usage_exit_2() {
    let out = dsim(&["run", "no/such/file.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no/such/file.json: cannot read scenario file"));
    assert_eq!(dsim(&["run"]).status.code(), Some(2));
    assert_eq!(dsim(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        dsim(&["run", "scenarios/lww-benign.json", "--seed", "x"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn exit_codes_follow_expectations() {
    // As expected: a violation the scenario expects.
    let out = dsim(&["run", "scenarios/lww-split-brain-faithful.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // The same run, told to expect convergence, is not as expected.
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/lww-split-brain-faithful.json"
    ))
    .unwrap();
    let flipped = src.replace(
        "\"convergence\": \"violation\"",
        "\"convergence\": \"pass\"",
    );
    assert_ne!(src, flipped);
    let p = scratch("flipped.json", &flipped);
    let out = dsim(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(report.contains("NOT as expected: convergence"), "{report}");
}

#[test]
fn human_report_shows_evidence_fingerprint_and_replay() {
    let out = dsim(&["run", "scenarios/lww-split-brain-faithful.json"]);
    let r = text(&out.stdout);
    let line = |name: &str, what: &str| {
        r.lines()
            .any(|l| l.trim_start().starts_with(name) && l.contains(what))
    };
    assert!(
        line("convergence ", "VIOLATION (expected): replicas disagree"),
        "{r}"
    );
    assert!(line("linearizability ", "VIOLATION (expected)"), "{r}");
    assert!(
        r.contains("notes\n  link n"),
        "the notes name the dead links: {r}"
    );
    assert!(
        r.contains("key 0: n0="),
        "the differing key and each node's value: {r}"
    );
    assert!(r.contains("groups that agree: {"), "{r}");
    assert!(r.contains("fingerprint  "), "{r}");
    assert!(
        r.contains("replay       dsim run scenarios/lww-split-brain-faithful.json --seed 7"),
        "{r}"
    );
}

#[test]
fn json_report_has_the_documented_fields_and_replays() {
    let out = dsim(&[
        "run",
        "scenarios/lww-split-brain-faithful.json",
        "--seed",
        "11",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for k in [
        "scenario",
        "seed",
        "trace_fingerprint",
        "events",
        "checks",
        "as_expected",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert_eq!(v["seed"], 11);
    assert_eq!(v["checks"]["convergence"], "violation");
    assert_eq!(v["as_expected"], true);
    // The printed replay command gives the same fingerprint.
    let replay = v["replay"].as_str().unwrap();
    let args: Vec<&str> = replay
        .split_whitespace()
        .skip(1)
        .chain(["--json"])
        .collect();
    let again: serde_json::Value = serde_json::from_slice(&dsim(&args).stdout).unwrap();
    assert_eq!(again["trace_fingerprint"], v["trace_fingerprint"]);
    // Another seed is another run.
    let other: serde_json::Value = serde_json::from_slice(
        &dsim(&[
            "run",
            "scenarios/lww-split-brain-faithful.json",
            "--seed",
            "12",
            "--json",
        ])
        .stdout,
    )
    .unwrap();
    assert_ne!(other["trace_fingerprint"], v["trace_fingerprint"]);
}

#[test]
fn printed_scenario_is_complete_and_runs_the_same() {
    let p = scratch("good.json", GOOD);
    let out = dsim(&["run", p.to_str().unwrap(), "--print-scenario"]);
    assert_eq!(out.status.code(), Some(0));
    let eff: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(eff["variant"], "faithful", "default variant filled in");
    assert_eq!(
        eff["workload"]["clients"], 3,
        "clients default to one per node"
    );
    assert_eq!(eff["params"]["target"], "round-robin");
    assert_eq!(eff["workload"]["mix"][0]["f"], "write");
    assert_eq!(eff["checks"][0], "convergence");
    let q = scratch("effective.json", &text(&out.stdout));
    let a: serde_json::Value =
        serde_json::from_slice(&dsim(&["run", p.to_str().unwrap(), "--json"]).stdout).unwrap();
    let b: serde_json::Value =
        serde_json::from_slice(&dsim(&["run", q.to_str().unwrap(), "--json"]).stdout).unwrap();
    assert_eq!(a["trace_fingerprint"], b["trace_fingerprint"]);
}

#[test]
fn history_file_is_in_the_checker_format() {
    let h = scratch("history.jsonl", "");
    let out = dsim(&[
        "run",
        "scenarios/lww-origin-blindness-faithful.json",
        "--history",
        h.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&h)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 8, "4 operations, invoke + ok each");
    assert_eq!(lines[0]["type"], "invoke");
    assert_eq!(lines[0]["f"], "write");
    assert_eq!(lines[0]["key"], "0");
    assert_eq!(lines[0]["value"], 1);
    // n0's read misses its own write (origin blindness); n1's sees it.
    let reads: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["f"] == "read" && l["type"] == "ok")
        .collect();
    assert_eq!(reads.len(), 3);
    assert!(reads.iter().any(|r| r["value"].is_null()));
    assert!(reads.iter().any(|r| r["value"] == 1));
}

#[test]
fn list_shows_protocols_and_bundled_scenarios() {
    let out = dsim(&["list", "--all"]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out.stdout);
    assert!(
        t.contains("lww") && t.contains("variant  faithful") && t.contains("variant  intended"),
        "{t}"
    );
    assert!(t.contains("lww-split-brain-faithful"), "{t}");
    for model in ["cas-register", "kv", "kv-append", "counter", "bank"] {
        assert!(
            t.contains(&format!("  {model} ")),
            "model {model} listed: {t}"
        );
    }
    assert!(
        !t.contains("INVALID"),
        "every bundled scenario validates:\n{t}"
    );
}

#[test]
fn list_overview_counts_every_section_and_names_every_scenario_once() {
    let out = dsim(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out.stdout);
    let bundled: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        t.contains(&format!("scenarios ({} in scenarios)", bundled.len())),
        "{t}"
    );
    let protocols = dsim::Registry::bundled().names().len();
    assert!(t.contains(&format!("protocols ({protocols})")), "{t}");
    // Every scenario's name appears as a word of the overview, and the
    // per-protocol counts add up to the total.
    let words: Vec<&str> = t.split_whitespace().collect();
    for name in &bundled {
        assert!(words.contains(&name.as_str()), "{name} missing:\n{t}");
    }
    let counted: usize = t
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix("  ")?;
            let (_, rest) = l.split_once(" (")?;
            let (n, tail) = rest.split_once(')')?;
            tail.starts_with(' ')
                .then(|| n.parse::<usize>().ok())
                .flatten()
        })
        .sum();
    assert_eq!(counted, bundled.len(), "{t}");
    // The overview is a page, not the long form.
    assert!(!t.contains("variant  faithful"), "{t}");
    assert!(t.lines().count() < 150, "{} lines", t.lines().count());
}

#[test]
fn list_pattern_shows_only_what_matches_in_full() {
    let out = dsim(&["list", "VR"]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out.stdout);
    assert!(
        t.contains("variant  intended"),
        "the vr protocol in full: {t}"
    );
    assert!(t.contains("vr-8-view-change-deadlock"), "{t}");
    assert!(!t.contains("lww-benign"), "{t}");
    assert!(!t.contains("variant  naive"), "no other protocol: {t}");
    // A scenario matches through its name alone, too.
    let t = text(&dsim(&["list", "split-brain"]).stdout);
    assert!(
        t.contains("lww-split-brain-faithful") && t.contains("history-split-brain"),
        "{t}"
    );
    assert!(
        !t.contains("protocols ("),
        "no protocol is named split-brain: {t}"
    );
    // Nothing matches: a usage error that says how to see every name.
    let out = dsim(&["list", "no-such-thing"]);
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(
        e.contains("nothing matches \"no-such-thing\"") && e.contains("dsim list"),
        "{e}"
    );
}

#[test]
fn list_outside_the_repository_reads_no_build_directory() {
    let dir = std::env::temp_dir().join(format!("dsim-list-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .arg("list")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(
        s.contains("scenarios: none here (no ./scenarios directory)"),
        "{s}"
    );
    assert!(!s.contains("lww-benign"), "{s}");
    assert!(s.contains("seqlog"), "protocols are still listed: {s}");
}

#[test]
fn a_script_client_far_past_the_others_is_refused() {
    let err = bad(
        "far-client.json",
        r#"{"protocol":"lww","nodes":2,"workload":{"script":[{"at_ms":1,"client":9,"f":"read"}]}}"#,
    );
    assert!(
        err.contains("workload.script[0].client: client 9 would leave clients 2 to 8 idle"),
        "{err}"
    );
    // The next client after the generated ones is fine (a sync client).
    let p = scratch(
        "next-client.json",
        r#"{"protocol":"lww","nodes":2,"workload":{"ops":4,"script":[{"at_ms":1,"client":2,"f":"read"}]}}"#,
    );
    assert_eq!(dsim(&["run", p.to_str().unwrap()]).status.code(), Some(0));
}

#[test]
fn progress_is_reported_without_changing_the_run_and_stays_off_a_pipe() {
    let sc = dsim::scenario::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/bench-lww-w.json"
    )))
    .unwrap();
    let opts = dsim::runner::RunOptions {
        seed: sc.sim.seed,
        trace: None,
        observer: None,
        keep_history: false,
        trail_key: None,
        deadline: None,
    };
    let mut ticks = Vec::new();
    let watched = dsim::runner::run_with_progress(&sc, opts, &mut |p| ticks.push(p.events));
    assert!(!ticks.is_empty(), "a 1.5M-event run reports progress");
    assert!(ticks.windows(2).all(|w| w[0] < w[1]));
    // The binary's run (sliced the same way, unwatched through a pipe)
    // draws nothing on stderr and is the same run.
    let out = dsim(&["run", "scenarios/bench-lww-w.json"]);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let fp = format!("fingerprint  {:016x}", watched.fingerprint);
    assert!(text(&out.stdout).contains(&fp), "{fp}");
}

#[test]
fn witness_times_in_a_run_report_are_milliseconds() {
    let out = dsim(&["run", "scenarios/lww-stale-read.json"]);
    let s = text(&out.stdout);
    assert!(
        s.contains("write 1: invoked at 10 ms, returned 1 at 10 ms"),
        "{s}"
    );
    assert!(!s.contains("invoked at 10000"), "{s}");
}

#[test]
fn set_overrides_a_field_and_the_replay_line_repeats_it() {
    // lww-split-brain-faithful expects violations; the same file with the
    // intended variant passes every check, so its expectations are not met.
    let plain = dsim(&[
        "run",
        "scenarios/lww-split-brain-faithful.json",
        "--seed",
        "3",
    ]);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
    let changed = dsim(&[
        "run",
        "scenarios/lww-split-brain-faithful.json",
        "--seed",
        "3",
        "--set",
        "variant=intended",
    ]);
    assert_eq!(changed.status.code(), Some(1), "{}", text(&changed.stdout));
    let out = text(&changed.stdout);
    assert!(
        out.contains(
            "dsim run scenarios/lww-split-brain-faithful.json --seed 3 --set variant=intended"
        ),
        "the replay line repeats --set:\n{out}"
    );
    // The replay line is the same run: the same fingerprint.
    let again = dsim(&[
        "run",
        "scenarios/lww-split-brain-faithful.json",
        "--seed",
        "3",
        "--set",
        "variant=intended",
        "--json",
    ]);
    let again2 = dsim(&[
        "run",
        "scenarios/lww-split-brain-faithful.json",
        "--seed",
        "3",
        "--set",
        "variant=intended",
        "--json",
    ]);
    assert_eq!(again.stdout, again2.stdout);
    // A value needing quotes is quoted in the replay line.
    let q = dsim(&[
        "run",
        "scenarios/lww-benign.json",
        "--set",
        r#"workload.rate={"kind":"closed","think_ms":20}"#,
    ]);
    assert_eq!(q.status.code(), Some(0), "{}", text(&q.stderr));
}

#[test]
fn set_errors_name_the_field_and_exit_2() {
    let out = dsim(&["run", "scenarios/lww-benign.json", "--set", "nodez=3"]);
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(
        e.contains("scenarios/lww-benign.json (as changed by --set): nodez: unknown field `nodez`"),
        "{e}"
    );
    let out = dsim(&["run", "scenarios/lww-benign.json", "--set", "nodes.count=3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--set nodes.count=3: nodes is a number, which has no field"),
        "{}",
        text(&out.stderr)
    );
    let out = dsim(&["fuzz", "scenarios/lww-benign.json", "--set", "nodes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("expected KEY=VALUE"));
}
