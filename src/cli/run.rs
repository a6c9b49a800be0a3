//! `dsim run`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use super::{bad_input, REPLAY};
use crate::html;
use crate::report;
use crate::runner::{self, RunOptions};
use crate::Registry;

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
    /// Write the provenance graph of a key (see --trail-key) as Graphviz DOT
    /// to FILE (protocols that record provenance: history).
    #[arg(long, value_name = "FILE")]
    pub trail: Option<PathBuf>,
    /// The key --trail draws.
    #[arg(long, value_name = "KEY", default_value_t = 0, requires = "trail")]
    pub trail_key: u32,
    /// Write a self-contained HTML report (space-time diagram, client
    /// timeline, verdicts, plots) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Print one JSON object instead of the human report.
    #[arg(long)]
    pub json: bool,
    /// Print the scenario with every default filled in, and exit (with
    /// --seed, a `fuzz` block is replaced by the faults that seed draws).
    #[arg(long)]
    pub print_scenario: bool,
}

fn create(path: &PathBuf, what: &str) -> Result<BufWriter<File>, String> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| format!("cannot create {what} file {}: {e}", path.display()))
}

/// Runs `dsim run`.
pub fn run(registry: &Registry, args: &RunArgs) -> ExitCode {
    let mut sc = match registry.load(&args.scenario) {
        Ok(sc) => sc,
        Err(e) => return bad_input(e),
    };
    if args.print_scenario {
        // Shows the message kinds a probe run finds, as `dsim fuzz` uses them.
        if let Err(e) = crate::fuzz::resolve(&mut sc) {
            return bad_input(e);
        }
        // With --seed, a `fuzz` block is shown as what that seed runs: the
        // faults it drew, in place of the block.
        if let Some(seed) = args.seed.filter(|_| sc.effective.fuzz.is_some()) {
            sc = match crate::fuzz::at_seed(&sc, seed) {
                Ok(sc) => sc,
                Err(e) => return bad_input(e),
            };
            sc.effective.seed = seed;
        }
        let text = serde_json::to_string_pretty(&sc.effective).expect("scenario serializes");
        report::emit(&format!("{text}\n"));
        return ExitCode::SUCCESS;
    }
    let seed = args.seed.unwrap_or(sc.sim.seed);
    // A `fuzz` block becomes this seed's fault schedule (as in `dsim fuzz`).
    let sc = match crate::fuzz::at_seed(&sc, seed) {
        Ok(sc) => sc,
        Err(e) => return bad_input(e),
    };
    if args.trail.is_some() {
        let able = runner::provenance_protocols(registry);
        if !able.contains(&sc.protocol) {
            return bad_input(format!(
                "--trail: protocol {} records no provenance; protocols that do: {}",
                sc.protocol,
                able.join(", ")
            ));
        }
    }
    let trace: Option<Box<dyn Write>> = match &args.trace {
        Some(p) => match create(p, "trace") {
            Ok(w) => Some(Box::new(w)),
            Err(e) => return bad_input(e),
        },
        None => None,
    };
    // The report file is created before the run, so a bad path costs no run.
    let mut report_out = match &args.report {
        Some(p) => match create(p, "report") {
            Ok(w) => Some(w),
            Err(e) => return bad_input(e),
        },
        None => None,
    };
    let capture = report_out.as_ref().map(|_| html::Capture::new());
    let trace = match &capture {
        Some(c) => Some(c.writer(trace)),
        None => trace,
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
    let mut bar = Spinner::new(!args.json);
    let rep = runner::run_with_progress(
        &sc,
        RunOptions {
            seed,
            trace,
            keep_history: history_out.is_some() || capture.is_some(),
            trail_key: args.trail.as_ref().map(|_| args.trail_key),
            deadline: None,
        },
        &mut |p| bar.tick(p),
    );
    bar.finish();
    if let (Some(p), Some(dot)) = (&args.trail, &rep.trail_dot) {
        if let Err(e) = std::fs::write(p, dot) {
            return bad_input(format!("cannot write trail file {}: {e}", p.display()));
        }
    }
    if let Some(w) = history_out.as_mut() {
        let done = report::write_history(w, &rep.history).and_then(|_| w.flush());
        if let Err(e) = done {
            return bad_input(format!("cannot write history file: {e}"));
        }
    }
    if let (Some(w), Some(c)) = (report_out.as_mut(), capture) {
        let page = html::run_page(&sc, &rep, c);
        let done = w.write_all(page.as_bytes()).and_then(|_| w.flush());
        if let Err(e) = done {
            return bad_input(format!("cannot write report file: {e}"));
        }
    }
    if args.json {
        report::emit(&format!("{}\n", report::json(&sc, &rep)));
    } else {
        report::emit(&report::human(&sc, &rep));
    }
    // A trace that could not be written is an output error, as for the
    // history: the report above stands, the exit code says it failed.
    if let (Some(e), Some(p)) = (&rep.trace_error, &args.trace) {
        return bad_input(format!("cannot write trace file {}: {e}", p.display()));
    }
    if rep.as_expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A spinner on stderr for runs that take more than a second, when stderr
/// is a terminal: simulated time and events so far. Quiet otherwise.
struct Spinner {
    on: bool,
    started: std::time::Instant,
    bar: Option<indicatif::ProgressBar>,
}

impl Spinner {
    fn new(wanted: bool) -> Spinner {
        use std::io::IsTerminal;
        Spinner {
            on: wanted && std::io::stderr().is_terminal(),
            // Wall time only decides whether to show the spinner; the run
            // never reads it.
            started: std::time::Instant::now(),
            bar: None,
        }
    }

    fn tick(&mut self, p: runner::Progress) {
        if !self.on || self.started.elapsed().as_secs() < 1 {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(std::time::Duration::from_millis(200));
            b
        });
        bar.set_message(format!(
            "simulated {:.1} s, {:.1} M events",
            p.now_us as f64 / 1e6,
            p.events as f64 / 1e6
        ));
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
