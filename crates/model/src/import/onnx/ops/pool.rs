//! MaxPool, AveragePool and GlobalAveragePool (as MEAN over H and W).

use super::super::attrs::{attr_i, attr_ints};
use super::super::tail::Tail;
use super::super::{Builder, Emit, Layout, Value, MAX_WINDOW_INT};
use crate::error::Result;
use crate::graph::{Activation, DType, OpKind, Padding};

impl<'g> Builder<'g> {
    pub(in crate::import::onnx) fn pool(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let n = self.node(k);
        let is_max = n.op_type == "MaxPool";
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Some((xs, xl, xdt)) = self.act_info(&x) else { return Ok(None) };
        if xs.len() != 4 || xl != Layout::Nhwc || n.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Ok(None);
        }
        let kernel = match attr_ints(n, "kernel_shape") {
            Some([a, b]) if (1..=MAX_WINDOW_INT).contains(a) && (1..=MAX_WINDOW_INT).contains(b) => [*a as usize, *b as usize],
            other => return Err(self.bad_op(k, format!("kernel_shape {other:?}: need two values in 1..={MAX_WINDOW_INT}"))),
        };
        let ceil_mode = attr_i(n, "ceil_mode", 0) != 0;
        let count_include_pad = attr_i(n, "count_include_pad", 0) != 0;
        let Some((window, [oh, ow])) = self.window(k, [xs[2], xs[3]], kernel, false)? else { return Ok(None) };
        if ceil_mode {
            // ceil_mode rounds the output size up; the IR's pools round down. They agree when
            // the windows tile the padded input exactly.
            for axis in 0..2 {
                let Some((p, _)) = window.padding.resolve(axis, xs[2 + axis], kernel[axis], window.stride[axis], 1) else { return Ok(None) };
                if (xs[2 + axis] + p.before + p.after - kernel[axis]) % window.stride[axis] != 0 {
                    return Ok(None);
                }
            }
        }
        if !is_max && count_include_pad && window.padding != Padding::Valid {
            return Ok(None); // the IR's average pool divides by the in-image count
        }
        if xdt != DType::Float32 && !matches!(x, Value::DqAct(_)) && !is_max {
            return Ok(None);
        }
        let kind = if is_max {
            OpKind::MaxPool2d { filter: kernel, window, activation: Activation::None }
        } else {
            OpKind::AveragePool2d { filter: kernel, window, activation: Activation::None }
        };
        // MaxPool never requantises in TFLite; AveragePool may in ONNX, not in the IR's kernels.
        self.order_op(k, vec![x], Layout::Nhwc, kind, vec![xs[0], xs[1], oh, ow], true)
    }

    pub(in crate::import::onnx) fn global_avg_pool(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Some((xs, xl, xdt)) = self.act_info(&x) else { return Ok(None) };
        if xs.len() != 4 || xl != Layout::Nhwc || (xdt != DType::Float32 && !matches!(x, Value::DqAct(_))) {
            return Ok(None);
        }
        // MEAN over H and W of NHWC, kept as [N, 1, 1, C]; int8 MEAN may requantise.
        self.order_op(k, vec![x], Layout::Nhwc, OpKind::Mean { axes: vec![1, 2], keep_dims: true }, vec![xs[0], xs[1], 1, 1], false)
    }
}
