//! A user's own Maelstrom node, compiled to WebAssembly for WASI preview 1
//! (Go's `GOOS=wasip1 GOARCH=wasm`, Rust's `wasm32-wasip1`, …), run as a
//! server of the Maelstrom world: stdin carries what the network delivers,
//! one JSON message per line; each line the guest writes on stdout is a
//! message into the network; stderr is its log. docs/wasm-nodes.md is the
//! host's contract.
//!
//! The guest runs on the wasmi interpreter (or, built with the `wasmtime`
//! feature, on wasmtime's JIT: [`engine`]), one store per node, resumed by
//! the one event loop: a guest is idle exactly when its `poll_oneoff` (or a
//! blocking `fd_read`) finds nothing ready; it wakes at its earliest clock
//! deadline (a timer) or when a message arrives. Everything it can observe
//! comes from the simulation ([`wasi`]), so a seed replays it exactly.

mod bridge;
pub mod engine;
mod engine_wasmi;
#[cfg(feature = "wasmtime")]
mod engine_wasmtime;
mod guest;
pub mod wasi;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

pub use bridge::JsonBody;
pub use engine::EngineKind;
pub use guest::Guest;

/// A compiled module, shared by every node that runs it (and every run of
/// this process that loads the same bytes with the same engine).
pub struct Program {
    /// The file it was read from, for messages.
    pub path: String,
    compiled: engine::Compiled,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("path", &self.path)
            .field("engine", &self.engine())
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

/// Modules compiled by this process, by canonical path and engine: (hash
/// of the bytes, the program). A fuzz campaign re-validates its scenario
/// many times; the module is compiled once.
type Cache = Mutex<BTreeMap<(PathBuf, EngineKind), (u64, Arc<Program>)>>;

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
    /// Reads, validates and compiles the module at `path` with the engine
    /// `DSIM_WASM_ENGINE` names (by default wasmtime when this dsim is
    /// built with it, else wasmi); see [`Program::load_with`].
    pub fn load(path: &Path) -> Result<Arc<Program>, String> {
        Program::load_with(path, EngineKind::from_env()?)
    }

    /// Reads, validates and compiles the module at `path` with `kind` (or
    /// takes it from this process's cache when the bytes are the same).
    /// The error says what is wrong: an unreadable file, an invalid module,
    /// an import the host does not provide (by name), no `_start` or memory
    /// export, an engine this build lacks.
    pub fn load_with(path: &Path, kind: EngineKind) -> Result<Arc<Program>, String> {
        if !kind.built() {
            return Err(format!(
                "the {} engine is not built into this dsim (cargo build --release --features wasmtime)",
                kind.name()
            ));
        }
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let key = (
            std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            kind,
        );
        let hash = fnv(&bytes);
        let mut cache = cache().lock().unwrap_or_else(|e| e.into_inner());
        if let Some((h, p)) = cache.get(&key) {
            if *h == hash {
                return Ok(p.clone());
            }
        }
        let program = Arc::new(Program::compile(&shown, &bytes, kind)?);
        cache.insert(key, (hash, program.clone()));
        Ok(program)
    }

    /// Compiles `bytes` (read from `path`) with `kind`.
    pub fn compile(path: &str, bytes: &[u8], kind: EngineKind) -> Result<Program, String> {
        if !bytes.starts_with(b"\0asm") {
            return Err(format!(
                "{path} is not a WebAssembly module (build it with GOOS=wasip1 GOARCH=wasm, or for the wasm32-wasip1 target)"
            ));
        }
        let compiled = engine::Compiled::new(kind, bytes)
            .map_err(|e| format!("{path} is not a valid WebAssembly module: {e}"))?;
        let facts = compiled.facts();
        for (module, name, func) in &facts.imports {
            let known = module == wasi::MODULE && wasi::provided(name).is_some() && *func;
            if !known {
                return Err(format!(
                    "{path} imports {module}.{name}, which dsim's host does not provide; a node may import only these functions of {}: {}",
                    wasi::MODULE,
                    wasi::provided_names()
                ));
            }
        }
        if !facts.start {
            return Err(format!(
                "{path} exports no _start function: build a command (a program with main), not a library"
            ));
        }
        if !facts.memory {
            return Err(format!("{path} exports no memory"));
        }
        Ok(Program {
            path: path.to_string(),
            compiled,
        })
    }

    /// The engine that compiled it.
    pub fn engine(&self) -> EngineKind {
        self.compiled.kind()
    }

    /// Instantiates the module once, with the default limits, and drops
    /// the instance (what `benches/wasm_broadcast.rs` times).
    #[doc(hidden)]
    pub fn instantiate_once(&self) -> Result<(), String> {
        let limits = Limits::default();
        let host = wasi::HostState::new(&limits, sim::Rng::derive(0, "wasm"), vec!["node".into()]);
        engine::Instance::new(
            &self.compiled,
            Arc::new(Mutex::new(host)),
            wasi::MemCap::mib(limits.memory_mib),
            limits.max_instructions,
        )
        .map(drop)
        .map_err(|(e, _)| e)
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
