//! The Knossos and Maelstrom models, one good and one bad history each,
//! written as Knossos and Maelstrom record them (EDN).

use checker::{check, model, History, Verdict};

fn verdict(model_name: &str, edn: &str) -> Verdict {
    let history = History::parse_edn(edn).expect("well-formed history");
    let model = model::by_name(model_name, None).expect("known model");
    check(&history, &model, checker::DEFAULT_BUDGET)
        .expect("well-shaped history")
        .verdict
}

/// One event line: process, type, f, value.
fn ev(p: u64, t: &str, f: &str, v: &str) -> String {
    format!("{{:process {p}, :type :{t}, :f :{f}, :value {v}}}\n")
}

#[test]
fn mutex() {
    let good = [
        ev(0, "invoke", "acquire", "nil"),
        ev(0, "ok", "acquire", "nil"),
        ev(1, "invoke", "acquire", "nil"),
        ev(0, "invoke", "release", "nil"),
        ev(0, "ok", "release", "nil"),
        ev(1, "ok", "acquire", "nil"),
    ]
    .concat();
    assert_eq!(verdict("mutex", &good), Verdict::Linearizable);
    // Two holders at once.
    let bad = [
        ev(0, "invoke", "acquire", "nil"),
        ev(0, "ok", "acquire", "nil"),
        ev(1, "invoke", "acquire", "nil"),
        ev(1, "ok", "acquire", "nil"),
    ]
    .concat();
    assert_eq!(verdict("mutex", &bad), Verdict::NotLinearizable);
}

#[test]
fn multi_register_in_knossos_form() {
    let good = [
        ev(0, "invoke", "txn", "[[:write :x 1] [:write :y 2]]"),
        ev(0, "ok", "txn", "[[:write :x 1] [:write :y 2]]"),
        ev(1, "invoke", "txn", "[[:read :x nil] [:read :y nil]]"),
        ev(1, "ok", "txn", "[[:read :x 1] [:read :y nil]]"),
    ]
    .concat();
    // A read of nil is unknown, as Knossos has it.
    assert_eq!(verdict("multi-register", &good), Verdict::Linearizable);
    // Torn: x from after the write, y from before it.
    let bad = good.replace(
        "[[:read :x 1] [:read :y nil]]",
        "[[:read :x 1] [:read :y 0]]",
    );
    assert_eq!(verdict("multi-register", &bad), Verdict::NotLinearizable);
}

#[test]
fn knossos_set() {
    let good = [
        ev(0, "invoke", "add", "1"),
        ev(0, "ok", "add", "1"),
        ev(1, "invoke", "add", "2"),
        ev(1, "ok", "add", "2"),
        ev(2, "invoke", "read", "nil"),
        ev(2, "ok", "read", "#{2 1}"),
    ]
    .concat();
    assert_eq!(verdict("set", &good), Verdict::Linearizable);
    let bad = good.replace("#{2 1}", "#{2}");
    assert_eq!(verdict("set", &bad), Verdict::NotLinearizable);
}

#[test]
fn pn_counter_takes_negative_adds_and_g_counter_refuses_them() {
    let history = |read: i64| {
        [
            ev(0, "invoke", "add", "5"),
            ev(0, "ok", "add", "5"),
            ev(1, "invoke", "add", "-3"),
            ev(1, "ok", "add", "-3"),
            ev(2, "invoke", "add", "-1"),
            ev(2, "info", "add", "-1"),
            ev(3, "invoke", "read", "nil"),
            ev(3, "ok", "read", &read.to_string()),
        ]
        .concat()
    };
    assert_eq!(verdict("pn-counter", &history(2)), Verdict::Linearizable);
    assert_eq!(verdict("pn-counter", &history(1)), Verdict::Linearizable);
    assert_eq!(verdict("pn-counter", &history(5)), Verdict::NotLinearizable);
    assert_eq!(verdict("pn-counter", &history(3)), Verdict::NotLinearizable);
    let model = model::by_name("g-counter", None).unwrap();
    let h = History::parse_edn(&history(2)).unwrap();
    let error = check(&h, &model, 1000).unwrap_err();
    assert!(error.to_string().contains("pn-counter"), "{error}");
}

#[test]
fn g_set_is_set_full() {
    let good = [
        ev(0, "invoke", "add", "1"),
        ev(0, "ok", "add", "1"),
        ev(1, "invoke", "read", "nil"),
        ev(1, "ok", "read", "[1]"),
    ]
    .concat();
    assert_eq!(verdict("g-set", &good), Verdict::Linearizable);
    let bad = good.replace(":value [1]", ":value []");
    assert_eq!(verdict("g-set", &bad), Verdict::NotLinearizable);
}

#[test]
fn maelstrom_kafka_as_its_client_records_it() {
    let good = [
        ev(0, "invoke", "assign", "[\"1\"]"),
        ev(0, "ok", "assign", "[\"1\"]"),
        ev(1, "invoke", "send", "[[:send \"1\" 5]]"),
        ev(1, "ok", "send", "[[:send \"1\" [0 5]]]"),
        ev(1, "invoke", "send", "[[:send \"1\" 6]]"),
        ev(1, "ok", "send", "[[:send \"1\" [1 6]]]"),
        ev(1, "invoke", "send", "[[:send \"1\" 7]]"),
        ev(1, "ok", "send", "[[:send \"1\" [2 7]]]"),
        ev(0, "invoke", "poll", "[[:poll]]"),
        ev(0, "ok", "poll", "[[:poll {\"1\" [[0 5] [1 6] [2 7]]}]]"),
    ]
    .concat();
    assert_eq!(verdict("kafka", &good), Verdict::Linearizable);
    // Offset 1 is skipped by a poll that saw 0 and 2: a lost write.
    let bad = good.replace("[[0 5] [1 6] [2 7]]", "[[0 5] [2 7]]");
    assert_eq!(verdict("kafka", &bad), Verdict::NotLinearizable);
}
