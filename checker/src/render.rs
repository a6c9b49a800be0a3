//! Text rendering of a witness: an ASCII timeline with one row per process.

use crate::history::{CompletionKind, Operation};
use crate::outcome::Witness;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

impl Witness {
    /// The witness as text: a timeline per process, the operations, and the
    /// explanation, with times as the history gives them.
    pub fn render_text(&self) -> String {
        render(self, &|t| t.to_string())
    }

    /// As [`Witness::render_text`], writing each time with `time` (for a
    /// history whose time unit the caller knows).
    pub fn render_text_with(&self, time: &dyn Fn(u64) -> String) -> String {
        render(self, time)
    }
}

/// "this operation" or "these N operations".
pub(crate) fn these(count: usize) -> String {
    match count {
        1 => "this operation".to_string(),
        n => format!("these {n} operations"),
    }
}

/// Longest value shown in full inside a timeline bar.
const VALUE_WIDTH: usize = 24;
/// Where the explanation wraps.
const TEXT_WIDTH: usize = 78;
/// The most operations drawn as a timeline and listed in full; a longer
/// witness lists its first and last halves of this many.
const SHOWN: usize = 40;

/// How a history's times are written: as they are, or in a unit the
/// caller knows (`dsim run` writes microseconds).
pub(crate) type TimeFormat<'a> = &'a dyn Fn(u64) -> String;

/// The witness as text: header, timeline, operation list, explanation.
pub(crate) fn render(witness: &Witness, time: TimeFormat) -> String {
    let mut out = String::new();
    let key = match &witness.key {
        Some(key) => format!("key {}", crate::history::show_key(key)),
        None => "the register".to_string(),
    };
    if let Some(claim) = &witness.claim {
        let _ = writeln!(out, "{claim}:");
    } else {
        let _ = writeln!(
            out,
            "{key}: {} cannot be linearized{}:",
            these(witness.ops.len()),
            if witness.minimal {
                " (a minimal set)"
            } else {
                " (not minimised)"
            }
        );
    }
    out.push('\n');
    let n = witness.ops.len();
    if n <= SHOWN {
        out.push_str(&timeline(&witness.ops));
        out.push('\n');
    }
    for (k, op) in witness.ops.iter().enumerate() {
        // A long witness shows its first and last operations only.
        if n > SHOWN && k == SHOWN / 2 {
            let _ = writeln!(
                out,
                "  ... {} more operations (no timeline for so many; --json lists them all)",
                n - SHOWN
            );
        }
        if n <= SHOWN || k < SHOWN / 2 || k >= n - SHOWN / 2 {
            let _ = writeln!(out, "  p{:<4} {}", op.process, describe(op, time));
        }
    }
    out.push('\n');
    // Each line of the explanation wrapped on its own, keeping its indent.
    for paragraph in witness.explanation.lines() {
        let indent = &paragraph[..paragraph.len() - paragraph.trim_start().len()];
        for (i, line) in wrap(paragraph, TEXT_WIDTH - indent.len())
            .iter()
            .enumerate()
        {
            let more = if i == 0 { "" } else { "  " };
            let _ = writeln!(out, "{indent}{more}{line}");
        }
    }
    out
}

/// Rows of bars, `|--label--|`, placed so that the left-to-right order of
/// their ends is the order of the events; a bar ending in `>` never
/// returned (as far as the witness knows).
fn timeline(ops: &[Operation]) -> String {
    let labels: Vec<String> = ops.iter().map(label).collect();
    // Same event order as the search: time, then calls before returns.
    let mut events: Vec<(u64, u8, usize)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        events.push((op.time, 0, i));
        if let Some(end) = op.end_time() {
            events.push((end, 1, i));
        }
    }
    events.sort_unstable();
    let mut start = vec![0; ops.len()];
    let mut end = vec![None; ops.len()];
    let mut cursor = 0;
    for (_, phase, i) in events {
        let x = if phase == 0 {
            start[i] = cursor;
            cursor
        } else {
            let x = cursor.max(start[i] + labels[i].chars().count() + 5);
            end[i] = Some(x);
            x
        };
        cursor = x + 2;
    }
    let open_end = (0..ops.len())
        .filter(|&i| end[i].is_none())
        .map(|i| start[i] + labels[i].chars().count() + 6)
        .fold(cursor + 2, usize::max);
    let mut rows: BTreeMap<u64, Vec<char>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        let row = rows.entry(op.process).or_default();
        let last = end[i].unwrap_or(open_end);
        if row.len() <= last {
            row.resize(last + 1, ' ');
        }
        row[start[i]] = '|';
        row[start[i] + 1..last].iter_mut().for_each(|c| *c = '-');
        row[last] = if end[i].is_some() { '|' } else { '>' };
        for (offset, c) in format!(" {} ", labels[i]).chars().enumerate() {
            row[start[i] + 2 + offset] = c;
        }
    }
    let mut out = String::new();
    for (process, row) in rows {
        let bars: String = row.into_iter().collect();
        let _ = writeln!(out, "  p{process:<4} {}", bars.trim_end());
    }
    out
}

/// A short label: function, input, and output when it says something new.
fn label(op: &Operation) -> String {
    let mut text = op.f.clone();
    if !op.value.is_null() {
        text.push(' ');
        text.push_str(&short(&op.value));
    }
    if let Some(output) = op.output_value() {
        if !output.is_null() && *output != op.value {
            text.push_str(" -> ");
            text.push_str(&short(&output));
        }
    }
    text
}

/// A value as compact JSON, elided in the middle when long.
fn short(value: &Value) -> String {
    let text = value.to_string();
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= VALUE_WIDTH {
        return text;
    }
    let head: String = chars[..VALUE_WIDTH / 2 - 1].iter().collect();
    let tail: String = chars[chars.len() - (VALUE_WIDTH / 2 - 1)..]
        .iter()
        .collect();
    format!("{head}..{tail}")
}

/// One line per operation: full values, times, and where it is in the file.
fn describe(op: &Operation, time: TimeFormat) -> String {
    // A null input (a read's) says nothing: show the call alone.
    let mut text = if op.value.is_null() {
        op.f.clone()
    } else {
        format!("{} {}", op.f, op.value)
    };
    let ending = match &op.completion {
        Some(c) if c.kind == CompletionKind::Ok => {
            format!(
                "invoked at {}, returned {} at {}",
                time(op.time),
                c.output_value(),
                time(c.time)
            )
        }
        Some(c) => format!(
            "invoked at {}, outcome unknown ({} at {})",
            time(op.time),
            c.kind.as_str(),
            time(c.time)
        ),
        None => format!("invoked at {}, no reply by then", time(op.time)),
    };
    let _ = write!(text, ": {ending}");
    if let Some(line) = op.line {
        let _ = write!(text, " (line {line})");
    }
    text
}

/// Splits text into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let Some(line) = lines.last_mut() else { break };
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::{describe, render, SHOWN};
    use crate::{History, Witness};

    #[test]
    fn a_long_witness_lists_its_ends_without_a_timeline() {
        let text: String = (0..50)
            .map(|i| {
                format!(
                    "{{\"process\":{i},\"type\":\"invoke\",\"f\":\"write\",\"value\":{i},\"time\":{i}}}\n\
                     {{\"process\":{i},\"type\":\"ok\",\"f\":\"write\",\"value\":{i},\"time\":{}}}\n",
                    i + 1
                )
            })
            .collect();
        let ops = History::parse_jsonl(&text).unwrap().operations().to_vec();
        let witness = Witness {
            claim: None,
            key: None,
            ops,
            explanation: "why".into(),
            minimal: false,
        };
        let shown = render(&witness, &|t| t.to_string());
        assert!(shown.starts_with(
            "the register: these 50 operations cannot be linearized (not minimised):"
        ));
        assert!(!shown.contains("|-"), "a timeline was drawn:\n{shown}");
        assert_eq!(shown.matches(": invoked at").count(), SHOWN, "{shown}");
        assert!(shown.contains("  ... 10 more operations"), "{shown}");
        assert!(shown.contains("write 49: invoked at 49"), "{shown}");
    }

    #[test]
    fn reads_show_no_input_writes_do() {
        let h = History::parse_jsonl(
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1,\"time\":1}\n\
             {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1,\"time\":2}\n\
             {\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null,\"time\":3}\n\
             {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":1,\"time\":4}\n",
        )
        .unwrap();
        let ops = h.operations();
        assert!(describe(&ops[0], &|t| t.to_string())
            .starts_with("write 1: invoked at 1, returned 1 at 2"));
        assert!(describe(&ops[1], &|t| t.to_string())
            .starts_with("read: invoked at 3, returned 1 at 4"));
    }
}
