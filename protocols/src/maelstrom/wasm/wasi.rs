//! The WASI preview 1 functions a guest may import, answered from the
//! simulation: the node's clock, its seeded random stream, stdin fed by the
//! network, stdout and stderr collected by the host. Nothing here reads the
//! real clock, real entropy or a real file.
//!
//! This is the host written once for every engine: [`call`] answers an
//! import given the guest's memory as bytes, and an engine (wasmi, or
//! wasmtime with the `wasmtime` feature; see `super::engine`) only adapts
//! its own host-function calls to it. A call that would block (a
//! `poll_oneoff` with nothing ready, a blocking `fd_read` on an empty
//! stdin) records what it waits for in [`HostState::wait`] and answers
//! [`Outcome::Block`]: the engine then suspends the guest, and when the
//! node resumes it (a message or its deadline arrived),
//! [`HostState::complete_wait`] writes the call's answer into the guest's
//! memory.

use std::collections::VecDeque;
/// The module every WASI preview 1 import comes from.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// WASI errno values the host returns.
pub mod errno {
    /// Success.
    pub const SUCCESS: i32 = 0;
    /// Try again (a non-blocking read found nothing).
    pub const AGAIN: i32 = 6;
    /// Bad file descriptor.
    pub const BADF: i32 = 8;
    /// Bad address (a pointer outside memory).
    pub const FAULT: i32 = 21;
    /// Invalid argument.
    pub const INVAL: i32 = 28;
    /// Not supported.
    pub const NOTSUP: i32 = 58;
    /// Illegal seek.
    pub const SPIPE: i32 = 70;
}

/// What the realtime clock reads at simulated time 0: 2026-01-01T00:00:00Z,
/// in ns since the Unix epoch.
pub const REALTIME_EPOCH_NS: u64 = 1_767_225_600 * 1_000_000_000;

/// What the monotonic clock reads at simulated time 0: one second.
pub const MONOTONIC_START_NS: u64 = 1_000_000_000;

/// `fdflags.nonblock`.
const NONBLOCK: u16 = 4;

/// One subscription of a suspended `poll_oneoff`.
#[derive(Clone, Debug)]
pub struct Sub {
    /// Handed back in the event.
    pub userdata: u64,
    /// What it waits for.
    pub what: SubKind,
}

/// What a subscription waits for.
#[derive(Clone, Copy, Debug)]
pub enum SubKind {
    /// The node's clock reaching this time, in ns.
    Clock(u64),
    /// Input on this fd.
    Read(u32),
    /// Room to write on this fd (always there).
    Write(u32),
}

/// What a suspended guest waits for.
#[derive(Clone, Debug)]
pub enum Wait {
    /// `poll_oneoff(subs, out, nsubs, nevents)`.
    Poll {
        /// The subscriptions, clock timeouts made absolute.
        subs: Vec<Sub>,
        /// Where the events go.
        out: u32,
        /// Where their count goes.
        nevents: u32,
    },
    /// A blocking `fd_read(0, iovs, iovs_len, nread)`.
    Read {
        /// The iovec array.
        iovs: u32,
        /// Its length.
        iovs_len: u32,
        /// Where the byte count goes.
        nread: u32,
    },
}

impl Wait {
    /// The earliest clock deadline, in ns.
    pub fn deadline(&self) -> Option<u64> {
        match self {
            Wait::Poll { subs, .. } => subs
                .iter()
                .filter_map(|s| match s.what {
                    SubKind::Clock(t) => Some(t),
                    _ => None,
                })
                .min(),
            Wait::Read { .. } => None,
        }
    }
}

/// The most bytes of stderr a node keeps (the newest win).
pub const LOG_BYTES: usize = 64 << 10;

/// The memory cap: a `memory.grow` past it fails (the guest sees -1, as
/// from an operating system out of memory) and is remembered for the
/// report. Each engine's resource limiter asks it.
#[derive(Debug)]
pub struct MemCap {
    /// The most bytes of linear memory.
    pub max_bytes: usize,
    /// The size a refused grow asked for.
    pub denied: Option<usize>,
}

impl MemCap {
    /// A cap of `mib` MiB.
    pub fn mib(mib: u64) -> MemCap {
        MemCap {
            max_bytes: (mib as usize) << 20,
            denied: None,
        }
    }

    /// Whether linear memory may grow to `desired` bytes.
    pub fn memory(&mut self, desired: usize) -> bool {
        if desired > self.max_bytes {
            self.denied = Some(desired);
            return false;
        }
        true
    }

    /// Whether a table may grow to `desired` elements.
    pub fn table(&self, desired: usize) -> bool {
        desired <= 1 << 20
    }
}

/// A guest's side of the world, owned by its store.
pub struct HostState {
    /// The node's clock when this activation began, in ns.
    pub now_ns: u64,
    /// Simulated ns charged per unit of fuel (0: none).
    pub ns_per_fuel: u64,
    /// The fuel an activation starts with.
    pub fuel_cap: u64,
    /// The node's random stream.
    pub rng: sim::Rng,
    /// Bytes delivered and not yet read.
    pub stdin: VecDeque<u8>,
    /// Flags set on fds 0..=2 (`fd_fdstat_set_flags`).
    pub fd_flags: [u16; 3],
    /// The stdout line being written.
    pub partial: Vec<u8>,
    /// Complete stdout lines not yet handed to the network.
    pub lines: Vec<Vec<u8>>,
    /// The newest stderr bytes.
    pub stderr: VecDeque<u8>,
    /// stderr bytes dropped from the front of `stderr`.
    pub stderr_dropped: u64,
    /// What the guest waits for, when it is suspended.
    pub wait: Option<Wait>,
    /// The guest's argv.
    pub args: Vec<String>,
    /// The fuel left when the guest last blocked.
    pub fuel_at_block: u64,
}

impl HostState {
    /// The state of a fresh process: nothing read or written, the clock
    /// at 0, charging and capping as `limits` say, drawing from `rng`,
    /// with argv `args`.
    pub fn new(limits: &super::Limits, rng: sim::Rng, args: Vec<String>) -> HostState {
        HostState {
            now_ns: 0,
            ns_per_fuel: limits.ns_per_instruction,
            fuel_cap: limits.max_instructions,
            rng,
            stdin: VecDeque::new(),
            fd_flags: [0; 3],
            partial: Vec::new(),
            lines: Vec::new(),
            stderr: VecDeque::new(),
            stderr_dropped: 0,
            wait: None,
            args,
            fuel_at_block: 0,
        }
    }

    /// The node's clock now, in ns: the activation's start plus the time
    /// charged for the fuel used so far.
    fn clock(&self, fuel_left: u64) -> u64 {
        let used = self.fuel_cap.saturating_sub(fuel_left);
        self.now_ns
            .saturating_add(used.saturating_mul(self.ns_per_fuel))
    }

    fn write_out(&mut self, fd: u32, bytes: &[u8]) {
        if fd == 1 {
            for &b in bytes {
                if b == b'\n' {
                    self.lines.push(std::mem::take(&mut self.partial));
                } else {
                    self.partial.push(b);
                }
            }
        } else {
            self.stderr.extend(bytes);
            let over = self.stderr.len().saturating_sub(LOG_BYTES);
            if over > 0 {
                self.stderr.drain(..over);
                self.stderr_dropped += over as u64;
            }
        }
    }

    /// The events of `subs` that are ready now (`now_ns` the node's clock).
    pub fn ready(&self, subs: &[Sub], now_ns: u64) -> Vec<(u64, u8, u16, u64)> {
        let mut out = Vec::new();
        for s in subs {
            match s.what {
                SubKind::Clock(t) if t <= now_ns => out.push((s.userdata, 0, 0, 0)),
                SubKind::Clock(_) => {}
                SubKind::Read(0) if !self.stdin.is_empty() => {
                    out.push((s.userdata, 1, 0, self.stdin.len() as u64))
                }
                SubKind::Read(0) => {}
                SubKind::Read(_) => out.push((s.userdata, 1, errno::BADF as u16, 0)),
                SubKind::Write(1 | 2) => out.push((s.userdata, 2, 0, 1 << 16)),
                SubKind::Write(_) => out.push((s.userdata, 2, errno::BADF as u16, 0)),
            }
        }
        out
    }

    /// Writes the answer of the call the guest is suspended in (what
    /// [`HostState::wait`] holds) into its memory `mem`, as of the node's
    /// clock at this activation's start; returns the call's errno.
    pub fn complete_wait(&mut self, mem: &mut [u8]) -> i32 {
        let now_ns = self.now_ns;
        let r = match self.wait.take() {
            Some(Wait::Poll { subs, out, nevents }) => {
                let events = self.ready(&subs, now_ns);
                put_events(mem, &events, out, nevents)
            }
            Some(Wait::Read {
                iovs,
                iovs_len,
                nread,
            }) => self
                .read_into(mem, iovs, iovs_len)
                .and_then(|n| put_u32(mem, nread, n)),
            None => Ok(()),
        };
        r.err().unwrap_or(errno::SUCCESS)
    }

    /// Moves up to what `iovs` hold of stdin into guest memory `mem`;
    /// returns the count or an errno.
    pub fn read_into(&mut self, mem: &mut [u8], iovs: u32, iovs_len: u32) -> Result<u32, i32> {
        let mut total = 0u32;
        for i in 0..iovs_len {
            let at = iovs.wrapping_add(i.wrapping_mul(8));
            let (buf, len) = (get_u32(mem, at)?, get_u32(mem, at.wrapping_add(4))?);
            let dst = slice_mut(mem, buf, len)?;
            let n = dst.len().min(self.stdin.len());
            for (d, s) in dst.iter_mut().zip(self.stdin.drain(..n)) {
                *d = s;
            }
            total += n as u32;
            if self.stdin.is_empty() {
                break;
            }
        }
        Ok(total)
    }
}

fn slice(mem: &[u8], at: u32, len: u32) -> Result<&[u8], i32> {
    let (at, len) = (at as usize, len as usize);
    mem.get(at..at.checked_add(len).ok_or(errno::FAULT)?)
        .ok_or(errno::FAULT)
}

fn slice_mut(mem: &mut [u8], at: u32, len: u32) -> Result<&mut [u8], i32> {
    let (at, len) = (at as usize, len as usize);
    mem.get_mut(at..at.checked_add(len).ok_or(errno::FAULT)?)
        .ok_or(errno::FAULT)
}

fn get_u32(mem: &[u8], at: u32) -> Result<u32, i32> {
    let b = slice(mem, at, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn get_u64(mem: &[u8], at: u32) -> Result<u64, i32> {
    let b = slice(mem, at, 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_le_bytes(a))
}

fn put(mem: &mut [u8], at: u32, bytes: &[u8]) -> Result<(), i32> {
    slice_mut(mem, at, bytes.len() as u32)?.copy_from_slice(bytes);
    Ok(())
}

/// Writes `v` at `at`.
pub fn put_u32(mem: &mut [u8], at: u32, v: u32) -> Result<(), i32> {
    put(mem, at, &v.to_le_bytes())
}

/// Writes `events` (userdata, type, error, nbytes) at `out` and their
/// count at `nevents`.
pub fn put_events(
    mem: &mut [u8],
    events: &[(u64, u8, u16, u64)],
    out: u32,
    nevents: u32,
) -> Result<(), i32> {
    for (i, &(userdata, ty, error, nbytes)) in events.iter().enumerate() {
        let mut e = [0u8; 32];
        e[0..8].copy_from_slice(&userdata.to_le_bytes());
        e[8..10].copy_from_slice(&error.to_le_bytes());
        e[10] = ty;
        e[16..24].copy_from_slice(&nbytes.to_le_bytes());
        put(mem, out.wrapping_add(32 * i as u32), &e)?;
    }
    put(mem, nevents, &(events.len() as u32).to_le_bytes())
}

/// A value type of an import's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// `i32`
    I32,
    /// `i64`
    I64,
}

/// Every function the host provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// `args_get`
    ArgsGet,
    /// `args_sizes_get`
    ArgsSizesGet,
    /// `clock_res_get`
    ClockResGet,
    /// `clock_time_get`
    ClockTimeGet,
    /// `environ_get`
    EnvironGet,
    /// `environ_sizes_get`
    EnvironSizesGet,
    /// `fd_close`
    FdClose,
    /// `fd_fdstat_get`
    FdFdstatGet,
    /// `fd_fdstat_set_flags`
    FdFdstatSetFlags,
    /// `fd_prestat_dir_name`
    FdPrestatDirName,
    /// `fd_prestat_get`
    FdPrestatGet,
    /// `fd_read`
    FdRead,
    /// `fd_seek`
    FdSeek,
    /// `fd_write`
    FdWrite,
    /// `poll_oneoff`
    PollOneoff,
    /// `proc_exit`
    ProcExit,
    /// `random_get`
    RandomGet,
    /// `sched_yield`
    SchedYield,
}

/// One import the host provides: its name, its signature, and whether a
/// call may block (the engine must be able to suspend the guest in it).
#[derive(Clone, Copy, Debug)]
pub struct Import {
    /// The function.
    pub func: Func,
    /// Its name in [`MODULE`].
    pub name: &'static str,
    /// Its parameters.
    pub params: &'static [Ty],
    /// Whether it returns an errno (`i32`); only `proc_exit` does not.
    pub returns: bool,
    /// Whether a call may block.
    pub blocks: bool,
}

const fn import(func: Func, name: &'static str, params: &'static [Ty]) -> Import {
    Import {
        func,
        name,
        params,
        returns: true,
        blocks: false,
    }
}

use Ty::{I32, I64};

/// The functions of [`MODULE`] the host provides, sorted by name.
pub const IMPORTS: &[Import] = &[
    import(Func::ArgsGet, "args_get", &[I32, I32]),
    import(Func::ArgsSizesGet, "args_sizes_get", &[I32, I32]),
    import(Func::ClockResGet, "clock_res_get", &[I32, I32]),
    import(Func::ClockTimeGet, "clock_time_get", &[I32, I64, I32]),
    import(Func::EnvironGet, "environ_get", &[I32, I32]),
    import(Func::EnvironSizesGet, "environ_sizes_get", &[I32, I32]),
    import(Func::FdClose, "fd_close", &[I32]),
    import(Func::FdFdstatGet, "fd_fdstat_get", &[I32, I32]),
    import(Func::FdFdstatSetFlags, "fd_fdstat_set_flags", &[I32, I32]),
    import(
        Func::FdPrestatDirName,
        "fd_prestat_dir_name",
        &[I32, I32, I32],
    ),
    import(Func::FdPrestatGet, "fd_prestat_get", &[I32, I32]),
    Import {
        blocks: true,
        ..import(Func::FdRead, "fd_read", &[I32, I32, I32, I32])
    },
    import(Func::FdSeek, "fd_seek", &[I32, I64, I32, I32]),
    import(Func::FdWrite, "fd_write", &[I32, I32, I32, I32]),
    Import {
        blocks: true,
        ..import(Func::PollOneoff, "poll_oneoff", &[I32, I32, I32, I32])
    },
    Import {
        returns: false,
        ..import(Func::ProcExit, "proc_exit", &[I32])
    },
    import(Func::RandomGet, "random_get", &[I32, I32]),
    import(Func::SchedYield, "sched_yield", &[]),
];

/// The import named `name`, if the host provides it.
pub fn provided(name: &str) -> Option<&'static Import> {
    IMPORTS.iter().find(|i| i.name == name)
}

/// The names of every function the host provides, sorted, comma-separated.
pub fn provided_names() -> String {
    let names: Vec<&str> = IMPORTS.iter().map(|i| i.name).collect();
    names.join(", ")
}

/// What a host call comes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Return this errno (`proc_exit` never does).
    Errno(i32),
    /// Suspend the guest; [`HostState::wait`] says for what.
    Block,
    /// The process exits with this code.
    Exit(i32),
}

fn errno_of(r: Result<(), i32>) -> Outcome {
    Outcome::Errno(r.err().unwrap_or(errno::SUCCESS))
}

/// Answers a call of `func` with `args` (each `i32` as its `u32` bits,
/// each `i64` as its `u64` bits), the guest's memory `mem` (empty before
/// the instance exports it: every access then faults) and `fuel_left`, the
/// fuel the activation has left (the clock advances by what it used, when
/// the scenario charges CPU time).
pub fn call(
    func: Func,
    args: &[u64],
    mem: &mut [u8],
    st: &mut HostState,
    fuel_left: u64,
) -> Outcome {
    let a = |i: usize| args.get(i).copied().unwrap_or(0) as u32;
    match func {
        Func::ArgsSizesGet => errno_of((|| {
            let bytes: usize = st.args.iter().map(|a| a.len() + 1).sum();
            put(mem, a(0), &(st.args.len() as u32).to_le_bytes())?;
            put(mem, a(1), &(bytes as u32).to_le_bytes())
        })()),
        Func::ArgsGet => errno_of((|| {
            let (argv, mut at) = (a(0), a(1));
            for (i, arg) in st.args.iter().enumerate() {
                put(mem, argv.wrapping_add(4 * i as u32), &at.to_le_bytes())?;
                put(mem, at, arg.as_bytes())?;
                put(mem, at.wrapping_add(arg.len() as u32), &[0])?;
                at = at.wrapping_add(arg.len() as u32 + 1);
            }
            Ok(())
        })()),
        // The environment is empty.
        Func::EnvironSizesGet => errno_of((|| {
            put(mem, a(0), &0u32.to_le_bytes())?;
            put(mem, a(1), &0u32.to_le_bytes())
        })()),
        Func::EnvironGet => Outcome::Errno(errno::SUCCESS),
        Func::ClockResGet if a(0) > 3 => Outcome::Errno(errno::INVAL),
        Func::ClockResGet => errno_of(put(mem, a(1), &1000u64.to_le_bytes())),
        // Every clock is the node's simulated clock (its skew, drift and
        // jumps apply): realtime counts from REALTIME_EPOCH_NS, the others
        // from MONOTONIC_START_NS (Go's runtime refuses a monotonic clock
        // at 0).
        Func::ClockTimeGet => {
            let base = match a(0) {
                0 => REALTIME_EPOCH_NS,
                1..=3 => MONOTONIC_START_NS,
                _ => return Outcome::Errno(errno::INVAL),
            };
            let t = st.clock(fuel_left).saturating_add(base);
            errno_of(put(mem, a(2), &t.to_le_bytes()))
        }
        Func::RandomGet => errno_of((|| {
            let dst = slice_mut(mem, a(0), a(1))?;
            for chunk in dst.chunks_mut(8) {
                let r = st.rng.next_u64().to_le_bytes();
                chunk.copy_from_slice(&r[..chunk.len()]);
            }
            Ok(())
        })()),
        Func::FdFdstatGet if a(0) > 2 => Outcome::Errno(errno::BADF),
        Func::FdFdstatGet => {
            let mut s = [0u8; 24];
            s[0] = 2; // a character device
            s[2..4].copy_from_slice(&st.fd_flags[a(0) as usize].to_le_bytes());
            s[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
            s[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
            errno_of(put(mem, a(1), &s))
        }
        // Go sets NONBLOCK on fds 0..=2 and relies on it: refusing it makes
        // its runtime fall back to a read that blocks every goroutine.
        Func::FdFdstatSetFlags if a(0) > 2 => Outcome::Errno(errno::BADF),
        Func::FdFdstatSetFlags => {
            st.fd_flags[a(0) as usize] = a(1) as u16;
            Outcome::Errno(errno::SUCCESS)
        }
        // No preopened directory: the scan for them ends at fd 3.
        Func::FdPrestatGet | Func::FdPrestatDirName => Outcome::Errno(errno::BADF),
        Func::FdClose | Func::FdSeek if a(0) > 2 => Outcome::Errno(errno::BADF),
        Func::FdClose => Outcome::Errno(errno::SUCCESS),
        Func::FdSeek => Outcome::Errno(errno::SPIPE),
        Func::SchedYield => Outcome::Errno(errno::SUCCESS),
        Func::ProcExit => Outcome::Exit(a(0) as i32),
        Func::FdWrite => {
            let (fd, iovs, iovs_len, nwritten) = (a(0), a(1), a(2), a(3));
            if fd != 1 && fd != 2 {
                return Outcome::Errno(errno::BADF);
            }
            errno_of((|| {
                let mut total = 0u32;
                for i in 0..iovs_len {
                    let at = iovs.wrapping_add(i.wrapping_mul(8));
                    let (buf, len) = (get_u32(mem, at)?, get_u32(mem, at.wrapping_add(4))?);
                    st.write_out(fd, slice(mem, buf, len)?);
                    total = total.wrapping_add(len);
                }
                put(mem, nwritten, &total.to_le_bytes())
            })())
        }
        Func::FdRead => {
            let (fd, iovs, iovs_len, nread) = (a(0), a(1), a(2), a(3));
            if fd != 0 {
                return Outcome::Errno(errno::BADF);
            }
            if st.stdin.is_empty() {
                if st.fd_flags[0] & NONBLOCK != 0 {
                    return Outcome::Errno(errno::AGAIN);
                }
                st.wait = Some(Wait::Read {
                    iovs,
                    iovs_len,
                    nread,
                });
                st.fuel_at_block = fuel_left;
                return Outcome::Block;
            }
            errno_of(
                st.read_into(mem, iovs, iovs_len)
                    .and_then(|n| put(mem, nread, &n.to_le_bytes())),
            )
        }
        Func::PollOneoff => {
            let (subs, out, nsubs, nevents) = (a(0), a(1), a(2), a(3));
            if nsubs == 0 {
                return Outcome::Errno(errno::INVAL);
            }
            let now = st.clock(fuel_left);
            let parsed = match read_subs(mem, subs, nsubs, now) {
                Ok(s) => s,
                Err(e) => return Outcome::Errno(e),
            };
            let ready = st.ready(&parsed, now);
            if !ready.is_empty() {
                return errno_of(put_events(mem, &ready, out, nevents));
            }
            st.wait = Some(Wait::Poll {
                subs: parsed,
                out,
                nevents,
            });
            st.fuel_at_block = fuel_left;
            Outcome::Block
        }
    }
}

/// Reads `n` subscriptions at `at`; relative clock timeouts become
/// deadlines from `now` (once: a re-poll after a wake-up must not push them
/// back).
fn read_subs(mem: &[u8], at: u32, n: u32, now: u64) -> Result<Vec<Sub>, i32> {
    let mut subs = Vec::new();
    for i in 0..n {
        let s = at.wrapping_add(48u32.wrapping_mul(i));
        let userdata = get_u64(mem, s)?;
        let tag = slice(mem, s.wrapping_add(8), 1)?[0];
        let what = match tag {
            0 => {
                let timeout = get_u64(mem, s.wrapping_add(24))?;
                let flags = slice(mem, s.wrapping_add(40), 2)?;
                let absolute = flags[0] & 1 != 0;
                let base = match get_u32(mem, s.wrapping_add(16))? {
                    0 => REALTIME_EPOCH_NS,
                    1..=3 => MONOTONIC_START_NS,
                    _ => return Err(errno::INVAL),
                };
                SubKind::Clock(if absolute {
                    timeout.saturating_sub(base)
                } else {
                    now.saturating_add(timeout)
                })
            }
            1 => SubKind::Read(get_u32(mem, s.wrapping_add(16))?),
            2 => SubKind::Write(get_u32(mem, s.wrapping_add(16))?),
            _ => return Err(errno::INVAL),
        };
        subs.push(Sub { userdata, what });
    }
    Ok(subs)
}
