//! Hand-worked kernel examples, windowed-equals-whole checks and corrupted-blob checks.

use crate::program::{self, hdr, w, Layer, Op, Program, HEADER_WORDS, IO_WORDS, LAYER_WORDS};
use crate::spatial::{self, Geom, Requant};
use crate::view::{InView, OutWindow};
use crate::Error;

/// Deterministic pseudo-random bytes (xorshift), so tests need no dependency.
struct Rng(u32);
impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    fn i8(&mut self) -> i8 {
        self.next() as i8
    }
}

const ONE: (i32, i32) = (1 << 30, 1); // multiplier 1.0 as (Q31 significand, shift)

#[test]
fn conv_3x3_by_hand_with_padding_and_zero_point() {
    // Input 3x3x1 with real values 1..9, stored with zero point 3 (q = real + 3).
    let input: [i8; 9] = core::array::from_fn(|i| (i as i8 + 1) + 3);
    // Kernel: ones with a 2 in the centre. SAME padding of 1 pixel all round, stride 1.
    let mut wts = [1i8; 9];
    wts[4] = 2;
    let g = Geom { in_h: 3, in_w: 3, in_c: 1, out_h: 3, out_w: 3, out_c: 1, kh: 3, kw: 3, stride_h: 1, stride_w: 1, dil_h: 1, dil_w: 1, pad_top: 1, pad_left: 1 };
    // Folded bias: 0 - in_zp * sum(w) = -3 * 10.
    let bias = [-30];
    let q = Requant { bias: &bias, mult: &[ONE.0], shift: &[ONE.1], in_zp: 3, out_zp: 0, act_min: -128, act_max: 127, single_rounding: false };
    let mut out = [0i8; 9];
    spatial::conv_i8(&g, &InView::whole(&input, 3, 3, 1), &wts, &q, &mut OutWindow::whole(&mut out, 3, 3, 1), &mut [0i8; 2048]).unwrap();
    // Top-left sees 1,2 / 4,5 with the 2 on the 1: 2 + 2 + 4 + 5 = 13.
    // Centre sees all nine with the 2 on the 5: 45 + 5 = 50.
    // Bottom-right sees 5,6 / 8,9 with the 2 on the 9: 5 + 6 + 8 + 18 = 37.
    assert_eq!(out[0], 13);
    assert_eq!(out[4], 50);
    assert_eq!(out[8], 37);
    // Top-middle sees 1,2,3 / 4,5,6 with the 2 on the 2: 21 + 2 = 23.
    assert_eq!(out[1], 23);
}

#[test]
fn depthwise_and_pools_by_hand() {
    // 2x2 map, 2 channels: channel 0 = 1,2,3,4 ; channel 1 = 10,20,30,40 (zero point 0).
    let input: [i8; 8] = [1, 10, 2, 20, 3, 30, 4, 40];
    // 2x2 valid average pool: (1+2+3+4)/4 = 2.5 -> 3 (half away from zero), 25.
    let g = Geom { in_h: 2, in_w: 2, in_c: 2, out_h: 1, out_w: 1, out_c: 2, kh: 2, kw: 2, stride_h: 1, stride_w: 1, dil_h: 1, dil_w: 1, pad_top: 0, pad_left: 0 };
    let mut out = [0i8; 2];
    spatial::avgpool_i8(&g, &InView::whole(&input, 2, 2, 2), (-128, 127), &mut OutWindow::whole(&mut out, 1, 1, 2)).unwrap();
    assert_eq!(out, [3, 25]);
    spatial::maxpool_i8(&g, &InView::whole(&input, 2, 2, 2), (-128, 127), &mut OutWindow::whole(&mut out, 1, 1, 2)).unwrap();
    assert_eq!(out, [4, 40]);
    // Depthwise 2x2 with weights channel 0: 1,0,0,1 ; channel 1: 0,1,1,0 -> 1+4, 20+30.
    let wts: [i8; 8] = [1, 0, 0, 1, 0, 1, 1, 0];
    let q = Requant { bias: &[0, 0], mult: &[ONE.0; 2], shift: &[ONE.1; 2], in_zp: 0, out_zp: 0, act_min: -128, act_max: 127, single_rounding: false };
    spatial::dwconv_i8(&g, 1, &InView::whole(&input, 2, 2, 2), &wts, &q, &mut OutWindow::whole(&mut out, 1, 1, 2)).unwrap();
    assert_eq!(out, [5, 50]);
}

/// Run `f` on the whole map, then on a grid of windows each fed with a tight copy of only the
/// input it needs (its own buffer, row stride and origin), and compare.
fn windowed_equals_whole(g: Geom, f: &dyn Fn(&InView<i8>, &mut OutWindow<i8>) -> Result<(), Error>) {
    let mut rng = Rng(0x1234_5678 ^ (g.kh * 131 + g.stride_h * 7 + g.out_c) as u32);
    let input: [i8; 4096] = core::array::from_fn(|_| rng.i8());
    let n_in = g.in_h * g.in_w * g.in_c;
    let n_out = g.out_h * g.out_w * g.out_c;
    assert!(n_in <= 4096 && n_out <= 4096);
    let mut whole = [0i8; 4096];
    f(&InView::whole(&input[..n_in], g.in_h, g.in_w, g.in_c), &mut OutWindow::whole(&mut whole[..n_out], g.out_h, g.out_w, g.out_c)).unwrap();
    let mut tiled = [0i8; 4096];
    let ys = [0, 1, g.out_h / 2, g.out_h];
    let xs = [0, g.out_w / 3, g.out_w];
    for yi in 0..ys.len() - 1 {
        for xi in 0..xs.len() - 1 {
            let (y0, y1, x0, x1) = (ys[yi], ys[yi + 1], xs[xi], xs[xi + 1]);
            if y0 >= y1 || x0 >= x1 {
                continue;
            }
            let (r0, r1) = g.input_rows(y0, y1);
            let (c0, c1) = g.input_cols(x0, x1);
            // A tile buffer with 3 spare elements per row (row_stride > cols * c).
            let stride = (c1 - c0) * g.in_c + 3;
            let mut buf = [0i8; 4096];
            for r in r0..r1 {
                for c in c0..c1 {
                    for ch in 0..g.in_c {
                        buf[(r - r0) * stride + (c - c0) * g.in_c + ch] = input[(r * g.in_w + c) * g.in_c + ch];
                    }
                }
            }
            let view = InView::tile(&buf, g.in_h, g.in_w, g.in_c, (r0, r1 - r0), (c0, c1 - c0), stride);
            // The same pixels in a ring that wraps on both axes (one spare slot each way, the
            // window starting mid-ring), as the fused executor's rings hold them.
            let (row_slots, col_slots) = (r1 - r0 + 1, c1 - c0 + 1);
            let (rs0, cs0) = ((r1 - r0) / 2 + 1, (c1 - c0) / 2 + 1);
            let rstride = col_slots * g.in_c;
            let mut ring = [0i8; 4096];
            for r in r0..r1 {
                for c in c0..c1 {
                    let (sr, sc) = ((r - r0 + rs0) % row_slots, (c - c0 + cs0) % col_slots);
                    for ch in 0..g.in_c {
                        ring[sr * rstride + sc * g.in_c + ch] = input[(r * g.in_w + c) * g.in_c + ch];
                    }
                }
            }
            let wrapped = InView { row_slot0: rs0, row_slots, col_slot0: cs0, col_slots, row_stride: rstride, data: &ring, ..view };
            // The output tile too has its own buffer and stride.
            let ostride = (x1 - x0) * g.out_c + 5;
            let mut obuf = [0i8; 4096];
            f(&view, &mut OutWindow { data: &mut obuf, y0, y1, x0, x1, row_stride: ostride }).unwrap();
            let mut wbuf = [0i8; 4096];
            f(&wrapped, &mut OutWindow { data: &mut wbuf, y0, y1, x0, x1, row_stride: ostride }).unwrap();
            assert_eq!(wbuf, obuf, "{g:?}: a wrapped ring view computes what the tile does");
            for y in y0..y1 {
                for x in x0..x1 {
                    for ch in 0..g.out_c {
                        tiled[(y * g.out_w + x) * g.out_c + ch] = obuf[(y - y0) * ostride + (x - x0) * g.out_c + ch];
                    }
                }
            }
            // A view one row short of what the window needs is refused, not read past.
            if r1 - r0 > 1 {
                let short = InView { rows: r1 - r0 - 1, ..view };
                let mut o2 = [0i8; 4096];
                assert_eq!(f(&short, &mut OutWindow { data: &mut o2, y0, y1, x0, x1, row_stride: ostride }), Err(Error::WindowNotCovered));
            }
        }
    }
    assert_eq!(&whole[..n_out], &tiled[..n_out], "{g:?}");
}

fn geom(in_hw: (usize, usize), c: (usize, usize), k: usize, s: usize, d: usize, pad: usize, out_hw: (usize, usize)) -> Geom {
    Geom { in_h: in_hw.0, in_w: in_hw.1, in_c: c.0, out_h: out_hw.0, out_w: out_hw.1, out_c: c.1, kh: k, kw: k, stride_h: s, stride_w: s, dil_h: d, dil_w: d, pad_top: pad, pad_left: pad }
}

#[test]
fn windowed_conv_depthwise_pool_pad_equal_whole() {
    let mut rng = Rng(99);
    let wts: [i8; 4096] = core::array::from_fn(|_| rng.i8());
    let bias: [i32; 64] = core::array::from_fn(|i| (i as i32 - 32) * 97);
    let mult: [i32; 64] = core::array::from_fn(|i| (1 << 30) + (i as i32) * 1_000_003);
    let shift: [i32; 64] = core::array::from_fn(|i| -6 - (i as i32 % 3));
    let q = Requant { bias: &bias, mult: &mult, shift: &shift, in_zp: -5, out_zp: 7, act_min: -100, act_max: 120, single_rounding: false };
    // Conv 3x3 stride 2 SAME (pad 1 top/left) 9x11x3 -> 5x6x8.
    let g = geom((9, 11), (3, 8), 3, 2, 1, 1, (5, 6));
    windowed_equals_whole(g, &|i, o| spatial::conv_i8(&g, i, &wts, &q, o, &mut [0i8; 2048]));
    // Conv 1x1 (the pointwise fast path) 7x7x16 -> 7x7x9.
    let g = geom((7, 7), (16, 9), 1, 1, 1, 0, (7, 7));
    windowed_equals_whole(g, &|i, o| spatial::conv_i8(&g, i, &wts, &q, o, &mut [0i8; 2048]));
    // The same 1x1 conv with input-major weights gives the same bytes (also windowed).
    let mut wio = [0i8; 16 * 9];
    for co in 0..9 {
        for ci in 0..16 {
            wio[ci * 9 + co] = wts[co * 16 + ci];
        }
    }
    windowed_equals_whole(g, &|i, o| spatial::conv_io_i8(&g, i, &wio, &q, o, &mut [0i8; 2048]));
    let input: [i8; 7 * 7 * 16] = core::array::from_fn(|k| (k * 37 % 251) as i8);
    let (mut a, mut b) = ([0i8; 7 * 7 * 9], [0i8; 7 * 7 * 9]);
    spatial::conv_i8(&g, &InView::whole(&input, 7, 7, 16), &wts, &q, &mut OutWindow::whole(&mut a, 7, 7, 9), &mut [0i8; 2048]).unwrap();
    spatial::conv_io_i8(&g, &InView::whole(&input, 7, 7, 16), &wio, &q, &mut OutWindow::whole(&mut b, 7, 7, 9), &mut [0i8; 2048]).unwrap();
    assert_eq!(a, b);
    // Dilated conv 3x3, dilation 2, pad 2: 8x8x2 -> 8x8x4.
    let g = geom((8, 8), (2, 4), 3, 1, 2, 2, (8, 8));
    windowed_equals_whole(g, &|i, o| spatial::conv_i8(&g, i, &wts, &q, o, &mut [0i8; 2048]));
    // Input-major weights for padded / strided / dilated kxk convs give the same bytes.
    for g in [geom((9, 11), (3, 8), 3, 2, 1, 1, (5, 6)), g, geom((5, 5), (3, 5), 3, 1, 1, 0, (3, 3))] {
        let k = g.kh * g.kw * g.in_c;
        let mut wio = [0i8; 4096];
        for co in 0..g.out_c {
            for j in 0..k {
                wio[j * g.out_c + co] = wts[co * k + j];
            }
        }
        let (n_in, n_out) = (g.in_h * g.in_w * g.in_c, g.out_h * g.out_w * g.out_c);
        let inp: [i8; 512] = core::array::from_fn(|i| (i * 53 % 241) as i8);
        let (mut a, mut b) = ([0i8; 512], [0i8; 512]);
        spatial::conv_i8(&g, &InView::whole(&inp[..n_in], g.in_h, g.in_w, g.in_c), &wts, &q, &mut OutWindow::whole(&mut a[..n_out], g.out_h, g.out_w, g.out_c), &mut [0i8; 2048]).unwrap();
        spatial::conv_io_i8(&g, &InView::whole(&inp[..n_in], g.in_h, g.in_w, g.in_c), &wio, &q, &mut OutWindow::whole(&mut b[..n_out], g.out_h, g.out_w, g.out_c), &mut [0i8; 2048]).unwrap();
        assert_eq!(a, b, "{g:?}");
        windowed_equals_whole(g, &|i, o| spatial::conv_io_i8(&g, i, &wio, &q, o, &mut [0i8; 2048]));
    }
    // Depthwise 5x5 stride 2 pad 2 with 70 channels (crosses the 64-channel chunk).
    let bias70: [i32; 70] = core::array::from_fn(|i| i as i32 * 13 - 400);
    let m70 = [1 << 30; 70];
    let s70 = [-7; 70];
    let q70 = Requant { bias: &bias70, mult: &m70, shift: &s70, ..q };
    let g = geom((7, 6), (70, 70), 5, 2, 1, 2, (4, 3));
    windowed_equals_whole(g, &|i, o| spatial::dwconv_i8(&g, 1, i, &wts, &q70, o));
    // Depthwise with depth multiplier 2: 6x6x3 -> 6x6x6, 3x3 pad 1.
    let g = geom((6, 6), (3, 6), 3, 1, 1, 1, (6, 6));
    windowed_equals_whole(g, &|i, o| spatial::dwconv_i8(&g, 2, i, &wts, &q, o));
    // Pools 3x3 stride 2 SAME, and pad.
    let g = geom((9, 9), (5, 5), 3, 2, 1, 1, (5, 5));
    windowed_equals_whole(g, &|i, o| spatial::avgpool_i8(&g, i, (-128, 127), o));
    windowed_equals_whole(g, &|i, o| spatial::maxpool_i8(&g, i, (-50, 127), o));
    let g = Geom { in_h: 5, in_w: 4, in_c: 3, out_h: 8, out_w: 6, out_c: 3, kh: 1, kw: 1, stride_h: 1, stride_w: 1, dil_h: 1, dil_w: 1, pad_top: 2, pad_left: 1 };
    windowed_equals_whole(g, &|i, o| spatial::pad(&g, i, -9i8, o));
}

/// A one-layer program: ADD int8 of two 4-element tensors.
fn tiny_blob() -> ([u32; 128], usize) {
    let mut words = [0u32; 128];
    let n_io = 3;
    let io_off = HEADER_WORDS * 4;
    let layers_off = io_off + n_io * IO_WORDS * 4;
    let weights_off = (layers_off + LAYER_WORDS * 4).next_multiple_of(16);
    let total = weights_off + 32;
    words[hdr::MAGIC] = u32::from_le_bytes(program::MAGIC);
    words[hdr::VERSION] = program::VERSION;
    words[hdr::TOTAL_LEN] = total as u32;
    words[hdr::ARENA_SIZE] = 48;
    words[hdr::N_LAYERS] = 1;
    words[hdr::LAYERS_OFF] = layers_off as u32;
    words[hdr::N_INPUTS] = 2;
    words[hdr::N_OUTPUTS] = 1;
    words[hdr::IO_OFF] = io_off as u32;
    words[hdr::WEIGHTS_OFF] = weights_off as u32;
    words[hdr::WEIGHTS_LEN] = 32;
    for (k, off) in [0u32, 16, 32].iter().enumerate() {
        let b = io_off / 4 + k * IO_WORDS;
        words[b] = *off;
        words[b + 1] = 4;
    }
    let mut l = Layer::new(Op::AddI8);
    l.set(w::IN0, 0).set(w::IN1, 16).set(w::OUT, 32).set(w::IN_C, 4).set_i(w::ACT_MIN, -128).set_i(w::ACT_MAX, 127);
    l.set(w::P1, 20).set(w::MULT, weights_off as u32);
    words[layers_off / 4..layers_off / 4 + LAYER_WORDS].copy_from_slice(&l.words);
    // Same scales: in mults 0.5 (shift 0), out mult 1/(2^20 * 0.5) * 2^... = 2^-19 -> (2^30, -18).
    let m = [1 << 30, 0, 1 << 30, 0, 1 << 30, -18];
    for (k, v) in m.iter().enumerate() {
        words[weights_off / 4 + k] = *v as u32;
    }
    (words, total)
}

fn bytes_of(words: &[u32]) -> &[u8] {
    // SAFETY: u32 storage viewed as bytes (no alignment or validity requirement for u8).
    unsafe { core::slice::from_raw_parts(words.as_ptr() as *const u8, words.len() * 4) }
}

#[test]
fn tiny_program_runs_add() {
    let (words, total) = tiny_blob();
    let p = Program::parse(&bytes_of(&words)[..total]).unwrap();
    assert_eq!(p.arena_size(), 48);
    let mut arena = [0u32; 12];
    {
        // SAFETY: as in bytes_of, mutable.
        let a = unsafe { core::slice::from_raw_parts_mut(arena.as_mut_ptr() as *mut u8, 48) };
        a[0..4].copy_from_slice(&[1, 2, 3, 0xfe]); // 1, 2, 3, -2
        a[16..20].copy_from_slice(&[10, 20, 30, 1]);
        p.run(a).unwrap();
        // (a + b) with equal scales: 11, 22, 33, -1.
        assert_eq!(&a[32..36], &[11, 22, 33, 0xff]);
    }
}

#[test]
fn corrupted_programs_are_refused_without_panicking() {
    let (words, total) = tiny_blob();
    let good = &bytes_of(&words)[..total];
    assert_eq!(Program::parse(&good[..10]).unwrap_err(), Error::Truncated("header"));
    let mut bad = words;
    bad[0] = 0;
    assert_eq!(Program::parse(&bytes_of(&bad)[..total]).unwrap_err(), Error::BadMagic);
    let mut bad = words;
    bad[hdr::VERSION] = 9;
    assert_eq!(Program::parse(&bytes_of(&bad)[..total]).unwrap_err(), Error::UnsupportedVersion(9));
    assert!(Program::parse(&good[..total - 4]).is_err());
    // Every single-word corruption either parses into a program that runs (or errors) cleanly.
    let mut rng = Rng(7);
    for _ in 0..3000 {
        let mut bad = words;
        let k = (rng.next() as usize) % (total / 4);
        bad[k] = match rng.next() % 4 {
            0 => 0,
            1 => u32::MAX,
            2 => rng.next() % 256,
            _ => rng.next(),
        };
        if let Ok(p) = Program::parse(&bytes_of(&bad)[..total]) {
            let mut arena = [0u32; 64];
            // SAFETY: u32 storage as bytes.
            let a = unsafe { core::slice::from_raw_parts_mut(arena.as_mut_ptr() as *mut u8, 256) };
            let _ = p.run(a);
        }
    }
}

#[test]
fn softmax_int8_reference_by_hand() {
    // Two equal logits: each gets half: 0.5 / (1/256) - 128 = 0.
    let (m, s, dmin) = crate::quant::softmax_params(1.0, 0.1);
    let mut out = [0i8; 2];
    crate::ops::softmax_i8(1, 2, &[5, 5], m, s, dmin, &mut out).unwrap();
    assert_eq!(out, [0, 0]);
    // One dominant logit (difference 100 * 0.1 = 10): ~ 1 - 4.5e-5 -> 127, the other -128.
    crate::ops::softmax_i8(1, 2, &[100, 0], m, s, dmin, &mut out).unwrap();
    assert_eq!(out, [127, -128]);
}

#[test]
fn mean_int8_by_hand() {
    // 2x2 map, one channel, values 1,2,3,5 (zp 0), scales equal: mean 2.75 -> 3.
    let (m, s) = crate::quant::quantize_multiplier(1.0);
    let mut out = [0i8; 1];
    crate::ops::mean_hw_i8(2, 2, 1, &[1, 2, 3, 5], 0, 0, m, s, &mut out).unwrap();
    assert_eq!(out, [3]);
    // With input zero point 1: (0 + 1 + 2 + 4) / 4 = 1.75 -> 2.
    crate::ops::mean_hw_i8(2, 2, 1, &[1, 2, 3, 5], 1, 0, m, s, &mut out).unwrap();
    assert_eq!(out, [2]);
}

#[test]
fn concat_requant_by_hand() {
    // in scale 0.5 zp 2 -> out scale 0.25 zp -1: q' = round((q - 2) * 2) - 1.
    let src: [i8; 4] = [2, 3, 10, -128];
    let mut dst = [0i8; 8];
    // Two rows of two values, written every 4 bytes (an axis-1 slice of a wider output).
    crate::ops::strided_requant_i8(2, 2, &src, 2, &mut dst, 4, (2.0, -4.0, -1)).unwrap();
    assert_eq!(dst, [-1, 1, 0, 0, 15, -128, 0, 0]);
}

#[test]
fn simd_dot_equals_scalar_for_every_length() {
    let mut rng = Rng(4242);
    let a: [i8; 100] = core::array::from_fn(|_| rng.i8());
    let b: [i8; 100] = core::array::from_fn(|_| rng.i8());
    for n in 0..100 {
        let want = a[..n].iter().zip(&b[..n]).fold(0i32, |s, (&x, &y)| s + x as i32 * y as i32);
        assert_eq!(crate::spatial::dot_i8(&a[..n], &b[..n]), want, "n = {n}");
    }
    // Extremes: -128 * -128 summed 100 times.
    assert_eq!(crate::spatial::dot_i8(&[-128; 100], &[-128; 100]), 1_638_400);
}

#[test]
fn float_conv_input_major_equals_ohwi() {
    let mut rng = Rng(31);
    let g = geom((9, 8), (3, 5), 3, 2, 1, 1, (5, 4));
    let k = 27;
    let wts: [f32; 27 * 5] = core::array::from_fn(|_| (rng.i8() as f32) / 64.0);
    let mut wio = [0f32; 27 * 5];
    for co in 0..5 {
        for j in 0..k {
            wio[j * 5 + co] = wts[co * k + j];
        }
    }
    let input: [f32; 9 * 8 * 3] = core::array::from_fn(|_| (rng.i8() as f32) / 32.0);
    let bias = [0.5f32, -0.25, 0.0, 1.0, -1.0];
    let (mut a, mut b) = ([0f32; 100], [0f32; 100]);
    let act = (-3.0, 6.0);
    spatial::conv_f32(&g, &InView::whole(&input, 9, 8, 3), &wts, &bias, act, &mut OutWindow::whole(&mut a, 5, 4, 5), &mut [0f32; 1024]).unwrap();
    spatial::conv_io_f32(&g, &InView::whole(&input, 9, 8, 3), &wio, &bias, act, &mut OutWindow::whole(&mut b, 5, 4, 5), &mut [0f32; 1024]).unwrap();
    // Same sums in the same order for these short fields (the OHWI path sums 8 lanes then adds
    // them): equal within float rounding.
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-5 * (1.0 + x.abs()), "{x} {y}");
    }
}
