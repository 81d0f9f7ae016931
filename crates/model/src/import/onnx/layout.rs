//! How an IR activation's elements relate to the ONNX tensor of the same name ([`Layout`]).

/// How the elements of an IR activation relate to the ONNX tensor of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Same shape, same element order.
    Plain,
    /// ONNX `[N, C, H, W]`, IR `[N, H, W, C]`.
    Nhwc,
    /// ONNX `[N, C*H*W]` in (c, h, w) order; the IR holds the same shape in (h, w, c) order
    /// (the flatten of an NHWC tensor). Never used when `h * w == 1` (the orders agree).
    FlatNhwc { h: usize, w: usize, c: usize },
}

/// IR shape of an ONNX shape in `layout`.
pub(super) fn ir_shape(onnx: &[usize], layout: Layout) -> Vec<usize> {
    match layout {
        Layout::Nhwc if onnx.len() == 4 => vec![onnx[0], onnx[2], onnx[3], onnx[1]],
        _ => onnx.to_vec(),
    }
}

/// Whether a tensor in `layout` with ONNX shape `shape` stores its elements in ONNX order.
pub(super) fn onnx_ordered(shape: &[usize], layout: Layout) -> bool {
    match layout {
        Layout::Plain => true,
        // NHWC and NCHW orders agree when only one of C and H*W is more than 1.
        Layout::Nhwc => shape.len() == 4 && (shape[1] == 1 || shape[2] * shape[3] == 1),
        Layout::FlatNhwc { h, w, .. } => h * w == 1,
    }
}

/// The layout a reshape from (`from`, `layout`) to ONNX shape `to` produces, if the IR can do it
/// with a plain RESHAPE (which keeps element order).
pub(super) fn reshape_layout(from: &[usize], layout: Layout, to: &[usize]) -> Option<Layout> {
    let out_layout = |to: &[usize]| {
        if to.len() == 4 {
            // A rank-4 result is an activation the IR keeps NHWC; a plain reshape can produce it
            // only if its NHWC and NCHW orders agree.
            (to[1] == 1 || to[2] * to[3] == 1).then_some(Layout::Nhwc)
        } else {
            Some(Layout::Plain)
        }
    };
    if onnx_ordered(from, layout) {
        return out_layout(to);
    }
    match layout {
        Layout::Nhwc if from.len() == 4 && to.len() == 4 && from == to => Some(Layout::Nhwc),
        // Flatten: [N, C, H, W] -> [N, C*H*W] of an NHWC tensor keeps (h, w, c) order.
        Layout::Nhwc if from.len() == 4 && to.len() == 2 && to[0] == from[0] && to[1] == from[1] * from[2] * from[3] => {
            Some(Layout::FlatNhwc { h: from[2], w: from[3], c: from[1] })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_of_reshapes() {
        // Flatten of NHWC [1, 16, 4, 4] keeps (h, w, c) order.
        assert_eq!(reshape_layout(&[1, 16, 4, 4], Layout::Nhwc, &[1, 256]), Some(Layout::FlatNhwc { h: 4, w: 4, c: 16 }));
        // After a global pool H = W = 1: both orders agree.
        assert_eq!(reshape_layout(&[1, 16, 1, 1], Layout::Nhwc, &[1, 16]), Some(Layout::Plain));
        // [1, 256] -> [1, 16, 4, 4] from a plain tensor cannot be an NHWC reshape.
        assert_eq!(reshape_layout(&[1, 256], Layout::Plain, &[1, 16, 4, 4]), None);
        assert_eq!(reshape_layout(&[1, 16], Layout::Plain, &[1, 16, 1, 1]), Some(Layout::Nhwc));
        // Reshape [1, 2, 3, 4] -> [1, 6, 4] mixes C with H: not expressible.
        assert_eq!(reshape_layout(&[1, 2, 3, 4], Layout::Nhwc, &[1, 6, 4]), None);
    }
}
