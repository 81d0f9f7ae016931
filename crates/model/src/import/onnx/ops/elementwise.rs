//! Add, with numpy broadcasting.

use super::super::layout::onnx_ordered;
use super::super::tail::Tail;
use super::super::{Builder, Emit, Layout, Value};
use crate::error::Result;
use crate::graph::{Activation, DType, OpKind};

impl<'g> Builder<'g> {
    pub(in crate::import::onnx) fn add(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let (Some(a), Some(b)) = (self.input(k, 0)?, self.input(k, 1)?) else { return Err(self.bad_op(k, "Add needs two inputs")) };
        let ia = self.act_info(&a);
        let ib = self.act_info(&b);
        let const_shape = |v: &Value| match v {
            Value::Const(c) => Some(c.dims.clone()),
            Value::DqConst(d) => Some(d.q.dims.clone()),
            _ => None,
        };
        let (layout, sa, sb) = match (&ia, &ib) {
            (Some((sa, la, _)), Some((sb, lb, _))) if la == lb && (onnx_ordered(sa, *la) || sa == sb) => (*la, sa.clone(), sb.clone()),
            (Some((sa, la, _)), None) => (*la, sa.clone(), const_shape(&b).unwrap_or_default()),
            (None, Some((sb, lb, _))) => (*lb, const_shape(&a).unwrap_or_default(), sb.clone()),
            _ => return Ok(None),
        };
        if matches!(layout, Layout::FlatNhwc { .. }) && sa != sb {
            return Ok(None);
        }
        if layout == Layout::Nhwc && (sa.len() > 4 || sb.len() > 4) {
            return Ok(None);
        }
        let Some(shape) = broadcast(&sa, &sb) else { return Err(self.bad_op(k, format!("shapes {sa:?} and {sb:?} do not broadcast"))) };
        let tail = self.tail(k, true)?;
        let Some((inputs, quantised)) = self.act_inputs(&[a, b], layout, &tail)? else { return Ok(None) };
        if !quantised && inputs.iter().any(|&i| self.graph.tensors[i].dtype != DType::Float32) {
            return Ok(None);
        }
        let tail = if quantised { tail } else { Tail { q: None, ..tail } };
        Ok(Some((Emit { kind: OpKind::Add { activation: Activation::None }, inputs, shape, layout, dtype: DType::Float32, quant: None }, tail)))
    }
}

/// Numpy-style broadcast of two shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let get = |s: &[usize], i: usize| if i + s.len() < r { 1 } else { s[i + s.len() - r] };
    (0..r)
        .map(|i| match (get(a, i), get(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_shapes() {
        assert_eq!(broadcast(&[1, 8, 4, 4], &[8, 1, 1]), Some(vec![1, 8, 4, 4]));
        assert_eq!(broadcast(&[2, 3], &[4]), None);
    }
}
