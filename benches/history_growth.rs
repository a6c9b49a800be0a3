//! Does a run's memory grow linearly with its operations? (issue 32, N9.)
//! gg-broadcast (intended-d, 25 nodes; every read answers the whole set)
//! at 10^4, 2·10^4, 5·10^4 and 10^5 operations, judged by set-full and
//! stats, its history streamed to a sink as `--history` writes it; and
//! bank (three nodes, its balance reads answer the ids of every withdrawal
//! honoured and cancelled: the stated quadratic exception) at 10^3, 3·10^3
//! and 10^4. Run with `cargo bench --bench history_growth`. Each case runs
//! in a process of its own, so its peak memory (VmHWM, Linux) is its own.
//! Prints per case: operations, events, run+check seconds, history-write
//! seconds and bytes, peak MB, and the checks' statuses.
//!
//! Then `dsim check --model set-full` on the same broadcast histories
//! (10^4 to 10^5 operations; their text is quadratic, 6 GB at 10^5, so it
//! is streamed line by line into the reader the command uses instead of
//! written to a file): seconds to read and to check, and the peak memory
//! of reading and checking alone (the high-water mark is reset once the
//! run is dropped).

use std::io::Write;
use std::time::Instant;

/// Peak resident memory of this process, in MB.
fn peak_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

const BROADCAST: [u64; 4] = [10_000, 20_000, 50_000, 100_000];
const BANK: [u64; 3] = [1_000, 3_000, 10_000];

fn broadcast(ops: u64) -> String {
    format!(
        r#"{{"protocol": "gg-broadcast", "variant": "intended-d", "nodes": 25, "seed": 1,
        "params": {{"topology": "grid", "stable_latency": {{"median_ms": 400, "max_ms": 600}}}},
        "network": {{"latency": {{"dist": "fixed", "ms": 100}}, "ordered": false}},
        "workload": {{"clients": 25, "ops": {ops}, "rate": {{"kind": "open", "interval_ms": 10}}, "timeout_ms": 5000}},
        "run": {{"quiet_ms": 1000}}, "checks": ["set-full", "stats"], "expect": {{"set-full": "any"}}}}"#
    )
}

fn bank(ops: u64) -> String {
    format!(
        r#"{{"protocol": "bank", "variant": "intended", "nodes": 3, "seed": 1,
        "network": {{"latency": {{"dist": "uniform", "min_ms": 1, "max_ms": 10}}}},
        "workload": {{"clients": 3, "ops": {ops}, "rate": {{"kind": "closed", "think_ms": 3}}, "node_policy": "fixed",
          "mix": [{{"f": "deposit", "weight": 1, "value": {{"min": 1, "max": 50}}}},
                  {{"f": "withdraw", "weight": 1, "value": {{"min": 1, "max": 50}}}},
                  {{"f": "balance", "weight": 2}}]}},
        "checks": ["convergence", "balance-non-negative", "withdrawals-covered", "decision-revoked", "balance-correct"],
        "expect": {{"withdrawals-covered": "any", "decision-revoked": "any"}}}}"#
    )
}

/// Counts the bytes written and drops them.
struct Sink(u64);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn case(kind: &str, ops: u64) {
    let src = if kind == "bank" {
        bank(ops)
    } else {
        broadcast(ops)
    };
    let sc = dsim::scenario::parse(&src, "bench", kind).expect("scenario");
    let t = Instant::now();
    let mut opts = dsim::runner::RunOptions::at(1);
    opts.keep_history = true;
    let rep = dsim::runner::run(&sc, opts);
    let run_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut sink = std::io::BufWriter::new(Sink(0));
    dsim::report::write_history(&mut sink, &rep.history).expect("sink");
    sink.flush().expect("sink");
    let bytes = sink.get_ref().0;
    let write_s = t.elapsed().as_secs_f64();
    let checks: Vec<String> = rep
        .checks
        .iter()
        .map(|c| format!("{}={}", c.name, c.result.status.name()))
        .collect();
    println!(
        "{kind:>12} {ops:>7} {:>10} {run_s:>8.2} {write_s:>8.2} {:>8.0} {:>8}  {}",
        rep.stats.events,
        bytes as f64 / 1e6,
        peak_mb().map_or("?".into(), |m| format!("{m:.0}")),
        checks.join(" ")
    );
}

/// Hands each whole line written to it to the history reader.
struct Lines {
    reader: checker::JsonlReader,
    carry: Vec<u8>,
    bytes: u64,
}

impl Write for Lines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.bytes += b.len() as u64;
        let mut rest = b;
        while let Some(at) = rest.iter().position(|&c| c == b'\n') {
            self.carry.extend_from_slice(&rest[..at]);
            let line = std::str::from_utf8(&self.carry).expect("UTF-8");
            self.reader.line(line).expect("a well-formed history");
            self.carry.clear();
            rest = &rest[at + 1..];
        }
        self.carry.extend_from_slice(rest);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `dsim check --model set-full` on a broadcast run's history.
fn check_case(ops: u64) {
    let sc = dsim::scenario::parse(&broadcast(ops), "bench", "gg-broadcast").expect("scenario");
    let mut opts = dsim::runner::RunOptions::at(1);
    opts.keep_history = true;
    let rep = dsim::runner::run(&sc, opts);
    let model = checker::model::by_name("set-full", None).expect("model");
    let mut lines = Lines {
        reader: checker::JsonlReader::reading_sets(),
        carry: Vec::new(),
        bytes: 0,
    };
    let t = Instant::now();
    dsim::report::write_history(&mut std::io::BufWriter::new(&mut lines), &rep.history)
        .expect("lines");
    let read_s = t.elapsed().as_secs_f64();
    drop(rep);
    // From here on the high-water mark is the reader's and the checker's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let history = lines.reader.finish();
    let t = Instant::now();
    let report = checker::check(&history, &model, checker::DEFAULT_BUDGET).expect("checks");
    let check_s = t.elapsed().as_secs_f64();
    println!(
        "{:>12} {ops:>7} {:>10.0} {read_s:>8.2} {check_s:>8.2} {:>8}  {:?}",
        "set-full",
        lines.bytes as f64 / 1e6,
        peak_mb().map_or("?".into(), |m| format!("{m:.0}")),
        report.verdict
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        case(&args[i + 1], args[i + 2].parse().expect("ops"));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--check-case") {
        check_case(args[i + 1].parse().expect("ops"));
        return;
    }
    let me = std::env::current_exe().expect("exe");
    let spawn = |kind: &str, n: u64| {
        let args = match kind {
            "check" => vec!["--check-case".to_string(), n.to_string()],
            _ => vec!["--case".to_string(), kind.to_string(), n.to_string()],
        };
        let out = std::process::Command::new(&me)
            .args(args)
            .output()
            .expect("spawn");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            println!(
                "{kind} {n}: failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    println!(
        "{:>12} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8}  checks",
        "protocol", "ops", "events", "run s", "write s", "hist MB", "peak MB"
    );
    for n in BROADCAST {
        spawn("gg-broadcast", n);
    }
    for n in BANK {
        spawn("bank", n);
    }
    println!(
        "\n{:>12} {:>7} {:>10} {:>8} {:>8} {:>8}  verdict",
        "check", "ops", "text MB", "read s", "check s", "peak MB"
    );
    for n in BROADCAST {
        spawn("check", n);
    }
}
