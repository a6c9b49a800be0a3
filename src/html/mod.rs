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
//! Big runs stay small: arrows are kept for the first [`MAX_ARROWS`]
//! message copies in send order plus up to [`MAX_ODD_ARROWS`] later ones
//! that did not simply arrive; operations, timer ticks and markers have
//! their own caps; message contents are kept for the first [`MAX_TEXTS`]
//! messages. What is left out is counted in the data's `omitted` object,
//! and the page says so; the per-bucket series always cover the whole run.

mod data;
mod kind;
pub mod ops;
mod prefix;
pub mod trace;

pub use data::{check_page, run_page, Capture};

/// Arrows drawn one by one (the first ones in send order).
pub const MAX_ARROWS: usize = 150_000;
/// Further arrows kept because they were dropped, lost or duplicated.
pub const MAX_ODD_ARROWS: usize = 50_000;
/// Operations drawn on the timeline.
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
    let json = serde_json::to_string(data).expect("report data serializes");
    // Inside a script element only `</` (and `<!--`) can end or confuse
    // it; `<\/` is the same JSON string.
    let json = json.replace("</", "<\\/").replace("<!--", "<\\u0021--");
    let title = escape(title);
    // One pass over the template, so nothing inserted is scanned again.
    let mut out = String::with_capacity(TEMPLATE.len() + CSS.len() + JS.len() + json.len());
    let mut rest = TEMPLATE;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        out.push_str(match &after[..j] {
            "TITLE" => &title,
            "CSS" => CSS,
            "JS" => JS,
            "DATA" => &json,
            _ => "",
        });
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    out
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
        let data = serde_json::json!({"note": "</script><script>alert(1)</script><!--"});
        let html = page("a <b>", &data);
        assert_eq!(embedded_data(&html), Some(data));
        assert!(html.contains("<title>a &lt;b&gt;"));
    }
}
