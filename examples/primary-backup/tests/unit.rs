//! The register's handlers one message at a time, with dsim's `Harness`.

use dsim::protocols::Protocol;
use dsim::sim::{Effect, Harness, Node, Reply, Request, Value};
use pb_register::{Msg, Params, PrimaryBackup};

fn primary(variant: &str) -> Harness<PrimaryBackup> {
    let mut h = Harness::new(PrimaryBackup::new(0, 2, variant, &Params::default()), 0, 2);
    h.start();
    h
}

fn write(id: u64, value: i64) -> Request {
    Request {
        id,
        node: 0,
        f: "write",
        key: Some(1),
        value: Value::Int(value),
    }
}

fn replied(fx: &[Effect<Msg, pb_register::Timer>], id: u64) -> bool {
    fx.iter()
        .any(|e| matches!(e, Effect::Reply { id: i, reply: Reply::Ok(_) } if *i == id))
}

#[test]
fn async_acknowledges_before_the_backup_has_the_write() {
    let mut p = primary("async");
    let fx = p.request(write(7, 5));
    assert!(replied(&fx, 7), "{fx:?}");
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Send {
            to: 1,
            msg: Msg::Update {
                seq: 1,
                value: 5,
                ..
            }
        }
    )));
}

#[test]
fn sync_acknowledges_once_the_backup_has_the_write() {
    let mut p = primary("sync");
    let fx = p.request(write(7, 5));
    assert!(!replied(&fx, 7), "{fx:?}");
    // An acknowledgement of an older write answers nothing.
    assert!(!replied(&p.message(1, Msg::Ack { view: 0, seq: 0 }), 7));
    assert!(replied(&p.message(1, Msg::Ack { view: 0, seq: 1 }), 7));
}

#[test]
fn a_backup_applies_writes_in_order_and_says_where_it_is() {
    let mut b = Harness::new(PrimaryBackup::new(1, 2, "sync", &Params::default()), 1, 2);
    b.start();
    let update = |seq, value| Msg::Update {
        view: 0,
        seq,
        key: 1,
        value,
    };
    // Write 2 before write 1: not applied, and the ack says 0.
    let fx = b.message(0, update(2, 20));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Send {
            to: 0,
            msg: Msg::Ack { seq: 0, .. }
        }
    )));
    let fx = b.message(0, update(1, 10));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Send {
            to: 0,
            msg: Msg::Ack { seq: 1, .. }
        }
    )));
    assert_eq!(b.node.digest().get("1").map(String::as_str), Some("10"));
}
