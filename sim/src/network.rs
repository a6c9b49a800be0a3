//! The network model: per-link latency, loss, duplication and ordering, and
//! the partition state that faults change.

use serde::{Deserialize, Serialize};

use crate::rng::{det_ln, Prob, Rng};
use crate::{NodeId, Time};

/// How long a message takes on a link, in microseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "dist", rename_all = "snake_case")]
pub enum Latency {
    /// Always the same.
    Fixed {
        /// The latency.
        us: Time,
    },
    /// Uniform over `min..=max`.
    Uniform {
        /// Smallest latency.
        min_us: Time,
        /// Largest latency.
        max_us: Time,
    },
    /// `min` plus an exponential with the given mean, capped at `max`.
    Exponential {
        /// Added to every sample.
        min_us: Time,
        /// Mean of the exponential part.
        mean_us: Time,
        /// Cap.
        max_us: Time,
    },
    /// A normal distribution clamped into `min..=max`.
    Normal {
        /// Mean.
        mean_us: Time,
        /// Standard deviation.
        sd_us: Time,
        /// Lower bound.
        min_us: Time,
        /// Upper bound.
        max_us: Time,
    },
}

impl Latency {
    /// Draws one latency.
    #[inline(always)]
    pub fn sample(&self, rng: &mut Rng) -> Time {
        match *self {
            Latency::Fixed { us } => us,
            Latency::Uniform { min_us, max_us } => rng.range(min_us, max_us),
            _ => self.sample_float(rng),
        }
    }

    /// The distributions drawn through floating point, kept out of line so
    /// the common integer ones inline into the send path.
    #[inline(never)]
    fn sample_float(&self, rng: &mut Rng) -> Time {
        match *self {
            Latency::Fixed { .. } | Latency::Uniform { .. } => self.sample(rng),
            Latency::Exponential {
                min_us,
                mean_us,
                max_us,
            } => {
                let u = 1.0 - rng.unit_f64(); // in (0, 1]
                let x = -det_ln(u) * mean_us as f64;
                (min_us.saturating_add(x.round() as u64)).min(max_us)
            }
            Latency::Normal {
                mean_us,
                sd_us,
                min_us,
                max_us,
            } => {
                // Marsaglia's polar method with our own logarithm.
                let z = loop {
                    let a = 2.0 * rng.unit_f64() - 1.0;
                    let b = 2.0 * rng.unit_f64() - 1.0;
                    let s = a * a + b * b;
                    if s > 0.0 && s < 1.0 {
                        break a * (-2.0 * det_ln(s) / s).sqrt();
                    }
                };
                let x = mean_us as f64 + z * sd_us as f64;
                (x.round().max(0.0) as u64).clamp(min_us, max_us)
            }
        }
    }

    /// The largest latency this can produce.
    pub fn max(&self) -> Time {
        match *self {
            Latency::Fixed { us } => us,
            Latency::Uniform { max_us, .. }
            | Latency::Exponential { max_us, .. }
            | Latency::Normal { max_us, .. } => max_us,
        }
    }
}

/// The behaviour of one directed link.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Link {
    /// Delivery delay.
    pub latency: Latency,
    /// Chance a message is lost.
    pub drop: Prob,
    /// Chance a message is delivered twice.
    pub duplicate: Prob,
    /// FIFO delivery and connection errors, as over TCP; otherwise messages
    /// may overtake each other and losses are silent, as over UDP.
    pub ordered: bool,
}

impl Default for Link {
    /// Uniform 1–10 ms, no loss, ordered: the scenario file's default.
    fn default() -> Link {
        Link {
            latency: Latency::Uniform {
                min_us: crate::MS,
                max_us: 10 * crate::MS,
            },
            drop: Prob::ZERO,
            duplicate: Prob::ZERO,
            ordered: true,
        }
    }
}

/// What happens to messages that meet a partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionMode {
    /// Lost when it reaches a receiver cut off from its sender, including
    /// messages already in flight when the cut began; on ordered links the
    /// sender also sees a connection error (a TCP connection that dies).
    #[default]
    Drop,
    /// Held back and delivered after the heal.
    Hold,
    /// Maelstrom's partitions: discarded silently at the receiver when it
    /// dequeues a message from a source it is cut off from, so messages in
    /// flight when the cut began are lost, and no link, ordered or not,
    /// tells the sender.
    Receiver,
    /// As over a real TCP connection with a socket timeout: on an ordered
    /// link, a message that meets the cut is retransmitted until the heal
    /// (held, then delivered in order), unless the link has been stalled
    /// for the timeout ([`crate::SimConfig::tcp_timeout_us`]); then every
    /// message held on it is lost and its sender sees a connection error.
    /// A cut shorter than the timeout costs only delay. On an unordered
    /// link a message that meets the cut is lost, as in `drop`.
    Tcp,
}

impl PartitionMode {
    /// The name used in scenario files and reports.
    pub fn name(self) -> &'static str {
        match self {
            PartitionMode::Drop => "drop",
            PartitionMode::Hold => "hold",
            PartitionMode::Receiver => "receiver",
            PartitionMode::Tcp => "tcp",
        }
    }
}

/// One directed link: how it behaves and the state faults and ordering
/// give it, together so that routing a message touches one place.
#[derive(Clone, Debug)]
struct Port {
    link: Link,
    /// The configured (drop, duplicate), to come back to after a burst.
    configured_loss: (Prob, Prob),
    /// On an ordered link, the latest delivery time given out so far.
    last_delivery: Time,
    /// A partition cuts this link.
    cut: bool,
    /// The next message fails with a connection error (injected fault).
    pending_error: bool,
}

/// All links of a cluster plus the partition state.
#[derive(Clone, Debug)]
pub struct Network {
    n: usize,
    /// Processes from this id on (services, client processes) are cut by a
    /// partition only when one of its groups names them.
    replicas: usize,
    ports: Vec<Port>,
    /// What happens to messages that meet a partition.
    pub partition_mode: PartitionMode,
}

/// The network's decision for one sent message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Lost on the wire.
    Lost,
    /// Delivered at the given time.
    Deliver(Time),
    /// Delivered twice.
    Twice(Time, Time),
}

impl Network {
    /// A network of `n` nodes where every link behaves as `default`.
    pub fn new(n: usize, default: Link, partition_mode: PartitionMode) -> Network {
        let port = Port {
            configured_loss: (default.drop, default.duplicate),
            link: default,
            last_delivery: 0,
            cut: false,
            pending_error: false,
        };
        Network {
            n,
            replicas: n,
            ports: vec![port; n * n],
            partition_mode,
        }
    }

    /// Marks processes `replicas..` as services and clients: a partition
    /// that does not name one leaves it reachable from every side.
    pub fn set_replicas(&mut self, replicas: usize) {
        self.replicas = replicas.min(self.n);
    }

    /// On an ordered link, no later message may arrive before `at` (a
    /// message held or delayed by a rule holds up the ones behind it).
    pub fn hold_line(&mut self, from: NodeId, to: NodeId, at: Time) {
        let p = self.port_mut(from, to);
        if p.link.ordered {
            p.last_delivery = p.last_delivery.max(at);
        }
    }

    #[inline(always)]
    fn port(&self, from: NodeId, to: NodeId) -> &Port {
        &self.ports[from * self.n + to]
    }

    #[inline(always)]
    fn port_mut(&mut self, from: NodeId, to: NodeId) -> &mut Port {
        &mut self.ports[from * self.n + to]
    }

    /// Overrides one directed link (its configuration, not a passing fault).
    pub fn set_link(&mut self, from: NodeId, to: NodeId, link: Link) {
        let p = self.port_mut(from, to);
        p.configured_loss = (link.drop, link.duplicate);
        p.link = link;
    }

    /// The link from `from` to `to`.
    #[inline(always)]
    pub fn link(&self, from: NodeId, to: NodeId) -> &Link {
        &self.port(from, to).link
    }

    /// True when messages from `from` to `to` travel over an ordered
    /// (TCP-like) connection. A node's messages to itself never do.
    #[inline(always)]
    pub fn ordered(&self, from: NodeId, to: NodeId) -> bool {
        from != to && self.port(from, to).link.ordered
    }

    /// Changes loss and duplication on every link (a burst fault).
    pub fn set_loss(&mut self, drop: Prob, duplicate: Prob) {
        for p in &mut self.ports {
            p.link.drop = drop;
            p.link.duplicate = duplicate;
        }
    }

    /// Ends any burst: every link's configured loss and duplication again.
    pub fn restore_loss(&mut self) {
        for p in &mut self.ports {
            (p.link.drop, p.link.duplicate) = p.configured_loss;
        }
    }

    /// Decides when (and whether) a message sent now arrives. Messages to
    /// oneself are never lost and arrive at once, after what is queued.
    #[inline(always)]
    pub fn route(&mut self, now: Time, from: NodeId, to: NodeId, rng: &mut Rng) -> Fate {
        if from == to {
            return Fate::Deliver(now);
        }
        let p = self.port_mut(from, to);
        if rng.chance(p.link.drop) {
            return Fate::Lost;
        }
        let mut at = now + p.link.latency.sample(rng);
        let twice = rng.chance(p.link.duplicate);
        let ordered = p.link.ordered;
        if ordered {
            at = at.max(p.last_delivery);
            p.last_delivery = at;
        }
        if !twice {
            return Fate::Deliver(at);
        }
        let mut again = now + p.link.latency.sample(rng);
        if ordered {
            again = again.max(at);
            p.last_delivery = again;
        }
        Fate::Twice(at, again)
    }

    /// True when a partition separates `from` from `to`.
    #[inline(always)]
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.port(from, to).cut
    }

    /// Cuts every link between different groups; replicas in no group form
    /// one more group together, while services and client processes in no
    /// group stay reachable from every side. Replaces any earlier partition.
    pub fn partition(&mut self, groups: &[Vec<NodeId>]) {
        const REST: usize = usize::MAX;
        const FREE: usize = usize::MAX - 1;
        let mut group_of: Vec<usize> = (0..self.n)
            .map(|i| if i < self.replicas { REST } else { FREE })
            .collect();
        for (g, members) in groups.iter().enumerate() {
            for &m in members {
                group_of[m] = g;
            }
        }
        for a in 0..self.n {
            for b in 0..self.n {
                let (ga, gb) = (group_of[a], group_of[b]);
                self.port_mut(a, b).cut = ga != gb && ga != FREE && gb != FREE;
            }
        }
    }

    /// Cuts the links from every node in `from` to every node in `to` (one way).
    pub fn cut_one_way(&mut self, from: &[NodeId], to: &[NodeId]) {
        for &a in from {
            for &b in to {
                if a != b {
                    self.port_mut(a, b).cut = true;
                }
            }
        }
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.ports.iter_mut().for_each(|p| p.cut = false);
    }

    /// True when any link is cut.
    pub fn is_partitioned(&self) -> bool {
        self.ports.iter().any(|p| p.cut)
    }

    /// Arms a one-shot connection error on a link.
    pub fn inject_error(&mut self, from: NodeId, to: NodeId) {
        self.port_mut(from, to).pending_error = true;
    }

    /// Takes the armed error of a link, if any.
    #[inline(always)]
    pub fn take_error(&mut self, from: NodeId, to: NodeId) -> bool {
        std::mem::take(&mut self.port_mut(from, to).pending_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(latency: Latency, ordered: bool) -> Link {
        Link {
            latency,
            drop: Prob::ZERO,
            duplicate: Prob::ZERO,
            ordered,
        }
    }

    #[test]
    fn distributions_stay_in_bounds() {
        let mut r = Rng::derive(1, "net");
        let dists = [
            Latency::Fixed { us: 7 },
            Latency::Uniform {
                min_us: 10,
                max_us: 20,
            },
            Latency::Exponential {
                min_us: 5,
                mean_us: 100,
                max_us: 400,
            },
            Latency::Normal {
                mean_us: 100,
                sd_us: 50,
                min_us: 20,
                max_us: 180,
            },
        ];
        for d in &dists {
            let lo = match *d {
                Latency::Fixed { us } => us,
                Latency::Uniform { min_us, .. }
                | Latency::Exponential { min_us, .. }
                | Latency::Normal { min_us, .. } => min_us,
            };
            let mut sum = 0;
            for _ in 0..2000 {
                let x = d.sample(&mut r);
                assert!(x >= lo && x <= d.max(), "{d:?} gave {x}");
                sum += x;
            }
            let mean = sum / 2000;
            assert!(mean >= lo && mean <= d.max());
        }
    }

    #[test]
    fn exponential_mean_is_about_right() {
        let mut r = Rng::derive(2, "net");
        let d = Latency::Exponential {
            min_us: 0,
            mean_us: 1000,
            max_us: u64::MAX,
        };
        let mean: u64 = (0..20_000).map(|_| d.sample(&mut r)).sum::<u64>() / 20_000;
        assert!((900..1100).contains(&mean), "{mean}");
    }

    #[test]
    fn ordered_links_are_fifo_unordered_reorder() {
        let lat = Latency::Uniform {
            min_us: 1,
            max_us: 1000,
        };
        let mut r = Rng::derive(3, "net");
        let mut fifo = Network::new(2, link(lat.clone(), true), PartitionMode::Drop);
        let mut last = 0;
        for t in 0..500 {
            let Fate::Deliver(at) = fifo.route(t, 0, 1, &mut r) else {
                panic!()
            };
            assert!(at >= last);
            last = at;
        }
        let mut udp = Network::new(2, link(lat, false), PartitionMode::Drop);
        let ats: Vec<Time> = (0..500)
            .map(|t| match udp.route(t, 0, 1, &mut r) {
                Fate::Deliver(at) => at,
                _ => panic!(),
            })
            .collect();
        assert!(ats.windows(2).any(|w| w[1] < w[0]), "no reordering seen");
    }

    #[test]
    fn partitions_cut_between_groups_only() {
        let mut n = Network::new(5, link(Latency::Fixed { us: 1 }, true), PartitionMode::Drop);
        n.partition(&[vec![0, 1], vec![2, 3]]);
        assert!(!n.is_cut(0, 1));
        assert!(n.is_cut(1, 2) && n.is_cut(2, 1));
        assert!(
            n.is_cut(4, 0) && n.is_cut(3, 4),
            "unlisted node 4 is its own group"
        );
        n.heal();
        assert!(!n.is_partitioned());
        n.cut_one_way(&[0], &[1, 2]);
        assert!(n.is_cut(0, 1) && !n.is_cut(1, 0));
    }

    #[test]
    fn services_and_clients_are_cut_only_when_a_group_names_them() {
        // Replicas 0..3, a service 3, a client process 4.
        let mut n = Network::new(
            5,
            link(Latency::Fixed { us: 1 }, false),
            PartitionMode::Drop,
        );
        n.set_replicas(3);
        n.partition(&[vec![0], vec![1]]);
        assert!(n.is_cut(0, 1) && n.is_cut(0, 2) && !n.is_cut(1, 1));
        assert!(n.is_cut(1, 2), "replica 2, in no group, is the rest");
        for r in 0..3 {
            assert!(!n.is_cut(r, 3) && !n.is_cut(3, r) && !n.is_cut(4, r));
        }
        n.partition(&[vec![2], vec![0, 1, 3]]);
        assert!(n.is_cut(2, 3) && n.is_cut(3, 2) && !n.is_cut(0, 3));
        assert!(
            !n.is_cut(4, 2) && !n.is_cut(4, 3),
            "the unnamed client is free"
        );
    }

    #[test]
    fn a_loss_burst_ends_on_each_links_own_configuration() {
        let mut n = Network::new(3, link(Latency::Fixed { us: 1 }, true), PartitionMode::Drop);
        let half = Prob::from_f64(0.5).unwrap();
        let mut lossy = link(Latency::Fixed { us: 1 }, true);
        lossy.drop = half;
        n.set_link(0, 1, lossy);
        n.set_loss(Prob::from_f64(1.0).unwrap(), half);
        assert_eq!(n.link(1, 2).drop, Prob::from_f64(1.0).unwrap());
        n.restore_loss();
        assert_eq!(
            (n.link(0, 1).drop, n.link(0, 1).duplicate),
            (half, Prob::ZERO)
        );
        assert_eq!(
            (n.link(1, 2).drop, n.link(1, 2).duplicate),
            (Prob::ZERO, Prob::ZERO)
        );
    }

    #[test]
    fn self_sends_are_immediate_and_never_lost() {
        let mut l = link(Latency::Fixed { us: 9 }, true);
        l.drop = Prob::from_f64(1.0).unwrap();
        let mut n = Network::new(2, l, PartitionMode::Drop);
        let mut r = Rng::derive(4, "net");
        assert_eq!(n.route(5, 1, 1, &mut r), Fate::Deliver(5));
        assert_eq!(n.route(5, 0, 1, &mut r), Fate::Lost);
    }
}
