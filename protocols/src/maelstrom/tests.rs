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
