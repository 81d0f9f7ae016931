//! The fused executor: runs a planned program stage by stage, fused stages patch by patch in
//! rings of exactly the planned size (the pull schedule of the plan/executor contract,
//! `msf_plan::contract`, crates/plan/src/contract.rs).
//!
//! A fused program is an ordinary program blob (layer records, io table, weights) plus a stage
//! table, found through header words [`hdr_words::N_STAGES`] and [`hdr_words::STAGES_OFF`]
//! (reserved, zero, in a layer-only blob):
//!
//! ```text
//! stage    STAGE_WORDS: KIND (0 layer, 1 h_cache, 2 line_buffer), A (layer: first layer
//!          index; h_cache: band rows R), B (layer: layer count; fused: op count), ROOT_H,
//!          ROOT_W, TAIL (1: the last op is a MEAN fed root row by root row), LEN (words of
//!          this record), SCRATCH (fused stages: arena offset of the stage's scratch, laid out
//!          as [`StageScratch`] says)
//! op       (fused stages only, B of them) a 32-word layer record (program::w) followed by
//!          OP_WORDS fused words (see [`f`])
//! ```
//!
//! Layer records inside a fused stage address rings, not whole tensors: their `IN0/IN1/OUT`
//! words are the buffer offsets the plan gave, and the fused words say how a buffer is
//! addressed. Every buffer is checked against the arena by [`FusedProgram::parse`], every op's
//! output buffer is disjoint from its inputs', and every element access at run time is a
//! bounds-checked slice of its own buffer: an access outside a planned buffer is an error.
//!
//! Kernels are the layer executor's own ([`crate::spatial`], [`crate::ops`]), called on
//! windows: a whole output column (H-cache) or row (line buffer) at once, the input window a
//! view of its ring that wraps as the ring does ([`crate::view::InView`]'s slots), so nothing
//! is gathered. Same arithmetic as layer by layer, so the same bytes.
//!
//! Nothing of a stage's size lives on the stack: the walk's per-op state (band spans, progress,
//! and the frames of the pull schedule, which is a depth-first walk kept as an explicit stack)
//! and the convs' im2col patch are the stage's scratch, a planned arena buffer whose size
//! [`stage_scratch_bytes`] gives (the planner calls the same function). The stack holds a fixed
//! handful of words per kernel call, whatever the stage.

use crate::ops;
use crate::program::{as_f32, as_f32_mut, as_i32, as_i8, as_i8_mut, Layer, Program, LAYER_WORDS};
use crate::quant::mul_by_quantized_multiplier;
use crate::record::{Fc, Kind, Mean, MeanArith, RawView, RawWindow, Record, Streaming};
use crate::Error;

/// Header words of the stage table (reserved words of the layer-only format).
pub mod hdr_words {
    pub const N_STAGES: usize = 11;
    pub const STAGES_OFF: usize = 12;
}

/// Most ops one fused stage may hold (the planner builds no longer stage).
pub const MAX_OPS: usize = 64;
pub const STAGE_WORDS: usize = 8;
pub const OP_WORDS: usize = 16;
/// Bytes of walk state per op in the stage scratch: [`walk`]'s eight 16-bit fields.
pub const WALK_BYTES: usize = 16;
/// Largest map height or width inside a fused stage (positions are 16-bit in the walk state;
/// [`walk::NONE`] is reserved).
pub const MAX_FUSED_DIM: usize = 65534;

/// Per-op walk state fields (16-bit), at `scratch + op * WALK_BYTES + field * 2`.
pub mod walk {
    /// Rows the op produces in the current H-cache band, first and last ([`NONE`]: not needed).
    pub const SPAN_LO: usize = 0;
    pub const SPAN_HI: usize = 1;
    /// One past the last output position (column or row) computed; 0: none yet.
    pub const DONE: usize = 2;
    /// The op's frame of the pull schedule: positions wanted, the next one, the next input to
    /// pull for it, and the op that pulled this one ([`NONE`]: the root).
    pub const LO: usize = 3;
    pub const HI: usize = 4;
    pub const POS: usize = 5;
    pub const INPUT: usize = 6;
    pub const PARENT: usize = 7;
    pub const NONE: u32 = u16::MAX as u32;
}

/// Alignment of each part of a stage's scratch.
const PART_ALIGN: usize = 16;

/// Bytes of a fused stage's scratch: the walk state of `n_ops` ops, then the largest im2col
/// patch of its convs, each part 16-aligned.
pub fn stage_scratch_bytes(n_ops: usize, conv_bytes: usize) -> usize {
    (n_ops * WALK_BYTES).next_multiple_of(PART_ALIGN) + conv_bytes.next_multiple_of(PART_ALIGN)
}

/// Where the parts of a fused stage's scratch lie in the arena.
#[derive(Debug, Clone, Copy)]
pub struct StageScratch {
    pub state: usize,
    pub conv: (usize, usize),
}

impl StageScratch {
    fn new(base: usize, n_ops: usize, conv_bytes: usize) -> StageScratch {
        let c0 = base + (n_ops * WALK_BYTES).next_multiple_of(PART_ALIGN);
        StageScratch { state: base, conv: (c0, c0 + conv_bytes) }
    }
    fn end(&self, n_ops: usize) -> usize {
        self.state + stage_scratch_bytes(n_ops, self.conv.1 - self.conv.0)
    }
}
/// `SRC0/SRC1` value of an input that is a whole tensor (not produced in the stage).
pub const WHOLE: u32 = u32::MAX;

/// Stage kinds.
pub mod kind {
    pub const LAYER: u32 = 0;
    pub const H_CACHE: u32 = 1;
    pub const LINE_BUFFER: u32 = 2;
}

/// Stage record word indices.
pub mod s {
    pub const KIND: usize = 0;
    pub const A: usize = 1;
    pub const B: usize = 2;
    pub const ROOT_H: usize = 3;
    pub const ROOT_W: usize = 4;
    pub const TAIL: usize = 5;
    pub const LEN: usize = 6;
    pub const SCRATCH: usize = 7;
}

/// Fused words of an op (after its 32 layer words).
///
/// - `SRC0`, `SRC1`: the in-stage op (index within the stage) producing input 0 / 1, or
///   [`WHOLE`]: the input is a whole tensor at the layer's `IN0` / `IN1`.
/// - `OUT_MODE`: 0 the output is a ring at `OUT`; 1 the output is the stage's whole output
///   tensor at `OUT`; 2 the op is the MEAN tail: int32 (f32) accumulators at `ACC`, result at `OUT`.
/// - `RING_ROWS`, `RING_COLS`: ring dims (mode 0).
/// - `H`, `W`, `C`: the output map; `IN_H`, `IN_W`, `IN_C`: input 0's map (input 1 of a join has
///   the output's height and width and `IN1_C` channels).
/// - `ES`: element bytes (1 int8, 4 float32).
pub mod f {
    pub const SRC0: usize = 0;
    pub const SRC1: usize = 1;
    pub const OUT_MODE: usize = 2;
    pub const RING_ROWS: usize = 3;
    pub const RING_COLS: usize = 4;
    pub const H: usize = 5;
    pub const W: usize = 6;
    pub const C: usize = 7;
    pub const IN_H: usize = 8;
    pub const IN_W: usize = 9;
    pub const IN_C: usize = 10;
    pub const IN1_C: usize = 11;
    pub const ES: usize = 12;
    pub const ACC: usize = 13;
}

fn rd(blob: &[u8], word: usize) -> Result<u32, Error> {
    let o = word.checked_mul(4).ok_or(Error::Truncated("stage table"))?;
    let b = blob.get(o..o + 4).ok_or(Error::Truncated("stage table"))?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// How a buffer's elements are addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Addr {
    /// Whole map: `(y * w + x) * c`.
    Whole,
    /// H-cache ring: `((y - lo) * cols + x % cols) * c`.
    HRing,
    /// Line buffer: `((y % rows) * cols + x) * c`.
    LRing,
}

/// A buffer of the arena holding (part of) an `h x w x c` map.
#[derive(Debug, Clone, Copy)]
struct Buf {
    off: usize,
    /// Bytes.
    len: usize,
    h: usize,
    w: usize,
    c: usize,
    es: usize,
    rows: usize,
    cols: usize,
    addr: Addr,
    /// First row held (H-cache band span).
    lo: usize,
}

impl Buf {
    /// Element index of pixel (y, x), or an error if the buffer does not hold it.
    #[inline]
    fn elem(&self, y: usize, x: usize) -> Result<usize, Error> {
        let (ry, rx) = match self.addr {
            Addr::Whole => (y, x),
            Addr::HRing => (y.checked_sub(self.lo).ok_or(Error::BadView("row above the ring"))?, x % self.cols),
            Addr::LRing => (y % self.rows, x),
        };
        if ry >= self.rows || rx >= self.cols {
            return Err(Error::BadView("pixel outside its ring"));
        }
        Ok((ry * self.cols + rx) * self.c)
    }
    /// Is the rectangle rows `r0..r1` x cols `c0..c1` one strided block in the buffer?
    fn contiguous(&self, r0: usize, r1: usize, c0: usize, c1: usize) -> bool {
        if r0 >= r1 || c0 >= c1 {
            return true;
        }
        match self.addr {
            Addr::Whole => true,
            Addr::HRing => r0 >= self.lo && r1 - self.lo <= self.rows && c0 % self.cols + (c1 - c0) <= self.cols,
            Addr::LRing => r0 % self.rows + (r1 - r0) <= self.rows,
        }
    }
    fn row_stride(&self) -> usize {
        self.cols * self.c
    }
    /// Rows `r.0..r.1` x columns `c.0..c.1` of the map as a view of this buffer's bytes
    /// `data`, wrapping around the ring as its addressing does.
    fn view<'d>(&self, data: &'d [u8], r: (usize, usize), c: (usize, usize)) -> Result<RawView<'d>, Error> {
        let (rows, cols) = (r.1.saturating_sub(r.0), c.1.saturating_sub(c.0));
        let (row_slot0, col_slot0) = match self.addr {
            Addr::Whole => (r.0, c.0),
            Addr::HRing => (r.0.checked_sub(self.lo).ok_or(Error::BadView("row above the ring"))?, c.0 % self.cols),
            Addr::LRing => (r.0 % self.rows, c.0),
        };
        // The view's rows must not run past the band (H-cache) or the map (whole, line buffer
        // columns): only the ring axis wraps.
        let row_room = if self.addr == Addr::LRing { self.rows } else { self.rows.saturating_sub(row_slot0) };
        let col_room = if self.addr == Addr::HRing { self.cols } else { self.cols.saturating_sub(col_slot0) };
        if rows > row_room || cols > col_room {
            return Err(Error::BadView("window larger than its ring"));
        }
        Ok(RawView {
            data,
            full_h: self.h,
            full_w: self.w,
            c: self.c,
            row0: r.0,
            rows,
            col0: c.0,
            cols,
            row_stride: self.row_stride(),
            row_slot0: if rows == 0 { 0 } else { row_slot0 },
            row_slots: self.rows,
            col_slot0: if cols == 0 { 0 } else { col_slot0 },
            col_slots: self.cols,
        })
    }
}

/// What the run measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// One past the highest arena byte written.
    pub high_water: usize,
    /// Output pixels computed by fused ops (recomputation included).
    pub pixels: u64,
}

/// One decoded op of a fused stage.
#[derive(Debug, Clone, Copy)]
struct FOp {
    r: Record,
    fw: [u32; OP_WORDS],
}

impl FOp {
    fn fu(&self, i: usize) -> usize {
        self.fw[i] as usize
    }
    /// The op's output buffer; rings are addressed as the stage kind says (`line`).
    fn out_buf(&self, line: bool) -> Buf {
        out_buf(&self.fw, self.r.out, line)
    }
    fn is_spatial(&self) -> bool {
        self.r.streaming() == Streaming::Window
    }
    /// Kernel window along an axis (0 rows, 1 cols): (k, s, d, pad).
    fn win(&self, axis: usize) -> (usize, usize, usize, usize) {
        let Some(g) = self.r.geom().filter(|_| self.is_spatial()) else {
            return (1, 1, 1, 0);
        };
        if axis == 0 {
            (g.kh, g.stride_h, g.dil_h, g.pad_top)
        } else {
            (g.kw, g.stride_w, g.dil_w, g.pad_left)
        }
    }
    /// Input span `[a, b]` (inclusive, clipped to `len`) for output positions `[lo, hi]`.
    fn span_in(&self, axis: usize, lo: usize, hi: usize, len: usize) -> (usize, usize) {
        let (k, s, d, p) = self.win(axis);
        let a = (lo * s).saturating_sub(p);
        let b = (hi * s + (k - 1) * d).saturating_sub(p).min(len.saturating_sub(1));
        (a.min(b), b)
    }
}

/// The output buffer of an op with fused words `fw` and arena output offset `out`.
fn out_buf(fw: &[u32; OP_WORDS], out: u32, line: bool) -> Buf {
    let fu = |i: usize| fw[i] as usize;
    let (h, w, c, es) = (fu(f::H), fu(f::W), fu(f::C), fu(f::ES));
    match fw[f::OUT_MODE] {
        0 => {
            let (rows, cols) = (fu(f::RING_ROWS), fu(f::RING_COLS));
            let addr = if line { Addr::LRing } else { Addr::HRing };
            // Saturating: a corrupted record gives an oversized buffer that validation refuses.
            let len = rows.saturating_mul(cols).saturating_mul(c).saturating_mul(es);
            Buf { off: out as usize, len, h, w, c, es, rows, cols, addr, lo: 0 }
        }
        _ => {
            let len = h.saturating_mul(w).saturating_mul(c).saturating_mul(es);
            Buf { off: out as usize, len, h, w, c, es, rows: h, cols: w, addr: Addr::Whole, lo: 0 }
        }
    }
}

/// A validated fused program.
#[derive(Debug, Clone, Copy)]
pub struct FusedProgram<'a> {
    pub program: Program<'a>,
    blob: &'a [u8],
    n_stages: usize,
    stages_off: usize,
}

impl<'a> FusedProgram<'a> {
    /// Validate the layer program and the stage table (every buffer inside the arena, sources
    /// earlier in their stage, outputs disjoint from inputs, op kinds that can stream).
    #[inline(never)]
    pub fn parse(blob: &'a [u8]) -> Result<Self, Error> {
        let program = Program::parse(blob)?;
        let n_stages = rd(blob, hdr_words::N_STAGES)? as usize;
        let stages_off = rd(blob, hdr_words::STAGES_OFF)? as usize;
        if !stages_off.is_multiple_of(4) || stages_off > blob.len() {
            return Err(Error::Truncated("stage table"));
        }
        let p = FusedProgram { program, blob, n_stages, stages_off };
        let mut word = stages_off / 4;
        for i in 0..n_stages {
            let len = p.stage_len(word)?;
            p.validate_stage(i, word)?;
            word += len;
        }
        Ok(p)
    }

    pub fn num_stages(&self) -> usize {
        self.n_stages
    }

    /// Bytes of scratch fused stage `i` uses (its walk state and im2col patch); `None` for a layer
    /// stage (its layers carry their own).
    pub fn stage_scratch_len(&self, i: usize) -> Result<Option<usize>, Error> {
        if i >= self.n_stages {
            return Err(Error::BadParams("stage index"));
        }
        let mut word = self.stages_off / 4;
        for _ in 0..i {
            word += self.stage_len(word)?;
        }
        if rd(self.blob, word + s::KIND)? == kind::LAYER {
            return Ok(None);
        }
        let n = self.load_ops(word)?;
        let sc = self.stage_scratch(word, n)?;
        Ok(Some(sc.end(n) - sc.state))
    }

    fn stage_len(&self, word: usize) -> Result<usize, Error> {
        let len = rd(self.blob, word + s::LEN)? as usize;
        if len < STAGE_WORDS {
            return Err(Error::Truncated("stage record"));
        }
        rd(self.blob, word + len - 1)?;
        Ok(len)
    }

    // Out of line (as the other per-stage and per-call steps below): each keeps its own
    // temporaries in its own short-lived frame, so the stack the walk needs stays a few frames
    // of a few words, whatever the inlining (measured under QEMU: README, Firmware RAM).
    #[inline(never)]
    fn op_at(&self, word: usize, k: usize) -> Result<FOp, Error> {
        let base = word + STAGE_WORDS + k * (LAYER_WORDS + OP_WORDS);
        let mut words = [0u32; LAYER_WORDS];
        for (j, v) in words.iter_mut().enumerate() {
            *v = rd(self.blob, base + j)?;
        }
        let mut fw = [0u32; OP_WORDS];
        for (j, v) in fw.iter_mut().enumerate() {
            *v = rd(self.blob, base + LAYER_WORDS + j)?;
        }
        let r = Record::decode(&Layer { words }).map_err(|e| match e {
            Error::UnknownOp { op, .. } => Error::UnknownOp { layer: k, op },
            e => e,
        })?;
        Ok(FOp { r, fw })
    }

    /// The op count of the fused stage at `word` (checked against the record length).
    fn load_ops(&self, word: usize) -> Result<usize, Error> {
        let n = rd(self.blob, word + s::B)? as usize;
        if n == 0 || n > MAX_OPS {
            return Err(Error::BadParams("fused stage op count (1..=MAX_OPS)"));
        }
        if STAGE_WORDS + n * (LAYER_WORDS + OP_WORDS) != rd(self.blob, word + s::LEN)? as usize {
            return Err(Error::Truncated("fused stage record length"));
        }
        Ok(n)
    }

    /// The scratch of the fused stage at `word` with `n` ops: where its parts lie, sized by
    /// [`stage_scratch_bytes`] from the stage's own ops.
    fn stage_scratch(&self, word: usize, n: usize) -> Result<StageScratch, Error> {
        let mut conv = 0;
        for j in 0..n {
            conv = conv.max(self.op_at(word, j)?.r.scratch_bytes());
        }
        Ok(StageScratch::new(rd(self.blob, word + s::SCRATCH)? as usize, n, conv))
    }

    #[inline(never)]
    fn validate_stage(&self, i: usize, word: usize) -> Result<(), Error> {
        let bad = |what| Error::BadLayer { layer: i, what };
        let k = rd(self.blob, word + s::KIND)?;
        if k == kind::LAYER {
            let (a, b) = (rd(self.blob, word + s::A)? as usize, rd(self.blob, word + s::B)? as usize);
            if a.checked_add(b).is_none_or(|e| e > self.program.num_layers()) {
                return Err(bad("stage layer range"));
            }
            return Ok(());
        }
        if k != kind::H_CACHE && k != kind::LINE_BUFFER {
            return Err(bad("stage kind"));
        }
        let n = self.load_ops(word)?;
        let arena = self.program.arena_size() as u64;
        let sc = self.stage_scratch(word, n)?;
        let sc_range = (sc.state as u64, sc.end(n) as u64);
        if sc.state % 4 != 0 {
            return Err(Error::Misaligned("fused stage scratch"));
        }
        if sc_range.1 > arena {
            return Err(Error::OutOfBounds { layer: i, what: "fused stage scratch outside the arena" });
        }
        let tail = rd(self.blob, word + s::TAIL)? == 1;
        let line = k == kind::LINE_BUFFER;
        if line && rd(self.blob, word + s::A)? != 0 {
            return Err(bad("line buffer band rows"));
        }
        if k == kind::H_CACHE && rd(self.blob, word + s::A)? == 0 {
            return Err(bad("band rows"));
        }
        // The walk runs over the root: the last op's output map, or the tail's input map.
        let lo = self.op_at(word, n - 1)?;
        let root = if tail { (lo.fu(f::IN_H), lo.fu(f::IN_W)) } else { (lo.fu(f::H), lo.fu(f::W)) };
        if root != (rd(self.blob, word + s::ROOT_H)? as usize, rd(self.blob, word + s::ROOT_W)? as usize) {
            return Err(bad("root map differs from the stage's last op"));
        }
        for j in 0..n {
            // Decoding checked the geometry and the int8 activation ranges.
            let o = self.op_at(word, j).map_err(|e| match e {
                Error::BadGeometry => bad("geometry"),
                Error::BadParams(what) => bad(what),
                e => e,
            })?;
            let streaming = o.r.streaming();
            if streaming == Streaming::Whole {
                return Err(bad("op kind that cannot run in a fused stage"));
            }
            self.program.check_weights(&o.r.footprint()).map_err(|e| match e {
                Error::OutOfBounds { what, .. } => Error::OutOfBounds { layer: i, what },
                e => e,
            })?;
            let (h, wd, c, es) = (o.fu(f::H) as u64, o.fu(f::W) as u64, o.fu(f::C) as u64, o.fu(f::ES) as u64);
            let (ih, iw) = (o.fu(f::IN_H) as u64, o.fu(f::IN_W) as u64);
            let big = MAX_FUSED_DIM as u64;
            if h == 0 || wd == 0 || c == 0 || !(es == 1 || es == 4) || h > big || wd > big || ih > big || iw > big || c > 1 << 20 {
                return Err(bad("fused op map"));
            }
            let is_mean = streaming == Streaming::Tail;
            if is_mean != (tail && j == n - 1) || (o.fw[f::OUT_MODE] == 2) != is_mean {
                return Err(bad("MEAN / FULLY_CONNECTED only as the tail"));
            }
            if let Kind::Fc(fc) = &o.r.kind {
                if fc.rows != 1 || fc.in_dim as u64 != o.fu(f::IN_H) as u64 * o.fu(f::IN_W) as u64 * o.fu(f::IN_C) as u64 || fc.out_dim as usize != o.fu(f::C) {
                    return Err(bad("FULLY_CONNECTED tail sizes differ from the flattened root"));
                }
            }
            if let Kind::Mean(m) = &o.r.kind {
                if (m.h as usize, m.w as usize, m.c as usize) != (o.fu(f::IN_H), o.fu(f::IN_W), o.fu(f::IN_C)) || m.c as usize != o.fu(f::C) {
                    return Err(bad("MEAN tail sizes differ from the root"));
                }
            }
            if o.r.elems().1.size() != o.fu(f::ES) {
                return Err(bad("output element size differs from the op's"));
            }
            if o.fw[f::OUT_MODE] == 1 && j != n - 1 {
                return Err(bad("only the last op writes a whole tensor"));
            }
            if o.fw[f::OUT_MODE] == 0 && (j == n - 1 || o.fu(f::RING_ROWS) == 0 || o.fu(f::RING_COLS) == 0) {
                return Err(bad("ring"));
            }
            let ob = o.out_buf(line);
            let out_range = if is_mean {
                (o.r.out as u64, o.r.out as u64 + c * es)
            } else {
                (ob.off as u64, ob.off as u64 + ob.len as u64)
            };
            if out_range.1 > arena {
                return Err(Error::OutOfBounds { layer: i, what: "fused op output outside the arena" });
            }
            let mut ranges = [(0u64, 0u64); 3];
            if is_mean {
                let a = o.fu(f::ACC) as u64;
                if !a.is_multiple_of(4) || a + c * 4 > arena {
                    return Err(Error::OutOfBounds { layer: i, what: "MEAN accumulators" });
                }
                ranges[2] = (a, a + c * 4);
            }
            let n_in = o.r.n_inputs();
            for (q, (sw, start)) in [(f::SRC0, o.r.in0), (f::SRC1, o.r.in1)].into_iter().enumerate().take(n_in) {
                let src = o.fw[sw];
                let r = if src == WHOLE {
                    let cc = if q == 0 { o.fu(f::IN_C) } else { o.fu(f::IN1_C) } as u64;
                    let (ih, iw_) = if q == 0 { (o.fu(f::IN_H) as u64, o.fu(f::IN_W) as u64) } else { (h, wd) };
                    let st = start as u64;
                    (st, st + ih * iw_ * cc * in_es(&o) as u64)
                } else {
                    let p = src as usize;
                    if p >= j {
                        return Err(bad("source op not earlier in the stage"));
                    }
                    let po = self.op_at(word, p)?;
                    if po.fw[f::OUT_MODE] != 0 {
                        return Err(bad("source is not a ring"));
                    }
                    let pb = po.out_buf(line);
                    let (want_c, want_h, want_w) = if q == 0 { (o.fu(f::IN_C), o.fu(f::IN_H), o.fu(f::IN_W)) } else { (o.fu(f::IN1_C), o.fu(f::H), o.fu(f::W)) };
                    if pb.c != want_c || pb.h != want_h || pb.w != want_w || pb.es != in_es(&o) {
                        return Err(bad("source map differs from the input map"));
                    }
                    (pb.off as u64, pb.off as u64 + pb.len as u64)
                };
                if r.1 > arena {
                    return Err(Error::OutOfBounds { layer: i, what: "fused op input outside the arena" });
                }
                ranges[q] = r;
            }
            for r in ranges {
                if r.0 < r.1 && r.0 < out_range.1 && out_range.0 < r.1 {
                    return Err(bad("fused op output overlaps an input"));
                }
            }
            for r in ranges.into_iter().chain([out_range]) {
                if r.0 < r.1 && r.0 < sc_range.1 && sc_range.0 < r.1 {
                    return Err(bad("fused op buffer overlaps the stage scratch"));
                }
            }
            if let Some(g) = o.r.geom().filter(|_| o.is_spatial()) {
                if g.in_h != o.fu(f::IN_H) || g.in_w != o.fu(f::IN_W) || g.in_c != o.fu(f::IN_C) || g.out_h != o.fu(f::H) || g.out_w != o.fu(f::W) || g.out_c != o.fu(f::C) {
                    return Err(bad("geometry differs from the fused map"));
                }
            } else if !is_mean && (o.fu(f::IN_H) != o.fu(f::H) || o.fu(f::IN_W) != o.fu(f::W)) {
                return Err(bad("pointwise op changes the map size"));
            }
        }
        Ok(())
    }

    /// Run every stage on `arena` (at least `arena_size` bytes, 4-aligned); the graph input
    /// must already be written at its io offset.
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8]) -> Result<Stats, Error> {
        let mut st = Stats::default();
        if arena.len() < self.program.arena_size() {
            return Err(Error::ArenaTooSmall { need: self.program.arena_size(), have: arena.len() });
        }
        let mut word = self.stages_off / 4;
        for _ in 0..self.n_stages {
            let len = self.stage_len(word)?;
            self.run_stage_at(word, arena, &mut st)?;
            word += len;
        }
        Ok(st)
    }

    /// Run stage `i` alone (the host uses it to look at every stage output).
    pub fn run_stage(&self, i: usize, arena: &mut [u8], st: &mut Stats) -> Result<(), Error> {
        let mut word = self.stages_off / 4;
        for _ in 0..i.min(self.n_stages) {
            word += self.stage_len(word)?;
        }
        if i >= self.n_stages {
            return Err(Error::BadParams("stage index"));
        }
        self.run_stage_at(word, arena, st)
    }

    // Ops are addressed by their index in the stage (spans, sources, rings).
    #[allow(clippy::needless_range_loop)]
    #[inline(never)]
    fn run_stage_at(&self, word: usize, arena: &mut [u8], st: &mut Stats) -> Result<(), Error> {
        let k = rd(self.blob, word + s::KIND)?;
        if k == kind::LAYER {
            return self.run_layer_stage(word, arena, st);
        }
        self.run_fused_stage(k, word, arena, st)
    }

    /// A layer stage: its layers in order, through the layer executor.
    #[inline(never)]
    fn run_layer_stage(&self, word: usize, arena: &mut [u8], st: &mut Stats) -> Result<(), Error> {
        {
            let (a, b) = (rd(self.blob, word + s::A)? as usize, rd(self.blob, word + s::B)? as usize);
            for li in a..a + b {
                self.program.run_layer(li, arena)?;
                let r = self.program.record(li)?;
                // The end of what the layer writes: its output offset plus its output bytes.
                st.high_water = st.high_water.max(r.out as usize + r.footprint().out as usize);
                // Its scratch is held for the layer (gathered into pixel by pixel).
                if r.scratch_bytes() > 0 {
                    st.high_water = st.high_water.max(r.scratch as usize + r.scratch_bytes());
                }
            }
            Ok(())
        }
    }

    /// A fused stage (`k` its kind): the walk, band by band or row by row.
    #[inline(never)]
    fn run_fused_stage(&self, k: u32, word: usize, arena: &mut [u8], st: &mut Stats) -> Result<(), Error> {
        let n = self.load_ops(word)?;
        let fo = StageOps { fp: self, word, n };
        let tail = rd(self.blob, word + s::TAIL)? == 1;
        let (root_h, root_w) = (rd(self.blob, word + s::ROOT_H)? as usize, rd(self.blob, word + s::ROOT_W)? as usize);
        let sc = self.stage_scratch(word, n)?;
        let mut w = Walk { prog: &self.program, ops: fo, line: k == kind::LINE_BUFFER, band: (0, 0), sc, st };
        // The scratch is the stage's own for as long as it runs.
        w.st.high_water = w.st.high_water.max(sc.end(n));
        for j in 0..n {
            w.set(arena, j, walk::DONE, 0)?;
            w.set(arena, j, walk::SPAN_LO, 0)?;
            w.set(arena, j, walk::SPAN_HI, 0)?;
        }
        let last = n - 1;
        // The op whose output is the root: the last op, or the MEAN's producer.
        let root_op = if tail {
            let src = fo.fw(last, f::SRC0)?;
            if src == WHOLE {
                return Err(Error::BadParams("MEAN tail reads a whole tensor"));
            }
            src as usize
        } else {
            last
        };
        if tail {
            w.start_tail(arena)?;
        }
        if k == kind::H_CACHE {
            let r = rd(self.blob, word + s::A)? as usize;
            let mut y0 = 0;
            while y0 < root_h {
                let y1 = (y0 + r).min(root_h) - 1;
                w.band_spans(root_op, tail, (y0, y1), arena)?;
                w.band = (y0, y1);
                for x in 0..root_w {
                    w.pull(root_op, x, x, arena)?;
                    if tail {
                        w.accumulate(root_op, (y0, y1), (x, x), arena)?;
                    }
                }
                y0 += r;
            }
        } else {
            for y in 0..root_h {
                w.pull(root_op, y, y, arena)?;
                if tail {
                    w.accumulate(root_op, (y, y), (0, root_w - 1), arena)?;
                }
            }
        }
        if tail {
            w.finish_tail(root_h * root_w, arena)?;
        }
        Ok(())
    }
}

fn n_inputs(o: &FOp) -> usize {
    o.r.n_inputs()
}

/// Element bytes of an op's inputs (QUANTIZE reads f32, DEQUANTIZE int8).
fn in_es(o: &FOp) -> usize {
    o.r.elems().0.size()
}

/// The ops of one fused stage, decoded from the blob on use.
#[derive(Clone, Copy)]
struct StageOps<'p, 'a> {
    fp: &'p FusedProgram<'a>,
    word: usize,
    n: usize,
}

impl StageOps<'_, '_> {
    fn get(&self, k: usize) -> Result<FOp, Error> {
        if k >= self.n {
            return Err(Error::BadParams("fused op index"));
        }
        self.fp.op_at(self.word, k)
    }
    /// Word of the blob at `k`'s op record (`i` < LAYER_WORDS) or its fused words (after).
    fn word(&self, k: usize, i: usize) -> Result<u32, Error> {
        if k >= self.n {
            return Err(Error::BadParams("fused op index"));
        }
        rd(self.fp.blob, self.word + STAGE_WORDS + k * (LAYER_WORDS + OP_WORDS) + i)
    }
    /// Fused word `i` of op `k`, without decoding its record.
    fn fw(&self, k: usize, i: usize) -> Result<u32, Error> {
        self.word(k, LAYER_WORDS + i)
    }
    /// Op `k`'s output buffer, without decoding its record (validated by `parse`).
    fn out_buf(&self, k: usize, line: bool) -> Result<Buf, Error> {
        let mut fw = [0u32; OP_WORDS];
        for (i, v) in fw.iter_mut().enumerate() {
            *v = self.fw(k, i)?;
        }
        Ok(out_buf(&fw, self.word(k, crate::program::w::OUT)?, line))
    }
}

/// One fused stage's walk. Everything that grows with the stage lives in its scratch (`sc`):
/// the per-op state words ([`walk`]) and the im2col patch; this struct is a few words.
struct Walk<'p, 'a, 's> {
    prog: &'p Program<'a>,
    ops: StageOps<'p, 'a>,
    line: bool,
    band: (usize, usize),
    sc: StageScratch,
    st: &'s mut Stats,
}

/// The arena bytes outside one kernel call's carved output and scratch.
type Rest<'x> = crate::carve::Rest<'x>;

fn rest_get<'x>(rest: &Rest<'x>, b: &Buf) -> Result<&'x [u8], Error> {
    rest.get(b.off, b.len).ok_or(Error::OutOfBounds { layer: 0, what: "input buffer overlaps the output or the scratch" })
}

impl Walk<'_, '_, '_> {
    fn field_at(&self, op: usize, k: usize) -> Result<usize, Error> {
        if op >= self.ops.n {
            return Err(Error::BadParams("fused op index"));
        }
        Ok(self.sc.state + op * WALK_BYTES + k * 2)
    }
    /// Walk state field `k` of op `op`.
    fn get(&self, arena: &[u8], op: usize, k: usize) -> Result<u32, Error> {
        let at = self.field_at(op, k)?;
        let b = arena.get(at..at + 2).ok_or(Error::OutOfBounds { layer: 0, what: "walk state" })?;
        Ok(u16::from_le_bytes([b[0], b[1]]) as u32)
    }
    fn set(&self, arena: &mut [u8], op: usize, k: usize, v: u32) -> Result<(), Error> {
        let at = self.field_at(op, k)?;
        let v = u16::try_from(v).map_err(|_| Error::BadParams("fused map position above 16 bits"))?;
        arena.get_mut(at..at + 2).ok_or(Error::OutOfBounds { layer: 0, what: "walk state" })?.copy_from_slice(&v.to_le_bytes());
        Ok(())
    }
    /// The rows op `op` produces in the current band, if it is needed in it.
    fn span(&self, arena: &[u8], op: usize) -> Result<Option<(usize, usize)>, Error> {
        let lo = self.get(arena, op, walk::SPAN_LO)?;
        if lo == walk::NONE {
            return Ok(None);
        }
        Ok(Some((lo as usize, self.get(arena, op, walk::SPAN_HI)? as usize)))
    }
    /// Op `j`'s output buffer, its H-cache ring starting at the band's first row.
    #[inline(never)]
    fn buf(&self, arena: &[u8], j: usize) -> Result<Buf, Error> {
        let mut b = self.ops.out_buf(j, self.line)?;
        if b.addr == Addr::HRing {
            b.lo = self.get(arena, j, walk::SPAN_LO)? as usize;
        }
        Ok(b)
    }
    /// Input `q` of op `o`: the ring of the in-stage op producing it, or a whole tensor.
    #[inline(never)]
    fn input_buf(&self, arena: &[u8], o: &FOp, q: usize) -> Result<Buf, Error> {
        let src = o.fw[if q == 0 { f::SRC0 } else { f::SRC1 }];
        if src != WHOLE {
            return self.buf(arena, src as usize);
        }
        let es = in_es(o);
        let (h, wd, c) = if q == 0 { (o.fu(f::IN_H), o.fu(f::IN_W), o.fu(f::IN_C)) } else { (o.fu(f::H), o.fu(f::W), o.fu(f::IN1_C)) };
        let off = if q == 0 { o.r.in0 } else { o.r.in1 } as usize;
        Ok(Buf { off, len: h * wd * c * es, h, w: wd, c, es, rows: h, cols: wd, addr: Addr::Whole, lo: 0 })
    }

    /// The MEAN / flatten+FC tail's accumulators: zero, or the folded biases of an int8 FC.
    #[inline(never)]
    fn start_tail(&mut self, arena: &mut [u8]) -> Result<(), Error> {
        let m = &self.ops.get(self.ops.n - 1)?;
        let c = m.fu(f::C);
        let acc = arena.get_mut(m.fu(f::ACC)..m.fu(f::ACC) + c * 4).ok_or(Error::OutOfBounds { layer: 0, what: "accumulators" })?;
        acc.fill(0);
        if let Kind::Fc(Fc { quant: Some(_), bias, .. }) = m.r.kind {
            // The folded bias starts the sums, as in ops::fc_i8.
            let bias = self.prog.weights_i32(bias as usize, c)?;
            for (a, &b) in as_i32_mut(acc)?.iter_mut().zip(bias) {
                *a = b;
            }
        }
        self.st.high_water = self.st.high_water.max(m.fu(f::ACC) + c * 4);
        Ok(())
    }

    /// The rows every op produces in H-cache band `band` (root rows), from the root backwards,
    /// the union over each op's consumers; checked against the rings.
    #[inline(never)]
    fn band_spans(&mut self, root_op: usize, tail: bool, band: (usize, usize), arena: &mut [u8]) -> Result<(), Error> {
        let (n, last) = (self.ops.n, self.ops.n - 1);
        for o in 0..n {
            self.set(arena, o, walk::SPAN_LO, walk::NONE)?;
        }
        self.set(arena, root_op, walk::SPAN_LO, band.0 as u32)?;
        self.set(arena, root_op, walk::SPAN_HI, band.1 as u32)?;
        for o in (0..n).rev() {
            if tail && o == last {
                continue;
            }
            let Some(out) = self.span(arena, o)? else { continue };
            let fop = self.ops.get(o)?;
            for q in 0..n_inputs(&fop) {
                let src = fop.fw[if q == 0 { f::SRC0 } else { f::SRC1 }];
                if src == WHOLE {
                    continue;
                }
                let t = src as usize;
                let len = self.ops.fw(t, f::H)? as usize;
                let need = fop.span_in(0, out.0, out.1, len);
                let s = match self.span(arena, t)? {
                    Some(s) => (s.0.min(need.0), s.1.max(need.1)),
                    None => need,
                };
                self.set(arena, t, walk::SPAN_LO, s.0 as u32)?;
                self.set(arena, t, walk::SPAN_HI, s.1 as u32)?;
            }
        }
        for o in 0..n {
            let s = self.span(arena, o)?.unwrap_or((0, 0));
            self.set(arena, o, walk::SPAN_LO, s.0 as u32)?;
            self.set(arena, o, walk::SPAN_HI, s.1 as u32)?;
            let b = self.ops.out_buf(o, false)?;
            if o != last && b.addr == Addr::HRing && s.1 + 1 - s.0 > b.rows {
                return Err(Error::BadParams("band span larger than its ring"));
            }
            self.set(arena, o, walk::DONE, 0)?;
        }
        Ok(())
    }

    /// The pull schedule: make op `root`'s output positions `lo..=hi` (columns in an H-cache
    /// band, rows for line buffers) exist, each position after the input spans it reads. A
    /// depth-first walk over the stage's ops, its frames in the walk state: a pull only ever
    /// descends to an earlier op, so each op has at most one live frame.
    fn pull(&mut self, root: usize, lo: usize, hi: usize, arena: &mut [u8]) -> Result<(), Error> {
        use walk::*;
        let axis = if self.line { 0 } else { 1 };
        let mut n = root;
        let from = (self.get(arena, n, DONE)? as usize).max(lo);
        if from > hi {
            return Ok(());
        }
        for (k, v) in [(LO, lo as u32), (HI, hi as u32), (POS, from as u32), (INPUT, 0), (PARENT, NONE)] {
            self.set(arena, n, k, v)?;
        }
        loop {
            let p = self.get(arena, n, POS)? as usize;
            if p > self.get(arena, n, HI)? as usize {
                // This frame is done: back to the op that pulled it.
                match self.get(arena, n, PARENT)? {
                    NONE => return Ok(()),
                    parent => {
                        n = parent as usize;
                        continue;
                    }
                }
            }
            let o = self.ops.get(n)?;
            let q = self.get(arena, n, INPUT)? as usize;
            if q < n_inputs(&o) {
                self.set(arena, n, INPUT, q as u32 + 1)?;
                let src = o.fw[if q == 0 { f::SRC0 } else { f::SRC1 }];
                if src == WHOLE {
                    continue;
                }
                let t = src as usize;
                if t >= n {
                    return Err(Error::BadParams("fused op source"));
                }
                let len = self.ops.fw(t, if axis == 0 { f::H } else { f::W })? as usize;
                let (a, b) = o.span_in(axis, p, p, len);
                let from = (self.get(arena, t, DONE)? as usize).max(a);
                if from <= b {
                    for (k, v) in [(LO, a as u32), (HI, b as u32), (POS, from as u32), (INPUT, 0), (PARENT, n as u32)] {
                        self.set(arena, t, k, v)?;
                    }
                    n = t;
                }
                continue;
            }
            // Every input span of position p exists: compute it.
            let (rows, cols) = if self.line {
                ((p, p), (0, o.fu(f::W) - 1))
            } else if n == self.ops.n - 1 {
                (self.band, (p, p))
            } else {
                let span = (self.get(arena, n, SPAN_LO)? as usize, self.get(arena, n, SPAN_HI)? as usize);
                (span, (p, p))
            };
            self.compute(&o, n, rows, cols, arena)?;
            self.set(arena, n, DONE, p as u32 + 1)?;
            self.set(arena, n, POS, p as u32 + 1)?;
            self.set(arena, n, INPUT, 0)?;
        }
    }

    /// Compute op `n`'s output rows `r.0..=r.1` x columns `c.0..=c.1` into its buffer.
    #[inline(never)]
    fn compute(&mut self, o: &FOp, n: usize, r: (usize, usize), c: (usize, usize), arena: &mut [u8]) -> Result<(), Error> {
        let ob = self.buf(arena, n)?;
        let in0 = self.input_buf(arena, o, 0)?;
        let in1 = if n_inputs(o) == 2 { self.input_buf(arena, o, 1)? } else { in0 };
        let last = (ob.elem(r.1, c.1)? + ob.c) * ob.es;
        self.st.high_water = self.st.high_water.max(ob.off + last);
        self.st.pixels += ((r.1 + 1 - r.0) * (c.1 + 1 - c.0)) as u64;
        let out_range = ob.off..ob.off.checked_add(ob.len).ok_or(Error::OutOfBounds { layer: 0, what: "output buffer" })?;
        let (out, conv, rest) = crate::carve::carve(arena, out_range, self.sc.conv.0..self.sc.conv.1).ok_or(Error::OutOfBounds { layer: 0, what: "output buffer" })?;
        if let Some(g) = o.r.geom().filter(|_| o.is_spatial()) {
            let g = *g;
            let src = rest_get(&rest, &in0)?;
            let (ir0, ir1) = g.input_rows(r.0, r.1 + 1);
            let (ic0, ic1) = g.input_cols(c.0, c.1 + 1);
            if !ob.contiguous(r.0, r.1 + 1, c.0, c.1 + 1) {
                return Err(Error::BadView("fused output window wraps its ring"));
            }
            // The input window as a view of its ring: the kernel reads pixels through the
            // ring's own wrap-around, so nothing is gathered or copied.
            let view = in0.view(src, (ir0, ir1), (ic0, ic1))?;
            let ostart = ob.elem(r.0, c.0)? * ob.es;
            let odata = out.get_mut(ostart..).ok_or(Error::BadView("ring window"))?;
            let win = RawWindow { data: odata, y0: r.0, y1: r.1 + 1, x0: c.0, x1: c.1 + 1, row_stride: ob.row_stride() };
            return o.r.run_window(self.prog, &view, win, conv);
        }
        // Pointwise: pixel by pixel (each pixel's channels are contiguous in any layout).
        let a = rest_get(&rest, &in0)?;
        let b = if n_inputs(o) == 2 { rest_get(&rest, &in1)? } else { &[][..] };
        for y in r.0..=r.1 {
            for x in c.0..=c.1 {
                let ea = in0.elem(y, x)? * in0.es;
                let pa = a.get(ea..ea + in0.c * in0.es).ok_or(Error::BadView("pixel"))?;
                let pb = if n_inputs(o) == 2 {
                    let eb = in1.elem(y, x)? * in1.es;
                    b.get(eb..eb + in1.c * in1.es).ok_or(Error::BadView("pixel"))?
                } else {
                    &[][..]
                };
                let eo = ob.elem(y, x)? * ob.es;
                let po = out.get_mut(eo..eo + ob.c * ob.es).ok_or(Error::BadView("pixel"))?;
                o.r.run_pointwise(self.prog, pa, pb, po)?;
            }
        }
        Ok(())
    }

    /// MEAN tail: add root rows `r` x columns `c` into the accumulators.
    #[inline(never)]
    fn accumulate(&mut self, root_op: usize, r: (usize, usize), c: (usize, usize), arena: &mut [u8]) -> Result<(), Error> {
        let m = self.ops.get(self.ops.n - 1)?;
        let rb = self.buf(arena, root_op)?;
        let ch = m.fu(f::C);
        let acc_off = m.fu(f::ACC);
        let acc_buf = Buf { off: acc_off, len: ch * 4, h: 1, w: 1, c: ch, es: 4, rows: 1, cols: 1, addr: Addr::Whole, lo: 0 };
        let (acc, _, rest) = crate::carve::carve(arena, acc_buf.off..acc_buf.off + acc_buf.len, 0..0).ok_or(Error::OutOfBounds { layer: 0, what: "accumulators" })?;
        let src = rest_get(&rest, &rb)?;
        let kind = m.r.kind;
        for y in r.0..=r.1 {
            for x in c.0..=c.1 {
                let e = rb.elem(y, x)? * rb.es;
                let px = src.get(e..e + rb.c * rb.es).ok_or(Error::BadView("root pixel"))?;
                // Flattened (row-major NHWC) index of the pixel's first channel.
                let idx = (y * rb.w + x) * rb.c;
                if let Kind::Fc(fc @ Fc { quant: Some(_), .. }) = kind {
                    let (in_dim, od) = (fc.in_dim as usize, fc.out_dim as usize);
                    let wts = self.prog.weights_i8(fc.weights as usize, od * in_dim)?;
                    let xs = as_i8(px);
                    for (o, a) in as_i32_mut(acc)?.iter_mut().enumerate() {
                        let wrow = wts.get(o * in_dim + idx..o * in_dim + idx + rb.c).ok_or(Error::BadParams("fc weights"))?;
                        for (&xv, &wv) in xs.iter().zip(wrow) {
                            *a = a.wrapping_add(xv as i32 * wv as i32);
                        }
                    }
                } else if let Kind::Fc(fc) = kind {
                    let (in_dim, od) = (fc.in_dim as usize, fc.out_dim as usize);
                    let wts = self.prog.weights_f32(fc.weights as usize, od * in_dim)?;
                    let xs = as_f32(px)?;
                    for (o, a) in as_f32_mut(acc)?.iter_mut().enumerate() {
                        let wrow = wts.get(o * in_dim + idx..o * in_dim + idx + rb.c).ok_or(Error::BadParams("fc weights"))?;
                        for (&xv, &wv) in xs.iter().zip(wrow) {
                            *a += xv * wv;
                        }
                    }
                } else if let Kind::Mean(Mean { arith: MeanArith::I8 { .. }, .. }) = kind {
                    let a = as_i32_mut(acc)?;
                    for (s, &v) in a.iter_mut().zip(as_i8(px)) {
                        *s = s.wrapping_add(v as i32);
                    }
                } else {
                    let a = as_f32_mut(acc)?;
                    for (s, &v) in a.iter_mut().zip(as_f32(px)?) {
                        *s += v;
                    }
                }
            }
        }
        Ok(())
    }

    /// The tail's output from its sums, as `ops::mean_hw_i8` / `mean_hw_f32` / `fc_i8` /
    /// `fc_f32` compute it.
    #[inline(never)]
    fn finish_tail(&mut self, n: usize, arena: &mut [u8]) -> Result<(), Error> {
        let m = &self.ops.get(self.ops.n - 1)?;
        let ch = m.fu(f::C);
        let out_buf = Buf { off: m.r.out as usize, len: ch * m.fu(f::ES), h: 1, w: 1, c: ch, es: m.fu(f::ES), rows: 1, cols: 1, addr: Addr::Whole, lo: 0 };
        let acc_buf = Buf { off: m.fu(f::ACC), len: ch * 4, h: 1, w: 1, c: ch, es: 4, rows: 1, cols: 1, addr: Addr::Whole, lo: 0 };
        let (out, _, rest) = crate::carve::carve(arena, out_buf.off..out_buf.off + out_buf.len, 0..0).ok_or(Error::OutOfBounds { layer: 0, what: "tail output" })?;
        self.st.high_water = self.st.high_water.max(out_buf.off + out_buf.len);
        let acc = rest_get(&rest, &acc_buf)?;
        if let Kind::Fc(Fc { quant: Some(cq), bias, act, .. }) = &m.r.kind {
            let q = self.prog.requant(cq, *bias, ch, act.i8()?)?;
            for (o, (y, &a)) in as_i8_mut(out).iter_mut().zip(as_i32(acc)?).enumerate() {
                let v = if q.single_rounding {
                    crate::quant::mul_ruy(a, q.mult[o], q.shift[o])
                } else {
                    mul_by_quantized_multiplier(a, q.mult[o], q.shift[o])
                };
                *y = v.wrapping_add(q.out_zp).clamp(q.act_min, q.act_max) as i8;
            }
        } else if let Kind::Fc(Fc { bias, act, .. }) = &m.r.kind {
            let bias = self.prog.weights_f32(*bias as usize, ch)?;
            let act = act.f32()?;
            for ((y, &a), &b) in as_f32_mut(out)?.iter_mut().zip(as_f32(acc)?).zip(bias) {
                let v = a + b;
                let v = if v < act.0 { act.0 } else { v };
                *y = if v > act.1 { act.1 } else { v };
            }
        } else if let Kind::Mean(Mean { arith: MeanArith::I8 { in_zp, out_zp, mult, shift }, .. }) = m.r.kind {
            let (mm, ss) = ops::mean_multiplier(mult, shift, n);
            for (o, &a) in as_i8_mut(out).iter_mut().zip(as_i32(acc)?) {
                let shifted = a.wrapping_sub(in_zp.wrapping_mul(n as i32));
                *o = mul_by_quantized_multiplier(shifted, mm, ss).wrapping_add(out_zp).clamp(-128, 127) as i8;
            }
        } else {
            for (o, &a) in as_f32_mut(out)?.iter_mut().zip(as_f32(acc)?) {
                *o = a / n as f32;
            }
        }
        Ok(())
    }
}

fn as_i32_mut(b: &mut [u8]) -> Result<&mut [i32], Error> {
    if !(b.as_ptr() as usize).is_multiple_of(4) || !b.len().is_multiple_of(4) {
        return Err(Error::Misaligned("int32 accumulators"));
    }
    // SAFETY: alignment and length checked above; every bit pattern is a valid i32.
    Ok(unsafe { core::slice::from_raw_parts_mut(b.as_mut_ptr() as *mut i32, b.len() / 4) })
}

#[cfg(test)]
mod tests {
    //! A fused program assembled by hand (no host crate): a 3x3 depthwise conv streamed through
    //! a ring into a 2x2 max pool, as H-cache bands of 1, 2 and 4 rows and as a line buffer,
    //! equals the same two ops run layer by layer; a ring one row short is an error, not a
    //! stray write. Small enough to run under Miri.
    use super::*;
    use crate::program::{hdr, HEADER_WORDS, IO_WORDS, MAGIC, VERSION};
    use crate::record::{Act, ChannelQuant, Conv, Pool, PoolKind};
    use crate::spatial::Geom;

    #[repr(C, align(16))]
    struct Blob([u8; 2048]);
    #[repr(C, align(16))]
    struct Arena([u8; 256]);

    const H: usize = 6;
    const W: usize = 5;
    const C: usize = 2;
    const WOFF: usize = 1024; // weights section

    fn put(b: &mut [u8], word: usize, v: u32) {
        b[word * 4..word * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn dw_layer(out: usize) -> Layer {
        let geom = Geom { in_h: H, in_w: W, in_c: C, out_h: H, out_w: W, out_c: C, kh: 3, kw: 3, stride_h: 1, stride_w: 1, dil_h: 1, dil_w: 1, pad_top: 1, pad_left: 1 };
        let w = WOFF as u32;
        let quant = Some(ChannelQuant { mult: w + 48, shift: w + 64, in_zp: 2, out_zp: -1, single_rounding: false });
        let conv = Conv { geom, depthwise: true, depth_multiplier: 1, input_major: false, weights: w, bias: w + 32, quant, act: Act::I8 { min: -128, max: 127 } };
        Record { out: out as u32, ..Record::new(Kind::Conv(conv)) }.encode()
    }

    fn pool_layer(inp: usize, out: usize) -> Layer {
        let geom = Geom { in_h: H, in_w: W, in_c: C, out_h: H - 1, out_w: W - 1, out_c: C, kh: 2, kw: 2, stride_h: 1, stride_w: 1, dil_h: 1, dil_w: 1, pad_top: 0, pad_left: 0 };
        let pool = Pool { geom, kind: PoolKind::Max, act: Act::I8 { min: -128, max: 127 } };
        Record { in0: inp as u32, out: out as u32, ..Record::new(Kind::Pool(pool)) }.encode()
    }

    /// Header, io (input at 0, output at 128), weights; `n_layers` records at word 32.
    fn skeleton(b: &mut Blob, arena: usize, n_layers: usize) {
        let b = &mut b.0;
        b[0..4].copy_from_slice(&MAGIC);
        put(b, hdr::VERSION, VERSION);
        put(b, hdr::TOTAL_LEN, 2048);
        put(b, hdr::ARENA_SIZE, arena as u32);
        put(b, hdr::N_LAYERS, n_layers as u32);
        put(b, hdr::LAYERS_OFF, 128);
        put(b, hdr::N_INPUTS, 1);
        put(b, hdr::N_OUTPUTS, 1);
        put(b, hdr::IO_OFF, (HEADER_WORDS * 4) as u32);
        put(b, hdr::WEIGHTS_OFF, WOFF as u32);
        put(b, hdr::WEIGHTS_LEN, 1024);
        let io = HEADER_WORDS;
        for (k, v) in [0, (H * W * C) as u32, 0, 0, 128, ((H - 1) * (W - 1) * C) as u32, 0, 1].into_iter().enumerate() {
            put(b, io + k, v);
        }
        let _ = IO_WORDS;
        let wts: [i8; 18] = [1, -2, 3, 0, -1, 2, 2, 1, -3, 1, 0, -1, 2, 3, 1, -2, 1, 1];
        for (i, &v) in wts.iter().enumerate() {
            b[WOFF + i] = v as u8;
        }
        for (k, v) in [(32, 100i32), (36, -50), (48, 1 << 30), (52, 1_300_000_000), (64, -2), (68, -3)] {
            b[WOFF + k..WOFF + k + 4].copy_from_slice(&v.to_le_bytes());
        }
    }

    fn input(a: &mut Arena) {
        for i in 0..H * W * C {
            a.0[i] = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
    }

    fn layer_by_layer() -> [u8; 40] {
        let mut b = Blob([0; 2048]);
        skeleton(&mut b, 168, 2);
        let (l0, l1) = (dw_layer(64), pool_layer(64, 128));
        b.0[128..256].copy_from_slice(&l0.to_bytes());
        b.0[256..384].copy_from_slice(&l1.to_bytes());
        let p = Program::parse(&b.0).unwrap();
        let mut a = Arena([0; 256]);
        input(&mut a);
        p.run(&mut a.0).unwrap();
        a.0[128..168].try_into().unwrap()
    }

    /// The fused program: kind, band rows, ring rows x cols at arena offset 64.
    fn fused(b: &mut Blob, k: u32, r: u32, rows: u32, cols: u32) {
        // The stage's scratch after the output: 2 ops of walk state (32 B; no conv, so no
        // im2col patch) at 176.
        skeleton(b, 208, 0);
        let so = 128usize / 4;
        put(&mut b.0, hdr_words::N_STAGES, 1);
        put(&mut b.0, hdr_words::STAGES_OFF, 128);
        let len = STAGE_WORDS + 2 * (LAYER_WORDS + OP_WORDS);
        for (i, v) in [k, r, 2, (H - 1) as u32, (W - 1) as u32, 0, len as u32, 176].into_iter().enumerate() {
            put(&mut b.0, so + i, v);
        }
        let ops = [(dw_layer(64), [WHOLE, WHOLE, 0, rows, cols, H as u32, W as u32, C as u32, H as u32, W as u32, C as u32, 0, 1, 0, 0, 0]), (
            pool_layer(64, 128),
            [0, WHOLE, 1, 0, 0, (H - 1) as u32, (W - 1) as u32, C as u32, H as u32, W as u32, C as u32, 0, 1, 0, 0, 0],
        )];
        for (j, (l, fw)) in ops.iter().enumerate() {
            let base = so + STAGE_WORDS + j * (LAYER_WORDS + OP_WORDS);
            for (i, &v) in l.words.iter().chain(fw.iter()).enumerate() {
                put(&mut b.0, base + i, v);
            }
        }
    }

    #[test]
    fn hand_built_fused_stages_equal_layer_by_layer() {
        let want = layer_by_layer();
        // H-cache band of R rows: the pool needs R + 1 dw rows and 2 columns; line buffer: 2 rows.
        for (k, r, rows, cols) in [(kind::H_CACHE, 1, 2, 2), (kind::H_CACHE, 2, 3, 2), (kind::H_CACHE, 4, 5, 2), (kind::LINE_BUFFER, 0, 2, W as u32)] {
            let mut b = Blob([0; 2048]);
            fused(&mut b, k, r, rows, cols);
            let p = FusedProgram::parse(&b.0).unwrap();
            let mut a = Arena([0; 256]);
            input(&mut a);
            let st = p.run(&mut a.0).unwrap();
            assert_eq!(a.0[128..168], want[..], "kind {k} R {r}");
            assert_eq!(stage_scratch_bytes(2, 0), 32);
            assert_eq!(st.high_water, 208, "kind {k} R {r}: the stage scratch's end is the top held");
            // One ring row short: refused at run time, nothing written past the ring.
            let mut b = Blob([0; 2048]);
            fused(&mut b, k, r, rows - 1, cols);
            let p = FusedProgram::parse(&b.0).unwrap();
            let mut a = Arena([0; 256]);
            input(&mut a);
            let e = p.run(&mut a.0);
            if k == kind::H_CACHE {
                assert!(e.is_err(), "kind {k} R {r}: short ring accepted");
            } else {
                // A short line buffer overwrites a row the pool still needs: wrong bytes, which
                // the output comparison catches (every access still inside the ring).
                assert!(e.is_err() || a.0[128..168] != want[..], "short line buffer unnoticed");
            }
        }
    }

    #[test]
    fn corrupted_stage_tables_never_panic() {
        // A corrupted stage table is an error, never a panic.
        // Under Miri (slow interpreter) every 5th word with three values.
        let (step, vals): (usize, &[u32]) = if cfg!(miri) { (5, &[0xFFFF_FF00, 0, 3]) } else { (1, &[0xFFFF_FF00, 0, 1, 3, 0x7FFF_FFFF, 0x10_0000, 200]) };
        for word in (32..32 + 8 + 2 * 48).step_by(step) {
            for &v in vals {
                let mut b = Blob([0; 2048]);
                fused(&mut b, kind::H_CACHE, 2, 3, 2);
                put(&mut b.0, word, v);
                if let Ok(p) = FusedProgram::parse(&b.0) {
                    let mut a = Arena([0; 256]);
                    let _ = p.run(&mut a.0);
                }
            }
        }
    }
}
