//! The unfused, layer-by-layer schedule: every op its own stage, every activation tensor whole.
//!
//! It is the planner's layer-by-layer Plan ([`msf_plan::layer_by_layer`]), which needs nothing
//! but the graph, so the page can show a model (and its vanilla peak) even when the planner
//! refuses it (opaque ops, dtypes it does not plan); it is also the Plan `msf_exec::compile`
//! lowers, so the layer-by-layer download reserves exactly the arena shown. The planner's own
//! stages replace it whenever the planner succeeds.

use crate::adapt::{to_view, Schedule};
use crate::planview::PlanView;
use msf_model::Graph;

/// The view of a layer-by-layer schedule.
pub fn view(graph: &Graph, schedule: &Schedule, budget: Option<u64>) -> PlanView {
    to_view(graph, &schedule.plan, budget, "layer by layer (no fusion)".into(), false)
}

/// The layer-by-layer view of `graph`. A tensor is live from its producer (or the start, for
/// graph inputs) to its last consumer (or the end, for graph outputs); a RESHAPE's output
/// shares its input's buffer. The peak is the Plan's arena.
pub fn layerwise(graph: &Graph, budget: Option<u64>) -> PlanView {
    view(graph, &Schedule::layerwise(graph), budget)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planview::BufKind;
    use crate::testgraph::residual;

    #[test]
    fn skip_tensor_stays_live_across_the_branch() {
        let g = residual();
        let p = layerwise(&g, None);
        assert_eq!(p.stages.len(), g.ops.len());
        // op 0: conv 8x8x3 -> 4x4x8: in 192 B (graph input) + out 128 B + its 3x3x3 im2col
        // scratch (27 B).
        assert_eq!(p.stages[0].ram(), 192 + 128 + 27);
        assert_eq!(p.stages[0].ram_excl_io(), 128 + 27);
        // op 1: dw on t1 (128) -> t2 (128); t1 stays live for the add: it is the input here.
        assert_eq!(p.stages[1].ram(), 256);
        // op 2: 1x1 conv t2 -> t3; t1 is a live skip: 128 * 3.
        assert_eq!(p.stages[2].ram(), 384);
        assert_eq!(p.stages[2].buffers.iter().filter(|b| b.kind == BufKind::Skip).count(), 1);
        // op 3: add t1 + t3 -> t4: 3 * 128.
        assert_eq!(p.stages[3].ram(), 384);
        // The peak is the arena the program reserves: greedy-by-size placement leaves a hole
        // (input 0..192, t1 192..320, t2 0..128, t3 320..448), as msf_exec::compile does.
        assert_eq!(p.peak_incl_io, 448);
        assert_eq!(p.overhead, 1.0);
        // MACs: conv 4*4*8 * 3*3*3 = 3456; dw 4*4*8*9 = 1152; pw 4*4*8*8 = 1024.
        assert_eq!(p.macs, 3456 + 1152 + 1024);
    }

    #[test]
    fn budget_sets_fits() {
        let g = residual();
        assert!(!layerwise(&g, Some(447)).fits);
        assert!(layerwise(&g, Some(448)).fits);
    }
}
