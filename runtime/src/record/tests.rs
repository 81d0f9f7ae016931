//! Every op record survives encode -> decode unchanged, knows its wire code, and reports the
//! words that hold weights offsets; decoding refuses what no kernel could run.

use super::*;

fn geom(k: usize, s: usize) -> Geom {
    Geom { in_h: 9, in_w: 7, in_c: 3, out_h: 9 / s, out_w: 7 / s, out_c: 6, kh: k, kw: k, stride_h: s, stride_w: s, dil_h: 1, dil_w: 1, pad_top: k / 2, pad_left: k / 2 }
}

fn cq(single_rounding: bool) -> Option<ChannelQuant> {
    Some(ChannelQuant { mult: 160, shift: 192, in_zp: -3, out_zp: 5, single_rounding })
}

/// One record of every wire op code.
fn every_record() -> [Record; 28] {
    let i8a = Act::I8 { min: -100, max: 120 };
    let f32a = Act::F32 { min: 0.0, max: 6.0 };
    let conv = |depthwise, quant, act, input_major| Kind::Conv(Conv { geom: geom(3, 2), depthwise, depth_multiplier: if depthwise { 2 } else { 1 }, input_major, weights: 16, bias: 128, quant, act });
    let fc = |quant, act| Kind::Fc(Fc { rows: 2, in_dim: 40, out_dim: 10, weights: 32, bias: 96, quant, act });
    let pool = |kind, act| Kind::Pool(Pool { geom: geom(2, 2), kind, act });
    let pw = |f| Kind::Pointwise(Pointwise { n: 77, f });
    let kinds = [
        conv(false, cq(true), i8a, false),
        conv(true, cq(false), i8a, false),
        fc(cq(true), i8a),
        Kind::Add(Add { n: 33, arith: AddArith::I8 { in1_zp: 1, in2_zp: -2, out_zp: 3, left_shift: 20, mult: 48, act: (-128, 127) } }),
        pool(PoolKind::Average, i8a),
        pool(PoolKind::Max, i8a),
        Kind::Mean(Mean { h: 5, w: 4, c: 8, arith: MeanArith::I8 { in_zp: -1, out_zp: 2, mult: 1 << 30, shift: -3 } }),
        Kind::Softmax(Softmax { rows: 1, depth: 10, arith: SoftmaxArith::I8 { input_mult: 1 << 29, left_shift: 5, diff_min: -248 } }),
        Kind::Pad(Pad { geom: Geom { out_h: 11, out_w: 9, out_c: 3, kh: 1, kw: 1, stride_h: 1, stride_w: 1, pad_top: 1, pad_left: 1, ..geom(1, 1) }, value: PadValue::I8(-7) }),
        pw(PointwiseFn::Lut { table: 64 }),
        pw(PointwiseFn::Requant { in_zp: 4, out_zp: -4, mult: 1 << 30, shift: 1 }),
        pw(PointwiseFn::ClampI8 { min: -128, max: 0 }),
        pw(PointwiseFn::Quantize { scale: 0.25, zp: -9 }),
        pw(PointwiseFn::Dequantize { scale: 0.5, zp: 9 }),
        Kind::Copy(Copy { rows: 3, len: 12, src_stride: 12, dst_stride: 20, requant: None }),
        Kind::Softmax(Softmax { rows: 2, depth: 3, arith: SoftmaxArith::Lut { table: 1024, out_scale: 1.0 / 256.0, out_zp: -128 } }),
        Kind::Copy(Copy { rows: 3, len: 8, src_stride: 8, dst_stride: 20, requant: Some(CopyRequant { scale: 0.75, bias: -1.5, out_zp: 3 }) }),
        conv(false, None, f32a, true),
        conv(true, None, f32a, false),
        fc(None, f32a),
        Kind::Add(Add { n: 33, arith: AddArith::F32 { act: (f32::MIN, f32::MAX) } }),
        pool(PoolKind::Average, f32a),
        pool(PoolKind::Max, f32a),
        Kind::Mean(Mean { h: 5, w: 4, c: 8, arith: MeanArith::F32 }),
        Kind::Softmax(Softmax { rows: 1, depth: 10, arith: SoftmaxArith::F32 { beta: 1.5 } }),
        Kind::Pad(Pad { geom: geom(1, 1), value: PadValue::F32(0.0) }),
        pw(PointwiseFn::LogisticF32),
        pw(PointwiseFn::ClampF32 { min: -1.0, max: 1.0 }),
    ];
    kinds.map(|kind| Record { tag: 7, in0: 256, in1: 512, out: 1024, scratch: 2048, kind })
}

#[test]
fn every_record_round_trips() {
    let records = every_record();
    let mut codes: [u32; 28] = records.map(|r| r.op() as u32);
    codes.sort_unstable();
    let mut all = [1u32, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31];
    all.sort_unstable();
    assert_eq!(codes, all, "one record per wire op code");
    for r in records {
        let l = r.encode();
        assert_eq!(l.op(), Some(r.op()));
        let back = Record::decode(&l).unwrap();
        assert_eq!(back, r, "{:?}", r.op());
        assert_eq!(back.encode().words, l.words);
    }
}

#[test]
fn relocation_moves_exactly_the_weight_words() {
    for r in every_record() {
        let before = r.encode();
        let mut moved = r;
        moved.relocate(4096);
        let after = moved.encode();
        let words: [bool; crate::program::LAYER_WORDS] = core::array::from_fn(|i| after.words[i] != before.words[i]);
        for (i, changed) in words.iter().enumerate() {
            assert_eq!(*changed, r.weight_words().any(|k| k == i), "{:?} word {i}", r.op());
            if *changed {
                assert_eq!(after.words[i], before.words[i] + 4096);
            }
        }
        // Every relocated offset is one the footprint reads.
        let f = r.footprint();
        let n_weights = f.weights.iter().filter(|w| w.1 > 0).count();
        assert_eq!(n_weights, r.weight_words().count(), "{:?}", r.op());
    }
}

#[test]
fn footprints_by_worked_example() {
    let r = every_record();
    // CONV int8 3x3 stride 2 on 9x7x3 -> 4x3x6: 189 bytes in, 72 out, 6*27 weights.
    let f = r[0].footprint();
    assert_eq!((f.in0, f.in1, f.out), (189, 0, 72));
    assert_eq!(f.weights[0], (16, 162, 1));
    assert_eq!(f.weights[1], (128, 24, 4));
    // The float twin counts four bytes an element.
    let f = r[17].footprint();
    assert_eq!((f.in0, f.out), (756, 288));
    assert_eq!(f.weights[0], (16, 648, 4));
    // ADD reads both inputs; its six multipliers are 24 bytes.
    let f = r[3].footprint();
    assert_eq!((f.in0, f.in1, f.out, f.weights[0]), (33, 33, 33, (48, 24, 4)));
    // DEQUANTIZE reads int8, writes float32.
    let f = r[13].footprint();
    assert_eq!((f.in0, f.out), (77, 308));
    // A strided copy of 3 rows of 12 bytes into rows 20 apart ends at 2*20 + 12.
    let f = r[14].footprint();
    assert_eq!((f.in0, f.out), (36, 52));
}

#[test]
fn streaming_is_a_property_of_the_family() {
    for r in every_record() {
        let want = match r.kind {
            Kind::Conv(_) | Kind::Pool(_) => Streaming::Window,
            Kind::Add(_) | Kind::Pointwise(_) => Streaming::Pointwise,
            Kind::Mean(_) | Kind::Fc(_) => Streaming::Tail,
            Kind::Pad(_) | Kind::Softmax(_) | Kind::Copy(_) => Streaming::Whole,
        };
        assert_eq!(r.streaming(), want, "{:?}", r.op());
        assert_eq!(r.n_inputs(), if matches!(r.kind, Kind::Add(_)) { 2 } else { 1 });
    }
}

#[test]
fn decoding_refuses_what_no_kernel_can_run() {
    let mut l = every_record()[0].encode();
    l.words[w::OP] = 99;
    assert!(matches!(Record::decode(&l), Err(Error::UnknownOp { op: 99, .. })));
    // int8 activation bounds outside int8, or crossed.
    for (lo, hi) in [(-129, 0), (0, 128), (10, -10)] {
        let mut l = every_record()[0].encode();
        l.set_i(w::ACT_MIN, lo).set_i(w::ACT_MAX, hi);
        assert_eq!(Record::decode(&l), Err(Error::BadParams("int8 activation range")));
    }
    // A zero-sized window.
    let mut l = every_record()[4].encode();
    l.set(w::KH, 0);
    assert_eq!(Record::decode(&l), Err(Error::BadGeometry));
}
