//! vr's own check and notes.

use sim::Sim;

use super::replica::Status;
use super::Vr;
use crate::{CheckResult, CheckSpec};

/// The checks vr adds.
pub const SPECS: &[CheckSpec] = &[
    CheckSpec {
        name: "kv-linearizability",
        summary: "the blackboard app's history (write, read) is linearizable against the kv model",
    },
    CheckSpec {
        name: "counter-linearizability",
        summary: "the counter app's history (add, read) is linearizable against the counter model",
    },
];

/// Runs check `name`.
pub fn check(name: &str, run: &Sim<Vr>) -> CheckResult {
    match name {
        "kv-linearizability" => crate::check::linearizability(run, "kv", checker::DEFAULT_BUDGET),
        "counter-linearizability" => {
            crate::check::linearizability(run, "counter", checker::DEFAULT_BUDGET)
        }
        other => CheckResult::unknown(format!("vr has no check named {other}")),
    }
}

/// Each replica's final status, view and positions.
pub fn notes(run: &Sim<Vr>) -> Vec<String> {
    run.nodes()
        .iter()
        .enumerate()
        .filter_map(|(id, n)| match n {
            Vr::Replica(r) => Some(format!(
                "n{id}: {} view {} op {} commit {}{}",
                match r.status {
                    Status::Normal if r.primary => "primary",
                    Status::Normal => "normal",
                    Status::ViewChange => "view_change",
                    Status::Recovering => "recovering",
                    Status::Unconfigured => "unconfigured",
                    Status::Transitioning => "transitioning",
                },
                r.view,
                r.op,
                r.commit,
                if run.status(id) == sim::Status::Up {
                    ""
                } else {
                    " (not up)"
                },
            )),
            Vr::Client(_) => None,
        })
        .collect()
}
