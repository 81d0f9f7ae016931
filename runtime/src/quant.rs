//! TFLite's integer requantisation arithmetic, to the bit.
//!
//! These are the reference interpreter's `SaturatingRoundingDoublingHighMul`,
//! `RoundingDivideByPOT` and `MultiplyByQuantizedMultiplier` (the double-rounding variant that
//! TFLite builds by default), plus the gemmlowp fixed-point pieces its int8 SOFTMAX uses.
//! Every function is total: the reference's undefined-behaviour corners (int32 overflow) wrap
//! here instead of panicking, which is what the reference does on every real compiler.

/// `round(a * b / 2^31)` (positive ties up, negative ties toward zero), saturating the single overflow case
/// (`i32::MIN * i32::MIN`).
#[inline(always)]
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // C++ integer division truncates toward zero, as does Rust's.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero (0 <= exponent <= 31).
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let exponent = exponent.clamp(0, 31);
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// TFLite `MultiplyByQuantizedMultiplier(x, multiplier, shift)`: `x * multiplier * 2^shift / 2^31`
/// with the reference's two roundings (left shift first, then a rounding right shift).
#[inline(always)]
pub fn mul_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift.min(31) } else { 0 };
    let right = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(srdhm(x.wrapping_mul(1i32.wrapping_shl(left as u32)), multiplier), right)
}

/// The requantisation of LiteRT's optimized CONV_2D / FULLY_CONNECTED on x86 (ruy's kernels),
/// found to the bit against LiteRT 2.3: a doubling high multiply rounded half up
/// (`(x * 2^left * m + 2^30) >> 31`), then a right shift rounded half up. It differs from the
/// reference's [`mul_by_quantized_multiplier`] only on ties (e.g. -1.5 -> -1 here, -2 there).
#[inline(always)]
pub fn mul_ruy(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift.min(31) } else { 0 };
    let right = if shift > 0 { 0 } else { (-shift).min(31) };
    let t = (((x as i64) << left) * multiplier as i64 + (1i64 << 30)) >> 31;
    let r = if right > 0 { (t + (1i64 << (right - 1))) >> right } else { t };
    r.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// TFLite `QuantizeMultiplier`: a real multiplier as a Q31 significand and a power-of-two shift
/// (`real ~= significand * 2^shift / 2^31`). Uses `frexp` and round-half-away like the reference,
/// including the `2^31` carry and the underflow to zero below `2^-31`.
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 || !real.is_finite() {
        return (0, 0);
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = round_half_away(q * (1u64 << 31) as f64) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    (q_fixed as i32, shift)
}

/// `std::round`: half away from zero (no std needed).
pub fn round_half_away(x: f64) -> f64 {
    let t = trunc(x);
    let diff = x - t;
    if diff >= 0.5 {
        t + 1.0
    } else if diff <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// `std::round` for f32 (TfLiteRound on floats).
pub fn round_half_away_f32(x: f32) -> f32 {
    let t = truncf(x);
    let diff = x - t;
    if diff >= 0.5 {
        t + 1.0
    } else if diff <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

fn trunc(x: f64) -> f64 {
    if !x.is_finite() || x.abs() >= 4503599627370496.0 {
        return x;
    }
    (x as i64) as f64
}

fn truncf(x: f32) -> f32 {
    if !x.is_finite() || x.abs() >= 8388608.0 {
        return x;
    }
    (x as i32) as f32
}

/// `frexp`: `x = m * 2^e` with `0.5 <= |m| < 1`, exact (bit manipulation, no libm).
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale up by 2^64 first.
        let (m, e) = frexp(x * 18446744073709551616.0);
        return (m, e - 64);
    }
    let e = exp - 1022;
    let m_bits = (bits & !(0x7ffu64 << 52)) | (1022u64 << 52);
    (f64::from_bits(m_bits), e)
}

/// Quantise a real value with TFLite's `Quantize` helper: `zp + round(f / scale)` in f32.
pub fn quantize_value(f: f32, scale: f32, zero_point: i32) -> i32 {
    zero_point.saturating_add(round_half_away_f32(f / scale) as i32)
}

/// The int8 activation clamp range TFLite's `CalculateActivationRangeQuantized` computes.
/// `act`: 0 none, 1 relu, 2 relu6, 3 relu_n1_to_1.
pub fn activation_range_i8(act: u32, scale: f32, zero_point: i32) -> (i32, i32) {
    let (qmin, qmax) = (-128, 127);
    match act {
        1 => (qmin.max(quantize_value(0.0, scale, zero_point)), qmax),
        2 => (qmin.max(quantize_value(0.0, scale, zero_point)), qmax.min(quantize_value(6.0, scale, zero_point))),
        3 => (qmin.max(quantize_value(-1.0, scale, zero_point)), qmax.min(quantize_value(1.0, scale, zero_point))),
        _ => (qmin, qmax),
    }
}

// ---- gemmlowp fixed point, as used by the reference int8 SOFTMAX ----

/// `SaturatingRoundingMultiplyByPOT<exponent>` for a positive exponent: saturating left shift.
#[inline]
fn sat_shl(x: i32, exponent: u32) -> i32 {
    let threshold = (1i32 << (31 - exponent)) - 1;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x << exponent
    }
}

/// gemmlowp `exp_on_interval_between_negative_one_quarter_and_0_excl` (Q0.31 in and out).
fn exp_on_interval_neg_quarter_0(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1895147668; // exp(-1/8) in Q0.31
    const ONE_THIRD: i32 = 715827883; // 1/3 in Q0.31
    let x = a.wrapping_add(1 << 28);
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = rounding_divide_by_pot(x4, 2);
    let inner = srdhm(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2);
    let poly = rounding_divide_by_pot(inner, 1);
    CONSTANT_TERM.wrapping_add(srdhm(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// gemmlowp `exp_on_negative_values` for a Q5.26 input `a <= 0`; result in Q0.31.
pub fn exp_on_negative_values_q5(a: i32) -> i32 {
    const FRAC: u32 = 26;
    let one_quarter: i32 = 1 << (FRAC - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_quarter = (a & mask).wrapping_sub(one_quarter);
    // Rescale<0> from 5 integer bits: saturating shift left by 5.
    let mut result = exp_on_interval_neg_quarter_0(sat_shl(a_mod_quarter_minus_quarter, 5));
    let remainder = a_mod_quarter_minus_quarter.wrapping_sub(a);
    // exp(-2^k) for k = -2..=4 in Q0.31, applied for every set bit of the remainder.
    const BARREL: [(i32, i32); 7] =
        [(-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401), (4, 242)];
    for &(e, mult) in BARREL.iter() {
        let bit = (FRAC as i32 + e) as u32;
        if remainder & (1i32 << bit) != 0 {
            result = srdhm(result, mult);
        }
    }
    if a == 0 {
        i32::MAX
    } else {
        result
    }
}

/// gemmlowp `one_over_one_plus_x_for_x_in_0_1` (Q0.31 in and out).
fn one_over_one_plus_x(a: i32) -> i32 {
    // RoundingHalfSum(a, One) with One = i32::MAX in Q0.31.
    let sum = a as i64 + i32::MAX as i64;
    let sign: i64 = if sum >= 0 { 1 } else { -1 };
    let half_denominator = ((sum + sign) / 2) as i32;
    const C48_17: i32 = 1515870810; // Q2.29
    const CNEG32_17: i32 = -1010580540; // Q2.29
    let mut x = C48_17.wrapping_add(srdhm(half_denominator, CNEG32_17));
    const ONE_Q2: i32 = 1 << 29;
    for _ in 0..3 {
        let hdx = srdhm(half_denominator, x); // Q2.29
        let one_minus = ONE_Q2.wrapping_sub(hdx);
        // Q2 * Q2 = Q4; Rescale<2> is a saturating left shift by 2.
        x = x.wrapping_add(sat_shl(srdhm(x, one_minus), 2));
    }
    // ExactMulByPot<-1> (Q2 -> Q1, same raw), then Rescale<0>: saturating shift left by 1.
    sat_shl(x, 1)
}

/// TFLite `GetReciprocal(x, x_integer_bits)`: returns the Q0.31 scale and `num_bits_over_unit`.
pub fn get_reciprocal(x: i32, x_integer_bits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = x_integer_bits - headroom_plus_one;
    let shifted_sum_minus_one = ((x as u32).wrapping_shl(headroom_plus_one as u32)).wrapping_sub(1u32 << 31) as i32;
    (one_over_one_plus_x(shifted_sum_minus_one), num_bits_over_unit)
}

/// TFLite `CalculateInputRadius(input_integer_bits, input_left_shift, 31)`.
pub fn calculate_input_radius(input_integer_bits: i32, input_left_shift: i32) -> i32 {
    let max_input_rescaled = 1.0 * ((1i64 << input_integer_bits) - 1) as f64 * (1i64 << (31 - input_integer_bits)) as f64
        / (1i64 << input_left_shift.clamp(0, 62)) as f64;
    floor(max_input_rescaled) as i32
}

fn floor(x: f64) -> f64 {
    let t = trunc(x);
    if t > x {
        t - 1.0
    } else {
        t
    }
}

/// Host-side softmax parameters as TFLite's `PreprocessSoftmaxScaling` + `CalculateInputRadius`
/// make them (kScaledDiffIntegerBits = 5): `(input_multiplier, input_left_shift, diff_min)`.
pub fn softmax_params(beta: f64, input_scale: f64) -> (i32, i32, i32) {
    const SCALED_DIFF_INTEGER_BITS: i32 = 5;
    let real = (beta * input_scale * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64).min((1i64 << 31) as f64 - 1.0);
    let (mult, shift) = quantize_multiplier(real);
    let diff_min = -calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift);
    (mult, shift, diff_min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srdhm_hand_values() {
        // 2^30 * 2^30 / 2^31 = 2^29 exactly.
        assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29);
        // 3 * 2^30 / 2^31 = 1.5 -> 2; but -1.5 -> -1: the negative nudge is 1 - 2^30, so a
        // negative tie rounds toward zero (gemmlowp's exact behaviour).
        assert_eq!(srdhm(3, 1 << 30), 2);
        assert_eq!(srdhm(-3, 1 << 30), -1);
        assert_eq!(srdhm(-5, 1 << 30), -2); // -2.5 -> -2
        assert_eq!(srdhm(-7, 1 << 30), -3); // -3.5 -> -3
        // The single saturating case.
        assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
    }

    #[test]
    fn rounding_divide_hand_values() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3); // 2.5 -> 3
        assert_eq!(rounding_divide_by_pot(-5, 1), -3); // -2.5 -> -3
        assert_eq!(rounding_divide_by_pot(7, 2), 2); // 1.75 -> 2
        assert_eq!(rounding_divide_by_pot(-6, 2), -2); // -1.5 -> -2
        assert_eq!(rounding_divide_by_pot(-5, 2), -1); // -1.25 -> -1
        assert_eq!(rounding_divide_by_pot(100, 0), 100);
    }

    #[test]
    fn multiply_by_quantized_multiplier_hand_values() {
        // multiplier 0.5 (2^30), shift 0: 100 * 0.5 = 50.
        assert_eq!(mul_by_quantized_multiplier(100, 1 << 30, 0), 50);
        // 0.75 * 2^-3 * 1000 = 93.75 -> 94.
        assert_eq!(mul_by_quantized_multiplier(1000, 3 << 29, -3), 94);
        assert_eq!(mul_by_quantized_multiplier(-1000, 3 << 29, -3), -94);
        // Positive shift: 0.5 * 2^2 * 7 = 14.
        assert_eq!(mul_by_quantized_multiplier(7, 1 << 30, 2), 14);
    }

    #[test]
    fn ruy_rounding_ties_go_up() {
        // 0.75 * 2^-3: -563 -> -52.78 -> -53 either way; ties differ: x = -4 with m = 0.75 and
        // shift -1: -3 -> -1.5 rounds to -1 (up), the reference rounds to -2.
        assert_eq!(mul_ruy(-4, 3 << 29, -1), -1);
        assert_eq!(mul_by_quantized_multiplier(-4, 3 << 29, -1), -2);
        assert_eq!(mul_ruy(4, 3 << 29, -1), 2);
        assert_eq!(mul_ruy(1000, 3 << 29, -3), 94);
    }

    #[test]
    fn quantize_multiplier_hand_values() {
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        // 0.75 = 0.75 * 2^0 -> q = 0.75 * 2^31.
        assert_eq!(quantize_multiplier(0.75), (3 << 29, 0));
        // Just below 1.0 in frexp mantissa rounds up to 2^31: carry into the shift.
        let (m, s) = quantize_multiplier(1.0 - 1e-12);
        assert_eq!((m, s), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        assert_eq!(quantize_multiplier(1e-12), (0, 0)); // below 2^-31 * 2^-31... underflow to 0
    }

    #[test]
    fn frexp_matches_definition() {
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(-3.0), (-0.75, 2));
    }

    #[test]
    fn exp_fixed_point_is_close_to_exp() {
        // exp(0) is one; exp(-1) ~ 0.3679; exp(-4.5) ~ 0.01111.
        assert_eq!(exp_on_negative_values_q5(0), i32::MAX);
        let e1 = exp_on_negative_values_q5(-(1 << 26)) as f64 / 2147483648.0;
        assert!((e1 - 0.36787944).abs() < 1e-6, "{e1}");
        let e45 = exp_on_negative_values_q5(-(9 << 25)) as f64 / 2147483648.0;
        assert!((e45 - 0.011108996).abs() < 1e-6, "{e45}");
    }

    #[test]
    fn reciprocal_is_close() {
        // x = 3.0 in Q12.19: 1/3 scaled: result * 2^-num_bits_over_unit ~ 1/3.
        let (r, bits) = get_reciprocal(3 << 19, 12);
        let v = r as f64 / 2147483648.0 / (1u64 << bits) as f64;
        assert!((v - 1.0 / 3.0).abs() < 1e-6, "{v} {bits}");
    }

    #[test]
    fn activation_ranges() {
        // relu6 with scale 6/255 and zp -128: 0 -> -128, 6 -> 127.
        assert_eq!(activation_range_i8(2, 6.0 / 255.0, -128), (-128, 127));
        assert_eq!(activation_range_i8(1, 0.1, 5), (5, 127));
        assert_eq!(activation_range_i8(2, 0.1, 5), (5, 65));
    }
}
