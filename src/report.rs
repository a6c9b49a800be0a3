//! How a run is shown: a human report, or one JSON object.

use std::fmt::Write as _;
use std::io::Write;

use serde_json::json;
use sim::{EventKind, HistoryEvent, Latency, Rate};

use crate::runner::RunReport;
use crate::scenario::{Expect, Scenario};

/// Writes `text` to stdout. When stdout is a pipe that closed early
/// (`dsim list | head`), the rest is dropped quietly: the exit code still
/// says what the run found. Any other write error is reported once.
pub fn emit(text: &str) {
    use std::io::Write as _;
    let mut so = std::io::stdout().lock();
    if let Err(e) = so.write_all(text.as_bytes()).and_then(|()| so.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to stdout: {e}");
        }
    }
}

/// The name of the running program, as commands printed for the user
/// (replays) spell it: `dsim`, or the name of a binary built on
/// [`crate::cli::main`] for other protocols.
pub fn program() -> &'static str {
    PROGRAM.get().map_or("dsim", String::as_str)
}

/// Set once by [`crate::cli::main`].
pub(crate) static PROGRAM: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The command that replays this run.
pub fn replay_command(sc: &Scenario, seed: u64) -> String {
    let mut cmd = format!("{} run {} --seed {seed}", program(), shell_quote(&sc.path));
    for set in &sc.overrides {
        cmd += &format!(" --set {}", shell_quote(set));
    }
    cmd
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A fingerprint as 16 hex digits.
pub fn fingerprint(fp: u64) -> String {
    format!("{fp:016x}")
}

fn ms(us: u64) -> String {
    if us % 1000 == 0 {
        format!("{} ms", us / 1000)
    } else {
        format!("{:.3} ms", us as f64 / 1000.0)
    }
}

fn latency(l: &Latency) -> String {
    match l {
        Latency::Fixed { us } => format!("fixed {}", ms(*us)),
        Latency::Uniform { min_us, max_us } => format!("uniform {}–{}", ms(*min_us), ms(*max_us)),
        Latency::Exponential {
            min_us,
            mean_us,
            max_us,
        } => {
            format!(
                "exponential min {} mean {} max {}",
                ms(*min_us),
                ms(*mean_us),
                ms(*max_us)
            )
        }
        Latency::Normal {
            mean_us,
            sd_us,
            min_us,
            max_us,
        } => format!(
            "normal mean {} sd {} in {}–{}",
            ms(*mean_us),
            ms(*sd_us),
            ms(*min_us),
            ms(*max_us)
        ),
    }
}

/// The human report.
pub fn human(sc: &Scenario, r: &RunReport) -> String {
    let mut o = String::new();
    let c = &sc.sim;
    let _ = writeln!(o, "scenario     {} ({})", sc.name, sc.path);
    if !sc.description.is_empty() {
        let _ = writeln!(o, "             {}", sc.description);
    }
    let _ = writeln!(
        o,
        "protocol     {} ({}), {} nodes, seed {}",
        r.protocol, r.variant, c.nodes, r.seed
    );
    if let Some(note) = &sc.variant_note {
        let _ = writeln!(o, "             {note}");
    }
    let _ = writeln!(
        o,
        "network      latency {}, drop {}, duplicate {}, {}, partitions {}",
        latency(&c.link.latency),
        c.link.drop.as_f64(),
        c.link.duplicate.as_f64(),
        if c.link.ordered {
            "ordered (TCP-like)"
        } else {
            "unordered (UDP-like)"
        },
        c.partition_mode.name()
    );
    let w = &c.workload;
    let rate = match w.rate {
        Rate::Closed { think_us } => format!("closed loop, think {}", ms(think_us)),
        Rate::Open { interval_us } => format!("open loop, one per {}", ms(interval_us)),
        Rate::Stagger { mean_us } => format!("staggered, one per {} on average", ms(mean_us)),
    };
    let _ = writeln!(
        o,
        "workload     {} clients, {} generated + {} scripted ops ({rate}), {}",
        w.clients,
        w.ops,
        w.script.len(),
        w.keys
            .map_or("unkeyed".to_string(), |k| format!("{k} key(s)"))
    );
    let _ = writeln!(
        o,
        "faults       {} scheduled{}",
        c.faults.len(),
        fault_summary(sc)
    );
    let s = &r.stats;
    let _ = writeln!(
        o,
        "run          {} events, {} ops, {} messages sent ({} delivered, {} lost, {} duplicated, {} dropped by faults)",
        s.events, r.ops, s.sent, s.delivered, s.lost, s.duplicated, s.dropped
    );
    let heal = r
        .final_heal_us
        .map_or(String::new(), |h| format!(", final heal at {}", ms(h)));
    let _ = writeln!(
        o,
        "             stopped: {} at {}{heal}",
        r.stop.name(),
        ms(r.end_us)
    );
    for (name, h) in &r.halts {
        let _ = writeln!(o, "halted       {name} at {}: {}", ms(h.at), h.reason);
    }
    if !r.notes.is_empty() {
        let _ = writeln!(o, "\nnotes");
        for n in &r.notes {
            let _ = writeln!(o, "  {n}");
        }
    }
    let _ = writeln!(o, "\nchecks");
    let width = r.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for ch in &r.checks {
        let verdict = ch.result.status.name().to_uppercase();
        let note = match (ch.as_expected, ch.expected) {
            (true, Expect::Violation) => " (expected)".to_string(),
            // `any`: the scenario allows this check either verdict.
            (true, Expect::Any) => " (allowed: the scenario expects any verdict)".to_string(),
            (true, Expect::Pass) => String::new(),
            (false, e) => format!(" (UNEXPECTED: scenario expects {})", expect_name(e)),
        };
        let _ = writeln!(
            o,
            "  {:width$}  {verdict}{note}: {}",
            ch.name, ch.result.summary
        );
        for line in &ch.result.evidence {
            for l in line.lines() {
                let _ = writeln!(o, "  {:width$}    {l}", "");
            }
        }
    }
    let _ = writeln!(o);
    if r.as_expected {
        let _ = writeln!(o, "result       as expected");
    } else {
        let _ = writeln!(
            o,
            "result       NOT as expected: {}",
            r.unexpected().join(", ")
        );
    }
    if let Some(e) = &r.trace_error {
        let _ = writeln!(o, "trace        NOT fully written: {e}");
    }
    let _ = writeln!(o, "fingerprint  {}", fingerprint(r.fingerprint));
    let _ = writeln!(o, "replay       {}", replay_command(sc, r.seed));
    o
}

fn fault_summary(sc: &Scenario) -> String {
    let layout = sc.sim.layout();
    let kinds: Vec<String> = sc
        .sim
        .faults
        .iter()
        .take(6)
        .map(|f| format!("{}@{}", fault_text(&f.fault, &layout), ms(f.at)))
        .collect();
    if kinds.is_empty() {
        String::new()
    } else {
        let more = sc.sim.faults.len().saturating_sub(6);
        format!(
            ": {}{}",
            kinds.join(", "),
            if more > 0 {
                format!(", … {more} more")
            } else {
                String::new()
            }
        )
    }
}

/// A fault in a few words: its kind and whom it touches.
pub fn fault_text(f: &sim::Fault, layout: &sim::Layout) -> String {
    use sim::Fault;
    let set = |ids: &[usize]| {
        let names: Vec<String> = ids.iter().map(|&i| layout.name(i)).collect();
        format!("{{{}}}", names.join(","))
    };
    match f {
        Fault::Partition { groups } => {
            let gs: Vec<String> = groups.iter().map(|g| set(g)).collect();
            format!("partition {}", gs.join("|"))
        }
        Fault::PartitionOneWay { from, to } => {
            format!("partition_one_way {}->{}", set(from), set(to))
        }
        Fault::Heal => "heal".into(),
        Fault::Crash { node } => format!("crash {}", layout.name(*node)),
        Fault::Restart { node } => format!("restart {}", layout.name(*node)),
        Fault::Pause { node } => format!("pause {}", layout.name(*node)),
        Fault::Resume { node } => format!("resume {}", layout.name(*node)),
        Fault::ClockSkew { node, offset_us } => {
            format!(
                "clock_skew {} {:+} ms",
                layout.name(*node),
                offset_us / 1000
            )
        }
        Fault::ClockDrift { node, drift_ppm } => {
            format!("clock_drift {} {drift_ppm:+} ppm", layout.name(*node))
        }
        Fault::ClockJump { node, delta_us } => {
            format!("clock_jump {} {:+} ms", layout.name(*node), delta_us / 1000)
        }
        Fault::LinkError { from, to } => {
            format!("link_error {}->{}", layout.name(*from), layout.name(*to))
        }
        Fault::Loss { drop, .. } => format!("loss {}", drop.as_f64()),
        Fault::Message(r) => {
            let kind = r.matches.kind.as_deref().unwrap_or("any message");
            format!("message {} {kind}", r.action.name())
        }
    }
}

/// Name of an expectation as written in scenario files.
pub fn expect_name(e: Expect) -> &'static str {
    match e {
        Expect::Pass => "pass",
        Expect::Violation => "violation",
        Expect::Any => "any",
    }
}

/// The `--json` object.
pub fn json(sc: &Scenario, r: &RunReport) -> serde_json::Value {
    let checks: serde_json::Map<String, serde_json::Value> = r
        .checks
        .iter()
        .map(|c| (c.name.clone(), json!(c.result.status.name())))
        .collect();
    let details: serde_json::Map<String, serde_json::Value> = r
        .checks
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                json!({
                    "status": c.result.status.name(),
                    "expected": expect_name(c.expected),
                    "as_expected": c.as_expected,
                    "summary": c.result.summary,
                    "evidence": c.result.evidence,
                }),
            )
        })
        .collect();
    json!({
        "scenario": r.scenario,
        "path": sc.path,
        "protocol": r.protocol,
        "variant": r.variant,
        "seed": r.seed,
        "trace_fingerprint": fingerprint(r.fingerprint),
        "events": r.stats.events,
        "ops": r.ops,
        "messages": {
            "sent": r.stats.sent,
            "delivered": r.stats.delivered,
            "lost": r.stats.lost,
            "duplicated": r.stats.duplicated,
            "dropped": r.stats.dropped,
        },
        "stop": r.stop.name(),
        "sim_time_us": r.end_us,
        "checks": checks,
        "details": details,
        "notes": r.notes,
        "halts": r.halts.iter().map(|(name, h)| json!({"node": name, "at_us": h.at, "reason": h.reason})).collect::<Vec<_>>(),
        "calm_since_us": r.calm_since_us,
        "as_expected": r.as_expected,
        "replay": replay_command(sc, r.seed),
    })
}

/// Writes a history in the JSON Lines format `dsim check` reads.
pub fn write_history(out: &mut dyn Write, history: &[HistoryEvent]) -> std::io::Result<()> {
    for h in history {
        let kind = match h.kind {
            EventKind::Invoke => "invoke",
            EventKind::Ok => "ok",
            EventKind::Fail => "fail",
            EventKind::Info => "info",
        };
        let mut line = json!({"process": h.process, "type": kind, "f": h.f});
        if let Some(k) = h.key {
            line["key"] = json!(k.to_string());
        }
        line["value"] = serde_json::to_value(&h.value).unwrap_or_default();
        line["time"] = json!(h.time);
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
