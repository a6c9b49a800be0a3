//! `dsim run`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
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
    /// Change a scenario field before it is validated: KEY is a dotted path
    /// (`nodes`, `variant`, `workload.rate`, `params.bugs.d4`,
    /// `faults.0.at_ms`), VALUE is JSON or else a string. Repeatable; the
    /// replay line repeats it.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = crate::scenario::overrides::parse)]
    pub sets: Vec<crate::scenario::overrides::Override>,
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

/// An output file written to a temporary file beside it and renamed into
/// place only once everything went well: a failed or killed run leaves what
/// was there before. The temporary file goes when this is dropped unkept.
struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    what: &'static str,
    kept: bool,
}

impl Staged {
    /// Creates the temporary file for `dest` and opens it for writing.
    fn create(dest: &Path, what: &'static str) -> Result<(Staged, BufWriter<File>), String> {
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(name) = name else {
            return Err(format!(
                "cannot create {what} file {}: not a file name",
                dest.display()
            ));
        };
        // What is not a regular file (a device, a pipe) is written as it
        // is: there is nothing to keep and no rename can replace it.
        let direct = not_a_file(dest);
        let tmp = if direct {
            dest.to_path_buf()
        } else {
            dest.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
        };
        let f = File::create(&tmp)
            .map_err(|e| format!("cannot create {what} file {}: {e}", dest.display()))?;
        Ok((
            Staged {
                tmp,
                dest: dest.to_path_buf(),
                what,
                kept: direct,
            },
            BufWriter::new(f),
        ))
    }

    /// Renames the written temporary file into place.
    fn keep(mut self) -> Result<(), String> {
        if self.kept {
            return Ok(());
        }
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| {
            format!(
                "cannot write {} file {}: {e}",
                self.what,
                self.dest.display()
            )
        })?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// True when `p` exists and is not a regular file (`/dev/null`, a pipe).
fn not_a_file(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| !m.is_file())
}

/// The path `p` names, for comparing: the file itself when it exists
/// (links followed), else its canonical directory joined with its name.
fn identity(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match (dir.canonicalize(), p.file_name()) {
        (Ok(d), Some(n)) => d.join(n),
        _ => p.to_path_buf(),
    }
}

/// Refuses an output path that is the scenario or another output, before
/// anything is read or written.
fn distinct_paths(args: &RunArgs) -> Result<(), String> {
    let mut seen: Vec<(&str, PathBuf)> = vec![("the scenario", identity(&args.scenario))];
    for (flag, p) in [
        ("--trace", &args.trace),
        ("--history", &args.history),
        ("--trail", &args.trail),
        ("--report", &args.report),
    ] {
        let Some(p) = p else { continue };
        if not_a_file(p) {
            continue; // `/dev/null` twice is fine
        }
        let id = identity(p);
        if let Some((other, _)) = seen.iter().find(|(_, q)| *q == id) {
            return Err(format!(
                "{flag} {} is the same file as {other}: each output needs its own file",
                p.display()
            ));
        }
        seen.push((flag, id));
    }
    Ok(())
}

/// Runs `dsim run`.
pub fn run(registry: &Registry, args: &RunArgs) -> ExitCode {
    if let Err(e) = distinct_paths(args) {
        return bad_input(e);
    }
    let mut sc = match registry.load_with(&args.scenario, &args.sets) {
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
    // Every output is created (as a temporary file) before the run, so a
    // bad path costs no run; each is renamed into place at the end.
    let mut staged: Vec<Staged> = Vec::new();
    let trace: Option<Box<dyn Write>> = match &args.trace {
        Some(p) => match Staged::create(p, "trace") {
            Ok((st, w)) => {
                staged.push(st);
                Some(Box::new(w))
            }
            Err(e) => return bad_input(e),
        },
        None => None,
    };
    let mut report_out = match &args.report {
        Some(p) => match Staged::create(p, "report") {
            Ok((st, w)) => {
                staged.push(st);
                Some(w)
            }
            Err(e) => return bad_input(e),
        },
        None => None,
    };
    let capture = report_out.as_ref().map(|_| html::Capture::new());
    let mut history_out = match &args.history {
        Some(p) => match Staged::create(p, "history") {
            Ok((st, w)) => {
                staged.push(st);
                Some(w)
            }
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
            observer: capture.as_ref().map(html::Capture::observer),
            keep_history: history_out.is_some() || capture.is_some(),
            trail_key: args.trail.as_ref().map(|_| args.trail_key),
            deadline: None,
        },
        &mut |p| bar.tick(p),
    );
    if report_out.is_some() {
        bar.stage("writing the HTML report");
    } else {
        bar.finish();
    }
    if let (Some(p), Some(dot)) = (&args.trail, &rep.trail_dot) {
        let written = if not_a_file(p) {
            std::fs::write(p, dot)
        } else {
            crate::fuzz::save::write_atomically(p, dot.as_bytes())
        };
        if let Err(e) = written {
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
        let done = html::write_run_page(w, &sc, &rep, c).and_then(|_| w.flush());
        bar.finish();
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
    drop(report_out);
    drop(history_out);
    for st in staged {
        if let Err(e) = st.keep() {
            return bad_input(e);
        }
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
        let bar = self.bar.get_or_insert_with(Self::spinner);
        bar.set_message(format!(
            "simulated {:.1} s, {:.1} M events",
            p.now_us as f64 / 1e6,
            p.events as f64 / 1e6
        ));
    }

    /// Shows that the run is over and `what` is being done now (the
    /// spinner keeps turning on its own meanwhile), when the spinner is on
    /// (however short the run was: the report may take longer).
    fn stage(&mut self, what: &str) {
        if !self.on {
            return;
        }
        let bar = self.bar.get_or_insert_with(Self::spinner);
        bar.set_message(format!("run done; {what}…"));
        bar.tick();
    }

    fn spinner() -> indicatif::ProgressBar {
        let b = indicatif::ProgressBar::new_spinner();
        b.enable_steady_tick(std::time::Duration::from_millis(200));
        b
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
