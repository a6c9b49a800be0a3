//! Every millisecond knob anywhere in a scenario — the scenario's own
//! fields, protocol `params`, `services[].params`, check parameters — is
//! read through one checked unit type and refused by name past 10^12 ms.
//! The knobs are found from the types, not from a list: every protocol's
//! scenario with every default filled in (and every bundled scenario, for
//! knobs inside lists such as a stream's subscribers) is walked for keys
//! ending in `_ms`, and each is set to u64::MAX / 1000 (which wrapped on
//! `ms * 1000`).

mod common;

use std::collections::BTreeMap;

use serde_json::Value;

/// `(JSON pointer, path with list indices as [])` of every `_ms` key.
fn ms_keys(v: &Value, ptr: &str, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{ptr}/{k}");
                let q = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k.ends_with("_ms") && (x.is_u64() || x.is_null()) {
                    out.push((p.clone(), q.clone()));
                }
                ms_keys(x, &p, &q, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                ms_keys(x, &format!("{ptr}/{i}"), &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_ms_knob_refuses_a_time_that_would_wrap() {
    let reg = dsim::Registry::bundled();
    let mut bases: Vec<Value> = Vec::new();
    for name in reg.names() {
        let src = format!(r#"{{"protocol":"{name}","nodes":3}}"#);
        let sc = reg
            .parse(&src, "probe.json", "probe")
            .unwrap_or_else(|e| panic!("{name}: a minimal scenario loads: {e}"));
        bases.push(serde_json::to_value(&sc.effective).unwrap());
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for f in &files {
        if let Ok(sc) = reg.load(f) {
            bases.push(serde_json::to_value(&sc.effective).unwrap());
        }
    }
    // One probe per (protocol, knob).
    let mut probes: BTreeMap<(String, String), (Value, String)> = BTreeMap::new();
    for b in &bases {
        let proto = b["protocol"].as_str().unwrap().to_string();
        let mut keys = Vec::new();
        ms_keys(b, "", "", &mut keys);
        for (ptr, path) in keys {
            probes
                .entry((proto.clone(), path))
                .or_insert_with(|| (b.clone(), ptr));
        }
    }
    let found: Vec<&str> = probes.keys().map(|(_, p)| p.as_str()).collect();
    for must in [
        "params.heartbeat_ms",
        "services[].params.subscribers[].delay_ms",
        "params.gossip_ms",
        "params.retry_ms",
        "params.read_lag_ms",
        "network.latency.max_ms",
    ] {
        assert!(found.contains(&must), "the walk finds {must}: {found:?}");
    }
    let mut failures = Vec::new();
    for ((proto, path), (base, ptr)) in &probes {
        let mut sc = base.clone();
        *sc.pointer_mut(ptr).unwrap() = serde_json::json!(u64::MAX / 1000);
        let name = format!("{}-{}.json", proto, path.replace(['.', '[', ']'], "_"));
        let file = common::scratch("timeknobs", &name, &sc.to_string());
        let out = common::dsim(&["run", file.to_str().unwrap(), "--json"]);
        let err = common::text(&out.stderr);
        let key = path.rsplit('.').next().unwrap();
        if out.status.code() != Some(2) || !err.contains(key) || err.contains("panicked") {
            failures.push(format!(
                "{proto} {path}: exit {:?}, {}",
                out.status.code(),
                err.lines().next().unwrap_or("")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} knobs not refused:\n{}",
        failures.len(),
        probes.len(),
        failures.join("\n")
    );
}
