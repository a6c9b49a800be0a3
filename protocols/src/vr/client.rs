//! vrrm's client (`vrrm_cli`) as a client process: one synchronous call at
//! a time with a 500 ms timeout; `not_primary` redirects (bounded here, so
//! a redirect loop ends as an unanswered operation instead of a hang); on a
//! timeout, the same request number to every replica in reverse order,
//! 500 ms each, the first `ok` winning; none → `lost_cluster`.

use sim::{Ctx, NodeId, Reply, Request, RequestId, Value, MS};

use super::msg::{Answer, Cmd, Msg, Timer};
use super::{Params, Vr};

/// The operation in flight.
#[derive(Clone, Debug)]
struct Call {
    id: RequestId,
    cmd: Cmd,
    /// What the history records on success for an update.
    written: Option<Value>,
    /// The replica called now.
    target: NodeId,
    /// Redirects followed.
    redirects: u32,
    /// The fallback's replicas still to try (`None`: not in fallback).
    fallback: Option<Vec<NodeId>>,
    /// An admin probe (`get_status`), not a command.
    probe: bool,
}

/// A client process.
#[derive(Clone, Debug)]
pub struct Client {
    replicas: usize,
    timeout_ms: u64,
    max_redirects: u32,
    /// D10: keep the request number after a fallback success (vrrm).
    reuse_after_fallback: bool,
    req_num: u64,
    /// Numbers each call, so a stale timer is recognised.
    attempt: u64,
    current: Option<Call>,
}

impl Client {
    /// A client of `replicas` replicas.
    pub fn new(replicas: usize, params: &Params, reuse_after_fallback: bool) -> Self {
        Client {
            replicas,
            timeout_ms: params.client_timeout_ms,
            max_redirects: params.max_redirects,
            reuse_after_fallback,
            req_num: 0,
            attempt: 0,
            current: None,
        }
    }

    pub(crate) fn on_crash(&mut self) {
        self.current = None;
    }

    pub(crate) fn on_request(&mut self, ctx: &mut Ctx<'_, Vr>, request: Request) {
        if self.current.take().is_some() {
            self.req_num += 1; // the workload gave up on the one in flight
        }
        let key = request.key.unwrap_or(0);
        let n = request.value.as_int().unwrap_or(0);
        let (cmd, written) = match request.f {
            "write" => (Cmd::Put { key, value: n }, Some(request.value.clone())),
            "add" => (Cmd::Add { key, by: n }, Some(request.value.clone())),
            "reconfigure" => match self.new_config(&request.value) {
                Ok(config) => (Cmd::Reconfigure { config }, Some(request.value.clone())),
                Err(why) => {
                    // Not sent: vrrm would ship any list (its "validate new
                    // config" is a TODO), but an id that names no replica
                    // has no process here.
                    ctx.reply(request.id, Reply::Fail(Value::Str(why)));
                    return;
                }
            },
            _ => (Cmd::Get { key }, None),
        };
        self.current = Some(Call {
            id: request.id,
            cmd,
            written,
            target: request.node.min(self.replicas - 1),
            redirects: 0,
            fallback: None,
            probe: request.f == "get_status",
        });
        self.call(ctx);
    }

    /// A reconfigure operation's value: distinct replica ids.
    fn new_config(&self, value: &Value) -> Result<Vec<NodeId>, String> {
        let Value::List(l) = value else {
            return Err("a reconfigure operation's value must be a list of replica ids".into());
        };
        let mut config = Vec::new();
        for v in l {
            match v.as_int() {
                Some(i) if i >= 0 && (i as usize) < self.replicas => {
                    if config.contains(&(i as usize)) {
                        return Err(format!("the new configuration names replica {i} twice"));
                    }
                    config.push(i as usize);
                }
                _ => {
                    return Err(format!(
                        "the new configuration must name replicas 0..{}, not {v:?}",
                        self.replicas
                    ))
                }
            }
        }
        if config.is_empty() {
            return Err("the new configuration names no replica".into());
        }
        Ok(config)
    }

    /// Calls the current target.
    fn call(&mut self, ctx: &mut Ctx<'_, Vr>) {
        let Some(c) = &self.current else { return };
        self.attempt += 1;
        let msg = if c.probe {
            Msg::GetStatus {
                probe: self.attempt,
            }
        } else {
            Msg::Request {
                req_num: self.req_num,
                cmd: c.cmd.clone(),
            }
        };
        ctx.send(c.target, msg);
        ctx.set_timer(Timer::Call(self.attempt), self.timeout_ms * MS);
    }

    /// The call failed: next replica of the fallback, or give up.
    fn next(&mut self, ctx: &mut Ctx<'_, Vr>) {
        let Some(c) = self.current.as_mut() else {
            return;
        };
        let left = c
            .fallback
            .get_or_insert_with(|| (0..self.replicas).rev().collect());
        if left.is_empty() {
            return self.give_up(ctx); // {error, lost_cluster}
        }
        c.target = left.remove(0);
        self.call(ctx);
    }

    fn give_up(&mut self, ctx: &mut Ctx<'_, Vr>) {
        if let Some(c) = self.current.take() {
            ctx.cancel_timer(Timer::Call(self.attempt));
            ctx.reply(c.id, Reply::Info);
            if !self.reuse_after_fallback {
                self.req_num += 1;
            }
        }
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_, Vr>, timer: Timer) {
        if timer != Timer::Call(self.attempt) {
            return;
        }
        if self.current.as_ref().is_some_and(|c| c.probe) {
            // A probe is one call: unanswered, it ends unanswered.
            if let Some(c) = self.current.take() {
                ctx.reply(c.id, Reply::Info);
            }
            return;
        }
        self.next(ctx);
    }

    /// A probe's answer completes it as `fail`: a probe does nothing to the
    /// replicated data, so the models must not see it; the status is its
    /// value in the history.
    fn on_status(&mut self, ctx: &mut Ctx<'_, Vr>, from: NodeId, probe: u64, status: String) {
        let Some(c) = &self.current else { return };
        if c.probe && from == c.target && probe == self.attempt {
            let c = self.current.take().expect("checked above");
            ctx.cancel_timer(Timer::Call(self.attempt));
            ctx.reply(c.id, Reply::Fail(Value::Str(status)));
        }
    }

    pub(crate) fn on_message(&mut self, ctx: &mut Ctx<'_, Vr>, from: NodeId, msg: Msg) {
        if let Msg::Status { probe, status } = msg {
            return self.on_status(ctx, from, probe, status);
        }
        let Msg::Reply { req_num, answer } = msg else {
            return;
        };
        let Some(c) = self.current.as_mut() else {
            return;
        };
        // A gen_statem call takes only the answer of the replica called.
        if from != c.target || req_num != self.req_num {
            return;
        }
        match answer {
            Answer::Ok(v) => {
                let c = self.current.take().expect("checked above");
                ctx.cancel_timer(Timer::Call(self.attempt));
                let out = c.written.unwrap_or(v);
                ctx.reply(c.id, Reply::Ok(out));
                if c.fallback.is_none() || !self.reuse_after_fallback {
                    self.req_num += 1;
                }
            }
            Answer::NotPrimary(p) if c.fallback.is_none() => {
                c.redirects += 1;
                if c.redirects > self.max_redirects {
                    return self.give_up(ctx);
                }
                c.target = p;
                ctx.cancel_timer(Timer::Call(self.attempt));
                self.call(ctx);
            }
            Answer::NotPrimary(_) => {
                ctx.cancel_timer(Timer::Call(self.attempt));
                self.next(ctx);
            }
            Answer::Refused(why) => {
                // A definite refusal: nothing ran.
                let c = self.current.take().expect("checked above");
                ctx.cancel_timer(Timer::Call(self.attempt));
                ctx.reply(c.id, Reply::Fail(Value::Str(why)));
                self.req_num += 1;
            }
        }
    }
}
