//! The parsers through the built binary (issue 32): the second reliability
//! audit's reproducers (copied to `tests/reliability-repro/`, so a clean
//! clone has them) and seeded mutations of bundled scenarios, corpus JSONL
//! histories and Jepsen EDN histories, each run as `dsim run` or `dsim
//! check`. Every process must exit 0, 1, 2 or 3 (never a panic, 101, or a
//! signal), and an exit 2 must say `error:`. The mutations are a fixed
//! seeded sequence; `DSIM_CLI_FUZZ=N` runs N per input kind instead of the
//! CI default. A process still running after its deadline (a mutation
//! that asks for a long run) is stopped and counted apart, and may be at
//! most a tenth of them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// How a process ended.
enum End {
    Code(i32, String),
    Signal(String),
    Deadline,
}

/// Runs the binary with `args`, stopped after `deadline`.
fn dsim(args: &[&str], deadline: Duration) -> End {
    // A file of its own per process run: the tests of this file run at
    // once in one test process, and a shared file was truncated by one
    // test's next run while another's process still wrote to it (an
    // exit 2 then seemed to say nothing).
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("dsim-cli-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let err_path = dir.join(format!("stderr-{run}"));
    let err_file = std::fs::File::create(&err_path).expect("stderr file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(args)
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .expect("the dsim binary runs");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    match status {
        None => End::Deadline,
        Some(s) => match s.code() {
            Some(c) => End::Code(c, err),
            None => End::Signal(err),
        },
    }
}

/// Asserts a clean end; true if it ended before its deadline.
fn judge(what: &str, input: &str, end: End) -> bool {
    match end {
        End::Deadline => false,
        End::Signal(err) => panic!("{what}: killed by a signal\n{err}\ninput:\n{input}"),
        End::Code(c, err) => {
            assert!(
                (0..=3).contains(&c),
                "{what}: exit {c}\n{err}\ninput:\n{input}"
            );
            assert!(!err.contains("panicked"), "{what}: {err}\ninput:\n{input}");
            if c == 2 {
                assert!(
                    err.lines().any(|l| l.starts_with("error:")),
                    "{what}: exit 2 without an error: line\n{err}\ninput:\n{input}"
                );
            }
            true
        }
    }
}

fn rounds(default: usize) -> usize {
    std::env::var("DSIM_CLI_FUZZ")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1e400",
    "18446744073709551615",
    "1000000000000",
    "1000000000001",
    "-9223372036854775808",
    "1.5",
    "null",
    "true",
    "\"\"",
    "[]",
    "{}",
    "\"n99\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "##Inf",
    "#{1 1}",
    "{:a 1 :a 2}",
    "1/0",
    ":key",
    "\u{feff}",
    ",",
    ":",
    "\"",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\n",
];

/// One to three byte or token mutations of `text`.
fn mutate(text: &str, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    for _ in 0..rng.gen_range(1..4) {
        if b.is_empty() {
            b.extend_from_slice(TOKENS[rng.gen_range(0..TOKENS.len())].as_bytes());
            continue;
        }
        common::mutate_once(&mut b, TOKENS, 8, 64, rng);
    }
    b
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

#[test]
fn the_reliability_reproducers_end_cleanly() {
    let dir = Path::new(ROOT).join("tests/reliability-repro");
    let mut ran = 0;
    for f in files(&dir, "json") {
        let p = f.to_str().unwrap();
        // scenarios-big is workload W (200,000 writes): it may run past the
        // deadline in a debug build; the others end.
        let end = dsim(&["run", p, "--json"], Duration::from_secs(20));
        let done = judge(&format!("run {p}"), "", end);
        assert!(
            done || p.ends_with("scenarios-big.json"),
            "{p}: still running"
        );
        ran += 1;
    }
    for ext in ["jsonl", "edn"] {
        for f in files(&dir, ext) {
            let p = f.to_str().unwrap();
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let model = match name.as_str() {
                "key-int-str.jsonl" => "kv",
                "list-append-memo.jsonl" => "list-append",
                _ => "cas-register",
            };
            let end = dsim(&["check", p, "--model", model], Duration::from_secs(60));
            assert!(judge(&format!("check {p}"), "", end), "{p}: still running");
            ran += 1;
        }
    }
    assert_eq!(ran, 22, "every copied reproducer ran");
}

#[test]
fn mutated_inputs_through_the_binary_end_cleanly() {
    let n = rounds(150);
    let scratch = std::env::temp_dir().join(format!("dsim-cli-fuzz-in-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    // (input text, file extension, the command's arguments before the file).
    let mut inputs: Vec<(String, &str, Vec<&str>)> = Vec::new();
    for f in files(&Path::new(ROOT).join("scenarios"), "json") {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).unwrap();
        // Small scenarios only: a mutation of a big one spends the time
        // running, not parsing.
        if name.starts_with("bench-") || text.contains("\"wasm\"") || text.len() > 3000 {
            continue;
        }
        inputs.push((text, "json", vec!["run"]));
    }
    let corpus = Path::new(ROOT).join("checker/tests/corpus");
    for f in files(&corpus, "jsonl") {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let model = if name.starts_with("kv") {
            "kv"
        } else {
            "cas-register"
        };
        let head: String = std::fs::read_to_string(&f)
            .unwrap()
            .lines()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n");
        inputs.push((head, "jsonl", vec!["check", "--model", model]));
    }
    for sub in ["good", "bad"] {
        for f in files(
            &Path::new(ROOT).join("checker/tests/jepsen").join(sub),
            "edn",
        ) {
            let head: String = std::fs::read_to_string(&f)
                .unwrap()
                .chars()
                .take(3000)
                .collect();
            inputs.push((head, "edn", vec!["check", "--model", "cas-register"]));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(32);
    let (mut done, mut stopped) = (0, 0);
    for kind in ["json", "jsonl", "edn"] {
        let pool: Vec<&(String, &str, Vec<&str>)> = inputs.iter().filter(|i| i.1 == kind).collect();
        assert!(!pool.is_empty(), "no {kind} inputs");
        for i in 0..n {
            let (text, ext, args) = pool[rng.gen_range(0..pool.len())];
            let bytes = mutate(text, &mut rng);
            let path = scratch.join(format!("m{i}.{ext}"));
            std::fs::write(&path, &bytes).expect("write mutation");
            let mut a = args.clone();
            a.push(path.to_str().unwrap());
            let shown = String::from_utf8_lossy(&bytes);
            if judge(&a.join(" "), &shown, dsim(&a, Duration::from_secs(5))) {
                done += 1;
            } else {
                stopped += 1;
            }
        }
    }
    println!("{done} mutated inputs ended, {stopped} stopped at their deadline");
    assert!(
        stopped * 10 <= done + stopped,
        "{stopped} of {} ran too long",
        done + stopped
    );
}
