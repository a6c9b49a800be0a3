//! `dsim maelstrom test`: Maelstrom's command line over dsim's Maelstrom
//! world, for a user's own node compiled to WebAssembly (WASI preview 1).
//! The flags become a scenario file (docs/protocols/maelstrom.md maps each
//! one), written to disk so that the run it prints replays, fuzzes and
//! shrinks from that file; then the file runs as `dsim run` runs it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{json, Value};

use super::bad_input;
use crate::Registry;

/// `dsim maelstrom …`.
#[derive(clap::Args, Debug)]
pub struct MaelstromArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub cmd: MaelstromCmd,
}

/// The subcommands of `dsim maelstrom`.
#[derive(clap::Subcommand, Debug)]
pub enum MaelstromCmd {
    /// Test a node binary (WebAssembly, wasip1) as `maelstrom test` does, deterministically.
    Test(TestArgs),
}

/// Maelstrom's flags, with Maelstrom's defaults.
#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// The workload: echo, unique-ids, broadcast, g-counter, txn-rw-register, kafka.
    #[arg(short = 'w', long)]
    pub workload: String,
    /// The node: a WebAssembly module built for WASI preview 1
    /// (GOOS=wasip1 GOARCH=wasm go build -o node.wasm).
    #[arg(long, value_name = "FILE")]
    pub bin: PathBuf,
    /// How many nodes (Maelstrom's default: 5).
    #[arg(long, default_value_t = 5)]
    pub node_count: u64,
    /// How long clients send operations, in seconds.
    #[arg(long, default_value_t = 60)]
    pub time_limit: u64,
    /// Operations per second, over all clients.
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// Mean network latency, in ms.
    #[arg(long, default_value_t = 0)]
    pub latency: u64,
    /// constant, uniform or exponential.
    #[arg(long, default_value = "constant")]
    pub latency_dist: String,
    /// broadcast: grid, line, tree2, tree3, tree4 or total.
    #[arg(long, default_value = "grid")]
    pub topology: String,
    /// Faults: `partition` (or none).
    #[arg(long)]
    pub nemesis: Option<String>,
    /// Seconds between nemesis operations, on average.
    #[arg(long, default_value_t = 10)]
    pub nemesis_interval: u64,
    /// Clients: a number, or `Nn` for N per node (Maelstrom's default: 1n).
    #[arg(long, default_value = "1n")]
    pub concurrency: String,
    /// `total` (every operation must succeed) or a fraction.
    #[arg(long)]
    pub availability: Option<String>,
    /// The seed (dsim's addition: Maelstrom cannot replay).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the scenario file goes (default: `dsim-WORKLOAD.json` here).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write every event as JSON Lines to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Print one JSON object instead of the human report.
    #[arg(long)]
    pub json: bool,
}

/// Maelstrom's workload names, dsim's protocols, whether the workload
/// ends with a final read on every client, and the workload's checker.
const WORKLOADS: &[(&str, &str, bool, &str)] = &[
    ("echo", "gg-echo", false, "echo"),
    ("unique-ids", "gg-unique-ids", false, "unique-ids"),
    ("broadcast", "gg-broadcast", true, "set-full"),
    ("g-counter", "gg-g-counter", true, "g-counter"),
    ("txn-rw-register", "gg-txn", false, "rw-register"),
    ("kafka", "gg-kafka", false, "kafka"),
];

/// kafka: how many keys the clients send to, and how many catch-up polls
/// each client makes at the end.
const KAFKA_KEYS: u64 = 4;
const KAFKA_FINAL_POLLS: u64 = 20;

/// Runs `dsim maelstrom`.
pub fn run(registry: &Registry, args: &MaelstromArgs) -> ExitCode {
    match &args.cmd {
        MaelstromCmd::Test(t) => test(registry, t),
    }
}

fn test(registry: &Registry, a: &TestArgs) -> ExitCode {
    let scenario = match scenario(a) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    let path = a
        .save
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("dsim-{}.json", a.workload)));
    let text = crate::fuzz::file::scenario_text(&scenario);
    if let Err(e) = std::fs::write(&path, text) {
        return bad_input(format!(
            "cannot write the scenario file {}: {e}",
            path.display()
        ));
    }
    if !a.json {
        eprintln!(
            "wrote {} (replay, fuzz and shrink from it: dsim run|fuzz {})",
            path.display(),
            path.display()
        );
    }
    let run = super::run::RunArgs {
        scenario: path,
        seed: Some(a.seed),
        sets: Vec::new(),
        trace: a.trace.clone(),
        history: None,
        trail: None,
        trail_key: 0,
        report: a.report.clone(),
        json: a.json,
        print_scenario: false,
    };
    super::run::run(registry, &run)
}

/// The scenario the flags stand for.
fn scenario(a: &TestArgs) -> Result<crate::scenario::RawScenario, String> {
    let Some(&(_, protocol, final_reads, checker)) = WORKLOADS.iter().find(|w| w.0 == a.workload)
    else {
        let names: Vec<&str> = WORKLOADS.iter().map(|w| w.0).collect();
        return Err(format!(
            "-w {}: dsim runs a user's node on these workloads: {}",
            a.workload,
            names.join(", ")
        ));
    };
    let bin = absolute(&a.bin)?;
    let n = a.node_count;
    if n == 0 {
        return Err("--node-count must be at least 1".into());
    }
    if !(a.rate > 0.0 && a.rate <= 100_000.0) {
        return Err(format!(
            "--rate must be above 0 and at most 100000, got {}",
            a.rate
        ));
    }
    if a.time_limit == 0 {
        return Err("--time-limit must be at least 1 second".into());
    }
    let clients = concurrency(&a.concurrency, n)?;
    let stop_ms = a.time_limit * 1000;
    let interval_us = (1e6 / a.rate).round().max(1.0) as u64;
    let ops = (a.time_limit as f64 * a.rate).round().max(1.0) as u64;
    let rate = if interval_us % 1000 == 0 {
        json!({"kind": "open", "interval_ms": interval_us / 1000})
    } else {
        return Err(format!(
            "--rate {}: dsim paces operations in whole milliseconds; use a rate that divides 1000 (1, 2, 4, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)",
            a.rate
        ));
    };
    let latency = match a.latency_dist.as_str() {
        "constant" => json!({"dist": "fixed", "ms": a.latency}),
        "uniform" => json!({"dist": "uniform", "min_ms": 0, "max_ms": 2 * a.latency}),
        "exponential" => {
            json!({"dist": "exponential", "min_ms": 0, "mean_ms": a.latency.max(1), "max_ms": 10 * a.latency.max(1)})
        }
        other => {
            return Err(format!(
                "--latency-dist {other}: must be constant, uniform or exponential"
            ))
        }
    };
    let mut script = Vec::new();
    if final_reads {
        // Maelstrom heals, waits 10 s, then every client reads once.
        for c in 0..clients {
            script.push(json!({"at_ms": stop_ms + 10_000 + c, "client": c, "f": "read"}));
        }
    }
    if protocol == "gg-kafka" {
        // Maelstrom's final phase: every client crashes (forgetting its
        // offsets), is assigned every key, and polls until it has caught up.
        let keys: Vec<u64> = (0..KAFKA_KEYS).collect();
        let at = stop_ms + 10_000;
        for c in 0..clients {
            script.push(json!({"at_ms": at, "client": c, "f": "crash"}));
            script.push(json!({"at_ms": at + 1, "client": c, "f": "assign", "value": keys}));
            for p in 0..KAFKA_FINAL_POLLS {
                script.push(json!({"at_ms": at + 10 + 50 * p, "client": c, "f": "poll"}));
            }
        }
    }
    let mut s = json!({
        "name": format!("maelstrom-{}", a.workload),
        "description": format!("dsim maelstrom test -w {} --bin {} --node-count {n} --time-limit {} --rate {} --latency {}{}", a.workload, a.bin.display(), a.time_limit, a.rate, a.latency, a.nemesis.as_deref().map(|x| format!(" --nemesis {x}")).unwrap_or_default()),
        "protocol": protocol,
        "nodes": n,
        "seed": a.seed,
        "node": {"wasm": bin},
        "network": {"latency": latency, "ordered": false, "partition_mode": "receiver"},
        "workload": {"clients": clients, "ops": ops, "rate": rate, "timeout_ms": 5000, "stop_ms": stop_ms, "script": script},
        "run": {"quiet_ms": 1000},
    });
    if protocol == "gg-broadcast" {
        s["params"] = json!({"topology": a.topology});
    }
    if protocol == "gg-kafka" {
        s["workload"]["keys"] = json!(KAFKA_KEYS);
    }
    match a.nemesis.as_deref() {
        None | Some("") | Some("none") => {}
        Some("partition") => {
            let i = a.nemesis_interval * 1000;
            s["faults"] = json!([{"at_ms": stop_ms, "kind": "heal"}]);
            s["fuzz"] = json!({"until_ms": stop_ms, "partitions": {
                "kinds": ["isolate-one", "majority-minority", "random-halves", "majorities-ring"],
                "interval_ms": [i / 2, i], "duration_ms": [i / 2, i]}});
        }
        Some(other) => {
            return Err(format!(
                "--nemesis {other}: dsim's Maelstrom world offers partition"
            ))
        }
    }
    // Maelstrom judges availability only when `--availability` asks.
    s["checks"] = json!([checker, "stats"]);
    if let Some(av) = &a.availability {
        let min_ok = if av == "total" {
            1.0
        } else {
            av.parse::<f64>()
                .ok()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(|| format!("--availability {av}: total or a fraction 0..1"))?
        };
        s["check_params"] = json!({"availability": {"min_ok": min_ok}});
        s["checks"] = json!([checker, "availability", "stats"]);
    }
    serde_json::from_value(s).map_err(|e| format!("cannot build the scenario: {e}"))
}

/// `--concurrency`: `N` clients, or `Kn` for K per node.
fn concurrency(c: &str, nodes: u64) -> Result<u64, String> {
    let bad = || format!("--concurrency {c}: a number of clients, or Kn for K per node");
    let v = match c.strip_suffix('n') {
        Some(k) => k.parse::<u64>().map_err(|_| bad())? * nodes,
        None => c.parse::<u64>().map_err(|_| bad())?,
    };
    if v == 0 {
        return Err(bad());
    }
    Ok(v)
}

fn absolute(p: &Path) -> Result<Value, String> {
    let abs = std::fs::canonicalize(p)
        .map_err(|e| format!("--bin {}: cannot read it: {e}", p.display()))?;
    Ok(Value::String(abs.display().to_string()))
}
