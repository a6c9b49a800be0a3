//! Protocol nodes for dsim, each simulated faithfully (as the original code
//! behaves, bugs included) and as intended (as its authors meant it), plus
//! the checks that judge a run of them.
//!
//! A protocol is a [`sim::Node`] plus a [`Protocol`] description: its name,
//! variants, client operations, the sequential model its clients are checked
//! against, and its own checks. The `dsim` crate's `Registry` reaches
//! protocols by name; this repository's protocols are registered in
//! `Registry::bundled`, a protocol of another crate the same way.

#![warn(missing_docs)]

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sim::{Layout, NodeId, Sim, ValueGen};

pub mod bank;
pub mod check;
pub mod cluster;
pub mod counter;
pub mod ecm;
pub mod generic;
mod generic_reads;
pub mod handshake;
pub mod history;
pub mod lww;
pub mod maelstrom;
pub mod memstate;
pub mod mesh;
pub mod seqlog;
pub mod vr;

pub use check::{CheckResult, Status};
pub use generic::CheckParams;

/// A named variant of a protocol.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    /// Name used in scenario files.
    pub name: &'static str,
    /// One line on how it behaves.
    pub summary: &'static str,
}

/// A client operation a protocol understands, with its default place in a
/// generated workload.
#[derive(Clone, Debug)]
pub struct OpSpec {
    /// Name (`f` in histories).
    pub name: &'static str,
    /// True when the operation only reads (the `monotonic-reads` check
    /// judges these).
    pub read: bool,
    /// Weight in the default mix (0: only when asked for).
    pub weight: u32,
    /// How a generated input value is drawn by default.
    pub value: ValueGen,
}

/// A check a protocol offers beyond the generic ones.
#[derive(Clone, Copy, Debug)]
pub struct CheckSpec {
    /// Name used in scenario files and reports.
    pub name: &'static str,
    /// One line on what it verifies.
    pub summary: &'static str,
}

/// A service a protocol's world can run beside its replicas.
#[derive(Clone, Copy, Debug)]
pub struct ServiceSpec {
    /// Name used in scenario files (and as the process's name).
    pub name: &'static str,
    /// One line on what it does, and its knobs.
    pub summary: &'static str,
}

/// Which client runs a scenario's operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientMode {
    /// The engine's generic client: each operation goes straight to a
    /// replica's `on_request`, and the replica's reply completes it.
    #[default]
    Generic,
    /// The protocol's own client processes (see [`Protocol::client`]).
    Protocol,
}

impl ClientMode {
    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            ClientMode::Generic => "generic",
            ClientMode::Protocol => "protocol",
        }
    }
}

/// Everything the runner needs to know about a protocol besides its handlers.
pub trait Protocol: sim::Node + Sized + 'static {
    /// Name used in scenario files.
    const NAME: &'static str;
    /// One line on what it is.
    const SUMMARY: &'static str;
    /// The scenario's `params` object (unknown fields must be rejected).
    type Params: DeserializeOwned + Serialize + Default + Clone + Debug;

    /// The variants; the first is the default.
    fn variants() -> &'static [Variant];
    /// The client operations.
    fn ops() -> Vec<OpSpec>;
    /// Whether generated operations carry keys by default.
    fn keyed() -> bool {
        true
    }
    /// The checker model clients are checked against (`None`: not applicable).
    fn model() -> Option<&'static str>;
    /// Checks specific to this protocol.
    fn checks() -> &'static [CheckSpec] {
        &[]
    }
    /// The checks a scenario runs when it names none.
    fn default_checks() -> &'static [&'static str] {
        &["convergence"]
    }
    /// Validates the parameters beyond their types (e.g. node ids in range).
    fn validate(params: &Self::Params, nodes: usize) -> Result<(), String> {
        let _ = (params, nodes);
        Ok(())
    }
    /// Node `id` of a cluster of `nodes`, in `variant` (one of [`Protocol::variants`]).
    fn new(id: NodeId, nodes: usize, variant: &str, params: &Self::Params) -> Self;
    /// The services this protocol's world can run (a scenario picks them).
    fn services() -> &'static [ServiceSpec] {
        &[]
    }
    /// The services a scenario runs when it names none (`services` absent).
    fn default_services() -> &'static [&'static str] {
        &[]
    }
    /// Service `name` (one of [`Protocol::services`]) as its process in
    /// `layout`, configured by the scenario's `knobs` for it (a JSON object;
    /// unknown knobs must be refused with a message naming them).
    fn service(
        name: &str,
        layout: &Layout,
        params: &Self::Params,
        knobs: &serde_json::Value,
    ) -> Result<Self, String> {
        let _ = (layout, params, knobs);
        Err(format!("{} runs no service named {name}", Self::NAME))
    }
    /// The clients this protocol can run its workload with; the first is
    /// the default.
    fn client_modes() -> &'static [ClientMode] {
        &[ClientMode::Generic]
    }
    /// The client process of workload client `index` in `layout` (called
    /// when the scenario runs [`ClientMode::Protocol`]). It receives each
    /// operation through `on_request` and completes it with `reply`.
    fn client(index: usize, layout: &Layout, variant: &str, params: &Self::Params) -> Option<Self> {
        let _ = (index, layout, variant, params);
        None
    }
    /// Facts about a finished run that explain its outcome (links that died,
    /// phases that never ended, …), shown above the checks.
    fn notes(run: &Sim<Self>) -> Vec<String> {
        let _ = run;
        Vec::new()
    }
    /// True when [`Protocol::provenance_dot`] draws something.
    const RECORDS_PROVENANCE: bool = false;
    /// The provenance graph of `key` as Graphviz DOT, for protocols that
    /// record where values came from (`None`: this protocol does not).
    fn provenance_dot(run: &Sim<Self>, key: u32) -> Option<String> {
        let _ = (run, key);
        None
    }
    /// Replica `id` of `nodes` as a foreign node: a user's WebAssembly
    /// program ([`maelstrom::wasm`]). The default refuses: only a world that
    /// speaks the program's protocol (Maelstrom's) can host one.
    fn foreign(
        id: NodeId,
        nodes: usize,
        params: &Self::Params,
        node: &maelstrom::wasm::Foreign,
    ) -> Result<Self, String> {
        let _ = (id, nodes, params, node);
        Err(format!(
            "{} cannot run a user's program as a node; the Maelstrom protocols (gg-*) can",
            Self::NAME
        ))
    }
    /// Runs protocol check `name` (one of [`Protocol::checks`]) on a finished run.
    fn check(name: &str, _run: &Sim<Self>) -> CheckResult {
        CheckResult::unknown(format!("{} has no check named {name}", Self::NAME))
    }
}

/// The operations of a key-value register: `write` (unique values, so a
/// read names the write it saw) and `read`, drawn half and half.
pub fn register_ops() -> Vec<OpSpec> {
    vec![
        OpSpec {
            name: "write",
            read: false,
            weight: 1,
            value: ValueGen::Unique,
        },
        OpSpec {
            name: "read",
            read: true,
            weight: 1,
            value: ValueGen::Null,
        },
    ]
}

/// The client operations of `P` that only read.
pub fn read_ops<P: Protocol>() -> Vec<&'static str> {
    P::ops().iter().filter(|o| o.read).map(|o| o.name).collect()
}

/// A service's knobs (`services[].params`) read as `T`; an error names the
/// service and the field inside its params (`stream: subscribers[0].delay_ms: …`).
pub fn service_knobs<T: DeserializeOwned>(
    service: &str,
    knobs: &serde_json::Value,
) -> Result<T, String> {
    serde_path_to_error::deserialize(knobs).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("{service}: {}", e.inner())
        } else {
            format!("{service}: {path}: {}", e.inner())
        }
    })
}
