//! The wasmi interpreter as an engine: every host function goes through
//! [`wasi::call`]; a call that blocks returns the [`Suspend`] host error,
//! and wasmi hands the guest back as a resumable call, resumed with the
//! call's errno when the node wakes.

use std::fmt;
use std::sync::{Arc, Mutex};

use wasmi::errors::HostError;
use wasmi::{
    Caller, Error, ExternType, FuncType, Linker, Memory, Module, ResumableCall,
    ResumableCallHostTrap, Store, Val, ValType,
};
use wasmi_core::LimiterError;

use super::engine::{args_of, lock, Activation, End, Facts};
use super::wasi::{self, HostState, MemCap, Outcome, Ty};

/// A module compiled (validated; wasmi translates functions lazily).
pub struct Compiled {
    engine: wasmi::Engine,
    module: Module,
    linker: Linker<Data>,
}

/// What a store holds: the host state (shared with the node), the guest's
/// memory once instantiated, and the memory cap.
pub struct Data {
    host: Arc<Mutex<HostState>>,
    memory: Option<Memory>,
    cap: MemCap,
}

/// The host error a blocking call returns to suspend the guest.
#[derive(Debug)]
struct Suspend;

impl fmt::Display for Suspend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the guest blocked")
    }
}

impl HostError for Suspend {}

impl wasmi::ResourceLimiter for MemCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        Ok(self.memory(desired))
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        Ok(self.table(desired))
    }
    fn instances(&self) -> usize {
        1
    }
    fn tables(&self) -> usize {
        16
    }
    fn memories(&self) -> usize {
        1
    }
}

/// Validates `bytes` and makes the linker.
pub fn compile(bytes: &[u8]) -> Result<Compiled, String> {
    let mut config = wasmi::Config::default();
    config.consume_fuel(true);
    // Functions are translated lazily, once per engine, by whichever node
    // calls them first: charging that to the caller would make a node's
    // instruction count depend on which run or thread came first.
    // Translation is free; bulk memory costs 1 per 64 bytes.
    config.fuel_cost(wasmi::CustomFuelCosts {
        bytes_copied_per_fuel: 64,
        fuel_per_bytes_translated: 0,
        fuel_per_bytes_validated: 0,
    });
    let engine = wasmi::Engine::new(&config);
    let module = Module::new(&engine, bytes).map_err(|e| e.to_string())?;
    let linker = linker(&engine).map_err(|e| format!("the WASI host: {e}"))?;
    Ok(Compiled {
        engine,
        module,
        linker,
    })
}

impl Compiled {
    /// The module's imports and exports the host checks.
    pub fn facts(&self) -> Facts {
        Facts {
            imports: self
                .module
                .imports()
                .map(|i| {
                    let func = matches!(i.ty(), ExternType::Func(_));
                    (i.module().to_string(), i.name().to_string(), func)
                })
                .collect(),
            start: matches!(self.module.get_export("_start"), Some(ExternType::Func(_))),
            memory: matches!(
                self.module.get_export("memory"),
                Some(ExternType::Memory(_))
            ),
        }
    }
}

fn val_type(t: Ty) -> ValType {
    match t {
        Ty::I32 => ValType::I32,
        Ty::I64 => ValType::I64,
    }
}

/// A linker that defines every import of [`wasi::IMPORTS`] by
/// [`wasi::call`].
fn linker(engine: &wasmi::Engine) -> Result<Linker<Data>, Error> {
    let mut l = Linker::<Data>::new(engine);
    for import in wasi::IMPORTS {
        let results = if import.returns {
            vec![ValType::I32]
        } else {
            vec![]
        };
        let ty = FuncType::new(import.params.iter().map(|&t| val_type(t)), results);
        let func = import.func;
        l.func_new(
            wasi::MODULE,
            import.name,
            ty,
            move |mut c: Caller<'_, Data>, params: &[Val], results: &mut [Val]| {
                let args = args_of(params.iter().map(|v| match v {
                    Val::I32(x) => *x as u32 as u64,
                    Val::I64(x) => *x as u64,
                    _ => 0,
                }));
                let fuel = c.get_fuel().unwrap_or(0);
                let outcome = match c.data().memory {
                    Some(m) => {
                        let (mem, data) = m.data_and_store_mut(&mut c);
                        wasi::call(func, &args, mem, &mut lock(&data.host), fuel)
                    }
                    None => wasi::call(func, &args, &mut [], &mut lock(&c.data().host), fuel),
                };
                match outcome {
                    Outcome::Errno(e) => {
                        if let Some(r) = results.first_mut() {
                            *r = Val::I32(e);
                        }
                        Ok(())
                    }
                    Outcome::Block => Err(Error::host(Suspend)),
                    Outcome::Exit(code) => Err(Error::i32_exit(code)),
                }
            },
        )?;
    }
    Ok(l)
}

/// A running instance.
pub struct Instance {
    store: Store<Data>,
    /// `_start`, until the first activation calls it.
    start: Option<wasmi::Func>,
    /// The suspended call.
    call: Option<ResumableCallHostTrap>,
}

impl Instance {
    /// Instantiates `c` with this host state and memory cap; the error and
    /// the memory size the cap refused, if it did.
    pub fn new(
        c: &Compiled,
        host: Arc<Mutex<HostState>>,
        cap: MemCap,
        fuel: u64,
    ) -> Result<Instance, (String, Option<usize>)> {
        let data = Data {
            host,
            memory: None,
            cap,
        };
        let mut store = Store::new(&c.engine, data);
        store.limiter(|d| &mut d.cap);
        store.set_fuel(fuel).map_err(|e| (e.to_string(), None))?;
        let instance = c
            .linker
            .instantiate_and_start(&mut store, &c.module)
            .map_err(|e| (e.to_string(), store.data().cap.denied))?;
        let memory = instance.get_memory(&store, "memory");
        store.data_mut().memory = memory;
        let start = instance.get_func(&store, "_start");
        Ok(Instance {
            store,
            start,
            call: None,
        })
    }

    /// Starts or resumes the guest with `cap` fuel and runs it until it
    /// blocks or ends.
    pub fn run(&mut self, cap: u64) -> Activation {
        if let Err(e) = self.store.set_fuel(cap) {
            return self.activation(End::Trapped(e.to_string()), cap);
        }
        let result = match (self.start.take(), self.call.take()) {
            (Some(start), _) => start.call_resumable(&mut self.store, &[], &mut []),
            (None, Some(call)) => {
                let errno = match self.store.data().memory {
                    Some(m) => {
                        let (mem, data) = m.data_and_store_mut(&mut self.store);
                        lock(&data.host).complete_wait(mem)
                    }
                    None => wasi::errno::FAULT,
                };
                call.resume(&mut self.store, &[Val::I32(errno)], &mut [])
            }
            (None, None) => return self.activation(End::Blocked, cap),
        };
        let end = match result {
            Ok(ResumableCall::Finished) => End::Returned,
            Ok(ResumableCall::HostTrap(call)) => {
                if call.host_error().downcast_ref::<Suspend>().is_some() {
                    self.call = Some(call);
                    End::Blocked
                } else {
                    end_of(call.host_error())
                }
            }
            Ok(ResumableCall::OutOfFuel(_)) => End::OutOfFuel,
            Err(e) => end_of(&e),
        };
        self.activation(end, cap)
    }

    fn activation(&self, end: End, cap: u64) -> Activation {
        let left = self.store.get_fuel().unwrap_or(0);
        Activation {
            end,
            used: cap.saturating_sub(left),
            denied: self.store.data().cap.denied,
        }
    }
}

/// How an error ended the guest: an exit, out of fuel, or a trap (in the
/// words both engines use).
fn end_of(e: &Error) -> End {
    if let Some(code) = e.i32_exit_status() {
        return End::Exited(code);
    }
    match e.as_trap_code() {
        Some(wasmi::TrapCode::OutOfFuel) => End::OutOfFuel,
        // wasmi 2.0 says "uninitialized element 2" (a known slip).
        Some(wasmi::TrapCode::IndirectCallToNull) => {
            End::Trapped("uninitialized element".to_string())
        }
        Some(code) => End::Trapped(code.to_string()),
        None => End::Trapped(e.to_string()),
    }
}
