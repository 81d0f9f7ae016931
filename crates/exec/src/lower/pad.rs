//! PAD of height and width.

use super::{nhwc, window_geom, Ctx};
use crate::Result;
use msf_runtime::record::{Kind, Pad, PadValue, Record};

pub(super) fn lower(cx: &Ctx, paddings: &[[usize; 2]]) -> Result<Record> {
    let (ih, iw, ic) = nhwc(cx.tx()).ok_or_else(|| cx.err("input is not a batch-1 NHWC map"))?;
    let (oh, ow, oc) = nhwc(cx.ty()).ok_or_else(|| cx.err("output is not a batch-1 NHWC map"))?;
    if paddings.len() != 4 {
        return Err(cx.err("PAD of a non-4D tensor"));
    }
    if paddings[0] != [0, 0] || paddings[3] != [0, 0] {
        return Err(cx.err("PAD on batch or channels is not supported (height and width only)"));
    }
    if oh != ih + paddings[1][0] + paddings[1][1] || ow != iw + paddings[2][0] + paddings[2][1] || oc != ic {
        return Err(cx.err("PAD output shape"));
    }
    // A 1x1 stride-1 window with the padding before: the spatial kernels' own geometry.
    let geom = window_geom((ih, iw, ic), (oh, ow, oc), [1, 1], [1, 1], [1, 1], [paddings[1][0], paddings[2][0]]);
    let value = if cx.int8() {
        let (_, (_, zy)) = cx.qxy()?;
        PadValue::I8(zy as i8)
    } else if cx.f32io() {
        PadValue::F32(0.0)
    } else {
        return Err(cx.err("PAD dtype"));
    };
    cx.record(Kind::Pad(Pad { geom, value }))
}
