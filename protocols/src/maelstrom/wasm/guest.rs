//! One foreign node: a wasip1 instance driven by the node's events.
//!
//! An *activation* runs the guest from a wake-up until it blocks again (or
//! exits, traps, or runs out of its instruction budget). Wake-ups are the
//! start, a message or client request (a line appended to stdin), and the
//! node's `Wake` timer at the earliest clock deadline of the poll it is
//! blocked in. After an activation, the stdout lines it wrote go into the
//! network, at once, or, when the scenario charges simulated time per
//! instruction, after that time (the node is busy until then).

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value as Json};
use sim::{Ctx, Node, NodeId, Request, RequestId, Value};
use wasmi::{Func, ResumableCall, ResumableCallHostTrap, Store, Val};

use super::bridge::{self, JsonBody};
use super::wasi::{self, HostState, MemCap, Suspend, Wait};
use super::Foreign;
use crate::maelstrom::{Body, Kind, Msg, Timer};

/// What a reply to one of the host's `msg_id`s completes.
#[derive(Debug)]
enum Pending {
    /// `init` or `topology`: nothing.
    Setup,
    /// A client operation.
    Client {
        id: RequestId,
        f: &'static str,
        input: Value,
    },
}

/// A running instance.
struct Live {
    store: Store<HostState>,
    /// `_start`, until the first activation calls it.
    start: Option<Func>,
    /// The suspended call.
    call: Option<ResumableCallHostTrap>,
}

/// How an activation ended.
enum End {
    /// Blocked again: waiting.
    Blocked,
    /// The process is gone; the halt reason.
    Gone(String),
}

/// Counts kept for the report.
#[derive(Debug, Default)]
struct Counts {
    activations: u64,
    instructions: u64,
    bad_lines: u64,
    first_bad: Option<String>,
    unknown_dest: u64,
    odd_replies: u64,
    first_odd: Option<String>,
}

/// A server whose handlers are a user's WebAssembly program.
pub struct Guest {
    foreign: Foreign,
    id: NodeId,
    nodes: usize,
    /// `init` and the workload's `topology`, delivered at each start.
    setup: Vec<Map<String, Json>>,
    live: Option<Live>,
    pending: BTreeMap<u64, Pending>,
    next_msg_id: u64,
    /// Lines of a charged activation, sent when its time is up.
    held: Option<Vec<Vec<u8>>>,
    /// The node's stderr, newest bytes (across restarts).
    log: VecDeque<u8>,
    log_dropped: u64,
    counts: Counts,
}

impl std::fmt::Debug for Guest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guest")
            .field("program", &self.foreign.program.path)
            .field("id", &self.id)
            .field("live", &self.live.is_some())
            .finish_non_exhaustive()
    }
}

impl Guest {
    /// Server `id` of `nodes` running `foreign` for `workload` (a protocol
    /// name) with its `params` (as JSON).
    pub fn new(
        id: NodeId,
        nodes: usize,
        workload: &str,
        params: &Json,
        foreign: &Foreign,
    ) -> Result<Guest, String> {
        if !bridge::WORKLOADS.contains(&workload) {
            return Err(format!(
                "a WebAssembly node cannot serve {workload} yet; it serves {}",
                bridge::WORKLOADS.join(", ")
            ));
        }
        let mut setup = vec![bridge::init_body(id, nodes)];
        setup.extend(bridge::topology_body(workload, params, nodes));
        Ok(Guest {
            foreign: foreign.clone(),
            id,
            nodes,
            setup,
            live: None,
            pending: BTreeMap::new(),
            next_msg_id: 1,
            held: None,
            log: VecDeque::new(),
            log_dropped: 0,
            counts: Counts::default(),
        })
    }

    /// Starts a fresh instance and delivers `init` (and `topology`).
    pub fn on_start<N: Node<Msg = Msg, Timer = Timer>>(&mut self, ctx: &mut Ctx<'_, N>) {
        match self.instantiate(ctx) {
            Ok(live) => self.live = Some(live),
            Err(e) => return ctx.halt(e),
        }
        for body in self.setup.clone() {
            let id = self.next_id(Pending::Setup);
            self.deliver("c0", body, Some(id), None);
        }
        self.activate(ctx);
    }

    /// Drops the instance: nothing of a Maelstrom process survives a crash.
    pub fn on_crash(&mut self) {
        self.live = None;
        self.pending.clear();
        self.held = None;
    }

    /// A message from another process, as a stdin line.
    pub fn on_message<N: Node<Msg = Msg, Timer = Timer>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        from: NodeId,
        msg: Msg,
    ) {
        let src = ctx.layout().name(from);
        let body = match serde_json::to_value(&msg.body) {
            Ok(Json::Object(m)) => m,
            _ => Map::new(),
        };
        self.deliver(&src, body, None, None);
        self.wake(ctx);
    }

    /// A client operation, as a stdin line from client `c<id>`.
    pub fn on_request<N: Node<Msg = Msg, Timer = Timer>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        req: Request,
    ) {
        let body = bridge::request_body(&req);
        let msg_id = self.next_id(Pending::Client {
            id: req.id,
            f: req.f,
            input: req.value,
        });
        self.deliver(&format!("c{}", req.id + 1), body, Some(msg_id), None);
        self.wake(ctx);
    }

    /// The poll's deadline, or the end of a charged activation.
    pub fn on_timer<N: Node<Msg = Msg, Timer = Timer>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        timer: Timer,
    ) {
        if timer == Timer::Busy {
            if let Some(lines) = self.held.take() {
                self.emit(ctx, lines);
            }
        }
        self.wake(ctx);
    }

    fn next_id(&mut self, p: Pending) -> u64 {
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        self.pending.insert(id, p);
        id
    }

    /// Appends a Maelstrom line to stdin.
    fn deliver(
        &mut self,
        src: &str,
        mut body: Map<String, Json>,
        msg_id: Option<u64>,
        in_reply_to: Option<u64>,
    ) {
        let Some(live) = &mut self.live else { return };
        if let Some(m) = msg_id {
            body.insert("msg_id".into(), m.into());
        }
        if let Some(r) = in_reply_to {
            body.insert("in_reply_to".into(), r.into());
        }
        let mut env = Map::new();
        env.insert("src".into(), src.into());
        env.insert("dest".into(), format!("n{}", self.id).into());
        env.insert("body".into(), Json::Object(body));
        let mut line = Json::Object(env).to_string().into_bytes();
        line.push(b'\n');
        live.store.data_mut().stdin.extend(line);
    }

    fn instantiate<N: Node<Msg = Msg, Timer = Timer>>(
        &self,
        ctx: &mut Ctx<'_, N>,
    ) -> Result<Live, String> {
        let p = &self.foreign.program;
        let limits = &self.foreign.limits;
        let state = HostState {
            memory: None,
            limits: MemCap {
                max_bytes: (limits.memory_mib as usize) << 20,
                denied: None,
            },
            now_ns: 0,
            ns_per_fuel: limits.ns_per_instruction,
            fuel_cap: limits.max_instructions,
            rng: sim::Rng::derive(ctx.rng().next_u64(), "wasm"),
            stdin: VecDeque::new(),
            fd_flags: [0; 3],
            partial: Vec::new(),
            lines: Vec::new(),
            stderr: VecDeque::new(),
            stderr_dropped: 0,
            wait: None,
            args: vec![file_name(&p.path)],
        };
        let mut store = Store::new(&p.engine, state);
        store.limiter(|st| &mut st.limits);
        let cant = |e: wasmi::Error| format!("cannot instantiate {}: {e}", p.path);
        store.set_fuel(limits.max_instructions).map_err(cant)?;
        let instance = match p.linker.instantiate_and_start(&mut store, &p.module) {
            Ok(i) => i,
            Err(e) => {
                return Err(match store.data().limits.denied {
                    Some(d) => format!(
                        "cannot start {}: it needs {} MiB of memory at start, past the cap of {} MiB (node.memory_mib)",
                        p.path,
                        d.div_ceil(1 << 20),
                        limits.memory_mib
                    ),
                    None => cant(e),
                })
            }
        };
        let memory = instance.get_memory(&store, "memory");
        store.data_mut().memory = memory;
        let start = instance.get_func(&store, "_start");
        Ok(Live {
            store,
            start,
            call: None,
        })
    }

    /// Resumes the guest if what it waits for is there; else makes sure
    /// its deadline timer is set.
    fn wake<N: Node<Msg = Msg, Timer = Timer>>(&mut self, ctx: &mut Ctx<'_, N>) {
        if self.held.is_some() {
            return; // Busy: the input waits in stdin.
        }
        let Some(live) = &self.live else { return };
        let st = live.store.data();
        let now_ns = ctx.now().saturating_mul(1000);
        let ready = match &st.wait {
            Some(Wait::Poll { subs, .. }) => !st.ready(subs, now_ns).is_empty(),
            Some(Wait::Read { .. }) => !st.stdin.is_empty(),
            None => live.start.is_some(),
        };
        if ready {
            self.activate(ctx);
        } else {
            self.arm(ctx);
        }
    }

    /// Sets (or cancels) the `Wake` timer for the blocked poll's deadline.
    fn arm<N: Node<Msg = Msg, Timer = Timer>>(&self, ctx: &mut Ctx<'_, N>) {
        let Some(live) = &self.live else { return };
        let deadline = live.store.data().wait.as_ref().and_then(Wait::deadline);
        match deadline {
            Some(d) => {
                let now_ns = ctx.now().saturating_mul(1000);
                let after = d.saturating_sub(now_ns).div_ceil(1000);
                ctx.set_timer(Timer::Wake, after);
            }
            None => ctx.cancel_timer(Timer::Wake),
        }
    }

    /// Runs the guest until it blocks, then hands its output on.
    fn activate<N: Node<Msg = Msg, Timer = Timer>>(&mut self, ctx: &mut Ctx<'_, N>) {
        let Some(live) = &mut self.live else { return };
        let cap = self.foreign.limits.max_instructions;
        let now_ns = ctx.now().saturating_mul(1000);
        live.store.data_mut().now_ns = now_ns;
        let end = run(live, now_ns, cap, ctx.layout().name(self.id));
        let fuel_left = live.store.get_fuel().unwrap_or(0);
        let used = cap.saturating_sub(fuel_left);
        self.counts.activations += 1;
        self.counts.instructions += used;
        let st = live.store.data_mut();
        let lines = std::mem::take(&mut st.lines);
        self.log.extend(st.stderr.drain(..));
        let over = self.log.len().saturating_sub(wasi::LOG_BYTES);
        self.log.drain(..over);
        self.log_dropped += over as u64 + std::mem::take(&mut st.stderr_dropped);
        let charge_us = used
            .saturating_mul(self.foreign.limits.ns_per_instruction)
            .div_ceil(1000);
        match end {
            End::Blocked if charge_us > 0 => {
                self.held = Some(lines);
                ctx.set_timer(Timer::Busy, charge_us);
            }
            End::Blocked => {
                self.emit(ctx, lines);
                self.arm(ctx);
            }
            End::Gone(reason) => {
                // What it wrote before it stopped is on the wire.
                self.emit(ctx, lines);
                let reason = match self.log_headline() {
                    Some(line) => format!("{reason}; stderr: {line}"),
                    None => reason,
                };
                ctx.halt(reason);
            }
        }
    }

    /// Sends each stdout line as a message (or a client's completion).
    fn emit<N: Node<Msg = Msg, Timer = Timer>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        lines: Vec<Vec<u8>>,
    ) {
        for line in lines {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_line(&line) {
                Ok((dest, body)) => self.route(ctx, &dest, body),
                Err(why) => {
                    self.counts.bad_lines += 1;
                    if self.counts.first_bad.is_none() {
                        let text = String::from_utf8_lossy(&line);
                        let shown: String = text.chars().take(120).collect();
                        self.counts.first_bad = Some(format!("{why}: {shown}"));
                    }
                }
            }
        }
    }

    fn route<N: Node<Msg = Msg, Timer = Timer>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        dest: &str,
        mut body: Map<String, Json>,
    ) {
        let msg_id = body.remove("msg_id").and_then(|v| v.as_u64());
        let in_reply_to = body.remove("in_reply_to").and_then(|v| v.as_u64());
        let layout = ctx.layout();
        // Where the workload brings its own client processes (kafka), `c<i>`
        // is one of them and its replies travel the network as messages;
        // otherwise `c<i>` is the engine's client `i - 1`, answered below.
        let client_process = layout.clients > 0 && dest.starts_with('c');
        let to = layout.service(dest).or_else(|| {
            if client_process {
                layout.lookup(dest)
            } else {
                dest.strip_prefix('n')
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|&n| n < self.nodes)
            }
        });
        if let Some(to) = to {
            let kind = if layout.service(dest).is_some() {
                bridge::service_kind(body)
            } else if client_process {
                bridge::client_kind(body)
            } else {
                Kind::Json(JsonBody(std::sync::Arc::new(body)))
            };
            let msg = Msg {
                src: self.id,
                dest: to,
                body: Body {
                    kind,
                    msg_id,
                    in_reply_to,
                },
            };
            return ctx.send(to, msg);
        }
        if dest.starts_with('c') {
            match in_reply_to.and_then(|r| self.pending.remove(&r)) {
                Some(Pending::Client { id, f, input }) => {
                    let (reply, odd) = bridge::reply_of(f, &input, &body);
                    if let Some(o) = odd {
                        self.counts.odd_replies += 1;
                        self.counts.first_odd.get_or_insert(o);
                    }
                    ctx.reply(id, reply);
                }
                Some(Pending::Setup) | None => {}
            }
            return;
        }
        self.counts.unknown_dest += 1;
    }

    /// The line of stderr that says why the process died: Go's `panic:` or
    /// `fatal error:` line (the stack trace follows it), else the last.
    fn log_headline(&self) -> Option<String> {
        let tail = self.log_tail(200);
        tail.iter()
            .rev()
            .find(|l| l.starts_with("panic:") || l.starts_with("fatal error:"))
            .or(tail.last())
            .cloned()
    }

    /// The last `n` lines of the node's stderr.
    pub fn log_tail(&self, n: usize) -> Vec<String> {
        let (a, b) = self.log.as_slices();
        let text = String::from_utf8_lossy(&[a, b].concat()).into_owned();
        let mut lines: Vec<String> = text
            .lines()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .take(n)
            .map(|l| l.chars().take(200).collect())
            .collect();
        lines.reverse();
        lines
    }

    /// Facts for the report: instructions run, lines the host could not
    /// use, replies of the wrong type.
    pub fn notes(&self, name: &str, halted: bool) -> Vec<String> {
        let mut notes = Vec::new();
        let c = &self.counts;
        if c.bad_lines > 0 {
            notes.push(format!(
                "{name} wrote {} stdout line(s) that are not Maelstrom messages (first: {})",
                c.bad_lines,
                c.first_bad.as_deref().unwrap_or("")
            ));
        }
        if c.unknown_dest > 0 {
            notes.push(format!(
                "{name} sent {} message(s) to no such node; they were dropped",
                c.unknown_dest
            ));
        }
        if c.odd_replies > 0 {
            notes.push(format!(
                "{name} gave {} client reply(ies) the client cannot read, recorded info (first: {name} {})",
                c.odd_replies,
                c.first_odd.as_deref().unwrap_or("")
            ));
        }
        if halted {
            let tail = self.log_tail(5);
            if !tail.is_empty() {
                notes.push(format!("{name}'s last stderr lines: {}", tail.join(" | ")));
            }
        }
        notes
    }

    /// Instructions run and activations, over the run.
    pub fn usage(&self) -> (u64, u64) {
        (self.counts.instructions, self.counts.activations)
    }
}

/// Starts or resumes the guest and runs it until it blocks or ends.
fn run(live: &mut Live, now_ns: u64, cap: u64, name: String) -> End {
    if live.store.set_fuel(cap).is_err() {
        return End::Gone("fuel metering is off".into());
    }
    let result = match (live.start.take(), live.call.take()) {
        (Some(start), _) => start.call_resumable(&mut live.store, &[], &mut []),
        (None, Some(call)) => {
            let errno = complete_wait(&mut live.store, now_ns);
            call.resume(&mut live.store, &[Val::I32(errno)], &mut [])
        }
        (None, None) => return End::Blocked,
    };
    match result {
        Ok(ResumableCall::Finished) => End::Gone("its main function returned (exit code 0)".into()),
        Ok(ResumableCall::HostTrap(call)) => {
            if call.host_error().downcast_ref::<Suspend>().is_some() {
                live.call = Some(call);
                End::Blocked
            } else {
                End::Gone(gone(call.host_error(), live.store.data().limits.denied))
            }
        }
        Ok(ResumableCall::OutOfFuel(_)) => End::Gone(format!(
            "{name} ran {} instructions without blocking (the per-activation cap; node.max_instructions)",
            pow10(cap)
        )),
        Err(e) => End::Gone(gone(&e, live.store.data().limits.denied)),
    }
}

/// Writes the answer of the call the guest is suspended in; its errno.
fn complete_wait(store: &mut Store<HostState>, now_ns: u64) -> i32 {
    let Some(mem) = store.data().memory else {
        return wasi::errno::FAULT;
    };
    let (mem, st) = mem.data_and_store_mut(&mut *store);
    let r = match st.wait.take() {
        Some(Wait::Poll { subs, out, nevents }) => {
            let events = st.ready(&subs, now_ns);
            wasi::put_events(mem, &events, out, nevents)
        }
        Some(Wait::Read {
            iovs,
            iovs_len,
            nread,
        }) => st
            .read_into(mem, iovs, iovs_len)
            .and_then(|n| wasi::put_u32(mem, nread, n)),
        None => Ok(()),
    };
    r.err().unwrap_or(wasi::errno::SUCCESS)
}

/// Why an instance stopped, in words.
fn gone(e: &wasmi::Error, denied: Option<usize>) -> String {
    let oom = denied.map(|d| {
        format!(
            " after the memory cap refused it {} MiB (node.memory_mib)",
            d.div_ceil(1 << 20)
        )
    });
    match e.i32_exit_status() {
        Some(code) => format!("exited with code {code}{}", oom.unwrap_or_default()),
        None => format!("trapped: {e}{}", oom.unwrap_or_default()),
    }
}

/// `n` as `10^k` when it is a power of ten (from 1000), else as is.
fn pow10(n: u64) -> String {
    let s = n.to_string();
    match s.strip_prefix('1') {
        Some(zeros) if zeros.len() > 2 && zeros.bytes().all(|b| b == b'0') => {
            format!("10^{}", zeros.len())
        }
        _ => s,
    }
}

/// A stdout line as (dest, body).
fn parse_line(line: &[u8]) -> Result<(String, Map<String, Json>), &'static str> {
    let v: Json = serde_json::from_slice(line).map_err(|_| "not JSON")?;
    let Json::Object(mut env) = v else {
        return Err("not a JSON object");
    };
    let dest = match env.remove("dest") {
        Some(Json::String(d)) => d,
        _ => return Err("no \"dest\" string"),
    };
    match env.remove("body") {
        Some(Json::Object(b)) => Ok((dest, b)),
        _ => Err("no \"body\" object"),
    }
}

fn file_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "node".into())
}
