//! Message-level tests of the vr replica and client.

use sim::{Effect, Harness, Layout};

use super::msg::{Cmd, Entry, Msg};
use super::replica::Status;
use super::*;

fn layout(n: usize) -> Layout {
    Layout {
        replicas: n,
        services: Vec::new(),
        clients: 1,
    }
}

fn replica(id: usize, n: usize, variant: &str) -> Harness<Vr> {
    let mut h = Harness::with_layout(Vr::new(id, n, variant, &Params::default()), id, layout(n));
    h.start();
    h
}

fn put(op: u64, value: i64) -> Entry {
    Entry {
        op,
        view: 0,
        client: 3,
        req_num: op,
        cmd: Cmd::Put { key: 0, value },
    }
}

fn prepare(op: u64, commit: u64) -> Msg {
    Msg::Prepare {
        epoch: 0,
        view: 0,
        op,
        commit,
        min_commit: 0,
        entry: put(op, op as i64),
    }
}

fn halted(fx: &[sim::EffectOf<Vr>]) -> Option<&str> {
    fx.iter().find_map(|e| match e {
        Effect::Halt { reason } => Some(reason.as_str()),
        _ => None,
    })
}

#[test]
fn d3_a_missed_prepare_crashes_a_faithful_backup_and_an_intended_one_fetches() {
    let mut f = replica(1, 3, "faithful");
    f.message(0, prepare(1, 0));
    let fx = f.message(0, prepare(3, 2));
    assert!(halted(&fx).is_some_and(|r| r.contains("op 2")), "{fx:?}");

    let mut i = replica(1, 3, "intended");
    i.message(0, prepare(1, 0));
    let fx = i.message(0, prepare(3, 2));
    assert!(halted(&fx).is_none(), "{fx:?}");
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                to: 0,
                msg: Msg::GetState { after: 1, .. }
            }
        )),
        "{fx:?}"
    );
}

fn request(req_num: u64, value: i64) -> Msg {
    Msg::Request {
        req_num,
        cmd: Cmd::Put { key: 0, value },
    }
}

fn with(id: usize, n: usize, variant: &str, bugs: BugSwitches) -> Harness<Vr> {
    let params = Params {
        bugs,
        ..Params::default()
    };
    let mut h = Harness::with_layout(Vr::new(id, n, variant, &params), id, layout(n));
    h.start();
    h
}

fn replies(fx: &[sim::EffectOf<Vr>]) -> usize {
    fx.iter()
        .filter(|e| {
            matches!(
                e,
                Effect::Send {
                    msg: Msg::Reply {
                        answer: msg::Answer::Ok(_),
                        ..
                    },
                    ..
                }
            )
        })
        .count()
}

fn ok(op: u64) -> Msg {
    Msg::PrepareOk {
        epoch: 0,
        view: 0,
        op,
    }
}

#[test]
fn d1_head_counts_one_ack_pre_head_counts_duplicates_distinct_counts_senders() {
    // Five replicas: f = 2.
    let mut head = replica(0, 5, "faithful");
    head.message(5, request(0, 1));
    assert_eq!(replies(&head.message(1, ok(1))), 0);
    assert_eq!(
        replies(&head.message(2, ok(1))),
        0,
        "head never counts past 1"
    );

    let pre = BugSwitches {
        d1_counting: Some(Counting::PreHead),
        ..BugSwitches::default()
    };
    let mut pre = with(0, 5, "faithful", pre);
    pre.message(5, request(0, 1));
    pre.message(1, ok(1));
    assert_eq!(replies(&pre.message(1, ok(1))), 1, "a duplicate ack counts");

    let mut distinct = replica(0, 5, "intended");
    distinct.message(5, request(0, 1));
    distinct.message(1, ok(1));
    assert_eq!(replies(&distinct.message(1, ok(1))), 0);
    assert_eq!(replies(&distinct.message(2, ok(1))), 1);
}

#[test]
fn d2_faithful_commits_a_later_op_first_and_skips_the_earlier_one() {
    let mut f = replica(0, 3, "faithful");
    f.message(3, request(0, 1));
    f.message(4, request(0, 2));
    f.message(1, ok(2));
    assert_eq!(f.node.applied(), Some(2));
    assert_eq!(f.node.digest().get("0").map(String::as_str), Some("2"));
    f.message(1, ok(1));
    assert_eq!(
        f.node.digest().get("0").map(String::as_str),
        Some("2"),
        "op 1 is never run on the primary"
    );

    let mut i = replica(0, 3, "intended");
    i.message(3, request(0, 1));
    i.message(4, request(0, 2));
    // Paper: an ack for op 2 from a backup that logs in order covers op 1.
    i.message(1, ok(2));
    assert_eq!(i.node.applied(), Some(2));
    assert_eq!(i.node.digest().get("0").map(String::as_str), Some("2"));
}

#[test]
fn d4_one_start_view_change_moves_a_faithful_replica_but_not_an_intended_one() {
    let mut f = replica(1, 3, "faithful");
    let fx = f.message(2, Msg::StartViewChange { epoch: 0, view: 1 });
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Send {
            to: 1,
            msg: Msg::DoViewChange { view: 1, .. }
        }
    )));
    let mut i = replica(1, 3, "intended");
    let fx = i.message(2, Msg::StartViewChange { epoch: 0, view: 1 });
    assert!(
        !fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                msg: Msg::DoViewChange { .. },
                ..
            }
        )),
        "f = 1 other start_view_change is needed and n1 must move to view 1 first: {fx:?}"
    );
    // With n = 3, one other start_view_change is f: n1 (the new primary)
    // collects its own do_view_change and needs one more.
    let Vr::Replica(r) = &i.node else {
        unreachable!()
    };
    assert_eq!(r.view, 1);
}

#[test]
fn d10_the_faithful_table_runs_a_duplicate_again_the_intended_one_answers_from_it() {
    for (variant, runs) in [("faithful", 2), ("intended", 1)] {
        let mut h = replica(0, 3, variant);
        h.message(3, request(0, 5));
        h.message(1, ok(1));
        let fx = h.message(3, request(0, 5));
        let prepared = fx.iter().any(|e| {
            matches!(
                e,
                Effect::Send {
                    msg: Msg::Prepare { .. },
                    ..
                }
            )
        });
        assert_eq!(prepared, runs == 2, "{variant}: {fx:?}");
        if runs == 1 {
            assert_eq!(replies(&fx), 1, "the stored reply is sent again");
        }
    }
}

#[test]
fn d11_a_primary_with_an_empty_commits_vector_halts_on_its_idle_commit() {
    let mut h = replica(2, 3, "faithful");
    let Vr::Replica(r) = &mut h.node else {
        unreachable!()
    };
    r.commits.clear();
    r.primary = true;
    let fx = h.timer(Timer::IdleCommit);
    assert!(
        halted(&fx).is_some_and(|r| r.contains("lists:min([])")),
        "{fx:?}"
    );
}

#[test]
fn d13_a_lone_faithful_primary_never_commits_an_intended_one_at_once() {
    let mut f = replica(0, 1, "faithful");
    assert_eq!(replies(&f.message(1, request(0, 1))), 0);
    let mut i = replica(0, 1, "intended");
    assert_eq!(replies(&i.message(1, request(0, 1))), 1);
}

#[test]
fn the_client_falls_back_to_every_replica_in_reverse_order_with_the_same_number() {
    let params = Params::default();
    let mut c = Harness::with_layout(Vr::Client(Client::new(3, &params, true)), 3, layout(3));
    c.request(sim::Request {
        id: 9,
        node: 0,
        f: "write",
        key: Some(0),
        value: sim::Value::Int(1),
    });
    let mut order = Vec::new();
    for attempt in 1..=4 {
        let fx = c.timer(Timer::Call(attempt));
        for e in &fx {
            if let Effect::Send {
                to,
                msg: Msg::Request { req_num, .. },
            } = e
            {
                order.push((*to, *req_num));
            }
            if let Effect::Reply { reply, .. } = e {
                assert_eq!(*reply, sim::Reply::Info, "lost_cluster");
            }
        }
    }
    assert_eq!(order, vec![(2, 0), (1, 0), (0, 0)]);
}

#[test]
fn d9_a_probe_pulls_a_faithful_replica_out_of_view_change() {
    for (variant, after) in [
        ("faithful", Status::Normal),
        ("intended", Status::ViewChange),
    ] {
        let mut h = replica(1, 3, variant);
        h.timer(Timer::Failure);
        let Vr::Replica(r) = &h.node else {
            unreachable!()
        };
        assert_eq!(r.status, Status::ViewChange, "{variant}");
        let fx = h.message(3, Msg::GetStatus { probe: 1 });
        assert!(
            fx.iter().any(|e| matches!(
                e,
                Effect::Send { to: 3, msg: Msg::Status { status, .. } } if status == "view_change"
            )),
            "{variant}: {fx:?}"
        );
        let Vr::Replica(r) = &h.node else {
            unreachable!()
        };
        assert_eq!(r.status, after, "{variant}");
    }
}

fn reconfigure(req_num: u64, config: Vec<usize>) -> Msg {
    Msg::Request {
        req_num,
        cmd: Cmd::Reconfigure { config },
    }
}

#[test]
fn intended_refuses_a_reconfiguration_and_faithful_logs_it() {
    let mut i = replica(0, 3, "intended");
    let fx = i.message(3, reconfigure(0, vec![0, 1]));
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                to: 3,
                msg: Msg::Reply {
                    answer: super::msg::Answer::Refused(why),
                    ..
                }
            } if why.contains("VRR section 7")
        )),
        "{fx:?}"
    );
    assert!(
        !fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                msg: Msg::Prepare { .. },
                ..
            }
        )),
        "{fx:?}"
    );

    let mut f = replica(0, 3, "faithful");
    let fx = f.message(3, reconfigure(0, vec![0, 1]));
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                to: 1,
                msg: Msg::Prepare { op: 1, .. }
            }
        )),
        "{fx:?}"
    );
    // One ack commits it (f = 1): epoch 1, view 0, a commit of the new
    // epoch to the old members; the primary keeps its configuration (D12).
    let fx = f.message(
        1,
        Msg::PrepareOk {
            epoch: 0,
            view: 0,
            op: 1,
        },
    );
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                to: 2,
                msg: Msg::Commit {
                    epoch: 1,
                    view: 0,
                    commit: 1,
                    ..
                }
            }
        )),
        "{fx:?}"
    );
    let Vr::Replica(r) = &f.node else {
        panic!("a replica")
    };
    assert_eq!((r.epoch, r.view, r.commit), (1, 0, 1));
    assert_eq!(r.config, vec![0, 1, 2]);
}

#[test]
fn a_backup_entering_a_newer_view_by_transfer_keeps_its_log_until_new_state() {
    // n2 logged op 1 in view 0; a commit of view 1 from n1 moves it to view
    // 1 and asks for the log after its commit number (0), but its log and
    // last-normal view stay those of view 0 until new_state arrives.
    let mut h = replica(2, 3, "intended");
    h.message(0, prepare(1, 0));
    let commit = Msg::Commit {
        epoch: 0,
        view: 1,
        commit: 1,
        min_commit: 0,
    };
    let fx = h.message(1, commit.clone());
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                to: 1,
                msg: Msg::GetState { view: 1, after: 0 }
            }
        )),
        "{fx:?}"
    );
    let Vr::Replica(r) = &h.node else {
        unreachable!()
    };
    assert_eq!((r.view, r.last_normal, r.op, r.commit), (1, 0, 1, 0));
    assert!(r.awaiting_state && r.log.contains_key(&1));
    // A prepare of view 1 is neither logged nor acknowledged meanwhile.
    let p = Msg::Prepare {
        epoch: 0,
        view: 1,
        op: 2,
        commit: 1,
        min_commit: 0,
        entry: put(2, 2),
    };
    let fx = h.message(1, p);
    assert!(
        !fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                msg: Msg::PrepareOk { .. },
                ..
            }
        )),
        "{fx:?}"
    );
    // new_state installs view 1's log and its last-normal view.
    let fx = h.message(
        1,
        Msg::NewState {
            view: 1,
            after: 0,
            entries: vec![put(1, 1), put(2, 2)],
            op: 2,
            commit: 1,
        },
    );
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                to: 1,
                msg: Msg::PrepareOk { view: 1, op: 2, .. }
            }
        )),
        "{fx:?}"
    );
    let Vr::Replica(r) = &h.node else {
        unreachable!()
    };
    assert_eq!((r.view, r.last_normal, r.op, r.commit), (1, 1, 2, 1));
    assert!(!r.awaiting_state);
}

#[test]
fn a_view_change_that_would_drop_a_committed_op_halts() {
    // n1 (primary of view 1) gets its own report (last normal 1, op 0, as
    // the seeded truncation left it) and n0's (last normal 0, op 1,
    // commit 1): the chosen log ends below a reported commit.
    let mut h = replica(1, 3, "intended");
    let Vr::Replica(r) = &mut h.node else {
        unreachable!()
    };
    r.view = 1;
    r.status = Status::ViewChange;
    r.last_normal = 1;
    r.dvcs.push((
        1,
        1,
        msg::ViewReport {
            last_normal: 1,
            op: 0,
            commit: 0,
            log: Vec::new(),
        },
    ));
    let fx = h.message(
        0,
        Msg::DoViewChange {
            epoch: 0,
            view: 1,
            report: msg::ViewReport {
                last_normal: 0,
                op: 1,
                commit: 1,
                log: vec![put(1, 1)],
            },
        },
    );
    assert!(
        halted(&fx).is_some_and(|r| r.contains("committed ops would be lost")),
        "{fx:?}"
    );
}
