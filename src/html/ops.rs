//! Client operations as the timeline draws them, from a run's history or
//! from a checker history, and the latency and throughput series.

use serde::Serialize;
use serde_json::Value;

/// One operation: a bar from invocation to completion.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Op {
    /// Client process.
    pub p: u64,
    /// Invocation time (µs).
    pub t0: u64,
    /// Completion time (µs); `None` if it never completed.
    pub t1: Option<u64>,
    /// `ok`, `fail`, `info`, or `none` (never completed).
    pub ty: &'static str,
    /// Function.
    pub f: String,
    /// Key.
    pub key: Option<String>,
    /// Input.
    pub vin: Value,
    /// Output (the completion's value).
    pub vout: Value,
    /// The process the operation went to (runs only).
    pub node: Option<String>,
}

/// Pairs a run's invocations with their completions (per process).
pub fn from_run(history: &[sim::HistoryEvent], layout: &sim::Layout) -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::new();
    let mut open: std::collections::BTreeMap<u64, usize> = Default::default();
    for e in history {
        let value = serde_json::to_value(&e.value).unwrap_or(Value::Null);
        match e.kind {
            sim::EventKind::Invoke => {
                open.insert(e.process, ops.len());
                ops.push(Op {
                    p: e.process,
                    t0: e.time,
                    t1: None,
                    ty: "none",
                    f: e.f.to_string(),
                    key: e.key.map(|k| k.to_string()),
                    vin: value,
                    vout: Value::Null,
                    node: Some(layout.name(e.node)),
                });
            }
            kind => {
                if let Some(i) = open.remove(&e.process) {
                    let op = &mut ops[i];
                    op.t1 = Some(e.time);
                    op.vout = value;
                    op.ty = match kind {
                        sim::EventKind::Ok => "ok",
                        sim::EventKind::Fail => "fail",
                        _ => "info",
                    };
                }
            }
        }
    }
    ops
}

/// A checker history's operations.
pub fn from_checker(h: &checker::History) -> Vec<Op> {
    h.operations()
        .iter()
        .map(|o| Op {
            p: o.process,
            t0: o.time,
            t1: o.completion.as_ref().map(|c| c.time),
            ty: match o.completion.as_ref().map(|c| c.kind) {
                Some(checker::CompletionKind::Ok) => "ok",
                Some(checker::CompletionKind::Fail) => "fail",
                Some(_) => "info",
                None => "none",
            },
            f: o.f.clone(),
            key: o.key.clone(),
            vin: o.value.clone(),
            vout: o
                .completion
                .as_ref()
                .map_or(Value::Null, |c| c.value.clone()),
            node: None,
        })
        .collect()
}

/// Indexes of the operations a witness names (matched by process and
/// invocation time).
pub fn witness_ops(ops: &[Op], w: &checker::Witness) -> Vec<usize> {
    let mut out: Vec<usize> = w
        .ops
        .iter()
        .filter_map(|wo| {
            ops.iter()
                .position(|o| o.p == wo.process && o.t0 == wo.time && o.key == wo.key)
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Per-bucket counts over the run: the plots, and the picture of what is
/// too dense to draw one by one.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Series {
    /// Bucket width (µs).
    pub width_us: u64,
    /// Operations completed ok / fail / info per bucket.
    pub ok: Vec<u64>,
    /// See `ok`.
    pub fail: Vec<u64>,
    /// See `ok`.
    pub info: Vec<u64>,
    /// Latency (µs) of ok operations completed in the bucket: median.
    pub p50: Vec<u64>,
    /// 99th percentile.
    pub p99: Vec<u64>,
    /// Maximum.
    pub max: Vec<u64>,
    /// Messages sent per bucket.
    pub sent: Vec<u64>,
    /// Message copies delivered per bucket (by arrival time).
    pub delivered: Vec<u64>,
    /// Messages dropped or lost per bucket (by send time).
    pub dropped: Vec<u64>,
}

/// The most buckets the plots use (fewer for small runs, so that a bucket
/// holds a few operations).
pub const BUCKETS: u64 = 400;

/// Buckets `ops` and `arrows` over `[0, end]`.
pub fn series(end: u64, ops: &[Op], arrows: &[super::trace::Arrow]) -> Series {
    let busy = (ops.len() + arrows.len() / 5) as u64;
    let buckets = (busy / 4).clamp(30, BUCKETS);
    let width = end.div_ceil(buckets).max(1);
    let n = (end / width + 1) as usize;
    let b = |t: u64| ((t / width) as usize).min(n - 1);
    let mut s = Series {
        width_us: width,
        ok: vec![0; n],
        fail: vec![0; n],
        info: vec![0; n],
        p50: vec![0; n],
        p99: vec![0; n],
        max: vec![0; n],
        sent: vec![0; n],
        delivered: vec![0; n],
        dropped: vec![0; n],
    };
    let mut lat: Vec<Vec<u64>> = vec![Vec::new(); n];
    for o in ops {
        let Some(t1) = o.t1 else { continue };
        let i = b(t1);
        match o.ty {
            "ok" => {
                s.ok[i] += 1;
                lat[i].push(t1.saturating_sub(o.t0));
            }
            "fail" => s.fail[i] += 1,
            _ => s.info[i] += 1,
        }
    }
    for (i, l) in lat.iter_mut().enumerate() {
        if l.is_empty() {
            continue;
        }
        l.sort_unstable();
        let at = |q: usize| l[(l.len() - 1) * q / 100];
        s.p50[i] = at(50);
        s.p99[i] = at(99);
        s.max[i] = l[l.len() - 1];
    }
    for a in arrows {
        if a.c == 0 {
            s.sent[b(a.s)] += 1;
        }
        match (a.o, a.a) {
            (0, Some(t)) => s.delivered[b(t)] += 1,
            _ => s.dropped[b(a.s)] += 1,
        }
    }
    s
}
