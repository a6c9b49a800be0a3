//! The example protocol through dsim's public API, as a user outside the
//! repository would test theirs: find the bug by fuzzing, shrink it to a
//! scenario file, replay that file, and show the fix survives the same
//! campaign.

use std::path::{Path, PathBuf};

use dsim::protocols::Status;
use dsim::runner::run_at;
use dsim::scenario::{Builder, Scenario};
use dsim::Registry;
use pb_register::PrimaryBackup;

fn registry() -> Registry {
    Registry::new().with::<PrimaryBackup>()
}

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    registry().load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pb-register-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn fuzzing_finds_the_lost_write_and_the_shrunk_scenario_replays_it() {
    let sc = scenario("pb-failover-async.json");
    let failed = dsim::fuzz::search(&sc, 0..60, 0).unwrap();
    assert!(
        failed.values().any(|o| o
            .unexpected
            .iter()
            .any(|u| u.check == "linearizability" && u.status == Status::Violation)),
        "60 seeds of the async register show no linearizability violation: {failed:?}"
    );

    // A failing seed replays exactly, from the scenario and the seed alone.
    let seed = *failed.keys().next().unwrap();
    let a = run_at(&sc, seed).unwrap();
    let b = run_at(&sc, seed).unwrap();
    assert_eq!(a.fingerprint, b.fingerprint);
    assert!(!a.as_expected);

    // Shrink the first failure of each kind into scenario files.
    let dir = scratch("shrunk");
    let saved = dsim::fuzz::shrink_into(&sc, &failed, &dir, 1, 1_500);
    let lin = saved
        .values()
        .find(|s| {
            s.error.is_none()
                && std::fs::read_to_string(&s.file).is_ok_and(|t| t.contains("linearizability"))
        })
        .unwrap_or_else(|| panic!("no linearizability failure was shrunk: {saved:?}"));
    let (before, after) = (lin.before.unwrap(), lin.after.unwrap());
    assert!(
        after.faults <= before.faults && after.ops <= before.ops && after.events < before.events,
        "{before:?} -> {after:?}"
    );

    // The written file is an ordinary scenario: it expects the violation,
    // so it runs "as expected" for as long as the bug is there…
    let shrunk = registry().load(Path::new(&lin.file)).unwrap();
    let rep = run_at(&shrunk, shrunk.sim.seed).unwrap();
    assert!(rep.as_expected, "{}", dsim::report::human(&shrunk, &rep));
    let check = rep
        .checks
        .iter()
        .find(|c| c.name == "linearizability")
        .unwrap();
    assert_eq!(check.result.status, Status::Violation);

    // …and the same schedule run by the fixed variant no longer fails.
    let fixed = Builder::from_raw(shrunk.effective.clone())
        .variant("sync")
        .build(&registry())
        .unwrap();
    let rep = run_at(&fixed, fixed.sim.seed).unwrap();
    let check = rep
        .checks
        .iter()
        .find(|c| c.name == "linearizability")
        .unwrap();
    assert_eq!(
        check.result.status,
        Status::Pass,
        "{}",
        check.result.summary
    );
}

#[test]
fn the_fixed_register_survives_the_same_campaign() {
    let sc = scenario("pb-failover-sync.json");
    let failed = dsim::fuzz::search(&sc, 0..400, 0).unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    // The campaign did fault the runs: seed 0 draws a schedule.
    let expanded = dsim::fuzz::at_seed(&sc, 0).unwrap();
    assert!(!expanded.sim.faults.is_empty());
}

#[test]
fn a_scenario_built_in_code_is_validated_like_a_file() {
    let err = Builder::new("pb", 1).build(&registry()).unwrap_err();
    assert!(err.to_string().contains("nodes must be 2 or more"), "{err}");
    let err = Builder::new("pb", 2)
        .params(serde_json::json!({"failover_ms": 300, "tick": 5}))
        .build(&registry())
        .unwrap_err();
    assert!(err.to_string().contains("unknown field `tick`"), "{err}");
    let err = Builder::new("lww", 3).build(&registry()).unwrap_err();
    assert!(err.to_string().contains("allowed: pb"), "{err}");
}

/// The scenario with only the custom check `acked-writes-kept`, through the
/// same `--set` overrides the command line takes.
fn with_custom_check(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    let set = dsim::scenario::overrides::parse(r#"checks=["acked-writes-kept"]"#).unwrap();
    registry()
        .load_with(&path, &[set])
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_custom_check_finds_lost_acknowledged_writes_in_async_only() {
    let failed =
        dsim::fuzz::search(&with_custom_check("pb-failover-async.json"), 0..100, 0).unwrap();
    let lost: Vec<_> = failed
        .values()
        .filter(|o| {
            o.unexpected
                .iter()
                .any(|u| u.check == "acked-writes-kept" && u.status == Status::Violation)
        })
        .collect();
    assert!(
        !lost.is_empty(),
        "100 seeds of the async register never lost a last acknowledged write: {failed:?}"
    );
    let u = &lost[0].unexpected[0];
    assert!(
        u.summary.contains("lost their last acknowledged write"),
        "{}",
        u.summary
    );
    // The fixed variant keeps every such write over the same seeds.
    let fixed = dsim::fuzz::search(&with_custom_check("pb-failover-sync.json"), 0..100, 0).unwrap();
    assert!(fixed.is_empty(), "{fixed:?}");
}
