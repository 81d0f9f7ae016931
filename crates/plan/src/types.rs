//! The Plan: one serde type that the executor, the code generator and the views all read.
//! What a Plan promises and what the executor must do with it: [`crate::contract`].

use crate::dag::{EdgeKind, RamMetric};
use serde::{Deserialize, Serialize};

/// Which cost model produced the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every choice beyond the paper (residual joins, iterative MEAN, bands of several rows,
    /// line buffers), RAM counted buffer by buffer as the executor holds it.
    #[default]
    Full,
    /// The reference implementation's model, reproduced to the byte (figures only: its border
    /// tile convention and symmetric padding do not describe a runnable schedule).
    Paper,
}

/// What the optimiser was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Constraint {
    /// P1: minimum peak RAM subject to MACs <= max_overhead x vanilla.
    MaxOverhead { max_overhead: f64 },
    /// P2: minimum MACs subject to peak RAM <= ram_bytes (in the plan's RAM metric; I/O
    /// included, full mode: the placed `arena_size`, never above the budget).
    RamBudget { ram_bytes: u64 },
    /// Minimum peak RAM whatever the compute (`--max-overhead inf`).
    MinRam,
    /// Minimum MACs whatever the RAM.
    MinMacs,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Options {
    pub mode: Mode,
    pub metric: RamMetric,
    pub constraint: Constraint,
    /// Also return the whole Pareto front in `Plan::pareto`.
    pub pareto: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { mode: Mode::Full, metric: RamMetric::IoIncluded, constraint: Constraint::MinMacs, pareto: false }
    }
}

/// Role of a buffer in the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferRole {
    /// A whole activation tensor (NHWC, batch 1), alive from the stage that writes it (stage 0
    /// for a network input) to the last stage that reads it (the last stage for an output).
    Tensor,
    /// A fused stage's ring for one intermediate tensor: `rows x cols x channels` elements,
    /// row-major; element (y, x, c) of the tensor lives at
    /// `((y - band_lo) * cols + x % cols) * channels + c` for an H-cache stage (`band_lo` the
    /// first row the current band needs), at `((y % rows) * cols + x) * channels + c` for a
    /// line-buffer stage (`cols` = full width).
    Ring,
    /// 32-bit accumulators: per channel for a MEAN (iterative tail or single MEAN stage), per
    /// output for the FULLY_CONNECTED of a flatten+FC tail.
    Accumulator,
    /// Paper mode: the reference's per-layer horizontal cache `k x t x C_in`.
    PaperCache,
    /// The kernels' working memory of one stage (`op` = the stage's first op): for a layer
    /// stage its conv's im2col patch; for a fused stage the walk state, the wrap patch and the
    /// im2col patch (`msf_runtime::fused::stage_scratch_bytes`). Sized by the runtime's own
    /// functions, so nothing of a stage's size lives on the stack.
    Scratch,
}

impl Buffer {
    /// The scratch buffer of stage `stage` (first op `op`), alive during that stage only.
    pub fn scratch(id: usize, op: usize, stage: usize, size: usize) -> Buffer {
        Buffer {
            id,
            role: BufferRole::Scratch,
            tensor: None,
            aliases: vec![],
            op: Some(op),
            rows: 1,
            cols: 1,
            channels: size,
            elem_bytes: 1,
            size,
            first_stage: stage,
            last_stage: stage,
            offset: 0,
            io: false,
        }
    }
}

/// One buffer with its place in the arena.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buffer {
    pub id: usize,
    pub role: BufferRole,
    /// The graph tensor this buffer holds (whole, or a ring of it).
    pub tensor: Option<usize>,
    /// Further tensors that share this buffer's bytes: the outputs of RESHAPEs of `tensor`
    /// (layer-by-layer plans alias them, see [`crate::layerwise`]; such a RESHAPE is free).
    /// Empty in fused-planner plans, where a RESHAPE's output has a buffer of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<usize>,
    /// The op that owns a ring/accumulator/cache (the ring's producer; the MEAN).
    pub op: Option<usize>,
    pub rows: usize,
    pub cols: usize,
    pub channels: usize,
    pub elem_bytes: usize,
    /// Bytes (rows x cols x channels x elem_bytes).
    pub size: usize,
    /// Inclusive range of stage indices during which the buffer is alive.
    pub first_stage: usize,
    pub last_stage: usize,
    /// Byte offset in the arena, a multiple of `Plan::arena_align`.
    pub offset: usize,
    /// A network input or output tensor.
    pub io: bool,
}

/// Tile geometry of one op inside a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerTile {
    pub op: usize,
    pub name: String,
    pub op_name: String,
    /// `[height, width]`; 1x1 for pointwise ops.
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Padding before (top, left), as the executor applies it (TFLite's; the paper's symmetric
    /// `(k-1)/2` in paper mode).
    pub pad_before: [usize; 2],
    /// Rows/columns a tile shares with its neighbour: `(k-1)*d + 1 - s` (0 if negative).
    pub halo: [usize; 2],
    /// Input map (first activation input) and output map, `[h, w, c]`.
    pub in_hwc: [usize; 3],
    pub out_hwc: [usize; 3],
    /// Rows x columns of the input tile the op reads per step (whole map for a whole input).
    pub tile_rows_in: usize,
    pub tile_cols_in: usize,
    /// Rows x columns of its output held per step (band rows x 1 for the block output).
    pub tile_rows_out: usize,
    pub tile_cols_out: usize,
}

/// The iterative tail a fused stage ends in: fed as the root's elements arrive, so the root
/// never exists whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Tail {
    /// The stage's last op writes its whole output (every layer stage).
    #[default]
    None,
    /// A MEAN over height and width (the last op), accumulated per channel.
    Mean,
    /// A RESHAPE flattening the root (op `last_op - 1`, no buffer at all) followed by a
    /// FULLY_CONNECTED (the last op), accumulated per output.
    FlattenFc,
}

impl Tail {
    /// Any iterative tail.
    pub fn is_iterative(self) -> bool {
        self != Tail::None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    Layer,
    Fused,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub index: usize,
    /// Ops `first_op..=last_op` in graph order.
    pub first_op: usize,
    pub last_op: usize,
    pub kind: StageKind,
    /// How it runs (cache mode and band height).
    pub exec: EdgeKind,
    /// Rows of the root tensor produced per band (1 for line buffers and paper mode).
    pub band_rows: usize,
    /// The iterative tail the block ends in, if any (see [`Tail`]).
    pub tail: Tail,
    /// The root tensor the walk runs over: the last op's output, or the MEAN's input.
    pub root_tensor: Option<usize>,
    /// Paper mode: input tile and tile stride of the 1-pixel walk.
    pub tile: Option<usize>,
    pub tile_stride: Option<usize>,
    pub layers: Vec<LayerTile>,
    /// Ids of every buffer alive during this stage.
    pub buffers: Vec<usize>,
    /// Bytes alive during the stage (each buffer rounded up to the alignment in full mode).
    pub ram_bytes: u64,
    pub ram_bytes_io_excluded: u64,
    pub macs: u64,
}

impl Stage {
    /// The stage ends in an iterative tail (MEAN or flatten+FC).
    pub fn iterative_tail(&self) -> bool {
        self.tail.is_iterative()
    }
}

/// One point of the RAM/compute Pareto front.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoPoint {
    /// Full mode: the arena of the Plan `Planner::build` gives for this point (network I/O
    /// included), what the firmware reserves. Paper mode: the reference's stage sum.
    pub peak_ram_bytes: u64,
    pub peak_ram_bytes_io_excluded: u64,
    pub macs: u64,
    pub overhead: f64,
    /// Number of stages.
    pub stages: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub model: String,
    pub mode: Mode,
    /// What the optimiser minimised or bounded.
    pub metric: RamMetric,
    pub constraint: Constraint,
    pub stages: Vec<Stage>,
    pub buffers: Vec<Buffer>,
    /// Every buffer offset is a multiple of this (arena::ARENA_ALIGN).
    pub arena_align: usize,
    pub arena_size: usize,
    /// The arena size: what the firmware reserves, network input and output included.
    pub peak_ram_bytes: u64,
    /// Peak with the network input and output left out (the paper's convention). In paper
    /// mode this is the reference's analytical figure.
    pub peak_ram_bytes_io_excluded: u64,
    /// Largest sum of buffers alive in one stage (a lower bound of the arena size).
    pub peak_stage_bytes: u64,
    pub macs: u64,
    pub vanilla_macs: u64,
    /// Peak of the unfused, layer-by-layer schedule (every stage a single layer), in the same
    /// two conventions: what fusion is compared against. I/O included, full mode: the arena of
    /// the layer-by-layer Plan (`crate::layer_by_layer`), what its firmware reserves; paper mode:
    /// the reference's figure. I/O excluded: the largest stage sum (the paper's convention).
    pub vanilla_peak_ram_bytes: u64,
    pub vanilla_peak_ram_bytes_io_excluded: u64,
    /// macs / vanilla_macs.
    pub overhead: f64,
    /// The Pareto front (decreasing RAM, increasing MACs) in the plan's metric, if asked for.
    pub pareto: Vec<ParetoPoint>,
}
