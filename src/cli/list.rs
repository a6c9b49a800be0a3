//! `dsim list [PATTERN]`: protocols, variants, operations, checks, models
//! and the bundled scenarios; a short overview, or the long form of what
//! matches a pattern.

use std::path::{Path, PathBuf};
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

/// Arguments of `dsim list`.
#[derive(clap::Args, Debug, Default)]
pub struct ListArgs {
    /// Show only the protocols, models, checks and scenarios whose name
    /// contains PATTERN (case-insensitive), in full: a protocol's variants,
    /// operations and checks, a scenario's description and expectations.
    /// A scenario also matches through its protocol's name.
    pub pattern: Option<String>,
    /// Show everything in full (the long form of every protocol and
    /// scenario), as `dsim list ''` would.
    #[arg(long, conflicts_with = "pattern")]
    pub all: bool,
}

/// A bundled scenario as `list` shows it.
struct Listed {
    file: PathBuf,
    /// The scenario's name, or the file's stem when it does not load.
    name: String,
    /// Its protocol, or `None` when the file does not load.
    protocol: Option<&'static str>,
    /// What `list` prints under the name in the long form.
    long: String,
}

fn load_scenarios(registry: &Registry, dir: &Path) -> Vec<Listed> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "json"));
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let stem = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match registry.load(&f) {
                Ok(sc) => {
                    let expect: Vec<String> = sc
                        .checks
                        .iter()
                        .map(|c| format!("{c}={}", crate::report::expect_name(sc.expectation(c))))
                        .collect();
                    let mut long = format!(
                        "  {:36} {} ({}) expects {}\n",
                        sc.name,
                        sc.protocol,
                        sc.variant,
                        expect.join(" ")
                    );
                    if !sc.description.is_empty() {
                        long += &format!("  {:36} {}\n", "", sc.description);
                    }
                    Listed {
                        file: f,
                        name: sc.name.clone(),
                        protocol: Some(sc.protocol),
                        long,
                    }
                }
                Err(e) => Listed {
                    long: format!("  {:36} INVALID: {e}\n", f.display()),
                    file: f,
                    name: stem,
                    protocol: None,
                },
            }
        })
        .collect()
}

/// `names` as lines of at most `width` characters, each after `indent`.
fn wrapped(names: &[&str], indent: usize, width: usize) -> String {
    let mut o = String::new();
    let mut line = String::new();
    for n in names {
        if !line.is_empty() && indent + line.len() + 2 + n.len() > width {
            o += &line;
            o += "\n";
            o += &" ".repeat(indent);
            line.clear();
        }
        if !line.is_empty() {
            line += "  ";
        }
        line += n;
    }
    o += &line;
    o += "\n";
    o
}

fn generic_checks() -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        (
            "convergence",
            "after the final heal and the quiet period, every live replica's digest is equal",
        ),
        (
            "linearizability",
            "the client history is linearizable against the protocol's model (protocols with a model)",
        ),
    ];
    v.extend(
        protocols::generic::SPECS
            .iter()
            .map(|g| (g.name, g.summary)),
    );
    v
}

/// Runs `dsim list [PATTERN]`.
pub fn run(registry: &Registry, args: &ListArgs) -> ExitCode {
    let dir = scenario_dir();
    let scenarios = if dir.is_dir() {
        Some(load_scenarios(registry, &dir))
    } else {
        None
    };
    let o = match (&args.pattern, args.all) {
        (Some(p), _) => match filtered(registry, scenarios.as_deref(), p) {
            Some(o) => o,
            None => {
                return super::bad_input(format!(
                    "nothing matches {p:?}: no protocol, model, check or scenario name contains it \
                     (`dsim list` shows every name)"
                ))
            }
        },
        (None, true) => full(registry, scenarios.as_deref()),
        (None, false) => overview(registry, scenarios.as_deref()),
    };
    crate::report::emit(&o);
    ExitCode::SUCCESS
}

const NO_SCENARIOS: &str = "\nscenarios: none here (no ./scenarios directory); run dsim list from the dsim repository to see the bundled ones\n";

/// The short form: one line per protocol, check and model, the scenarios'
/// names grouped by protocol.
fn overview(registry: &Registry, scenarios: Option<&[Listed]>) -> String {
    let entries = registry.entries();
    let mut o = format!(
        "protocols ({}): `dsim list NAME` shows a protocol's variants, operations, checks and scenarios\n",
        entries.len()
    );
    for e in entries {
        let variants: Vec<&str> = (e.variants)().iter().map(|v| v.name).collect();
        o += &format!(
            "  {:13} {} [{}]\n",
            e.name(),
            e.summary(),
            variants.join(", ")
        );
    }
    let checks = generic_checks();
    o += &format!(
        "\ngeneric checks ({}): every protocol has them; a scenario sets them in check_params\n",
        checks.len()
    );
    for (name, summary) in checks {
        o += &format!("  {name:24} {summary}\n");
    }
    let models = checker::model::list();
    o += &format!(
        "\nmodels ({}): `dsim check HISTORY --model M`, and the linearizability check\n",
        models.len()
    );
    for m in models {
        o += &format!("  {:14} {}\n", m.name, m.description);
    }
    let Some(scenarios) = scenarios else {
        return o + NO_SCENARIOS;
    };
    o += &format!(
        "\nscenarios ({} in {}): `dsim list PATTERN` shows what the matching ones expect and why\n",
        scenarios.len(),
        scenario_dir().display()
    );
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for e in entries {
        let names: Vec<&str> = scenarios
            .iter()
            .filter(|s| s.protocol == Some(e.name()))
            .map(|s| s.name.as_str())
            .collect();
        if !names.is_empty() {
            groups.push((e.name(), names));
        }
    }
    for (protocol, names) in groups {
        let head = format!("  {protocol} ({}) ", names.len());
        let indent = head.len().max(20);
        o += &format!("{head:indent$}");
        o += &wrapped(&names, indent, 110);
    }
    for s in scenarios.iter().filter(|s| s.protocol.is_none()) {
        o += &s.long;
    }
    o
}

/// The long form of everything (`dsim list --all`).
fn full(registry: &Registry, scenarios: Option<&[Listed]>) -> String {
    let mut o = String::from("protocols\n");
    for entry in registry.entries() {
        o += &(entry.describe)();
    }
    o += "\ngeneric checks (every protocol; a scenario sets them in check_params)\n";
    for (name, summary) in generic_checks() {
        o += &format!("  {name:24} {summary}\n");
    }
    o += "\nmodels (dsim check --model M; the linearizability check)\n";
    for m in checker::model::list() {
        o += &format!("  {:14} {}\n", m.name, m.description);
    }
    let Some(scenarios) = scenarios else {
        return o + NO_SCENARIOS;
    };
    o += &format!("\nscenarios ({})\n", scenario_dir().display());
    for s in scenarios {
        o += &s.long;
    }
    o
}

/// The long form of what matches `pattern`; `None` when nothing does.
fn filtered(registry: &Registry, scenarios: Option<&[Listed]>, pattern: &str) -> Option<String> {
    let p = pattern.to_lowercase();
    let hit = |name: &str| name.to_lowercase().contains(&p);
    let mut o = String::new();
    let protocols: Vec<_> = registry
        .entries()
        .iter()
        .filter(|e| hit(e.name()))
        .collect();
    if !protocols.is_empty() {
        o += &format!("protocols ({})\n", protocols.len());
        for e in &protocols {
            o += &(e.describe)();
        }
    }
    let checks: Vec<_> = generic_checks()
        .into_iter()
        .filter(|(n, _)| hit(n))
        .collect();
    if !checks.is_empty() {
        o += &format!("\ngeneric checks ({})\n", checks.len());
        for (name, summary) in checks {
            o += &format!("  {name:24} {summary}\n");
        }
    }
    let models: Vec<_> = checker::model::list()
        .iter()
        .filter(|m| hit(m.name))
        .collect();
    if !models.is_empty() {
        o += &format!("\nmodels ({})\n", models.len());
        for m in models {
            o += &format!("  {:14} {}\n", m.name, m.description);
        }
    }
    let matching: Vec<&Listed> = scenarios
        .unwrap_or_default()
        .iter()
        .filter(|s| hit(&s.name) || s.protocol.is_some_and(hit) || hit(&s.file.to_string_lossy()))
        .collect();
    if !matching.is_empty() {
        o += &format!(
            "\nscenarios ({} in {})\n",
            matching.len(),
            scenario_dir().display()
        );
        for s in matching {
            o += &s.long;
        }
    }
    let o = o.trim_start_matches('\n').to_string();
    (!o.is_empty()).then_some(o)
}
