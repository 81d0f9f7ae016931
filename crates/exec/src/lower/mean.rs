//! MEAN over height and width.

use super::{nhwc, Ctx};
use crate::Result;
use msf_runtime::quant::quantize_multiplier;
use msf_runtime::record::{Kind, Mean, MeanArith, Record};

pub(super) fn lower(cx: &Ctx, axes: &[usize]) -> Result<Record> {
    let (tx, ty) = (cx.tx(), cx.ty());
    let (ih, iw, ic) = nhwc(tx).ok_or_else(|| cx.err("MEAN input is not a batch-1 NHWC map"))?;
    let mut ax = axes.to_vec();
    ax.sort_unstable();
    if ax != [1, 2] || tx.shape.len() != 4 {
        return Err(cx.err("MEAN is supported over height and width of a 4D map only"));
    }
    if ty.num_elements() != ic {
        return Err(cx.err("MEAN output size"));
    }
    let arith = if cx.int8() {
        let ((sx, zx), (sy, zy)) = cx.qxy()?;
        let (mult, shift) = quantize_multiplier(sx as f64 / sy as f64);
        MeanArith::I8 { in_zp: zx, out_zp: zy, mult, shift }
    } else if cx.f32io() {
        MeanArith::F32
    } else {
        return Err(cx.err("MEAN dtype"));
    };
    cx.record(Kind::Mean(Mean { h: ih as u32, w: iw as u32, c: ic as u32, arith }))
}
