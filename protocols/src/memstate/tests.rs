//! Message-level tests of the engine and the stream.

use sim::{Effect, Harness, Layout, Reply, Request, Value};

use super::kv::Cmd;
use super::stream::{AckLoss, StreamKnobs, SubscriberFaults};
use super::*;

const STREAM: usize = 3;

fn layout() -> Layout {
    Layout {
        replicas: 3,
        services: vec!["stream".into()],
        clients: 0,
    }
}

/// Engine 1 in `variant`, loaded from an empty log.
fn engine(variant: &str, params: Params) -> Harness<MemState> {
    let mut h = Harness::with_layout(MemState::new(1, 3, variant, &params), 1, layout());
    h.start();
    let fx = h.message(
        STREAM,
        Msg::Page {
            from: 0,
            records: vec![],
            more: false,
        },
    );
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Send {
            to: STREAM,
            msg: Msg::Subscribe { from: 0 }
        }
    )));
    h
}

fn set(origin: usize, req: u64, value: i64, expected: Option<u64>) -> Entry {
    Entry {
        origin,
        req: Some(req),
        since: 0,
        cmd: Cmd::Set {
            key: 0,
            value,
            expected,
            expected_value: None,
        },
    }
}

/// A record as the first subscription from 0 sends it (its position in
/// the subscription is its number).
fn record(number: u64, entry: Entry) -> Msg {
    record_at(number, number, entry)
}

/// A record at position `seq` of its subscription.
fn record_at(number: u64, seq: u64, entry: Entry) -> Msg {
    Msg::Record { number, seq, entry }
}

fn request(id: u64, f: &'static str, value: Value) -> Request {
    Request {
        id,
        node: 1,
        f,
        key: Some(0),
        value,
    }
}

fn inner(h: &Harness<MemState>) -> &Engine {
    match &h.node {
        MemState::Engine(e) => e,
        MemState::Stream(_) => panic!("not an engine"),
    }
}

fn replies(fx: &[Effect<Msg, Timer>]) -> Vec<(u64, Reply)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Reply { id, reply } => Some((*id, reply.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_faithful_engine_stops_on_a_gap_and_answers_every_later_operation_with_fail() {
    let mut h = engine("faithful", Params::default());
    h.message(STREAM, record(0, set(0, 100, 1, None)));
    // The backend skipped record 1: the subscription's next record is 2.
    h.message(STREAM, record_at(2, 1, set(0, 101, 2, None)));
    assert_eq!(
        inner(&h).stopped(),
        Some("broken sequence, expected 1, got 2")
    );
    let fx = h.request(request(7, "get", Value::Null));
    assert!(matches!(&replies(&fx)[..], [(7, Reply::Fail(_))]), "{fx:?}");
    assert_eq!(inner(&h).applied(), 1, "nothing is applied after the stop");
}

#[test]
fn a_record_the_network_lost_ends_the_faithful_subscription_instead_of_making_a_gap() {
    // Record 1 was lost on the subscription's connection (position 1 never
    // arrives): TCP would not deliver record 2 past it, the connection and
    // the subscription are gone, and the seed renews neither. The engine
    // freezes at 1 applied record; it does not stop on a broken sequence.
    let mut h = engine("faithful", Params::default());
    h.message(STREAM, record(0, set(0, 100, 1, None)));
    h.message(STREAM, record(2, set(0, 101, 2, None)));
    h.message(STREAM, record(3, set(0, 102, 3, None)));
    assert_eq!(inner(&h).stopped(), None);
    assert_eq!(inner(&h).applied(), 1, "frozen after record 0");
    let fx = h.request(request(7, "get", Value::Null));
    assert!(
        matches!(&replies(&fx)[..], [(7, Reply::Ok(_))]),
        "a frozen engine still serves stale reads: {fx:?}"
    );
    // The backend's own gap (the stream skipped record 1 but the
    // subscription's next position is record 2's) stops it, as before.
    let mut h = engine("faithful", Params::default());
    h.message(STREAM, record(0, set(0, 100, 1, None)));
    h.message(STREAM, record_at(2, 1, set(0, 101, 2, None)));
    assert!(inner(&h).stopped().is_some());
}

#[test]
fn a_failed_command_counts_its_record_as_in_the_snapshot_and_stops_the_engine_before_6f560ec() {
    // The snapshot (8d30ac9): the record number is set before the command
    // runs, so a CAS that throws still counts and the engine goes on.
    let mut h = engine("faithful", Params::default());
    h.message(STREAM, record(0, set(0, 100, 1, None)));
    h.message(STREAM, record(1, set(0, 101, 2, Some(7))));
    assert_eq!(inner(&h).applied(), 2, "the failed command's record counts");
    h.message(STREAM, record(2, set(0, 102, 3, None)));
    assert_eq!(inner(&h).stopped(), None);
    assert_eq!(inner(&h).store().get(0), Some((3, 2)));
    // Before 6f560ec the number was set only after a successful command:
    // the engine stays one record behind and the next record stops it.
    let old = Params {
        pre_6f560ec: true,
        ..Params::default()
    };
    let mut h = engine("faithful", old);
    h.message(STREAM, record(0, set(0, 100, 1, None)));
    h.message(STREAM, record(1, set(0, 101, 2, Some(7))));
    assert_eq!(inner(&h).applied(), 1, "pre-6f560ec skips the update");
    h.message(STREAM, record(2, set(0, 102, 3, None)));
    assert_eq!(
        inner(&h).stopped(),
        Some("broken sequence, expected 1, got 2")
    );
}

#[test]
fn the_faithful_startup_replay_subscribes_after_the_last_record_that_did_not_throw() {
    // EngineBuilder.Load sets the last record number after the command
    // ran: trailing failed commands are not counted, and the subscription
    // starts at the first of them (they run again, and fail again).
    for (variant, from) in [("faithful", 1), ("intended", 3)] {
        let mut h = Harness::with_layout(
            MemState::new(1, 3, variant, &Params::default()),
            1,
            layout(),
        );
        h.start();
        let fx = h.message(
            STREAM,
            Msg::Page {
                from: 0,
                records: vec![
                    set(0, 100, 1, None),
                    set(0, 101, 2, Some(7)),
                    set(0, 102, 3, Some(9)),
                ],
                more: false,
            },
        );
        assert!(
            fx.iter().any(|e| matches!(
                e,
                Effect::Send {
                    to: STREAM,
                    msg: Msg::Subscribe { from: f }
                } if *f == from
            )),
            "{variant}: {fx:?}"
        );
        // The re-delivered failed record is in sequence for the faithful engine.
        h.message(STREAM, record_at(from, 0, set(0, 101, 2, Some(7))));
        assert_eq!(inner(&h).stopped(), None, "{variant}");
        assert_eq!(inner(&h).store().get(0), Some((1, 1)), "{variant}");
    }
}

#[test]
fn the_faithful_batcher_dies_after_the_clientapi_retries_and_the_intended_one_retries_for_ever() {
    for variant in ["faithful", "intended"] {
        let mut h = engine(variant, Params::default());
        let fx = h.request(request(1, "set", Value::Int(5)));
        assert!(fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                to: STREAM,
                msg: Msg::Append { batch: 1, .. }
            }
        )));
        // One append in flight: the next command waits in the queue.
        let fx = h.request(request(2, "set", Value::Int(6)));
        assert!(
            !fx.iter().any(|e| matches!(e, Effect::Send { .. })),
            "{fx:?}"
        );
        // The ClientAPI sends a timed-out append again 10 times, with the
        // same command ids; the 11th timeout throws.
        for batch in 1..=11 {
            let fx = h.timer(Timer::AppendTimeout(batch));
            let resent = fx.iter().any(|e| {
                matches!(
                    e,
                    Effect::Send {
                        msg: Msg::Append { entries, .. },
                        ..
                    } if entries[0].req == Some(1)
                )
            });
            let expect = variant == "intended" || batch <= 10;
            assert_eq!(resent, expect, "{variant} timeout {batch}: {fx:?}");
        }
        assert_eq!(inner(&h).batcher_dead, variant == "faithful");
    }
}

#[test]
fn a_command_completes_when_its_own_record_is_applied() {
    let mut h = engine("faithful", Params::default());
    h.request(request(9, "set", Value::Int(5)));
    let fx = h.message(STREAM, record(0, set(1, 9, 5, None)));
    assert_eq!(replies(&fx), vec![(9, Reply::Ok(Value::Int(1)))]);
    let fx = h.request(request(10, "get", Value::Null));
    assert_eq!(
        replies(&fx),
        vec![(
            10,
            Reply::Ok(Value::List(vec![Value::Int(5), Value::Int(1)]))
        )]
    );
}

#[test]
fn an_intended_read_waits_for_the_streams_head() {
    let mut h = engine("intended", Params::default());
    let fx = h.request(request(4, "get", Value::Null));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Send {
            to: STREAM,
            msg: Msg::Head { tag: 4 }
        }
    )));
    let fx = h.message(STREAM, Msg::HeadIs { tag: 4, next: 1 });
    assert!(replies(&fx).is_empty(), "record 0 is not applied yet");
    let fx = h.message(STREAM, record(0, set(0, 100, 8, None)));
    assert_eq!(
        replies(&fx),
        vec![(
            4,
            Reply::Ok(Value::List(vec![Value::Int(8), Value::Int(1)]))
        )]
    );
}

#[test]
fn a_leader_rejects_commands_of_a_deposed_origin_at_apply_time() {
    let params = Params {
        operator_leader: Some(1),
        ..Params::default()
    };
    let mut h = engine("leader", params);
    let assume = |origin| Entry {
        origin,
        req: None,
        since: 0,
        cmd: Cmd::AssumeLeadership,
    };
    h.message(STREAM, record(0, assume(1)));
    assert!(inner(&h).leads(1));
    h.request(request(5, "set", Value::Int(3)));
    // n2 takes over before n1's command is applied.
    h.message(STREAM, record(1, assume(2)));
    let mut mine = set(1, 5, 3, None);
    mine.since = 0;
    let fx = h.message(STREAM, record(2, mine));
    assert!(
        matches!(&replies(&fx)[..], [(5, Reply::Fail(Value::Str(s)))] if s.contains("not leader")),
        "{fx:?}"
    );
    assert_eq!(
        inner(&h).store().get(0),
        None,
        "the rejected command changed nothing"
    );
}

fn stream(knobs: StreamKnobs) -> Harness<MemState> {
    let s = MemState::service(
        "stream",
        &layout(),
        &Params::default(),
        &serde_json::to_value(knobs).expect("knobs"),
    )
    .expect("stream");
    Harness::with_layout(s, STREAM, layout())
}

fn records_to(fx: &[Effect<Msg, Timer>], to: usize) -> Vec<u64> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send {
                to: t,
                msg: Msg::Record { number, .. },
            } if *t == to => Some(*number),
            _ => None,
        })
        .collect()
}

#[test]
fn the_stream_numbers_batches_and_applies_subscriber_faults_once() {
    let knobs = StreamKnobs {
        subscribers: vec![SubscriberFaults {
            node: 1,
            gap: vec![1],
            duplicate: vec![2],
            drop_at: Some(4),
            ..SubscriberFaults::default()
        }],
        ack_loss: vec![AckLoss {
            node: 0,
            append: 1,
            count: 1,
        }],
        ..StreamKnobs::default()
    };
    let mut s = stream(knobs);
    s.message(1, Msg::Subscribe { from: 0 });
    let batch: Vec<Entry> = (0..5).map(|i| set(0, i, i as i64, None)).collect();
    let fx = s.message(
        0,
        Msg::Append {
            batch: 1,
            entries: batch,
        },
    );
    assert!(
        !fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                msg: Msg::Appended { .. },
                ..
            }
        )),
        "the first append's acknowledgement is lost"
    );
    assert_eq!(records_to(&fx, 1), vec![0, 2, 2, 3]);
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Send {
            to: 1,
            msg: Msg::Dropped
        }
    )));
    // Backend faults keep the subscription's positions consecutive.
    assert_eq!(seqs_to(&fx, 1), vec![0, 1, 2, 3]);
    // Subscribing again from 1: the spent faults do not fire again, and
    // positions start again at 0.
    let fx = s.message(1, Msg::Subscribe { from: 1 });
    assert_eq!(records_to(&fx, 1), vec![1, 2, 3, 4]);
    assert_eq!(seqs_to(&fx, 1), vec![0, 1, 2, 3]);
}

fn seqs_to(fx: &[Effect<Msg, Timer>], to: usize) -> Vec<u64> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send {
                to: t,
                msg: Msg::Record { seq, .. },
            } if *t == to => Some(*seq),
            _ => None,
        })
        .collect()
}

#[test]
fn the_stream_reorders_and_delays_records_for_one_subscriber() {
    let knobs = StreamKnobs {
        subscribers: vec![
            SubscriberFaults {
                node: 1,
                reorder: vec![1],
                ..SubscriberFaults::default()
            },
            SubscriberFaults {
                node: 2,
                delay_ms: 50,
                ..SubscriberFaults::default()
            },
        ],
        ..StreamKnobs::default()
    };
    let mut s = stream(knobs);
    s.message(1, Msg::Subscribe { from: 0 });
    s.message(2, Msg::Subscribe { from: 0 });
    let batch: Vec<Entry> = (0..3).map(|i| set(0, i, i as i64, None)).collect();
    let fx = s.message(
        0,
        Msg::Append {
            batch: 1,
            entries: batch,
        },
    );
    assert_eq!(records_to(&fx, 1), vec![0, 2, 1], "record 1 after record 2");
    assert!(records_to(&fx, 2).is_empty(), "n2's records wait");
    let timers = fx
        .iter()
        .filter(|e| matches!(e, Effect::SetTimer { tag: Timer::Deliver { to: 2, .. }, after } if *after == 50 * sim::MS))
        .count();
    assert_eq!(timers, 3);
    let fx = s.timer(Timer::Deliver { to: 2, number: 0 });
    assert_eq!(records_to(&fx, 2), vec![0]);
}

fn sends_append(fx: &[Effect<Msg, Timer>]) -> bool {
    fx.iter().any(|e| {
        matches!(
            e,
            Effect::Send {
                to: STREAM,
                msg: Msg::Append { .. }
            }
        )
    })
}

#[test]
fn a_forward_waits_for_its_leadership_record_runs_once_and_is_refused_for_good_otherwise() {
    let assume = |origin| Entry {
        origin,
        req: None,
        since: 0,
        cmd: Cmd::AssumeLeadership,
    };
    let fwd = |req| Msg::Forward {
        req,
        op: Op {
            f: "set",
            key: 0,
            value: Value::Int(4),
        },
        since: 0,
    };
    let mut h = engine("leader", Params::default());
    // n1 has not applied record 0 (its own AssumeLeadership) yet: it waits.
    let fx = h.message(2, fwd(9));
    assert!(fx.is_empty(), "{fx:?}");
    // Once it leads from record 0 it runs the forward.
    let fx = h.message(STREAM, record(0, assume(1)));
    assert!(sends_append(&fx), "{fx:?}");
    // A duplicate while it runs: nothing more.
    let fx = h.message(2, fwd(9));
    assert!(fx.is_empty(), "{fx:?}");
    // Applied: the answer goes to the follower, and again to a late copy.
    let mut e = set(1, 9, 4, None);
    e.since = 0;
    let fx = h.message(STREAM, record(1, e));
    let done = |fx: &[Effect<Msg, Timer>]| {
        fx.iter().any(|e| {
            matches!(
                e,
                Effect::Send {
                    to: 2,
                    msg: Msg::Done {
                        req: 9,
                        reply: Reply::Ok(Value::Int(1))
                    }
                }
            )
        })
    };
    assert!(done(&fx), "{fx:?}");
    assert!(done(&h.message(2, fwd(9))));
    // An engine that has applied record 0 and does not lead from it refuses.
    let mut f = engine("leader", Params::default());
    f.message(STREAM, record(0, assume(0)));
    let fx = f.message(2, fwd(10));
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                to: 2,
                msg: Msg::Refused { req: 10, since: 0 }
            }
        )),
        "{fx:?}"
    );
}
