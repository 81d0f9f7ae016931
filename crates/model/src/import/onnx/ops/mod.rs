//! Converters from ONNX operators to IR ops, one file per op family (as tract-onnx's `ops/`),
//! and what they share: float biases and the inputs and tails of ops without weights.
//!
//! A converter returns `Ok(None)` when the IR cannot express the node (it becomes an opaque op)
//! and an error only for a malformed node.

mod activation;
mod array;
mod conv;
mod elementwise;
mod gemm;
mod pool;
mod window;

use super::tail::Tail;
use super::{Builder, Emit, Layout, Value};
use crate::error::Result;
use crate::graph::{DType, OpKind, TensorId};

impl<'g> Builder<'g> {
    fn float_bias(&mut self, b: &Value) -> Result<Option<TensorId>> {
        let c = match b {
            Value::Const(c) => (**c).clone(),
            Value::DqConst(d) => match d.dequantized() {
                Some(c) => c,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        if c.dtype != DType::Float32 {
            return Ok(None);
        }
        let n = c.count();
        Ok(Some(self.add_tensor(&c.name, vec![n], Layout::Plain, DType::Float32, None, Some(c.data))?))
    }

    /// Inputs of an op that reads activations only (no weights): quantised when every input is
    /// a quantised view and a QuantizeLinear follows, float otherwise. Constants are placed in
    /// `layout`. Returns the input ids and whether the op runs quantised.
    fn act_inputs(&mut self, vals: &[Value], layout: Layout, tail: &Tail) -> Result<Option<(Vec<TensorId>, bool)>> {
        // Quantised only when every operand is a quantised view of the output's element type
        // (an int8 op producing uint8, say, has no IR kernel).
        let qtype = tail.q.as_ref().map(|q| q.1.dtype);
        let quantised = qtype.is_some()
            && vals.iter().all(|v| match v {
                Value::DqAct(id) => Some(self.graph.tensors[*id].dtype) == qtype,
                Value::DqConst(c) => Some(c.q.dtype) == qtype,
                _ => false,
            })
            && vals.iter().any(|v| matches!(v, Value::DqAct(_)));
        let mut ids = Vec::new();
        for v in vals {
            let id = match (v, quantised) {
                (Value::DqAct(id), true) => *id,
                (Value::DqConst(c), true) => {
                    if !c.params.per_tensor() {
                        return Ok(None);
                    }
                    let q = c.params.quant(0);
                    self.const_tensor_q(&c.q, layout, Some(q))?
                }
                (v, _) => self.materialize(v, layout)?,
            };
            ids.push(id);
        }
        Ok(Some((ids, quantised)))
    }

    /// Ops that only move or select elements (pools, reshape, pad, concat, relu): quantised
    /// versions keep the input type; `requant_free` ops need the same parameters in and out.
    fn order_op(&mut self, k: usize, vals: Vec<Value>, layout: Layout, kind: OpKind, shape: Vec<usize>, requant_free: bool) -> Result<Option<(Emit, Tail)>> {
        // No fused activation: only conv, depthwise, FC and ADD carry one in the IR.
        let mut tail = self.tail(k, false)?;
        if requant_free {
            if let Some((_, p, _)) = &tail.q {
                let want = Some(p.quant(0));
                let same = vals.iter().all(|v| match v {
                    Value::DqAct(x) => self.graph.tensors[*x].quant == want,
                    Value::DqConst(c) => Some(c.params.quant(0)) == want,
                    _ => true,
                });
                if !same {
                    tail.q = None; // a requantising move: run it on floats, QUANTIZE after
                }
            }
        }
        let Some((inputs, quantised)) = self.act_inputs(&vals, layout, &tail)? else { return Ok(None) };
        if !quantised {
            tail.q = None;
        }
        let first = inputs[0];
        let dtype = self.graph.tensors[first].dtype;
        let quant = if quantised { None } else { self.graph.tensors[first].quant.clone() };
        Ok(Some((Emit { kind, inputs, shape, layout, dtype, quant }, tail)))
    }
}
