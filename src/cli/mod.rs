//! The `dsim` command line, as a library: [`main`] runs it for the
//! protocols of a [`Registry`], so a crate with protocols of its own builds
//! a binary with the same subcommands (`run`, `fuzz`, `check`, `list`) in a
//! few lines:
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! fn main() -> ExitCode {
//!     // Your protocols: `dsim::Registry::new().with::<my_crate::MyProtocol>()`.
//!     let registry = dsim::Registry::new().with::<dsim::protocols::lww::Lww>();
//!     dsim::cli::main(registry)
//! }
//! ```
//!
//! Exit codes are part of the interface: 0 = everything as expected,
//! 1 = a check disagreed with the scenario's expectation, 2 = bad input or
//! usage (the message names the problem), 3 = `check` could not decide.

pub mod check;
pub mod list;
pub mod maelstrom;
pub mod run;

use std::process::ExitCode;
use std::sync::Mutex;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::Registry;

/// A deterministic simulator for distributed protocols.
#[derive(Parser, Debug)]
#[command(name = "dsim", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run a scenario file and check the run.
    Run(run::RunArgs),
    /// Run many seeds of a scenario in parallel; shrink failures into scenario files.
    Fuzz(crate::fuzz::cli::FuzzArgs),
    /// Check a history file for linearizability against a model.
    Check(check::CheckArgs),
    /// List protocols, checks, models and the bundled scenarios (`dsim list PATTERN` for detail).
    List(list::ListArgs),
    /// Maelstrom's command line for your own node (WebAssembly, wasip1).
    Maelstrom(maelstrom::MaelstromArgs),
}

/// The command that replays the run in progress, printed if a run panics.
pub(crate) static REPLAY: Mutex<Option<String>> = Mutex::new(None);

/// Parses the process's arguments and runs the subcommand they name, for
/// the protocols of `registry`. A panic inside a run prints the command
/// that replays it before the panic message.
pub fn main(registry: Registry) -> ExitCode {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(Some(cmd)) = REPLAY.lock().as_deref() {
            eprintln!(
                "dsim crashed: this is a bug in dsim or a protocol. Replay it with:\n  {cmd}"
            );
        }
        default_hook(info);
    }));
    // Commands printed for the user (replays) name this program.
    let program = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "dsim".into());
    let _ = crate::report::PROGRAM.set(program);
    let matches = Cli::command().name(crate::report::program()).get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => run(&registry, cli),
        Err(e) => e.exit(),
    }
}

/// Runs parsed arguments `cli` for the protocols of `registry`.
pub fn run(registry: &Registry, cli: Cli) -> ExitCode {
    match cli.cmd {
        Cmd::Run(args) => run::run(registry, &args),
        Cmd::Fuzz(args) => crate::fuzz::cli::run(registry, &args),
        Cmd::Check(args) => check::run(&args),
        Cmd::List(args) => list::run(registry, &args),
        Cmd::Maelstrom(args) => maelstrom::run(registry, &args),
    }
}

/// Prints `error: …` and returns exit code 2.
pub(crate) fn bad_input(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}
