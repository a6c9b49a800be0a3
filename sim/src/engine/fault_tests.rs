//! Engine tests for halts, pauses, targeted message rules, receiver-side
//! partitions, client processes, services and position tracking.

use serde::Serialize;

use super::tests::op;
use super::*;
use crate::fault::{Fault, ScheduledFault};
use crate::layout::Role;
use crate::network::Latency;
use crate::network::{Link, PartitionMode};
use crate::node::{Ctx, Node, Reply, RequestId};
use crate::node::{Digest, Request, Value};
use crate::rule::{MessageMatch, MessageRule, RuleAction};
use crate::workload::{EventKind, ScriptOp};
use crate::MS;
use crate::{NodeId, Time};

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Msg {
    Note { n: u64 },
    Get { req: RequestId },
    Got { req: RequestId, value: i64 },
    Ask { req: RequestId },
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
enum Timer {
    Tick,
    Late,
    Retry(RequestId),
}

/// Replica 0 sends `Note{n}` to every replica each 10 ms of its clock;
/// every replica records what it receives and when (local clock). A
/// replica's applied position is the number of notes it has; a replica
/// with `skew` on renders its state differently from position 2 on.
/// Client processes forward each operation to the request's node as
/// `Get`, retry it at the next replica after 30 ms, and answer the first
/// `Got`. The service answers `Ask` with its count of asks.
#[derive(Default)]
struct World {
    role: Option<Role>,
    replicas: usize,
    notes: Vec<(NodeId, u64, Time)>,
    seq: u64,
    skew: bool,
    waiting: Option<(RequestId, NodeId)>,
    asks: i64,
}

impl Node for World {
    type Msg = Msg;
    type Timer = Timer;
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.role = Some(ctx.layout().role(ctx.id()));
        self.replicas = ctx.nodes();
        if ctx.id() == 0 {
            ctx.set_timer(Timer::Tick, 10 * MS);
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Note { n } => self.notes.push((from, n, ctx.now())),
            Msg::Get { req } => ctx.send(
                from,
                Msg::Got {
                    req,
                    value: ctx.id() as i64,
                },
            ),
            Msg::Got { req, value } => {
                if self.waiting.is_some_and(|(r, _)| r == req) {
                    self.waiting = None;
                    ctx.cancel_timer(Timer::Retry(req));
                    ctx.reply(req, Reply::Ok(Value::Int(value)));
                }
            }
            Msg::Ask { req } => {
                self.asks += 1;
                ctx.send(
                    from,
                    Msg::Got {
                        req,
                        value: self.asks,
                    },
                );
            }
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match t {
            Timer::Tick => {
                self.seq += 1;
                for to in 0..ctx.nodes() {
                    ctx.send(to, Msg::Note { n: self.seq });
                }
                ctx.set_timer(Timer::Tick, 10 * MS);
            }
            Timer::Late => self.notes.push((usize::MAX, 0, ctx.now())),
            Timer::Retry(req) => {
                if let Some((r, at)) = self.waiting.filter(|(r, _)| *r == req) {
                    let next = (at + 1) % self.replicas;
                    self.waiting = Some((r, next));
                    ctx.send(next, Msg::Get { req });
                    ctx.set_timer(Timer::Retry(req), 30 * MS);
                }
            }
        }
    }
    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, r: Request) {
        match (self.role, r.f) {
            (Some(Role::Client(_)), "ask") => {
                self.waiting = Some((r.id, r.node));
                let s = ctx.service("counter").expect("the counter service runs");
                ctx.send(s, Msg::Ask { req: r.id });
            }
            (Some(Role::Client(_)), _) => {
                self.waiting = Some((r.id, r.node));
                ctx.send(r.node, Msg::Get { req: r.id });
                ctx.set_timer(Timer::Retry(r.id), 30 * MS);
            }
            (_, "halt") => {
                ctx.send(0, Msg::Note { n: 99 });
                ctx.halt("assertion failed: halt requested");
                ctx.send(0, Msg::Note { n: 100 });
                ctx.reply(r.id, Reply::Ok(Value::Null));
            }
            (_, "late") => {
                ctx.set_timer(Timer::Late, 20 * MS);
                ctx.reply(r.id, Reply::Ok(Value::Null));
            }
            (_, "read") => ctx.reply(r.id, Reply::Ok(Value::Int(self.notes.len() as i64))),
            _ => {}
        }
    }
    fn on_crash(&mut self) {
        self.notes.clear();
    }
    fn digest(&self) -> Digest {
        let mut d = Digest::new();
        let n = self.notes.len();
        let shown = if self.skew && n >= 2 { n + 100 } else { n };
        d.insert("notes".into(), shown.to_string());
        d
    }
    fn applied(&self) -> Option<u64> {
        matches!(self.role, Some(Role::Replica(_))).then_some(self.notes.len() as u64)
    }
}

fn config(nodes: usize, faults: Vec<(u64, Fault)>, script: Vec<ScriptOp>) -> SimConfig {
    let mut cfg = SimConfig {
        seed: 3,
        nodes,
        link: Link {
            latency: Latency::Fixed { us: MS },
            drop: Prob::ZERO,
            duplicate: Prob::ZERO,
            ordered: true,
        },
        faults: faults
            .into_iter()
            .map(|(at_ms, fault)| ScheduledFault {
                at: at_ms * MS,
                fault,
            })
            .collect(),
        quiet_us: 200 * MS,
        max_time_us: 200 * MS,
        ..SimConfig::default()
    };
    cfg.workload.script = script;
    cfg.workload.timeout_us = 100 * MS;
    cfg
}

fn world(cfg: &SimConfig) -> Vec<World> {
    (0..cfg.layout().total())
        .map(|_| World::default())
        .collect()
}

fn run(cfg: SimConfig) -> Sim<World> {
    let nodes = world(&cfg);
    let mut sim = Sim::new(cfg, nodes, None);
    sim.run();
    sim
}

fn notes_of(sim: &Sim<World>, id: NodeId) -> Vec<u64> {
    sim.nodes()[id].notes.iter().map(|n| n.1).collect()
}

fn outcomes(sim: &Sim<World>) -> Vec<(EventKind, Value)> {
    sim.history()
        .iter()
        .filter(|h| h.kind != EventKind::Invoke)
        .map(|h| (h.kind, h.value.clone()))
        .collect()
}

#[test]
fn a_halted_node_stops_for_good_and_is_reported() {
    let sim = run(config(
        3,
        vec![],
        vec![op(15, 0, 1, "halt"), op(40, 1, 1, "read")],
    ));
    assert_eq!(sim.status(1), Status::Halted);
    assert_eq!(
        sim.halts(),
        [Halt {
            node: 1,
            at: 15 * MS,
            reason: "assertion failed: halt requested".into()
        }]
    );
    // What it sent before the halt left; nothing after it did, the reply
    // included, so the client timed out.
    assert!(notes_of(&sim, 0).contains(&99));
    assert!(!notes_of(&sim, 0).contains(&100));
    assert_eq!(
        outcomes(&sim),
        [
            (EventKind::Info, Value::Null),
            (EventKind::Info, Value::Null)
        ]
    );
    // It lost its state (as in a crash) and received nothing afterwards,
    // while node 2 heard every note.
    assert!(sim.nodes()[1].notes.is_empty());
    assert!(notes_of(&sim, 2).len() > 10);
    assert!(!sim.is_up(1));
}

#[test]
fn a_restart_fault_starts_a_halted_node_again() {
    let sim = run(config(
        2,
        vec![(50, Fault::Restart { node: 1 })],
        vec![op(15, 0, 1, "halt")],
    ));
    assert_eq!(sim.status(1), Status::Up);
    assert_eq!(sim.halts().len(), 1);
    let first = sim.nodes()[1]
        .notes
        .first()
        .expect("notes after the restart");
    assert!(first.2 > 50 * MS, "{first:?}");
}

#[test]
fn a_paused_node_handles_what_waited_in_order_when_it_resumes() {
    let sim = run(config(
        3,
        vec![
            (5, Fault::Pause { node: 1 }),
            (55, Fault::Resume { node: 1 }),
        ],
        // A timer set before the pause falls due during it.
        vec![op(1, 0, 1, "late")],
    ));
    let n1 = &sim.nodes()[1].notes;
    // Notes 1..=5 (due at 11..51 ms) and the timer (due at 21 ms, set
    // before note 2 was sent) waited; all run at 55 ms in the order they
    // came due, on a clock that ran on.
    let late = (usize::MAX, 0, 55 * MS);
    let note = |n| (0, n, 55 * MS);
    assert_eq!(
        n1[..6],
        [note(1), late, note(2), note(3), note(4), note(5)],
        "{n1:?}"
    );
    assert_eq!(n1[6], (0, 6, 61 * MS));
    assert_eq!(sim.stats().parked, 6);
    assert_eq!(notes_of(&sim, 2)[..6], [1, 2, 3, 4, 5, 6]);
}

#[test]
fn a_message_due_at_the_resume_waits_behind_what_waited_for_it() {
    // As above, but the resume comes at 51 ms, when note 5 (sent at 50 ms)
    // comes due: queued before the resume put notes 1-4 back, on an
    // ordered link it must still arrive after them.
    let sim = run(config(
        3,
        vec![
            (5, Fault::Pause { node: 1 }),
            (51, Fault::Resume { node: 1 }),
        ],
        vec![op(1, 0, 1, "late")],
    ));
    let n1 = &sim.nodes()[1].notes;
    let late = (usize::MAX, 0, 51 * MS);
    let note = |n| (0, n, 51 * MS);
    assert_eq!(
        n1[..6],
        [note(1), late, note(2), note(3), note(4), note(5)],
        "{n1:?}"
    );
}

#[test]
fn a_paused_node_that_crashes_loses_what_waited() {
    let mut cfg = config(
        2,
        vec![
            (5, Fault::Pause { node: 1 }),
            (35, Fault::Crash { node: 1 }),
            (36, Fault::Restart { node: 1 }),
        ],
        vec![],
    );
    cfg.link.ordered = false;
    let sim = run(cfg);
    let n1 = notes_of(&sim, 1);
    assert_eq!(n1.first(), Some(&4), "notes 1-3 were lost: {n1:?}");
}

/// No final heal: it would end the rules at once (the schedule is done).
fn lasting(mut cfg: SimConfig) -> SimConfig {
    cfg.final_heal = false;
    cfg
}

fn rule(to: Vec<NodeId>, occurrence: Option<u64>, action: RuleAction) -> Fault {
    Fault::Message(MessageRule {
        matches: MessageMatch {
            to,
            kind: Some("note".into()),
            ..MessageMatch::default()
        },
        occurrence,
        until_us: None,
        action,
    })
}

#[test]
fn a_rule_drops_exactly_the_occurrence_it_names() {
    let sim = run(lasting(config(
        3,
        vec![(0, rule(vec![2], Some(3), RuleAction::Drop))],
        vec![],
    )));
    let n2 = notes_of(&sim, 2);
    assert_eq!(n2[..4], [1, 2, 4, 5], "the third note to n2 is gone");
    assert_eq!(notes_of(&sim, 1)[..4], [1, 2, 3, 4]);
    assert_eq!(sim.stats().rule_dropped, 1);
}

#[test]
fn a_rule_matches_a_field_value_within_its_window() {
    let mut r = rule(vec![], None, RuleAction::Drop);
    if let Fault::Message(m) = &mut r {
        m.matches.field = Some(("n".into(), serde_json::json!(2)));
        m.until_us = Some(100 * MS);
    }
    let sim = run(lasting(config(2, vec![(0, r)], vec![])));
    let n1 = notes_of(&sim, 1);
    assert_eq!(n1[..3], [1, 3, 4]);
    assert_eq!(sim.stats().rule_dropped, 2, "n=2 to both replicas");
}

#[test]
fn rules_duplicate_delay_and_hold() {
    let sim = run(lasting(config(
        3,
        vec![
            (
                0,
                rule(vec![1], Some(1), RuleAction::Duplicate { copies: 2 }),
            ),
            (
                0,
                rule(vec![2], Some(1), RuleAction::Delay { by_us: 25 * MS }),
            ),
            (
                0,
                rule(vec![2], Some(2), RuleAction::Hold { until_us: 80 * MS }),
            ),
        ],
        vec![],
    )));
    assert_eq!(notes_of(&sim, 1)[..4], [1, 1, 1, 2]);
    let n2: Vec<(u64, Time)> = sim.nodes()[2].notes.iter().map(|n| (n.1, n.2)).collect();
    // On an ordered link a delayed message holds up what follows it.
    assert_eq!(n2[0], (1, 36 * MS));
    assert_eq!(n2[1], (2, 80 * MS));
    assert_eq!(n2[2].0, 3);
    assert!(n2[2].1 >= 80 * MS);
}

#[test]
fn duplicated_copies_are_held_and_released_each_as_itself() {
    // Note 1 to n1 is sent three times (a rule's two extra copies) while a
    // partition holds it; the heal releases the three copies, each with
    // its own id, and the run goes on to its time bound. (When the copies
    // shared one id, the released line never emptied and the run spun at
    // one simulated time until its event bound.)
    for mode in [PartitionMode::Hold, PartitionMode::Tcp] {
        let faults = vec![
            (
                5,
                Fault::Partition {
                    groups: vec![vec![0], vec![1]],
                },
            ),
            (
                5,
                rule(vec![1], Some(1), RuleAction::Duplicate { copies: 2 }),
            ),
            (50, Fault::Heal),
        ];
        let mut cfg = lasting(config(2, faults, vec![]));
        cfg.partition_mode = mode;
        cfg.tcp_timeout_us = 1000 * MS;
        cfg.max_events = 100_000;
        let mut out = SharedBuf::default();
        let mut sim = Sim::new(cfg.clone(), world(&cfg), Some(Box::new(out.clone())));
        let stop = sim.run();
        sim.finish_trace().unwrap();
        assert_eq!(stop, StopReason::TimeLimit, "{mode:?}");
        assert_eq!(notes_of(&sim, 1)[..5], [1, 1, 1, 2, 3], "{mode:?}");
        let lines = out.lines();
        let copies: Vec<&serde_json::Value> = lines.iter().filter(|l| l["ev"] == "copy").collect();
        assert_eq!(copies.len(), 2, "{mode:?}");
        let mut ids: Vec<u64> = copies.iter().map(|l| l["mid"].as_u64().unwrap()).collect();
        ids.push(copies[0]["of"].as_u64().unwrap());
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 3, "three ids: {ids:?}");
        for id in &ids {
            for ev in ["hold", "release", "deliver"] {
                let n = lines
                    .iter()
                    .filter(|l| l["ev"] == ev && l["mid"].as_u64() == Some(*id))
                    .count();
                assert_eq!(n, 1, "{mode:?}: message {id} {ev} {n} times");
            }
        }
    }
}

/// A trace sink the test can read back.
#[derive(Clone, Default)]
struct SharedBuf(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn lines(&mut self) -> Vec<serde_json::Value> {
        String::from_utf8(self.0.borrow().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

#[test]
fn receiver_partitions_lose_in_flight_messages_without_telling_the_sender() {
    let faults = vec![
        (
            30,
            Fault::Partition {
                groups: vec![vec![0], vec![1]],
            },
        ),
        (60, Fault::Heal),
    ];
    let mut cfg = config(2, faults, vec![]);
    cfg.link.latency = Latency::Fixed { us: 5 * MS };
    cfg.partition_mode = PartitionMode::Receiver;
    let receiver = run(cfg.clone());
    cfg.partition_mode = PartitionMode::Drop;
    let drop = run(cfg);
    // At 30 ms the cut comes before the tick (it was scheduled first), so
    // notes 3, 4, 5 (sent at 30..=50 ms) meet it; note 2 arrived at 25 ms.
    for sim in [&receiver, &drop] {
        assert_eq!(notes_of(sim, 1)[..3], [1, 2, 6]);
    }
    assert_eq!(receiver.stats().link_errors, 0);
    assert_eq!(drop.stats().link_errors, 3);
}

#[test]
fn in_flight_messages_are_lost_when_a_cut_begins() {
    let faults = vec![
        (
            12,
            Fault::Partition {
                groups: vec![vec![0], vec![1]],
            },
        ),
        (13, Fault::Heal),
    ];
    let mut cfg = config(2, faults, vec![]);
    cfg.link.latency = Latency::Fixed { us: 5 * MS };
    cfg.link.ordered = false;
    cfg.partition_mode = PartitionMode::Receiver;
    let sim = run(cfg);
    // Note 1 was sent at 10 ms and due at 15 ms; the cut came and went
    // while it was in flight, so it arrived. Note 2 (20 ms) too.
    assert_eq!(notes_of(&sim, 1)[..2], [1, 2]);
    let faults = vec![
        (
            12,
            Fault::Partition {
                groups: vec![vec![0], vec![1]],
            },
        ),
        (16, Fault::Heal),
    ];
    let mut cfg = config(2, faults, vec![]);
    cfg.link.latency = Latency::Fixed { us: 5 * MS };
    cfg.link.ordered = false;
    cfg.partition_mode = PartitionMode::Receiver;
    let sim = run(cfg);
    assert_eq!(
        notes_of(&sim, 1)[..2],
        [2, 3],
        "note 1 was dequeued during the cut"
    );
}

#[test]
fn client_processes_talk_to_replicas_over_the_network() {
    let mut cfg = config(3, vec![], vec![op(10, 0, 2, "read"), op(10, 1, 1, "read")]);
    cfg.protocol_clients = true;
    cfg.workload.latency = Latency::Fixed { us: 2 * MS };
    let sim = run(cfg);
    assert_eq!(sim.layout().clients, 2);
    assert_eq!(sim.layout().client(0), 3);
    let h = sim.history();
    // Each answer came from the replica the node policy chose, one round
    // trip (2 × 2 ms) after the invocation.
    assert_eq!(
        h.iter()
            .filter(|e| e.kind == EventKind::Ok)
            .map(|e| (e.process, e.value.clone(), e.time))
            .collect::<Vec<_>>(),
        [(0, Value::Int(2), 14 * MS), (1, Value::Int(1), 14 * MS)]
    );
    assert_eq!(sim.stats().client_messages, 4);
}

#[test]
fn a_client_process_retries_elsewhere_and_can_be_partitioned() {
    // c0 (process 3) is cut from replica 0; its retry reaches replica 1.
    let faults = vec![(
        0,
        Fault::PartitionOneWay {
            from: vec![3],
            to: vec![0],
        },
    )];
    let mut cfg = config(3, faults, vec![op(10, 0, 0, "read")]);
    cfg.protocol_clients = true;
    let sim = run(cfg);
    assert_eq!(outcomes(&sim), [(EventKind::Ok, Value::Int(1))]);
    let ok = sim.history().iter().find(|e| e.kind == EventKind::Ok);
    assert_eq!(ok.map(|e| e.time), Some(40 * MS), "the retry, 30 ms on");
}

#[test]
fn services_are_processes_partitions_spare_unless_named() {
    let mut cfg = config(
        2,
        vec![(
            0,
            Fault::Partition {
                groups: vec![vec![0], vec![1]],
            },
        )],
        vec![op(10, 0, 0, "ask"), op(10, 1, 1, "ask")],
    );
    cfg.services = vec!["counter".into()];
    cfg.protocol_clients = true;
    cfg.final_heal = false;
    let sim = run(cfg.clone());
    let mut got: Vec<Value> = outcomes(&sim).into_iter().map(|o| o.1).collect();
    got.sort();
    assert_eq!(
        got,
        [Value::Int(1), Value::Int(2)],
        "the service served both"
    );
    assert_eq!(sim.layout().name(2), "counter");
    // Named in a group, the service is cut from the other side: client
    // processes in no group still reach it.
    cfg.faults[0].fault = Fault::Partition {
        groups: vec![vec![0, 2], vec![1]],
    };
    let sim = run(cfg);
    assert_eq!(outcomes(&sim).len(), 2);
    assert!(notes_of(&sim, 1).is_empty());
}

#[test]
fn calm_starts_when_the_last_disturbance_ends() {
    let faults = vec![
        (
            10,
            Fault::Partition {
                groups: vec![vec![0], vec![1]],
            },
        ),
        (20, Fault::Crash { node: 1 }),
        (30, Fault::Heal),
        (40, Fault::Pause { node: 0 }),
        (50, Fault::Resume { node: 0 }),
        (
            60,
            Fault::ClockJump {
                node: 0,
                delta_us: 5,
            },
        ),
    ];
    let sim = run(config(2, faults, vec![]));
    assert_eq!(sim.calm_since(), Some(50 * MS));
    let sim = run(config(2, vec![], vec![]));
    assert_eq!(sim.calm_since(), Some(0));
    let mut cfg = config(2, vec![(10, rule(vec![1], None, RuleAction::Drop))], vec![]);
    cfg.final_heal = false;
    assert_eq!(run(cfg).calm_since(), None, "a rule in force disturbs");
}

#[test]
fn positions_are_compared_while_the_run_goes() {
    let mut cfg = config(3, vec![], vec![op(25, 0, 1, "read")]);
    cfg.track_positions = true;
    cfg.max_time_us = 60 * MS;
    let nodes = world(&cfg);
    let mut sim = Sim::new(cfg.clone(), nodes, None);
    sim.run();
    assert_eq!(sim.divergence(), None);
    assert!(sim.positions_seen().unwrap() >= 5);
    let read = sim.history().iter().find(|e| e.kind == EventKind::Ok);
    assert_eq!(read.map(|e| e.position), Some(Some(2)), "2 notes by 25 ms");
    let mut nodes = world(&cfg);
    nodes[2].skew = true;
    let mut sim = Sim::new(cfg, nodes, None);
    sim.run();
    let d = sim.divergence().expect("n2 renders position 2 differently");
    assert_eq!(d.position, 2);
    assert_eq!((d.first.node, d.second.node), (0, 2));
    assert_eq!(d.second.at, 21 * MS);
}

#[test]
fn a_run_in_slices_is_the_same_run() {
    let faults = vec![
        (5, Fault::Pause { node: 1 }),
        (40, Fault::Resume { node: 1 }),
        (
            60,
            Fault::Partition {
                groups: vec![vec![0], vec![1, 2]],
            },
        ),
        (90, Fault::Heal),
    ];
    let cfg = config(3, faults, vec![op(15, 0, 2, "read"), op(70, 1, 1, "read")]);
    let whole = run(cfg.clone());
    for slice in [1, 7, 1000] {
        let mut sim = Sim::new(cfg.clone(), world(&cfg), None);
        let mut slices = 0;
        let reason = loop {
            if let Some(r) = sim.run_for(slice) {
                break r;
            }
            slices += 1;
        };
        assert_eq!(Some(reason), whole.stop_reason());
        assert_eq!(sim.fingerprint(), whole.fingerprint(), "slices of {slice}");
        assert_eq!(sim.stats().events, whole.stats().events);
        assert!(slice > 100 || slices > 10);
    }
    // The event bound still stops the run, and says so.
    let mut bounded = cfg;
    bounded.max_events = 25;
    let mut sim = Sim::new(bounded.clone(), world(&bounded), None);
    let reason = loop {
        if let Some(r) = sim.run_for(4) {
            break r;
        }
    };
    assert_eq!(reason, StopReason::EventLimit);
    assert_eq!(sim.stats().events, 25);
}
