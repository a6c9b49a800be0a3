//! The Jepsen client of etcdemo.clj as a client process: bound to the host
//! the workload's node policy names, it writes without waiting for
//! anything and reads by waiting for the host's 8-byte answer.

use sim::{Ctx, Reply, Request, RequestId, Value};

use super::{Cluster, Msg, EMPTY};
use crate::bank::Dir;

/// One Jepsen client.
#[derive(Clone, Debug, Default)]
pub struct JepsenClient {
    /// The read waiting for its answer.
    reading: Option<RequestId>,
}

impl JepsenClient {
    pub(crate) fn on_request(&mut self, ctx: &mut Ctx<'_, Cluster>, r: Request) {
        let host = r.node;
        match r.f {
            "write" => {
                let amount = r.value.as_int().unwrap_or(0);
                // `(rand-nth ["withdraw" "deposit"])`: reads ignore it.
                let dir = if ctx.rng().below(2) == 0 {
                    Dir::Withdraw
                } else {
                    Dir::Deposit
                };
                let ts = ctx.now();
                ctx.send(host, Msg::Set { dir, amount, ts });
                // `(assoc op :type :ok)` right after the flush: acknowledged
                // before the host has read it.
                ctx.reply(r.id, Reply::Ok(r.value));
            }
            _ => {
                self.reading = Some(r.id);
                ctx.send(host, Msg::Get);
            }
        }
    }

    pub(crate) fn on_message(&mut self, ctx: &mut Ctx<'_, Cluster>, msg: Msg) {
        if let (Msg::Value { value }, Some(id)) = (msg, self.reading) {
            self.reading = None;
            let v = if value == EMPTY {
                Value::Null
            } else {
                Value::Int(value)
            };
            ctx.reply(id, Reply::Ok(v));
        }
    }

    /// The connection to the host broke: a read waiting on it throws, which
    /// Jepsen records as `:info`. A write was acknowledged already.
    pub(crate) fn on_link_error(&mut self, ctx: &mut Ctx<'_, Cluster>, msg: Msg) {
        if matches!(msg, Msg::Get) {
            if let Some(id) = self.reading.take() {
                ctx.reply(id, Reply::Info);
            }
        }
    }

    pub(crate) fn on_crash(&mut self) {
        self.reading = None;
    }
}
