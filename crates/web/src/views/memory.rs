//! Memory over time: one bar per stage (in execution order), stacked by buffer kind, with the
//! budget as a dashed line and the peak stage marked.

use super::axis::ticks;
use super::svg::{self, esc, num, text};
use crate::planview::{BufKind, PlanView};
use core::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 270.0;
const L: f64 = 58.0;
const R: f64 = 12.0;
const T: f64 = 30.0;
const B: f64 = 58.0;

pub fn render(plan: &PlanView) -> String {
    let mut out = String::with_capacity(400 * plan.stages.len() + 3000);
    svg::open(&mut out, W, H, &format!("Memory over time: peak {} (I/O included)", svg::bytes(plan.peak_incl_io)), "msf-memory");
    let pw = W - L - R;
    let ph = H - T - B;
    // Scale in kB so tick labels read naturally.
    // The budget widens the scale only when it is near the peak; far above, it is noted instead.
    let stage_peak = plan.stages.iter().map(|s| s.ram()).max().unwrap_or(0);
    let budget_in = plan.budget.filter(|&b| b <= stage_peak.saturating_mul(3) / 2).unwrap_or(0);
    let top_bytes = stage_peak.max(budget_in).max(1);
    let ticks_kb = ticks(top_bytes as f64 / 1e3, 5);
    let max_kb = ticks_kb.last().copied().unwrap_or(1.0).max(1e-9);
    let y = |bytes: f64| T + ph - (bytes / 1e3) / max_kb * ph;
    for &t in &ticks_kb {
        let yy = T + ph - t / max_kb * ph;
        let _ = write!(out, "<line class=\"msf-grid\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>", num(L), num(L + pw), num(yy), num(yy));
        let label = if max_kb < 10.0 { format!("{t:.1}") } else { format!("{t:.0}") };
        text(&mut out, L - 6.0, yy + 3.5, "msf-s", "end", &label);
    }
    text(&mut out, 12.0, T - 12.0, "msf-s", "start", "kB");
    let n = plan.stages.len().max(1);
    let slot = pw / n as f64;
    let bw = (slot * 0.8).max(1.0);
    let peak_stage = plan.stages.iter().enumerate().max_by_key(|(i, s)| (s.ram(), core::cmp::Reverse(*i))).map(|(i, _)| i);
    for (k, s) in plan.stages.iter().enumerate() {
        let x = L + k as f64 * slot + (slot - bw) / 2.0;
        let _ = write!(out, "<g data-stage=\"{k}\">");
        let mut acc = 0u64;
        for (kind, bytes) in BufKind::ALL.iter().zip(s.by_kind()) {
            if bytes == 0 {
                continue;
            }
            let y1 = y((acc + bytes) as f64);
            let y0 = y(acc as f64);
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}</title></rect>",
                num(x),
                num(y1),
                num(bw),
                num((y0 - y1).max(0.0)),
                kind.colour(),
                esc(&format!("stage {}: {} {}", k + 1, kind.label(), svg::bytes(bytes)))
            );
            acc += bytes;
        }
        out.push_str("</g>");
        if Some(k) == peak_stage {
            text(&mut out, x + bw / 2.0, y(acc as f64) - 4.0, "msf-s msf-b", "middle", &format!("peak {}", svg::bytes(acc)));
        }
    }
    let _ = write!(out, "<line class=\"msf-axis\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>", num(L), num(L + pw), num(T + ph), num(T + ph));
    // Stage numbers under the bars, thinned so they never collide.
    let every = (n as f64 * 22.0 / pw).ceil().max(1.0) as usize;
    for k in (0..plan.stages.len()).step_by(every) {
        text(&mut out, L + (k as f64 + 0.5) * slot, T + ph + 13.0, "msf-s", "middle", &format!("{}", k + 1));
    }
    text(&mut out, L + pw / 2.0, T + ph + 26.0, "msf-s", "middle", "stage (execution order)");
    if let Some(b) = plan.budget {
        if (b as f64 / 1e3) <= max_kb {
            let yy = y(b as f64);
            let _ = write!(out, "<line class=\"msf-budget\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>", num(L), num(L + pw), num(yy), num(yy));
            text(&mut out, L + pw - 2.0, yy - 4.0, "msf-s", "end", &format!("budget {}", svg::bytes(b)));
        } else {
            text(&mut out, L + pw - 2.0, T - 12.0, "msf-s", "end", &format!("budget {} (off scale)", svg::bytes(b)));
        }
    }
    // Legend of the kinds that occur.
    let mut lx = L;
    for (i, kind) in BufKind::ALL.iter().enumerate() {
        if plan.stages.iter().all(|s| s.by_kind()[i] == 0) {
            continue;
        }
        let _ = write!(out, "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>", num(lx), num(H - 16.0), kind.colour());
        text(&mut out, lx + 14.0, H - 7.0, "msf-s", "start", kind.label());
        lx += 24.0 + kind.label().len() as f64 * 5.6;
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
    fn one_bar_group_per_stage_and_the_peak_is_labelled() {
        let g = residual();
        let p = layerwise(&g, Some(500));
        let svg = render(&p);
        assert_eq!(svg.matches("<g data-stage=").count(), 4);
        // Stage 3 (first of the two 384 B stages) carries the peak label.
        assert_eq!(svg.matches(">peak 384 B</text>").count(), 1);
        assert!(svg.contains("stage 3: live skip tensors 128 B"));
        assert!(svg.contains("budget 500 B"));
        assert!(svg.contains(">live skip tensors</text>"));
        assert!(svg.contains(">scratch</text>"), "the conv's im2col scratch is in the legend");
        assert!(!svg.contains(">caches / tiles</text>"), "kinds that never occur stay out of the legend");
    }

    #[test]
    fn bar_heights_are_proportional() {
        let g = residual();
        let p = layerwise(&g, None);
        let svg = render(&p);
        // Axis top is 0.4 kB (ticks of 0.1 kB), plot height 182: 384 B -> 174.72 px tall in total,
        // split 128 input + 128 output + 128 skip = 58.24 px each.
        assert!(svg.contains("height=\"58.2\" fill=\"#b07aa1\""), "{svg}");
    }

    #[test]
    fn empty_plan_draws_an_empty_chart() {
        let p = PlanView::finish(vec![], 0, None, String::new());
        let svg = render(&p);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
