//! QDQ folding: QuantizeLinear / DequantizeLinear parameters, the QUANTIZE and DEQUANTIZE ops,
//! and the int8 weights and int32 bias of quantised conv / fully connected ops.

use std::rc::Rc;

use super::attrs::{attr_i, norm_axis};
use super::tensor::Const;
use super::{Builder, Emit, Layout, Value};
use crate::error::Result;
use crate::graph::{DType, Op, OpKind, Quant, TensorId};
use crate::layout::transpose;

/// ONNX QuantizeLinear rounding: round half to even, then saturate to `[lo, hi]`.
pub(super) fn quantize_value(x: f64, lo: i64, hi: i64) -> i64 {
    if x.is_nan() {
        return 0;
    }
    let r = x.round_ties_even();
    r.clamp(lo as f64, hi as f64) as i64
}

/// A `DequantizeLinear` of a constant: the integer data with its parameters.
#[derive(Debug, Clone)]
pub(super) struct DqConst {
    /// Shared with the initializer: many DequantizeLinear nodes may read one constant.
    pub(super) q: Rc<Const>,
    pub(super) params: QParams,
}

impl DqConst {
    /// The real values, `scale * (q - zero_point)`, as float32.
    pub(super) fn dequantized(&self) -> Option<Const> {
        let ints = self.q.ints()?;
        let p = &self.params;
        let per = p.scale.len();
        // Index along the quantised axis of element i: (i / inner) % channels.
        let inner: usize = self.q.dims.get(p.axis + 1..).map(|d| d.iter().product()).unwrap_or(1);
        let v: Vec<f32> = ints
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let c = if per == 1 { 0 } else { (i / inner) % per };
                (p.scale[c] as f64 * (q - p.zero_point[c]) as f64) as f32
            })
            .collect();
        Some(Const::from_f32(&self.q.name, self.q.dims.clone(), &v))
    }
}

/// Quantisation parameters of a QuantizeLinear / DequantizeLinear node.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct QParams {
    pub(super) scale: Vec<f32>,
    pub(super) zero_point: Vec<i64>,
    /// Axis of per-channel parameters (normalised); 0 for per-tensor.
    pub(super) axis: usize,
    /// The quantised element type (the zero point's type; uint8 when it is absent, per spec).
    pub(super) dtype: DType,
}

impl QParams {
    pub(super) fn quant(&self, axis: usize) -> Quant {
        Quant { scale: self.scale.clone(), zero_point: self.zero_point.clone(), axis }
    }
    pub(super) fn per_tensor(&self) -> bool {
        self.scale.len() == 1
    }
    pub(super) fn range(&self) -> Option<(i64, i64)> {
        Some(match self.dtype {
            DType::Int8 => (-128, 127),
            DType::UInt8 => (0, 255),
            DType::Int16 => (-32768, 32767),
            DType::Int32 => (i32::MIN as i64, i32::MAX as i64),
            _ => return None,
        })
    }
}

/// Quantise real bias values to int32 with per-channel `scale` (round half to even, saturate).
pub(super) fn quantize_bias(reals: &[f64], scale: &[f32]) -> Vec<u8> {
    reals
        .iter()
        .enumerate()
        .flat_map(|(c, &r)| {
            let s = scale[c.min(scale.len() - 1)] as f64;
            (quantize_value(r / s, i32::MIN as i64, i32::MAX as i64) as i32).to_le_bytes()
        })
        .collect()
}

impl<'g> Builder<'g> {
    /// Scale / zero point / axis of a QuantizeLinear or DequantizeLinear node whose data input
    /// has rank `rank`. `None` when they are not constants.
    pub(super) fn qparams(&self, k: usize, rank: usize) -> Result<Option<QParams>> {
        let Some(scale) = self.const_input(k, 1)? else { return Ok(None) };
        let Some(scale_v) = scale.f32s() else { return Ok(None) };
        if scale_v.is_empty() || scale.dims.len() > 1 {
            return Err(self.bad_op(k, format!("scale must be a scalar or 1-D, got shape {:?}", scale.dims)));
        }
        if let Some(s) = scale_v.iter().find(|s| !crate::validate::is_valid_scale(**s)) {
            return Err(self.bad_op(k, format!("quantisation scale {s:?} is not a positive normal float (zero, negative, denormal or not finite)")));
        }
        let (zero_point, dtype) = match self.input(k, 2)? {
            None => (vec![0; scale_v.len()], DType::UInt8),
            Some(Value::Const(z)) => {
                let Some(zv) = z.ints() else { return Ok(None) };
                if zv.len() != scale_v.len() {
                    return Err(self.bad_op(k, format!("{} scales but {} zero points", scale_v.len(), zv.len())));
                }
                (zv, z.dtype)
            }
            Some(_) => return Ok(None),
        };
        let axis = if scale_v.len() > 1 {
            norm_axis(attr_i(&self.nodes[k], "axis", 1), rank).ok_or_else(|| self.bad_op(k, format!("axis out of range for rank {rank}")))?
        } else {
            0
        };
        Ok(Some(QParams { scale: scale_v, zero_point, axis, dtype }))
    }

    /// A float IR tensor with the real values of quantised tensor `id` (a DEQUANTIZE op, made
    /// once per tensor; `name` forces a fresh one with that name, for graph outputs).
    pub(super) fn dequantize(&mut self, id: TensorId, name: Option<&str>) -> Result<TensorId> {
        if name.is_none() {
            if let Some(&f) = self.dequantized.get(&id) {
                return Ok(f);
            }
        }
        let (shape, layout) = self.info[id].clone();
        let tname = name.map(str::to_string).unwrap_or_else(|| format!("{}/dequantized", self.graph.tensors[id].name));
        let out = self.add_tensor(&tname, shape, layout, DType::Float32, None, None)?;
        self.graph.ops.push(Op { kind: OpKind::Dequantize, inputs: vec![id], outputs: vec![out], name: tname });
        if name.is_none() {
            self.dequantized.insert(id, out);
        }
        Ok(out)
    }

    pub(super) fn quantize_linear(&mut self, k: usize) -> Result<()> {
        let out = self.nodes[k].output.first().cloned().unwrap_or_default();
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let rank = match &x {
            Value::Const(c) => c.dims.len(),
            v => self.act_info(v).map(|i| i.0.len()).unwrap_or(0),
        };
        let Some(p) = self.qparams(k, rank)? else { return self.opaque(k) };
        let Some((lo, hi)) = p.range() else { return self.opaque(k) };
        match x {
            Value::Const(c) => {
                // Quantise a float constant now (rare: exporters store weights already quantised).
                let Some(reals) = c.reals() else { return self.opaque(k) };
                let inner: usize = c.dims.get(p.axis + 1..).map(|d| d.iter().product()).unwrap_or(1);
                let size = p.dtype.size().unwrap_or(1);
                let mut data = Vec::with_capacity(reals.len() * size);
                for (i, r) in reals.iter().enumerate() {
                    let ch = if p.per_tensor() { 0 } else { (i / inner) % p.scale.len() };
                    let q = quantize_value(r / p.scale[ch] as f64 + p.zero_point[ch] as f64, lo, hi);
                    data.extend_from_slice(&q.to_le_bytes()[..size]);
                }
                let q = Const { name: out.clone(), dims: c.dims.clone(), dtype: p.dtype, elem: size, data };
                self.define(k, &out, Value::Const(Rc::new(q)))
            }
            Value::Act(id) | Value::DqAct(id) if p.per_tensor() => {
                let src_quant = self.graph.tensors[id].quant.clone();
                if matches!(x, Value::DqAct(_)) && src_quant.as_ref() == Some(&p.quant(0)) && self.graph.tensors[id].dtype == p.dtype {
                    // DequantizeLinear -> QuantizeLinear with the same parameters: the identity.
                    return self.define(k, &out, Value::Act(id));
                }
                if matches!(x, Value::Act(_)) && self.graph.tensors[id].dtype != DType::Float32 {
                    return self.opaque(k);
                }
                // QUANTIZE reads a float tensor, or requantises an int8 one (the DqAct case).
                let (shape, layout) = self.info[id].clone();
                let q = self.add_tensor(&out, shape, layout, p.dtype, Some(p.quant(0)), None)?;
                let name = if self.nodes[k].name.is_empty() { out.clone() } else { self.nodes[k].name.clone() };
                self.graph.ops.push(Op { kind: OpKind::Quantize, inputs: vec![id], outputs: vec![q], name });
                self.define(k, &out, Value::Act(q))
            }
            _ => self.opaque(k),
        }
    }

    pub(super) fn dequantize_linear(&mut self, k: usize) -> Result<()> {
        let out = self.nodes[k].output.first().cloned().unwrap_or_default();
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Value::Act(id) = x else { return self.opaque(k) };
        let rank = self.info[id].0.len();
        let Some(p) = self.qparams(k, rank)? else { return self.opaque(k) };
        if !p.per_tensor() || self.graph.tensors[id].dtype != p.dtype {
            return self.opaque(k);
        }
        match self.graph.tensors[id].quant.clone() {
            None => self.graph.tensors[id].quant = Some(p.quant(0)),
            Some(q) if q == p.quant(0) => {}
            // The tensor already carries other parameters (two DequantizeLinear nodes reading it
            // with different scales): the IR has one quantisation per tensor.
            Some(_) => return self.opaque(k),
        }
        self.define(k, &out, Value::DqAct(id))
    }

    /// The inputs of a quantised conv / fully connected op: the int8 input tensor, the int8
    /// weights transposed by `perm` into `wshape` (per-channel parameters moved from ONNX axis
    /// `onnx_axis` to IR axis `ir_axis`), and an int32 bias with scale `in_scale * w_scale`.
    /// `None` when the parameters are not of a form the IR's int8 kernels take.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn quantised_weights_op(
        &mut self,
        k: usize,
        xid: TensorId,
        wq: &DqConst,
        perm: &[usize],
        wshape: &[usize],
        onnx_axis: usize,
        ir_axis: usize,
        channels: usize,
        bias: Option<&Value>,
        kind: OpKind,
        shape: Vec<usize>,
        layout: Layout,
    ) -> Result<Option<Emit>> {
        let Some(xq) = self.graph.tensors[xid].quant.clone() else { return Ok(None) };
        let p = &wq.params;
        if xq.scale.len() != 1 || self.graph.tensors[xid].dtype != DType::Int8 || wq.q.dtype != DType::Int8 || !(p.per_tensor() || (p.axis == onnx_axis && p.scale.len() == channels)) {
            return Ok(None);
        }
        let in_scale = xq.scale[0];
        // Bias scale per output channel, as the ONNX quantiser and TFLite both define it.
        let bias_scale: Vec<f32> = (0..channels).map(|c| in_scale * p.scale[if p.per_tensor() { 0 } else { c }]).collect();
        let bias_data: Option<Vec<u8>> = match bias {
            None => None,
            Some(Value::DqConst(b)) if b.q.dtype == DType::Int32 && b.params.zero_point.iter().all(|&z| z == 0) && self.scales_match(&b.params.scale, &bias_scale) => Some(b.q.data.clone()),
            Some(v) => {
                // A float bias, or an int32 one with other parameters: requantise its real values.
                let reals: Vec<f64> = match v {
                    Value::Const(c) => match c.f32s() {
                        Some(f) => f.into_iter().map(f64::from).collect(),
                        None => return Ok(None),
                    },
                    Value::DqConst(d) => match d.dequantized().and_then(|c| c.f32s()) {
                        Some(f) => f.into_iter().map(f64::from).collect(),
                        None => return Ok(None),
                    },
                    _ => return Ok(None),
                };
                Some(quantize_bias(&reals, &bias_scale))
            }
        };
        let wdata = transpose(&wq.q.data, 1, &wq.q.dims, perm);
        let wquant = Quant { scale: p.scale.clone(), zero_point: p.zero_point.clone(), axis: if p.per_tensor() { 0 } else { ir_axis } };
        let wid = self.add_tensor(&wq.q.name, wshape.to_vec(), Layout::Plain, DType::Int8, Some(wquant), Some(wdata))?;
        let mut inputs = vec![xid, wid];
        if let Some(data) = bias_data {
            let name = match bias {
                Some(Value::Const(c)) => c.name.clone(),
                Some(Value::DqConst(d)) => d.q.name.clone(),
                _ => format!("{}/bias", self.nodes[k].name),
            };
            let bq = Quant { scale: bias_scale.clone(), zero_point: vec![0; channels], axis: 0 };
            let bq = if channels == 1 { Quant::per_tensor(bias_scale[0], 0) } else { bq };
            inputs.push(self.add_tensor(&name, vec![channels], Layout::Plain, DType::Int32, Some(bq), Some(data))?);
        }
        Ok(Some(Emit { kind, inputs, shape, layout, dtype: DType::Int8, quant: None }))
    }

    /// Whether the file's bias scales are the expected `in_scale * w_scale` (to float rounding).
    fn scales_match(&self, got: &[f32], want: &[f32]) -> bool {
        let per = got.len();
        (per == 1 || per == want.len()) && want.iter().enumerate().all(|(c, w)| {
            let g = got[if per == 1 { 0 } else { c }];
            (g - w).abs() <= 1e-6 * w.abs()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_half_to_even() {
        assert_eq!(quantize_value(0.5, -128, 127), 0);
        assert_eq!(quantize_value(1.5, -128, 127), 2);
        assert_eq!(quantize_value(-2.5, -128, 127), -2);
        assert_eq!(quantize_value(300.0, -128, 127), 127);
        assert_eq!(quantize_value(-300.0, -128, 127), -128);
        // Bias 0.75 with scale 0.5 is 1.5 steps: rounds to 2; 0.25 / 0.5 = 0.5 rounds to 0.
        let b = quantize_bias(&[0.75, 0.25], &[0.5, 0.5]);
        assert_eq!(b, [2i32.to_le_bytes(), 0i32.to_le_bytes()].concat());
    }
}
