//! Who takes part in a run. Every participant is a *process* with an id,
//! a clock, timers and links, scheduled by the same queue and faultable the
//! same way; they differ only in their role:
//!
//! - **replicas** `0..replicas`: the protocol's nodes, what convergence and
//!   agreement compare;
//! - **services** next, one per name: parts of the world that are not
//!   replicas (memstate's stream, Maelstrom's lin-kv);
//! - **client processes** last, one per workload client, when the protocol
//!   brings its own client (otherwise the engine's generic client talks to
//!   the replicas directly and no client process exists).

use serde::Serialize;

use crate::NodeId;

/// The processes of a run, by role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Layout {
    /// Replicas: ids `0..replicas`.
    pub replicas: usize,
    /// Service names, in id order from `replicas` on.
    pub services: Vec<String>,
    /// Client processes, in id order after the services (0: the generic
    /// client runs and there are none).
    pub clients: usize,
}

/// What a process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Replica `i`.
    Replica(usize),
    /// Service number `i` (its name is `Layout::services[i]`).
    Service(usize),
    /// Client process of workload client `i`.
    Client(usize),
}

impl Layout {
    /// `n` replicas and nothing else.
    pub fn replicas(n: usize) -> Layout {
        Layout {
            replicas: n,
            services: Vec::new(),
            clients: 0,
        }
    }

    /// How many processes there are.
    #[inline]
    pub fn total(&self) -> usize {
        self.replicas + self.services.len() + self.clients
    }

    /// The id of the first client process.
    #[inline]
    pub fn client_base(&self) -> NodeId {
        self.replicas + self.services.len()
    }

    /// The id of service `name`.
    pub fn service(&self, name: &str) -> Option<NodeId> {
        self.services
            .iter()
            .position(|s| s == name)
            .map(|i| self.replicas + i)
    }

    /// The id of workload client `c`'s process.
    #[inline]
    pub fn client(&self, c: usize) -> NodeId {
        self.client_base() + c
    }

    /// The role of process `id`.
    pub fn role(&self, id: NodeId) -> Role {
        if id < self.replicas {
            Role::Replica(id)
        } else if id < self.client_base() {
            Role::Service(id - self.replicas)
        } else {
            Role::Client(id - self.client_base())
        }
    }

    /// True when `id` is a replica.
    #[inline]
    pub fn is_replica(&self, id: NodeId) -> bool {
        id < self.replicas
    }

    /// How reports name process `id`: `n3`, the service's name, or `c0`.
    pub fn name(&self, id: NodeId) -> String {
        match self.role(id) {
            Role::Replica(i) => format!("n{i}"),
            Role::Service(i) => self.services[i].clone(),
            Role::Client(i) => format!("c{i}"),
        }
    }

    /// The process a report name stands for (`n3` or `3`, a service's
    /// name, `c0`), if there is one.
    pub fn lookup(&self, name: &str) -> Option<NodeId> {
        if let Some(id) = self.service(name) {
            return Some(id);
        }
        let num = |s: &str| s.parse::<usize>().ok();
        if let Some(rest) = name.strip_prefix('c') {
            num(rest)
                .filter(|&c| c < self.clients)
                .map(|c| self.client(c))
        } else {
            num(name.strip_prefix('n').unwrap_or(name)).filter(|&i| i < self.replicas)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_run_replicas_then_services_then_clients() {
        let l = Layout {
            replicas: 3,
            services: vec!["stream".into(), "lin-kv".into()],
            clients: 2,
        };
        assert_eq!(l.total(), 7);
        assert_eq!(l.service("lin-kv"), Some(4));
        assert_eq!(l.client(1), 6);
        assert_eq!(l.role(2), Role::Replica(2));
        assert_eq!(l.role(3), Role::Service(0));
        assert_eq!(l.role(5), Role::Client(0));
        assert_eq!(
            (0..7).map(|i| l.name(i)).collect::<Vec<_>>(),
            ["n0", "n1", "n2", "stream", "lin-kv", "c0", "c1"]
        );
        for i in 0..7 {
            assert_eq!(l.lookup(&l.name(i)), Some(i));
        }
        assert_eq!(l.lookup("2"), Some(2));
        assert_eq!(l.lookup("n3"), None);
        assert_eq!(l.lookup("c2"), None);
        assert_eq!(l.lookup("queue"), None);
    }
}
