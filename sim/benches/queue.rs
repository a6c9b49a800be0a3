//! Event queue micro-benchmark: nanoseconds per pop + push in a steady
//! "hold" model (each popped event is pushed again a drawn delay later, so
//! the number waiting stays constant). Run with
//! `cargo bench -p dsim-sim --bench queue`.
//!
//! - `W-like`: about 40 events within the next 10 ms (deliveries 1–10 ms
//!   ahead, some at the current time) and about a thousand events 1 s ahead
//!   (the engine keeps client timeouts outside the queue now, so this is
//!   the harder pattern of long timers);
//! - `far timers`: 1,024 timers 1–5 s ahead;
//! - `mixed`: half near (1–10 ms), half far (0.1–5 s);
//! - `minutes`: 1,024 events 1 min–2 h ahead.

use std::time::Instant;

use sim::queue::Queue;
use sim::rng::Rng;
use sim::Time;

/// About the size of the engine's events.
type Payload = [u64; 8];

/// A delay after the popped event's time.
type Step = Time;

/// A name, how to draw steps, and how many events wait.
type Pattern = (&'static str, fn(&mut Rng) -> Step, usize);

const STEPS: usize = 1 << 20;
const OPS: usize = 4_000_000;
const RUNS: usize = 5;

fn w_like(r: &mut Rng) -> Step {
    match r.below(48) {
        0..=5 => 1_000_000,
        6..=12 => 0,
        _ => r.range(1_000, 10_000),
    }
}

fn far_timers(r: &mut Rng) -> Step {
    r.range(1_000_000, 5_000_000)
}

fn mixed(r: &mut Rng) -> Step {
    if r.below(2) == 0 {
        r.range(1_000, 10_000)
    } else {
        r.range(100_000, 5_000_000)
    }
}

fn minutes(r: &mut Rng) -> Step {
    r.range(60_000_000, 7_200_000_000)
}

/// Median nanoseconds per pop + push.
fn hold(draw: fn(&mut Rng) -> Step, pending: usize) -> f64 {
    let mut r = Rng::derive(1, "queue-bench");
    let steps: Vec<Step> = (0..STEPS).map(|_| draw(&mut r)).collect();
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let mut q = Queue::<Payload>::default();
        for (i, &d) in steps[..pending].iter().enumerate() {
            q.push(d, [i as u64; 8]);
        }
        let mut check = 0u64;
        let start = Instant::now();
        for i in 0..OPS {
            let (now, ev) = q.pop().expect("the hold model never runs dry");
            check = check.wrapping_add(now ^ ev[0]);
            q.push(now + steps[(pending + i) % STEPS], ev);
        }
        times.push(start.elapsed().as_secs_f64() * 1e9 / OPS as f64);
        std::hint::black_box(check);
        assert_eq!(q.len(), pending);
    }
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}

fn main() {
    let patterns: [Pattern; 4] = [
        ("W-like", w_like, 1_040),
        ("far timers", far_timers, 1_024),
        ("mixed", mixed, 1_024),
        ("minutes", minutes, 1_024),
    ];
    for (name, draw, pending) in patterns {
        let ns = hold(draw, pending);
        println!("{name:<11} {pending:>5} waiting: {ns:>6.1} ns per pop+push (median of {RUNS})");
    }
}
