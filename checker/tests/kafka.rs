//! The kafka model's known-verdict histories (tests/kafka/): each finds
//! exactly the anomalies its manifest names, and `check` gives its verdict.

use checker::model::kafka::analyze;
use checker::{check, model, History, Verdict, DEFAULT_BUDGET};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kafka")
}

#[test]
fn every_kafka_history_finds_exactly_its_anomalies() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("manifest.json")).unwrap())
            .unwrap();
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 15);
    let mut seen = BTreeSet::new();
    let model = model::by_name("kafka", None).unwrap();
    for entry in files {
        let name = entry["file"].as_str().unwrap();
        let text = std::fs::read_to_string(dir().join(name)).unwrap();
        let history = History::parse_jsonl(&text).unwrap();
        let ops: Vec<_> = history.operations().iter().collect();
        let analysis = analyze(&ops).unwrap();
        let found: BTreeSet<&str> = analysis.found.iter().map(|f| f.anomaly.name()).collect();
        let want: BTreeSet<&str> = entry["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(found, want, "{name}: {:#?}", analysis.found);
        // Every anomaly names its key and the operations involved.
        for f in &analysis.found {
            assert_eq!(f.key, "x", "{name}");
            assert!(!f.ops.is_empty(), "{name}: {f:?}");
            assert!(f.ops.iter().all(|&i| i < ops.len()), "{name}");
        }
        seen.extend(found);
        let report = check(&history, &model, DEFAULT_BUDGET).unwrap();
        let valid = entry["valid"].as_bool().unwrap();
        let want_verdict = if valid {
            Verdict::Linearizable
        } else {
            Verdict::NotLinearizable
        };
        assert_eq!(report.verdict, want_verdict, "{name}");
        if !valid {
            let w = report.witness.expect("an invalid history has a witness");
            assert_eq!(w.key.as_deref(), Some("x"), "{name}");
            assert!(
                w.explanation.contains(want.iter().next().unwrap()),
                "{name}: {}",
                w.explanation
            );
        }
    }
    // One history for every anomaly the analysis knows.
    assert_eq!(seen.len(), 13, "{seen:?}");
}

#[test]
fn shapes_that_do_not_fit_are_refused_naming_the_function() {
    let model = model::by_name("kafka", None).unwrap();
    for (line, wants) in [
        (
            r#"{"process":0,"type":"invoke","f":"send","value":1,"time":1}"#,
            "key",
        ),
        (
            r#"{"process":0,"type":"invoke","f":"read","value":null,"time":1}"#,
            "allowed: send, poll, txn, assign, crash",
        ),
        (
            r#"{"process":0,"type":"invoke","f":"assign","value":3,"time":1}"#,
            "list of keys",
        ),
    ] {
        let history = History::parse_jsonl(line).unwrap();
        let err = check(&history, &model, DEFAULT_BUDGET).unwrap_err();
        assert!(err.to_string().contains(wants), "{err}");
    }
    let bad_poll = [
        r#"{"process":0,"type":"invoke","f":"poll","value":null,"time":1}"#,
        r#"{"process":0,"type":"ok","f":"poll","value":{"x":[1,2]},"time":2}"#,
    ]
    .join("\n");
    let err = check(
        &History::parse_jsonl(&bad_poll).unwrap(),
        &model,
        DEFAULT_BUDGET,
    )
    .unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    assert!(err.to_string().contains("[[offset, msg]"), "{err}");
}
