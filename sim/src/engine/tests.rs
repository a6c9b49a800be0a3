//! Engine tests with a small node whose handlers make the engine's rules
//! observable: who received what, when, and what each client saw.

use serde::Serialize;

use super::*;
use crate::fault::{Fault, ScheduledFault};
use crate::network::Latency;
use crate::network::{Link, PartitionMode};
use crate::node::{Ctx, Node, Reply};
use crate::node::{Digest, Request, Value};
use crate::rng::Prob;
use crate::workload::{EventKind, NodePolicy, Rate, ScriptOp, WorkloadSpec};
use crate::MS;
use crate::{NodeId, Time};

#[derive(Clone, Debug, Serialize)]
enum Msg {
    Ping(u64),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
enum Timer {
    Tick,
    Once,
}

/// Node 0 pings every peer on each `Tick` (every 10 ms of its clock);
/// everyone records what arrives. `read` answers the count received,
/// `silent` is never answered, `clock` answers the local clock, `ping-1`
/// sends `Ping(1000)` to node 1.
#[derive(Default)]
struct Probe {
    received: Vec<(NodeId, u64, Time)>,
    link_errors: Vec<NodeId>,
    starts: u32,
    once_fired: Vec<Time>,
    seq: u64,
    ticking: bool,
}

impl Node for Probe {
    type Msg = Msg;
    type Timer = Timer;
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.starts += 1;
        if ctx.id() == 0 && self.ticking {
            ctx.set_timer(Timer::Tick, 10 * MS);
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, Msg::Ping(n): Msg) {
        self.received.push((from, n, ctx.now()));
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: Timer) {
        match t {
            Timer::Tick => {
                self.seq += 1;
                ctx.broadcast(Msg::Ping(self.seq));
                ctx.set_timer(Timer::Tick, 10 * MS);
            }
            Timer::Once => self.once_fired.push(ctx.now()),
        }
    }
    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, r: Request) {
        match r.f {
            "read" => ctx.reply(r.id, Reply::Ok(Value::Int(self.received.len() as i64))),
            "clock" => ctx.reply(r.id, Reply::Ok(Value::Int(ctx.now() as i64))),
            "once-twice" => {
                // The second set replaces the first: one firing, at 30 ms.
                ctx.set_timer(Timer::Once, 10 * MS);
                ctx.set_timer(Timer::Once, 30 * MS);
                ctx.reply(r.id, Reply::Ok(Value::Null));
            }
            "ping-1" => {
                // Out of the ticks' numbering: a mark on the link to node 1.
                ctx.send(1, Msg::Ping(1000));
                ctx.reply(r.id, Reply::Ok(Value::Null));
            }
            "once-cancel" => {
                ctx.set_timer(Timer::Once, 10 * MS);
                ctx.cancel_timer(Timer::Once);
                ctx.reply(r.id, Reply::Ok(Value::Null));
            }
            _ => {} // "silent": never answered
        }
    }
    fn on_link_error(&mut self, _: &mut Ctx<'_, Self>, to: NodeId, _: Msg) {
        self.link_errors.push(to);
    }
    fn on_crash(&mut self) {
        self.received.clear();
    }
    fn digest(&self) -> Digest {
        Digest::new()
    }
}

fn workload(script: Vec<ScriptOp>) -> WorkloadSpec {
    WorkloadSpec {
        timeout_us: 100 * MS,
        script,
        ..WorkloadSpec::default()
    }
}

/// A scripted operation of `client` on `node` at `at_ms`.
pub(super) fn op(at_ms: u64, client: usize, node: NodeId, f: &'static str) -> ScriptOp {
    ScriptOp {
        at: at_ms * MS,
        client,
        node: Some(node),
        f,
        key: None,
        value: Value::Null,
    }
}

fn config(nodes: usize, faults: Vec<(u64, Fault)>, script: Vec<ScriptOp>) -> SimConfig {
    SimConfig {
        seed: 1,
        nodes,
        link: Link {
            latency: Latency::Fixed { us: MS },
            drop: Prob::ZERO,
            duplicate: Prob::ZERO,
            ordered: true,
        },
        links: Vec::new(),
        partition_mode: PartitionMode::Drop,
        clocks: Vec::new(),
        down_at_start: Vec::new(),
        workload: workload(script),
        faults: faults
            .into_iter()
            .map(|(at_ms, fault)| ScheduledFault {
                at: at_ms * MS,
                fault,
            })
            .collect(),
        final_heal: true,
        quiet_us: 0,
        max_time_us: 10_000 * MS,
        max_events: 1_000_000,
        record_history: true,
        ..SimConfig::default()
    }
}

fn ticking(nodes: usize) -> Vec<Probe> {
    (0..nodes)
        .map(|_| Probe {
            ticking: true,
            ..Probe::default()
        })
        .collect()
}

fn quiet(nodes: usize) -> Vec<Probe> {
    (0..nodes).map(|_| Probe::default()).collect()
}

#[test]
fn partitions_drop_and_report_errors_on_ordered_links_then_heal() {
    let faults = vec![
        (
            25,
            Fault::Partition {
                groups: vec![vec![0], vec![1, 2]],
            },
        ),
        (55, Fault::Heal),
    ];
    // A scripted op keeps the workload running until 100 ms.
    let mut sim = Sim::new(
        config(3, faults, vec![op(100, 0, 1, "read")]),
        ticking(3),
        None,
    );
    sim.run();
    let got: Vec<u64> = sim.nodes()[1].received.iter().map(|r| r.1).collect();
    // Ticks at 10, 20 arrive; 30, 40, 50 are sent into the partition
    // (arriving at 31, 41, 51) and lost; 60.. arrive after the heal.
    assert_eq!(&got[..4], &[1, 2, 6, 7], "{got:?}");
    let errors = &sim.nodes()[0].link_errors;
    assert_eq!(errors.iter().filter(|&&p| p == 1).count(), 3, "{errors:?}");
    assert_eq!(sim.stats().dropped, 6);
}

/// Node 0 ticks to node 1 every 10 ms; a partition cuts them from 25 ms
/// to `heal_ms`, in `mode`; a read at `read_ms` keeps the run going. Runs
/// it and returns what node 1 received, as (tick, arrival).
fn cut_between_two(
    mode: PartitionMode,
    tcp_timeout_ms: u64,
    heal_ms: u64,
    read_ms: u64,
) -> (Sim<Probe>, Vec<(u64, Time)>) {
    let partition = Fault::Partition {
        groups: vec![vec![0], vec![1]],
    };
    let faults = vec![(25, partition), (heal_ms, Fault::Heal)];
    let mut cfg = config(2, faults, vec![op(read_ms, 0, 1, "read")]);
    cfg.partition_mode = mode;
    cfg.tcp_timeout_us = tcp_timeout_ms * MS;
    let mut sim = Sim::new(cfg, ticking(2), None);
    sim.run();
    let got = sim.nodes()[1].received.iter().map(|r| (r.1, r.2)).collect();
    (sim, got)
}

#[test]
fn hold_mode_delivers_after_the_heal() {
    let (sim, got) = cut_between_two(PartitionMode::Hold, 20000, 55, 58);
    assert_eq!(&got[..2], &[(1, 11 * MS), (2, 21 * MS)]);
    // 3, 4, 5 were held and arrive one latency after the heal at 55 ms.
    assert_eq!(&got[2..5], &[(3, 56 * MS), (4, 56 * MS), (5, 56 * MS)]);
    assert!(
        sim.nodes()[0].link_errors.is_empty(),
        "held messages are not errors"
    );
}

#[test]
fn released_messages_are_not_overtaken_by_ones_still_in_flight() {
    // The heal comes at 50.5 ms, while tick 5 (sent at 50 ms) is in
    // flight: 3 and 4, held since 31 and 41 ms, are released to arrive at
    // 51.5 ms, after 5 would (51 ms). On an ordered link 5 waits for them.
    for mode in [PartitionMode::Hold, PartitionMode::Tcp] {
        let partition = Fault::Partition {
            groups: vec![vec![0], vec![1]],
        };
        let faults = vec![(25, partition), (50, Fault::Heal)];
        let mut cfg = config(2, faults, vec![op(80, 0, 1, "read")]);
        cfg.faults[1].at += MS / 2;
        cfg.partition_mode = mode;
        let mut sim = Sim::new(cfg, ticking(2), None);
        sim.run();
        let got: Vec<(u64, Time)> = sim.nodes()[1].received.iter().map(|r| (r.1, r.2)).collect();
        assert_eq!(
            &got[2..5],
            &[
                (3, 51 * MS + MS / 2),
                (4, 51 * MS + MS / 2),
                (5, 51 * MS + MS / 2)
            ],
            "{mode:?}: {got:?}"
        );
    }
}

#[test]
fn a_message_in_flight_at_a_heal_keeps_its_place_before_later_sends() {
    // As above, and at the heal (50.5 ms) node 0 also sends a mark to
    // node 1: it is due at 51.5 ms, with the released 3 and 4 (the line
    // holds it there). Tick 5, sent at 50 ms and in flight at the heal,
    // comes due at 51 ms, waits behind 3 and 4, and must still arrive
    // before the mark, which was sent after it. (It used to be queued
    // again for 51.5 ms, behind the mark already queued for then.)
    for mode in [PartitionMode::Hold, PartitionMode::Tcp] {
        let partition = Fault::Partition {
            groups: vec![vec![0], vec![1]],
        };
        let faults = vec![(25, partition), (50, Fault::Heal)];
        let mut mark = op(50, 0, 0, "ping-1");
        mark.at += MS / 2;
        let mut cfg = config(2, faults, vec![mark, op(80, 1, 1, "read")]);
        cfg.faults[1].at += MS / 2;
        cfg.partition_mode = mode;
        let mut sim = Sim::new(cfg, ticking(2), None);
        sim.run();
        let got: Vec<(u64, Time)> = sim.nodes()[1].received.iter().map(|r| (r.1, r.2)).collect();
        let at = 51 * MS + MS / 2;
        assert_eq!(
            &got[2..6],
            &[(3, at), (4, at), (5, at), (1000, at)],
            "{mode:?}: {got:?}"
        );
    }
}

#[test]
fn tcp_mode_rides_out_a_cut_shorter_than_the_timeout() {
    let (sim, got) = cut_between_two(PartitionMode::Tcp, 100, 55, 80);
    // 3, 4, 5 are retransmitted until the heal, then arrive in order.
    assert_eq!(
        &got[..5],
        &[
            (1, 11 * MS),
            (2, 21 * MS),
            (3, 56 * MS),
            (4, 56 * MS),
            (5, 56 * MS)
        ]
    );
    assert_eq!(got[5], (6, 61 * MS), "{got:?}");
    assert!(
        sim.nodes()[0].link_errors.is_empty(),
        "a short cut costs only delay"
    );
}

#[test]
fn tcp_mode_fails_a_link_stalled_past_the_timeout() {
    let (sim, got) = cut_between_two(PartitionMode::Tcp, 50, 105, 130);
    let got: Vec<u64> = got.iter().map(|r| r.0).collect();
    // The link stalls when 3 meets the cut (31 ms) and fails at 81 ms,
    // before 8 arrives: 3..=7, held by then, are lost with an error each.
    // 8, 9 and 10 stall the link again and go through at the heal (105 ms).
    assert_eq!(&got[..5], &[1, 2, 8, 9, 10], "{got:?}");
    let errors = &sim.nodes()[0].link_errors;
    assert_eq!(errors.iter().filter(|&&p| p == 1).count(), 5, "{errors:?}");
}

#[test]
fn crash_loses_volatile_state_and_restart_starts_again() {
    let faults = vec![
        (25, Fault::Crash { node: 1 }),
        (45, Fault::Restart { node: 1 }),
    ];
    let mut sim = Sim::new(
        config(2, faults, vec![op(60, 0, 1, "read")]),
        ticking(2),
        None,
    );
    sim.run();
    let n1 = &sim.nodes()[1];
    assert_eq!(n1.starts, 2, "on_start again after the restart");
    // The crash cleared 1 and 2. The first send after it (3, at 30 ms)
    // finds the old connection broken; 4 is sent on a new connection but
    // meets a down node; after the restart at 45 ms, 5 gets through.
    let got: Vec<u64> = n1.received.iter().map(|r| r.1).collect();
    assert_eq!(got, vec![5], "{got:?}");
    assert_eq!(
        sim.nodes()[0].link_errors,
        vec![1, 1],
        "a broken connection, then a down node"
    );
    assert_eq!(sim.history().last().unwrap().value, Value::Int(1));
}

#[test]
fn setting_a_timer_again_replaces_it_and_cancel_forgets_it() {
    let script = vec![
        op(0, 0, 1, "once-twice"),
        op(0, 1, 2, "once-cancel"),
        op(100, 0, 1, "read"),
    ];
    let mut sim = Sim::new(config(3, vec![], script), quiet(3), None);
    sim.run();
    assert_eq!(sim.nodes()[1].once_fired, vec![30 * MS]);
    assert!(sim.nodes()[2].once_fired.is_empty());
}

#[test]
fn unanswered_operations_become_info_and_the_process_is_not_reused() {
    let script = vec![op(0, 0, 0, "silent"), op(0, 0, 0, "read")];
    let mut sim = Sim::new(config(1, vec![], script), quiet(1), None);
    sim.run();
    let h = sim.history();
    let kinds: Vec<(u64, EventKind, Time)> =
        h.iter().map(|e| (e.process, e.kind, e.time)).collect();
    assert_eq!(
        kinds,
        vec![
            (0, EventKind::Invoke, 0),
            (0, EventKind::Info, 100 * MS),
            (1, EventKind::Invoke, 100 * MS),
            (1, EventKind::Ok, 100 * MS),
        ]
    );
}

/// A trace writer the test can read back.
#[derive(Clone, Default)]
struct Lines(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_timeout_runs_among_same_time_events_in_the_order_they_were_scheduled() {
    // At 100 ms three things are due: client 1's scripted read (scheduled
    // when the run starts), client 0's timeout (set by its invocation at
    // 0 ms) and node 0's tick (set at 90 ms). They run in that order.
    let script = vec![op(0, 0, 0, "silent"), op(100, 1, 1, "read")];
    let lines = Lines::default();
    let mut sim = Sim::new(
        config(2, vec![], script),
        ticking(2),
        Some(Box::new(lines.clone())),
    );
    sim.run();
    let text = String::from_utf8(lines.0.borrow().clone()).unwrap();
    let at_100: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("{\"t\":100000,"))
        .filter_map(|l| {
            ["\"invoke\"", "\"complete\"", "\"timer\""]
                .into_iter()
                .find(|ev| l.contains(&format!("\"ev\":{ev}")))
        })
        .collect();
    assert_eq!(
        at_100,
        ["\"invoke\"", "\"complete\"", "\"timer\"", "\"complete\""],
        "{text}"
    );
    // The second completion is the read's; the first is the timeout's.
    let kinds: Vec<(u64, EventKind)> = sim.history().iter().map(|e| (e.process, e.kind)).collect();
    assert_eq!(
        kinds,
        [
            (0, EventKind::Invoke),
            (1, EventKind::Invoke),
            (0, EventKind::Info),
            (1, EventKind::Ok)
        ]
    );
}

#[test]
fn clocks_skew_and_drift_and_timers_follow_local_time() {
    let mut cfg = config(
        2,
        vec![],
        vec![
            op(1000, 0, 0, "clock"),
            op(1000, 1, 1, "clock"),
            op(1000, 1, 1, "once-twice"),
        ],
    );
    cfg.clocks = vec![Clock::new(5_000 * MS as i64, 0), Clock::new(0, 500_000)];
    cfg.quiet_us = 100 * MS;
    let mut sim = Sim::new(cfg, quiet(2), None);
    sim.run();
    let clocks: Vec<&Value> = sim
        .history()
        .iter()
        .filter(|e| e.kind == EventKind::Ok)
        .map(|e| &e.value)
        .take(2)
        .collect();
    assert_eq!(clocks, vec![&Value::Int(6_000_000), &Value::Int(1_500_000)]);
    // Node 1's clock runs 1.5x fast: 30 ms of its time pass in 20 ms.
    let fired = sim.nodes()[1].once_fired[0];
    assert_eq!(fired, Clock::new(0, 500_000).local(1_020 * MS));
}

#[test]
fn runs_stop_for_a_named_reason() {
    // Periodic ticks never go quiet: the quiet period ends the run.
    let mut cfg = config(2, vec![], vec![op(10, 0, 1, "read")]);
    cfg.quiet_us = 50 * MS;
    let mut sim = Sim::new(cfg, ticking(2), None);
    assert_eq!(sim.run(), StopReason::QuietPeriodEnded);
    assert_eq!(sim.now(), 60 * MS);
    assert_eq!(sim.final_heal_at(), Some(10 * MS));

    let mut cfg = config(2, vec![], vec![op(10, 0, 1, "read")]);
    cfg.final_heal = false;
    cfg.max_time_us = 95 * MS;
    assert_eq!(Sim::new(cfg, ticking(2), None).run(), StopReason::TimeLimit);

    let mut cfg = config(2, vec![], vec![op(10, 0, 1, "read")]);
    cfg.final_heal = false;
    cfg.max_events = 7;
    let mut sim = Sim::new(cfg, ticking(2), None);
    assert_eq!(sim.run(), StopReason::EventLimit);
    assert_eq!(sim.stats().events, 7);

    let mut sim = Sim::new(
        config(2, vec![], vec![op(10, 0, 1, "read")]),
        quiet(2),
        None,
    );
    assert_eq!(sim.run(), StopReason::Quiescent);
}

#[test]
fn the_final_heal_waits_for_the_schedule() {
    // The workload ends at once; the partition and its heal come later.
    let faults = vec![(
        200,
        Fault::Partition {
            groups: vec![vec![0], vec![1]],
        },
    )];
    let mut cfg = config(2, faults, vec![op(0, 0, 1, "read")]);
    cfg.quiet_us = 30 * MS;
    let mut sim = Sim::new(cfg, ticking(2), None);
    sim.run();
    assert_eq!(sim.final_heal_at(), Some(200 * MS), "after the last fault");
    let last = sim.nodes()[1].received.last().unwrap().2;
    assert!(last > 200 * MS, "messages flow again after the final heal");
}

#[test]
fn same_seed_same_fingerprint_other_seed_other_run() {
    let run = |seed| {
        let mut cfg = config(3, vec![], vec![op(200, 0, 1, "read")]);
        cfg.seed = seed;
        cfg.link.latency = Latency::Uniform {
            min_us: MS,
            max_us: 9 * MS,
        };
        let mut sim = Sim::new(cfg, ticking(3), None);
        sim.run();
        sim.fingerprint()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

fn generated(rate: Rate, policy: NodePolicy, clients: usize, ops: u64) -> SimConfig {
    let mut cfg = config(3, vec![], vec![]);
    cfg.workload.clients = clients;
    cfg.workload.ops = ops;
    cfg.workload.rate = rate;
    cfg.workload.node_policy = policy;
    cfg.workload.mix = vec![crate::workload::MixEntry {
        f: "read",
        weight: 1,
        value: crate::workload::ValueGen::Null,
    }];
    cfg
}

#[test]
fn open_loop_issues_one_op_per_interval_round_robin_over_nodes() {
    let cfg = generated(
        Rate::Open {
            interval_us: 2 * MS,
        },
        NodePolicy::RoundRobin,
        1,
        6,
    );
    let mut sim = Sim::new(cfg, quiet(3), None);
    sim.run();
    let invokes: Vec<(Time, NodeId)> = sim
        .history()
        .iter()
        .filter(|e| e.kind == EventKind::Invoke)
        .map(|e| (e.time, e.node))
        .collect();
    assert_eq!(
        invokes,
        vec![
            (0, 0),
            (2 * MS, 1),
            (4 * MS, 2),
            (6 * MS, 0),
            (8 * MS, 1),
            (10 * MS, 2)
        ]
    );
    assert_eq!(sim.stats().ops, 6);
}

#[test]
fn staggered_rate_draws_gaps_below_twice_the_mean_and_keeps_the_mean() {
    let mean = 2 * MS;
    let cfg = generated(Rate::Stagger { mean_us: mean }, NodePolicy::Fixed, 3, 2000);
    let mut sim = Sim::new(cfg, quiet(3), None);
    sim.run();
    let invokes: Vec<(Time, u64)> = sim
        .history()
        .iter()
        .filter(|e| e.kind == EventKind::Invoke)
        .map(|e| (e.time, e.process))
        .collect();
    assert_eq!(invokes.len(), 2000);
    assert_eq!(invokes[0], (0, 0), "the first operation comes at the start");
    let gaps: Vec<Time> = invokes.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        gaps.iter().all(|&g| g < 2 * mean),
        "a gap of 2·mean or more"
    );
    assert!(gaps.iter().any(|&g| g < mean / 10) && gaps.iter().any(|&g| g > mean * 19 / 10));
    let avg = gaps.iter().sum::<Time>() / gaps.len() as Time;
    assert!(
        (mean * 9 / 10..mean * 11 / 10).contains(&avg),
        "mean gap {avg}"
    );
    // Handed to the clients in turn, as the open rate does.
    assert_eq!(
        invokes[..4].iter().map(|i| i.1).collect::<Vec<_>>(),
        vec![0, 1, 2, 0]
    );
}

#[test]
fn closed_loop_waits_for_completion_plus_think_time() {
    let mut cfg = generated(Rate::Closed { think_us: 5 * MS }, NodePolicy::Fixed, 2, 6);
    cfg.workload.latency = Latency::Fixed { us: MS };
    let mut sim = Sim::new(cfg, quiet(3), None);
    sim.run();
    let by_client0: Vec<Time> = sim
        .history()
        .iter()
        .filter(|e| e.kind == EventKind::Invoke && e.process == 0)
        .map(|e| e.time)
        .collect();
    // Each op takes 2 ms (1 ms each way), then 5 ms of thinking.
    assert_eq!(by_client0, vec![0, 7 * MS, 14 * MS]);
    assert!(
        sim.history()
            .iter()
            .filter(|e| e.process == 1)
            .all(|e| e.node == 1),
        "fixed: client 1 -> n1"
    );
}
