//! The conformance corpus (Porcupine's test histories, MIT licence; see
//! tests/corpus/README.md): every file must give its manifest verdict.

use checker::{check, model, History, Verdict, DEFAULT_BUDGET};
use serde_json::Value;
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

#[test]
fn every_corpus_file_gives_its_manifest_verdict() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus_dir().join("manifest.json")).unwrap())
            .unwrap();
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 58);
    let mut wrong = Vec::new();
    let (mut witnesses, mut minimal) = (0, 0);
    for entry in files {
        let name = entry["file"].as_str().unwrap();
        let text = std::fs::read_to_string(corpus_dir().join(name)).unwrap();
        let history = History::parse_jsonl(&text).unwrap();
        assert_eq!(
            history.operations().len() as u64,
            entry["ops"].as_u64().unwrap(),
            "{name}"
        );
        let model = model::by_name(
            entry["model"].as_str().unwrap(),
            Some(&entry["initial_value"]),
        )
        .unwrap();
        let report = check(&history, &model, DEFAULT_BUDGET).unwrap();
        let expected = entry["expected"].as_str().unwrap();
        if report.verdict.as_str() != expected {
            wrong.push(format!(
                "{name}: expected {expected}, got {}",
                report.verdict
            ));
        }
        if report.verdict == Verdict::NotLinearizable {
            // The witness is a failing sub-history of the violating key.
            let witness = report.witness.as_ref().expect("a violation has a witness");
            assert!(!witness.ops.is_empty(), "{name}");
            assert!(witness.ops.iter().all(|op| op.key == report.key), "{name}");
            let sub = History::from_ops(witness.ops.clone()).unwrap();
            let again = check(&sub, &model, DEFAULT_BUDGET).unwrap();
            assert_eq!(
                again.verdict,
                Verdict::NotLinearizable,
                "{name}: witness linearizable"
            );
            witnesses += 1;
            minimal += usize::from(witness.minimal);
        }
    }
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
    assert_eq!(witnesses, 41 + 3);
    // Most witnesses are proven minimal; the rest ran a probe out of steps
    // or are a model's proof citing more than a minimal set.
    assert!(
        minimal * 2 > witnesses,
        "only {minimal} of {witnesses} witnesses minimal"
    );
}

/// A JSON value written as EDN (the corpus has integers, strings, null and lists).
fn edn(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(edn).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

/// The history's events as a Jepsen `history.edn`: keyed operations as
/// jepsen.independent writes them (`[key value]`), times in nanoseconds.
fn to_edn(jsonl: &str) -> String {
    let mut out = String::new();
    for (index, line) in jsonl.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let e: Value = serde_json::from_str(line).unwrap();
        let value = match e.get("key") {
            Some(key) => Value::Array(vec![key.clone(), e["value"].clone()]),
            None => e["value"].clone(),
        };
        out.push_str(&format!(
            "{{:index {index}, :time {}, :type :{}, :process {}, :f :{}, :value {}}}\n",
            e["time"].as_u64().unwrap() * 1000,
            e["type"].as_str().unwrap(),
            e["process"],
            e["f"].as_str().unwrap(),
            edn(&value)
        ));
    }
    out
}

#[test]
fn every_corpus_file_gives_one_verdict_as_jsonl_and_as_edn() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus_dir().join("manifest.json")).unwrap())
            .unwrap();
    // The corpus reads null as a value (its registers start at null).
    let options = checker::EdnOptions {
        nil_read: checker::NilRead::Value,
        ..checker::EdnOptions::default()
    };
    for entry in manifest["files"].as_array().unwrap() {
        let name = entry["file"].as_str().unwrap();
        let text = std::fs::read_to_string(corpus_dir().join(name)).unwrap();
        let model = model::by_name(
            entry["model"].as_str().unwrap(),
            Some(&entry["initial_value"]),
        )
        .unwrap();
        let from_jsonl = History::parse_jsonl(&text).unwrap();
        let from_edn = History::parse_edn_with(&to_edn(&text), options).unwrap();
        let again = History::parse_jsonl(&from_jsonl.to_jsonl()).unwrap();
        assert_eq!(
            from_edn.operations().len(),
            from_jsonl.operations().len(),
            "{name}"
        );
        for (a, b) in from_edn.operations().iter().zip(from_jsonl.operations()) {
            assert_eq!(
                (&a.key, &a.value, a.output()),
                (&b.key, &b.value, b.output()),
                "{name}"
            );
        }
        let verdicts: Vec<Verdict> = [&from_jsonl, &from_edn, &again]
            .iter()
            .map(|h| {
                checker::check_verdict(h, &model, DEFAULT_BUDGET)
                    .unwrap()
                    .verdict
            })
            .collect();
        assert_eq!(
            verdicts[0].as_str(),
            entry["expected"].as_str().unwrap(),
            "{name}"
        );
        assert!(
            verdicts.iter().all(|v| *v == verdicts[0]),
            "{name}: {verdicts:?}"
        );
    }
}
