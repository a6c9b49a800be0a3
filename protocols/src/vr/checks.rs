//! vr's own check and notes.

use sim::Sim;

use super::replica::Status;
use super::Vr;
use crate::{CheckResult, CheckSpec};

/// The checks vr adds.
pub const SPECS: &[CheckSpec] = &[
    CheckSpec {
        name: "kv-linearizability",
        summary: "the blackboard app's history (write, read; admin probes and reconfigurations left out) is linearizable against the kv model",
    },
    CheckSpec {
        name: "counter-linearizability",
        summary: "the counter app's history (add, read; admin probes and reconfigurations left out) is linearizable against the counter model",
    },
];

/// Runs check `name`.
pub fn check(name: &str, run: &Sim<Vr>) -> CheckResult {
    match name {
        "kv-linearizability" => {
            crate::check::linearizability_of(run, "kv", checker::DEFAULT_BUDGET, app_op)
        }
        "counter-linearizability" => {
            crate::check::linearizability_of(run, "counter", checker::DEFAULT_BUDGET, app_op)
        }
        other => CheckResult::unknown(format!("vr has no check named {other}")),
    }
}

/// The admin operations (`get_status` probes, `reconfigure`) are not the
/// app's: they stay in the run's history but the models never see them.
pub const ADMIN_OPS: &[&str] = &["get_status", "reconfigure"];

fn app_op(f: &str) -> bool {
    !ADMIN_OPS.contains(&f)
}

/// Each replica's final status, view and positions.
pub fn notes(run: &Sim<Vr>) -> Vec<String> {
    run.nodes()
        .iter()
        .enumerate()
        .filter_map(|(id, n)| match n {
            Vr::Replica(r) => Some(format!(
                "n{id}: {} view {} op {} commit {}{}{}",
                match r.status {
                    Status::Normal if r.primary => "primary",
                    Status::Normal => "normal",
                    Status::ViewChange => "view_change",
                    Status::Recovering => "recovering",
                    Status::Unconfigured => "unconfigured",
                    Status::Transitioning => "transitioning",
                    Status::Joining => "joining",
                    Status::Stopped => "stopped",
                },
                r.view,
                r.op,
                r.commit,
                if r.epoch > 0 || r.pid_primary {
                    format!(
                        " epoch {} config {:?}{}",
                        r.epoch,
                        r.config,
                        if r.pid_primary {
                            " (primary flag: a pid)"
                        } else {
                            ""
                        }
                    )
                } else {
                    String::new()
                },
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
