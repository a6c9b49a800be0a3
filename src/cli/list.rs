//! `dsim list`: protocols, variants, operations, checks, bundled scenarios.

use std::path::PathBuf;
use std::process::ExitCode;

use protocols::Protocol;

use crate::Registry;

/// What `list` shows of protocol `P`.
pub(crate) fn describe<P: Protocol>() -> String {
    {
        let mut o = format!("  {:13} {}\n", P::NAME, P::SUMMARY);
        for v in P::variants() {
            o += &format!("    variant  {:10} {}\n", v.name, v.summary);
        }
        let ops: Vec<&str> = P::ops().iter().map(|o| o.name).collect();
        o += &format!("    ops      {}\n", ops.join(", "));
        match P::model() {
            Some(m) => {
                o += &format!(
                    "    model    {m}: the linearizability check, and `dsim check --model {m}` on its --history file\n"
                );
            }
            None => {
                o += "    model    none: not checked for linearizability, and its --history file is not meant for `dsim check` (README: which model reads which history); the checks below read it\n";
            }
        }
        let checks = crate::scenario::allowed_checks::<P>();
        o += &format!("    checks   {}\n", checks.join(", "));
        o += &format!("    default  {}\n", P::default_checks().join(", "));
        for c in P::checks() {
            let replaces = protocols::generic::SPECS.iter().any(|g| g.name == c.name);
            let note = if replaces {
                " (replaces the generic check)"
            } else {
                ""
            };
            o += &format!("      {:24} {}{note}\n", c.name, c.summary);
        }
        for svc in P::services() {
            o += &format!("    service  {:10} {}\n", svc.name, svc.summary);
        }
        let modes: Vec<&str> = P::client_modes().iter().map(|m| m.name()).collect();
        o += &format!(
            "    clients  {} (workload.client; the first is the default)\n",
            modes.join(", ")
        );
        o
    }
}

/// Where the bundled scenarios are: `./scenarios` (run dsim from the
/// repository). The build directory is never consulted: an installed
/// binary must not read a source tree it happened to be built from.
pub fn scenario_dir() -> PathBuf {
    PathBuf::from("scenarios")
}

/// Runs `dsim list`.
pub fn run(registry: &Registry) -> ExitCode {
    let mut o = String::from("protocols\n");
    for entry in registry.entries() {
        o += &(entry.describe)();
    }
    o += "\ngeneric checks (every protocol; a scenario sets them in check_params)\n";
    o += &format!(
        "  {:24} {}\n  {:24} {}\n",
        "convergence",
        "after the final heal and the quiet period, every live replica's digest is equal",
        "linearizability",
        "the client history is linearizable against the protocol's model (protocols with a model)"
    );
    for g in protocols::generic::SPECS {
        o += &format!("  {:24} {}\n", g.name, g.summary);
    }
    o += "\nmodels (dsim check --model M; the linearizability check)\n";
    for m in checker::model::list() {
        o += &format!("  {:14} {}\n", m.name, m.description);
    }
    let dir = scenario_dir();
    if !dir.is_dir() {
        o += "\nscenarios: none here (no ./scenarios directory); run dsim list from the dsim repository to see the bundled ones\n";
        crate::report::emit(&o);
        return ExitCode::SUCCESS;
    }
    o += &format!("\nscenarios ({})\n", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "json"));
    files.sort();
    for f in files {
        match registry.load(&f) {
            Ok(sc) => {
                let expect: Vec<String> = sc
                    .checks
                    .iter()
                    .map(|c| format!("{c}={}", crate::report::expect_name(sc.expectation(c))))
                    .collect();
                o += &format!(
                    "  {:36} {} ({}) expects {}\n",
                    sc.name,
                    sc.protocol,
                    sc.variant,
                    expect.join(" ")
                );
                if !sc.description.is_empty() {
                    o += &format!("  {:36} {}\n", "", sc.description);
                }
            }
            Err(e) => o += &format!("  {:36} INVALID: {e}\n", f.display()),
        }
    }
    crate::report::emit(&o);
    ExitCode::SUCCESS
}
