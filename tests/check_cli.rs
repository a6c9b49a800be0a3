//! `dsim check` end to end: the built binary, its exit codes and output.

use std::path::PathBuf;
use std::process::{Command, Output};

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("checker/tests/corpus")
        .join(name)
}

fn dsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(args)
        .output()
        .expect("run dsim")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes `text` to a fresh temporary file and returns its path.
fn temp_history(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dsim-check-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn linearizable_history_exits_0() {
    let file = corpus("kv_c10-ok.jsonl");
    let output = dsim(&["check", file.to_str().unwrap(), "--model", "kv-append"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).starts_with("linearizable\n"));
    assert!(stdout(&output).contains("10 keys: 10 linearizable"));
}

#[test]
fn violation_exits_1_with_a_witness_and_explanation() {
    let file = corpus("etcd_040.jsonl");
    let output = dsim(&["check", file.to_str().unwrap(), "--model", "cas-register"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("NOT linearizable\n"), "{text}");
    assert!(text.contains("|- read -> 4 -|"), "{text}");
    assert!(
        text.contains("read by process 10 returned 4, but write 2 by process 14 completed"),
        "{text}"
    );
}

#[test]
fn json_output_carries_verdict_key_and_witness() {
    let history = temp_history(
        "stale.jsonl",
        concat!(
            r#"{"process":0,"type":"invoke","f":"write","key":"x","value":1,"time":10}"#,
            "\n",
            r#"{"process":0,"type":"ok","f":"write","key":"x","value":1,"time":20}"#,
            "\n",
            r#"{"process":1,"type":"invoke","f":"write","key":"x","value":2,"time":30}"#,
            "\n",
            r#"{"process":1,"type":"ok","f":"write","key":"x","value":2,"time":40}"#,
            "\n",
            r#"{"process":3,"type":"invoke","f":"read","key":"x","value":null,"time":50}"#,
            "\n",
            r#"{"process":3,"type":"ok","f":"read","key":"x","value":1,"time":60}"#,
            "\n",
        ),
    );
    let output = dsim(&[
        "check",
        history.to_str().unwrap(),
        "--model",
        "kv",
        "--json",
    ]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(json["verdict"], "not-linearizable");
    assert_eq!(json["model"], "kv");
    assert_eq!(json["ops"], 3);
    assert_eq!(json["key"], "x");
    let witness = &json["witness"];
    assert_eq!(witness["ops"].as_array().unwrap().len(), 3);
    assert_eq!(witness["minimal"], true);
    let explanation = witness["explanation"].as_str().unwrap();
    assert!(
        explanation.starts_with(
            "read of x by process 3 returned 1, but write x=2 by process 1 completed before \
             the read began, and nothing wrote 1 after it"
        ),
        "{explanation}"
    );
}

#[test]
fn exhausted_budget_exits_3() {
    let file = corpus("etcd_002.jsonl");
    let output = dsim(&[
        "check",
        file.to_str().unwrap(),
        "--model",
        "cas-register",
        "--budget",
        "100",
    ]);
    assert_eq!(code(&output), 3, "{}", stderr(&output));
    assert!(stdout(&output).starts_with("unknown"));
}

#[test]
fn initial_value_is_json_and_changes_the_verdict() {
    let history = temp_history(
        "initial.jsonl",
        concat!(
            r#"{"process":0,"type":"invoke","f":"read","value":null,"time":1}"#,
            "\n",
            r#"{"process":0,"type":"ok","f":"read","value":5,"time":2}"#,
            "\n",
        ),
    );
    let path = history.to_str().unwrap();
    assert_eq!(code(&dsim(&["check", path, "--model", "cas-register"])), 1);
    assert_eq!(
        code(&dsim(&[
            "check",
            path,
            "--model",
            "cas-register",
            "--initial",
            "5"
        ])),
        0
    );
    let bad = dsim(&[
        "check",
        path,
        "--model",
        "cas-register",
        "--initial",
        "five",
    ]);
    assert_eq!(code(&bad), 2);
    assert!(
        stderr(&bad).contains("--initial \"five\" is not JSON"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn bad_inputs_exit_2_naming_the_problem() {
    let file = corpus("kv_c01-ok.jsonl");
    let unknown = dsim(&["check", file.to_str().unwrap(), "--model", "nope"]);
    assert_eq!(code(&unknown), 2);
    assert!(stderr(&unknown).contains("allowed: cas-register, kv, kv-append, counter, bank"));

    let missing = dsim(&["check", "/no/such/history.jsonl", "--model", "kv"]);
    assert_eq!(code(&missing), 2);
    assert!(stderr(&missing).contains("cannot read history /no/such/history.jsonl"));

    let broken = temp_history(
        "broken.jsonl",
        concat!(
            r#"{"process":0,"type":"invoke","f":"read","value":null,"time":1}"#,
            "\n",
            r#"{"process":0,"type":"done","f":"read","value":null,"time":2}"#,
            "\n",
        ),
    );
    let output = dsim(&["check", broken.to_str().unwrap(), "--model", "kv"]);
    assert_eq!(code(&output), 2);
    let expected = format!("error: {}:2: unknown type \"done\"", broken.display());
    assert!(
        stderr(&output).starts_with(&expected),
        "{}",
        stderr(&output)
    );

    let shape = dsim(&["check", file.to_str().unwrap(), "--model", "cas-register"]);
    assert_eq!(code(&shape), 2);
    assert!(
        stderr(&shape).contains(":1: this model has no keys"),
        "{}",
        stderr(&shape)
    );
}
