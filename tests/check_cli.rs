//! `dsim check` end to end: the built binary, its exit codes and output.

use std::path::{Path, PathBuf};
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
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
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
    assert!(stderr(&unknown).contains(
        "allowed: cas-register, multi-register, mutex, set, kv, kv-append, list-append, counter, bank, versioned-kv"
    ));

    // Not text, or too large: refused before the rest is read.
    if Path::new("/dev/zero").exists() {
        let zero = dsim(&["check", "/dev/zero", "--model", "kv"]);
        assert_eq!(code(&zero), 2);
        assert!(stderr(&zero).contains("byte 0 is NUL"), "{}", stderr(&zero));
    }
    let capped = dsim(&[
        "check",
        file.to_str().unwrap(),
        "--model",
        "kv",
        "--max-input-mib",
        "0",
    ]);
    assert_eq!(code(&capped), 2);
    assert!(
        stderr(&capped).contains("larger than 0 MiB (raise the limit with --max-input-mib)"),
        "{}",
        stderr(&capped)
    );

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

fn jepsen(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("checker/tests/jepsen")
        .join(name)
}

#[test]
fn several_files_get_one_line_each_and_the_worst_exit_code() {
    let ok = corpus("etcd_002.jsonl");
    let bad = corpus("etcd_040.jsonl");
    let (ok, bad) = (ok.to_str().unwrap(), bad.to_str().unwrap());
    let output = dsim(&["check", ok, bad, "--model", "cas-register"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with(&format!("{ok}: linearizable (77 operations")));
    assert!(
        lines[1].starts_with(&format!(
            "{bad}: NOT linearizable; a witness of 4 operations (minimal)"
        )),
        "{text}"
    );

    // A file that cannot be read is reported, the others still checked; 2 wins.
    let output = dsim(&[
        "check",
        "/no/such.jsonl",
        ok,
        bad,
        "--model",
        "cas-register",
    ]);
    assert_eq!(code(&output), 2);
    assert_eq!(stdout(&output).lines().count(), 2);
    assert!(stderr(&output).starts_with("error: cannot read history /no/such.jsonl"));

    // Unknown (3) is less severe than a violation (1), more than a pass.
    let unknown = dsim(&["check", ok, "--model", "cas-register", "--budget", "100"]);
    assert_eq!(code(&unknown), 3);
    let both = dsim(&[
        "check",
        ok,
        bad,
        "--model",
        "cas-register",
        "--budget",
        "30000",
    ]);
    assert_eq!(code(&both), 1, "{}", stdout(&both));
    assert!(stdout(&both)
        .lines()
        .next()
        .unwrap()
        .contains(": unknown: the step budget"));

    // --json: one object per history, errors included.
    let output = dsim(&[
        "check",
        ok,
        "/no/such.jsonl",
        "--model",
        "cas-register",
        "--json",
    ]);
    let objects: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0]["verdict"], "linearizable");
    assert_eq!(objects[0]["empty"], false);
    assert_eq!(objects[1]["history"], "/no/such.jsonl");
    assert!(objects[1]["error"]
        .as_str()
        .unwrap()
        .starts_with("cannot read history"));
}

#[test]
fn a_directory_of_jepsen_histories_is_one_command() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("checker/tests/jepsen");
    let output = dsim(&["check", dir.to_str().unwrap(), "--model", "cas-register"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let text = stdout(&output);
    let verdicts: Vec<(String, bool)> = text
        .lines()
        .map(|l| {
            let (path, verdict) = l.split_once(": ").unwrap();
            let name = path.rsplit('/').take(2).collect::<Vec<_>>();
            (
                format!("{}/{}", name[1], name[0]),
                verdict.starts_with("linearizable"),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("bad/cas-failure.edn".to_string(), false),
            ("bad/immediate-failure.edn".to_string(), false),
            ("bad/rethink-fail-minimal.edn".to_string(), false),
            ("good/cas-register-bug.edn".to_string(), true),
        ],
        "{text}"
    );
    // A directory with no history files in it is bad input.
    let stray = temp_history("no-histories/notes.txt", "");
    let dir = stray.parent().unwrap();
    let no_files = dsim(&["check", dir.to_str().unwrap(), "--model", "kv"]);
    assert_eq!(code(&no_files), 2);
    assert_eq!(
        stderr(&no_files).trim(),
        format!(
            "error: {}: no *.jsonl or *.edn history files in this directory",
            dir.display()
        )
    );
}

#[test]
fn a_jepsen_register_history_gives_knossos_verdict_and_witness() {
    let file = jepsen("bad/cas-failure.edn");
    let output = dsim(&["check", file.to_str().unwrap(), "--model", "cas-register"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("291 operations"), "{text}");
    assert!(
        text.contains("read by process 70 returned 0, but write 2 by process 76 completed"),
        "{text}"
    );
    // The format can be named when the extension does not say it.
    let copy = temp_history("cas-failure.txt", &std::fs::read_to_string(&file).unwrap());
    let named = dsim(&[
        "check",
        copy.to_str().unwrap(),
        "--model",
        "cas-register",
        "--format",
        "edn",
    ]);
    assert_eq!(code(&named), 1, "{}", stderr(&named));
    let guessed = dsim(&["check", copy.to_str().unwrap(), "--model", "cas-register"]);
    assert_eq!(code(&guessed), 2);
}

#[test]
fn bad_edn_exits_2_naming_file_line_and_field() {
    let broken = temp_history(
        "broken.edn",
        "{:type :invoke, :f :read, :value nil, :process 0}\n{:type :done, :f :read, :process 0}\n",
    );
    let output = dsim(&["check", broken.to_str().unwrap(), "--model", "cas-register"]);
    assert_eq!(code(&output), 2);
    assert_eq!(
        stderr(&output).trim(),
        format!(
            "error: {}:2: :type is :done; allowed: :invoke, :ok, :fail, :info",
            broken.display()
        )
    );
    let unclosed = temp_history("unclosed.edn", "[{:type :invoke,\n :f :read");
    let output = dsim(&[
        "check",
        unclosed.to_str().unwrap(),
        "--model",
        "cas-register",
    ]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("unclosed.edn:2: not EDN: the map begun on line 1 never ends"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_empty_history_says_there_was_nothing_to_check() {
    let empty = temp_history("empty.jsonl", "");
    let path = empty.to_str().unwrap();
    let output = dsim(&["check", path, "--model", "kv"]);
    assert_eq!(code(&output), 0);
    assert_eq!(
        stdout(&output),
        "nothing to check: the history has no operations\n"
    );
    let json = dsim(&["check", path, "--model", "kv", "--json"]);
    let json: serde_json::Value = serde_json::from_str(stdout(&json).trim()).unwrap();
    assert_eq!(json["empty"], true);
    let strict = dsim(&["check", path, "--model", "kv", "--fail-empty"]);
    assert_eq!(code(&strict), 2);
    assert_eq!(
        stderr(&strict).trim(),
        format!("error: {path}: nothing to check: the history has no operations (--fail-empty)")
    );
    // Only failed operations: nothing happened, so nothing to check either.
    let failed = temp_history(
        "failed.jsonl",
        concat!(
            r#"{"process":0,"type":"invoke","f":"write","value":1,"time":1}"#,
            "\n",
            r#"{"process":0,"type":"fail","f":"write","value":1,"time":2}"#,
            "\n",
        ),
    );
    let output = dsim(&["check", failed.to_str().unwrap(), "--model", "cas-register"]);
    assert_eq!(code(&output), 0);
    assert_eq!(
        stdout(&output),
        "nothing to check: its one operation failed (did not happen)\n"
    );
}

/// `dsim list`'s model line for each protocol: (protocol, model or None).
fn listed_models() -> Vec<(String, Option<String>)> {
    let list = stdout(&dsim(&["list", "--all"]));
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut protocol = None;
    for line in list.lines().take_while(|l| !l.starts_with("models")) {
        if let Some(name) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) {
            protocol = name.split_whitespace().next().map(str::to_string);
        } else if let Some(rest) = line.trim_start().strip_prefix("model ") {
            let model = rest.trim_start().split(':').next().unwrap().to_string();
            let p = protocol.clone().expect("a protocol before its model line");
            out.push((p, (model != "none").then_some(model)));
        }
    }
    out
}

#[test]
fn run_histories_are_read_by_the_model_dsim_list_names() {
    let models = listed_models();
    assert_eq!(
        models.len(),
        dsim::Registry::bundled().names().len(),
        "{models:?}"
    );
    let dir = std::env::temp_dir().join(format!("dsim-check-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for (protocol, model) in &models {
        // Every bundled scenario of the protocol: the run's history file.
        let mut scenarios: Vec<PathBuf> = std::fs::read_dir(root.join("scenarios"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let text = std::fs::read_to_string(p).unwrap();
                let json: serde_json::Value = serde_json::from_str(&text).unwrap();
                json["protocol"] == protocol.as_str()
            })
            .collect();
        scenarios.sort();
        assert!(!scenarios.is_empty(), "{protocol}");
        for scenario in scenarios {
            let history = dir.join(format!("{protocol}-run.jsonl"));
            let run = dsim(&[
                "run",
                scenario.to_str().unwrap(),
                "--json",
                "--history",
                history.to_str().unwrap(),
            ]);
            let report: serde_json::Value = serde_json::from_str(&stdout(&run)).unwrap();
            let name = scenario.display();
            match model {
                Some(model) => {
                    let checked = dsim(&["check", history.to_str().unwrap(), "--model", model]);
                    // The model reads the file: a verdict, or (for a run that
                    // did not judge linearizability itself, such as MS-7's
                    // timed-out writes, each open to the end) unknown when the
                    // default budget cannot decide it.
                    let judged = report["checks"]["linearizability"].is_string();
                    let allowed: &[i32] = if judged { &[0, 1] } else { &[0, 1, 3] };
                    assert!(
                        allowed.contains(&code(&checked)),
                        "{name}: dsim check --model {model}: {}",
                        stderr(&checked)
                    );
                    // Where the run judged linearizability too, both agree.
                    if let Some(verdict) = report["checks"]["linearizability"].as_str() {
                        let want = if verdict == "pass" { 0 } else { 1 };
                        assert_eq!(code(&checked), want, "{name}");
                    }
                }
                None => {
                    // As the README says: a bank run's history fits no
                    // model (a withdrawal answers its event id, not
                    // true/false); a counter run's fits `counter` only
                    // when it has no `sync` operations.
                    let text = std::fs::read_to_string(&history).unwrap();
                    let syncs = text.contains(r#""f":"sync""#);
                    for m in ["kv", "counter", "bank"] {
                        let checked = dsim(&["check", history.to_str().unwrap(), "--model", m]);
                        let has = |f: &str| text.contains(&format!(r#""f":"{f}""#));
                        // vr's app is a parameter: a blackboard run fits
                        // `kv`, a counter run `counter`, unless probes or
                        // reconfigurations are in it.
                        let admin = has("get_status") || has("reconfigure");
                        let readable = (protocol == "counter" && m == "counter" && !syncs)
                            || (protocol == "vr"
                                && !admin
                                && ((m == "kv" && !has("add"))
                                    || (m == "counter" && !has("write"))));
                        assert_eq!(
                            code(&checked) != 2,
                            readable,
                            "{name}: --model {m}: {}",
                            stderr(&checked)
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_jepsen_list_append_history_is_checked_as_elle_does() {
    // Jepsen's list-append shape: a crashed append (:info, the process
    // then gone), nemesis events skipped.
    let good = concat!(
        "{:index 0, :time 10, :type :invoke, :process 0, :f :txn, :value [[:append 1 1]]}\n",
        "{:index 1, :time 11, :type :invoke, :process 1, :f :txn, :value [[:append 2 1] [:r 2 nil]]}\n",
        "{:index 2, :time 12, :type :info, :process :nemesis, :f :start, :value nil}\n",
        "{:index 3, :time 20, :type :ok, :process 0, :f :txn, :value [[:append 1 1]]}\n",
        "{:index 4, :time 21, :type :ok, :process 1, :f :txn, :value [[:append 2 1] [:r 2 [1]]]}\n",
        "{:index 5, :time 30, :type :invoke, :process 0, :f :txn, :value [[:append 1 2]]}\n",
        "{:index 6, :time 35, :type :info, :process 0, :f :txn, :value [[:append 1 2]]}\n",
        "{:index 7, :time 40, :type :invoke, :process 2, :f :txn, :value [[:r 1 nil]]}\n",
        "{:index 8, :time 50, :type :ok, :process 2, :f :txn, :value [[:r 1 [1 2]]]}\n",
        "{:index 9, :time 60, :type :invoke, :process 2, :f :txn, :value [[:r 1 nil]]}\n",
        "{:index 10, :time 70, :type :ok, :process 2, :f :txn, :value [[:r 1 [1 2]]]}\n",
    );
    let file = temp_history("list-append.edn", good);
    let output = dsim(&["check", file.to_str().unwrap(), "--model", "list-append"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).starts_with("strict-serializable (5 transactions)"),
        "{}",
        stdout(&output)
    );
    // The second read loses the crashed append the first read saw, though
    // it began after the first read ended: a G-single-realtime cycle.
    let bad = good.replace(
        ":time 70, :type :ok, :process 2, :f :txn, :value [[:r 1 [1 2]]]",
        ":time 70, :type :ok, :process 2, :f :txn, :value [[:r 1 [1]]]",
    );
    let file = temp_history("list-append-bad.edn", &bad);
    let output = dsim(&["check", file.to_str().unwrap(), "--model", "list-append"]);
    assert_eq!(code(&output), 1, "{}{}", stdout(&output), stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("not strict-serializable: G-single-realtime"),
        "{text}"
    );
    assert!(!text.contains("linearizable"), "{text}");
    assert!(text.contains("completed before"), "{text}");
    // Serializability alone allows it.
    let output = dsim(&[
        "check",
        file.to_str().unwrap(),
        "--model",
        "list-append",
        "--consistency",
        "serializable",
    ]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    // Transactions over several keys are Elle's main workload.
    let two = temp_history(
        "list-append-two.edn",
        "{:time 1, :type :invoke, :process 0, :f :txn, :value [[:append 1 1] [:r 2 nil]]}\n\
         {:time 2, :type :ok, :process 0, :f :txn, :value [[:append 1 1] [:r 2 []]]}\n\
         {:time 3, :type :invoke, :process 1, :f :txn, :value [[:r 1 nil] [:r 2 nil]]}\n\
         {:time 4, :type :ok, :process 1, :f :txn, :value [[:r 1 [1]] [:r 2 []]]}\n",
    );
    let output = dsim(&["check", two.to_str().unwrap(), "--model", "list-append"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
}

/// Symbolic links to directories are not followed: two links to `.` do
/// not make 2^40 paths (N2).
#[cfg(unix)]
#[test]
fn a_directory_with_symlink_loops_is_checked_once() {
    let file = temp_history(
        "loop/one.jsonl",
        &std::fs::read_to_string(corpus("kv_c01-ok.jsonl")).unwrap(),
    );
    let dir = file.parent().unwrap();
    for link in ["a", "b"] {
        let _ = std::os::unix::fs::symlink(".", dir.join(link));
    }
    let output = dsim(&["check", dir.to_str().unwrap(), "--model", "kv-append"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 1, "{}", stdout(&output));
}

/// Runs `dsim check /dev/stdin ARGS` with `text` written to its stdin, the
/// pipe then held open (a writer that has not finished): the check must
/// fail on a bad line without waiting for the rest. Returns the output, or
/// panics if dsim has not exited within 30 s.
fn check_open_pipe(text: &str, args: &[&str]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(["check", "/dev/stdin"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dsim");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(text.as_bytes()).expect("write");
    stdin.flush().expect("flush");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dsim still reading a pipe after a bad line (30 s)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    child.wait_with_output().expect("output")
}

#[test]
fn a_bad_line_from_an_open_pipe_fails_at_once() {
    let jsonl = concat!(
        r#"{"process":0,"type":"invoke","f":"write","value":1,"time":1}"#,
        "\n",
        "not json\n",
    );
    let output = check_open_pipe(jsonl, &["--model", "cas-register"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("/dev/stdin:2: "),
        "{}",
        stderr(&output)
    );
    // EDN, one event per line (Jepsen) and inside a vector (Knossos).
    for edn in [
        "{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :bogus, :f :write, :value 1}\n",
        "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :bogus, :f :write, :value 1}\n",
    ] {
        let output = check_open_pipe(edn, &["--model", "cas-register", "--format", "edn"]);
        assert_eq!(code(&output), 2, "{}", stderr(&output));
        assert!(
            stderr(&output).contains("/dev/stdin:2: :type is :bogus"),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn a_piped_history_in_pieces_is_read_whole() {
    // An event map split over lines (and the pipe's chunks) waits for its
    // end; the history then checks as the same file would.
    let edn = "{:process 0, :type :invoke,\n :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1}\n\
               {:process 1, :type :invoke, :f :read, :value nil}\n{:process 1, :type :ok, :f :read, :value 2}";
    let output = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args([
            "check",
            "/dev/stdin",
            "--model",
            "cas-register",
            "--format",
            "edn",
        ])
        .stdin(std::fs::File::open(temp_history("pieces.edn", edn)).unwrap())
        .output()
        .expect("run dsim");
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("NOT linearizable"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn an_edn_map_with_a_key_twice_is_refused() {
    for (name, text) in [
        (
            "dup-lines.edn",
            "{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1, :value 2}\n",
        ),
        (
            "dup-vector.edn",
            "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :ok, :f :write, :type :ok, :value 1}]\n",
        ),
    ] {
        let file = temp_history(name, text);
        let output = dsim(&["check", file.to_str().unwrap(), "--model", "cas-register"]);
        assert_eq!(code(&output), 2, "{}", stderr(&output));
        let err = stderr(&output);
        assert!(err.contains(&format!("{name}:2: ")), "{err}");
        assert!(err.contains("twice"), "{err}");
        assert!(err.contains(":value") || err.contains(":type"), "{err}");
    }
    // Two keys Clojure tells apart but a map read as JSON's would merge.
    let file = temp_history(
        "merged-keys.edn",
        "{:process 0, :type :invoke, :f :write, :value {1 :a, \"1\" :b}}\n",
    );
    let output = dsim(&["check", file.to_str().unwrap(), "--model", "cas-register"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("merged-keys.edn:1: "), "{err}");
    assert!(
        err.contains("keys 1 and \"1\", which are read as one key"),
        "{err}"
    );
}

#[test]
fn rw_register_writes_follow_reads_only_when_asked() {
    // A G-single only writes-follow-reads (Elle's :wfr-keys?) finds.
    let file = temp_history(
        "wfr.edn",
        "[{:type :ok, :f :txn, :value [[:w :x 1]]}\n \
         {:type :ok, :f :txn, :value [[:r :x 1] [:w :x 2] [:w :y 5]]}\n \
         {:type :ok, :f :txn, :value [[:r :x 1] [:r :y 5]]}]\n",
    );
    let path = file.to_str().unwrap();
    let output = dsim(&["check", path, "--model", "rw-register"]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    assert!(stdout(&output).starts_with("strict-serializable"));
    let output = dsim(&["check", path, "--model", "rw-register", "--wfr-keys"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(stdout(&output).starts_with("not strict-serializable: G-single"));
    // With no dependency at all the answer is unknown (Elle's
    // empty-transaction-graph), exit 3.
    let empty = temp_history(
        "empty-graph.edn",
        "[{:type :ok, :f :txn, :value [[:w :x 1] [:w :y 2]]}\n \
         {:type :ok, :f :txn, :value [[:w :x 2] [:w :y 1]]}]\n",
    );
    let output = dsim(&["check", empty.to_str().unwrap(), "--model", "rw-register"]);
    assert_eq!(code(&output), 3, "{}", stdout(&output));
    assert!(
        stdout(&output).contains("empty-transaction-graph"),
        "{}",
        stdout(&output)
    );
    let output = dsim(&["check", path, "--model", "list-append", "--wfr-keys"]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("--wfr-keys goes with --model rw-register"));
}

#[test]
fn set_full_reads_are_judged_as_sets_from_jsonl_and_edn_alike() {
    // Process 1 reads a growing set (lists in any order, with a repeat);
    // 2 is lost by its third read, invoked after 2's add and a read that
    // saw it completed. The reads are kept as sets: the witness shows them
    // ascending, without the repeat.
    // (time, JSON Lines event, EDN event), sorted by time below.
    let mut events: Vec<(u64, String, String)> = Vec::new();
    for (i, e) in [(0, 1), (20, 2), (40, 3)] {
        for (ty, t) in [("invoke", i), ("ok", i + 1)] {
            events.push((
                t,
                format!(
                    "{{\"process\":0,\"type\":\"{ty}\",\"f\":\"add\",\"value\":{e},\"time\":{t}}}"
                ),
                format!("{{:process 0, :type :{ty}, :f :add, :value {e}, :time {t}}}"),
            ));
        }
    }
    for (t, list) in [(10, "[1]"), (30, "[2, 1, 1]"), (50, "[3, 1]")] {
        events.push((
            t,
            format!(
                "{{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null,\"time\":{t}}}"
            ),
            format!("{{:process 1, :type :invoke, :f :read, :value nil, :time {t}}}"),
        ));
        events.push((
            t + 5,
            format!(
                "{{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":{list},\"time\":{}}}",
                t + 5
            ),
            format!(
                "{{:process 1, :type :ok, :f :read, :value {}, :time {}}}",
                list.replace(',', ""),
                t + 5
            ),
        ));
    }
    events.sort_by_key(|e| e.0);
    let text = |pick: fn(&(u64, String, String)) -> &String| {
        events
            .iter()
            .map(|e| pick(e).clone() + "\n")
            .collect::<String>()
    };
    let files = [
        temp_history("set-full.jsonl", &text(|e| &e.1)),
        temp_history("set-full.edn", &text(|e| &e.2)),
    ];
    for file in &files {
        let output = dsim(&[
            "check",
            file.to_str().unwrap(),
            "--model",
            "set-full",
            "--json",
        ]);
        assert_eq!(code(&output), 1, "{file:?}: {}", stderr(&output));
        let json: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
        let explanation = json["witness"]["explanation"].as_str().unwrap();
        assert!(
            explanation.starts_with("1 element(s) lost; 2 was added"),
            "{file:?}: {explanation}"
        );
        let outputs: Vec<&serde_json::Value> = json["witness"]["ops"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|op| op["f"] == "read")
            .map(|op| &op["output"])
            .collect();
        assert_eq!(
            outputs,
            [&serde_json::json!([1, 2]), &serde_json::json!([1, 3])],
            "{file:?}"
        );
    }
    // A read that is not a list of integers is still refused by name.
    let bad = temp_history(
        "set-full-bad.jsonl",
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null,\"time\":1}\n\
         {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":[1,\"x\"],\"time\":2}\n",
    );
    let output = dsim(&["check", bad.to_str().unwrap(), "--model", "set-full"]);
    assert_eq!(code(&output), 2, "{}", stdout(&output));
    assert!(
        stderr(&output).contains("a list of integers"),
        "{}",
        stderr(&output)
    );
}
