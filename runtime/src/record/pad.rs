//! PAD over height and width (geometry: a 1x1 stride-1 window with the padding before).

use super::{map_bytes, Elem, Footprint, RawView, RawWindow};
use crate::program::{w, Layer, Op};
use crate::spatial::{self, Geom};
use crate::Error;

/// The pad value, in the tensor's own type (int8: the output zero point).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadValue {
    I8(i8),
    F32(f32),
}

impl PadValue {
    pub fn elem(&self) -> Elem {
        match self {
            PadValue::I8(_) => Elem::I8,
            PadValue::F32(_) => Elem::F32,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pad {
    pub geom: Geom,
    pub value: PadValue,
}

impl Pad {
    pub(super) fn op(&self) -> Op {
        match self.value {
            PadValue::I8(_) => Op::PadI8,
            PadValue::F32(_) => Op::PadF32,
        }
    }
    pub(super) fn decode(l: &Layer, op: Op) -> Result<Pad, Error> {
        let geom = l.geom();
        geom.validate()?;
        let value = if op == Op::PadI8 { PadValue::I8(l.i(w::P0) as i8) } else { PadValue::F32(l.f(w::P0)) };
        Ok(Pad { geom, value })
    }
    pub(super) fn encode(&self, l: &mut Layer) {
        l.set_geom(&self.geom);
        match self.value {
            PadValue::I8(v) => l.set_i(w::P0, v as i32),
            PadValue::F32(v) => l.set_f(w::P0, v),
        };
    }
    pub(super) fn footprint(&self) -> Footprint {
        let (g, e) = (&self.geom, self.value.elem());
        Footprint { in0: map_bytes(g.in_h, g.in_w, g.in_c, e), out: map_bytes(g.out_h, g.out_w, g.out_c, e), ..Footprint::default() }
    }
    /// One kernel for both element types: padding copies, no arithmetic.
    pub(super) fn run(&self, input: &[u8], out: &mut [u8]) -> Result<(), Error> {
        let g = &self.geom;
        let e = self.value.elem();
        let view = RawView::whole(input, g.in_h, g.in_w, g.in_c, e);
        let win = RawWindow::whole(out, g.out_h, g.out_w, g.out_c, e);
        match self.value {
            PadValue::I8(v) => spatial::pad(g, &view.i8(), v, &mut win.i8()),
            PadValue::F32(v) => spatial::pad(g, &view.f32()?, v, &mut win.f32()?),
        }
    }
}
