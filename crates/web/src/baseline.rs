//! The unfused, layer-by-layer schedule: every op its own stage, every activation tensor whole.
//!
//! It needs nothing but the graph, so the page can show a model (and its vanilla peak) even when
//! the planner refuses it (opaque ops, dtypes it does not plan). The planner's own stages
//! replace it whenever the planner succeeds.

use crate::planview::{BufKind, Buffer, PlanView, Stage};
use msf_model::{stats, Graph};

/// Layer-by-layer schedule. A tensor is live from its producer (or the start, for graph inputs)
/// to its last consumer (or the end, for graph outputs).
pub fn layerwise(graph: &Graph, budget: Option<u64>) -> PlanView {
    let n = graph.ops.len();
    let act = |t: usize| !graph.tensors[t].is_constant();
    // first/last step each activation tensor is alive.
    let mut first = vec![usize::MAX; graph.tensors.len()];
    let mut last = vec![0usize; graph.tensors.len()];
    for &t in &graph.inputs {
        first[t] = 0;
    }
    for (i, op) in graph.ops.iter().enumerate() {
        for &t in op.outputs.iter().filter(|&&t| act(t)) {
            first[t] = first[t].min(i);
            last[t] = last[t].max(i);
        }
        for &t in op.inputs.iter().filter(|&&t| act(t)) {
            first[t] = first[t].min(i);
            last[t] = last[t].max(i);
        }
    }
    for &t in &graph.outputs {
        last[t] = n.saturating_sub(1);
    }
    let io = |t: usize| graph.inputs.contains(&t) || graph.outputs.contains(&t);
    let mut stages = Vec::with_capacity(n);
    for (i, op) in graph.ops.iter().enumerate() {
        let mut buffers = Vec::new();
        let mut seen = Vec::new();
        for &t in op.inputs.iter().filter(|&&t| act(t)) {
            if !seen.contains(&t) {
                seen.push(t);
                buffers.push(Buffer { label: graph.tensors[t].name.clone(), kind: BufKind::Input, bytes: graph.tensors[t].byte_size() as u64, io: io(t) });
            }
        }
        for &t in op.outputs.iter().filter(|&&t| act(t)) {
            if !seen.contains(&t) {
                seen.push(t);
                buffers.push(Buffer { label: graph.tensors[t].name.clone(), kind: BufKind::Output, bytes: graph.tensors[t].byte_size() as u64, io: io(t) });
            }
        }
        for t in 0..graph.tensors.len() {
            if first[t] != usize::MAX && first[t] < i && last[t] > i && !seen.contains(&t) && act(t) {
                buffers.push(Buffer { label: graph.tensors[t].name.clone(), kind: BufKind::Skip, bytes: graph.tensors[t].byte_size() as u64, io: io(t) });
            }
        }
        stages.push(Stage {
            ops: vec![i],
            fused: false,
            tiles: Vec::new(),
            out_tile: None,
            cache_bytes: 0,
            macs: stats::op_stats(graph, i).macs,
            buffers,
        });
    }
    let vanilla: u64 = stages.iter().map(|s| s.macs).sum();
    PlanView::finish(stages, vanilla, budget, "layer by layer (no fusion)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testgraph::residual;

    #[test]
    fn skip_tensor_stays_live_across_the_branch() {
        let g = residual();
        let p = layerwise(&g, None);
        assert_eq!(p.stages.len(), g.ops.len());
        // op 0: conv 8x8x3 -> 4x4x8: in 192 B (graph input) + out 128 B.
        assert_eq!(p.stages[0].ram(), 192 + 128);
        assert_eq!(p.stages[0].ram_excl_io(), 128);
        // op 1: dw on t1 (128) -> t2 (128); t1 stays live for the add: it is the input here.
        assert_eq!(p.stages[1].ram(), 256);
        // op 2: 1x1 conv t2 -> t3; t1 is a live skip: 128 * 3.
        assert_eq!(p.stages[2].ram(), 384);
        assert_eq!(p.stages[2].buffers.iter().filter(|b| b.kind == BufKind::Skip).count(), 1);
        // op 3: add t1 + t3 -> t4: 3 * 128.
        assert_eq!(p.stages[3].ram(), 384);
        assert_eq!(p.peak_incl_io, 384);
        assert_eq!(p.overhead, 1.0);
        // MACs: conv 4*4*8 * 3*3*3 = 3456; dw 4*4*8*9 = 1152; pw 4*4*8*8 = 1024.
        assert_eq!(p.macs, 3456 + 1152 + 1024);
    }

    #[test]
    fn budget_sets_fits() {
        let g = residual();
        assert!(!layerwise(&g, Some(383)).fits);
        assert!(layerwise(&g, Some(384)).fits);
    }
}
