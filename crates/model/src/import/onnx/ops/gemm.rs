//! Gemm and MatMul: FULLY_CONNECTED, float or quantised (QDQ), weights permuted to read a
//! flattened NHWC input.

use std::rc::Rc;

use super::super::attrs::{attr, attr_i};
use super::super::qdq::{DqConst, QParams};
use super::super::tensor::Const;
use super::super::tail::Tail;
use super::super::{Builder, Emit, Layout, Value};
use crate::error::Result;
use crate::graph::{Activation, DType, OpKind};
use crate::layout::transpose;

impl<'g> Builder<'g> {
    pub(in crate::import::onnx) fn gemm(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let n = self.node(k);
        let is_gemm = n.op_type == "Gemm";
        let (Some(a), Some(b)) = (self.input(k, 0)?, self.input(k, 1)?) else { return Err(self.bad_op(k, "needs two inputs")) };
        let c = if is_gemm { self.input(k, 2)? } else { None };
        let Some((ashape, alayout, adt)) = self.act_info(&a) else { return Ok(None) };
        let bc: &Const = match &b {
            Value::Const(c) => c,
            Value::DqConst(d) => &d.q,
            _ => return Ok(None),
        };
        let trans_b = is_gemm && attr_i(n, "transB", 0) != 0;
        if ashape.len() != 2 || bc.dims.len() != 2 || (is_gemm && attr_i(n, "transA", 0) != 0) {
            return Ok(None);
        }
        let alpha = if is_gemm { attr(n, "alpha").map(|a| a.f).unwrap_or(1.0) } else { 1.0 };
        let beta = if is_gemm { attr(n, "beta").map(|a| a.f).unwrap_or(1.0) } else { 1.0 };
        if alpha != 1.0 || (c.is_some() && beta != 1.0) {
            return Ok(None);
        }
        let (kdim, ndim) = if trans_b { (bc.dims[1], bc.dims[0]) } else { (bc.dims[0], bc.dims[1]) };
        if ashape[1] != kdim {
            return Err(self.bad_op(k, format!("input {ashape:?} does not match weights {:?} (transB {})", bc.dims, trans_b as u8)));
        }
        if let Some(cv) = &c {
            let cd = match cv {
                Value::Const(c) => &c.dims,
                Value::DqConst(d) => &d.q.dims,
                _ => return Ok(None),
            };
            if !(cd.as_slice() == [ndim] || cd.as_slice() == [1, ndim]) {
                return Ok(None); // a bias that broadcasts over rows differently: no FC form
            }
        }
        // IR weights are [out, in] with `in` in the IR element order of the input. Gemm's B is
        // [K, N] (or [N, K] with transB); the input of a Flatten of NHWC orders K as (h, w, c)
        // where ONNX orders it (c, h, w): view the rows as [N, C, H, W] and move C last.
        let (perm, view): (Vec<usize>, Vec<usize>) = match alayout {
            Layout::FlatNhwc { h, w, c: ch } => {
                let base = if trans_b { vec![ndim, ch, h, w] } else { vec![ch, h, w, ndim] };
                (if trans_b { vec![0, 2, 3, 1] } else { vec![3, 1, 2, 0] }, base)
            }
            _ => (if trans_b { vec![0, 1] } else { vec![1, 0] }, bc.dims.clone()),
        };
        let wshape = vec![ndim, kdim];
        let kind = OpKind::FullyConnected { activation: Activation::None, keep_num_dims: false };
        let shape = vec![ashape[0], ndim];
        let tail = self.tail(k, true)?;
        let int8_out = matches!(&tail.q, Some((_, p, _)) if p.dtype == DType::Int8);
        if let (Value::DqAct(xid), Value::DqConst(wq), true) = (&a, &b, int8_out) {
            // Per-channel parameters must run along N (ONNX axis 0 with transB, else 1); in the
            // viewed weights N is axis 0 (transB) or the last axis.
            let n_axis = if trans_b { 0 } else { 1 };
            let view_axis = if trans_b { 0 } else { view.len() - 1 };
            if wq.params.per_tensor() || wq.params.axis == n_axis {
                let axis = if wq.params.per_tensor() { 0 } else { view_axis };
                let viewed = DqConst { q: Rc::new(Const { dims: view.clone(), ..(*wq.q).clone() }), params: QParams { axis, ..wq.params.clone() } };
                if let Some(e) = self.quantised_weights_op(k, *xid, &viewed, &perm, &wshape, view_axis, 0, ndim, c.as_ref(), kind.clone(), shape.clone(), Layout::Plain)? {
                    return Ok(Some((e, tail)));
                }
            }
        }
        self.gemm_float(k, a, b, c, adt, perm, view, wshape, kind, shape, tail)
    }

    #[allow(clippy::too_many_arguments)]
    fn gemm_float(
        &mut self,
        k: usize,
        a: Value,
        b: Value,
        c: Option<Value>,
        adt: DType,
        perm: Vec<usize>,
        view: Vec<usize>,
        wshape: Vec<usize>,
        kind: OpKind,
        shape: Vec<usize>,
        tail: Tail,
    ) -> Result<Option<(Emit, Tail)>> {
        if adt != DType::Float32 {
            return Ok(None);
        }
        let wf = match &b {
            Value::Const(c) => (**c).clone(),
            Value::DqConst(d) => d.dequantized().ok_or_else(|| self.bad_op(k, "cannot dequantise the weights"))?,
            _ => return Ok(None),
        };
        if wf.dtype != DType::Float32 {
            return Ok(None);
        }
        let xid = self.materialize(&a, Layout::Plain)?;
        let wdata = transpose(&wf.data, 4, &view, &perm);
        let wid = self.add_tensor(&wf.name, wshape, Layout::Plain, DType::Float32, None, Some(wdata))?;
        let mut inputs = vec![xid, wid];
        if let Some(cv) = &c {
            let Some(bid) = self.float_bias(cv)? else { return Ok(None) };
            inputs.push(bid);
        }
        let tail = Tail { q: None, ..tail };
        Ok(Some((Emit { kind, inputs, shape, layout: Layout::Plain, dtype: DType::Float32, quant: None }, tail)))
    }
}
