//! SOFTMAX over the last axis: `rows` rows of `depth` values.

use super::{Elem, Footprint};
use crate::ops;
use crate::program::{as_f32, as_f32_mut, as_i8, as_i8_mut, w, Layer, Op, Program};
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SoftmaxArith {
    /// The reference kernels' fixed-point softmax (output scale 1/256, zero point -128).
    I8 { input_mult: i32, left_shift: i32, diff_min: i32 },
    /// LiteRT's optimized int8 softmax: `table` = blob offset of 256 f32 `exp` values.
    Lut { table: u32, out_scale: f32, out_zp: i32 },
    F32 { beta: f32 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Softmax {
    pub rows: u32,
    pub depth: u32,
    pub arith: SoftmaxArith,
}

impl Softmax {
    pub fn elem(&self) -> Elem {
        match self.arith {
            SoftmaxArith::F32 { .. } => Elem::F32,
            _ => Elem::I8,
        }
    }
    pub(super) fn op(&self) -> Op {
        match self.arith {
            SoftmaxArith::I8 { .. } => Op::SoftmaxI8,
            SoftmaxArith::Lut { .. } => Op::SoftmaxLutI8,
            SoftmaxArith::F32 { .. } => Op::SoftmaxF32,
        }
    }
    pub(super) fn decode(l: &Layer, op: Op) -> Softmax {
        let arith = match op {
            Op::SoftmaxI8 => SoftmaxArith::I8 { input_mult: l.i(w::P0), left_shift: l.i(w::P1), diff_min: l.i(w::P2) },
            Op::SoftmaxLutI8 => SoftmaxArith::Lut { table: l.words[w::WEIGHTS], out_scale: l.f(w::P0), out_zp: l.i(w::OUT_ZP) },
            _ => SoftmaxArith::F32 { beta: l.f(w::P0) },
        };
        Softmax { rows: l.words[w::IN_H], depth: l.words[w::IN_C], arith }
    }
    pub(super) fn encode(&self, l: &mut Layer) {
        l.set(w::IN_H, self.rows).set(w::IN_C, self.depth);
        match self.arith {
            SoftmaxArith::I8 { input_mult, left_shift, diff_min } => l.set_i(w::P0, input_mult).set_i(w::P1, left_shift).set_i(w::P2, diff_min),
            SoftmaxArith::Lut { table, out_scale, out_zp } => l.set(w::WEIGHTS, table).set_f(w::P0, out_scale).set_i(w::OUT_ZP, out_zp),
            SoftmaxArith::F32 { beta } => l.set_f(w::P0, beta),
        };
    }
    pub(super) fn footprint(&self) -> Footprint {
        let b = self.rows as u64 * self.depth as u64 * self.elem().size() as u64;
        let mut f = Footprint { in0: b, out: b, ..Footprint::default() };
        if let SoftmaxArith::Lut { table, .. } = self.arith {
            f.weights[0] = (table as u64, 256 * 4, 4);
        }
        f
    }
    pub(super) fn run(&self, prog: &Program, input: &[u8], out: &mut [u8]) -> Result<(), Error> {
        let (rows, depth) = (self.rows as usize, self.depth as usize);
        match self.arith {
            SoftmaxArith::I8 { input_mult, left_shift, diff_min } => ops::softmax_i8(rows, depth, as_i8(input), input_mult, left_shift, diff_min, as_i8_mut(out)),
            SoftmaxArith::Lut { table, out_scale, out_zp } => {
                ops::softmax_lut_i8(rows, depth, as_i8(input), prog.weights_f32(table as usize, 256)?, out_scale, out_zp, as_i8_mut(out))
            }
            SoftmaxArith::F32 { beta } => ops::softmax_f32(rows, depth, beta, as_f32(input)?, as_f32_mut(out)?),
        }
    }
}
