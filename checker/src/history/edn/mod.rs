//! Jepsen histories: the `history.edn` a Jepsen test writes, or a Knossos
//! test history, read into a [`History`].
//!
//! Only the part of EDN that histories use is read: maps, vectors, lists,
//! sets, keywords, strings, integers, floats, `nil`, booleans, symbols,
//! characters, comments (`;`), `#_` discards and tagged values (`#tag v`,
//! read as `v`). Events are either one map per top-level form (Jepsen's
//! `history.edn`) or the maps inside one top-level vector or list
//! (Knossos's test data), e.g.
//!
//! ```text
//! {:index 0, :time 1042, :type :invoke, :process 0, :f :write, :value 3}
//! ```
//!
//! `:type` is `:invoke`, `:ok`, `:fail` or `:info`; `:process` an integer
//! (events of other processes, such as `:nemesis`, are skipped); `:f` a
//! keyword, read as its name. `:time` is used when every event has one,
//! else events are timed by their position. Values become JSON: keywords
//! their names, vectors, lists and sets arrays, `nil` null. When every read
//! is invoked with a `[key nil]` pair, the history is jepsen.independent's:
//! every value is a `[key value]` pair, and the key becomes the operation's.
//! A read's invocation value is ignored (some Knossos histories repeat the
//! value read there). A list-append transaction (`:f :txn, :value
//! [[:append 3 1] [:r 3 nil]]`) gets the key its micro-operations name, when
//! they all name one (the `list-append` model checks it). Other fields
//! (`:index`, `:error`, ...) are ignored.

mod syntax;

use super::{CompletionKind, History, HistoryError, HistoryErrorKind};
use serde_json::Value;
use syntax::{forms, Edn, Parsed};

/// One event of a Jepsen history, its fields checked.
struct Event {
    line: usize,
    process: u64,
    kind: Option<CompletionKind>,
    f: String,
    value: Value,
    time: Option<u64>,
}

/// The event in map `pairs`, or `None` if it is not a client's (e.g. the nemesis's).
fn event(line: usize, pairs: &[(Edn, Edn)]) -> Parsed<Option<Event>> {
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| matches!(k, Edn::Keyword(n) if n == name))
            .map(|(_, v)| v)
    };
    let bad = |field: &'static str, expected: &'static str, found: Option<&Edn>| HistoryError {
        line: Some(line),
        kind: HistoryErrorKind::Field {
            field,
            expected,
            found: found.map_or("missing".to_string(), Edn::show),
        },
    };
    let process = match field("process") {
        Some(Edn::Int(p)) if *p >= 0 => *p as u64,
        Some(Edn::Keyword(_) | Edn::Symbol(_)) => return Ok(None),
        other => {
            return Err(bad(
                ":process",
                "a non-negative integer, or a keyword such as :nemesis",
                other,
            ))
        }
    };
    let kind = match field("type") {
        Some(Edn::Keyword(t)) => match t.as_str() {
            "invoke" => None,
            "ok" => Some(CompletionKind::Ok),
            "fail" => Some(CompletionKind::Fail),
            "info" => Some(CompletionKind::Info),
            _ => return Err(bad(":type", ":invoke, :ok, :fail, :info", field("type"))),
        },
        other => return Err(bad(":type", ":invoke, :ok, :fail, :info", other)),
    };
    let f = match field("f") {
        Some(Edn::Keyword(f) | Edn::Symbol(f) | Edn::Text(f)) => f.clone(),
        other => return Err(bad(":f", "a keyword such as :read", other)),
    };
    let time = match field("time") {
        None => None,
        Some(Edn::Int(t)) if *t >= 0 => Some(*t as u64),
        other => return Err(bad(":time", "a non-negative integer", other)),
    };
    let value = field("value").map_or(Value::Null, Edn::to_json);
    Ok(Some(Event {
        line,
        process,
        kind,
        f,
        value,
        time,
    }))
}

/// True if every read is invoked with a `[key nil]` pair (jepsen.independent).
fn independent(events: &[Event]) -> bool {
    let reads: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind.is_none() && matches!(e.f.as_str(), "read" | "get" | "balance"))
        .collect();
    !reads.is_empty()
        && reads.iter().all(|e| {
            matches!(
                e.value.as_array().map(Vec::as_slice),
                Some([_, Value::Null])
            )
        })
}

impl History {
    /// Parses a Jepsen `history.edn` (one event map per line) or a Knossos
    /// history (the maps in one vector or list). Events of non-integer
    /// processes (`:nemesis`) are skipped; `:time` is used when every event
    /// has one, else position; when every read is invoked with `[key nil]`
    /// (jepsen.independent) values are `[key value]` pairs; a list-append
    /// `:txn` gets the one key its micro-operations name. Errors name the line.
    pub fn parse_edn(text: &str) -> Result<History, HistoryError> {
        let mut events = Vec::new();
        for (line, pairs) in forms(text)? {
            if let Some(e) = event(line, &pairs)? {
                events.push(e);
            }
        }
        let timed = events.iter().all(|e| e.time.is_some());
        let keyed = independent(&events);
        let mut history = History::new();
        for (position, e) in events.into_iter().enumerate() {
            let line = Some(e.line);
            let time = if timed {
                e.time.unwrap_or_default()
            } else {
                position as u64
            };
            let (key, mut value) = if keyed {
                split_key(e.line, e.value)?
            } else if e.f == "txn" {
                (txn_key(&e.value), e.value)
            } else {
                (None, e.value)
            };
            if e.kind.is_none() && e.f == "read" {
                // Some Knossos histories put the value read on the invocation too.
                value = Value::Null;
            }
            match e.kind {
                None => {
                    history.invoke_at(e.process, e.f, key, value, time, line)?;
                }
                Some(kind) => {
                    let index = history.complete_at(e.process, kind, value, time, line)?;
                    history.check_echo(index, &e.f, key.as_deref(), line)?;
                }
            }
        }
        Ok(history)
    }
}

/// The one key every micro-operation of a list-append transaction
/// (`[[:append 3 1] [:r 3 nil]]`) names, if there is one.
fn txn_key(value: &Value) -> Option<String> {
    let mut keys = value.as_array()?.iter().map(|micro| match micro.get(1)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let first = keys.next()??;
    keys.all(|k| k.as_deref() == Some(first.as_str()))
        .then_some(first)
}

/// A jepsen.independent `[key value]` pair: the key as text, and the value.
fn split_key(line: usize, value: Value) -> Result<(Option<String>, Value), HistoryError> {
    let bad = |found: &Value| HistoryError {
        line: Some(line),
        kind: HistoryErrorKind::Field {
            field: ":value",
            expected: "a [key value] pair (the history's reads are invoked with [key nil])",
            found: found.to_string(),
        },
    };
    match value {
        Value::Array(mut pair) if pair.len() == 2 => {
            let inner = pair.pop().unwrap_or_default();
            let key = match pair.pop().unwrap_or_default() {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                other => return Err(bad(&Value::Array(vec![other, inner]))),
            };
            Ok((Some(key), inner))
        }
        other => Err(bad(&other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jepsen_lines_with_time_and_nemesis() {
        let text = "{:index 0, :time 10, :type :invoke, :process 0, :f :write, :value 3}\n\
                    {:index 1, :time 12, :type :info, :process :nemesis, :f :start, :value nil}\n\
                    {:index 2, :time 20, :type :ok, :process 0, :f :write, :value 3}\n\
                    {:index 3, :time 30, :type :invoke, :process 1, :f :read, :value nil}\n\
                    {:index 4, :time 40, :type :info, :process 1, :f :read, :value nil, :error :timeout}\n";
        let h = History::parse_edn(text).unwrap();
        let ops = h.operations();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].f, "write");
        assert_eq!(ops[0].value, json!(3));
        assert_eq!(ops[0].time, 10);
        assert_eq!(ops[0].completion.as_ref().unwrap().time, 20);
        assert_eq!(ops[1].line, Some(4));
        assert_eq!(
            ops[1].completion.as_ref().unwrap().kind,
            CompletionKind::Info
        );
    }

    #[test]
    fn knossos_vector_with_comments_is_timed_by_position() {
        let text = "[{:process 0, :type :invoke, :f :cas, :value [1 2]}\n\
                    ; a comment\n \
                    {:process 0, :type :fail, :f :cas, :value [1 2]}\n \
                    {:process 1, :type :invoke, :f :read, :value nil}\n \
                    {:process 1, :type :ok, :f :read, :value nil}]\n";
        let h = History::parse_edn(text).unwrap();
        let ops = h.operations();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].value, json!([1, 2]));
        assert!(ops[0].failed());
        assert_eq!((ops[1].time, ops[1].line), (2, Some(4)));
    }

    #[test]
    fn independent_pairs_become_keys() {
        let text = "{:type :invoke, :f :read, :value [7 nil], :process 0, :time 1}\n\
                    {:type :ok, :f :read, :value [7 3], :process 0, :time 2}\n\
                    {:type :invoke, :f :cas, :value [7 [3 4]], :process 1, :time 3}\n\
                    {:type :ok, :f :cas, :value [7 [3 4]], :process 1, :time 4}\n";
        let h = History::parse_edn(text).unwrap();
        let ops = h.operations();
        assert_eq!(ops[0].key.as_deref(), Some("7"));
        assert_eq!(ops[0].output(), Some(&json!(3)));
        assert_eq!(ops[1].value, json!([3, 4]));
    }

    #[test]
    fn list_append_transactions_get_their_key() {
        let text = "{:type :invoke, :f :txn, :value [[:append 3 1] [:r 3 nil]], :process 0, :time 1}\n\
                    {:type :ok, :f :txn, :value [[:append 3 1] [:r 3 [1]]], :process 0, :time 2}\n\
                    {:type :invoke, :f :txn, :value [[:append 3 2] [:r 4 nil]], :process 1, :time 3}\n";
        let h = History::parse_edn(text).unwrap();
        let ops = h.operations();
        assert_eq!(ops[0].key.as_deref(), Some("3"));
        assert_eq!(
            ops[0].output(),
            Some(&json!([["append", 3, 1], ["r", 3, [1]]]))
        );
        assert_eq!(ops[1].key, None);
    }

    #[test]
    fn random_text_never_panics() {
        // splitmix64 over an alphabet of EDN's special characters.
        let alphabet = b"{}[]()#_:\"\\; \n,ab1-.N\xc3\xa9";
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        for _ in 0..20_000 {
            let len = next() % 40;
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let _ = History::parse_edn(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let missing =
            History::parse_edn("{:type :invoke, :f :read}\n{:type :ok, :f :read :process 0}")
                .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "line 1: :process is missing; allowed: a non-negative integer, or a keyword such as :nemesis"
        );
        let kind = History::parse_edn("\n{:type :done, :f :read, :process 0}").unwrap_err();
        assert_eq!(
            kind.to_string(),
            "line 2: :type is :done; allowed: :invoke, :ok, :fail, :info"
        );
        let open = History::parse_edn("{:type :invoke,\n :f :read, :process 0").unwrap_err();
        assert_eq!(
            open.to_string(),
            "line 2: not EDN: the map begun on line 1 never ends"
        );
        let odd = History::parse_edn("{:type :invoke :f}").unwrap_err();
        assert!(
            odd.to_string().contains("a map has a key without a value"),
            "{odd}"
        );
        let deep = History::parse_edn(&"[".repeat(100_000)).unwrap_err();
        assert!(
            deep.to_string().contains("nested more than 128 deep"),
            "{deep}"
        );
        let discards = History::parse_edn(&"#_".repeat(100_000)).unwrap_err();
        assert!(
            discards.to_string().contains("nested more than 128 deep"),
            "{discards}"
        );
        for garbage in [
            "{",
            "}",
            "\"",
            "#",
            "\\",
            ":",
            "{:a}",
            "[{:type}]",
            "{1 2} {3",
            "#{",
            "1e999999",
        ] {
            assert!(History::parse_edn(garbage).is_err(), "{garbage:?} parsed");
        }
        let list = History::parse_edn("[1 2]").unwrap_err();
        assert!(
            list.to_string()
                .starts_with("line 1: not EDN: an event is a map"),
            "{list}"
        );
    }
}
