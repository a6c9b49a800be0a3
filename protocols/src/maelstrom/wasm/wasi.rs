//! The WASI preview 1 functions a guest may import, answered from the
//! simulation: the node's clock, its seeded random stream, stdin fed by the
//! network, stdout and stderr collected by the host. Nothing here reads the
//! real clock, real entropy or a real file.
//!
//! A call that would block (a `poll_oneoff` with nothing ready, a blocking
//! `fd_read` on an empty stdin) records what it waits for in
//! [`HostState::wait`] and returns the [`Suspend`] host error: wasmi then
//! hands the guest back as a resumable call, and the node resumes it (with
//! the call's answer written into the guest's memory) when a message or its
//! deadline arrives.

use std::collections::VecDeque;
use std::fmt;

use wasmi::errors::HostError;
use wasmi::{Caller, Error, Linker, Memory, ResourceLimiter};
use wasmi_core::LimiterError;

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

/// The host error a blocking call returns to suspend the guest.
#[derive(Debug)]
pub struct Suspend;

impl fmt::Display for Suspend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the guest blocked")
    }
}

impl HostError for Suspend {}

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
/// report.
#[derive(Debug)]
pub struct MemCap {
    /// The most bytes of linear memory.
    pub max_bytes: usize,
    /// The size a refused grow asked for.
    pub denied: Option<usize>,
}

impl ResourceLimiter for MemCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        if desired > self.max_bytes {
            self.denied = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        Ok(desired <= 1 << 20)
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

/// A guest's side of the world, owned by its store.
pub struct HostState {
    /// The guest's exported memory (set after instantiation).
    pub memory: Option<Memory>,
    /// The memory cap.
    pub limits: MemCap,
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
}

impl HostState {
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

type C<'a> = Caller<'a, HostState>;

/// The guest's memory and the host state, or `FAULT` when the guest
/// exports no memory.
fn split<'a>(caller: &'a mut C<'_>) -> Result<(&'a mut [u8], &'a mut HostState), i32> {
    let mem = caller.data().memory.ok_or(errno::FAULT)?;
    Ok(mem.data_and_store_mut(caller))
}

fn errno_of(r: Result<(), i32>) -> i32 {
    r.err().unwrap_or(errno::SUCCESS)
}

/// The names of every function the host provides, sorted.
pub const PROVIDED: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "environ_get",
    "environ_sizes_get",
    "fd_close",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_prestat_dir_name",
    "fd_prestat_get",
    "fd_read",
    "fd_seek",
    "fd_write",
    "poll_oneoff",
    "proc_exit",
    "random_get",
    "sched_yield",
];

/// A linker that defines every function of [`PROVIDED`].
pub fn linker(engine: &wasmi::Engine) -> Result<Linker<HostState>, Error> {
    let mut l = Linker::<HostState>::new(engine);
    l.func_wrap(
        MODULE,
        "args_sizes_get",
        |mut c: C, argc: u32, size: u32| {
            errno_of(split(&mut c).and_then(|(mem, st)| {
                let bytes: usize = st.args.iter().map(|a| a.len() + 1).sum();
                put(mem, argc, &(st.args.len() as u32).to_le_bytes())?;
                put(mem, size, &(bytes as u32).to_le_bytes())
            }))
        },
    )?;
    l.func_wrap(MODULE, "args_get", |mut c: C, argv: u32, buf: u32| {
        errno_of(split(&mut c).and_then(|(mem, st)| {
            let mut at = buf;
            for (i, a) in st.args.iter().enumerate() {
                put(mem, argv.wrapping_add(4 * i as u32), &at.to_le_bytes())?;
                put(mem, at, a.as_bytes())?;
                put(mem, at.wrapping_add(a.len() as u32), &[0])?;
                at = at.wrapping_add(a.len() as u32 + 1);
            }
            Ok(())
        }))
    })?;
    // The environment is empty.
    l.func_wrap(
        MODULE,
        "environ_sizes_get",
        |mut c: C, n: u32, size: u32| {
            errno_of(split(&mut c).and_then(|(mem, _)| {
                put(mem, n, &0u32.to_le_bytes())?;
                put(mem, size, &0u32.to_le_bytes())
            }))
        },
    )?;
    l.func_wrap(MODULE, "environ_get", |_: C, _: u32, _: u32| errno::SUCCESS)?;
    l.func_wrap(MODULE, "clock_res_get", |mut c: C, id: u32, out: u32| {
        if id > 3 {
            return errno::INVAL;
        }
        errno_of(split(&mut c).and_then(|(mem, _)| put(mem, out, &1000u64.to_le_bytes())))
    })?;
    // Every clock is the node's simulated clock (its skew, drift and jumps
    // apply): realtime counts from REALTIME_EPOCH_NS, the others from
    // MONOTONIC_START_NS (Go's runtime refuses a monotonic clock at 0).
    l.func_wrap(
        MODULE,
        "clock_time_get",
        |mut c: C, id: u32, _precision: u64, out: u32| {
            let base = match id {
                0 => REALTIME_EPOCH_NS,
                1..=3 => MONOTONIC_START_NS,
                _ => return errno::INVAL,
            };
            let fuel = c.get_fuel().unwrap_or(0);
            errno_of(split(&mut c).and_then(|(mem, st)| {
                put(mem, out, &st.clock(fuel).saturating_add(base).to_le_bytes())
            }))
        },
    )?;
    l.func_wrap(MODULE, "random_get", |mut c: C, buf: u32, len: u32| {
        errno_of(split(&mut c).and_then(|(mem, st)| {
            let dst = slice_mut(mem, buf, len)?;
            for chunk in dst.chunks_mut(8) {
                let r = st.rng.next_u64().to_le_bytes();
                chunk.copy_from_slice(&r[..chunk.len()]);
            }
            Ok(())
        }))
    })?;
    l.func_wrap(MODULE, "fd_fdstat_get", |mut c: C, fd: u32, out: u32| {
        if fd > 2 {
            return errno::BADF;
        }
        errno_of(split(&mut c).and_then(|(mem, st)| {
            let mut s = [0u8; 24];
            s[0] = 2; // a character device
            s[2..4].copy_from_slice(&st.fd_flags[fd as usize].to_le_bytes());
            s[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
            s[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
            put(mem, out, &s)
        }))
    })?;
    // Go sets NONBLOCK on fds 0..=2 and relies on it: refusing it makes its
    // runtime fall back to a read that blocks every goroutine.
    l.func_wrap(
        MODULE,
        "fd_fdstat_set_flags",
        |mut c: C, fd: u32, flags: u32| {
            if fd > 2 {
                return errno::BADF;
            }
            c.data_mut().fd_flags[fd as usize] = flags as u16;
            errno::SUCCESS
        },
    )?;
    // No preopened directory: the scan for them ends at fd 3.
    l.func_wrap(MODULE, "fd_prestat_get", |_: C, _: u32, _: u32| errno::BADF)?;
    l.func_wrap(
        MODULE,
        "fd_prestat_dir_name",
        |_: C, _: u32, _: u32, _: u32| errno::BADF,
    )?;
    l.func_wrap(MODULE, "fd_close", |_: C, fd: u32| {
        if fd > 2 {
            errno::BADF
        } else {
            errno::SUCCESS
        }
    })?;
    l.func_wrap(
        MODULE,
        "fd_seek",
        |_: C, fd: u32, _: i64, _: u32, _: u32| {
            if fd > 2 {
                errno::BADF
            } else {
                errno::SPIPE
            }
        },
    )?;
    l.func_wrap(MODULE, "sched_yield", |_: C| errno::SUCCESS)?;
    l.func_wrap(
        MODULE,
        "proc_exit",
        |_: C, code: i32| -> Result<(), Error> { Err(Error::i32_exit(code)) },
    )?;
    l.func_wrap(
        MODULE,
        "fd_write",
        |mut c: C, fd: u32, iovs: u32, iovs_len: u32, nwritten: u32| {
            if fd != 1 && fd != 2 {
                return errno::BADF;
            }
            errno_of(split(&mut c).and_then(|(mem, st)| {
                let mut total = 0u32;
                for i in 0..iovs_len {
                    let at = iovs.wrapping_add(i.wrapping_mul(8));
                    let (buf, len) = (get_u32(mem, at)?, get_u32(mem, at.wrapping_add(4))?);
                    st.write_out(fd, slice(mem, buf, len)?);
                    total = total.wrapping_add(len);
                }
                put(mem, nwritten, &total.to_le_bytes())
            }))
        },
    )?;
    l.func_wrap(
        MODULE,
        "fd_read",
        |mut c: C, fd: u32, iovs: u32, iovs_len: u32, nread: u32| -> Result<i32, Error> {
            if fd != 0 {
                return Ok(errno::BADF);
            }
            let (mem, st) = match split(&mut c) {
                Ok(x) => x,
                Err(e) => return Ok(e),
            };
            if st.stdin.is_empty() {
                if st.fd_flags[0] & NONBLOCK != 0 {
                    return Ok(errno::AGAIN);
                }
                st.wait = Some(Wait::Read {
                    iovs,
                    iovs_len,
                    nread,
                });
                return Err(Error::host(Suspend));
            }
            Ok(errno_of(
                st.read_into(mem, iovs, iovs_len)
                    .and_then(|n| put(mem, nread, &n.to_le_bytes())),
            ))
        },
    )?;
    l.func_wrap(
        MODULE,
        "poll_oneoff",
        |mut c: C, subs: u32, out: u32, nsubs: u32, nevents: u32| -> Result<i32, Error> {
            if nsubs == 0 {
                return Ok(errno::INVAL);
            }
            let fuel = c.get_fuel().unwrap_or(0);
            let (mem, st) = match split(&mut c) {
                Ok(x) => x,
                Err(e) => return Ok(e),
            };
            let now = st.clock(fuel);
            let parsed = match read_subs(mem, subs, nsubs, now) {
                Ok(s) => s,
                Err(e) => return Ok(e),
            };
            let ready = st.ready(&parsed, now);
            if !ready.is_empty() {
                return Ok(errno_of(put_events(mem, &ready, out, nevents)));
            }
            st.wait = Some(Wait::Poll {
                subs: parsed,
                out,
                nevents,
            });
            Err(Error::host(Suspend))
        },
    )?;
    Ok(l)
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
