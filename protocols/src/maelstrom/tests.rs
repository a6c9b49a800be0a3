//! Message-level behaviour of the Maelstrom world and the faithful programs.

use sim::{Effect, Harness, Layout, Request, Value};

use super::broadcast::{Broadcast, Params as BParams};
use super::g_counter::{GCounter, Params as GParams};
use super::{Body, Kind, Msg, Server};
use crate::Protocol;
use sim::Node;

type B = Server<Broadcast>;

fn broadcast(variant: &str, nodes: usize) -> Harness<B> {
    let mut h = Harness::new(B::new(1, nodes, variant, &BParams::default()), 1, nodes);
    h.start();
    h
}

fn msg(src: usize, dest: usize, kind: Kind, msg_id: Option<u64>, in_reply_to: Option<u64>) -> Msg {
    Msg {
        src,
        dest,
        body: Body {
            kind,
            msg_id,
            in_reply_to,
        },
    }
}

fn gossip(v: &[i64]) -> Kind {
    Kind::Gossip {
        messages: super::Ints::new(v.to_vec()),
    }
}

fn sent(fx: &[sim::EffectOf<B>]) -> Vec<(usize, &Msg)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } => Some((*to, msg)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_faithful_abc_gossip_reply_carries_in_reply_to_0_and_is_answered_again() {
    let mut n = broadcast("faithful-abc", 3);
    // Gossip without a msg_id: the reply's in_reply_to is 0 ...
    let fx = n.message(0, msg(0, 1, gossip(&[7]), None, None));
    let out = sent(&fx);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, 0);
    assert_eq!(out[0].1.body.in_reply_to, Some(0));
    assert!(matches!(out[0].1.body.kind, Kind::Gossip { .. }));
    // ... so when it comes back it is fresh gossip again: the ping-pong.
    let reply = out[0].1.clone();
    let fx = n.message(0, msg(0, 1, reply.body.kind, None, Some(0)));
    assert_eq!(sent(&fx).len(), 1, "answered again");
    assert_eq!(n.node.digest().len(), 1);
}

#[test]
fn an_unknown_message_type_halts_the_node() {
    let mut n = broadcast("faithful-d", 3);
    let fx = n.message(0, msg(0, 1, gossip(&[1]), None, None));
    assert!(
        matches!(&fx[..], [Effect::Halt { reason }] if reason.contains("no handler for message type \"gossip\"")),
        "{fx:?}"
    );
    // A reply to an id nobody waits for is ignored, as the Go library does.
    let mut n = broadcast("faithful-d", 3);
    assert!(n
        .message(0, msg(0, 1, Kind::BroadcastOk, None, Some(99)))
        .is_empty());
}

#[test]
fn a_faithful_e_batch_rpc_parks_until_its_reply_and_forever_without_one() {
    let mut n = broadcast("faithful-e", 3);
    n.request(Request {
        id: 0,
        node: 1,
        f: "broadcast",
        key: None,
        value: Value::Int(5),
    });
    let fx = n.timer(super::Timer::Tick);
    let out = sent(&fx);
    assert_eq!(
        out.iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        vec![0, 2]
    );
    let ids: Vec<u64> = out
        .iter()
        .map(|(_, m)| m.body.msg_id.expect("an RPC"))
        .collect();
    let parked = |n: &Harness<B>| n.node.host().expect("server").rpcs.parked.len();
    assert_eq!(parked(&n), 2);
    // n0 answers; n2's gossip was lost: its RPC stays parked, nothing resends it.
    n.message(0, msg(0, 1, gossip(&[5, 5]), None, Some(ids[0])));
    assert_eq!(parked(&n), 1);
    let fx = n.timer(super::Timer::Tick);
    assert!(sent(&fx).is_empty(), "an empty batch sends nothing");
    // An error reply is retried: a new RPC.
    let fx = n.message(
        2,
        msg(
            2,
            1,
            Kind::Error {
                code: 11,
                text: String::new(),
            },
            None,
            Some(ids[1]),
        ),
    );
    assert_eq!(sent(&fx).len(), 1);
    assert_eq!(parked(&n), 1);
}

#[test]
fn intended_broadcast_resends_what_a_peer_has_not_acknowledged() {
    let mut n = broadcast("intended-e", 3);
    n.request(Request {
        id: 0,
        node: 1,
        f: "broadcast",
        key: None,
        value: Value::Int(5),
    });
    let first = n.timer(super::Timer::Tick);
    let ids: Vec<u64> = sent(&first)
        .iter()
        .map(|(_, m)| m.body.msg_id.expect("rpc"))
        .collect();
    n.message(0, msg(0, 1, Kind::GossipOk, None, Some(ids[0])));
    let again = n.timer(super::Timer::Tick);
    let to: Vec<usize> = sent(&again).iter().map(|(to, _)| *to).collect();
    assert_eq!(to, vec![2], "only the peer that did not acknowledge");
}

#[test]
fn faithful_g_counter_reads_as_0_on_a_seq_kv_error_and_queues_behind_its_mutex() {
    let layout = Layout {
        replicas: 2,
        services: vec!["seq-kv".into()],
        clients: 0,
    };
    let node = Server::<GCounter>::new(0, 2, "faithful", &GParams::default());
    let mut n = Harness::with_layout(node, 0, layout);
    n.start();
    let read = |id| Request {
        id,
        node: 0,
        f: "read",
        key: None,
        value: Value::Null,
    };
    let fx = n.request(read(0));
    let out: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, 2, "to seq-kv");
    // A second read waits for the mutex: nothing is sent.
    assert!(n.request(read(1)).is_empty());
    let id = out[0].1.body.msg_id;
    let fx = n.message(
        2,
        Msg {
            src: 2,
            dest: 0,
            body: Body {
                kind: Kind::Error {
                    code: 20,
                    text: String::new(),
                },
                msg_id: None,
                in_reply_to: id,
            },
        },
    );
    assert!(
        matches!(
            &fx[0],
            Effect::Reply {
                id: 0,
                reply: sim::Reply::Ok(Value::Int(0))
            }
        ),
        "{fx:?}"
    );
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Send { to: 2, .. })),
        "the waiting read goes next"
    );
}

// ---------------------------------------------------------------------------
// The services (lin-kv, lww-kv, lin-tso) driven message by message.

use std::collections::BTreeMap;

use super::services::Service;

type S = Server<GCounter>;

/// The service process's id in `svc`'s layout: two servers (0 and 1), then
/// the service.
const SVC: usize = 2;

fn svc_layout(name: &str) -> Layout {
    Layout {
        replicas: 2,
        services: vec![name.into()],
        clients: 0,
    }
}

fn svc(name: &str, knobs: serde_json::Value) -> Harness<S> {
    let layout = svc_layout(name);
    let s = Service::new(name, &layout, &knobs).expect(name);
    Harness::with_layout(Server::Service(s), SVC, layout)
}

/// Sends `kind` from `from` with `msg_id` and returns the one reply's body,
/// after checking that it goes back to `from` and answers `msg_id`.
fn ask(h: &mut Harness<S>, from: usize, msg_id: u64, kind: Kind) -> Kind {
    let fx = h.message(from, msg(from, SVC, kind, Some(msg_id), None));
    let [Effect::Send { to, msg }] = &fx[..] else {
        panic!("one reply expected: {fx:?}");
    };
    assert_eq!(*to, from, "the reply goes to the requester");
    assert_eq!(msg.src, SVC);
    assert_eq!(msg.dest, from);
    assert_eq!(msg.body.in_reply_to, Some(msg_id), "{msg:?}");
    msg.body.kind.clone()
}

fn k_read(key: &str) -> Kind {
    Kind::Read { key: key.into() }
}

fn k_write(key: &str, value: i64) -> Kind {
    Kind::Write {
        key: key.into(),
        value,
    }
}

fn k_cas(key: &str, from: i64, to: i64, create_if_not_exists: bool) -> Kind {
    Kind::Cas {
        key: key.into(),
        from,
        to,
        create_if_not_exists,
    }
}

fn error_code(k: &Kind) -> Option<u32> {
    match k {
        Kind::Error { code, .. } => Some(*code),
        _ => None,
    }
}

fn read_value(k: &Kind) -> Option<i64> {
    match k {
        Kind::ReadOk { value } => Some(*value),
        _ => None,
    }
}

/// The single-copy key-value semantics lin-kv has (and each lww-kv copy
/// has): read, write, cas with create_if_not_exists, errors 20 and 22.
fn check_kv_semantics(h: &mut Harness<S>) {
    let c = 0;
    // A missing key: read and cas fail with 20, and the cas creates nothing.
    assert_eq!(error_code(&ask(h, c, 1, k_read("x"))), Some(20));
    assert_eq!(error_code(&ask(h, c, 2, k_cas("x", 1, 2, false))), Some(20));
    assert_eq!(error_code(&ask(h, c, 3, k_read("x"))), Some(20));
    // Write then read.
    assert!(matches!(ask(h, c, 4, k_write("x", 5)), Kind::WriteOk));
    assert_eq!(read_value(&ask(h, c, 5, k_read("x"))), Some(5));
    // A write overwrites.
    assert!(matches!(ask(h, c, 6, k_write("x", 7)), Kind::WriteOk));
    assert_eq!(read_value(&ask(h, c, 7, k_read("x"))), Some(7));
    // cas from the wrong value: 22, nothing changes.
    assert_eq!(error_code(&ask(h, c, 8, k_cas("x", 5, 9, false))), Some(22));
    assert_eq!(read_value(&ask(h, c, 9, k_read("x"))), Some(7));
    // create_if_not_exists does not bypass the precondition on a key that
    // exists.
    assert_eq!(error_code(&ask(h, c, 10, k_cas("x", 5, 9, true))), Some(22));
    assert_eq!(read_value(&ask(h, c, 11, k_read("x"))), Some(7));
    // cas from the right value succeeds.
    assert!(matches!(
        ask(h, c, 12, k_cas("x", 7, 9, false)),
        Kind::CasOk
    ));
    assert_eq!(read_value(&ask(h, c, 13, k_read("x"))), Some(9));
    // cas on a missing key with create_if_not_exists creates it with `to`,
    // whatever `from` says.
    assert!(matches!(
        ask(h, c, 14, k_cas("y", 123, 4, true)),
        Kind::CasOk
    ));
    assert_eq!(read_value(&ask(h, c, 15, k_read("y"))), Some(4));
    // Keys are independent.
    assert_eq!(read_value(&ask(h, c, 16, k_read("x"))), Some(9));
    assert_eq!(error_code(&ask(h, c, 17, k_read("z"))), Some(20));
}

#[test]
fn lin_kv_read_write_cas_and_error_codes_20_and_22() {
    let mut h = svc("lin-kv", serde_json::json!({}));
    check_kv_semantics(&mut h);
    // Another client reusing the same msg_ids gets its own replies.
    assert_eq!(read_value(&ask(&mut h, 1, 1, k_read("x"))), Some(9));
    assert_eq!(read_value(&ask(&mut h, 1, 5, k_read("y"))), Some(4));
    // A body without msg_id is not a request: no reply.
    assert!(h
        .message(0, msg(0, SVC, k_read("x"), None, None))
        .is_empty());
}

#[test]
fn lin_kv_a_write_by_one_client_is_seen_by_the_others_next_read() {
    // Each round one client writes (or cas-es) a fresh value and the other
    // reads at once: on lin-kv the read sees it, every time.
    let run = |name: &str| -> usize {
        let mut h = svc(name, serde_json::json!({}));
        let mut stale = 0;
        let mut id = 0;
        for round in 0..100i64 {
            let (w, r) = if round % 2 == 0 { (0, 1) } else { (1, 0) };
            id += 1;
            let out = if round == 0 {
                ask(&mut h, w, id, k_write("x", round))
            } else {
                ask(&mut h, w, id, k_cas("x", round - 1, round, false))
            };
            assert!(
                matches!(out, Kind::WriteOk | Kind::CasOk),
                "{name} round {round}: {out:?}"
            );
            id += 1;
            let seen = read_value(&ask(&mut h, r, id, k_read("x")));
            if seen != Some(round) {
                stale += 1;
            }
        }
        stale
    };
    assert_eq!(run("lin-kv"), 0, "lin-kv reads are never stale");
    // The same history on seq-kv does show stale reads: the check above
    // tells the two apart.
    assert!(run("seq-kv") > 0, "seq-kv can answer from an older state");
}

#[test]
fn lin_kv_takes_no_knobs() {
    let layout = svc_layout("lin-kv");
    for knobs in [
        serde_json::json!({"ring": 4}),
        serde_json::json!({"replicas": 2}),
    ] {
        assert!(Service::new("lin-kv", &layout, &knobs).is_err(), "{knobs}");
        assert!(Service::new("lin-tso", &layout, &knobs).is_err(), "{knobs}");
    }
}

/// lww-kv's copies, read straight from the service.
fn lww_copies(h: &Harness<S>) -> Vec<BTreeMap<String, (i64, u64)>> {
    match &h.node {
        Server::Service(Service::Lww(copies)) => copies.clone(),
        other => panic!("not lww-kv: {other:?}"),
    }
}

fn lww_with(copies: Vec<BTreeMap<String, (i64, u64)>>) -> Harness<S> {
    Harness::with_layout(
        Server::Service(Service::Lww(copies)),
        SVC,
        svc_layout("lww-kv"),
    )
}

fn one_key(key: &str, value: i64, stamp: u64) -> BTreeMap<String, (i64, u64)> {
    BTreeMap::from([(key.to_string(), (value, stamp))])
}

#[test]
fn lww_kv_with_one_copy_has_the_kv_semantics() {
    let mut h = svc("lww-kv", serde_json::json!({"replicas": 1}));
    check_kv_semantics(&mut h);
    let layout = svc_layout("lww-kv");
    assert!(Service::new("lww-kv", &layout, &serde_json::json!({"replicas": 0})).is_err());
    assert!(Service::new("lww-kv", &layout, &serde_json::json!({"ring": 4})).is_err());
}

#[test]
fn lww_kv_writes_are_stamped_with_the_service_clock_and_the_later_stamp_wins() {
    let mut h = svc("lww-kv", serde_json::json!({}));
    assert_eq!(lww_copies(&h).len(), 3, "3 copies by default");
    h.now = 10;
    assert!(matches!(ask(&mut h, 0, 1, k_write("x", 1)), Kind::WriteOk));
    h.now = 20;
    assert!(matches!(ask(&mut h, 1, 1, k_write("x", 2)), Kind::WriteOk));
    // Each copy holds nothing or one of the two writes, with its stamp.
    for copy in lww_copies(&h) {
        match copy.get("x") {
            None | Some((1, 10)) | Some((2, 20)) => {}
            other => panic!("{other:?}"),
        }
    }
    // Reads hit random copies, so they may miss the key or see the first
    // write, never anything else; the copies merge until all hold the later
    // write.
    h.now = 30;
    for id in 2..300 {
        let out = ask(&mut h, (id % 2) as usize, id, k_read("x"));
        assert!(
            matches!(read_value(&out), Some(1 | 2)) || error_code(&out) == Some(20),
            "{out:?}"
        );
    }
    for copy in lww_copies(&h) {
        assert_eq!(copy, one_key("x", 2, 20));
    }
    for id in 300..320 {
        assert_eq!(read_value(&ask(&mut h, 0, id, k_read("x"))), Some(2));
    }
}

#[test]
fn lww_kv_copies_merge_to_the_later_stamp_whichever_copy_holds_it() {
    // The later stamp wins the merge whichever side of it it is on, and
    // even when it is the smaller value.
    for (a, b) in [
        (one_key("k", 9, 10), one_key("k", 2, 20)),
        (one_key("k", 2, 20), one_key("k", 9, 10)),
    ] {
        let mut h = lww_with(vec![a, b]);
        h.now = 30;
        for id in 1..200 {
            let v = read_value(&ask(&mut h, 0, id, k_read("k")));
            assert!(matches!(v, Some(2 | 9)), "{v:?}");
        }
        assert_eq!(lww_copies(&h), vec![one_key("k", 2, 20); 2]);
        assert_eq!(read_value(&ask(&mut h, 1, 1, k_read("k"))), Some(2));
    }
    // A key only one copy has spreads to the others (the union).
    let mut h = lww_with(vec![
        one_key("a", 1, 5),
        one_key("b", 2, 6),
        BTreeMap::new(),
    ]);
    for id in 1..300 {
        ask(&mut h, 0, id, k_read("a"));
    }
    let both: BTreeMap<String, (i64, u64)> =
        BTreeMap::from([("a".to_string(), (1, 5)), ("b".to_string(), (2, 6))]);
    assert_eq!(lww_copies(&h), vec![both; 3]);
}

#[test]
fn lww_kv_a_write_stamped_earlier_does_not_beat_a_later_stamp() {
    // x = 1 stamped 100 is in one copy only; the service's clock then steps
    // back and x = 2 is written, stamped 50. Last-write-wins by stamp: x
    // must end as 1 whichever copy the second write hits. (Both mirror
    // images are run, so one of them puts the write on the copy that holds
    // x = 1: `apply` overwrites it with the older stamp and x ends as 2.)
    for copies in [
        vec![one_key("x", 1, 100), BTreeMap::new()],
        vec![BTreeMap::new(), one_key("x", 1, 100)],
    ] {
        let mut h = lww_with(copies);
        h.now = 50;
        assert!(matches!(ask(&mut h, 0, 1, k_write("x", 2)), Kind::WriteOk));
        for id in 2..200 {
            ask(&mut h, 0, id, k_read("x"));
        }
        assert_eq!(lww_copies(&h), vec![one_key("x", 1, 100); 2]);
    }
}

#[test]
fn lin_tso_timestamps_strictly_increase_for_one_client_and_across_clients() {
    let mut h = svc("lin-tso", serde_json::json!({}));
    let ts = |k: Kind| match k {
        Kind::TsOk { ts } => ts,
        k => panic!("{k:?}"),
    };
    let mut last = i64::MIN;
    // One client.
    for id in 1..=10 {
        let t = ts(ask(&mut h, 0, id, Kind::Ts));
        assert!(t > last, "{t} after {last}");
        last = t;
    }
    // Several clients, interleaved, reusing msg_ids: still one strictly
    // increasing sequence, and each reply answers its own request.
    for id in 1..=30u64 {
        let from = (id % 3) as usize; // servers 0, 1 and the service itself
        let from = if from == SVC { 1 } else { from };
        let t = ts(ask(&mut h, from, id, Kind::Ts));
        assert!(t > last, "{t} after {last}");
        last = t;
    }
    // lin-tso is not a key-value store.
    assert_eq!(error_code(&ask(&mut h, 0, 99, k_read("x"))), Some(10));
    let t = ts(ask(&mut h, 1, 100, Kind::Ts));
    assert!(t > last, "a rejected request does not disturb the sequence");
}
