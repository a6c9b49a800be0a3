//! Challenge #1, echo: the server answers each `echo` with its own body
//! retyped to `echo_ok`. The seed's code and the intended solution are the
//! same program; both variants exist so every workload reads alike.

use serde::{Deserialize, Serialize};
use sim::{Digest, NodeId, Reply, Request, Sim, ValueGen};

use super::{Kind, Net, Server, Timer, Workload};
use crate::{CheckResult, CheckSpec, OpSpec, Variant};

/// `params` (none).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

/// An echo server.
#[derive(Clone, Debug, Default)]
pub struct Echo;

impl Workload for Echo {
    const NAME: &'static str = "gg-echo";
    const SUMMARY: &'static str =
        "Gossip Glomers #1 on a Maelstrom world: echo answers each request with its own body";
    type Params = Params;
    type Cont = ();

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "faithful",
                summary: "mchernyakov's echo: the request body retyped to echo_ok",
            },
            Variant {
                name: "intended",
                summary: "the same program (echo has nothing to get wrong)",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        vec![OpSpec {
            name: "echo",
            read: false,
            weight: 1,
            value: ValueGen::Unique,
        }]
    }

    fn checks() -> &'static [CheckSpec] {
        &[
            CheckSpec {
                name: "echo",
                summary: "every echo came back ok with exactly the value it sent (as Maelstrom's checker: an echo that ended info or fail, or never ended, is wrong)",
            },
            super::checks::STATS,
        ]
    }

    fn default_checks() -> &'static [&'static str] {
        &["echo", "availability", "stats"]
    }

    fn new(_: NodeId, _: usize, _: &str, _: &Params) -> Self {
        Echo
    }

    fn on_init(&mut self, _: &mut Net<'_, '_, '_, Self>) {}

    fn on_request(&mut self, net: &mut Net<'_, '_, '_, Self>, req: Request) {
        net.answer(req.id, Reply::Ok(req.value));
    }

    fn on_message(
        &mut self,
        _: &mut Net<'_, '_, '_, Self>,
        _: NodeId,
        _: Option<u64>,
        kind: Kind,
    ) -> Result<(), Kind> {
        Err(kind)
    }

    fn on_reply(&mut self, _: &mut Net<'_, '_, '_, Self>, _: (), _: Kind) {}

    fn on_timer(&mut self, _: &mut Net<'_, '_, '_, Self>, _: Timer) {}

    fn digest(&self) -> Digest {
        Digest::new()
    }

    fn check(name: &str, run: &Sim<Server<Self>>) -> CheckResult {
        match name {
            "echo" => super::checks::echo(run.history()),
            _ => CheckResult::unknown(format!("gg-echo has no check named {name}")),
        }
    }
}
