use super::*;
use sim::{Effect, Harness, Reply, Value};

fn layout() -> Layout {
    Layout {
        replicas: 3,
        services: Vec::new(),
        clients: 2,
    }
}

fn host(id: NodeId) -> Harness<Cluster> {
    let mut h = Harness::with_layout(Cluster::new(id, 3, "faithful", &Params {}), id, layout());
    h.start();
    h
}

fn client() -> Harness<Cluster> {
    let node = Cluster::client(0, &layout(), "faithful", &Params {}).expect("a client");
    let mut h = Harness::with_layout(node, 3, layout());
    h.start();
    h
}

fn sends(fx: &[sim::EffectOf<Cluster>]) -> Vec<(NodeId, Msg)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn replies(fx: &[sim::EffectOf<Cluster>]) -> Vec<Reply> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Reply { reply, .. } => Some(reply.clone()),
            _ => None,
        })
        .collect()
}

fn set(amount: i64, ts: Time) -> Msg {
    Msg::Set {
        dir: Dir::Withdraw,
        amount,
        ts,
    }
}

fn request(id: u64, f: &'static str, value: Value) -> Request {
    Request {
        id,
        node: 1,
        f,
        key: None,
        value,
    }
}

#[test]
fn a_clients_set_is_relayed_once_to_every_other_host() {
    let mut h = host(1);
    let fx = h.message(3, set(4, 10));
    let sync = Msg::Sync {
        dir: Dir::Withdraw,
        amount: 4,
        h: NO_PARENT,
        ts: 10,
    };
    assert_eq!(sends(&fx), vec![(0, sync.clone()), (2, sync.clone())]);
    assert!(
        sends(&h.message(0, sync)).is_empty(),
        "a sync is not relayed"
    );
}

#[test]
fn get_answers_the_newest_events_amount_not_a_balance() {
    let mut h = host(0);
    assert_eq!(
        sends(&h.message(3, Msg::Get)),
        vec![(3, Msg::Value { value: EMPTY })]
    );
    h.message(3, set(2, 20));
    // An older write arriving later does not win; nor does a balance form:
    // both events are withdrawals, and the answer is still an amount.
    h.message(
        1,
        Msg::Sync {
            dir: Dir::Deposit,
            amount: 3,
            h: NO_PARENT,
            ts: 15,
        },
    );
    assert_eq!(
        sends(&h.message(4, Msg::Get)),
        vec![(4, Msg::Value { value: 2 })]
    );
    if let Cluster::Host(x) = &h.node {
        assert_eq!(x.events().len(), 2);
        assert!(x.events().iter().all(|e| e.h == NO_PARENT as u64));
    }
}

#[test]
fn the_client_acks_a_write_before_the_host_has_it() {
    let mut c = client();
    let fx = c.request(request(1, "write", Value::Int(3)));
    assert!(matches!(sends(&fx)[..], [(1, Msg::Set { amount: 3, .. })]));
    assert_eq!(replies(&fx), vec![Reply::Ok(Value::Int(3))]);
}

#[test]
fn the_client_reads_the_8_byte_answer_and_turns_the_sentinel_into_nil() {
    let mut c = client();
    let fx = c.request(request(1, "read", Value::Null));
    assert_eq!(sends(&fx), vec![(1, Msg::Get)]);
    assert!(replies(&fx).is_empty(), "a read waits for the host");
    let fx = c.message(1, Msg::Value { value: EMPTY });
    assert_eq!(replies(&fx), vec![Reply::Ok(Value::Null)]);
    c.request(request(2, "read", Value::Null));
    assert_eq!(
        replies(&c.message(1, Msg::Value { value: 4 })),
        vec![Reply::Ok(Value::Int(4))]
    );
    c.request(request(3, "read", Value::Null));
    assert_eq!(replies(&c.link_error(1, Msg::Get)), vec![Reply::Info]);
}

#[test]
fn a_broken_connection_between_hosts_is_never_reopened() {
    let mut h = host(0);
    let sync = Msg::Sync {
        dir: Dir::Deposit,
        amount: 1,
        h: NO_PARENT,
        ts: 5,
    };
    h.link_error(2, sync);
    let fx = h.message(3, set(2, 10));
    assert_eq!(sends(&fx).len(), 1, "only n1 still hears from n0");
}
