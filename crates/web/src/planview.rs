//! What the views draw: a plan reduced to stages and named buffers.
//!
//! The views read this, not the planner's types directly, so that a change in the planner's
//! internals touches one adapter ([`crate::adapt`]) and the drawing code stays put. It is also
//! what the page receives as JSON.

use msf_model::Graph;
use serde::Serialize;

/// What a buffer holds while a stage runs; the memory chart colours by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BufKind {
    /// The tensor (or tile) the stage reads.
    Input,
    /// The tensor the stage writes.
    Output,
    /// Horizontal (or 2D) caches and per-layer tile buffers of a fused block.
    Cache,
    /// Tensors alive across the stage that it does not touch (residual skips, branches).
    Skip,
    /// Anything else the stage needs (scratch).
    Work,
}

impl BufKind {
    pub const ALL: [BufKind; 5] = [BufKind::Input, BufKind::Output, BufKind::Cache, BufKind::Skip, BufKind::Work];
    pub fn label(self) -> &'static str {
        match self {
            BufKind::Input => "input",
            BufKind::Output => "output",
            BufKind::Cache => "caches / tiles",
            BufKind::Skip => "live skip tensors",
            BufKind::Work => "scratch",
        }
    }
    pub fn colour(self) -> &'static str {
        match self {
            BufKind::Input => "#4e79a7",
            BufKind::Output => "#f28e2b",
            BufKind::Cache => "#59a14f",
            BufKind::Skip => "#b07aa1",
            BufKind::Work => "#9c755f",
        }
    }
}

/// One buffer alive during a stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Buffer {
    pub label: String,
    pub kind: BufKind,
    pub bytes: u64,
    /// True for the network's own input or output tensor (left out of the "I/O excluded" peak).
    pub io: bool,
}

/// One stage of the schedule: a single layer, or a block of layers run tile by tile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    /// Indices into `Graph::ops`, in execution order.
    pub ops: Vec<usize>,
    pub fused: bool,
    /// Tile `[h, w]` entering each layer of a fused block (same order as `ops`); empty otherwise.
    pub tiles: Vec<[usize; 2]>,
    /// Output tile of a fused block, `None` for a single layer.
    pub out_tile: Option<[usize; 2]>,
    pub cache_bytes: u64,
    pub macs: u64,
    pub buffers: Vec<Buffer>,
}

impl Stage {
    /// RAM while this stage runs, the network's I/O included.
    pub fn ram(&self) -> u64 {
        self.buffers.iter().map(|b| b.bytes).sum()
    }
    /// RAM while this stage runs, the network's own input and output left out.
    pub fn ram_excl_io(&self) -> u64 {
        self.buffers.iter().filter(|b| !b.io).map(|b| b.bytes).sum()
    }
    /// Bytes per kind, in [`BufKind::ALL`] order.
    pub fn by_kind(&self) -> [u64; 5] {
        let mut v = [0u64; 5];
        for b in &self.buffers {
            let k = BufKind::ALL.iter().position(|&k| k == b.kind).unwrap_or(4);
            v[k] += b.bytes;
        }
        v
    }
}

/// A plan as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanView {
    pub stages: Vec<Stage>,
    pub peak_incl_io: u64,
    pub peak_excl_io: u64,
    pub macs: u64,
    /// MACs of the unfused network: the denominator of the overhead factor.
    pub vanilla_macs: u64,
    pub overhead: f64,
    /// The RAM budget the plan was made for, if any.
    pub budget: Option<u64>,
    /// Whether the peak (I/O included) fits the budget.
    pub fits: bool,
    /// What was asked and what the planner did, in words ("min RAM with F <= 1.3").
    pub objective: String,
}

impl PlanView {
    /// Fill the totals from the stages.
    pub fn finish(stages: Vec<Stage>, vanilla_macs: u64, budget: Option<u64>, objective: String) -> PlanView {
        let peak_incl_io = stages.iter().map(Stage::ram).max().unwrap_or(0);
        let peak_excl_io = stages.iter().map(Stage::ram_excl_io).max().unwrap_or(0);
        let macs = stages.iter().map(|s| s.macs).sum();
        let overhead = if vanilla_macs == 0 { 1.0 } else { macs as f64 / vanilla_macs as f64 };
        let fits = budget.is_none_or(|b| peak_incl_io <= b);
        PlanView { stages, peak_incl_io, peak_excl_io, macs, vanilla_macs, overhead, budget, fits, objective }
    }

    /// Index of the stage running op `op`.
    pub fn stage_of(&self, op: usize) -> Option<usize> {
        self.stages.iter().position(|s| s.ops.contains(&op))
    }
}

/// One point of the RAM/compute trade-off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParetoPoint {
    pub peak: u64,
    pub macs: u64,
    pub overhead: f64,
}

/// Short description of an op for labels: "CONV_2D 3×3/2".
pub fn op_label(graph: &Graph, i: usize) -> String {
    let op = &graph.ops[i];
    let mut s = op.kind.name().to_string();
    if let Some(k) = msf_model::stats::kernel_size(graph, i) {
        s.push_str(&format!(" {}×{}", k[0], k[1]));
        if let Some(w) = op.kind.window() {
            if w.stride[0] > 1 || w.stride[1] > 1 {
                if w.stride[0] == w.stride[1] {
                    s.push_str(&format!("/{}", w.stride[0]));
                } else {
                    s.push_str(&format!("/{}×{}", w.stride[0], w.stride[1]));
                }
            }
        }
    }
    s
}

/// A shape without the batch dimension when it is 1: "48×48×16".
pub fn shape_label(shape: &[usize]) -> String {
    let s = if shape.len() > 1 && shape[0] == 1 { &shape[1..] } else { shape };
    if s.is_empty() {
        return "scalar".into();
    }
    s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×")
}
