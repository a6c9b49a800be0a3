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

use super::{key_text, CompletionKind, History, HistoryError, HistoryErrorKind, TimeUnit};
use serde_json::Value;
use syntax::{each_form, Edn, Forms, Parsed};

/// What an `:ok` read that returned `nil` means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NilRead {
    /// The value is unknown, as Knossos's register models take it: the read
    /// constrains nothing (it is kept, with outcome unknown, like `info`).
    #[default]
    Unknown,
    /// The register held `nil` (null): the read is checked like any other.
    Value,
}

/// How a Jepsen history is read.
#[derive(Clone, Copy, Debug, Default)]
pub struct EdnOptions {
    /// The meaning of an `:ok` read of `nil`.
    pub nil_read: NilRead,
    /// Keep reads of integer lists as sets ([`History::reading_sets`]).
    pub reads_as_sets: bool,
}

/// One event of a Jepsen history, its fields checked.
#[derive(Debug)]
struct Event {
    line: usize,
    /// `None`: the event has no `:process` (Elle's test histories).
    process: Option<u64>,
    kind: Option<CompletionKind>,
    f: String,
    value: Value,
    time: Option<u64>,
    index: Option<u64>,
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
        None => None,
        Some(Edn::Int(p)) if *p >= 0 => Some(*p as u64),
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
        // Elle's test histories often leave :f out of transactions.
        None if matches!(field("value"), Some(Edn::Seq(_))) => "txn".to_string(),
        other => return Err(bad(":f", "a keyword such as :read", other)),
    };
    let time = match field("time") {
        None => None,
        Some(Edn::Int(t)) if *t >= 0 => Some(*t as u64),
        other => return Err(bad(":time", "a non-negative integer (nanoseconds)", other)),
    };
    let index = match field("index") {
        None => None,
        Some(Edn::Int(i)) if *i >= 0 => Some(*i as u64),
        other => return Err(bad(":index", "a non-negative integer", other)),
    };
    let value = field("value").map_or(Value::Null, Edn::to_json);
    Ok(Some(Event {
        line,
        process,
        kind,
        f,
        value,
        time,
        index,
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

/// Reads a Jepsen history whose text arrives in pieces (a file read in
/// chunks, a pipe as it is written): each event is read and checked as soon
/// as its text is complete, so a bad one fails before the rest arrives.
/// [`EdnReader::finish`] then orders and times the events as
/// [`History::parse_edn_with`] does (which needs all of them).
#[derive(Debug)]
pub struct EdnReader {
    options: EdnOptions,
    forms: Forms,
    events: Vec<Event>,
}

impl EdnReader {
    /// A reader with `options`.
    pub fn new(options: EdnOptions) -> EdnReader {
        EdnReader {
            options,
            forms: Forms::default(),
            events: Vec::new(),
        }
    }

    /// Reads `text`, which must end at a line's end (what follows the last
    /// newline waits for [`EdnReader::finish`] or more text).
    pub fn feed(&mut self, text: &str) -> Result<(), HistoryError> {
        self.read(text, false)
    }

    fn read(&mut self, text: &str, end: bool) -> Result<(), HistoryError> {
        let events = &mut self.events;
        self.forms.feed(text, end, |line, pairs| {
            if let Some(e) = event(line, &pairs)? {
                events.push(e);
            }
            Ok(())
        })
    }

    /// Reads the last of the text (`tail`, possibly without a final
    /// newline) and returns the history.
    pub fn finish(mut self, tail: &str) -> Result<History, HistoryError> {
        self.read(tail, true)?;
        History::from_events(self.events, self.options)
    }
}

impl History {
    /// Parses a Jepsen history with the default options (an `:ok` read of
    /// `nil` is a read of unknown value); see [`History::parse_edn_with`].
    pub fn parse_edn(text: &str) -> Result<History, HistoryError> {
        History::parse_edn_with(text, EdnOptions::default())
    }

    /// Parses a Jepsen `history.edn` (one event map per line) or a Knossos
    /// history (the maps in one vector or list), as Jepsen means them:
    /// events in `:index` order when every event has one, else as written;
    /// events of non-integer processes (`:nemesis`) skipped; `:time` in
    /// nanoseconds, used when every event has one and they never go back,
    /// else the position; when every read is invoked with `[key nil]`
    /// (jepsen.independent) values are `[key value]` pairs; a `:txn` gets
    /// the one key its micro-operations name; an `:ok` read of `nil` is
    /// read as `options.nil_read` says. A history with no invocations at
    /// all (Elle's test form: completions only, `:process` optional) is
    /// read as operations all concurrent with each other. Errors name the line.
    pub fn parse_edn_with(text: &str, options: EdnOptions) -> Result<History, HistoryError> {
        let mut events = Vec::new();
        each_form(text, |line, pairs| {
            if let Some(e) = event(line, &pairs)? {
                events.push(e);
            }
            Ok(())
        })?;
        History::from_events(events, options)
    }

    /// The history of `events` (each checked already), read as
    /// [`History::parse_edn_with`] says.
    fn from_events(mut events: Vec<Event>, options: EdnOptions) -> Result<History, HistoryError> {
        if events.iter().all(|e| e.index.is_some()) {
            events.sort_by_key(|e| e.index);
        }
        let timed = events.iter().all(|e| e.time.is_some())
            && events.windows(2).all(|w| w[0].time <= w[1].time);
        let keyed = independent(&events);
        let completions_only = !events.is_empty() && events.iter().all(|e| e.kind.is_some());
        let mut history = if options.reads_as_sets {
            History::reading_sets()
        } else {
            History::new()
        };
        history.time_unit = if completions_only {
            TimeUnit::Position
        } else if timed {
            TimeUnit::Nanos
        } else {
            TimeUnit::Position
        };
        let fresh = events
            .iter()
            .filter_map(|e| e.process)
            .max()
            .map_or(0, |p| p + 1);
        for (position, e) in events.into_iter().enumerate() {
            let line = Some(e.line);
            let time = if timed && !completions_only {
                e.time.unwrap_or_default()
            } else {
                position as u64 + 1
            };
            let mut value = e.value;
            if matches!(e.f.as_str(), "txn" | "send" | "poll") {
                mop_names(&mut value);
            }
            let (key, mut value) = if keyed {
                split_key(e.line, value)?
            } else if e.f == "txn" {
                (txn_key(&value), value)
            } else {
                (None, value)
            };
            if e.kind.is_none() && e.f == "read" {
                // Some Knossos histories put the value read on the invocation too.
                value = Value::Null;
            }
            let unknown_read = e.kind == Some(CompletionKind::Ok)
                && e.f == "read"
                && value.is_null()
                && options.nil_read == NilRead::Unknown;
            if completions_only {
                let process = e.process.unwrap_or(fresh + position as u64);
                let kind = e.kind.unwrap_or(CompletionKind::Info);
                history.push_whole(process, e.f, key, value, 0, kind, time, line);
                continue;
            }
            let Some(process) = e.process else {
                return Err(HistoryError {
                    line,
                    kind: HistoryErrorKind::Field {
                        field: ":process",
                        expected: "a non-negative integer naming the client (add :process to \
                                   every event; a history of completions only may leave it out)",
                        found: "missing".into(),
                    },
                });
            };
            match e.kind {
                None => {
                    history.invoke_at(process, e.f, key, value, time, line)?;
                }
                Some(_) if unknown_read => {
                    let index = history.complete_unknown(process, time, line)?;
                    history.check_echo(index, &e.f, key.as_deref(), line)?;
                }
                Some(kind) => {
                    let index = history.complete_at(process, kind, value, time, line)?;
                    history.check_echo(index, &e.f, key.as_deref(), line)?;
                }
            }
        }
        Ok(history)
    }
}

/// A transaction's micro-operations name their function with a keyword
/// (`[:r :x nil]`); the name is taken as the function, as `:f` is.
fn mop_names(value: &mut Value) {
    for micro in value.as_array_mut().into_iter().flatten() {
        if let Some(Value::String(f)) = micro.get_mut(0) {
            if let Some(name) = f.strip_prefix(':') {
                *f = name.to_string();
            }
        }
    }
}

/// The one key every micro-operation of a transaction (`[[:append 3 1]
/// [:r 3 nil]]`) names, if there is one.
fn txn_key(value: &Value) -> Option<String> {
    let mut keys = value
        .as_array()?
        .iter()
        .map(|micro| micro.get(1).and_then(key_text));
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
            let k = pair.pop().unwrap_or_default();
            match key_text(&k) {
                Some(key) => Ok((Some(key), inner)),
                None => Err(bad(&Value::Array(vec![k, inner]))),
            }
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
        assert_eq!((ops[1].time, ops[1].line), (3, Some(4)));
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
            "line 1: :process is missing; allowed: a non-negative integer naming the client \
             (add :process to every event; a history of completions only may leave it out)"
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
            "#{1 1}",
            "{:a 1 :a 2}",
            "\"\\q\"",
            "##Foo",
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

    /// The value a one-event history's `:value` reads as.
    fn value_of(edn: &str) -> Value {
        let text = format!("{{:process 0, :type :invoke, :f :write, :value {edn}}}");
        History::parse_edn(&text).unwrap().operations()[0]
            .value
            .clone()
    }

    #[test]
    fn values_keep_their_jepsen_identity() {
        // Big integers exact, and distinct from their neighbours.
        assert_eq!(
            value_of("9223372036854775808"),
            json!(9223372036854775808u64)
        );
        assert_ne!(
            value_of("9223372036854775808"),
            value_of("9223372036854775809")
        );
        assert_eq!(
            value_of("18446744073709551616"),
            json!("#18446744073709551616N")
        );
        assert_eq!(
            value_of("18446744073709551616N"),
            value_of("18446744073709551616")
        );
        assert_eq!(value_of("1N"), json!(1));
        // Keywords are not strings; strings that look like the encoding are escaped.
        assert_eq!(value_of(":a"), json!(":a"));
        assert_ne!(value_of(":a"), value_of("\"a\""));
        assert_ne!(value_of(":a"), value_of("\":a\""));
        assert_ne!(value_of("\"#1/2\""), value_of("1/2"));
        // Maps keyed by keywords differ from maps keyed by strings; map keys
        // are JSON's (Maelstrom's kafka polls key their maps with strings).
        assert_ne!(value_of("{:a 1}"), value_of("{\"a\" 1}"));
        assert_eq!(value_of("{1 :x}"), value_of("{\"1\" :x}"));
        // Sets are sets.
        assert_eq!(value_of("#{2 1}"), value_of("#{1 2}"));
        // Escapes decoded.
        assert_eq!(value_of("\"\\u0041\\t\""), json!("A\t"));
        assert_eq!(value_of("\\A"), value_of("\\u0041"));
        assert_ne!(value_of("\\A"), value_of("\"A\""));
        assert_eq!(value_of("\\newline"), json!("#\\\n"));
        // ##Inf, ##NaN, 1e999 and ratios read, as Clojure reads them.
        assert_eq!(value_of("##Inf"), value_of("1e999"));
        assert_eq!(value_of("##NaN"), json!("###NaN"));
        assert_eq!(value_of("2/4"), json!("#1/2"));
        assert_eq!(value_of("4/2"), json!(2));
        assert_ne!(value_of("1.0"), value_of("1"));
    }

    #[test]
    fn an_ok_read_of_nil_is_unknown_unless_asked() {
        let text = "{:process 0, :type :invoke, :f :read, :value nil, :time 5}\n\
                    {:process 0, :type :ok, :f :read, :value nil, :time 9}\n\
                    {:process 0, :type :invoke, :f :read, :value nil, :time 12}\n";
        let h = History::parse_edn(text).unwrap();
        let read = &h.operations()[0];
        assert_eq!(read.completion.as_ref().unwrap().kind, CompletionKind::Info);
        assert_eq!(h.operations().len(), 2, "the process goes on after it");
        assert_eq!(h.time_unit(), TimeUnit::Nanos);
        let h = History::parse_edn_with(
            text,
            EdnOptions {
                nil_read: NilRead::Value,
                ..EdnOptions::default()
            },
        )
        .unwrap();
        assert_eq!(h.operations()[0].output(), Some(&Value::Null));
    }

    #[test]
    fn a_bad_event_fails_before_the_rest_is_read() {
        // Line 2 is wrong; the text after it never ends, and is never reached.
        let text = format!(
            "{{:process 0, :type :invoke, :f :read, :value nil}}\n\
             {{:process 0, :type :done, :f :read, :value nil}}\n\
             {{:process 0 {}",
            "[1 ".repeat(1000)
        );
        let error = History::parse_edn(&text).unwrap_err();
        assert_eq!(error.line, Some(2), "{error}");
        assert!(error.to_string().contains(":type is :done"), "{error}");
    }

    #[test]
    fn index_orders_events_and_completions_alone_are_concurrent() {
        let text = "{:index 1, :process 0, :type :ok, :f :write, :value 1}\n\
                    {:index 0, :process 0, :type :invoke, :f :write, :value 1}\n";
        let h = History::parse_edn(text).unwrap();
        assert_eq!(h.operations()[0].line, Some(2));
        // Elle's test form: no invocations, no processes.
        let text = "[{:type :ok, :value [[:append :x 1]]}\n {:type :ok, :value [[:r :x [1]]]}]";
        let h = History::parse_edn(text).unwrap();
        let ops = h.operations();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[1].value, json!([["r", ":x", [1]]]));
        assert_eq!(ops[0].time, 0);
        assert_eq!(ops[1].time, 0);
        assert_ne!(ops[0].process, ops[1].process);
    }
}
