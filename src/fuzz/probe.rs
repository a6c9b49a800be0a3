//! The probe run: the scenario run once, at its own `seed`, with its fixed
//! fault schedule and no generated faults, to learn which message kinds its
//! processes send. `fuzz.messages` draws from those kinds when the block
//! does not list its own.
//!
//! The probe depends on the scenario alone (never on the seed being
//! fuzzed), so `dsim run FILE --seed N` and `dsim fuzz FILE` target the same
//! kinds. A campaign runs it once ([`super::resolve`]); a single `dsim run`
//! pays for one probe before its own run.

use std::panic::{catch_unwind, AssertUnwindSafe};

use protocols::{Protocol, Visitor};
use sim::Sim;

use crate::fuzz::campaign::panic_text;
use crate::scenario::Scenario;

/// The kinds of the messages `sc` sends at its own seed, sorted; an error
/// says why the probe could not tell.
pub fn message_kinds(sc: &Scenario) -> Result<Vec<String>, String> {
    let kinds = catch_unwind(AssertUnwindSafe(|| protocols::visit(sc.protocol, Probe { sc })))
        .map_err(|p| {
            format!(
                "the probe run (seed {}, no generated faults) panicked: {}",
                sc.sim.seed,
                panic_text(p.as_ref())
            )
        })?
        .ok_or_else(|| format!("unknown protocol {}", sc.protocol))?;
    if kinds.is_empty() {
        return Err(format!(
            "the probe run (seed {}, no generated faults) sent no message with a kind; \
             list the kinds to target in fuzz.messages.kinds",
            sc.sim.seed
        ));
    }
    Ok(kinds)
}

struct Probe<'a> {
    sc: &'a Scenario,
}

impl Visitor for Probe<'_> {
    type Out = Vec<String>;
    fn visit<P: Protocol>(self) -> Vec<String> {
        probe::<P>(self.sc)
    }
}

/// Builds the processes as the runner does and runs them with
/// `collect_kinds` on. Checks are not run and history is not recorded:
/// neither changes what is sent.
fn probe<P: Protocol>(sc: &Scenario) -> Vec<String> {
    let params: P::Params = serde_json::from_value(sc.params.clone())
        .expect("params were validated against the protocol's type");
    let mut cfg = sc.sim.clone();
    cfg.collect_kinds = true;
    cfg.record_history = false;
    let layout = cfg.layout();
    let mut nodes: Vec<P> = (0..cfg.nodes)
        .map(|id| P::new(id, cfg.nodes, &sc.variant, &params))
        .collect();
    for (name, knobs) in &sc.services {
        nodes.push(
            P::service(name, &layout, &params, knobs)
                .expect("service knobs were validated when the scenario was loaded"),
        );
    }
    for c in 0..layout.clients {
        nodes.push(
            P::client(c, &layout, &sc.variant, &params)
                .expect("the protocol's client mode was validated"),
        );
    }
    let mut sim: Sim<P> = Sim::new(cfg, nodes, None);
    sim.run();
    sim.kinds()
}
