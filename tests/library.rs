//! dsim as a library: the registry, scenarios built in code, and the run,
//! fuzz and shrink functions agree with the `dsim` binary.

mod common;

use std::path::Path;

use common::{dsim, text};
use dsim::scenario::raw::RawWorkload;
use dsim::scenario::{Builder, Expect};
use dsim::Registry;

fn scenario_path(name: &str) -> String {
    format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_bundled_registry_is_what_dsim_list_shows() {
    let names = Registry::bundled().names();
    let list = text(&dsim(&["list"]).stdout);
    for n in &names {
        assert!(
            list.contains(&format!("\n  {n} ")),
            "{n} missing from dsim list"
        );
    }
    // A registry holds only what it was given.
    let one = Registry::new().with::<dsim::protocols::seqlog::SeqLog>();
    assert_eq!(one.names(), ["seqlog"]);
    let e = one
        .load(Path::new(&scenario_path("lww-benign.json")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown protocol \"lww\"; allowed: seqlog"),
        "{e}"
    );
}

#[test]
#[should_panic(expected = "registered twice")]
fn one_name_cannot_be_registered_twice() {
    let _ = Registry::bundled().with::<dsim::protocols::lww::Lww>();
}

#[test]
fn a_run_from_code_is_the_run_of_the_binary() {
    let path = scenario_path("fuzz-lww-split-brain.json");
    let sc = Registry::bundled().load(Path::new(&path)).unwrap();
    for seed in [0, 7] {
        let rep = dsim::runner::run_at(&sc, seed).unwrap();
        let out = text(&dsim(&["run", &path, "--seed", &seed.to_string(), "--json"]).stdout);
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            json["trace_fingerprint"],
            dsim::report::fingerprint(rep.fingerprint),
            "seed {seed}"
        );
        assert_eq!(json["as_expected"], rep.as_expected, "seed {seed}");
    }
}

#[test]
fn a_scenario_built_in_code_runs_as_its_file_does() {
    let registry = Registry::bundled();
    let built = Builder::new("lww", 3)
        .name("built")
        .variant("faithful")
        .seed(7)
        .workload(RawWorkload {
            ops: 40,
            keys: Some(2),
            ..Default::default()
        })
        .checks(["convergence"])
        .expect("convergence", Expect::Violation);
    let sc = built.build(&registry).unwrap();
    // Written out, it is a file `dsim run` reads, with the same run.
    let dir = std::env::temp_dir().join(format!("dsim-library-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("built.json");
    std::fs::write(&file, built.text()).unwrap();
    let out = dsim(&["run", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let rep = dsim::runner::run_at(&sc, 7).unwrap();
    assert!(rep.as_expected);
    assert_eq!(
        json["trace_fingerprint"],
        dsim::report::fingerprint(rep.fingerprint)
    );
    // Bad values are errors naming the field, with no line: nothing was written.
    let e = Builder::new("lww", 3)
        .workload(RawWorkload {
            keys: Some(2_000_000),
            ..Default::default()
        })
        .build(&registry)
        .unwrap_err();
    assert_eq!((e.field.as_str(), e.line), ("workload.keys", 0), "{e}");
    assert!(
        e.to_string()
            .starts_with("scenario (built in code): workload.keys: "),
        "{e}"
    );
}

#[test]
fn search_and_shrink_from_code_write_a_file_that_replays() {
    let sc = Registry::bundled()
        .load(Path::new(&scenario_path("fuzz-lww-split-brain.json")))
        .unwrap();
    let failed = dsim::fuzz::search(&sc, 0..30, 2).unwrap();
    assert!(!failed.is_empty());
    // The same seeds fail whatever the number of threads.
    let again = dsim::fuzz::search(&sc, 0..30, 1).unwrap();
    assert_eq!(
        failed.keys().collect::<Vec<_>>(),
        again.keys().collect::<Vec<_>>()
    );
    let dir = std::env::temp_dir().join(format!("dsim-library-shrink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dsim::fuzz::shrink_into(&sc, &failed, &dir, 1, 500);
    let ok: Vec<_> = saved.values().filter(|s| s.error.is_none()).collect();
    assert!(!ok.is_empty(), "{saved:?}");
    for s in ok {
        let out = dsim(&["run", &s.file]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            s.file,
            text(&out.stdout)
        );
    }
}

#[test]
fn the_linearizability_budget_is_a_check_param() {
    let registry = Registry::bundled();
    let with_budget = |budget: u64| {
        let mut params = dsim::protocols::CheckParams::default();
        params.linearizability.budget = budget;
        Builder::new("lww", 3)
            .variant("intended")
            .workload(RawWorkload {
                ops: 60,
                keys: Some(1),
                ..Default::default()
            })
            .checks(["linearizability"])
            .expect("linearizability", Expect::Any)
            .check_params(params)
            .build(&registry)
    };
    let status = |budget| {
        let sc = with_budget(budget).unwrap();
        let rep = dsim::runner::run_at(&sc, 1).unwrap();
        rep.checks[0].result.status
    };
    assert_eq!(status(1), dsim::protocols::Status::Unknown);
    assert_ne!(status(5_000_000), dsim::protocols::Status::Unknown);
    let e = with_budget(0).unwrap_err();
    assert_eq!(e.field, "check_params.linearizability.budget", "{e}");
}
