//! `dsim`: run scenarios, check histories, list what is available.
//!
//! Exit codes are part of the interface: 0 = everything as expected,
//! 1 = a check disagreed with the scenario's expectation, 2 = bad input or
//! usage (the message names the problem).

mod check;
mod cli_run;
mod list;

use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Parser, Subcommand};

/// A deterministic simulator for distributed protocols.
#[derive(Parser, Debug)]
#[command(name = "dsim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a scenario file and check the run.
    Run(cli_run::RunArgs),
    /// Run many seeds of a scenario in parallel; shrink failures into scenario files.
    Fuzz(dsim::fuzz::cli::FuzzArgs),
    /// Check a history file for linearizability against a model.
    Check(check::CheckArgs),
    /// List protocols, their variants and checks, and the bundled scenarios.
    List,
}

/// The command that replays the run in progress, printed if dsim panics.
pub static REPLAY: Mutex<Option<String>> = Mutex::new(None);

fn main() -> ExitCode {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(Some(cmd)) = REPLAY.lock().as_deref() {
            eprintln!(
                "dsim crashed: this is a bug in dsim or a protocol. Replay it with:\n  {cmd}"
            );
        }
        default_hook(info);
    }));
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run(args) => cli_run::run(&args),
        Cmd::Fuzz(args) => dsim::fuzz::cli::run(&args),
        Cmd::Check(args) => check::run(&args),
        Cmd::List => list::run(),
    }
}

/// Prints `error: …` and returns exit code 2.
pub fn bad_input(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}
