//! The RAM/compute Pareto front: peak RAM across, overhead factor F up, one clickable point per
//! plan on the front, the chosen one ringed, the budget as a vertical line.

use super::axis::{ticks, ticks_range};
use super::svg::{self, esc, num, text};
use crate::planview::ParetoPoint;
use core::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 270.0;
const L: f64 = 52.0;
const R: f64 = 16.0;
const T: f64 = 24.0;
const B: f64 = 44.0;

/// `chosen` indexes `points`. Points are drawn in the order given; `data-point` is that index.
pub fn render(points: &[ParetoPoint], chosen: Option<usize>, budget: Option<u64>) -> String {
    let mut out = String::with_capacity(300 * points.len() + 3000);
    svg::open(&mut out, W, H, &format!("RAM/compute Pareto front: {} plans", points.len()), "msf-pareto");
    let pw = W - L - R;
    let ph = H - T - B;
    // The front usually spans a narrow band of RAM: the axis covers that band, not 0..max.
    let max_peak = points.iter().map(|p| p.peak).max().unwrap_or(1).max(1) as f64 / 1e3;
    let min_peak = points.iter().map(|p| p.peak).min().unwrap_or(0) as f64 / 1e3;
    let xt = if min_peak < max_peak * 0.4 { ticks(max_peak, 5) } else { ticks_range(min_peak, max_peak, 5) };
    let xmin = xt.first().copied().unwrap_or(0.0);
    let xmax = xt.last().copied().unwrap_or(1.0).max(xmin + 1e-9);
    // F starts at 1 (no overhead); the axis shows 1..max.
    let max_f = points.iter().map(|p| p.overhead).fold(1.0f64, f64::max);
    let yt: Vec<f64> = ticks((max_f - 1.0).max(0.05), 4).into_iter().map(|t| 1.0 + t).collect();
    let ymax = yt.last().copied().unwrap_or(2.0);
    let sx = |kb: f64| L + (kb - xmin) / (xmax - xmin) * pw;
    let sy = |f: f64| T + ph - (f - 1.0) / (ymax - 1.0).max(1e-9) * ph;
    for &t in &xt {
        let x = sx(t);
        let _ = write!(out, "<line class=\"msf-grid\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>", num(x), num(x), num(T), num(T + ph));
        let label = if xmax - xmin < 10.0 && t.fract().abs() > 1e-9 { format!("{t:.1}") } else { format!("{t:.0}") };
        text(&mut out, x, T + ph + 14.0, "msf-s", "middle", &label);
    }
    for &t in &yt {
        let y = sy(t);
        let _ = write!(out, "<line class=\"msf-grid\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>", num(L), num(L + pw), num(y), num(y));
        text(&mut out, L - 6.0, y + 3.5, "msf-s", "end", &format!("{t:.2}"));
    }
    text(&mut out, L + pw / 2.0, H - 8.0, "msf-s", "middle", "peak RAM (kB)");
    text(&mut out, 10.0, T - 10.0, "msf-s", "start", "compute overhead F");
    if let Some(b) = budget {
        let kb = b as f64 / 1e3;
        if kb >= xmin && kb <= xmax {
            let x = sx(kb);
            let _ = write!(out, "<line class=\"msf-budget\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>", num(x), num(x), num(T), num(T + ph));
            text(&mut out, x - 4.0, T + 10.0, "msf-s", "end", &format!("budget {}", svg::bytes(b)));
        } else if !points.is_empty() {
            text(&mut out, L + pw, T - 10.0, "msf-s", "end", &format!("budget {} (off scale)", svg::bytes(b)));
        }
    }
    // The front as a staircase in order of peak: F only drops as RAM grows.
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| points[a].peak.cmp(&points[b].peak).then(a.cmp(&b)));
    if order.len() > 1 {
        let mut d = String::new();
        for (n, &i) in order.iter().enumerate() {
            let (x, y) = (sx(points[i].peak as f64 / 1e3), sy(points[i].overhead));
            if n == 0 {
                let _ = write!(d, "M{} {}", num(x), num(y));
            } else {
                let _ = write!(d, "H{}V{}", num(x), num(y));
            }
        }
        let _ = write!(out, "<path class=\"msf-front\" d=\"{d}\"/>");
    }
    for (i, p) in points.iter().enumerate() {
        let (x, y) = (sx(p.peak as f64 / 1e3), sy(p.overhead));
        let aria = format!("Plan {}: peak {}, {} MAC, F {:.2}", i + 1, svg::bytes(p.peak), svg::count(p.macs), p.overhead);
        let _ = write!(
            out,
            "<circle class=\"msf-pt\" data-point=\"{i}\" cx=\"{}\" cy=\"{}\" r=\"5\" tabindex=\"0\" role=\"button\" aria-label=\"{}\"><title>{}</title></circle>",
            num(x),
            num(y),
            esc(&aria),
            esc(&aria)
        );
    }
    if let Some(p) = chosen.and_then(|c| points.get(c)) {
        let (x, y) = (sx(p.peak as f64 / 1e3), sy(p.overhead));
        let _ = write!(out, "<circle class=\"msf-chosen\" cx=\"{}\" cy=\"{}\" r=\"10\" pointer-events=\"none\"/>", num(x), num(y));
        let anchor = if x > L + pw * 0.7 { "end" } else { "start" };
        let dx = if anchor == "end" { -14.0 } else { 14.0 };
        text(&mut out, x + dx, y - 8.0, "msf-t msf-b", anchor, &format!("chosen: {}, F {:.2}", svg::bytes(p.peak), p.overhead));
    }
    if points.is_empty() {
        text(&mut out, L + pw / 2.0, T + ph / 2.0, "msf-s", "middle", "no Pareto front for this model");
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts() -> Vec<ParetoPoint> {
        vec![
            ParetoPoint { peak: 194_400, macs: 1000, overhead: 1.0 },
            ParetoPoint { peak: 67_900, macs: 1100, overhead: 1.10 },
            ParetoPoint { peak: 7_890, macs: 1680, overhead: 1.68 },
        ]
    }

    #[test]
    fn points_are_clickable_and_the_choice_is_ringed() {
        let svg = render(&pts(), Some(1), Some(100_000));
        assert_eq!(svg.matches("class=\"msf-pt\"").count(), 3);
        assert!(svg.contains("role=\"group\""), "focusable points must not sit inside role=img");
        assert!(svg.contains("data-point=\"2\""));
        assert_eq!(svg.matches("class=\"msf-chosen\"").count(), 1);
        assert!(svg.contains("chosen: 67.9 kB, F 1.10"));
        assert!(svg.contains("budget 100.0 kB"));
    }

    #[test]
    fn positions_follow_the_scales() {
        // x ticks to 200 kB over 572 px from x=52: 194.4 kB -> 52 + 194.4/200*572 = 607.98.
        // y ticks: (1.68 - 1) = 0.68 -> step 0.2 -> top 1.8; F = 1.0 sits on the baseline 226.
        let svg = render(&pts(), None, None);
        assert!(svg.contains("data-point=\"0\" cx=\"608\" cy=\"226\""), "{svg}");
        // The staircase starts at the smallest peak: 7.89 kB -> 52 + 22.565 = 74.6.
        assert!(svg.contains("d=\"M74.6 "), "{svg}");
    }

    #[test]
    fn a_narrow_front_gets_a_zoomed_axis() {
        let pts = [ParetoPoint { peak: 42_240, macs: 100, overhead: 1.0 }, ParetoPoint { peak: 37_296, macs: 112, overhead: 1.125 }];
        let svg = render(&pts, Some(0), Some(524_288));
        // x ticks 37..43 kB: 42.24 kB -> 52 + 5.24/6*572 = 551.5.
        assert!(svg.contains("data-point=\"0\" cx=\"551.5\""), "{svg}");
        assert!(svg.contains(">37</text>"));
        assert!(svg.contains("budget 524.3 kB (off scale)"));
    }

    #[test]
    fn no_points_no_panic() {
        let svg = render(&[], Some(3), Some(5));
        assert!(svg.contains("no Pareto front"));
        assert!(!svg.contains("class=\"msf-chosen\""));
    }
}
