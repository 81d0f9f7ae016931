//! CONV_2D and DEPTHWISE_CONV_2D.

use super::{act_f32, act_i8, channel_multipliers, fold_bias, nhwc, window_geom, Ctx, Weights};
use crate::Result;
use msf_model::{Activation, DType, Window};
use msf_runtime::record::{ChannelQuant, Conv, Kind, Record};

/// Float convs with receptive fields up to this length get input-major weights.
const IO_MAX_K_F32: usize = 32;

/// `depth_multiplier`: `Some` for a depthwise conv.
pub(super) fn lower(cx: &Ctx, wts: &mut Weights, window: &Window, activation: Activation, depth_multiplier: Option<usize>) -> Result<Record> {
    let depthwise = depth_multiplier.is_some();
    let dm = depth_multiplier.unwrap_or(1);
    let (tx, ty) = (cx.tx(), cx.ty());
    let wt = cx.input(1, "filter")?;
    let wdata = wt.data.as_ref().ok_or_else(|| cx.err("filter is not constant"))?;
    let (ih, iw, ic) = nhwc(tx).ok_or_else(|| cx.err("input is not a batch-1 NHWC map"))?;
    let (oh, ow, oc) = nhwc(ty).ok_or_else(|| cx.err("output is not a batch-1 NHWC map"))?;
    if wt.shape.len() != 4 {
        return Err(cx.err("filter is not 4D"));
    }
    let (kh, kw) = (wt.shape[1], wt.shape[2]);
    let (ph, oh2) = window.padding.resolve(0, ih, kh, window.stride[0], window.dilation[0]).ok_or_else(|| cx.err("window does not fit"))?;
    let (pw, ow2) = window.padding.resolve(1, iw, kw, window.stride[1], window.dilation[1]).ok_or_else(|| cx.err("window does not fit"))?;
    if (oh2, ow2) != (oh, ow) {
        return Err(cx.err(format!("output {oh}x{ow} disagrees with the padding ({oh2}x{ow2})")));
    }
    let geom = window_geom((ih, iw, ic), (oh, ow, oc), [kh, kw], window.stride, window.dilation, [ph.before, pw.before]);
    let per_co = if depthwise { kh * kw } else { kh * kw * ic };
    if wt.num_elements() != oc * per_co || (!depthwise && wt.shape[3] != ic) || (depthwise && oc != ic * dm) {
        return Err(cx.err("filter shape does not match input/output channels"));
    }
    let bias = cx.op().inputs.get(2).map(|&b| cx.tensor(b));
    let conv = if cx.int8() && wt.dtype == DType::Int8 {
        let ((sx, zx), (sy, zy)) = cx.qxy()?;
        let wq = wt.quant.as_ref().ok_or_else(|| cx.err("int8 filter without quantisation"))?;
        if wq.zero_point.iter().any(|&z| z != 0) {
            return Err(cx.err("filter zero point is not 0"));
        }
        let w8: Vec<i8> = wdata.iter().map(|&b| b as i8).collect();
        let b32: Vec<i32> = match bias {
            Some(b) => b.data_i32().ok_or_else(|| cx.err("bias is not constant"))?,
            None => vec![0; oc],
        };
        if b32.len() != oc {
            return Err(cx.err("bias length differs from output channels"));
        }
        let folded = fold_bias(&b32, zx, |co| {
            if depthwise {
                (0..kh * kw).map(|t| w8[t * oc + co] as i32).sum()
            } else {
                w8[co * per_co..(co + 1) * per_co].iter().map(|&v| v as i32).sum()
            }
        });
        let (mult, shift) = channel_multipliers(sx, &wq.scale, sy, oc);
        // OHWI, as in the file: the runtime's input-major int8 kernel (spatial::conv_io_i8)
        // measured no faster on the corpus (thread CPU time and callgrind instruction counts,
        // x86_64 with the SSE2 dot product).
        let weights = wts.push(wdata);
        let bias = wts.push_i32(&folded);
        let (mult, shift) = (wts.push_i32(&mult), wts.push_i32(&shift));
        // Only CONV has LiteRT-optimized rounding; its depthwise kernel rounds as the reference.
        let single_rounding = !depthwise && cx.kernels == crate::Kernels::Optimized;
        let quant = Some(ChannelQuant { mult, shift, in_zp: zx, out_zp: zy, single_rounding });
        Conv { geom, depthwise, depth_multiplier: dm as u32, input_major: false, weights, bias, quant, act: act_i8(activation, (sy, zy)) }
    } else if cx.f32io() && wt.dtype == DType::Float32 {
        let wf = wt.data_f32().ok_or_else(|| cx.err("filter is not constant"))?;
        let bf = match bias {
            Some(b) => b.data_f32().ok_or_else(|| cx.err("bias is not constant"))?,
            None => vec![0.0; oc],
        };
        // Float convs with short receptive fields run input-major (vectorised over the output
        // channels; the float dot products gain little from SIMD at K <= 32).
        let input_major = !depthwise && per_co <= IO_MAX_K_F32 && oc >= 4;
        let weights = if input_major {
            let mut t = vec![0f32; wf.len()];
            for co in 0..oc {
                for j in 0..per_co {
                    t[j * oc + co] = wf[co * per_co + j];
                }
            }
            wts.push_f32(&t)
        } else {
            wts.push_f32(&wf)
        };
        let bias = wts.push_f32(&bf);
        Conv { geom, depthwise, depth_multiplier: dm as u32, input_major, weights, bias, quant: None, act: act_f32(activation) }
    } else {
        return Err(cx.err(format!("{} input with {} filter", tx.dtype, wt.dtype)));
    };
    cx.record(Kind::Conv(conv))
}
