//! `pb-sim`, the example's own dsim binary: the same subcommands, exit
//! codes and replay lines as `dsim`, for this protocol only.

use std::path::Path;
use std::process::{Command, Output};

fn pb_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pb-sim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("pb-sim runs")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn run_fuzz_shrink_and_replay_through_the_binary() {
    // Seed 1 of the async scenario loses an acknowledged write.
    let o = pb_sim(&["run", "scenarios/pb-failover-async.json", "--seed", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("replay       pb-sim run scenarios/pb-failover-async.json --seed 1"));

    let dir = std::env::temp_dir().join(format!("pb-sim-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_str().unwrap();
    let o = pb_sim(&[
        "fuzz",
        "scenarios/pb-failover-async.json",
        "--seeds",
        "0..20",
        "--out",
        out,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let shrunk: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert!(!shrunk.is_empty(), "{}", text(&o));
    for file in &shrunk {
        // A shrunk file expects what the failing seed found: exit 0 while it reproduces.
        let o = pb_sim(&["run", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}: {}", file.display(), text(&o));
    }

    let o = pb_sim(&[
        "fuzz",
        "scenarios/pb-failover-sync.json",
        "--seeds",
        "0..100",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn list_shows_only_this_protocol_and_bad_input_exits_2() {
    let o = pb_sim(&["list"]);
    let t = text(&o);
    assert!(t.contains("  pb ") && t.contains("[async, sync]"), "{t}");
    assert!(!t.contains("  lww "), "{t}");
    // The long form of this protocol, with its custom check.
    let t = text(&pb_sim(&["list", "pb"]));
    assert!(
        t.contains("variant  async") && t.contains("acked-writes-kept"),
        "{t}"
    );

    let dir = std::env::temp_dir().join(format!("pb-sim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("one-node.json");
    std::fs::write(&bad, r#"{"protocol": "pb", "nodes": 1}"#).unwrap();
    let o = pb_sim(&["run", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("nodes must be 2 or more"), "{}", text(&o));
    let other = dir.join("lww.json");
    std::fs::write(&other, r#"{"protocol": "lww", "nodes": 3}"#).unwrap();
    let o = pb_sim(&["run", other.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("unknown protocol \"lww\"; allowed: pb"),
        "{}",
        text(&o)
    );
    assert!(Path::new(&dir).exists());
}
