//! AVERAGE_POOL_2D and MAX_POOL_2D, int8 and float32 (same quantisation in and out).

use super::{map_bytes, Act, Elem, Footprint, RawView, RawWindow};
use crate::program::{Layer, Op};
use crate::spatial::{self, Geom};
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Average,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pool {
    pub geom: Geom,
    pub kind: PoolKind,
    pub act: Act,
}

impl Pool {
    pub(super) fn op(&self) -> Op {
        match (self.act.elem(), self.kind) {
            (Elem::I8, PoolKind::Average) => Op::AvgPoolI8,
            (Elem::I8, PoolKind::Max) => Op::MaxPoolI8,
            (Elem::F32, PoolKind::Average) => Op::AvgPoolF32,
            (Elem::F32, PoolKind::Max) => Op::MaxPoolF32,
        }
    }
    pub(super) fn decode(l: &Layer, op: Op) -> Result<Pool, Error> {
        let e = if matches!(op, Op::AvgPoolI8 | Op::MaxPoolI8) { Elem::I8 } else { Elem::F32 };
        let geom = l.geom();
        geom.validate()?;
        let kind = if matches!(op, Op::MaxPoolI8 | Op::MaxPoolF32) { PoolKind::Max } else { PoolKind::Average };
        Ok(Pool { geom, kind, act: Act::decode(l, e)? })
    }
    pub(super) fn encode(&self, l: &mut Layer) {
        l.set_geom(&self.geom);
        self.act.encode(l);
    }
    pub(super) fn footprint(&self) -> Footprint {
        let (g, e) = (&self.geom, self.act.elem());
        Footprint { in0: map_bytes(g.in_h, g.in_w, g.in_c, e), out: map_bytes(g.out_h, g.out_w, g.out_c, e), ..Footprint::default() }
    }
    #[inline(never)]
    pub(super) fn run(&self, view: &RawView, out: RawWindow) -> Result<(), Error> {
        let g = &self.geom;
        match (self.act, self.kind) {
            (Act::I8 { min, max }, PoolKind::Average) => spatial::avgpool_i8(g, &view.i8(), (min, max), &mut out.i8()),
            (Act::I8 { min, max }, PoolKind::Max) => spatial::maxpool_i8(g, &view.i8(), (min, max), &mut out.i8()),
            (Act::F32 { min, max }, PoolKind::Average) => spatial::avgpool_f32(g, &view.f32()?, (min, max), &mut out.f32()?),
            (Act::F32 { min, max }, PoolKind::Max) => spatial::maxpool_f32(g, &view.f32()?, (min, max), &mut out.f32()?),
        }
    }
}
