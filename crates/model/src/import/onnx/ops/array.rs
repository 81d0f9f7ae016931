//! Ops that move elements: Flatten / Reshape, Concat and Pad.

use super::super::attrs::{attr_f, attr_i, attr_ints, attr_s, norm_axis};
use super::super::layout::reshape_layout;
use super::super::tail::Tail;
use super::super::{Builder, Emit, Layout, Value, MAX_WINDOW_INT};
use crate::error::Result;
use crate::graph::{Activation, OpKind};

impl<'g> Builder<'g> {
    pub(in crate::import::onnx) fn reshape(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let n = self.node(k);
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Some((xs, xl, _)) = self.act_info(&x) else { return Ok(None) };
        let total: usize = xs.iter().product();
        let target: Vec<usize> = if n.op_type == "Flatten" {
            // Flatten's axis may equal the rank: everything goes into the first dimension.
            let r = xs.len() as i64;
            let a = attr_i(n, "axis", 1);
            let a = if a < 0 { a + r } else { a };
            if !(0..=r).contains(&a) {
                return Err(self.bad_op(k, format!("axis {a} out of range for rank {r}")));
            }
            let axis = a as usize;
            vec![xs[..axis].iter().product(), xs[axis..].iter().product()]
        } else {
            let Some(shape) = self.const_input(k, 1)? else { return Ok(None) };
            let Some(spec) = shape.ints() else { return Err(self.bad_op(k, "shape operand is not integer")) };
            if spec.len() > 8 {
                return Err(self.bad_op(k, format!("target rank {} is more than 8", spec.len())));
            }
            let allow_zero = attr_i(n, "allowzero", 0) != 0;
            let mut out = Vec::with_capacity(spec.len());
            let mut infer = None;
            for (i, &d) in spec.iter().enumerate() {
                match d {
                    -1 if infer.is_none() => {
                        infer = Some(i);
                        out.push(1);
                    }
                    0 if !allow_zero => out.push(*xs.get(i).ok_or_else(|| self.bad_op(k, format!("0 at axis {i} copies a dimension the input lacks")))?),
                    d if (1..=1 << 28).contains(&d) => out.push(d as usize),
                    d => return Err(self.bad_op(k, format!("target dimension {d} in {spec:?}"))),
                }
            }
            let known = out.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| self.bad_op(k, "target shape overflows"))?;
            if let Some(i) = infer {
                if known == 0 || !total.is_multiple_of(known) {
                    return Err(self.bad_op(k, format!("cannot reshape {xs:?} to {spec:?}")));
                }
                out[i] = total / known;
            }
            out
        };
        if target.iter().product::<usize>() != total {
            return Err(self.bad_op(k, format!("cannot reshape {xs:?} ({total} elements) to {target:?}")));
        }
        let Some(layout) = reshape_layout(&xs, xl, &target) else { return Ok(None) };
        // Reshaping keeps quantisation parameters (TFLite RESHAPE cannot requantise).
        self.order_op(k, vec![x], layout, OpKind::Reshape, target, true)
    }

    pub(in crate::import::onnx) fn concat(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let n = self.node(k);
        let mut vals = Vec::new();
        for i in 0..n.input.len() {
            if let Some(v) = self.input(k, i)? {
                vals.push(v);
            }
        }
        let Some((s0, layout, _)) = vals.iter().find_map(|v| self.act_info(v)) else { return Ok(None) };
        let rank = s0.len();
        let axis = norm_axis(attr_i(n, "axis", 0), rank).ok_or_else(|| self.bad_op(k, format!("axis out of range for rank {rank}")))?;
        if matches!(layout, Layout::FlatNhwc { .. }) {
            return Ok(None);
        }
        let mut shape = s0.clone();
        shape[axis] = 0;
        for v in &vals {
            let s = match v {
                Value::Const(c) => c.dims.clone(),
                Value::DqConst(d) => d.q.dims.clone(),
                v => {
                    let Some((s, l, _)) = self.act_info(v) else { return Ok(None) };
                    if l != layout {
                        return Ok(None);
                    }
                    s
                }
            };
            if s.len() != rank || (0..rank).any(|d| d != axis && s[d] != s0[d]) {
                return Err(self.bad_op(k, format!("input shape {s:?} does not match {s0:?} outside axis {axis}")));
            }
            shape[axis] = shape[axis].checked_add(s[axis]).ok_or_else(|| self.bad_op(k, "concatenated size overflows"))?;
        }
        let ir_axis = if layout == Layout::Nhwc { [0, 3, 1, 2][axis] } else { axis };
        // Int8 concatenation copies bytes: every input must share the output's parameters.
        self.order_op(k, vals, layout, OpKind::Concatenation { axis: ir_axis, activation: Activation::None }, shape, true)
    }

    pub(in crate::import::onnx) fn pad(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let n = self.node(k);
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Some((xs, xl, _)) = self.act_info(&x) else { return Ok(None) };
        let mode = attr_s(n, "mode").unwrap_or_else(|| "constant".into());
        if mode != "constant" || matches!(xl, Layout::FlatNhwc { .. }) {
            return Ok(None);
        }
        let (pads, value): (Vec<i64>, f64) = if self.opset >= 11 {
            let Some(p) = self.const_input(k, 1)? else { return Ok(None) };
            let Some(pv) = p.ints() else { return Ok(None) };
            let value = match self.input(k, 2)? {
                None => 0.0,
                Some(Value::Const(c)) => match c.reals().as_deref() {
                    Some([v]) => *v,
                    _ => return Ok(None),
                },
                Some(Value::DqConst(d)) => match d.dequantized().and_then(|c| c.f32s()).as_deref() {
                    Some([v]) => *v as f64,
                    _ => return Ok(None),
                },
                Some(_) => return Ok(None),
            };
            if self.input(k, 3)?.is_some() {
                return Ok(None); // opset 18 `axes`
            }
            (pv, value)
        } else {
            (attr_ints(n, "pads").map(<[i64]>::to_vec).unwrap_or_default(), attr_f(n, "value").unwrap_or(0.0) as f64)
        };
        let rank = xs.len();
        if pads.len() != 2 * rank {
            return Err(self.bad_op(k, format!("{} pads for rank {rank}", pads.len())));
        }
        if pads.iter().any(|&p| !(0..=MAX_WINDOW_INT).contains(&p)) || value != 0.0 {
            return Ok(None); // cropping or a non-zero fill: no IR op
        }
        let onnx: Vec<[usize; 2]> = (0..rank).map(|d| [pads[d] as usize, pads[d + rank] as usize]).collect();
        let paddings: Vec<[usize; 2]> = if xl == Layout::Nhwc { [0, 2, 3, 1].iter().map(|&d| onnx[d]).collect() } else { onnx.clone() };
        let shape: Vec<usize> = xs.iter().zip(&onnx).map(|(d, p)| d + p[0] + p[1]).collect();
        self.order_op(k, vec![x], xl, OpKind::Pad { paddings }, shape, true)
    }
}
