//! The dsim library behind the `dsim` command: scenario files, the runner
//! that plays one scenario at one seed and judges it, and the reports (text,
//! JSON, and the self-contained HTML page of [`html`]).
//!
//! ```no_run
//! let sc = dsim::scenario::load(std::path::Path::new("scenarios/lww-split-brain-faithful.json"))?;
//! let report = dsim::runner::run(&sc, dsim::runner::RunOptions { seed: 7, trace: None, keep_history: false, trail_key: None });
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
