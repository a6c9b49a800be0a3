//! The HTML report: one self-contained page (no network, no external
//! scripts or fonts) that draws a run — a space-time diagram, the client
//! timeline, the verdicts with their evidence, latency and throughput — or
//! a checked history, from the data embedded in it as JSON.
//!
//! The page is the template in `page.html` with `page.css` and `page.js`
//! inlined and the data in a `<script type="application/json">` element.
//! The same run gives the same bytes: the data is built from ordered
//! collections only and holds no wall-clock time.
//!
//! Big runs stay small and cheap: the trace is read as it is written and
//! only the messages in flight are held; arrows are kept for the first
//! [`MAX_ARROWS`] message ids (send order) plus up to [`MAX_ODD_ARROWS`]
//! later ones that did not simply arrive; beyond [`MAX_OPS`] operations the
//! timeline keeps every one that did not complete ok and one in every *k*
//! of the others, evenly over the run; timer ticks and markers have their
//! own caps; message contents are kept for the first [`MAX_TEXTS`]
//! messages. What is left out is counted in the data's `omitted` object,
//! and the page says so at its top and where it happens; the per-bucket
//! series always cover the whole run. The page is written to its file as
//! it is made, never held whole in memory.

mod data;
mod kind;
pub mod ops;
mod prefix;
pub mod trace;

pub use data::{check_page, run_page, write_run_page, Capture};

use std::io::Write;

/// Message ids whose every copy is drawn one by one (the first ones: ids
/// are given in send order).
pub const MAX_ARROWS: usize = 150_000;
/// Further arrows kept because they were dropped, lost or duplicated.
pub const MAX_ODD_ARROWS: usize = 50_000;
/// Operations drawn on the timeline before the others are sampled.
pub const MAX_OPS: usize = 150_000;
/// Timer ticks.
pub const MAX_TIMERS: usize = 50_000;
/// Fault and other markers.
pub const MAX_MARKERS: usize = 20_000;
/// Messages whose JSON text the page shows on hover.
pub const MAX_TEXTS: u64 = 20_000;

const TEMPLATE: &str = include_str!("page.html");
const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// The page with `data` (a JSON value) embedded.
fn page(title: &str, data: &serde_json::Value) -> String {
    let mut out = Vec::new();
    write_page(&mut out, title, &mut |w: &mut dyn Write| {
        serde_json::to_writer(w, data).map_err(std::io::Error::from)
    })
    .expect("writing to memory");
    String::from_utf8(out).expect("the page is UTF-8")
}

/// Writes the page to `out`, the data written by `data` into its script
/// element as it comes (nothing of it is held in memory here).
fn write_page(
    out: &mut dyn Write,
    title: &str,
    data: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let title = escape(title);
    // One pass over the template, so nothing inserted is scanned again.
    let mut rest = TEMPLATE;
    while let Some(i) = rest.find("{{") {
        out.write_all(&rest.as_bytes()[..i])?;
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        match &after[..j] {
            "TITLE" => out.write_all(title.as_bytes())?,
            "CSS" => out.write_all(CSS.as_bytes())?,
            "JS" => out.write_all(JS.as_bytes())?,
            "DATA" => {
                // Buffered before the escaping, which then sees big pieces.
                let mut esc = std::io::BufWriter::with_capacity(
                    1 << 16,
                    ScriptSafe {
                        out: &mut *out,
                        lt: false,
                    },
                );
                data(&mut esc)?;
                esc.into_inner().map_err(|e| e.into_error())?.end()?;
            }
            _ => {}
        }
        rest = &after[j + 2..];
    }
    out.write_all(rest.as_bytes())
}

/// Writes JSON so that it cannot end or confuse the script element it is
/// in: inside one only `</` (and `<!--`) can, and `<` appears in JSON only
/// inside strings, where `<\/` and `<\u0021` are the same text.
struct ScriptSafe<'a> {
    out: &'a mut dyn Write,
    /// The last byte written was a `<` (not yet passed on).
    lt: bool,
}

impl ScriptSafe<'_> {
    fn end(&mut self) -> std::io::Result<()> {
        if std::mem::take(&mut self.lt) {
            self.out.write_all(b"<")?;
        }
        Ok(())
    }
}

impl Write for ScriptSafe<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rest = buf;
        loop {
            if std::mem::take(&mut self.lt) {
                let Some(&b) = rest.first() else {
                    self.lt = true;
                    break;
                };
                match b {
                    b'/' => self.out.write_all(b"<\\")?,
                    b'!' => {
                        self.out.write_all(b"<\\u0021")?;
                        rest = &rest[1..];
                    }
                    _ => self.out.write_all(b"<")?,
                }
            }
            match rest.iter().position(|&b| b == b'<') {
                Some(i) => {
                    self.out.write_all(&rest[..i])?;
                    rest = &rest[i + 1..];
                    self.lt = true;
                }
                None => {
                    self.out.write_all(rest)?;
                    break;
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Text escaped for HTML.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The data embedded in a report page, parsed back (for tests and tools).
pub fn embedded_data(html: &str) -> Option<serde_json::Value> {
    let open = "<script type=\"application/json\" id=\"dsim-data\">";
    let start = html.find(open)? + open.len();
    let end = start + html[start..].find("</script>")?;
    serde_json::from_str(&html[start..end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_that_looks_like_html_stays_inside_its_script() {
        let data = serde_json::json!({"note": "</script><script>alert(1)</script><!--", "b": "<<//<!<", "c": "<"});
        let html = page("a <b>", &data);
        assert_eq!(embedded_data(&html).as_ref(), Some(&data));
        assert!(html.contains("<title>a &lt;b&gt;"));
        let open = "id=\"dsim-data\">";
        let start = html.find(open).unwrap() + open.len();
        let body = &html[start..start + html[start..].find("</script>").unwrap()];
        assert!(body.starts_with('{') && body.ends_with('}'), "{body}");
        assert!(!body.contains("</") && !body.contains("<!"), "{body}");
        // Written in pieces that split a `</` or `<!` between two writes.
        let json = serde_json::to_vec(&data).unwrap();
        for cut in 0..json.len() {
            let mut out = Vec::new();
            write_page(&mut out, "t", &mut |w: &mut dyn Write| {
                w.write_all(&json[..cut])?;
                w.flush()?;
                w.write_all(&json[cut..])
            })
            .unwrap();
            assert_eq!(
                embedded_data(&String::from_utf8(out).unwrap()).as_ref(),
                Some(&data)
            );
        }
    }
}
