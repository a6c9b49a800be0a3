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
    /// An integer past i64, its canonical digits (no `N`).
    BigInt(String),
    Float(f64),
    /// A ratio `n/d` in lowest terms, a `M` decimal, or any other number
    /// JSON cannot hold, as written (canonical for ratios).
    Exact(String),
    Text(String),
    Char(char),
    Keyword(String),
    Symbol(String),
    Seq(Vec<Edn>),
    Set(Vec<Edn>),
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
                let mut seen = std::collections::BTreeSet::new();
                // Each key as the JSON object key it is read as, and how it
                // was written.
                let mut names = std::collections::BTreeMap::new();
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    let json = k.to_json();
                    if !seen.insert(json.to_string()) {
                        return Err(self.error(format!(
                            "the map has key {} twice (EDN map keys are distinct)",
                            k.show()
                        )));
                    }
                    let name = match json {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    if let Some(first) = names.insert(name, k.show()) {
                        return Err(self.error(format!(
                            "the map has keys {first} and {}, which are read as one key (a map's \
                             keys are read as JSON's: a string as itself, anything else as its \
                             text); write them apart",
                            k.show()
                        )));
                    }
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
                        let items = self.items(b'}', "set")?;
                        let mut seen = std::collections::BTreeSet::new();
                        for item in &items {
                            if !seen.insert(item.to_json().to_string()) {
                                return Err(self.error(format!(
                                    "the set has {} twice (EDN sets have distinct elements)",
                                    item.show()
                                )));
                            }
                        }
                        Ok(Edn::Set(items))
                    }
                    // ##Inf, ##-Inf, ##NaN.
                    Some(b'#') => {
                        self.bump();
                        match self.token().as_str() {
                            "Inf" => Ok(Edn::Float(f64::INFINITY)),
                            "-Inf" => Ok(Edn::Float(f64::NEG_INFINITY)),
                            "NaN" => Ok(Edn::Float(f64::NAN)),
                            other => Err(self.error(format!(
                                "##{other} is not a symbolic value; allowed: ##Inf, ##-Inf, ##NaN"
                            ))),
                        }
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
                self.character()
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

    /// A character literal after its backslash: `\\a`, `\\newline`, `\\u0041`, `\\o101`.
    fn character(&mut self) -> Parsed<Edn> {
        let mut name = self.token();
        if name.is_empty() {
            // A delimiter as a character: \\( \\" \\; and so on (one byte each).
            match self.bump() {
                Some(b) if b.is_ascii() => return Ok(Edn::Char(b as char)),
                _ => return Err(self.error("a backslash with no character after it")),
            }
        }
        let c = match name.as_str() {
            "newline" => Some('\n'),
            "space" => Some(' '),
            "tab" => Some('\t'),
            "return" => Some('\r'),
            "backspace" => Some('\u{8}'),
            "formfeed" => Some('\u{c}'),
            _ => None,
        };
        if let Some(c) = c {
            return Ok(Edn::Char(c));
        }
        let mut chars = name.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => return Ok(Edn::Char(c)),
            (Some('u'), Some(_)) if name.len() == 5 => {
                if let Some(c) = u32::from_str_radix(&name[1..], 16)
                    .ok()
                    .and_then(char::from_u32)
                {
                    return Ok(Edn::Char(c));
                }
            }
            (Some('o'), Some(_)) if name.len() <= 4 => {
                if let Some(c) = u32::from_str_radix(&name[1..], 8)
                    .ok()
                    .and_then(char::from_u32)
                {
                    return Ok(Edn::Char(c));
                }
            }
            _ => {}
        }
        name.insert(0, '\\');
        Err(self.error(format!("{name} is not a character")))
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
                    Some(b'b') => bytes.push(8),
                    Some(b'f') => bytes.push(12),
                    Some(b'u') => {
                        let at = self.at;
                        let hex = self.text.get(at..at + 4).unwrap_or_default();
                        let code = std::str::from_utf8(hex)
                            .ok()
                            .filter(|h| h.len() == 4)
                            .and_then(|h| u32::from_str_radix(h, 16).ok());
                        let Some(code) = code else {
                            return Err(self.error("\\u in a string takes four hex digits"));
                        };
                        self.at += 4;
                        // A surrogate pair (JSON style), else the code point.
                        let c = if (0xD800..0xDC00).contains(&code)
                            && self.text.get(self.at..self.at + 2) == Some(b"\\u")
                        {
                            let low = std::str::from_utf8(
                                self.text.get(self.at + 2..self.at + 6).unwrap_or_default(),
                            )
                            .ok()
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                            .filter(|l| (0xDC00..0xE000).contains(l));
                            match low {
                                Some(low) => {
                                    self.at += 6;
                                    char::from_u32(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
                                }
                                None => None,
                            }
                        } else {
                            char::from_u32(code)
                        };
                        let Some(c) = c else {
                            return Err(self.error(format!(
                                "\\u{code:04x} in a string is not a character"
                            )));
                        };
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    Some(c @ (b'"' | b'\\' | b'/')) => bytes.push(c),
                    Some(c) => {
                        return Err(self.error(format!(
                            "\\{} is not a string escape; allowed: \\n \\t \\r \\b \\f \\\" \\\\ \\uXXXX",
                            c as char
                        )))
                    }
                    None => continue,
                },
                Some(c) => bytes.push(c),
            }
        }
        match String::from_utf8(bytes) {
            Ok(s) => Ok(Edn::Text(s)),
            Err(_) => Err(self.error("the string is not UTF-8")),
        }
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
        number(&token).ok_or_else(|| self.error(format!("{token:?} is not a number")))
    }
}

/// Reads an EDN number as Clojure does: integers exact (past i64 as big
/// integers; `N` marks one), ratios in lowest terms (a whole ratio is an
/// integer), `M` decimals kept as written, floats as f64 (out of range:
/// infinite, as Clojure reads `1e999`).
fn number(token: &str) -> Option<Edn> {
    if let Some(digits) = token.strip_suffix('N') {
        return integer(digits);
    }
    if let Some(body) = token.strip_suffix('M') {
        body.parse::<f64>().ok()?;
        return Some(Edn::Exact(format!("{body}M")));
    }
    if let Some((n, d)) = token.split_once('/') {
        return ratio(n, d);
    }
    if token.bytes().skip(1).all(|b| b.is_ascii_digit()) {
        return integer(token);
    }
    // Hex and radix integers (0x1F, 2r101) are rare in histories.
    let x: f64 = token.parse().ok()?;
    Some(Edn::Float(x))
}

/// An integer from its digits (an optional sign first).
fn integer(text: &str) -> Option<Edn> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let signed = if negative && digits != "0" {
        format!("-{digits}")
    } else {
        digits.to_string()
    };
    Some(match signed.parse::<i64>() {
        Ok(n) => Edn::Int(n),
        Err(_) => Edn::BigInt(signed),
    })
}

/// A ratio `n/d` in lowest terms (within i128; larger ones kept as written).
fn ratio(n: &str, d: &str) -> Option<Edn> {
    let num: i128 = n.parse().ok()?;
    let den: i128 = d.parse().ok()?;
    if den <= 0 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (mut a, mut b) = (num.unsigned_abs(), den.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let g = a.max(1) as i128;
    let (num, den) = (num / g, den / g);
    if den == 1 {
        return integer(&num.to_string());
    }
    Some(Edn::Exact(format!("{num}/{den}")))
}

impl Edn {
    /// The value as JSON, keeping EDN's identities (see [`super`]'s docs):
    /// keywords become `:name`, values JSON lacks a `#`-prefixed string
    /// (`#1/2`, `#123456789012345678901N`, `###Inf`, `#\\a`, a symbol
    /// `#sym`), a string that begins with `:` or `#` becomes `#` and its
    /// quoted EDN text, sets sorted arrays, maps objects keyed as JSON keys
    /// them (a string as itself, anything else as its JSON text, so
    /// `{1 x}` and `{"1" x}` are one map, as in JSON).
    pub(super) fn to_json(&self) -> Value {
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(n) => Value::from(*n),
            Edn::BigInt(digits) => match digits.parse::<u64>() {
                Ok(n) => Value::from(n),
                Err(_) => Value::String(format!("#{digits}N")),
            },
            Edn::Float(x) if x.is_nan() => Value::String("###NaN".into()),
            Edn::Float(x) if x.is_infinite() => {
                Value::String(if *x > 0.0 { "###Inf" } else { "###-Inf" }.into())
            }
            Edn::Float(x) => Number::from_f64(*x).map_or(Value::Null, Value::Number),
            Edn::Exact(text) => Value::String(format!("#{text}")),
            Edn::Text(s) if s.starts_with([':', '#']) => {
                Value::String(format!("#{}", Value::String(s.clone())))
            }
            Edn::Text(s) => Value::String(s.clone()),
            Edn::Char(c) => Value::String(format!("#\\{c}")),
            Edn::Keyword(k) => Value::String(format!(":{k}")),
            Edn::Symbol(s) => Value::String(format!("#{s}")),
            Edn::Seq(items) => Value::Array(items.iter().map(Edn::to_json).collect()),
            Edn::Set(items) => {
                let mut items: Vec<Value> = items.iter().map(Edn::to_json).collect();
                items.sort_by(canonical_order);
                Value::Array(items)
            }
            Edn::Map(pairs) => {
                let mut map = Map::new();
                for (k, v) in pairs {
                    // As JSON object keys: strings as themselves, anything
                    // else as its JSON text (keywords `:x`).
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
            Edn::Text(s) => format!("{:?}", s),
            other => other.to_json().to_string(),
        }
    }
}

/// The order of a set's elements: numbers by value, then everything else
/// by its JSON text (a total order, so equal sets read equal).
fn canonical_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (fx, fy) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            fx.total_cmp(&fy)
                .then_with(|| x.to_string().cmp(&y.to_string()))
        }
        (Value::Number(_), _) => std::cmp::Ordering::Less,
        (_, Value::Number(_)) => std::cmp::Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// A map's entries, in the order written.
pub(super) type Pairs = Vec<(Edn, Edn)>;

/// The events of a history whose text arrives in pieces (whole lines; a
/// pipe's as they come): Jepsen's one map after another, or Knossos's maps
/// in one vector or list. Each complete map is handed on as soon as its
/// text has arrived, so a bad one fails before the rest is read; a map
/// still incomplete waits for more text.
#[derive(Debug)]
pub(super) struct Forms {
    /// Text not yet read: the start of an incomplete form, at most.
    pending: String,
    /// The line `pending` starts on.
    line: usize,
    /// Whether the first form has been seen, and if it opened Knossos's
    /// vector, the line it began on (`Some(None)`: Jepsen's form).
    wrapper: Option<Option<usize>>,
    /// Knossos's vector has been closed: only whitespace may follow.
    closed: bool,
}

impl Default for Forms {
    fn default() -> Forms {
        Forms {
            pending: String::new(),
            line: 1,
            wrapper: None,
            closed: false,
        }
    }
}

impl Forms {
    /// Reads the maps `text` completes (it ends at a line's end, or is the
    /// last text, `end`), calling `each` with each map and its line.
    pub(super) fn feed(
        &mut self,
        text: &str,
        end: bool,
        mut each: impl FnMut(usize, Pairs) -> Parsed<()>,
    ) -> Parsed<()> {
        self.pending.push_str(text);
        let pending = std::mem::take(&mut self.pending);
        let mut reader = Reader {
            text: pending.as_bytes(),
            at: 0,
            line: self.line,
            depth: 0,
        };
        // The start of the first form not read yet: where to resume.
        let mut resume = (0, self.line);
        let outcome = loop {
            // An error at the end of the text read so far may be a form cut
            // short: wait for the rest (unless this is the end).
            let short = |reader: &Reader<'_>| !end && reader.at >= reader.text.len();
            if let Err(e) = reader.skip() {
                break if short(&reader) { Ok(()) } else { Err(e) };
            }
            resume = (reader.at, reader.line);
            let Some(c) = reader.peek() else {
                break Ok(());
            };
            let line = reader.line;
            if self.wrapper.is_none() {
                if matches!(c, b'[' | b'(') {
                    // Knossos's wrapping vector: its elements one by one.
                    reader.bump();
                    self.wrapper = Some(Some(line));
                    continue;
                }
                self.wrapper = Some(None);
            }
            let vector = self.wrapper.flatten().is_some() && !self.closed;
            if vector && matches!(c, b']' | b')') {
                reader.bump();
                self.closed = true;
                continue;
            }
            match reader.value() {
                Err(e) => break if short(&reader) { Ok(()) } else { Err(e) },
                Ok(Edn::Map(pairs)) if !self.closed => {
                    if let Err(e) = each(line, pairs) {
                        break Err(e);
                    }
                }
                Ok(other) => break Err(not_a_map(line, &other)),
            }
        };
        outcome?;
        if end {
            if let (Some(Some(start)), false) = (self.wrapper, self.closed) {
                return Err(reader.error(format!("the vector begun on line {start} never ends")));
            }
        }
        self.pending = pending[resume.0..].to_string();
        self.line = resume.1;
        Ok(())
    }
}

/// Reads every map of a whole history text; see [`Forms`].
pub(super) fn each_form(text: &str, each: impl FnMut(usize, Pairs) -> Parsed<()>) -> Parsed<()> {
    Forms::default().feed(text, true, each)
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
