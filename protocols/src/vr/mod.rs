//! `vr`: Viewstamped Replication, after evanmcc/vrrm ("just enough
//! consensus", an Erlang VR Revisited library) and after the paper.
//!
//! One implementation: a replica whose every departure from the paper
//! (D1–D14, docs/failure-ids.md) is a switch in `params.bugs`. The `faithful`
//! variant turns on every switch that is implemented (vrrm as coded,
//! message by message); `intended` turns them all off, which is VR
//! Revisited with majority quorums (f and f + 1 for n = 2f + 1): view
//! change with a quorum of start_view_change, log choice by
//! last-normal view then op number, in-order commit, state transfer for
//! gaps, at-most-once execution through the client table, view-change retry
//! with view+1, and recovery with nonces after a restart. A scenario may
//! set any switch either way on either variant (docs/protocols/vr.md).
//!
//! Clients are vrrm's client (`vrrm_cli`) as protocol client processes: a
//! 500 ms call to one replica, `not_primary` redirects (bounded), and on a
//! timeout the same request number to every replica in reverse order.
//!
//! Apps: the blackboard map (`write`/`read`, checked by this protocol's
//! `kv-linearizability` against the `kv` model) and a counter (`add`/`read`,
//! `counter-linearizability` against `counter`).

mod app;
mod checks;
mod client;
mod epoch;
pub mod msg;
mod normal;
mod recovery;
mod replica;
#[cfg(test)]
mod tests;
mod view_change;

use serde::{Deserialize, Serialize};
use sim::{Ctx, Digest, Layout, Node, NodeId, Request, Sim, ValueGen};

use crate::{CheckResult, CheckSpec, ClientMode, OpSpec, Protocol, Variant};
pub use app::App;
pub use client::Client;
pub use msg::{Msg, Timer};
pub use replica::Replica;

/// The largest duration a parameter may name (the scenario format's bound).
const MAX_MS: u64 = 1_000_000_000_000;

/// How the primary counts prepare_ok messages (D1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counting {
    /// vrrm at HEAD: earlier acks are stashed wrapped and never found, so
    /// every count is 1 (a commit needs f ≤ 1).
    Head,
    /// vrrm before its last commit: every stashed ack counts, duplicates
    /// from one sender included.
    PreHead,
    /// The paper: distinct backups.
    Distinct,
}

/// `params.bugs`: each deviation as a switch; an absent one takes the
/// variant's default (`faithful`: on, `intended`: off).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BugSwitches {
    /// D1: prepare_ok counting (`head`, `pre_head`, `distinct`).
    pub d1_counting: Option<Counting>,
    /// D2: the primary commits an op as soon as it has its acks, earlier
    /// ops or not.
    pub d2_commit_out_of_order: Option<bool>,
    /// D3: a backup logs a prepare at any op number, no gap check; a commit
    /// that reaches a missing op crashes it.
    pub d3_no_gap_check: Option<bool>,
    /// D4: one start_view_change is enough, and one for the current view is
    /// not ignored.
    pub d4_disruptive_view_change: Option<bool>,
    /// D5: the new primary takes the log with the largest op number,
    /// whatever view its sender was last normal in.
    pub d5_log_by_op_only: Option<bool>,
    /// D6: the new primary adopts the largest commit number without
    /// executing, and keeps its own uncommitted entries.
    pub d6_primary_skips_execution: Option<bool>,
    /// D7: start_view (and recovery) executes ops beyond the commit number
    /// without advancing it; the next commit executes them again.
    pub d7_backup_double_execution: Option<bool>,
    /// D8: the failure timer is ignored in view_change (no retry).
    pub d8_no_view_change_retry: Option<bool>,
    /// D9: an admin probe (`get_status`) moves a replica in view_change or
    /// transitioning to normal, with whatever fields it has (vrrm moves
    /// every state but recovering; an unconfigured one is not modelled,
    /// docs/protocols/vr.md).
    pub d9_probe_mutates_status: Option<bool>,
    /// D10: the client table never records a commit (duplicates run
    /// again) and the client reuses its request number after a fallback.
    pub d10_at_least_once: Option<bool>,
    /// D11: start_view empties a backup's commits vector; as primary later,
    /// its first minimum over it crashes.
    pub d11_empty_commits: Option<bool>,
    /// D12: a primary that logged a reconfiguration is `transitioning`
    /// until it commits, and a client request then crashes it (vrrm
    /// returns a malformed reply action).
    pub d12_transitioning_crash: Option<bool>,
    /// D12: the primary that commits a reconfiguration keeps its old
    /// configuration (prepares go to the old members, f from the old
    /// size), and a staying backup that is first in the new configuration
    /// stays transitioning with its primary flag false (vrrm 527e0ce sets
    /// only its commits vector). Off: every member adopts the new
    /// configuration, its primary and a commits vector of its size.
    pub d12_stale_config: Option<bool>,
    /// vrrm before 3d69d86 (bdc9f6f), not the 527e0ce snapshot: with
    /// `d12_stale_config`, that staying backup calls `lists:replicate/2`,
    /// which does not exist, and crashes (`undef`). Off in both variants
    /// unless set.
    pub d12_lists_replicate_undef: Option<bool>,
    /// D12: a replica that joins by start_epoch stores a process id as its
    /// primary flag and an empty commits vector, arms no timer, and
    /// crashes on its first client request (`lists:min([])`). Off: it joins
    /// as a backup with the failure timer.
    pub d12_new_member_crash: Option<bool>,
    /// D13: the primary commits only when a prepare_ok arrives (n = 1 never
    /// commits).
    pub d13_commit_needs_ack: Option<bool>,
    /// D14: the primary compacts its log every `snapshot_interval` commits
    /// (dropping every entry up to the op), and shipped logs never carry
    /// the snapshot, so a transfer that needs older ops crashes. Off: the
    /// log is kept whole.
    pub d14_compaction: Option<bool>,
    /// vrrm's stale-view handling: a message from an older view is answered
    /// with out_of_date, whose receiver enters recovery; messages from a
    /// newer view are handled as if current. Off: the paper's (older views
    /// ignored, a newer view fetched by state transfer).
    pub out_of_date_recovery: Option<bool>,
    /// vrrm cannot restart a replica: a restarted one stays unconfigured
    /// and answers nothing. Off: the paper's recovery with nonces.
    pub restart_unconfigured: Option<bool>,
    /// vrrm's epochs: a committed reconfiguration starts a new epoch
    /// (start_epoch, state transfer to new members, epoch_started, leaving
    /// members stop), with D12's holes as their switches set them. Off: the
    /// paper variant, which does not implement VRR §7, refuses a
    /// reconfiguration with its reason.
    pub vrrm_epochs: Option<bool>,
    /// vrrm's quorum size for any n: f = ⌊(n−1)/2⌋ acks (plus the
    /// primary), f + 1 do_view_change and recovery answers, which for an
    /// even n are two disjoint halves. Off: majorities (⌊n/2⌋ acks,
    /// ⌊n/2⌋ + 1 reports), the same numbers for an odd n = 2f + 1.
    pub vrrm_quorum_f: Option<bool>,
    /// A seeded bug, off in both variants unless set: the state transfer
    /// to a newer view that dsim's intended variant had before the 2026-12
    /// audit (truncate the log to the commit number and take the new view
    /// as last-normal before new_state arrives). It loses committed
    /// operations; the gate campaign must find it.
    pub seeded_transfer_truncation: Option<bool>,
}

/// The switches resolved for one variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bugs {
    pub(crate) d1_counting: Counting,
    pub(crate) d2_commit_out_of_order: bool,
    pub(crate) d3_no_gap_check: bool,
    pub(crate) d4_disruptive_view_change: bool,
    pub(crate) d5_log_by_op_only: bool,
    pub(crate) d6_primary_skips_execution: bool,
    pub(crate) d7_backup_double_execution: bool,
    pub(crate) d8_no_view_change_retry: bool,
    pub(crate) d9_probe_mutates_status: bool,
    pub(crate) d10_at_least_once: bool,
    pub(crate) d11_empty_commits: bool,
    pub(crate) d12_transitioning_crash: bool,
    pub(crate) d12_stale_config: bool,
    pub(crate) d12_lists_replicate_undef: bool,
    pub(crate) d12_new_member_crash: bool,
    pub(crate) d13_commit_needs_ack: bool,
    pub(crate) d14_compaction: bool,
    pub(crate) out_of_date_recovery: bool,
    pub(crate) restart_unconfigured: bool,
    pub(crate) vrrm_epochs: bool,
    pub(crate) vrrm_quorum_f: bool,
    pub(crate) seeded_transfer_truncation: bool,
}

impl BugSwitches {
    /// The switches of `variant`, overridden by those set here.
    pub fn resolve(&self, variant: &str) -> Bugs {
        let on = variant == "faithful";
        let b = |o: Option<bool>| o.unwrap_or(on);
        Bugs {
            d1_counting: self.d1_counting.unwrap_or(if on {
                Counting::Head
            } else {
                Counting::Distinct
            }),
            d2_commit_out_of_order: b(self.d2_commit_out_of_order),
            d3_no_gap_check: b(self.d3_no_gap_check),
            d4_disruptive_view_change: b(self.d4_disruptive_view_change),
            d5_log_by_op_only: b(self.d5_log_by_op_only),
            d6_primary_skips_execution: b(self.d6_primary_skips_execution),
            d7_backup_double_execution: b(self.d7_backup_double_execution),
            d8_no_view_change_retry: b(self.d8_no_view_change_retry),
            d9_probe_mutates_status: b(self.d9_probe_mutates_status),
            d10_at_least_once: b(self.d10_at_least_once),
            d11_empty_commits: b(self.d11_empty_commits),
            d12_transitioning_crash: b(self.d12_transitioning_crash),
            d12_stale_config: b(self.d12_stale_config),
            d12_lists_replicate_undef: self.d12_lists_replicate_undef.unwrap_or(false),
            d12_new_member_crash: b(self.d12_new_member_crash),
            d13_commit_needs_ack: b(self.d13_commit_needs_ack),
            d14_compaction: b(self.d14_compaction),
            out_of_date_recovery: b(self.out_of_date_recovery),
            restart_unconfigured: b(self.restart_unconfigured),
            vrrm_epochs: b(self.vrrm_epochs),
            vrrm_quorum_f: b(self.vrrm_quorum_f),
            seeded_transfer_truncation: self.seeded_transfer_truncation.unwrap_or(false),
        }
    }
}

/// `params`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// The replicated application.
    pub app: App,
    /// vrrm's idle_commit_interval (its tests use 250 ms).
    #[serde(deserialize_with = "sim::ms::de")]
    pub idle_commit_ms: u64,
    /// vrrm's primary_failure_interval (tests: 400 ms), before jitter.
    #[serde(deserialize_with = "sim::ms::de")]
    pub primary_failure_ms: u64,
    /// The failure timer's jitter, ± this percentage (vrrm: 20).
    pub jitter_pct: u64,
    /// The client's call timeout (vrrm: 500 ms).
    #[serde(deserialize_with = "sim::ms::de")]
    pub client_timeout_ms: u64,
    /// not_primary redirects a client follows before giving up (vrrm
    /// follows them forever).
    pub max_redirects: u32,
    /// vrrm's snapshot_op_interval: with D14 the primary compacts its log
    /// every this many ops (0: never).
    pub snapshot_interval: u64,
    /// The replicas given vrrm's `initial_config` (in order: the first is
    /// the primary of view 0); the others start unconfigured, spares a
    /// reconfiguration can add. Default: every replica.
    pub initial_config: Option<Vec<NodeId>>,
    /// The deviations.
    pub bugs: BugSwitches,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            app: App::Blackboard,
            idle_commit_ms: 250,
            primary_failure_ms: 400,
            jitter_pct: 20,
            client_timeout_ms: 500,
            max_redirects: 3,
            snapshot_interval: 2000,
            initial_config: None,
            bugs: BugSwitches::default(),
        }
    }
}

/// A process of a vr run.
#[derive(Clone, Debug)]
pub enum Vr {
    /// A replica.
    Replica(Box<Replica>),
    /// A client process.
    Client(Client),
}

impl Node for Vr {
    type Msg = Msg;
    type Timer = Timer;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Vr::Replica(r) = self {
            r.on_start(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Vr::Replica(r) => r.on_message(ctx, from, msg),
            Vr::Client(c) => c.on_message(ctx, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            Vr::Replica(r) => r.on_timer(ctx, timer),
            Vr::Client(c) => c.on_timer(ctx, timer),
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        match self {
            // Scenarios run vr with its own client processes; a request
            // from the generic client has nobody to answer to.
            Vr::Replica(_) => ctx.reply(request.id, sim::Reply::Info),
            Vr::Client(c) => c.on_request(ctx, request),
        }
    }

    fn on_crash(&mut self) {
        match self {
            Vr::Replica(r) => r.on_crash(),
            Vr::Client(c) => c.on_crash(),
        }
    }

    fn digest(&self) -> Digest {
        match self {
            Vr::Replica(r) => r.digest(),
            Vr::Client(_) => Digest::new(),
        }
    }

    fn applied(&self) -> Option<u64> {
        match self {
            Vr::Replica(r) => Some(r.applied()),
            Vr::Client(_) => None,
        }
    }
}

impl Protocol for Vr {
    const NAME: &'static str = "vr";
    const SUMMARY: &'static str = "Viewstamped Replication after evanmcc/vrrm: a replicated blackboard or counter; faithful (vrrm as coded, D1-D14 as switches in params.bugs) or intended (VR Revisited)";
    type Params = Params;

    fn variants() -> &'static [Variant] {
        &[
            Variant {
                name: "faithful",
                summary: "vrrm as coded: every deviation switch in params.bugs on (D1 counting = head)",
            },
            Variant {
                name: "intended",
                summary: "VR Revisited: every switch off (f+1 view change, log by last-normal view, in-order commit, state transfer, at-most-once, retry, recovery)",
            },
        ]
    }

    fn ops() -> Vec<OpSpec> {
        let mut ops = crate::register_ops();
        ops.push(OpSpec {
            name: "add",
            read: false,
            weight: 0,
            value: ValueGen::Range { min: 1, max: 1 },
        });
        ops.push(OpSpec {
            name: "reconfigure",
            read: false,
            weight: 0,
            value: ValueGen::Null,
        });
        ops.push(OpSpec {
            name: "get_status",
            read: false,
            weight: 0,
            value: ValueGen::Null,
        });
        ops
    }

    fn model() -> Option<&'static str> {
        // The app is a parameter, so one history may hold blackboard or
        // counter operations (and admin probes): vr's own
        // kv-linearizability and counter-linearizability pick the model.
        None
    }

    fn checks() -> &'static [CheckSpec] {
        checks::SPECS
    }

    fn default_checks() -> &'static [&'static str] {
        &["kv-linearizability", "replica-agreement", "no-halts"]
    }

    fn validate(params: &Params, nodes: usize) -> Result<(), String> {
        if let Some(config) = &params.initial_config {
            if config.is_empty() {
                return Err("initial_config must name at least one replica".into());
            }
            for (i, r) in config.iter().enumerate() {
                if *r >= nodes {
                    return Err(format!(
                        "initial_config names replica {r}, but the replicas are 0..{nodes}"
                    ));
                }
                if config[..i].contains(r) {
                    return Err(format!("initial_config names replica {r} twice"));
                }
            }
        }
        for (name, ms) in [
            ("idle_commit_ms", params.idle_commit_ms),
            ("primary_failure_ms", params.primary_failure_ms),
            ("client_timeout_ms", params.client_timeout_ms),
        ] {
            if ms == 0 || ms > MAX_MS {
                return Err(format!("{name} must be from 1 to {MAX_MS} ms, got {ms}"));
            }
        }
        if params.jitter_pct >= 100 {
            return Err(format!(
                "jitter_pct must be below 100, got {}",
                params.jitter_pct
            ));
        }
        if params.primary_failure_ms <= params.idle_commit_ms {
            return Err(format!(
                "primary_failure_ms ({}) must exceed idle_commit_ms ({}), or backups time out on an idle primary",
                params.primary_failure_ms, params.idle_commit_ms
            ));
        }
        Ok(())
    }

    fn new(id: NodeId, nodes: usize, variant: &str, params: &Params) -> Self {
        Vr::Replica(Box::new(Replica::new(
            id,
            nodes,
            params.bugs.resolve(variant),
            params,
        )))
    }

    fn client_modes() -> &'static [ClientMode] {
        &[ClientMode::Protocol]
    }

    fn client(_: usize, layout: &Layout, variant: &str, params: &Params) -> Option<Self> {
        Some(Vr::Client(Client::new(
            layout.replicas,
            params,
            params.bugs.resolve(variant).d10_at_least_once,
        )))
    }

    fn notes(run: &Sim<Self>) -> Vec<String> {
        checks::notes(run)
    }

    fn check(name: &str, run: &Sim<Self>) -> CheckResult {
        checks::check(name, run)
    }
}
