//! Targeted message faults: a rule in the schedule that picks messages by
//! sender, receiver, kind, a field's value and an occurrence number, and
//! drops, duplicates, delays or holds them.
//!
//! Rules are data, applied at the one place every message passes (the
//! engine's send). A run without rules never serializes a message for them:
//! the engine tests `Rules::is_empty` and goes on.
//!
//! A message's **kind** is read from its serialized form, the way serde
//! writes a Rust enum or a JSON protocol's envelope:
//! - a string (a unit variant): the string;
//! - an object with a `body` object that has a tag field (`type`,
//!   `msg_type`, `kind` or `via`, in that order): that tag (Maelstrom's
//!   `{src, dest, body: {type}}`; a transport wrapper around a message);
//! - an object with a tag field: the tag (an internally tagged enum);
//! - an object with exactly one member: its name (serde's default,
//!   externally tagged enum, `{"prepare_ok": {...}}`).
//!
//! A **field** is a dotted path looked up first in the kind's object (the
//! variant's content, or the `body`), then in the whole message.

use serde::Serialize;
use serde_json::Value as Json;

use crate::{NodeId, Time};

/// Which messages a rule takes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MessageMatch {
    /// Senders (empty: any).
    pub from: Vec<NodeId>,
    /// Receivers (empty: any).
    pub to: Vec<NodeId>,
    /// The message kind (`None`: any). Serialized as `msg`, as in
    /// scenario files (`kind` names the fault).
    #[serde(rename = "msg")]
    pub kind: Option<String>,
    /// A field's dotted path and the value it must have.
    pub field: Option<(String, Json)>,
}

/// What a rule does to a message it takes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Lose it.
    Drop,
    /// Deliver it, and `copies` more times, each copy with its own latency.
    Duplicate {
        /// Extra copies.
        copies: u32,
    },
    /// Deliver it `by_us` later than the network would.
    Delay {
        /// Added delay.
        by_us: Time,
    },
    /// Deliver it no earlier than `until_us` (global time).
    Hold {
        /// Earliest delivery.
        until_us: Time,
    },
}

impl RuleAction {
    /// The name used in traces and reports.
    pub fn name(&self) -> &'static str {
        match self {
            RuleAction::Drop => "drop",
            RuleAction::Duplicate { .. } => "duplicate",
            RuleAction::Delay { .. } => "delay",
            RuleAction::Hold { .. } => "hold",
        }
    }
}

/// A targeted message fault, active from its place in the schedule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageRule {
    /// Which messages.
    #[serde(flatten)]
    pub matches: MessageMatch,
    /// Only the n-th matching message (1-based) sent while the rule is
    /// active; `None`: every one.
    pub occurrence: Option<u64>,
    /// The rule ends at this global time (`None`: at the final heal).
    pub until_us: Option<Time>,
    /// What happens to a message it takes.
    pub action: RuleAction,
}

/// A message's kind and the object its fields are looked up in.
pub fn kind_of(v: &Json) -> (Option<&str>, Option<&Json>) {
    const TAGS: [&str; 4] = ["type", "msg_type", "kind", "via"];
    fn tag(o: &serde_json::Map<String, Json>) -> Option<&str> {
        TAGS.iter().find_map(|t| o.get(*t).and_then(Json::as_str))
    }
    match v {
        Json::String(s) => (Some(s), None),
        Json::Object(o) => {
            if let Some(body @ Json::Object(b)) = o.get("body") {
                if let Some(k) = tag(b) {
                    return (Some(k), Some(body));
                }
            }
            if let Some(k) = tag(o) {
                return (Some(k), Some(v));
            }
            if o.len() == 1 {
                let (k, inner) = o.iter().next().expect("one member");
                return (Some(k), Some(inner));
            }
            (None, Some(v))
        }
        _ => (None, None),
    }
}

/// The value at dotted `path` in `v`, if any.
fn at_path<'a>(v: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('.').try_fold(v, |v, seg| match v {
        Json::Object(o) => o.get(seg),
        Json::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// True when message `v` (serialized) has `path` equal to `want`.
pub fn field_is(v: &Json, path: &str, want: &Json) -> bool {
    let (_, inner) = kind_of(v);
    inner
        .and_then(|i| at_path(i, path))
        .or_else(|| at_path(v, path))
        .is_some_and(|x| x == want)
}

struct Active {
    /// The rule's index in the fault schedule (how reports name it).
    id: usize,
    rule: MessageRule,
    seen: u64,
}

/// The rules in force during a run.
#[derive(Default)]
pub struct Rules {
    active: Vec<Active>,
    needs_json: bool,
}

/// A rule's decision on one message.
#[derive(Clone, Debug, PartialEq)]
pub struct Taken {
    /// The rule's index in the fault schedule.
    pub rule: usize,
    /// What happens to the message.
    pub action: RuleAction,
}

impl Rules {
    /// True when no rule is in force (the engine's fast path).
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Puts rule `id` (its index in the schedule) in force.
    pub fn add(&mut self, id: usize, rule: MessageRule) {
        self.active.push(Active { id, rule, seen: 0 });
        self.refresh();
    }

    fn refresh(&mut self) {
        self.needs_json = self
            .active
            .iter()
            .any(|a| a.rule.matches.kind.is_some() || a.rule.matches.field.is_some());
    }

    /// Ends every rule whose time is up at `now` (and all of them when
    /// `all`); returns the ids of the rules ended.
    pub fn expire(&mut self, now: Time, all: bool) -> Vec<usize> {
        let mut ended = Vec::new();
        self.active.retain(|a| {
            let over = all || a.rule.until_us.is_some_and(|u| now >= u) || spent(a);
            if over {
                ended.push(a.id);
            }
            !over
        });
        self.refresh();
        ended
    }

    /// True while some rule can still take a message.
    pub fn any_live(&self, now: Time) -> bool {
        self.active
            .iter()
            .any(|a| !spent(a) && a.rule.until_us.is_none_or(|u| now < u))
    }

    /// The decision for a message `from` → `to` sent at `now`: the first
    /// rule in schedule order that takes it. Every rule that matches counts
    /// the message towards its occurrence number, whether or not an
    /// earlier rule took it.
    pub fn apply<M: Serialize>(
        &mut self,
        now: Time,
        from: NodeId,
        to: NodeId,
        msg: &M,
    ) -> Option<Taken> {
        let json = if self.needs_json {
            serde_json::to_value(msg).unwrap_or(Json::Null)
        } else {
            Json::Null
        };
        let mut taken = None;
        for a in &mut self.active {
            let r = &a.rule;
            let m = &r.matches;
            if r.until_us.is_some_and(|u| now >= u)
                || (!m.from.is_empty() && !m.from.contains(&from))
                || (!m.to.is_empty() && !m.to.contains(&to))
            {
                continue;
            }
            if let Some(k) = &m.kind {
                if kind_of(&json).0 != Some(k.as_str()) {
                    continue;
                }
            }
            if let Some((path, want)) = &m.field {
                if !field_is(&json, path, want) {
                    continue;
                }
            }
            a.seen += 1;
            let fires = r.occurrence.is_none_or(|n| a.seen == n);
            if fires && taken.is_none() {
                taken = Some(Taken {
                    rule: a.id,
                    action: r.action.clone(),
                });
            }
        }
        taken
    }
}

/// A rule for one occurrence that already took its message.
fn spent(a: &Active) -> bool {
    a.rule.occurrence.is_some_and(|n| a.seen >= n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_follow_serdes_enum_shapes_and_envelopes() {
        assert_eq!(kind_of(&json!("ping")).0, Some("ping"));
        assert_eq!(
            kind_of(&json!({"prepare_ok": {"op": 7}})).0,
            Some("prepare_ok")
        );
        assert_eq!(kind_of(&json!({"type": "echo", "echo": 1})).0, Some("echo"));
        let maelstrom = json!({"src": "c1", "dest": "n1", "body": {"type": "read", "msg_id": 4}});
        assert_eq!(kind_of(&maelstrom).0, Some("read"));
        let wrapped = json!({"via": "tcp", "seq": 3, "body": {"msg_type": "sync_data"}});
        assert_eq!(kind_of(&wrapped).0, Some("sync_data"));
        assert_eq!(kind_of(&json!({"via": "ack", "seq": 3})).0, Some("ack"));
        assert_eq!(kind_of(&json!({"a": 1, "b": 2})).0, None);
        assert!(field_is(&json!({"prepare": {"op": 7}}), "op", &json!(7)));
        assert!(!field_is(&json!({"prepare": {"op": 8}}), "op", &json!(7)));
        assert!(
            field_is(&wrapped, "seq", &json!(3)),
            "falls back to the whole message"
        );
        assert!(field_is(
            &json!({"x": {"log": [{"op": 2}]}}),
            "log.0.op",
            &json!(2)
        ));
    }

    fn rule(kind: &str, occurrence: Option<u64>, action: RuleAction) -> MessageRule {
        MessageRule {
            matches: MessageMatch {
                to: vec![1],
                kind: Some(kind.into()),
                ..MessageMatch::default()
            },
            occurrence,
            until_us: None,
            action,
        }
    }

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Msg {
        Prepare { op: u64 },
        PrepareOk { op: u64 },
    }

    #[test]
    fn an_occurrence_takes_exactly_the_nth_match_and_is_then_spent() {
        let mut r = Rules::default();
        r.add(4, rule("prepare_ok", Some(2), RuleAction::Drop));
        let ok = |op| Msg::PrepareOk { op };
        assert_eq!(r.apply(0, 0, 1, &ok(1)), None);
        assert_eq!(r.apply(0, 0, 2, &ok(2)), None, "other receiver: no match");
        assert_eq!(
            r.apply(0, 0, 1, &Msg::Prepare { op: 3 }),
            None,
            "other kind"
        );
        let t = r.apply(0, 0, 1, &ok(4)).expect("second match");
        assert_eq!((t.rule, t.action), (4, RuleAction::Drop));
        assert_eq!(r.apply(0, 0, 1, &ok(5)), None);
        assert!(!r.any_live(0));
        assert_eq!(r.expire(0, false), vec![4]);
        assert!(r.is_empty());
    }

    #[test]
    fn the_first_rule_decides_and_every_match_counts() {
        let mut r = Rules::default();
        let mut first = rule("prepare", None, RuleAction::Delay { by_us: 5 });
        first.matches.field = Some(("op".into(), json!(7)));
        first.until_us = Some(100);
        r.add(0, first);
        r.add(1, rule("prepare", Some(2), RuleAction::Drop));
        let p = |op| Msg::Prepare { op };
        assert_eq!(r.apply(10, 0, 1, &p(7)).map(|t| t.rule), Some(0));
        // Rule 1 counted the op-7 prepare: this is its second match.
        assert_eq!(r.apply(10, 0, 1, &p(8)).map(|t| t.rule), Some(1));
        assert_eq!(r.apply(99, 0, 1, &p(7)).map(|t| t.rule), Some(0));
        assert_eq!(r.apply(100, 0, 1, &p(7)), None, "rule 0 ended at 100");
        assert_eq!(r.expire(100, false), vec![0, 1]);
    }
}
