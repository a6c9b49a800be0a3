//! Our own fuzz target for the two parsers: seeded mutations of every
//! bundled scenario file and of the checker's history corpus, fed to the
//! scenario validator and the history readers. Each must answer (a
//! scenario, or an error) and never panic. `DSIM_PARSER_FUZZ=N` runs N
//! mutations per file instead of the CI default.

mod common;

use std::path::Path;

use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn rounds(default: usize) -> usize {
    std::env::var("DSIM_PARSER_FUZZ")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Interesting replacements for a number or a short span.
const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1e400",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "1.5",
    "null",
    "true",
    "\"\"",
    "[]",
    "{}",
    "\"n99\"",
    "\"c0\"",
    "\"sequencer\"",
    "[[0],[0]]",
    "\"\\u0000\"",
    "\"é\"",
    ",",
    ":",
    "\"",
    "{",
    "}",
    "[",
    "]",
];

/// One mutation of `text`: a byte flipped, a span deleted or duplicated,
/// a token inserted or replacing a number, or the text cut short.
fn mutate(text: &str, rng: &mut ChaCha8Rng) -> String {
    let mut b = text.as_bytes().to_vec();
    if b.is_empty() {
        return TOKENS[rng.gen_range(0..TOKENS.len())].to_string();
    }
    common::mutate_once(&mut b, TOKENS, 6, 32, rng);
    String::from_utf8_lossy(&b).into_owned()
}

fn files(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

#[test]
fn mutated_scenarios_are_refused_or_accepted_never_panic() {
    let n = rounds(100);
    let mut tried = 0;
    for (i, f) in files(&Path::new(ROOT).join("scenarios"), "json")
        .iter()
        .enumerate()
    {
        if f.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("bench-")
        {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
        for _ in 0..n {
            // One to three mutations on top of each other.
            let mut t = text.clone();
            for _ in 0..rng.gen_range(1..4) {
                t = mutate(&t, &mut rng);
            }
            // Parse and validate; a valid file with a `fuzz` block is also
            // expanded at one seed, as `dsim run --seed` does.
            let outcome = std::panic::catch_unwind(|| {
                let sc = dsim::scenario::parse(&t, "m.json", "m")?;
                if sc.effective.fuzz.is_some() {
                    dsim::fuzz::at_seed(&sc, 1)?;
                }
                Ok::<_, dsim::scenario::ScenarioError>(sc)
            });
            assert!(outcome.is_ok(), "{} panicked on:\n{t}", f.display());
            if let Ok(Err(e)) = outcome {
                assert!(!e.message.is_empty());
            }
            tried += 1;
        }
    }
    assert!(tried > 1000, "{tried}");
}

#[test]
fn mutated_histories_are_refused_or_read_never_panic() {
    let n = rounds(100);
    let mut inputs: Vec<(String, bool)> = Vec::new();
    for f in files(&Path::new(ROOT).join("checker/tests/corpus"), "jsonl")
        .iter()
        .take(12)
    {
        inputs.push((std::fs::read_to_string(f).unwrap(), false));
    }
    for sub in ["good", "bad"] {
        let d = Path::new(ROOT).join("checker/tests/jepsen").join(sub);
        if d.is_dir() {
            for f in files(&d, "edn") {
                inputs.push((std::fs::read_to_string(f).unwrap(), true));
            }
        }
    }
    assert!(!inputs.is_empty());
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (text, edn) in &inputs {
        // Work on a head of the file: mutations matter near the structure.
        let head: String = text.chars().take(4000).collect();
        for _ in 0..n {
            let t = mutate(&head, &mut rng);
            let outcome = std::panic::catch_unwind(|| {
                if *edn {
                    checker::History::parse_edn(&t).map(|_| ())
                } else {
                    checker::History::parse_jsonl(&t).map(|_| ())
                }
            });
            assert!(outcome.is_ok(), "panicked on:\n{t}");
        }
    }
}
