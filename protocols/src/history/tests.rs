use super::*;
use crate::check::convergence;
use crate::ecm::testkit::{config, fault, op};
use crate::ecm::Target;
use crate::Status;
use sim::{Effect, Fault, Harness};

fn node(variant: &str, id: NodeId) -> Harness<History> {
    let mut h = Harness::new(History::new(id, 3, variant, &Params::default()), id, 3);
    h.start();
    h
}

fn set(key: u32, value: i64, ts: Time) -> Msg {
    Msg::Set { key, value, ts }
}

fn sends(effects: &[sim::EffectOf<History>]) -> Vec<(NodeId, Msg)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn entry(n: &Harness<History>, value: i64) -> Entry {
    let log = n.node.log(0).expect("key 0 held");
    log.entries()
        .iter()
        .find(|e| e.value == value)
        .expect("entry held")
        .clone()
}

#[test]
fn faithful_chains_to_the_heaps_last_slot_not_the_replaced_version() {
    let mut t = node("faithful", 1);
    for (v, ts) in [(1, 10), (2, 20), (3, 30)] {
        t.message(0, set(0, v, ts));
    }
    let (e1, e2, e3) = (entry(&t, 1), entry(&t, 2), entry(&t, 3));
    assert_eq!(e1.link, None, "a first write has nothing to chain to");
    assert_eq!(e1.h, fnv1a(b"set 0 1 10"));
    assert_eq!(
        e2.link,
        Some(e1.h),
        "with one entry the last slot is the root"
    );
    // The heap is [e2, e1]: the last slot holds e1, not the newest e2.
    assert_eq!(e3.link, Some(e1.h));
    assert_eq!(
        e3.accepted,
        Some(Accepted {
            replaced: Some(e2.h)
        })
    );
    assert_eq!(e3.origin, None, "the origin is never recorded");
    assert!(e3.recomputes());
}

#[test]
fn intended_chains_to_the_replaced_version_and_records_the_origin() {
    let mut t = node("intended", 1);
    for (v, ts) in [(1, 10), (2, 20), (3, 30)] {
        t.message(0, set(0, v, ts));
    }
    let (e2, e3) = (entry(&t, 2), entry(&t, 3));
    assert_eq!(e3.link, Some(e2.h));
    assert_eq!(e3.origin, Some(0));
    assert_eq!(e3.h, trail_hash(Some(e2.h), "set 0 3 30 n0"));
}

#[test]
fn the_target_relays_to_every_peer_but_itself_and_only_intended_sends_the_link() {
    let mut f = node("faithful", 1);
    f.message(2, set(0, 1, 10));
    let fx = f.message(2, set(0, 2, 20));
    let to: Vec<NodeId> = sends(&fx).iter().map(|(t, _)| *t).collect();
    assert_eq!(to, vec![0, 2], "the origin 2 receives its own write");
    assert!(matches!(
        sends(&fx)[0].1,
        Msg::Sync {
            link: None,
            origin: None,
            ..
        }
    ));

    let mut i = node("intended", 1);
    i.message(2, set(0, 1, 10));
    let first = entry(&i, 1);
    let fx = i.message(2, set(0, 2, 20));
    assert!(
        matches!(sends(&fx)[0].1, Msg::Sync { link: Some(l), origin: Some(2), .. } if l == first.h)
    );
}

#[test]
fn a_replica_can_recompute_a_synced_hash_only_when_the_link_came_with_it() {
    let mut target = node("faithful", 1);
    target.message(0, set(0, 1, 10));
    let fx = target.message(0, set(0, 2, 20));
    let mut replica = node("faithful", 2);
    for (_, m) in sends(&fx).into_iter().filter(|(t, _)| *t == 2) {
        replica.message(1, m);
    }
    assert!(!entry(&replica, 2).recomputes());

    let mut target = node("intended", 1);
    target.message(0, set(0, 1, 10));
    let fx = target.message(0, set(0, 2, 20));
    let mut replica = node("intended", 2);
    for (_, m) in sends(&fx).into_iter().filter(|(t, _)| *t == 2) {
        replica.message(1, m);
    }
    assert!(entry(&replica, 2).recomputes());
}

#[test]
fn reads_return_the_root_and_equal_timestamps_keep_the_first_arrival() {
    let mut n = node("faithful", 0);
    let sync = |value, ts| Msg::Sync {
        key: 0,
        value,
        ts,
        h: value as u64,
        link: None,
        origin: None,
    };
    n.message(1, sync(5, 20));
    n.message(1, sync(4, 10));
    n.message(2, sync(6, 20));
    let fx = n.request(Request {
        id: 1,
        node: 0,
        f: "read",
        key: Some(0),
        value: Value::Null,
    });
    // lww would answer 6 (the later arrival); the heap keeps 5 at the root.
    assert!(matches!(
        &fx[0],
        Effect::Reply {
            reply: Reply::Ok(Value::Int(5)),
            ..
        }
    ));
}

#[test]
fn faithful_link_error_kills_the_link_intended_retries() {
    let mut f = node("faithful", 1);
    f.link_error(2, set(0, 1, 1));
    let fx = f.message(0, set(0, 2, 2));
    assert_eq!(sends(&fx).len(), 1, "only origin 0 still gets syncs");

    let mut i = node("intended", 1);
    let fx = i.link_error(2, set(0, 1, 1));
    assert!(matches!(
        fx[0],
        Effect::SetTimer {
            tag: Timer::Retry(2),
            ..
        }
    ));
    assert_eq!(sends(&i.timer(Timer::Retry(2))).len(), 1);
}

#[test]
fn a_crash_forgets_everything() {
    let mut n = node("intended", 0);
    n.message(1, set(0, 1, 10));
    n.node.on_crash();
    assert!(n.node.digest().is_empty());
}

fn history_run(variant: &str) -> Sim<History> {
    // n0 and n1 write on opposite sides of a partition; n0 writes again
    // after the heal.
    let script = vec![
        op(0, 0, 0, "write", Value::Int(1)),
        op(200, 0, 0, "write", Value::Int(2)),
        op(300, 1, 1, "write", Value::Int(3)),
        op(1100, 0, 0, "write", Value::Int(4)),
        op(1200, 0, 0, "write", Value::Int(5)),
    ];
    let faults = vec![
        fault(
            100,
            Fault::Partition {
                groups: vec![vec![0], vec![1, 2]],
            },
        ),
        fault(1000, Fault::Heal),
    ];
    let params = Params {
        target: Target::Itself,
        ..Params::default()
    };
    let nodes = (0..3)
        .map(|i| History::new(i, 3, variant, &params))
        .collect();
    let mut sim = Sim::new(config(3, script, faults), nodes, None);
    sim.run();
    sim
}

#[test]
fn faithful_split_brain_never_converges_in_values_or_trails() {
    let run = history_run("faithful");
    assert_eq!(convergence(&run, true).status, Status::Violation);
    let tc = History::check("trail-convergence", &run);
    assert_eq!(tc.status, Status::Violation);
    assert!(tc.evidence.iter().any(|l| l.contains("n1 lacks")), "{tc:?}");
    assert_eq!(
        History::check("trail-integrity", &run).status,
        Status::Violation
    );
    let p = History::check("trail-provenance", &run);
    assert_eq!(p.status, Status::Violation, "{p:?}");
    assert!(
        p.evidence[0].contains("accepted value 4 (ts 1100ms")
            && p.evidence[0].contains("chained it to value 1"),
        "{p:?}"
    );
}

#[test]
fn intended_split_brain_heals_with_intact_trails() {
    let run = history_run("intended");
    assert_eq!(convergence(&run, true).status, Status::Pass);
    for c in ["trail-convergence", "trail-integrity", "trail-provenance"] {
        let r = History::check(c, &run);
        assert_eq!(r.status, Status::Pass, "{c}: {r:?}");
    }
    assert_eq!(run.nodes()[2].digest()["0"], "5");
}

#[test]
fn trail_integrity_reports_a_chain_that_breaks() {
    // A sync whose link never arrived here (as after a restart).
    let mut n = node("intended", 0);
    let h = trail_hash(Some(77), &entry_text(0, 9, 5, Some(1)));
    n.message(
        1,
        Msg::Sync {
            key: 0,
            value: 9,
            ts: 5,
            h,
            link: Some(77),
            origin: Some(1),
        },
    );
    let log = n.node.log(0).expect("held");
    assert!(log.entries()[0].recomputes());
    let gaps = check::chain_gaps(log);
    assert!(gaps[&h].as_ref().is_some_and(|g| g.contains("breaks at")));
}

#[test]
fn the_dot_graph_shows_links_and_wrong_provenance() {
    let run = history_run("faithful");
    let dot = trail_dot(run.nodes(), 0);
    assert!(dot.starts_with("digraph trail_key_0 {"));
    assert!(dot.contains("label=\"chains to\""));
    assert!(
        dot.contains("label=\"replaced\""),
        "faithful links differ from provenance:\n{dot}"
    );
    assert!(dot.contains("value 5\\n"));
    assert_eq!(dot, trail_dot(run.nodes(), 0), "deterministic");
    let intended = trail_dot(history_run("intended").nodes(), 0);
    assert!(!intended.contains("label=\"replaced\""));
    assert!(intended.contains("origin n0"));
}

#[test]
fn intended_ties_follow_one_order_whatever_the_arrival() {
    let sync = |value: i64, origin| Msg::Sync {
        key: 0,
        value,
        ts: 20,
        h: value as u64,
        link: None,
        origin: Some(origin),
    };
    let mut a = node("intended", 0);
    a.message(1, sync(5, 1));
    a.message(2, sync(6, 2));
    let mut b = node("intended", 0);
    b.message(2, sync(6, 2));
    b.message(1, sync(5, 1));
    assert_eq!(a.node.digest(), b.node.digest());
    assert_eq!(a.node.digest()["0"], "6", "origin 2 outranks origin 1");
}

fn with_handshake(variant: &str, id: NodeId) -> Harness<History> {
    let params = Params {
        handshake: Some(crate::handshake::Handshake { gap_ms: 50 }),
        ..Params::default()
    };
    let mut h = Harness::new(History::new(id, 3, variant, &params), id, 3);
    let fx = h.start();
    assert_eq!(
        sends(&fx),
        vec![(0, Msg::Connect), (1, Msg::Connect), (2, Msg::Connect)],
        "a process connects to every server, its own included"
    );
    h
}

fn read(id: u64) -> Request {
    Request {
        id,
        node: 1,
        f: "read",
        key: Some(0),
        value: Value::Null,
    }
}

#[test]
fn ecm11_a_set_during_a_handshake_ends_the_faithful_receive_loop() {
    let mut f = with_handshake("faithful", 1);
    for p in [0, 1, 2] {
        let fx = f.message(p, Msg::Connect);
        assert!(matches!(
            fx[..],
            [Effect::SetTimer {
                tag: Timer::Handshake(q),
                ..
            }] if q == p
        ));
    }
    f.timer(Timer::Handshake(1));
    // n0's set carries n0's handshake along; n2's has not been read yet.
    let fx = f.message(0, set(0, 1, 10));
    assert_eq!(
        sends(&fx).len(),
        1,
        "n0's sync is queued before the loop dies"
    );
    assert_eq!(entry(&f, 1).value, 1, "the set was stored first");
    assert!(
        f.message(2, set(0, 2, 20)).is_empty(),
        "nothing is read now"
    );
    assert!(f.node.log(0).expect("key 0").get(entry(&f, 1).h).is_some());
    assert_eq!(f.node.log(0).expect("key 0").entries().len(), 1);
    assert!(f.request(read(7)).is_empty(), "a read is never answered");
    let w = f.request(Request {
        f: "write",
        value: Value::Int(3),
        ..read(8)
    });
    assert_eq!(sends(&w).len(), 1, "its senders and writes run on");

    let mut i = with_handshake("intended", 1);
    i.message(2, Msg::Connect);
    let fx = i.message(0, set(0, 1, 10));
    assert_eq!(sends(&fx).len(), 2, "intended relays to its peer list");
    assert_eq!(i.request(read(7)).len(), 1);
}

#[test]
fn ecm11_a_refused_connect_is_retried() {
    let mut f = with_handshake("faithful", 0);
    let fx = f.link_error(2, Msg::Connect);
    assert!(matches!(
        fx[..],
        [Effect::SetTimer {
            tag: Timer::Connect(2),
            ..
        }]
    ));
    assert_eq!(sends(&f.timer(Timer::Connect(2))), vec![(2, Msg::Connect)]);
    // The link itself did not die: a set still goes out.
    let fx = f.request(Request {
        f: "write",
        value: Value::Int(1),
        ..read(1)
    });
    assert_eq!(sends(&fx).len(), 1);
}
