//! Time and peak memory of `dsim check` at scale: a generated
//! 100,000-transaction multi-key list-append history (Elle's workload
//! shape: keys of at most 32 appends, 1–4 micro-operations per
//! transaction, 4 transactions in flight) and a 100,000-operation
//! cas-register history (4 in flight), each valid and with one anomaly
//! planted (a read that misses the latest append / write).
//!
//! `cargo bench -p dsim-checker --bench scale` prints, per case, the verdict,
//! what was found, the time to parse the JSON Lines text and to check it
//! (wall, and the CPU time of the check, which a busy machine does not
//! inflate), and the process's peak resident memory (each case runs in its own
//! process, so the figures do not mix). One thread: the transactional check
//! is single-threaded, and a register history has one key. A benchmark, not
//! a test: it asserts nothing about time.

use checker::{check, model, History, DEFAULT_BUDGET};
use std::fmt::Write as _;
use std::time::Instant;

const N: usize = 100_000;
/// Transactions (operations) in flight at once.
const IN_FLIGHT: usize = 4;

/// One event line of the JSON Lines format.
fn line(out: &mut String, process: usize, kind: &str, f: &str, value: &str, time: usize) {
    let _ = writeln!(
        out,
        "{{\"process\":{process},\"type\":\"{kind}\",\"f\":\"{f}\",\"value\":{value},\"time\":{time}}}"
    );
}

/// A serial execution laid out in time: operation `i` is invoked at
/// `10 i`, takes effect at `10 i + 5` and returns at `10 i + 35`, so
/// `IN_FLIGHT` overlap and real time agrees with the serial order.
/// `ops[i]` is (invocation value, completion value).
fn lay_out(f: &str, ops: &[(String, String)]) -> String {
    let mut events: Vec<(usize, usize, bool)> = Vec::with_capacity(ops.len() * 2);
    for i in 0..ops.len() {
        events.push((10 * i, i, false));
        events.push((10 * i + 35, i, true));
    }
    events.sort();
    let mut out = String::with_capacity(ops.len() * 160);
    for (time, i, done) in events {
        let (input, output) = &ops[i];
        let (kind, value) = if done {
            ("ok", output)
        } else {
            ("invoke", input)
        };
        line(&mut out, i % IN_FLIGHT, kind, f, value, time);
    }
    out
}

/// splitmix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn list_append(anomaly: bool) -> String {
    let mut rng = Rng(7);
    // Active keys; each retires after 32 appends and a fresh key takes its place.
    let mut active: Vec<(u64, Vec<u64>, usize)> = (0..10).map(|k| (k, Vec::new(), 0)).collect();
    let mut planted = !anomaly;
    let mut next_key = 10;
    let mut next_value = 1;
    let mut ops = Vec::with_capacity(N);
    for i in 0..N {
        let n = 1 + rng.below(4);
        let (mut input, mut output) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let slot = rng.below(active.len() as u64) as usize;
            let (k, list, last) = &mut active[slot];
            if rng.below(2) == 0 {
                list.push(next_value);
                *last = i;
                input.push(format!("[\"append\",{k},{next_value}]"));
                output.push(format!("[\"append\",{k},{next_value}]"));
                next_value += 1;
            } else {
                let mut seen: Vec<String> = list.iter().map(u64::to_string).collect();
                // The planted anomaly: a read that misses an append that
                // ended before it began (so no order explains it).
                if !planted && i >= N / 2 && !seen.is_empty() && *last + 2 * IN_FLIGHT < i {
                    seen.pop();
                    planted = true;
                }
                input.push(format!("[\"r\",{k},null]"));
                output.push(format!("[\"r\",{k},[{}]]", seen.join(",")));
            }
            if active[slot].1.len() >= 32 {
                active[slot] = (next_key, Vec::new(), i);
                next_key += 1;
            }
        }
        ops.push((
            format!("[{}]", input.join(",")),
            format!("[{}]", output.join(",")),
        ));
    }
    lay_out("txn", &ops)
}

fn register(anomaly: bool) -> String {
    let mut rng = Rng(11);
    let mut value = 0u64;
    let mut previous = 0u64;
    let mut written_at = 0;
    let mut planted = !anomaly;
    let mut ops = Vec::with_capacity(N);
    for i in 0..N {
        let op = if rng.below(2) == 0 {
            previous = value;
            value = 1 + rng.below(1_000_000);
            written_at = i;
            ("write", value.to_string(), value.to_string())
        } else if !planted && i > N / 2 && previous != value && written_at + 2 * IN_FLIGHT < i {
            // The planted anomaly: a read of the value before a write that
            // ended before the read began.
            planted = true;
            ("read", "null".into(), previous.to_string())
        } else {
            ("read", "null".into(), value.to_string())
        };
        ops.push(op);
    }
    // A register history has one function per operation: lay out by hand.
    let mut events: Vec<(usize, usize, bool)> = Vec::with_capacity(N * 2);
    for i in 0..N {
        events.push((10 * i, i, false));
        events.push((10 * i + 35, i, true));
    }
    events.sort();
    let mut out = String::with_capacity(N * 100);
    for (time, i, done) in events {
        let (f, input, output) = &ops[i];
        let (kind, v) = if done {
            ("ok", output)
        } else {
            ("invoke", input)
        };
        line(&mut out, i % IN_FLIGHT, kind, f, v, time);
    }
    out
}

/// CPU seconds (user + system) this process has used so far (Linux): on a
/// shared machine, wall time also counts other processes' turns.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are 14 and 15.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of this process, in MiB (Linux).
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

const CASES: [&str; 4] = [
    "list-append-valid",
    "list-append-anomaly",
    "register-valid",
    "register-anomaly",
];

fn run_case(case: &str) {
    let (text, model_name) = match case {
        "list-append-valid" => (list_append(false), "list-append"),
        "list-append-anomaly" => (list_append(true), "list-append"),
        "register-valid" => (register(false), "cas-register"),
        _ => (register(true), "cas-register"),
    };
    let initial = (model_name == "cas-register").then(|| serde_json::json!(0));
    let model = model::by_name(model_name, initial.as_ref()).expect("model");
    let start = Instant::now();
    let history = History::parse_jsonl(&text).expect("generated history parses");
    let parsed = start.elapsed();
    drop(text);
    let start = Instant::now();
    let cpu = cpu_seconds();
    let report = check(&history, &model, DEFAULT_BUDGET).expect("generated history fits");
    let checked = start.elapsed();
    let checked_cpu = cpu_seconds() - cpu;
    let found = report
        .witness
        .as_ref()
        .and_then(|w| w.explanation.lines().next().map(str::to_string))
        .unwrap_or_default();
    println!(
        "{case:<22} {} ops  {:<18} parse {:>5.2} s  check {:>5.2} s (cpu {:>5.2} s)  peak {:>5.0} MiB  {}",
        history.operations().len(),
        report.verdict.as_str(),
        parsed.as_secs_f64(),
        checked.as_secs_f64(),
        checked_cpu,
        peak_mib(),
        found.chars().take(90).collect::<String>()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a case name runs that case alone.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let Some(case) = args.iter().find(|a| CASES.contains(&a.as_str())) {
        run_case(case);
        return;
    }
    let me = std::env::current_exe().expect("own path");
    for case in CASES {
        if !args.is_empty() && !args.iter().any(|a| case.contains(a.as_str())) {
            continue;
        }
        let status = std::process::Command::new(&me)
            .arg(case)
            .status()
            .expect("runs");
        if !status.success() {
            println!("{case}: failed ({status})");
        }
    }
}
