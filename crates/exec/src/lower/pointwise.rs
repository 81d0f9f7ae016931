//! One-input elementwise ops: LOGISTIC, QUANTIZE, DEQUANTIZE, RELU / RELU6.

use super::{act_f32, act_i8, Ctx, Weights};
use crate::Result;
use msf_model::{Activation, DType};
use msf_runtime::quant::quantize_multiplier;
use msf_runtime::record::{Act, Kind, Pointwise, PointwiseFn, Record};

fn record(cx: &Ctx, n: usize, f: PointwiseFn) -> Result<Record> {
    cx.record(Kind::Pointwise(Pointwise { n: n as u32, f }))
}

pub(super) fn logistic(cx: &Ctx, wts: &mut Weights) -> Result<Record> {
    let n = cx.ty().num_elements();
    if cx.int8() {
        let ((sx, zx), (sy, zy)) = cx.qxy()?;
        // TFLite's PopulateLookupTable: dequantise, sigmoid in float, requantise.
        let inv = 1.0f32 / sy;
        let table: Vec<u8> = (0..256)
            .map(|k| {
                let v = (k as u8) as i8 as i32;
                let xq = sx * (v - zx) as f32;
                let t = 1.0f32 / (1.0 + (-xq).exp());
                let q = (t * inv).round() as i32 + zy;
                q.clamp(-128, 127) as i8 as u8
            })
            .collect();
        let kind = PointwiseFn::Lut { table: wts.push(&table) };
        record(cx, n, kind)
    } else if cx.f32io() {
        record(cx, n, PointwiseFn::LogisticF32)
    } else {
        Err(cx.err("LOGISTIC dtype"))
    }
}

pub(super) fn quantize(cx: &Ctx) -> Result<Record> {
    let n = cx.ty().num_elements();
    let (sy, zy) = cx.q(cx.y, "QUANTIZE output without quantisation")?;
    if cx.tx().dtype == DType::Float32 && cx.ty().dtype == DType::Int8 {
        record(cx, n, PointwiseFn::Quantize { scale: sy, zp: zy })
    } else if cx.int8() {
        let (sx, zx) = cx.q(cx.x, "QUANTIZE input without quantisation")?;
        let (mult, shift) = quantize_multiplier(sx as f64 / sy as f64);
        record(cx, n, PointwiseFn::Requant { in_zp: zx, out_zp: zy, mult, shift })
    } else {
        Err(cx.err("QUANTIZE dtype"))
    }
}

pub(super) fn dequantize(cx: &Ctx) -> Result<Record> {
    if cx.tx().dtype != DType::Int8 || cx.ty().dtype != DType::Float32 {
        return Err(cx.err("DEQUANTIZE supports int8 -> float32"));
    }
    let (sx, zx) = cx.q(cx.x, "DEQUANTIZE input without quantisation")?;
    record(cx, cx.ty().num_elements(), PointwiseFn::Dequantize { scale: sx, zp: zx })
}

/// RELU and RELU6 as a clamp of the output range.
pub(super) fn relu(cx: &Ctx, a: Activation) -> Result<Record> {
    let n = cx.ty().num_elements();
    if cx.int8() {
        let ((sx, zx), (sy, zy)) = cx.qxy()?;
        if sx != sy || zx != zy {
            return Err(cx.err("int8 RELU with different input and output quantisation"));
        }
        let Act::I8 { min, max } = act_i8(a, (sy, zy)) else { return Err(cx.err("RELU range")) };
        record(cx, n, PointwiseFn::ClampI8 { min, max })
    } else if cx.f32io() {
        let Act::F32 { min, max } = act_f32(a) else { return Err(cx.err("RELU range")) };
        record(cx, n, PointwiseFn::ClampF32 { min, max })
    } else {
        Err(cx.err("RELU dtype"))
    }
}
