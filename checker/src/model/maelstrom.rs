//! Maelstrom's workload checkers as history checks: `set-full` (Jepsen's
//! set-full, for broadcast: `broadcast`/`add` and `read`), `unique-ids`
//! (`generate`) and `g-counter` (`add` and `read`, final reads). They are
//! not sequential specifications: each reads the whole history at once and
//! answers `not-linearizable` for a violation, with the operations that
//! show it as the witness. Keys, if any, are checked apart.

use std::collections::BTreeMap;

use serde_json::Value;

use super::set_logs::{set_full_logs, LogRead};
use super::{shape, Model, ModelError, Registration, ShapeError};
use crate::history::{CompletionKind, Operation, ReadSet, ReadSets};
use crate::outcome::{KeyChecker, KeyReport, Verdict, Witness};

/// Registration of `set-full`.
pub(crate) const SET_FULL: Registration = Registration::new(
    "set-full",
    "Jepsen's set-full (Maelstrom broadcast): broadcast or add n, read → list; invalid iff an element known to be added is missing from a read that began after its last sighting",
    |i| build(i, "set-full", Kind::SetFull),
);
/// Registration of `unique-ids`.
pub(crate) const UNIQUE_IDS: Registration = Registration::new(
    "unique-ids",
    "Maelstrom unique-ids: generate → id; invalid iff two ok generates returned the same id",
    |i| build(i, "unique-ids", Kind::UniqueIds),
);
/// Registration of `g-counter`.
pub(crate) const G_COUNTER: Registration = Registration::new(
    "g-counter",
    "Maelstrom g-counter: add n, read; each process's last read, invoked after every add ended, equals the ok adds plus a subset of the info adds; every read lies in 0..=(adds invoked before it ended)",
    |i| build(i, "g-counter", Kind::GCounter),
);

/// Registration of `g-set`: Maelstrom's g-set workload, checked as Jepsen's set-full.
pub(crate) const G_SET: Registration = Registration::new(
    "g-set",
    "Maelstrom g-set: add n, read → list; checked as set-full (an element known added must be in every read that began after its last sighting)",
    |i| build(i, "g-set", Kind::SetFull),
);

/// Registration of `pn-counter`.
pub(crate) const PN_COUNTER: Registration = Registration::new(
    "pn-counter",
    "Maelstrom pn-counter: add n (n may be negative), read; each process's last read, invoked after every add ended, equals the ok adds plus a subset of the info adds; every read lies between the negative and the positive adds invoked before it ended",
    |i| build(i, "pn-counter", Kind::PnCounter),
);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    SetFull,
    UniqueIds,
    GCounter,
    PnCounter,
}

struct Check(Kind);

fn build(initial: Option<&Value>, name: &'static str, kind: Kind) -> Result<Model, ModelError> {
    match initial {
        None | Some(Value::Null) => Ok(Model {
            name,
            spec: Box::new(Check(kind)),
        }),
        Some(v) => Err(ModelError::BadInitial {
            model: name,
            expected: "absent (this check has no initial value)",
            found: v.clone(),
        }),
    }
}

/// One add of the set-full analysis.
#[derive(Clone, Debug)]
pub struct SetAdd {
    /// The element.
    pub element: i64,
    /// Invocation time.
    pub invoked: u64,
    /// Completion time, when it ended ok.
    pub ok_at: Option<u64>,
}

/// One ok read of the set-full analysis.
#[derive(Clone, Debug)]
pub struct SetRead {
    /// Invocation time.
    pub invoked: u64,
    /// Completion time.
    pub completed: u64,
    /// The elements it returned, sorted.
    pub elements: Vec<i64>,
}

/// An element set-full found lost.
#[derive(Clone, Debug)]
pub struct Lost {
    /// The element.
    pub element: i64,
    /// Its add's invocation.
    pub added: u64,
    /// When it became known (its add's ok, or its first sighting).
    pub known: u64,
    /// Index (in the sorted reads) of the last read that saw it.
    pub last_seen: Option<usize>,
    /// Index of the first later read that missed it.
    pub missed_by: usize,
}

/// What set-full found.
#[derive(Clone, Debug, Default)]
pub struct SetFull {
    /// Elements whose add was invoked (adds that ended `fail` included,
    /// as Jepsen's set-full keeps them).
    pub attempted: usize,
    /// Seen, and every read that began after the last read missing them contains them.
    pub stable: Vec<i64>,
    /// Known, and missed by a read that began after their last sighting.
    pub lost: Vec<Lost>,
    /// Known, but never seen and no read began after they became known.
    pub never_read: Vec<i64>,
    /// Reads that missed a known element that a later read saw again.
    pub stale_reads: usize,
    /// Elements with stale reads.
    pub stale: Vec<i64>,
    /// Per stable element, as Jepsen's: from when it became known to the
    /// invocation of the last read that missed it (0 when no read did, or
    /// that read began before it was known).
    pub stable_latencies: Vec<u64>,
    /// Per lost element seen at least once, as Jepsen's: from when it
    /// became known to the invocation of its last sighting.
    pub lost_latencies: Vec<u64>,
}

/// Jepsen's latency of an element from `known` to a read invoked at
/// `invoked`: its stable (lost) time is just after the invocation of the
/// last read that missed (saw) it, and the latency is that minus the known
/// time, or 0 if negative (jepsen.checker, set-full-element-results).
/// Jepsen's "just after" is 1 ns and it floors the result to whole
/// milliseconds, so in microseconds the tick is nothing; the value here
/// keeps its microseconds.
pub fn jepsen_latency(invoked: u64, known: u64) -> u64 {
    invoked.saturating_sub(known)
}

/// Jepsen's set-full analysis over `adds` and ok `reads` (sorted here by
/// invocation).
pub fn set_full(adds: &[SetAdd], reads: &mut [SetRead]) -> SetFull {
    reads.sort_by_key(|r| (r.invoked, r.completed));
    let mut out = SetFull {
        attempted: adds.len(),
        ..SetFull::default()
    };
    let mut first_seen: BTreeMap<i64, u64> = BTreeMap::new();
    for r in reads.iter() {
        for &e in &r.elements {
            let t = first_seen.entry(e).or_insert(r.completed);
            *t = (*t).min(r.completed);
        }
    }
    for a in adds {
        let e = a.element;
        let known = match (a.ok_at, first_seen.get(&e)) {
            (Some(x), Some(&y)) => x.min(y),
            (Some(x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => continue, // unknown outcome, never seen
        };
        let has = |r: &SetRead| r.elements.binary_search(&e).is_ok();
        let last_present = reads.iter().rposition(has);
        let from = last_present.map_or(0, |p| p + 1);
        if let Some(i) = (from..reads.len()).find(|&i| reads[i].invoked > known) {
            out.lost.push(Lost {
                element: e,
                added: a.invoked,
                known,
                last_seen: last_present,
                missed_by: i,
            });
            if let Some(p) = last_present {
                out.lost_latencies
                    .push(jepsen_latency(reads[p].invoked, known));
            }
            continue;
        }
        let Some(p) = last_present else {
            out.never_read.push(e);
            continue;
        };
        let stale = reads[..p]
            .iter()
            .filter(|r| r.invoked > known && !has(r))
            .count();
        if stale > 0 {
            out.stale_reads += stale;
            out.stale.push(e);
        }
        // The last read (in invocation order) that missed it.
        let last_absent = reads[..p]
            .iter()
            .rev()
            .find(|r| r.invoked >= a.invoked && !has(r));
        out.stable.push(e);
        out.stable_latencies
            .push(last_absent.map_or(0, |r| jepsen_latency(r.invoked, known)));
    }
    out
}

/// Which totals some subset of `xs` (non-negative) reaches, when the total
/// is small enough to tabulate (`None`: only the range can be checked).
pub fn subset_sums(xs: &[i64]) -> Option<Vec<bool>> {
    let total: i64 = xs.iter().sum();
    if xs.iter().any(|&x| x < 0) || total > 10_000_000 {
        return None;
    }
    let mut can = vec![false; total as usize + 1];
    can[0] = true;
    let mut top = 0usize;
    for &x in xs {
        let x = x as usize;
        for s in (0..=top).rev() {
            if can[s] {
                can[s + x] = true;
            }
        }
        top += x;
    }
    Some(can)
}

const SET_FNS: &[&str] = &["broadcast", "add", "read"];
const ID_FNS: &[&str] = &["generate"];
const COUNTER_FNS: &[&str] = &["add", "read"];

impl KeyChecker for Check {
    fn reads_sets(&self) -> bool {
        self.0 == Kind::SetFull
    }

    // Jepsen's set-full keeps an add that ended `fail`: its element is
    // known once a read sees it, and lost if a later read misses it.
    fn keeps_failed(&self) -> bool {
        self.0 == Kind::SetFull
    }

    fn validate(&self, op: &Operation) -> Result<(), ShapeError> {
        let out = op.output();
        match (self.0, op.f.as_str()) {
            (Kind::GCounter, "add") => match shape::int_input(op, "an integer")? {
                n if n < 0 => Err(shape::bad_input(
                    op,
                    "a non-negative integer (a g-counter only grows; use --model pn-counter for negative adds)",
                )),
                _ => Ok(()),
            },
            (Kind::SetFull, "broadcast" | "add") | (Kind::PnCounter, "add") => {
                shape::int_input(op, "an integer").map(|_| ())
            }
            (Kind::SetFull, "read") => match out {
                None => Ok(()),
                Some(_) if op.read_set().is_some() => Ok(()),
                Some(Value::Array(a)) if a.iter().all(Value::is_i64) => Ok(()),
                Some(v) => Err(shape::bad_output(op, v, "a list of integers")),
            },
            (Kind::GCounter | Kind::PnCounter, "read") => match out {
                None => Ok(()),
                Some(v) if v.is_i64() => Ok(()),
                Some(v) => Err(shape::bad_output(op, v, "an integer")),
            },
            (Kind::UniqueIds, "generate") => Ok(()),
            (Kind::SetFull, _) => Err(shape::unknown(op, SET_FNS)),
            (Kind::UniqueIds, _) => Err(shape::unknown(op, ID_FNS)),
            (Kind::GCounter | Kind::PnCounter, _) => Err(shape::unknown(op, COUNTER_FNS)),
        }
    }

    fn check_keys(
        &self,
        keys: &[(Option<&str>, Vec<&Operation>)],
        _budget: u64,
        _explain: bool,
    ) -> (Vec<KeyReport>, Option<Witness>) {
        let mut reports = Vec::new();
        let mut witness = None;
        for (key, ops) in keys {
            let found = match self.0 {
                Kind::SetFull => set_full_ops(ops),
                Kind::UniqueIds => unique_ids_ops(ops),
                Kind::GCounter | Kind::PnCounter => g_counter_ops(ops),
            };
            let verdict = if found.is_some() {
                Verdict::NotLinearizable
            } else {
                Verdict::Linearizable
            };
            if let (Some((text, cited)), None) = (found, &witness) {
                witness = Some(Witness {
                    claim: None,
                    key: key.map(str::to_string),
                    ops: cited.into_iter().map(|i| ops[i].clone()).collect(),
                    explanation: text,
                    minimal: false,
                });
            }
            reports.push(KeyReport {
                key: key.map(str::to_string),
                ops: ops.len(),
                verdict: Some(verdict),
                steps: ops.len() as u64,
            });
        }
        (reports, witness)
    }
}

/// A violation: words, and the indices of the operations they cite.
type Found = Option<(String, Vec<usize>)>;

fn end(op: &Operation) -> u64 {
    op.completion.as_ref().map_or(u64::MAX, |c| c.time)
}

fn set_full_ops(ops: &[&Operation]) -> Found {
    let mut adds = Vec::new();
    let mut reads = Vec::new();
    let mut read_op = Vec::new();
    let mut add_op: BTreeMap<i64, usize> = BTreeMap::new();
    // Reads kept as sets by the history reader come as they are; lists
    // (a history built otherwise) are made sets here the same way.
    let mut sets = ReadSets::default();
    // Each chain is one log: numbered in the order of first appearance
    // (the map is keyed by address, looked up only), with its longest read.
    let mut log_of: BTreeMap<usize, usize> = BTreeMap::new();
    let mut longest: Vec<ReadSet> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if op.f == "read" {
            let set = match op.read_set() {
                Some(set) => Some(set.clone()),
                None => op
                    .output()
                    .and_then(|v| sets.compact(op.process, op.key.as_deref(), v)),
            };
            if let Some(set) = set {
                let log = *log_of.entry(set.chain()).or_insert_with(|| {
                    longest.push(set.clone());
                    longest.len() - 1
                });
                if longest[log].len() < set.len() {
                    longest[log] = set.clone();
                }
                reads.push(LogRead {
                    invoked: op.time,
                    completed: end(op),
                    log,
                    len: set.len(),
                });
                read_op.push(i);
            }
        } else if let Some(e) = op.value.as_i64() {
            add_op.insert(e, i);
            adds.push(SetAdd {
                element: e,
                invoked: op.time,
                ok_at: op.output().map(|_| end(op)),
            });
        }
    }
    let logs: Vec<Vec<i64>> = longest.iter().map(ReadSet::log).collect();
    // Sorting the reads must move their operation indices along.
    let mut order: Vec<usize> = (0..reads.len()).collect();
    order.sort_by_key(|&i| (reads[i].invoked, reads[i].completed));
    let read_op: Vec<usize> = order.iter().map(|&i| read_op[i]).collect();
    let r = set_full_logs(&adds, &logs, &mut reads);
    let lost = r.lost.first()?;
    let mut cited = vec![add_op[&lost.element]];
    cited.extend(lost.last_seen.map(|p| read_op[p]));
    cited.push(read_op[lost.missed_by]);
    cited.sort_unstable();
    let seen = match lost.last_seen {
        Some(p) => format!("a read ending at {} saw it", reads[p].completed),
        None => "no read ever saw it".to_string(),
    };
    Some((
        format!(
            "{} element(s) lost; {} was added at {} and known from {}; {seen}, but a read invoked at {} misses it ({} stable, {} never read, {} stale read(s))",
            r.lost.len(),
            lost.element,
            lost.added,
            lost.known,
            reads[lost.missed_by].invoked,
            r.stable.len(),
            r.never_read.len(),
            r.stale_reads
        ),
        cited,
    ))
}

fn unique_ids_ops(ops: &[&Operation]) -> Found {
    let mut by_id: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        if let Some(v) = op.output() {
            by_id.entry(v.to_string()).or_default().push(i);
        }
    }
    let dups: Vec<(&String, &Vec<usize>)> = by_id.iter().filter(|(_, v)| v.len() > 1).collect();
    let (id, who) = dups.first()?;
    let procs: Vec<String> = who
        .iter()
        .map(|&i| format!("process {}", ops[i].process))
        .collect();
    Some((
        format!(
            "{} duplicated id(s); id {id} was returned to {}",
            dups.len(),
            procs.join(" and ")
        ),
        (*who).clone(),
    ))
}

fn g_counter_ops(ops: &[&Operation]) -> Found {
    let delta = |op: &Operation| op.value.as_i64().unwrap_or(0);
    let adds: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].f == "add").collect();
    let ok = |op: &Operation| matches!(&op.completion, Some(c) if c.kind == CompletionKind::Ok);
    let ok_sum: i64 = adds
        .iter()
        .filter(|&&i| ok(ops[i]))
        .map(|&i| delta(ops[i]))
        .sum();
    let info: Vec<i64> = adds
        .iter()
        .filter(|&&i| !ok(ops[i]))
        .map(|&i| delta(ops[i]))
        .collect();
    let info_sum: i64 = info.iter().sum();
    // Signed adds (pn-counter): a subset of the info adds sums to `extra`
    // iff a subset of their sizes sums to `extra` minus the negative ones.
    let info_neg: i64 = info.iter().filter(|&&d| d < 0).sum();
    let info_pos: i64 = info.iter().filter(|&&d| d > 0).sum();
    let sizes: Vec<i64> = info.iter().map(|d| d.abs()).collect();
    let sums = subset_sums(&sizes);
    let last_add_end = adds.iter().map(|&i| end(ops[i])).max().unwrap_or(0);
    let mut last_read: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        if op.f == "read" {
            last_read.insert(op.process, i);
        }
    }
    for (i, op) in ops.iter().enumerate().filter(|(_, o)| o.f == "read") {
        let Some(v) = op.output().and_then(Value::as_i64) else {
            continue;
        };
        let ended = end(op);
        let before: Vec<usize> = adds
            .iter()
            .copied()
            .filter(|&a| ops[a].time <= ended)
            .collect();
        let upper: i64 = before.iter().map(|&a| delta(ops[a]).max(0)).sum();
        let lower: i64 = before.iter().map(|&a| delta(ops[a]).min(0)).sum();
        if v < lower || v > upper {
            return Some((
                format!(
                    "read by process {} returned {v}, outside {lower}..={upper}, the sums of the negative and of the positive adds invoked before it ended",
                    op.process
                ),
                vec![i],
            ));
        }
        let is_final = last_read.get(&op.process) == Some(&i) && op.time > last_add_end;
        let extra = v - ok_sum;
        let shifted = extra - info_neg;
        let fits = shifted >= 0
            && sums
                .as_ref()
                .map_or(extra >= info_neg && extra <= info_pos, |s| {
                    s.get(shifted as usize).copied().unwrap_or(false)
                });
        if is_final && !fits {
            let mut cited = vec![i];
            cited.extend(adds.iter().copied().take(6));
            cited.sort_unstable();
            return Some((
                format!(
                    "final read by process {} returned {v}, but the ok adds sum to {ok_sum} and no subset of the {} info add(s) (summing to {info_sum}) makes up the difference",
                    op.process,
                    info.len()
                ),
                cited,
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::{check, History, Verdict};

    fn verdict(model: &str, text: &str) -> Verdict {
        let h = History::parse_jsonl(text).expect("history");
        let m = super::super::by_name(model, None).expect("model");
        check(&h, &m, 1000).expect("fits").verdict
    }

    fn line(p: u64, t: &str, f: &str, v: &str, time: u64) -> String {
        format!(r#"{{"process":{p},"type":"{t}","f":"{f}","value":{v},"time":{time}}}"#)
    }

    #[test]
    fn set_full_is_invalid_iff_a_known_element_goes_missing() {
        let base = [
            line(0, "invoke", "broadcast", "1", 0),
            line(0, "ok", "broadcast", "1", 1),
            line(1, "invoke", "read", "null", 2),
            line(1, "ok", "read", "[1]", 3),
        ]
        .join("\n");
        assert_eq!(verdict("set-full", &base), Verdict::Linearizable);
        let lost = format!(
            "{base}\n{}\n{}",
            line(2, "invoke", "read", "null", 5),
            line(2, "ok", "read", "[]", 6)
        );
        assert_eq!(verdict("set-full", &lost), Verdict::NotLinearizable);
    }

    #[test]
    fn set_full_latencies_are_jepsens() {
        use super::{set_full, SetAdd, SetRead};
        let read = |invoked, completed, elements: &[i64]| SetRead {
            invoked,
            completed,
            elements: elements.to_vec(),
        };
        // 1 is added 0..100 (known at 100); reads invoked at 150 and 170
        // miss it, one at 300 sees it: stable, latency 170 − 100 (dsim
        // used to count from the add's invocation to that read's end).
        // 2 is added 0..100 and first seen by a read ending at 60 (known
        // then); a read invoked at 40 misses it: before it was known, so 0.
        let adds = [1, 2].map(|element| SetAdd {
            element,
            invoked: 0,
            ok_at: Some(100),
        });
        let mut reads = vec![
            read(150, 400, &[2]),
            read(170, 180, &[2]),
            read(300, 310, &[1, 2]),
            read(40, 45, &[]),
            read(50, 60, &[2]),
        ];
        let r = set_full(&adds, &mut reads);
        assert_eq!(r.stable, vec![1, 2]);
        assert_eq!(r.stable_latencies, vec![70, 0]);
        // Lost: 3 known at its ok (100), last seen by a read invoked at
        // 150: lost latency 150 − 100.
        let adds = [SetAdd {
            element: 3,
            invoked: 0,
            ok_at: Some(100),
        }];
        let mut reads = vec![read(150, 160, &[3]), read(200, 210, &[])];
        let r = set_full(&adds, &mut reads);
        assert_eq!(r.lost.len(), 1);
        assert_eq!(r.lost_latencies, vec![50]);
    }

    #[test]
    fn set_full_keeps_a_failed_add_that_a_read_saw() {
        // The audit's setfull-failed-add-lost.jsonl: the add of 5 ends
        // `fail`, a read sees 5, a later read misses it. Jepsen's set-full
        // keeps failed adds: 5 is lost.
        let failed = [
            line(0, "invoke", "broadcast", "5", 10),
            line(0, "fail", "broadcast", "5", 11),
            line(1, "invoke", "read", "null", 20),
            line(1, "ok", "read", "[5]", 21),
            line(1, "invoke", "read", "null", 30),
            line(1, "ok", "read", "[]", 31),
        ];
        assert_eq!(
            verdict("set-full", &failed.join("\n")),
            Verdict::NotLinearizable
        );
        // Never seen, a failed add is never known, so its absence is fine.
        let unseen = [&failed[..2], &failed[4..]].concat();
        assert_eq!(
            verdict("set-full", &unseen.join("\n")),
            Verdict::Linearizable
        );
    }

    #[test]
    fn unique_ids_finds_a_duplicate() {
        let ok = [
            line(0, "invoke", "generate", "null", 0),
            line(0, "ok", "generate", "7", 1),
            line(1, "invoke", "generate", "null", 0),
            line(1, "ok", "generate", "\"n1-1\"", 1),
        ]
        .join("\n");
        assert_eq!(verdict("unique-ids", &ok), Verdict::Linearizable);
        let dup = ok.replace("\"n1-1\"", "7");
        assert_eq!(verdict("unique-ids", &dup), Verdict::NotLinearizable);
    }

    #[test]
    fn g_counter_final_reads_are_ok_adds_plus_some_info_adds() {
        let adds = [
            line(0, "invoke", "add", "2", 0),
            line(0, "ok", "add", "2", 1),
            line(1, "invoke", "add", "5", 0),
            line(1, "info", "add", "5", 10),
        ]
        .join("\n");
        for (v, want) in [
            (2, Verdict::Linearizable),
            (7, Verdict::Linearizable),
            (3, Verdict::NotLinearizable),
            (1, Verdict::NotLinearizable),
        ] {
            let h = format!(
                "{adds}\n{}\n{}",
                line(2, "invoke", "read", "null", 20),
                line(2, "ok", "read", &v.to_string(), 21)
            );
            assert_eq!(verdict("g-counter", &h), want, "final read {v}");
        }
    }

    #[test]
    fn set_full_reads_kept_as_sets_give_the_list_forms_answer() {
        use super::super::set_logs::tests::Rng;
        use super::{set_full, SetAdd, SetRead};
        use crate::{CompletionKind, JsonlReader};
        use std::collections::BTreeSet;
        let m = super::super::by_name("set-full", None).expect("model");
        assert!(m.reads_sets());
        let mut rng = Rng(11);
        let (mut invalid, mut chained) = (0, 0);
        for round in 0..500 {
            // Nodes hold sets; each process reads its own node, sometimes
            // another; now and then a node loses an element.
            let nodes = rng.below(1, 4);
            let procs = rng.below(1, 5);
            let mut sets: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); nodes];
            let mut text = String::new();
            let (mut next, mut t) = (0i64, 0u64);
            for _ in 0..rng.below(1, 40) {
                let p = rng.below(0, procs) as u64;
                t += 1 + rng.below(0, 3) as u64;
                if rng.gen_bool(0.4) {
                    let e = next.to_string();
                    sets[rng.below(0, nodes)].insert(next);
                    for s in &mut sets {
                        if rng.gen_bool(0.7) {
                            s.insert(next);
                        }
                    }
                    next += 1;
                    let kind = if rng.gen_bool(0.9) { "ok" } else { "fail" };
                    text += &(line(p, "invoke", "add", &e, t) + "\n");
                    text += &(line(p, kind, "add", &e, t + 1) + "\n");
                } else {
                    let n = if rng.gen_bool(0.85) {
                        p as usize % nodes
                    } else {
                        rng.below(0, nodes)
                    };
                    if rng.gen_bool(0.06) {
                        if let Some(&x) = sets[n].iter().next() {
                            sets[n].remove(&x);
                        }
                    }
                    // As written: any order, sometimes a repeat.
                    let mut list: Vec<i64> = sets[n].iter().copied().collect();
                    for i in (1..list.len()).rev() {
                        list.swap(i, rng.below(0, i + 1));
                    }
                    if !list.is_empty() && rng.gen_bool(0.1) {
                        list.push(list[0]);
                    }
                    let v = format!("{list:?}");
                    text += &(line(p, "invoke", "read", "null", t) + "\n");
                    text += &(line(p, "ok", "read", &v, t + 1) + "\n");
                }
                t += 1;
            }
            let plain = History::parse_jsonl(&text).expect("history");
            let mut reader = JsonlReader::reading_sets();
            for l in text.lines() {
                reader.line(l).expect("line");
            }
            let compact = reader.finish();
            // The oracle: the list form over the lists as written.
            let mut adds = Vec::new();
            let mut reads = Vec::new();
            let mut chains = BTreeSet::new();
            for (op, kept) in plain.operations().iter().zip(compact.operations()) {
                let ok = op.output().is_some();
                if op.f == "add" {
                    adds.push(SetAdd {
                        element: op.value.as_i64().unwrap(),
                        invoked: op.time,
                        ok_at: op.output().map(|_| op.completion.as_ref().unwrap().time),
                    });
                } else if op.f == "read" && ok {
                    let set = kept.read_set().expect("an ok read is kept as a set");
                    chains.insert(set.chain());
                    let mut elements: Vec<i64> = op
                        .output()
                        .unwrap()
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_i64().unwrap())
                        .collect();
                    elements.sort_unstable();
                    elements.dedup();
                    assert_eq!(set.sorted(), elements, "round {round}");
                    assert_eq!(kept.completion.as_ref().unwrap().kind, CompletionKind::Ok);
                    reads.push(SetRead {
                        invoked: op.time,
                        completed: op.completion.as_ref().unwrap().time,
                        elements,
                    });
                }
            }
            // Reads that extend an earlier one share its chain.
            chained += reads.len() - chains.len();
            let want = set_full(&adds, &mut reads);
            let a = check(&plain, &m, 1000).expect("fits");
            let b = check(&compact, &m, 1000).expect("fits");
            assert_eq!(a.verdict, b.verdict, "round {round}");
            let lost = !want.lost.is_empty();
            invalid += usize::from(lost);
            assert_eq!(
                b.verdict == Verdict::NotLinearizable,
                lost,
                "round {round}: {want:?}\n{text}"
            );
            let text_of = |r: &crate::Report| r.witness.as_ref().map(|w| w.explanation.clone());
            assert_eq!(text_of(&a), text_of(&b), "round {round}");
            if let (Some(w), Some(first)) = (&b.witness, want.lost.first()) {
                let said = &w.explanation;
                let counts = format!(
                    "({} stable, {} never read, {} stale read(s))",
                    want.stable.len(),
                    want.never_read.len(),
                    want.stale_reads
                );
                assert!(
                    said.starts_with(&format!(
                        "{} element(s) lost; {} was added",
                        want.lost.len(),
                        first.element
                    )),
                    "{said}"
                );
                assert!(said.ends_with(&counts), "{said} vs {counts}");
            }
        }
        assert!(
            (50..450).contains(&invalid),
            "{invalid} of 500 invalid: the cases must vary"
        );
        assert!(chained > 0);
    }
}
