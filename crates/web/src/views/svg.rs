//! Small helpers shared by the views: escaping, number formatting and the shared stylesheet.
//!
//! Every view is a pure function returning an SVG string. Numbers are formatted with fixed
//! precision so the same (Graph, Plan) always gives the same bytes (tests compare them).

use core::fmt::Write;

/// Escape text for an XML text node or attribute value.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0; model names come from files.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// Bytes as a short human figure: "812 B", "12.3 kB", "1.45 MB" (k = 1000, like the paper's kB).
pub fn bytes(b: u64) -> String {
    if b < 1000 {
        format!("{b} B")
    } else if b < 1_000_000 {
        format!("{:.1} kB", b as f64 / 1e3)
    } else {
        format!("{:.2} MB", b as f64 / 1e6)
    }
}

/// A count as a short figure: "950", "12.3 k", "4.56 M", "1.20 G".
pub fn count(n: u64) -> String {
    if n < 1000 {
        format!("{n}")
    } else if n < 1_000_000 {
        format!("{:.1} k", n as f64 / 1e3)
    } else if n < 1_000_000_000 {
        format!("{:.2} M", n as f64 / 1e6)
    } else {
        format!("{:.2} G", n as f64 / 1e9)
    }
}

/// A coordinate with one decimal, trailing ".0" dropped: stable and compact.
pub fn num(x: f64) -> String {
    let x = if x.is_finite() { x } else { 0.0 };
    let r = (x * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// Truncate `s` to `max` characters with an ellipsis (labels inside fixed-width boxes).
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Colours of the buffer kinds and stages: one palette for light and dark backgrounds.
pub const PALETTE: [&str; 8] = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];

/// The stylesheet every view embeds. Inline `<svg>` styles apply to the whole document (or
/// shadow root), so the rules are prefixed `msf-` and identical in every view; colours come
/// from CSS variables with fallbacks, so the page's dark mode reaches the SVG.
pub const STYLE: &str = "<style>\
.msf-t{font:12px system-ui,sans-serif;fill:var(--msf-fg,#1d2330)}\
.msf-s{font:10px system-ui,sans-serif;fill:var(--msf-muted,#5b6475)}\
.msf-b{font-weight:600}\
.msf-node{fill:var(--msf-node,#fff);stroke:var(--msf-line,#8a93a6)}\
.msf-opaque{fill:var(--msf-warn-bg,#fde8e8);stroke:#d64545}\
.msf-edge{fill:none;stroke:var(--msf-line,#8a93a6);stroke-width:1.2}\
.msf-skip{fill:none;stroke:#b07aa1;stroke-width:1.2;stroke-dasharray:4 3}\
.msf-axis{stroke:var(--msf-line,#8a93a6);stroke-width:1}\
.msf-grid{stroke:var(--msf-grid,#e3e6ec);stroke-width:1}\
.msf-budget{stroke:#d64545;stroke-width:1.5;stroke-dasharray:6 4}\
.msf-front{fill:none;stroke:var(--msf-accent,#2f6fde);stroke-width:1.5}\
.msf-pt{fill:var(--msf-accent,#2f6fde);cursor:pointer}\
.msf-pt:hover,.msf-pt:focus{stroke:var(--msf-fg,#1d2330);stroke-width:2;outline:none}\
.msf-chosen{fill:none;stroke:#d64545;stroke-width:2.5}\
.msf-stage{cursor:pointer}\
.msf-stage:hover>rect.msf-blk,.msf-stage:focus>rect.msf-blk{stroke-width:3;outline:none}\
.msf-stage:focus{outline:none}\
.msf-sel>rect.msf-blk{stroke-width:3.5}\
</style>";

/// Open an `<svg>` element of the given size with a title for screen readers. Views with
/// focusable parts (stages, Pareto points) are a "group": an "img" would hide them from
/// assistive technology.
pub fn open(out: &mut String, width: f64, height: f64, title: &str, class: &str) {
    let role = if matches!(class, "msf-graph" | "msf-pareto") { "group" } else { "img" };
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"{}\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"{role}\" aria-label=\"{}\"><title>{}</title>{}",
        esc(class),
        num(width),
        num(height),
        num(width),
        num(height),
        esc(title),
        esc(title),
        STYLE
    );
}

/// `<text>` with a class; `anchor` is "start", "middle" or "end".
pub fn text(out: &mut String, x: f64, y: f64, class: &str, anchor: &str, s: &str) {
    let _ = write!(out, "<text x=\"{}\" y=\"{}\" class=\"{}\" text-anchor=\"{}\">{}</text>", num(x), num(y), class, anchor, esc(s));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(esc("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&#39;?");
    }

    #[test]
    fn human_figures() {
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(12_345), "12.3 kB");
        assert_eq!(bytes(1_450_000), "1.45 MB");
        assert_eq!(count(999), "999");
        assert_eq!(count(4_560_000), "4.56 M");
        assert_eq!(count(1_200_000_000), "1.20 G");
    }

    #[test]
    fn coordinates_are_compact_and_finite() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(3.04), "3");
        assert_eq!(num(3.06), "3.1");
        assert_eq!(num(-2.5), "-2.5");
        assert_eq!(num(f64::NAN), "0");
    }

    #[test]
    fn clipping_counts_characters_not_bytes() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("ééé", 3), "ééé");
    }
}
