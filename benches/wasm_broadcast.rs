//! A user's Go node as dsim nodes (issue 33): 25 nodes of the buggy
//! broadcast test node (tests/wasm-nodes/broadcast) for 20 simulated
//! seconds at rate 100 and latency 100, as `dsim maelstrom test -w
//! broadcast --node-count 25 --time-limit 20 --rate 100 --latency 100`
//! runs it, on each engine this build has (wasmi; wasmtime with
//! `--features wasmtime`). Prints, per engine: the time to load and compile
//! the module, to instantiate it once, wall times for the first run
//! (wasmi translates functions lazily, on first use) and a second run
//! (module compiled), the start-up of 25 nodes alone, the cost per
//! delivered message, and whether every run (both engines included) has
//! the same fingerprint. Build the nodes first (tests/wasm-nodes/build.sh);
//! run with `cargo bench --bench wasm_broadcast [--features wasmtime]`.

use std::time::Instant;

use protocols::maelstrom::wasm::engine::{EngineKind, ENGINE_VAR};
use protocols::maelstrom::wasm::Program;
use serde_json::json;

fn scenario(bin: &str, ops: u64) -> String {
    let reads: Vec<_> = (0..25)
        .map(|c| json!({"at_ms": 30_000 + c, "client": c, "f": "read"}))
        .collect();
    json!({
        "name": "bench-wasm-broadcast",
        "protocol": "gg-broadcast",
        "nodes": 25,
        "seed": 1,
        "node": {"wasm": bin},
        "params": {"topology": "grid"},
        "network": {"latency": {"dist": "fixed", "ms": 100}, "ordered": false, "partition_mode": "receiver"},
        "workload": {"clients": 25, "ops": ops, "rate": {"kind": "open", "interval_ms": 10},
                     "timeout_ms": 5000, "stop_ms": 20_000, "script": if ops > 0 { reads } else { vec![] }},
        "run": {"quiet_ms": 1000},
        "checks": ["set-full", "stats"]
    })
    .to_string()
}

fn main() {
    let dir = std::env::var("DSIM_WASM_NODES")
        .unwrap_or_else(|_| format!("{}/target/wasm-nodes", env!("CARGO_MANIFEST_DIR")));
    let bin = format!("{dir}/broadcast.wasm");
    if !std::path::Path::new(&bin).is_file() {
        println!("SKIPPED: {bin} is not built (tests/wasm-nodes/build.sh)");
        return;
    }
    let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
    println!("module: {bin}, {:.1} MB", size as f64 / 1e6);
    let mut fingerprints = Vec::new();
    for engine in [EngineKind::Wasmi, EngineKind::Wasmtime] {
        if !engine.built() {
            println!("{}: not built (--features wasmtime)", engine.name());
            continue;
        }
        fingerprints.extend(bench(&bin, engine));
    }
    println!(
        "deterministic: {} (fingerprints {})",
        fingerprints.windows(2).all(|w| w[0] == w[1]),
        fingerprints
            .iter()
            .map(|f| format!("{f:016x}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// CPU time this process has used, in s (all threads: wasmtime compiles
/// on every core), from /proc/self/stat; 0 where there is none. On a
/// shared machine it says more than wall time.
fn cpu() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The fields after the command name (which may hold spaces): utime
    // and stime are the 12th and 13th, in clock ticks of 10 ms.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

/// The figures for one engine; the fingerprints of its two runs.
fn bench(bin: &str, engine: EngineKind) -> Vec<u64> {
    let name = engine.name();
    // The scenario's module is loaded with the engine this names.
    std::env::set_var(ENGINE_VAR, name);
    let registry = dsim::Registry::bundled();
    let (t, c) = (Instant::now(), cpu());
    let sc = registry
        .parse(&scenario(bin, 2000), "bench", "bench")
        .expect("the scenario is valid");
    let (load, load_cpu) = (t.elapsed(), cpu() - c);
    let program = Program::load_with(std::path::Path::new(bin), engine).expect("loads");
    let t = Instant::now();
    for _ in 0..10 {
        program.instantiate_once().expect("instantiates");
    }
    println!(
        "{name}: load and compile the module: {:.1} ms wall, {load_cpu:.2} s CPU; instantiate it: {:.2} ms",
        load.as_secs_f64() * 1e3,
        t.elapsed().as_secs_f64() * 1e3 / 10.0
    );
    let mut fingerprints = Vec::new();
    for label in ["first run", "second run (module compiled)"] {
        let (t, c) = (Instant::now(), cpu());
        let rep = dsim::runner::run_at(&sc, 1).expect("runs");
        let (wall, used) = (t.elapsed(), cpu() - c);
        let set_full = rep
            .checks
            .iter()
            .find(|c| c.name == "set-full")
            .map(|c| c.result.summary.clone());
        println!(
            "{name}: {label}: {:.2} s wall ({used:.2} s CPU) for 20 s simulated; {} ops, {} messages delivered, {:.0} µs (CPU, else wall) per delivered message; set-full: {}",
            wall.as_secs_f64(),
            rep.ops,
            rep.stats.delivered,
            if used > 0.0 { used } else { wall.as_secs_f64() } * 1e6 / rep.stats.delivered.max(1) as f64,
            set_full.unwrap_or_default()
        );
        fingerprints.push(rep.fingerprint);
    }
    let idle = registry
        .parse(&scenario(bin, 0), "bench", "bench")
        .expect("the scenario is valid");
    let (t, c) = (Instant::now(), cpu());
    dsim::runner::run_at(&idle, 1).expect("runs");
    println!(
        "{name}: 25 nodes started until blocked on stdin (no operations): {:.1} ms wall ({:.2} s CPU), {:.2} ms per node",
        t.elapsed().as_secs_f64() * 1e3,
        cpu() - c,
        t.elapsed().as_secs_f64() * 1e3 / 25.0
    );
    fingerprints
}
