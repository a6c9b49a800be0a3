use super::*;
use crate::scenario::raw::RawRuleAction;

fn block(json: serde_json::Value, n: usize) -> RawFuzz {
    let mut f: RawFuzz = serde_json::from_value(json).expect("fuzz block parses");
    crate::fuzz::check::validate(&mut f, n, &[]).expect("fuzz block validates");
    f
}

/// `hears[to][from]` after applying `cut` to a healed network of `n` nodes.
fn hears(cut: &Cut, n: usize) -> Vec<Vec<bool>> {
    let mut h = vec![vec![true; n]; n];
    match cut {
        Cut::Groups(groups) => {
            let group_of = |x: usize| groups.iter().position(|g| g.contains(&(x as u64)));
            for (to, row) in h.iter_mut().enumerate() {
                for (from, cell) in row.iter_mut().enumerate() {
                    *cell = group_of(to) == group_of(from);
                }
            }
        }
        Cut::OneWay(ways) => {
            for (from, to) in ways {
                for &a in from {
                    for &b in to {
                        if a != b {
                            h[b as usize][a as usize] = false;
                        }
                    }
                }
            }
        }
    }
    h
}

fn seeds() -> impl Iterator<Item = u64> {
    0..200
}

#[test]
fn group_kinds_are_partitions_of_all_nodes_into_two_sides() {
    use PartitionKind::*;
    for kind in [Halves, RandomHalves, MajorityMinority, IsolateOne] {
        for n in 2..10 {
            for seed in seeds() {
                let Cut::Groups(groups) = cut(kind, n, &mut Rng::derive(seed, "t")) else {
                    panic!("{kind:?} cuts by groups");
                };
                assert_eq!(groups.len(), 2, "{kind:?} n={n}: {groups:?}");
                assert!(groups.iter().all(|g| !g.is_empty()), "{kind:?}: {groups:?}");
                let mut all: Vec<u64> = groups.concat();
                all.sort_unstable();
                assert_eq!(
                    all,
                    (0..n as u64).collect::<Vec<_>>(),
                    "{kind:?}: {groups:?}"
                );
                let (a, b) = (groups[0].len(), groups[1].len());
                match kind {
                    Halves => assert_eq!(groups[0], (0..n as u64 / 2).collect::<Vec<_>>()),
                    RandomHalves => assert_eq!(a, n / 2),
                    MajorityMinority if n >= 3 => assert!(a < b, "{groups:?}"),
                    IsolateOne => assert_eq!(a, 1),
                    _ => {}
                }
            }
        }
    }
}

#[test]
fn bridge_shares_exactly_one_node_between_two_cut_sides() {
    for n in 3..10 {
        for seed in seeds() {
            let h = hears(
                &cut(PartitionKind::Bridge, n, &mut Rng::derive(seed, "t")),
                n,
            );
            let full: Vec<usize> = (0..n)
                .filter(|&x| (0..n).all(|y| h[x][y] && h[y][x]))
                .collect();
            assert_eq!(full.len(), 1, "n={n} seed={seed}: one bridge: {h:?}");
            let others: Vec<usize> = (0..n).filter(|&x| x != full[0]).collect();
            // The others form two non-empty sides: connected within, cut across.
            let side_a: Vec<usize> = others
                .iter()
                .copied()
                .filter(|&y| h[others[0]][y])
                .collect();
            assert!(
                !side_a.is_empty() && side_a.len() < others.len(),
                "n={n}: {h:?}"
            );
            for &x in &others {
                for &y in &others {
                    let same = side_a.contains(&x) == side_a.contains(&y);
                    assert_eq!(h[x][y], same, "n={n} seed={seed} {x}<-{y}: {h:?}");
                }
            }
        }
    }
}

#[test]
fn majorities_ring_gives_every_node_its_own_majority_view() {
    for n in 4..12 {
        for seed in seeds().take(50) {
            let h = hears(
                &cut(
                    PartitionKind::MajoritiesRing,
                    n,
                    &mut Rng::derive(seed, "t"),
                ),
                n,
            );
            let views: Vec<Vec<bool>> = h.clone();
            for (x, view) in views.iter().enumerate() {
                let sees = view.iter().filter(|&&b| b).count();
                assert!(sees > n / 2, "n={n}: node {x} sees {sees}");
                assert!(sees < n, "n={n}: node {x} sees everyone");
                for (y, row) in h.iter().enumerate() {
                    assert_eq!(view[y], row[x], "ring cuts are symmetric");
                }
            }
            let mut distinct = views.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), n, "n={n}: every view differs");
        }
    }
}

#[test]
fn one_way_cuts_one_direction_between_two_sides() {
    for n in 2..8 {
        for seed in seeds() {
            let Cut::OneWay(ways) = cut(PartitionKind::OneWay, n, &mut Rng::derive(seed, "t"))
            else {
                panic!("one-way cuts one way");
            };
            assert_eq!(ways.len(), 1);
            let (from, to) = &ways[0];
            assert!(!from.is_empty() && !to.is_empty());
            let mut all = [from.clone(), to.clone()].concat();
            all.sort_unstable();
            assert_eq!(all, (0..n as u64).collect::<Vec<_>>());
            let h = hears(&Cut::OneWay(ways.clone()), n);
            assert!(!h[to[0] as usize][from[0] as usize]);
            assert!(h[from[0] as usize][to[0] as usize]);
        }
    }
}

fn everything() -> serde_json::Value {
    serde_json::json!({
        "until_ms": 5000,
        "partitions": {},
        "flapping": {"probability": 0.5},
        "crash_restart": {},
        "clock": {"drift_ppm": [-100, 100], "skew_ms": [-50, 50]},
        "loss_bursts": {"duplicate": [0.0, 0.2]}
    })
}

#[test]
fn same_seed_same_schedule_and_seeds_differ() {
    let f = block(everything(), 5);
    assert_eq!(expand(&f, 5, 42), expand(&f, 5, 42));
    let distinct: std::collections::BTreeSet<String> = (0..20)
        .map(|s| format!("{:?}", expand(&f, 5, s).faults))
        .collect();
    assert_eq!(distinct.len(), 20);
}

#[test]
fn schedules_are_sorted_inside_the_window_and_heal_what_they_cut() {
    let f = block(everything(), 5);
    for seed in seeds() {
        let faults = expand(&f, 5, seed).faults;
        assert!(!faults.is_empty());
        assert!(faults.windows(2).all(|w| w[0].at_ms() <= w[1].at_ms()));
        let (mut cuts, mut heals, mut crashes, mut restarts) = (0, 0, 0, 0);
        for x in &faults {
            match x {
                RawFault::Partition { at_ms, .. } | RawFault::PartitionOneWay { at_ms, .. } => {
                    // A flapping episode that starts before until_ms may cut
                    // again later in its (at most 500 ms) duration.
                    assert!((1..5500).contains(at_ms));
                    cuts += 1;
                }
                RawFault::Heal { .. } => heals += 1,
                RawFault::Crash { at_ms, .. } => {
                    assert!((1..5000).contains(at_ms));
                    crashes += 1;
                }
                RawFault::Restart { .. } => restarts += 1,
                RawFault::Loss {
                    drop,
                    duplicate,
                    for_ms,
                    ..
                } => {
                    assert!((0.1..=0.5).contains(drop) && (0.0..=0.2).contains(duplicate));
                    assert!((50..=300).contains(for_ms));
                }
                RawFault::ClockDrift { drift_ppm, .. } => assert!(drift_ppm.abs() <= 100),
                RawFault::ClockSkew { offset_ms, .. } => assert!(offset_ms.abs() <= 50),
                other => panic!("not generated here: {other:?}"),
            }
        }
        assert!(heals >= 1 && cuts >= heals, "seed {seed}: {faults:?}");
        assert_eq!(crashes, restarts);
    }
}

#[test]
fn flapping_episodes_alternate_cut_and_heal() {
    let f = block(
        serde_json::json!({"until_ms": 3000, "partitions": {"kinds": ["halves"],
            "duration_ms": [400, 400]}, "flapping": {"probability": 1.0, "period_ms": [50, 50]}}),
        4,
    );
    let faults = expand(&f, 4, 3).faults;
    let kinds: Vec<bool> = faults
        .iter()
        .map(|x| matches!(x, RawFault::Partition { .. }))
        .collect();
    assert!(kinds.len() >= 8, "{faults:?}");
    assert!(kinds.chunks(2).all(|c| c == [true, false]), "{faults:?}");
    assert_eq!(faults[1].at_ms() - faults[0].at_ms(), 50);
    assert_eq!(faults[2].at_ms() - faults[0].at_ms(), 100);
}

#[test]
fn an_extra_generator_does_not_move_the_others() {
    let a = block(serde_json::json!({"until_ms": 4000, "partitions": {}}), 5);
    let b = block(
        serde_json::json!({"until_ms": 4000, "partitions": {}, "clock": {}}),
        5,
    );
    for seed in seeds().take(20) {
        let cuts = |f: &RawFuzz| -> Vec<RawFault> {
            expand(f, 5, seed)
                .faults
                .into_iter()
                .filter(|x| !matches!(x, RawFault::ClockSkew { .. } | RawFault::ClockJump { .. }))
                .collect()
        };
        assert_eq!(cuts(&a), cuts(&b));
    }
}

#[test]
fn swarm_varies_which_generators_are_on() {
    let mut f = block(everything(), 5);
    f.swarm = true;
    let plans: Vec<RawFuzz> = (0..64).map(|s| expand(&f, 5, s).plan).collect();
    let on = |p: &RawFuzz| {
        [
            p.partitions.is_some(),
            p.crash_restart.is_some(),
            p.clock.is_some(),
            p.loss_bursts.is_some(),
        ]
    };
    let combos: std::collections::BTreeSet<[bool; 4]> = plans.iter().map(on).collect();
    assert!(combos.len() >= 8, "swarm draws many worlds: {combos:?}");
    assert!(combos.contains(&[false; 4]), "some seeds are calm");
    let kinds: std::collections::BTreeSet<Vec<PartitionKind>> = plans
        .iter()
        .filter_map(|p| p.partitions.as_ref()?.kinds.clone())
        .collect();
    assert!(kinds.len() > 5, "kind subsets vary: {kinds:?}");
    assert!(plans.iter().all(|p| !p.swarm));
    // A calm seed generates nothing.
    let calm = (0..64)
        .find(|&s| on(&plans[s as usize]) == [false; 4])
        .unwrap();
    assert!(expand(&f, 5, calm).faults.is_empty());
}

fn with_new(mut v: serde_json::Value) -> serde_json::Value {
    v["pauses"] =
        serde_json::json!({"nodes": [1, 3], "interval_ms": [50, 400], "duration_ms": [20, 80]});
    v["messages"] = serde_json::json!({"kinds": ["ping", "pong", "ack"], "interval_ms": [20, 300],
        "window_ms": [5, 60], "delay_ms": [7, 9], "copies": [2, 4]});
    v
}

fn is_new(x: &RawFault) -> bool {
    matches!(
        x,
        RawFault::Pause { .. } | RawFault::Resume { .. } | RawFault::Message(_)
    )
}

#[test]
fn pauses_take_one_listed_node_at_a_time_within_the_ranges() {
    let f = block(
        serde_json::json!({"from_ms": 100, "until_ms": 5000,
            "pauses": {"nodes": [1, 3], "interval_ms": [50, 400], "duration_ms": [20, 80]}}),
        5,
    );
    let mut nodes = std::collections::BTreeSet::new();
    for seed in seeds() {
        let faults = expand(&f, 5, seed).faults;
        assert!(faults.len() >= 2 && faults.len() % 2 == 0, "{faults:?}");
        let mut last_resume = 100;
        for pair in faults.chunks(2) {
            let (RawFault::Pause { at_ms: p, node: a }, RawFault::Resume { at_ms: r, node: b }) =
                (&pair[0], &pair[1])
            else {
                panic!("seed {seed}: pause then resume: {pair:?}");
            };
            assert_eq!(a, b);
            assert!(matches!(a, NodeRef::Id(1 | 3)), "{a:?}");
            nodes.insert(a.clone());
            assert!((50..=400).contains(&(p - last_resume)), "calm interval");
            assert!((20..=80).contains(&(r - p)), "duration");
            assert!(*p < 5000);
            last_resume = *r;
        }
    }
    assert_eq!(nodes.len(), 2, "both listed nodes pause");
}

#[test]
fn message_rules_stay_within_their_ranges_and_lists() {
    let f = block(
        serde_json::json!({"until_ms": 5000, "messages": {"kinds": ["ping", "pong", "ack"],
            "interval_ms": [20, 300], "window_ms": [5, 60], "delay_ms": [7, 9], "copies": [2, 4]}}),
        4,
    );
    let mut seen_actions = std::collections::BTreeSet::new();
    let mut seen_kinds = std::collections::BTreeSet::new();
    let (mut once, mut every, mut from, mut to, mut any) = (0, 0, 0, 0, 0);
    for seed in seeds() {
        let faults = expand(&f, 4, seed).faults;
        assert!(!faults.is_empty());
        let mut end = 0;
        for x in &faults {
            let RawFault::Message(r) = x else {
                panic!("only rules: {x:?}");
            };
            let until = r.until_ms.expect("every generated rule ends");
            assert!((20..=300).contains(&(r.at_ms - end)), "calm interval");
            assert!((5..=60).contains(&(until - r.at_ms)), "window");
            assert!(r.at_ms < 5000);
            end = until;
            seen_kinds.insert(r.msg.clone().expect("a kind from the list"));
            seen_actions.insert(r.action);
            assert_eq!(r.where_, None);
            match r.occurrence {
                Some(1) => once += 1,
                None => every += 1,
                Some(n) => panic!("occurrence {n}"),
            }
            match (r.from.as_slice(), r.to.as_slice()) {
                ([], []) => any += 1,
                ([NodeRef::Id(x)], []) if *x < 4 => from += 1,
                ([], [NodeRef::Id(x)]) if *x < 4 => to += 1,
                other => panic!("from/to {other:?}"),
            }
            assert_eq!(r.copies.is_some(), r.action == RawRuleAction::Duplicate);
            assert_eq!(r.delay_ms.is_some(), r.action == RawRuleAction::Delay);
            assert_eq!(r.hold_until_ms.is_some(), r.action == RawRuleAction::Hold);
            if let Some(c) = r.copies {
                assert!((2..=4).contains(&c));
            }
            if let Some(d) = r.delay_ms {
                assert!((7..=9).contains(&d));
            }
            if let Some(h) = r.hold_until_ms {
                assert_eq!(h, until, "held messages are released when the rule ends");
            }
        }
    }
    assert_eq!(seen_kinds.len(), 3, "{seen_kinds:?}");
    assert_eq!(seen_actions.len(), 4, "every action by default");
    for (what, n) in [
        ("once", once),
        ("every", every),
        ("from", from),
        ("to", to),
        ("any", any),
    ] {
        assert!(n > 100, "{what}: {n}");
    }
}

#[test]
fn message_rules_draw_only_the_listed_actions() {
    let f = block(
        serde_json::json!({"until_ms": 5000, "messages": {"kinds": ["a"], "actions": ["delay"],
            "occurrence": 0.0}}),
        3,
    );
    for seed in seeds().take(20) {
        for x in expand(&f, 3, seed).faults {
            let RawFault::Message(r) = x else { panic!() };
            assert_eq!(r.action, RawRuleAction::Delay);
            assert_eq!(r.occurrence, None);
        }
    }
}

#[test]
fn new_generators_are_deterministic_and_do_not_move_the_others() {
    for swarm in [false, true] {
        let mut old = block(everything(), 5);
        let mut new = block(with_new(everything()), 5);
        old.swarm = swarm;
        new.swarm = swarm;
        for seed in seeds().take(50) {
            let (a, b) = (expand(&old, 5, seed), expand(&new, 5, seed));
            assert_eq!(b, expand(&new, 5, seed), "deterministic");
            let kept: Vec<RawFault> = b.faults.iter().filter(|x| !is_new(x)).cloned().collect();
            assert_eq!(a.faults, kept, "swarm {swarm} seed {seed}");
            let mut plan = b.plan.clone();
            (plan.pauses, plan.messages) = (None, None);
            assert_eq!(a.plan, plan, "swarm {swarm} seed {seed}");
        }
    }
}

/// The swarm draws of the older generators are pinned: a seed's plan for
/// them must not change when generators are added (the regression corpus
/// and reported fuzz seeds depend on it).
#[test]
fn swarm_plans_of_the_older_generators_are_pinned() {
    let mut f = block(everything(), 5);
    f.swarm = true;
    let on: Vec<String> = (0..12)
        .map(|s| {
            let e = expand(&f, 5, s);
            let p = e.plan;
            format!(
                "{}{}{}{}{}:{}",
                u8::from(p.partitions.is_some()),
                u8::from(p.flapping.is_some()),
                u8::from(p.crash_restart.is_some()),
                u8::from(p.clock.is_some()),
                u8::from(p.loss_bursts.is_some()),
                e.faults.len(),
            )
        })
        .collect();
    // Taken from the code before pauses and messages were added (ef31fdf).
    assert_eq!(
        on.join(" "),
        "00001:4 00001:9 00011:19 00001:6 00011:15 00010:23 00100:6 10110:46 10101:48 11110:49 10100:34 00111:21"
    );
}

#[test]
fn swarm_turns_the_new_generators_on_and_off_and_varies_their_lists() {
    let mut f = block(with_new(everything()), 5);
    f.swarm = true;
    let plans: Vec<RawFuzz> = (0..64).map(|s| expand(&f, 5, s).plan).collect();
    let on: std::collections::BTreeSet<[bool; 2]> = plans
        .iter()
        .map(|p| [p.pauses.is_some(), p.messages.is_some()])
        .collect();
    assert_eq!(on.len(), 4, "{on:?}");
    let lists: std::collections::BTreeSet<(Vec<String>, Vec<RawRuleAction>)> = plans
        .iter()
        .filter_map(|p| {
            let m = p.messages.as_ref()?;
            assert!(!m.actions.is_empty());
            Some((m.kinds.clone()?, m.actions.clone()))
        })
        .collect();
    assert!(lists.len() > 5, "{lists:?}");
    assert!(lists.iter().all(|(k, _)| !k.is_empty()));
}
