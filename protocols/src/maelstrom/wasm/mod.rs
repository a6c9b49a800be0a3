//! A user's own Maelstrom node, compiled to WebAssembly for WASI preview 1
//! (Go's `GOOS=wasip1 GOARCH=wasm`, Rust's `wasm32-wasip1`, …), run as a
//! server of the Maelstrom world: stdin carries what the network delivers,
//! one JSON message per line; each line the guest writes on stdout is a
//! message into the network; stderr is its log. docs/wasm-nodes.md is the
//! host's contract.
//!
//! The guest runs on the wasmi interpreter, one store per node, resumed by
//! the one event loop: a guest is idle exactly when its `poll_oneoff` (or a
//! blocking `fd_read`) finds nothing ready; it wakes at its earliest clock
//! deadline (a timer) or when a message arrives. Everything it can observe
//! comes from the simulation ([`wasi`]), so a seed replays it exactly.

mod bridge;
mod guest;
pub mod wasi;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

pub use bridge::JsonBody;
pub use guest::Guest;

/// A compiled module, shared by every node that runs it (and every run of
/// this process that loads the same bytes).
pub struct Program {
    /// The file it was read from, for messages.
    pub path: String,
    engine: wasmi::Engine,
    module: wasmi::Module,
    linker: wasmi::Linker<wasi::HostState>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The limits and costs a scenario sets for its foreign nodes (the
/// `"node"` block beside `"wasm"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Simulated CPU time charged per executed instruction (fuel unit), in
    /// ns; 0 (the default): a handler takes no simulated time.
    pub ns_per_instruction: u64,
    /// The most instructions one activation (from a wake-up to the next
    /// block) may run before the node is halted as stuck (default 10^9).
    pub max_instructions: u64,
    /// The most linear memory a node may grow to, in MiB (default 256).
    pub memory_mib: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ns_per_instruction: 0,
            max_instructions: 1_000_000_000,
            memory_mib: 256,
        }
    }
}

impl Limits {
    /// Checks the values; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_instructions == 0 {
            return Err("max_instructions must be at least 1".into());
        }
        if self.memory_mib == 0 || self.memory_mib > 4096 {
            return Err(format!(
                "memory_mib must be from 1 to 4096 (a 32-bit module addresses at most 4 GiB), got {}",
                self.memory_mib
            ));
        }
        Ok(())
    }
}

/// A foreign node: the compiled program and the scenario's limits.
#[derive(Clone, Debug)]
pub struct Foreign {
    /// The program every replica runs.
    pub program: Arc<Program>,
    /// Its limits.
    pub limits: Limits,
}

/// Modules compiled by this process, by canonical path: (hash of the
/// bytes, the program). A fuzz campaign re-validates its scenario many
/// times; the module is compiled once.
type Cache = Mutex<BTreeMap<PathBuf, (u64, Arc<Program>)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// FNV-1a over `bytes`: a stable key for the cache.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Program {
    /// Reads, validates and compiles the module at `path` (or takes it from
    /// this process's cache when the bytes are the same). The error says
    /// what is wrong: an unreadable file, an invalid module, an import the
    /// host does not provide (by name), no `_start` or memory export.
    pub fn load(path: &Path) -> Result<Arc<Program>, String> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let hash = fnv(&bytes);
        let mut cache = cache().lock().unwrap_or_else(|e| e.into_inner());
        if let Some((h, p)) = cache.get(&key) {
            if *h == hash {
                return Ok(p.clone());
            }
        }
        let program = Arc::new(Program::compile(&shown, &bytes)?);
        cache.insert(key, (hash, program.clone()));
        Ok(program)
    }

    /// Compiles `bytes` (read from `path`).
    pub fn compile(path: &str, bytes: &[u8]) -> Result<Program, String> {
        if !bytes.starts_with(b"\0asm") {
            return Err(format!(
                "{path} is not a WebAssembly module (build it with GOOS=wasip1 GOARCH=wasm, or for the wasm32-wasip1 target)"
            ));
        }
        let mut config = wasmi::Config::default();
        config.consume_fuel(true);
        // Functions are translated lazily, once per engine, by whichever
        // node calls them first: charging that to the caller would make a
        // node's instruction count depend on which run or thread came
        // first. Translation is free; bulk memory costs 1 per 64 bytes.
        config.fuel_cost(wasmi::CustomFuelCosts {
            bytes_copied_per_fuel: 64,
            fuel_per_bytes_translated: 0,
            fuel_per_bytes_validated: 0,
        });
        let engine = wasmi::Engine::new(&config);
        let module = wasmi::Module::new(&engine, bytes)
            .map_err(|e| format!("{path} is not a valid WebAssembly module: {e}"))?;
        for import in module.imports() {
            let known = import.module() == wasi::MODULE
                && wasi::PROVIDED.contains(&import.name())
                && matches!(import.ty(), wasmi::ExternType::Func(_));
            if !known {
                return Err(format!(
                    "{path} imports {}.{}, which dsim's host does not provide; a node may import only these functions of {}: {}",
                    import.module(),
                    import.name(),
                    wasi::MODULE,
                    wasi::PROVIDED.join(", ")
                ));
            }
        }
        match module.get_export("_start") {
            Some(wasmi::ExternType::Func(_)) => {}
            _ => {
                return Err(format!(
                    "{path} exports no _start function: build a command (a program with main), not a library"
                ))
            }
        }
        if !matches!(
            module.get_export("memory"),
            Some(wasmi::ExternType::Memory(_))
        ) {
            return Err(format!("{path} exports no memory"));
        }
        let linker = wasi::linker(&engine).map_err(|e| format!("the WASI host: {e}"))?;
        Ok(Program {
            path: path.to_string(),
            engine,
            module,
            linker,
        })
    }
}

/// Notes on the run's WebAssembly nodes: lines the host could not use,
/// and the stderr tail of each node that halted.
pub fn notes<W: crate::maelstrom::Workload>(
    run: &sim::Sim<crate::maelstrom::Server<W>>,
) -> Vec<String> {
    let mut notes = Vec::new();
    let (mut instructions, mut activations, mut guests) = (0, 0, 0);
    for (i, p) in run.nodes().iter().enumerate() {
        if let crate::maelstrom::Server::Wasm(g) = p {
            let halted = run.status(i) == sim::Status::Halted;
            notes.extend(g.notes(&run.layout().name(i), halted));
            let (n, a) = g.usage();
            instructions += n;
            activations += a;
            guests += 1;
        }
    }
    if guests > 0 {
        notes.push(format!(
            "{guests} WebAssembly node(s) ran {instructions} instructions in {activations} activations"
        ));
    }
    notes
}
