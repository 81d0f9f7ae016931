//! One stage opened: a horizontal bar of its RAM split by buffer, with a label per buffer.

use super::svg::{self, esc, num, text};
use crate::planview::Stage;
use core::fmt::Write;

const W: f64 = 560.0;
const BAR_Y: f64 = 26.0;
const BAR_H: f64 = 22.0;
const ROW: f64 = 16.0;

pub fn render(index: usize, stage: &Stage) -> String {
    let total = stage.ram().max(1) as f64;
    let h = BAR_Y + BAR_H + 12.0 + ROW * stage.buffers.len() as f64 + 6.0;
    let mut out = String::with_capacity(300 * stage.buffers.len() + 2000);
    let title = format!("Stage {} RAM: {}", index + 1, svg::bytes(stage.ram()));
    svg::open(&mut out, W, h, &title, "msf-stage-ram");
    text(&mut out, 0.0, 14.0, "msf-t msf-b", "start", &title);
    let mut x = 0.0;
    for (i, b) in stage.buffers.iter().enumerate() {
        let w = b.bytes as f64 / total * W;
        let _ = write!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"var(--msf-bg,#fff)\"><title>{}</title></rect>",
            num(x),
            num(BAR_Y),
            num(w),
            num(BAR_H),
            b.kind.colour(),
            esc(&format!("{}: {}", b.label, svg::bytes(b.bytes)))
        );
        x += w;
        let y = BAR_Y + BAR_H + 12.0 + ROW * i as f64;
        let _ = write!(out, "<rect x=\"0\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>", num(y), b.kind.colour());
        let io = if b.io { " (network I/O)" } else { "" };
        text(&mut out, 16.0, y + 9.0, "msf-s", "start", &svg::clip(&format!("{} · {}{io}", b.kind.label(), b.label), 70));
        text(&mut out, W, y + 9.0, "msf-s", "end", &svg::bytes(b.bytes));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::layerwise;
    use crate::testgraph::residual;

    #[test]
    fn widths_split_the_bar_by_bytes() {
        let g = residual();
        let p = layerwise(&g, None);
        // Stage 1: input 192 B (network input) + output 128 B + scratch 27 B of 347 B ->
        // 309.9 px + 206.6 px + 43.6 px of 560.
        let svg = render(0, &p.stages[0]);
        assert!(svg.contains("x=\"0\" y=\"26\" width=\"309.9\""), "{svg}");
        assert!(svg.contains("x=\"309.9\" y=\"26\" width=\"206.6\""), "{svg}");
        assert!(svg.contains("x=\"516.4\" y=\"26\" width=\"43.6\""), "{svg}");
        assert!(svg.contains("input · input (network I/O)"));
        assert!(svg.contains("Stage 1 RAM: 347 B"));
    }
}
