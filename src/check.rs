//! `dsim check`: judge a history file against a model.
//!
//! Exit codes: 0 linearizable, 1 not linearizable, 2 bad input or usage
//! (the message names the file and line, or lists what is allowed),
//! 3 unknown (the step budget ran out).

use checker::{check, model, History, Report, Verdict};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `dsim check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The history file (JSON Lines, one event per line).
    #[arg(value_name = "HISTORY")]
    pub history: PathBuf,
    /// The sequential model to check against (see `dsim list`).
    #[arg(long, value_name = "MODEL")]
    pub model: String,
    /// The model's initial value, as JSON (e.g. `0`, `null`, `'"abc"'`).
    #[arg(long, value_name = "VALUE")]
    pub initial: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// The most model steps the search may spend before answering "unknown".
    #[arg(long, value_name = "STEPS", default_value_t = checker::DEFAULT_BUDGET)]
    pub budget: u64,
    /// Write a self-contained HTML report (the timeline, the witness, the
    /// longest linearizable prefix per key) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// Runs `dsim check`: prints the verdict (and a witness on a violation).
pub fn run(args: &CheckArgs) -> ExitCode {
    match run_checked(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The check itself; `Err` carries the one-line message of a bad input.
fn run_checked(args: &CheckArgs) -> Result<ExitCode, String> {
    let initial = match &args.initial {
        None => None,
        Some(text) => Some(serde_json::from_str::<Value>(text).map_err(|e| {
            format!("--initial {text:?} is not JSON ({e}); a string needs quotes: '\"{text}\"'")
        })?),
    };
    let model = model::by_name(&args.model, initial.as_ref()).map_err(|e| e.to_string())?;
    let path = args.history.display();
    let text = std::fs::read_to_string(&args.history)
        .map_err(|e| format!("cannot read history {path}: {e}"))?;
    let at = |line: Option<usize>| match line {
        Some(line) => format!("{path}:{line}"),
        None => path.to_string(),
    };
    let history = History::parse_jsonl(&text).map_err(|e| format!("{}: {}", at(e.line), e.kind))?;
    let report = check(&history, &model, args.budget)
        .map_err(|e| format!("{}: {} (model {})", at(e.line), e.error, e.model))?;
    if let Some(p) = &args.report {
        let page =
            dsim::html::check_page(&path.to_string(), &history, &model, &report, args.budget);
        std::fs::write(p, page)
            .map_err(|e| format!("cannot write report file {}: {e}", p.display()))?;
    }
    if args.json {
        let out = JsonReport {
            history: path.to_string(),
            report: &report,
        };
        println!(
            "{}",
            serde_json::to_string(&out).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", human(&report, args.budget));
    }
    Ok(ExitCode::from(match report.verdict {
        Verdict::Linearizable => 0,
        Verdict::NotLinearizable => 1,
        Verdict::Unknown => 3,
    }))
}

/// The `--json` object: the history's path, then the report's fields.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    history: String,
    #[serde(flatten)]
    report: &'a Report,
}

/// The text report: verdict line, per-key counts, witness.
fn human(report: &Report, budget: u64) -> String {
    let verdict = match report.verdict {
        Verdict::Linearizable => "linearizable".to_string(),
        Verdict::NotLinearizable => match &report.key {
            Some(key) => format!("NOT linearizable (key {key:?})"),
            None => "NOT linearizable".to_string(),
        },
        Verdict::Unknown => format!("unknown: the step budget ({budget}) ran out"),
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
    if report.verdict == Verdict::Unknown {
        out.push_str("try a larger --budget\n");
    }
    if let Some(witness) = &report.witness {
        out.push('\n');
        out.push_str(&witness.render_text());
    }
    out
}
