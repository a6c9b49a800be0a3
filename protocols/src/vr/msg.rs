//! The wire: messages among replicas and client processes, log entries,
//! application commands and timer tags.

use serde::Serialize;
use sim::{NodeId, Value};

/// An application command, as a client asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmd {
    /// Blackboard `put(key, value)` (`write` in histories).
    Put {
        /// Key.
        key: u32,
        /// Value.
        value: i64,
    },
    /// Blackboard `get(key)` or counter `read(key)` (`read` in histories).
    Get {
        /// Key.
        key: u32,
    },
    /// vrrm's `reconfigure(new_config)`: a special log entry.
    Reconfigure {
        /// The new configuration (replica ids).
        config: Vec<NodeId>,
    },
    /// Counter `increment(key, by)` (`add` in histories).
    Add {
        /// Key.
        key: u32,
        /// Amount.
        by: i64,
    },
}

/// One operation in a replica's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Its op number.
    pub op: u64,
    /// The view in which the primary logged it.
    pub view: u64,
    /// The client process that asked for it.
    pub client: NodeId,
    /// The client's request number.
    pub req_num: u64,
    /// The command.
    pub cmd: Cmd,
}

/// What a replica answers a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// `{ok, Reply, Epoch}`: the command ran; its result.
    Ok(Value),
    /// `{error, not_primary, P}`: ask `P` instead.
    NotPrimary(NodeId),
    /// The request is refused, for the reason given (the paper variant's
    /// answer to a reconfiguration, which it does not implement).
    Refused(String),
}

/// What a view-change participant reports (`do_view_change`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ViewReport {
    /// The view in which the sender was last normal (vrrm: its current view).
    pub last_normal: u64,
    /// Its op number.
    pub op: u64,
    /// Its commit number.
    pub commit: u64,
    /// Its log (vrrm: the entries from its min_commit on).
    pub log: Vec<Entry>,
}

/// Messages. Protocol messages carry the sender's epoch and view (vrrm
/// wraps every one in `{epoch, view, sender}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Client process → replica: run `cmd` as request `req_num`.
    Request {
        /// The client's request number.
        req_num: u64,
        /// The command.
        cmd: Cmd,
    },
    /// Replica → client process: the answer to `req_num`.
    Reply {
        /// The request answered.
        req_num: u64,
        /// The answer.
        answer: Answer,
    },
    /// Primary → backups: log `entry` at `op`.
    Prepare {
        /// The sender's epoch (vrrm's `#msg.epoch`).
        epoch: u64,
        /// The primary's view.
        view: u64,
        /// The entry's op number.
        op: u64,
        /// The primary's commit number.
        commit: u64,
        /// The primary's estimate of the lowest commit among replicas.
        min_commit: u64,
        /// The entry.
        entry: Entry,
    },
    /// Backup → primary: `op` is logged.
    PrepareOk {
        /// The sender's epoch (vrrm's `#msg.epoch`).
        epoch: u64,
        /// The view it was logged in.
        view: u64,
        /// The op number.
        op: u64,
    },
    /// Primary → backups (when idle): everything up to `commit` is committed.
    Commit {
        /// The sender's epoch (vrrm's `#msg.epoch`).
        epoch: u64,
        /// The primary's view.
        view: u64,
        /// Its commit number.
        commit: u64,
        /// Its min_commit estimate.
        min_commit: u64,
    },
    /// A replica moving to `view` tells the others.
    StartViewChange {
        /// The sender's epoch (vrrm's `#msg.epoch`).
        epoch: u64,
        /// The new view.
        view: u64,
    },
    /// A replica's state, to the primary of `view`.
    DoViewChange {
        /// The sender's epoch (vrrm's `#msg.epoch`).
        epoch: u64,
        /// The new view.
        view: u64,
        /// What the sender knows.
        report: ViewReport,
    },
    /// The new primary's log, to every replica.
    StartView {
        /// The sender's epoch (vrrm's `#msg.epoch`).
        epoch: u64,
        /// The new view.
        view: u64,
        /// The chosen log.
        log: Vec<Entry>,
        /// Its op number.
        op: u64,
        /// The commit number.
        commit: u64,
    },
    /// vrrm: "your view is older than mine" (answers a stale message).
    OutOfDate {
        /// The sender's epoch (vrrm's `#msg.epoch`).
        epoch: u64,
        /// The answering replica's view.
        view: u64,
    },
    /// A recovering replica asks for state.
    Recovery {
        /// The sender's epoch (vrrm's `#msg.epoch`).
        epoch: u64,
        /// The recovering replica's view.
        view: u64,
        /// Its nonce, echoed in the answers.
        nonce: u64,
    },
    /// The answer to a recovery; the primary includes its log.
    RecoveryResponse {
        /// The sender's epoch (vrrm's `#msg.epoch`).
        epoch: u64,
        /// The responder's view.
        view: u64,
        /// The nonce of the recovery answered.
        nonce: u64,
        /// The primary's log, op and commit (others send none).
        state: Option<(Vec<Entry>, u64, u64)>,
    },
    /// An admin probe (vrrm's `get_status`), numbered by the prober.
    GetStatus {
        /// The probe's number.
        probe: u64,
    },
    /// The answer to a probe: the replica's status.
    Status {
        /// The probe answered.
        probe: u64,
        /// `normal`, `view_change`, `recovering`, `unconfigured` or
        /// `transitioning`.
        status: String,
    },
    /// vrrm's `start_epoch`: the reconfiguring primary, to each new member.
    StartEpoch {
        /// The new epoch.
        epoch: u64,
        /// The reconfiguration's op number.
        op: u64,
        /// The configuration left.
        old_config: Vec<NodeId>,
        /// The configuration joined.
        new_config: Vec<NodeId>,
    },
    /// vrrm's `epoch_started`: a new member, to each leaving one.
    EpochStarted {
        /// The epoch started.
        epoch: u64,
    },
    /// vrrm's synchronous `state_transfer` call (a new member to a staying
    /// one).
    StateTransfer,
    /// Its answer: `#st{log, commit, view}` (the log without the snapshot).
    StateTransferReply {
        /// Every entry of the source's log.
        log: Vec<Entry>,
        /// The source's commit number.
        commit: u64,
        /// The source's view.
        view: u64,
    },
    /// A replica behind in `view` asks for the entries after `after`.
    GetState {
        /// The view.
        view: u64,
        /// The asker's op number.
        after: u64,
    },
    /// The answer to a `get_state`.
    NewState {
        /// The view.
        view: u64,
        /// The op number the entries follow.
        after: u64,
        /// The entries `after+1 ..= op`.
        entries: Vec<Entry>,
        /// The responder's op number.
        op: u64,
        /// The responder's commit number.
        commit: u64,
    },
}

/// Timer tags. A replica has one timer, as vrrm's single timer reference:
/// the idle-commit timer on a primary, the primary-failure timer on a
/// backup (`Failure`), and the recovery retry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Primary: send a commit if idle.
    IdleCommit,
    /// Backup: no word from the primary for too long.
    Failure,
    /// Recovering replica: ask again.
    Recovery,
    /// Client process: the call to the current replica timed out.
    Call(u64),
}

/// A recovery_response collected: sender, its view, the nonce, and the
/// primary's (log, op, commit).
pub(crate) type Response = (NodeId, u64, u64, Option<(Vec<Entry>, u64, u64)>);
