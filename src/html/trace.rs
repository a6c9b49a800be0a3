//! The trace as the report draws it: a [`Collector`] reads the run's JSON
//! Lines trace as the engine writes it (one line at a time, nothing kept
//! but what the page needs) and turns it into message arrows, timer ticks
//! and fault markers.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::rc::Rc;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kind::KindOf;

/// The JSON text of a send record's message.
fn message_text(line: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(line).ok()?;
    Some(v.get("msg")?.to_string())
}

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

fn drop_outcome(reason: &str) -> u8 {
    match reason {
        "partition" => 1,
        "down" => 2,
        "halted" => 3,
        "connection-reset" => 4,
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

struct Sent {
    t: u64,
    from: u32,
    to: u32,
    kind: u32,
    fate: Option<String>,
    copies: u32,
    /// Extra copies made of it so far (each has its own id).
    dups: u32,
    held: Option<u64>,
    text: Option<String>,
}

impl Sent {
    /// A slot for a message id whose send record was not read (yet).
    fn unseen() -> Sent {
        Sent {
            t: 0,
            from: 0,
            to: 0,
            kind: u32::MAX,
            fate: None,
            copies: 0,
            dups: 0,
            held: None,
            text: None,
        }
    }
}

/// Builds the drawing data from trace lines.
#[derive(Default)]
pub struct Model {
    partial: Vec<u8>,
    kinds: Vec<String>,
    kind_index: BTreeMap<String, u32>,
    sent: Vec<Sent>,
    arrows: Vec<Arrow>,
    /// Timer firings: (time, lane, tag).
    pub timers: Vec<(u64, u32, String)>,
    /// Faults and other point events, in trace order.
    pub markers: Vec<Marker>,
    /// Lines that were not understood (a bug if ever non-zero).
    pub unreadable: u64,
    keep_text: bool,
}

/// The per-line fields the page uses (others are ignored).
#[derive(Deserialize)]
struct Line<'a> {
    t: u64,
    #[serde(borrow)]
    ev: Cow<'a, str>,
    #[serde(default)]
    mid: Option<u64>,
    /// A `copy` record's original.
    #[serde(default)]
    of: Option<u64>,
    #[serde(default)]
    from: Option<u64>,
    #[serde(default)]
    to: Option<u64>,
    #[serde(default)]
    node: Option<u64>,
    #[serde(default, borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    fate: Option<Cow<'a, str>>,
    #[serde(default)]
    msg: Option<KindOf>,
    #[serde(default)]
    tag: Option<KindOf>,
}

/// The finished drawing data.
pub struct Drawn {
    /// Message kinds, in order of first send.
    pub kinds: Vec<String>,
    /// Every message copy, ordered by (send time, id, copy).
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
        let value;
        let line: Line = match serde_json::from_slice(text) {
            Ok(l) => l,
            // A send a rule duplicated repeats its `at` field: read it
            // through a map, which keeps one of them (not used here).
            Err(_) => {
                value = serde_json::from_slice::<Value>(text).ok();
                match value.as_ref().and_then(|v| Line::deserialize(v).ok()) {
                    Some(l) => l,
                    None => {
                        self.unreadable += 1;
                        return;
                    }
                }
            }
        };
        let lane = |v: Option<u64>| v.unwrap_or(0) as u32;
        match line.ev.as_ref() {
            "send" => {
                let kind = line.msg.and_then(|k| k.0);
                let kind = self.kind(kind.unwrap_or_else(|| "message".to_string()));
                let mid = line.mid.unwrap_or(0) as usize;
                if self.sent.len() < mid {
                    self.sent.resize_with(mid, Sent::unseen);
                }
                if mid > 0 {
                    let text = (self.keep_text && mid as u64 <= super::MAX_TEXTS)
                        .then(|| message_text(text))
                        .flatten();
                    self.sent[mid - 1] = Sent {
                        t: line.t,
                        from: lane(line.from),
                        to: lane(line.to),
                        kind,
                        fate: line.fate.map(Cow::into_owned),
                        copies: 0,
                        dups: 0,
                        held: None,
                        text,
                    };
                }
            }
            "copy" => self.copy(line.of, line.mid),
            "deliver" => self.arrive(line.mid, line.t, 0),
            "drop" => {
                let o = drop_outcome(line.reason.as_deref().unwrap_or(""));
                self.arrive(line.mid, line.t, o)
            }
            "hold" | "park" => {
                if let Some(s) = self.sent_mut(line.mid) {
                    s.held.get_or_insert(line.t);
                }
            }
            "timer" => {
                let tag = line.tag.and_then(|k| k.0).unwrap_or_default();
                self.timers.push((line.t, lane(line.node), tag));
            }
            "fault" | "halt" | "link_error" | "rule_end" | "loss_end" | "final_heal"
            | "request_lost" | "stop" => {
                let mut x: Value = serde_json::from_slice(text).unwrap_or(Value::Null);
                if let Value::Object(o) = &mut x {
                    o.remove("t");
                    o.remove("ev");
                }
                self.markers.push(Marker {
                    t: line.t,
                    ev: line.ev.into_owned(),
                    x,
                });
            }
            _ => {}
        }
    }

    fn kind(&mut self, k: String) -> u32 {
        if let Some(&i) = self.kind_index.get(&k) {
            return i;
        }
        let i = self.kinds.len() as u32;
        self.kinds.push(k.clone());
        self.kind_index.insert(k, i);
        i
    }

    /// An extra copy `mid` of message `of`: drawn as copy 1, 2, … of it.
    fn copy(&mut self, of: Option<u64>, mid: Option<u64>) {
        let Some(src) = self.sent_mut(of) else { return };
        src.dups += 1;
        let s = Sent {
            t: src.t,
            from: src.from,
            to: src.to,
            kind: src.kind,
            fate: src.fate.clone(),
            copies: src.dups,
            dups: 0,
            held: None,
            text: src.text.clone(),
        };
        let Some(i) = mid.and_then(|m| (m as usize).checked_sub(1)) else {
            return;
        };
        if self.sent.len() <= i {
            self.sent.resize_with(i + 1, Sent::unseen);
        }
        self.sent[i] = s;
    }

    fn sent_mut(&mut self, mid: Option<u64>) -> Option<&mut Sent> {
        let i = mid? as usize;
        self.sent.get_mut(i.checked_sub(1)?)
    }

    fn arrive(&mut self, mid: Option<u64>, t: u64, outcome: u8) {
        let Some(m) = mid else { return };
        let Some(s) = self.sent_mut(mid) else { return };
        let c = s.copies;
        s.copies += 1;
        let arrow = Arrow {
            s: s.t,
            m,
            c,
            f: s.from,
            r: s.to,
            k: s.kind,
            a: Some(t),
            o: outcome,
            h: s.held.take(),
        };
        self.arrows.push(arrow);
    }

    /// Ends the trace: messages that never arrived get their arrow too.
    pub fn finish(mut self) -> Drawn {
        let mut texts = BTreeMap::new();
        for (i, s) in self.sent.iter_mut().enumerate() {
            let m = i as u64 + 1;
            if s.kind == u32::MAX {
                continue;
            }
            if let Some(t) = s.text.take() {
                texts.insert(m, t);
            }
            if s.copies > 0 {
                continue;
            }
            let (a, o) = match s.fate.as_deref() {
                Some("lost") => (None, 5),
                Some("connection-error") => (None, 6),
                Some("drop") => (None, 7),
                _ => (None, 8),
            };
            self.arrows.push(Arrow {
                s: s.t,
                m,
                c: 0,
                f: s.from,
                r: s.to,
                k: s.kind,
                a,
                o,
                h: s.held,
            });
        }
        self.arrows.sort_unstable();
        Drawn {
            kinds: self.kinds,
            arrows: self.arrows,
            texts,
        }
    }
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
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
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
        let m = Rc::try_unwrap(model).ok().unwrap().into_inner();
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
}
