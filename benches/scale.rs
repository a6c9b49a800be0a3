//! Time and peak memory at scale (issue 19): the checker on single-key
//! histories of 10^4, 10^5 and 10^6 operations (sequential, and with five
//! overlapping clients), and `dsim run` of lww with 10^4, 10^5 and 10^6
//! client operations judged for convergence and linearizability. Run with
//! `cargo bench --bench scale`. Each case runs in a process of its own, so
//! its peak memory (VmHWM, Linux) is its own.

use std::time::Instant;

use checker::{CompletionKind, History, Verdict};
use dsim::scenario::raw::{RawRate, RawWorkload};
use dsim::scenario::Builder;
use serde_json::{json, Value};

/// Peak resident memory since the last reset, in MB.
fn peak_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn mb(m: Option<f64>) -> String {
    m.map_or("?".into(), |m| format!("{m:.0}"))
}

/// `n` register operations on one key by five clients, half writes of
/// unique values, half reads of the latest write; `overlap` makes each
/// operation overlap the next two.
fn history(n: u64, overlap: bool) -> History {
    let mut h = History::new();
    let mut last = Value::Null;
    for i in 0..n {
        let p = i % 5;
        let (call, ret) = if overlap {
            (i * 10, i * 10 + 25)
        } else {
            (i * 10, i * 10 + 5)
        };
        let write = i % 2 == 0;
        let (f, input) = if write {
            ("write", json!(i))
        } else {
            ("read", Value::Null)
        };
        h.invoke(p, f, None, input, call).unwrap();
        // With overlap, a read sees the write before the one in flight.
        let out = if write { json!(i) } else { last.clone() };
        h.complete(p, CompletionKind::Ok, out, ret).unwrap();
        if write && !overlap {
            last = json!(i);
        } else if write {
            // The write before this one (two operations back) has returned
            // before the next read starts; this one has not.
            last = if i >= 2 { json!(i - 2) } else { Value::Null };
        }
    }
    h
}

const SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        let n: u64 = args[i + 2].parse().unwrap();
        match args[i + 1].as_str() {
            "sequential" => check_case(n, false),
            "overlapping" => check_case(n, true),
            _ => run_case(n),
        }
        return;
    }
    let me = std::env::current_exe().unwrap();
    let case = |kind: &str, n: u64| {
        let out = std::process::Command::new(&me)
            .args(["--case", kind, &n.to_string()])
            .output()
            .unwrap();
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            println!(
                "{kind} {n}: failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    println!("checker, one key, cas-register model, default budget");
    println!(
        "{:>9} {:>11} {:>17} {:>9} {:>8}",
        "ops", "shape", "verdict", "ms", "peak MB"
    );
    for n in SIZES {
        case("sequential", n);
        case("overlapping", n);
    }
    println!();
    println!("dsim run: lww intended, 5 nodes, 10 keys, open loop; convergence + linearizability");
    println!(
        "{:>9} {:>10} {:>9} {:>8}  checks",
        "ops", "events", "ms", "peak MB"
    );
    for n in SIZES {
        case("run", n);
    }
}

/// Peak memory includes building the history; time is the check alone.
fn check_case(n: u64, overlap: bool) {
    let model = checker::model::by_name("cas-register", None).unwrap();
    let h = history(n, overlap);
    let t = Instant::now();
    let r = checker::check(&h, &model, checker::DEFAULT_BUDGET).unwrap();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let verdict = match r.verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable => "not-linearizable",
        Verdict::Unknown => "unknown",
    };
    let shape = if overlap { "overlapping" } else { "sequential" };
    println!(
        "{n:>9} {shape:>11} {verdict:>17} {ms:>9.0} {:>8}",
        mb(peak_mb())
    );
}

fn run_case(n: u64) {
    let registry = dsim::Registry::bundled();
    let sc = Builder::new("lww", 5)
        .variant("intended")
        .workload(RawWorkload {
            clients: Some(10),
            ops: n,
            keys: Some(10),
            rate: RawRate::Open { interval_ms: 1 },
            ..Default::default()
        })
        .checks(["convergence", "linearizability"])
        .build(&registry)
        .unwrap();
    let t = Instant::now();
    let rep = dsim::runner::run(&sc, dsim::runner::RunOptions::at(1));
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let checks: Vec<String> = rep
        .checks
        .iter()
        .map(|c| format!("{}={}", c.name, c.result.status.name()))
        .collect();
    println!(
        "{n:>9} {:>10} {ms:>9.0} {:>8}  {}",
        rep.stats.events,
        mb(peak_mb()),
        checks.join(" ")
    );
}
