//! Non-spatial kernels: fully connected, add, mean, softmax, table lookups, (de)quantisation,
//! copies. Each checks its slice lengths first and returns an error instead of panicking.

use crate::quant::{
    exp_on_negative_values_q5, get_reciprocal, mul_by_quantized_multiplier, rounding_divide_by_pot, round_half_away_f32,
    srdhm,
};
use crate::spatial::Requant;
use crate::Error;

fn need(ok: bool, what: &'static str) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(Error::BadParams(what))
    }
}

/// FULLY_CONNECTED int8: `rows` input vectors of `in_dim`, weights `[out_dim, in_dim]`,
/// per-output requantisation (per-tensor models repeat the multiplier), folded bias.
pub fn fc_i8(rows: usize, in_dim: usize, out_dim: usize, input: &[i8], weights: &[i8], q: &Requant, out: &mut [i8]) -> Result<(), Error> {
    need(
        input.len() >= rows * in_dim && weights.len() >= out_dim * in_dim && out.len() >= rows * out_dim && in_dim > 0,
        "fully connected sizes",
    )?;
    need(q.bias.len() >= out_dim && q.mult.len() >= out_dim && q.shift.len() >= out_dim, "fully connected requant")?;
    for (xin, xout) in input.chunks_exact(in_dim).zip(out.chunks_exact_mut(out_dim)).take(rows) {
        for (o, (wrow, oo)) in weights.chunks_exact(in_dim).zip(xout.iter_mut()).enumerate().take(out_dim) {
            let acc = q.bias[o].wrapping_add(crate::spatial::dot_i8(xin, wrow));
            let m = if q.single_rounding {
                crate::quant::mul_ruy(acc, q.mult[o], q.shift[o])
            } else {
                mul_by_quantized_multiplier(acc, q.mult[o], q.shift[o])
            };
            *oo = m.wrapping_add(q.out_zp).clamp(q.act_min, q.act_max) as i8;
        }
    }
    Ok(())
}

/// FULLY_CONNECTED float32.
pub fn fc_f32(
    rows: usize,
    in_dim: usize,
    out_dim: usize,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    act: (f32, f32),
    out: &mut [f32],
) -> Result<(), Error> {
    need(
        input.len() >= rows * in_dim
            && weights.len() >= out_dim * in_dim
            && out.len() >= rows * out_dim
            && bias.len() >= out_dim
            && in_dim > 0,
        "fully connected sizes",
    )?;
    for (xin, xout) in input.chunks_exact(in_dim).zip(out.chunks_exact_mut(out_dim)).take(rows) {
        for (o, (wrow, oo)) in weights.chunks_exact(in_dim).zip(xout.iter_mut()).enumerate().take(out_dim) {
            *oo = clamp_f32(crate::spatial::dot_f32(xin, wrow) + bias[o], act);
        }
    }
    Ok(())
}

#[inline(always)]
pub(crate) fn clamp_f32(v: f32, act: (f32, f32)) -> f32 {
    let v = if v < act.0 { act.0 } else { v };
    if v > act.1 {
        act.1
    } else {
        v
    }
}

/// ADD int8 parameters, as TFLite's Prepare computes them (left_shift 20).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddParams {
    pub in1_zp: i32,
    pub in2_zp: i32,
    pub out_zp: i32,
    pub left_shift: i32,
    pub in1_mult: i32,
    pub in1_shift: i32,
    pub in2_mult: i32,
    pub in2_shift: i32,
    pub out_mult: i32,
    pub out_shift: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl AddParams {
    #[inline(always)]
    fn one(&self, a: i8, b: i8) -> i8 {
        let ls = 1i32.wrapping_shl(self.left_shift.clamp(0, 30) as u32);
        let a = (a as i32 - self.in1_zp).wrapping_mul(ls);
        let b = (b as i32 - self.in2_zp).wrapping_mul(ls);
        let sa = mul_by_quantized_multiplier(a, self.in1_mult, self.in1_shift);
        let sb = mul_by_quantized_multiplier(b, self.in2_mult, self.in2_shift);
        let raw = mul_by_quantized_multiplier(sa.wrapping_add(sb), self.out_mult, self.out_shift).wrapping_add(self.out_zp);
        raw.clamp(self.act_min, self.act_max) as i8
    }
}

/// ADD int8, same shapes (elementwise).
pub fn add_i8(p: &AddParams, a: &[i8], b: &[i8], out: &mut [i8]) -> Result<(), Error> {
    need(a.len() >= out.len() && b.len() >= out.len(), "add operand sizes")?;
    need(p.act_min <= p.act_max, "add activation range")?;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = p.one(x, y);
    }
    Ok(())
}

/// ADD float32, same shapes.
pub fn add_f32(a: &[f32], b: &[f32], act: (f32, f32), out: &mut [f32]) -> Result<(), Error> {
    need(a.len() >= out.len() && b.len() >= out.len(), "add operand sizes")?;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = clamp_f32(x + y, act);
    }
    Ok(())
}

/// The multiplier and shift TFLite's `QuantizedMeanOrSum` uses after folding `1 / n` into the
/// layer's `input_scale / output_scale` multiplier.
pub fn mean_multiplier(mult: i32, shift: i32, n: usize) -> (i32, i32) {
    if n == 0 {
        return (mult, shift);
    }
    let mut s = 63 - (n as u64).leading_zeros() as i32;
    s = s.min(32).min(31 + shift).max(0);
    let m = (((mult as i64) << s) / n as i64) as i32;
    (m, shift - s)
}

/// MEAN int8 over height and width of an `h x w x c` map: one int32 sum per channel, then
/// `QuantizedMeanOrSum`'s rescaling. `sums` is caller scratch of at least `c` entries is not
/// needed: channels are summed in stack chunks.
pub fn mean_hw_i8(
    h: usize,
    w: usize,
    c: usize,
    input: &[i8],
    in_zp: i32,
    out_zp: i32,
    mult: i32,
    shift: i32,
    out: &mut [i8],
) -> Result<(), Error> {
    let n = h * w;
    need(n > 0 && c > 0 && input.len() >= n * c && out.len() >= c, "mean sizes")?;
    let (m, s) = mean_multiplier(mult, shift, n);
    const CH: usize = 32;
    let mut cs = 0;
    let mut acc = [0i32; CH];
    while cs < c {
        let k = CH.min(c - cs);
        acc[..k].fill(0);
        for px in input[..n * c].chunks_exact(c) {
            for (a, &v) in acc[..k].iter_mut().zip(&px[cs..cs + k]) {
                *a = a.wrapping_add(v as i32);
            }
        }
        for (o, &a) in out[cs..cs + k].iter_mut().zip(&acc[..k]) {
            let shifted = a.wrapping_sub(in_zp.wrapping_mul(n as i32));
            let v = mul_by_quantized_multiplier(shifted, m, s).wrapping_add(out_zp);
            *o = v.clamp(-128, 127) as i8;
        }
        cs += k;
    }
    Ok(())
}

/// MEAN float32 over height and width.
pub fn mean_hw_f32(h: usize, w: usize, c: usize, input: &[f32], out: &mut [f32]) -> Result<(), Error> {
    let n = h * w;
    need(n > 0 && c > 0 && input.len() >= n * c && out.len() >= c, "mean sizes")?;
    out[..c].fill(0.0);
    for px in input[..n * c].chunks_exact(c) {
        for (o, &v) in out[..c].iter_mut().zip(px) {
            *o += v;
        }
    }
    for o in out[..c].iter_mut() {
        *o /= n as f32;
    }
    Ok(())
}

/// SOFTMAX int8 -> int8 (output scale 1/256, zero point -128) exactly as the reference kernel:
/// gemmlowp fixed-point exp of the scaled differences to the row maximum, a fixed-point
/// reciprocal of their sum, and a rounding shift.
pub fn softmax_i8(rows: usize, depth: usize, input: &[i8], input_mult: i32, input_left_shift: i32, diff_min: i32, out: &mut [i8]) -> Result<(), Error> {
    need(depth > 0 && input.len() >= rows * depth && out.len() >= rows * depth, "softmax sizes")?;
    const ACCUM_INTEGER_BITS: i32 = 12;
    let ls = 1i32.wrapping_shl(input_left_shift.clamp(0, 31) as u32);
    let scaled = |diff: i32| srdhm(diff.wrapping_mul(ls), input_mult);
    for (xin, xout) in input.chunks_exact(depth).zip(out.chunks_exact_mut(depth)).take(rows) {
        let max = xin.iter().copied().max().unwrap_or(0) as i32;
        let mut sum = 0i32; // Q12.19
        for &v in xin {
            let diff = v as i32 - max;
            if diff >= diff_min {
                let e = exp_on_negative_values_q5(scaled(diff));
                sum = sum.wrapping_add(rounding_divide_by_pot(e, ACCUM_INTEGER_BITS));
            }
        }
        let (recip, bits_over_unit) = get_reciprocal(sum, ACCUM_INTEGER_BITS);
        for (o, &v) in xout.iter_mut().zip(xin) {
            let diff = v as i32 - max;
            *o = if diff >= diff_min {
                let e = exp_on_negative_values_q5(scaled(diff));
                let unsat = rounding_divide_by_pot(srdhm(recip, e), bits_over_unit + 31 - 8);
                unsat.wrapping_sub(128).clamp(-128, 127) as i8
            } else {
                -128
            };
        }
    }
    Ok(())
}

/// SOFTMAX int8 -> int8 as LiteRT's optimized kernel: a float table `table[255 - d] =
/// exp(-input_scale * beta * d)` (computed on the host), a float sum per row, then
/// `round(p / output_scale) + zp`.
pub fn softmax_lut_i8(rows: usize, depth: usize, input: &[i8], table: &[f32], out_scale: f32, out_zp: i32, out: &mut [i8]) -> Result<(), Error> {
    need(depth > 0 && input.len() >= rows * depth && out.len() >= rows * depth && table.len() >= 256, "softmax sizes")?;
    for (xin, xout) in input.chunks_exact(depth).zip(out.chunks_exact_mut(depth)).take(rows) {
        let max = xin.iter().copied().max().unwrap_or(0) as i32;
        // Index 255 - (max - x): always in 0..=255 for int8 x <= max.
        let e = |x: i8| table[(255 - (max - x as i32)) as usize];
        let mut sum = 0f32;
        for &x in xin {
            sum += e(x);
        }
        let inv = 1.0f32 / (sum * out_scale);
        for (o, &x) in xout.iter_mut().zip(xin) {
            let q = round_half_away_f32(e(x) * inv) as i32 + out_zp;
            *o = q.clamp(-128, 127) as i8;
        }
    }
    Ok(())
}

/// SOFTMAX float32 (exp via a small no-std implementation; within float rounding of libm).
pub fn softmax_f32(rows: usize, depth: usize, beta: f32, input: &[f32], out: &mut [f32]) -> Result<(), Error> {
    need(depth > 0 && input.len() >= rows * depth && out.len() >= rows * depth, "softmax sizes")?;
    for (xin, xout) in input.chunks_exact(depth).zip(out.chunks_exact_mut(depth)).take(rows) {
        let max = xin.iter().copied().fold(f32::MIN, f32::max);
        let mut sum = 0f32;
        for (o, &v) in xout.iter_mut().zip(xin) {
            *o = expf((v - max) * beta);
            sum += *o;
        }
        for o in xout.iter_mut() {
            *o /= sum;
        }
    }
    Ok(())
}

/// LOGISTIC float32.
pub fn logistic_f32(input: &[f32], out: &mut [f32]) -> Result<(), Error> {
    need(input.len() >= out.len(), "logistic sizes")?;
    for (o, &v) in out.iter_mut().zip(input) {
        *o = 1.0 / (1.0 + expf(-v));
    }
    Ok(())
}

/// `exp` in f32 without libm: range reduction by ln 2 and a degree-7 polynomial in f64
/// (relative error well under 1e-7 over the float range).
pub fn expf(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > 88.72 {
        return f32::INFINITY;
    }
    if x < -103.0 {
        return 0.0;
    }
    let x = x as f64;
    const LN2: f64 = core::f64::consts::LN_2;
    let k = round_half_away_f32((x / LN2) as f32) as i32;
    let r = x - k as f64 * LN2;
    // Taylor series of exp(r) for |r| <= ln2/2, to r^10 (error < 1e-13).
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for i in 1..=10 {
        term *= r / i as f64;
        sum += term;
    }
    // 2^k as f64 (k in -150..=128).
    let scale = f64::from_bits(((k + 1023) as u64) << 52);
    (sum * scale) as f32
}

/// A 256-entry table lookup on int8 (LOGISTIC and other unary int8 ops whose table the host
/// computes as TFLite's `PopulateLookupTable` does). `table[v as u8]`.
pub fn lut_i8(table: &[i8], input: &[i8], out: &mut [i8]) -> Result<(), Error> {
    need(table.len() >= 256 && input.len() >= out.len(), "lookup table sizes")?;
    for (o, &v) in out.iter_mut().zip(input) {
        *o = table[v as u8 as usize];
    }
    Ok(())
}

/// QUANTIZE float32 -> int8: `zp + round(v / scale)` in f32, clamped.
pub fn quantize_f32_i8(scale: f32, zp: i32, input: &[f32], out: &mut [i8]) -> Result<(), Error> {
    need(input.len() >= out.len() && scale != 0.0, "quantize sizes")?;
    for (o, &v) in out.iter_mut().zip(input) {
        let q = round_half_away_f32(v / scale);
        let q = if q.is_nan() { 0 } else { (q.clamp(-1e9, 1e9) as i32).saturating_add(zp) };
        *o = q.clamp(-128, 127) as i8;
    }
    Ok(())
}

/// DEQUANTIZE int8 -> float32: `scale * (q - zp)` computed in f64 then rounded to f32, as the
/// reference does.
pub fn dequantize_i8_f32(scale: f32, zp: i32, input: &[i8], out: &mut [f32]) -> Result<(), Error> {
    need(input.len() >= out.len(), "dequantize sizes")?;
    for (o, &v) in out.iter_mut().zip(input) {
        *o = (scale as f64 * (v as i32 - zp) as f64) as f32;
    }
    Ok(())
}

/// Requantise int8 -> int8 (QUANTIZE between scales, CONCATENATION of inputs whose scales
/// differ): `zp_out + MultiplyByQuantizedMultiplier(q - zp_in)`.
pub fn requant_i8(in_zp: i32, out_zp: i32, mult: i32, shift: i32, input: &[i8], out: &mut [i8]) -> Result<(), Error> {
    need(input.len() >= out.len(), "requantize sizes")?;
    for (o, &v) in out.iter_mut().zip(input) {
        let r = mul_by_quantized_multiplier(v as i32 - in_zp, mult, shift).wrapping_add(out_zp);
        *o = r.clamp(-128, 127) as i8;
    }
    Ok(())
}

/// Clamp int8 (standalone RELU / RELU6 after their ranges are quantised on the host).
pub fn clamp_i8(lo: i32, hi: i32, input: &[i8], out: &mut [i8]) -> Result<(), Error> {
    need(input.len() >= out.len() && lo <= hi, "clamp sizes")?;
    for (o, &v) in out.iter_mut().zip(input) {
        *o = (v as i32).clamp(lo, hi) as i8;
    }
    Ok(())
}

/// Clamp float32 (standalone RELU / RELU6).
pub fn clamp_f32_slice(lo: f32, hi: f32, input: &[f32], out: &mut [f32]) -> Result<(), Error> {
    need(input.len() >= out.len(), "clamp sizes")?;
    for (o, &v) in out.iter_mut().zip(input) {
        *o = clamp_f32(v, (lo, hi));
    }
    Ok(())
}

/// Copy `rows` runs of `len` bytes from `src` (runs `src_stride` apart) into `dst` (runs
/// `dst_stride` apart): one input of a CONCATENATION, or a RESHAPE that could not alias.
pub fn strided_copy(rows: usize, len: usize, src: &[u8], src_stride: usize, dst: &mut [u8], dst_stride: usize) -> Result<(), Error> {
    if rows == 0 || len == 0 {
        return Ok(());
    }
    let src_need = (rows - 1).checked_mul(src_stride).and_then(|v| v.checked_add(len));
    let dst_need = (rows - 1).checked_mul(dst_stride).and_then(|v| v.checked_add(len));
    need(
        matches!(src_need, Some(n) if n <= src.len()) && matches!(dst_need, Some(n) if n <= dst.len()),
        "strided copy sizes",
    )?;
    for r in 0..rows {
        dst[r * dst_stride..r * dst_stride + len].copy_from_slice(&src[r * src_stride..r * src_stride + len]);
    }
    Ok(())
}

/// One input of an int8 CONCATENATION whose quantisation differs from the output's, as TFLite's
/// `ConcatenationWithScaling`: `round(q * scale + bias) + out_zp` in f32, clamped, with
/// `scale = in_scale / out_scale` and `bias = -in_zp * scale` (`sbz = (scale, bias, out_zp)`).
pub fn strided_requant_i8(
    rows: usize,
    len: usize,
    src: &[i8],
    src_stride: usize,
    dst: &mut [i8],
    dst_stride: usize,
    sbz: (f32, f32, i32),
) -> Result<(), Error> {
    if rows == 0 || len == 0 {
        return Ok(());
    }
    let src_need = (rows - 1).checked_mul(src_stride).and_then(|v| v.checked_add(len));
    let dst_need = (rows - 1).checked_mul(dst_stride).and_then(|v| v.checked_add(len));
    need(
        matches!(src_need, Some(n) if n <= src.len()) && matches!(dst_need, Some(n) if n <= dst.len()),
        "strided requantize sizes",
    )?;
    let (scale, bias, zp) = sbz;
    for r in 0..rows {
        let (s, d) = (&src[r * src_stride..][..len], &mut dst[r * dst_stride..][..len]);
        for (o, &v) in d.iter_mut().zip(s) {
            let q = round_half_away_f32(v as f32 * scale + bias);
            let q = if q.is_nan() { 0 } else { (q.clamp(-1e9, 1e9) as i32).saturating_add(zp) };
            *o = q.clamp(-128, 127) as i8;
        }
    }
    Ok(())
}
