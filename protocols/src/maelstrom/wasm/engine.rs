//! The engine that runs a node's module, behind one small enum: wasmi (an
//! interpreter, always built) or wasmtime (a JIT, with the `wasmtime`
//! cargo feature). The WASI host itself ([`super::wasi`]) is written once;
//! an engine only compiles, instantiates, and runs the guest until it
//! blocks, adapting its host-function calls to [`super::wasi::call`].
//!
//! The choice must not change a run: both engines give the same trace and
//! fingerprint (tests/wasm.rs compares them). They differ only in how they
//! count fuel (docs/wasm-nodes.md, "Engine and speed").

use std::sync::{Arc, Mutex, MutexGuard};

use super::engine_wasmi;
#[cfg(feature = "wasmtime")]
use super::engine_wasmtime;
use super::wasi::{HostState, MemCap};

/// Which engine runs WebAssembly nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EngineKind {
    /// The wasmi interpreter.
    Wasmi,
    /// wasmtime's cranelift JIT (the `wasmtime` feature).
    Wasmtime,
}

/// The environment variable that picks the engine (`wasmi` or
/// `wasmtime`).
pub const ENGINE_VAR: &str = "DSIM_WASM_ENGINE";

impl EngineKind {
    /// Its name, as `DSIM_WASM_ENGINE` spells it.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Wasmi => "wasmi",
            EngineKind::Wasmtime => "wasmtime",
        }
    }

    /// Whether this build has it.
    pub fn built(self) -> bool {
        match self {
            EngineKind::Wasmi => true,
            EngineKind::Wasmtime => cfg!(feature = "wasmtime"),
        }
    }

    /// The engine this build runs by default: wasmtime when built with it.
    pub fn default_engine() -> EngineKind {
        if EngineKind::Wasmtime.built() {
            EngineKind::Wasmtime
        } else {
            EngineKind::Wasmi
        }
    }

    /// The engine `DSIM_WASM_ENGINE` names, else the default. The error
    /// says what is allowed.
    pub fn from_env() -> Result<EngineKind, String> {
        match std::env::var(ENGINE_VAR) {
            Err(_) => Ok(EngineKind::default_engine()),
            Ok(v) => EngineKind::parse(&v),
        }
    }

    /// `wasmi` or `wasmtime` (when built).
    pub fn parse(v: &str) -> Result<EngineKind, String> {
        let kind = match v {
            "wasmi" => EngineKind::Wasmi,
            "wasmtime" => EngineKind::Wasmtime,
            _ => {
                return Err(format!(
                    "{ENGINE_VAR}={v:?}: the engines are \"wasmi\" and \"wasmtime\""
                ))
            }
        };
        if !kind.built() {
            return Err(format!(
                "{ENGINE_VAR}=wasmtime: this dsim was built without it (cargo build --release --features wasmtime)"
            ));
        }
        Ok(kind)
    }
}

/// What the host checks of a module before it runs it.
pub struct Facts {
    /// (module, name, whether it is a function) of each import.
    pub imports: Vec<(String, String, bool)>,
    /// Whether `_start` is an exported function.
    pub start: bool,
    /// Whether `memory` is an exported memory.
    pub memory: bool,
}

/// A module compiled by one engine.
pub enum Compiled {
    /// By wasmi.
    Wasmi(engine_wasmi::Compiled),
    /// By wasmtime.
    #[cfg(feature = "wasmtime")]
    Wasmtime(engine_wasmtime::Compiled),
}

impl Compiled {
    /// Compiles `bytes` with `kind`; the error is the engine's.
    pub fn new(kind: EngineKind, bytes: &[u8]) -> Result<Compiled, String> {
        match kind {
            #[cfg(feature = "wasmtime")]
            EngineKind::Wasmtime => engine_wasmtime::compile(bytes).map(Compiled::Wasmtime),
            _ => engine_wasmi::compile(bytes).map(Compiled::Wasmi),
        }
    }

    /// The engine.
    pub fn kind(&self) -> EngineKind {
        match self {
            Compiled::Wasmi(_) => EngineKind::Wasmi,
            #[cfg(feature = "wasmtime")]
            Compiled::Wasmtime(_) => EngineKind::Wasmtime,
        }
    }

    /// The imports and exports the host checks.
    pub fn facts(&self) -> Facts {
        match self {
            Compiled::Wasmi(c) => c.facts(),
            #[cfg(feature = "wasmtime")]
            Compiled::Wasmtime(c) => c.facts(),
        }
    }
}

/// How an activation ended.
#[derive(Debug)]
pub enum End {
    /// The guest blocked in a WASI call: waiting.
    Blocked,
    /// `_start` returned without `proc_exit`.
    Returned,
    /// `proc_exit(code)`.
    Exited(i32),
    /// A trap, in the words both engines use ("out of bounds memory
    /// access").
    Trapped(String),
    /// The activation used up its instruction cap.
    OutOfFuel,
}

/// One activation's result.
#[derive(Debug)]
pub struct Activation {
    /// How it ended.
    pub end: End,
    /// The fuel it used.
    pub used: u64,
    /// The memory size the cap refused, if it did.
    pub denied: Option<usize>,
}

/// A running instance of one engine.
pub enum Instance {
    /// On wasmi.
    Wasmi(Box<engine_wasmi::Instance>),
    /// On wasmtime.
    #[cfg(feature = "wasmtime")]
    Wasmtime(Box<engine_wasmtime::Instance>),
}

impl Instance {
    /// Instantiates `c`, its WASI state `host` (shared with the node), its
    /// memory cap, and `fuel` for the start section. The error and the
    /// memory size the cap refused, if it did.
    pub fn new(
        c: &Compiled,
        host: Arc<Mutex<HostState>>,
        cap: MemCap,
        fuel: u64,
    ) -> Result<Instance, (String, Option<usize>)> {
        match c {
            Compiled::Wasmi(c) => engine_wasmi::Instance::new(c, host, cap, fuel)
                .map(|i| Instance::Wasmi(Box::new(i))),
            #[cfg(feature = "wasmtime")]
            Compiled::Wasmtime(c) => engine_wasmtime::Instance::new(c, host, cap, fuel)
                .map(|i| Instance::Wasmtime(Box::new(i))),
        }
    }

    /// Starts `_start`, or resumes the call the guest blocked in (the host
    /// state's [`HostState::complete_wait`] answers it), with `cap` fuel;
    /// runs until the guest blocks again or ends.
    pub fn run(&mut self, cap: u64) -> Activation {
        match self {
            Instance::Wasmi(i) => i.run(cap),
            #[cfg(feature = "wasmtime")]
            Instance::Wasmtime(i) => i.run(cap),
        }
    }
}

/// The host state, locked (a poisoned lock is still the state: the host
/// never panics while holding it).
pub fn lock(host: &Mutex<HostState>) -> MutexGuard<'_, HostState> {
    host.lock().unwrap_or_else(|e| e.into_inner())
}

/// Up to four argument values (each import has at most four).
pub fn args_of(vals: impl Iterator<Item = u64>) -> [u64; 4] {
    let mut args = [0u64; 4];
    for (a, v) in args.iter_mut().zip(vals) {
        *a = v;
    }
    args
}
