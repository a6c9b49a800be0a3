//! The trace: every event of a run, hashed into a fingerprint and, on
//! request, written as JSON Lines with a stable field order.
//!
//! A record is built field by field. Each field's value (never its name) is
//! mixed into the fingerprint; when a writer is attached the field is also
//! appended to the current line, and when an [`Observer`] is attached it is
//! handed the field as it is (an integer, a string, or a value it may
//! serialize or ask the enum variant of). With neither, recording costs a
//! few multiplications per field. Neither changes the fingerprint.

use std::io::Write;

use serde::Serialize;

use crate::hash::{Fingerprint, StableHasher};
use crate::Time;

mod variant;

/// The sink for one run's trace.
pub struct Trace {
    fp: StableHasher,
    out: Option<Box<dyn Write>>,
    observer: Option<Box<dyn Observer>>,
    /// The observer wants the current record.
    observing: bool,
    line: Vec<u8>,
    error: Option<std::io::Error>,
}

/// Receives every record as the engine makes it, field by field, in the
/// order the JSON Lines trace writes them (the HTML report reads a run
/// this way, without building or parsing the text).
pub trait Observer {
    /// A record of kind `ev` at time `t` begins. Returns whether the
    /// observer wants it: if not, its fields and its end are not handed
    /// over.
    fn start(&mut self, t: Time, ev: &'static str) -> bool;
    /// One field of the current record.
    fn field(&mut self, name: &'static str, v: Field<'_>);
    /// The current record ends.
    fn end(&mut self);
}

/// A field's value as an [`Observer`] sees it.
#[derive(Clone, Copy)]
pub enum Field<'a> {
    /// An unsigned integer.
    U(u64),
    /// A signed integer.
    I(i64),
    /// A short string of the engine's.
    S(&'a str),
    /// Any other value (a message, a timer tag, a fault).
    V(&'a dyn TraceValue),
}

/// A value in a record, serialized only when asked.
pub trait TraceValue {
    /// Appends the value's JSON (as the trace writes it) to `out`.
    fn json(&self, out: &mut Vec<u8>);
    /// The variant's name when the value is an enum variant serialized the
    /// externally tagged way (`"Name"` or `{"Name": …}` in JSON), found
    /// without serializing the rest; `None` for any other shape.
    fn variant(&self) -> Option<&'static str>;
}

/// A serializable value as a [`TraceValue`].
pub struct Ser<'a, T: ?Sized>(pub &'a T);

impl<T: Serialize + ?Sized> TraceValue for Ser<'_, T> {
    fn json(&self, out: &mut Vec<u8>) {
        if let Err(e) = serde_json::to_writer(&mut *out, self.0) {
            let _ = write!(out, "\"<unserializable: {e}>\"");
        }
    }

    fn variant(&self) -> Option<&'static str> {
        match self.0.serialize(variant::Probe) {
            Ok(v) => Some(v),
            Err(variant::Stop(v)) => v,
        }
    }
}

impl Trace {
    /// A trace that writes JSON Lines to `out`, if given.
    pub fn new(out: Option<Box<dyn Write>>) -> Trace {
        Trace {
            fp: StableHasher::new(),
            out,
            observer: None,
            observing: false,
            line: Vec::with_capacity(256),
            error: None,
        }
    }

    /// Hands every record from now on to `observer` too.
    pub fn observe(&mut self, observer: Box<dyn Observer>) {
        self.observer = Some(observer);
    }

    /// True when records go anywhere but the fingerprint.
    #[inline(always)]
    fn attached(&self) -> bool {
        self.out.is_some() || self.observer.is_some()
    }

    /// Starts a record of kind `ev` at time `t`.
    #[inline(always)]
    pub fn rec(&mut self, t: Time, ev: &'static str) -> Rec<'_> {
        let mut fp = self.fp;
        fp.word(t);
        fp.word(tag_word(ev));
        let writing = self.attached();
        if writing {
            self.begin(t, ev);
        }
        Rec {
            trace: self,
            fp,
            writing,
        }
    }

    /// The fingerprint of everything recorded so far.
    pub fn fingerprint(&self) -> u64 {
        self.fp.finish()
    }

    /// Flushes the writer and returns the first write error, if any.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(out) = self.out.as_mut() {
            out.flush()?;
        }
        Ok(())
    }
}

/// An event name as one word: its first eight bytes and its length. Event
/// names are a small fixed set chosen by the engine, all distinct this way.
#[inline(always)]
fn tag_word(name: &str) -> u64 {
    let b = name.as_bytes();
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(w) ^ ((b.len() as u64) << 59)
}

/// A record under construction; fields are added in a fixed order. The
/// record hashes into its own copy of the fingerprint state, which stays in
/// registers while the fields are added (the writer's calls cannot touch
/// it), and hands it back when the record is dropped: `end()`, or any other
/// way the record goes out of scope, so no record can be left out.
pub struct Rec<'a> {
    trace: &'a mut Trace,
    fp: StableHasher,
    writing: bool,
}

impl Rec<'_> {
    /// An unsigned integer field.
    #[inline(always)]
    pub fn u(mut self, name: &'static str, v: u64) -> Self {
        self.fp.word(v);
        if self.writing {
            self.trace.put(name, Field::U(v));
        }
        self
    }

    /// A signed integer field.
    #[inline(always)]
    pub fn i(mut self, name: &'static str, v: i64) -> Self {
        self.fp.word(v as u64);
        if self.writing {
            self.trace.put(name, Field::I(v));
        }
        self
    }

    /// A short string field (a name from the program, not user data).
    #[inline(always)]
    pub fn s(mut self, name: &'static str, v: &str) -> Self {
        self.fp.bytes(v.as_bytes());
        if self.writing {
            self.trace.put(name, Field::S(v));
        }
        self
    }

    /// Any serializable field (messages, timer tags, values, faults).
    #[inline(always)]
    pub fn v<T: Serialize + ?Sized>(mut self, name: &'static str, v: &T) -> Self {
        self.fp.value(v);
        if self.writing {
            self.trace.put(name, Field::V(&Ser(v)));
        }
        self
    }

    /// A field of a type hashed directly (see [`Fingerprint`]); the same
    /// fingerprint as [`Rec::v`] would give, for less.
    #[inline(always)]
    pub fn f<T: Fingerprint>(mut self, name: &'static str, v: &T) -> Self {
        v.fingerprint(&mut self.fp);
        if self.writing {
            self.trace.put(name, Field::V(&Ser(v)));
        }
        self
    }

    /// Ends the record (writes the line, when writing).
    #[inline(always)]
    pub fn end(self) {}
}

impl Drop for Rec<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let t = &mut *self.trace;
        t.fp = self.fp;
        if self.writing {
            t.write_line();
        }
    }
}

impl Trace {
    /// Starts a record's line and tells the observer (out of line: only
    /// when something is attached).
    #[inline(never)]
    fn begin(&mut self, t: Time, ev: &'static str) {
        if self.out.is_some() {
            self.line.clear();
            self.line.extend_from_slice(b"{\"t\":");
            push_uint(&mut self.line, t);
            self.line.extend_from_slice(b",\"ev\":\"");
            self.line.extend_from_slice(ev.as_bytes());
            self.line.push(b'"');
        }
        if let Some(o) = self.observer.as_mut() {
            self.observing = o.start(t, ev);
        }
    }

    /// One field, to the line and to the observer.
    #[inline(never)]
    fn put(&mut self, name: &'static str, v: Field<'_>) {
        if self.out.is_some() {
            match v {
                Field::U(u) => write_int(&mut self.line, name, i128::from(u)),
                Field::I(i) => write_int(&mut self.line, name, i128::from(i)),
                Field::S(s) => write_json(&mut self.line, name, s),
                Field::V(v) => {
                    push_name(&mut self.line, name);
                    v.json(&mut self.line);
                }
            }
        }
        if self.observing {
            if let Some(o) = self.observer.as_mut() {
                o.field(name, v);
            }
        }
    }

    #[inline(never)]
    fn write_line(&mut self) {
        if std::mem::take(&mut self.observing) {
            if let Some(o) = self.observer.as_mut() {
                o.end();
            }
        }
        let Some(out) = self.out.as_mut() else {
            return;
        };
        self.line.extend_from_slice(b"}\n");
        if self.error.is_none() {
            if let Err(e) = out.write_all(&self.line) {
                self.error = Some(e);
            }
        }
    }
}

/// Appends `,"name":` (names are the engine's own: nothing to escape).
#[inline(always)]
fn push_name(line: &mut Vec<u8>, name: &str) {
    line.extend_from_slice(b",\"");
    line.extend_from_slice(name.as_bytes());
    line.extend_from_slice(b"\":");
}

/// The decimal digits of `v`, written into the end of `buf`, without the
/// formatting machinery: a trace (and a report page) writes millions.
#[inline(always)]
pub fn decimal(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Appends the decimal digits of `v`.
#[inline(always)]
fn push_uint(line: &mut Vec<u8>, v: u64) {
    line.extend_from_slice(decimal(v, &mut [0u8; 20]));
}

/// Appends `,"name":v` for an integer field (out of line: only when writing).
#[inline(never)]
fn write_int(line: &mut Vec<u8>, name: &str, v: i128) {
    push_name(line, name);
    if v < 0 {
        line.push(b'-');
    }
    match u64::try_from(v.unsigned_abs()) {
        Ok(m) => push_uint(line, m),
        Err(_) => {
            let _ = write!(line, "{}", v.unsigned_abs());
        }
    }
}

/// Appends `,"name":<json>` (out of line: only when writing).
#[inline(never)]
fn write_json<T: Serialize + ?Sized>(line: &mut Vec<u8>, name: &str, v: &T) {
    push_name(line, name);
    if let Err(e) = serde_json::to_writer(&mut *line, v) {
        let _ = write!(line, "\"<unserializable: {e}>\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writing_does_not_change_the_fingerprint() {
        let buf = Shared::default();
        let mut a = Trace::new(Some(Box::new(buf.clone())));
        let mut b = Trace::new(None);
        for t in [&mut a, &mut b] {
            t.rec(5, "send")
                .u("from", 1)
                .u("to", 2)
                .v("msg", &("set", 3))
                .end();
            t.rec(9, "fault").s("what", "heal").i("d", -4).end();
        }
        assert_eq!(a.fingerprint(), b.fingerprint());
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "{\"t\":5,\"ev\":\"send\",\"from\":1,\"to\":2,\"msg\":[\"set\",3]}\n\
             {\"t\":9,\"ev\":\"fault\",\"what\":\"heal\",\"d\":-4}\n"
        );
    }

    #[test]
    fn integers_are_written_as_their_decimal_digits() {
        let mut line = Vec::new();
        for v in [0, 7, -1, 10, 1_000_000, i64::MIN as i128, u64::MAX as i128] {
            write_int(&mut line, "x", v);
        }
        write_int(&mut line, "y", -(u64::MAX as i128) - 5);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            format!(
                ",\"x\":0,\"x\":7,\"x\":-1,\"x\":10,\"x\":1000000,\"x\":{},\"x\":{},\"y\":{}",
                i64::MIN,
                u64::MAX,
                -(u64::MAX as i128) - 5
            )
        );
    }

    #[test]
    fn any_field_changes_the_fingerprint() {
        let fp = |to: u64, t: Time| {
            let mut x = Trace::new(None);
            x.rec(t, "send").u("to", to).end();
            x.fingerprint()
        };
        assert_ne!(fp(1, 5), fp(2, 5));
        assert_ne!(fp(1, 5), fp(1, 6));
    }

    /// Writes what it is handed as one line per record, in the trace's
    /// own format, values by their JSON.
    struct Echo(Arc<Mutex<Vec<u8>>>);
    impl Observer for Echo {
        fn start(&mut self, t: Time, ev: &'static str) -> bool {
            let _ = write!(self.0.lock().unwrap(), "{{\"t\":{t},\"ev\":\"{ev}\"");
            true
        }
        fn field(&mut self, name: &'static str, v: Field<'_>) {
            let mut b = self.0.lock().unwrap();
            let _ = write!(b, ",\"{name}\":");
            match v {
                Field::U(u) => write!(b, "{u}").unwrap(),
                Field::I(i) => write!(b, "{i}").unwrap(),
                Field::S(s) => serde_json::to_writer(&mut *b, s).unwrap(),
                Field::V(v) => v.json(&mut b),
            }
        }
        fn end(&mut self) {
            self.0.lock().unwrap().extend_from_slice(b"}\n");
        }
    }

    #[test]
    fn an_observer_sees_every_field_and_changes_nothing() {
        let text = Shared::default();
        let seen = Shared::default();
        let mut a = Trace::new(Some(Box::new(text.clone())));
        a.observe(Box::new(Echo(seen.0.clone())));
        let mut alone = Trace::new(Some(Box::new(Shared::default())));
        let mut blind = Trace::new(None);
        blind.observe(Box::new(Echo(Arc::default())));
        for t in [&mut a, &mut alone, &mut blind] {
            t.rec(5, "send")
                .u("mid", 1)
                .v("msg", &("set", 3))
                .s("fate", "lost")
                .end();
            t.rec(9, "fault").i("d", -4).end();
        }
        assert_eq!(a.fingerprint(), alone.fingerprint());
        assert_eq!(a.fingerprint(), blind.fingerprint());
        let text = text.0.lock().unwrap().clone();
        assert!(!text.is_empty());
        assert_eq!(*seen.0.lock().unwrap(), text);
    }

    #[test]
    fn the_variant_is_the_kind_json_gives() {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Msg {
            Ping,
            SetValue(u32),
            Pair(u8, u8),
            Sync { from: u32, body: String },
        }
        #[derive(Serialize)]
        struct Wrapped(Msg);
        #[derive(Serialize)]
        #[serde(tag = "type")]
        enum Inner {
            Read { key: u32 },
        }
        #[derive(Serialize)]
        struct Plain {
            only: u32,
        }
        fn probe<T: Serialize>(v: &T) -> (Option<&'static str>, Option<String>) {
            let json = serde_json::to_value(v).unwrap();
            let kind = crate::rule::kind_of(&json).0.map(str::to_string);
            (Ser(v).variant(), kind)
        }
        for (got, kind) in [
            probe(&Msg::Ping),
            probe(&Msg::SetValue(3)),
            probe(&Msg::Pair(1, 2)),
            probe(&Msg::Sync {
                from: 1,
                body: "x".into(),
            }),
            probe(&Wrapped(Msg::SetValue(1))),
            probe(&Some(Msg::Ping)),
        ] {
            assert!(got.is_some());
            assert_eq!(got.map(str::to_string), kind);
        }
        // Other shapes give no variant (their kind is read from the JSON).
        assert_eq!(Ser(&Inner::Read { key: 1 }).variant(), None);
        assert_eq!(Ser(&Plain { only: 1 }).variant(), None);
        assert_eq!(Ser(&7u32).variant(), None);
        assert_eq!(Ser(&serde_json::json!({"set": 1})).variant(), None);
        let mut out = Vec::new();
        Ser(&Msg::Pair(1, 2)).json(&mut out);
        assert_eq!(out, b"{\"pair\":[1,2]}");
    }
}
