//! A user's Go node as dsim nodes (issue 33): 25 nodes of the buggy
//! broadcast test node (tests/wasm-nodes/broadcast) for 20 simulated
//! seconds at rate 100 and latency 100, as `dsim maelstrom test -w
//! broadcast --node-count 25 --time-limit 20 --rate 100 --latency 100`
//! runs it. Prints wall times for the first run (module compiled on
//! first use) and a second run (module already compiled), the start-up of
//! 25 nodes alone, the cost per delivered message, and whether the two runs
//! have the same fingerprint. Build the nodes first
//! (tests/wasm-nodes/build.sh); run with `cargo bench --bench wasm_broadcast`.

use std::time::Instant;

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
    let registry = dsim::Registry::bundled();
    let t = Instant::now();
    let sc = registry
        .parse(&scenario(&bin, 2000), "bench", "bench")
        .expect("the scenario is valid");
    let load = t.elapsed();
    let mut fingerprints = Vec::new();
    for label in [
        "first run (module compiled on first use)",
        "second run (module compiled)",
    ] {
        let t = Instant::now();
        let rep = dsim::runner::run_at(&sc, 1).expect("runs");
        let wall = t.elapsed();
        let set_full = rep
            .checks
            .iter()
            .find(|c| c.name == "set-full")
            .map(|c| c.result.summary.clone());
        println!(
            "{label}: {:.2} s wall for 20 s simulated; {} ops, {} messages delivered, {:.0} µs per delivered message; set-full: {}",
            wall.as_secs_f64(),
            rep.ops,
            rep.stats.delivered,
            wall.as_secs_f64() * 1e6 / rep.stats.delivered.max(1) as f64,
            set_full.unwrap_or_default()
        );
        fingerprints.push(rep.fingerprint);
    }
    println!(
        "load and compile the module (lazy): {:.1} ms",
        load.as_secs_f64() * 1e3
    );
    let idle = registry
        .parse(&scenario(&bin, 0), "bench", "bench")
        .expect("the scenario is valid");
    let t = Instant::now();
    dsim::runner::run_at(&idle, 1).expect("runs");
    println!(
        "25 nodes started until blocked on stdin (no operations): {:.1} ms, {:.2} ms per node",
        t.elapsed().as_secs_f64() * 1e3,
        t.elapsed().as_secs_f64() * 1e3 / 25.0
    );
    println!(
        "deterministic: {} (fingerprints {:016x} {:016x})",
        fingerprints[0] == fingerprints[1],
        fingerprints[0],
        fingerprints[1]
    );
}
