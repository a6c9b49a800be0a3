//! Benchmark W (issue 2): delivered node-to-node messages per wall second for
//! `scenarios/bench-lww-w.json` run by the dsim engine (fingerprint on, full
//! trace off), next to a bare BinaryHeap event loop that does the same work
//! (same message pattern, same latency and loss draws from ChaCha8) with none
//! of the engine's generality. Run with `cargo bench --bench lww_w`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::Path;
use std::time::Instant;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const RUNS: usize = 5;

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bench-lww-w.json");
    let sc = match dsim::scenario::load(&path) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    println!("workload W: {}", sc.description);
    let mut dsim_rates = Vec::new();
    for i in 0..RUNS {
        let t = Instant::now();
        let r = dsim::runner::run(
            &sc,
            dsim::runner::RunOptions {
                seed: sc.sim.seed,
                trace: None,
                observer: None,
                keep_history: false,
                trail_key: None,
                deadline: None,
            },
        );
        let secs = t.elapsed().as_secs_f64();
        let rate = r.stats.delivered as f64 / secs;
        println!(
            "dsim  run {}: {:>8} delivered, {:>8} events in {:.3} s = {:>5.2} M msgs/s (fingerprint {:016x})",
            i + 1,
            r.stats.delivered,
            r.stats.events,
            secs,
            rate / 1e6,
            r.fingerprint
        );
        dsim_rates.push(rate);
    }
    let mut bare_rates = Vec::new();
    for i in 0..RUNS {
        let t = Instant::now();
        let delivered = bare_loop(1);
        let secs = t.elapsed().as_secs_f64();
        let rate = delivered as f64 / secs;
        println!(
            "bare  run {}: {delivered:>8} delivered in {secs:.3} s = {:>5.2} M msgs/s",
            i + 1,
            rate / 1e6
        );
        bare_rates.push(rate);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let d = med(&mut dsim_rates);
    let b = med(&mut bare_rates);
    println!(
        "median: dsim {:.2} M msgs/s, bare loop {:.2} M msgs/s, bare/dsim = {:.2}x",
        d / 1e6,
        b / 1e6,
        b / d
    );
}

struct Item {
    t: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        (self.t, self.seq) == (o.t, o.seq)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.t, o.seq).cmp(&(self.t, self.seq))
    }
}

#[derive(Clone, Copy)]
enum Ev {
    Write,
    Set {
        to: u8,
        key: u32,
        value: i64,
        ts: u64,
        origin: u8,
    },
    Sync {
        to: u8,
        key: u32,
        value: i64,
        ts: u64,
        origin: u8,
    },
}

/// W by hand: 200,000 writes one per ms round-robin over 5 nodes, each
/// pushed to a round-robin target that relays to the other four; latency
/// uniform 1–10 ms, 1% loss; LWW by (ts, origin, value). Returns deliveries.
fn bare_loop(seed: u64) -> u64 {
    const N: usize = 5;
    const KEYS: u64 = 100;
    const WRITES: u64 = 200_000;
    let mut net = ChaCha8Rng::seed_from_u64(seed);
    let mut work = ChaCha8Rng::seed_from_u64(seed ^ 1);
    let mut q: BinaryHeap<Item> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |q: &mut BinaryHeap<Item>, t: u64, ev: Ev| {
        seq += 1;
        q.push(Item { t, seq, ev });
    };
    let mut store = vec![vec![(0u64, 0u8, 0i64); KEYS as usize]; N];
    let mut next_target = [0usize; N];
    let mut written = 0u64;
    let mut delivered = 0u64;
    let mut value = 0i64;
    push(&mut q, 0, Ev::Write);
    let route = |net: &mut ChaCha8Rng, now: u64, from: usize, to: usize| -> Option<u64> {
        if from == to {
            return Some(now);
        }
        if net.next_u64() % 1_000_000_000 < 10_000_000 {
            return None;
        }
        Some(now + 1_000 + net.next_u64() % 9_001)
    };
    while let Some(Item { t: now, ev, .. }) = q.pop() {
        match ev {
            Ev::Write => {
                let origin = (written % N as u64) as usize;
                let key = (work.next_u64() % KEYS) as u32;
                value += 1;
                let to = next_target[origin] % N;
                next_target[origin] = to + 1;
                if let Some(at) = route(&mut net, now, origin, to) {
                    push(
                        &mut q,
                        at,
                        Ev::Set {
                            to: to as u8,
                            key,
                            value,
                            ts: now,
                            origin: origin as u8,
                        },
                    );
                }
                written += 1;
                if written < WRITES {
                    push(&mut q, now + 1_000, Ev::Write);
                }
            }
            Ev::Set {
                to,
                key,
                value,
                ts,
                origin,
            }
            | Ev::Sync {
                to,
                key,
                value,
                ts,
                origin,
            } => {
                delivered += 1;
                let e = &mut store[to as usize][key as usize];
                if (ts, origin, value) >= *e {
                    *e = (ts, origin, value);
                }
                if matches!(ev, Ev::Set { .. }) {
                    for peer in 0..N {
                        if peer != to as usize {
                            if let Some(at) = route(&mut net, now, to as usize, peer) {
                                push(
                                    &mut q,
                                    at,
                                    Ev::Sync {
                                        to: peer as u8,
                                        key,
                                        value,
                                        ts,
                                        origin,
                                    },
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    delivered
}
