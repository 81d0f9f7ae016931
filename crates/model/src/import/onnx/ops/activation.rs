//! Softmax and the stand-alone activations (Relu, Clip, Sigmoid) no op before could absorb.

use super::super::attrs::{attr_i, norm_axis};
use super::super::tail::Tail;
use super::super::{Builder, Emit, Layout, Value};
use crate::error::Result;
use crate::graph::{DType, OpKind};

impl<'g> Builder<'g> {
    pub(in crate::import::onnx) fn softmax(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Some((xs, xl, xdt)) = self.act_info(&x) else { return Ok(None) };
        let default_axis = if self.opset >= 13 { -1 } else { 1 };
        let Some(axis) = norm_axis(attr_i(&self.nodes[k], "axis", default_axis), xs.len()) else { return Err(self.bad_op(k, "axis out of range")) };
        let rank = xs.len();
        // Before opset 13 Softmax normalises over all axes from `axis` on; from 13, over `axis`.
        // The IR's SOFTMAX normalises over its last axis: the two agree on the last axis only.
        let ok = match xl {
            Layout::Plain | Layout::FlatNhwc { .. } => axis == rank - 1,
            // Channels of NHWC are the IR's last axis.
            Layout::Nhwc => axis == 1 && (self.opset >= 13 || xs[2] * xs[3] == 1),
        };
        if !ok || (xdt != DType::Float32 && !matches!(x, Value::DqAct(_))) {
            return Ok(None);
        }
        // A row of a flattened NHWC tensor holds the same elements in another order: softmax
        // over the whole row commutes with that permutation.
        self.order_op(k, vec![x], xl, OpKind::Softmax { beta: 1.0 }, xs, false)
    }

    pub(in crate::import::onnx) fn unary(&mut self, k: usize, kind: OpKind) -> Result<Option<(Emit, Tail)>> {
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Some((xs, xl, xdt)) = self.act_info(&x) else { return Ok(None) };
        if xdt != DType::Float32 && !matches!(x, Value::DqAct(_)) {
            return Ok(None);
        }
        self.order_op(k, vec![x], xl, kind, xs, false)
    }
}
