//! CONCATENATION: one strided copy per input into its slice of the output (requantising an
//! int8 input whose quantisation differs from the output's).

use super::{scale_zp, Ctx};
use crate::Result;
use msf_model::{Activation, DType};
use msf_runtime::record::{Copy, CopyRequant, Kind, Record};

pub(super) fn lower(cx: &Ctx, axis: usize, activation: Activation) -> Result<Vec<Record>> {
    if activation != Activation::None {
        return Err(cx.err("CONCATENATION with a fused activation"));
    }
    let ty = cx.ty();
    let es = ty.dtype.size().ok_or_else(|| cx.err("dtype"))?;
    let outer: usize = ty.shape[..axis].iter().product();
    let out_inner: usize = ty.shape[axis..].iter().product::<usize>() * es;
    let mut cum = 0usize;
    let mut records = Vec::new();
    for &xi in &cx.op().inputs {
        let t = cx.tensor(xi);
        if t.dtype != ty.dtype {
            return Err(cx.err("CONCATENATION of mixed dtypes"));
        }
        if t.is_constant() {
            return Err(cx.err("CONCATENATION of a constant"));
        }
        let inner = t.shape[axis..].iter().product::<usize>() * es;
        let requant = if ty.dtype == DType::Int8 && scale_zp(cx.g, xi) != scale_zp(cx.g, cx.y) {
            let (si, zi) = cx.q(xi, "int8 input without quantisation")?;
            let (so, zo) = cx.q(cx.y, "int8 output without quantisation")?;
            // TFLite's ConcatenationWithScaling, in f32.
            let scale = si * (1.0f32 / so);
            Some(CopyRequant { scale, bias: -(zi as f32) * scale, out_zp: zo })
        } else {
            None
        };
        let copy = Copy { rows: outer as u32, len: inner as u32, src_stride: inner as u32, dst_stride: out_inner as u32, requant };
        records.push(Record { tag: cx.y as u32, in0: cx.arena(xi)?, in1: 0, out: cx.arena(cx.y)? + cum as u32, scratch: 0, kind: Kind::Copy(copy) });
        cum += inner;
    }
    if cum != out_inner {
        return Err(cx.err("CONCATENATION sizes"));
    }
    Ok(records)
}
