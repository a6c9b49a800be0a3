//! The fault schedule: node references resolved against the run's layout,
//! ranges checked, milliseconds turned into microseconds, faults sorted.

use super::*;

/// The process `r` names in `layout`: a replica id, or a name (`n2`, a
/// service's name, `c0` for a client process).
pub(super) fn proc_ref(r: &NodeRef, layout: &Layout, src: &Src, at: &P) -> R<usize> {
    match r {
        NodeRef::Id(x) => {
            node(*x, layout.replicas, src, at)?;
            Ok(*x as usize)
        }
        NodeRef::Name(name) => layout.lookup(name).ok_or_else(|| {
            let mut names = vec![format!("0..{} (or n0..)", layout.replicas - 1)];
            names.extend(layout.services.iter().map(|s| format!("{s:?}")));
            if layout.clients > 0 {
                names.push(format!("\"c0\"..\"c{}\"", layout.clients - 1));
            }
            src.err(
                at,
                format!(
                    "no process is called {name:?} in this scenario; allowed: {}",
                    names.join(", ")
                ),
            )
        }),
    }
}

/// Microseconds from milliseconds, or an error naming the field.
pub(super) fn us(ms: u64, src: &Src, at: &P) -> R<u64> {
    if ms > crate::scenario::MAX_MS {
        return Err(src.err(
            at,
            format!(
                "{ms} ms is too long: at most {} ms (about 31 years)",
                crate::scenario::MAX_MS
            ),
        ));
    }
    Ok(ms * MS)
}

/// Signed microseconds from milliseconds (clock offsets and steps), or an
/// error naming the field.
pub(super) fn us_signed(ms: i64, src: &Src, at: &P) -> R<i64> {
    us(ms.unsigned_abs(), src, at)?;
    Ok(ms * MS as i64)
}

pub(super) fn faults(raw: &[RawFault], layout: &Layout, src: &Src) -> R<Vec<ScheduledFault>> {
    let mut out = Vec::new();
    for (i, f) in raw.iter().enumerate() {
        let at = p(&["faults"]).i(i);
        let one = |x: &NodeRef, field: &str| proc_ref(x, layout, src, &at.clone().k(field));
        let many = |xs: &[NodeRef], field: &str| -> R<Vec<usize>> {
            xs.iter()
                .enumerate()
                .map(|(j, x)| proc_ref(x, layout, src, &at.clone().k(field).i(j)))
                .collect()
        };
        let fault = match f {
            RawFault::Partition { groups, .. } => {
                let mut seen = vec![false; layout.total()];
                let mut gs = Vec::new();
                for (g, members) in groups.iter().enumerate() {
                    let gat = at.clone().k("groups").i(g);
                    let mut m = Vec::new();
                    for (j, x) in members.iter().enumerate() {
                        let id = proc_ref(x, layout, src, &gat.clone().i(j))?;
                        if std::mem::replace(&mut seen[id], true) {
                            return Err(
                                src.err(&gat, format!("{} is in two groups", layout.name(id)))
                            );
                        }
                        m.push(id);
                    }
                    gs.push(m);
                }
                Fault::Partition { groups: gs }
            }
            RawFault::PartitionOneWay { from, to, .. } => Fault::PartitionOneWay {
                from: many(from, "from")?,
                to: many(to, "to")?,
            },
            RawFault::Heal { .. } => Fault::Heal,
            RawFault::Crash { node, .. } => Fault::Crash {
                node: one(node, "node")?,
            },
            RawFault::Restart { node, .. } => Fault::Restart {
                node: one(node, "node")?,
            },
            RawFault::Pause { node, .. } => Fault::Pause {
                node: one(node, "node")?,
            },
            RawFault::Resume { node, .. } => Fault::Resume {
                node: one(node, "node")?,
            },
            RawFault::ClockSkew {
                node, offset_ms, ..
            } => Fault::ClockSkew {
                node: one(node, "node")?,
                offset_us: us_signed(*offset_ms, src, &at.clone().k("offset_ms"))?,
            },
            RawFault::ClockDrift {
                node, drift_ppm, ..
            } => {
                let node = one(node, "node")?;
                if *drift_ppm <= -1_000_000 {
                    return Err(src.err(
                        &at.k("drift_ppm"),
                        "must be above -1000000 (a clock cannot stop or run backwards)",
                    ));
                }
                Fault::ClockDrift {
                    node,
                    drift_ppm: *drift_ppm,
                }
            }
            RawFault::ClockJump { node, delta_ms, .. } => Fault::ClockJump {
                node: one(node, "node")?,
                delta_us: us_signed(*delta_ms, src, &at.clone().k("delta_ms"))?,
            },
            RawFault::LinkError { from, to, .. } => Fault::LinkError {
                from: one(from, "from")?,
                to: one(to, "to")?,
            },
            RawFault::Loss {
                drop,
                duplicate,
                for_ms,
                ..
            } => Fault::Loss {
                drop: prob(*drop, src, &at.clone().k("drop"))?,
                duplicate: prob(*duplicate, src, &at.clone().k("duplicate"))?,
                for_us: us(*for_ms, src, &at.clone().k("for_ms"))?,
            },
            RawFault::Message(r) => Fault::Message(rule(r, layout, src, &at)?),
        };
        out.push(ScheduledFault {
            at: us(f.at_ms(), src, &at.clone().k("at_ms"))?,
            fault,
        });
    }
    // A stable sort keeps same-time faults in file order.
    out.sort_by_key(|f| f.at);
    Ok(out)
}

use crate::fuzz::check::MAX_COPIES;

fn rule(r: &RawMessageRule, layout: &Layout, src: &Src, at: &P) -> R<MessageRule> {
    let many = |xs: &[NodeRef], field: &str| -> R<Vec<usize>> {
        xs.iter()
            .enumerate()
            .map(|(j, x)| proc_ref(x, layout, src, &at.clone().k(field).i(j)))
            .collect()
    };
    let field = match &r.where_ {
        None => None,
        Some(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().expect("one member");
            if k.is_empty() || k.split('.').any(str::is_empty) {
                return Err(src.err(
                    &at.clone().k("where"),
                    format!("{k:?} is not a field path; write a name or a dotted path such as \"body.op\""),
                ));
            }
            Some((k.clone(), v.clone()))
        }
        Some(_) => {
            return Err(src.err(
                &at.clone().k("where"),
                "name exactly one field and its value, e.g. {\"op\": 7}",
            ))
        }
    };
    if r.occurrence == Some(0) {
        return Err(src.err(
            &at.clone().k("occurrence"),
            "occurrences count from 1 (the first matching message)",
        ));
    }
    let until_us = match r.until_ms {
        Some(u) if u <= r.at_ms => {
            return Err(src.err(
                &at.clone().k("until_ms"),
                format!("must be after at_ms ({}), got {u}", r.at_ms),
            ))
        }
        Some(u) => Some(us(u, src, &at.clone().k("until_ms"))?),
        None => None,
    };
    // Each action takes its own setting and no other's.
    let settings = [
        ("copies", r.copies.is_some(), RawRuleAction::Duplicate),
        ("delay_ms", r.delay_ms.is_some(), RawRuleAction::Delay),
        (
            "hold_until_ms",
            r.hold_until_ms.is_some(),
            RawRuleAction::Hold,
        ),
    ];
    for (name, given, owner) in settings {
        if given && r.action != owner {
            return Err(src.err(
                &at.clone().k(name),
                format!("{name} goes with action {owner:?}, not {:?}", r.action).to_lowercase(),
            ));
        }
        if !given && r.action == owner {
            return Err(src.err(
                &at.clone().k("action"),
                format!("action {:?} needs {name}", r.action).to_lowercase(),
            ));
        }
    }
    let action = match r.action {
        RawRuleAction::Drop => RuleAction::Drop,
        RawRuleAction::Duplicate => {
            let copies = r.copies.unwrap_or(0);
            if copies == 0 || copies > MAX_COPIES {
                return Err(src.err(
                    &at.clone().k("copies"),
                    format!("must be from 1 to {MAX_COPIES}, got {copies}"),
                ));
            }
            RuleAction::Duplicate { copies }
        }
        RawRuleAction::Delay => RuleAction::Delay {
            by_us: us(r.delay_ms.unwrap_or(0), src, &at.clone().k("delay_ms"))?,
        },
        RawRuleAction::Hold => RuleAction::Hold {
            until_us: us(
                r.hold_until_ms.unwrap_or(0),
                src,
                &at.clone().k("hold_until_ms"),
            )?,
        },
    };
    Ok(MessageRule {
        matches: MessageMatch {
            from: many(&r.from, "from")?,
            to: many(&r.to, "to")?,
            kind: r.msg.clone(),
            field,
        },
        occurrence: r.occurrence,
        until_us,
        action,
    })
}
