//! The part of EDN that histories use, read into values with the line
//! each starts on; see the parent module for what is read.

use crate::history::{HistoryError, HistoryErrorKind};
use serde_json::{Map, Number, Value};

/// One EDN value.
#[derive(Clone, Debug)]
pub(super) enum Edn {
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

pub(super) type Parsed<T> = Result<T, HistoryError>;

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
    pub(super) fn to_json(&self) -> Value {
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
    pub(super) fn show(&self) -> String {
        match self {
            Edn::Keyword(k) => format!(":{k}"),
            Edn::Symbol(s) => s.clone(),
            other => other.to_json().to_string(),
        }
    }
}

/// A map's entries, in the order written.
pub(super) type Pairs = Vec<(Edn, Edn)>;

/// The top-level forms of `text`: maps, or one vector or list of maps.
pub(super) fn forms(text: &str) -> Parsed<Vec<(usize, Pairs)>> {
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
