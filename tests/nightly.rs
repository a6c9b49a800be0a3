//! `.ci/fuzz-nightly`, the script the nightly workflow runs, on a small
//! range: a gate whose variant is broken by one line (intended → faithful)
//! is caught, its failing seeds are listed with their replay commands and a
//! shrunk scenario is written; the intended gate passes; a demo must find
//! its bug.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dsim-nightly-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Runs the script on the scenarios in `dir` over `seeds` (one shard).
fn nightly(dir: &Path, seeds: &str, out: &Path) -> Output {
    Command::new("bash")
        .current_dir(ROOT)
        .arg(".ci/fuzz-nightly")
        .args(["0/1", seeds, out.to_str().unwrap()])
        .env("DSIM", env!("CARGO_BIN_EXE_dsim"))
        .env("SCENARIO_DIR", dir)
        .env("BUDGET_SECS", "600")
        .output()
        .expect("bash runs the script")
}

fn gate_with_variant(variant: &str) -> String {
    let text = std::fs::read_to_string(Path::new(ROOT).join("scenarios/gate-lww.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["variant"] = variant.into();
    v.to_string()
}

#[test]
fn a_broken_gate_is_caught_listed_and_shrunk() {
    let dir = scratch("broken");
    let out = dir.join("out");
    std::fs::write(dir.join("gate-lww.json"), gate_with_variant("faithful")).unwrap();
    let o = nightly(&dir, "0..40", &out);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout.contains("failing seeds (replay each with the command shown):"),
        "{stdout}"
    );
    let replays: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("dsim run ") && l.contains("gate-lww.json --seed "))
        .collect();
    assert!(!replays.is_empty(), "{stdout}");
    assert!(
        replays[0].contains("# convergence: violation (expected pass)"),
        "{stdout}"
    );
    let shrunk: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(shrunk.len(), 1, "one group, one shrunk file: {stdout}");
    // The shrunk file replays the failure.
    let replay = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(["run", shrunk[0].path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(0));
}

#[test]
fn the_intended_gate_holds_and_a_demo_must_find_its_bug() {
    let dir = scratch("intended");
    let out = dir.join("out");
    std::fs::write(dir.join("gate-lww.json"), gate_with_variant("intended")).unwrap();
    let o = nightly(&dir, "0..40", &out);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("ok   ") && !stdout.contains("failing seeds"),
        "{stdout}"
    );
    // A demo is expected to fail; the intended variant under the name of a
    // demo finds nothing, and the script says so.
    std::fs::write(dir.join("fuzz-calm.json"), gate_with_variant("intended")).unwrap();
    let o = nightly(&dir, "0..40", &out);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("the demo found no failure"), "{stdout}");
}

#[test]
fn bad_usage_exits_2() {
    let o = Command::new("bash")
        .current_dir(ROOT)
        .args([".ci/fuzz-nightly", "three"])
        .env("DSIM", env!("CARGO_BIN_EXE_dsim"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("usage: .ci/fuzz-nightly SHARD/N"));
}
