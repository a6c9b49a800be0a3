//! The trace as the report draws it: a [`Model`] is handed the run's trace
//! records by the engine as they happen (a `sim::trace::Observer`: typed
//! fields, no JSON text built or parsed) and keeps only what the page
//! needs: the message copies still in flight (a window that moves with the
//! run), the arrows the page draws (see [`super::MAX_ARROWS`]), per-bucket
//! counts of every message for the plots, timer ticks and fault markers.
//! Nothing grows with the run's length but those capped lists and the
//! counts.
//!
//! A message's kind is its enum variant's name, which serde gives without
//! serializing the message (`TraceValue::variant`); a message of another
//! shape is serialized and its kind read from the JSON as
//! `sim::rule::kind_of` does. A message's JSON text is made only for the
//! first [`super::MAX_TEXTS`] ids, a marker's fields only for the markers
//! kept.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sim::trace::{Field, Observer, TraceValue};

use super::kind::KindOf;

/// What a message arrow ends in: the index into [`OUTCOMES`].
pub const OUTCOMES: [&str; 10] = [
    "delivered",
    "dropped: partition",
    "dropped: receiver down",
    "dropped: receiver halted",
    "dropped: connection reset",
    "lost by the network",
    "not sent: connection error",
    "dropped by a message rule",
    "still in flight at the end",
    "dropped",
];

fn drop_outcome(reason: &[u8]) -> u8 {
    match reason {
        b"partition" => 1,
        b"down" => 2,
        b"halted" => 3,
        b"connection-reset" => 4,
        _ => 9,
    }
}

/// One copy of one message: from its send to its arrival (or its end).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Arrow {
    /// Send time (µs).
    pub s: u64,
    /// The message id (the trace's `mid`).
    pub m: u64,
    /// Copy number: 0, or 1.. for duplicates.
    pub c: u32,
    /// Sender lane.
    pub f: u32,
    /// Receiver lane.
    pub r: u32,
    /// Message kind (index into `kinds`).
    pub k: u32,
    /// Arrival or drop time (µs); `None` when it never got that far.
    pub a: Option<u64>,
    /// Outcome (index into [`OUTCOMES`]).
    pub o: u8,
    /// When a partition held it or a pause parked it (µs).
    pub h: Option<u64>,
}

impl Arrow {
    /// True when the message simply arrived (not dropped, lost,
    /// duplicated or held).
    pub fn plain(&self) -> bool {
        self.o == 0 && self.c == 0 && self.h.is_none()
    }
}

/// A point event drawn as a marker or span boundary: faults, halts, link
/// errors, rule ends, loss ends, the final heal.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Marker {
    /// Time (µs).
    pub t: u64,
    /// The trace record's kind (`fault`, `halt`, `link_error`, …).
    pub ev: String,
    /// The record's other fields.
    pub x: Value,
}

const NONE: u64 = u64::MAX;

/// A message id's state while it may still be read about (32 bytes).
#[derive(Clone, Copy)]
struct Slot {
    t: u64,
    /// When held or parked, else [`NONE`].
    held: u64,
    from: u32,
    to: u32,
    /// Index into the kinds; `u32::MAX` for an id not sent (yet).
    kind: u32,
    /// The copy number of this id's first arrival (0, or k for the
    /// k-th extra copy of a message).
    copy: u16,
    /// Extra copies made of it so far.
    dups: u8,
    /// Arrivals (deliveries and drops) read so far.
    arrivals: u8,
    /// The outcome a send's `fate` gives it when it never arrives.
    fate: u8,
}

impl Slot {
    const UNSEEN: Slot = Slot {
        t: 0,
        held: NONE,
        from: 0,
        to: 0,
        kind: u32::MAX,
        copy: 0,
        dups: 0,
        arrivals: 0,
        fate: 8,
    };
}

/// Messages counted per bucket of simulated time, whatever the run's
/// length: buckets start 1 ms wide and double (pairs merged) when there
/// would be more than `FINE` (16,384) of them.
#[derive(Clone, Debug)]
pub struct Counts {
    /// Bucket width (µs).
    pub width_us: u64,
    /// Messages sent (first copies) per bucket, by send time.
    pub sent: Vec<u64>,
    /// Copies delivered per bucket, by arrival time.
    pub delivered: Vec<u64>,
    /// Copies dropped or lost per bucket, by send time.
    pub dropped: Vec<u64>,
}

const FINE: usize = 1 << 14;

impl Default for Counts {
    fn default() -> Self {
        Counts {
            width_us: 1000,
            sent: Vec::new(),
            delivered: Vec::new(),
            dropped: Vec::new(),
        }
    }
}

impl Counts {
    fn add(&mut self, which: u8, t: u64) {
        let mut i = (t / self.width_us) as usize;
        while i >= FINE {
            self.coarsen();
            i = (t / self.width_us) as usize;
        }
        let v = match which {
            0 => &mut self.sent,
            1 => &mut self.delivered,
            _ => &mut self.dropped,
        };
        if v.len() <= i {
            v.resize(i + 1, 0);
        }
        v[i] += 1;
    }

    fn coarsen(&mut self) {
        self.width_us *= 2;
        for v in [&mut self.sent, &mut self.delivered, &mut self.dropped] {
            let merged: Vec<u64> = v.chunks(2).map(|c| c.iter().sum()).collect();
            *v = merged;
        }
    }

    /// The counts in `n` buckets of `width` µs (a multiple of this one's).
    pub fn rebucket(v: &[u64], from: u64, width: u64, n: usize) -> Vec<u64> {
        let mut out = vec![0; n];
        for (i, c) in v.iter().enumerate() {
            if *c > 0 {
                out[((i as u64 * from / width) as usize).min(n - 1)] += c;
            }
        }
        out
    }
}

/// Builds the drawing data from the run's trace records, as the engine
/// hands them over (an [`Observer`]).
#[derive(Default)]
pub struct Model {
    kinds: Vec<String>,
    kind_index: BTreeMap<String, u32>,
    /// Ids from `base` on that may still be read about.
    slots: VecDeque<Slot>,
    base: u64,
    /// The highest id of a send read so far.
    last_sent: u64,
    /// The highest message id read so far (sends and copies).
    pub max_mid: u64,
    /// Arrows kept: every arrow of an id up to [`super::MAX_ARROWS`],
    /// then those that did not simply arrive, up to
    /// [`super::MAX_ODD_ARROWS`].
    arrows: Vec<Arrow>,
    odd_kept: usize,
    /// Arrows of every id, and those left out of `arrows`.
    pub arrows_total: u64,
    /// See `arrows_total`.
    pub arrows_omitted: u64,
    /// Send time of id [`super::MAX_ARROWS`], once there is one.
    pub window_end: Option<u64>,
    /// Every message, counted for the plots.
    pub counts: Counts,
    texts: BTreeMap<u64, String>,
    /// Timer firings kept: (time, lane, tag index).
    pub timers: Vec<(u64, u32, u32)>,
    /// Timer tags, by index.
    pub timer_tags: Vec<String>,
    timer_tag_index: BTreeMap<String, u32>,
    /// Timer firings and markers left out.
    pub timers_omitted: u64,
    /// Faults and other point events kept, in trace order.
    pub markers: Vec<Marker>,
    /// See `timers_omitted`.
    pub markers_omitted: u64,
    keep_text: bool,
    /// The record being read.
    cur: Pending,
    /// The current marker's other fields (when it is kept).
    marker: Option<serde_json::Map<String, Value>>,
    /// Scratch space for a value's JSON.
    buf: Vec<u8>,
    /// Kinds by the address and length of a variant's `&'static` name (a lookup
    /// without comparing strings; a miss only costs the map lookup).
    kind_cache: Vec<((usize, usize), u32)>,
}

/// Which records the page reads.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Record {
    Send,
    Copy,
    Deliver,
    Drop,
    Hold,
    Timer,
    Marker,
    #[default]
    Other,
}

fn record_kind(ev: &str) -> Record {
    match ev {
        "send" => Record::Send,
        "copy" => Record::Copy,
        "deliver" => Record::Deliver,
        "drop" => Record::Drop,
        "hold" | "park" => Record::Hold,
        "timer" => Record::Timer,
        "fault" | "halt" | "link_error" | "rule_end" | "loss_end" | "final_heal"
        | "request_lost" | "stop" => Record::Marker,
        _ => Record::Other,
    }
}

/// The fields of the current record the page uses.
#[derive(Clone, Copy, Default)]
struct Pending {
    t: u64,
    ev: &'static str,
    kind: Record,
    mid: Option<u64>,
    of: Option<u64>,
    from: Option<u64>,
    to: Option<u64>,
    node: Option<u64>,
    /// A drop's outcome (from its `reason`).
    outcome: u8,
    /// A send's outcome if it never arrives (from its `fate`).
    fate: u8,
    /// A send's message kind, a timer's tag (indexes).
    msg_kind: Option<u32>,
    tag: Option<u32>,
}

/// Names that an externally tagged variant may not have for its name to be
/// the message's kind (`sim::rule::kind_of` reads them as tags).
const TAG_NAMES: [&str; 5] = ["type", "msg_type", "kind", "via", "body"];

/// A message's (or timer tag's) kind from its JSON text, as
/// `sim::rule::kind_of` reads it.
fn kind_of(v: &[u8]) -> Option<String> {
    serde_json::from_slice::<KindOf>(v).ok().and_then(|k| k.0)
}

/// The finished drawing data.
pub struct Drawn {
    /// Message kinds, in order of first send.
    pub kinds: Vec<String>,
    /// The arrows kept, ordered by (send time, id, copy).
    pub arrows: Vec<Arrow>,
    /// The text of each message by id (only when asked to keep it).
    pub texts: BTreeMap<u64, String>,
}

impl Model {
    /// A model that keeps each message's JSON text when `keep_text`.
    pub fn new(keep_text: bool) -> Model {
        Model {
            keep_text,
            ..Model::default()
        }
    }

    /// A value's kind: an enum variant's name read without serializing
    /// it, else read from its JSON.
    fn kind_of_value(&mut self, v: &dyn TraceValue) -> Option<String> {
        match v.variant() {
            Some(name) if !TAG_NAMES.contains(&name) => Some(name.to_string()),
            _ => {
                self.buf.clear();
                v.json(&mut self.buf);
                kind_of(&self.buf)
            }
        }
    }

    /// The index of message kind `k`, by a variant's `&'static` name when
    /// there is one (no allocation for a kind already seen).
    fn msg_kind(&mut self, v: &dyn TraceValue) -> u32 {
        if let Some(name) = v.variant() {
            let at = (name.as_ptr() as usize, name.len());
            if let Some(&(_, k)) = self.kind_cache.iter().find(|(p, _)| *p == at) {
                return k;
            }
            if !TAG_NAMES.contains(&name) {
                let k = self.kind(name);
                if self.kind_cache.len() < 64 {
                    self.kind_cache.push((at, k));
                }
                return k;
            }
        }
        let k = self.kind_of_value(v);
        self.kind(k.as_deref().unwrap_or("message"))
    }

    fn timer_tag(&mut self, v: &dyn TraceValue) -> u32 {
        let tag = self.kind_of_value(v).unwrap_or_default();
        self.tag_index(tag)
    }

    fn tag_index(&mut self, tag: String) -> u32 {
        match self.timer_tag_index.get(&tag) {
            Some(&i) => i,
            None => {
                let i = self.timer_tags.len() as u32;
                self.timer_tags.push(tag.clone());
                self.timer_tag_index.insert(tag, i);
                i
            }
        }
    }

    /// The record read so far is complete: the page takes what it needs.
    fn apply(&mut self) {
        let x = self.marker.take();
        let p = self.cur;
        let t = p.t;
        let lane = |v: Option<u64>| v.unwrap_or(0) as u32;
        match p.kind {
            Record::Send => {
                let mid = p.mid.unwrap_or(0);
                if mid > 0 {
                    let kind = match p.msg_kind {
                        Some(k) => k,
                        None => self.kind("message"),
                    };
                    if let Some(s) = self.slot(mid) {
                        *s = Slot {
                            t,
                            from: lane(p.from),
                            to: lane(p.to),
                            kind,
                            fate: p.fate,
                            ..Slot::UNSEEN
                        };
                    }
                    self.last_sent = self.last_sent.max(mid);
                    self.max_mid = self.max_mid.max(mid);
                    if mid == super::MAX_ARROWS as u64 {
                        self.window_end = Some(t);
                    }
                    self.counts.add(0, t);
                }
            }
            Record::Copy => self.copy(p.of, p.mid),
            Record::Deliver => self.arrive(p.mid, t, 0),
            Record::Drop => self.arrive(p.mid, t, p.outcome),
            Record::Hold => {
                if let Some(s) = p.mid.and_then(|m| self.slot_mut(m)) {
                    if s.held == NONE {
                        s.held = t;
                    }
                }
            }
            Record::Timer => {
                if self.timers.len() >= super::MAX_TIMERS {
                    self.timers_omitted += 1;
                    return;
                }
                let tag = match p.tag {
                    Some(i) => i,
                    None => self.tag_index(String::new()),
                };
                self.timers.push((t, lane(p.node), tag));
            }
            Record::Marker => {
                let ev = p.ev;
                let Some(x) = x else {
                    self.markers_omitted += 1;
                    return;
                };
                self.markers.push(Marker {
                    t,
                    ev: ev.to_string(),
                    x: Value::Object(x),
                });
            }
            Record::Other => {}
        }
        self.retire();
    }

    fn kind(&mut self, k: &str) -> u32 {
        if let Some(&i) = self.kind_index.get(k) {
            return i;
        }
        let i = self.kinds.len() as u32;
        self.kinds.push(k.to_string());
        self.kind_index.insert(k.to_string(), i);
        i
    }

    /// The slot of id `mid` (1-based), made when it is new; `None` for an
    /// id already retired.
    fn slot(&mut self, mid: u64) -> Option<&mut Slot> {
        if self.slots.is_empty() && self.base == 0 {
            self.base = 1;
        }
        let i = mid.checked_sub(self.base)? as usize;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, Slot::UNSEEN);
        }
        self.slots.get_mut(i)
    }

    fn slot_mut(&mut self, mid: u64) -> Option<&mut Slot> {
        let i = mid.checked_sub(self.base)? as usize;
        self.slots.get_mut(i)
    }

    /// An extra copy `mid` of message `of`: drawn as copy 1, 2, … of it.
    fn copy(&mut self, of: Option<u64>, mid: Option<u64>) {
        let Some(src) = of.and_then(|o| self.slot_mut(o)) else {
            return;
        };
        src.dups = src.dups.saturating_add(1);
        let s = Slot {
            copy: u16::from(src.dups),
            dups: 0,
            arrivals: 0,
            held: NONE,
            ..*src
        };
        let Some(mid) = mid.filter(|&m| m > 0) else {
            return;
        };
        self.max_mid = self.max_mid.max(mid);
        if let Some(slot) = self.slot(mid) {
            *slot = s;
        }
        if self.keep_text && mid <= super::MAX_TEXTS {
            if let Some(t) = of.and_then(|o| self.texts.get(&o)).cloned() {
                self.texts.insert(mid, t);
            }
        }
    }

    fn arrive(&mut self, mid: Option<u64>, t: u64, outcome: u8) {
        let Some(m) = mid else { return };
        let Some(s) = self.slot_mut(m) else { return };
        let c = u32::from(s.copy) + u32::from(s.arrivals);
        s.arrivals = s.arrivals.saturating_add(1);
        let held = std::mem::replace(&mut s.held, NONE);
        let arrow = Arrow {
            s: s.t,
            m,
            c,
            f: s.from,
            r: s.to,
            k: s.kind,
            a: Some(t),
            o: outcome,
            h: (held != NONE).then_some(held),
        };
        self.counts.add(
            if outcome == 0 { 1 } else { 2 },
            if outcome == 0 { t } else { arrow.s },
        );
        self.keep(arrow);
    }

    /// Keeps an arrow when the page draws it; counts it either way.
    fn keep(&mut self, a: Arrow) {
        self.arrows_total += 1;
        if a.m <= super::MAX_ARROWS as u64 {
            self.arrows.push(a);
        } else if !a.plain() && self.odd_kept < super::MAX_ODD_ARROWS {
            self.odd_kept += 1;
            self.arrows.push(a);
        } else {
            self.arrows_omitted += 1;
        }
    }

    /// Retires the ids at the front that can be read about no more: those
    /// that arrived, and those sent to never arrive once a later send was
    /// read (a send's copies follow it at once). Their arrow, for the ones
    /// that never arrived, is made now.
    fn retire(&mut self) {
        while let Some(s) = self.slots.front() {
            let done = s.arrivals > 0 || (s.fate != 8 && self.base < self.last_sent);
            if !done {
                break;
            }
            let s = self.slots.pop_front().expect("a front slot");
            let m = self.base;
            self.base += 1;
            if s.arrivals == 0 && s.kind != u32::MAX {
                self.never_arrived(m, &s);
            }
        }
    }

    fn never_arrived(&mut self, m: u64, s: &Slot) {
        self.counts.add(2, s.t);
        self.keep(Arrow {
            s: s.t,
            m,
            c: 0,
            f: s.from,
            r: s.to,
            k: s.kind,
            a: None,
            o: s.fate,
            h: (s.held != NONE).then_some(s.held),
        });
    }

    /// Ends the trace: messages that never arrived get their arrow too.
    pub fn finish(&mut self) -> Drawn {
        let slots = std::mem::take(&mut self.slots);
        for (i, s) in slots.iter().enumerate() {
            if s.arrivals == 0 && s.kind != u32::MAX {
                self.never_arrived(self.base + i as u64, s);
            }
        }
        let mut arrows = std::mem::take(&mut self.arrows);
        // (send time, id, copy) is unique to an arrow: the full order.
        arrows.sort_unstable_by_key(|a| (a.s, a.m, a.c));
        Drawn {
            kinds: std::mem::take(&mut self.kinds),
            arrows,
            texts: std::mem::take(&mut self.texts),
        }
    }
}

impl Observer for Model {
    fn start(&mut self, t: u64, ev: &'static str) -> bool {
        let kind = record_kind(ev);
        if kind == Record::Other {
            return false;
        }
        let c = &mut self.cur;
        c.t = t;
        c.ev = ev;
        c.kind = kind;
        c.mid = None;
        c.of = None;
        c.from = None;
        c.to = None;
        c.node = None;
        c.outcome = 0;
        c.fate = 8;
        c.msg_kind = None;
        c.tag = None;
        if kind == Record::Marker && self.markers.len() < super::MAX_MARKERS {
            self.marker = Some(serde_json::Map::new());
        }
        true
    }

    fn field(&mut self, name: &'static str, v: Field<'_>) {
        if let Some(x) = self.marker.as_mut() {
            let value = match v {
                Field::U(u) => Value::from(u),
                Field::I(i) => Value::from(i),
                Field::S(s) => Value::from(s),
                Field::V(v) => {
                    self.buf.clear();
                    v.json(&mut self.buf);
                    serde_json::from_slice(&self.buf).unwrap_or(Value::Null)
                }
            };
            x.insert(name.to_string(), value);
            return;
        }
        let c = &mut self.cur;
        // The names of the records read here differ in their length and
        // first two bytes (this runs for every field of millions of
        // records: a byte test, not a string comparison).
        let b = name.as_bytes();
        let id = (b.len(), b.first().copied(), b.get(1).copied());
        match (id, v) {
            ((3, Some(b'm'), Some(b'i')), Field::U(u)) => c.mid = Some(u),
            ((2, Some(b'o'), Some(b'f')), Field::U(u)) => c.of = Some(u),
            ((4, Some(b'f'), Some(b'r')), Field::U(u)) => c.from = Some(u),
            ((2, Some(b't'), Some(b'o')), Field::U(u)) => c.to = Some(u),
            ((4, Some(b'n'), Some(b'o')), Field::U(u)) => c.node = Some(u),
            ((6, Some(b'r'), Some(b'e')), Field::S(r)) => c.outcome = drop_outcome(r.as_bytes()),
            ((4, Some(b'f'), Some(b'a')), Field::S(f)) => {
                c.fate = match f {
                    "lost" => 5,
                    "connection-error" => 6,
                    "drop" => 7,
                    _ => 8,
                }
            }
            // A send's `mid` comes before its message.
            ((3, Some(b'm'), Some(b's')), Field::V(v)) if c.kind == Record::Send => {
                let mid = c.mid.unwrap_or(0);
                let k = self.msg_kind(v);
                self.cur.msg_kind = Some(k);
                if self.keep_text && mid > 0 && mid <= super::MAX_TEXTS {
                    let mut text = Vec::new();
                    v.json(&mut text);
                    if let Ok(text) = String::from_utf8(text) {
                        self.texts.insert(mid, text);
                    }
                }
            }
            ((3, Some(b't'), Some(b'a')), Field::V(v))
                if c.kind == Record::Timer && self.timers.len() < super::MAX_TIMERS =>
            {
                let i = self.timer_tag(v);
                self.cur.tag = Some(i);
            }
            _ => {}
        }
    }

    fn end(&mut self) {
        self.apply();
    }
}

/// A trace observer that feeds a shared [`Model`].
pub struct Feed(pub Rc<RefCell<Model>>);

impl Observer for Feed {
    fn start(&mut self, t: u64, ev: &'static str) -> bool {
        self.0.borrow_mut().start(t, ev)
    }

    fn field(&mut self, name: &'static str, v: Field<'_>) {
        self.0.borrow_mut().field(name, v);
    }

    fn end(&mut self) {
        self.0.borrow_mut().end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::trace::Ser;

    /// Hands `m` one record written as a trace line, as the engine would
    /// (`t` and `ev` first, then `mid`, then the other fields).
    fn feed(m: &mut impl Observer, line: &str) {
        let v: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
        let ev: &'static str = Box::leak(v["ev"].as_str().unwrap().to_string().into_boxed_str());
        m.start(v["t"].as_u64().unwrap(), ev);
        let mut names: Vec<&String> = v.keys().filter(|k| *k != "t" && *k != "ev").collect();
        names.sort_by_key(|k| *k != "mid");
        for k in names {
            let name: &'static str = Box::leak(k.clone().into_boxed_str());
            match &v[k] {
                Value::Number(n) if n.is_u64() => m.field(name, Field::U(n.as_u64().unwrap())),
                Value::Number(n) => m.field(name, Field::I(n.as_i64().unwrap())),
                Value::String(s) => m.field(name, Field::S(s)),
                other => m.field(name, Field::V(&Ser(other))),
            }
        }
        m.end();
    }

    #[test]
    fn sends_become_arrows_with_their_fates() {
        let model = Rc::new(RefCell::new(Model::new(true)));
        let mut c = Feed(model.clone());
        let text = concat!(
            "{\"t\":1,\"ev\":\"send\",\"mid\":1,\"from\":0,\"to\":1,\"msg\":{\"set\":{\"k\":1}},\"at\":5}\n",
            "{\"t\":2,\"ev\":\"send\",\"mid\":2,\"from\":1,\"to\":0,\"msg\":{\"sync\":1},\"fate\":\"lost\"}\n",
            "{\"t\":3,\"ev\":\"send\",\"mid\":3,\"from\":1,\"to\":2,\"msg\":{\"sync\":1},\"at\":6}\n",
            "{\"t\":3,\"ev\":\"copy\",\"mid\":4,\"of\":3,\"at\":8}\n",
            "{\"t\":5,\"ev\":\"deliver\",\"mid\":1,\"from\":0,\"to\":1}\n",
            "{\"t\":6,\"ev\":\"hold\",\"mid\":3}\n",
            "{\"t\":7,\"ev\":\"fault\",\"fault\":{\"kind\":\"heal\"}}\n",
            "{\"t\":9,\"ev\":\"deliver\",\"mid\":3,\"from\":1,\"to\":2}\n",
            "{\"t\":9,\"ev\":\"drop\",\"mid\":4,\"reason\":\"partition\"}\n",
        );
        for line in text.lines() {
            feed(&mut c, line);
        }
        drop(c);
        let mut m = Rc::try_unwrap(model).ok().unwrap().into_inner();
        assert_eq!(m.markers.len(), 1);
        let d = m.finish();
        assert_eq!(d.kinds, ["set", "sync"]);
        type Row = (u64, u32, Option<u64>, u8, Option<u64>);
        let got: Vec<Row> = d.arrows.iter().map(|a| (a.m, a.c, a.a, a.o, a.h)).collect();
        assert_eq!(
            got,
            [
                (1, 0, Some(5), 0, None),
                (2, 0, None, 5, None),
                (3, 0, Some(9), 0, Some(6)),
                (4, 1, Some(9), 1, None),
            ]
        );
        assert_eq!(d.texts[&1], "{\"set\":{\"k\":1}}");
    }

    #[test]
    fn big_traces_keep_a_window_of_arrows_and_count_every_message() {
        let n = crate::html::MAX_ARROWS as u64 + 10;
        let mut m = Model::new(false);
        for mid in 1..=n {
            let t = mid * 10;
            let fate = if mid == n - 3 {
                ",\"fate\":\"lost\""
            } else {
                ",\"at\":1"
            };
            feed(&mut m, &format!("{{\"t\":{t},\"ev\":\"send\",\"mid\":{mid},\"from\":0,\"to\":1,\"msg\":{{\"ping\":[1,\"}}\"]}}{fate}}}"));
            if mid != n - 3 {
                feed(
                    &mut m,
                    &format!("{{\"t\":{},\"ev\":\"deliver\",\"mid\":{mid}}}", t + 5),
                );
            }
        }
        // Delivered ones are retired as they arrive.
        assert!(m.slots.len() <= 4, "{}", m.slots.len());
        let d = m.finish();
        assert_eq!(d.kinds, ["ping"]);
        // The window, and the one lost message after it.
        assert_eq!(d.arrows.len(), crate::html::MAX_ARROWS + 1);
        assert_eq!(d.arrows.last().map(|a| (a.m, a.o)), Some((n - 3, 5)));
        assert_eq!(m.arrows_total, n);
        assert_eq!(m.arrows_omitted, 9);
        assert_eq!(m.window_end, Some(crate::html::MAX_ARROWS as u64 * 10));
        let c = &m.counts;
        assert_eq!(c.sent.iter().sum::<u64>(), n);
        assert_eq!(c.delivered.iter().sum::<u64>(), n - 1);
        assert_eq!(c.dropped.iter().sum::<u64>(), 1);
        // 1.5 s of sends in buckets of at most 16,384: 1 ms still fits.
        assert_eq!(c.width_us, 1000);
    }

    #[test]
    fn a_message_kind_is_its_variant_or_what_its_json_says() {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Msg {
            Ping,
            Set { key: u32 },
            Body(u32),
        }
        let mut m = Model::new(false);
        let sends: [&dyn TraceValue; 5] = [
            &Ser(&Msg::Set { key: 1 }),
            &Ser(&Msg::Ping),
            // Named like a tag: read from the JSON, as `kind_of` does.
            &Ser(&Msg::Body(3)),
            &Ser(&serde_json::json!({"src": "c1", "body": {"type": "read"}})),
            &Ser(&7),
        ];
        for (i, msg) in sends.into_iter().enumerate() {
            let mid = i as u64 + 1;
            m.start(mid, "send");
            m.field("mid", Field::U(mid));
            m.field("msg", Field::V(msg));
            m.field("fate", Field::S("lost"));
            m.end();
        }
        let d = m.finish();
        assert_eq!(d.kinds, ["set", "ping", "body", "read", "message"]);
        let kinds: Vec<u32> = d.arrows.iter().map(|a| a.k).collect();
        assert_eq!(kinds, [0, 1, 2, 3, 4]);
    }
}
