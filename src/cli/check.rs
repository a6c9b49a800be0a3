//! `dsim check`: judge history files against a model.
//!
//! Exit codes: 0 linearizable (for a transactional model: the consistency
//! model holds), 1 not linearizable (the consistency model does not hold:
//! "not serializable: G-single ..."), 2 bad input or usage (the message
//! names the file and line, or lists what is allowed), 3 unknown (the step
//! budget ran out, or a transactional history's writes are not unique or
//! give no dependency between its transactions).
//! With several files, each gets one verdict line and the exit code is the
//! most severe: 2 over 1 over 3 over 0.

use checker::{
    check, model, EdnOptions, EdnReader, History, HistoryError, JsonlReader, Model, NilRead,
    Report, TimeUnit, Verdict,
};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How a history file is written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// dsim's JSON Lines, one event per line.
    Jsonl,
    /// A Jepsen `history.edn` (or a Knossos test history).
    Edn,
}

/// Arguments of `dsim check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// History files, or directories searched (recursively) for `*.jsonl`
    /// and `*.edn` files; each is checked on its own.
    #[arg(value_name = "HISTORY", required = true)]
    pub histories: Vec<PathBuf>,
    /// The model to check against (see `dsim list` and
    /// docs/checking-histories.md).
    #[arg(long, value_name = "MODEL")]
    pub model: String,
    /// The model's initial value, as JSON (e.g. `0`, `null`, `'"abc"'`).
    #[arg(long, value_name = "VALUE")]
    pub initial: Option<String>,
    /// rw-register and list-append: the consistency model the
    /// transactions must satisfy, as Elle names it (read-uncommitted,
    /// read-committed, repeatable-read, snapshot-isolation, serializable,
    /// strong-session-serializable, strict-serializable; default
    /// strict-serializable).
    #[arg(long, value_name = "MODEL")]
    pub consistency: Option<String>,
    /// rw-register and list-append: anomalies to fail on besides those the
    /// consistency model forbids, comma-separated (e.g. `garbage-read`), as
    /// Elle's `:anomalies`.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub anomalies: Vec<String>,
    /// rw-register and list-append: also check read-your-writes per process.
    #[arg(long)]
    pub read_your_writes: bool,
    /// rw-register: also infer the version order from writes following
    /// reads within a transaction (Elle's `:wfr-keys?`; off by default, as
    /// in Elle, whose default infers only that nil precedes every value).
    #[arg(long)]
    pub wfr_keys: bool,
    /// How the files are written; by default `edn` for `*.edn`, else `jsonl`.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// EDN only: what an `:ok` read of `nil` means. `unknown` (Knossos's
    /// meaning, the default): the read constrains nothing; `value`: the
    /// register held nil.
    #[arg(long, value_enum, value_name = "MEANING", default_value = "unknown")]
    pub nil_read: NilMeaning,
    /// The largest history file read, in MiB; a larger one is refused
    /// before it is read.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub max_input_mib: u64,
    /// Treat a history with nothing to check (no operations, or only
    /// failed ones) as bad input, exit code 2, instead of passing it.
    #[arg(long)]
    pub fail_empty: bool,
    /// Print JSON instead of text: one object per history, one per line.
    #[arg(long)]
    pub json: bool,
    /// The most model steps the search may spend before answering "unknown".
    #[arg(long, value_name = "STEPS", default_value_t = checker::DEFAULT_BUDGET)]
    pub budget: u64,
    /// Write a self-contained HTML report of the history (its timeline, the
    /// witness, the longest linearizable prefix per key) to FILE; one history only.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// What an EDN `:ok` read of nil means (`--nil-read`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NilMeaning {
    /// A read of unknown value (Knossos).
    Unknown,
    /// A read of nil (null).
    Value,
}

/// How bad one file's result is; the exit code is the worst over all files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    Linearizable,
    Unknown,
    NotLinearizable,
    BadInput,
}

impl Severity {
    fn code(self) -> u8 {
        match self {
            Severity::Linearizable => 0,
            Severity::NotLinearizable => 1,
            Severity::BadInput => 2,
            Severity::Unknown => 3,
        }
    }
}

/// Runs `dsim check`: prints a verdict per history (and a witness on a
/// violation, when there is one history).
pub fn run(args: &CheckArgs) -> ExitCode {
    let model = match build_model(args) {
        Ok(model) => model,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let single = matches!(args.histories.as_slice(), [one] if !one.is_dir());
    if args.report.is_some() && !single {
        eprintln!("error: --report draws one history; give one file, not several or a directory");
        return ExitCode::from(2);
    }
    let mut worst = Severity::Linearizable;
    let mut stdout = std::io::stdout().lock();
    for entry in expand(&args.histories) {
        let judged = entry.and_then(|path| {
            let (history, report, empty) = judge(args, &model, &path)?;
            if let Some(page) = &args.report {
                write_report(page, &path, &history, &model, &report, args.budget)?;
            }
            Ok((path, report, empty, history.time_unit()))
        });
        let (severity, text) = match judged {
            Ok((path, report, empty, unit)) => (
                severity(&report),
                render(args, &path, &report, empty, single, unit),
            ),
            Err((path, message)) => {
                eprintln!("error: {message}");
                let text = if args.json && !single {
                    format!(
                        "{}\n",
                        serde_json::json!({"history": path, "error": message})
                    )
                } else {
                    String::new()
                };
                (Severity::BadInput, text)
            }
        };
        worst = worst.max(severity);
        // A reader that went away (`dsim check ... | head`) wants no more.
        if stdout.write_all(text.as_bytes()).is_err() {
            break;
        }
    }
    let _ = stdout.flush();
    ExitCode::from(worst.code())
}

/// The model named by `--model`, with `--initial`; `Err` is the message.
fn build_model(args: &CheckArgs) -> Result<Model, String> {
    let initial = match &args.initial {
        None => None,
        Some(text) => Some(serde_json::from_str::<Value>(text).map_err(|e| {
            format!("--initial {text:?} is not JSON ({e}); a string needs quotes: '\"{text}\"'")
        })?),
    };
    let transactional = matches!(args.model.as_str(), "rw-register" | "list-append");
    if args.wfr_keys && args.model != "rw-register" {
        return Err(format!(
            "--wfr-keys goes with --model rw-register, not {}",
            args.model
        ));
    }
    let asked = args.consistency.is_some()
        || args.read_your_writes
        || args.wfr_keys
        || !args.anomalies.is_empty();
    let initial = match asked {
        false => initial,
        true if !transactional => {
            return Err(format!(
                "--consistency, --anomalies and --read-your-writes go with --model rw-register or list-append, not {}",
                args.model
            ))
        }
        true if initial.is_some() => {
            return Err(
                "give --consistency/--anomalies/--read-your-writes/--wfr-keys or --initial, not both"
                    .into(),
            )
        }
        true => {
            use model::rw_register::{AnomalyKind, Consistency};
            let name = args.consistency.as_deref().unwrap_or("strict-serializable");
            if Consistency::parse(name).is_none() {
                return Err(format!(
                    "--consistency {name:?} is not a consistency model; allowed: {}",
                    Consistency::names()
                ));
            }
            for a in &args.anomalies {
                if AnomalyKind::parse(a).is_none() {
                    let names: Vec<&str> = AnomalyKind::ALL.iter().map(|k| k.name()).collect();
                    return Err(format!(
                        "--anomalies {a:?} is not an anomaly; allowed: {}",
                        names.join(", ")
                    ));
                }
            }
            let mut settings = serde_json::json!({
                "consistency": name,
                "read_your_writes": args.read_your_writes,
                "anomalies": args.anomalies,
            });
            if args.wfr_keys {
                settings["wfr_keys"] = Value::Bool(true);
            }
            Some(settings)
        }
    };
    model::by_name(&args.model, initial.as_ref()).map_err(|e| e.to_string())
}

/// A failure tied to one argument: its path (as shown) and the one-line message.
type Failure = (String, String);

/// The files to check: each argument, or the history files under it if it
/// is a directory (recursively, in path order, so the output is stable).
fn expand(args: &[PathBuf]) -> Vec<Result<PathBuf, Failure>> {
    let mut out = Vec::new();
    for arg in args {
        if !arg.is_dir() {
            out.push(Ok(arg.clone()));
            continue;
        }
        let mut found = Vec::new();
        match collect(arg, &mut found) {
            Err(message) => out.push(Err((arg.display().to_string(), message))),
            Ok(()) if found.is_empty() => out.push(Err((
                arg.display().to_string(),
                format!(
                    "{}: no *.jsonl or *.edn history files in this directory",
                    arg.display()
                ),
            ))),
            Ok(()) => {
                found.sort();
                out.extend(found.into_iter().map(Ok));
            }
        }
    }
    out
}

/// Adds the `*.jsonl` and `*.edn` files under `dir` to `found`. Symbolic
/// links to directories are not followed (a link to `.` would loop), links
/// to files are; a directory tree deeper than [`MAX_DIR_DEPTH`] is refused.
fn collect(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), String> {
    collect_at(dir, found, 0)
}

/// The deepest directory tree `dsim check DIR` walks.
const MAX_DIR_DEPTH: usize = 64;

fn collect_at(dir: &Path, found: &mut Vec<PathBuf>, depth: usize) -> Result<(), String> {
    if depth > MAX_DIR_DEPTH {
        return Err(format!(
            "{}: directories nested more than {MAX_DIR_DEPTH} deep",
            dir.display()
        ));
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read directory {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read directory {}: {e}", dir.display()))?;
        let path = entry.path();
        let link = entry.file_type().is_ok_and(|t| t.is_symlink());
        if path.is_dir() {
            if !link {
                collect_at(&path, found, depth + 1)?;
            }
        } else if matches!(extension(&path), Some("jsonl" | "edn")) {
            found.push(path);
        }
    }
    Ok(())
}

fn extension(path: &Path) -> Option<&str> {
    path.extension().and_then(|e| e.to_str())
}

/// Reads and checks one file: the report, and whether there was nothing
/// to check; `Err` is the one-line message of a bad input.
fn judge(args: &CheckArgs, model: &Model, path: &Path) -> Result<(History, Report, bool), Failure> {
    let shown = path.display().to_string();
    let fail = |message: String| (shown.clone(), message);
    let at = |line: Option<usize>| match line {
        Some(line) => format!("{shown}:{line}"),
        None => shown.clone(),
    };
    let format = args.format.unwrap_or(match extension(path) {
        Some("edn") => Format::Edn,
        _ => Format::Jsonl,
    });
    let options = EdnOptions {
        nil_read: match args.nil_read {
            NilMeaning::Unknown => NilRead::Unknown,
            NilMeaning::Value => NilRead::Value,
        },
        reads_as_sets: model.reads_sets(),
    };
    // Read as the text arrives, so that a bad event fails at once (also
    // from a pipe whose writer has not finished).
    let parsed = match format {
        Format::Jsonl => {
            // A set-full history lists O(n²) integers: kept as sets, its
            // reads take memory linear in what each adds.
            let mut reader = if model.reads_sets() {
                JsonlReader::reading_sets()
            } else {
                JsonlReader::new()
            };
            read_lines(path, args.max_input_mib, |text| {
                text.lines().try_for_each(|line| reader.line(line))
            })
            .and_then(|tail| {
                tail.lines()
                    .try_for_each(|line| reader.line(line))
                    .map_err(Stop::Bad)?;
                Ok(reader.finish())
            })
        }
        Format::Edn => {
            let mut reader = EdnReader::new(options);
            read_lines(path, args.max_input_mib, |text| reader.feed(text))
                .and_then(|tail| reader.finish(&tail).map_err(Stop::Bad))
        }
    };
    let history = parsed.map_err(|stop| match stop {
        Stop::Unreadable(e) => fail(format!("cannot read history {shown}: {e}")),
        Stop::Bad(e) => fail(format!("{}: {}", at(e.line), e.kind)),
    })?;
    let report = check(&history, model, args.budget)
        .map_err(|e| fail(format!("{}: {} (model {})", at(e.line), e.error, e.model)))?;
    let empty = report.keys.is_empty();
    if empty && args.fail_empty {
        return Err(fail(format!(
            "{shown}: nothing to check: {} (--fail-empty)",
            nothing(&report)
        )));
    }
    Ok((history, report, empty))
}

/// Why reading a history stopped.
enum Stop {
    /// The file could not be read, or is not a text history (too large, a
    /// NUL byte, not UTF-8).
    Unreadable(String),
    /// An event is malformed.
    Bad(HistoryError),
}

/// Reads a history file of at most `max_mib` MiB in chunks, handing each
/// run of complete lines to `lines` as soon as it has arrived; returns what
/// follows the last newline. A regular file larger than the limit is
/// refused before it is read; anything else (a pipe, /dev/zero) once the
/// limit is passed, or at its first NUL byte, without reading the rest.
fn read_lines(
    path: &Path,
    max_mib: u64,
    mut lines: impl FnMut(&str) -> Result<(), HistoryError>,
) -> Result<String, Stop> {
    use std::io::Read;
    let limit = max_mib.saturating_mul(1 << 20);
    let too_big = || {
        Stop::Unreadable(format!(
            "the file is larger than {max_mib} MiB (raise the limit with --max-input-mib)"
        ))
    };
    let mut file = std::fs::File::open(path).map_err(|e| Stop::Unreadable(e.to_string()))?;
    if file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() > limit)
    {
        return Err(too_big());
    }
    let not_utf8 = |at: usize| Stop::Unreadable(format!("the file is not UTF-8 text (byte {at})"));
    // Bytes after the last newline read so far, and how many came before them.
    let mut carry: Vec<u8> = Vec::new();
    let mut done = 0usize;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Stop::Unreadable(e.to_string())),
        };
        if n == 0 {
            break;
        }
        if let Some(at) = chunk[..n].iter().position(|&b| b == 0) {
            return Err(Stop::Unreadable(format!(
                "byte {} is NUL: not a text history",
                done + carry.len() + at
            )));
        }
        if (done + carry.len() + n) as u64 > limit {
            return Err(too_big());
        }
        carry.extend_from_slice(&chunk[..n]);
        // Whole lines (a newline byte is never inside a UTF-8 character).
        let Some(last) = carry.iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        let text =
            std::str::from_utf8(&carry[..=last]).map_err(|e| not_utf8(done + e.valid_up_to()))?;
        lines(text).map_err(Stop::Bad)?;
        done += last + 1;
        carry.drain(..=last);
    }
    String::from_utf8(carry).map_err(|e| not_utf8(done + e.utf8_error().valid_up_to()))
}

/// Writes the HTML report of one checked history to `page`.
fn write_report(
    page: &Path,
    path: &Path,
    history: &History,
    model: &Model,
    report: &Report,
    budget: u64,
) -> Result<(), Failure> {
    let shown = path.display().to_string();
    let html = crate::html::check_page(&shown, history, model, report, budget);
    std::fs::write(page, html).map_err(|e| {
        (
            shown,
            format!("cannot write report file {}: {e}", page.display()),
        )
    })
}

/// Why a history has nothing to check.
fn nothing(report: &Report) -> String {
    match report.ops {
        0 => "the history has no operations".to_string(),
        1 => "its one operation failed (did not happen)".to_string(),
        n => format!("all {n} of its operations failed (did not happen)"),
    }
}

fn severity(report: &Report) -> Severity {
    match report.verdict {
        Verdict::Linearizable => Severity::Linearizable,
        Verdict::NotLinearizable => Severity::NotLinearizable,
        Verdict::Unknown => Severity::Unknown,
    }
}

/// The `--json` object: the history's path, whether it had nothing to
/// check, then the report's fields.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    history: String,
    empty: bool,
    #[serde(flatten)]
    report: &'a Report,
}

/// What is printed for one checked file.
fn render(
    args: &CheckArgs,
    path: &Path,
    report: &Report,
    empty: bool,
    single: bool,
    unit: TimeUnit,
) -> String {
    let shown = path.display().to_string();
    if args.json {
        let out = JsonReport {
            history: shown,
            empty,
            report,
        };
        // A report of strings, numbers and JSON values always serializes.
        return serde_json::to_string(&out).map_or_else(|e| e.to_string(), |s| s + "\n");
    }
    match (empty, single) {
        (true, true) => format!("nothing to check: {}\n", nothing(report)),
        (true, false) => format!("{shown}: nothing to check: {}\n", nothing(report)),
        (false, true) => human(report, args.budget, unit),
        (false, false) => format!("{shown}: {}\n", one_line(report, args.budget)),
    }
}

/// Why a search ended unknown: with steps left over, the memo filled up
/// (its bound in bytes), not the step budget.
fn unknown_why(report: &Report, budget: u64) -> String {
    if report.steps < budget {
        format!(
            "the search's memo reached its bound of {} MiB after {} steps, before the step budget ({budget})",
            checker::MEMO_BYTES >> 20,
            report.steps
        )
    } else {
        format!("the step budget ({budget}) ran out")
    }
}

/// The verdict of one of several files, on one line.
fn one_line(report: &Report, budget: u64) -> String {
    let size = format!("{} operations, {} steps", report.ops, report.steps);
    if report.property != "linearizable" {
        let first = report
            .witness
            .as_ref()
            .and_then(|w| w.explanation.lines().next().map(str::to_string));
        let size = format!("{} transactions", report.ops);
        return match (report.verdict, first) {
            (Verdict::NotLinearizable, Some(first)) => format!("{first} ({size})"),
            (Verdict::NotLinearizable, None) => format!("not {} ({size})", report.property),
            (Verdict::Linearizable, _) => format!("{} ({size})", report.property),
            // A transactional check's steps are the dependencies it inferred.
            (Verdict::Unknown, _) if report.steps == 0 => format!(
                "unknown: no dependency between transactions could be inferred (Elle's empty-transaction-graph), so nothing was checked ({size})"
            ),
            (Verdict::Unknown, _) => format!(
                "unknown: appends or writes are not unique, so versions cannot be told apart ({size})"
            ),
        };
    }
    match (report.verdict, &report.witness) {
        (Verdict::Linearizable, _) => format!("linearizable ({size})"),
        (Verdict::Unknown, _) => format!("unknown: {} ({size})", unknown_why(report, budget)),
        (Verdict::NotLinearizable, witness) => {
            let key = report.key.as_ref().map_or(String::new(), |k| {
                format!(" (key {})", checker::history::show_key(k))
            });
            let shown = witness.as_ref().map_or(String::new(), |w| {
                let minimal = if w.minimal {
                    "minimal"
                } else {
                    "not minimised"
                };
                let n = w.ops.len();
                let ops = if n == 1 { "operation" } else { "operations" };
                format!("; a witness of {n} {ops} ({minimal})")
            });
            format!("NOT linearizable{key}{shown} ({size})")
        }
    }
}

/// The text report: verdict line, per-key counts, witness.
fn human(report: &Report, budget: u64, unit: TimeUnit) -> String {
    if report.property != "linearizable" {
        let mut out = format!("{}\n", one_line(report, budget));
        out.push_str(&format!(
            "model {}, consistency model {}, {} operations\n",
            report.model, report.property, report.ops
        ));
        if let Some(witness) = &report.witness {
            out.push('\n');
            out.push_str(&witness.render_text_with(&|t| unit.show(t)));
        }
        return out;
    }
    let verdict = match report.verdict {
        Verdict::Linearizable => "linearizable".to_string(),
        Verdict::NotLinearizable => match &report.key {
            Some(key) => format!("NOT linearizable (key {})", checker::history::show_key(key)),
            None => "NOT linearizable".to_string(),
        },
        Verdict::Unknown => format!("unknown: {}", unknown_why(report, budget)),
    };
    let count = |v: Option<Verdict>| report.keys.iter().filter(|k| k.verdict == v).count();
    let mut counts = vec![];
    for (n, word) in [
        (count(Some(Verdict::Linearizable)), "linearizable"),
        (count(Some(Verdict::NotLinearizable)), "not linearizable"),
        (count(Some(Verdict::Unknown)), "unknown"),
        (count(None), "not finished (stopped at the first violation)"),
    ] {
        if n > 0 {
            counts.push(format!("{n} {word}"));
        }
    }
    let mut out = format!(
        "{verdict}\nmodel {}, {} operations, {} key{}: {}; {} search steps\n",
        report.model,
        report.ops,
        report.keys.len(),
        if report.keys.len() == 1 { "" } else { "s" },
        counts.join(", "),
        report.steps
    );
    if report.verdict == Verdict::Unknown && report.steps >= budget {
        out.push_str("try a larger --budget\n");
    }
    if let Some(witness) = &report.witness {
        out.push('\n');
        out.push_str(&witness.render_text_with(&|t| unit.show(t)));
    }
    out
}
