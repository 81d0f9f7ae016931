//! FULLY_CONNECTED, int8 and float32: `rows` independent rows of `in_dim` inputs.

use super::{Act, ChannelQuant, Elem, Footprint};
use crate::ops;
use crate::program::{as_f32, as_f32_mut, as_i8, as_i8_mut, w, Layer, Op, Program};
use crate::Error;

/// Weights `[out_dim][in_dim]`; int8 biases folded as for [`super::Conv`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fc {
    pub rows: u32,
    pub in_dim: u32,
    pub out_dim: u32,
    pub weights: u32,
    pub bias: u32,
    /// int8 only.
    pub quant: Option<ChannelQuant>,
    pub act: Act,
}

impl Fc {
    pub fn elem(&self) -> Elem {
        self.act.elem()
    }
    pub(super) fn op(&self) -> Op {
        match self.elem() {
            Elem::I8 => Op::FcI8,
            Elem::F32 => Op::FcF32,
        }
    }
    pub(super) fn decode(l: &Layer, op: Op) -> Result<Fc, Error> {
        let e = if op == Op::FcI8 { Elem::I8 } else { Elem::F32 };
        Ok(Fc {
            rows: l.words[w::IN_H],
            in_dim: l.words[w::IN_C],
            out_dim: l.words[w::OUT_C],
            weights: l.words[w::WEIGHTS],
            bias: l.words[w::BIAS],
            quant: (e == Elem::I8).then(|| ChannelQuant::decode(l)),
            act: Act::decode(l, e)?,
        })
    }
    pub(super) fn encode(&self, l: &mut Layer) {
        l.set(w::IN_H, self.rows).set(w::IN_C, self.in_dim).set(w::OUT_C, self.out_dim);
        l.set(w::WEIGHTS, self.weights).set(w::BIAS, self.bias);
        if let Some(q) = &self.quant {
            q.encode(l);
        }
        self.act.encode(l);
    }
    pub(super) fn weight_fields(&mut self) -> [Option<&mut u32>; 4] {
        match &mut self.quant {
            Some(q) => [Some(&mut self.weights), Some(&mut self.bias), Some(&mut q.mult), Some(&mut q.shift)],
            None => [Some(&mut self.weights), Some(&mut self.bias), None, None],
        }
    }
    pub(super) fn footprint(&self) -> Footprint {
        let es = self.elem().size() as u64;
        let (rows, n, oc) = (self.rows as u64, self.in_dim as u64, self.out_dim as u64);
        let mut f = Footprint { in0: rows * n * es, out: rows * oc * es, ..Footprint::default() };
        f.weights[0] = (self.weights as u64, oc * n * es, es);
        f.weights[1] = (self.bias as u64, oc * 4, 4);
        if let Some(q) = &self.quant {
            f.weights[2] = (q.mult as u64, oc * 4, 4);
            f.weights[3] = (q.shift as u64, oc * 4, 4);
        }
        f
    }
    pub(super) fn run(&self, prog: &Program, input: &[u8], out: &mut [u8]) -> Result<(), Error> {
        let (rows, n, oc) = (self.rows as usize, self.in_dim as usize, self.out_dim as usize);
        match &self.quant {
            Some(cq) => {
                let q = prog.requant(cq, self.bias, oc, self.act.i8()?)?;
                let wts = prog.weights_i8(self.weights as usize, oc * n)?;
                ops::fc_i8(rows, n, oc, as_i8(input), wts, &q, as_i8_mut(out))
            }
            None => {
                let wts = prog.weights_f32(self.weights as usize, oc * n)?;
                let bias = prog.weights_f32(self.bias as usize, oc)?;
                ops::fc_f32(rows, n, oc, as_f32(input)?, wts, bias, self.act.f32()?, as_f32_mut(out)?)
            }
        }
    }
}
