//! The last-writer-wins replicated mesh of samsquire/eventually-consistent-mesh
//! (node_lww.py).
//!
//! A client's write reaches an *origin* node, which timestamps it with its
//! own clock and pushes it as `set` to one *target* (round-robin over every
//! node, itself included, as the original load generator does). The target
//! stores it and relays `sync` one hop; a `sync` is never relayed again.
//! Reads are local. The highest timestamp wins.
//!
//! Variants:
//! - `faithful`: the target relays to every inbound connection except the
//!   one the `set` arrived on. Its own connection is one of them, so it
//!   stores the write twice, and the origin never stores it at all (origin
//!   blindness). A link that reports an error is dead for good: everything
//!   later queued for that peer is silently never sent. No anti-entropy.
//!   On equal timestamps the entry that arrived later at *this* node wins,
//!   so ties are decided per node (ECM-3).
//! - `intended`: the target relays to every node but itself, a link error
//!   is retried after a pause until the message gets through, and ties are
//!   broken by one total order (timestamp, origin, value) on every node.

use serde::Serialize;
use sim::{Ctx, Digest, Node, NodeId, Reply, Request, Time, Value};

pub use crate::ecm::Params;
use crate::ecm::{Links, Mode, Timer};
use crate::{OpSpec, Protocol, Variant};

/// Wire messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Origin → target: store this and relay it.
    Set {
        /// Key.
        key: u32,
        /// Value.
        value: i64,
        /// The origin's clock when it sent the write.
        ts: Time,
        /// The node the client wrote through.
        origin: NodeId,
    },
    /// Target → replica: store this (never relayed).
    Sync {
        /// Key.
        key: u32,
        /// Value.
        value: i64,
        /// The original timestamp.
        ts: Time,
        /// The node the client wrote through.
        origin: NodeId,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    value: i64,
    ts: Time,
    origin: NodeId,
}

/// One replica of the mesh.
#[derive(Clone, Debug)]
pub struct Lww {
    mode: Mode,
    params: Params,
    /// Per key (dense: keys are `0..workload.keys`), the winning entry —
    /// the last of a stable sort by ts ascending, as the original reads it.
    store: Vec<Option<Entry>>,
    /// Entries stored per key, duplicates included (the original keeps a list).
    entries: u64,
    next_target: usize,
    /// Outbound links: faithful ones die at their first error, intended
    /// ones resend.
    links: Links<Msg>,
}

impl Lww {
    fn store(&mut self, key: u32, value: i64, ts: Time, origin: NodeId) {
        self.entries += 1;
        let new = Entry { value, ts, origin };
        let k = key as usize;
        if k >= self.store.len() {
            self.store.resize(k + 1, None);
        }
        let e = self.store[k].get_or_insert(new);
        let wins = match self.mode {
            // Among equal timestamps the later arrival wins, as the
            // original's stable sort leaves it last: ties are per node.
            Mode::Faithful => ts >= e.ts,
            // One total order on every node: timestamp, then origin, then value.
            Mode::Intended => (ts, origin, value) >= (e.ts, e.origin, e.value),
        };
        if wins {
            *e = new;
        }
    }

    /// How many entries this replica has stored (duplicates included).
    pub fn entries(&self) -> u64 {
        self.entries
    }
}

impl Node for Lww {
    type Msg = Msg;
    type Timer = Timer;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        // A (re)started process opens fresh links to every peer.
        self.links.reset(ctx.nodes());
        self.next_target = ctx.id();
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, r: Request) {
        let key = r.key.unwrap_or(0);
        match r.f {
            "write" => {
                let value = r.value.as_int().unwrap_or(0);
                let to = self
                    .params
                    .target
                    .pick(ctx.id(), ctx.nodes(), &mut self.next_target);
                let ts = ctx.now();
                let origin = ctx.id();
                self.links.send(
                    ctx,
                    to,
                    Msg::Set {
                        key,
                        value,
                        ts,
                        origin,
                    },
                );
                // As in the Jepsen harness, the write is acknowledged as soon
                // as it is queued, before any replica has applied it.
                ctx.reply(r.id, Reply::Ok(r.value));
            }
            _ => {
                let v = self
                    .store
                    .get(key as usize)
                    .copied()
                    .flatten()
                    .map_or(Value::Null, |e| Value::Int(e.value));
                ctx.reply(r.id, Reply::Ok(v));
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Set {
                key,
                value,
                ts,
                origin,
            } => {
                self.store(key, value, ts, origin);
                let me = ctx.id();
                for peer in 0..ctx.nodes() {
                    let relay = match self.mode {
                        // Every inbound connection but the one the set came
                        // on; our own connection is one of them.
                        Mode::Faithful => peer != from,
                        Mode::Intended => peer != me,
                    };
                    if relay {
                        self.links.send(
                            ctx,
                            peer,
                            Msg::Sync {
                                key,
                                value,
                                ts,
                                origin,
                            },
                        );
                    }
                }
            }
            Msg::Sync {
                key,
                value,
                ts,
                origin,
            } => self.store(key, value, ts, origin),
        }
    }

    fn on_link_error(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId, msg: Msg) {
        self.links.on_error(ctx, to, msg);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        if let Timer::Retry(to) = timer {
            self.links.on_retry(ctx, to);
        }
    }

    fn on_crash(&mut self) {
        // A Python process: nothing survives.
        self.store.clear();
        self.entries = 0;
        self.next_target = 0;
        self.links.clear();
    }

    fn digest(&self) -> Digest {
        self.store
            .iter()
            .enumerate()
            .filter_map(|(k, e)| e.map(|e| (k.to_string(), e.value.to_string())))
            .collect()
    }
}

impl Protocol for Lww {
    const NAME: &'static str = "lww";
    const SUMMARY: &'static str =
        "last-writer-wins replicated mesh, one-hop relay, no anti-entropy (eventually-consistent-mesh node_lww)";
    type Params = Params;

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "faithful",
                summary: "as coded: origin blindness, self-echo, per-node tie-break, a link that errors stays dead",
            },
            Variant {
                name: "intended",
                summary: "relay to every peer but self; failed links retried; ties broken by (timestamp, origin, value)",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        crate::register_ops()
    }

    fn model() -> Option<&'static str> {
        Some("kv")
    }

    fn validate(params: &Params, _nodes: usize) -> Result<(), String> {
        if params.handshake.is_some() {
            // node_lww's relay loop tests "initialized" before it reads a
            // connection's server_index, so it has no ECM-11 race.
            return Err("handshake: lww has no handshake race (node_lww checks a connection's handshake before reading its peer index); only history and bank take this parameter".into());
        }
        params.validate()
    }

    fn notes(run: &sim::Sim<Self>) -> Vec<String> {
        crate::ecm::link_notes(run, |n| &n.links)
    }

    fn new(_id: NodeId, nodes: usize, variant: &str, params: &Params) -> Self {
        let mode = Mode::of(variant);
        Lww {
            mode,
            params: params.clone(),
            store: Vec::new(),
            entries: 0,
            next_target: 0,
            links: params.links(nodes, mode),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::{Effect, Harness};

    fn node(variant: &str, id: NodeId) -> Harness<Lww> {
        let mut h = Harness::new(Lww::new(id, 3, variant, &Params::default()), id, 3);
        h.start();
        h
    }

    fn sends(effects: &[sim::EffectOf<Lww>]) -> Vec<NodeId> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send { to, .. } => Some(*to),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn faithful_target_relays_to_itself_and_skips_the_origin() {
        let mut t = node("faithful", 1);
        let fx = t.message(
            0,
            Msg::Set {
                key: 7,
                value: 1,
                ts: 10,
                origin: 0,
            },
        );
        assert_eq!(
            sends(&fx),
            vec![1, 2],
            "relay skips origin 0 and echoes to self"
        );
        assert_eq!(t.node.entries(), 1);
        t.message(
            1,
            Msg::Sync {
                key: 7,
                value: 1,
                ts: 10,
                origin: 0,
            },
        );
        assert_eq!(t.node.entries(), 2, "the self-echo stores the write twice");
    }

    #[test]
    fn intended_target_relays_to_everyone_but_itself() {
        let mut t = node("intended", 1);
        let fx = t.message(
            0,
            Msg::Set {
                key: 7,
                value: 1,
                ts: 10,
                origin: 0,
            },
        );
        assert_eq!(sends(&fx), vec![0, 2]);
    }

    #[test]
    fn highest_timestamp_wins_and_ties_go_to_the_later_arrival() {
        let mut n = node("faithful", 0);
        n.message(
            1,
            Msg::Sync {
                key: 1,
                value: 5,
                ts: 20,
                origin: 0,
            },
        );
        n.message(
            1,
            Msg::Sync {
                key: 1,
                value: 6,
                ts: 10,
                origin: 0,
            },
        );
        assert_eq!(n.node.digest()["1"], "5");
        n.message(
            2,
            Msg::Sync {
                key: 1,
                value: 7,
                ts: 20,
                origin: 0,
            },
        );
        assert_eq!(n.node.digest()["1"], "7");
    }

    #[test]
    fn intended_ties_follow_one_total_order_whatever_the_arrival() {
        let a = Msg::Sync {
            key: 1,
            value: 5,
            ts: 20,
            origin: 2,
        };
        let b = Msg::Sync {
            key: 1,
            value: 6,
            ts: 20,
            origin: 1,
        };
        let mut x = node("intended", 0);
        x.message(1, a.clone());
        x.message(1, b.clone());
        let mut y = node("intended", 0);
        y.message(1, b);
        y.message(1, a);
        assert_eq!(x.node.digest()["1"], "5");
        assert_eq!(y.node.digest()["1"], "5");
    }

    #[test]
    fn writes_are_acked_at_once_and_stamped_with_the_local_clock() {
        let mut o = node("faithful", 0);
        o.now = 5_000_123;
        let fx = o.request(Request {
            id: 3,
            node: 0,
            f: "write",
            key: Some(2),
            value: Value::Int(9),
        });
        assert!(matches!(
            &fx[0],
            Effect::Send {
                to: 0,
                msg: Msg::Set {
                    key: 2,
                    value: 9,
                    ts: 5_000_123,
                    origin: 0
                }
            }
        ));
        assert!(matches!(
            &fx[1],
            Effect::Reply {
                id: 3,
                reply: Reply::Ok(Value::Int(9))
            }
        ));
    }

    #[test]
    fn faithful_link_error_kills_the_link_intended_retries() {
        let mut f = node("faithful", 0);
        f.link_error(
            2,
            Msg::Sync {
                key: 1,
                value: 1,
                ts: 1,
                origin: 0,
            },
        );
        let fx = f.message(
            1,
            Msg::Set {
                key: 1,
                value: 2,
                ts: 2,
                origin: 0,
            },
        );
        assert_eq!(sends(&fx), vec![0], "nothing more goes to dead peer 2");

        let mut i = node("intended", 0);
        let fx = i.link_error(
            2,
            Msg::Sync {
                key: 1,
                value: 1,
                ts: 1,
                origin: 0,
            },
        );
        assert!(matches!(
            fx[0],
            Effect::SetTimer {
                tag: Timer::Retry(2),
                ..
            }
        ));
        let fx = i.timer(Timer::Retry(2));
        assert_eq!(sends(&fx), vec![2]);
    }

    #[test]
    fn reads_are_local() {
        let mut n = node("faithful", 0);
        let fx = n.request(Request {
            id: 1,
            node: 0,
            f: "read",
            key: Some(4),
            value: Value::Null,
        });
        assert!(matches!(
            &fx[0],
            Effect::Reply {
                reply: Reply::Ok(Value::Null),
                ..
            }
        ));
    }
}
