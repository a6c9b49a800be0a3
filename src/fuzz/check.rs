//! Validation of a scenario's `fuzz` block: ranges in order, intervals that
//! let time advance, kinds the node count allows, and a bound on how many
//! faults a seed may generate. Defaults that depend on the scenario (the
//! partition kinds, the nodes that may crash, the clock changes) are filled
//! in here so that `--print-scenario` shows them.

use crate::scenario::raw::{
    PartitionKind, RawFuzz, RawFuzzClock, RawFuzzCrash, RawFuzzMessages, RawFuzzPartitions,
    RawFuzzPauses, RawRuleAction,
};

/// The most faults one seed's expansion may hold.
pub const MAX_FAULTS: u64 = 100_000;

/// The most extra copies a generated `duplicate` rule may ask for (as a
/// `message` fault allows).
pub const MAX_COPIES: u32 = 100;

/// One step of a field path under `fuzz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// An object member.
    Key(&'static str),
    /// An array element.
    Index(usize),
}

/// A problem in the `fuzz` block: where (below `fuzz`) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The path below `fuzz`.
    pub path: Vec<Step>,
    /// What is wrong and what is allowed.
    pub message: String,
}

type R = Result<(), FieldError>;

fn err(path: &[Step], message: impl Into<String>) -> FieldError {
    FieldError {
        path: path.to_vec(),
        message: message.into(),
    }
}

use Step::{Index, Key};

/// Checks `f` for a scenario of `nodes` nodes and fills its defaults.
pub fn validate(f: &mut RawFuzz, nodes: usize, down_at_start: &[u64]) -> R {
    if f.until_ms > crate::scenario::MAX_MS {
        return Err(err(
            &[Key("until_ms")],
            format!(
                "at most {} ms (about 31 years), got {}",
                crate::scenario::MAX_MS,
                f.until_ms
            ),
        ));
    }
    if f.until_ms <= f.from_ms {
        return Err(err(
            &[Key("until_ms")],
            format!(
                "must be after from_ms ({}): generated faults start in from_ms..until_ms",
                f.from_ms
            ),
        ));
    }
    let span = f.until_ms - f.from_ms;
    let mut total = 0u64;
    if let Some(p) = f.partitions.as_mut() {
        total += partitions(p, nodes, span)?;
        ends(
            f.until_ms,
            p.duration_ms,
            &[Key("partitions"), Key("duration_ms")],
        )?;
    }
    if let Some(fl) = &f.flapping {
        let at = [Key("flapping")];
        let Some(p) = &f.partitions else {
            return Err(err(
                &at,
                "flapping makes partition episodes flap; add a fuzz.partitions block",
            ));
        };
        prob(fl.probability, &[Key("flapping"), Key("probability")])?;
        range(fl.period_ms, &[Key("flapping"), Key("period_ms")], 1)?;
        // A flapping episode cuts once per two periods of its duration.
        total = total.saturating_mul(p.duration_ms[1] / (2 * fl.period_ms[0]) + 1);
    }
    if let Some(c) = f.crash_restart.as_mut() {
        total += crash(c, nodes, down_at_start, span)?;
        ends(
            f.until_ms,
            c.down_ms,
            &[Key("crash_restart"), Key("down_ms")],
        )?;
    }
    if let Some(c) = f.clock.as_mut() {
        total += clock(c, span)?;
    }
    if let Some(l) = &f.loss_bursts {
        let at = |k| [Key("loss_bursts"), Key(k)];
        range(l.interval_ms, &at("interval_ms"), 1)?;
        range(l.duration_ms, &at("duration_ms"), 1)?;
        ends(f.until_ms, l.duration_ms, &at("duration_ms"))?;
        prob_range(l.drop, &at("drop"))?;
        prob_range(l.duplicate, &at("duplicate"))?;
        total += episodes(span, l.interval_ms[0] + l.duration_ms[0]);
    }
    if let Some(p) = f.pauses.as_mut() {
        total += pauses(p, nodes, down_at_start, span)?;
        ends(
            f.until_ms,
            p.duration_ms,
            &[Key("pauses"), Key("duration_ms")],
        )?;
    }
    if let Some(m) = &f.messages {
        total += messages(m, span)?;
    }
    if total > MAX_FAULTS {
        return Err(err(
            &[],
            format!(
                "could generate up to {total} faults per seed; at most {MAX_FAULTS}: \
                 raise the smallest interval_ms, duration_ms or period_ms, or narrow from_ms..until_ms"
            ),
        ));
    }
    Ok(())
}

/// Episodes that fit in `span` when each takes at least `each` ms.
fn episodes(span: u64, each: u64) -> u64 {
    span / each.max(1) + 1
}

fn partitions(p: &mut RawFuzzPartitions, nodes: usize, span: u64) -> Result<u64, FieldError> {
    let at = Key("partitions");
    if nodes < 2 {
        return Err(err(
            &[at],
            format!("partitions need at least 2 nodes; this scenario has {nodes}"),
        ));
    }
    let allowed: Vec<&str> = PartitionKind::ALL.iter().map(|k| k.name()).collect();
    let kinds = p.kinds.get_or_insert_with(|| {
        PartitionKind::ALL
            .into_iter()
            .filter(|k| k.min_nodes() <= nodes)
            .collect()
    });
    if kinds.is_empty() {
        return Err(err(
            &[at, Key("kinds")],
            format!(
                "must list at least one kind; allowed: {}",
                allowed.join(", ")
            ),
        ));
    }
    for (i, k) in kinds.iter().enumerate() {
        let here = [at, Key("kinds"), Index(i)];
        if k.min_nodes() > nodes {
            return Err(err(
                &here,
                format!(
                    "kind {} needs at least {} nodes; this scenario has {nodes}",
                    k.name(),
                    k.min_nodes()
                ),
            ));
        }
        if kinds[..i].contains(k) {
            return Err(err(&here, format!("kind {} is listed twice", k.name())));
        }
    }
    range(p.interval_ms, &[at, Key("interval_ms")], 1)?;
    range(p.duration_ms, &[at, Key("duration_ms")], 1)?;
    // A majorities ring cuts with one fault per node, plus the heal.
    let per_episode = nodes as u64 + 1;
    Ok(episodes(span, p.interval_ms[0] + p.duration_ms[0]).saturating_mul(per_episode))
}

fn crash(c: &mut RawFuzzCrash, nodes: usize, down: &[u64], span: u64) -> Result<u64, FieldError> {
    let at = Key("crash_restart");
    replicas(&mut c.nodes, at, "crash", nodes, down)?;
    range(c.interval_ms, &[at, Key("interval_ms")], 1)?;
    range(c.down_ms, &[at, Key("down_ms")], 1)?;
    Ok(2 * episodes(span, c.interval_ms[0] + c.down_ms[0]))
}

/// The replica ids of `crash_restart.nodes` or `pauses.nodes`: defaulted to
/// every replica not down at start, in range, each once.
fn replicas(list: &mut Option<Vec<u64>>, at: Step, what: &str, nodes: usize, down: &[u64]) -> R {
    let list =
        list.get_or_insert_with(|| (0..nodes as u64).filter(|x| !down.contains(x)).collect());
    if list.is_empty() {
        return Err(err(
            &[at, Key("nodes")],
            format!("no node may {what}: list at least one node that is not down at start"),
        ));
    }
    for (i, &x) in list.iter().enumerate() {
        let here = [at, Key("nodes"), Index(i)];
        if x as usize >= nodes {
            return Err(err(
                &here,
                format!(
                    "node id {x} is out of range; this scenario has nodes 0..{}",
                    nodes - 1
                ),
            ));
        }
        if list[..i].contains(&x) {
            return Err(err(&here, format!("node {x} is listed twice")));
        }
    }
    Ok(())
}

fn pauses(p: &mut RawFuzzPauses, nodes: usize, down: &[u64], span: u64) -> Result<u64, FieldError> {
    let at = Key("pauses");
    replicas(&mut p.nodes, at, "pause", nodes, down)?;
    range(p.interval_ms, &[at, Key("interval_ms")], 1)?;
    range(p.duration_ms, &[at, Key("duration_ms")], 1)?;
    Ok(2 * episodes(span, p.interval_ms[0] + p.duration_ms[0]))
}

fn messages(m: &RawFuzzMessages, span: u64) -> Result<u64, FieldError> {
    let at = |k| [Key("messages"), Key(k)];
    if let Some(kinds) = &m.kinds {
        if kinds.is_empty() {
            return Err(err(
                &at("kinds"),
                "must list at least one message kind, or be left out to take \
                 the kinds a probe run sends",
            ));
        }
        for (i, k) in kinds.iter().enumerate() {
            let here = [Key("messages"), Key("kinds"), Index(i)];
            if k.is_empty() {
                return Err(err(&here, "a message kind is a non-empty string"));
            }
            if kinds[..i].contains(k) {
                return Err(err(&here, format!("kind {k:?} is listed twice")));
            }
        }
    }
    let allowed: Vec<&str> = RawRuleAction::ALL.iter().map(|a| a.name()).collect();
    if m.actions.is_empty() {
        return Err(err(
            &at("actions"),
            format!(
                "must list at least one action; allowed: {}",
                allowed.join(", ")
            ),
        ));
    }
    for (i, a) in m.actions.iter().enumerate() {
        if m.actions[..i].contains(a) {
            let here = [Key("messages"), Key("actions"), Index(i)];
            return Err(err(&here, format!("action {} is listed twice", a.name())));
        }
    }
    range(m.interval_ms, &at("interval_ms"), 1)?;
    range(m.window_ms, &at("window_ms"), 1)?;
    prob(m.occurrence, &at("occurrence"))?;
    range(m.delay_ms, &at("delay_ms"), 1)?;
    let [lo, hi] = m.copies;
    if lo > hi {
        return Err(err(
            &at("copies"),
            format!("[min, max] needs min <= max, got [{lo}, {hi}]"),
        ));
    }
    if lo < 1 || hi > MAX_COPIES {
        return Err(err(
            &at("copies"),
            format!("extra copies must be from 1 to {MAX_COPIES}, got [{lo}, {hi}]"),
        ));
    }
    Ok(episodes(span, m.interval_ms[0] + m.window_ms[0]))
}

fn clock(c: &mut RawFuzzClock, span: u64) -> Result<u64, FieldError> {
    let at = |k| [Key("clock"), Key(k)];
    if c.skew_ms.is_none() && c.jump_ms.is_none() && c.drift_ppm.is_none() {
        c.skew_ms = Some([-1000, 1000]);
        c.jump_ms = Some([-1000, 1000]);
    }
    range(c.interval_ms, &at("interval_ms"), 1)?;
    for (r, k) in [
        (c.skew_ms, "skew_ms"),
        (c.jump_ms, "jump_ms"),
        (c.drift_ppm, "drift_ppm"),
    ] {
        if let Some([lo, hi]) = r {
            if lo > hi {
                return Err(err(
                    &at(k),
                    format!("[min, max] needs min <= max, got [{lo}, {hi}]"),
                ));
            }
        }
    }
    if let Some([lo, _]) = c.drift_ppm {
        if lo <= -1_000_000 {
            return Err(err(
                &at("drift_ppm"),
                "must stay above -1000000 (a clock cannot stop or run backwards)",
            ));
        }
    }
    Ok(episodes(span, c.interval_ms[0]))
}

/// An episode starts before `until_ms` and lasts up to `r[1]` ms: its
/// end (a heal, restart, resume or the end of a burst in the expanded
/// schedule) must be a time a scenario may hold, or the expanded file
/// would fail on a fault this file does not have.
fn ends(until_ms: u64, r: [u64; 2], at: &[Step]) -> R {
    let most = crate::scenario::MAX_MS;
    if until_ms.saturating_add(r[1]) > most {
        return Err(err(
            at,
            format!(
                "an episode starting before until_ms ({until_ms}) and lasting up to {} ms could end after {most} ms (about 31 years); allowed: at most {} ms here",
                r[1],
                most - until_ms
            ),
        ));
    }
    Ok(())
}

fn range(r: [u64; 2], at: &[Step], min: u64) -> R {
    let [lo, hi] = r;
    if lo > hi {
        return Err(err(
            at,
            format!("[min, max] needs min <= max, got [{lo}, {hi}]"),
        ));
    }
    if lo < min {
        return Err(err(
            at,
            format!("the smallest value must be at least {min} ms, got [{lo}, {hi}]"),
        ));
    }
    let most = crate::scenario::MAX_MS;
    if hi > most {
        return Err(err(
            at,
            format!("at most {most} ms (about 31 years), got [{lo}, {hi}]"),
        ));
    }
    Ok(())
}

fn prob(x: f64, at: &[Step]) -> R {
    if (0.0..=1.0).contains(&x) {
        Ok(())
    } else {
        Err(err(
            at,
            format!("probability {x} is out of range; allowed: a number from 0 to 1"),
        ))
    }
}

fn prob_range(r: [f64; 2], at: &[Step]) -> R {
    prob(r[0], at)?;
    prob(r[1], at)?;
    if r[0] > r[1] {
        return Err(err(
            at,
            format!("[min, max] needs min <= max, got [{}, {}]", r[0], r[1]),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error for block `json` on 3 nodes (node 2 down at start), as
    /// `path: message`.
    fn error(json: serde_json::Value) -> String {
        let mut f: RawFuzz = serde_json::from_value(json).expect("parses");
        let e = validate(&mut f, 3, &[2]).expect_err("is refused");
        let path: Vec<String> = e
            .path
            .iter()
            .map(|s| match s {
                Key(k) => format!(".{k}"),
                Index(i) => format!("[{i}]"),
            })
            .collect();
        format!("{}: {}", path.concat(), e.message)
    }

    fn ok(json: serde_json::Value) -> RawFuzz {
        let mut f: RawFuzz = serde_json::from_value(json).expect("parses");
        validate(&mut f, 3, &[2]).expect("is accepted");
        f
    }

    #[test]
    fn pauses_default_to_the_replicas_up_at_start_and_check_their_ranges() {
        let f = ok(serde_json::json!({"until_ms": 100, "pauses": {}}));
        let p = f.pauses.unwrap();
        assert_eq!(p.nodes, Some(vec![0, 1]));
        assert_eq!((p.interval_ms, p.duration_ms), ([200, 2000], [10, 500]));
        for (block, want) in [
            (
                serde_json::json!({"nodes": [3]}),
                ".pauses.nodes[0]: node id 3 is out of range; this scenario has nodes 0..2",
            ),
            (
                serde_json::json!({"nodes": [1, 1]}),
                ".pauses.nodes[1]: node 1 is listed twice",
            ),
            (
                serde_json::json!({"nodes": []}),
                ".pauses.nodes: no node may pause",
            ),
            (
                serde_json::json!({"interval_ms": [5, 4]}),
                ".pauses.interval_ms: [min, max] needs min <= max, got [5, 4]",
            ),
            (
                serde_json::json!({"duration_ms": [0, 4]}),
                ".pauses.duration_ms: the smallest value must be at least 1 ms",
            ),
        ] {
            let e = error(serde_json::json!({"until_ms": 100, "pauses": block}));
            assert!(e.starts_with(want), "{e}");
        }
    }

    #[test]
    fn messages_take_their_defaults_and_say_what_is_allowed() {
        let f = ok(serde_json::json!({"until_ms": 100, "messages": {}}));
        let m = f.messages.unwrap();
        assert_eq!(m.kinds, None, "left to the probe run");
        assert_eq!(m.actions, RawRuleAction::ALL.to_vec());
        for (block, want) in [
            (serde_json::json!({"kinds": []}), ".messages.kinds: must list at least one message kind"),
            (serde_json::json!({"kinds": ["a", ""]}), ".messages.kinds[1]: a message kind is a non-empty string"),
            (serde_json::json!({"kinds": ["a", "a"]}), ".messages.kinds[1]: kind \"a\" is listed twice"),
            (serde_json::json!({"actions": []}), ".messages.actions: must list at least one action; allowed: drop, duplicate, delay, hold"),
            (serde_json::json!({"actions": ["drop", "drop"]}), ".messages.actions[1]: action drop is listed twice"),
            (serde_json::json!({"window_ms": [0, 1]}), ".messages.window_ms: the smallest value must be at least 1 ms"),
            (serde_json::json!({"interval_ms": [9, 1]}), ".messages.interval_ms: [min, max] needs min <= max"),
            (serde_json::json!({"occurrence": 1.5}), ".messages.occurrence: probability 1.5 is out of range"),
            (serde_json::json!({"delay_ms": [0, 10]}), ".messages.delay_ms: the smallest value must be at least 1 ms"),
            (serde_json::json!({"copies": [0, 2]}), ".messages.copies: extra copies must be from 1 to 100, got [0, 2]"),
            (serde_json::json!({"copies": [3, 2]}), ".messages.copies: [min, max] needs min <= max, got [3, 2]"),
            (serde_json::json!({"copies": [1, 101]}), ".messages.copies: extra copies must be from 1 to 100"),
        ] {
            let e = error(serde_json::json!({"until_ms": 100, "messages": block}));
            assert!(e.starts_with(want), "{e}");
        }
    }

    #[test]
    fn new_generators_count_towards_the_fault_bound() {
        for block in [
            serde_json::json!({"until_ms": 10_000_000, "pauses": {"interval_ms": [1, 2], "duration_ms": [1, 2]}}),
            serde_json::json!({"until_ms": 10_000_000, "messages": {"interval_ms": [1, 2], "window_ms": [1, 2]}}),
        ] {
            assert!(error(block).contains("faults per seed; at most 100000"));
        }
    }
}
