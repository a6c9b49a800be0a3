//! Shrunk failures written as scenario files: which failing seeds to
//! shrink, shrinking them in parallel, and the file each one becomes.
//!
//! A written file runs only the failing check and `expect`s what the
//! failing run found, so `dsim run FILE` exits 0 while the failure
//! reproduces and 1 once it is gone (see docs/fuzzing.md).

use std::collections::BTreeMap;
use std::path::Path;

use protocols::Status;
use serde::Serialize;

use super::campaign::{self, SeedOutcome};
use super::file::scenario_text;
use super::shrink::{self, Size, Target};
use crate::report::expect_name;
use crate::scenario::{Expect, Scenario};

/// A failing seed chosen for shrinking.
#[derive(Clone, Debug)]
pub struct Pick {
    /// The seed.
    pub seed: u64,
    /// The check to keep failing, and how.
    pub target: Target,
    /// What the scenario expected of it.
    pub expected: Expect,
    /// The check's summary in the failing run.
    pub summary: String,
}

/// What became of one shrink.
#[derive(Clone, Debug, Serialize)]
pub struct Saved {
    /// The seed.
    pub seed: u64,
    /// The file written (or that would have been).
    pub file: String,
    /// The failing run's size.
    pub before: Option<Size>,
    /// The written scenario's size.
    pub after: Option<Size>,
    /// Runs the shrink spent.
    pub runs: u64,
    /// The HTML report of the written scenario's run, beside it.
    pub report: Option<String>,
    /// Why nothing was written.
    pub error: Option<String>,
    /// True when the error is a file-system error (then `dsim fuzz` exits 2).
    #[serde(skip)]
    pub io_error: bool,
}

impl Saved {
    /// A shrink of `seed` that wrote nothing, because of `error`.
    pub fn failed(seed: u64, error: String) -> Self {
        Saved {
            seed,
            file: String::new(),
            before: None,
            after: None,
            runs: 0,
            report: None,
            error: Some(error),
            io_error: false,
        }
    }
}

/// The first `per_group` seeds of each failure group whose failing check
/// found a violation it should not have (not a panic, not unknown, not an
/// expected violation that did not show).
pub fn picks(failed: &BTreeMap<u64, SeedOutcome>, per_group: u64) -> Vec<Pick> {
    let mut taken: BTreeMap<String, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for o in failed.values() {
        let Some(u) = o.unexpected.first().filter(|_| o.panic.is_none()) else {
            continue;
        };
        // Unknown has no verdict to keep; an expected violation that did
        // not show (a pass) has nothing to shrink: a smaller run passes too.
        if matches!(u.status, Status::Unknown | Status::Pass) {
            continue;
        }
        let n = taken.entry(o.group()).or_insert(0);
        if *n < per_group {
            *n += 1;
            out.push(Pick {
                seed: o.seed,
                target: Target {
                    check: u.check.clone(),
                    status: u.status,
                },
                expected: u.expected,
                summary: u.summary.clone(),
            });
        }
    }
    out
}

/// Shrinks every pick (in parallel, each one sequential and deterministic)
/// and writes the results into `dir`.
pub fn shrink_all(
    sc: &Scenario,
    picks: &[Pick],
    dir: &Path,
    jobs: usize,
    budget: u64,
) -> BTreeMap<u64, Saved> {
    let mut out = BTreeMap::new();
    campaign::parallel(
        picks.len() as u64,
        jobs,
        None,
        |i| save_one(sc, &picks[i as usize], dir, budget),
        |_, s| {
            out.insert(s.seed, s);
        },
    );
    out
}

/// A file name from a scenario name: letters, digits, `.`, `_`, `-`.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn save_one(sc: &Scenario, pick: &Pick, dir: &Path, budget: u64) -> Saved {
    let name = free_name(dir, &format!("{}-seed{}", file_stem(&sc.name), pick.seed));
    let file = dir.join(format!("{name}.json"));
    let mut saved = Saved {
        seed: pick.seed,
        file: file.display().to_string(),
        before: None,
        after: None,
        runs: 0,
        report: None,
        error: None,
        io_error: false,
    };
    let shrunk = super::at_seed(sc, pick.seed)
        .map_err(|e| e.to_string())
        .and_then(|expanded| shrink::shrink(&expanded, pick.seed, &pick.target, budget));
    let mut shrunk = match shrunk {
        Ok(s) => s,
        Err(e) => {
            saved.error = Some(e);
            return saved;
        }
    };
    saved.runs = shrunk.runs;
    saved.before = Some(shrunk.before);
    saved.after = Some(shrunk.after);
    shrunk.raw.name = Some(name.clone());
    shrunk.raw.description = describe(sc, pick, &shrunk);
    // The file as written must replay the failure; the compact form leaves
    // defaults out, so check it, and fall back to the full form.
    let compact = scenario_text(&shrunk.raw);
    let full = serde_json::to_string_pretty(&shrunk.raw).unwrap_or_default() + "\n";
    let Some(text) = [compact, full]
        .into_iter()
        .find(|t| replays(sc, t, &saved.file, pick))
    else {
        saved.error = Some("the shrunk scenario did not reproduce the failure".into());
        return saved;
    };
    if let Err(e) = write_atomically(&file, text.as_bytes()) {
        saved.error = Some(format!("cannot write {}: {e}", file.display()));
        saved.io_error = true;
        return saved;
    }
    let page = dir.join(format!("{name}.html"));
    match write_report(sc, &text, &saved.file, &page) {
        Ok(()) => saved.report = Some(page.display().to_string()),
        Err(e) => {
            saved.error = Some(e);
            saved.io_error = true;
        }
    }
    saved
}

/// `base`, or `base-2`, `base-3`, … : the first name whose `.json` and
/// `.html` are both absent from `dir`, so that a campaign never replaces a
/// file it did not write (each seed's files are written once per run).
fn free_name(dir: &Path, base: &str) -> String {
    let taken =
        |n: &str| dir.join(format!("{n}.json")).exists() || dir.join(format!("{n}.html")).exists();
    if !taken(base) {
        return base.to_string();
    }
    (2u64..)
        .map(|i| format!("{base}-{i}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| base.to_string())
}

/// Writes `bytes` to `file` under a temporary name beside it, then renames
/// it into place: a run killed mid-write leaves no partial file.
pub fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = file
        .file_name()
        .map_or_else(|| "dsim".into(), |n| n.to_string_lossy().into_owned());
    let tmp = file.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Fails now, before a campaign, if files cannot be written into `dir`.
pub fn check_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".dsim-write-check.{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// Runs the written scenario once more and writes its HTML report, so a
/// CI artefact opens straight into the picture of the failure.
fn write_report(of: &Scenario, text: &str, file: &str, page: &Path) -> Result<(), String> {
    let sc = of
        .proto
        .parse(text, file, "shrunk")
        .map_err(|e| e.to_string())?;
    let capture = crate::html::Capture::new();
    let rep = crate::runner::run(
        &sc,
        crate::runner::RunOptions {
            seed: sc.sim.seed,
            trace: None,
            observer: Some(capture.observer()),
            keep_history: true,
            trail_key: None,
            deadline: None,
        },
    );
    write_atomically(page, crate::html::run_page(&sc, &rep, capture).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", page.display()))
}

/// True when scenario text `text` (to be saved as `file`) fails as `pick` did.
fn replays(of: &Scenario, text: &str, file: &str, pick: &Pick) -> bool {
    let Ok(sc) = of.proto.parse(text, file, "shrunk") else {
        return false;
    };
    shrink::run_raw(&sc.proto, &sc.effective, file, sc.sim.seed, false)
        .is_some_and(|rep| shrink::reproduces(&rep, &pick.target))
}

fn size_text(s: &Size) -> String {
    format!(
        "{} faults, {} operations, {} events, {} nodes",
        s.faults, s.ops, s.events, s.nodes
    )
}

fn describe(sc: &Scenario, pick: &Pick, s: &shrink::Shrunk) -> String {
    let status = pick.target.status.name();
    let expected = expect_name(pick.expected);
    let found = if pick.expected == Expect::Violation && pick.target.status == Status::Violation {
        format!(
            "check {} reported a violation, as the scenario expects (dsim fuzz --hunt)",
            pick.target.check
        )
    } else {
        format!(
            "check {} reported {status} where the scenario expects {expected}",
            pick.target.check
        )
    };
    format!(
        "Found by dsim fuzz in {} at seed {}: {found}: {}. Shrunk in {} runs from {} to {}. \
         expect pins what the failing run found, so dsim run exits 0 while it reproduces \
         and 1 once it is gone.",
        sc.path,
        pick.seed,
        pick.summary.trim_end_matches('.'),
        s.runs,
        size_text(&s.before),
        size_text(&s.after),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_leaves_the_file_and_no_temporary() {
        let dir = std::env::temp_dir().join(format!("dsim-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("x.json");
        std::fs::write(&file, "old").unwrap();
        write_atomically(&file, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["x.json"]);
        // Into a directory that does not exist: an error, nothing left.
        assert!(write_atomically(&dir.join("no/such/x.json"), b"x").is_err());
        check_writable(&dir).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }
}
