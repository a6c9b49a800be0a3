//! Maelstrom's services: `lin-kv`, `seq-kv`, `lww-kv` and `lin-tso`,
//! processes beside the servers that answer `read`, `write`, `cas` (and
//! `ts`) with Maelstrom's error codes.

use std::collections::BTreeMap;

use serde::Deserialize;
use sim::{Ctx, Layout, NodeId};

use super::{code, Body, Kind, Msg, Server, Workload};
use crate::ServiceSpec;

/// The services, as `dsim list` shows them.
pub const SPECS: &[ServiceSpec] = &[
    ServiceSpec {
        name: "lin-kv",
        summary: "linearizable key-value store: one state; read, write, cas (with create_if_not_exists)",
    },
    ServiceSpec {
        name: "seq-kv",
        summary: "sequentially consistent key-value store: keeps the last `ring` states (knob, default 32) and an index per client; reads (and a cas that fails) see a random state from that client's index to the newest, so reads can be stale; mutations apply to the newest, so no cas is lost",
    },
    ServiceSpec {
        name: "lww-kv",
        summary: "last-write-wins key-value store: `replicas` copies (knob, default 3); each operation hits a random copy; a write is stamped with the service's clock; copies merge pairwise at random after operations",
    },
    ServiceSpec {
        name: "lin-tso",
        summary: "timestamp oracle: ts answers ts_ok with strictly increasing integers",
    },
];

type Store = BTreeMap<String, (i64, u64)>;

/// Knobs of the services (`services[].params`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Knobs {
    #[serde(default = "ring")]
    ring: usize,
    #[serde(default = "copies")]
    replicas: usize,
}

fn ring() -> usize {
    32
}
fn copies() -> usize {
    3
}

/// A service process.
#[derive(Clone, Debug)]
pub enum Service {
    /// `lin-kv`.
    Lin(Store),
    /// `seq-kv`.
    Seq(SeqKv),
    /// `lww-kv`: copies of the store, values stamped (value, stamp).
    Lww(Vec<Store>),
    /// `lin-tso`: the last timestamp given out.
    Tso(i64),
}

/// `seq-kv`'s state.
#[derive(Clone, Debug)]
pub struct SeqKv {
    /// The newest states, oldest first; `first` is the index of `states[0]`.
    states: std::collections::VecDeque<Store>,
    first: u64,
    ring: usize,
    /// Each client's index: it never sees a state older than this.
    index: BTreeMap<NodeId, u64>,
    /// Reads answered from an older state than the newest: per client, how
    /// many, and the last one's (state read, newest then).
    pub stale: BTreeMap<NodeId, (u64, u64, u64)>,
}

impl Service {
    /// What a report should say about this service after a run.
    pub fn notes(&self, name: &str, layout: &Layout) -> Vec<String> {
        let Service::Seq(s) = self else {
            return Vec::new();
        };
        s.stale
            .iter()
            .map(|(c, (n, at, newest))| {
                format!(
                    "{name} answered {n} read(s) by {} from an older state than the newest; the last read state {at} when {newest} was the newest",
                    layout.name(*c)
                )
            })
            .collect()
    }

    /// Service `name` configured by `knobs`.
    pub fn new(name: &str, _layout: &Layout, knobs: &serde_json::Value) -> Result<Service, String> {
        let k: Knobs = crate::service_knobs(name, knobs)?;
        let is_default = |field: &str| knobs.get(field).is_none();
        match name {
            "lin-kv" | "lin-tso" if !(is_default("ring") && is_default("replicas")) => {
                Err(format!("{name} has no knobs"))
            }
            "lin-kv" => Ok(Service::Lin(Store::new())),
            "lin-tso" => Ok(Service::Tso(0)),
            "seq-kv" if !is_default("replicas") => Err("seq-kv: knob replicas belongs to lww-kv; seq-kv has ring".into()),
            "seq-kv" if k.ring == 0 => Err("seq-kv: ring must be at least 1".into()),
            "seq-kv" => Ok(Service::Seq(SeqKv {
                states: std::iter::once(Store::new()).collect(),
                first: 0,
                ring: k.ring,
                index: BTreeMap::new(),
                stale: BTreeMap::new(),
            })),
            "lww-kv" if !is_default("ring") => Err("lww-kv: knob ring belongs to seq-kv; lww-kv has replicas".into()),
            "lww-kv" if k.replicas == 0 => Err("lww-kv: replicas must be at least 1".into()),
            "lww-kv" => Ok(Service::Lww(vec![Store::new(); k.replicas])),
            _ => Err(format!(
                "Maelstrom runs no service named {name}; the services are lin-kv, seq-kv, lww-kv and lin-tso"
            )),
        }
    }

    /// Answers one request.
    pub fn on_message<W: Workload>(
        &mut self,
        ctx: &mut Ctx<'_, Server<W>>,
        from: NodeId,
        msg: Msg,
    ) {
        let Some(msg_id) = msg.body.msg_id else {
            return; // Replies to nothing are not requests.
        };
        let now = ctx.now();
        let kind = match self {
            Service::Tso(last) => match msg.body.kind {
                Kind::Ts => {
                    *last += 1;
                    Kind::TsOk { ts: *last }
                }
                k => not_supported(&k),
            },
            Service::Lin(store) => apply(store, msg.body.kind, now, Stamps::Ignore).1,
            Service::Seq(s) => s.on_op(ctx.rng(), from, msg.body.kind, now),
            Service::Lww(copies) => {
                let n = copies.len() as u64;
                let i = ctx.rng().below(n) as usize;
                let out = apply(&mut copies[i], msg.body.kind, now, Stamps::Lww).1;
                if ctx.rng().below(2) == 0 {
                    let j = ctx.rng().below(n) as usize;
                    let merged = merge(&copies[i], &copies[j]);
                    copies[i] = merged.clone();
                    copies[j] = merged;
                }
                out
            }
        };
        let me = ctx.id();
        ctx.send(
            from,
            Msg {
                src: me,
                dest: from,
                body: Body {
                    kind,
                    msg_id: None,
                    in_reply_to: Some(msg_id),
                },
            },
        );
    }
}

fn not_supported(k: &Kind) -> Kind {
    Kind::Error {
        code: code::NOT_SUPPORTED,
        text: format!("{} is not supported here", k.name()),
    }
}

fn missing(key: &str) -> Kind {
    Kind::Error {
        code: code::KEY_DOES_NOT_EXIST,
        text: format!("key {key} does not exist"),
    }
}

/// Whether an update may replace a value stamped later than itself.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stamps {
    /// Yes: the store is one linearizable (or sequential) register per key.
    Ignore,
    /// No: last write wins by stamp, then by the larger value, as a merge
    /// decides. An update stamped before what the copy holds (the service's
    /// clock stepped back) is acknowledged but does not replace it.
    Lww,
}

/// Stores `value` for `key` at service time `now`, unless `stamps` keeps
/// what is there.
fn put(store: &mut Store, key: String, value: i64, now: u64, stamps: Stamps) {
    let older = |&(v0, t0): &(i64, u64)| (now, value) < (t0, v0);
    if stamps == Stamps::Lww && store.get(&key).is_some_and(older) {
        return;
    }
    store.insert(key, (value, now));
}

/// Applies one operation to `store` at service time `now`; true when it
/// changed the store.
fn apply(store: &mut Store, kind: Kind, now: u64, stamps: Stamps) -> (bool, Kind) {
    match kind {
        Kind::Read { key } => match store.get(&key) {
            Some((v, _)) => (false, Kind::ReadOk { value: *v }),
            None => (false, missing(&key)),
        },
        Kind::Write { key, value } => {
            put(store, key, value, now, stamps);
            (true, Kind::WriteOk)
        }
        Kind::Cas {
            key,
            from,
            to,
            create_if_not_exists,
        } => match store.get(&key) {
            None if create_if_not_exists => {
                put(store, key, to, now, stamps);
                (true, Kind::CasOk)
            }
            None => (false, missing(&key)),
            Some((v, _)) if *v == from => {
                put(store, key, to, now, stamps);
                (true, Kind::CasOk)
            }
            Some((v, _)) => (
                false,
                Kind::Error {
                    code: code::PRECONDITION_FAILED,
                    text: format!("expected {from}, but had {v}"),
                },
            ),
        },
        k => (false, not_supported(&k)),
    }
}

/// The union of two lww copies, the later stamp (then the larger value)
/// winning per key.
fn merge(a: &Store, b: &Store) -> Store {
    let mut out = a.clone();
    for (k, (v, t)) in b {
        match out.get(k) {
            // The later stamp wins; at equal stamps the larger value, so
            // that merging in either order gives the same copy.
            Some(&(mv, mt)) if (mt, mv) >= (*t, *v) => {}
            _ => {
                out.insert(k.clone(), (*v, *t));
            }
        }
    }
    out
}

impl SeqKv {
    fn newest(&self) -> u64 {
        self.first + self.states.len() as u64 - 1
    }

    /// A mutation applies to the newest state and moves the client there;
    /// anything that leaves the newest state unchanged (a read, a failed
    /// cas) is answered from a random state between the client's index and
    /// the newest, and moves the client's index to it.
    fn on_op(&mut self, rng: &mut sim::Rng, client: NodeId, kind: Kind, now: u64) -> Kind {
        let newest = self.newest();
        let mut next = self.states.back().expect("at least one state").clone();
        let (changed, out) = apply(&mut next, kind.clone(), now, Stamps::Ignore);
        if changed {
            self.states.push_back(next);
            if self.states.len() > self.ring {
                self.states.pop_front();
                self.first += 1;
            }
            self.index.insert(client, self.newest());
            return out;
        }
        if !matches!(kind, Kind::Read { .. }) {
            // A failed cas answers from the newest state: reporting success
            // from an older one would be a write that never happened.
            return out;
        }
        let low = self
            .index
            .get(&client)
            .copied()
            .unwrap_or(0)
            .max(self.first);
        let at = rng.range(low, newest);
        self.index.insert(client, at);
        if at < newest {
            let e = self.stale.entry(client).or_insert((0, 0, 0));
            *e = (e.0 + 1, at, newest);
        }
        let mut state = self.states[(at - self.first) as usize].clone();
        apply(&mut state, kind, now, Stamps::Ignore).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read() -> Kind {
        Kind::Read { key: "k".into() }
    }

    #[test]
    fn seq_kv_reads_can_be_stale_but_never_go_back_and_cas_is_never_lost() {
        let mut s = SeqKv {
            states: std::iter::once(Store::new()).collect(),
            first: 0,
            ring: 32,
            index: BTreeMap::new(),
            stale: BTreeMap::new(),
        };
        let mut rng = sim::Rng::derive(1, "t");
        for v in 1..=5 {
            let out = s.on_op(
                &mut rng,
                0,
                Kind::Write {
                    key: "k".into(),
                    value: v,
                },
                0,
            );
            assert!(matches!(out, Kind::WriteOk));
        }
        // A client that has never read may see any state, including the
        // empty first one; each client's answers never go back.
        let mut stale = false;
        for client in 1..20 {
            let mut last = -1;
            for _ in 0..5 {
                let v = match s.on_op(&mut rng, client, read(), 0) {
                    Kind::ReadOk { value } => value,
                    Kind::Error { code, .. } => {
                        assert_eq!(code, code::KEY_DOES_NOT_EXIST);
                        0
                    }
                    k => panic!("{k:?}"),
                };
                assert!(v >= last, "{v} after {last}");
                stale |= v < 5;
                last = v;
            }
        }
        assert!(stale, "some read saw an old state");
        // The writer reads its own write: its index is the newest.
        assert!(matches!(
            s.on_op(&mut rng, 0, read(), 0),
            Kind::ReadOk { value: 5 }
        ));
        // A cas from a stale value fails; from the newest it succeeds.
        let cas = |from| Kind::Cas {
            key: "k".into(),
            from,
            to: 9,
            create_if_not_exists: false,
        };
        assert!(matches!(
            s.on_op(&mut rng, 2, cas(3), 0),
            Kind::Error { code: 22, .. }
        ));
        assert!(matches!(s.on_op(&mut rng, 2, cas(5), 0), Kind::CasOk));
    }
}
