//! Conv: CONV_2D and DEPTHWISE_CONV_2D, float or quantised (QDQ).

use super::super::attrs::{attr_i, attr_ints};
use super::super::tensor::Const;
use super::super::tail::Tail;
use super::super::{Builder, Emit, Layout, Value};
use crate::error::Result;
use crate::graph::{Activation, DType, OpKind};
use crate::layout::transpose;

impl<'g> Builder<'g> {
    pub(in crate::import::onnx) fn conv(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let (Some(x), Some(w)) = (self.input(k, 0)?, self.input(k, 1)?) else { return Err(self.bad_op(k, "Conv needs an input and a filter")) };
        let bias = self.input(k, 2)?;
        let Some((xs, xl, xdt)) = self.act_info(&x) else { return Ok(None) };
        let wc: &Const = match &w {
            Value::Const(c) => c,
            Value::DqConst(d) => &d.q,
            _ => return Ok(None),
        };
        if xs.len() != 4 || wc.dims.len() != 4 || xl != Layout::Nhwc {
            return Ok(None); // 1-D and 3-D convolutions
        }
        let [m, cpg, kh, kw] = [wc.dims[0], wc.dims[1], wc.dims[2], wc.dims[3]];
        let c_in = xs[1];
        let group = attr_i(&self.nodes[k], "group", 1);
        if group < 1 || group as u64 > c_in as u64 || c_in % group as usize != 0 || m % group as usize != 0 || cpg * group as usize != c_in {
            return Err(self.bad_op(k, format!("group {group} does not divide input channels {c_in} / filter {:?}", wc.dims)));
        }
        let group = group as usize;
        if let Some(ks) = attr_ints(&self.nodes[k], "kernel_shape") {
            if ks != [kh as i64, kw as i64] {
                return Err(self.bad_op(k, format!("kernel_shape {ks:?} disagrees with filter shape {:?}", wc.dims)));
            }
        }
        let Some((window, [oh, ow])) = self.window(k, [xs[2], xs[3]], [kh, kw], true)? else { return Ok(None) };
        let depthwise = group > 1;
        if depthwise && !(group == c_in && m % c_in == 0) {
            return Ok(None); // grouped convolution: no IR op
        }
        if let Some(b) = &bias {
            let bd = match b {
                Value::Const(c) => &c.dims,
                Value::DqConst(d) => &d.q.dims,
                _ => return Ok(None),
            };
            if bd.as_slice() != [m] {
                return Err(self.bad_op(k, format!("bias shape {bd:?} is not [{m}]")));
            }
        }
        // OIHW -> OHWI for CONV_2D; [C*mult, 1, kh, kw] -> [1, kh, kw, C*mult] for depthwise. The
        // depthwise output channel index (g * mult + j) is the same in both formats.
        let (perm, wshape, qaxis): (&[usize], Vec<usize>, usize) = if depthwise { (&[1, 2, 3, 0], vec![1, kh, kw, m], 3) } else { (&[0, 2, 3, 1], vec![m, kh, kw, cpg], 0) };
        let kind = if depthwise {
            OpKind::DepthwiseConv2d { window, depth_multiplier: m / c_in, activation: Activation::None }
        } else {
            OpKind::Conv2d { window, activation: Activation::None }
        };
        let tail = self.tail(k, true)?;
        let shape = vec![xs[0], m, oh, ow];
        // Quantised: int8 input view, int8 weights (per-tensor or per-output-channel), Q after.
        let int8_out = matches!(&tail.q, Some((_, p, _)) if p.dtype == DType::Int8);
        if let (Value::DqAct(xid), Value::DqConst(wq), true) = (&x, &w, int8_out) {
            if let Some(e) = self.quantised_weights_op(k, *xid, wq, perm, &wshape, 0, qaxis, m, bias.as_ref(), kind.clone(), shape.clone(), Layout::Nhwc)? {
                return Ok(Some((e, tail)));
            }
        }
        if xdt != DType::Float32 {
            return Ok(None);
        }
        let wf = match &w {
            Value::Const(c) => (**c).clone(),
            Value::DqConst(d) => d.dequantized().ok_or_else(|| self.bad_op(k, "cannot dequantise the filter"))?,
            _ => return Ok(None),
        };
        if wf.dtype != DType::Float32 {
            return Ok(None);
        }
        let xid = self.materialize(&x, Layout::Nhwc)?;
        let wdata = transpose(&wf.data, 4, &wf.dims, perm);
        let wid = self.add_tensor(&wf.name, wshape, Layout::Plain, DType::Float32, None, Some(wdata))?;
        let mut inputs = vec![xid, wid];
        if let Some(b) = &bias {
            let Some(bid) = self.float_bias(b)? else { return Ok(None) };
            inputs.push(bid);
        }
        let tail = Tail { q: None, ..tail };
        Ok(Some((Emit { kind, inputs, shape, layout: Layout::Nhwc, dtype: DType::Float32, quant: None }, tail)))
    }
}
