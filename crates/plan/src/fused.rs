//! Full mode: the honest cost of a fused block, as the executor will run it.
//!
//! A block is ops `i..=j` (consecutive in the graph's topological order) whose intermediate
//! tensors are all consumed inside the block; only op j's output leaves it. Its inputs are whole
//! tensors already in RAM (read directly, no copy); its output is written whole (or, for a block
//! ending in a global MEAN, accumulated in an int32/f32 accumulator). Every intermediate tensor
//! lives in a small ring buffer. The "root" tensor is op j's output, or the MEAN's input when the
//! block ends in a MEAN (the iterative tail).
//!
//! Two walks (cache modes), the same geometry:
//! - `HCache { rows: R }`: the root is produced in bands of R rows; inside a band the walk goes
//!   column by column. Each intermediate tensor keeps the rows the band needs times a window of
//!   the columns still needed (the horizontal cache); rows shared by two bands are recomputed.
//! - `LineBuffer`: the root is produced one row at a time; each intermediate tensor keeps a ring
//!   of full-width rows (the 2D cache): nothing is recomputed.
//!
//! Intervals are propagated backwards op by op, clipped to the map at every tensor (padding is
//! never stored), and for a tensor read by several ops (a residual skip) the union is kept: only
//! the rows/columns still needed, never the whole skip tensor.

use crate::net::{Class, Net};
use msf_model::OpKind;

/// Interval `[lo, hi]` (inclusive) of rows or columns; `lo > hi` is empty.
pub type Span = (i64, i64);

/// Input span of a window op for an output span, clipped to `[0, len)`.
/// `k` kernel, `s` stride, `d` dilation, `p` padding before.
pub fn window_input_span(out: Span, k: usize, s: usize, d: usize, p: usize, len: usize) -> Span {
    let (k, s, d, p) = (k as i64, s as i64, d as i64, p as i64);
    let lo = (out.0 * s - p).max(0);
    let hi = (out.1 * s - p + (k - 1) * d).min(len as i64 - 1);
    (lo, hi)
}

fn union(a: Option<Span>, b: Span) -> Span {
    match a {
        Some(a) => (a.0.min(b.0), a.1.max(b.1)),
        None => b,
    }
}

fn span_len(s: Span) -> i64 {
    (s.1 - s.0 + 1).max(0)
}

struct Walk {
    done: Vec<i64>,
    computed: Vec<u64>,
    ring: Vec<usize>,
    axis: usize,
}

/// Validated block geometry, independent of the walk.
#[derive(Debug, Clone)]
pub struct Block {
    pub first: usize,
    pub last: usize,
    /// Root tensor: op `last`'s output, or the MEAN's input.
    pub root: usize,
    pub root_hw: [usize; 2],
    pub mean_tail: bool,
    /// Ops at the end of the block that form the iterative tail: 1 (MEAN), 2 (RESHAPE that
    /// flattens the root + FULLY_CONNECTED accumulating as root elements arrive), 0 (none).
    /// `mean_tail` is true for both kinds (the name predates the FC tail).
    pub tail_ops: usize,
    /// Local tensor k = output of op `first + k` (k < last - first, plus the root when
    /// `mean_tail`): intermediate tensors held in rings.
    pub internal: Vec<usize>,
    /// Per internal tensor: the column window (max columns needed at once in the column walk).
    pub cols: Vec<usize>,
    /// Per op of the block: output columns computed over one band's column walk.
    pub cols_computed: Vec<u64>,
    /// Precomputed tables so the walks never touch the graph (the DAG build evaluates
    /// hundreds of blocks): per op, (k, s, d, pad) per axis (1, 1, 1, 0 for pointwise ops),
    /// its in-block inputs (local ids, op-input order), output length per axis, MACs per
    /// output pixel; per internal tensor, its in-block consumers and length per axis.
    win: Vec<[[i64; 4]; 2]>,
    ins: Vec<Vec<usize>>,
    olen: Vec<[i64; 2]>,
    pix: Vec<u64>,
    cons: Vec<Vec<usize>>,
    tlen: Vec<[i64; 2]>,
    root_local: Option<usize>,
}

impl Block {
    /// `None` if ops `i..=j` cannot be fused (an intermediate escapes, an op cannot stream...).
    pub fn new(net: &Net, i: usize, j: usize) -> Option<Block> {
        if j <= i {
            return None;
        }
        let ops = &net.ops[i..=j];
        let fc_tail = j >= i + 2 && Self::fc_tail_at(net, j);
        let tail_ops = if fc_tail {
            2
        } else if ops.last()?.class == Class::GlobalMean {
            1
        } else {
            0
        };
        let mean_tail = tail_ops > 0;
        let tail_first = ops.len() - tail_ops;
        for (n, o) in ops.iter().enumerate() {
            let ok = match o.class {
                _ if n >= tail_first => true,
                Class::Window { .. } | Class::Pointwise => true,
                Class::GlobalMean | Class::Other => false,
            };
            if !ok || o.outputs.len() != 1 || net.hwc[o.outputs[0]].is_none() && n < tail_first {
                return None;
            }
            if o.index < j {
                let t = o.outputs[0];
                if net.is_graph_output[t] || net.consumers[t].iter().any(|&c| c > j || c < i) {
                    return None;
                }
            }
        }
        let root = if mean_tail { *ops[tail_first].inputs.first()? } else { ops.last()?.outputs[0] };
        if mean_tail && !net.producer[root].is_some_and(|p| p >= i && p < j) {
            return None;
        }
        let rhw = net.hwc[root]?;
        let internal: Vec<usize> = ops[..ops.len() - 1].iter().map(|o| o.outputs[0]).collect();
        let local = |t: usize| net.producer[t].filter(|&p| p >= i && p < j).map(|p| p - i);
        let win = ops
            .iter()
            .map(|o| match o.class {
                Class::Window { k, s, d, pad, .. } => [0, 1].map(|a| [k[a] as i64, s[a] as i64, d[a] as i64, pad[a] as i64]),
                _ => [[1, 1, 1, 0]; 2],
            })
            .collect();
        let ins: Vec<Vec<usize>> = ops.iter().map(|o| o.inputs.iter().filter_map(|&t| local(t)).collect()).collect();
        let mut cons = vec![Vec::new(); internal.len()];
        for (n, v) in ins.iter().enumerate() {
            for &l in v {
                if !cons[l].contains(&n) {
                    cons[l].push(n);
                }
            }
        }
        let len2 = |t: usize| net.hwc[t].map(|h| [h[0] as i64, h[1] as i64]).unwrap_or([1, 1]);
        let olen = ops.iter().map(|o| len2(o.outputs[0])).collect();
        let pix = ops
            .iter()
            .map(|o| match net.hwc[o.outputs[0]] {
                Some(h) if h[0] * h[1] > 0 && o.index < i + tail_first => o.macs / (h[0] * h[1]) as u64,
                _ => 0,
            })
            .collect();
        let tlen = internal.iter().map(|&t| len2(t)).collect();
        let mut b = Block {
            first: i,
            last: j,
            root,
            root_hw: [rhw[0], rhw[1]],
            mean_tail,
            tail_ops,
            internal,
            cols: vec![],
            cols_computed: vec![],
            win,
            ins,
            olen,
            pix,
            cons,
            tlen,
            root_local: local(root),
        };
        // Strides must agree where paths join (a residual add of two differently-strided paths
        // cannot stream with one walk).
        if !b.check_strides() {
            return None;
        }
        let (cols, computed) = b.walk(1, b.root_hw[1]);
        b.cols = cols;
        b.cols_computed = computed;
        Some(b)
    }

    /// Op `j` is a FULLY_CONNECTED fed by a RESHAPE (op j-1, read by nothing else) that
    /// flattens a 4-D map produced by an earlier op: the FC can accumulate W[:, idx] * x as
    /// the map's elements arrive (row-major NHWC index idx), so the map never exists whole.
    /// TFLite's FC sums integers, so the order does not change int8 results.
    pub fn fc_tail_at(net: &Net, j: usize) -> bool {
        if j < 2 {
            return false;
        }
        let (fc, rs) = (&net.ops[j], &net.ops[j - 1]);
        if !matches!(fc.kind, OpKind::FullyConnected { .. }) || !matches!(rs.kind, OpKind::Reshape) || fc.inputs.len() != 1 || rs.inputs.len() != 1 || rs.outputs.len() != 1 || fc.outputs.len() != 1 {
            return false;
        }
        let (flat, map, out) = (rs.outputs[0], rs.inputs[0], fc.outputs[0]);
        let elems = |t: usize| net.bytes[t] / net.esize[t].max(1);
        fc.inputs[0] == flat
            && net.consumers[flat] == [j]
            && !net.is_graph_output[flat]
            && net.hwc[map].is_some()
            && net.producer[map].is_some()
            && elems(flat) == elems(map)
            // One input row of length elems(map): MACs = outputs x inputs.
            && fc.macs == (elems(out) * elems(map)) as u64
    }

    /// The paper's feasibility rule, generalised to joins: the rows x columns of the block's
    /// external inputs that one root pixel depends on (unclipped receptive field). Returns
    /// false when it exceeds an input map of more than 256 pixels: such a block recomputes
    /// large maps per band, and since the field only grows as the block grows, the caller
    /// stops extending it (this keeps the DAG build within tens of ms). Small maps (<= 16x16)
    /// are exempt: clipping makes those blocks cheap and they lower the minimum RAM (the paper
    /// drops them).
    pub fn fits(net: &Net, i: usize, j: usize) -> bool {
        let n_ops = j - i + 1;
        let mut len: Vec<[usize; 2]> = vec![[0, 0]; n_ops];
        len[n_ops - 1] = [1, 1];
        for o in (i..=j).rev() {
            let n = o - i;
            let out = len[n];
            if out == [0, 0] {
                continue;
            }
            let op = &net.ops[o];
            let need = match op.class {
                Class::Window { k, s, d, .. } => [0, 1].map(|a| (out[a] - 1) * s[a] + (k[a] - 1) * d[a] + 1),
                _ => out,
            };
            for &t in &op.inputs {
                match net.producer[t] {
                    Some(p) if p >= i && p < o => {
                        let l = &mut len[p - i];
                        *l = [l[0].max(need[0]), l[1].max(need[1])];
                    }
                    _ => {
                        if let Some(h) = net.hwc[t] {
                            if (need[0] > h[0] || need[1] > h[1]) && h[0] * h[1] > 256 {
                                return false;
                            }
                        }
                    }
                }
            }
        }
        true
    }

    /// Local index of tensor `t` if it is an intermediate of this block.
    pub fn local(&self, net: &Net, t: usize) -> Option<usize> {
        let p = net.producer[t]?;
        (p >= self.first && p < self.last).then(|| p - self.first)
    }

    fn check_strides(&self) -> bool {
        let n_ops = self.last - self.first + 1;
        let mut scale: Vec<Option<[i64; 2]>> = vec![None; self.internal.len()];
        if let Some(r) = self.root_local {
            scale[r] = Some([1, 1]);
        }
        for n in (0..n_ops - self.tail_ops).rev() {
            let out = if n == n_ops - 1 {
                [1, 1]
            } else {
                match scale[n] {
                    Some(s) => s,
                    None => return false,
                }
            };
            let w = &self.win[n];
            let need = [out[0] * w[0][1], out[1] * w[1][1]];
            for &l in &self.ins[n] {
                match scale[l] {
                    Some(s) if s != need => return false,
                    _ => scale[l] = Some(need),
                }
            }
        }
        true
    }

    /// Input span op `n` reads along `axis` for its output positions `[lo, hi]`, clipped to
    /// the input's length `len`.
    fn span_in(&self, n: usize, axis: usize, lo: i64, hi: i64, len: i64) -> Span {
        let [k, s, d, p] = self.win[n][axis];
        ((lo * s - p).max(0), (hi * s - p + (k - 1) * d).min(len - 1))
    }

    /// Backward interval propagation along one axis for a root span; fills `spans` (per
    /// internal tensor) and `out_spans` (per op: span of its output, None for the MEAN).
    fn propagate(&self, axis: usize, root: Span, spans: &mut [Option<Span>], out_spans: &mut [Option<Span>]) {
        spans.iter_mut().for_each(|s| *s = None);
        if let Some(r) = self.root_local {
            spans[r] = Some(root);
        }
        let n_ops = self.last - self.first + 1;
        for n in (0..n_ops).rev() {
            if n >= n_ops - self.tail_ops {
                out_spans[n] = None;
                continue;
            }
            let out = if n == n_ops - 1 { root } else { spans[n].unwrap_or((0, -1)) };
            out_spans[n] = Some(out);
            if span_len(out) == 0 {
                continue;
            }
            for &l in &self.ins[n] {
                let need = self.span_in(n, axis, out.0, out.1, self.tlen[l][axis]);
                spans[l] = Some(union(spans[l], need));
            }
        }
    }

    /// Walk the root along `axis` as a pull pipeline (the executor's schedule, [`crate::contract`]):
    /// for each root position y, `pull(last, y, y)`; `pull(op, lo, hi)` computes the op's
    /// positions `max(done+1, lo)..=hi` one by one, each after pulling, input by input in op
    /// order, the input positions it reads from ops of the block. A position of an intermediate
    /// tensor is dropped once no consumer will read it again, so a ring of `ring[l]` positions
    /// (position p in slot p % ring) always suffices. Returns the ring lengths and, per op, the
    /// positions computed (positions no consumer needs are never computed).
    fn walk(&self, axis: usize, root_len: usize) -> (Vec<usize>, Vec<u64>) {
        let n_ops = self.last - self.first + 1;
        let mut st = Walk { done: vec![-1; n_ops], computed: vec![0; n_ops], ring: vec![0; self.internal.len()], axis };
        for y in 0..root_len as i64 {
            if self.mean_tail {
                if let Some(r) = self.root_local {
                    self.pull(&mut st, r, y, y);
                }
                // The tail's first op (MEAN or the flattening RESHAPE) has taken root position y.
                st.done[n_ops - self.tail_ops] = y;
            } else {
                self.pull(&mut st, n_ops - 1, y, y);
            }
        }
        (st.ring, st.computed)
    }

    fn pull(&self, st: &mut Walk, n: usize, lo: i64, hi: i64) {
        let axis = st.axis;
        let from = (st.done[n] + 1).max(lo);
        for p in from..=hi {
            for &l in &self.ins[n] {
                let (a, b) = self.span_in(n, axis, p, p, self.tlen[l][axis]);
                self.pull(st, l, a, b);
            }
            st.done[n] = p;
            st.computed[n] += 1;
            if n < self.internal.len() {
                // Position p of tensor n is written now: everything from the lowest position a
                // consumer will still read up to p must be held.
                let mut keep = p;
                let mean = self.last - self.first + 1 - self.tail_ops;
                for &c in &self.cons[n] {
                    let next = st.done[c] + 1;
                    if self.mean_tail && c == mean {
                        keep = keep.min(next);
                    } else if next < self.olen[c][axis] {
                        keep = keep.min(self.span_in(c, axis, next, next, self.tlen[n][axis]).0);
                    }
                }
                st.ring[n] = st.ring[n].max((p - keep + 1) as usize);
            }
        }
    }

    /// H-cache walk with bands of `r` root rows: per internal tensor the band tile rows (max
    /// over bands), and the block's MACs.
    pub fn hcache(&self, net: &Net, r: usize) -> (Vec<usize>, u64) {
        let n_ops = self.last - self.first + 1;
        let mut spans = vec![None; self.internal.len()];
        let mut outs = vec![None; n_ops];
        let mut rows = vec![0usize; self.internal.len()];
        let mut macs = 0u64;
        let h = self.root_hw[0];
        let mut y0 = 0;
        while y0 < h {
            let y1 = (y0 + r).min(h) - 1;
            self.propagate(0, (y0 as i64, y1 as i64), &mut spans, &mut outs);
            for (l, s) in spans.iter().enumerate() {
                if let Some(s) = s {
                    rows[l] = rows[l].max(span_len(*s) as usize);
                }
            }
            for (n, s) in outs.iter().enumerate() {
                if let Some(s) = s {
                    macs += span_len(*s) as u64 * self.cols_computed[n] * self.pix[n];
                }
            }
            y0 += r;
        }
        macs += self.tail_macs(net);
        (rows, macs)
    }

    /// Line-buffer walk: per internal tensor the ring rows, and the block's MACs.
    pub fn line_buffer(&self, net: &Net) -> (Vec<usize>, u64) {
        let (ring, computed) = self.walk(0, self.root_hw[0]);
        let mut macs: u64 = (0..computed.len()).map(|n| computed[n] * self.olen[n][1] as u64 * self.pix[n]).sum();
        macs += self.tail_macs(net);
        (ring, macs)
    }

    /// Bytes of the ring of internal tensor `l` holding `rows` rows and `cols` columns.
    pub fn ring_bytes(&self, net: &Net, l: usize, rows: usize, cols: usize) -> usize {
        let t = self.internal[l];
        let c = net.hwc[t].map(|h| h[2]).unwrap_or(0);
        rows * cols * c * net.esize[t]
    }

    /// MACs of the tail ops (each root element is taken once).
    fn tail_macs(&self, net: &Net) -> u64 {
        (self.last + 1 - self.tail_ops..=self.last).map(|o| net.ops[o].macs).sum()
    }

    /// Accumulator bytes of an iterative tail: one 32-bit accumulator per channel (MEAN) or per
    /// output (FULLY_CONNECTED).
    pub fn accumulator_bytes(&self, net: &Net) -> usize {
        match self.tail_ops {
            1 => net.hwc[self.root].map(|h| h[2]).unwrap_or(0) * 4,
            2 => {
                let out = net.ops[self.last].outputs[0];
                net.bytes[out] / net.esize[out].max(1) * 4
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::synth::Builder;

    fn two_convs() -> Net {
        // 8x8x1 -> 3x3 s1 conv (2 ch) -> 3x3 s1 conv (2 ch).
        let mut b = Builder::new("t", 8, 8, 1);
        b.conv(2, 3, 1);
        b.conv(2, 3, 1);
        Net::new(&b.finish()).unwrap()
    }

    #[test]
    fn hcache_one_row_hand_worked() {
        let net = two_convs();
        let b = Block::new(&net, 0, 1).unwrap();
        // Op 1 reads 3 columns of op 0's output at a time: a 3-column window.
        assert_eq!(b.cols, vec![3]);
        let (rows, macs) = b.hcache(&net, 1);
        // Output row y needs op-0 rows y-1..y+1, clipped: 3 rows at most.
        assert_eq!(rows, vec![3]);
        // Op 0 computes 2 + 6*3 + 2 = 22 rows of 8 columns at 2 ch x (1*9) MACs per pixel;
        // op 1 its 8 rows once at 2 ch x (2*9): 22*8*18 + 8*8*36.
        assert_eq!(macs, 22 * 8 * 18 + 8 * 8 * 36);
        assert_eq!(b.ring_bytes(&net, 0, rows[0], b.cols[0]), 3 * 3 * 2);
    }

    #[test]
    fn hcache_band_of_the_whole_map_recomputes_nothing() {
        let net = two_convs();
        let b = Block::new(&net, 0, 1).unwrap();
        let (rows, macs) = b.hcache(&net, 8);
        assert_eq!(rows, vec![8]);
        assert_eq!(macs, net.vanilla_macs());
    }

    #[test]
    fn line_buffer_hand_worked() {
        let net = two_convs();
        let b = Block::new(&net, 0, 1).unwrap();
        let (rows, macs) = b.line_buffer(&net);
        // Three full-width rows of op 0's output; no recompute.
        assert_eq!(rows, vec![3]);
        assert_eq!(macs, net.vanilla_macs());
        assert_eq!(b.ring_bytes(&net, 0, rows[0], 8), 3 * 8 * 2);
    }

    #[test]
    fn residual_skip_keeps_only_the_rows_still_needed() {
        // x -> 1x1 expand -> 3x3 dw -> 1x1 project -> add(x): x produced inside the block.
        let mut bl = Builder::new("r", 8, 8, 4);
        bl.conv(4, 1, 1);
        let x = bl.cur;
        bl.conv(8, 1, 1);
        bl.dw(3, 1);
        bl.conv(4, 1, 1);
        bl.add(x);
        let net = Net::new(&bl.finish()).unwrap();
        let b = Block::new(&net, 0, 4).unwrap();
        let (rows, _) = b.line_buffer(&net);
        // x (op 0's output) is read by the expand one row ahead of the dw's centre and by the
        // add at the centre: rows y..y+1 -> 2 rows, not the whole 8-row tensor.
        assert_eq!(rows[0], 2);
        // The expand output feeds the 3x3 depthwise: 3 rows.
        assert_eq!(rows[1], 3);
        // A block that would let x escape (ending before the add) is not fusable.
        assert!(Block::new(&net, 0, 3).is_none());
    }

    #[test]
    fn mean_tail_accumulates() {
        let mut bl = Builder::new("m", 8, 8, 4);
        bl.conv(6, 3, 1);
        bl.mean();
        let net = Net::new(&bl.finish()).unwrap();
        let b = Block::new(&net, 0, 1).unwrap();
        assert!(b.mean_tail);
        assert_eq!(b.accumulator_bytes(&net), 6 * 4);
        let (rows, macs) = b.line_buffer(&net);
        // The conv output (the MEAN's input) is held one row at a time.
        assert_eq!(rows, vec![1]);
        assert_eq!(macs, net.vanilla_macs());
    }

    #[test]
    fn window_span_hand_worked() {
        // 3x3 s1 p1 on 10 rows: output rows 4..5 need input rows 3..6.
        assert_eq!(window_input_span((4, 5), 3, 1, 1, 1, 10), (3, 6));
        // At the top border the padding row is not stored: output row 0 needs rows 0..1.
        assert_eq!(window_input_span((0, 0), 3, 1, 1, 1, 10), (0, 1));
        // 3x3 s2, TFLite SAME on an even map pads 0 before: output row 2 needs rows 4..6.
        assert_eq!(window_input_span((2, 2), 3, 2, 1, 0, 10), (4, 6));
        // Bottom border clipped: output row 4 needs rows 8..10 -> 8..9.
        assert_eq!(window_input_span((4, 4), 3, 2, 1, 0, 10), (8, 9));
        // Dilation 2, 3 taps: span 5.
        assert_eq!(window_input_span((5, 5), 3, 1, 2, 2, 20), (3, 7));
    }
}
