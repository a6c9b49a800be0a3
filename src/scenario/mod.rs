//! Scenario files: parsed once into a raw struct that rejects unknown
//! fields, filled with defaults, and validated into the engine's typed
//! configuration. Every error names the file, line, column and field.

mod build;
mod locate;
pub mod overrides;
pub mod raw;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub use build::Builder;
pub use raw::{Expect, NodeRef, RawScenario};
pub use validate::allowed_checks;
pub(crate) use validate::validate_as;

/// The longest duration or latest time a scenario may name, in
/// milliseconds (about 31.7 years). Every millisecond field is checked
/// against it, so microsecond times and their sums never overflow.
pub const MAX_MS: u64 = 1_000_000_000_000;

/// The largest scenario file read.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// The most clients a workload may have.
pub const MAX_CLIENTS: u64 = 100_000;

/// The most generated operations a workload may ask for (`workload.ops`):
/// a run keeps every operation's history, some 600 bytes each.
pub const MAX_OPS: u64 = 10_000_000;

/// A validated scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The path it was loaded from, as the user wrote it.
    pub path: String,
    /// Its name.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// Protocol name.
    pub protocol: &'static str,
    /// The protocol's entry points (from the registry it was loaded with).
    pub proto: crate::ProtocolEntry,
    /// Variant name.
    pub variant: String,
    /// Protocol parameters (validated against the protocol's type).
    pub params: serde_json::Value,
    /// The engine configuration; `seed` is the scenario's own.
    pub sim: sim::SimConfig,
    /// Checks to run, in order.
    pub checks: Vec<String>,
    /// What each check is expected to find (unlisted: pass).
    pub expect: BTreeMap<String, Expect>,
    /// Settings of the generic checks.
    pub check_params: protocols::CheckParams,
    /// When the file named no variant: which one runs and what it is.
    pub variant_note: Option<String>,
    /// Services that run, with their knobs, in id order after the replicas.
    pub services: Vec<(String, serde_json::Value)>,
    /// Which client runs the workload.
    pub client: protocols::ClientMode,
    /// The user's program the replicas run instead of the protocol's code.
    pub foreign: Option<protocols::maelstrom::wasm::Foreign>,
    /// The scenario with every default filled in.
    pub effective: RawScenario,
    /// The `--set KEY=VALUE` overrides applied to the file, as written (the
    /// replay line repeats them).
    pub overrides: Vec<String>,
}

impl Scenario {
    /// What check `name` is expected to report.
    pub fn expectation(&self, name: &str) -> Expect {
        self.expect.get(name).copied().unwrap_or(Expect::Pass)
    }
}

/// A problem with a scenario file, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// 1-based line (0 when the file could not be read).
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// The field, as `faults[2].node` (empty for the whole file).
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: ", self.file)?;
            if !self.field.is_empty() && !self.message.starts_with(&self.field) {
                write!(f, "{}: ", self.field)?;
            }
            return f.write_str(&self.message);
        }
        write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Reads and validates the scenario at `path`, which names one of the
/// bundled protocols (see [`crate::Registry::load`] for others).
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_in(&crate::Registry::bundled(), path)
}

/// Reads and validates the scenario at `path`, which names a protocol of
/// `registry`.
pub(crate) fn load_in(registry: &crate::Registry, path: &Path) -> Result<Scenario, ScenarioError> {
    load_in_with(registry, path, &[])
}

/// As [`load_in`], with `--set` overrides applied to the file's JSON before
/// it is validated.
pub(crate) fn load_in_with(
    registry: &crate::Registry,
    path: &Path,
    sets: &[overrides::Override],
) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let fail = |message: String| ScenarioError {
        file: file.clone(),
        line: 0,
        col: 0,
        field: String::new(),
        message,
    };
    // Read at most one byte past the limit: `dsim run /dev/zero` must end.
    let mut src = String::new();
    std::fs::File::open(path)
        .and_then(|f| {
            use std::io::Read;
            f.take(MAX_FILE_BYTES + 1).read_to_string(&mut src)
        })
        .map_err(|e| fail(format!("cannot read scenario file: {e}")))?;
    if src.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!(
            "a scenario file is at most {} MiB; this one is larger",
            MAX_FILE_BYTES >> 20
        )));
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into());
    if sets.is_empty() {
        return parse_in(registry, &src, &file, &stem);
    }
    // A file that is not JSON gets its own error first, with its line.
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(&src) else {
        return parse_in(registry, &src, &file, &stem);
    };
    overrides::apply(&mut doc, sets).map_err(fail)?;
    let changed = serde_json::to_string_pretty(&doc).expect("a JSON value serializes");
    let label = format!("{file} (as changed by --set)");
    // The changed text is nowhere on disk: its line numbers would mislead,
    // so errors name the file and the field only.
    let mut sc = parse_in(registry, &changed, &label, &stem).map_err(|mut e| {
        e.line = 0;
        e.col = 0;
        e
    })?;
    sc.path = file;
    sc.overrides = sets.iter().map(|s| s.text.clone()).collect();
    Ok(sc)
}

/// Validates scenario text naming a bundled protocol; `file` labels errors
/// and `stem` is the default name.
pub fn parse(src: &str, file: &str, stem: &str) -> Result<Scenario, ScenarioError> {
    parse_in(&crate::Registry::bundled(), src, file, stem)
}

/// As [`parse`], for a protocol of `registry`.
pub(crate) fn parse_in(
    registry: &crate::Registry,
    src: &str,
    file: &str,
    stem: &str,
) -> Result<Scenario, ScenarioError> {
    let raw = parse_raw(src, file)?;
    validate::validate(registry, raw, src, file, stem)
}

fn parse_raw(src: &str, file: &str) -> Result<RawScenario, ScenarioError> {
    // A document that is valid JSON but not an object gets one plain message.
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(src) {
        if !v.is_object() {
            return Err(ScenarioError {
                file: file.to_string(),
                line: 1,
                col: 1,
                field: String::new(),
                message: "a scenario file is one JSON object ({\"protocol\": …, \"nodes\": …})"
                    .into(),
            });
        }
    }
    let mut de = serde_json::Deserializer::from_str(src);
    let raw: RawScenario = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let mut field = e.path().to_string();
        let inner = e.into_inner();
        if field == "?" || field == "." {
            field.clear();
        } else if !inner.is_syntax() && !inner.is_eof() {
            field = tagged_field(src, &field, &inner);
        }
        serde_error(file, &field, &inner)
    })?;
    de.end().map_err(|e| serde_error(file, "", &e))?;
    Ok(raw)
}

/// The field an error names. Inside tagged enums (faults, latencies, rates)
/// serde loses the last step of the path and reports the position of the
/// object's end, so the member is found another way: a missing field names
/// the object itself; a value of the wrong type names the member whose
/// value serde describes; otherwise the member at the error's position.
fn tagged_field(src: &str, field: &str, e: &serde_json::Error) -> String {
    let path = locate::parse_path(field);
    let text = e.to_string();
    if text.starts_with("missing field") {
        // serde already put the last member on the path: take it off if it
        // is not an object of its own.
        return locate::object_path(src, &path).unwrap_or_else(|| field.to_string());
    }
    let member = text
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split(", expected").next())
        .and_then(|desc| locate::member_described(src, &path, desc))
        .or_else(|| locate::member_at(src, &path, e.line(), e.column()));
    match member {
        Some(m) if !field.ends_with(&format!(".{m}")) => {
            // The path may already end in a member of the same object.
            let parent = locate::object_path(src, &path).unwrap_or_else(|| field.to_string());
            if parent.is_empty() {
                m
            } else {
                format!("{parent}.{m}")
            }
        }
        _ => field.to_string(),
    }
}

/// Turns a serde_json error into a located message with friendlier wording.
pub(crate) fn serde_error(file: &str, field: &str, e: &serde_json::Error) -> ScenarioError {
    let text = e.to_string();
    let text = match text.rsplit_once(" at line ") {
        Some((head, _)) => head.to_string(),
        None => text,
    };
    let message = text
        .replace(
            "internally tagged enum RawLatency",
            "a latency such as {\"dist\": \"uniform\", \"min_ms\": 1, \"max_ms\": 10}",
        )
        .replace(
            "internally tagged enum RawFault",
            "a fault such as {\"kind\": \"crash\", \"at_ms\": 100, \"node\": 1}",
        )
        .replace(
            "internally tagged enum RawRate",
            "a rate such as {\"kind\": \"closed\", \"think_ms\": 10}",
        )
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected u32", "expected a non-negative integer")
        .replace("expected i64", "expected an integer");
    let message = if e.is_syntax() || e.is_eof() {
        format!("malformed JSON: {message}")
    } else {
        message
    };
    ScenarioError {
        file: file.to_string(),
        line: e.line(),
        col: e.column(),
        field: if field == "." {
            String::new()
        } else {
            field.to_string()
        },
        message,
    }
}
