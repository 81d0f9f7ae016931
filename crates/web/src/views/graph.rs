//! The model as a graph: one row per op in execution order, the plan's stages drawn as blocks
//! behind their ops, edges between consecutive rows as short lines and longer edges (residual
//! skips, branches) as arcs in lanes on the left. A column keeps any model readable without a
//! layout engine, and the execution order is exactly what the stages partition.

use super::svg::{self, esc, num, text};
use crate::planview::{op_label, shape_label, PlanView};
use core::fmt::Write;
use msf_model::{stats, Graph};

const ROW: f64 = 34.0;
const NODE_H: f64 = 26.0;
const NODE_X: f64 = 64.0;
const NODE_W: f64 = 250.0;
const BLOCK_X: f64 = 50.0;
const LABEL_X: f64 = NODE_X + NODE_W + 22.0;
const WIDTH: f64 = 600.0;
const TOP: f64 = 40.0;
/// Arc lanes left of the blocks; deeper nesting reuses the last lane.
const LANES: usize = 5;

/// A long edge: from the row of the producer to the row of the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Arc {
    from: usize,
    to: usize,
    lane: usize,
}

/// Edges between ops (via activation tensors). Edges to the next row are drawn straight; the
/// others get a lane: the lowest lane not used by an arc overlapping it (interval colouring in
/// order of start row, so the result is deterministic).
fn arcs(graph: &Graph) -> (Vec<(usize, usize)>, Vec<Arc>) {
    let mut straight = Vec::new();
    let mut long: Vec<(usize, usize)> = Vec::new();
    for (j, op) in graph.ops.iter().enumerate() {
        for &t in &op.inputs {
            if graph.tensors[t].is_constant() {
                continue;
            }
            if let Some(i) = graph.producer(t) {
                if i + 1 == j {
                    if !straight.contains(&(i, j)) {
                        straight.push((i, j));
                    }
                } else if i < j && !long.contains(&(i, j)) {
                    long.push((i, j));
                }
            }
        }
    }
    long.sort_unstable();
    let mut out: Vec<Arc> = Vec::new();
    for (from, to) in long {
        let busy: Vec<usize> = out.iter().filter(|a| a.from < to && from < a.to).map(|a| a.lane).collect();
        let lane = (0..LANES).find(|l| !busy.contains(l)).unwrap_or(LANES - 1);
        out.push(Arc { from, to, lane });
    }
    (straight, out)
}

fn row_y(i: usize) -> f64 {
    TOP + i as f64 * ROW
}

/// One op box: name and kernel on the first line, output shape and MACs on the second.
fn node(out: &mut String, graph: &Graph, i: usize) {
    let y = row_y(i);
    let op = &graph.ops[i];
    let class = if op.kind.is_opaque() { "msf-opaque" } else { "msf-node" };
    let _ = write!(out, "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"5\" class=\"{class}\"/>", num(NODE_X), num(y), num(NODE_W), num(NODE_H));
    text(out, NODE_X + 8.0, y + 11.0, "msf-t msf-b", "start", &svg::clip(&op_label(graph, i), 30));
    let shape = op.outputs.first().map(|&t| shape_label(&graph.tensors[t].shape)).unwrap_or_default();
    let macs = stats::op_stats(graph, i).macs;
    let second = if macs > 0 { format!("→ {shape} · {} MAC", svg::count(macs)) } else { format!("→ {shape}") };
    text(out, NODE_X + 8.0, y + 22.0, "msf-s", "start", &svg::clip(&second, 42));
    let _ = write!(out, "<title>{}</title>", esc(&format!("op {i}: {} ({})", op.kind.name(), op.name)));
}

/// The graph with the plan's stages. `selected` highlights one stage.
pub fn render(graph: &Graph, plan: &PlanView, selected: Option<usize>) -> String {
    let n = graph.ops.len();
    let height = TOP + n as f64 * ROW + 30.0;
    let mut out = String::with_capacity(600 * n + 2000);
    let title = format!("{}: {} ops in {} stages", graph.name, n, plan.stages.len());
    svg::open(&mut out, WIDTH, height, &title, "msf-graph");
    let input = graph.inputs.first().map(|&t| shape_label(&graph.tensors[t].shape)).unwrap_or_default();
    text(&mut out, NODE_X, 16.0, "msf-t msf-b", "start", &svg::clip(&graph.name, 48));
    text(&mut out, NODE_X, 30.0, "msf-s", "start", &format!("input {input} · {}", graph.format));

    // Ops not covered by any stage (a plan that stops early) are drawn on their own.
    let mut covered = vec![false; n];
    for (k, stage) in plan.stages.iter().enumerate() {
        let rows: Vec<usize> = stage.ops.iter().copied().filter(|&i| i < n).collect();
        let (Some(&lo), Some(&hi)) = (rows.iter().min(), rows.iter().max()) else { continue };
        let colour = svg::PALETTE[k % svg::PALETTE.len()];
        let sel = if selected == Some(k) { " msf-sel" } else { "" };
        let what = if stage.fused { format!("fused block of {} layers", rows.len()) } else { "single layer".to_string() };
        let aria = format!("Stage {}: {what}, {} RAM, {} MAC", k + 1, svg::bytes(stage.ram()), svg::count(stage.macs));
        let _ = write!(out, "<g class=\"msf-stage{sel}\" data-stage=\"{k}\" tabindex=\"0\" role=\"button\" aria-label=\"{}\">", esc(&aria));
        let y0 = row_y(lo) - 4.0;
        let h = row_y(hi) + NODE_H + 4.0 - y0;
        let (fill_op, stroke_w) = if stage.fused { ("0.18", "1.5") } else { ("0.07", "1") };
        let _ = write!(
            out,
            "<rect class=\"msf-blk\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"8\" fill=\"{colour}\" fill-opacity=\"{fill_op}\" stroke=\"{colour}\" stroke-width=\"{stroke_w}\"/>",
            num(BLOCK_X),
            num(y0),
            num(LABEL_X - BLOCK_X + 200.0),
            num(h)
        );
        for &i in &rows {
            covered[i] = true;
            node(&mut out, graph, i);
        }
        let ly = y0 + 15.0;
        let head = if stage.fused { format!("S{} · fused ×{}", k + 1, rows.len()) } else { format!("S{}", k + 1) };
        text(&mut out, LABEL_X, ly, "msf-t msf-b", "start", &head);
        let mut line2 = svg::bytes(stage.ram());
        if let Some(t) = stage.out_tile {
            line2 = format!("{line2} · out tile {}×{}", t[0], t[1]);
        }
        text(&mut out, LABEL_X, ly + 13.0, "msf-s", "start", &line2);
        if stage.fused && rows.len() > 1 {
            if let Some(t) = stage.tiles.first() {
                text(&mut out, LABEL_X, ly + 26.0, "msf-s", "start", &format!("in tile {}×{} · cache {}", t[0], t[1], svg::bytes(stage.cache_bytes)));
            }
        }
        out.push_str("</g>");
    }
    for (i, _) in covered.iter().enumerate().filter(|(_, c)| !**c) {
        node(&mut out, graph, i);
    }
    let (straight, long) = arcs(graph);
    for (i, j) in straight {
        let x = NODE_X + 24.0;
        let _ = write!(out, "<path class=\"msf-edge\" d=\"M{} {}V{}\"/>", num(x), num(row_y(i) + NODE_H), num(row_y(j)));
    }
    for a in long {
        let lx = BLOCK_X - 8.0 - a.lane as f64 * 8.0;
        let (y1, y2) = (row_y(a.from) + NODE_H / 2.0, row_y(a.to) + NODE_H / 2.0);
        let _ = write!(
            out,
            "<path class=\"msf-skip\" d=\"M{} {}H{}V{}H{}\"/>",
            num(NODE_X),
            num(y1),
            num(lx),
            num(y2),
            num(NODE_X)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::layerwise;
    use crate::planview::{PlanView, Stage};
    use crate::testgraph::residual;

    #[test]
    fn the_skip_edge_is_an_arc_and_the_chain_is_straight() {
        let g = residual();
        let (straight, long) = arcs(&g);
        assert_eq!(straight, vec![(0, 1), (1, 2), (2, 3)]);
        assert_eq!(long, vec![Arc { from: 0, to: 3, lane: 0 }]);
    }

    #[test]
    fn one_group_per_stage_with_every_op_drawn_once() {
        let g = residual();
        let mut p = layerwise(&g, None);
        // Fuse ops 1..=2 into one block, as a planner would.
        let s1 = p.stages.remove(1);
        let s2 = p.stages.remove(1);
        let fused = Stage { ops: vec![1, 2], fused: true, tiles: vec![[3, 3], [1, 1]], out_tile: Some([1, 1]), cache_bytes: 48, macs: s1.macs + s2.macs, buffers: s1.buffers };
        p.stages.insert(1, fused);
        let p = PlanView::finish(p.stages, p.vanilla_macs, None, "test".into());
        let svg = render(&g, &p, Some(1));
        assert_eq!(svg.matches("data-stage=").count(), 3);
        assert_eq!(svg.matches("class=\"msf-node\"").count(), 4);
        assert!(svg.contains("S2 · fused ×2"));
        assert!(svg.contains("in tile 3×3 · cache 48 B"));
        assert!(svg.contains("msf-stage msf-sel\" data-stage=\"1\""));
        // The name carries markup characters: escaped.
        assert!(svg.contains("residual &lt;test&gt;"));
        assert!(svg.contains("CONV_2D 3×3/2"));
        assert_eq!(svg.matches("class=\"msf-skip\"").count(), 1);
    }

    #[test]
    fn deterministic() {
        let g = residual();
        let p = layerwise(&g, None);
        assert_eq!(render(&g, &p, None), render(&g, &p, None));
    }

    #[test]
    fn overlapping_long_edges_take_different_lanes() {
        // A chain of 5 ops where op 4 reads op 0's and op 1's outputs: arcs 0->4 and 1->4 overlap.
        let mut g = residual();
        // Make the add read t1 (op 0) and t2 (op 1) instead of t3, then append another add
        // reading t1 and the first add: arcs 0->3, 1->3 overlap; 0->4 overlaps both.
        g.ops[3].inputs = vec![3, 5];
        g.tensors.push(g.tensors[8].clone());
        g.ops.push(msf_model::Op { kind: msf_model::OpKind::Add { activation: Default::default() }, inputs: vec![3, 8], outputs: vec![9], name: "add2".into() });
        g.outputs = vec![9];
        let (_, long) = arcs(&g);
        let lanes: Vec<(usize, usize, usize)> = long.iter().map(|a| (a.from, a.to, a.lane)).collect();
        assert_eq!(lanes, vec![(0, 3, 0), (0, 4, 1), (1, 3, 2)]);
    }
}
