//! wasmtime (cranelift's JIT) as an engine, with the `wasmtime` feature.
//!
//! Every host function goes through [`wasi::call`]. A guest that blocks
//! is suspended the way wasmtime suspends one: its call runs on a fiber
//! (`call_async`), and a blocking host function awaits a future that is
//! not ready the first time it is polled. The node polls the call once per
//! activation (there is no async runtime: nothing else wakes it); on the
//! next poll the host function finds the wait over, writes the answer with
//! [`HostState::complete_wait`] and returns to the guest.
//!
//! Determinism: cranelift canonicalises NaNs; fuel (the instruction cap
//! and the charged CPU time) is counted by wasmtime per WebAssembly
//! operator, the same on every machine; memory is capped by a resource
//! limiter. A module is compiled once per process and shared by every
//! node (wasmtime's `Module` is shared, its code mapped once).

use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use wasmtime::{
    Caller, Config, ExternType, FuncType, Linker, Memory, Module, Store, Trap, Val, ValType,
};

use super::engine::{args_of, lock, Activation, End, Facts};
use super::wasi::{self, HostState, MemCap, Outcome, Ty};

/// A module compiled to machine code, and the linker of the host.
pub struct Compiled {
    engine: wasmtime::Engine,
    module: Module,
    linker: Linker<Data>,
}

/// What a store holds: the host state (shared with the node), the guest's
/// memory once instantiated, the memory cap and the fuel an activation
/// starts with.
pub struct Data {
    host: Arc<Mutex<HostState>>,
    memory: Option<Memory>,
    cap: MemCap,
    fuel_cap: u64,
}

/// `proc_exit(code)`, as the error that unwinds the guest.
#[derive(Debug)]
struct Exit(i32);

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exited with code {}", self.0)
    }
}

impl std::error::Error for Exit {}

impl wasmtime::ResourceLimiter for MemCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.memory(desired))
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
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

/// Compiles `bytes` to machine code (on every core: cranelift compiles
/// functions in parallel, and the code does not depend on the order).
pub fn compile(bytes: &[u8]) -> Result<Compiled, String> {
    let mut config = Config::new();
    config.consume_fuel(true);
    config.cranelift_nan_canonicalization(true);
    config.relaxed_simd_deterministic(true);
    let engine = wasmtime::Engine::new(&config).map_err(|e| format!("wasmtime: {e}"))?;
    let module = Module::new(&engine, bytes).map_err(|e| format!("{e:#}"))?;
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

fn args(params: &[Val]) -> [u64; 4] {
    args_of(params.iter().map(|v| match v {
        Val::I32(x) => *x as u32 as u64,
        Val::I64(x) => *x as u64,
        _ => 0,
    }))
}

/// Runs `f` on the guest's memory (empty before it is exported) and the
/// host state.
fn with_host<R>(c: &mut Caller<'_, Data>, f: impl FnOnce(&mut [u8], &mut HostState) -> R) -> R {
    match c.data().memory {
        Some(m) => {
            let (mem, data) = m.data_and_store_mut(c);
            f(mem, &mut lock(&data.host))
        }
        None => f(&mut [], &mut lock(&c.data().host)),
    }
}

/// Sets a call's errno result.
fn answer(results: &mut [Val], errno: i32) {
    if let Some(r) = results.first_mut() {
        *r = Val::I32(errno);
    }
}

/// A future that is pending once: polled again, the guest's wait is over.
struct Yield(bool);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

/// A linker that defines every import of [`wasi::IMPORTS`] by
/// [`wasi::call`]; those that may block are async host functions.
fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<Data>> {
    let mut l = Linker::<Data>::new(engine);
    for import in wasi::IMPORTS {
        let results = if import.returns {
            vec![ValType::I32]
        } else {
            vec![]
        };
        let ty = FuncType::new(engine, import.params.iter().map(|&t| val_type(t)), results);
        let func = import.func;
        if !import.blocks {
            l.func_new(
                wasi::MODULE,
                import.name,
                ty,
                move |mut c: Caller<'_, Data>, params: &[Val], results: &mut [Val]| {
                    let args = args(params);
                    let fuel = c.get_fuel().unwrap_or(0);
                    match with_host(&mut c, |mem, st| wasi::call(func, &args, mem, st, fuel)) {
                        Outcome::Errno(e) => {
                            answer(results, e);
                            Ok(())
                        }
                        Outcome::Exit(code) => Err(wasmtime::Error::new(Exit(code))),
                        Outcome::Block => Err(wasmtime::Error::msg(
                            "a host function that does not block blocked",
                        )),
                    }
                },
            )?;
            continue;
        }
        l.func_new_async(
            wasi::MODULE,
            import.name,
            ty,
            move |mut c: Caller<'_, Data>, params: &[Val], results: &mut [Val]| {
                Box::new(async move {
                    let args = args(params);
                    let fuel = c.get_fuel().unwrap_or(0);
                    match with_host(&mut c, |mem, st| wasi::call(func, &args, mem, st, fuel)) {
                        Outcome::Errno(e) => answer(results, e),
                        Outcome::Exit(code) => return Err(wasmtime::Error::new(Exit(code))),
                        Outcome::Block => {
                            // Back to the node; the next activation resumes
                            // here with a full budget.
                            Yield(false).await;
                            let cap = c.data().fuel_cap;
                            c.set_fuel(cap)?;
                            let errno = with_host(&mut c, |mem, st| st.complete_wait(mem));
                            answer(results, errno);
                        }
                    }
                    Ok(())
                })
            },
        )?;
    }
    Ok(l)
}

/// The guest's `_start` call, running on its fiber; it owns the store and
/// gives it back when the guest ends.
type Running = Pin<Box<dyn Future<Output = (Store<Data>, wasmtime::Result<()>)> + Send>>;

enum State {
    /// Instantiated, `_start` not called yet.
    Ready(Store<Data>, wasmtime::Func),
    /// Blocked in a host call.
    Running(Running),
    /// Ended.
    Done,
}

/// A running instance.
pub struct Instance {
    state: State,
    host: Arc<Mutex<HostState>>,
}

fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
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
            host: host.clone(),
            memory: None,
            cap,
            fuel_cap: fuel,
        };
        let mut store = Store::new(&c.engine, data);
        store.limiter(|d| &mut d.cap);
        store.set_fuel(fuel).map_err(|e| (e.to_string(), None))?;
        let made = {
            let fut = pin!(c.linker.instantiate_async(&mut store, &c.module));
            match poll_once(fut) {
                Poll::Ready(r) => r.map_err(|e| format!("{e:#}")),
                Poll::Pending => Err("its start function blocked".to_string()),
            }
        };
        let instance = made.map_err(|e| (e, store.data().cap.denied))?;
        let memory = instance.get_memory(&mut store, "memory");
        store.data_mut().memory = memory;
        let state = match instance.get_func(&mut store, "_start") {
            Some(start) => State::Ready(store, start),
            None => State::Done,
        };
        Ok(Instance { state, host })
    }

    /// Starts or resumes the guest with `cap` fuel and runs it until it
    /// blocks or ends.
    pub fn run(&mut self, cap: u64) -> Activation {
        let mut call: Running = match std::mem::replace(&mut self.state, State::Done) {
            State::Ready(mut store, start) => {
                store.data_mut().fuel_cap = cap;
                if let Err(e) = store.set_fuel(cap) {
                    return Activation {
                        end: End::Trapped(e.to_string()),
                        used: 0,
                        denied: None,
                    };
                }
                Box::pin(async move {
                    let r = start.call_async(&mut store, &[], &mut []).await;
                    (store, r)
                })
            }
            State::Running(call) => call,
            State::Done => {
                return Activation {
                    end: End::Blocked,
                    used: 0,
                    denied: None,
                }
            }
        };
        match poll_once(call.as_mut()) {
            Poll::Pending => {
                self.state = State::Running(call);
                let left = lock(&self.host).fuel_at_block;
                Activation {
                    end: End::Blocked,
                    used: cap.saturating_sub(left),
                    denied: None,
                }
            }
            Poll::Ready((store, result)) => {
                let left = store.get_fuel().unwrap_or(0);
                Activation {
                    end: end_of(result),
                    used: cap.saturating_sub(left),
                    denied: store.data().cap.denied,
                }
            }
        }
    }
}

/// How the guest's call ended: returned, exited, out of
/// fuel, or a trap (in the words both engines use).
fn end_of(r: wasmtime::Result<()>) -> End {
    let Err(e) = r else { return End::Returned };
    if let Some(Exit(code)) = e.downcast_ref::<Exit>() {
        return End::Exited(*code);
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => End::OutOfFuel,
        Some(t) => {
            let text = t.to_string();
            let text = text.strip_prefix("wasm trap: ").unwrap_or(&text);
            End::Trapped(text.to_string())
        }
        None => End::Trapped(e.to_string()),
    }
}
