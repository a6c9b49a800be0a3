//! `dsim list`: protocols, variants, operations, checks, bundled scenarios.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use protocols::{Protocol, Visitor};

struct Describe;

impl Visitor for Describe {
    type Out = String;
    fn visit<P: Protocol>(self) -> String {
        let mut o = format!("  {:10} {}\n", P::NAME, P::SUMMARY);
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
        o += "    checks   convergence";
        if P::model().is_some() {
            o += ", linearizability";
        }
        for c in P::checks() {
            o += &format!(", {}", c.name);
        }
        o += &format!("\n    default  {}\n", P::default_checks().join(", "));
        for c in P::checks() {
            o += &format!("      {:24} {}\n", c.name, c.summary);
        }
        o
    }
}

/// Where the bundled scenarios are: `./scenarios`, else the source tree's.
pub fn scenario_dir() -> PathBuf {
    let local = PathBuf::from("scenarios");
    if local.is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Runs `dsim list`.
pub fn run() -> ExitCode {
    let mut o = String::from("protocols\n");
    for name in protocols::NAMES {
        if let Some(text) = protocols::visit(name, Describe) {
            o += &text;
        }
    }
    o += "\nmodels (dsim check --model M; the linearizability check)\n";
    for m in checker::model::list() {
        o += &format!("  {:14} {}\n", m.name, m.description);
    }
    let dir = scenario_dir();
    o += &format!("\nscenarios ({})\n", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "json"));
    files.sort();
    for f in files {
        match dsim::scenario::load(&f) {
            Ok(sc) => {
                let expect: Vec<String> = sc
                    .checks
                    .iter()
                    .map(|c| format!("{c}={}", dsim::report::expect_name(sc.expectation(c))))
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
    dsim::report::emit(&o);
    ExitCode::SUCCESS
}
