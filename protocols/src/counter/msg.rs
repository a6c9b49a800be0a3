//! Wire messages and timer tags.

use std::collections::BTreeMap;

use serde::Serialize;
use sim::NodeId;

use super::{Status, Var};

/// Application messages (JSON objects whose discriminator is `msg_type`).
/// `epoch` and `round` exist only in the intended variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "msg_type", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Body {
    /// UDP, every `hello_ms`: I exist, in this status.
    Hello { status: Status, session: u64 },
    /// TCP, reply to a first hello.
    HelloReceived { status: Status },
    /// TCP, every `status_ms` and on transitions.
    Status {
        status: Status,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<u64>,
    },
    /// UDP, a local add.
    VariableUpdate {
        variable_name: Var,
        operation: i64,
        nonce: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<u64>,
        /// Observation only, never on the wire: how many resets of this
        /// variable the sender had made when it made the op (for the notes).
        #[serde(skip)]
        gen: u64,
    },
    /// UDP every `sync_data_ms`, TCP to a new peer: my own ops and baseline.
    SyncData {
        variable_name: Var,
        history: BTreeMap<u64, i64>,
        previous_value: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<u64>,
    },
    /// TCP: enter the full sync; my next nonce per variable.
    StartSync {
        variable_max_nonce_dict: BTreeMap<Var, u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        round: Option<u64>,
    },
    /// TCP: send me your next nonces.
    SyncMismatchRequest,
    /// TCP: my next nonce per variable (no status change).
    SyncMismatchData {
        variable_max_nonce_dict: BTreeMap<Var, u64>,
    },
    /// TCP: send me these ops of yours.
    NonceRequest {
        variable_name: Var,
        nonce_number_list: Vec<u64>,
    },
    /// TCP: the ops asked for.
    NonceSend {
        variable_name: Var,
        nonce_dict: BTreeMap<u64, i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<u64>,
    },
    /// TCP, on entering ready: my value per variable.
    StopSync {
        variable_value_dict: BTreeMap<Var, i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        round: Option<u64>,
    },
}

impl Body {
    /// The coalescing kind: the message type, plus the variable for the
    /// per-variable ones.
    pub(super) fn kind(&self) -> (&'static str, Option<Var>) {
        match self {
            Body::Hello { .. } => ("hello", None),
            Body::HelloReceived { .. } => ("hello_received", None),
            Body::Status { .. } => ("status", None),
            Body::VariableUpdate { variable_name, .. } => ("variable_update", Some(*variable_name)),
            Body::SyncData { variable_name, .. } => ("sync_data", Some(*variable_name)),
            Body::StartSync { .. } => ("start_sync", None),
            Body::SyncMismatchRequest => ("sync_mismatch_request", None),
            Body::SyncMismatchData { .. } => ("sync_mismatch_data", None),
            Body::NonceRequest { variable_name, .. } => ("nonce_request", Some(*variable_name)),
            Body::NonceSend { variable_name, .. } => ("nonce_send", Some(*variable_name)),
            Body::StopSync { .. } => ("stop_sync", None),
        }
    }

    /// The length of this message's JSON encoding as the original's
    /// `json.dumps` writes it, for the 8 KiB cliff. Only messages that grow
    /// with the op log can cross it, so the rest are not encoded at all.
    pub(super) fn encoded_len(&self) -> usize {
        match self {
            Body::SyncData { .. }
            | Body::NonceRequest { .. }
            | Body::NonceSend { .. }
            | Body::StartSync { .. }
            | Body::SyncMismatchData { .. }
            | Body::StopSync { .. } => serde_json::to_vec(self).map_or(0, |v| python_len(&v)),
            _ => 0,
        }
    }
}

/// The length of compact JSON `json` as Python's `json.dumps` writes the
/// same value by default: a space after every `,` and `:` that separate
/// items and keys (outside strings).
fn python_len(json: &[u8]) -> usize {
    let (mut in_string, mut escaped, mut spaces) = (false, false, 0);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b',' | b':' => spaces += 1,
                _ => {}
            }
        }
    }
    json.len() + spaces
}

/// Wire messages: a datagram, a TCP frame, or a TCP acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "via", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Msg {
    /// Unreliable, unordered, may be duplicated.
    Udp { body: Body },
    /// Reliable: acknowledged, resent, deduplicated (see the `tcp` module).
    Tcp {
        session: u64,
        seq: u64,
        floor: u64,
        body: Body,
    },
    /// Acknowledges frame `seq` of the receiver's `session`.
    Ack { session: u64, seq: u64 },
}

/// Timer tags.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Timer {
    /// Broadcast hello.
    Hello,
    /// One pass of the status loop (and of the full-sync machine).
    Loop,
    /// Broadcast sync_data.
    SyncData,
    /// Faithful: the start_sync handler's sleep is over.
    Listener,
    /// Faithful: `_start_full_sync`'s sleep for this `sync` request is over.
    FullSync(u64),
    /// Resend unacknowledged TCP messages to this peer.
    Resend(NodeId),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_those_of_python_json_dumps() {
        // json.dumps({"msg_type": "nonce_send", "variable_name": "a,b: c",
        //             "nonce_dict": {"1": 5, "2": -3}}) is 86 characters.
        let compact =
            br#"{"msg_type":"nonce_send","variable_name":"a,b: c","nonce_dict":{"1":5,"2":-3}}"#;
        assert_eq!(python_len(compact), 86);
        // An escaped quote does not end the string.
        assert_eq!(python_len(br#"{"k":"x",y"}"#), 13 + 1);
        assert_eq!(python_len(b"[]"), 2);
    }
}
