use super::*;
use crate::check::convergence;
use crate::ecm::testkit::{config, fault, op};
use crate::ecm::Target;
use crate::Status;
use sim::{Effect, Fault, Harness, ScheduledFault, ScriptOp};

fn node(variant: &str, id: NodeId) -> Harness<Bank> {
    let mut h = Harness::new(Bank::new(id, 3, variant, &Params::default()), id, 3);
    h.start();
    h
}

fn sync(dir: Dir, amount: i64, ts: Time, id: u64) -> Msg {
    Msg::Sync {
        key: 0,
        dir,
        amount,
        h: 0,
        ts,
        id,
    }
}

fn read(n: &mut Harness<Bank>) -> Value {
    let fx = n.request(Request {
        id: 9,
        node: 0,
        f: "balance",
        key: None,
        value: Value::Null,
    });
    match &fx[..] {
        [Effect::Reply {
            reply: Reply::Ok(v),
            ..
        }] => v.clone(),
        other => panic!("unexpected effects {other:?}"),
    }
}

fn list(balance: i64, honoured: &[i64], cancelled: &[i64]) -> Value {
    let ids = |v: &[i64]| Value::List(v.iter().map(|&i| Value::Int(i)).collect());
    Value::List(vec![Value::Int(balance), ids(honoured), ids(cancelled)])
}

#[test]
fn a_withdrawal_is_acknowledged_at_once_with_its_id_whatever_the_balance() {
    let mut o = node("intended", 2);
    o.now = 7_000;
    let fx = o.request(Request {
        id: 4,
        node: 0,
        f: "withdraw",
        key: None,
        value: Value::Int(500),
    });
    let set = Msg::Set {
        key: 0,
        dir: Dir::Withdraw,
        amount: 500,
        ts: 7_000,
        id: 102,
    };
    assert!(
        matches!(&fx[..], [Effect::Send { to: 2, msg }, Effect::Reply { id: 4, reply: Reply::Ok(Value::Int(102)) }] if *msg == set)
    );
    let fx = o.request(Request {
        id: 5,
        node: 0,
        f: "deposit",
        key: None,
        value: Value::Str("x".into()),
    });
    assert!(matches!(
        &fx[..],
        [Effect::Reply {
            id: 5,
            reply: Reply::Fail(_)
        }]
    ));
}

#[test]
fn faithful_replays_newest_first_intended_oldest_first() {
    for (variant, want) in [
        ("faithful", list(100, &[], &[200])),
        ("intended", list(50, &[200], &[])),
    ] {
        let mut n = node(variant, 0);
        n.message(1, sync(Dir::Deposit, 100, 1, 100));
        n.message(1, sync(Dir::Withdraw, 50, 2, 200));
        assert_eq!(read(&mut n), want, "{variant}");
    }
}

#[test]
fn a_short_withdrawal_is_blamed_on_the_event_before_it() {
    let mut n = node("intended", 0);
    n.message(1, sync(Dir::Deposit, 30, 1, 100));
    n.message(1, sync(Dir::Withdraw, 50, 2, 200));
    let r = n.node.replay(0);
    let cancel = Cancel {
        reason: Reason::NotLargeEnough,
        cause: Some(100),
    };
    assert_eq!(r.steps[1].cancelled, Some(cancel));
    assert_eq!(r.balance, 30);
}

#[test]
fn the_faithful_blame_search_never_considers_the_first_replayed_event() {
    // Newest first: deposit 30 (#200) replays first and falls short of
    // withdraw 50 (#100), which the original then blames on nobody: its
    // search, range(i - 1, 0, -1), stops before index 0.
    let mut n = node("faithful", 0);
    n.message(1, sync(Dir::Withdraw, 50, 1, 100));
    n.message(1, sync(Dir::Deposit, 30, 2, 200));
    let r = n.node.replay(0);
    assert_eq!(r.steps[0].id, 200);
    let cancel = r.steps[1].cancelled.expect("cancelled");
    assert_eq!(cancel.reason, Reason::NotLargeEnough);
    assert_eq!(cancel.cause, None);
    // The complete search over the same order blames the deposit.
    let events = n.node.account(0).expect("account").events();
    let order = [&events[1], &events[0]];
    let full = Replay::of(order);
    assert_eq!(full.steps[1].cancelled.expect("cancelled").cause, Some(200));
}

#[test]
fn every_persist_pops_and_repushes_the_root_and_links_a_child() {
    // Four events with one timestamp. heapq's pop and re-push of the root
    // before each push moves the first arrival out of the root slot after
    // the third event, so the fourth is the second's child; without them
    // the first would stay the root and parent of all. Syncs link children
    // as sets do.
    let mut n = node("faithful", 0);
    for (amount, id) in [(10, 100), (20, 200), (30, 300), (40, 400)] {
        n.message(1, sync(Dir::Deposit, amount, 5, id));
    }
    let ev = n.node.account(0).expect("account").events();
    assert_eq!(ev[0].children, vec![2, 3]);
    assert_eq!(ev[1].children, vec![4]);
    assert!(ev[2].children.is_empty() && ev[3].children.is_empty());
}

#[test]
fn faithful_cancelled_flags_stick_intended_ones_are_recomputed() {
    // A deposit arrives that covers the withdrawal in each variant's order:
    // a newer one for newest-first replay, an older one for oldest-first.
    for (variant, late_ts, sticky) in [("faithful", 3, true), ("intended", 0, false)] {
        let mut n = node(variant, 0);
        n.message(1, sync(Dir::Deposit, 30, 1, 100));
        n.message(1, sync(Dir::Withdraw, 50, 2, 200));
        assert_eq!(read(&mut n), list(30, &[], &[200]), "{variant}");
        n.message(1, sync(Dir::Deposit, 100, late_ts, 300));
        assert_eq!(read(&mut n), list(80, &[200], &[]), "{variant}");
        let w = &n.node.account(0).expect("held").events()[1];
        assert_eq!(w.cancelled.is_some(), sticky, "{variant}");
    }
}

#[test]
fn the_target_links_each_event_under_the_newest_and_relays_to_all_but_itself() {
    let mut t = node("faithful", 1);
    t.message(
        0,
        Msg::Set {
            key: 0,
            dir: Dir::Deposit,
            amount: 5,
            ts: 10,
            id: 100,
        },
    );
    let fx = t.message(
        0,
        Msg::Set {
            key: 0,
            dir: Dir::Deposit,
            amount: 6,
            ts: 20,
            id: 200,
        },
    );
    let to: Vec<NodeId> = fx
        .iter()
        .filter_map(|e| {
            if let Effect::Send { to, .. } = e {
                Some(*to)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(to, vec![0, 2]);
    let ev = t.node.account(0).expect("held").events();
    assert_eq!(
        (ev[0].h, ev[1].h),
        (1, 1),
        "h is inherited from the root, not unique"
    );
    assert_eq!(ev[0].children, vec![2]);
}

fn run(
    variant: &str,
    nodes: usize,
    script: Vec<ScriptOp>,
    faults: Vec<ScheduledFault>,
) -> Sim<Bank> {
    let params = Params {
        target: Target::Itself,
        ..Params::default()
    };
    let ns = (0..nodes)
        .map(|i| Bank::new(i, nodes, variant, &params))
        .collect();
    let mut sim = Sim::new(config(nodes, script, faults), ns, None);
    sim.run();
    sim
}

fn statuses(sim: &Sim<Bank>) -> Vec<(&'static str, Status)> {
    let mut v = vec![("convergence", convergence(sim, true).status)];
    for c in Bank::checks() {
        v.push((c.name, Bank::check(c.name, sim).status));
    }
    v
}

fn expect(sim: &Sim<Bank>, violations: &[&str]) {
    for (name, status) in statuses(sim) {
        let want = if violations.contains(&name) {
            Status::Violation
        } else {
            Status::Pass
        };
        let detail = if name == "convergence" {
            convergence(sim, true)
        } else {
            Bank::check(name, sim)
        };
        assert_eq!(status, want, "{name}: {detail:?}");
    }
}

const W: fn(i64) -> Value = Value::Int;

#[test]
fn overdraft_under_split_brain_is_revoked_after_the_heal() {
    let script = vec![
        op(0, 0, 0, "deposit", W(100)),
        op(200, 0, 0, "withdraw", W(80)),
        op(250, 1, 1, "withdraw", W(80)),
        op(300, 0, 0, "balance", Value::Null),
        op(300, 1, 1, "balance", Value::Null),
        op(2000, 0, 0, "balance", Value::Null),
        op(2000, 1, 1, "balance", Value::Null),
    ];
    let faults = vec![
        fault(
            100,
            Fault::Partition {
                groups: vec![vec![0], vec![1]],
            },
        ),
        fault(1000, Fault::Heal),
    ];
    let sim = run("intended", 2, script, faults);
    expect(&sim, &["withdrawals-covered", "decision-revoked"]);
    let r = Bank::check("decision-revoked", &sim);
    assert!(
        r.evidence[0].contains("withdrawal #101 (withdraw 80 by process 1 via n1"),
        "{r:?}"
    );
    assert_eq!(sim.nodes()[0].digest()["0"], "20");
}

fn newest_first(variant: &str) -> Sim<Bank> {
    let script = vec![
        op(0, 0, 0, "deposit", W(100)),
        op(100, 0, 0, "withdraw", W(50)),
        op(1000, 0, 0, "balance", Value::Null),
        op(1000, 1, 1, "balance", Value::Null),
    ];
    run(variant, 3, script, Vec::new())
}

#[test]
fn newest_first_replay_is_convergent_but_wrong() {
    let sim = newest_first("faithful");
    expect(&sim, &["balance-correct"]);
    let r = Bank::check("balance-correct", &sim);
    assert!(
        r.evidence[0].contains("hold balance 100") && r.evidence[0].contains("gives 50"),
        "{r:?}"
    );
    expect(&newest_first("intended"), &[]);
}

#[test]
fn a_late_old_withdrawal_flips_an_honoured_one() {
    let script = vec![
        op(0, 0, 0, "deposit", W(100)),
        op(200, 1, 1, "withdraw", W(50)),
        op(300, 0, 0, "withdraw", W(80)),
        op(400, 0, 0, "balance", Value::Null),
        op(2000, 0, 0, "balance", Value::Null),
    ];
    let faults = vec![
        fault(
            100,
            Fault::Partition {
                groups: vec![vec![0], vec![1]],
            },
        ),
        fault(1000, Fault::Heal),
    ];
    let sim = run("intended", 2, script, faults);
    expect(&sim, &["withdrawals-covered", "decision-revoked"]);
    let r = Bank::check("decision-revoked", &sim);
    assert!(r.evidence[0].contains("#200 (withdraw 80"), "{r:?}");
    assert!(r.evidence[0].contains("at 2000ms"), "{r:?}");
}

#[test]
fn a_revocation_no_read_saw_is_found_in_the_final_state() {
    // ECM-10 without the read after the heal: only the final state shows
    // that the 80 client 0 saw honoured is cancelled.
    let script = vec![
        op(0, 0, 0, "deposit", W(100)),
        op(200, 1, 1, "withdraw", W(50)),
        op(300, 0, 0, "withdraw", W(80)),
        op(400, 0, 0, "balance", Value::Null),
    ];
    let faults = vec![
        fault(
            100,
            Fault::Partition {
                groups: vec![vec![0], vec![1]],
            },
        ),
        fault(1000, Fault::Heal),
    ];
    let sim = run("intended", 2, script, faults);
    expect(&sim, &["decision-revoked"]);
    let r = Bank::check("decision-revoked", &sim);
    assert!(
        r.evidence[0]
            .contains("cancelled in the final state of n0 (not large enough, blamed on #101), n1"),
        "{r:?}"
    );
}
