//! The data a report page embeds: built from a run (its trace, as a
//! [`Capture`] collected it, and its [`RunReport`]) or from a checked
//! history. A run's data is written straight into the page, column by
//! column, from what the capture kept and the run's history: no copy of
//! the whole data is built first.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::rc::Rc;

use serde::Serialize;
use serde_json::{json, Value};

use super::ops::{self, Op, RunOp, TYPES};
use super::trace::{Arrow, Feed, Model, OUTCOMES};
use super::MAX_OPS;
use crate::report::{expect_name, fingerprint, replay_command};
use crate::runner::RunReport;
use crate::scenario::Scenario;

/// Collects a run's trace records for its report as the run makes them.
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

    /// The trace observer to hand the runner
    /// ([`crate::runner::RunOptions::observer`]).
    pub fn observer(&self) -> Box<dyn sim::trace::Observer> {
        Box::new(Feed(self.model.clone()))
    }

    fn take(self) -> Model {
        std::mem::take(&mut *self.model.borrow_mut())
    }
}

/// The report page of a run, as a string (see [`write_run_page`]).
pub fn run_page(sc: &Scenario, rep: &RunReport, capture: Capture) -> String {
    let mut out = Vec::new();
    write_run_page(&mut out, sc, rep, capture).expect("writing to memory");
    String::from_utf8(out).expect("the page is UTF-8")
}

/// `v` as JSON into `w`.
fn js<W: Write + ?Sized, T: Serialize + ?Sized>(w: &mut W, v: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *w, v).map_err(io::Error::from)
}

/// A JSON array of `n` items, item `i` written by `item`: into a buffer
/// that goes to `w` in pieces of 64 KiB (a page holds millions of small
/// items; each would otherwise be a write of its own).
fn array(
    w: &mut dyn Write,
    n: usize,
    mut item: impl FnMut(&mut Vec<u8>, usize) -> io::Result<()>,
) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    buf.push(b'[');
    for i in 0..n {
        if i > 0 {
            buf.push(b',');
        }
        item(&mut buf, i)?;
        if buf.len() >= 1 << 16 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    buf.push(b']');
    w.write_all(&buf)
}

fn opt<W: Write + ?Sized>(w: &mut W, v: Option<u64>) -> io::Result<()> {
    match v {
        Some(v) => int(w, v),
        None => w.write_all(b"null"),
    }
}

/// `v`'s decimal digits (a page holds millions of them).
#[inline]
fn int<W: Write + ?Sized>(w: &mut W, v: u64) -> io::Result<()> {
    w.write_all(sim::trace::decimal(v, &mut [0u8; 20]))
}

/// Writes the report page of a run to `out`. The run must have kept its
/// history (`RunOptions::keep_history`) and handed its trace to
/// `capture` (`RunOptions::observer`).
pub fn write_run_page(
    out: &mut dyn Write,
    sc: &Scenario,
    rep: &RunReport,
    capture: Capture,
) -> io::Result<()> {
    let mut model = capture.take();
    let drawn = model.finish();
    let layout = sc.sim.layout();
    let lanes: Vec<String> = (0..layout.total()).map(|i| layout.name(i)).collect();
    let h = &rep.history;
    let all_ops = ops::from_run(h);
    let spans: Vec<(u64, Option<u64>, u8)> = all_ops.iter().map(|o| (o.t0, o.t1, o.ty)).collect();
    let series = ops::series(rep.end_us, &spans, model.arrows_total, Some(&model.counts));
    drop(spans);
    let witness = run_witness(rep, &all_ops);
    let tys: Vec<u8> = all_ops.iter().map(|o| o.ty).collect();
    let (shown, stride) = ops::sample(
        &tys,
        witness.as_ref().map_or(&[][..], |w| &w.2[..]),
        MAX_OPS,
    );
    drop(tys);
    let shown_ops: Vec<RunOp> = shown.iter().map(|&i| all_ops[i]).collect();
    // Witness indexes into the operations drawn (all witnesses are kept).
    let witness = witness.map(|(key, explanation, idx)| {
        let idx: Vec<usize> = idx
            .iter()
            .filter_map(|i| shown.binary_search(i).ok())
            .collect();
        json!({"key": key, "explanation": explanation, "ops": idx})
    });
    let left_out = (all_ops.len() - shown_ops.len()) as u64;
    drop(all_ops);
    let mut omitted: BTreeMap<&'static str, u64> = BTreeMap::new();
    count(&mut omitted, "arrows", model.arrows_omitted);
    if model.arrows_omitted > 0 {
        omitted.insert("arrows_window", super::MAX_ARROWS as u64);
    }
    count(&mut omitted, "ops", left_out);
    if stride > 1 {
        omitted.insert("ops_stride", stride as u64);
    }
    count(
        &mut omitted,
        "texts",
        model.max_mid.saturating_sub(drawn.texts.len() as u64),
    );
    count(&mut omitted, "timers", model.timers_omitted);
    count(&mut omitted, "markers", model.markers_omitted);
    let title = format!("dsim: {}", rep.scenario);
    super::write_page(out, &title, &mut |w: &mut dyn Write| {
        w.write_all(b"{\"version\":1,\"page\":\"run\",\"meta\":")?;
        js(w, &meta(sc, rep))?;
        w.write_all(b",\"lanes\":")?;
        js(w, &lanes)?;
        write!(
            w,
            ",\"replicas\":{},\"services\":{}",
            layout.replicas,
            layout.services.len()
        )?;
        w.write_all(b",\"kinds\":")?;
        js(w, &drawn.kinds)?;
        w.write_all(b",\"outcomes\":")?;
        js(w, &OUTCOMES)?;
        w.write_all(b",\"arrows\":")?;
        arrow_columns(w, &drawn.arrows)?;
        w.write_all(b",\"texts\":{")?;
        for (i, (m, t)) in drawn.texts.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            write!(w, "\"{m}\":")?;
            js(w, t)?;
        }
        w.write_all(b"},\"timers\":")?;
        let tm = &model.timers;
        w.write_all(b"{\"t\":")?;
        array(w, tm.len(), |w, i| int(w, tm[i].0))?;
        w.write_all(b",\"n\":")?;
        array(w, tm.len(), |w, i| int(w, u64::from(tm[i].1)))?;
        w.write_all(b",\"tag\":")?;
        array(w, tm.len(), |w, i| int(w, u64::from(tm[i].2)))?;
        w.write_all(b",\"tags\":")?;
        js(w, &model.timer_tags)?;
        w.write_all(b"},\"markers\":")?;
        js(w, &model.markers)?;
        w.write_all(b",\"ops\":")?;
        run_op_columns(w, h, &shown_ops)?;
        w.write_all(b",\"witness\":")?;
        js(w, &witness)?;
        w.write_all(b",\"checks\":")?;
        js(w, &checks(rep))?;
        w.write_all(b",\"notes\":")?;
        js(w, &rep.notes)?;
        w.write_all(b",\"halts\":")?;
        js(
            w,
            &rep.halts
                .iter()
                .map(|(n, h)| json!({"node": n, "at_us": h.at, "reason": h.reason}))
                .collect::<Vec<_>>(),
        )?;
        w.write_all(b",\"finals\":")?;
        js(w, &rep.finals)?;
        w.write_all(b",\"series\":")?;
        js(w, &series)?;
        w.write_all(b",\"omitted\":")?;
        js(w, &omitted)?;
        w.write_all(b",\"window_end_us\":")?;
        opt(w, model.window_end.filter(|_| model.arrows_omitted > 0))?;
        w.write_all(b",\"scenario_json\":")?;
        js(w, &sc.effective)?;
        w.write_all(b"}")
    })
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

fn count(omitted: &mut BTreeMap<&'static str, u64>, what: &'static str, n: u64) {
    if n > 0 {
        omitted.insert(what, n);
    }
}

/// The witness of the run's linearizability violation (as its check found
/// it): its key, its explanation and the indexes of its operations.
fn run_witness(rep: &RunReport, all: &[RunOp]) -> Option<(Option<String>, String, Vec<usize>)> {
    rep.checks
        .iter()
        .find(|c| c.name == "linearizability" && c.result.status == protocols::Status::Violation)?;
    let w = rep.witness.as_ref()?;
    let h = &rep.history;
    let idx = ops::witness_ops(
        all.len(),
        |i| {
            let e = &h[all[i].inv];
            (e.process, e.time, e.key.map(|k| k.to_string()))
        },
        w,
    );
    Some((w.key.clone(), w.explanation.clone(), idx))
}

fn arrow_columns(w: &mut dyn Write, arrows: &[Arrow]) -> io::Result<()> {
    let n = arrows.len();
    w.write_all(b"{\"s\":")?;
    array(w, n, |w, i| int(w, arrows[i].s))?;
    w.write_all(b",\"m\":")?;
    array(w, n, |w, i| int(w, arrows[i].m))?;
    w.write_all(b",\"c\":")?;
    array(w, n, |w, i| int(w, u64::from(arrows[i].c)))?;
    w.write_all(b",\"f\":")?;
    array(w, n, |w, i| int(w, u64::from(arrows[i].f)))?;
    w.write_all(b",\"r\":")?;
    array(w, n, |w, i| int(w, u64::from(arrows[i].r)))?;
    w.write_all(b",\"k\":")?;
    array(w, n, |w, i| int(w, u64::from(arrows[i].k)))?;
    w.write_all(b",\"a\":")?;
    array(w, n, |w, i| opt(w, arrows[i].a))?;
    w.write_all(b",\"o\":")?;
    array(w, n, |w, i| int(w, u64::from(arrows[i].o)))?;
    w.write_all(b",\"h\":")?;
    array(w, n, |w, i| opt(w, arrows[i].h))?;
    w.write_all(b"}")
}

/// A table of small strings, and each item's index into it.
fn interned<'a>(items: impl Iterator<Item = &'a str>) -> (Vec<&'a str>, Vec<u32>) {
    let mut table: Vec<&str> = Vec::new();
    let mut index: BTreeMap<&str, u32> = BTreeMap::new();
    let col = items
        .map(|s| {
            *index.entry(s).or_insert_with(|| {
                table.push(s);
                table.len() as u32 - 1
            })
        })
        .collect();
    (table, col)
}

/// A run's operations as columns, their values read from the history.
fn run_op_columns(w: &mut dyn Write, h: &[sim::HistoryEvent], ops: &[RunOp]) -> io::Result<()> {
    let n = ops.len();
    let inv = |i: usize| &h[ops[i].inv];
    let (fs, f_col) = interned(ops.iter().map(|o| h[o.inv].f));
    w.write_all(b"{\"types\":")?;
    js(w, &TYPES)?;
    w.write_all(b",\"fs\":")?;
    js(w, &fs)?;
    w.write_all(b",\"p\":")?;
    array(w, n, |w, i| int(w, inv(i).process))?;
    w.write_all(b",\"t0\":")?;
    array(w, n, |w, i| int(w, ops[i].t0))?;
    w.write_all(b",\"t1\":")?;
    array(w, n, |w, i| opt(w, ops[i].t1))?;
    w.write_all(b",\"ty\":")?;
    array(w, n, |w, i| int(w, u64::from(ops[i].ty)))?;
    w.write_all(b",\"f\":")?;
    array(w, n, |w, i| int(w, u64::from(f_col[i])))?;
    w.write_all(b",\"key\":")?;
    array(w, n, |w, i| match inv(i).key {
        Some(k) => write!(w, "\"{k}\""),
        None => w.write_all(b"null"),
    })?;
    w.write_all(b",\"vin\":")?;
    array(w, n, |w, i| js(w, &inv(i).value))?;
    w.write_all(b",\"vout\":")?;
    array(w, n, |w, i| match ops[i].done {
        Some(d) => js(w, &h[d].value),
        None => w.write_all(b"null"),
    })?;
    w.write_all(b",\"node\":")?;
    array(w, n, |w, i| int(w, inv(i).node as u64))?;
    w.write_all(b"}")
}

/// A checked history's operations as columns; `ty` and `f` index small
/// tables. Times are `scale` of a microsecond each.
fn op_columns(ops: &[&Op], to_us: &dyn Fn(u64) -> Value) -> Value {
    let (fs, f_col) = interned(ops.iter().map(|o| o.f.as_str()));
    json!({
        "types": TYPES,
        "fs": fs,
        "p": ops.iter().map(|o| o.p).collect::<Vec<_>>(),
        "t0": ops.iter().map(|o| to_us(o.t0)).collect::<Vec<_>>(),
        "t1": ops.iter().map(|o| o.t1.map(to_us)).collect::<Vec<_>>(),
        "ty": ops.iter().map(|o| ty_index(o.ty)).collect::<Vec<_>>(),
        "f": f_col,
        "key": ops.iter().map(|o| o.key.clone()).collect::<Vec<_>>(),
        "vin": ops.iter().map(|o| o.vin.clone()).collect::<Vec<_>>(),
        "vout": ops.iter().map(|o| o.vout.clone()).collect::<Vec<_>>(),
        "node": ops.iter().map(|_| Value::Null).collect::<Vec<_>>(),
    })
}

fn ty_index(ty: &str) -> u8 {
    TYPES.iter().position(|t| *t == ty).unwrap_or(3) as u8
}

/// A time of a checked history in microseconds, as the page draws it:
/// JSON Lines times are microseconds, EDN (Jepsen) times nanoseconds
/// (a fraction of a microsecond is kept); a history without times is
/// drawn one microsecond per position.
fn micros(unit: checker::TimeUnit) -> impl Fn(u64) -> Value {
    move |t| match unit {
        checker::TimeUnit::Nanos if t % 1000 != 0 => json!(t as f64 / 1000.0),
        checker::TimeUnit::Nanos => json!(t / 1000),
        _ => json!(t),
    }
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
    let unit = history.time_unit();
    let us = micros(unit);
    let scale = |t: u64| match unit {
        checker::TimeUnit::Nanos => t / 1000,
        _ => t,
    };
    let all_ops = ops::from_checker(history);
    let end = all_ops
        .iter()
        .map(|o| o.t1.unwrap_or(o.t0))
        .max()
        .unwrap_or(0);
    let witness_idx = report.witness.as_ref().map(|w| {
        ops::witness_ops(
            all_ops.len(),
            |i| (all_ops[i].p, all_ops[i].t0, all_ops[i].key.clone()),
            w,
        )
    });
    let tys: Vec<u8> = all_ops.iter().map(|o| ty_index(o.ty)).collect();
    let (shown, stride) = ops::sample(&tys, witness_idx.as_deref().unwrap_or(&[]), MAX_OPS);
    let witness = report.witness.as_ref().map(|w| {
        let idx: Vec<usize> = witness_idx
            .iter()
            .flatten()
            .filter_map(|i| shown.binary_search(i).ok())
            .collect();
        json!({"key": w.key, "explanation": w.explanation, "ops": idx, "minimal": w.minimal})
    });
    let prefixes: Vec<Value> = report
        .keys
        .iter()
        .filter(|k| k.verdict == Some(checker::Verdict::NotLinearizable))
        .map(|k| {
            let (good, bad) = super::prefix::longest(history, model, k.key.as_deref(), budget);
            json!({"key": k.key, "linearizable_until_us": good.map(&us), "broken_at_us": bad.map(&us)})
        })
        .collect();
    let mut omitted = BTreeMap::new();
    count(&mut omitted, "ops", (all_ops.len() - shown.len()) as u64);
    if stride > 1 {
        omitted.insert("ops_stride", stride as u64);
    }
    let spans: Vec<(u64, Option<u64>, u8)> = all_ops
        .iter()
        .map(|o| (scale(o.t0), o.t1.map(scale), ty_index(o.ty)))
        .collect();
    let shown_ops: Vec<&Op> = shown.iter().map(|&i| &all_ops[i]).collect();
    let unit_name = match unit {
        checker::TimeUnit::Micros => "us",
        checker::TimeUnit::Nanos => "ns",
        checker::TimeUnit::Position => "position",
    };
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
            "end_us": us(end),
            "time_unit": unit_name,
        },
        "keys": report.keys,
        "ops": op_columns(&shown_ops, &us),
        "witness": witness,
        "prefixes": prefixes,
        "series": ops::series(scale(end), &spans, 0, None),
        "omitted": omitted,
    });
    super::page(&format!("dsim check: {path}"), &data)
}
