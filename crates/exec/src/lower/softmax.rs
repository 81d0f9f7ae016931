//! SOFTMAX over the last axis.

use super::{Ctx, Weights};
use crate::{Kernels, Result};
use msf_runtime::quant::softmax_params;
use msf_runtime::record::{Kind, Record, Softmax, SoftmaxArith};

pub(super) fn lower(cx: &Ctx, wts: &mut Weights, beta: f32) -> Result<Record> {
    let (tx, ty) = (cx.tx(), cx.ty());
    let depth = *tx.shape.last().ok_or_else(|| cx.err("scalar SOFTMAX"))?;
    if depth == 0 || tx.shape != ty.shape {
        return Err(cx.err("SOFTMAX shape"));
    }
    let rows = tx.num_elements() / depth;
    let arith = if cx.int8() {
        let ((sx, _), (sy, zy)) = cx.qxy()?;
        if sy != 1.0 / 256.0 || zy != -128 {
            return Err(cx.err("int8 SOFTMAX output must have scale 1/256 and zero point -128"));
        }
        if cx.kernels == Kernels::Optimized {
            // LiteRT's PopulateSoftmaxLookupTable: table[255 - v] = expf(-scale * beta * v).
            let sc = -sx * beta;
            let mut table = [0f32; 256];
            for v in 0..256usize {
                table[255 - v] = (sc * v as f32).exp();
            }
            SoftmaxArith::Lut { table: wts.push_f32(&table), out_scale: sy, out_zp: zy }
        } else {
            let (input_mult, left_shift, diff_min) = softmax_params(beta as f64, sx as f64);
            SoftmaxArith::I8 { input_mult, left_shift, diff_min }
        }
    } else if cx.f32io() {
        SoftmaxArith::F32 { beta }
    } else {
        return Err(cx.err("SOFTMAX dtype"));
    };
    cx.record(Kind::Softmax(Softmax { rows: rows as u32, depth: depth as u32, arith }))
}
