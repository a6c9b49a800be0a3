//! Scenario files: parsed once into a raw struct that rejects unknown
//! fields, filled with defaults, and validated into the engine's typed
//! configuration. Every error names the file, line, column and field.

mod locate;
pub mod raw;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub use raw::{Expect, NodeRef, RawScenario};
pub use validate::allowed_checks;

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
    /// Services that run, with their knobs, in id order after the replicas.
    pub services: Vec<(String, serde_json::Value)>,
    /// Which client runs the workload.
    pub client: protocols::ClientMode,
    /// The scenario with every default filled in.
    pub effective: RawScenario,
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
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Reads and validates the scenario at `path`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: 0,
        col: 0,
        field: String::new(),
        message: format!("cannot read scenario file: {e}"),
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into());
    parse(&src, &file, &stem)
}

/// Validates scenario text; `file` labels errors and `stem` is the default name.
pub fn parse(src: &str, file: &str, stem: &str) -> Result<Scenario, ScenarioError> {
    let raw = parse_raw(src, file)?;
    validate::validate(raw, src, file, stem)
}

fn parse_raw(src: &str, file: &str) -> Result<RawScenario, ScenarioError> {
    let mut de = serde_json::Deserializer::from_str(src);
    let raw: RawScenario = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let mut field = e.path().to_string();
        let inner = e.into_inner();
        if field == "?" || field == "." {
            field.clear();
        } else if !inner.is_syntax() && !inner.is_eof() {
            // Inside tagged enums serde loses the last step of the path;
            // recover it from where the error was found.
            let path = locate::parse_path(&field);
            if let Some(member) = locate::member_at(src, &path, inner.line(), inner.column()) {
                if !field.ends_with(&format!(".{member}")) {
                    field = format!("{field}.{member}");
                }
            }
        }
        serde_error(file, &field, &inner)
    })?;
    de.end().map_err(|e| serde_error(file, "", &e))?;
    Ok(raw)
}

/// Turns a serde_json error into a located message with friendlier wording.
pub(crate) fn serde_error(file: &str, field: &str, e: &serde_json::Error) -> ScenarioError {
    let text = e.to_string();
    let text = match text.rsplit_once(" at line ") {
        Some((head, _)) => head.to_string(),
        None => text,
    };
    let message = text
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
