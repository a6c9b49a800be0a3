//! Under a memory limit (`ulimit -v`, in a shell of its own) the inputs
//! that used to abort end cleanly (issue 32, N6, N7, N9): a run with many
//! operations judged for linearizability, memo-heavy checks with an
//! unbounded step budget, and a broadcast run whose reads answer whole
//! sets. No SIGABRT ("memory allocation of N bytes failed"): the
//! exit code is 0-3, and an "unknown" answer names the bound that ended it.

use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `dsim ARGS` under `ulimit -v KIB`: (exit code or None for a
/// signal, stdout, stderr).
fn limited(kib: u64, args: &str) -> (Option<i32>, String, String) {
    let cmd = format!("ulimit -v {kib} && exec \"$DSIM\" {args}");
    let out = Command::new("sh")
        .args(["-c", &cmd])
        .env("DSIM", env!("CARGO_BIN_EXE_dsim"))
        .current_dir(ROOT)
        .output()
        .expect("sh runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn clean(what: &str, r: &(Option<i32>, String, String)) {
    let (code, out, err) = r;
    assert!(
        matches!(code, Some(0..=3)),
        "{what}: ended {code:?} (None: a signal)\nstdout: {out}\nstderr: {err}"
    );
    assert!(!err.contains("memory allocation"), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
}

#[test]
fn a_memo_heavy_check_with_no_step_bound_ends_unknown_by_its_memo_bound() {
    // N7's reproducer (list-append, budget 2^64-1) ends cleanly.
    let r = limited(
        2 * 1024 * 1024,
        "check tests/reliability-repro/list-append-memo.jsonl --model list-append --budget 18446744073709551615",
    );
    clean("list-append memo", &r);
    // 22 concurrent appends and a read no order explains: with no step
    // bound, only the memo's byte bound (1 GiB: entries, sets, each
    // state's new text piece, the table's next growth) stops the search,
    // so 2 GiB of address space must be enough.
    let dir = std::env::temp_dir().join(format!("dsim-memlimit-memo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut h = String::new();
    for (kind, t) in [("invoke", 0), ("ok", 100)] {
        for i in 0..22u8 {
            let v = char::from(b'a' + i);
            h += &format!(
                "{{\"process\":{i},\"type\":\"{kind}\",\"f\":\"append\",\"value\":\"{v}\",\"time\":{t}}}\n"
            );
        }
    }
    h += "{\"process\":99,\"type\":\"invoke\",\"f\":\"get\",\"value\":null,\"time\":200}\n";
    h += "{\"process\":99,\"type\":\"ok\",\"f\":\"get\",\"value\":\"zz\",\"time\":201}\n";
    let path = dir.join("appends.jsonl");
    std::fs::write(&path, h).expect("write");
    let r = limited(
        2 * 1024 * 1024,
        &format!(
            "check {} --model kv-append --budget 18446744073709551615",
            path.display()
        ),
    );
    clean("kv-append memo", &r);
    let (code, out, err) = &r;
    assert_eq!(*code, Some(3), "unknown, not a verdict: {out}{err}");
    assert!(
        format!("{out}{err}").contains("memo reached its bound of 1024 MiB"),
        "an unknown must name the memo's bound: {out}{err}"
    );
}

#[test]
fn a_long_linearizability_run_and_a_broadcast_run_end_under_a_limit() {
    let dir = std::env::temp_dir().join(format!("dsim-memlimit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // 200,000 lww operations judged for convergence and linearizability:
    // 661 MB at 10^6 in a release build; this is a fifth of that.
    let lww = dir.join("lww.json");
    std::fs::write(
        &lww,
        r#"{"protocol":"lww","variant":"intended","nodes":5,"workload":{"clients":10,"ops":200000,"keys":10,"rate":{"kind":"open","interval_ms":1}},"checks":["convergence","linearizability"]}"#,
    )
    .expect("write");
    let r = limited(1024 * 1024, &format!("run {} --json", lww.display()));
    clean("lww 200,000 ops", &r);
    // N9: 20,000 broadcast operations took 2.6 GB when every read kept its
    // own copy of the set; with shared states they fit in 512 MiB.
    let r = limited(
        512 * 1024,
        "run tests/reliability-repro/gg-broadcast-20k-ops.json --json",
    );
    clean("gg-broadcast 20,000 ops", &r);
    assert_eq!(
        r.0,
        Some(0),
        "the broadcast run passes its stats check: {}",
        r.2
    );
    // N6: 2^32-1 operations are refused before anything runs.
    let r = limited(
        512 * 1024,
        "run tests/reliability-repro/ops-unbounded.json --json",
    );
    clean("ops 2^32-1", &r);
    assert_eq!(r.0, Some(2));
    assert!(r.2.contains("workload.ops"), "{}", r.2);
}
