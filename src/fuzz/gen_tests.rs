use super::*;

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
