//! The program blob: what the host writes (crate msf-exec) and the runtime executes in place,
//! zero-copy and without allocation. Firmware `include_bytes!`s the very same bytes.
//!
//! Layout (all little-endian `u32` words unless said otherwise):
//!
//! ```text
//! header   16 words: magic "MSFR", version, total_len, arena_size, n_layers, layers_off,
//!          n_inputs, n_outputs, io_off, weights_off, weights_len, 5 reserved (0)
//! io       (n_inputs + n_outputs) records of 4 words: arena_off, byte_len, dtype, tag
//! layers   n_layers records of 32 words (see [`w`] for the word meanings per op)
//! weights  weights_len bytes at weights_off (a multiple of 16); every item inside starts at
//!          a multiple of 16 from the blob start: int8 weights, int32 folded biases and
//!          per-channel multipliers/shifts, float32 weights and biases, 256-byte tables
//! ```
//!
//! The blob must be loaded at a 4-byte-aligned address (16 recommended); the arena too.

use crate::carve::carve;
use crate::record::{ChannelQuant, Footprint, Record};
use crate::spatial::{Geom, Requant};
use crate::Error;

/// A decode error of layer `i`, with the layer named.
fn layer_error(e: Error, i: usize) -> Error {
    match e {
        Error::UnknownOp { op, .. } => Error::UnknownOp { layer: i, op },
        Error::BadGeometry => Error::BadLayer { layer: i, what: "geometry" },
        Error::BadParams(what) => Error::BadLayer { layer: i, what },
        Error::OutOfBounds { what, .. } => Error::OutOfBounds { layer: i, what },
        e => e,
    }
}

pub const MAGIC: [u8; 4] = *b"MSFR";
/// 2: layer records carry a scratch offset (word 31), fused stages a scratch offset (stage word 7).
pub const VERSION: u32 = 2;
pub const HEADER_WORDS: usize = 16;
pub const IO_WORDS: usize = 4;
pub const LAYER_WORDS: usize = 32;
/// Alignment of every weights item (and of the weights section) relative to the blob start.
pub const WEIGHT_ALIGN: usize = 16;

/// Header word indices.
pub mod hdr {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const ARENA_SIZE: usize = 3;
    pub const N_LAYERS: usize = 4;
    pub const LAYERS_OFF: usize = 5;
    pub const N_INPUTS: usize = 6;
    pub const N_OUTPUTS: usize = 7;
    pub const IO_OFF: usize = 8;
    pub const WEIGHTS_OFF: usize = 9;
    pub const WEIGHTS_LEN: usize = 10;
}

/// Layer word indices. Offsets named `IN0`, `IN1`, `OUT` are byte offsets into the arena;
/// `WEIGHTS`, `BIAS`, `MULT`, `SHIFT` are byte offsets from the blob start (into the weights
/// section). Signed values are stored as their two's complement; float values as their bits.
///
/// | op | words used |
/// |---|---|
/// | CONV/DWCONV i8 | geometry `IN_H..PAD_L`, `IN_ZP`, `OUT_ZP`, `ACT_*`, `WEIGHTS` (i8), `BIAS` (i32, folded: `b - in_zp * sum w`), `MULT`, `SHIFT` (i32 per out channel), `P0` depth multiplier, `P1` bit 0: LiteRT-optimized rounding, `P2` = 1: weights stored input-major `[kh * kw * in_c][out_c]` (see `spatial::conv_io_i8`) |
/// | CONV/DWCONV f32 | geometry, `ACT_*` (f32), `WEIGHTS`, `BIAS` (f32), `P0` depth multiplier, `P2` = 1: CONV weights input-major (see `spatial::conv_io_f32`) |
/// | AVG/MAX POOL | geometry, `ACT_*` |
/// | PAD | geometry (1x1, stride 1), `P0` pad value (i8 in i32, or f32 bits) |
/// | FC i8 / f32 | `IN_H` rows, `IN_C` in_dim, `OUT_C` out_dim, then as CONV |
/// | ADD i8 | `IN_C` elements, `IN_ZP` input 1, `P0` input 2 zero point, `OUT_ZP`, `ACT_*`, `P1` left shift, `MULT` -> 6 i32: in1 mult, shift, in2 mult, shift, out mult, shift |
/// | ADD f32 | `IN_C` elements, `ACT_*` |
/// | MEAN i8 | `IN_H`, `IN_W`, `IN_C`, `IN_ZP`, `OUT_ZP`, `P0` mult, `P1` shift (of in_scale/out_scale) |
/// | MEAN f32 | `IN_H`, `IN_W`, `IN_C` |
/// | SOFTMAX i8 | `IN_H` rows, `IN_C` depth, `P0` input multiplier, `P1` left shift, `P2` diff_min |
/// | SOFTMAX LUT i8 | `IN_H` rows, `IN_C` depth, `WEIGHTS` -> 256 f32 `exp` table, `P0` output scale (f32), `OUT_ZP` |
/// | SOFTMAX f32 | `IN_H` rows, `IN_C` depth, `P0` beta |
/// | LUT i8 | `IN_C` elements, `WEIGHTS` -> 256 bytes |
/// | LOGISTIC f32, CLAMP | `IN_C` elements, (`ACT_*` for CLAMP) |
/// | QUANTIZE / DEQUANTIZE | `IN_C` elements, `P0` scale (f32), `OUT_ZP` / `IN_ZP` |
/// | REQUANT i8 | `IN_C` elements, `IN_ZP`, `OUT_ZP`, `P0` mult, `P1` shift |
/// | COPY | `P0` rows, `P1` bytes per row, `P2` source stride, `P3` destination stride |
/// | COPY_REQUANT i8 | as COPY, plus `IN_H` scale and `IN_W` bias (f32 bits: `in_scale / out_scale`, `-in_zp * scale`), `OUT_ZP` |
pub mod w {
    pub const OP: usize = 0;
    pub const TAG: usize = 1;
    pub const IN0: usize = 2;
    pub const IN1: usize = 3;
    pub const OUT: usize = 4;
    pub const IN_H: usize = 5;
    pub const IN_W: usize = 6;
    pub const IN_C: usize = 7;
    pub const OUT_H: usize = 8;
    pub const OUT_W: usize = 9;
    pub const OUT_C: usize = 10;
    pub const KH: usize = 11;
    pub const KW: usize = 12;
    pub const SH: usize = 13;
    pub const SW: usize = 14;
    pub const DH: usize = 15;
    pub const DW: usize = 16;
    pub const PAD_T: usize = 17;
    pub const PAD_L: usize = 18;
    pub const IN_ZP: usize = 19;
    pub const OUT_ZP: usize = 20;
    pub const ACT_MIN: usize = 21;
    pub const ACT_MAX: usize = 22;
    pub const WEIGHTS: usize = 23;
    pub const BIAS: usize = 24;
    pub const MULT: usize = 25;
    pub const SHIFT: usize = 26;
    pub const P0: usize = 27;
    pub const P1: usize = 28;
    pub const P2: usize = 29;
    pub const P3: usize = 30;
    /// Arena offset of the layer's scratch (its im2col patch), `Record::scratch_bytes` long.
    pub const SCRATCH: usize = 31;
}

/// Op codes of layer records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Op {
    ConvI8 = 1,
    DwConvI8 = 2,
    FcI8 = 3,
    AddI8 = 4,
    AvgPoolI8 = 5,
    MaxPoolI8 = 6,
    MeanI8 = 7,
    SoftmaxI8 = 8,
    PadI8 = 9,
    LutI8 = 10,
    RequantI8 = 11,
    ClampI8 = 12,
    Quantize = 13,
    Dequantize = 14,
    Copy = 15,
    SoftmaxLutI8 = 16,
    CopyRequantI8 = 17,
    ConvF32 = 21,
    DwConvF32 = 22,
    FcF32 = 23,
    AddF32 = 24,
    AvgPoolF32 = 25,
    MaxPoolF32 = 26,
    MeanF32 = 27,
    SoftmaxF32 = 28,
    PadF32 = 29,
    LogisticF32 = 30,
    ClampF32 = 31,
}

impl Op {
    pub fn from_u32(v: u32) -> Option<Op> {
        use Op::*;
        Some(match v {
            1 => ConvI8,
            2 => DwConvI8,
            3 => FcI8,
            4 => AddI8,
            5 => AvgPoolI8,
            6 => MaxPoolI8,
            7 => MeanI8,
            8 => SoftmaxI8,
            9 => PadI8,
            10 => LutI8,
            11 => RequantI8,
            12 => ClampI8,
            13 => Quantize,
            14 => Dequantize,
            15 => Copy,
            16 => SoftmaxLutI8,
            17 => CopyRequantI8,
            21 => ConvF32,
            22 => DwConvF32,
            23 => FcF32,
            24 => AddF32,
            25 => AvgPoolF32,
            26 => MaxPoolF32,
            27 => MeanF32,
            28 => SoftmaxF32,
            29 => PadF32,
            30 => LogisticF32,
            31 => ClampF32,
            _ => return None,
        })
    }
}

/// Element type codes used in io records.
pub mod dtype {
    pub const INT8: u32 = 0;
    pub const FLOAT32: u32 = 1;
    pub const INT32: u32 = 2;
    pub const UINT8: u32 = 3;
}

/// One graph input or output: where it lives in the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoSpec {
    pub arena_off: usize,
    pub byte_len: usize,
    pub dtype: u32,
    pub tag: u32,
}

/// A decoded layer record (32 words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layer {
    pub words: [u32; LAYER_WORDS],
}

impl Layer {
    pub fn new(op: Op) -> Self {
        let mut words = [0u32; LAYER_WORDS];
        words[w::OP] = op as u32;
        Layer { words }
    }
    pub fn op(&self) -> Option<Op> {
        Op::from_u32(self.words[w::OP])
    }
    #[inline]
    pub fn u(&self, i: usize) -> usize {
        self.words[i] as usize
    }
    #[inline]
    pub fn i(&self, i: usize) -> i32 {
        self.words[i] as i32
    }
    #[inline]
    pub fn f(&self, i: usize) -> f32 {
        f32::from_bits(self.words[i])
    }
    pub fn set(&mut self, i: usize, v: u32) -> &mut Self {
        self.words[i] = v;
        self
    }
    pub fn set_i(&mut self, i: usize, v: i32) -> &mut Self {
        self.words[i] = v as u32;
        self
    }
    pub fn set_f(&mut self, i: usize, v: f32) -> &mut Self {
        self.words[i] = v.to_bits();
        self
    }
    /// The spatial geometry words as a [`Geom`].
    pub fn geom(&self) -> Geom {
        Geom {
            in_h: self.u(w::IN_H),
            in_w: self.u(w::IN_W),
            in_c: self.u(w::IN_C),
            out_h: self.u(w::OUT_H),
            out_w: self.u(w::OUT_W),
            out_c: self.u(w::OUT_C),
            kh: self.u(w::KH),
            kw: self.u(w::KW),
            stride_h: self.u(w::SH),
            stride_w: self.u(w::SW),
            dil_h: self.u(w::DH),
            dil_w: self.u(w::DW),
            pad_top: self.u(w::PAD_T),
            pad_left: self.u(w::PAD_L),
        }
    }
    pub fn set_geom(&mut self, g: &Geom) -> &mut Self {
        let v = [
            (w::IN_H, g.in_h),
            (w::IN_W, g.in_w),
            (w::IN_C, g.in_c),
            (w::OUT_H, g.out_h),
            (w::OUT_W, g.out_w),
            (w::OUT_C, g.out_c),
            (w::KH, g.kh),
            (w::KW, g.kw),
            (w::SH, g.stride_h),
            (w::SW, g.stride_w),
            (w::DH, g.dil_h),
            (w::DW, g.dil_w),
            (w::PAD_T, g.pad_top),
            (w::PAD_L, g.pad_left),
        ];
        for (i, x) in v {
            self.words[i] = x as u32;
        }
        self
    }
    /// Little-endian bytes of the record, as written in a blob.
    pub fn to_bytes(&self) -> [u8; LAYER_WORDS * 4] {
        let mut b = [0u8; LAYER_WORDS * 4];
        for (i, v) in self.words.iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        b
    }
}

fn rd(blob: &[u8], word: usize) -> u32 {
    let o = word * 4;
    u32::from_le_bytes([blob[o], blob[o + 1], blob[o + 2], blob[o + 3]])
}

/// A validated program over a borrowed blob.
#[derive(Debug, Clone, Copy)]
pub struct Program<'a> {
    blob: &'a [u8],
    arena_size: usize,
    n_layers: usize,
    layers_off: usize,
    n_inputs: usize,
    n_outputs: usize,
    io_off: usize,
    weights_off: usize,
    weights_len: usize,
}

impl<'a> Program<'a> {
    /// Validate a blob: header, io records, and every layer (op code, arena ranges, weights
    /// ranges and alignment, geometry). Nothing in a corrupted blob can make `run` panic.
    #[inline(never)]
    pub fn parse(blob: &'a [u8]) -> Result<Self, Error> {
        if blob.len() < HEADER_WORDS * 4 {
            return Err(Error::Truncated("header"));
        }
        if blob[0..4] != MAGIC {
            return Err(Error::BadMagic);
        }
        if blob.as_ptr() as usize % 4 != 0 {
            return Err(Error::Misaligned("program blob (needs 4-byte alignment)"));
        }
        let h = |i| rd(blob, i) as usize;
        if rd(blob, hdr::VERSION) != VERSION {
            return Err(Error::UnsupportedVersion(rd(blob, hdr::VERSION)));
        }
        if h(hdr::TOTAL_LEN) != blob.len() {
            return Err(Error::Truncated("blob length differs from the header's total_len"));
        }
        let p = Program {
            blob,
            arena_size: h(hdr::ARENA_SIZE),
            n_layers: h(hdr::N_LAYERS),
            layers_off: h(hdr::LAYERS_OFF),
            n_inputs: h(hdr::N_INPUTS),
            n_outputs: h(hdr::N_OUTPUTS),
            io_off: h(hdr::IO_OFF),
            weights_off: h(hdr::WEIGHTS_OFF),
            weights_len: h(hdr::WEIGHTS_LEN),
        };
        let within = |off: usize, len: u64| (off as u64).checked_add(len).is_some_and(|e| e <= blob.len() as u64);
        if p.layers_off % 4 != 0 || !within(p.layers_off, p.n_layers as u64 * (LAYER_WORDS as u64 * 4)) {
            return Err(Error::Truncated("layer table"));
        }
        if p.io_off % 4 != 0 || !within(p.io_off, (p.n_inputs + p.n_outputs) as u64 * (IO_WORDS as u64 * 4)) {
            return Err(Error::Truncated("io table"));
        }
        if p.weights_off % WEIGHT_ALIGN != 0 || !within(p.weights_off, p.weights_len as u64) {
            return Err(Error::Truncated("weights section"));
        }
        for i in 0..p.n_inputs + p.n_outputs {
            let io = p.io(i);
            if (io.arena_off as u64) + io.byte_len as u64 > p.arena_size as u64 {
                return Err(Error::OutOfBounds { layer: usize::MAX, what: "graph input/output outside the arena" });
            }
        }
        for i in 0..p.n_layers {
            p.validate_layer(i)?;
        }
        Ok(p)
    }

    pub fn arena_size(&self) -> usize {
        self.arena_size
    }
    pub fn num_layers(&self) -> usize {
        self.n_layers
    }
    pub fn num_inputs(&self) -> usize {
        self.n_inputs
    }
    pub fn num_outputs(&self) -> usize {
        self.n_outputs
    }
    fn io(&self, k: usize) -> IoSpec {
        let base = self.io_off / 4 + k * IO_WORDS;
        IoSpec {
            arena_off: rd(self.blob, base) as usize,
            byte_len: rd(self.blob, base + 1) as usize,
            dtype: rd(self.blob, base + 2),
            tag: rd(self.blob, base + 3),
        }
    }
    pub fn input(&self, i: usize) -> Option<IoSpec> {
        (i < self.n_inputs).then(|| self.io(i))
    }
    pub fn output(&self, i: usize) -> Option<IoSpec> {
        (i < self.n_outputs).then(|| self.io(self.n_inputs + i))
    }

    /// Layer record `i` (validated by [`Program::parse`]).
    pub fn layer(&self, i: usize) -> Option<Layer> {
        if i >= self.n_layers {
            return None;
        }
        let base = self.layers_off / 4 + i * LAYER_WORDS;
        let mut words = [0u32; LAYER_WORDS];
        for (k, v) in words.iter_mut().enumerate() {
            *v = rd(self.blob, base + k);
        }
        Some(Layer { words })
    }

    /// The decoded record of layer `i`.
    pub fn record(&self, i: usize) -> Result<Record, Error> {
        let l = self.layer(i).ok_or(Error::Truncated("layer index"))?;
        Record::decode(&l).map_err(|e| layer_error(e, i))
    }

    fn validate_layer(&self, i: usize) -> Result<(), Error> {
        let r = self.record(i)?;
        let f = r.footprint();
        let arena = self.arena_size as u64;
        let range = |start: u32, len: u64| -> Result<(u64, u64), Error> {
            let s = start as u64;
            if len > 0 && s + len > arena {
                return Err(Error::OutOfBounds { layer: i, what: "tensor outside the arena" });
            }
            Ok((s, s + len))
        };
        let out = range(r.out, f.out)?;
        let scratch = range(r.scratch, r.scratch_bytes() as u64)?;
        let overlap = |a: (u64, u64), b: (u64, u64)| a.0 < a.1 && b.0 < b.1 && a.0 < b.1 && b.0 < a.1;
        if overlap(scratch, out) {
            return Err(Error::BadLayer { layer: i, what: "scratch overlaps output" });
        }
        if r.scratch % 4 != 0 {
            return Err(Error::Misaligned("layer scratch"));
        }
        for (start, len) in [(r.in0, f.in0), (r.in1, f.in1)] {
            let x = range(start, len)?;
            if overlap(x, out) {
                return Err(Error::BadLayer { layer: i, what: "input overlaps output" });
            }
            if overlap(x, scratch) {
                return Err(Error::BadLayer { layer: i, what: "input overlaps scratch" });
            }
        }
        self.check_weights(&f).map_err(|e| layer_error(e, i))
    }

    /// Every weights item of a footprint inside the weights section and aligned.
    pub(crate) fn check_weights(&self, f: &Footprint) -> Result<(), Error> {
        let (ws, we) = (self.weights_off as u64, (self.weights_off + self.weights_len) as u64);
        for (s, len, align) in f.weights {
            if len == 0 {
                continue;
            }
            if s < ws || s + len > we {
                return Err(Error::OutOfBounds { layer: usize::MAX, what: "weights outside the weights section" });
            }
            if s % align != 0 {
                return Err(Error::Misaligned("weights item"));
            }
        }
        Ok(())
    }

    fn wbytes(&self, off: usize, len: usize) -> Result<&'a [u8], Error> {
        self.blob.get(off..off.checked_add(len).ok_or(Error::Truncated("weights"))?).ok_or(Error::Truncated("weights"))
    }
    /// `n` int8 weights at blob offset `off`.
    pub fn weights_i8(&self, off: usize, n: usize) -> Result<&'a [i8], Error> {
        Ok(as_i8(self.wbytes(off, n)?))
    }
    /// `n` int32 values at blob offset `off` (4-aligned).
    pub fn weights_i32(&self, off: usize, n: usize) -> Result<&'a [i32], Error> {
        as_i32(self.wbytes(off, n * 4)?)
    }
    /// `n` float32 values at blob offset `off` (4-aligned).
    pub fn weights_f32(&self, off: usize, n: usize) -> Result<&'a [f32], Error> {
        as_f32(self.wbytes(off, n * 4)?)
    }

    /// The requantisation data of an int8 CONV / DWCONV / FC layer.
    pub fn requant(&self, q: &ChannelQuant, bias: u32, channels: usize, act: (i32, i32)) -> Result<Requant<'a>, Error> {
        Ok(Requant {
            bias: self.weights_i32(bias as usize, channels)?,
            mult: self.weights_i32(q.mult as usize, channels)?,
            shift: self.weights_i32(q.shift as usize, channels)?,
            in_zp: q.in_zp,
            out_zp: q.out_zp,
            act_min: act.0,
            act_max: act.1,
            single_rounding: q.single_rounding,
        })
    }

    /// Run every layer in order on `arena` (at least [`Program::arena_size`] bytes, 4-aligned).
    /// Graph inputs must already be written at their [`IoSpec`] offsets.
    pub fn run(&self, arena: &mut [u8]) -> Result<(), Error> {
        for i in 0..self.n_layers {
            self.run_layer(i, arena)?;
        }
        Ok(())
    }

    /// Run layer `i` alone (the host uses this to look at every intermediate tensor).
    pub fn run_layer(&self, i: usize, arena: &mut [u8]) -> Result<(), Error> {
        if arena.len() < self.arena_size {
            return Err(Error::ArenaTooSmall { need: self.arena_size, have: arena.len() });
        }
        if arena.as_ptr() as usize % 4 != 0 {
            return Err(Error::Misaligned("arena (needs 4-byte alignment)"));
        }
        let r = self.record(i)?;
        let f = r.footprint();
        let bad = Error::OutOfBounds { layer: i, what: "tensor ranges" };
        let out = r.out as usize..(r.out as u64 + f.out) as usize;
        let scratch = r.scratch as usize..r.scratch as usize + r.scratch_bytes();
        let (out, scratch, rest) = carve(arena, out, scratch).ok_or(bad)?;
        let in0 = rest.get(r.in0 as usize, f.in0 as usize).ok_or(bad)?;
        let in1 = rest.get(r.in1 as usize, f.in1 as usize).ok_or(bad)?;
        r.run_whole(self, in0, in1, out, scratch).map_err(|e| e.at(i))
    }
}

// ---- byte-slice casts (little-endian targets only; alignment checked) ----

#[cfg(target_endian = "big")]
compile_error!("msf-runtime reads its program blob in place and supports little-endian targets only");

/// Reinterpret bytes as int8 (same size and alignment; every bit pattern is valid).
pub fn as_i8(b: &[u8]) -> &[i8] {
    // SAFETY: u8 and i8 have the same size and alignment and no invalid values.
    unsafe { core::slice::from_raw_parts(b.as_ptr() as *const i8, b.len()) }
}
pub fn as_i8_mut(b: &mut [u8]) -> &mut [i8] {
    // SAFETY: as in `as_i8`; the exclusive borrow is carried over.
    unsafe { core::slice::from_raw_parts_mut(b.as_mut_ptr() as *mut i8, b.len()) }
}
pub fn as_i32(b: &[u8]) -> Result<&[i32], Error> {
    if b.as_ptr() as usize % 4 != 0 || b.len() % 4 != 0 {
        return Err(Error::Misaligned("int32 data"));
    }
    // SAFETY: alignment and length checked above; every bit pattern is a valid i32.
    Ok(unsafe { core::slice::from_raw_parts(b.as_ptr() as *const i32, b.len() / 4) })
}
pub fn as_f32(b: &[u8]) -> Result<&[f32], Error> {
    if b.as_ptr() as usize % 4 != 0 || b.len() % 4 != 0 {
        return Err(Error::Misaligned("float32 data"));
    }
    // SAFETY: alignment and length checked above; every bit pattern is a valid f32.
    Ok(unsafe { core::slice::from_raw_parts(b.as_ptr() as *const f32, b.len() / 4) })
}
pub fn as_f32_mut(b: &mut [u8]) -> Result<&mut [f32], Error> {
    if b.as_ptr() as usize % 4 != 0 || b.len() % 4 != 0 {
        return Err(Error::Misaligned("float32 data"));
    }
    // SAFETY: alignment and length checked above; the exclusive borrow is carried over.
    Ok(unsafe { core::slice::from_raw_parts_mut(b.as_mut_ptr() as *mut f32, b.len() / 4) })
}
