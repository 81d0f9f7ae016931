//! Element-by-element ops of one input: activations, lookup tables, (de)quantisation.

use super::{Act, Elem, Footprint};
use crate::ops;
use crate::program::{as_f32, as_f32_mut, as_i8, as_i8_mut, w, Layer, Op, Program};
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointwiseFn {
    /// int8 -> int8 through a 256-byte table at blob offset `table` (LOGISTIC int8).
    Lut { table: u32 },
    /// int8 -> int8 with another scale / zero point (QUANTIZE int8 -> int8).
    Requant { in_zp: i32, out_zp: i32, mult: i32, shift: i32 },
    /// RELU / RELU6 as a clamp.
    ClampI8 { min: i32, max: i32 },
    ClampF32 { min: f32, max: f32 },
    LogisticF32,
    /// float32 -> int8.
    Quantize { scale: f32, zp: i32 },
    /// int8 -> float32.
    Dequantize { scale: f32, zp: i32 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pointwise {
    /// Elements.
    pub n: u32,
    pub f: PointwiseFn,
}

impl Pointwise {
    pub(super) fn elems(&self) -> (Elem, Elem) {
        match self.f {
            PointwiseFn::Lut { .. } | PointwiseFn::Requant { .. } | PointwiseFn::ClampI8 { .. } => (Elem::I8, Elem::I8),
            PointwiseFn::ClampF32 { .. } | PointwiseFn::LogisticF32 => (Elem::F32, Elem::F32),
            PointwiseFn::Quantize { .. } => (Elem::F32, Elem::I8),
            PointwiseFn::Dequantize { .. } => (Elem::I8, Elem::F32),
        }
    }
    pub(super) fn op(&self) -> Op {
        match self.f {
            PointwiseFn::Lut { .. } => Op::LutI8,
            PointwiseFn::Requant { .. } => Op::RequantI8,
            PointwiseFn::ClampI8 { .. } => Op::ClampI8,
            PointwiseFn::ClampF32 { .. } => Op::ClampF32,
            PointwiseFn::LogisticF32 => Op::LogisticF32,
            PointwiseFn::Quantize { .. } => Op::Quantize,
            PointwiseFn::Dequantize { .. } => Op::Dequantize,
        }
    }
    pub(super) fn decode(l: &Layer, op: Op) -> Result<Pointwise, Error> {
        let f = match op {
            Op::LutI8 => PointwiseFn::Lut { table: l.words[w::WEIGHTS] },
            Op::RequantI8 => PointwiseFn::Requant { in_zp: l.i(w::IN_ZP), out_zp: l.i(w::OUT_ZP), mult: l.i(w::P0), shift: l.i(w::P1) },
            Op::ClampI8 => {
                let (min, max) = Act::decode(l, Elem::I8)?.i8()?;
                PointwiseFn::ClampI8 { min, max }
            }
            Op::ClampF32 => {
                let (min, max) = Act::decode(l, Elem::F32)?.f32()?;
                PointwiseFn::ClampF32 { min, max }
            }
            Op::LogisticF32 => PointwiseFn::LogisticF32,
            Op::Quantize => PointwiseFn::Quantize { scale: l.f(w::P0), zp: l.i(w::OUT_ZP) },
            _ => PointwiseFn::Dequantize { scale: l.f(w::P0), zp: l.i(w::IN_ZP) },
        };
        Ok(Pointwise { n: l.words[w::IN_C], f })
    }
    pub(super) fn encode(&self, l: &mut Layer) {
        l.set(w::IN_C, self.n);
        match self.f {
            PointwiseFn::Lut { table } => l.set(w::WEIGHTS, table),
            PointwiseFn::Requant { in_zp, out_zp, mult, shift } => l.set_i(w::IN_ZP, in_zp).set_i(w::OUT_ZP, out_zp).set_i(w::P0, mult).set_i(w::P1, shift),
            PointwiseFn::ClampI8 { min, max } => l.set_i(w::ACT_MIN, min).set_i(w::ACT_MAX, max),
            PointwiseFn::ClampF32 { min, max } => l.set_f(w::ACT_MIN, min).set_f(w::ACT_MAX, max),
            PointwiseFn::LogisticF32 => l,
            PointwiseFn::Quantize { scale, zp } => l.set_f(w::P0, scale).set_i(w::OUT_ZP, zp),
            PointwiseFn::Dequantize { scale, zp } => l.set_f(w::P0, scale).set_i(w::IN_ZP, zp),
        };
    }
    pub(super) fn footprint(&self) -> Footprint {
        let (ie, oe) = self.elems();
        let n = self.n as u64;
        let mut f = Footprint { in0: n * ie.size() as u64, out: n * oe.size() as u64, ..Footprint::default() };
        if let PointwiseFn::Lut { table } = self.f {
            f.weights[0] = (table as u64, 256, 1);
        }
        f
    }
    pub(super) fn run(&self, prog: &Program, a: &[u8], out: &mut [u8]) -> Result<(), Error> {
        match self.f {
            PointwiseFn::Lut { table } => ops::lut_i8(prog.weights_i8(table as usize, 256)?, as_i8(a), as_i8_mut(out)),
            PointwiseFn::Requant { in_zp, out_zp, mult, shift } => ops::requant_i8(in_zp, out_zp, mult, shift, as_i8(a), as_i8_mut(out)),
            PointwiseFn::ClampI8 { min, max } => ops::clamp_i8(min, max, as_i8(a), as_i8_mut(out)),
            PointwiseFn::ClampF32 { min, max } => ops::clamp_f32_slice(min, max, as_f32(a)?, as_f32_mut(out)?),
            PointwiseFn::LogisticF32 => ops::logistic_f32(as_f32(a)?, as_f32_mut(out)?),
            PointwiseFn::Quantize { scale, zp } => ops::quantize_f32_i8(scale, zp, as_f32(a)?, as_i8_mut(out)),
            PointwiseFn::Dequantize { scale, zp } => ops::dequantize_i8_f32(scale, zp, as_i8(a), as_f32_mut(out)?),
        }
    }
}
