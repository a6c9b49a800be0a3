//! From a raw scenario to a typed one: defaults that depend on the protocol,
//! range checks, and conversion to microseconds and exact probabilities.

use protocols::{ClientMode, Protocol};
use sim::{
    Clock, Fault, Latency, Layout, Link, MessageMatch, MessageRule, MixEntry, Prob, Rate,
    RuleAction, ScheduledFault, ScriptOp, SimConfig, Value, ValueGen, WorkloadSpec, MS,
};

use super::locate::{locate, render, Seg};

#[path = "validate_faults.rs"]
mod faults;
#[path = "validate_node.rs"]
mod node;
use super::raw::*;
use super::{Scenario, ScenarioError};
use faults::{faults, proc_ref, us, us_signed};

/// The largest cluster a scenario may ask for.
pub const MAX_NODES: u64 = 256;

/// The most keys a workload may use (protocols may index replicas by key).
pub const MAX_KEYS: u32 = 1_000_000;

/// Where an error is: the source text and a field path.
struct Src<'a> {
    text: &'a str,
    file: &'a str,
}

/// A field path under construction: `p(&["faults"]).i(2).k("node")`.
#[derive(Clone)]
struct P(Vec<Seg>);

fn p(keys: &[&str]) -> P {
    P(keys.iter().map(|k| Seg::Key((*k).into())).collect())
}

impl P {
    fn k(mut self, key: &str) -> P {
        self.0.push(Seg::Key(key.into()));
        self
    }
    fn i(mut self, i: usize) -> P {
        self.0.push(Seg::Index(i));
        self
    }
}

impl Src<'_> {
    fn err(&self, at: &P, message: impl Into<String>) -> ScenarioError {
        let (line, col) = locate(self.text, &at.0);
        ScenarioError {
            file: self.file.to_string(),
            line,
            col,
            field: render(&at.0),
            message: message.into(),
        }
    }
}

type R<T> = Result<T, ScenarioError>;

pub(super) fn validate(
    registry: &crate::Registry,
    mut raw: RawScenario,
    text: &str,
    file: &str,
    stem: &str,
) -> R<Scenario> {
    if raw.name.is_none() {
        raw.name = Some(stem.to_string());
    }
    match registry.get(&raw.protocol) {
        Some(entry) => (entry.validate)(raw, text, file),
        None => {
            let src = Src { text, file };
            let allowed = registry.names();
            Err(src.err(
                &p(&["protocol"]),
                if allowed.is_empty() {
                    format!("unknown protocol {:?}; none is registered", raw.protocol)
                } else {
                    format!(
                        "unknown protocol {:?}; allowed: {}",
                        raw.protocol,
                        allowed.join(", ")
                    )
                },
            ))
        }
    }
}

/// Validates `raw` (read from `text`, the file `file`) as a scenario of `Pr`.
pub(crate) fn validate_as<Pr: Protocol>(raw: RawScenario, text: &str, file: &str) -> R<Scenario> {
    validate_for::<Pr>(raw, &Src { text, file })
}

fn validate_for<Pr: Protocol>(mut raw: RawScenario, src: &Src) -> R<Scenario> {
    if raw.nodes == 0 || raw.nodes > MAX_NODES {
        return Err(src.err(
            &p(&["nodes"]),
            format!("must be from 1 to {MAX_NODES}, got {}", raw.nodes),
        ));
    }
    let n = raw.nodes as usize;
    // Variant and params.
    let variants: Vec<&str> = Pr::variants().iter().map(|v| v.name).collect();
    // A user's program replaces the protocol's code: its variants mean nothing.
    let variant_note = (raw.variant.is_none() && raw.node.is_none()).then(|| {
        let v = &Pr::variants()[0];
        let others: Vec<&str> = variants[1..].to_vec();
        let mut note = format!("no variant given: {} ({})", v.name, v.summary);
        if !others.is_empty() {
            note += &format!("; also: {}", others.join(", "));
        }
        note
    });
    let variant = raw
        .variant
        .get_or_insert_with(|| variants[0].to_string())
        .clone();
    if !variants.contains(&variant.as_str()) {
        return Err(src.err(
            &p(&["variant"]),
            format!(
                "unknown variant {variant:?} of {}; allowed: {}",
                Pr::NAME,
                variants.join(", ")
            ),
        ));
    }
    let params: Pr::Params = serde_path_to_error::deserialize(&raw.params).map_err(|e| {
        let field = e.path().to_string();
        let at = if field == "." {
            p(&["params"])
        } else {
            p(&["params"]).k(&field)
        };
        src.err(&at, format!("{} (protocol {})", e.into_inner(), Pr::NAME))
    })?;
    Pr::validate(&params, n).map_err(|m| src.err(&p(&["params"]), m))?;
    // Write the params back with defaults filled, for --print-scenario.
    raw.params = serde_json::to_value(&params).unwrap_or(serde_json::Value::Null);
    let foreign = node::foreign::<Pr>(&mut raw, &params, src)?;
    let variant_note = match &foreign {
        Some(f) => Some(format!(
            "every server runs {} (WebAssembly), not the protocol's code",
            f.program.path
        )),
        None => variant_note,
    };

    if raw.services.is_none() && !Pr::default_services().is_empty() {
        raw.services = Some(
            Pr::default_services()
                .iter()
                .map(|name| RawService {
                    name: name.to_string(),
                    params: serde_json::Value::Object(serde_json::Map::new()),
                })
                .collect(),
        );
    }
    let (services, client) = world::<Pr>(&raw, &params, src)?;
    let layout = Layout {
        replicas: n,
        services: services.iter().map(|(s, _)| s.clone()).collect(),
        clients: 0,
    };
    let link = Link {
        latency: latency(&raw.network.latency, src, &p(&["network", "latency"]))?,
        drop: prob(raw.network.drop, src, &p(&["network", "drop"]))?,
        duplicate: prob(raw.network.duplicate, src, &p(&["network", "duplicate"]))?,
        ordered: raw.network.ordered,
    };
    lossless_if_ordered(&link, raw.network.lossy_ordered, src, &p(&["network"]))?;
    let tcp_timeout_us = match (raw.network.partition_mode, raw.network.tcp_timeout_ms) {
        (_, Some(0)) => {
            return Err(src.err(&p(&["network", "tcp_timeout_ms"]), "must be at least 1"));
        }
        (sim::PartitionMode::Tcp, t) => {
            us(t.unwrap_or(20_000), src, &p(&["network", "tcp_timeout_ms"]))?
        }
        (mode, Some(_)) => {
            return Err(src.err(
                &p(&["network", "tcp_timeout_ms"]),
                format!(
                    "applies only with \"partition_mode\": \"tcp\" (this network's is \"{}\")",
                    mode.name()
                ),
            ));
        }
        (_, None) => 20_000 * sim::MS,
    };
    let workload = workload::<Pr>(&mut raw, n, src)?;
    let layout = Layout {
        clients: if client == ClientMode::Protocol {
            workload.client_count()
        } else {
            0
        },
        ..layout
    };
    let mut links = Vec::new();
    for (i, l) in raw.network.links.iter().enumerate() {
        let at = p(&["network", "links"]).i(i);
        let from = proc_ref(&l.from, &layout, src, &at.clone().k("from"))?;
        let to = proc_ref(&l.to, &layout, src, &at.clone().k("to"))?;
        if from == to {
            return Err(src.err(&at.k("to"), "a link joins two different nodes"));
        }
        let mut x = link.clone();
        if let Some(lat) = &l.latency {
            x.latency = latency(lat, src, &at.clone().k("latency"))?;
        }
        if let Some(d) = l.drop {
            x.drop = prob(d, src, &at.clone().k("drop"))?;
        }
        if let Some(d) = l.duplicate {
            x.duplicate = prob(d, src, &at.clone().k("duplicate"))?;
        }
        if let Some(o) = l.ordered {
            x.ordered = o;
        }
        let lossy = l.lossy_ordered.unwrap_or(raw.network.lossy_ordered);
        lossless_if_ordered(&x, lossy, src, &at)?;
        links.push((from, to, x));
    }
    let mut clocks = vec![Clock::default(); n];
    let mut seen = vec![false; n];
    for (i, c) in raw.clocks.iter().enumerate() {
        let at = p(&["clocks"]).i(i);
        node(c.node, n, src, &at.clone().k("node"))?;
        if std::mem::replace(&mut seen[c.node as usize], true) {
            return Err(src.err(
                &at.k("node"),
                format!("node {} already has a clock entry", c.node),
            ));
        }
        let skew = us_signed(c.skew_ms, src, &at.clone().k("skew_ms"))?;
        clocks[c.node as usize] = Clock::new(skew, c.drift_ppm);
    }
    for (i, &d) in raw.down_at_start.iter().enumerate() {
        node(d, n, src, &p(&["down_at_start"]).i(i))?;
    }
    if let Some(f) = raw.fuzz.as_mut() {
        crate::fuzz::check::validate(f, n, &raw.down_at_start).map_err(|e| {
            let at = e.path.iter().fold(p(&["fuzz"]), |at, s| match s {
                crate::fuzz::check::Step::Key(k) => at.k(k),
                crate::fuzz::check::Step::Index(i) => at.i(*i),
            });
            src.err(&at, e.message)
        })?;
    }
    let faults = faults(&raw.faults, &layout, src)?;
    let checks = checks::<Pr>(&mut raw, src)?;
    // A protocol's own check replaces the generic one of the same name.
    let generic: Vec<String> = checks
        .iter()
        .filter(|c| !Pr::checks().iter().any(|own| own.name == c.as_str()))
        .cloned()
        .collect();
    raw.check_params
        .validate(&generic)
        .map_err(|(field, m)| src.err(&p(&["check_params"]).k(&field), m))?;
    let track_positions = checks
        .iter()
        .any(|c| c == "replica-agreement" || c == "monotonic-reads");
    let run = &raw.run;
    if run.max_time_ms == 0 {
        return Err(src.err(&p(&["run", "max_time_ms"]), "must be at least 1"));
    }
    let sim = SimConfig {
        seed: raw.seed,
        nodes: n,
        link,
        links,
        partition_mode: raw.network.partition_mode,
        tcp_timeout_us,
        clocks,
        down_at_start: raw.down_at_start.iter().map(|&d| d as usize).collect(),
        workload,
        faults,
        final_heal: run.final_heal,
        quiet_us: us(run.quiet_ms, src, &p(&["run", "quiet_ms"]))?,
        max_time_us: us(run.max_time_ms, src, &p(&["run", "max_time_ms"]))?,
        max_events: run.max_events,
        record_history: true,
        services: layout.services.clone(),
        protocol_clients: client == ClientMode::Protocol,
        track_positions,
        collect_kinds: false,
    };
    Ok(Scenario {
        path: src.file.to_string(),
        name: raw.name.clone().unwrap_or_default(),
        description: raw.description.clone(),
        protocol: Pr::NAME,
        proto: crate::ProtocolEntry::of::<Pr>(),
        variant,
        params: raw.params.clone(),
        sim,
        checks,
        expect: raw.expect.clone(),
        check_params: raw.check_params.clone(),
        variant_note,
        services,
        client,
        foreign,
        effective: raw,
        overrides: Vec::new(),
    })
}

/// The services a scenario runs (each checked by the protocol, which
/// builds it once here to validate its knobs) and the client mode.
fn world<Pr: Protocol>(
    raw: &RawScenario,
    params: &Pr::Params,
    src: &Src,
) -> R<(Vec<(String, serde_json::Value)>, ClientMode)> {
    let offered: Vec<&str> = Pr::services().iter().map(|s| s.name).collect();
    let mut out: Vec<(String, serde_json::Value)> = Vec::new();
    let listed = raw.services.as_deref().unwrap_or_default();
    let names: Vec<String> = listed.iter().map(|s| s.name.clone()).collect();
    let layout = Layout {
        replicas: raw.nodes as usize,
        services: names,
        clients: 0,
    };
    for (i, svc) in listed.iter().enumerate() {
        let at = p(&["services"]).i(i);
        if !offered.contains(&svc.name.as_str()) {
            let allowed = if offered.is_empty() {
                format!("{} runs no services", Pr::NAME)
            } else {
                format!("allowed: {}", offered.join(", "))
            };
            return Err(src.err(
                &at.k("name"),
                format!("unknown service {:?}; {allowed}", svc.name),
            ));
        }
        if out.iter().any(|(n, _)| *n == svc.name) {
            return Err(src.err(
                &at.k("name"),
                format!("service {:?} is listed twice", svc.name),
            ));
        }
        let looks_like_id = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
        let name = svc.name.as_str();
        if looks_like_id(name)
            || name.strip_prefix('n').is_some_and(looks_like_id)
            || name.strip_prefix('c').is_some_and(looks_like_id)
        {
            return Err(src.err(
                &at.k("name"),
                format!("service name {name:?} would read as a replica or a client (n3, c0, 3)"),
            ));
        }
        Pr::service(&svc.name, &layout, params, &svc.params)
            .map_err(|m| src.err(&at.k("params"), m))?;
        out.push((svc.name.clone(), svc.params.clone()));
    }
    let modes = Pr::client_modes();
    let client = match raw.workload.client {
        None => modes[0],
        Some(m) if modes.contains(&m) => m,
        Some(m) => {
            let allowed: Vec<&str> = modes.iter().map(|m| m.name()).collect();
            return Err(src.err(
                &p(&["workload", "client"]),
                format!(
                    "{} cannot run the {} client; allowed: {}",
                    Pr::NAME,
                    m.name(),
                    allowed.join(", ")
                ),
            ));
        }
    };
    Ok((out, client))
}

/// The checks a scenario of protocol `Pr` may run: convergence,
/// linearizability when the protocol has a model, its own checks, and the
/// generic ones (a protocol's own check of the same name replaces it).
pub fn allowed_checks<Pr: Protocol>() -> Vec<&'static str> {
    let mut allowed: Vec<&str> = vec!["convergence"];
    if Pr::model().is_some() {
        allowed.push("linearizability");
    }
    allowed.extend(Pr::checks().iter().map(|c| c.name));
    for g in protocols::generic::SPECS {
        if !allowed.contains(&g.name) {
            allowed.push(g.name);
        }
    }
    allowed
}

fn checks<Pr: Protocol>(raw: &mut RawScenario, src: &Src) -> R<Vec<String>> {
    let allowed = allowed_checks::<Pr>();
    let checks = raw
        .checks
        .get_or_insert_with(|| Pr::default_checks().iter().map(|s| s.to_string()).collect())
        .clone();
    for (i, c) in checks.iter().enumerate() {
        if !allowed.contains(&c.as_str()) {
            return Err(src.err(
                &p(&["checks"]).i(i),
                format!(
                    "unknown check {c:?} for {}; allowed: {}",
                    Pr::NAME,
                    allowed.join(", ")
                ),
            ));
        }
        if checks[..i].contains(c) {
            return Err(src.err(&p(&["checks"]).i(i), format!("check {c:?} is listed twice")));
        }
    }
    for name in raw.expect.keys() {
        if !checks.contains(name) {
            return Err(src.err(
                &p(&["expect"]).k(name),
                format!("expects something of check {name:?}, which this scenario does not run; it runs: {}", checks.join(", ")),
            ));
        }
    }
    Ok(checks)
}

fn workload<Pr: Protocol>(raw: &mut RawScenario, n: usize, src: &Src) -> R<WorkloadSpec> {
    let w = &mut raw.workload;
    let ops = Pr::ops();
    let op_names: Vec<&'static str> = ops.iter().map(|o| o.name).collect();
    let find_op = |f: &str, at: &P| -> R<&'static str> {
        op_names.iter().copied().find(|o| *o == f).ok_or_else(|| {
            src.err(
                at,
                format!(
                    "unknown operation {f:?} for {}; allowed: {}",
                    Pr::NAME,
                    op_names.join(", ")
                ),
            )
        })
    };
    let clients = *w.clients.get_or_insert(n as u64);
    if clients > super::MAX_CLIENTS {
        return Err(src.err(
            &p(&["workload", "clients"]),
            format!("at most {} clients, got {clients}", super::MAX_CLIENTS),
        ));
    }
    let keys = *w.keys.get_or_insert(u32::from(Pr::keyed()));
    if keys > MAX_KEYS {
        return Err(src.err(
            &p(&["workload", "keys"]),
            format!("at most {MAX_KEYS} keys, got {keys}"),
        ));
    }
    let mix_raw = w.mix.get_or_insert_with(|| {
        ops.iter()
            .filter(|o| o.weight > 0)
            .map(|o| RawMix {
                f: o.name.to_string(),
                weight: o.weight,
                value: Some(value_gen_json(&o.value)),
            })
            .collect()
    });
    let mut mix = Vec::new();
    for (i, m) in mix_raw.iter_mut().enumerate() {
        let at = p(&["workload", "mix"]).i(i);
        let f = find_op(&m.f, &at.clone().k("f"))?;
        let default = ops
            .iter()
            .find(|o| o.name == f)
            .map(|o| o.value.clone())
            .unwrap_or(ValueGen::Null);
        let value = match &m.value {
            Some(v) => value_gen(v, src, &at.clone().k("value"))?,
            None => default,
        };
        m.value = Some(value_gen_json(&value));
        mix.push(MixEntry {
            f,
            weight: m.weight,
            value,
        });
    }
    if w.ops > super::MAX_OPS {
        return Err(src.err(
            &p(&["workload", "ops"]),
            format!(
                "at most {} operations (10^7), got {}",
                super::MAX_OPS,
                w.ops
            ),
        ));
    }
    if w.ops > 0 {
        if clients == 0 {
            return Err(src.err(
                &p(&["workload", "clients"]),
                "generated operations need at least one client",
            ));
        }
        if mix.iter().all(|m| m.weight == 0) {
            return Err(src.err(
                &p(&["workload", "mix"]),
                "generated operations need a mix with some positive weight",
            ));
        }
    }
    let rate = match w.rate {
        RawRate::Closed { think_ms } => Rate::Closed {
            think_us: us(think_ms, src, &p(&["workload", "rate", "think_ms"]))?,
        },
        RawRate::Open { interval_ms: 0 } => {
            return Err(src.err(
                &p(&["workload", "rate", "interval_ms"]),
                "must be at least 1",
            ))
        }
        RawRate::Open { interval_ms } => Rate::Open {
            interval_us: us(interval_ms, src, &p(&["workload", "rate", "interval_ms"]))?,
        },
        RawRate::Stagger { mean_ms: 0 } => {
            return Err(src.err(&p(&["workload", "rate", "mean_ms"]), "must be at least 1"))
        }
        RawRate::Stagger { mean_ms } => Rate::Stagger {
            mean_us: us(mean_ms, src, &p(&["workload", "rate", "mean_ms"]))?,
        },
    };
    if w.timeout_ms == 0 {
        return Err(src.err(
            &p(&["workload", "timeout_ms"]),
            "must be at least 1 (operations without a reply become info after it)",
        ));
    }
    let mut script = Vec::new();
    for (i, s) in w.script.iter().enumerate() {
        let at = p(&["workload", "script"]).i(i);
        if let Some(nd) = s.node {
            node(nd, n, src, &at.clone().k("node"))?;
        }
        if s.client >= 10_000 {
            return Err(src.err(&at.k("client"), "client ids go up to 9999"));
        }
        // A script client past the next free id would leave the clients
        // between idle: almost always a typo for a client that exists.
        let highest = w.script[..i]
            .iter()
            .map(|x| x.client + 1)
            .max()
            .unwrap_or(0);
        if s.client > clients.max(highest) {
            return Err(src.err(
                &at.k("client"),
                format!(
                    "client {} would leave clients {} to {} idle; a scripted operation may use a client from 0 to {} (workload.clients is {clients}, and each script may add the next one)",
                    s.client,
                    clients.max(highest),
                    s.client - 1,
                    clients.max(highest)
                ),
            ));
        }
        if let (Some(k), true) = (s.key, keys > 0) {
            if k >= keys {
                return Err(src.err(
                    &at.k("key"),
                    format!("key {k} is outside 0..{keys} (workload.keys)"),
                ));
            }
        }
        script.push(ScriptOp {
            at: us(s.at_ms, src, &at.clone().k("at_ms"))?,
            client: s.client as usize,
            node: s.node.map(|x| x as usize),
            f: find_op(&s.f, &at.clone().k("f"))?,
            key: s.key.or(if keys > 0 { Some(0) } else { None }),
            value: value(&s.value, src, &at.k("value"))?,
        });
    }
    Ok(WorkloadSpec {
        clients: clients as usize,
        ops: w.ops,
        keys: if keys > 0 { Some(keys) } else { None },
        mix,
        rate,
        node_policy: w.node_policy,
        timeout_us: us(w.timeout_ms, src, &p(&["workload", "timeout_ms"]))?,
        start_us: us(w.start_ms, src, &p(&["workload", "start_ms"]))?,
        stop_us: match w.stop_ms {
            Some(s) => Some(us(s, src, &p(&["workload", "stop_ms"]))?),
            None => None,
        },
        script,
        latency: latency(&w.latency, src, &p(&["workload", "latency"]))?,
    })
}

fn node(x: u64, n: usize, src: &Src, at: &P) -> R<()> {
    if x as usize >= n || x >= MAX_NODES {
        return Err(src.err(
            at,
            format!(
                "node id {x} is out of range; this scenario has nodes 0..{}",
                n - 1
            ),
        ));
    }
    Ok(())
}

/// Random loss or duplication on an ordered (TCP-like) link only when the
/// scenario says so: TCP delivers each message once, in order, or fails the
/// connection. `at` is the network block or one of its `links`.
fn lossless_if_ordered(link: &Link, lossy: bool, src: &Src, at: &P) -> R<()> {
    if !link.ordered || lossy {
        return Ok(());
    }
    for (field, chance) in [("drop", link.drop), ("duplicate", link.duplicate)] {
        if chance != Prob::ZERO {
            return Err(src.err(
                &P(at.0.clone()).k(field),
                format!(
                    "random {field} on an ordered (TCP-like) link, which TCP never does: \
                     set \"ordered\": false for a UDP-like link, set \"lossy_ordered\": true \
                     to keep it anyway, or use a fault (\"loss\", \"link_error\", a message rule)"
                ),
            ));
        }
    }
    Ok(())
}

fn prob(x: f64, src: &Src, at: &P) -> R<Prob> {
    Prob::from_f64(x).ok_or_else(|| {
        src.err(
            at,
            format!("probability {x} is out of range; allowed: a number from 0 to 1"),
        )
    })
}

fn latency(l: &RawLatency, src: &Src, at: &P) -> R<Latency> {
    let bad = |m: &str| Err(src.err(at, m.to_string()));
    let t = |ms: u64, field: &str| us(ms, src, &at.clone().k(field));
    Ok(match *l {
        RawLatency::Fixed { ms } => Latency::Fixed { us: t(ms, "ms")? },
        RawLatency::Uniform { min_ms, max_ms } => {
            if min_ms > max_ms {
                return bad("min_ms must not exceed max_ms");
            }
            Latency::Uniform {
                min_us: t(min_ms, "min_ms")?,
                max_us: t(max_ms, "max_ms")?,
            }
        }
        RawLatency::Exponential {
            min_ms,
            mean_ms,
            max_ms,
        } => {
            if min_ms > max_ms {
                return bad("min_ms must not exceed max_ms");
            }
            Latency::Exponential {
                min_us: t(min_ms, "min_ms")?,
                mean_us: t(mean_ms, "mean_ms")?,
                max_us: t(max_ms, "max_ms")?,
            }
        }
        RawLatency::Normal {
            mean_ms,
            sd_ms,
            min_ms,
            max_ms,
        } => {
            if min_ms > max_ms {
                return bad("min_ms must not exceed max_ms");
            }
            Latency::Normal {
                mean_us: t(mean_ms, "mean_ms")?,
                sd_us: t(sd_ms, "sd_ms")?,
                min_us: t(min_ms, "min_ms")?,
                max_us: t(max_ms, "max_ms")?,
            }
        }
    })
}

/// A JSON value as an operation value; floats and objects are refused.
fn value(v: &serde_json::Value, src: &Src, at: &P) -> R<Value> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(x) => Value::Int(x.as_i64().ok_or_else(|| {
            src.err(at, format!("{x} is not an integer; operation values are integers, strings, booleans, null or lists of them"))
        })?),
        J::String(s) => Value::Str(s.clone()),
        J::Array(xs) => Value::List(
            xs.iter()
                .enumerate()
                .map(|(i, x)| value(x, src, &at.clone().i(i)))
                .collect::<R<_>>()?,
        ),
        J::Object(_) => {
            return Err(src.err(at, "objects are not operation values; allowed: integers, strings, booleans, null or lists of them"))
        }
    })
}

fn value_gen(v: &serde_json::Value, src: &Src, at: &P) -> R<ValueGen> {
    use serde_json::Value as J;
    const ALLOWED: &str =
        "allowed: \"unique\", \"null\", {\"min\": A, \"max\": B}, {\"const\": VALUE} or {\"txn\": {\"keys\": K, \"max_len\": M}}";
    match v {
        J::String(s) if s == "unique" => Ok(ValueGen::Unique),
        J::String(s) if s == "null" => Ok(ValueGen::Null),
        J::Null => Ok(ValueGen::Null),
        J::Object(o) if o.len() == 1 && o.contains_key("const") => Ok(ValueGen::Const(value(
            &o["const"],
            src,
            &at.clone().k("const"),
        )?)),
        J::Object(o) if o.len() == 2 && o.contains_key("min") && o.contains_key("max") => {
            let min = o["min"]
                .as_i64()
                .ok_or_else(|| src.err(&at.clone().k("min"), "must be an integer"))?;
            let max = o["max"]
                .as_i64()
                .ok_or_else(|| src.err(&at.clone().k("max"), "must be an integer"))?;
            if min > max {
                return Err(src.err(at, "min must not exceed max"));
            }
            Ok(ValueGen::Range { min, max })
        }
        J::Object(o) if o.len() == 1 && o.contains_key("txn") => {
            let at = at.clone().k("txn");
            let shape = "must be {\"keys\": K, \"max_len\": M}, integers from 1 to 1000";
            let fields = o["txn"].as_object().ok_or_else(|| src.err(&at, shape))?;
            let field = |name: &str| {
                fields
                    .get(name)
                    .and_then(serde_json::Value::as_u64)
                    .filter(|n| (1..=1000).contains(n))
                    .map(|n| n as u32)
                    .ok_or_else(|| src.err(&at, shape))
            };
            if fields.len() != 2 {
                return Err(src.err(&at, shape));
            }
            Ok(ValueGen::Txn {
                keys: field("keys")?,
                max_len: field("max_len")?,
            })
        }
        _ => Err(src.err(at, format!("invalid value generator {v}; {ALLOWED}"))),
    }
}

fn value_gen_json(g: &ValueGen) -> serde_json::Value {
    match g {
        ValueGen::Null => "null".into(),
        ValueGen::Unique => "unique".into(),
        ValueGen::Range { min, max } => serde_json::json!({"min": min, "max": max}),
        ValueGen::Const(v) => serde_json::json!({"const": v}),
        ValueGen::Txn { keys, max_len } => {
            serde_json::json!({"txn": {"keys": keys, "max_len": max_len}})
        }
    }
}
