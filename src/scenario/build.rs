//! Scenarios built in code, validated exactly as scenario files are.

use super::raw::{
    Expect, RawFault, RawFuzz, RawNetwork, RawRun, RawScenario, RawService, RawWorkload,
};
use super::{Scenario, ScenarioError};
use crate::Registry;

/// A scenario written in code instead of a file. Every setter takes the
/// same types a scenario file is read into (see [`super::raw`]), and
/// [`Builder::build`] runs the same validation as loading a file: a bad
/// value is an error naming its field and what is allowed, never a panic.
///
/// ```
/// use dsim::scenario::{raw::RawWorkload, Builder, Expect};
///
/// let registry = dsim::Registry::bundled();
/// let sc = Builder::new("lww", 3)
///     .variant("faithful")
///     .seed(7)
///     .workload(RawWorkload { ops: 40, keys: Some(2), ..Default::default() })
///     .checks(["convergence"])
///     .expect("convergence", Expect::Violation)
///     .build(&registry)?;
/// // With no fault at all, lww as coded leaves one key diverged at seed 7.
/// let report = dsim::runner::run_at(&sc, 7)?;
/// assert!(report.as_expected);
///
/// // The same validation as a file: three nodes have no node 5.
/// let err = Builder::new("lww", 3)
///     .down_at_start([5])
///     .build(&registry)
///     .unwrap_err();
/// assert_eq!(err.field, "down_at_start[0]");
/// # Ok::<(), dsim::scenario::ScenarioError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    raw: RawScenario,
}

impl Builder {
    /// A scenario of `protocol` on `nodes` replicas, everything else as a
    /// file that names only those two fields.
    pub fn new(protocol: &str, nodes: u64) -> Self {
        Builder {
            raw: RawScenario {
                name: None,
                description: String::new(),
                protocol: protocol.to_string(),
                variant: None,
                params: serde_json::Value::Object(serde_json::Map::new()),
                nodes,
                seed: 0,
                network: RawNetwork::default(),
                services: None,
                clocks: Vec::new(),
                down_at_start: Vec::new(),
                workload: RawWorkload::default(),
                faults: Vec::new(),
                run: RawRun::default(),
                checks: None,
                expect: Default::default(),
                check_params: Default::default(),
                fuzz: None,
                node: None,
            },
        }
    }

    /// Starts from an existing raw scenario (e.g. a loaded scenario's
    /// `effective` form).
    pub fn from_raw(raw: RawScenario) -> Self {
        Builder { raw }
    }

    /// The scenario's name (default `scenario`).
    pub fn name(mut self, name: &str) -> Self {
        self.raw.name = Some(name.to_string());
        self
    }

    /// What the scenario shows.
    pub fn description(mut self, text: &str) -> Self {
        self.raw.description = text.to_string();
        self
    }

    /// The protocol's variant (default: its first).
    pub fn variant(mut self, variant: &str) -> Self {
        self.raw.variant = Some(variant.to_string());
        self
    }

    /// The protocol's parameters, as the JSON object of a file's `params`.
    pub fn params(mut self, params: serde_json::Value) -> Self {
        self.raw.params = params;
        self
    }

    /// The scenario's own seed (`dsim run` without `--seed`).
    pub fn seed(mut self, seed: u64) -> Self {
        self.raw.seed = seed;
        self
    }

    /// The network.
    pub fn network(mut self, network: RawNetwork) -> Self {
        self.raw.network = network;
        self
    }

    /// Runs service `name` with `knobs` (a JSON object). The first call
    /// replaces the protocol's default services.
    pub fn service(mut self, name: &str, knobs: serde_json::Value) -> Self {
        self.raw
            .services
            .get_or_insert_with(Vec::new)
            .push(RawService {
                name: name.to_string(),
                params: knobs,
            });
        self
    }

    /// Replicas that are down when the run starts.
    pub fn down_at_start(mut self, nodes: impl IntoIterator<Item = u64>) -> Self {
        self.raw.down_at_start = nodes.into_iter().collect();
        self
    }

    /// The client workload.
    pub fn workload(mut self, workload: RawWorkload) -> Self {
        self.raw.workload = workload;
        self
    }

    /// Adds a scheduled fault.
    pub fn fault(mut self, fault: RawFault) -> Self {
        self.raw.faults.push(fault);
        self
    }

    /// How the run ends.
    pub fn run(mut self, run: RawRun) -> Self {
        self.raw.run = run;
        self
    }

    /// The checks to run (default: the protocol's).
    pub fn checks<S: Into<String>>(mut self, checks: impl IntoIterator<Item = S>) -> Self {
        self.raw.checks = Some(checks.into_iter().map(Into::into).collect());
        self
    }

    /// What check `check` is expected to find (default: a pass).
    pub fn expect(mut self, check: &str, expect: Expect) -> Self {
        self.raw.expect.insert(check.to_string(), expect);
        self
    }

    /// Settings of the generic checks.
    pub fn check_params(mut self, params: protocols::CheckParams) -> Self {
        self.raw.check_params = params;
        self
    }

    /// Fault generators expanded per seed (for [`crate::fuzz::search`]).
    pub fn fuzz(mut self, fuzz: RawFuzz) -> Self {
        self.raw.fuzz = Some(fuzz);
        self
    }

    /// Every replica runs the WebAssembly program at `path` (relative to
    /// the current directory here, since no file was read).
    pub fn wasm(mut self, path: &str) -> Self {
        self.raw.node = Some(super::raw::RawNode {
            wasm: path.to_string(),
            ns_per_instruction: 0,
            max_instructions: None,
            memory_mib: None,
        });
        self
    }

    /// The scenario as written so far.
    pub fn raw(&self) -> &RawScenario {
        &self.raw
    }

    /// The scenario as written so far, to change any field directly.
    pub fn raw_mut(&mut self) -> &mut RawScenario {
        &mut self.raw
    }

    /// The scenario as file text, defaults left out (what `dsim run` reads).
    pub fn text(&self) -> String {
        crate::fuzz::file::scenario_text(&self.raw)
    }

    /// Validates the scenario for the protocols of `registry`, as loading
    /// its file would. An error names the field (`workload.ops`) and what
    /// is allowed; its `file` is `<name> (built in code)` and it carries no
    /// line, since no file was written.
    pub fn build(&self, registry: &Registry) -> Result<Scenario, ScenarioError> {
        let name = self.raw.name.clone().unwrap_or_else(|| "scenario".into());
        let file = format!("{name} (built in code)");
        let text = serde_json::to_string_pretty(&self.raw).map_err(|e| ScenarioError {
            file: file.clone(),
            line: 0,
            col: 0,
            field: String::new(),
            message: format!("cannot write the scenario as JSON: {e}"),
        })?;
        registry.parse(&text, &file, &name).map_err(|mut e| {
            e.line = 0;
            e.col = 0;
            e
        })
    }
}
