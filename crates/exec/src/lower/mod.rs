//! Lowering: one graph op becomes the runtime records it runs as ([`lower_op`]), with everything
//! that depends only on constants computed here once (per-channel multipliers and shifts as
//! TFLite's `QuantizeMultiplier`, biases with the input zero point folded in, lookup tables).
//! One file per op family, as the runtime's `msf_runtime::record` is split; each builds the
//! family's typed record, which is the one encoder of the wire format.

mod add;
mod concat;
mod conv;
mod fc;
mod mean;
mod pad;
mod pointwise;
mod pool;
mod softmax;

use super::{unsupported, ExecError, Kernels, Result};
use msf_model::{Activation, DType, Graph, Op as GraphOp, OpKind, Tensor, TensorId};
use msf_runtime::program::{Layer, WEIGHT_ALIGN};
use msf_runtime::quant::{activation_range_i8, quantize_multiplier};
use msf_runtime::record::{Act, Kind, Record};
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

/// A record whose weights offsets are relative to the weights section until the blob is laid
/// out.
pub(crate) struct PendingLayer {
    pub(crate) record: Record,
}

impl PendingLayer {
    /// The wire record with its weights offsets moved to the section's place in the blob.
    pub(crate) fn encode_at(&self, weights_off: u32) -> Layer {
        let mut r = self.record;
        r.relocate(weights_off);
        r.encode()
    }
}

pub(crate) fn scale_zp(g: &Graph, t: TensorId) -> Option<(f32, i32)> {
    let q = g.tensors[t].quant.as_ref()?;
    Some((*q.scale.first()?, *q.zero_point.first()? as i32))
}

/// A fused activation as float bounds.
fn act_f32(a: Activation) -> Act {
    let (min, max) = match a {
        Activation::None => (f32::MIN, f32::MAX),
        Activation::Relu => (0.0, f32::MAX),
        Activation::Relu6 => (0.0, 6.0),
        Activation::ReluN1To1 => (-1.0, 1.0),
    };
    Act::F32 { min, max }
}

/// A fused activation as int8 bounds in the output's quantisation.
fn act_i8(a: Activation, (scale, zp): (f32, i32)) -> Act {
    let code = match a {
        Activation::None => 0,
        Activation::Relu => 1,
        Activation::Relu6 => 2,
        Activation::ReluN1To1 => 3,
    };
    let (min, max) = activation_range_i8(code, scale, zp);
    Act::I8 { min, max }
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

/// Int8 biases with the input zero point folded in: `acc = sum (x - zx) w + b = sum x w +
/// (b - zx sum w)`, so kernels accumulate raw products; `sum_w(c)` is output channel c's weight sum.
fn fold_bias(bias: &[i32], zx: i32, sum_w: impl Fn(usize) -> i32) -> Vec<i32> {
    bias.iter().enumerate().map(|(c, &b)| b.wrapping_sub(zx.wrapping_mul(sum_w(c)))).collect()
}

/// The spatial geometry of a window op: NHWC input and output maps, kernel, stride, dilation
/// and the padding before (rows, columns).
fn window_geom(i: (usize, usize, usize), o: (usize, usize, usize), k: [usize; 2], stride: [usize; 2], dilation: [usize; 2], pad: [usize; 2]) -> Geom {
    Geom {
        in_h: i.0,
        in_w: i.1,
        in_c: i.2,
        out_h: o.0,
        out_w: o.1,
        out_c: o.2,
        kh: k[0],
        kw: k[1],
        stride_h: stride[0],
        stride_w: stride[1],
        dil_h: dilation[0],
        dil_w: dilation[1],
        pad_top: pad[0],
        pad_left: pad[1],
    }
}

/// What every family's lowering needs: the op, its first input and output, their arena offsets.
pub(crate) struct Ctx<'a> {
    g: &'a Graph,
    i: usize,
    placement: &'a HashMap<TensorId, (usize, usize)>,
    kernels: Kernels,
    x: TensorId,
    y: TensorId,
}

impl<'a> Ctx<'a> {
    fn op(&self) -> &'a GraphOp {
        &self.g.ops[self.i]
    }
    fn err(&self, what: impl Into<String>) -> ExecError {
        unsupported(self.g, self.i, what)
    }
    fn tx(&self) -> &'a Tensor {
        &self.g.tensors[self.x]
    }
    fn ty(&self) -> &'a Tensor {
        &self.g.tensors[self.y]
    }
    fn tensor(&self, t: TensorId) -> &'a Tensor {
        &self.g.tensors[t]
    }
    /// Constant input `k` of the op (filter, bias).
    fn input(&self, k: usize, what: &str) -> Result<&'a Tensor> {
        Ok(&self.g.tensors[*self.op().inputs.get(k).ok_or_else(|| self.err(format!("no {what}")))?])
    }
    fn arena(&self, t: TensorId) -> Result<u32> {
        self.placement.get(&t).map(|&(o, _)| o as u32).ok_or_else(|| self.err(format!("tensor {t} is constant where an activation is expected")))
    }
    /// int8 in and out.
    fn int8(&self) -> bool {
        self.tx().dtype == DType::Int8 && self.ty().dtype == DType::Int8
    }
    /// float32 in and out.
    fn f32io(&self) -> bool {
        self.tx().dtype == DType::Float32 && self.ty().dtype == DType::Float32
    }
    fn q(&self, t: TensorId, what: &str) -> Result<(f32, i32)> {
        scale_zp(self.g, t).ok_or_else(|| self.err(what.to_string()))
    }
    /// Scale and zero point of the input and of the output.
    fn qxy(&self) -> Result<((f32, i32), (f32, i32))> {
        Ok((self.q(self.x, "int8 input without quantisation")?, self.q(self.y, "int8 output without quantisation")?))
    }
    /// A record reading the op's first input and writing its output.
    fn record(&self, kind: Kind) -> Result<Record> {
        Ok(Record { tag: self.y as u32, in0: self.arena(self.x)?, in1: 0, out: self.arena(self.y)?, scratch: 0, kind })
    }
}

/// Lower graph op `i` into `out`: most ops become one record, RESHAPE none (it aliases its
/// input), CONCATENATION one copy per input.
pub(crate) fn lower_op(g: &Graph, i: usize, placement: &HashMap<TensorId, (usize, usize)>, kernels: Kernels, wts: &mut Weights, out: &mut Vec<PendingLayer>) -> Result<()> {
    let op = &g.ops[i];
    let x = *op.inputs.first().ok_or_else(|| unsupported(g, i, "no input"))?;
    let y = *op.outputs.first().ok_or_else(|| unsupported(g, i, "no output"))?;
    let cx = Ctx { g, i, placement, kernels, x, y };
    let records = match &op.kind {
        OpKind::Conv2d { window, activation } => vec![conv::lower(&cx, wts, window, *activation, None)?],
        OpKind::DepthwiseConv2d { window, activation, depth_multiplier } => vec![conv::lower(&cx, wts, window, *activation, Some(*depth_multiplier))?],
        OpKind::AveragePool2d { filter, window, activation } => vec![pool::lower(&cx, *filter, window, *activation, false)?],
        OpKind::MaxPool2d { filter, window, activation } => vec![pool::lower(&cx, *filter, window, *activation, true)?],
        OpKind::Pad { paddings } => vec![pad::lower(&cx, paddings)?],
        OpKind::FullyConnected { activation, .. } => vec![fc::lower(&cx, wts, *activation)?],
        OpKind::Add { activation } => vec![add::lower(&cx, wts, *activation)?],
        OpKind::Mean { axes, .. } => vec![mean::lower(&cx, axes)?],
        OpKind::Softmax { beta } => vec![softmax::lower(&cx, wts, *beta)?],
        OpKind::Concatenation { axis, activation } => concat::lower(&cx, *axis, *activation)?,
        OpKind::Logistic => vec![pointwise::logistic(&cx, wts)?],
        OpKind::Quantize => vec![pointwise::quantize(&cx)?],
        OpKind::Dequantize => vec![pointwise::dequantize(&cx)?],
        OpKind::Relu => vec![pointwise::relu(&cx, Activation::Relu)?],
        OpKind::Relu6 => vec![pointwise::relu(&cx, Activation::Relu6)?],
        OpKind::Reshape => {
            if cx.tx().byte_size() != cx.ty().byte_size() {
                return Err(cx.err("RESHAPE changes the byte size"));
            }
            if cx.tx().is_constant() {
                return Err(cx.err("RESHAPE of a constant"));
            }
            // Aliased: same arena bytes, no layer.
            vec![]
        }
        OpKind::Opaque { name } => return Err(cx.err(format!("opaque op {name}"))),
    };
    out.extend(records.into_iter().map(|record| PendingLayer { record }));
    Ok(())
}
