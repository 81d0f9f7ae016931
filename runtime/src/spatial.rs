//! Spatial kernels (convolution, depthwise convolution, pools, pad) over windows.
//!
//! Every kernel computes the output rectangle of an [`OutWindow`] from an [`InView`] that must
//! hold every input pixel that rectangle reads (after clipping to the map; padding is the whole
//! map's padding, so a tile in the middle of the map is not padded). Computing a map in several
//! windows gives exactly the bytes of computing it whole.

use crate::quant::{mul_by_quantized_multiplier, mul_ruy};
use crate::view::{InView, OutWindow};
use crate::Error;

/// Geometry of a spatial op on NHWC maps (batch 1). `pad_top`/`pad_left` are the pixels of
/// padding before the map; padding after it is implied by the output size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Geom {
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub out_c: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dil_h: usize,
    pub dil_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

/// Sizes above this are rejected so that index arithmetic can never overflow, on 32-bit MCUs too.
const MAX_DIM: usize = 1 << 20;

impl Geom {
    /// Reject zero or absurd sizes (corrupted programs) before any index arithmetic.
    pub fn validate(&self) -> Result<(), Error> {
        let all = [
            self.in_h, self.in_w, self.in_c, self.out_h, self.out_w, self.out_c, self.kh, self.kw, self.stride_h,
            self.stride_w, self.dil_h, self.dil_w,
        ];
        if all.iter().any(|&v| v == 0 || v > MAX_DIM) || self.pad_top > MAX_DIM || self.pad_left > MAX_DIM {
            return Err(Error::BadGeometry);
        }
        Ok(())
    }

    /// Input rows (clipped to the map) read by output rows `y0..y1`: `(first, end)`.
    pub fn input_rows(&self, y0: usize, y1: usize) -> (usize, usize) {
        span(y0, y1, self.stride_h, self.kh, self.dil_h, self.pad_top, self.in_h)
    }

    /// Input columns (clipped to the map) read by output columns `x0..x1`: `(first, end)`.
    pub fn input_cols(&self, x0: usize, x1: usize) -> (usize, usize) {
        span(x0, x1, self.stride_w, self.kw, self.dil_w, self.pad_left, self.in_w)
    }

    /// Check a view/window pair against this geometry: dimensions agree, the window lies in the
    /// output map and the view covers every input pixel the window reads.
    fn check_io<T, U>(&self, input: &InView<T>, out: &OutWindow<U>) -> Result<(), Error> {
        self.validate()?;
        input.check()?;
        out.check(self.out_h, self.out_w, self.out_c)?;
        if input.full_h != self.in_h || input.full_w != self.in_w || input.c != self.in_c {
            return Err(Error::BadView("input view does not match the layer's input shape"));
        }
        let (r0, r1) = self.input_rows(out.y0, out.y1);
        let (c0, c1) = self.input_cols(out.x0, out.x1);
        if out.y0 < out.y1 && out.x0 < out.x1 && !input.covers(r0, r1, c0, c1) {
            return Err(Error::WindowNotCovered);
        }
        Ok(())
    }
}

fn span(o0: usize, o1: usize, stride: usize, k: usize, dil: usize, pad: usize, size: usize) -> (usize, usize) {
    if o0 >= o1 {
        return (0, 0);
    }
    let lo = (o0 * stride).saturating_sub(pad);
    let hi = ((o1 - 1) * stride + (k - 1) * dil + 1).saturating_sub(pad).min(size);
    (lo.min(hi), hi)
}

/// Requantisation of an int8 op's int32 accumulators, per output channel.
///
/// `bias` is the host-folded bias `bias + (-in_zp) * sum(weights of the channel)`: with it the
/// kernels accumulate raw `x * w` products, and a padded tap contributes `in_zp * w` (padding is
/// the zero point), which cancels exactly what the fold added for it.
#[derive(Debug, Clone, Copy)]
pub struct Requant<'a> {
    pub bias: &'a [i32],
    pub mult: &'a [i32],
    pub shift: &'a [i32],
    pub in_zp: i32,
    pub out_zp: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// Round as LiteRT's optimized kernels do ([`crate::quant::mul_ruy`]) instead of as the
    /// reference kernels.
    pub single_rounding: bool,
}

impl Requant<'_> {
    fn check(&self, channels: usize) -> Result<(), Error> {
        if self.bias.len() < channels || self.mult.len() < channels || self.shift.len() < channels {
            return Err(Error::BadParams("per-channel bias/multiplier/shift shorter than the channels"));
        }
        if self.act_min > self.act_max || self.act_min < -128 || self.act_max > 127 {
            return Err(Error::BadParams("int8 activation range"));
        }
        Ok(())
    }

    #[inline(always)]
    fn apply(&self, acc: i32, ch: usize) -> i8 {
        let m = if self.single_rounding {
            mul_ruy(acc, self.mult[ch], self.shift[ch])
        } else {
            mul_by_quantized_multiplier(acc, self.mult[ch], self.shift[ch])
        };
        m.wrapping_add(self.out_zp).clamp(self.act_min, self.act_max) as i8
    }
}

/// Bytes of the im2col scratch a CONV_2D kernel gathers one output pixel's receptive field
/// into: `kh * kw * in_c` elements, none for a 1x1 conv (its one input pixel is used in place).
/// The caller provides it (a planned arena buffer: no patch lives on the stack); the planner sizes
/// the buffer with this same function.
pub const fn conv_scratch_bytes(kh: usize, kw: usize, in_c: usize, elem_bytes: usize) -> usize {
    if kh * kw == 1 {
        0
    } else {
        kh * kw * in_c * elem_bytes
    }
}

/// int8 dot product with an int32 result (wrapping, as the reference's int32 accumulator).
#[inline(always)]
pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        dot_i8_sse2(a, b)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        dot_i8_portable(a, b)
    }
}

#[allow(dead_code)]
#[inline(always)]
fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    // i8 x i8 fits in i16; the widening sum vectorises where the target has SIMD.
    a.iter().zip(b).fold(0i32, |s, (&x, &y)| s.wrapping_add((x as i16 * y as i16) as i32))
}

/// SSE2 (baseline on every x86_64): sign-extend to i16 and `pmaddwd` pairs into i32 lanes,
/// 16 then 8 bytes at a time, scalar tail. Exact integer arithmetic: same result as the
/// portable loop (the host runs the same numbers the MCU does).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn dot_i8_sse2(a: &[i8], b: &[i8]) -> i32 {
    use core::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    // SAFETY: SSE2 is part of the x86_64 baseline; every load reads 16 (or 8) bytes inside the
    // chunk it is given (chunks_exact guarantees the length); unaligned loads are used.
    unsafe {
        let mut acc = _mm_setzero_si128();
        let mut ca = a.chunks_exact(16);
        let mut cb = b.chunks_exact(16);
        for (x, y) in (&mut ca).zip(&mut cb) {
            let vx = _mm_loadu_si128(x.as_ptr() as *const __m128i);
            let vy = _mm_loadu_si128(y.as_ptr() as *const __m128i);
            // Sign extension i8 -> i16: unpack with itself, arithmetic shift right by 8.
            let xl = _mm_srai_epi16(_mm_unpacklo_epi8(vx, vx), 8);
            let xh = _mm_srai_epi16(_mm_unpackhi_epi8(vx, vx), 8);
            let yl = _mm_srai_epi16(_mm_unpacklo_epi8(vy, vy), 8);
            let yh = _mm_srai_epi16(_mm_unpackhi_epi8(vy, vy), 8);
            acc = _mm_add_epi32(acc, _mm_madd_epi16(xl, yl));
            acc = _mm_add_epi32(acc, _mm_madd_epi16(xh, yh));
        }
        let (ra, rb) = (ca.remainder(), cb.remainder());
        let mut ta = ra.chunks_exact(8);
        let mut tb = rb.chunks_exact(8);
        for (x, y) in (&mut ta).zip(&mut tb) {
            let vx = _mm_loadl_epi64(x.as_ptr() as *const __m128i);
            let vy = _mm_loadl_epi64(y.as_ptr() as *const __m128i);
            let xl = _mm_srai_epi16(_mm_unpacklo_epi8(vx, vx), 8);
            let yl = _mm_srai_epi16(_mm_unpacklo_epi8(vy, vy), 8);
            acc = _mm_add_epi32(acc, _mm_madd_epi16(xl, yl));
        }
        // Horizontal sum of the four lanes.
        let hi = _mm_shuffle_epi32(acc, 0b01_00_11_10);
        let s2 = _mm_add_epi32(acc, hi);
        let s1 = _mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0b10_11_00_01));
        let mut s = _mm_cvtsi128_si32(s1);
        for (&x, &y) in ta.remainder().iter().zip(tb.remainder()) {
            s = s.wrapping_add(x as i32 * y as i32);
        }
        s
    }
}

#[inline(always)]
fn sum_i8(a: &[i8]) -> i32 {
    a.iter().fold(0i32, |s, &v| s.wrapping_add(v as i32))
}

#[inline(always)]
fn inside(i: isize, n: usize) -> bool {
    i >= 0 && (i as usize) < n
}

/// CONV_2D int8 (weights OHWI `[out_c, kh, kw, in_c]`).
///
/// `scratch`: at least [`conv_scratch_bytes`] elements to gather receptive fields into; a
/// shorter one (or none) gives the same bytes through the tap-by-tap loop.
pub fn conv_i8(g: &Geom, input: &InView<i8>, weights: &[i8], q: &Requant, out: &mut OutWindow<i8>, scratch: &mut [i8]) -> Result<(), Error> {
    g.check_io(input, out)?;
    q.check(g.out_c)?;
    let (cin, taps) = (g.in_c, g.kh * g.kw);
    let per_co = taps * cin;
    if weights.len() < g.out_c * per_co {
        return Err(Error::BadParams("conv weights shorter than out_c * kh * kw * in_c"));
    }
    let weights = &weights[..g.out_c * per_co];
    // 1x1 with every output pixel on the map: no padding logic needed.
    let pointwise = taps == 1
        && g.pad_top == 0
        && g.pad_left == 0
        && (g.out_h - 1) * g.stride_h < g.in_h
        && (g.out_w - 1) * g.stride_w < g.in_w;
    for y in out.y0..out.y1 {
        let iy0 = (y * g.stride_h) as isize - g.pad_top as isize;
        for x in out.x0..out.x1 {
            let ix0 = (x * g.stride_w) as isize - g.pad_left as isize;
            let opx = out.pixel_mut(y, x, g.out_c);
            if pointwise {
                // 1x1: one input pixel; four output channels at a time share its loads.
                let px = input.pixel(iy0 as usize, ix0 as usize);
                let mut chunks = weights.chunks_exact(4 * cin);
                let mut co = 0;
                for w4 in &mut chunks {
                    let (w0, rest) = w4.split_at(cin);
                    let (w1, rest) = rest.split_at(cin);
                    let (w2, w3) = rest.split_at(cin);
                    let (a0, a1, a2, a3) = (dot_i8(px, w0), dot_i8(px, w1), dot_i8(px, w2), dot_i8(px, w3));
                    opx[co] = q.apply(q.bias[co].wrapping_add(a0), co);
                    opx[co + 1] = q.apply(q.bias[co + 1].wrapping_add(a1), co + 1);
                    opx[co + 2] = q.apply(q.bias[co + 2].wrapping_add(a2), co + 2);
                    opx[co + 3] = q.apply(q.bias[co + 3].wrapping_add(a3), co + 3);
                    co += 4;
                }
                for wc in chunks.remainder().chunks_exact(cin) {
                    opx[co] = q.apply(q.bias[co].wrapping_add(dot_i8(px, wc)), co);
                    co += 1;
                }
                continue;
            }
            if per_co <= scratch.len() {
                // Gather the receptive field once (padding = the zero point, which the folded
                // bias cancels), then one contiguous dot product per output channel.
                let patch = &mut scratch[..per_co];
                gather(g, input, iy0, ix0, q.in_zp as i8, patch);
                for (co, wco) in weights.chunks_exact(per_co).enumerate() {
                    opx[co] = q.apply(q.bias[co].wrapping_add(dot_i8(patch, wco)), co);
                }
                continue;
            }
            for (co, wco) in weights.chunks_exact(per_co).enumerate() {
                let mut acc = q.bias[co];
                for ky in 0..g.kh {
                    let iy = iy0 + (ky * g.dil_h) as isize;
                    let row_in = inside(iy, g.in_h);
                    for kx in 0..g.kw {
                        let ix = ix0 + (kx * g.dil_w) as isize;
                        let wt = &wco[(ky * g.kw + kx) * cin..][..cin];
                        if row_in && inside(ix, g.in_w) {
                            acc = acc.wrapping_add(dot_i8(input.pixel(iy as usize, ix as usize), wt));
                        } else {
                            acc = acc.wrapping_add(q.in_zp.wrapping_mul(sum_i8(wt)));
                        }
                    }
                }
                opx[co] = q.apply(acc, co);
            }
        }
    }
    Ok(())
}

/// CONV_2D int8 with input-major weights `[kh * kw * in_c][out_c]` (HWIO; the host
/// transposes them): per output pixel the receptive field (gathered into the scratch patch, padding =
/// the zero point) multiplies rows of contiguous output channels, a loop that vectorises whatever
/// `in_c` is. The fastest layout for short receptive fields (`kh * kw * in_c` up to a few dozen);
/// same results as [`conv_i8`].
///
/// `scratch`: the im2col patch, at least `kh * kw * in_c` elements.
pub fn conv_io_i8(g: &Geom, input: &InView<i8>, weights_io: &[i8], q: &Requant, out: &mut OutWindow<i8>, scratch: &mut [i8]) -> Result<(), Error> {
    g.check_io(input, out)?;
    q.check(g.out_c)?;
    let (cin, oc_n) = (g.in_c, g.out_c);
    let k = g.kh * g.kw * cin;
    let one_tap = g.kh * g.kw == 1;
    if k > scratch.len() && !one_tap {
        return Err(Error::BadParams("conv scratch shorter than the receptive field"));
    }
    if weights_io.len() < k * oc_n {
        return Err(Error::BadParams("conv weights shorter than kh * kw * in_c * out_c"));
    }
    for y in out.y0..out.y1 {
        let iy0 = (y * g.stride_h) as isize - g.pad_top as isize;
        for x in out.x0..out.x1 {
            let ix0 = (x * g.stride_w) as isize - g.pad_left as isize;
            // A 1x1 conv reads its one input pixel in place (a padded one is all zero points).
            let zp_row = [q.in_zp as i8; CH];
            let patch: &[i8] = if one_tap && inside(iy0, g.in_h) && inside(ix0, g.in_w) {
                input.pixel(iy0 as usize, ix0 as usize)
            } else if one_tap && cin <= CH {
                &zp_row[..cin]
            } else if k <= scratch.len() {
                gather(g, input, iy0, ix0, q.in_zp as i8, &mut scratch[..k]);
                &scratch[..k]
            } else {
                return Err(Error::BadParams("conv scratch shorter than the receptive field"));
            };
            let opx = out.pixel_mut(y, x, oc_n);
            let mut cs = 0;
            while cs < oc_n {
                let n = CH.min(oc_n - cs);
                let mut acc = [0i32; CH];
                let acc = &mut acc[..n];
                acc.copy_from_slice(&q.bias[cs..cs + n]);
                for (j, &xv) in patch[..k].iter().enumerate() {
                    let xv = xv as i16;
                    let wrow = &weights_io[j * oc_n + cs..][..n];
                    for (a, &wv) in acc.iter_mut().zip(wrow) {
                        *a = a.wrapping_add((xv * wv as i16) as i32);
                    }
                }
                for (j, &a) in acc.iter().enumerate() {
                    opx[cs + j] = q.apply(a, cs + j);
                }
                cs += n;
            }
        }
    }
    Ok(())
}

/// Gather the receptive field of the output pixel whose window starts at `(iy0, ix0)` into
/// `patch` (`kh * kw * in_c`, (ky, kx, c) order), padded taps = `pad` (the zero point for int8,
/// 0.0 for float32). A copy, so one function for both element types.
fn gather<T: Copy>(g: &Geom, input: &InView<T>, iy0: isize, ix0: isize, pad: T, patch: &mut [T]) {
    let cin = g.in_c;
    for ky in 0..g.kh {
        let iy = iy0 + (ky * g.dil_h) as isize;
        let row_in = inside(iy, g.in_h);
        for kx in 0..g.kw {
            let ix = ix0 + (kx * g.dil_w) as isize;
            let dst = &mut patch[(ky * g.kw + kx) * cin..][..cin];
            if row_in && inside(ix, g.in_w) {
                dst.copy_from_slice(input.pixel(iy as usize, ix as usize));
            } else {
                dst.fill(pad);
            }
        }
    }
}


/// CONV_2D float32 with input-major weights `[kh * kw * in_c][out_c]`: the loop runs over
/// contiguous output channels (vectorises for short receptive fields), summing taps in TFLite's
/// (ky, kx, c) order and skipping padded taps, as the reference does.
pub fn conv_io_f32(
    g: &Geom,
    input: &InView<f32>,
    weights_io: &[f32],
    bias: &[f32],
    act: (f32, f32),
    out: &mut OutWindow<f32>,
    scratch: &mut [f32],
) -> Result<(), Error> {
    g.check_io(input, out)?;
    let (cin, oc_n) = (g.in_c, g.out_c);
    let k = g.kh * g.kw * cin;
    if k > scratch.len() && g.kh * g.kw != 1 {
        return Err(Error::BadParams("conv scratch shorter than the receptive field"));
    }
    if weights_io.len() < k * oc_n || bias.len() < oc_n {
        return Err(Error::BadParams("conv weights or bias too short"));
    }
    // Padded taps hold 0.0: they add exact zeros, so the sums equal the reference's, which
    // skips them.
    let one_tap = g.kh * g.kw == 1;
    let mut acc_buf = [0f32; CH];
    for y in out.y0..out.y1 {
        let iy0 = (y * g.stride_h) as isize - g.pad_top as isize;
        for x in out.x0..out.x1 {
            let ix0 = (x * g.stride_w) as isize - g.pad_left as isize;
            // A 1x1 conv reads its one input pixel in place; a padded one adds nothing.
            let patch: &[f32] = if one_tap {
                if inside(iy0, g.in_h) && inside(ix0, g.in_w) {
                    input.pixel(iy0 as usize, ix0 as usize)
                } else {
                    &[]
                }
            } else {
                gather(g, input, iy0, ix0, 0.0, &mut scratch[..k]);
                &scratch[..k]
            };
            let opx = out.pixel_mut(y, x, oc_n);
            let mut cs = 0;
            while cs < oc_n {
                let n = CH.min(oc_n - cs);
                let acc = &mut acc_buf[..n];
                acc.fill(0.0);
                for (&v, wrow) in patch.iter().zip(weights_io.chunks_exact(oc_n)) {
                    for (a, &wv) in acc.iter_mut().zip(&wrow[cs..cs + n]) {
                        *a += v * wv;
                    }
                }
                for (j, &a) in acc.iter().enumerate() {
                    opx[cs + j] = clamp_f32(a + bias[cs + j], act);
                }
                cs += n;
            }
        }
    }
    Ok(())
}

/// Channels processed together by the depthwise and pool kernels (a stack accumulator).
const CH: usize = 32;

/// DEPTHWISE_CONV_2D int8 (weights `[1, kh, kw, out_c]`, `out_c = in_c * depth_multiplier`).
pub fn dwconv_i8(
    g: &Geom,
    depth_multiplier: usize,
    input: &InView<i8>,
    weights: &[i8],
    q: &Requant,
    out: &mut OutWindow<i8>,
) -> Result<(), Error> {
    g.check_io(input, out)?;
    q.check(g.out_c)?;
    let m = depth_multiplier;
    if m == 0 || g.in_c.checked_mul(m) != Some(g.out_c) {
        return Err(Error::BadParams("depthwise out_c != in_c * depth_multiplier"));
    }
    let taps = g.kh * g.kw;
    if weights.len() < taps * g.out_c {
        return Err(Error::BadParams("depthwise weights shorter than kh * kw * out_c"));
    }
    let oc_n = g.out_c;
    for y in out.y0..out.y1 {
        let iy0 = (y * g.stride_h) as isize - g.pad_top as isize;
        for x in out.x0..out.x1 {
            let ix0 = (x * g.stride_w) as isize - g.pad_left as isize;
            let opx = out.pixel_mut(y, x, oc_n);
            let mut cs = 0;
            while cs < oc_n {
                let n = CH.min(oc_n - cs);
                let mut acc = [0i32; CH];
                let acc = &mut acc[..n];
                acc.copy_from_slice(&q.bias[cs..cs + n]);
                for ky in 0..g.kh {
                    let iy = iy0 + (ky * g.dil_h) as isize;
                    let row_in = inside(iy, g.in_h);
                    for kx in 0..g.kw {
                        let ix = ix0 + (kx * g.dil_w) as isize;
                        let wt = &weights[(ky * g.kw + kx) * oc_n + cs..][..n];
                        if row_in && inside(ix, g.in_w) {
                            let px = input.pixel(iy as usize, ix as usize);
                            if m == 1 {
                                // i8 x i8 fits in i16: a 16-bit multiply (pmullw / SMULBB) then
                                // widen, instead of a 32-bit multiply (SSE2 has none).
                                for ((a, &v), &w) in acc.iter_mut().zip(&px[cs..cs + n]).zip(wt) {
                                    *a = a.wrapping_add((v as i16 * w as i16) as i32);
                                }
                            } else {
                                for (j, (a, &w)) in acc.iter_mut().zip(wt).enumerate() {
                                    *a = a.wrapping_add((px[(cs + j) / m] as i16 * w as i16) as i32);
                                }
                            }
                        } else {
                            for (a, &w) in acc.iter_mut().zip(wt) {
                                *a = a.wrapping_add(q.in_zp.wrapping_mul(w as i32));
                            }
                        }
                    }
                }
                for (j, &a) in acc.iter().enumerate() {
                    opx[cs + j] = q.apply(a, cs + j);
                }
                cs += n;
            }
        }
    }
    Ok(())
}

/// CONV_2D float32 (weights OHWI, bias per output channel, output clamped to `[act_min, act_max]`).
pub fn conv_f32(
    g: &Geom,
    input: &InView<f32>,
    weights: &[f32],
    bias: &[f32],
    act: (f32, f32),
    out: &mut OutWindow<f32>,
    scratch: &mut [f32],
) -> Result<(), Error> {
    g.check_io(input, out)?;
    let (cin, taps) = (g.in_c, g.kh * g.kw);
    let per_co = taps * cin;
    if weights.len() < g.out_c * per_co || bias.len() < g.out_c {
        return Err(Error::BadParams("conv weights or bias too short"));
    }
    for y in out.y0..out.y1 {
        let iy0 = (y * g.stride_h) as isize - g.pad_top as isize;
        for x in out.x0..out.x1 {
            let ix0 = (x * g.stride_w) as isize - g.pad_left as isize;
            let opx = out.pixel_mut(y, x, g.out_c);
            // Every tap inside the map: one vectorised dot product per output channel over
            // the receptive field (the pixel itself for a 1x1 conv, else gathered into the
            // scratch patch). A window touching the padding sums its inside taps one by one in
            // TFLite's (ky, kx, c) order below, skipping the padded ones as the reference does.
            let all_inside = inside(iy0, g.in_h)
                && inside(iy0 + ((g.kh - 1) * g.dil_h) as isize, g.in_h)
                && inside(ix0, g.in_w)
                && inside(ix0 + ((g.kw - 1) * g.dil_w) as isize, g.in_w);
            if all_inside && (taps == 1 || per_co <= scratch.len()) {
                let patch: &[f32] = if taps == 1 {
                    input.pixel(iy0 as usize, ix0 as usize)
                } else {
                    gather(g, input, iy0, ix0, 0.0, &mut scratch[..per_co]);
                    &scratch[..per_co]
                };
                for (co, wco) in weights[..g.out_c * per_co].chunks_exact(per_co).enumerate() {
                    opx[co] = clamp_f32(dot_f32(patch, wco) + bias[co], act);
                }
                continue;
            }
            for (co, wco) in weights[..g.out_c * per_co].chunks_exact(per_co).enumerate() {
                let mut acc = 0f32;
                for ky in 0..g.kh {
                    let iy = iy0 + (ky * g.dil_h) as isize;
                    if !inside(iy, g.in_h) {
                        continue;
                    }
                    for kx in 0..g.kw {
                        let ix = ix0 + (kx * g.dil_w) as isize;
                        if !inside(ix, g.in_w) {
                            continue;
                        }
                        let wt = &wco[(ky * g.kw + kx) * cin..][..cin];
                        for (&v, &w) in input.pixel(iy as usize, ix as usize).iter().zip(wt) {
                            acc += v * w;
                        }
                    }
                }
                opx[co] = clamp_f32(acc + bias[co], act);
            }
        }
    }
    Ok(())
}

/// Float dot product with eight partial sums (vectorisable; the order differs from a
/// sequential sum only by float rounding, well inside the float tolerance).
#[inline(always)]
pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0f32;
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

#[inline(always)]
fn clamp_f32(v: f32, act: (f32, f32)) -> f32 {
    // TFLite's ActivationFunctionWithMinMax: min(max(v, lo), hi).
    let v = if v < act.0 { act.0 } else { v };
    if v > act.1 {
        act.1
    } else {
        v
    }
}

/// DEPTHWISE_CONV_2D float32.
pub fn dwconv_f32(
    g: &Geom,
    depth_multiplier: usize,
    input: &InView<f32>,
    weights: &[f32],
    bias: &[f32],
    act: (f32, f32),
    out: &mut OutWindow<f32>,
) -> Result<(), Error> {
    g.check_io(input, out)?;
    let m = depth_multiplier;
    if m == 0 || g.in_c.checked_mul(m) != Some(g.out_c) {
        return Err(Error::BadParams("depthwise out_c != in_c * depth_multiplier"));
    }
    let oc_n = g.out_c;
    if weights.len() < g.kh * g.kw * oc_n || bias.len() < oc_n {
        return Err(Error::BadParams("depthwise weights or bias too short"));
    }
    for y in out.y0..out.y1 {
        let iy0 = (y * g.stride_h) as isize - g.pad_top as isize;
        for x in out.x0..out.x1 {
            let ix0 = (x * g.stride_w) as isize - g.pad_left as isize;
            let opx = out.pixel_mut(y, x, oc_n);
            let mut cs = 0;
            while cs < oc_n {
                let n = CH.min(oc_n - cs);
                let mut acc = [0f32; CH];
                let acc = &mut acc[..n];
                for ky in 0..g.kh {
                    let iy = iy0 + (ky * g.dil_h) as isize;
                    if !inside(iy, g.in_h) {
                        continue;
                    }
                    for kx in 0..g.kw {
                        let ix = ix0 + (kx * g.dil_w) as isize;
                        if !inside(ix, g.in_w) {
                            continue;
                        }
                        let px = input.pixel(iy as usize, ix as usize);
                        let wt = &weights[(ky * g.kw + kx) * oc_n + cs..][..n];
                        for (j, (a, &w)) in acc.iter_mut().zip(wt).enumerate() {
                            *a += px[(cs + j) / m] * w;
                        }
                    }
                }
                for (j, &a) in acc.iter().enumerate() {
                    opx[cs + j] = clamp_f32(a + bias[cs + j], act);
                }
                cs += n;
            }
        }
    }
    Ok(())
}

/// The filter taps of output `(y, x)` that fall inside the map (pools skip padding).
#[inline(always)]
fn pool_taps(g: &Geom, y: usize, x: usize) -> (usize, usize, usize, usize) {
    let oy = (y * g.stride_h) as isize - g.pad_top as isize;
    let ox = (x * g.stride_w) as isize - g.pad_left as isize;
    let y_lo = oy.max(0) as usize;
    let y_hi = (oy + g.kh as isize).min(g.in_h as isize).max(0) as usize;
    let x_lo = ox.max(0) as usize;
    let x_hi = (ox + g.kw as isize).min(g.in_w as isize).max(0) as usize;
    (y_lo, y_hi.max(y_lo), x_lo, x_hi.max(x_lo))
}

/// An int8 activation range the clamps can use (`i32::clamp` needs min <= max).
fn check_act_i8(act: (i32, i32)) -> Result<(), Error> {
    if act.0 > act.1 || act.0 < -128 || act.1 > 127 {
        return Err(Error::BadParams("int8 activation range"));
    }
    Ok(())
}

fn check_pool(g: &Geom) -> Result<(), Error> {
    if g.in_c != g.out_c || g.dil_h != 1 || g.dil_w != 1 {
        return Err(Error::BadParams("pool needs in_c == out_c and no dilation"));
    }
    Ok(())
}

/// AVERAGE_POOL_2D int8: the mean of the taps inside the map, rounded half away from zero.
pub fn avgpool_i8(g: &Geom, input: &InView<i8>, act: (i32, i32), out: &mut OutWindow<i8>) -> Result<(), Error> {
    check_act_i8(act)?;
    g.check_io(input, out)?;
    check_pool(g)?;
    let c = g.in_c;
    for y in out.y0..out.y1 {
        for x in out.x0..out.x1 {
            let (y_lo, y_hi, x_lo, x_hi) = pool_taps(g, y, x);
            let count = ((y_hi - y_lo) * (x_hi - x_lo)) as i32;
            if count == 0 {
                return Err(Error::BadParams("average pool window entirely in padding"));
            }
            let opx = out.pixel_mut(y, x, c);
            let mut cs = 0;
            while cs < c {
                let n = CH.min(c - cs);
                let mut acc = [0i32; CH];
                let acc = &mut acc[..n];
                for iy in y_lo..y_hi {
                    for ix in x_lo..x_hi {
                        for (a, &v) in acc.iter_mut().zip(&input.pixel(iy, ix)[cs..cs + n]) {
                            *a += v as i32;
                        }
                    }
                }
                for (o, &a) in opx[cs..cs + n].iter_mut().zip(acc.iter()) {
                    let avg = if a > 0 { (a + count / 2) / count } else { (a - count / 2) / count };
                    *o = avg.clamp(act.0, act.1) as i8;
                }
                cs += n;
            }
        }
    }
    Ok(())
}

/// MAX_POOL_2D of either element type: the largest tap inside the map, then the activation.
/// One kernel for int8 and float32: the arithmetic is a comparison in both.
fn maxpool<T: Copy + PartialOrd>(g: &Geom, input: &InView<T>, lowest: T, act: impl Fn(T) -> T, out: &mut OutWindow<T>) -> Result<(), Error> {
    g.check_io(input, out)?;
    check_pool(g)?;
    let c = g.in_c;
    for y in out.y0..out.y1 {
        for x in out.x0..out.x1 {
            let (y_lo, y_hi, x_lo, x_hi) = pool_taps(g, y, x);
            let opx = out.pixel_mut(y, x, c);
            opx.fill(lowest);
            for iy in y_lo..y_hi {
                for ix in x_lo..x_hi {
                    for (o, &v) in opx.iter_mut().zip(input.pixel(iy, ix)) {
                        if v > *o {
                            *o = v;
                        }
                    }
                }
            }
            for o in opx.iter_mut() {
                *o = act(*o);
            }
        }
    }
    Ok(())
}

/// MAX_POOL_2D int8 (then the activation clamp).
pub fn maxpool_i8(g: &Geom, input: &InView<i8>, act: (i32, i32), out: &mut OutWindow<i8>) -> Result<(), Error> {
    check_act_i8(act)?;
    maxpool(g, input, i8::MIN, |v| (v as i32).clamp(act.0, act.1) as i8, out)
}

/// AVERAGE_POOL_2D float32.
pub fn avgpool_f32(g: &Geom, input: &InView<f32>, act: (f32, f32), out: &mut OutWindow<f32>) -> Result<(), Error> {
    g.check_io(input, out)?;
    check_pool(g)?;
    let c = g.in_c;
    for y in out.y0..out.y1 {
        for x in out.x0..out.x1 {
            let (y_lo, y_hi, x_lo, x_hi) = pool_taps(g, y, x);
            let count = ((y_hi - y_lo) * (x_hi - x_lo)) as f32;
            let opx = out.pixel_mut(y, x, c);
            opx.fill(0.0);
            for iy in y_lo..y_hi {
                for ix in x_lo..x_hi {
                    for (o, &v) in opx.iter_mut().zip(input.pixel(iy, ix)) {
                        *o += v;
                    }
                }
            }
            for o in opx.iter_mut() {
                *o = clamp_f32(*o / count, act);
            }
        }
    }
    Ok(())
}

/// MAX_POOL_2D float32.
pub fn maxpool_f32(g: &Geom, input: &InView<f32>, act: (f32, f32), out: &mut OutWindow<f32>) -> Result<(), Error> {
    maxpool(g, input, f32::MIN, |v| clamp_f32(v, act), out)
}

/// PAD on height and width with a constant (the zero point for int8, 0.0 for float32). The
/// geometry is a 1x1 window with stride 1: `out = in + pads`, `pad_top`/`pad_left` before.
pub fn pad<T: Copy>(g: &Geom, input: &InView<T>, value: T, out: &mut OutWindow<T>) -> Result<(), Error> {
    g.check_io(input, out)?;
    if g.in_c != g.out_c || g.kh != 1 || g.kw != 1 || g.stride_h != 1 || g.stride_w != 1 {
        return Err(Error::BadParams("pad geometry must be 1x1, stride 1, same channels"));
    }
    let c = g.in_c;
    for y in out.y0..out.y1 {
        let iy = y as isize - g.pad_top as isize;
        for x in out.x0..out.x1 {
            let ix = x as isize - g.pad_left as isize;
            let opx = out.pixel_mut(y, x, c);
            if inside(iy, g.in_h) && inside(ix, g.in_w) {
                opx.copy_from_slice(input.pixel(iy as usize, ix as usize));
            } else {
                opx.fill(value);
            }
        }
    }
    Ok(())
}
