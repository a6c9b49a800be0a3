//! Maelstrom's broadcast topologies (`--topology`): which neighbours each
//! node is told about in its `topology` message.

use serde::{Deserialize, Serialize};
use sim::NodeId;

/// A topology.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// A square-ish grid; neighbours up, down, left and right (Maelstrom's
    /// default).
    #[default]
    Grid,
    /// A line: the previous and the next node.
    Line,
    /// A binary tree: the parent and up to two children.
    Tree2,
    /// A ternary tree.
    Tree3,
    /// A tree of degree four.
    Tree4,
    /// Everyone else.
    Total,
}

impl Topology {
    /// The neighbours of node `i` among `n`, in id order.
    pub fn neighbours(self, i: NodeId, n: usize) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = match self {
            Topology::Total => (0..n).filter(|&j| j != i).collect(),
            Topology::Line => [i.checked_sub(1), Some(i + 1)]
                .into_iter()
                .flatten()
                .filter(|&j| j < n)
                .collect(),
            Topology::Grid => {
                let w = (n as f64).sqrt().ceil().max(1.0) as usize;
                let (r, c) = (i / w, i % w);
                let mut v = Vec::new();
                if r > 0 {
                    v.push(i - w);
                }
                if c > 0 {
                    v.push(i - 1);
                }
                if c + 1 < w && i + 1 < n {
                    v.push(i + 1);
                }
                if i + w < n {
                    v.push(i + w);
                }
                v
            }
            Topology::Tree2 | Topology::Tree3 | Topology::Tree4 => {
                let k = match self {
                    Topology::Tree2 => 2,
                    Topology::Tree3 => 3,
                    _ => 4,
                };
                let mut v = Vec::new();
                if i > 0 {
                    v.push((i - 1) / k);
                }
                v.extend((1..=k).map(|c| i * k + c).filter(|&j| j < n));
                v
            }
        };
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topology_is_symmetric_and_connected() {
        for t in [
            Topology::Grid,
            Topology::Line,
            Topology::Tree2,
            Topology::Tree3,
            Topology::Tree4,
            Topology::Total,
        ] {
            for n in [1, 2, 5, 25] {
                for i in 0..n {
                    for j in t.neighbours(i, n) {
                        assert!(t.neighbours(j, n).contains(&i), "{t:?} n={n}: {i}->{j}");
                    }
                }
                let mut seen = vec![false; n];
                let mut stack = vec![0];
                while let Some(x) = stack.pop() {
                    if !std::mem::replace(&mut seen[x], true) {
                        stack.extend(t.neighbours(x, n));
                    }
                }
                assert!(seen.iter().all(|&s| s), "{t:?} n={n} is connected");
            }
        }
        assert_eq!(Topology::Grid.neighbours(6, 25), vec![1, 5, 7, 11]);
        assert_eq!(Topology::Tree2.neighbours(1, 7), vec![0, 3, 4]);
    }
}
