//! The trace as the report draws it: a [`Collector`] reads the run's JSON
//! Lines trace as the engine writes it, one line at a time, and keeps only
//! what the page needs: the message copies still in flight (a window that
//! moves with the run), the arrows the page draws (see [`super::MAX_ARROWS`]),
//! per-bucket counts of every message for the plots, timer ticks and fault
//! markers. Nothing grows with the run's length but those capped lists and
//! the counts.
//!
//! Lines are read by a small scanner that knows the engine's flat records
//! (`{"t":…,"ev":"…",…}`): integers and short strings are read in place,
//! objects and arrays (a message, a fault) are skipped over and kept as
//! slices of the line. A message's kind is read from its slice.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// Builds the drawing data from trace lines.
#[derive(Default)]
pub struct Model {
    partial: Vec<u8>,
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
    /// Lines that were not understood (a bug if ever non-zero).
    pub unreadable: u64,
    keep_text: bool,
}

/// The fields of one trace line the page uses, as slices of it.
#[derive(Default)]
struct Line<'a> {
    t: Option<u64>,
    ev: &'a [u8],
    mid: Option<u64>,
    of: Option<u64>,
    from: Option<u64>,
    to: Option<u64>,
    node: Option<u64>,
    reason: &'a [u8],
    fate: &'a [u8],
    msg: Option<&'a [u8]>,
    tag: Option<&'a [u8]>,
}

/// A scanner over one line of the engine's JSON.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// A string's raw contents (escapes left as they are).
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
        let s = &self.b[start..self.i];
        self.i += 1;
        Some(s)
    }

    /// A value, skipped; returns its slice.
    fn value(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *self.b.get(self.i)? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while let Some(c) = self.peek() {
                    if c == b',' || c == b'}' || c == b']' {
                        break;
                    }
                    self.i += 1;
                }
            }
        }
        Some(&self.b[start..self.i])
    }
}

/// An unsigned integer's digits, else `None`.
fn uint(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for &c in v {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    Some(n)
}

fn scan_line<'a>(text: &'a [u8]) -> Option<Line<'a>> {
    let mut s = Scan { b: text, i: 0 };
    let mut l = Line::default();
    s.eat(b'{')?;
    if s.eat(b'}').is_some() {
        return Some(l);
    }
    loop {
        let key = s.string()?;
        s.eat(b':')?;
        let v = s.value()?;
        let unquote = |v: &'a [u8]| -> &'a [u8] {
            if v.len() >= 2 && v[0] == b'"' {
                &v[1..v.len() - 1]
            } else {
                b""
            }
        };
        match key {
            b"t" => l.t = uint(v),
            b"ev" => l.ev = unquote(v),
            b"mid" => l.mid = uint(v),
            b"of" => l.of = uint(v),
            b"from" => l.from = uint(v),
            b"to" => l.to = uint(v),
            b"node" => l.node = uint(v),
            b"reason" => l.reason = unquote(v),
            b"fate" => l.fate = unquote(v),
            b"msg" => l.msg = Some(v),
            b"tag" => l.tag = Some(v),
            _ => {}
        }
        match s.peek()? {
            b',' => s.i += 1,
            b'}' => return Some(l),
            _ => return None,
        }
    }
}

/// A message's (or timer tag's) kind from its JSON text: the only key of
/// a one-key object that is not a tag or `body` is read in place; anything
/// else as [`KindOf`] reads it.
fn kind_of(v: &[u8]) -> Option<String> {
    let mut s = Scan { b: v, i: 0 };
    if s.eat(b'{').is_some() {
        if let Some(key) = s.string() {
            let plain = !key.contains(&b'\\')
                && !matches!(key, b"type" | b"msg_type" | b"kind" | b"via" | b"body");
            if plain
                && s.eat(b':').is_some()
                && s.value().is_some()
                && s.eat(b'}').is_some()
                && s.i == v.len()
            {
                return std::str::from_utf8(key).ok().map(str::to_string);
            }
        }
    }
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

    /// Reads one trace line.
    pub fn line(&mut self, text: &[u8]) {
        let Some(line) = scan_line(text) else {
            self.unreadable += 1;
            return;
        };
        let Some(t) = line.t else {
            self.unreadable += 1;
            return;
        };
        let lane = |v: Option<u64>| v.unwrap_or(0) as u32;
        match line.ev {
            b"send" => {
                let kind = line.msg.and_then(kind_of);
                let kind = self.kind(kind.as_deref().unwrap_or("message"));
                let mid = line.mid.unwrap_or(0);
                if mid > 0 {
                    if self.keep_text && mid <= super::MAX_TEXTS {
                        if let Some(m) = line.msg.and_then(|m| std::str::from_utf8(m).ok()) {
                            self.texts.insert(mid, m.to_string());
                        }
                    }
                    let fate = match line.fate {
                        b"lost" => 5,
                        b"connection-error" => 6,
                        b"drop" => 7,
                        _ => 8,
                    };
                    if let Some(s) = self.slot(mid) {
                        *s = Slot {
                            t,
                            from: lane(line.from),
                            to: lane(line.to),
                            kind,
                            fate,
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
            b"copy" => self.copy(line.of, line.mid),
            b"deliver" => self.arrive(line.mid, t, 0),
            b"drop" => self.arrive(line.mid, t, drop_outcome(line.reason)),
            b"hold" | b"park" => {
                if let Some(s) = line.mid.and_then(|m| self.slot_mut(m)) {
                    if s.held == NONE {
                        s.held = t;
                    }
                }
            }
            b"timer" => {
                if self.timers.len() >= super::MAX_TIMERS {
                    self.timers_omitted += 1;
                    return;
                }
                let tag = line.tag.and_then(kind_of).unwrap_or_default();
                let i = match self.timer_tag_index.get(&tag) {
                    Some(&i) => i,
                    None => {
                        let i = self.timer_tags.len() as u32;
                        self.timer_tags.push(tag.clone());
                        self.timer_tag_index.insert(tag, i);
                        i
                    }
                };
                self.timers.push((t, lane(line.node), i));
            }
            b"fault" | b"halt" | b"link_error" | b"rule_end" | b"loss_end" | b"final_heal"
            | b"request_lost" | b"stop" => {
                if self.markers.len() >= super::MAX_MARKERS {
                    self.markers_omitted += 1;
                    return;
                }
                let mut x: Value = serde_json::from_slice(text).unwrap_or(Value::Null);
                if let Value::Object(o) = &mut x {
                    o.remove("t");
                    o.remove("ev");
                }
                self.markers.push(Marker {
                    t,
                    ev: String::from_utf8_lossy(line.ev).into_owned(),
                    x,
                });
            }
            _ => {}
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
        arrows.sort_unstable();
        Drawn {
            kinds: std::mem::take(&mut self.kinds),
            arrows,
            texts: std::mem::take(&mut self.texts),
        }
    }
}

/// The first `\n` in `b`, eight bytes at a time.
fn newline(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes")) ^ (ONES * 0x0a);
        // A zero byte in `w` is a newline in `b`.
        if (w.wrapping_sub(ONES) & !w & HIGH) != 0 {
            break;
        }
        i += 8;
    }
    b[i..].iter().position(|&c| c == b'\n').map(|j| i + j)
}

/// A trace writer that feeds a shared [`Model`] line by line (and,
/// optionally, copies every byte to another writer, e.g. `--trace FILE`).
pub struct Collector {
    model: Rc<RefCell<Model>>,
    tee: Option<Box<dyn Write>>,
}

impl Collector {
    /// A collector feeding `model`, copying to `tee` if given.
    pub fn new(model: Rc<RefCell<Model>>, tee: Option<Box<dyn Write>>) -> Collector {
        Collector { model, tee }
    }
}

impl Write for Collector {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(t) = self.tee.as_mut() {
            t.write_all(buf)?;
        }
        let mut m = self.model.borrow_mut();
        let mut rest = buf;
        while let Some(nl) = newline(rest) {
            if m.partial.is_empty() {
                m.line(&rest[..nl]);
            } else {
                let mut line = std::mem::take(&mut m.partial);
                line.extend_from_slice(&rest[..nl]);
                m.line(&line);
            }
            rest = &rest[nl + 1..];
        }
        m.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.tee.as_mut() {
            Some(t) => t.flush(),
            None => Ok(()),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_become_arrows_with_their_fates() {
        let model = Rc::new(RefCell::new(Model::new(true)));
        let mut c = Collector::new(model.clone(), None);
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
        // Written in two pieces that split a line.
        c.write_all(&text.as_bytes()[..50]).unwrap();
        c.write_all(&text.as_bytes()[50..]).unwrap();
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
            m.line(format!("{{\"t\":{t},\"ev\":\"send\",\"mid\":{mid},\"from\":0,\"to\":1,\"msg\":{{\"ping\":[1,\"}}\"]}}{fate}}}").as_bytes());
            if mid != n - 3 {
                m.line(format!("{{\"t\":{},\"ev\":\"deliver\",\"mid\":{mid}}}", t + 5).as_bytes());
            }
        }
        // Delivered ones are retired as they arrive.
        assert!(m.slots.len() <= 4, "{}", m.slots.len());
        assert_eq!(m.unreadable, 0);
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
    fn newlines_are_found_wherever_they_are() {
        for len in 0..40 {
            for at in 0..=len {
                let mut b = vec![b'x'; len];
                if at < len {
                    b[at] = b'\n';
                }
                assert_eq!(newline(&b), (at < len).then_some(at), "{len} {at}");
            }
        }
        // Bytes that differ from a newline only in one bit are not one.
        assert_eq!(newline(&[0x0b, 0x8a, 0x0e, 0x2a, 0x0a]), Some(4));
    }
}
