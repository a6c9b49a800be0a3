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

use protocols::Protocol;
use sim::Sim;

use crate::fuzz::campaign::panic_text;
use crate::scenario::Scenario;

/// The kinds of the messages `sc` sends at its own seed, sorted; an error
/// says why the probe could not tell.
pub fn message_kinds(sc: &Scenario) -> Result<Vec<String>, String> {
    let kinds = catch_unwind(AssertUnwindSafe(|| (sc.proto.probe)(sc))).map_err(|p| {
        format!(
            "the probe run (seed {}, no generated faults) panicked: {}",
            sc.sim.seed,
            panic_text(p.as_ref())
        )
    })?;
    if kinds.is_empty() {
        return Err(format!(
            "the probe run (seed {}, no generated faults) sent no message with a kind; \
             list the kinds to target in fuzz.messages.kinds",
            sc.sim.seed
        ));
    }
    Ok(kinds)
}

/// Builds the processes as the runner does and runs them with
/// `collect_kinds` on. Checks are not run and history is not recorded:
/// neither changes what is sent.
pub(crate) fn probe<P: Protocol>(sc: &Scenario) -> Vec<String> {
    let params: P::Params = serde_json::from_value(sc.params.clone())
        .expect("params were validated against the protocol's type");
    let mut cfg = sc.sim.clone();
    cfg.collect_kinds = true;
    cfg.record_history = false;
    let nodes = crate::runner::processes::<P>(sc, &cfg, &params);
    let mut sim: Sim<P> = Sim::new(cfg, nodes, None);
    sim.run();
    sim.kinds()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::fuzz::{at_seed, resolve};
    use crate::scenario::raw::RawFault;
    use crate::scenario::{self, Scenario};

    fn lww(ops: u64, messages: &str) -> Scenario {
        let src = format!(
            r#"{{"protocol": "lww", "nodes": 3, "seed": 5,
              "workload": {{"ops": {ops}, "keys": 1, "rate": {{"kind": "open", "interval_ms": 5}}}},
              "checks": ["convergence"],
              "fuzz": {{"until_ms": 400, "messages": {messages}}}}}"#
        );
        scenario::parse(&src, "t.json", "t").expect("valid scenario")
    }

    fn kinds_drawn(sc: &Scenario, seed: u64) -> Vec<String> {
        at_seed(sc, seed)
            .expect("expands")
            .effective
            .faults
            .iter()
            .filter_map(|f| match f {
                RawFault::Message(r) => Some(r.msg.clone().expect("a probed kind")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_probe_finds_the_kinds_and_every_seed_draws_from_them() {
        let sc = lww(60, r#"{"interval_ms": [10, 50]}"#);
        let kinds = super::message_kinds(&sc).expect("lww sends messages");
        assert_eq!(kinds, ["set", "sync"]);
        let mut resolved = sc.clone();
        resolve(&mut resolved).expect("probe runs");
        let m = resolved.effective.fuzz.as_ref().unwrap().messages.as_ref();
        assert_eq!(m.unwrap().kinds.as_deref(), Some(&kinds[..]));
        let mut drawn = BTreeSet::new();
        for seed in 0..30 {
            // Resolved once or probed per call: the same expansion.
            let a = at_seed(&sc, seed).unwrap().effective.faults;
            let b = at_seed(&resolved, seed).unwrap().effective.faults;
            assert_eq!(a, b, "seed {seed}");
            drawn.extend(kinds_drawn(&sc, seed));
        }
        assert_eq!(drawn.into_iter().collect::<Vec<_>>(), kinds);
    }

    #[test]
    fn listed_kinds_skip_the_probe() {
        let sc = lww(60, r#"{"kinds": ["gossip"], "interval_ms": [10, 50]}"#);
        let mut resolved = sc.clone();
        resolve(&mut resolved).unwrap();
        assert_eq!(resolved.effective.fuzz, sc.effective.fuzz);
        assert!(kinds_drawn(&sc, 1).iter().all(|k| k == "gossip"));
    }

    #[test]
    fn a_probe_that_sees_no_message_is_a_clear_error() {
        // Without operations nothing is written, so nothing is relayed.
        let sc = lww(0, "{}");
        let e = at_seed(&sc, 0).expect_err("nothing to target").to_string();
        assert!(
            e.contains("fuzz.messages.kinds") && e.contains("sent no message"),
            "{e}"
        );
        let mut sc = sc;
        assert!(resolve(&mut sc).is_err());
    }
}
