//! Hand-written histories: each semantic rule, each model, each bad input.

use checker::history::HistoryErrorKind;
use checker::{check, model, CompletionKind, History, ModelError, ShapeError, Verdict};
use serde_json::{json, Value};

/// One JSON Lines event, keyless unless `key` is given.
fn ev(process: u64, kind: &str, f: &str, key: Option<&str>, value: Value, time: u64) -> String {
    let mut event = json!({"process": process, "type": kind, "f": f, "value": value, "time": time});
    if let Some(key) = key {
        event["key"] = json!(key);
    }
    format!("{event}\n")
}

fn verdict_with(model_name: &str, initial: Option<Value>, lines: &[String]) -> Verdict {
    let history = History::parse_jsonl(&lines.concat()).expect("well-formed history");
    let model = model::by_name(model_name, initial.as_ref()).expect("known model");
    check(&history, &model, checker::DEFAULT_BUDGET)
        .expect("well-shaped history")
        .verdict
}

fn verdict(model_name: &str, lines: &[String]) -> Verdict {
    verdict_with(model_name, None, lines)
}

use Verdict::{Linearizable as Yes, NotLinearizable as No};

// --- semantic rules -------------------------------------------------------

#[test]
fn info_may_take_effect_after_its_info_line() {
    // The write's outcome is unknown at time 2; a read at 3..4 still sees
    // the initial value and a read at 5..6 sees the write: only possible if
    // the write took effect after its info line.
    let lines = [
        ev(0, "invoke", "write", None, json!(1), 1),
        ev(0, "info", "write", None, json!(1), 2),
        ev(1, "invoke", "read", None, Value::Null, 3),
        ev(1, "ok", "read", None, Value::Null, 4),
        ev(1, "invoke", "read", None, Value::Null, 5),
        ev(1, "ok", "read", None, json!(1), 6),
    ];
    assert_eq!(verdict("cas-register", &lines), Yes);
    // It may also never take effect.
    assert_eq!(verdict("cas-register", &lines[..4]), Yes);
}

#[test]
fn info_cannot_take_effect_before_its_invocation() {
    let lines = [
        ev(1, "invoke", "read", None, Value::Null, 1),
        ev(1, "ok", "read", None, json!(1), 2),
        ev(0, "invoke", "write", None, json!(1), 3),
        ev(0, "info", "write", None, json!(1), 4),
    ];
    assert_eq!(verdict("cas-register", &lines), No);
}

#[test]
fn missing_completion_is_the_same_as_info() {
    let lines = [
        ev(0, "invoke", "write", None, json!(1), 1),
        ev(1, "invoke", "read", None, Value::Null, 3),
        ev(1, "ok", "read", None, Value::Null, 4),
        ev(1, "invoke", "read", None, Value::Null, 5),
        ev(1, "ok", "read", None, json!(1), 6),
    ];
    assert_eq!(verdict("cas-register", &lines), Yes);
}

#[test]
fn failed_operations_are_dropped() {
    let write_failed = [
        ev(0, "invoke", "write", None, json!(1), 1),
        ev(0, "fail", "write", None, json!(1), 2),
    ];
    let read = |value: Value| {
        [
            ev(1, "invoke", "read", None, Value::Null, 3),
            ev(1, "ok", "read", None, value, 4),
        ]
    };
    assert_eq!(
        verdict(
            "cas-register",
            &[write_failed.clone(), read(json!(1))].concat()
        ),
        No
    );
    assert_eq!(
        verdict("cas-register", &[write_failed, read(Value::Null)].concat()),
        Yes
    );
    // A failed read's null is "no result", not a read of null.
    let lines = [
        ev(0, "invoke", "write", None, json!(1), 1),
        ev(0, "ok", "write", None, json!(1), 2),
        ev(1, "invoke", "read", None, Value::Null, 3),
        ev(1, "fail", "read", None, Value::Null, 4),
    ];
    assert_eq!(verdict("cas-register", &lines), Yes);
}

#[test]
fn concurrent_operations_may_take_effect_in_either_order() {
    let lines = [
        ev(0, "invoke", "write", None, json!(1), 1),
        ev(1, "invoke", "read", None, Value::Null, 2),
        ev(1, "ok", "read", None, json!(1), 3),
        ev(0, "ok", "write", None, json!(1), 4),
    ];
    assert_eq!(verdict("cas-register", &lines), Yes);
    // Touching intervals (a return and an invocation at the same time)
    // count as concurrent: a timestamp cannot order them.
    let touching = [
        ev(1, "invoke", "read", None, Value::Null, 1),
        ev(1, "ok", "read", None, json!(1), 2),
        ev(0, "invoke", "write", None, json!(1), 2),
        ev(0, "ok", "write", None, json!(1), 3),
    ];
    assert_eq!(verdict("cas-register", &touching), Yes);
}

// --- models -----------------------------------------------------------------

#[test]
fn cas_register_cas_needs_the_expected_value() {
    let cas = |old: Value, time| {
        [
            ev(0, "invoke", "cas", None, json!([old, 2]), time),
            ev(0, "ok", "cas", None, json!([old, 2]), time + 1),
        ]
    };
    let read2 = [
        ev(1, "invoke", "read", None, Value::Null, 10),
        ev(1, "ok", "read", None, json!(2), 11),
    ];
    assert_eq!(
        verdict(
            "cas-register",
            &[cas(Value::Null, 1).to_vec(), read2.to_vec()].concat()
        ),
        Yes
    );
    assert_eq!(verdict("cas-register", &cas(json!(1), 1)), No);
    assert_eq!(
        verdict_with("cas-register", Some(json!(1)), &cas(json!(1), 1)),
        Yes
    );
}

#[test]
fn kv_keys_are_independent_and_integer_keys_are_not_strings() {
    let lines = [
        ev(0, "invoke", "write", Some("1"), json!(5), 1),
        ev(0, "ok", "write", Some("1"), json!(5), 2),
        ev(1, "invoke", "read", Some("1"), Value::Null, 3),
        ev(1, "ok", "read", Some("1"), json!(5), 4),
        ev(1, "invoke", "read", Some("2"), Value::Null, 5),
        ev(1, "ok", "read", Some("2"), Value::Null, 6),
    ];
    assert_eq!(verdict("kv", &lines), Yes);
    let history = History::parse_jsonl(&lines.concat()).unwrap();
    let report = check(&history, &model::by_name("kv", None).unwrap(), 1000).unwrap();
    let keys: Vec<Option<&str>> = report.keys.iter().map(|k| k.key.as_deref()).collect();
    // The string keys "1" and "2" read as JSON, so they are kept quoted.
    assert_eq!(keys, [Some("\"1\""), Some("\"2\"")]);
    let stale = [
        &lines[..4],
        &[
            ev(1, "invoke", "read", Some("1"), Value::Null, 5),
            ev(1, "ok", "read", Some("1"), Value::Null, 6),
        ],
    ]
    .concat();
    assert_eq!(verdict("kv", &stale), No);
    // The integer key 1 is another key than the string "1": its read of
    // null is not stale.
    let int_key = [
        &lines[..2],
        &["{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":1,\"value\":null,\"time\":5}\n\
           {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":1,\"value\":null,\"time\":6}\n"
            .to_string()],
    ]
    .concat();
    assert_eq!(verdict("kv", &int_key), Yes);
}

#[test]
fn kv_append_concatenates_from_an_empty_string() {
    let op = |p, f: &str, v: Value, out: Value, t| {
        [
            ev(p, "invoke", f, Some("k"), v, t),
            ev(p, "ok", f, Some("k"), out, t + 1),
        ]
    };
    let lines = [
        op(0, "get", Value::Null, json!(""), 1),
        op(0, "append", json!("ab"), json!("ab"), 3),
        op(1, "append", json!("c"), json!("c"), 5),
        op(1, "get", Value::Null, json!("abc"), 7),
        op(0, "put", json!("z"), json!("z"), 9),
        op(0, "get", Value::Null, json!("z"), 11),
    ]
    .concat();
    assert_eq!(verdict("kv-append", &lines), Yes);
    let wrong_order = [
        op(0, "append", json!("a"), Value::Null, 1),
        op(0, "append", json!("b"), Value::Null, 3),
        op(1, "get", Value::Null, json!("ba"), 5),
    ]
    .concat();
    assert_eq!(verdict("kv-append", &wrong_order), No);
}

#[test]
fn counter_reads_see_sums_of_adds() {
    let op = |p, f: &str, v: Value, out: Value, t| {
        [
            ev(p, "invoke", f, None, v, t),
            ev(p, "ok", f, None, out, t + 1),
        ]
    };
    let concurrent = [
        ev(0, "invoke", "add", None, json!(2), 1),
        ev(1, "invoke", "add", None, json!(3), 2),
        ev(2, "invoke", "read", None, Value::Null, 3),
        ev(2, "ok", "read", None, json!(3), 4),
        ev(0, "ok", "add", None, Value::Null, 5),
        ev(1, "ok", "add", None, json!(3), 6),
    ];
    assert_eq!(verdict("counter", &concurrent), Yes);
    let sequential = [
        op(0, "add", json!(2), Value::Null, 1),
        op(0, "read", Value::Null, json!(3), 3),
    ]
    .concat();
    assert_eq!(verdict("counter", &sequential), No);
    assert_eq!(verdict_with("counter", Some(json!(1)), &sequential), Yes);
}

#[test]
fn bank_withdraw_refuses_when_funds_are_short() {
    let op = |p, f: &str, v: Value, out: Value, t| {
        [
            ev(p, "invoke", f, None, v, t),
            ev(p, "ok", f, None, out, t + 1),
        ]
    };
    let refused = [
        op(0, "deposit", json!(5), Value::Null, 1),
        op(0, "withdraw", json!(7), json!(false), 3),
        op(0, "balance", Value::Null, json!(5), 5),
    ]
    .concat();
    assert_eq!(verdict("bank", &refused), Yes);
    let overdrawn = [
        op(0, "deposit", json!(5), Value::Null, 1),
        op(0, "withdraw", json!(7), json!(true), 3),
    ]
    .concat();
    assert_eq!(verdict("bank", &overdrawn), No);
    let wrongly_refused = [
        op(0, "deposit", json!(5), Value::Null, 1),
        op(0, "withdraw", json!(3), json!(false), 3),
    ]
    .concat();
    assert_eq!(verdict("bank", &wrongly_refused), No);
    let taken = [
        op(0, "deposit", json!(5), Value::Null, 1),
        op(0, "withdraw", json!(3), json!(true), 3),
        op(1, "balance", Value::Null, json!(2), 5),
    ]
    .concat();
    assert_eq!(verdict("bank", &taken), Yes);
}

#[test]
fn registry_lists_every_model_with_a_description() {
    let names: Vec<&str> = model::list().iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        [
            "cas-register",
            "multi-register",
            "mutex",
            "set",
            "kv",
            "kv-append",
            "list-append",
            "counter",
            "bank",
            "versioned-kv",
            "set-full",
            "g-set",
            "unique-ids",
            "g-counter",
            "pn-counter",
            "rw-register",
            "kafka"
        ]
    );
    assert!(model::list().iter().all(|r| !r.description.is_empty()));
    for name in names {
        assert_eq!(model::by_name(name, None).unwrap().name(), name);
    }
    assert_eq!(
        model::by_name("nope", None).unwrap_err(),
        ModelError::Unknown {
            name: "nope".into()
        }
    );
    let bad = model::by_name("counter", Some(&json!("x"))).unwrap_err();
    assert!(bad.to_string().contains("must be an integer"), "{bad}");
}

// --- bad input ----------------------------------------------------------------

fn parse_error(text: &str) -> (Option<usize>, String) {
    let error = History::parse_jsonl(text).unwrap_err();
    (error.line, error.kind.to_string())
}

#[test]
fn malformed_lines_are_reported_with_their_line_number() {
    let good = ev(0, "invoke", "read", None, Value::Null, 1);
    let cases: [(String, usize, &str); 7] = [
        (format!("{good}\n{{not json\n"), 3, "column"),
        (
            format!("{good}{}", ev(0, "done", "read", None, Value::Null, 2)),
            2,
            "unknown type \"done\"; allowed: invoke, ok, fail, info",
        ),
        (
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"time\":1,\"colour\":1}\n".into(),
            1,
            "unknown field `colour`",
        ),
        (
            ev(4, "ok", "read", None, Value::Null, 1),
            1,
            "completion for process 4, which has no operation in flight",
        ),
        (
            format!("{good}{good}"),
            2,
            "process 0 invokes an operation while another is in flight (invoked on line 1)",
        ),
        (
            format!(
                "{good}{}{}",
                ev(0, "info", "read", None, Value::Null, 2),
                ev(0, "invoke", "read", None, Value::Null, 3)
            ),
            3,
            "process 0 is reused after an info completion",
        ),
        (
            format!("{good}{}", ev(0, "ok", "write", None, Value::Null, 2)),
            2,
            "completion has f \"write\" but its invocation has f \"read\"",
        ),
    ];
    for (text, line, message) in cases.iter().skip(1) {
        let (got_line, got) = parse_error(text);
        assert_eq!(got_line, Some(*line), "{got}");
        assert!(got.contains(message), "{got:?} lacks {message:?}");
    }
    let (line, message) = parse_error(&cases[0].0);
    assert_eq!(line, Some(3));
    assert!(message.contains("column"), "{message}");
    let (line, message) = parse_error(&format!(
        "{good}{}",
        ev(0, "ok", "read", None, Value::Null, 0)
    ));
    assert_eq!(line, Some(2));
    assert!(
        message.contains("before its invocation time 1"),
        "{message}"
    );
    let bad_key = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":[1],\"time\":1}\n";
    assert!(matches!(
        History::parse_jsonl(bad_key).unwrap_err().kind,
        HistoryErrorKind::BadKey(_)
    ));
}

#[test]
fn values_of_the_wrong_shape_name_the_line_and_what_is_allowed() {
    let shape = |model_name: &str, lines: &[String]| {
        let history = History::parse_jsonl(&lines.concat()).unwrap();
        check(&history, &model::by_name(model_name, None).unwrap(), 1000).unwrap_err()
    };
    let cas = shape(
        "cas-register",
        &[
            ev(0, "invoke", "read", None, Value::Null, 1),
            ev(0, "ok", "read", None, json!(1), 2),
            ev(0, "invoke", "cas", None, json!(3), 3),
        ],
    );
    assert_eq!(cas.line, Some(3));
    assert!(
        cas.to_string()
            .contains("cas takes a pair [old, new] as its value, not 3"),
        "{cas}"
    );
    let function = shape("counter", &[ev(0, "invoke", "write", None, json!(1), 1)]);
    assert_eq!(
        function.error,
        ShapeError::UnknownFunction {
            f: "write".into(),
            allowed: &["add", "read"]
        }
    );
    let output = shape(
        "kv-append",
        &[
            ev(0, "invoke", "get", Some("k"), Value::Null, 1),
            ev(0, "ok", "get", Some("k"), json!(7), 2),
        ],
    );
    assert!(
        output
            .to_string()
            .starts_with("line 1: an ok get returns a string, not 7"),
        "{output}"
    );
    let withdraw = shape("bank", &[ev(0, "invoke", "withdraw", None, json!(-2), 1)]);
    assert!(
        withdraw
            .to_string()
            .contains("a non-negative integer amount"),
        "{withdraw}"
    );
    let keyed = shape(
        "cas-register",
        &[ev(0, "invoke", "read", Some("x"), Value::Null, 1)],
    );
    assert!(keyed.to_string().contains("use --model kv"), "{keyed}");
}

// --- building, writing, determinism, budget -------------------------------------

#[test]
fn builder_and_writer_round_trip() {
    let mut history = History::new();
    history
        .invoke(0, "write", Some("x".into()), json!(3), 1000)
        .unwrap();
    history
        .invoke(1, "read", Some("x".into()), Value::Null, 1200)
        .unwrap();
    history
        .complete(0, CompletionKind::Ok, json!(3), 2500)
        .unwrap();
    history
        .complete(1, CompletionKind::Ok, json!(3), 3000)
        .unwrap();
    assert!(history
        .complete(1, CompletionKind::Ok, json!(3), 3100)
        .is_err());
    assert!(history.invoke(0, "read", None, Value::Null, 4000).is_ok());
    let text = history.to_jsonl();
    assert!(text.starts_with(
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"x\",\"value\":3,\"time\":1000}\n"
    ));
    let again = History::parse_jsonl(&text).unwrap();
    assert_eq!(again.operations().len(), 3);
    assert_eq!(again.to_jsonl(), text);
    let rebuilt = History::from_ops(again.operations().to_vec()).unwrap();
    assert_eq!(rebuilt.operations().len(), 3);
}

#[test]
fn corpus_text_round_trips_byte_for_byte() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/etcd_000.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(History::parse_jsonl(&text).unwrap().to_jsonl(), text);
}

#[test]
fn reports_are_deterministic_and_budgets_answer_unknown() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/kv_c50-bad.jsonl");
    let history = History::parse_jsonl(&std::fs::read_to_string(path).unwrap()).unwrap();
    let model = model::by_name("kv-append", None).unwrap();
    let first = serde_json::to_string(&check(&history, &model, 1_000_000).unwrap()).unwrap();
    let second = serde_json::to_string(&check(&history, &model, 1_000_000).unwrap()).unwrap();
    assert_eq!(first, second);
    let starved = check(&history, &model, 1000).unwrap();
    assert_eq!(starved.verdict, Verdict::Unknown);
    assert!(starved.steps <= 1000);
}
