//! FULLY_CONNECTED.

use super::{act_f32, act_i8, channel_multipliers, fold_bias, Ctx, Weights};
use crate::Result;
use msf_model::{Activation, DType};
use msf_runtime::record::{ChannelQuant, Fc, Kind, Record};

pub(super) fn lower(cx: &Ctx, wts: &mut Weights, activation: Activation) -> Result<Record> {
    let (tx, ty) = (cx.tx(), cx.ty());
    let wt = cx.input(1, "weights")?;
    if wt.shape.len() != 2 {
        return Err(cx.err("weights are not 2D"));
    }
    let (od, id) = (wt.shape[0], wt.shape[1]);
    if id == 0 || tx.num_elements() % id != 0 {
        return Err(cx.err("input size is not a multiple of the weights' input dimension"));
    }
    let rows = tx.num_elements() / id;
    if ty.num_elements() != rows * od {
        return Err(cx.err("output size"));
    }
    let bias = cx.op().inputs.get(2).map(|&b| cx.tensor(b));
    let (weights, bias, quant, act) = if cx.int8() && wt.dtype == DType::Int8 {
        let ((sx, zx), (sy, zy)) = cx.qxy()?;
        let wq = wt.quant.as_ref().ok_or_else(|| cx.err("int8 weights without quantisation"))?;
        if wq.zero_point.iter().any(|&z| z != 0) {
            return Err(cx.err("weights zero point is not 0"));
        }
        let wdata = wt.data.as_ref().ok_or_else(|| cx.err("weights are not constant"))?;
        let b32 = match bias {
            Some(b) => b.data_i32().ok_or_else(|| cx.err("bias is not constant"))?,
            None => vec![0; od],
        };
        if b32.len() != od {
            return Err(cx.err("bias length"));
        }
        let folded = fold_bias(&b32, zx, |o| wdata[o * id..(o + 1) * id].iter().map(|&b| b as i8 as i32).sum());
        let (mult, shift) = channel_multipliers(sx, &wq.scale, sy, od);
        let weights = wts.push(wdata);
        let bias = wts.push_i32(&folded);
        let (mult, shift) = (wts.push_i32(&mult), wts.push_i32(&shift));
        let single_rounding = cx.kernels == crate::Kernels::Optimized;
        (weights, bias, Some(ChannelQuant { mult, shift, in_zp: zx, out_zp: zy, single_rounding }), act_i8(activation, (sy, zy)))
    } else if cx.f32io() && wt.dtype == DType::Float32 {
        let wf = wt.data_f32().ok_or_else(|| cx.err("weights are not constant"))?;
        let bf = match bias {
            Some(b) => b.data_f32().ok_or_else(|| cx.err("bias is not constant"))?,
            None => vec![0.0; od],
        };
        let weights = wts.push_f32(&wf);
        (weights, wts.push_f32(&bf), None, act_f32(activation))
    } else {
        return Err(cx.err("FULLY_CONNECTED dtype"));
    };
    cx.record(Kind::Fc(Fc { rows: rows as u32, in_dim: id as u32, out_dim: od as u32, weights, bias, quant, act }))
}
