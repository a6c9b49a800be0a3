//! The data a report page embeds: built from a run (its trace, as a
//! [`Capture`] collected it, and its [`RunReport`]) or from a checked
//! history.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::rc::Rc;

use serde_json::{json, Value};

use super::ops::{self, Op};
use super::trace::{Arrow, Collector, Model, OUTCOMES};
use super::{MAX_ARROWS, MAX_MARKERS, MAX_ODD_ARROWS, MAX_OPS, MAX_TIMERS};
use crate::report::{expect_name, fingerprint, replay_command};
use crate::runner::RunReport;
use crate::scenario::Scenario;

/// Collects a run's trace for its report while the run writes it.
pub struct Capture {
    model: Rc<RefCell<Model>>,
}

impl Default for Capture {
    fn default() -> Self {
        Capture::new()
    }
}

impl Capture {
    /// An empty capture.
    pub fn new() -> Capture {
        Capture {
            model: Rc::new(RefCell::new(Model::new(true))),
        }
    }

    /// The trace writer to hand the runner; it copies every byte to
    /// `tee` (e.g. the `--trace` file) when given.
    pub fn writer(&self, tee: Option<Box<dyn Write>>) -> Box<dyn Write> {
        Box::new(Collector::new(self.model.clone(), tee))
    }

    fn take(self) -> Model {
        std::mem::take(&mut *self.model.borrow_mut())
    }
}

/// The report page of a run. The run must have kept its history
/// (`RunOptions::keep_history`) and written its trace into `capture`.
pub fn run_page(sc: &Scenario, rep: &RunReport, capture: Capture) -> String {
    let model = capture.take();
    let unreadable = model.unreadable;
    let timers = model.timers.clone();
    let markers = model.markers.clone();
    let drawn = model.finish();
    let layout = sc.sim.layout();
    let lanes: Vec<String> = (0..layout.total()).map(|i| layout.name(i)).collect();
    let all_ops = ops::from_run(&rep.history, &layout);
    let series = ops::series(rep.end_us, &all_ops, &drawn.arrows);
    let witness = run_witness(rep, &all_ops);
    let mut omitted = BTreeMap::new();
    let (arrows, window_end) = window(&drawn.arrows, &mut omitted);
    let shown_ops = &all_ops[..all_ops.len().min(MAX_OPS)];
    count(&mut omitted, "ops", all_ops.len() - shown_ops.len());
    count(
        &mut omitted,
        "texts",
        (drawn.arrows.iter().map(|a| a.m).max().unwrap_or(0) as usize)
            .saturating_sub(drawn.texts.len()),
    );
    count(
        &mut omitted,
        "timers",
        timers.len().saturating_sub(MAX_TIMERS),
    );
    count(
        &mut omitted,
        "markers",
        markers.len().saturating_sub(MAX_MARKERS),
    );
    count(&mut omitted, "unreadable_trace_lines", unreadable as usize);
    let witness = witness
        .map(|(key, explanation, idx)| json!({"key": key, "explanation": explanation, "ops": idx}));
    let data = json!({
        "version": 1,
        "page": "run",
        "meta": meta(sc, rep),
        "lanes": lanes,
        "replicas": layout.replicas,
        "services": layout.services.len(),
        "kinds": drawn.kinds,
        "outcomes": OUTCOMES,
        "arrows": arrow_columns(&arrows),
        "texts": drawn.texts.iter().map(|(m, t)| (m.to_string(), Value::String(t.clone()))).collect::<serde_json::Map<String, Value>>(),
        "timers": timer_columns(&timers[..timers.len().min(MAX_TIMERS)]),
        "markers": &markers[..markers.len().min(MAX_MARKERS)],
        "ops": op_columns(shown_ops, &lanes),
        "witness": witness,
        "checks": checks(rep),
        "notes": rep.notes,
        "halts": rep.halts.iter().map(|(n, h)| json!({"node": n, "at_us": h.at, "reason": h.reason})).collect::<Vec<_>>(),
        "finals": rep.finals,
        "series": series,
        "omitted": omitted,
        "window_end_us": window_end,
        "scenario_json": sc.effective,
    });
    super::page(&format!("dsim: {}", rep.scenario), &data)
}

/// The header of a run's page: what ran, and how it ended.
fn meta(sc: &Scenario, rep: &RunReport) -> Value {
    let s = &rep.stats;
    json!({
        "scenario": rep.scenario,
        "path": sc.path,
        "description": sc.description,
        "protocol": rep.protocol,
        "variant": rep.variant,
        "seed": rep.seed,
        "fingerprint": fingerprint(rep.fingerprint),
        "replay": replay_command(sc, rep.seed),
        "stop": rep.stop.name(),
        "end_us": rep.end_us,
        "final_heal_us": rep.final_heal_us,
        "calm_since_us": rep.calm_since_us,
        "as_expected": rep.as_expected,
        "model": rep.model,
        "stats": {
            "events": s.events, "ops": rep.ops, "sent": s.sent, "delivered": s.delivered,
            "lost": s.lost, "duplicated": s.duplicated, "dropped": s.dropped,
            "link_errors": s.link_errors, "timers": s.timers, "parked": s.parked,
        },
    })
}

/// Each check's verdict, expectation, summary and evidence.
fn checks(rep: &RunReport) -> Vec<Value> {
    rep.checks
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "status": c.result.status.name(),
                "expected": expect_name(c.expected),
                "as_expected": c.as_expected,
                "summary": c.result.summary,
                "evidence": c.result.evidence,
            })
        })
        .collect()
}

fn count(omitted: &mut BTreeMap<&'static str, usize>, what: &'static str, n: usize) {
    if n > 0 {
        omitted.insert(what, n);
    }
}

/// The arrows drawn one by one: the first [`MAX_ARROWS`] in send order,
/// then up to [`MAX_ODD_ARROWS`] later ones that did not simply arrive.
/// Returns them and the send time up to which every arrow is kept.
fn window(all: &[Arrow], omitted: &mut BTreeMap<&'static str, usize>) -> (Vec<Arrow>, Option<u64>) {
    if all.len() <= MAX_ARROWS {
        return (all.to_vec(), None);
    }
    let mut kept: Vec<Arrow> = all[..MAX_ARROWS].to_vec();
    let end = kept.last().map(|a| a.s);
    kept.extend(
        all[MAX_ARROWS..]
            .iter()
            .filter(|a| a.o != 0 || a.c > 0 || a.h.is_some())
            .take(MAX_ODD_ARROWS)
            .cloned(),
    );
    count(omitted, "arrows", all.len() - kept.len());
    (kept, end)
}

/// The witness of a linearizability violation, found again by the checker
/// on the run's history (the check's result holds only its text): its key,
/// its explanation and the indexes of its operations.
fn run_witness(rep: &RunReport, all: &[Op]) -> Option<(Option<String>, String, Vec<usize>)> {
    rep.checks
        .iter()
        .find(|c| c.name == "linearizability" && c.result.status == protocols::Status::Violation)?;
    let model = checker::model::by_name(rep.model?, None).ok()?;
    let history = protocols::check::to_checker_history(&rep.history).ok()?;
    let report = checker::check(&history, &model, checker::DEFAULT_BUDGET).ok()?;
    let w = report.witness?;
    let idx = ops::witness_ops(all, &w);
    Some((w.key.clone(), w.explanation.clone(), idx))
}

fn arrow_columns(arrows: &[Arrow]) -> Value {
    let col =
        |f: &dyn Fn(&Arrow) -> Value| -> Value { Value::Array(arrows.iter().map(f).collect()) };
    json!({
        "s": col(&|a| json!(a.s)),
        "m": col(&|a| json!(a.m)),
        "c": col(&|a| json!(a.c)),
        "f": col(&|a| json!(a.f)),
        "r": col(&|a| json!(a.r)),
        "k": col(&|a| json!(a.k)),
        "a": col(&|a| json!(a.a)),
        "o": col(&|a| json!(a.o)),
        "h": col(&|a| json!(a.h)),
    })
}

fn timer_columns(timers: &[(u64, u32, String)]) -> Value {
    let mut tags: Vec<String> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tag_col = Vec::with_capacity(timers.len());
    for (_, _, tag) in timers {
        let i = *index.entry(tag.as_str()).or_insert_with(|| {
            tags.push(tag.clone());
            tags.len() - 1
        });
        tag_col.push(i);
    }
    json!({
        "t": timers.iter().map(|x| x.0).collect::<Vec<_>>(),
        "n": timers.iter().map(|x| x.1).collect::<Vec<_>>(),
        "tag": tag_col,
        "tags": tags,
    })
}

/// Operations as columns; `ty` and `f` index small tables.
fn op_columns(ops: &[Op], lanes: &[String]) -> Value {
    const TYPES: [&str; 4] = ["ok", "fail", "info", "none"];
    let mut fs: Vec<String> = Vec::new();
    let f_col: Vec<usize> = ops
        .iter()
        .map(|o| match fs.iter().position(|f| *f == o.f) {
            Some(i) => i,
            None => {
                fs.push(o.f.clone());
                fs.len() - 1
            }
        })
        .collect();
    json!({
        "types": TYPES,
        "fs": fs,
        "p": ops.iter().map(|o| o.p).collect::<Vec<_>>(),
        "t0": ops.iter().map(|o| o.t0).collect::<Vec<_>>(),
        "t1": ops.iter().map(|o| o.t1).collect::<Vec<_>>(),
        "ty": ops.iter().map(|o| TYPES.iter().position(|t| *t == o.ty).unwrap_or(3)).collect::<Vec<_>>(),
        "f": f_col,
        "key": ops.iter().map(|o| o.key.clone()).collect::<Vec<_>>(),
        "vin": ops.iter().map(|o| o.vin.clone()).collect::<Vec<_>>(),
        "vout": ops.iter().map(|o| o.vout.clone()).collect::<Vec<_>>(),
        "node": ops.iter().map(|o| o.node.as_ref().and_then(|n| lanes.iter().position(|l| l == n))).collect::<Vec<_>>(),
    })
}

/// The report page of a checked history: the timeline with the witness
/// highlighted, and per key the longest prefix that is linearizable (the
/// history cut at an instant, operations still running then left open).
pub fn check_page(
    path: &str,
    history: &checker::History,
    model: &checker::Model,
    report: &checker::Report,
    budget: u64,
) -> String {
    let all_ops = ops::from_checker(history);
    let end = all_ops
        .iter()
        .map(|o| o.t1.unwrap_or(o.t0))
        .max()
        .unwrap_or(0);
    let witness = report.witness.as_ref().map(|w| {
        json!({"key": w.key, "explanation": w.explanation, "ops": ops::witness_ops(&all_ops, w), "minimal": w.minimal})
    });
    let prefixes: Vec<Value> = report
        .keys
        .iter()
        .filter(|k| k.verdict == Some(checker::Verdict::NotLinearizable))
        .map(|k| {
            let (good, bad) = super::prefix::longest(history, model, k.key.as_deref(), budget);
            json!({"key": k.key, "linearizable_until_us": good, "broken_at_us": bad})
        })
        .collect();
    let mut omitted = BTreeMap::new();
    let shown = &all_ops[..all_ops.len().min(MAX_OPS)];
    count(&mut omitted, "ops", all_ops.len() - shown.len());
    let data = json!({
        "version": 1,
        "page": "check",
        "meta": {
            "history": path,
            "model": report.model,
            "verdict": report.verdict.as_str(),
            "ops": report.ops,
            "steps": report.steps,
            "budget": budget,
            "end_us": end,
        },
        "keys": report.keys,
        "ops": op_columns(shown, &[]),
        "witness": witness,
        "prefixes": prefixes,
        "series": ops::series(end, &all_ops, &[]),
        "omitted": omitted,
    });
    super::page(&format!("dsim check: {path}"), &data)
}
