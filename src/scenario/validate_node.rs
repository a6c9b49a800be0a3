//! The `node` block: a user's WebAssembly program as every replica.

use std::path::{Path, PathBuf};

use protocols::maelstrom::wasm::{Foreign, Limits, Program};
use protocols::Protocol;

use super::{p, RawScenario, Src, R};

/// Loads and checks `raw.node` for protocol `Pr`; rewrites its path as
/// the absolute path of the module, so the effective scenario (a fuzz
/// campaign's saved file, `--print-scenario`) runs from any directory.
pub(super) fn foreign<Pr: Protocol>(
    raw: &mut RawScenario,
    params: &Pr::Params,
    src: &Src,
) -> R<Option<Foreign>> {
    let Some(node) = &mut raw.node else {
        return Ok(None);
    };
    let defaults = Limits::default();
    let limits = Limits {
        ns_per_instruction: node.ns_per_instruction,
        max_instructions: node.max_instructions.unwrap_or(defaults.max_instructions),
        memory_mib: node.memory_mib.unwrap_or(defaults.memory_mib),
    };
    limits.validate().map_err(|m| src.err(&p(&["node"]), m))?;
    let path = resolve(src.file, &node.wasm);
    let program = Program::load(&path).map_err(|m| src.err(&p(&["node", "wasm"]), m))?;
    node.wasm = std::fs::canonicalize(&path)
        .unwrap_or(path)
        .display()
        .to_string();
    let foreign = Foreign { program, limits };
    // Each replica is built when a run starts; build one now so that a
    // protocol that cannot host a program is refused here.
    Pr::foreign(0, raw.nodes as usize, params, &foreign).map_err(|m| src.err(&p(&["node"]), m))?;
    Ok(Some(foreign))
}

/// `wasm` relative to the directory of the scenario file `file` (the
/// current directory for a scenario built in code).
fn resolve(file: &str, wasm: &str) -> PathBuf {
    let w = Path::new(wasm);
    if w.is_absolute() {
        return w.to_path_buf();
    }
    let f = Path::new(file);
    match f.parent() {
        Some(dir) if f.is_file() => dir.join(w),
        _ => w.to_path_buf(),
    }
}
