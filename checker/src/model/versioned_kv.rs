//! `versioned-kv`: memstate's key-value store, where every key carries a
//! version that each successful `set` bumps, and `set` and `remove` may
//! name the version they expect (a compare-and-set by version).
//!
//! Shapes, per key:
//! - `set v` or `set [v, expected]` (`expected` an integer or `null`;
//!   a two-element array is always read as this pair) returns the new
//!   version, or `null` when the history does not say;
//! - `get` has value `null` and returns `[value, version]`, or `null` when
//!   the key is absent;
//! - `remove` has value `null` or the expected version, and returns `null`;
//! - `incr` has value `null` and returns `null`: the key's integer value
//!   (absent: 0) plus one, as one atomic step (a blind read-then-set that
//!   loses an update is therefore not linearizable);
//! - `stamp` has value `null` and returns the value it wrote, one the
//!   history could not predict (memstate's non-deterministic command); of
//!   unknown outcome, it leaves a value any later `get` may have seen.
//!
//! A key starts absent, at version 0; an expected version of 0 matches an
//! absent key; `remove` of an absent key, and any version mismatch, fails.
//! After `remove` the key is absent and a later `set` starts again at
//! version 1, as the seed's store does.
//!
//! A `fail` is judged when it claims something about the key: it must be
//! placed, like an `ok`, between its invocation and its completion, at a
//! moment when the key's state explains it, and it changes nothing:
//! - a completion value `"version mismatch (the key is at version N)"`
//!   (what dsim's memstate answers, for `set`, `remove` and `incr`): the
//!   key was at version N (absent: 0), and N is not the expected version;
//! - `"no such key"` (`remove`): the key was absent;
//! - for `set [v, expected]` and `remove` whose completion value is not a
//!   string (a history that echoes the input, Jepsen-style): the key's
//!   version was not `expected` (`remove`: or the key was absent);
//! - any other string (not leader, engine stopped, a malformed input, a
//!   value mismatch of an `incr`), and a `fail` of `get`, of a `set`
//!   without an expected version or of an `incr` without a version, says
//!   nothing about the key and is dropped.
//!
//! So a CAS that failed although the version matched is a violation.

use super::shape::{bad_input, bad_output, no_input, unknown};
use super::{Atom, Model, Registration, ShapeError, Spec};
use crate::history::{CompletionKind, Operation};
use crate::outcome::{KeyChecker, KeyReport, Witness};
use serde_json::Value;

/// The registry line.
pub(crate) const REGISTRATION: Registration = Registration::new(
    "versioned-kv",
    "a value and a version per key: set v | set [v, expected_version] -> version, get -> [v, version] | null, remove [expected]; initial absent",
    |_| {
        Ok(Model {
            name: "versioned-kv",
            spec: Box::new(Judged),
        })
    },
);

const FUNCTIONS: &[&str] = &["set", "get", "remove", "incr", "stamp"];

/// The specification of one key.
#[derive(Debug)]
struct VersionedKv;

/// One operation; `None` outputs are unknown.
#[derive(Debug, PartialEq)]
enum VkvOp {
    Set {
        value: Atom,
        expected: Option<u64>,
        version: Option<u64>,
        known: bool,
    },
    Get(Option<Option<(Atom, u64)>>),
    Remove {
        expected: Option<u64>,
        known: bool,
    },
    Incr {
        known: bool,
    },
    Stamp(Option<Atom>),
    /// A judged `fail`: it changed nothing, and the key was in a state that
    /// explains it.
    Failed(Refusal),
}

/// What a judged `fail` says about the key's state.
#[derive(Debug, PartialEq, Clone, Copy)]
enum Refusal {
    /// The key was at version `n` (absent: 0), which is not the version
    /// the operation expected.
    At { n: u64, expected: Option<u64> },
    /// The key was absent.
    Absent,
    /// The key's version was not this.
    Not(u64),
    /// The key was absent or its version was not this.
    AbsentOrNot(Option<u64>),
}

/// The marker a judged `fail` carries through the search (as an `ok`).
const FAILED: &str = "__versioned_kv_failed__";

/// What a `fail` of `op` claims, if it claims anything about the key.
fn refusal(op: &Operation, why: &Value) -> Option<Refusal> {
    if let Some(text) = why.as_str() {
        if let Some(rest) = text.strip_prefix("version mismatch") {
            let n = rest
                .rsplit("at version ")
                .next()
                .and_then(|t| t.trim_end_matches(')').trim().parse().ok());
            let expected = match op.f.as_str() {
                "set" => set_input(op).ok().and_then(|(_, e)| e),
                "remove" => op.value.as_u64(),
                _ => None,
            };
            return n.map(|n| Refusal::At { n, expected });
        }
        return (text.starts_with("no such key") && op.f == "remove").then_some(Refusal::Absent);
    }
    match op.f.as_str() {
        "set" => match set_input(op).ok()? {
            (_, Some(e)) => Some(Refusal::Not(e)),
            _ => None,
        },
        "remove" => Some(Refusal::AbsentOrNot(op.value.as_u64())),
        _ => None,
    }
}

/// The key's state: absent, or a value (`None`: written by a stamp of
/// unknown outcome, so any value) and its version.
type State = Option<(Option<Atom>, u64)>;

fn version_of(v: &Value) -> Option<u64> {
    v.as_u64()
}

fn set_input(op: &Operation) -> Result<(Atom, Option<u64>), ShapeError> {
    const EXPECTED: &str =
        "a value, or [value, expected_version] with a version of 0 or more or null";
    match op.value.as_array().map(Vec::as_slice) {
        Some([v, Value::Null]) => Ok((Atom::from_json(v), None)),
        Some([v, e]) => match version_of(e) {
            Some(e) => Ok((Atom::from_json(v), Some(e))),
            None => Err(bad_input(op, EXPECTED)),
        },
        _ => Ok((Atom::from_json(&op.value), None)),
    }
}

impl Spec for VersionedKv {
    type State = State;
    type Op = VkvOp;

    fn init(&self) -> State {
        None
    }

    fn prepare(&self, op: &Operation) -> Result<VkvOp, ShapeError> {
        if let Some(why) = op.output().and_then(|o| o.get(FAILED)) {
            return refusal(op, why)
                .map(VkvOp::Failed)
                .ok_or_else(|| bad_output(op, why, "a fail the model judges"));
        }
        match op.f.as_str() {
            "set" => {
                let (value, expected) = set_input(op)?;
                let version = match op.output() {
                    None | Some(Value::Null) => None,
                    Some(out) => Some(version_of(out).ok_or_else(|| {
                        bad_output(op, out, "the new version (an integer from 1) or null")
                    })?),
                };
                Ok(VkvOp::Set {
                    value,
                    expected,
                    version,
                    known: op.output().is_some(),
                })
            }
            "get" => {
                no_input(op)?;
                let out = match op.output() {
                    None => None,
                    Some(Value::Null) => Some(None),
                    Some(out) => match out.as_array().map(Vec::as_slice) {
                        Some([v, ver]) if version_of(ver).is_some_and(|n| n >= 1) => {
                            Some(Some((Atom::from_json(v), version_of(ver).unwrap_or(0))))
                        }
                        _ => return Err(bad_output(op, out, "[value, version] or null")),
                    },
                };
                Ok(VkvOp::Get(out))
            }
            "remove" => {
                let expected = match &op.value {
                    Value::Null => None,
                    v => Some(
                        version_of(v)
                            .ok_or_else(|| bad_input(op, "null or the expected version"))?,
                    ),
                };
                if let Some(out) = op.output().filter(|o| !o.is_null()) {
                    return Err(bad_output(op, out, "null"));
                }
                Ok(VkvOp::Remove {
                    expected,
                    known: op.output().is_some(),
                })
            }
            "incr" => {
                no_input(op)?;
                if let Some(out) = op.output().filter(|o| !o.is_null()) {
                    return Err(bad_output(op, out, "null"));
                }
                Ok(VkvOp::Incr {
                    known: op.output().is_some(),
                })
            }
            "stamp" => {
                no_input(op)?;
                Ok(VkvOp::Stamp(op.output().map(Atom::from_json)))
            }
            _ => Err(unknown(op, FUNCTIONS)),
        }
    }

    fn step(&self, state: &State, op: &VkvOp) -> Option<State> {
        let version = state.as_ref().map_or(0, |(_, v)| *v);
        let matches = |e: &Option<u64>| e.is_none_or(|e| e == version);
        match op {
            VkvOp::Get(None) => Some(state.clone()),
            VkvOp::Get(Some(None)) => state.is_none().then_some(None),
            VkvOp::Get(Some(Some((v, ver)))) => match state {
                Some((held, n)) if n == ver && held.as_ref().is_none_or(|h| h == v) => {
                    Some(state.clone())
                }
                _ => None,
            },
            VkvOp::Set {
                value,
                expected,
                version: out,
                known,
            } => {
                if !matches(expected) {
                    // An ok set found its version; one of unknown outcome
                    // that did not would have failed and changed nothing.
                    return (!known).then(|| state.clone());
                }
                let next = version + 1;
                if out.is_some_and(|o| o != next) {
                    return None;
                }
                Some(Some((Some(value.clone()), next)))
            }
            VkvOp::Remove { expected, known } => {
                if state.is_none() || !matches(expected) {
                    return (!known).then(|| state.clone());
                }
                Some(None)
            }
            VkvOp::Incr { known } => match state {
                None => Some(Some((Some(Atom::Int(1)), 1))),
                Some((Some(Atom::Int(n)), ver)) => {
                    Some(Some((Some(Atom::Int(n.checked_add(1)?)), ver + 1)))
                }
                Some((None, ver)) => Some(Some((None, ver + 1))),
                Some(_) => (!known).then(|| state.clone()),
            },
            VkvOp::Stamp(v) => Some(Some((v.clone(), version + 1))),
            VkvOp::Failed(r) => {
                let holds = match *r {
                    Refusal::At { n, expected } => version == n && expected.is_none_or(|e| e != n),
                    Refusal::Absent => state.is_none(),
                    Refusal::Not(expected) => version != expected,
                    Refusal::AbsentOrNot(e) => state.is_none() || e.is_some_and(|e| e != version),
                };
                holds.then(|| state.clone())
            }
        }
    }

    fn read_only(&self, op: &VkvOp) -> bool {
        matches!(op, VkvOp::Get(_) | VkvOp::Failed(_))
    }
}

/// The registered checker: the [`Spec`] search, given the judged `fail`s
/// as operations that completed (with the marker [`FAILED`] as output) and
/// without the `fail`s that say nothing about the key.
#[derive(Debug)]
struct Judged;

impl KeyChecker for Judged {
    fn validate(&self, op: &Operation) -> Result<(), ShapeError> {
        VersionedKv.prepare(op).map(|_| ())
    }

    fn keeps_failed(&self) -> bool {
        true
    }

    fn check_keys(
        &self,
        keys: &[(Option<&str>, Vec<&Operation>)],
        budget: u64,
        explain: bool,
    ) -> (Vec<KeyReport>, Option<Witness>) {
        let owned: Vec<(Option<&str>, Vec<Operation>)> = keys
            .iter()
            .map(|(key, ops)| {
                let ops = ops
                    .iter()
                    .filter_map(|op| {
                        let Some(c) = op.completion.as_ref().filter(|_| op.failed()) else {
                            return Some((*op).clone());
                        };
                        refusal(op, &c.value)?;
                        let mut judged = (*op).clone();
                        if let Some(c) = judged.completion.as_mut() {
                            c.kind = CompletionKind::Ok;
                            c.value = serde_json::json!({ FAILED: c.value.clone() });
                        }
                        Some(judged)
                    })
                    .collect();
                (*key, ops)
            })
            .collect();
        let refs: Vec<(Option<&str>, Vec<&Operation>)> = owned
            .iter()
            .map(|(k, ops)| (*k, ops.iter().collect()))
            .collect();
        KeyChecker::check_keys(&VersionedKv, &refs, budget, explain)
    }
}

#[cfg(test)]
mod tests {
    use crate::{check, History, Verdict};

    fn verdict(text: &str) -> Verdict {
        let h = History::parse_jsonl(text).expect("history");
        let m = super::super::by_name("versioned-kv", None).expect("model");
        check(&h, &m, crate::DEFAULT_BUDGET).expect("check").verdict
    }

    #[test]
    fn sets_bump_versions_and_gets_see_them() {
        let ok = r#"
{"process":0,"type":"invoke","f":"set","key":"x","value":5,"time":1}
{"process":0,"type":"ok","f":"set","key":"x","value":1,"time":2}
{"process":0,"type":"invoke","f":"set","key":"x","value":[6,1],"time":3}
{"process":0,"type":"ok","f":"set","key":"x","value":2,"time":4}
{"process":1,"type":"invoke","f":"get","key":"x","value":null,"time":5}
{"process":1,"type":"ok","f":"get","key":"x","value":[6,2],"time":6}
"#;
        assert_eq!(verdict(ok), Verdict::Linearizable);
        let stale = ok.replace("[6,2]", "[5,1]");
        assert_eq!(verdict(&stale), Verdict::NotLinearizable);
        let wrong_version = ok.replace("\"value\":2,\"time\":4", "\"value\":3,\"time\":4");
        assert_eq!(verdict(&wrong_version), Verdict::NotLinearizable);
    }

    #[test]
    fn two_cas_on_the_same_version_cannot_both_succeed() {
        let both = r#"
{"process":0,"type":"invoke","f":"set","key":"x","value":[1,0],"time":1}
{"process":1,"type":"invoke","f":"set","key":"x","value":[2,0],"time":1}
{"process":0,"type":"ok","f":"set","key":"x","value":1,"time":5}
{"process":1,"type":"ok","f":"set","key":"x","value":1,"time":5}
"#;
        assert_eq!(verdict(both), Verdict::NotLinearizable);
        let one_fails = both.replace(
            r#"{"process":1,"type":"ok","f":"set","key":"x","value":1,"time":5}"#,
            r#"{"process":1,"type":"fail","f":"set","key":"x","value":[2,0],"time":5}"#,
        );
        assert_eq!(verdict(&one_fails), Verdict::Linearizable);
        let one_unknown = both.replace(
            r#"{"process":1,"type":"ok","f":"set","key":"x","value":1,"time":5}"#,
            r#"{"process":1,"type":"info","f":"set","key":"x","value":[2,0],"time":5}"#,
        );
        assert_eq!(verdict(&one_unknown), Verdict::Linearizable);
    }

    #[test]
    fn a_fail_is_judged_when_it_says_something_about_the_key() {
        // The audit's h11: a CAS on version 1 fails although the key is at
        // version 1 (a later get sees it unchanged).
        let spurious = r#"
{"process":0,"type":"invoke","f":"set","key":"x","value":5,"time":1}
{"process":0,"type":"ok","f":"set","key":"x","value":1,"time":2}
{"process":0,"type":"invoke","f":"set","key":"x","value":[6,1],"time":3}
{"process":0,"type":"fail","f":"set","key":"x","value":[6,1],"time":4}
{"process":1,"type":"invoke","f":"get","key":"x","value":null,"time":5}
{"process":1,"type":"ok","f":"get","key":"x","value":[5,1],"time":6}
"#;
        assert_eq!(verdict(spurious), Verdict::NotLinearizable);
        let honest = spurious.replace("[6,1],\"time\":3", "[6,0],\"time\":3");
        assert_eq!(
            verdict(&honest),
            Verdict::Linearizable,
            "version 0 did not match"
        );
        // dsim's own reason: the version the key was at when it failed.
        let at = |n: u64| {
            spurious.replace(
                r#""type":"fail","f":"set","key":"x","value":[6,1],"time":4"#,
                &format!(
                    r#""type":"fail","f":"set","key":"x","value":"version mismatch (the key is at version {n})","time":4"#
                ),
            )
        };
        assert_eq!(
            verdict(&at(1)),
            Verdict::NotLinearizable,
            "it was at 1, and 1 matches"
        );
        assert_eq!(
            verdict(&at(2)),
            Verdict::NotLinearizable,
            "it was never at 2"
        );
        // A refusal that says nothing about the key is dropped.
        let refused = spurious.replace(
            r#""type":"fail","f":"set","key":"x","value":[6,1],"time":4"#,
            r#""type":"fail","f":"set","key":"x","value":"not leader: rejected at record 3","time":4"#,
        );
        assert_eq!(verdict(&refused), Verdict::Linearizable);
        // A remove that fails on a present key claiming it is absent.
        let absent = r#"
{"process":0,"type":"invoke","f":"set","key":"x","value":5,"time":1}
{"process":0,"type":"ok","f":"set","key":"x","value":1,"time":2}
{"process":0,"type":"invoke","f":"remove","key":"x","value":null,"time":3}
{"process":0,"type":"fail","f":"remove","key":"x","value":"no such key","time":4}
"#;
        assert_eq!(verdict(absent), Verdict::NotLinearizable);
        // An incr that failed at version 1 while a concurrent set moved it.
        let incr = r#"
{"process":0,"type":"invoke","f":"set","key":"x","value":5,"time":1}
{"process":0,"type":"ok","f":"set","key":"x","value":1,"time":2}
{"process":1,"type":"invoke","f":"incr","key":"x","value":null,"time":3}
{"process":1,"type":"fail","f":"incr","key":"x","value":"version mismatch (the key is at version 1)","time":4}
"#;
        assert_eq!(verdict(incr), Verdict::Linearizable);
        assert_eq!(
            verdict(&incr.replace("at version 1)", "at version 3)")),
            Verdict::NotLinearizable
        );
    }

    #[test]
    fn remove_deletes_the_version_and_absent_reads_are_null() {
        let h = r#"
{"process":0,"type":"invoke","f":"set","key":"x","value":5,"time":1}
{"process":0,"type":"ok","f":"set","key":"x","value":1,"time":2}
{"process":0,"type":"invoke","f":"remove","key":"x","value":1,"time":3}
{"process":0,"type":"ok","f":"remove","key":"x","value":null,"time":4}
{"process":0,"type":"invoke","f":"get","key":"x","value":null,"time":5}
{"process":0,"type":"ok","f":"get","key":"x","value":null,"time":6}
{"process":0,"type":"invoke","f":"set","key":"x","value":7,"time":7}
{"process":0,"type":"ok","f":"set","key":"x","value":1,"time":8}
"#;
        assert_eq!(verdict(h), Verdict::Linearizable);
        let remove_absent = r#"
{"process":0,"type":"invoke","f":"remove","key":"y","value":null,"time":1}
{"process":0,"type":"ok","f":"remove","key":"y","value":null,"time":2}
"#;
        assert_eq!(verdict(remove_absent), Verdict::NotLinearizable);
    }

    #[test]
    fn an_incr_is_atomic_so_a_lost_update_is_not_linearizable() {
        let lost = r#"
{"process":0,"type":"invoke","f":"incr","key":"x","value":null,"time":1}
{"process":1,"type":"invoke","f":"incr","key":"x","value":null,"time":1}
{"process":0,"type":"ok","f":"incr","key":"x","value":null,"time":5}
{"process":1,"type":"ok","f":"incr","key":"x","value":null,"time":5}
{"process":2,"type":"invoke","f":"get","key":"x","value":null,"time":6}
{"process":2,"type":"ok","f":"get","key":"x","value":[1,1],"time":7}
"#;
        assert_eq!(verdict(lost), Verdict::NotLinearizable);
        assert_eq!(
            verdict(&lost.replace("[1,1]", "[2,2]")),
            Verdict::Linearizable
        );
    }

    #[test]
    fn a_stamp_of_unknown_outcome_may_have_written_anything() {
        let h = r#"
{"process":0,"type":"invoke","f":"stamp","key":"x","value":null,"time":1}
{"process":0,"type":"info","f":"stamp","key":"x","value":null,"time":2}
{"process":1,"type":"invoke","f":"get","key":"x","value":null,"time":3}
{"process":1,"type":"ok","f":"get","key":"x","value":[77,1],"time":4}
"#;
        assert_eq!(verdict(h), Verdict::Linearizable);
        assert_eq!(
            verdict(&h.replace("[77,1]", "[77,2]")),
            Verdict::NotLinearizable
        );
        let known = h.replace(
            r#"{"process":0,"type":"info","f":"stamp","key":"x","value":null,"time":2}"#,
            r#"{"process":0,"type":"ok","f":"stamp","key":"x","value":5,"time":2}"#,
        );
        assert_eq!(
            verdict(&known),
            Verdict::NotLinearizable,
            "it wrote 5, not 77"
        );
    }

    #[test]
    fn bad_shapes_are_refused_by_name() {
        let h = History::parse_jsonl(
            r#"{"process":0,"type":"invoke","f":"get","key":"x","value":null,"time":1}
{"process":0,"type":"ok","f":"get","key":"x","value":5,"time":2}"#,
        )
        .expect("history");
        let m = super::super::by_name("versioned-kv", None).expect("model");
        let err = check(&h, &m, crate::DEFAULT_BUDGET).expect_err("shape");
        assert!(
            err.to_string().contains("[value, version] or null"),
            "{err}"
        );
    }
}
