//! The typed op record: one struct per op family, one encoder (used by the host crate msf-exec)
//! and one decoder (used by both executors), and the one place that dispatches a record to its
//! kernels.
//!
//! On the wire a record is 32 little-endian words ([`Layer`], word meanings in
//! [`crate::program::w`]); nothing outside this module reads those words. Adding an op means a
//! family file here (its fields, `decode`, `encode`, `footprint` and how it runs), its kernel in
//! [`crate::spatial`] or [`crate::ops`], and its lowering in msf-exec.
//!
//! What an op may do inside a fused stage is a property of its family ([`Streaming`]), read by
//! the fused executor's validation and by the host's lowering: there is no second list.

mod add;
mod conv;
mod copy;
mod fc;
mod mean;
mod pad;
mod pointwise;
mod pool;
mod softmax;

pub use add::{Add, AddArith};
pub use conv::Conv;
pub use copy::{Copy, CopyRequant};
pub use fc::Fc;
pub use mean::{Mean, MeanArith};
pub use pad::{Pad, PadValue};
pub use pointwise::{Pointwise, PointwiseFn};
pub use pool::{Pool, PoolKind};
pub use softmax::{Softmax, SoftmaxArith};

use crate::program::{w, Layer, Op, Program};
use crate::spatial::Geom;
use crate::view::{InView, OutWindow};
use crate::Error;

/// Element type of a tensor an op reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    I8,
    F32,
}

impl Elem {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            Elem::I8 => 1,
            Elem::F32 => 4,
        }
    }
}

/// A fused activation: the clamp range of the output, in its own element type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    /// Quantised bounds (within -128..=127, min <= max: checked when decoded).
    I8 { min: i32, max: i32 },
    F32 { min: f32, max: f32 },
}

impl Act {
    pub fn elem(&self) -> Elem {
        match self {
            Act::I8 { .. } => Elem::I8,
            Act::F32 { .. } => Elem::F32,
        }
    }
    fn decode(l: &Layer, e: Elem) -> Result<Act, Error> {
        Ok(match e {
            Elem::I8 => {
                let (min, max) = (l.i(w::ACT_MIN), l.i(w::ACT_MAX));
                if min > max || min < -128 || max > 127 {
                    return Err(Error::BadParams("int8 activation range"));
                }
                Act::I8 { min, max }
            }
            Elem::F32 => Act::F32 { min: l.f(w::ACT_MIN), max: l.f(w::ACT_MAX) },
        })
    }
    fn encode(&self, l: &mut Layer) {
        match *self {
            Act::I8 { min, max } => l.set_i(w::ACT_MIN, min).set_i(w::ACT_MAX, max),
            Act::F32 { min, max } => l.set_f(w::ACT_MIN, min).set_f(w::ACT_MAX, max),
        };
    }
    /// The int8 bounds (an f32 activation has none).
    pub(crate) fn i8(&self) -> Result<(i32, i32), Error> {
        match *self {
            Act::I8 { min, max } => Ok((min, max)),
            Act::F32 { .. } => Err(Error::BadParams("int8 activation expected")),
        }
    }
    pub(crate) fn f32(&self) -> Result<(f32, f32), Error> {
        match *self {
            Act::F32 { min, max } => Ok((min, max)),
            Act::I8 { .. } => Err(Error::BadParams("float32 activation expected")),
        }
    }
}

/// Per-output-channel int8 requantisation of CONV, DWCONV and FC: the blob offsets of the
/// per-channel multipliers and shifts, the zero points, and the rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelQuant {
    pub mult: u32,
    pub shift: u32,
    pub in_zp: i32,
    pub out_zp: i32,
    /// Round as LiteRT's optimized kernels do ([`crate::quant::mul_ruy`]).
    pub single_rounding: bool,
}

impl ChannelQuant {
    fn decode(l: &Layer) -> ChannelQuant {
        ChannelQuant { mult: l.words[w::MULT], shift: l.words[w::SHIFT], in_zp: l.i(w::IN_ZP), out_zp: l.i(w::OUT_ZP), single_rounding: l.words[w::P1] & 1 != 0 }
    }
    fn encode(&self, l: &mut Layer) {
        l.set(w::MULT, self.mult).set(w::SHIFT, self.shift).set_i(w::IN_ZP, self.in_zp).set_i(w::OUT_ZP, self.out_zp);
        l.set(w::P1, self.single_rounding as u32);
    }
}

/// What an op can do inside a fused stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streaming {
    /// Computes any rectangle of its output from the input window that covers it (conv,
    /// depthwise, pools).
    Window,
    /// Element by element, same map in and out (add, activations, (de)quantise).
    Pointwise,
    /// Consumes its input element by element into accumulators and writes its whole output at
    /// the end: the last op of a stage only (MEAN over H and W, flatten+FC).
    Tail,
    /// Needs its whole input at once: runs only as a layer.
    Whole,
}

/// One layer: where its tensors are in the arena and what it computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    /// The graph tensor this layer produces (for dumps and messages; not read by kernels).
    pub tag: u32,
    /// Arena byte offsets of input 0, input 1 (ADD only) and the output.
    pub in0: u32,
    pub in1: u32,
    pub out: u32,
    /// Arena offset of the layer's scratch (`scratch_bytes` long; unused when that is 0). In a
    /// fused stage the stage's scratch serves instead.
    pub scratch: u32,
    pub kind: Kind,
}

/// The op families.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Conv(Conv),
    Pool(Pool),
    Pad(Pad),
    Fc(Fc),
    Add(Add),
    Mean(Mean),
    Softmax(Softmax),
    Pointwise(Pointwise),
    Copy(Copy),
}

/// Bytes a record reads from its inputs and writes to its output, and the weights it reads as
/// `(blob offset, bytes, alignment)`. Computed in u64: corrupted sizes cannot overflow.
#[derive(Debug, Default, Clone, Copy)]
pub struct Footprint {
    pub in0: u64,
    pub in1: u64,
    pub out: u64,
    /// Zero length = unused.
    pub weights: [(u64, u64, u64); 4],
}

/// Bytes of an `h x w x c` map of `e`.
fn map_bytes(h: usize, w: usize, c: usize, e: Elem) -> u64 {
    h as u64 * w as u64 * c as u64 * e.size() as u64
}

impl Record {
    pub fn new(kind: Kind) -> Record {
        Record { tag: 0, in0: 0, in1: 0, out: 0, scratch: 0, kind }
    }

    /// The wire op code.
    pub fn op(&self) -> Op {
        match &self.kind {
            Kind::Conv(k) => k.op(),
            Kind::Pool(k) => k.op(),
            Kind::Pad(k) => k.op(),
            Kind::Fc(k) => k.op(),
            Kind::Add(k) => k.op(),
            Kind::Mean(k) => k.op(),
            Kind::Softmax(k) => k.op(),
            Kind::Pointwise(k) => k.op(),
            Kind::Copy(k) => k.op(),
        }
    }

    /// Decode a wire record; refuses unknown op codes and inconsistent fields (bad geometry,
    /// int8 activation ranges outside int8).
    pub fn decode(l: &Layer) -> Result<Record, Error> {
        let op = l.op().ok_or(Error::UnknownOp { layer: usize::MAX, op: l.words[w::OP] })?;
        use Op::*;
        let kind = match op {
            ConvI8 | DwConvI8 | ConvF32 | DwConvF32 => Kind::Conv(Conv::decode(l, op)?),
            AvgPoolI8 | MaxPoolI8 | AvgPoolF32 | MaxPoolF32 => Kind::Pool(Pool::decode(l, op)?),
            PadI8 | PadF32 => Kind::Pad(Pad::decode(l, op)?),
            FcI8 | FcF32 => Kind::Fc(Fc::decode(l, op)?),
            AddI8 | AddF32 => Kind::Add(Add::decode(l, op)?),
            MeanI8 | MeanF32 => Kind::Mean(Mean::decode(l, op)),
            SoftmaxI8 | SoftmaxLutI8 | SoftmaxF32 => Kind::Softmax(Softmax::decode(l, op)),
            LutI8 | RequantI8 | ClampI8 | ClampF32 | LogisticF32 | Quantize | Dequantize => Kind::Pointwise(Pointwise::decode(l, op)?),
            Copy | CopyRequantI8 => Kind::Copy(self::Copy::decode(l, op)),
        };
        Ok(Record { tag: l.words[w::TAG], in0: l.words[w::IN0], in1: l.words[w::IN1], out: l.words[w::OUT], scratch: l.words[w::SCRATCH], kind })
    }

    /// The wire record.
    pub fn encode(&self) -> Layer {
        let mut l = Layer::new(self.op());
        l.set(w::TAG, self.tag).set(w::IN0, self.in0).set(w::IN1, self.in1).set(w::OUT, self.out).set(w::SCRATCH, self.scratch);
        match &self.kind {
            Kind::Conv(k) => k.encode(&mut l),
            Kind::Pool(k) => k.encode(&mut l),
            Kind::Pad(k) => k.encode(&mut l),
            Kind::Fc(k) => k.encode(&mut l),
            Kind::Add(k) => k.encode(&mut l),
            Kind::Mean(k) => k.encode(&mut l),
            Kind::Softmax(k) => k.encode(&mut l),
            Kind::Pointwise(k) => k.encode(&mut l),
            Kind::Copy(k) => k.encode(&mut l),
        }
        l
    }

    /// The blob offsets this record holds into the weights section.
    fn weight_fields(&mut self) -> [Option<&mut u32>; 4] {
        match &mut self.kind {
            Kind::Conv(k) => k.weight_fields(),
            Kind::Fc(k) => k.weight_fields(),
            Kind::Add(Add { arith: AddArith::I8 { mult, .. }, .. }) => [Some(mult), None, None, None],
            Kind::Softmax(Softmax { arith: SoftmaxArith::Lut { table, .. }, .. }) => [Some(table), None, None, None],
            Kind::Pointwise(Pointwise { f: PointwiseFn::Lut { table }, .. }) => [Some(table), None, None, None],
            _ => [None, None, None, None],
        }
    }

    /// Move every weights offset by `by` bytes (the host builds records with offsets relative to
    /// the weights section, then relocates them when the blob is laid out).
    pub fn relocate(&mut self, by: u32) {
        for f in self.weight_fields().into_iter().flatten() {
            *f = f.wrapping_add(by);
        }
    }

    /// Word indices of the encoded record that hold weights offsets.
    pub fn weight_words(&self) -> impl Iterator<Item = usize> {
        let mut probe = *self;
        let enc0 = probe.encode();
        probe.relocate(1);
        let enc1 = probe.encode();
        (0..crate::program::LAYER_WORDS).filter(move |&i| enc0.words[i] != enc1.words[i])
    }

    /// The spatial geometry (window ops and PAD).
    pub fn geom(&self) -> Option<&Geom> {
        match &self.kind {
            Kind::Conv(k) => Some(&k.geom),
            Kind::Pool(k) => Some(&k.geom),
            Kind::Pad(k) => Some(&k.geom),
            _ => None,
        }
    }

    pub fn streaming(&self) -> Streaming {
        match &self.kind {
            Kind::Conv(_) | Kind::Pool(_) => Streaming::Window,
            Kind::Add(_) | Kind::Pointwise(_) => Streaming::Pointwise,
            Kind::Mean(_) | Kind::Fc(_) => Streaming::Tail,
            Kind::Pad(_) | Kind::Softmax(_) | Kind::Copy(_) => Streaming::Whole,
        }
    }

    /// Bytes of scratch the kernel needs beside its tensors (a conv's im2col patch).
    pub fn scratch_bytes(&self) -> usize {
        match &self.kind {
            Kind::Conv(k) => k.scratch_bytes(),
            _ => 0,
        }
    }

    /// Number of activation inputs (2 for a join).
    pub fn n_inputs(&self) -> usize {
        if matches!(self.kind, Kind::Add(_)) {
            2
        } else {
            1
        }
    }

    /// Element type of the inputs and of the output.
    pub fn elems(&self) -> (Elem, Elem) {
        match &self.kind {
            Kind::Conv(k) => (k.elem(), k.elem()),
            Kind::Pool(k) => (k.act.elem(), k.act.elem()),
            Kind::Pad(k) => (k.value.elem(), k.value.elem()),
            Kind::Fc(k) => (k.elem(), k.elem()),
            Kind::Add(k) => (k.elem(), k.elem()),
            Kind::Mean(k) => (k.elem(), k.elem()),
            Kind::Softmax(k) => (k.elem(), k.elem()),
            Kind::Pointwise(k) => k.elems(),
            Kind::Copy(_) => (Elem::I8, Elem::I8),
        }
    }

    pub fn footprint(&self) -> Footprint {
        match &self.kind {
            Kind::Conv(k) => k.footprint(),
            Kind::Pool(k) => k.footprint(),
            Kind::Pad(k) => k.footprint(),
            Kind::Fc(k) => k.footprint(),
            Kind::Add(k) => k.footprint(),
            Kind::Mean(k) => k.footprint(),
            Kind::Softmax(k) => k.footprint(),
            Kind::Pointwise(k) => k.footprint(),
            Kind::Copy(k) => k.footprint(),
        }
    }

    /// Run on whole tensors (the layer executor; the fused executor's layer stages).
    pub(crate) fn run_whole(&self, prog: &Program, in0: &[u8], in1: &[u8], out: &mut [u8], scratch: &mut [u8]) -> Result<(), Error> {
        match &self.kind {
            Kind::Conv(Conv { geom: g, .. }) | Kind::Pool(Pool { geom: g, .. }) => {
                let (ie, oe) = self.elems();
                let view = RawView::whole(in0, g.in_h, g.in_w, g.in_c, ie);
                self.run_window(prog, &view, RawWindow::whole(out, g.out_h, g.out_w, g.out_c, oe), scratch)
            }
            Kind::Add(_) | Kind::Pointwise(_) => self.run_pointwise(prog, in0, in1, out),
            Kind::Pad(k) => k.run(in0, out),
            Kind::Fc(k) => k.run(prog, in0, out),
            Kind::Mean(k) => k.run(in0, out),
            Kind::Softmax(k) => k.run(prog, in0, out),
            Kind::Copy(k) => k.run(in0, out),
        }
    }

    /// A window op on a view of its input (both executors).
    /// `scratch`: at least [`Record::scratch_bytes`] bytes, 4-aligned.
    pub(crate) fn run_window(&self, prog: &Program, view: &RawView, out: RawWindow, scratch: &mut [u8]) -> Result<(), Error> {
        match &self.kind {
            Kind::Conv(k) => k.run(prog, view, out, scratch),
            Kind::Pool(k) => k.run(view, out),
            _ => Err(Error::BadParams("not a window op")),
        }
    }

    /// A pointwise op on matching element runs (a whole tensor, or one pixel's channels).
    pub(crate) fn run_pointwise(&self, prog: &Program, a: &[u8], b: &[u8], out: &mut [u8]) -> Result<(), Error> {
        match &self.kind {
            Kind::Add(k) => k.run(prog, a, b, out),
            Kind::Pointwise(k) => k.run(prog, a, out),
            _ => Err(Error::BadParams("not a pointwise op")),
        }
    }
}

/// A rectangle of an input map (or of a ring holding it) as bytes: [`InView`]'s fields, strides
/// and slots in elements.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawView<'a> {
    pub data: &'a [u8],
    pub full_h: usize,
    pub full_w: usize,
    pub c: usize,
    pub row0: usize,
    pub rows: usize,
    pub col0: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub row_slot0: usize,
    pub row_slots: usize,
    pub col_slot0: usize,
    pub col_slots: usize,
}

impl<'a> RawView<'a> {
    pub fn whole(data: &'a [u8], h: usize, w: usize, c: usize, e: Elem) -> Self {
        let n = (h * w * c * e.size()).min(data.len());
        RawView { data: &data[..n], full_h: h, full_w: w, c, row0: 0, rows: h, col0: 0, cols: w, row_stride: w * c, row_slot0: 0, row_slots: h, col_slot0: 0, col_slots: w }
    }
    fn typed<T>(&self, data: &'a [T]) -> InView<'a, T> {
        InView {
            data,
            full_h: self.full_h,
            full_w: self.full_w,
            c: self.c,
            row0: self.row0,
            rows: self.rows,
            col0: self.col0,
            cols: self.cols,
            row_stride: self.row_stride,
            row_slot0: self.row_slot0,
            row_slots: self.row_slots,
            col_slot0: self.col_slot0,
            col_slots: self.col_slots,
        }
    }
    pub fn i8(&self) -> InView<'a, i8> {
        self.typed(crate::program::as_i8(self.data))
    }
    /// As f32 (a view may end inside a row stride: trimmed to whole elements).
    pub fn f32(&self) -> Result<InView<'a, f32>, Error> {
        Ok(self.typed(crate::program::as_f32(&self.data[..self.data.len() / 4 * 4])?))
    }
}

/// A rectangle of an output map as bytes (see [`OutWindow`]; `row_stride` in elements).
#[derive(Debug)]
pub(crate) struct RawWindow<'a> {
    pub data: &'a mut [u8],
    pub y0: usize,
    pub y1: usize,
    pub x0: usize,
    pub x1: usize,
    pub row_stride: usize,
}

impl<'a> RawWindow<'a> {
    pub fn whole(data: &'a mut [u8], h: usize, w: usize, c: usize, e: Elem) -> Self {
        let n = (h * w * c * e.size()).min(data.len());
        RawWindow { data: &mut data[..n], y0: 0, y1: h, x0: 0, x1: w, row_stride: w * c }
    }
    pub fn i8(self) -> OutWindow<'a, i8> {
        OutWindow { data: crate::program::as_i8_mut(self.data), y0: self.y0, y1: self.y1, x0: self.x0, x1: self.x1, row_stride: self.row_stride }
    }
    pub fn f32(self) -> Result<OutWindow<'a, f32>, Error> {
        let n = self.data.len() / 4 * 4;
        Ok(OutWindow { data: crate::program::as_f32_mut(&mut self.data[..n])?, y0: self.y0, y1: self.y1, x0: self.x0, x1: self.x1, row_stride: self.row_stride })
    }
}

#[cfg(test)]
mod tests;
