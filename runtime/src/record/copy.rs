//! Strided byte copies (CONCATENATION, RESHAPE into its own buffer), optionally requantising
//! int8 (a concatenation input with other quantisation than the output).

use super::Footprint;
use crate::ops;
use crate::program::{as_i8, as_i8_mut, w, Layer, Op};
use crate::Error;

/// TFLite's ConcatenationWithScaling, in f32: `q_out = round(q_in * scale + bias) + out_zp`
/// with `scale = in_scale / out_scale` and `bias = -in_zp * scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CopyRequant {
    pub scale: f32,
    pub bias: f32,
    pub out_zp: i32,
}

/// `rows` runs of `len` bytes, `src_stride` apart in the input and `dst_stride` apart in the
/// output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Copy {
    pub rows: u32,
    pub len: u32,
    pub src_stride: u32,
    pub dst_stride: u32,
    pub requant: Option<CopyRequant>,
}

// Wire words of the requantisation (no geometry in a copy record).
const SCALE: usize = w::IN_H;
const BIAS: usize = w::IN_W;

impl Copy {
    pub(super) fn op(&self) -> Op {
        if self.requant.is_some() {
            Op::CopyRequantI8
        } else {
            Op::Copy
        }
    }
    pub(super) fn decode(l: &Layer, op: Op) -> Copy {
        let requant = (op == Op::CopyRequantI8).then(|| CopyRequant { scale: l.f(SCALE), bias: l.f(BIAS), out_zp: l.i(w::OUT_ZP) });
        Copy { rows: l.words[w::P0], len: l.words[w::P1], src_stride: l.words[w::P2], dst_stride: l.words[w::P3], requant }
    }
    pub(super) fn encode(&self, l: &mut Layer) {
        l.set(w::P0, self.rows).set(w::P1, self.len).set(w::P2, self.src_stride).set(w::P3, self.dst_stride);
        if let Some(r) = self.requant {
            l.set_f(SCALE, r.scale).set_f(BIAS, r.bias).set_i(w::OUT_ZP, r.out_zp);
        }
    }
    pub(super) fn footprint(&self) -> Footprint {
        let (r, len, ss, ds) = (self.rows as u64, self.len as u64, self.src_stride as u64, self.dst_stride as u64);
        let mut f = Footprint::default();
        if r > 0 && len > 0 {
            f.in0 = (r - 1) * ss + len;
            f.out = (r - 1) * ds + len;
        }
        f
    }
    pub(super) fn run(&self, input: &[u8], out: &mut [u8]) -> Result<(), Error> {
        let (r, len, ss, ds) = (self.rows as usize, self.len as usize, self.src_stride as usize, self.dst_stride as usize);
        match self.requant {
            None => ops::strided_copy(r, len, input, ss, out, ds),
            Some(q) => ops::strided_requant_i8(r, len, as_i8(input), ss, as_i8_mut(out), ds, (q.scale, q.bias, q.out_zp)),
        }
    }
}
