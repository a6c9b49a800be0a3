//! The inbound side of a node_history / node_bank server, for the
//! handshake race of ECM-11. Opt-in with
//! `params.handshake`; without it nothing here runs and the mesh relays to
//! every other node, as it always did.
//!
//! In the original, each process connects one client socket to every
//! peer's server (its own included) and sends `server <index>` on it. The
//! server keeps its accepted connections in a dict, in accept order, and a
//! connection learns its peer index only when the handshake is read. On a
//! `set` the relay loop walks that dict and reads each connection's
//! `server_index` *before* testing `"initialized"`, so one connection that
//! has been accepted but whose handshake has not been read yet raises a
//! `KeyError`. Nothing catches it: the server thread, the node's only
//! receive loop (accept and every inbound socket), ends. The set was
//! already stored, and the syncs for the connections before the late one
//! were already queued. The process lives on: its senders drain their
//! queues and its load loop keeps queuing writes, but it never reads
//! another message, so its reads (a `get` is a message to the server) are
//! never answered.
//!
//! The model: a peer's [`Connect`](Server::on_connect) is the accepted
//! connection; its handshake is read `gap_ms` later, or as soon as anything
//! else arrives from that peer (the handshake is the first thing on its
//! connection). A connect to a node that is not up fails and is retried
//! after `retry_ms`, as the original's client thread loops on `connect`.

use serde::{Deserialize, Serialize};
use sim::{Ctx, Node, NodeId, Time, MS};

use crate::mesh::{fmt_ms, Mode, Timer};

/// The largest duration a parameter may name, as everywhere (10^12 ms).
const MAX_MS: u64 = 1_000_000_000_000;

/// `params.handshake`: model connection set-up, so the race can happen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handshake {
    /// How long after a connection is accepted its handshake is read.
    #[serde(deserialize_with = "sim::ms::de")]
    pub gap_ms: u64,
}

impl Handshake {
    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.gap_ms == 0 || self.gap_ms > MAX_MS {
            return Err(format!(
                "handshake.gap_ms must be from 1 to {MAX_MS} ms, got {}",
                self.gap_ms
            ));
        }
        Ok(())
    }
}

/// One accepted inbound connection.
#[derive(Clone, Copy, Debug)]
struct Conn {
    peer: NodeId,
    accepted: Time,
    handshaken: bool,
}

/// Why and when the receive loop ended.
#[derive(Clone, Copy, Debug)]
struct Death {
    at: Time,
    /// Who sent the set whose relay hit the late connection.
    set_from: NodeId,
    /// The connection that had not sent its handshake.
    late: Conn,
    /// Syncs queued before the loop ended.
    relayed: usize,
}

/// A node's server: its inbound connections in accept order, and whether
/// its receive loop still runs.
#[derive(Clone, Debug)]
pub struct Server {
    gap_us: Time,
    conns: Vec<Conn>,
    death: Option<Death>,
    /// Messages that arrived after the loop ended.
    unread: u64,
    /// Reads never answered because the loop had ended.
    unanswered: u64,
}

/// Where the relay of one `set` goes.
#[derive(Debug, PartialEq, Eq)]
pub struct Relay {
    /// The peers to send a sync to, in the order the loop queues them.
    pub to: Vec<NodeId>,
    /// True when the loop ended on the way (the rest get nothing).
    pub died: bool,
}

impl Server {
    /// A server whose connections send their handshake `h.gap_ms` after
    /// they are accepted.
    pub fn new(h: &Handshake) -> Self {
        Server {
            gap_us: h.gap_ms.saturating_mul(MS),
            conns: Vec::new(),
            death: None,
            unread: 0,
            unanswered: 0,
        }
    }

    /// A fresh process: no connections, a running loop.
    pub fn reset(&mut self) {
        self.conns.clear();
        self.death = None;
        self.unread = 0;
        self.unanswered = 0;
    }

    /// True while the receive loop runs.
    pub fn alive(&self) -> bool {
        self.death.is_none()
    }

    /// Counts a message the dead loop never reads.
    pub fn unread(&mut self) {
        self.unread += 1;
    }

    /// Counts a read the dead loop never answers.
    pub fn unanswered(&mut self) {
        self.unanswered += 1;
    }

    /// `peer` connected at `now`; returns how long until its handshake is
    /// read. A peer that connects again (a restarted process) replaces its
    /// old connection, which the original drops at the EOF the crash sent.
    pub fn on_connect(&mut self, now: Time, peer: NodeId) -> Time {
        self.conns.retain(|c| c.peer != peer);
        self.conns.push(Conn {
            peer,
            accepted: now,
            handshaken: false,
        });
        self.gap_us
    }

    /// The handshake of `peer`'s connection is read (its gap is over, or
    /// something behind it on the same connection arrived).
    pub fn on_handshake(&mut self, peer: NodeId) {
        if let Some(c) = self.conns.iter_mut().find(|c| c.peer == peer) {
            c.handshaken = true;
        }
    }

    /// The relay of a `set` that `from` sent to node `me`, at `now`, as the
    /// original's loop walks the connections: a sync for every handshaken
    /// connection but its own, until a connection without a handshake ends
    /// the loop.
    pub fn relay(&mut self, now: Time, me: NodeId, from: NodeId) -> Relay {
        let mut to = Vec::new();
        for c in &self.conns {
            if !c.handshaken {
                self.death = Some(Death {
                    at: now,
                    set_from: from,
                    late: *c,
                    relayed: to.len(),
                });
                return Relay { to, died: true };
            }
            if c.peer != me {
                to.push(c.peer);
            }
        }
        Relay { to, died: false }
    }

    /// A run note for node `me`, if its loop died.
    pub fn note(&self, me: NodeId) -> Option<String> {
        let d = self.death?;
        Some(format!(
            "n{me}'s receive loop died at {} (n{me}'s clock), ECM-11: a set from n{} arrived while the connection from n{} (accepted at {}) had not sent its handshake; the relay loop reads the peer index before checking the handshake, and the KeyError ended the server thread after {} sync(s) were queued. n{me} read none of the {} message(s) that arrived after and answered none of {} read(s); its senders and its writes ran on",
            fmt_ms(d.at),
            d.set_from,
            d.late.peer,
            fmt_ms(d.late.accepted),
            d.relayed,
            self.unread,
            self.unanswered,
        ))
    }
}

/// A mesh message type that has a connect message.
pub trait Connecting: Sized {
    /// The message that opens a connection (and carries its handshake).
    fn connect() -> Self;
    /// True for that message.
    fn is_connect(&self) -> bool;
}

/// The server of a mesh node, when `params.handshake` asks for one. Each
/// node handler calls into it first; with `None` every call is a no-op.
#[derive(Clone, Debug, Default)]
pub struct Inbound {
    server: Option<Server>,
    mode: Option<Mode>,
    retry_us: Time,
}

impl Inbound {
    /// The inbound side `params` asks for in `mode`.
    pub fn new(h: Option<&Handshake>, mode: Mode, retry_ms: u64) -> Self {
        Inbound {
            server: h.map(Server::new),
            mode: Some(mode),
            retry_us: retry_ms.saturating_mul(MS),
        }
    }

    /// The process (re)starts: a fresh server, and a connection to every
    /// peer's server, its own included.
    pub fn on_start<N>(&mut self, ctx: &mut Ctx<'_, N>)
    where
        N: Node<Timer = Timer>,
        N::Msg: Connecting,
    {
        let Some(s) = &mut self.server else { return };
        s.reset();
        for p in 0..ctx.nodes() {
            ctx.send(p, N::Msg::connect());
        }
    }

    /// Takes `msg` from `from` before the node handles it; false when the
    /// node must not (a connect, or a dead loop that reads nothing).
    pub fn on_message<N>(&mut self, ctx: &mut Ctx<'_, N>, from: NodeId, msg: &N::Msg) -> bool
    where
        N: Node<Timer = Timer>,
        N::Msg: Connecting,
    {
        let Some(s) = &mut self.server else {
            return true;
        };
        if !s.alive() {
            s.unread();
            return false;
        }
        if msg.is_connect() {
            let gap = s.on_connect(ctx.now(), from);
            ctx.set_timer(Timer::Handshake(from), gap);
            return false;
        }
        // The handshake is the first thing on a connection.
        s.on_handshake(from);
        true
    }

    /// Handles the timers of connection set-up; false for any other.
    pub fn on_timer<N>(&mut self, ctx: &mut Ctx<'_, N>, timer: &Timer) -> bool
    where
        N: Node<Timer = Timer>,
        N::Msg: Connecting,
    {
        let Some(s) = &mut self.server else {
            return false;
        };
        match *timer {
            Timer::Handshake(p) => s.on_handshake(p),
            // The client thread loops on `connect` until a server listens.
            Timer::Connect(p) => ctx.send(p, N::Msg::connect()),
            Timer::Retry(_) => return false,
        }
        true
    }

    /// Takes a link error; gives the message back unless it was a connect
    /// (which is retried).
    pub fn on_link_error<N>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        to: NodeId,
        msg: N::Msg,
    ) -> Option<N::Msg>
    where
        N: Node<Timer = Timer>,
        N::Msg: Connecting,
    {
        if self.server.is_some() && msg.is_connect() {
            ctx.set_timer(Timer::Connect(to), self.retry_us);
            return None;
        }
        Some(msg)
    }

    /// True when a read at this node is answered (false: its loop is
    /// dead, and a `get` is a message to the server).
    pub fn answers(&mut self) -> bool {
        match &mut self.server {
            Some(s) if !s.alive() => {
                s.unanswered();
                false
            }
            _ => true,
        }
    }

    /// Where node `me` relays a `set` from `from`. Faithful with a server:
    /// the original's loop over the connections, which may end the loop.
    /// Otherwise every other node (the intended peer list).
    pub fn relay_targets(
        &mut self,
        now: Time,
        me: NodeId,
        nodes: usize,
        from: NodeId,
    ) -> Vec<NodeId> {
        match (&mut self.server, self.mode) {
            (Some(s), Some(Mode::Faithful)) => s.relay(now, me, from).to,
            _ => (0..nodes).filter(|&p| p != me).collect(),
        }
    }

    /// The run note of node `me`, if its loop died.
    pub fn note(&self, me: NodeId) -> Option<String> {
        self.server.as_ref()?.note(me)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Server {
        Server::new(&Handshake { gap_ms: 10 })
    }

    #[test]
    fn relay_walks_connections_in_accept_order_and_skips_itself() {
        let mut s = server();
        for p in [2, 0, 1] {
            s.on_connect(0, p);
            s.on_handshake(p);
        }
        let r = s.relay(5, 1, 0);
        assert_eq!(
            r,
            Relay {
                to: vec![2, 0],
                died: false
            }
        );
        assert!(s.alive());
    }

    #[test]
    fn a_connection_without_its_handshake_ends_the_loop_midway() {
        let mut s = server();
        s.on_connect(0, 0);
        s.on_handshake(0);
        assert_eq!(s.on_connect(1, 2), 10 * MS);
        s.on_connect(2, 1);
        s.on_handshake(1);
        let r = s.relay(3, 1, 0);
        // n0's sync was queued; the loop died at n2's connection, before n1.
        assert_eq!(
            r,
            Relay {
                to: vec![0],
                died: true
            }
        );
        assert!(!s.alive());
        let note = s.note(1).expect("a note");
        assert!(note.contains("connection from n2"), "{note}");
    }

    #[test]
    fn a_reconnect_replaces_the_old_connection_at_the_end() {
        let mut s = server();
        for p in [0, 1] {
            s.on_connect(0, p);
            s.on_handshake(p);
        }
        s.on_connect(5, 0);
        let r = s.relay(6, 2, 1);
        assert_eq!(
            r,
            Relay {
                to: vec![1],
                died: true
            }
        );
        s.reset();
        assert!(s.alive());
        assert_eq!(s.relay(7, 2, 1).to, Vec::<NodeId>::new());
    }

    #[test]
    fn gap_must_be_positive_and_bounded() {
        assert!(Handshake { gap_ms: 0 }.validate().is_err());
        assert!(Handshake { gap_ms: MAX_MS + 1 }.validate().is_err());
        assert!(Handshake { gap_ms: 1 }.validate().is_ok());
    }
}
