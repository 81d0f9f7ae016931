//! ADD of two same-shaped tensors (no broadcasting), int8 and float32.

use super::{Act, Elem, Footprint};
use crate::ops::{self, AddParams};
use crate::program::{as_f32, as_f32_mut, as_i8, as_i8_mut, w, Layer, Op, Program};
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AddArith {
    /// TFLite's int8 ADD: inputs shifted left by `left_shift`, rescaled to a common scale, summed
    /// and rescaled to the output; `mult` is the blob offset of six i32: input 1 multiplier and
    /// shift, input 2 multiplier and shift, output multiplier and shift.
    I8 { in1_zp: i32, in2_zp: i32, out_zp: i32, left_shift: i32, mult: u32, act: (i32, i32) },
    F32 { act: (f32, f32) },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Add {
    /// Elements.
    pub n: u32,
    pub arith: AddArith,
}

impl Add {
    pub fn elem(&self) -> Elem {
        match self.arith {
            AddArith::I8 { .. } => Elem::I8,
            AddArith::F32 { .. } => Elem::F32,
        }
    }
    pub(super) fn op(&self) -> Op {
        match self.elem() {
            Elem::I8 => Op::AddI8,
            Elem::F32 => Op::AddF32,
        }
    }
    pub(super) fn decode(l: &Layer, op: Op) -> Result<Add, Error> {
        let arith = if op == Op::AddI8 {
            let act = Act::decode(l, Elem::I8)?.i8()?;
            AddArith::I8 { in1_zp: l.i(w::IN_ZP), in2_zp: l.i(w::P0), out_zp: l.i(w::OUT_ZP), left_shift: l.i(w::P1), mult: l.words[w::MULT], act }
        } else {
            AddArith::F32 { act: Act::decode(l, Elem::F32)?.f32()? }
        };
        Ok(Add { n: l.words[w::IN_C], arith })
    }
    pub(super) fn encode(&self, l: &mut Layer) {
        l.set(w::IN_C, self.n);
        match self.arith {
            AddArith::I8 { in1_zp, in2_zp, out_zp, left_shift, mult, act } => {
                l.set_i(w::IN_ZP, in1_zp).set_i(w::P0, in2_zp).set_i(w::OUT_ZP, out_zp).set_i(w::P1, left_shift).set(w::MULT, mult);
                Act::I8 { min: act.0, max: act.1 }.encode(l);
            }
            AddArith::F32 { act } => Act::F32 { min: act.0, max: act.1 }.encode(l),
        }
    }
    pub(super) fn footprint(&self) -> Footprint {
        let b = self.n as u64 * self.elem().size() as u64;
        let mut f = Footprint { in0: b, in1: b, out: b, ..Footprint::default() };
        if let AddArith::I8 { mult, .. } = self.arith {
            f.weights[0] = (mult as u64, 24, 4);
        }
        f
    }
    pub(super) fn run(&self, prog: &Program, a: &[u8], b: &[u8], out: &mut [u8]) -> Result<(), Error> {
        match self.arith {
            AddArith::I8 { in1_zp, in2_zp, out_zp, left_shift, mult, act } => {
                let m = prog.weights_i32(mult as usize, 6)?;
                let p = AddParams {
                    in1_zp,
                    in2_zp,
                    out_zp,
                    left_shift,
                    in1_mult: m[0],
                    in1_shift: m[1],
                    in2_mult: m[2],
                    in2_shift: m[3],
                    out_mult: m[4],
                    out_shift: m[5],
                    act_min: act.0,
                    act_max: act.1,
                };
                ops::add_i8(&p, as_i8(a), as_i8(b), as_i8_mut(out))
            }
            AddArith::F32 { act } => ops::add_f32(as_f32(a)?, as_f32(b)?, act, as_f32_mut(out)?),
        }
    }
}
