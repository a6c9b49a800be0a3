//! Every witness the checker gives on the histories the tests use, checked
//! against the oracle (or, past 8 operations, the oracle-checked search):
//! it fails on its own; it fails with the key's other operations weakened
//! (outcome unknown, open to the end), so whatever they did; and when it
//! says it is minimal, with any one of its own operations weakened too, an
//! order exists. Covers the Porcupine corpus, the Knossos histories, the
//! issue's reproducers (dsim runs whose witness used to be wrong), and the
//! bench's generated hard histories.

mod support;

#[path = "../benches/support/hard.rs"]
#[allow(dead_code)]
mod hard;

use checker::{check, model, History, Verdict, Witness, DEFAULT_BUDGET};
use serde_json::Value;
use std::path::PathBuf;
use support::Kind;

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

/// Checks `history`, which must not be linearizable, and its witness.
fn witness_of(name: &str, kind: Kind, history: &History) -> Witness {
    let initial = kind.initial();
    let model = model::by_name(kind.model(), Some(&initial)).unwrap();
    let report = check(history, &model, DEFAULT_BUDGET).unwrap();
    assert_eq!(report.verdict, Verdict::NotLinearizable, "{name}");
    let witness = report.witness.expect("a violation has a witness");
    let key_ops: Vec<checker::Operation> = history
        .operations()
        .iter()
        .filter(|op| op.key == witness.key)
        .cloned()
        .collect();
    if let Err(e) = support::check_witness(kind, &key_ops, &witness, true) {
        panic!("{name}: {e}\n{}", witness.render_text());
    }
    assert!(
        !witness.explanation.contains("Other operations"),
        "{name}: the explanation names operations outside the witness"
    );
    if kind == Kind::Register {
        // Closed under reads-from: every write of a value a read returned
        // (that began before the read returned) is in the witness.
        for read in witness.ops.iter().filter(|op| op.f == "read") {
            let Some(value) = read.output() else { continue };
            let end = read.end_time().unwrap();
            for w in key_ops.iter().filter(|op| !op.failed() && op.time <= end) {
                let sets = match w.f.as_str() {
                    "write" => Some(&w.value),
                    "cas" => w.value.get(1),
                    _ => None,
                };
                if sets == Some(value) {
                    assert!(
                        witness.ops.iter().any(|o| o.line == w.line && o.f == w.f),
                        "{name}: a read of {value} is in the witness but a write of it (line {:?}) is not\n{}",
                        w.line,
                        witness.render_text()
                    );
                }
            }
        }
    }
    witness
}

#[test]
fn corpus_witnesses_are_proofs_and_mostly_minimal() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir("corpus/manifest.json")).unwrap())
            .unwrap();
    let (mut witnesses, mut minimal) = (0, 0);
    for entry in manifest["files"].as_array().unwrap() {
        if entry["expected"] != "not-linearizable" {
            continue;
        }
        let name = entry["file"].as_str().unwrap();
        let kind = match entry["model"].as_str().unwrap() {
            "cas-register" => Kind::Register,
            "kv-append" => Kind::Append,
            other => panic!("{name}: model {other}"),
        };
        let text = std::fs::read_to_string(dir("corpus").join(name)).unwrap();
        let witness = witness_of(name, kind, &History::parse_jsonl(&text).unwrap());
        witnesses += 1;
        minimal += usize::from(witness.minimal);
    }
    assert_eq!(witnesses, 44);
    // Minimising gets half the search's steps, at least 20,000; on six
    // files that is not enough to finish, and the witness says so.
    assert!(
        minimal >= 38,
        "only {minimal} of {witnesses} witnesses minimal"
    );
}

#[test]
fn knossos_bad_histories_give_proofs() {
    for (file, size) in [
        ("cas-failure.edn", 17),
        ("immediate-failure.edn", 1),
        ("rethink-fail-minimal.edn", 1),
    ] {
        let text = std::fs::read_to_string(dir("jepsen/bad").join(file)).unwrap();
        let witness = witness_of(file, Kind::Register, &History::parse_edn(&text).unwrap());
        assert!(witness.minimal, "{file}");
        assert_eq!(witness.ops.len(), size, "{file}");
    }
}

#[test]
fn lww_split_brain_seed_46_witness_has_both_writes_and_both_reads() {
    // `dsim run scenarios/lww-split-brain-faithful.json --seed 46`: the
    // witness used to be one read, "involving other operations too".
    let text =
        std::fs::read_to_string(dir("reproducers/lww-split-brain-faithful-seed46.jsonl")).unwrap();
    let witness = witness_of("seed 46", Kind::Kv, &History::parse_jsonl(&text).unwrap());
    assert!(witness.minimal);
    let fs: Vec<&str> = witness.ops.iter().map(|op| op.f.as_str()).collect();
    assert_eq!(
        fs,
        ["write", "write", "read", "read"],
        "{}",
        witness.render_text()
    );
}

#[test]
fn three_node_lww_witnesses_are_minimal_proofs() {
    // `dsim run checker/tests/reproducers/lww3-intended.json --seed N`.
    for seed in [3, 17] {
        let name = format!("lww3-intended-seed{seed}.jsonl");
        let text = std::fs::read_to_string(dir("reproducers").join(&name)).unwrap();
        let witness = witness_of(&name, Kind::Kv, &History::parse_jsonl(&text).unwrap());
        assert!(witness.minimal, "{name}");
    }
}

#[test]
fn hard_histories_give_small_minimal_witnesses() {
    let shape = |processes, ops, spoil| hard::Shape {
        processes,
        ops,
        values: 5,
        duration_max: 40,
        spoil,
    };
    for (name, shape, seed, size) in [
        (
            "corrupted-1k-2",
            shape(10, 1000, hard::Spoil::Corrupted),
            2,
            1,
        ),
        ("stale-1k-2", shape(10, 1000, hard::Spoil::Stale), 2, 3),
        ("stale-10k-0", shape(4, 10_000, hard::Spoil::Stale), 0, 3),
    ] {
        let witness = witness_of(name, Kind::Register, &hard::register(shape, seed));
        assert!(witness.minimal, "{name}");
        assert_eq!(witness.ops.len(), size, "{name}");
    }
}
