//! Handler tests: one message, timer or request at a time through a harness.

use std::collections::BTreeMap;

use sim::{Effect, EffectOf, Harness, Node, Reply, Request, Value};

use super::*;

/// A node whose handlers never sleep (`sync_sleep_ms` 0), so that a
/// start_sync is handled at once; the sleep has its own tests.
fn node(variant: &str, id: NodeId) -> Harness<Counter> {
    let params = Params {
        sync_sleep_ms: 0,
        ..Params::default()
    };
    node_with(variant, id, &params)
}

fn node_with(variant: &str, id: NodeId, params: &Params) -> Harness<Counter> {
    let mut h = Harness::new(Counter::new(id, 3, variant, params), id, 3);
    h.start();
    h
}

/// A node that knows both peers (both in work).
fn meshed(variant: &str, id: NodeId) -> Harness<Counter> {
    let h = node(variant, id);
    mesh(h, id)
}

fn mesh(mut h: Harness<Counter>, id: NodeId) -> Harness<Counter> {
    for p in (0..3).filter(|&p| p != id) {
        h.message(
            p,
            udp(Body::Hello {
                status: Status::Work,
                session: 7,
            }),
        );
        h.message(
            p,
            tcp(
                500 + p as u64,
                Body::Status {
                    status: Status::Work,
                    epoch: None,
                },
            ),
        );
    }
    h
}

fn udp(body: Body) -> Msg {
    Msg::Udp { body }
}

/// A fresh TCP frame (each test seq is distinct per sender).
fn tcp(seq: u64, body: Body) -> Msg {
    Msg::Tcp {
        session: 99,
        seq: 1000 + seq,
        floor: 0,
        body,
    }
}

fn req(id: u64, f: &'static str, key: u32, value: Value) -> Request {
    Request {
        id,
        node: 0,
        f,
        key: Some(key),
        value,
    }
}

fn replies(fx: &[EffectOf<Counter>]) -> Vec<Reply> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Reply { reply, .. } => Some(reply.clone()),
            _ => None,
        })
        .collect()
}

/// The application messages sent, by destination.
fn bodies(fx: &[EffectOf<Counter>]) -> Vec<(NodeId, Body)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send {
                to,
                msg: Msg::Udp { body } | Msg::Tcp { body, .. },
            } => Some((*to, body.clone())),
            _ => None,
        })
        .collect()
}

fn count(fx: &[EffectOf<Counter>], kind: &str) -> usize {
    bodies(fx)
        .iter()
        .filter(|(_, b)| b.kind().0 == kind)
        .count()
}

fn update(var: Var, delta: i64, nonce: u64, epoch: Option<u64>) -> Msg {
    udp(Body::VariableUpdate {
        variable_name: var,
        operation: delta,
        nonce,
        epoch,
        gen: 0,
    })
}

fn start_sync(dict: &[(Var, u64)], round: Option<u64>) -> Body {
    Body::StartSync {
        variable_max_nonce_dict: dict.iter().copied().collect(),
        round,
    }
}

#[test]
fn adds_are_broadcast_and_refused_outside_work_while_reads_are_served() {
    let mut n = meshed("faithful", 0);
    let fx = n.request(req(1, "add", 0, Value::Int(5)));
    assert_eq!(replies(&fx), vec![Reply::Ok(Value::Int(5))]);
    assert_eq!(
        count(&fx, "variable_update"),
        2,
        "one datagram per other node"
    );
    n.request(req(2, "sync", 0, Value::Null));
    assert_eq!(n.node.status(), Status::Sync);
    let fx = n.request(req(3, "add", 0, Value::Int(1)));
    assert_eq!(replies(&fx), vec![Reply::Fail(Value::Null)]);
    let fx = n.request(req(4, "read", 0, Value::Null));
    assert_eq!(replies(&fx), vec![Reply::Ok(Value::Int(5))]);
}

#[test]
fn faithful_counts_a_duplicate_update_twice_intended_once() {
    let mut f = node("faithful", 0);
    f.message(1, update(0, 4, 0, None));
    f.message(1, update(0, 4, 0, None));
    assert_eq!(f.node.values()[&0], 8);
    assert!(matches!(
        f.node.stats().notes[0],
        Note::DoubleCounted {
            from: 1,
            nonce: 0,
            ..
        }
    ));

    let mut i = node("intended", 0);
    i.message(1, update(0, 4, 0, Some(0)));
    i.message(1, update(0, 4, 0, Some(0)));
    assert_eq!(i.node.values()[&0], 4);
}

#[test]
fn faithful_refloods_every_start_sync_intended_joins_a_round_once() {
    // Counted where the node decides to send (the transport may hold a copy
    // back while an earlier one is in flight).
    let mut f = meshed("faithful", 0);
    f.message(1, tcp(1, start_sync(&[], None)));
    assert_eq!(f.node.stats().start_sync_sent, 2);
    f.message(2, tcp(2, start_sync(&[], None)));
    assert_eq!(
        f.node.stats().start_sync_sent,
        4,
        "every receipt floods again"
    );

    let mut i = meshed("intended", 0);
    i.message(1, tcp(1, start_sync(&[], Some(65))));
    assert_eq!(i.node.stats().start_sync_sent, 2);
    i.message(2, tcp(2, start_sync(&[], Some(65))));
    assert_eq!(
        i.node.stats().start_sync_sent,
        2,
        "same round: no new flood"
    );
    i.message(2, tcp(3, start_sync(&[], Some(1))));
    assert_eq!(
        i.node.stats().start_sync_sent,
        2,
        "an older round is ignored"
    );
    assert_eq!(i.node.round, 65);
}

#[test]
fn faithful_asks_for_every_nonce_intended_only_the_missing_ones() {
    let mut f = meshed("faithful", 0);
    f.message(1, update(0, 1, 0, None));
    let fx = f.message(1, tcp(1, start_sync(&[(0, 3)], None)));
    let asked: Vec<Vec<u64>> = bodies(&fx)
        .into_iter()
        .filter_map(|(_, b)| match b {
            Body::NonceRequest {
                nonce_number_list, ..
            } => Some(nonce_number_list),
            _ => None,
        })
        .collect();
    assert_eq!(asked, vec![vec![0, 1, 2]]);
    // A variable at max 0 still gets its (empty) request, and is created.
    let fx = f.message(2, tcp(2, start_sync(&[(5, 0)], None)));
    assert_eq!(count(&fx, "nonce_request"), 1);
    assert!(f.node.vars.contains_key(&5));

    let mut i = meshed("intended", 0);
    i.message(1, update(0, 1, 0, Some(0)));
    let fx = i.message(1, tcp(1, start_sync(&[(0, 3)], Some(65))));
    assert!(bodies(&fx).contains(&(
        1,
        Body::NonceRequest {
            variable_name: 0,
            nonce_number_list: vec![1, 2]
        }
    )));
}

#[test]
fn faithful_leaves_a_request_for_an_unknown_nonce_unanswered() {
    let mut f = meshed("faithful", 0);
    f.request(req(1, "add", 0, Value::Int(3)));
    let ask = Body::NonceRequest {
        variable_name: 0,
        nonce_number_list: vec![0, 1],
    };
    let fx = f.message(1, tcp(1, ask.clone()));
    assert_eq!(count(&fx, "nonce_send"), 0);
    assert_eq!(f.node.stats().unanswered_requests, 1);

    let mut i = meshed("intended", 0);
    i.request(req(1, "add", 0, Value::Int(3)));
    let fx = i.message(1, tcp(1, ask));
    let sent = BTreeMap::from([(0, 3)]);
    assert!(bodies(&fx).contains(&(
        1,
        Body::NonceSend {
            variable_name: 0,
            nonce_dict: sent,
            epoch: Some(0)
        }
    )));
}

#[test]
fn faithful_drops_a_message_over_eight_kib() {
    let history: BTreeMap<u64, i64> = (0..1000).map(|n| (n, -10_000)).collect();
    let big = Body::SyncData {
        variable_name: 0,
        history,
        previous_value: 0,
        epoch: None,
    };
    assert!(big.encoded_len() > 8192);
    let mut f = node("faithful", 0);
    f.message(1, udp(big.clone()));
    assert_eq!(f.node.stats().oversize_dropped, 1);
    assert!(f.node.values().is_empty());
    let mut i = node("intended", 0);
    i.message(1, udp(big));
    assert_eq!(i.node.values()[&0], -10_000_000);
}

/// Drives a faithful node with two variables into ReadyVote.
fn faithful_in_vote(votes: &[(NodeId, &[(Var, i64)])]) -> Harness<Counter> {
    let mut n = meshed("faithful", 0);
    n.request(req(1, "add", 0, Value::Int(2)));
    n.request(req(2, "add", 1, Value::Int(3)));
    n.request(req(3, "sync", 0, Value::Null));
    for (seq, p) in [1, 2].into_iter().enumerate() {
        n.message(
            p,
            tcp(
                10 + seq as u64,
                Body::SyncMismatchData {
                    variable_max_nonce_dict: BTreeMap::from([(0, 0)]),
                },
            ),
        );
    }
    n.timer(Timer::Loop); // sync → ready
    for p in [1, 2] {
        n.message(
            p,
            tcp(
                20 + p as u64,
                Body::Status {
                    status: Status::Ready,
                    epoch: None,
                },
            ),
        );
    }
    n.timer(Timer::Loop); // ready-wait → stop_sync sent
    for (seq, (p, vals)) in votes.iter().enumerate() {
        let d = vals.iter().copied().collect();
        n.message(
            *p,
            tcp(
                30 + seq as u64,
                Body::StopSync {
                    variable_value_dict: d,
                    round: None,
                },
            ),
        );
    }
    assert_eq!(n.node.step, Step::ReadyVote);
    n
}

#[test]
fn faithful_resets_vacuously_when_no_stop_sync_arrived() {
    let mut n = faithful_in_vote(&[]);
    n.timer(Timer::Loop);
    assert_eq!(n.node.status(), Status::Work);
    assert_eq!(n.node.stats().vacuous_agreements, 1);
    assert_eq!(
        n.node.vars[&0].next_nonce, 0,
        "nonces restart after the reset"
    );
    assert_eq!(n.node.vars[&0].baseline, 2);
}

#[test]
fn faithful_resets_a_matching_variable_while_the_other_disagrees() {
    let mut n = faithful_in_vote(&[(1, &[(0, 2), (1, 99)])]);
    n.timer(Timer::Loop);
    assert_eq!(
        n.node.status(),
        Status::Ready,
        "still waiting on variable 1"
    );
    assert_eq!(n.node.vars[&0].own_ops.len(), 0, "variable 0 already reset");
    assert_eq!(n.node.vars[&1].own_ops.len(), 1);
    assert!(matches!(
        n.node.stats().notes[0],
        Note::PartialReset {
            reset: 1,
            waiting: 1,
            ..
        }
    ));
}

#[test]
fn tcp_frames_are_acknowledged_deduplicated_and_resent_until_acked() {
    let mut n = meshed("faithful", 0);
    let frame = tcp(
        1,
        Body::Status {
            status: Status::Sync,
            epoch: None,
        },
    );
    let fx = n.message(1, frame.clone());
    assert!(matches!(
        fx[0],
        Effect::Send {
            to: 1,
            msg: Msg::Ack { seq: 1001, .. }
        }
    ));
    assert_eq!(n.node.peers[&1], Status::Sync);
    n.message(
        1,
        tcp(
            2,
            Body::Status {
                status: Status::Work,
                epoch: None,
            },
        ),
    );
    n.message(1, frame);
    assert_eq!(
        n.node.peers[&1],
        Status::Work,
        "the copy is acknowledged but not applied again"
    );

    let fx = n.request(req(1, "sync", 0, Value::Null));
    let (seq, session) = fx
        .iter()
        .find_map(|e| match e {
            Effect::Send {
                to: 2,
                msg: Msg::Tcp { seq, session, .. },
            } => Some((*seq, *session)),
            _ => None,
        })
        .expect("start_sync to n2");
    n.now += 60 * MS;
    assert_eq!(
        count(&n.timer(Timer::Resend(2)), "start_sync"),
        1,
        "unacknowledged: sent again"
    );
    n.message(2, Msg::Ack { session, seq });
    n.now += 60 * MS;
    assert_eq!(count(&n.timer(Timer::Resend(2)), "start_sync"), 0);
}

#[test]
fn a_message_waits_while_one_of_its_kind_is_in_flight() {
    let mut n = meshed("faithful", 0);
    n.request(req(1, "sync", 0, Value::Null));
    // Two more re-floods while the first start_sync to n1 is unacknowledged:
    // neither goes out, and only the newest waits.
    let fx = n.message(2, tcp(1, start_sync(&[], None)));
    assert_eq!(
        bodies(&fx)
            .iter()
            .filter(|(to, b)| *to == 1 && b.kind().0 == "start_sync")
            .count(),
        0
    );
    n.message(2, tcp(2, start_sync(&[], None)));
    assert_eq!(n.node.tcp.coalesced, 2, "one per peer replaced in the wait");
}

#[test]
fn a_crash_forgets_everything_but_the_observations() {
    let mut n = meshed("faithful", 0);
    n.request(req(1, "add", 0, Value::Int(2)));
    n.request(req(2, "sync", 0, Value::Null));
    n.node.on_crash();
    assert!(n.node.values().is_empty());
    assert_eq!(n.node.status(), Status::Work);
    assert_eq!(n.node.phases()[0].end, PhaseEnd::Crash);
    n.start();
    let fx = n.request(req(3, "add", 0, Value::Int(1)));
    assert!(
        bodies(&fx)
            .iter()
            .any(|(_, b)| matches!(b, Body::VariableUpdate { nonce: 0, .. })),
        "nonces restart at 0"
    );
}

#[test]
fn intended_keeps_its_op_log_across_a_crash_and_resends_its_history() {
    let mut n = meshed("intended", 0);
    n.request(req(1, "add", 0, Value::Int(2)));
    n.request(req(2, "add", 0, Value::Int(3)));
    n.node.on_crash();
    assert_eq!(n.node.values()[&0], 5, "the op log is durable");
    let fx = n.start();
    let sent = bodies(&fx);
    for p in [1, 2] {
        assert!(
            sent.iter().any(|(to, b)| *to == p
                && matches!(b, Body::SyncData { history, .. } if history.len() == 2)),
            "its history goes to n{p}: {sent:?}"
        );
    }
    let fx = n.request(req(3, "add", 0, Value::Int(1)));
    assert!(
        bodies(&fx)
            .iter()
            .any(|(_, b)| matches!(b, Body::VariableUpdate { nonce: 2, .. })),
        "no nonce is reused"
    );
    assert!(matches!(
        n.node.stats().notes[0],
        Note::Restarted { durable: true, .. }
    ));
}

#[test]
fn intended_merges_a_history_of_its_own_epoch() {
    // An older snapshot of n1's ops (nonce 0), arriving after its update
    // at nonce 1.
    let snap = |epoch| Body::SyncData {
        variable_name: 0,
        history: [(0, 3)].into_iter().collect(),
        previous_value: 0,
        epoch,
    };
    let mut i = meshed("intended", 0);
    i.message(1, update(0, 4, 1, Some(0)));
    i.message(1, tcp(1, snap(Some(0))));
    assert_eq!(i.node.values()[&0], 7, "nonce 1 is kept");
    // Faithful replaces the record (the original's `peer_ops[src] = history`).
    let mut f = meshed("faithful", 0);
    f.message(1, update(0, 4, 1, None));
    f.message(1, tcp(1, snap(None)));
    assert_eq!(f.node.values()[&0], 3);
    assert!(matches!(
        f.node.stats().notes[0],
        Note::HistoryReplaced {
            from: 1,
            lost: 1,
            lost_sum: 4,
            ..
        }
    ));
}

#[test]
fn intended_ignores_a_history_from_the_round_it_is_finishing() {
    let mut i = meshed("intended", 0);
    i.request(req(1, "add", 0, Value::Int(2)));
    i.message(1, tcp(1, start_sync(&[(0, 0)], Some(65))));
    assert_eq!(i.node.status(), Status::Sync);
    // n1 reset in round 65 (to 2) and tells this node, which has not.
    let after = Body::SyncData {
        variable_name: 0,
        history: BTreeMap::new(),
        previous_value: 2,
        epoch: Some(65),
    };
    i.message(1, tcp(2, after));
    assert_eq!(i.node.values()[&0], 2, "not 2 + its own unfolded 2");
    assert_eq!(i.node.epoch, 0);
}

#[test]
fn intended_buffers_an_update_from_the_next_epoch() {
    let mut i = node("intended", 0);
    i.message(1, update(0, 5, 0, Some(65)));
    assert!(i.node.values().get(&0).is_none_or(|v| *v == 0));
    assert_eq!(i.node.future.len(), 1);
    i.message(1, update(0, 5, 1, Some(0)));
    assert_eq!(i.node.values()[&0], 5);
}

#[test]
fn params_reject_zero_periods() {
    let p = Params {
        status_ms: 0,
        ..Params::default()
    };
    assert!(Counter::validate(&p, 3).is_err());
    assert!(Counter::validate(&Params::default(), 3).is_ok());
}

#[test]
fn faithful_start_sync_sleeps_holding_the_listener_and_loses_what_arrives() {
    let mut f = mesh(node_with("faithful", 0, &Params::default()), 0);
    f.message(1, update(0, 1, 0, None));
    let fx = f.message(1, tcp(1, start_sync(&[(0, 1)], None)));
    assert_eq!(f.node.status(), Status::Sync, "the status is set first");
    assert_eq!(count(&fx, "start_sync"), 0, "then the handler sleeps");
    assert_eq!(count(&fx, "nonce_request"), 0);
    // A TCP message meanwhile is acknowledged (the sender's sendall
    // returns) but never handled.
    let ready = Body::Status {
        status: Status::Ready,
        epoch: None,
    };
    let fx = f.message(2, tcp(2, ready.clone()));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Send {
            to: 2,
            msg: Msg::Ack { .. }
        }
    )));
    assert_eq!(f.node.peers[&2], Status::Work, "lost");
    assert_eq!(f.node.stats().listener_lost, 1);
    // UDP is another thread: still served.
    f.message(2, update(0, 4, 0, None));
    assert_eq!(f.node.values()[&0], 5);
    let fx = f.timer(Timer::Listener);
    assert_eq!(count(&fx, "start_sync"), 2, "the flood, after the sleep");
    assert_eq!(count(&fx, "nonce_request"), 1);
    f.message(2, tcp(3, ready));
    assert_eq!(f.node.peers[&2], Status::Ready, "the listener is back");

    // The intended node does not sleep.
    let mut i = mesh(node_with("intended", 0, &Params::default()), 0);
    let fx = i.message(1, tcp(1, start_sync(&[], Some(65))));
    assert_eq!(count(&fx, "start_sync"), 2);
}

#[test]
fn faithful_full_sync_sets_the_status_then_floods_after_its_sleep() {
    let mut f = mesh(node_with("faithful", 0, &Params::default()), 0);
    f.request(req(1, "add", 0, Value::Int(2)));
    let fx = f.request(req(2, "sync", 0, Value::Null));
    assert_eq!(f.node.status(), Status::Sync);
    assert_eq!(count(&fx, "start_sync"), 0);
    assert!(replies(&fx).is_empty());
    // Writes are refused already.
    let fx = f.request(req(3, "add", 0, Value::Int(1)));
    assert_eq!(replies(&fx), vec![Reply::Fail(Value::Null)]);
    let fx = f.timer(Timer::FullSync(2));
    assert_eq!(count(&fx, "start_sync"), 2);
    assert_eq!(replies(&fx), vec![Reply::Ok(Value::Null)]);
}

/// A faithful node in sync (no sleeps) that knows both peers.
fn faithful_syncing() -> Harness<Counter> {
    let mut n = meshed("faithful", 0);
    n.request(req(1, "add", 0, Value::Int(2)));
    n.request(req(2, "sync", 0, Value::Null));
    n
}

#[test]
fn faithful_never_stores_an_empty_dict_so_that_peer_blocks_the_sync() {
    let mut n = faithful_syncing();
    for (seq, p) in [1, 2].into_iter().enumerate() {
        let dict = if p == 1 {
            BTreeMap::new()
        } else {
            BTreeMap::from([(0, 0)])
        };
        n.message(
            p,
            tcp(
                10 + seq as u64,
                Body::SyncMismatchData {
                    variable_max_nonce_dict: dict,
                },
            ),
        );
    }
    assert!(!n.node.peer_max_nonces.contains_key(&1));
    let fx = n.timer(Timer::Loop);
    assert_eq!(n.node.status(), Status::Sync);
    assert_eq!(count(&fx, "sync_mismatch_request"), 2);
    assert_eq!(n.node.missing_dicts(), vec![1]);
}

#[test]
fn faithful_sync_pass_goes_on_with_the_dicts_it_holds() {
    let mut n = faithful_syncing();
    n.message(2, update(0, 5, 0, None));
    let fx = n.message(
        2,
        tcp(
            10,
            Body::SyncMismatchData {
                variable_max_nonce_dict: BTreeMap::from([(0, 2)]),
            },
        ),
    );
    // Acknowledge the request that dict set off, so the next goes out.
    for e in &fx {
        if let Effect::Send {
            to: 2,
            msg:
                Msg::Tcp {
                    session,
                    seq,
                    body: Body::NonceRequest { .. },
                    ..
                },
        } = e
        {
            n.message(
                2,
                Msg::Ack {
                    session: *session,
                    seq: *seq,
                },
            );
        }
    }
    // n1's dict is missing: ask everyone for theirs, and still ask n2 for
    // the op it lacks.
    let fx = n.timer(Timer::Loop);
    assert_eq!(count(&fx, "sync_mismatch_request"), 2);
    assert!(bodies(&fx).contains(&(
        2,
        Body::NonceRequest {
            variable_name: 0,
            nonce_number_list: vec![1]
        }
    )));
}

#[test]
fn faithful_counts_dicts_by_number_not_by_peer() {
    let mut n = faithful_syncing();
    // Dicts from n2 and from n7, a node it has not recorded as a peer:
    // two dicts for two peers, so the pass goes ready without n1's.
    for (seq, p) in [2, 7].into_iter().enumerate() {
        n.message(
            p,
            tcp(
                10 + seq as u64,
                Body::SyncMismatchData {
                    variable_max_nonce_dict: BTreeMap::from([(0, 0)]),
                },
            ),
        );
    }
    n.timer(Timer::Loop);
    assert_eq!(n.node.status(), Status::Ready);
}

#[test]
fn faithful_refuses_unknown_variables_and_create_replaces() {
    let mut f = meshed("faithful", 0);
    let fx = f.request(req(1, "read", 3, Value::Null));
    assert_eq!(replies(&fx), vec![Reply::Fail(Value::Null)]);
    let mut i = meshed("intended", 0);
    let fx = i.request(req(1, "read", 3, Value::Null));
    assert_eq!(replies(&fx), vec![Reply::Ok(Value::Int(0))]);

    let strict = Params {
        implicit_create: false,
        sync_sleep_ms: 0,
        ..Params::default()
    };
    let mut s = node_with("faithful", 0, &strict);
    let fx = s.request(req(1, "add", 3, Value::Int(2)));
    assert_eq!(replies(&fx), vec![Reply::Fail(Value::Null)]);
    let fx = s.request(req(2, "sync", 3, Value::Null));
    assert_eq!(replies(&fx), vec![Reply::Fail(Value::Null)]);
    assert_eq!(s.node.status(), Status::Work);
    s.request(req(3, "create", 3, Value::Null));
    let fx = s.request(req(4, "add", 3, Value::Int(2)));
    assert_eq!(replies(&fx), vec![Reply::Ok(Value::Int(2))]);
    s.request(req(5, "create", 3, Value::Null));
    assert_eq!(s.node.values()[&3], 0, "create wipes the variable");
    assert_eq!(s.node.vars[&3].next_nonce, 0);
}
