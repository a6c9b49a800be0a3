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

use super::{CompletionKind, History, HistoryError, HistoryErrorKind};
use serde_json::{Map, Number, Value};

/// One EDN value, with the line it starts on.
#[derive(Clone, Debug)]
enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Keyword(String),
    Symbol(String),
    Seq(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
}

/// A reader over EDN text that tracks lines.
struct Reader<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
    /// How many collections the reader is inside, bounded by [`MAX_DEPTH`].
    depth: usize,
}

/// The deepest nesting read: histories nest a few levels; a bound keeps a
/// malicious file from overflowing the stack.
const MAX_DEPTH: usize = 128;

type Parsed<T> = Result<T, HistoryError>;

impl Reader<'_> {
    fn error(&self, message: impl Into<String>) -> HistoryError {
        HistoryError {
            line: Some(self.line),
            kind: HistoryErrorKind::Edn {
                message: message.into(),
            },
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.at += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Skips whitespace, commas, comments and `#_` discarded forms.
    fn skip(&mut self) -> Parsed<()> {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b',' => {
                    self.bump();
                }
                b';' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.bump();
                    }
                }
                b'#' if self.text.get(self.at + 1) == Some(&b'_') => {
                    self.at += 2;
                    self.value()?;
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// The next value; `None` at the end of the text.
    fn next(&mut self) -> Parsed<Option<(usize, Edn)>> {
        self.skip()?;
        if self.peek().is_none() {
            return Ok(None);
        }
        let line = self.line;
        Ok(Some((line, self.value()?)))
    }

    fn value(&mut self) -> Parsed<Edn> {
        self.depth += 1;
        let value = self.nested();
        self.depth -= 1;
        value
    }

    fn nested(&mut self) -> Parsed<Edn> {
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("values nested more than {MAX_DEPTH} deep")));
        }
        self.skip()?;
        let Some(c) = self.peek() else {
            return Err(self.error("the text ends where a value should be"));
        };
        match c {
            b'{' => {
                self.bump();
                let items = self.items(b'}', "map")?;
                if items.len() % 2 == 1 {
                    return Err(self.error("a map has a key without a value"));
                }
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    pairs.push((k, v));
                }
                Ok(Edn::Map(pairs))
            }
            b'[' => {
                self.bump();
                Ok(Edn::Seq(self.items(b']', "vector")?))
            }
            b'(' => {
                self.bump();
                Ok(Edn::Seq(self.items(b')', "list")?))
            }
            b'#' => {
                self.bump();
                match self.peek() {
                    Some(b'{') => {
                        self.bump();
                        Ok(Edn::Seq(self.items(b'}', "set")?))
                    }
                    // A tagged value (#inst "...", #jepsen.history.Op{...}): the value.
                    _ => {
                        self.token();
                        self.value()
                    }
                }
            }
            b'"' => self.string(),
            b'\\' => {
                self.bump();
                let name = self.token();
                let c = match name.as_str() {
                    "newline" => "\n".to_string(),
                    "space" => " ".to_string(),
                    "tab" => "\t".to_string(),
                    "" => self
                        .bump()
                        .map(|b| (b as char).to_string())
                        .unwrap_or_default(),
                    other => other.to_string(),
                };
                Ok(Edn::Text(c))
            }
            b')' | b']' | b'}' => Err(self.error(format!("unexpected '{}'", c as char))),
            _ => self.atom(),
        }
    }

    /// Values up to the closing byte `close`.
    fn items(&mut self, close: u8, what: &str) -> Parsed<Vec<Edn>> {
        let start = self.line;
        let mut items = Vec::new();
        loop {
            self.skip()?;
            match self.peek() {
                None => {
                    return Err(self.error(format!("the {what} begun on line {start} never ends")))
                }
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(_) => items.push(self.value()?),
            }
        }
    }

    /// A run of symbol characters.
    fn token(&mut self) -> String {
        let start = self.at;
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() || b",;()[]{}\"".contains(&c) {
                break;
            }
            self.bump();
        }
        String::from_utf8_lossy(&self.text[start..self.at]).into_owned()
    }

    fn string(&mut self) -> Parsed<Edn> {
        let start = self.line;
        self.bump();
        let mut bytes = Vec::new();
        loop {
            match self.bump() {
                None => {
                    return Err(self.error(format!("the string begun on line {start} never ends")))
                }
                Some(b'"') => break,
                Some(b'\\') => match self.bump() {
                    Some(b'n') => bytes.push(b'\n'),
                    Some(b't') => bytes.push(b'\t'),
                    Some(b'r') => bytes.push(b'\r'),
                    Some(c) => bytes.push(c),
                    None => continue,
                },
                Some(c) => bytes.push(c),
            }
        }
        Ok(Edn::Text(String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn atom(&mut self) -> Parsed<Edn> {
        let token = self.token();
        if token.is_empty() {
            let c = self.peek().map_or(' ', char::from);
            return Err(self.error(format!("unexpected {c:?}")));
        }
        if let Some(name) = token.strip_prefix(':') {
            return Ok(Edn::Keyword(name.to_string()));
        }
        match token.as_str() {
            "nil" => return Ok(Edn::Nil),
            "true" => return Ok(Edn::Bool(true)),
            "false" => return Ok(Edn::Bool(false)),
            _ => {}
        }
        let first = token.as_bytes()[0];
        let numeric = first.is_ascii_digit()
            || (matches!(first, b'-' | b'+')
                && token.len() > 1
                && token.as_bytes()[1].is_ascii_digit());
        if !numeric {
            return Ok(Edn::Symbol(token));
        }
        let digits = token.trim_end_matches(['N', 'M']);
        if let Ok(n) = digits.parse::<i64>() {
            return Ok(Edn::Int(n));
        }
        match digits.parse::<f64>() {
            Ok(x) => Ok(Edn::Float(x)),
            Err(_) => Err(self.error(format!("{token:?} is not a number"))),
        }
    }
}

impl Edn {
    /// The value as JSON: keywords and symbols become their names.
    fn to_json(&self) -> Value {
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(n) => Value::from(*n),
            Edn::Float(x) => Number::from_f64(*x).map_or(Value::Null, Value::Number),
            Edn::Text(s) | Edn::Keyword(s) | Edn::Symbol(s) => Value::String(s.clone()),
            Edn::Seq(items) => Value::Array(items.iter().map(Edn::to_json).collect()),
            Edn::Map(pairs) => {
                let mut map = Map::new();
                for (k, v) in pairs {
                    let key = match k.to_json() {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    map.insert(key, v.to_json());
                }
                Value::Object(map)
            }
        }
    }

    /// A short rendering for error messages.
    fn show(&self) -> String {
        match self {
            Edn::Keyword(k) => format!(":{k}"),
            Edn::Symbol(s) => s.clone(),
            other => other.to_json().to_string(),
        }
    }
}

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

/// A map's entries, in the order written.
type Pairs = Vec<(Edn, Edn)>;

/// The top-level forms of `text`: maps, or one vector or list of maps.
fn forms(text: &str) -> Parsed<Vec<(usize, Pairs)>> {
    let mut reader = Reader {
        text: text.as_bytes(),
        at: 0,
        line: 1,
        depth: 0,
    };
    let mut top = Vec::new();
    while let Some(form) = reader.next()? {
        top.push(form);
    }
    // Knossos's test data wraps the events in one vector or list: read its
    // elements again one by one, to know the line each starts on.
    if let [(_, Edn::Seq(items))] = top.as_slice() {
        let mut reader = Reader {
            text: text.as_bytes(),
            at: 0,
            line: 1,
            depth: 0,
        };
        reader.skip()?;
        reader.bump();
        let mut out = Vec::with_capacity(items.len());
        loop {
            reader.skip()?;
            if matches!(reader.peek(), None | Some(b')' | b']')) {
                break;
            }
            let line = reader.line;
            match reader.value()? {
                Edn::Map(pairs) => out.push((line, pairs)),
                other => return Err(not_a_map(line, &other)),
            }
        }
        return Ok(out);
    }
    top.into_iter()
        .map(|(line, form)| match form {
            Edn::Map(pairs) => Ok((line, pairs)),
            other => Err(not_a_map(line, &other)),
        })
        .collect()
}

fn not_a_map(line: usize, found: &Edn) -> HistoryError {
    HistoryError {
        line: Some(line),
        kind: HistoryErrorKind::Edn {
            message: format!(
                "an event is a map such as {{:type :invoke, :f :write, :value 3, :process 0}}, not {}",
                found.show()
            ),
        },
    }
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
    /// Parses a Jepsen or Knossos EDN history (see the [module](self::edn) notes).
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
