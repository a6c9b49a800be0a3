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

/// One operation of a run, by reference into its history (its values
/// stay there until the page is written).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunOp {
    /// Invocation time (µs).
    pub t0: u64,
    /// Completion time (µs); `None` if it never completed.
    pub t1: Option<u64>,
    /// The invocation's index in the history.
    pub inv: usize,
    /// The completion's index, if any.
    pub done: Option<usize>,
    /// Index into [`TYPES`].
    pub ty: u8,
}

/// Operation outcomes, as the page's `ops.types` lists them.
pub const TYPES: [&str; 4] = ["ok", "fail", "info", "none"];

/// Pairs a run's invocations with their completions (per process).
pub fn from_run(history: &[sim::HistoryEvent]) -> Vec<RunOp> {
    let mut ops: Vec<RunOp> = Vec::new();
    let mut open: std::collections::BTreeMap<u64, usize> = Default::default();
    for (at, e) in history.iter().enumerate() {
        match e.kind {
            sim::EventKind::Invoke => {
                open.insert(e.process, ops.len());
                ops.push(RunOp {
                    t0: e.time,
                    t1: None,
                    inv: at,
                    done: None,
                    ty: 3,
                });
            }
            kind => {
                if let Some(i) = open.remove(&e.process) {
                    let op = &mut ops[i];
                    op.t1 = Some(e.time);
                    op.done = Some(at);
                    op.ty = match kind {
                        sim::EventKind::Ok => 0,
                        sim::EventKind::Fail => 1,
                        _ => 2,
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
                .map_or(Value::Null, |c| c.output_value().into_owned()),
            node: None,
        })
        .collect()
}

/// Indexes of the operations a witness names (matched by process,
/// invocation time and key; `op(i)` gives those of operation `i`).
pub fn witness_ops(
    n: usize,
    op: impl Fn(usize) -> (u64, u64, Option<String>),
    w: &checker::Witness,
) -> Vec<usize> {
    let mut out: Vec<usize> = w
        .ops
        .iter()
        .filter_map(|wo| {
            (0..n).find(|&i| {
                let (p, t0, key) = op(i);
                p == wo.process && t0 == wo.time && key == wo.key
            })
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Which operations the timeline draws, when there are more than `cap`:
/// every one that did not complete ok and every one in `keep`, and of the
/// others one in `stride` (the first, then every `stride`-th), evenly over
/// the run. Returns the indexes (ascending) and the stride (1: all).
pub fn sample(tys: &[u8], keep: &[usize], cap: usize) -> (Vec<usize>, usize) {
    if tys.len() <= cap {
        return ((0..tys.len()).collect(), 1);
    }
    let must = |i: usize| tys[i] != 0 || keep.binary_search(&i).is_ok();
    let special = (0..tys.len()).filter(|&i| must(i)).count();
    let ok = tys.len() - special;
    let room = cap.saturating_sub(special).max(1);
    let stride = ok.div_ceil(room).max(1);
    let mut seen_ok = 0usize;
    let mut out = Vec::with_capacity(cap.min(tys.len()));
    for i in 0..tys.len() {
        if must(i) {
            out.push(i);
        } else {
            if seen_ok % stride == 0 {
                out.push(i);
            }
            seen_ok += 1;
        }
    }
    (out, stride)
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

/// Buckets `ops` (invocation, completion, index into [`TYPES`]) and the
/// messages `counts` counted (`messages` of them) over `[0, end]`.
pub fn series(
    end: u64,
    ops: &[(u64, Option<u64>, u8)],
    messages: u64,
    counts: Option<&super::trace::Counts>,
) -> Series {
    let busy = ops.len() as u64 + messages / 5;
    let buckets = (busy / 4).clamp(30, BUCKETS);
    let mut width = end.div_ceil(buckets).max(1);
    // Message counts come in buckets of their own width: a multiple of it.
    if let Some(c) = counts {
        width = width.div_ceil(c.width_us) * c.width_us;
    }
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
    for &(t0, t1, ty) in ops {
        let Some(t1) = t1 else { continue };
        let i = b(t1);
        match ty {
            0 => {
                s.ok[i] += 1;
                lat[i].push(t1.saturating_sub(t0));
            }
            1 => s.fail[i] += 1,
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
    if let Some(c) = counts {
        use super::trace::Counts as C;
        s.sent = C::rebucket(&c.sent, c.width_us, width, n);
        s.delivered = C::rebucket(&c.delivered, c.width_us, width, n);
        s.dropped = C::rebucket(&c.dropped, c.width_us, width, n);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_keeps_every_odd_operation_and_spreads_the_rest() {
        // 1,000 operations, every tenth failed; operation 3 is a witness.
        let tys: Vec<u8> = (0..1000).map(|i| u8::from(i % 10 == 9)).collect();
        let (kept, stride) = sample(&tys, &[3], 300);
        assert!(kept.len() <= 300, "{}", kept.len());
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
        for i in (9..1000).step_by(10) {
            assert!(kept.contains(&i), "failure {i}");
        }
        assert!(kept.contains(&3));
        // 899 others in the room of 199 left: one in five, the first first.
        assert_eq!(stride, 5);
        let oks: Vec<usize> = kept
            .iter()
            .copied()
            .filter(|&i| tys[i] == 0 && i != 3)
            .collect();
        assert_eq!(oks.len(), 899usize.div_ceil(5));
        assert_eq!(oks[0], 0);
        // Evenly over the whole run, not only its beginning.
        assert!(*oks.last().unwrap() > 980, "{:?}", oks.last());
        // Under the cap, all of them.
        assert_eq!(sample(&tys, &[], 1000), ((0..1000).collect(), 1));
    }
}
