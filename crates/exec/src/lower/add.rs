//! ADD of two same-shaped tensors.

use super::{act_f32, act_i8, Ctx, Weights};
use crate::Result;
use msf_model::{Activation, DType};
use msf_runtime::quant::quantize_multiplier;
use msf_runtime::record::{Act, Add, AddArith, Kind, Record};

pub(super) fn lower(cx: &Ctx, wts: &mut Weights, activation: Activation) -> Result<Record> {
    let x2 = *cx.op().inputs.get(1).ok_or_else(|| cx.err("ADD needs two inputs"))?;
    let (t2, ty) = (cx.tensor(x2), cx.ty());
    if cx.tx().shape != ty.shape || t2.shape != ty.shape {
        return Err(cx.err("ADD with broadcasting is not supported"));
    }
    let n = ty.num_elements() as u32;
    let in1 = cx.arena(x2)?;
    let arith = if cx.int8() && t2.dtype == DType::Int8 {
        let ((s1, z1), (sy, zy)) = cx.qxy()?;
        let (s2, z2) = cx.q(x2, "int8 input without quantisation")?;
        // TFLite's Prepare for int8 ADD: inputs rescaled to 2*max(s1,s2) with 20 bits of
        // headroom, the sum rescaled to the output.
        let left_shift = 20;
        let twice_max = 2.0 * (s1.max(s2) as f64);
        let (m1, sh1) = quantize_multiplier(s1 as f64 / twice_max);
        let (m2, sh2) = quantize_multiplier(s2 as f64 / twice_max);
        let (mo, sho) = quantize_multiplier(twice_max / ((1i64 << left_shift) as f64 * sy as f64));
        let Act::I8 { min, max } = act_i8(activation, (sy, zy)) else { return Err(cx.err("ADD activation")) };
        let mult = wts.push_i32(&[m1, sh1, m2, sh2, mo, sho]);
        AddArith::I8 { in1_zp: z1, in2_zp: z2, out_zp: zy, left_shift, mult, act: (min, max) }
    } else if cx.f32io() && t2.dtype == DType::Float32 {
        let Act::F32 { min, max } = act_f32(activation) else { return Err(cx.err("ADD activation")) };
        AddArith::F32 { act: (min, max) }
    } else {
        return Err(cx.err("ADD dtype"));
    };
    Ok(Record { in1, ..cx.record(Kind::Add(Add { n, arith }))? })
}
