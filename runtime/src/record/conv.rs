//! CONV_2D and DEPTHWISE_CONV_2D, int8 and float32.

use super::{map_bytes, Act, ChannelQuant, Elem, Footprint, RawView, RawWindow};
use crate::program::{as_f32_mut, as_i8_mut, w, Layer, Op, Program};
use crate::spatial::{self, Geom};
use crate::Error;

/// A convolution. int8: `weights` OHWI (or `[kh*kw][out_c]` for depthwise), `bias` the folded
/// int32 `b - in_zp * sum(w)` per output channel. float32: f32 weights and biases.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv {
    pub geom: Geom,
    pub depthwise: bool,
    /// Output channels per input channel (depthwise).
    pub depth_multiplier: u32,
    /// Weights stored input-major, `[kh * kw * in_c][out_c]` (see `spatial::conv_io_*`).
    pub input_major: bool,
    pub weights: u32,
    pub bias: u32,
    /// int8 only.
    pub quant: Option<ChannelQuant>,
    pub act: Act,
}

/// The scratch as f32 (whole elements; the arena keeps it 4-aligned).
fn f32_scratch(s: &mut [u8]) -> Result<&mut [f32], Error> {
    let n = s.len() / 4 * 4;
    as_f32_mut(&mut s[..n])
}

impl Conv {
    pub fn elem(&self) -> Elem {
        self.act.elem()
    }
    pub(super) fn op(&self) -> Op {
        match (self.elem(), self.depthwise) {
            (Elem::I8, false) => Op::ConvI8,
            (Elem::I8, true) => Op::DwConvI8,
            (Elem::F32, false) => Op::ConvF32,
            (Elem::F32, true) => Op::DwConvF32,
        }
    }
    pub(super) fn decode(l: &Layer, op: Op) -> Result<Conv, Error> {
        let e = if matches!(op, Op::ConvI8 | Op::DwConvI8) { Elem::I8 } else { Elem::F32 };
        let geom = l.geom();
        geom.validate()?;
        Ok(Conv {
            geom,
            depthwise: matches!(op, Op::DwConvI8 | Op::DwConvF32),
            depth_multiplier: l.words[w::P0],
            input_major: l.words[w::P2] == 1,
            weights: l.words[w::WEIGHTS],
            bias: l.words[w::BIAS],
            quant: (e == Elem::I8).then(|| ChannelQuant::decode(l)),
            act: Act::decode(l, e)?,
        })
    }
    pub(super) fn encode(&self, l: &mut Layer) {
        l.set_geom(&self.geom).set(w::WEIGHTS, self.weights).set(w::BIAS, self.bias).set(w::P0, self.depth_multiplier);
        if let Some(q) = &self.quant {
            q.encode(l);
        }
        if self.input_major {
            l.set(w::P2, 1);
        }
        self.act.encode(l);
    }
    pub(super) fn weight_fields(&mut self) -> [Option<&mut u32>; 4] {
        match &mut self.quant {
            Some(q) => [Some(&mut self.weights), Some(&mut self.bias), Some(&mut q.mult), Some(&mut q.shift)],
            None => [Some(&mut self.weights), Some(&mut self.bias), None, None],
        }
    }
    /// Weights per output channel.
    fn per_channel(&self) -> usize {
        let g = &self.geom;
        if self.depthwise {
            g.kh * g.kw
        } else {
            g.kh * g.kw * g.in_c
        }
    }
    pub(super) fn footprint(&self) -> Footprint {
        let g = &self.geom;
        let e = self.elem();
        let (es, oc) = (e.size() as u64, g.out_c as u64);
        let wn = oc * self.per_channel() as u64 * es;
        let mut f = Footprint { in0: map_bytes(g.in_h, g.in_w, g.in_c, e), out: map_bytes(g.out_h, g.out_w, g.out_c, e), ..Footprint::default() };
        f.weights[0] = (self.weights as u64, wn, es);
        f.weights[1] = (self.bias as u64, oc * 4, 4);
        if let Some(q) = &self.quant {
            f.weights[2] = (q.mult as u64, oc * 4, 4);
            f.weights[3] = (q.shift as u64, oc * 4, 4);
        }
        f
    }
    /// Bytes of the im2col patch its kernel gathers into (none for depthwise).
    pub fn scratch_bytes(&self) -> usize {
        let g = &self.geom;
        if self.depthwise {
            0
        } else {
            spatial::conv_scratch_bytes(g.kh, g.kw, g.in_c, self.elem().size())
        }
    }
    // Out of line: the per-call record, views and requantisation stay in this frame, not in
    // every caller's (the firmware's stack is measured; see README, Firmware RAM).
    #[inline(never)]
    pub(super) fn run(&self, prog: &Program, view: &RawView, out: RawWindow, scratch: &mut [u8]) -> Result<(), Error> {

        let g = &self.geom;
        let n_w = g.out_c * self.per_channel();
        let dm = self.depth_multiplier as usize;
        match &self.quant {
            Some(cq) => {
                let (act_min, act_max) = self.act.i8()?;
                let q = prog.requant(cq, self.bias, g.out_c, (act_min, act_max))?;
                let wts = prog.weights_i8(self.weights as usize, n_w)?;
                let (input, mut o) = (view.i8(), out.i8());
                match (self.depthwise, self.input_major) {
                    (true, _) => spatial::dwconv_i8(g, dm, &input, wts, &q, &mut o),
                    (false, true) => spatial::conv_io_i8(g, &input, wts, &q, &mut o, as_i8_mut(scratch)),
                    (false, false) => spatial::conv_i8(g, &input, wts, &q, &mut o, as_i8_mut(scratch)),
                }
            }
            None => {
                let act = self.act.f32()?;
                let bias = prog.weights_f32(self.bias as usize, g.out_c)?;
                let wts = prog.weights_f32(self.weights as usize, n_w)?;
                let (input, mut o) = (view.f32()?, out.f32()?);
                match (self.depthwise, self.input_major) {
                    (true, _) => spatial::dwconv_f32(g, dm, &input, wts, bias, act, &mut o),
                    (false, true) => spatial::conv_io_f32(g, &input, wts, bias, act, &mut o, f32_scratch(scratch)?),
                    (false, false) => spatial::conv_f32(g, &input, wts, bias, act, &mut o, f32_scratch(scratch)?),
                }
            }
        }
    }
}
