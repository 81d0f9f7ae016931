//! msf-exec: the host side of msf-runtime.
//!
//! [`compile`] lowers a [`Graph`] into a runtime program blob (format: `msf_runtime::program`):
//! activations get static arena offsets from `msf_plan::arena::place` over their lifetimes,
//! RESHAPE aliases its input, and everything the kernels need that depends only on constants is
//! computed here once (per-channel multipliers and shifts exactly as TFLite's
//! `QuantizeMultiplier`, biases with the input zero point folded in, lookup tables).
//! [`run`] executes a compiled program on a host arena through the very same runtime code the
//! firmware runs, optionally handing every materialised tensor to a callback.

use msf_model::{Activation, DType, Graph, OpKind, Tensor, TensorId};
use msf_plan::arena::{place, BufferLife};
use msf_runtime::program::{self, hdr, w, Layer, Op, HEADER_WORDS, IO_WORDS, LAYER_WORDS, WEIGHT_ALIGN};
use msf_runtime::quant::{activation_range_i8, quantize_multiplier, softmax_params};
use msf_runtime::Geom;
use std::collections::HashMap;

mod fused;
pub use fused::{compile_plan, run_plan, PlanRunner};
pub use msf_runtime::fused::Stats;

/// Why a graph cannot be compiled or run.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("op {index} ({name}): {what}")]
    Unsupported { index: usize, name: String, what: String },
    #[error("tensor {id} ({name}): {what}")]
    Tensor { id: TensorId, name: String, what: String },
    #[error("input is {got} bytes, the model's input {id} needs {need}")]
    InputSize { id: TensorId, got: usize, need: usize },
    #[error("the graph has {0} inputs; only single-input graphs can be run from one file")]
    InputCount(usize),
    #[error("runtime: {0}")]
    Runtime(msf_runtime::Error),
    #[error("program too large for 32-bit offsets")]
    TooLarge,
    /// A plan that cannot be lowered (paper mode, another graph's plan, a stage too long).
    #[error("plan stage {stage}: {what}")]
    Plan { stage: usize, what: String },
}

impl From<msf_runtime::Error> for ExecError {
    fn from(e: msf_runtime::Error) -> Self {
        ExecError::Runtime(e)
    }
}

type Result<T> = std::result::Result<T, ExecError>;

/// A compiled program and what the host needs to feed it and read it.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The program blob (what firmware embeds).
    pub blob: Vec<u8>,
    pub arena_size: usize,
    /// Arena byte range of every activation tensor.
    pub placement: HashMap<TensorId, (usize, usize)>,
    /// For every graph op, the runtime layers it became (RESHAPE: none).
    pub op_layers: Vec<std::ops::Range<usize>>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
    /// The file's inputs and outputs are NCHW (ONNX) while the graph is NHWC.
    pub nchw_io: bool,
}

fn unsupported(g: &Graph, index: usize, what: impl Into<String>) -> ExecError {
    ExecError::Unsupported { index, name: g.ops[index].kind.name().to_string(), what: what.into() }
}

/// Weights-section builder: items at 16-byte boundaries, offsets relative to the section.
#[derive(Default)]
struct Weights {
    bytes: Vec<u8>,
}

impl Weights {
    fn push(&mut self, b: &[u8]) -> u32 {
        let off = self.bytes.len().next_multiple_of(WEIGHT_ALIGN);
        self.bytes.resize(off, 0);
        self.bytes.extend_from_slice(b);
        off as u32
    }
    fn push_i32(&mut self, v: &[i32]) -> u32 {
        let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.push(&b)
    }
    fn push_f32(&mut self, v: &[f32]) -> u32 {
        let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.push(&b)
    }
}

/// A layer whose weight words hold section-relative offsets until the blob is assembled.
struct PendingLayer {
    layer: Layer,
    weight_words: Vec<usize>,
}

fn scale_zp(g: &Graph, t: TensorId) -> Option<(f32, i32)> {
    let q = g.tensors[t].quant.as_ref()?;
    Some((*q.scale.first()?, *q.zero_point.first()? as i32))
}

fn act_f32(a: Activation) -> (f32, f32) {
    match a {
        Activation::None => (f32::MIN, f32::MAX),
        Activation::Relu => (0.0, f32::MAX),
        Activation::Relu6 => (0.0, 6.0),
        Activation::ReluN1To1 => (-1.0, 1.0),
    }
}

fn act_code(a: Activation) -> u32 {
    match a {
        Activation::None => 0,
        Activation::Relu => 1,
        Activation::Relu6 => 2,
        Activation::ReluN1To1 => 3,
    }
}

/// NHWC dims of a 4D batch-1 tensor (or lower rank padded with leading ones).
fn nhwc(t: &Tensor) -> Option<(usize, usize, usize)> {
    let s = &t.shape;
    match s.len() {
        4 if s[0] == 1 => Some((s[1], s[2], s[3])),
        3 => Some((s[0], s[1], s[2])),
        _ => None,
    }
}

/// Which LiteRT kernels the int8 arithmetic reproduces bit for bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// The reference kernels (BUILTIN_REF, what TFLite Micro mirrors): double rounding.
    #[default]
    Reference,
    /// LiteRT's builtin optimized kernels (x86): CONV_2D and FULLY_CONNECTED requantise as ruy
    /// does (ties up), int8 SOFTMAX uses the float exp table; everything else as the reference.
    Optimized,
}

/// Compile `g` into a program blob (reference kernels' arithmetic).
pub fn compile(g: &Graph) -> Result<Compiled> {
    compile_with(g, Kernels::Reference)
}

/// Compile `g` into a program blob with a greedy-by-size static arena.
pub fn compile_with(g: &Graph, kernels: Kernels) -> Result<Compiled> {
    if let Some((i, _)) = g.first_opaque() {
        return Err(unsupported(g, i, "this op cannot be run (unknown to the runtime)"));
    }
    let n_ops = g.ops.len();
    // Alias groups: a RESHAPE output shares its input's bytes.
    let mut root: HashMap<TensorId, TensorId> = HashMap::new();
    let find = |root: &HashMap<TensorId, TensorId>, mut t: TensorId| {
        while let Some(&p) = root.get(&t) {
            t = p;
        }
        t
    };
    for op in &g.ops {
        if matches!(op.kind, OpKind::Reshape) {
            let (i, o) = (op.inputs[0], op.outputs[0]);
            if !g.tensors[i].is_constant() {
                let r = find(&root, i);
                root.insert(o, r);
            }
        }
    }
    // Lifetimes of every activation, per alias group.
    let mut life: HashMap<TensorId, (usize, usize, usize)> = HashMap::new(); // root -> (first, last, size)
    let mut touch = |t: TensorId, step: usize, root: &HashMap<TensorId, TensorId>| {
        if g.tensors[t].is_constant() {
            return;
        }
        let r = find(root, t);
        let size = g.tensors[t].byte_size();
        let e = life.entry(r).or_insert((step, step, size));
        e.0 = e.0.min(step);
        e.1 = e.1.max(step);
        e.2 = e.2.max(size);
    };
    for &t in &g.inputs {
        touch(t, 0, &root);
    }
    for (i, op) in g.ops.iter().enumerate() {
        for &t in op.inputs.iter().chain(&op.outputs) {
            touch(t, i, &root);
        }
    }
    for &t in &g.outputs {
        touch(t, n_ops, &root);
    }
    let mut roots: Vec<TensorId> = life.keys().copied().collect();
    roots.sort_unstable();
    let lives: Vec<BufferLife> = roots
        .iter()
        .map(|r| {
            let (first, last, size) = life[r];
            BufferLife { size, first, last }
        })
        .collect();
    let p = place(&lives);
    let arena_size = p.arena_size.next_multiple_of(16);
    let root_off: HashMap<TensorId, usize> = roots.iter().copied().zip(p.offsets.iter().copied()).collect();
    let mut placement = HashMap::new();
    for (t, tensor) in g.tensors.iter().enumerate() {
        if tensor.is_constant() {
            continue;
        }
        if let Some(&off) = root_off.get(&find(&root, t)) {
            placement.insert(t, (off, tensor.byte_size()));
        }
    }
    if arena_size > u32::MAX as usize {
        return Err(ExecError::TooLarge);
    }

    let mut wts = Weights::default();
    let mut layers: Vec<PendingLayer> = Vec::new();
    let mut op_layers = Vec::with_capacity(n_ops);
    for i in 0..n_ops {
        let start = layers.len();
        lower_op(g, i, &placement, kernels, &mut wts, &mut layers)?;
        op_layers.push(start..layers.len());
    }

    let blob = assemble(g, &placement, arena_size, &mut layers, None, &wts)?;
    Ok(Compiled {
        blob,
        arena_size,
        placement,
        op_layers,
        inputs: g.inputs.clone(),
        outputs: g.outputs.clone(),
        nchw_io: g.format == "onnx",
    })
}

/// The fused stage table of a planned program: its words, and the indices of the words that hold
/// weight offsets (relative to the weights section until the blob is assembled).
pub(crate) struct StageTable {
    pub words: Vec<u32>,
    pub weight_words: Vec<usize>,
    pub n_stages: usize,
}

/// Lay out a program blob (header, io table, layers, the optional stage table, weights) and fill
/// it. One assembler for layer-by-layer and planned programs, so the two formats cannot drift.
pub(crate) fn assemble(
    g: &Graph,
    placement: &HashMap<TensorId, (usize, usize)>,
    arena_size: usize,
    layers: &mut [PendingLayer],
    stages: Option<StageTable>,
    wts: &Weights,
) -> Result<Vec<u8>> {
    let n_io = g.inputs.len() + g.outputs.len();
    let io_off = HEADER_WORDS * 4;
    let layers_off = io_off + n_io * IO_WORDS * 4;
    let stages_off = layers_off + layers.len() * LAYER_WORDS * 4;
    let stage_len = stages.as_ref().map_or(0, |s| s.words.len() * 4);
    let weights_off = (stages_off + stage_len).next_multiple_of(WEIGHT_ALIGN);
    let total = weights_off + wts.bytes.len();
    if total > u32::MAX as usize {
        return Err(ExecError::TooLarge);
    }
    let mut blob = vec![0u8; total];
    let put = |blob: &mut Vec<u8>, word: usize, v: u32| blob[word * 4..word * 4 + 4].copy_from_slice(&v.to_le_bytes());
    blob[0..4].copy_from_slice(&program::MAGIC);
    put(&mut blob, hdr::VERSION, program::VERSION);
    put(&mut blob, hdr::TOTAL_LEN, total as u32);
    put(&mut blob, hdr::ARENA_SIZE, arena_size as u32);
    put(&mut blob, hdr::N_LAYERS, layers.len() as u32);
    put(&mut blob, hdr::LAYERS_OFF, layers_off as u32);
    put(&mut blob, hdr::N_INPUTS, g.inputs.len() as u32);
    put(&mut blob, hdr::N_OUTPUTS, g.outputs.len() as u32);
    put(&mut blob, hdr::IO_OFF, io_off as u32);
    put(&mut blob, hdr::WEIGHTS_OFF, weights_off as u32);
    put(&mut blob, hdr::WEIGHTS_LEN, wts.bytes.len() as u32);
    for (k, &t) in g.inputs.iter().chain(&g.outputs).enumerate() {
        let (off, len) = *placement.get(&t).ok_or_else(|| ExecError::Tensor {
            id: t,
            name: g.tensors[t].name.clone(),
            what: "graph input/output has no buffer (a constant, or missing from the plan)".into(),
        })?;
        let dt = match g.tensors[t].dtype {
            DType::Int8 => program::dtype::INT8,
            DType::Float32 => program::dtype::FLOAT32,
            DType::Int32 => program::dtype::INT32,
            DType::UInt8 => program::dtype::UINT8,
            other => {
                return Err(ExecError::Tensor { id: t, name: g.tensors[t].name.clone(), what: format!("{other} graph input/output") })
            }
        };
        let base = io_off / 4 + k * IO_WORDS;
        for (j, v) in [off as u32, len as u32, dt, t as u32].into_iter().enumerate() {
            put(&mut blob, base + j, v);
        }
    }
    for (k, pl) in layers.iter_mut().enumerate() {
        for &wi in &pl.weight_words {
            pl.layer.words[wi] += weights_off as u32;
        }
        let o = layers_off + k * LAYER_WORDS * 4;
        blob[o..o + LAYER_WORDS * 4].copy_from_slice(&pl.layer.to_bytes());
    }
    if let Some(mut st) = stages {
        put(&mut blob, msf_runtime::fused::hdr_words::N_STAGES, st.n_stages as u32);
        put(&mut blob, msf_runtime::fused::hdr_words::STAGES_OFF, stages_off as u32);
        for &at in &st.weight_words {
            st.words[at] += weights_off as u32;
        }
        for (j, v) in st.words.iter().enumerate() {
            blob[stages_off + j * 4..stages_off + j * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    blob[weights_off..].copy_from_slice(&wts.bytes);
    Ok(blob)
}

/// Float convs with receptive fields up to this length get input-major weights.
const IO_MAX_K_F32: usize = 32;

/// Per-output-channel multipliers and shifts for `real[c] = in_scale * w_scale[c] / out_scale`,
/// computed in double as TFLite's `PopulateConvolutionQuantizationParams`.
fn channel_multipliers(in_scale: f32, w_scales: &[f32], out_scale: f32, channels: usize) -> (Vec<i32>, Vec<i32>) {
    (0..channels)
        .map(|c| {
            let ws = if w_scales.len() > 1 { w_scales[c] } else { w_scales[0] };
            quantize_multiplier(in_scale as f64 * ws as f64 / out_scale as f64)
        })
        .unzip()
}

#[allow(clippy::too_many_arguments)]
fn lower_op(
    g: &Graph,
    i: usize,
    placement: &HashMap<TensorId, (usize, usize)>,
    kernels: Kernels,
    wts: &mut Weights,
    out: &mut Vec<PendingLayer>,
) -> Result<()> {
    let op = &g.ops[i];
    let err = |what: &str| unsupported(g, i, what);
    let arena = |t: TensorId| -> Result<u32> {
        placement.get(&t).map(|&(o, _)| o as u32).ok_or_else(|| unsupported(g, i, format!("tensor {t} is constant where an activation is expected")))
    };
    let x = *op.inputs.first().ok_or_else(|| err("no input"))?;
    let y = *op.outputs.first().ok_or_else(|| err("no output"))?;
    let (tx, ty) = (&g.tensors[x], &g.tensors[y]);
    let int8 = tx.dtype == DType::Int8 && ty.dtype == DType::Int8;
    let single_rounding = (kernels == Kernels::Optimized) as u32;
    let f32io = tx.dtype == DType::Float32 && ty.dtype == DType::Float32;
    let base = |opc: Op| -> Result<Layer> {
        let mut l = Layer::new(opc);
        l.set(w::TAG, y as u32).set(w::IN0, arena(x)?).set(w::OUT, arena(y)?);
        Ok(l)
    };
    let qxy = || -> Result<((f32, i32), (f32, i32))> {
        Ok((scale_zp(g, x).ok_or_else(|| err("int8 input without quantisation"))?, scale_zp(g, y).ok_or_else(|| err("int8 output without quantisation"))?))
    };
    match &op.kind {
        OpKind::Conv2d { window, activation } | OpKind::DepthwiseConv2d { window, activation, .. } => {
            let depthwise = matches!(op.kind, OpKind::DepthwiseConv2d { .. });
            let dm = if let OpKind::DepthwiseConv2d { depth_multiplier, .. } = op.kind { depth_multiplier } else { 1 };
            let wt = &g.tensors[*op.inputs.get(1).ok_or_else(|| err("no filter"))?];
            let wdata = wt.data.as_ref().ok_or_else(|| err("filter is not constant"))?;
            let (ih, iw, ic) = nhwc(tx).ok_or_else(|| err("input is not a batch-1 NHWC map"))?;
            let (oh, ow, oc) = nhwc(ty).ok_or_else(|| err("output is not a batch-1 NHWC map"))?;
            if wt.shape.len() != 4 {
                return Err(err("filter is not 4D"));
            }
            let (kh, kw) = (wt.shape[1], wt.shape[2]);
            let (ph, oh2) = window.padding.resolve(0, ih, kh, window.stride[0], window.dilation[0]).ok_or_else(|| err("window does not fit"))?;
            let (pw, ow2) = window.padding.resolve(1, iw, kw, window.stride[1], window.dilation[1]).ok_or_else(|| err("window does not fit"))?;
            if (oh2, ow2) != (oh, ow) {
                return Err(err(&format!("output {oh}x{ow} disagrees with the padding ({oh2}x{ow2})")));
            }
            let geom = Geom {
                in_h: ih,
                in_w: iw,
                in_c: ic,
                out_h: oh,
                out_w: ow,
                out_c: oc,
                kh,
                kw,
                stride_h: window.stride[0],
                stride_w: window.stride[1],
                dil_h: window.dilation[0],
                dil_w: window.dilation[1],
                pad_top: ph.before,
                pad_left: pw.before,
            };
            let per_co = if depthwise { kh * kw } else { kh * kw * ic };
            if wt.num_elements() != oc * per_co || (!depthwise && wt.shape[3] != ic) || (depthwise && oc != ic * dm) {
                return Err(err("filter shape does not match input/output channels"));
            }
            let bias = op.inputs.get(2).map(|&b| &g.tensors[b]);
            if int8 && wt.dtype == DType::Int8 {
                let ((sx, zx), (sy, zy)) = qxy()?;
                let wq = wt.quant.as_ref().ok_or_else(|| err("int8 filter without quantisation"))?;
                if wq.zero_point.iter().any(|&z| z != 0) {
                    return Err(err("filter zero point is not 0"));
                }
                let w8: Vec<i8> = wdata.iter().map(|&b| b as i8).collect();
                let b32: Vec<i32> = match bias {
                    Some(b) => b.data_i32().ok_or_else(|| err("bias is not constant"))?,
                    None => vec![0; oc],
                };
                if b32.len() != oc {
                    return Err(err("bias length differs from output channels"));
                }
                // Fold the input offset: acc = sum (x - zx) w + b = sum x w + (b - zx sum w).
                let folded: Vec<i32> = (0..oc)
                    .map(|co| {
                        let s: i32 = if depthwise {
                            (0..kh * kw).map(|t| w8[t * oc + co] as i32).sum()
                        } else {
                            w8[co * per_co..(co + 1) * per_co].iter().map(|&v| v as i32).sum()
                        };
                        b32[co].wrapping_sub(zx.wrapping_mul(s))
                    })
                    .collect();
                let (mult, shift) = channel_multipliers(sx, &wq.scale, sy, oc);
                let (amin, amax) = activation_range_i8(act_code(*activation), sy, zy);
                let mut l = base(if depthwise { Op::DwConvI8 } else { Op::ConvI8 })?;
                l.set_geom(&geom).set_i(w::IN_ZP, zx).set_i(w::OUT_ZP, zy).set_i(w::ACT_MIN, amin).set_i(w::ACT_MAX, amax);
                // OHWI, as in the file: the runtime's input-major int8 kernel
                // (spatial::conv_io_i8, P2 = 1) measured no faster on the corpus (thread CPU
                // time and callgrind instruction counts, x86_64 with the SSE2 dot product).
                l.set(w::WEIGHTS, wts.push(wdata));
                l.set(w::BIAS, wts.push_i32(&folded));
                l.set(w::MULT, wts.push_i32(&mult)).set(w::SHIFT, wts.push_i32(&shift)).set(w::P0, dm as u32);
                if !depthwise {
                    l.set(w::P1, single_rounding);
                }
                out.push(PendingLayer { layer: l, weight_words: vec![w::WEIGHTS, w::BIAS, w::MULT, w::SHIFT] });
            } else if f32io && wt.dtype == DType::Float32 {
                let wf = wt.data_f32().ok_or_else(|| err("filter is not constant"))?;
                let bf = match bias {
                    Some(b) => b.data_f32().ok_or_else(|| err("bias is not constant"))?,
                    None => vec![0.0; oc],
                };
                let (amin, amax) = act_f32(*activation);
                let mut l = base(if depthwise { Op::DwConvF32 } else { Op::ConvF32 })?;
                l.set_geom(&geom).set_f(w::ACT_MIN, amin).set_f(w::ACT_MAX, amax);
                // Float convs with short receptive fields run input-major (vectorised over the
                // output channels; the float dot products gain little from SIMD at K <= 32).
                if !depthwise && per_co <= IO_MAX_K_F32 && oc >= 4 {
                    let mut t = vec![0f32; wf.len()];
                    for co in 0..oc {
                        for j in 0..per_co {
                            t[j * oc + co] = wf[co * per_co + j];
                        }
                    }
                    l.set(w::WEIGHTS, wts.push_f32(&t)).set(w::P2, 1);
                } else {
                    l.set(w::WEIGHTS, wts.push_f32(&wf));
                }
                l.set(w::BIAS, wts.push_f32(&bf)).set(w::P0, dm as u32);
                out.push(PendingLayer { layer: l, weight_words: vec![w::WEIGHTS, w::BIAS] });
            } else {
                return Err(err(&format!("{} input with {} filter", tx.dtype, wt.dtype)));
            }
        }
        OpKind::AveragePool2d { filter, window, activation } | OpKind::MaxPool2d { filter, window, activation } => {
            let max = matches!(op.kind, OpKind::MaxPool2d { .. });
            let (ih, iw, ic) = nhwc(tx).ok_or_else(|| err("input is not a batch-1 NHWC map"))?;
            let (oh, ow, oc) = nhwc(ty).ok_or_else(|| err("output is not a batch-1 NHWC map"))?;
            let (ph, oh2) = window.padding.resolve(0, ih, filter[0], window.stride[0], 1).ok_or_else(|| err("window does not fit"))?;
            let (pw, ow2) = window.padding.resolve(1, iw, filter[1], window.stride[1], 1).ok_or_else(|| err("window does not fit"))?;
            if (oh2, ow2, oc) != (oh, ow, ic) {
                return Err(err("output shape disagrees with the pool window"));
            }
            let geom = Geom {
                in_h: ih,
                in_w: iw,
                in_c: ic,
                out_h: oh,
                out_w: ow,
                out_c: oc,
                kh: filter[0],
                kw: filter[1],
                stride_h: window.stride[0],
                stride_w: window.stride[1],
                dil_h: 1,
                dil_w: 1,
                pad_top: ph.before,
                pad_left: pw.before,
            };
            let mut l;
            if int8 {
                let ((sx, zx), (sy, zy)) = qxy()?;
                if sx != sy || zx != zy {
                    return Err(err("int8 pool with different input and output quantisation"));
                }
                let (amin, amax) = activation_range_i8(act_code(*activation), sy, zy);
                l = base(if max { Op::MaxPoolI8 } else { Op::AvgPoolI8 })?;
                l.set_i(w::ACT_MIN, amin).set_i(w::ACT_MAX, amax);
            } else if f32io {
                let (amin, amax) = act_f32(*activation);
                l = base(if max { Op::MaxPoolF32 } else { Op::AvgPoolF32 })?;
                l.set_f(w::ACT_MIN, amin).set_f(w::ACT_MAX, amax);
            } else {
                return Err(err("pool dtype"));
            }
            l.set_geom(&geom);
            out.push(PendingLayer { layer: l, weight_words: vec![] });
        }
        OpKind::Pad { paddings } => {
            let (ih, iw, ic) = nhwc(tx).ok_or_else(|| err("input is not a batch-1 NHWC map"))?;
            let (oh, ow, oc) = nhwc(ty).ok_or_else(|| err("output is not a batch-1 NHWC map"))?;
            let p4: Vec<[usize; 2]> = if paddings.len() == 4 { paddings.clone() } else { return Err(err("PAD of a non-4D tensor")) };
            if p4[0] != [0, 0] || p4[3] != [0, 0] {
                return Err(err("PAD on batch or channels is not supported (height and width only)"));
            }
            if oh != ih + p4[1][0] + p4[1][1] || ow != iw + p4[2][0] + p4[2][1] || oc != ic {
                return Err(err("PAD output shape"));
            }
            let geom = Geom {
                in_h: ih,
                in_w: iw,
                in_c: ic,
                out_h: oh,
                out_w: ow,
                out_c: oc,
                kh: 1,
                kw: 1,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 1,
                pad_top: p4[1][0],
                pad_left: p4[2][0],
            };
            let mut l;
            if int8 {
                let (_, (_, zy)) = qxy()?;
                l = base(Op::PadI8)?;
                l.set_i(w::P0, zy);
            } else if f32io {
                l = base(Op::PadF32)?;
                l.set_f(w::P0, 0.0);
            } else {
                return Err(err("PAD dtype"));
            }
            l.set_geom(&geom);
            out.push(PendingLayer { layer: l, weight_words: vec![] });
        }
        OpKind::FullyConnected { activation, .. } => {
            let wt = &g.tensors[*op.inputs.get(1).ok_or_else(|| err("no weights"))?];
            if wt.shape.len() != 2 {
                return Err(err("weights are not 2D"));
            }
            let (od, id) = (wt.shape[0], wt.shape[1]);
            if id == 0 || tx.num_elements() % id != 0 {
                return Err(err("input size is not a multiple of the weights' input dimension"));
            }
            let rows = tx.num_elements() / id;
            if ty.num_elements() != rows * od {
                return Err(err("output size"));
            }
            let bias = op.inputs.get(2).map(|&b| &g.tensors[b]);
            let mut l;
            if int8 && wt.dtype == DType::Int8 {
                let ((sx, zx), (sy, zy)) = qxy()?;
                let wq = wt.quant.as_ref().ok_or_else(|| err("int8 weights without quantisation"))?;
                if wq.zero_point.iter().any(|&z| z != 0) {
                    return Err(err("weights zero point is not 0"));
                }
                let wdata = wt.data.as_ref().ok_or_else(|| err("weights are not constant"))?;
                let b32 = match bias {
                    Some(b) => b.data_i32().ok_or_else(|| err("bias is not constant"))?,
                    None => vec![0; od],
                };
                if b32.len() != od {
                    return Err(err("bias length"));
                }
                let folded: Vec<i32> = (0..od)
                    .map(|o| {
                        let s: i32 = wdata[o * id..(o + 1) * id].iter().map(|&b| b as i8 as i32).sum();
                        b32[o].wrapping_sub(zx.wrapping_mul(s))
                    })
                    .collect();
                let (mult, shift) = channel_multipliers(sx, &wq.scale, sy, od);
                let (amin, amax) = activation_range_i8(act_code(*activation), sy, zy);
                l = base(Op::FcI8)?;
                l.set_i(w::IN_ZP, zx).set_i(w::OUT_ZP, zy).set_i(w::ACT_MIN, amin).set_i(w::ACT_MAX, amax);
                l.set(w::WEIGHTS, wts.push(wdata)).set(w::BIAS, wts.push_i32(&folded));
                l.set(w::MULT, wts.push_i32(&mult)).set(w::SHIFT, wts.push_i32(&shift)).set(w::P1, single_rounding);
            } else if f32io && wt.dtype == DType::Float32 {
                let wf = wt.data_f32().ok_or_else(|| err("weights are not constant"))?;
                let bf = match bias {
                    Some(b) => b.data_f32().ok_or_else(|| err("bias is not constant"))?,
                    None => vec![0.0; od],
                };
                let (amin, amax) = act_f32(*activation);
                l = base(Op::FcF32)?;
                l.set_f(w::ACT_MIN, amin).set_f(w::ACT_MAX, amax);
                l.set(w::WEIGHTS, wts.push_f32(&wf)).set(w::BIAS, wts.push_f32(&bf));
            } else {
                return Err(err("FULLY_CONNECTED dtype"));
            }
            l.set(w::IN_H, rows as u32).set(w::IN_C, id as u32).set(w::OUT_C, od as u32);
            out.push(PendingLayer { layer: l, weight_words: if int8 { vec![w::WEIGHTS, w::BIAS, w::MULT, w::SHIFT] } else { vec![w::WEIGHTS, w::BIAS] } });
        }
        OpKind::Add { activation } => {
            let x2 = *op.inputs.get(1).ok_or_else(|| err("ADD needs two inputs"))?;
            let t2 = &g.tensors[x2];
            if tx.shape != ty.shape || t2.shape != ty.shape {
                return Err(err("ADD with broadcasting is not supported"));
            }
            let n = ty.num_elements() as u32;
            let mut l = base(if int8 { Op::AddI8 } else { Op::AddF32 })?;
            l.set(w::IN1, arena(x2)?).set(w::IN_C, n);
            if int8 && t2.dtype == DType::Int8 {
                let ((s1, z1), (sy, zy)) = qxy()?;
                let (s2, z2) = scale_zp(g, x2).ok_or_else(|| err("int8 input without quantisation"))?;
                // TFLite's Prepare for int8 ADD: inputs rescaled to 2*max(s1,s2) with 20 bits of
                // headroom, the sum rescaled to the output.
                let left_shift = 20;
                let twice_max = 2.0 * (s1.max(s2) as f64);
                let (m1, sh1) = quantize_multiplier(s1 as f64 / twice_max);
                let (m2, sh2) = quantize_multiplier(s2 as f64 / twice_max);
                let (mo, sho) = quantize_multiplier(twice_max / ((1i64 << left_shift) as f64 * sy as f64));
                let (amin, amax) = activation_range_i8(act_code(*activation), sy, zy);
                l.set_i(w::IN_ZP, z1).set_i(w::P0, z2).set_i(w::OUT_ZP, zy).set_i(w::P1, left_shift);
                l.set_i(w::ACT_MIN, amin).set_i(w::ACT_MAX, amax);
                l.set(w::MULT, wts.push_i32(&[m1, sh1, m2, sh2, mo, sho]));
                out.push(PendingLayer { layer: l, weight_words: vec![w::MULT] });
            } else if f32io && t2.dtype == DType::Float32 {
                let (amin, amax) = act_f32(*activation);
                l.set_f(w::ACT_MIN, amin).set_f(w::ACT_MAX, amax);
                out.push(PendingLayer { layer: l, weight_words: vec![] });
            } else {
                return Err(err("ADD dtype"));
            }
        }
        OpKind::Mean { axes, .. } => {
            let (ih, iw, ic) = nhwc(tx).ok_or_else(|| err("MEAN input is not a batch-1 NHWC map"))?;
            let mut ax = axes.clone();
            ax.sort_unstable();
            if ax != [1, 2] || tx.shape.len() != 4 {
                return Err(err("MEAN is supported over height and width of a 4D map only"));
            }
            if ty.num_elements() != ic {
                return Err(err("MEAN output size"));
            }
            let mut l;
            if int8 {
                let ((sx, zx), (sy, zy)) = qxy()?;
                let (m, s) = quantize_multiplier(sx as f64 / sy as f64);
                l = base(Op::MeanI8)?;
                l.set_i(w::IN_ZP, zx).set_i(w::OUT_ZP, zy).set_i(w::P0, m).set_i(w::P1, s);
            } else if f32io {
                l = base(Op::MeanF32)?;
            } else {
                return Err(err("MEAN dtype"));
            }
            l.set(w::IN_H, ih as u32).set(w::IN_W, iw as u32).set(w::IN_C, ic as u32);
            out.push(PendingLayer { layer: l, weight_words: vec![] });
        }
        OpKind::Softmax { beta } => {
            let depth = *tx.shape.last().ok_or_else(|| err("scalar SOFTMAX"))?;
            if depth == 0 || tx.shape != ty.shape {
                return Err(err("SOFTMAX shape"));
            }
            let rows = tx.num_elements() / depth;
            let mut l;
            if int8 {
                let ((sx, _), (sy, zy)) = qxy()?;
                if sy != 1.0 / 256.0 || zy != -128 {
                    return Err(err("int8 SOFTMAX output must have scale 1/256 and zero point -128"));
                }
                if kernels == Kernels::Optimized {
                    // LiteRT's PopulateSoftmaxLookupTable: table[255 - v] = expf(-scale * beta * v).
                    let sc = -sx * *beta;
                    let mut table = [0f32; 256];
                    for v in 0..256usize {
                        table[255 - v] = (sc * v as f32).exp();
                    }
                    l = base(Op::SoftmaxLutI8)?;
                    l.set(w::WEIGHTS, wts.push_f32(&table)).set_f(w::P0, sy).set_i(w::OUT_ZP, zy);
                    l.set(w::IN_H, rows as u32).set(w::IN_C, depth as u32);
                    out.push(PendingLayer { layer: l, weight_words: vec![w::WEIGHTS] });
                    return Ok(());
                }
                let (m, s, diff_min) = softmax_params(*beta as f64, sx as f64);
                l = base(Op::SoftmaxI8)?;
                l.set_i(w::P0, m).set_i(w::P1, s).set_i(w::P2, diff_min);
            } else if f32io {
                l = base(Op::SoftmaxF32)?;
                l.set_f(w::P0, *beta);
            } else {
                return Err(err("SOFTMAX dtype"));
            }
            l.set(w::IN_H, rows as u32).set(w::IN_C, depth as u32);
            out.push(PendingLayer { layer: l, weight_words: vec![] });
        }
        OpKind::Reshape => {
            if tx.byte_size() != ty.byte_size() {
                return Err(err("RESHAPE changes the byte size"));
            }
            if tx.is_constant() {
                return Err(err("RESHAPE of a constant"));
            }
            // Aliased: same arena bytes, no layer.
        }
        OpKind::Concatenation { axis, activation } => {
            if *activation != Activation::None {
                return Err(err("CONCATENATION with a fused activation"));
            }
            let es = ty.dtype.size().ok_or_else(|| err("dtype"))?;
            let outer: usize = ty.shape[..*axis].iter().product();
            let out_inner: usize = ty.shape[*axis..].iter().product::<usize>() * es;
            let mut cum = 0usize;
            for &xi in &op.inputs {
                let t = &g.tensors[xi];
                if t.dtype != ty.dtype {
                    return Err(err("CONCATENATION of mixed dtypes"));
                }
                if t.is_constant() {
                    return Err(err("CONCATENATION of a constant"));
                }
                let inner = t.shape[*axis..].iter().product::<usize>() * es;
                let requant = ty.dtype == DType::Int8 && scale_zp(g, xi) != scale_zp(g, y);
                let mut l = Layer::new(if requant { Op::CopyRequantI8 } else { Op::Copy });
                if requant {
                    let (si, zi) = scale_zp(g, xi).ok_or_else(|| err("int8 input without quantisation"))?;
                    let (so, zo) = scale_zp(g, y).ok_or_else(|| err("int8 output without quantisation"))?;
                    // TFLite's ConcatenationWithScaling, in f32.
                    let scale = si * (1.0f32 / so);
                    l.set_f(w::IN_H, scale).set_f(w::IN_W, -(zi as f32) * scale).set_i(w::OUT_ZP, zo);
                }
                l.set(w::TAG, y as u32).set(w::IN0, arena(xi)?).set(w::OUT, arena(y)? + cum as u32);
                l.set(w::P0, outer as u32).set(w::P1, inner as u32).set(w::P2, inner as u32).set(w::P3, out_inner as u32);
                out.push(PendingLayer { layer: l, weight_words: vec![] });
                cum += inner;
            }
            if cum != out_inner {
                return Err(err("CONCATENATION sizes"));
            }
        }
        OpKind::Logistic => {
            let n = ty.num_elements() as u32;
            if int8 {
                let ((sx, zx), (sy, zy)) = qxy()?;
                // TFLite's PopulateLookupTable: dequantise, sigmoid in float, requantise.
                let inv = 1.0f32 / sy;
                let table: Vec<u8> = (0..256)
                    .map(|k| {
                        let v = (k as u8) as i8 as i32;
                        let xq = sx * (v - zx) as f32;
                        let t = 1.0f32 / (1.0 + (-xq).exp());
                        let q = (t * inv).round() as i32 + zy;
                        q.clamp(-128, 127) as i8 as u8
                    })
                    .collect();
                let mut l = base(Op::LutI8)?;
                l.set(w::IN_C, n).set(w::WEIGHTS, wts.push(&table));
                out.push(PendingLayer { layer: l, weight_words: vec![w::WEIGHTS] });
            } else if f32io {
                let mut l = base(Op::LogisticF32)?;
                l.set(w::IN_C, n);
                out.push(PendingLayer { layer: l, weight_words: vec![] });
            } else {
                return Err(err("LOGISTIC dtype"));
            }
        }
        OpKind::Quantize => {
            let n = ty.num_elements() as u32;
            let (sy, zy) = scale_zp(g, y).ok_or_else(|| err("QUANTIZE output without quantisation"))?;
            let mut l;
            if tx.dtype == DType::Float32 && ty.dtype == DType::Int8 {
                l = base(Op::Quantize)?;
                l.set_f(w::P0, sy).set_i(w::OUT_ZP, zy);
            } else if int8 {
                let (sx, zx) = scale_zp(g, x).ok_or_else(|| err("QUANTIZE input without quantisation"))?;
                let (m, s) = quantize_multiplier(sx as f64 / sy as f64);
                l = base(Op::RequantI8)?;
                l.set_i(w::IN_ZP, zx).set_i(w::OUT_ZP, zy).set_i(w::P0, m).set_i(w::P1, s);
            } else {
                return Err(err("QUANTIZE dtype"));
            }
            l.set(w::IN_C, n);
            out.push(PendingLayer { layer: l, weight_words: vec![] });
        }
        OpKind::Dequantize => {
            if tx.dtype != DType::Int8 || ty.dtype != DType::Float32 {
                return Err(err("DEQUANTIZE supports int8 -> float32"));
            }
            let (sx, zx) = scale_zp(g, x).ok_or_else(|| err("DEQUANTIZE input without quantisation"))?;
            let mut l = base(Op::Dequantize)?;
            l.set(w::IN_C, ty.num_elements() as u32).set_f(w::P0, sx).set_i(w::IN_ZP, zx);
            out.push(PendingLayer { layer: l, weight_words: vec![] });
        }
        OpKind::Relu | OpKind::Relu6 => {
            let a = if matches!(op.kind, OpKind::Relu) { Activation::Relu } else { Activation::Relu6 };
            let n = ty.num_elements() as u32;
            let mut l;
            if int8 {
                let ((sx, zx), (sy, zy)) = qxy()?;
                if sx != sy || zx != zy {
                    return Err(err("int8 RELU with different input and output quantisation"));
                }
                let (amin, amax) = activation_range_i8(act_code(a), sy, zy);
                l = base(Op::ClampI8)?;
                l.set_i(w::ACT_MIN, amin).set_i(w::ACT_MAX, amax);
            } else if f32io {
                let (amin, amax) = act_f32(a);
                l = base(Op::ClampF32)?;
                l.set_f(w::ACT_MIN, amin).set_f(w::ACT_MAX, amax);
            } else {
                return Err(err("RELU dtype"));
            }
            l.set(w::IN_C, n);
            out.push(PendingLayer { layer: l, weight_words: vec![] });
        }
        OpKind::Opaque { name } => return Err(err(&format!("opaque op {name}"))),
    }
    Ok(())
}

/// A 16-byte-aligned byte buffer (the runtime reads int32/f32 in place).
pub struct AlignedBuf {
    words: Vec<u128>,
    len: usize,
}

impl AlignedBuf {
    pub fn zeroed(len: usize) -> Self {
        AlignedBuf { words: vec![0u128; len.div_ceil(16)], len }
    }
    pub fn from_bytes(b: &[u8]) -> Self {
        let mut a = Self::zeroed(b.len());
        a.as_mut().copy_from_slice(b);
        a
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: u128 storage of at least `len` bytes; u8 has no alignment or validity needs.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.len) }
    }
}

impl AsMut<[u8]> for AlignedBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_ref`, with the exclusive borrow of `self`.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.len) }
    }
}

/// NCHW (C, H, W) -> NHWC bytes, `es` bytes per element (the ONNX importer's transpose).
pub fn nchw_to_nhwc(src: &[u8], c: usize, h: usize, w: usize, es: usize) -> Vec<u8> {
    msf_model::import::onnx::nchw_to_nhwc(src, [1, c, h, w], es)
}

/// NHWC -> NCHW bytes.
pub fn nhwc_to_nchw(src: &[u8], c: usize, h: usize, w: usize, es: usize) -> Vec<u8> {
    msf_model::import::onnx::nhwc_to_nchw(src, [1, h, w, c], es)
}

/// A compiled program ready to run repeatedly (blob and arena allocated once).
pub struct Runner<'g> {
    pub graph: &'g Graph,
    pub compiled: Compiled,
    blob: AlignedBuf,
    pub arena: AlignedBuf,
}

impl<'g> Runner<'g> {
    pub fn new(graph: &'g Graph) -> Result<Self> {
        Self::with_kernels(graph, Kernels::Reference)
    }

    pub fn with_kernels(graph: &'g Graph, kernels: Kernels) -> Result<Self> {
        let compiled = compile_with(graph, kernels)?;
        let blob = AlignedBuf::from_bytes(&compiled.blob);
        msf_runtime::Program::parse(blob.as_ref())?;
        let arena = AlignedBuf::zeroed(compiled.arena_size);
        Ok(Runner { graph, compiled, blob, arena })
    }

    /// Write the single graph input from file bytes (NCHW for ONNX graphs).
    pub fn set_input(&mut self, input: &[u8]) -> Result<()> {
        if self.compiled.inputs.len() != 1 {
            return Err(ExecError::InputCount(self.compiled.inputs.len()));
        }
        let t = self.compiled.inputs[0];
        let (off, len) = self.compiled.placement[&t];
        if input.len() != len {
            return Err(ExecError::InputSize { id: t, got: input.len(), need: len });
        }
        let tensor = &self.graph.tensors[t];
        let bytes = match (self.compiled.nchw_io, nhwc(tensor)) {
            (true, Some((h, w, c))) if tensor.shape.len() == 4 => nchw_to_nhwc(input, c, h, w, tensor.dtype.size().unwrap_or(1)),
            _ => input.to_vec(),
        };
        self.arena.as_mut()[off..off + len].copy_from_slice(&bytes);
        Ok(())
    }

    /// Run every layer. `dump` (if any) sees every activation tensor right after the op that
    /// makes it (graph inputs first), as NHWC bytes by tensor id.
    pub fn run(&mut self, mut dump: Option<&mut dyn FnMut(TensorId, &[u8])>) -> Result<()> {
        let prog = msf_runtime::Program::parse(self.blob.as_ref())?;
        if let Some(d) = dump.as_mut() {
            for &t in &self.compiled.inputs {
                let (o, l) = self.compiled.placement[&t];
                d(t, &self.arena.as_ref()[o..o + l]);
            }
        }
        for (i, layers) in self.compiled.op_layers.iter().enumerate() {
            for k in layers.clone() {
                prog.run_layer(k, self.arena.as_mut())?;
            }
            if let Some(d) = dump.as_mut() {
                for &t in &self.graph.ops[i].outputs {
                    if let Some(&(o, l)) = self.compiled.placement.get(&t) {
                        d(t, &self.arena.as_ref()[o..o + l]);
                    }
                }
            }
        }
        Ok(())
    }

    /// The single graph output as file bytes (NCHW for 4D ONNX outputs).
    pub fn output(&self) -> Vec<u8> {
        let t = self.compiled.outputs[0];
        let (off, len) = self.compiled.placement[&t];
        let bytes = &self.arena.as_ref()[off..off + len];
        let tensor = &self.graph.tensors[t];
        match (self.compiled.nchw_io, nhwc(tensor)) {
            (true, Some((h, w, c))) if tensor.shape.len() == 4 => nhwc_to_nchw(bytes, c, h, w, tensor.dtype.size().unwrap_or(1)),
            _ => bytes.to_vec(),
        }
    }
}

/// Compile and run `g` once on `input` (file bytes); returns the output bytes.
pub fn run(g: &Graph, input: &[u8], dump: Option<&mut dyn FnMut(TensorId, &[u8])>) -> Result<Vec<u8>> {
    run_with(g, Kernels::Reference, input, dump)
}

/// [`run`] with a choice of kernel arithmetic.
pub fn run_with(g: &Graph, kernels: Kernels, input: &[u8], dump: Option<&mut dyn FnMut(TensorId, &[u8])>) -> Result<Vec<u8>> {
    let mut r = Runner::with_kernels(g, kernels)?;
    r.set_input(input)?;
    r.run(dump)?;
    Ok(r.output())
}

#[cfg(test)]
mod tests {
    use super::*;
    use msf_model::{Op as GOp, Quant};

    fn t(name: &str, shape: &[usize], dtype: DType, q: Option<(f32, i64)>) -> Tensor {
        Tensor { name: name.into(), shape: shape.to_vec(), dtype, quant: q.map(|(s, z)| Quant::per_tensor(s, z)), data: None }
    }
    fn op(kind: OpKind, inputs: Vec<usize>, outputs: Vec<usize>) -> GOp {
        GOp { kind, inputs, outputs, name: String::new() }
    }

    #[test]
    fn pad_reshape_logistic_float_by_hand() {
        // [1,2,2,1] -> PAD 1 on H and W -> [1,4,4,1] -> RESHAPE [1,16] -> LOGISTIC.
        let g = Graph {
            name: "g".into(),
            tensors: vec![
                t("x", &[1, 2, 2, 1], DType::Float32, None),
                t("p", &[1, 4, 4, 1], DType::Float32, None),
                t("r", &[1, 16], DType::Float32, None),
                t("y", &[1, 16], DType::Float32, None),
            ],
            ops: vec![
                op(OpKind::Pad { paddings: vec![[0, 0], [1, 1], [1, 1], [0, 0]] }, vec![0], vec![1]),
                op(OpKind::Reshape, vec![1], vec![2]),
                op(OpKind::Logistic, vec![2], vec![3]),
            ],
            inputs: vec![0],
            outputs: vec![3],
            format: "tflite".into(),
        };
        let c = compile(&g).unwrap();
        // RESHAPE is free: its output shares its input's bytes, and it has no layer.
        assert_eq!(c.placement[&1].0, c.placement[&2].0);
        assert_eq!(c.op_layers[1].len(), 0);
        let x: Vec<u8> = [0.0f32, 1.0, -2.0, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let out = run(&g, &x, None).unwrap();
        let y: Vec<f32> = out.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
        // Row 1 of the padded map is [0, x00, x01, 0] = [0, 0, 1, 0].
        assert!((y[0] - 0.5).abs() < 1e-6 && (y[5] - 0.5).abs() < 1e-6);
        assert!((y[6] - sig(1.0)).abs() < 1e-6);
        assert!((y[9] - sig(-2.0)).abs() < 1e-6 && (y[10] - sig(3.0)).abs() < 1e-6);
        assert!((y[15] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn concat_requantises_an_input_with_other_scales() {
        // x (scale 0.25, zp -1) -> QUANTIZE to (0.5, 2) -> q ; CONCAT(q, x) on channels ->
        // (0.25, -1). x = [3, 7] is 1.0, 2.0; q = [4, 6]; back in the output scale [3, 7].
        let g = Graph {
            name: "g".into(),
            tensors: vec![
                t("x", &[1, 1, 1, 2], DType::Int8, Some((0.25, -1))),
                t("q", &[1, 1, 1, 2], DType::Int8, Some((0.5, 2))),
                t("y", &[1, 1, 1, 4], DType::Int8, Some((0.25, -1))),
            ],
            ops: vec![
                op(OpKind::Quantize, vec![0], vec![1]),
                op(OpKind::Concatenation { axis: 3, activation: Activation::None }, vec![1, 0], vec![2]),
            ],
            inputs: vec![0],
            outputs: vec![2],
            format: "tflite".into(),
        };
        let mut seen = Vec::new();
        let mut cb = |id: usize, b: &[u8]| seen.push((id, b.to_vec()));
        let out = run(&g, &[3, 7], Some(&mut cb)).unwrap();
        assert_eq!(out, vec![3, 7, 3, 7]);
        assert_eq!(seen[1], (1, vec![4, 6]));
    }

    #[test]
    fn unsupported_ops_are_named() {
        let g = Graph {
            name: "g".into(),
            tensors: vec![t("x", &[1, 4], DType::Float32, None), t("y", &[1, 4], DType::Float32, None)],
            ops: vec![op(OpKind::Opaque { name: "GELU".into() }, vec![0], vec![1])],
            inputs: vec![0],
            outputs: vec![1],
            format: "tflite".into(),
        };
        let e = compile(&g).unwrap_err().to_string();
        assert!(e.contains("op 0") && e.contains("GELU"), "{e}");
    }

    #[test]
    fn layout_round_trip() {
        // 2 channels, 2x3 map, one byte per element.
        let nchw: Vec<u8> = (0..12).collect();
        let nhwc_b = nchw_to_nhwc(&nchw, 2, 2, 3, 1);
        // Pixel (0,0) holds channel 0 value 0 and channel 1 value 6.
        assert_eq!(&nhwc_b[0..2], &[0, 6]);
        assert_eq!(&nhwc_b[2..4], &[1, 7]);
        assert_eq!(nhwc_to_nchw(&nhwc_b, 2, 2, 3, 1), nchw);
    }
}
