//! The dsim library behind the `dsim` command. It holds:
//!
//! - the [`Registry`] of protocols;
//! - scenario files and scenarios built in code ([`scenario`]);
//! - the runner that plays one scenario at one seed and judges it ([`runner`]);
//! - fuzzing and shrinking ([`fuzz`]);
//! - the reports: text and JSON ([`report`]), and the HTML page ([`html`]);
//! - the command line itself ([`cli`]).
//!
//! It re-exports the engine ([`sim`]), the protocol traits and checks
//! ([`protocols`]) and the checker ([`checker`]), so a crate with a protocol
//! of its own depends on `dsim` alone (docs/writing-a-protocol.md).
//!
//! ```
//! use std::path::Path;
//!
//! let registry = dsim::Registry::bundled();
//! let sc = registry.load(Path::new("scenarios/lww-split-brain-faithful.json"))?;
//! // What `dsim run scenarios/lww-split-brain-faithful.json --seed 7` runs.
//! let report = dsim::runner::run_at(&sc, 7)?;
//! assert!(report.as_expected); // this scenario expects its violations
//! println!("{}", dsim::report::human(&sc, &report));
//! # Ok::<(), dsim::scenario::ScenarioError>(())
//! ```

#![warn(missing_docs)]

pub mod cli;
pub mod fuzz;
pub mod html;
pub mod registry;
pub mod report;
pub mod runner;
pub mod scenario;

pub use registry::{ProtocolEntry, Registry};

pub use checker;
pub use protocols;
pub use sim;
