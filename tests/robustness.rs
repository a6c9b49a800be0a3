//! The reproducers of the robustness issue, through the built binary: each
//! exits with a documented code and one clear message, never a panic or a
//! silently wrong time.

mod common;

use std::path::PathBuf;

use common::{dsim, text};

fn scratch(name: &str, contents: &str) -> PathBuf {
    common::scratch("robust", name, contents)
}

#[test]
fn huge_numbers_are_refused_by_field_not_crashed_on_or_wrapped() {
    let cases = [
        (
            r#"{"protocol":"lww","nodes":3,"workload":{"ops":4294967295}}"#,
            "workload.ops: at most 10000000 operations",
        ),
        (
            r#"{"protocol":"bank","nodes":3,"workload":{"clients":18446744073709551615}}"#,
            "workload.clients: at most 100000 clients",
        ),
        (
            r#"{"protocol":"bank","nodes":3,"workload":{"clients":1000000000}}"#,
            "workload.clients: at most 100000 clients",
        ),
        (
            r#"{"protocol":"lww","nodes":2,"network":{"latency":{"dist":"normal","mean_ms":1,"sd_ms":1,"min_ms":1,"max_ms":18446744073709552}}}"#,
            "network.latency.max_ms: 18446744073709552 ms is too long",
        ),
        (
            r#"{"protocol":"lww","nodes":2,"faults":[{"kind":"crash","at_ms":18446744073709552,"node":1}]}"#,
            "faults[0].at_ms: 18446744073709552 ms is too long",
        ),
        (
            r#"{"protocol":"lww","nodes":2,"fuzz":{"until_ms":1000,"crash_restart":{"down_ms":[1,18446744073709550]}}}"#,
            "fuzz.crash_restart.down_ms: at most 1000000000000 ms",
        ),
        (
            r#"{"protocol":"lww","nodes":2,"workload":{"timeout_ms":18446744073709551615}}"#,
            "workload.timeout_ms",
        ),
        (
            r#"{"protocol":"lww","nodes":2,"workload":{"rate":{"kind":"closed","think_ms":18446744073709551}}}"#,
            "workload.rate.think_ms",
        ),
        (
            r#"{"protocol":"lww","nodes":2,"clocks":[{"node":0,"skew_ms":-9223372036854775808}]}"#,
            "clocks[0].skew_ms",
        ),
    ];
    for (i, (src, want)) in cases.iter().enumerate() {
        let p = scratch(&format!("huge-{i}.json"), src);
        let out = dsim(&["run", p.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{src}: {err}");
        assert!(err.contains(want), "{src}: want {want:?} in {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn an_endless_file_is_refused_after_a_bounded_read() {
    let out = dsim(&["run", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("a scenario file is at most 16 MiB"));
}

#[test]
fn a_trace_that_cannot_be_written_is_exit_2_like_a_history() {
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full here");
        return;
    }
    let out = dsim(&["run", "scenarios/lww-benign.json", "--trace", "/dev/full"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot write trace file /dev/full"));
    let out = dsim(&["run", "scenarios/lww-benign.json", "--history", "/dev/full"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_out_directory_that_cannot_be_written_fails_before_the_campaign() {
    // A directory even root cannot write into.
    let dir = "/sys/kernel";
    if !std::path::Path::new(dir).is_dir() {
        eprintln!("skipped: no {dir} here");
        return;
    }
    let out = dsim(&[
        "fuzz",
        "scenarios/lww-benign.json",
        "--seeds",
        "0..100000",
        "--out",
        dir,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--out: cannot write into /sys/kernel"),
        "{err}"
    );
    assert!(!err.contains("seeds in"), "no seed ran: {err}");
}

#[test]
fn outputs_are_renamed_into_place_only_when_the_run_succeeded() {
    let dir = std::env::temp_dir().join(format!("dsim-robust-n8-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let keep = dir.join("keep.trace");
    std::fs::write(&keep, "SENTINEL\n").unwrap();
    // A later output that cannot be written: the trace keeps its bytes.
    let bad = dir.join("no-such-dir").join("h.jsonl");
    let out = dsim(&[
        "run",
        "scenarios/lww-benign.json",
        "--trace",
        keep.to_str().unwrap(),
        "--history",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "SENTINEL\n");
    // The same path twice, or the scenario as an output: refused, nothing touched.
    let sc = dir.join("s.json");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/lww-benign.json"),
        &sc,
    )
    .unwrap();
    let before = std::fs::read(&sc).unwrap();
    for args in [
        vec!["--report", sc.to_str().unwrap()],
        vec![
            "--trace",
            keep.to_str().unwrap(),
            "--history",
            keep.to_str().unwrap(),
        ],
    ] {
        let mut all = vec!["run", sc.to_str().unwrap()];
        all.extend(args.iter());
        let out = dsim(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("is the same file as"),
            "{}",
            text(&out.stderr)
        );
    }
    assert_eq!(std::fs::read(&sc).unwrap(), before);
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "SENTINEL\n");
    // A successful run replaces the file and leaves no temporary behind.
    let out = dsim(&[
        "run",
        sc.to_str().unwrap(),
        "--trace",
        keep.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(std::fs::read_to_string(&keep)
        .unwrap()
        .starts_with("{\"t\":0,\"ev\":\"start\""));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

/// A fuzz episode may end no later than a scenario time may be: a
/// duration that reaches past 10^12 ms is refused by its own field, not by
/// a fault of the expanded schedule the file does not have; the longest
/// allowed one expands into a schedule that runs.
#[test]
fn a_fuzz_episode_that_would_end_past_the_time_limit_is_refused_by_its_field() {
    let max: u64 = 1_000_000_000_000;
    for (block, field) in [
        ("partitions", "duration_ms"),
        ("pauses", "duration_ms"),
        ("crash_restart", "down_ms"),
        ("loss_bursts", "duration_ms"),
    ] {
        let src = |d: u64| {
            format!(
                r#"{{"protocol":"lww","nodes":3,"workload":{{"ops":20}},"fuzz":{{"until_ms":1500,"{block}":{{"interval_ms":[50,400],"{field}":[{d},{d}]}}}}}}"#
            )
        };
        let p = scratch(&format!("fuzz-end-{block}.json"), &src(max));
        for seed in ["0", "1", "2"] {
            let out = dsim(&["run", p.to_str().unwrap(), "--seed", seed]);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{block}: {err}");
            assert!(
                err.contains(&format!("fuzz.{block}.{field}"))
                    && err.contains("at most 999999998500 ms here"),
                "{block}: {err}"
            );
            assert!(!err.contains("faults["), "{block}: {err}");
        }
        let p = scratch(&format!("fuzz-end-{block}-ok.json"), &src(max - 1500));
        for seed in ["0", "1", "2"] {
            let out = dsim(&["run", p.to_str().unwrap(), "--seed", seed]);
            let err = text(&out.stderr);
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{block} seed {seed}: {err}"
            );
        }
    }
}
