//! `dsim run --report`, `dsim check --report` and `dsim fuzz --out`'s
//! reports through the built binary: the page's embedded data round-trips
//! to the run (its trace and history, written beside it), the same run
//! gives the same bytes, a bad path is one error line and exit 2, and — when
//! Chromium is installed — the showcase's page runs without script errors
//! and draws one arrow per message copy and one bar per operation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SHOWCASE: &str = "scenarios/lww-split-brain-faithful.json";

fn dsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsim"))
        .current_dir(ROOT)
        .args(args)
        .output()
        .expect("the dsim binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dsim-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn path(d: &Path, f: &str) -> String {
    d.join(f).to_str().unwrap().to_string()
}

fn jsonl(file: &str) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Column `name` of a columnar table, as a vector of values.
fn col<'a>(table: &'a Value, name: &str) -> &'a Vec<Value> {
    table[name]
        .as_array()
        .unwrap_or_else(|| panic!("column {name}"))
}

/// The showcase with `--report`, `--trace`, `--history` and `--json`:
/// the page's data, the trace, the history, the JSON report.
fn showcase(dir: &Path) -> (String, Vec<Value>, Vec<Value>, Value) {
    let (html, trace, hist) = (
        path(dir, "r.html"),
        path(dir, "t.jsonl"),
        path(dir, "h.jsonl"),
    );
    let out = dsim(&[
        "run",
        SHOWCASE,
        "--report",
        &html,
        "--trace",
        &trace,
        "--history",
        &hist,
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        std::fs::read_to_string(&html).unwrap(),
        jsonl(&trace),
        jsonl(&hist),
        json,
    )
}

#[test]
fn the_page_data_round_trips_to_the_run() {
    let dir = scratch("roundtrip");
    let (html, trace, history, json) = showcase(&dir);
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<script src") && !html.contains("<link"));
    let d = dsim::html::embedded_data(&html).expect("embedded data parses");
    assert_eq!(d["page"], "run");
    assert_eq!(d["meta"]["seed"], json["seed"]);
    assert_eq!(d["meta"]["fingerprint"], json["trace_fingerprint"]);
    assert_eq!(d["meta"]["replay"], json["replay"]);
    assert_eq!(d["notes"], json["notes"]);
    assert_eq!(
        d["lanes"],
        serde_json::json!(["n0", "n1", "n2", "n3", "n4"])
    );

    // Arrows: one per delivery or drop of a sent message, else one per send.
    // (message, copy) -> (sent, from, to, arrived or dropped at, delivered)
    type Arrow = (u64, u64, u64, Option<u64>, bool);
    let mut want: BTreeMap<(u64, u64), Arrow> = BTreeMap::new();
    let mut sends: BTreeMap<u64, (u64, u64, u64)> = BTreeMap::new();
    // Extra copies: id -> (original, copy number); copies made per original.
    let mut copies: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut made: BTreeMap<u64, u64> = BTreeMap::new();
    for e in &trace {
        let mid = e["mid"].as_u64();
        match e["ev"].as_str().unwrap() {
            "send" => {
                let m = mid.unwrap();
                sends.insert(
                    m,
                    (
                        e["t"].as_u64().unwrap(),
                        e["from"].as_u64().unwrap(),
                        e["to"].as_u64().unwrap(),
                    ),
                );
            }
            "copy" => {
                // An extra copy has its own id: copy k of its original.
                let of = e["of"].as_u64().unwrap();
                let k = made.entry(of).or_insert(0);
                *k += 1;
                copies.insert(mid.unwrap(), (of, *k));
            }
            ev @ ("deliver" | "drop") => {
                let m = mid.unwrap();
                let (of, first) = copies.get(&m).copied().unwrap_or((m, 0));
                let (s, f, r) = sends[&of];
                let copy = first + want.range((m, 0)..(m + 1, 0)).count() as u64;
                want.insert((m, copy), (s, f, r, e["t"].as_u64(), ev == "deliver"));
            }
            _ => {}
        }
    }
    for (m, (s, f, r)) in &sends {
        if want.range((*m, 0)..(m + 1, 0)).count() == 0 {
            want.insert((*m, 0), (*s, *f, *r, None, false));
        }
    }
    let a = &d["arrows"];
    let mut got = BTreeMap::new();
    for i in 0..col(a, "s").len() {
        let u = |n: &str| col(a, n)[i].as_u64();
        got.insert(
            (u("m").unwrap(), u("c").unwrap()),
            (
                u("s").unwrap(),
                u("f").unwrap(),
                u("r").unwrap(),
                u("a"),
                u("o") == Some(0),
            ),
        );
    }
    assert_eq!(got, want);
    assert_eq!(
        sends.len() as u64,
        json["messages"]["sent"].as_u64().unwrap()
    );
    let dropped = got.values().filter(|v| !v.4).count() as u64;
    assert_eq!(dropped, json["messages"]["dropped"].as_u64().unwrap());

    // Operations: the history's invocations paired with their completions.
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut ops: Vec<(u64, u64, Option<u64>, String, Value, Value)> = Vec::new();
    for e in &history {
        let p = e["process"].as_u64().unwrap();
        let t = e["time"].as_u64().unwrap();
        if e["type"] == "invoke" {
            open.insert(p, ops.len());
            ops.push((p, t, None, "none".into(), e["value"].clone(), Value::Null));
        } else {
            let op = &mut ops[open.remove(&p).unwrap()];
            op.2 = Some(t);
            op.3 = e["type"].as_str().unwrap().to_string();
            op.5 = e["value"].clone();
        }
    }
    let o = &d["ops"];
    let types = col(o, "types");
    let got: Vec<_> = (0..col(o, "p").len())
        .map(|i| {
            (
                col(o, "p")[i].as_u64().unwrap(),
                col(o, "t0")[i].as_u64().unwrap(),
                col(o, "t1")[i].as_u64(),
                types[col(o, "ty")[i].as_u64().unwrap() as usize]
                    .as_str()
                    .unwrap()
                    .to_string(),
                col(o, "vin")[i].clone(),
                col(o, "vout")[i].clone(),
            )
        })
        .collect();
    assert_eq!(got, ops);

    // The stale read's witness: write 4 (p3), write 5 (p0), read 4 (p4).
    let w: Vec<(u64, Value)> = d["witness"]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let i = i.as_u64().unwrap() as usize;
            (ops[i].0, ops[i].5.clone())
        })
        .collect();
    assert_eq!(
        w,
        [(3, 4.into()), (0, 5.into()), (4, 4.into())],
        "{}",
        d["witness"]
    );
    // Final digests: the two sides of the split brain.
    let finals: Vec<String> = d["finals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}={}", f["name"].as_str().unwrap(), f["digest"]["0"]))
        .collect();
    assert_eq!(
        finals.join(" "),
        "n0=\"145\" n1=\"145\" n2=\"146\" n3=\"146\" n4=\"146\""
    );
    // A partition fault and twelve connection errors are among the markers.
    let markers = d["markers"].as_array().unwrap();
    let count = |ev: &str| markers.iter().filter(|m| m["ev"] == ev).count();
    assert_eq!(count("link_error"), 12);
    assert_eq!(count("fault"), 2);
    assert!(d["omitted"].as_object().unwrap().is_empty());
}

#[test]
fn the_same_run_writes_the_same_bytes() {
    let dir = scratch("same");
    let page = |name: &str| {
        let f = path(&dir, name);
        let out = dsim(&["run", SHOWCASE, "--report", &f]);
        assert_eq!(out.status.code(), Some(0));
        std::fs::read(&f).unwrap()
    };
    assert!(page("a.html") == page("b.html"), "the pages differ");
}

#[test]
fn an_unwritable_report_path_is_one_error_line_and_exit_2() {
    let out = dsim(&["run", SHOWCASE, "--report", "/nonexistent-dir/r.html"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: cannot create report file /nonexistent-dir/r.html"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no run happened");
}

#[test]
fn fuzz_writes_a_report_beside_each_shrunk_scenario() {
    let dir = scratch("fuzz");
    let out = dsim(&[
        "fuzz",
        "scenarios/fuzz-lww-split-brain.json",
        "--seeds",
        "0..12",
        "--json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let shrunk = &first["shrunk"];
    let file = shrunk["file"].as_str().unwrap();
    let report = shrunk["report"].as_str().unwrap();
    assert_eq!(report, file.replace(".json", ".html"));
    let d = dsim::html::embedded_data(&std::fs::read_to_string(report).unwrap()).unwrap();
    let run: Value = serde_json::from_slice(&dsim(&["run", file, "--json"]).stdout).unwrap();
    assert_eq!(d["meta"]["fingerprint"], run["trace_fingerprint"]);
    assert_eq!(d["checks"][0]["status"], "violation");
}

/// A Chromium binary, if one is installed.
fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|b| b.to_string())
}

/// The `<body …>` tag of the page after its scripts ran in headless Chromium.
fn rendered_body(browser: &str, page: &str) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1400,1800",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("file://{page}"))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom.find("<body").expect("a body in the dumped DOM");
    dom[start..start + dom[start..].find('>').unwrap()].to_string()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    Some(tag[at..at + tag[at..].find('"')?].to_string())
}

#[test]
fn the_showcase_page_draws_in_headless_chromium() {
    let Some(browser) = chromium() else {
        // .ci/run sets this when it installed Chromium: then a missing
        // browser is a failure, not a skip.
        assert!(
            std::env::var_os("DSIM_REQUIRE_CHROMIUM").is_none(),
            "DSIM_REQUIRE_CHROMIUM is set but no chromium binary was found"
        );
        println!("SKIPPED: no chromium binary found (apt-get install chromium)");
        return;
    };
    let dir = scratch("browser");
    let (html, ..) = showcase(&dir);
    let d = dsim::html::embedded_data(&html).unwrap();
    // Opened on the whole run (a page opens on the witness by itself).
    let body = rendered_body(&browser, &format!("{}#t=0-100000000", path(&dir, "r.html")));
    assert_eq!(attr(&body, "data-ready").as_deref(), Some("1"), "{body}");
    assert_eq!(attr(&body, "data-errors").as_deref(), Some("0"), "{body}");
    let arrows = d["arrows"]["s"].as_array().unwrap().len();
    let bars = d["ops"]["p"].as_array().unwrap().len();
    assert_eq!(arrows, 445);
    assert_eq!(bars, 300);
    assert_eq!(attr(&body, "data-arrows"), Some(arrows.to_string()));
    assert_eq!(attr(&body, "data-bars"), Some(bars.to_string()));
}

#[test]
fn check_writes_the_timeline_witness_and_longest_prefix() {
    let dir = scratch("check");
    let page = path(&dir, "c.html");
    let out = dsim(&[
        "check",
        "checker/tests/corpus/etcd_000.jsonl",
        "--model",
        "cas-register",
        "--report",
        &page,
    ]);
    assert_eq!(out.status.code(), Some(1), "not linearizable");
    let d = dsim::html::embedded_data(&std::fs::read_to_string(&page).unwrap()).unwrap();
    assert_eq!(d["page"], "check");
    assert_eq!(d["meta"]["verdict"], "not-linearizable");
    assert_eq!(d["ops"]["p"].as_array().unwrap().len(), 85);
    assert!(!d["witness"]["ops"].as_array().unwrap().is_empty());
    let p = &d["prefixes"][0];
    assert!(
        p["linearizable_until_us"].as_u64() < p["broken_at_us"].as_u64(),
        "{p}"
    );
    if let Some(browser) = chromium() {
        let body = rendered_body(&browser, &format!("{page}#t=0-100000000000"));
        assert_eq!(attr(&body, "data-errors").as_deref(), Some("0"), "{body}");
        assert_eq!(attr(&body, "data-bars").as_deref(), Some("85"), "{body}");
    }
    let bad = dsim(&[
        "check",
        "checker/tests/corpus/etcd_000.jsonl",
        "--model",
        "cas-register",
        "--report",
        "/nonexistent-dir/c.html",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let many = dsim(&[
        "check",
        "checker/tests/corpus",
        "--model",
        "kv",
        "--report",
        &page,
    ]);
    assert_eq!(many.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&many.stderr).contains("--report draws one history"));
}

/// The witness's window as the page opens on it: its operations' span
/// with 40% of it (at least 50 µs) on each side.
fn witness_window(d: &Value) -> (f64, f64) {
    let o = &d["ops"];
    let (mut a, mut b) = (f64::INFINITY, f64::NEG_INFINITY);
    for i in d["witness"]["ops"].as_array().unwrap() {
        let i = i.as_u64().unwrap() as usize;
        let t0 = col(o, "t0")[i].as_f64().unwrap();
        let t1 = col(o, "t1")[i].as_f64().unwrap_or(t0);
        a = a.min(t0);
        b = b.max(t1);
    }
    let pad = (0.4 * (b - a)).max(50.0);
    ((a - pad).max(0.0), b + pad)
}

fn attr_f64(tag: &str, name: &str) -> f64 {
    attr(tag, name)
        .unwrap_or_else(|| panic!("{name} in {tag}"))
        .parse()
        .unwrap()
}

#[test]
fn a_page_opens_on_the_witness_with_the_unit_on_its_axis() {
    let Some(browser) = chromium() else {
        println!("SKIPPED: no chromium binary found (apt-get install chromium)");
        return;
    };
    let dir = scratch("view");
    let (html, ..) = showcase(&dir);
    let d = dsim::html::embedded_data(&html).unwrap();
    let body = rendered_body(&browser, &path(&dir, "r.html"));
    let (a, b) = witness_window(&d);
    // The witness spans 0–25 ms of a run of about a second.
    assert!(
        b < 40_000.0 && d["meta"]["end_us"].as_f64().unwrap() > 500_000.0,
        "{a}..{b}"
    );
    assert_eq!(attr_f64(&body, "data-view-t0"), a.round(), "{body}");
    assert_eq!(attr_f64(&body, "data-view-t1"), b.round(), "{body}");
    // Ticks a few milliseconds apart are labelled in ms.
    assert_eq!(
        attr(&body, "data-axis-unit").as_deref(),
        Some("ms"),
        "{body}"
    );
    // A link to a window still wins over the witness.
    let linked = rendered_body(&browser, &format!("{}#t=0-2000000", path(&dir, "r.html")));
    assert_eq!(attr_f64(&linked, "data-view-t0"), 0.0, "{linked}");
    assert_eq!(attr_f64(&linked, "data-view-t1"), 2_000_000.0, "{linked}");
    assert_eq!(
        attr(&linked, "data-axis-unit").as_deref(),
        Some("s"),
        "{linked}"
    );
}

/// A Jepsen history with `:time` in nanoseconds over two seconds: a read
/// returns 3, which nothing wrote.
const EDN_2S: &str = "[{:type :invoke, :f :write, :value 0, :process 0, :time 0}
 {:type :ok, :f :write, :value 0, :process 0, :time 100000000}
 {:type :invoke, :f :read, :value nil, :process 1, :time 200000000}
 {:type :invoke, :f :write, :value 4, :process 2, :time 300000500}
 {:type :ok, :f :read, :value 3, :process 1, :time 1500000000}
 {:type :ok, :f :write, :value 4, :process 2, :time 2000000000}]
";

#[test]
fn edn_nanoseconds_are_drawn_as_microseconds() {
    let dir = scratch("edn");
    let hist = path(&dir, "h.edn");
    std::fs::write(&hist, EDN_2S).unwrap();
    let page = path(&dir, "c.html");
    let out = dsim(&["check", &hist, "--model", "cas-register", "--report", &page]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = dsim::html::embedded_data(&std::fs::read_to_string(&page).unwrap()).unwrap();
    assert_eq!(d["meta"]["time_unit"], "ns");
    // Two seconds, drawn in microseconds (not 2,000 s).
    assert_eq!(d["meta"]["end_us"].as_f64(), Some(2_000_000.0));
    let t0: Vec<f64> = col(&d["ops"], "t0")
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(t0, [0.0, 200_000.0, 300_000.5]);
    let t1: Vec<f64> = col(&d["ops"], "t1")
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(t1, [100_000.0, 1_500_000.0, 2_000_000.0]);
    let p = &d["prefixes"][0];
    assert_eq!(p["broken_at_us"].as_f64(), Some(1_500_000.0), "{p}");
    // Bucket widths are microseconds too: at most 2 s over the buckets.
    let width = d["series"]["width_us"].as_u64().unwrap();
    let n = d["series"]["ok"].as_array().unwrap().len() as u64;
    assert!(
        width * n <= 2_000_000 + width && width >= 2_000_000 / 400,
        "{width} × {n}"
    );
    if let Some(browser) = chromium() {
        let body = rendered_body(&browser, &page);
        assert_eq!(attr(&body, "data-errors").as_deref(), Some("0"), "{body}");
        // Opened on the witness (the whole history here, with its margins).
        let (a, b) = witness_window(&d);
        assert_eq!(attr_f64(&body, "data-view-t0"), a.round(), "{body}");
        assert_eq!(attr_f64(&body, "data-view-t1"), b.round(), "{body}");
        assert_eq!(
            attr(&body, "data-axis-unit").as_deref(),
            Some("s"),
            "{body}"
        );
    }
    // Without times, a history is drawn by position.
    let page2 = path(&dir, "p.html");
    let out = dsim(&[
        "check",
        "checker/tests/jepsen/bad/rethink-fail-minimal.edn",
        "--model",
        "cas-register",
        "--report",
        &page2,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let d = dsim::html::embedded_data(&std::fs::read_to_string(&page2).unwrap()).unwrap();
    assert_eq!(d["meta"]["time_unit"], "position");
}

#[test]
fn the_spinner_says_when_the_report_is_being_written() {
    // The spinner is drawn only on a terminal: `script` gives the run one.
    let has_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        println!("SKIPPED: no `script` binary (util-linux) to give the run a terminal");
        return;
    }
    let dir = scratch("tty");
    let cmd = format!(
        "{} run {SHOWCASE} --report {}",
        env!("CARGO_BIN_EXE_dsim"),
        path(&dir, "r.html")
    );
    let out = Command::new("script")
        .current_dir(ROOT)
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("run done; writing the HTML report"), "{text}");
    assert!(std::fs::metadata(path(&dir, "r.html")).is_ok_and(|m| m.len() > 0));
}
