use super::server::Store;
use super::{ByKey, Msg};
use crate::maelstrom::{Body, Kind};

#[test]
fn kafka_bodies_are_written_with_their_own_type() {
    let body = Body {
        kind: Kind::Kafka(Msg::SendUpdate {
            key: "3".into(),
            msg: 7,
        }),
        msg_id: Some(4),
        in_reply_to: None,
    };
    let json = serde_json::to_value(&body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"type": "send_update", "key": "3", "msg": 7, "msg_id": 4})
    );
}

#[test]
fn the_store_panics_only_past_the_end_of_a_non_empty_log() {
    let mut s = Store::default();
    let at = |o: i64| -> ByKey<i64> { [("k".to_string(), o)].into_iter().collect() };
    assert!(
        s.poll(&at(5)).unwrap().is_empty(),
        "an empty log is skipped"
    );
    assert_eq!(s.add("k", 10), 0);
    assert_eq!(s.add("k", 11), 1);
    assert_eq!(s.poll(&at(1)).unwrap()["k"], vec![(1, 11)]);
    assert!(s.poll(&at(2)).unwrap().is_empty(), "the end itself is fine");
    assert!(s
        .poll(&at(3))
        .unwrap_err()
        .contains("slice bounds out of range [3:2]"));
    s.commit(&at(5));
    s.commit(&at(1));
    assert_eq!(
        s.list(&["k".into(), "j".into()]),
        [("j".to_string(), 0), ("k".to_string(), 1)]
            .into_iter()
            .collect(),
        "commits overwrite; never committed is 0"
    );
}
