//! What the eventually-consistent-mesh nodes, their links (`ecm`) and
//! their inbound side (`handshake`) all speak of: the two variants, the
//! timer tags, and how reports print a time. Both build on it; it builds
//! on neither.

use serde::Serialize;
use sim::{NodeId, Time};

/// The two variants every mesh protocol has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// As the original code behaves.
    Faithful,
    /// As its authors meant it.
    Intended,
}

impl Mode {
    /// The mode a variant name selects (validated names only reach here).
    pub fn of(variant: &str) -> Mode {
        if variant == "intended" {
            Mode::Intended
        } else {
            Mode::Faithful
        }
    }
}

/// Timer tags of the mesh nodes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Timer {
    /// Intended variant: resend what failed to reach this peer.
    Retry(NodeId),
    /// ECM-11: connect again to this peer's server, which refused.
    Connect(NodeId),
    /// ECM-11: read the handshake of this peer's connection.
    Handshake(NodeId),
}

/// A time in microseconds as milliseconds for reports: `1200ms`, `3.5ms`.
pub fn fmt_ms(t: Time) -> String {
    let (ms, us) = (t / 1_000, t % 1_000);
    if us == 0 {
        format!("{ms}ms")
    } else {
        let frac = format!("{us:03}");
        format!("{ms}.{}ms", frac.trim_end_matches('0'))
    }
}
