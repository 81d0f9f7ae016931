//! Constant folding: Constant / Identity / DequantizeLinear of constants before the walk, and the
//! shape arithmetic (`Shape -> Gather -> Unsqueeze -> Concat -> Reshape`) exporters emit.

use std::rc::Rc;

use super::attrs::{attr, attr_f, attr_i, attr_ints};
use super::qdq::DqConst;
use super::tensor::{decode_tensor, Const};
use super::{Builder, Value, SHAPE_CONST_MAX};
use crate::error::Result;
use crate::graph::DType;

impl<'g> Builder<'g> {
    /// Evaluate node `k` now if it only computes a constant: Constant, Identity of a constant,
    /// DequantizeLinear of a constant.
    pub(super) fn fold_constant(&mut self, k: usize) -> Result<()> {
        let n = self.node(k);
        if !(n.domain.is_empty() || n.domain == "ai.onnx") {
            return Ok(());
        }
        let out = match n.output.first() {
            Some(o) if !o.is_empty() => o.clone(),
            _ => return Ok(()),
        };
        let value = match n.op_type.as_str() {
            "Constant" => {
                let name = &out;
                let c = if let Some(t) = attr(n, "value").and_then(|a| a.t.as_ref()) {
                    let mut c = decode_tensor(t, k)?;
                    c.name = name.clone();
                    c
                } else if let Some(f) = attr_f(n, "value_float").filter(|_| attr(n, "value_float").is_some()) {
                    Const::from_f32(name, vec![], &[f])
                } else if let Some(a) = attr(n, "value_floats") {
                    Const::from_f32(name, vec![a.floats.len()], &a.floats)
                } else if let Some(a) = attr(n, "value_int") {
                    Const { name: name.clone(), dims: vec![], dtype: DType::Int64, elem: 8, data: a.i.to_le_bytes().to_vec() }
                } else if let Some(a) = attr(n, "value_ints") {
                    Const { name: name.clone(), dims: vec![a.ints.len()], dtype: DType::Int64, elem: 8, data: a.ints.iter().flat_map(|x| x.to_le_bytes()).collect() }
                } else {
                    return Ok(()); // sparse or string constants: left for the opaque path
                };
                Value::Const(Rc::new(c))
            }
            "Identity" => match self.values.get(n.input.first().map(String::as_str).unwrap_or("")) {
                Some(v @ (Value::Const(_) | Value::DqConst(_))) => v.clone(),
                _ => return Ok(()),
            },
            "DequantizeLinear" => match self.values.get(n.input.first().map(String::as_str).unwrap_or("")) {
                Some(Value::Const(c)) => {
                    let c = c.clone();
                    let Some(params) = self.qparams(k, c.dims.len())? else { return Ok(()) };
                    if c.dtype != params.dtype || c.ints().is_none() {
                        return Ok(());
                    }
                    if !params.per_tensor() && c.dims.get(params.axis) != Some(&params.scale.len()) {
                        return Err(self.bad_op(k, format!("{} scales for axis {} of shape {:?}", params.scale.len(), params.axis, c.dims)));
                    }
                    Value::DqConst(Rc::new(DqConst { q: c, params }))
                }
                _ => return Ok(()),
            },
            _ => return Ok(()),
        };
        self.define(k, &out, value)?;
        self.done[k] = true;
        Ok(())
    }

    /// Whether every input of node `k` is a small integer constant: the shape arithmetic
    /// (`Shape -> Gather -> Unsqueeze -> Concat -> Reshape`) exporters emit for `x.view(n, -1)`.
    pub(super) fn shape_operands(&self, k: usize) -> Result<bool> {
        let n = self.node(k);
        let mut any = false;
        for i in 0..n.input.len() {
            match self.input(k, i)? {
                None => {}
                Some(Value::Const(c)) if c.dims.len() <= 1 && c.count() <= SHAPE_CONST_MAX && c.ints().is_some() => any = true,
                Some(_) => return Ok(false),
            }
        }
        Ok(any)
    }

    /// Evaluate a shape-arithmetic node over small integer constants (see [`Self::shape_operands`]).
    /// The result is an int64 constant of rank <= 1; `None` for forms not handled here.
    pub(super) fn fold_shape_op(&self, k: usize) -> Result<Option<Const>> {
        let n = self.node(k);
        let ints = |i: usize| -> Result<Option<(Vec<usize>, Vec<i64>)>> {
            Ok(match self.input(k, i)? {
                Some(Value::Const(c)) => c.ints().map(|v| (c.dims.clone(), v)),
                _ => None,
            })
        };
        let Some((dims0, v0)) = ints(0)? else { return Ok(None) };
        let (dims, vals): (Vec<usize>, Vec<i64>) = match n.op_type.as_str() {
            "Gather" => {
                let Some((idims, idx)) = ints(1)? else { return Ok(None) };
                if dims0.len() != 1 || attr_i(n, "axis", 0) != 0 {
                    return Ok(None);
                }
                let mut out = Vec::with_capacity(idx.len());
                for &i in &idx {
                    let j = if i < 0 { i + v0.len() as i64 } else { i };
                    if !(0..v0.len() as i64).contains(&j) {
                        return Err(self.bad_op(k, format!("index {i} out of range for {} elements", v0.len())));
                    }
                    out.push(v0[j as usize]);
                }
                (idims, out)
            }
            "Unsqueeze" => {
                // Axes from opset 13 are an input, before an attribute; rank 0 -> 1 is all we need.
                let axes: Vec<i64> = match ints(1)? {
                    Some((_, a)) => a,
                    None => attr_ints(n, "axes").map(<[i64]>::to_vec).unwrap_or_default(),
                };
                if !dims0.is_empty() || axes.len() != 1 || !(axes[0] == 0 || axes[0] == -1) {
                    return Ok(None);
                }
                (vec![1], v0)
            }
            "Squeeze" => {
                if dims0 != [1] {
                    return Ok(None);
                }
                (vec![], v0)
            }
            "Cast" => (dims0, v0),
            "Concat" => {
                let mut out = v0;
                for i in 1..n.input.len() {
                    match ints(i)? {
                        Some((d, v)) if d.len() == 1 => out.extend(v),
                        None if n.input[i].is_empty() => {}
                        _ => return Ok(None),
                    }
                }
                if dims0.len() != 1 || out.len() > SHAPE_CONST_MAX {
                    return Ok(None);
                }
                (vec![out.len()], out)
            }
            "Slice" => {
                let (Some((_, starts)), Some((_, ends))) = (ints(1)?, ints(2)?) else { return Ok(None) };
                let step = match ints(4)? {
                    Some((_, s)) if s.as_slice() == [1] => 1,
                    None => 1,
                    _ => return Ok(None),
                };
                let axes_ok = match ints(3)? {
                    Some((_, a)) => a.as_slice() == [0] || a.as_slice() == [-1],
                    None => true,
                };
                if dims0.len() != 1 || starts.len() != 1 || ends.len() != 1 || !axes_ok || step != 1 {
                    return Ok(None);
                }
                let len = v0.len() as i64;
                let clampi = |x: i64| if x < 0 { (x + len).max(0) } else { x.min(len) };
                let (a, b) = (clampi(starts[0]) as usize, clampi(ends[0]) as usize);
                let out: Vec<i64> = if a < b { v0[a..b].to_vec() } else { Vec::new() };
                (vec![out.len()], out)
            }
            _ => return Ok(None),
        };
        if n.op_type == "Cast" && attr_i(n, "to", 0) != 7 {
            return Ok(None); // only casts to int64 keep the values exact
        }
        let name = n.output[0].clone();
        Ok(Some(Const { name, dims, dtype: DType::Int64, elem: 8, data: vals.iter().flat_map(|v| v.to_le_bytes()).collect() }))
    }
}
