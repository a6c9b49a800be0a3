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
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value as Json};
use sim::{Ctx, Node, NodeId, Request, RequestId, Value};

use super::bridge::{self, JsonBody};
use super::engine::{self, lock, Instance};
use super::wasi::{self, HostState, MemCap, Wait};
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
    /// What the guest sees of the world (shared with the engine's store).
    host: Arc<Mutex<HostState>>,
    instance: Instance,
    /// Whether `_start` has been called.
    started: bool,
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
        lock(&live.host).stdin.extend(line);
    }

    fn instantiate<N: Node<Msg = Msg, Timer = Timer>>(
        &self,
        ctx: &mut Ctx<'_, N>,
    ) -> Result<Live, String> {
        let p = &self.foreign.program;
        let limits = &self.foreign.limits;
        let state = HostState::new(
            limits,
            sim::Rng::derive(ctx.rng().next_u64(), "wasm"),
            vec![file_name(&p.path)],
        );
        let host = Arc::new(Mutex::new(state));
        let cap = MemCap::mib(limits.memory_mib);
        match Instance::new(&p.compiled, host.clone(), cap, limits.max_instructions) {
            Ok(instance) => Ok(Live {
                host,
                instance,
                started: false,
            }),
            Err((_, Some(denied))) => Err(format!(
                "cannot start {}: it needs {} MiB of memory at start, past the cap of {} MiB (node.memory_mib)",
                p.path,
                denied.div_ceil(1 << 20),
                limits.memory_mib
            )),
            Err((e, None)) => Err(format!("cannot instantiate {}: {e}", p.path)),
        }
    }

    /// Resumes the guest if what it waits for is there; else makes sure
    /// its deadline timer is set.
    fn wake<N: Node<Msg = Msg, Timer = Timer>>(&mut self, ctx: &mut Ctx<'_, N>) {
        if self.held.is_some() {
            return; // Busy: the input waits in stdin.
        }
        let Some(live) = &self.live else { return };
        let now_ns = ctx.now().saturating_mul(1000);
        let ready = {
            let st = lock(&live.host);
            match &st.wait {
                Some(Wait::Poll { subs, .. }) => !st.ready(subs, now_ns).is_empty(),
                Some(Wait::Read { .. }) => !st.stdin.is_empty(),
                None => !live.started,
            }
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
        let deadline = lock(&live.host).wait.as_ref().and_then(Wait::deadline);
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
        lock(&live.host).now_ns = ctx.now().saturating_mul(1000);
        let act = live.instance.run(cap);
        live.started = true;
        let used = act.used;
        let end = end_of(act, cap, ctx.layout().name(self.id));
        self.counts.activations += 1;
        self.counts.instructions += used;
        let mut st = lock(&live.host);
        let lines = std::mem::take(&mut st.lines);
        self.log.extend(st.stderr.drain(..));
        let over = self.log.len().saturating_sub(wasi::LOG_BYTES);
        self.log.drain(..over);
        self.log_dropped += over as u64 + std::mem::take(&mut st.stderr_dropped);
        drop(st);
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

/// How an activation ended, for the node: blocked, or gone with the
/// reason (`name` the node's, `cap` its instruction cap).
fn end_of(act: engine::Activation, cap: u64, name: String) -> End {
    let oom = act
        .denied
        .map(|d| {
            format!(
                " after the memory cap refused it {} MiB (node.memory_mib)",
                d.div_ceil(1 << 20)
            )
        })
        .unwrap_or_default();
    End::Gone(match act.end {
        engine::End::Blocked => return End::Blocked,
        engine::End::Returned => "its main function returned (exit code 0)".into(),
        engine::End::Exited(code) => format!("exited with code {code}{oom}"),
        engine::End::Trapped(why) => format!("trapped: {why}{oom}"),
        engine::End::OutOfFuel => format!(
            "{name} ran {} instructions without blocking (the per-activation cap; node.max_instructions)",
            pow10(cap)
        ),
    })
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
