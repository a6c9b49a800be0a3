//! `dsim run`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::{bad_input, REPLAY};
use dsim::report;
use dsim::runner::{self, RunOptions};
use dsim::scenario;

/// Arguments of `dsim run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The scenario file (JSON).
    pub scenario: PathBuf,
    /// Seed for this run (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write every event as JSON Lines to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Write the client history (the format `dsim check` reads) to FILE.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Print one JSON object instead of the human report.
    #[arg(long)]
    pub json: bool,
    /// Print the scenario with every default filled in, and exit.
    #[arg(long)]
    pub print_scenario: bool,
}

fn create(path: &PathBuf, what: &str) -> Result<BufWriter<File>, String> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| format!("cannot create {what} file {}: {e}", path.display()))
}

/// Runs `dsim run`.
pub fn run(args: &RunArgs) -> ExitCode {
    let sc = match scenario::load(&args.scenario) {
        Ok(sc) => sc,
        Err(e) => return bad_input(e),
    };
    if args.print_scenario {
        let text = serde_json::to_string_pretty(&sc.effective).expect("scenario serializes");
        println!("{text}");
        return ExitCode::SUCCESS;
    }
    let seed = args.seed.unwrap_or(sc.sim.seed);
    let trace: Option<Box<dyn Write>> = match &args.trace {
        Some(p) => match create(p, "trace") {
            Ok(w) => Some(Box::new(w)),
            Err(e) => return bad_input(e),
        },
        None => None,
    };
    let mut history_out = match &args.history {
        Some(p) => match create(p, "history") {
            Ok(w) => Some(w),
            Err(e) => return bad_input(e),
        },
        None => None,
    };
    if let Ok(mut r) = REPLAY.lock() {
        *r = Some(report::replay_command(&sc, seed));
    }
    let rep = runner::run(
        &sc,
        RunOptions {
            seed,
            trace,
            keep_history: history_out.is_some(),
        },
    );
    if let Some(w) = history_out.as_mut() {
        let done = report::write_history(w, &rep.history).and_then(|_| w.flush());
        if let Err(e) = done {
            return bad_input(format!("cannot write history file: {e}"));
        }
    }
    if args.json {
        println!("{}", report::json(&sc, &rep));
    } else {
        print!("{}", report::human(&sc, &rep));
    }
    if rep.as_expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
