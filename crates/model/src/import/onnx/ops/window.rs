//! The window attributes (strides, dilations, pads, auto_pad) of Conv and the pools.

use super::super::attrs::{attr_ints, attr_s};
use super::super::{Builder, MAX_WINDOW_INT};
use crate::error::Result;
use crate::graph::{Padding, Window};

impl<'g> Builder<'g> {
    /// Resolve the window attributes of a Conv or pool over input `[h, w]` with kernel `[kh, kw]`.
    /// `Ok(None)` when valid but not expressible; errors for malformed attributes.
    pub(super) fn window(&self, k: usize, hw: [usize; 2], kernel: [usize; 2], allow_dilation: bool) -> Result<Option<(Window, [usize; 2])>> {
        let n = self.node(k);
        let pair = |name: &str, default: i64, lo: i64| -> Result<[usize; 2]> {
            match attr_ints(n, name) {
                None => Ok([default as usize; 2]),
                Some([a, b]) if (lo..=MAX_WINDOW_INT).contains(a) && (lo..=MAX_WINDOW_INT).contains(b) => Ok([*a as usize, *b as usize]),
                Some(v) => Err(self.bad_op(k, format!("attribute {name} = {v:?}: need two values in {lo}..={MAX_WINDOW_INT}"))),
            }
        };
        let stride = pair("strides", 1, 1)?;
        let dilation = pair("dilations", 1, 1)?;
        if !allow_dilation && dilation != [1, 1] {
            return Ok(None);
        }
        if kernel.iter().any(|&x| x == 0 || x as i64 > MAX_WINDOW_INT) {
            return Err(self.bad_op(k, format!("kernel {kernel:?} out of range")));
        }
        // Keep the padding arithmetic far from usize overflow on 32-bit targets.
        for i in 0..2 {
            let eff = (kernel[i] as u64 - 1) * dilation[i] as u64 + 1;
            if eff > 1 << 20 {
                return Err(self.bad_op(k, format!("kernel {kernel:?} with dilation {dilation:?} spans more than 2^20 pixels")));
            }
        }
        let pads = match attr_ints(n, "pads") {
            None => [0usize; 4],
            Some(p) if p.len() == 4 && p.iter().all(|x| (0..=MAX_WINDOW_INT).contains(x)) => [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize],
            Some(p) => return Err(self.bad_op(k, format!("attribute pads = {p:?}: need four values in 0..={MAX_WINDOW_INT}"))),
        };
        let auto_pad = attr_s(n, "auto_pad").unwrap_or_default();
        let fits = |p: Padding| -> Option<[usize; 2]> {
            let (_, oh) = p.resolve(0, hw[0], kernel[0], stride[0], dilation[0])?;
            let (_, ow) = p.resolve(1, hw[1], kernel[1], stride[1], dilation[1])?;
            Some([oh, ow])
        };
        let padding = match auto_pad.as_str() {
            "" | "NOTSET" => {
                // ONNX pads are [h_begin, w_begin, h_end, w_end].
                let explicit = Padding::Explicit { top: pads[0], left: pads[1], bottom: pads[2], right: pads[3] };
                if pads == [0; 4] {
                    Padding::Valid
                } else if same_pads(hw, kernel, stride, dilation) == Some(pads) {
                    // Identical to TFLite SAME (odd pixel at the end): say so, planners and
                    // kernels know SAME best.
                    Padding::Same
                } else {
                    explicit
                }
            }
            "VALID" => Padding::Valid,
            "SAME_UPPER" => Padding::Same,
            "SAME_LOWER" => match same_pads(hw, kernel, stride, dilation) {
                // SAME with the odd pixel at the beginning.
                Some([t, l, b, r]) => Padding::Explicit { top: b, left: r, bottom: t, right: l },
                None => return Ok(None),
            },
            other => return Err(self.bad_op(k, format!("auto_pad \"{other}\" is not NOTSET, SAME_UPPER, SAME_LOWER or VALID"))),
        };
        let Some(out) = fits(padding) else {
            return Err(self.bad_op(k, format!("window {kernel:?} (stride {stride:?}, dilation {dilation:?}) does not fit input {hw:?} with its padding")));
        };
        Ok(Some((Window { stride, dilation, padding }, out)))
    }
}

/// Explicit pads `[top, left, bottom, right]` that TFLite SAME padding gives.
fn same_pads(hw: [usize; 2], kernel: [usize; 2], stride: [usize; 2], dilation: [usize; 2]) -> Option<[usize; 4]> {
    let (h, _) = Padding::Same.resolve(0, hw[0], kernel[0], stride[0], dilation[0])?;
    let (w, _) = Padding::Same.resolve(1, hw[1], kernel[1], stride[1], dilation[1])?;
    Some([h.before, w.before, h.after, w.after])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_detection() {
        // 3x3 stride 1 on 8x8: SAME is one pixel each side.
        assert_eq!(same_pads([8, 8], [3, 3], [1, 1], [1, 1]), Some([1, 1, 1, 1]));
        // 3x3 stride 2 on 32x32: SAME needs 1 pixel, at the end (TFLite): [0, 0, 1, 1].
        assert_eq!(same_pads([32, 32], [3, 3], [2, 2], [1, 1]), Some([0, 0, 1, 1]));
    }
}
