//! Runs one scenario at one seed and judges the result.

use std::io::Write;

use protocols::{check, CheckResult, Protocol, Status};
use serde::Serialize;
use sim::{HistoryEvent, Sim, Stats, StopReason, Time};

use crate::scenario::{Expect, Scenario};

/// How to run.
pub struct RunOptions {
    /// The seed (the scenario's own unless overridden).
    pub seed: u64,
    /// Where to write the JSON Lines trace, if anywhere.
    pub trace: Option<Box<dyn Write>>,
    /// Who else is handed every trace record as the run makes it (the HTML
    /// report's [`crate::html::Capture::observer`]); it changes neither
    /// the fingerprint nor the written trace.
    pub observer: Option<Box<dyn sim::trace::Observer>>,
    /// Keep the client history in the report.
    pub keep_history: bool,
    /// Draw the provenance graph of this key (protocols that record one).
    pub trail_key: Option<u32>,
    /// Cut the run when the wall clock passes this instant (`dsim fuzz
    /// --time-budget`): it stops between two slices of events, as
    /// [`StopReason::Cut`], every check unknown. Up to the cut the run is
    /// the same run, event for event; this is the one use of the wall
    /// clock on a run's path.
    pub deadline: Option<std::time::Instant>,
}

impl RunOptions {
    /// A run at `seed` that keeps no trace, no history and no trail.
    pub fn at(seed: u64) -> Self {
        RunOptions {
            seed,
            trace: None,
            observer: None,
            keep_history: false,
            trail_key: None,
            deadline: None,
        }
    }

    /// The same, keeping the client history in the report.
    pub fn with_history(mut self) -> Self {
        self.keep_history = true;
        self
    }
}

/// Runs `sc` as `dsim run FILE --seed SEED` does: its `fuzz` block (if it
/// has one) expanded for `seed`, then run and judged, with the client
/// history kept. The error is the expansion's (a `fuzz.messages` block
/// whose probe run sends nothing).
pub fn run_at(sc: &Scenario, seed: u64) -> Result<RunReport, crate::scenario::ScenarioError> {
    let sc = crate::fuzz::at_seed(sc, seed)?;
    Ok(run(&sc, RunOptions::at(seed).with_history()))
}

/// One check's verdict set against the scenario's expectation.
#[derive(Clone, Debug, Serialize)]
pub struct CheckOutcome {
    /// Check name.
    pub name: String,
    /// Its verdict and evidence.
    pub result: CheckResult,
    /// What the scenario expected.
    pub expected: Expect,
    /// Whether the verdict matches the expectation.
    pub as_expected: bool,
}

/// Everything a run produced that a report needs.
#[derive(Debug)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// Protocol name.
    pub protocol: &'static str,
    /// Variant.
    pub variant: String,
    /// Seed used.
    pub seed: u64,
    /// Trace fingerprint.
    pub fingerprint: u64,
    /// Why the run stopped.
    pub stop: StopReason,
    /// Simulated time at the end (µs).
    pub end_us: Time,
    /// When the final heal happened (µs).
    pub final_heal_us: Option<Time>,
    /// Counters.
    pub stats: Stats,
    /// Client operations invoked.
    pub ops: u64,
    /// Facts the protocol points out about this run (e.g. links that died).
    pub notes: Vec<String>,
    /// Processes that halted themselves, as `(name, halt)`.
    pub halts: Vec<(String, sim::Halt)>,
    /// Since when the network was whole at the end (see `Sim::calm_since`).
    pub calm_since_us: Option<Time>,
    /// Check verdicts, in the scenario's order.
    pub checks: Vec<CheckOutcome>,
    /// True when every check is as expected.
    pub as_expected: bool,
    /// The client history (when asked to keep it).
    pub history: Vec<HistoryEvent>,
    /// The provenance graph asked for with `trail_key`, as Graphviz DOT.
    pub trail_dot: Option<String>,
    /// A trace write error, if the trace could not be written.
    pub trace_error: Option<String>,
    /// Every process at the end: name, status and state digest.
    pub finals: Vec<FinalState>,
    /// The sequential model the protocol's history is checked against.
    pub model: Option<&'static str>,
    /// The witness of the `linearizability` check's violation, as its
    /// search found it (the HTML report draws it).
    pub witness: Option<checker::Witness>,
}

/// One process as the run left it.
#[derive(Clone, Debug, Serialize)]
pub struct FinalState {
    /// Its name (`n0`, a service's name, `c0`).
    pub name: String,
    /// `up`, `down`, `paused` or `halted`.
    pub status: &'static str,
    /// Its state digest (see `Node::digest`).
    pub digest: sim::Digest,
}

impl RunReport {
    /// Names of checks that are not as expected.
    pub fn unexpected(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| !c.as_expected)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// True when `status` is what `expect` asks for.
pub fn matches(expect: Expect, status: Status) -> bool {
    match expect {
        Expect::Pass => status == Status::Pass,
        Expect::Violation => status == Status::Violation,
        Expect::Any => status != Status::Unknown,
    }
}

/// Runs `sc` with `opts`, as written: a scenario with a `fuzz` block runs
/// only its fixed schedule here. To run what `dsim run --seed N` runs, pass
/// [`crate::fuzz::at_seed`]`(sc, N)` instead.
pub fn run(sc: &Scenario, opts: RunOptions) -> RunReport {
    run_with_progress(sc, opts, &mut |_| {})
}

/// What a long run has done so far (see [`run_with_progress`]).
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Simulated time reached (µs).
    pub now_us: Time,
    /// Events processed.
    pub events: u64,
}

/// Events run between two calls of a progress callback.
const PROGRESS_EVERY: u64 = 1 << 20;

/// Events run between two looks at the wall clock when a run has a
/// deadline (a few milliseconds of work).
const DEADLINE_EVERY: u64 = 1 << 13;

/// As [`run`], calling `progress` every million events or so; the run is
/// the same whether anyone watches it.
pub fn run_with_progress(
    sc: &Scenario,
    opts: RunOptions,
    progress: &mut dyn FnMut(Progress),
) -> RunReport {
    (sc.proto.run)(sc, opts, progress)
}

pub(crate) fn run_protocol<P: Protocol>(
    sc: &Scenario,
    opts: RunOptions,
    progress: &mut dyn FnMut(Progress),
) -> RunReport {
    let params: P::Params = serde_json::from_value(sc.params.clone())
        .expect("params were validated against the protocol's type");
    let mut cfg = sc.sim.clone();
    cfg.seed = opts.seed;
    // Only the convergence check works without the client history.
    cfg.record_history = opts.keep_history || sc.checks.iter().any(|c| c != "convergence");
    let nodes = processes::<P>(sc, &cfg, &params);
    let mut sim: Sim<P> = Sim::new(cfg, nodes, opts.trace);
    if let Some(o) = opts.observer {
        sim.observe(o);
    }
    let slice = if opts.deadline.is_some() {
        DEADLINE_EVERY
    } else {
        PROGRESS_EVERY
    };
    let mut since_progress = 0;
    let stop = loop {
        if let Some(r) = sim.run_for(slice) {
            break r;
        }
        if opts
            .deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
        {
            break sim.cut();
        }
        since_progress += slice;
        if since_progress >= PROGRESS_EVERY {
            since_progress = 0;
            progress(Progress {
                now_us: sim.now(),
                events: sim.stats().events,
            });
        }
    };
    let trace_error = sim.finish_trace().err().map(|e| e.to_string());
    let mut witness = None;
    let checks: Vec<CheckOutcome> = sc
        .checks
        .iter()
        .map(|name| {
            let result = if stop == StopReason::Cut {
                CheckResult::unknown(format!(
                    "the run was cut by the time budget after {} events, at {} ms simulated: replay the seed to see its end",
                    sim.stats().events,
                    sim.now() / 1000
                ))
            } else {
                let (result, w) = run_check::<P>(name, &sim, stop, &sc.check_params);
                if witness.is_none() {
                    witness = w;
                }
                result
            };
            let expected = sc.expectation(name);
            CheckOutcome {
                name: name.clone(),
                as_expected: matches(expected, result.status),
                result,
                expected,
            }
        })
        .collect();
    let mut report = RunReport {
        scenario: sc.name.clone(),
        protocol: P::NAME,
        variant: sc.variant.clone(),
        seed: opts.seed,
        fingerprint: sim.fingerprint(),
        stop,
        end_us: sim.now(),
        final_heal_us: sim.final_heal_at(),
        stats: sim.stats().clone(),
        ops: sim.stats().ops,
        notes: P::notes(&sim),
        halts: sim
            .halts()
            .iter()
            .map(|h| (sim.layout().name(h.node), h.clone()))
            .collect(),
        calm_since_us: sim.calm_since(),
        as_expected: checks.iter().all(|c| c.as_expected),
        checks,
        history: Vec::new(),
        trail_dot: opts.trail_key.and_then(|k| P::provenance_dot(&sim, k)),
        trace_error,
        finals: finals(&sim),
        model: P::model(),
        witness,
    };
    // Taken, not copied: nothing reads the run after this.
    if opts.keep_history {
        report.history = sim.take_history();
    }
    report
}

fn finals<P: Protocol>(sim: &Sim<P>) -> Vec<FinalState> {
    sim.nodes()
        .iter()
        .enumerate()
        .map(|(id, n)| FinalState {
            name: sim.layout().name(id),
            status: match sim.status(id) {
                sim::Status::Up => "up",
                sim::Status::Down => "down",
                sim::Status::Paused => "paused",
                sim::Status::Halted => "halted",
            },
            digest: n.digest(),
        })
        .collect()
}

/// Every process of a run of `sc` under `cfg`, in id order: the replicas,
/// the services, the client processes.
pub fn processes<P: Protocol>(sc: &Scenario, cfg: &sim::SimConfig, params: &P::Params) -> Vec<P> {
    let layout = cfg.layout();
    let mut nodes: Vec<P> = (0..cfg.nodes)
        .map(|id| match &sc.foreign {
            Some(f) => P::foreign(id, cfg.nodes, params, f)
                .expect("the foreign node was validated when the scenario was loaded"),
            None => P::new(id, cfg.nodes, &sc.variant, params),
        })
        .collect();
    for (name, knobs) in &sc.services {
        nodes.push(
            P::service(name, &layout, params, knobs)
                .expect("service knobs were validated when the scenario was loaded"),
        );
    }
    for c in 0..layout.clients {
        nodes.push(
            P::client(c, &layout, &sc.variant, params)
                .expect("the protocol's client mode was validated"),
        );
    }
    nodes
}

/// The protocols of `registry` that can draw a provenance graph (`--trail`).
pub fn provenance_protocols(registry: &crate::Registry) -> Vec<&'static str> {
    registry
        .entries()
        .iter()
        .filter(|e| e.records_provenance())
        .map(|e| e.name())
        .collect()
}

fn run_check<P: Protocol>(
    name: &str,
    sim: &Sim<P>,
    stop: StopReason,
    params: &protocols::CheckParams,
) -> (CheckResult, Option<checker::Witness>) {
    let result = match name {
        "convergence" => check::convergence(sim, stop.completed()),
        "linearizability" => match P::model() {
            Some(model) => {
                let budget = params.linearizability.budget;
                return check::linearizability_witness(sim, model, budget, |_| true);
            }
            None => CheckResult::unknown(format!("{} declares no model to check against", P::NAME)),
        },
        // A protocol's own check replaces a generic one of the same name.
        other if P::checks().iter().any(|c| c.name == other) => P::check(other, sim),
        other => {
            let reads = protocols::read_ops::<P>();
            let facts = protocols::generic::Facts {
                reads: &reads,
                model: P::model(),
            };
            protocols::generic::run(other, sim, params, &facts)
                .unwrap_or_else(|| P::check(other, sim))
        }
    };
    (result, None)
}
