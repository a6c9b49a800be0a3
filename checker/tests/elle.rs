//! Transactional checking as Elle does it: one history per anomaly class,
//! written for these tests, each asserting the class found and the witness
//! (its cycle, with the edges in words).

use checker::{check, model, History, Verdict};
use serde_json::json;

/// Checks an EDN history against `model` with the given settings.
fn run(model_name: &str, settings: serde_json::Value, edn: &str) -> checker::Report {
    let history = History::parse_edn(edn).expect("well-formed history");
    let model = model::by_name(model_name, Some(&settings)).expect("known model");
    check(&history, &model, checker::DEFAULT_BUDGET).expect("well-shaped history")
}

/// The completed transactions of Elle's test form, all concurrent.
fn oks(txns: &[&str]) -> String {
    let lines: Vec<String> = txns
        .iter()
        .map(|t| format!("{{:type :ok, :f :txn, :value {t}}}"))
        .collect();
    format!("[{}]", lines.join("\n "))
}

/// How many edges of kind `dep` the witness's cycle explains.
fn edges(text: &str, dep: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with("  T") && l.contains(&format!(" -{dep}-> T")) && l.contains(": "))
        .count()
}

/// Asserts `report` fails, naming `kind` first, with a witness whose
/// explanation has `words`; returns the explanation.
fn fails(report: &checker::Report, consistency: &str, kind: &str, words: &[&str]) -> String {
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    assert_eq!(report.property, consistency);
    let w = report.witness.as_ref().expect("a witness");
    let first = w.explanation.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("not {consistency}: ")),
        "{}",
        w.explanation
    );
    assert!(
        w.explanation
            .lines()
            .nth(1)
            .unwrap()
            .starts_with(&format!("{kind}: ")),
        "{}",
        w.explanation
    );
    for word in words {
        assert!(
            w.explanation.contains(word),
            "{word:?} in {}",
            w.explanation
        );
    }
    w.explanation.clone()
}

fn la(consistency: &str, edn: &str) -> checker::Report {
    run("list-append", json!(consistency), edn)
}

#[test]
fn list_append_g0() {
    let h = oks(&[
        "[[:append :x 1] [:append :y 1]]",
        "[[:append :x 2] [:append :y 2]]",
        "[[:r :x [1 2]] [:r :y [2 1]]]",
    ]);
    fails(
        &la("read-uncommitted", &h),
        "read-uncommitted",
        "G0",
        &["-ww->", "T1 appended 2 after T0 appended 1 to :x"],
    );
}

#[test]
fn list_append_g1c() {
    let h = oks(&[
        "[[:append :x 1] [:r :y [1]]]",
        "[[:append :y 1] [:r :x [1]]]",
    ]);
    fails(
        &la("read-committed", &h),
        "read-committed",
        "G1c",
        &["observed T0's append of 1 to key :x", "-wr->"],
    );
    // Read uncommitted allows it.
    assert_eq!(la("read-uncommitted", &h).verdict, Verdict::Linearizable);
}

#[test]
fn list_append_g_single_and_the_models_that_allow_it() {
    let h = oks(&[
        "[[:append :x 1] [:append :y 1]]",
        "[[:r :x [1]] [:r :y []]]",
    ]);
    fails(
        &la("serializable", &h),
        "serializable",
        "G-single",
        &["observed the initial (empty) state of :y, which T0 created by appending 1"],
    );
    fails(
        &la("snapshot-isolation", &h),
        "snapshot-isolation",
        "G-single",
        &[],
    );
    // Elle's repeatable read forbids G2-item, not G-single.
    assert_eq!(la("repeatable-read", &h).verdict, Verdict::Linearizable);
}

#[test]
fn list_append_g2_item() {
    let h = oks(&[
        "[[:r :x []] [:append :y 1]]",
        "[[:r :y []] [:append :x 1]]",
        "[[:r :x [1]] [:r :y [1]]]",
    ]);
    let text = fails(
        &la("repeatable-read", &h),
        "repeatable-read",
        "G2-item",
        &[],
    );
    assert_eq!(edges(&text, "rw"), 2, "{text}");
    // Snapshot isolation allows write skew.
    assert_eq!(la("snapshot-isolation", &h).verdict, Verdict::Linearizable);
}

#[test]
fn list_append_g_nonadjacent() {
    let h = oks(&[
        "[[:r :x []] [:r :y [1]]]",
        "[[:append :x 1]]",
        "[[:r :x [1]] [:r :y []]]",
        "[[:append :y 1]]",
    ]);
    let text = fails(
        &la("snapshot-isolation", &h),
        "snapshot-isolation",
        "G-nonadjacent",
        &[],
    );
    assert_eq!(edges(&text, "rw"), 2, "{text}");
    assert_eq!(edges(&text, "wr"), 2, "{text}");
}

#[test]
fn list_append_g1a_and_dirty_update() {
    let h = "[{:type :fail, :f :txn, :value [[:append :x 1]]}\n\
              {:type :ok, :f :txn, :value [[:append :x 2]]}\n\
              {:type :ok, :f :txn, :value [[:r :x [1 2]]]}]";
    let report = la("read-committed", h);
    let text = fails(
        &report,
        "read-committed",
        "G1a",
        &["T0 failed (aborted read)"],
    );
    assert!(text.contains("dirty-update"), "{text}");
}

#[test]
fn list_append_g1b() {
    let h = oks(&["[[:append :x 1] [:append :x 2]]", "[[:r :x [1]]]"]);
    fails(
        &la("read-committed", &h),
        "read-committed",
        "G1b",
        &["an intermediate append of T0"],
    );
}

#[test]
fn list_append_internal() {
    let h = oks(&["[[:append :x 1] [:r :x [2]]]", "[[:append :x 2]]"]);
    fails(
        &la("serializable", &h),
        "serializable",
        "internal",
        &["say [... 1]"],
    );
}

#[test]
fn list_append_lost_update() {
    let h = oks(&[
        "[[:r :x []] [:append :x 1]]",
        "[[:r :x []] [:append :x 2]]",
        "[[:r :x [1 2]]]",
    ]);
    fails(
        &la("repeatable-read", &h),
        "repeatable-read",
        "lost-update",
        &["T0, T1 all read :x = [] and then appended to :x"],
    );
    // The versions make it a G-single cycle, which serializability names first.
    let text = fails(&la("serializable", &h), "serializable", "G-single", &[]);
    assert!(text.contains("lost-update"), "{text}");
}

#[test]
fn list_append_duplicate_elements_and_incompatible_order() {
    let dup = oks(&["[[:append :x 1]]", "[[:r :x [1 1]]]"]);
    fails(
        &la("read-uncommitted", &dup),
        "read-uncommitted",
        "duplicate-elements",
        &["with 1 more than once"],
    );
    let order = oks(&[
        "[[:append :x 1]]",
        "[[:append :x 2]]",
        "[[:r :x [1 2]]]",
        "[[:r :x [2 1]]]",
    ]);
    fails(
        &la("read-committed", &order),
        "read-committed",
        "incompatible-order",
        &["neither is a prefix of the other"],
    );
}

#[test]
fn list_append_garbage_read_fails_only_when_asked() {
    // (The other two transactions give a dependency: with none at all the
    // answer is unknown, as Elle's empty-transaction-graph.)
    let h = oks(&["[[:r :x [9]]]", "[[:append :y 1]]", "[[:r :y [1]]]"]);
    let report = la("strict-serializable", &h);
    assert_eq!(report.verdict, Verdict::Linearizable);
    let asked = run(
        "list-append",
        json!({"consistency": "strict-serializable", "anomalies": ["garbage-read"]}),
        &h,
    );
    fails(
        &asked,
        "strict-serializable",
        "garbage-read",
        &["which no transaction appended"],
    );
}

#[test]
fn list_append_realtime_and_process_variants() {
    // T0 appends x 1 and completes; T1 begins after and reads x empty.
    let h = "{:index 0, :time 10, :type :invoke, :process 0, :f :txn, :value [[:append :x 1]]}\n\
             {:index 1, :time 20, :type :ok, :process 0, :f :txn, :value [[:append :x 1]]}\n\
             {:index 2, :time 30, :type :invoke, :process 1, :f :txn, :value [[:r :x nil]]}\n\
             {:index 3, :time 40, :type :ok, :process 1, :f :txn, :value [[:r :x []]]}\n";
    fails(
        &la("strict-serializable", h),
        "strict-serializable",
        "G-single-realtime",
        &["-realtime->", "T0 completed before T1 was invoked"],
    );
    assert_eq!(la("serializable", h).verdict, Verdict::Linearizable);
    // The same with one process and no invocations: process order.
    let p = "[{:type :ok, :process 0, :f :txn, :value [[:append :x 1]]}\n\
              {:type :ok, :process 0, :f :txn, :value [[:r :x []]]}]";
    fails(
        &la("strong-session-serializable", p),
        "strong-session-serializable",
        "G-single-process",
        &["-process->", "one process ran T0, then T1"],
    );
    // Without invocations there is no real-time order.
    assert_eq!(la("strict-serializable", p).verdict, Verdict::Linearizable);
}

#[test]
fn rw_register_anomalies_in_jepsen_form() {
    let rw = |c: &str, h: &str| run("rw-register", json!(c), h);
    let g_single = oks(&["[[:w :x 1] [:w :y 1]]", "[[:r :x 1] [:r :y nil]]"]);
    fails(
        &rw("serializable", &g_single),
        "serializable",
        "G-single",
        &["T1 read :y = nil, T0 wrote 1, later in the version order"],
    );
    let g1a =
        "[{:type :fail, :f :txn, :value [[:w :x 1]]}\n {:type :ok, :f :txn, :value [[:r :x 1]]}]";
    fails(&rw("read-committed", g1a), "read-committed", "G1a", &[]);
    let g0 = oks(&[
        "[[:r :x nil] [:w :x 1] [:w :y 2]]",
        "[[:r :y nil] [:w :y 1] [:w :x 2]]",
        "[[:r :x 1] [:w :x 3]]",
    ]);
    let report = rw("serializable", &g0);
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    // Keywords and strings are different keys: no anomaly between them.
    let apart = oks(&["[[:w :x 1] [:w :y 1]]", "[[:r \"x\" nil] [:r :y 1]]"]);
    assert_eq!(rw("serializable", &apart).verdict, Verdict::Linearizable);
}

#[test]
fn rw_register_infers_versions_as_elle_does_by_default() {
    // T0 writes x 1; T1 reads it and writes x 2 and y 5; T2 reads x 1 and
    // y 5. Only writes-follow-reads (Elle's :wfr-keys?) puts x 1 before
    // x 2, and so T2 -rw-> T1 -wr-> T2, a G-single. Elle's default infers
    // only that nil precedes every value: T0 -wr-> T1 -wr-> T2, no cycle.
    let h = oks(&[
        "[[:w :x 1]]",
        "[[:r :x 1] [:w :x 2] [:w :y 5]]",
        "[[:r :x 1] [:r :y 5]]",
    ]);
    let default = run("rw-register", json!("strict-serializable"), &h);
    assert_eq!(default.verdict, Verdict::Linearizable);
    let wfr = run(
        "rw-register",
        json!({"consistency": "strict-serializable", "wfr_keys": true}),
        &h,
    );
    fails(&wfr, "strict-serializable", "G-single", &["-rw->", "-wr->"]);
    // wfr_keys is rw-register's: list-append infers versions from its lists.
    let model = model::by_name(
        "list-append",
        Some(&json!({"consistency": "serializable", "wfr_keys": true})),
    );
    assert!(model.is_err());
}

#[test]
fn rw_register_a_read_of_nil_then_a_value_is_not_internal() {
    // As Elle: an earlier read of nil sets no expectation for the next read
    // of the key in the transaction; a read of a value does.
    let h = oks(&["[[:w :x 1]]", "[[:r :x nil] [:r :x 1]]"]);
    let report = run("rw-register", json!("strict-serializable"), &h);
    assert_eq!(report.verdict, Verdict::Linearizable);
    let h = oks(&["[[:w :x 1]]", "[[:r :x 1] [:r :x nil]]"]);
    fails(
        &run("rw-register", json!("serializable"), &h),
        "serializable",
        "internal",
        &["read :x = 1 and then read :x = nil"],
    );
    // Every read counts for G1a, as Elle looks at every read: the second
    // read sees what only a failed transaction wrote.
    let h = "[{:type :fail, :f :txn, :value [[:w :x 2]]}\n \
             {:type :ok, :f :txn, :value [[:r :x nil] [:r :x 2]]}]";
    fails(
        &run("rw-register", json!("read-committed"), h),
        "read-committed",
        "G1a",
        &["which failed (aborted read)"],
    );
}

#[test]
fn realtime_edges_reach_crashed_transactions() {
    // T0 reads x [1] and completes; only then is T1 invoked, which appends
    // 1 and crashes (info). Elle's realtime graph links every ok
    // transaction to the transactions invoked after it ended, info ones
    // too: T0 -realtime-> T1 -wr-> T0.
    let h = "{:index 0, :time 10, :type :invoke, :process 0, :f :txn, :value [[:r :x nil]]}\n\
             {:index 1, :time 20, :type :ok, :process 0, :f :txn, :value [[:r :x [1]]]}\n\
             {:index 2, :time 30, :type :invoke, :process 1, :f :txn, :value [[:append :x 1]]}\n\
             {:index 3, :time 40, :type :info, :process 1, :f :txn, :value [[:append :x 1]]}\n";
    fails(
        &la("strict-serializable", h),
        "strict-serializable",
        "G1c-realtime",
        &["-realtime->", "T0 completed before T1 was invoked", "-wr->"],
    );
    // Without real time it is a read of a crashed append that took effect.
    assert_eq!(la("serializable", h).verdict, Verdict::Linearizable);
    // A crashed transaction precedes nothing in real time: reversed, the
    // history is valid (T0 may have taken effect before T1 read).
    let r = "{:index 0, :time 10, :type :invoke, :process 0, :f :txn, :value [[:append :x 1]]}\n\
             {:index 1, :time 20, :type :info, :process 0, :f :txn, :value [[:append :x 1]]}\n\
             {:index 2, :time 30, :type :invoke, :process 1, :f :txn, :value [[:r :x nil]]}\n\
             {:index 3, :time 40, :type :ok, :process 1, :f :txn, :value [[:r :x []]]}\n";
    assert_eq!(la("strict-serializable", r).verdict, Verdict::Linearizable);
}

#[test]
fn no_dependency_at_all_is_unknown_as_elle_says() {
    // Elle's own example: what could be a pure write cycle, but nothing
    // orders the two transactions, so Elle answers unknown
    // (empty-transaction-graph), not valid.
    let h = oks(&["[[:w :x 1] [:w :y 2]]", "[[:w :x 2] [:w :y 1]]"]);
    let report = run("rw-register", json!("strict-serializable"), &h);
    assert_eq!(report.verdict, Verdict::Unknown);
    assert!(report.witness.is_none());
    // One dependency is enough to decide.
    let h = oks(&[
        "[[:w :x 1] [:w :y 2]]",
        "[[:w :x 2] [:w :y 1]]",
        "[[:r :x 2]]",
    ]);
    let report = run("rw-register", json!("strict-serializable"), &h);
    assert_eq!(report.verdict, Verdict::Linearizable);
}
