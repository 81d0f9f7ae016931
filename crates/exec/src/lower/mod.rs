//! Lowering: one graph op becomes the runtime layer records it runs as (`lower_op`), with
//! everything that depends only on constants computed here once.

use super::{unsupported, Kernels, Result};
use msf_model::{Activation, DType, Graph, OpKind, Tensor, TensorId};
use msf_runtime::program::{w, Layer, Op, WEIGHT_ALIGN};
use msf_runtime::quant::{activation_range_i8, quantize_multiplier, softmax_params};
use msf_runtime::Geom;
use std::collections::HashMap;

/// Weights-section builder: items at 16-byte boundaries, offsets relative to the section.
#[derive(Default)]
pub(crate) struct Weights {
    pub(crate) bytes: Vec<u8>,
}

impl Weights {
    pub(crate) fn push(&mut self, b: &[u8]) -> u32 {
        let off = self.bytes.len().next_multiple_of(WEIGHT_ALIGN);
        self.bytes.resize(off, 0);
        self.bytes.extend_from_slice(b);
        off as u32
    }
    pub(crate) fn push_i32(&mut self, v: &[i32]) -> u32 {
        let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.push(&b)
    }
    pub(crate) fn push_f32(&mut self, v: &[f32]) -> u32 {
        let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.push(&b)
    }
}

/// A layer whose weight words hold section-relative offsets until the blob is assembled.
pub(crate) struct PendingLayer {
    pub(crate) layer: Layer,
    pub(crate) weight_words: Vec<usize>,
}

pub(crate) fn scale_zp(g: &Graph, t: TensorId) -> Option<(f32, i32)> {
    let q = g.tensors[t].quant.as_ref()?;
    Some((*q.scale.first()?, *q.zero_point.first()? as i32))
}

pub(crate) fn act_f32(a: Activation) -> (f32, f32) {
    match a {
        Activation::None => (f32::MIN, f32::MAX),
        Activation::Relu => (0.0, f32::MAX),
        Activation::Relu6 => (0.0, 6.0),
        Activation::ReluN1To1 => (-1.0, 1.0),
    }
}

pub(crate) fn act_code(a: Activation) -> u32 {
    match a {
        Activation::None => 0,
        Activation::Relu => 1,
        Activation::Relu6 => 2,
        Activation::ReluN1To1 => 3,
    }
}

/// NHWC dims of a 4D batch-1 tensor (or lower rank padded with leading ones).
pub(crate) fn nhwc(t: &Tensor) -> Option<(usize, usize, usize)> {
    let s = &t.shape;
    match s.len() {
        4 if s[0] == 1 => Some((s[1], s[2], s[3])),
        3 => Some((s[0], s[1], s[2])),
        _ => None,
    }
}


/// Float convs with receptive fields up to this length get input-major weights.
const IO_MAX_K_F32: usize = 32;

/// Per-output-channel multipliers and shifts for `real[c] = in_scale * w_scale[c] / out_scale`,
/// computed in double as TFLite's `PopulateConvolutionQuantizationParams`.
pub(crate) fn channel_multipliers(in_scale: f32, w_scales: &[f32], out_scale: f32, channels: usize) -> (Vec<i32>, Vec<i32>) {
    (0..channels)
        .map(|c| {
            let ws = if w_scales.len() > 1 { w_scales[c] } else { w_scales[0] };
            quantize_multiplier(in_scale as f64 * ws as f64 / out_scale as f64)
        })
        .unzip()
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn lower_op(
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

