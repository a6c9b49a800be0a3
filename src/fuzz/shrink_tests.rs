use super::*;
use crate::fuzz::reduce::{shorten, without_node};
use crate::scenario::raw::NodeRef;

fn raw(json: &str) -> RawScenario {
    crate::scenario::parse(json, "t.json", "t")
        .expect("test scenario validates")
        .effective
}

const FIVE: &str = r#"{"protocol": "lww", "nodes": 5, "workload": {"ops": 0, "script": [
    {"at_ms": 1, "client": 0, "node": 0, "f": "write", "value": 1},
    {"at_ms": 2, "client": 1, "node": 4, "f": "write", "value": 2}]},
  "faults": [
    {"at_ms": 10, "kind": "partition", "groups": [[0, 2], [1, 3, 4]]},
    {"at_ms": 11, "kind": "partition_one_way", "from": [2], "to": [3, 4]},
    {"at_ms": 12, "kind": "partition_one_way", "from": [2], "to": [0]},
    {"at_ms": 30, "kind": "heal"},
    {"at_ms": 40, "kind": "crash", "node": 1},
    {"at_ms": 41, "kind": "loss", "drop": 0.5, "for_ms": 9},
    {"at_ms": 50, "kind": "restart", "node": 1}]}"#;

#[test]
fn removing_a_node_strips_it_from_partitions_and_renumbers_the_rest() {
    let r = raw(FIVE);
    let c = without_node(&r, 2).expect("only partitions name node 2");
    assert_eq!(c.nodes, 4);
    assert_eq!(
        c.faults[0],
        RawFault::Partition {
            at_ms: 10,
            groups: vec![vec![0.into()], vec![1.into(), 2.into(), 3.into()]]
        }
    );
    // Both one-way cuts lost their only sender.
    assert!(matches!(c.faults[1], RawFault::Heal { at_ms: 30 }));
    assert_eq!(
        c.faults[2],
        RawFault::Crash {
            at_ms: 40,
            node: 1.into()
        }
    );
    assert_eq!(c.workload.script[1].node, Some(3), "node 4 is now 3");
    // The result is a valid scenario.
    let text = serde_json::to_string(&c).unwrap();
    crate::scenario::parse(&text, "t.json", "t").expect("still valid");
}

#[test]
fn a_node_that_a_fault_or_an_operation_names_stays() {
    let r = raw(FIVE);
    assert!(without_node(&r, 1).is_none(), "crashed and restarted");
    assert!(without_node(&r, 0).is_none(), "an operation goes to it");
    assert!(without_node(&r, 4).is_none(), "an operation goes to it");
    assert!(without_node(&r, 3).is_some());
}

#[test]
fn windows_halve_towards_the_fault_they_end() {
    let r = raw(FIVE);
    // The heal at 30 ends the cut that started last, at 12: halfway is 21.
    let c = shorten(&r, 3).unwrap();
    assert_eq!(c.faults[3], RawFault::Heal { at_ms: 21 });
    // The restart at 50 ends the crash of node 1 at 40.
    let c = shorten(&r, 6).unwrap();
    assert_eq!(
        c.faults[6],
        RawFault::Restart {
            at_ms: 45,
            node: 1.into()
        }
    );
    let c = shorten(&r, 5).unwrap();
    assert!(matches!(c.faults[5], RawFault::Loss { for_ms: 4, .. }));
    assert!(shorten(&r, 0).is_none(), "a cut has no window of its own");
    // One millisecond cannot be halved.
    let mut tight = r.clone();
    tight.faults[3] = RawFault::Heal { at_ms: 13 };
    assert!(shorten(&tight, 3).is_none());
}

#[test]
fn shrinking_keeps_the_same_check_failing_the_same_way() {
    let sc = crate::scenario::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/bank-overdraft-split-brain.json"
    )))
    .unwrap();
    let target = Target {
        check: "withdrawals-covered".into(),
        status: Status::Violation,
    };
    let s = shrink(&sc, 1, &target, 300).expect("the bundled run fails this way");
    assert!(s.runs <= 300);
    assert!(s.after.ops <= s.before.ops && s.after.faults <= s.before.faults);
    assert!(
        s.after.events < s.before.events,
        "{:?} -> {:?}",
        s.before,
        s.after
    );
    assert_eq!(s.raw.checks, Some(vec!["withdrawals-covered".to_string()]));
    assert_eq!(
        s.raw.expect.get("withdrawals-covered"),
        Some(&Expect::Violation)
    );
    let rep = run_raw(&sc.proto, &s.raw, "t.json", 1, false).unwrap();
    assert!(reproduces(&rep, &target));
    // A check that passes cannot be made to "fail the same way" as a violation.
    let wrong = Target {
        check: "convergence".into(),
        status: Status::Violation,
    };
    assert!(shrink(&sc, 1, &wrong, 10).is_err());
}

#[test]
fn pauses_and_rules_shrink_and_named_processes_survive_node_removal() {
    let r = raw(r#"{"protocol": "lww", "nodes": 3, "workload": {"ops": 0},
  "faults": [
    {"at_ms": 10, "kind": "pause", "node": "n1"},
    {"at_ms": 30, "kind": "resume", "node": "n1"},
    {"at_ms": 5, "kind": "message", "until_ms": 45, "to": [2], "msg": "set", "action": "delay", "delay_ms": 8},
    {"at_ms": 6, "kind": "message", "until_ms": 46, "from": [0], "action": "drop"}]}"#);
    // In file order: pause, resume, then the two rules.
    let c = shorten(&r, 1).unwrap();
    assert_eq!(
        c.faults[1],
        RawFault::Resume {
            at_ms: 20,
            node: NodeRef::Name("n1".into())
        }
    );
    let c = shorten(&r, 2).unwrap();
    let RawFault::Message(m) = &c.faults[2] else {
        panic!("{:?}", c.faults[2])
    };
    assert_eq!(
        (m.delay_ms, m.until_ms),
        (Some(4), Some(45)),
        "the delay halves first"
    );
    let c = shorten(&r, 3).unwrap();
    let RawFault::Message(m) = &c.faults[3] else {
        panic!()
    };
    assert_eq!(m.until_ms, Some(26));
    // Node 1 ("n1") is paused: it stays; node 2 is a rule's receiver: it
    // stays; node 0 is a rule's sender.
    assert!(without_node(&r, 1).is_none());
    assert!(without_node(&r, 2).is_none());
    assert!(without_node(&r, 0).is_none());
}
