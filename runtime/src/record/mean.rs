//! MEAN over height and width of an `h x w x c` map (keep_dims or not: the same bytes).

use super::{map_bytes, Elem, Footprint};
use crate::ops;
use crate::program::{as_f32, as_f32_mut, as_i8, as_i8_mut, w, Layer, Op};
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeanArith {
    /// `mult`, `shift`: `in_scale / out_scale` as TFLite's QuantizeMultiplier gives it (the
    /// `1 / (h w)` is folded in at run time, `ops::mean_multiplier`).
    I8 { in_zp: i32, out_zp: i32, mult: i32, shift: i32 },
    F32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mean {
    pub h: u32,
    pub w: u32,
    pub c: u32,
    pub arith: MeanArith,
}

impl Mean {
    pub fn elem(&self) -> Elem {
        match self.arith {
            MeanArith::I8 { .. } => Elem::I8,
            MeanArith::F32 => Elem::F32,
        }
    }
    pub(super) fn op(&self) -> Op {
        match self.elem() {
            Elem::I8 => Op::MeanI8,
            Elem::F32 => Op::MeanF32,
        }
    }
    pub(super) fn decode(l: &Layer, op: Op) -> Mean {
        let arith = if op == Op::MeanI8 { MeanArith::I8 { in_zp: l.i(w::IN_ZP), out_zp: l.i(w::OUT_ZP), mult: l.i(w::P0), shift: l.i(w::P1) } } else { MeanArith::F32 };
        Mean { h: l.words[w::IN_H], w: l.words[w::IN_W], c: l.words[w::IN_C], arith }
    }
    pub(super) fn encode(&self, l: &mut Layer) {
        l.set(w::IN_H, self.h).set(w::IN_W, self.w).set(w::IN_C, self.c);
        if let MeanArith::I8 { in_zp, out_zp, mult, shift } = self.arith {
            l.set_i(w::IN_ZP, in_zp).set_i(w::OUT_ZP, out_zp).set_i(w::P0, mult).set_i(w::P1, shift);
        }
    }
    pub(super) fn footprint(&self) -> Footprint {
        let e = self.elem();
        Footprint { in0: map_bytes(self.h as usize, self.w as usize, self.c as usize, e), out: self.c as u64 * e.size() as u64, ..Footprint::default() }
    }
    pub(super) fn run(&self, input: &[u8], out: &mut [u8]) -> Result<(), Error> {
        let (h, wd, c) = (self.h as usize, self.w as usize, self.c as usize);
        match self.arith {
            MeanArith::I8 { in_zp, out_zp, mult, shift } => ops::mean_hw_i8(h, wd, c, as_i8(input), in_zp, out_zp, mult, shift, as_i8_mut(out)),
            MeanArith::F32 => ops::mean_hw_f32(h, wd, c, as_f32(input)?, as_f32_mut(out)?),
        }
    }
}
