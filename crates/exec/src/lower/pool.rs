//! AVERAGE_POOL_2D and MAX_POOL_2D.

use super::{act_f32, act_i8, nhwc, window_geom, Ctx};
use crate::Result;
use msf_model::{Activation, Window};
use msf_runtime::record::{Kind, Pool, PoolKind, Record};

pub(super) fn lower(cx: &Ctx, filter: [usize; 2], window: &Window, activation: Activation, max: bool) -> Result<Record> {
    let (ih, iw, ic) = nhwc(cx.tx()).ok_or_else(|| cx.err("input is not a batch-1 NHWC map"))?;
    let (oh, ow, oc) = nhwc(cx.ty()).ok_or_else(|| cx.err("output is not a batch-1 NHWC map"))?;
    let (ph, oh2) = window.padding.resolve(0, ih, filter[0], window.stride[0], 1).ok_or_else(|| cx.err("window does not fit"))?;
    let (pw, ow2) = window.padding.resolve(1, iw, filter[1], window.stride[1], 1).ok_or_else(|| cx.err("window does not fit"))?;
    if (oh2, ow2, oc) != (oh, ow, ic) {
        return Err(cx.err("output shape disagrees with the pool window"));
    }
    let geom = window_geom((ih, iw, ic), (oh, ow, oc), filter, window.stride, [1, 1], [ph.before, pw.before]);
    let act = if cx.int8() {
        let ((sx, zx), (sy, zy)) = cx.qxy()?;
        if sx != sy || zx != zy {
            return Err(cx.err("int8 pool with different input and output quantisation"));
        }
        act_i8(activation, (sy, zy))
    } else if cx.f32io() {
        act_f32(activation)
    } else {
        return Err(cx.err("pool dtype"));
    };
    let kind = if max { PoolKind::Max } else { PoolKind::Average };
    cx.record(Kind::Pool(Pool { geom, kind, act }))
}
