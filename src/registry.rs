//! The protocols a `dsim` binary knows, by name.
//!
//! A scenario file names its protocol; a [`Registry`] turns that name into
//! the protocol's type. The bundled protocols are registered exactly as a
//! protocol from another crate is:
//!
//! ```
//! use dsim::Registry;
//!
//! // Every protocol in this repository.
//! let bundled = Registry::bundled();
//! assert!(bundled.names().contains(&"lww"));
//!
//! // Only the ones you name (here one bundled protocol; yours the same way).
//! let mine = Registry::new().with::<dsim::protocols::lww::Lww>();
//! assert_eq!(mine.names(), ["lww"]);
//! ```
//!
//! Once a scenario is loaded it carries its protocol's [`ProtocolEntry`],
//! so running, fuzzing, shrinking and replaying it need no registry.

use std::fmt;
use std::path::Path;

use protocols::Protocol;

use crate::runner::{Progress, RunOptions, RunReport};
use crate::scenario::{self, RawScenario, Scenario, ScenarioError};

/// One protocol's entry points, instantiated for its type: what the
/// runner, the validator, the probe and `dsim list` call.
#[derive(Clone, Copy)]
pub struct ProtocolEntry {
    name: &'static str,
    summary: &'static str,
    records_provenance: bool,
    pub(crate) validate: fn(RawScenario, &str, &str) -> Result<Scenario, ScenarioError>,
    pub(crate) run: fn(&Scenario, RunOptions, &mut dyn FnMut(Progress)) -> RunReport,
    pub(crate) probe: fn(&Scenario) -> Vec<String>,
    pub(crate) describe: fn() -> String,
    pub(crate) variants: fn() -> &'static [protocols::Variant],
}

impl ProtocolEntry {
    /// The entry of protocol `P`.
    pub fn of<P: Protocol>() -> Self {
        ProtocolEntry {
            name: P::NAME,
            summary: P::SUMMARY,
            records_provenance: P::RECORDS_PROVENANCE,
            validate: scenario::validate_as::<P>,
            run: crate::runner::run_protocol::<P>,
            probe: crate::fuzz::probe::probe::<P>,
            describe: crate::cli::list::describe::<P>,
            variants: P::variants,
        }
    }

    /// The protocol's name (`protocol` in scenario files).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// One line on what it is.
    pub fn summary(&self) -> &'static str {
        self.summary
    }

    /// True when the protocol can draw a provenance graph (`--trail`).
    pub fn records_provenance(&self) -> bool {
        self.records_provenance
    }

    /// Validates scenario text that must name this protocol (used to run
    /// again a scenario derived from one already loaded: a fuzz seed's
    /// expansion, a shrink candidate, a saved file).
    pub fn parse(&self, src: &str, file: &str, stem: &str) -> Result<Scenario, ScenarioError> {
        scenario::parse_in(&Registry::from_entries(vec![*self]), src, file, stem)
    }
}

impl fmt::Debug for ProtocolEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtocolEntry")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The protocols scenario files may name, in the order `list` shows them.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    entries: Vec<ProtocolEntry>,
}

impl Registry {
    /// A registry with no protocol; add them with [`Registry::with`].
    pub fn new() -> Self {
        Registry::default()
    }

    /// Every protocol of this repository, in `dsim list` order.
    pub fn bundled() -> Self {
        use protocols::*;
        Registry::new()
            .with::<lww::Lww>()
            .with::<history::History>()
            .with::<bank::Bank>()
            .with::<cluster::Cluster>()
            .with::<counter::Counter>()
            .with::<seqlog::SeqLog>()
            .with::<vr::Vr>()
            .with::<memstate::MemState>()
            .with::<maelstrom::Server<maelstrom::echo::Echo>>()
            .with::<maelstrom::Server<maelstrom::unique_ids::UniqueIds>>()
            .with::<maelstrom::Server<maelstrom::broadcast::Broadcast>>()
            .with::<maelstrom::Server<maelstrom::g_counter::GCounter>>()
            .with::<maelstrom::Server<maelstrom::txn::TxnNode>>()
            .with::<maelstrom::Server<maelstrom::kafka::Kafka>>()
    }

    fn from_entries(entries: Vec<ProtocolEntry>) -> Self {
        Registry { entries }
    }

    /// This registry and protocol `P`.
    ///
    /// # Panics
    /// If a protocol of the same name is registered already: two protocols
    /// cannot answer to one name in a scenario file.
    pub fn with<P: Protocol>(mut self) -> Self {
        self.register::<P>();
        self
    }

    /// Adds protocol `P` (see [`Registry::with`]).
    pub fn register<P: Protocol>(&mut self) -> &mut Self {
        assert!(
            self.get(P::NAME).is_none(),
            "protocol {:?} is registered twice",
            P::NAME
        );
        self.entries.push(ProtocolEntry::of::<P>());
        self
    }

    /// The protocol called `name`.
    pub fn get(&self, name: &str) -> Option<&ProtocolEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The registered protocols, in registration order.
    pub fn entries(&self) -> &[ProtocolEntry] {
        &self.entries
    }

    /// Their names, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.name).collect()
    }

    /// Reads and validates the scenario file at `path` (see
    /// [`crate::scenario::load`]).
    pub fn load(&self, path: &Path) -> Result<Scenario, ScenarioError> {
        scenario::load_in(self, path)
    }

    /// As [`Registry::load`], with `--set KEY=VALUE` overrides applied to
    /// the file before it is validated (see [`scenario::overrides`]).
    pub fn load_with(
        &self,
        path: &Path,
        sets: &[scenario::overrides::Override],
    ) -> Result<Scenario, ScenarioError> {
        scenario::load_in_with(self, path, sets)
    }

    /// Validates scenario text; `file` labels errors and `stem` is the
    /// scenario's name when the text gives none.
    pub fn parse(&self, src: &str, file: &str, stem: &str) -> Result<Scenario, ScenarioError> {
        scenario::parse_in(self, src, file, stem)
    }
}
