//! Challenge #2, unique ids.
//!
//! `faithful` (mchernyakov's cmd/unique_ids.go): id = (millisecond clock
//! ≪ 22) | (tag ≪ 15) | (seq mod 2048). The tag is drawn from 1..=99 at
//! startup by an RNG seeded from the clock, not from the node's id, so two
//! nodes can draw the same tag; `params.tags` pins tags per node (what two
//! processes started with colliding clock seeds would draw). A per-node
//! mutex and a 1 ms sleep give at most one id per millisecond on a node:
//! requests that arrive while the node sleeps wait in line. The clock check
//! is for equality only, so a clock that steps back reuses milliseconds.
//!
//! `intended`: id = seq · 256 + node id (nodes ≤ 256), unique by
//! construction, no clock.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use sim::{Digest, NodeId, Reply, Request, Sim, Value, ValueGen, MS};

use super::{Kind, Net, Server, Timer, Workload};
use crate::{CheckResult, CheckSpec, OpSpec, Variant};

/// `params`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// `faithful`: the tag of each listed node (1..=99) instead of a draw.
    pub tags: BTreeMap<NodeId, u32>,
}

/// A unique-ids server.
#[derive(Clone, Debug, Default)]
pub struct UniqueIds {
    intended: bool,
    id: NodeId,
    pinned: Option<u32>,
    tag: u32,
    seq: i64,
    last_ms: Option<u64>,
    sleeping: bool,
    waiting: VecDeque<Request>,
}

impl UniqueIds {
    /// The tag this node drew (faithful).
    pub fn tag(&self) -> u32 {
        self.tag
    }

    fn drain(&mut self, net: &mut Net<'_, '_, '_, Self>) {
        while let Some(req) = self.waiting.front() {
            let now_ms = net.now() / MS;
            if self.last_ms == Some(now_ms) {
                self.sleeping = true;
                net.set_timer(Timer::NextMs, MS);
                return;
            }
            self.last_ms = Some(now_ms);
            self.seq += 1;
            let id = ((now_ms as i64) << 22) | (i64::from(self.tag) << 15) | (self.seq % 2048);
            let rid = req.id;
            self.waiting.pop_front();
            net.answer(rid, Reply::Ok(Value::Int(id)));
        }
    }
}

impl Workload for UniqueIds {
    const NAME: &'static str = "gg-unique-ids";
    const SUMMARY: &'static str = "Gossip Glomers #2 on a Maelstrom world: globally unique ids (faithful: clock ≪ 22 | random tag ≪ 15 | seq; intended: from the node id)";
    type Params = Params;
    type Cont = ();

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "faithful",
                summary: "(ms clock << 22) | (tag in 1..=99 drawn at start, not the node id, << 15) | (seq mod 2048); one id per ms per node",
            },
            Variant {
                name: "intended",
                summary: "seq * 256 + node id: unique by construction",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        vec![OpSpec {
            name: "generate",
            read: false,
            weight: 1,
            value: ValueGen::Null,
        }]
    }

    fn model() -> Option<&'static str> {
        Some("unique-ids")
    }

    fn checks() -> &'static [CheckSpec] {
        &[
            CheckSpec {
            name: "unique-ids",
            summary: "every id returned by an ok generate is distinct; a violation lists each duplicate with the operations that got it",
        },
            super::checks::STATS,
        ]
    }

    fn default_checks() -> &'static [&'static str] {
        &["unique-ids", "availability", "stats"]
    }

    fn validate(params: &Params, nodes: usize) -> Result<(), String> {
        for (&n, &t) in &params.tags {
            if n >= nodes {
                return Err(format!("tags: node {n} is not a server (0..{nodes})"));
            }
            if !(1..=99).contains(&t) {
                return Err(format!("tags: node {n}'s tag {t} is outside 1..=99"));
            }
        }
        Ok(())
    }

    fn new(id: NodeId, _: usize, variant: &str, params: &Params) -> Self {
        UniqueIds {
            intended: variant == "intended",
            id,
            pinned: params.tags.get(&id).copied(),
            ..UniqueIds::default()
        }
    }

    fn on_init(&mut self, net: &mut Net<'_, '_, '_, Self>) {
        self.tag = match self.pinned {
            Some(t) => t,
            None => net.rng().range(1, 99) as u32,
        };
    }

    fn on_request(&mut self, net: &mut Net<'_, '_, '_, Self>, req: Request) {
        if self.intended {
            let id = self.seq * 256 + self.id as i64;
            self.seq += 1;
            return net.answer(req.id, Reply::Ok(Value::Int(id)));
        }
        self.waiting.push_back(req);
        if !self.sleeping {
            self.drain(net);
        }
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

    fn on_timer(&mut self, net: &mut Net<'_, '_, '_, Self>, _: Timer) {
        self.sleeping = false;
        self.drain(net);
    }

    fn digest(&self) -> Digest {
        Digest::new()
    }

    fn check(name: &str, run: &Sim<Server<Self>>) -> CheckResult {
        match name {
            "unique-ids" => {
                let tags: Vec<u32> = run
                    .nodes()
                    .iter()
                    .filter_map(|p| p.host())
                    .map(|h| h.w.tag)
                    .collect();
                super::checks::unique_ids(run.history(), &tags)
            }
            _ => CheckResult::unknown(format!("gg-unique-ids has no check named {name}")),
        }
    }
}
