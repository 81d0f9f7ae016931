//! Runs every fused edge of small graphs the way the contract (msf_plan::contract) tells the executor to
//! (band spans, pull schedule, rings of exactly the planned sizes) on f64 data, and checks:
//! - every read from a ring finds the position it wants (each slot is tagged with the position
//!   it holds: a ring too small, or a schedule that evicts too early, fails here);
//! - the block output equals layer-by-layer execution;
//! - the MACs performed equal the edge's predicted MACs.
//!
//! The per-pixel arithmetic is shared by both executions, so only the data movement is tested.

use msf_model::{Activation, Graph, OpKind};
use msf_plan::fused::Block;
use msf_plan::net::{Class, Net};
use msf_plan::{synth, EdgeKind, Mode, Planner};

#[derive(Clone)]
struct T {
    h: usize,
    w: usize,
    c: usize,
    v: Vec<f64>,
}

impl T {
    fn zeros(h: usize, w: usize, c: usize) -> T {
        T { h, w, c, v: vec![0.0; h * w * c] }
    }
}

fn weight(op: usize, i: usize) -> f64 {
    let mut x = (op as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    (x % 1000) as f64 / 1000.0 - 0.5
}

fn act(a: Activation, x: f64) -> f64 {
    match a {
        Activation::Relu => x.max(0.0),
        Activation::Relu6 => x.clamp(0.0, 6.0),
        Activation::ReluN1To1 => x.clamp(-1.0, 1.0),
        Activation::None => x,
    }
}

fn hwc(g: &Graph, t: usize) -> [usize; 3] {
    let s = &g.tensors[t].shape;
    if s.len() == 4 {
        [s[1], s[2], s[3]]
    } else {
        [1, 1, s.iter().product()]
    }
}

/// Output pixel (y, x) of a spatial op, all channels; `read(input_no, yy, xx, ch)` gives an
/// input element (None outside the map: padding). Returns the MACs spent.
fn pixel(g: &Graph, net: &Net, o: usize, y: usize, x: usize, read: &mut dyn FnMut(usize, i64, i64, usize) -> Option<f64>) -> (Vec<f64>, u64) {
    let op = &g.ops[o];
    let [_, _, cout] = hwc(g, op.outputs[0]);
    let cin = hwc(g, net.ops[o].inputs[0])[2];
    let mut out = vec![0.0; cout];
    let mut macs = 0;
    let (k, s, d, p) = match net.ops[o].class {
        Class::Window { k, s, d, pad, .. } => (k, s, d, pad),
        _ => ([1, 1], [1, 1], [1, 1], [0, 0]),
    };
    let at = |ky: usize, kx: usize| ((y * s[0] + ky * d[0]) as i64 - p[0] as i64, (x * s[1] + kx * d[1]) as i64 - p[1] as i64);
    match &op.kind {
        OpKind::Conv2d { activation, .. } => {
            for (co, o_v) in out.iter_mut().enumerate() {
                let mut acc = 0.01 * co as f64;
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let (yy, xx) = at(ky, kx);
                        for ci in 0..cin {
                            if let Some(v) = read(0, yy, xx, ci) {
                                acc += v * weight(o, ((co * k[0] + ky) * k[1] + kx) * cin + ci);
                            }
                        }
                    }
                }
                macs += (k[0] * k[1] * cin) as u64;
                *o_v = act(*activation, acc);
            }
        }
        OpKind::DepthwiseConv2d { activation, .. } => {
            for (c, o_v) in out.iter_mut().enumerate() {
                let mut acc = 0.01 * c as f64;
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let (yy, xx) = at(ky, kx);
                        if let Some(v) = read(0, yy, xx, c) {
                            acc += v * weight(o, (ky * k[1] + kx) * cout + c);
                        }
                    }
                }
                macs += (k[0] * k[1]) as u64;
                *o_v = act(*activation, acc);
            }
        }
        OpKind::MaxPool2d { .. } | OpKind::AveragePool2d { .. } => {
            let max = matches!(op.kind, OpKind::MaxPool2d { .. });
            for (c, o_v) in out.iter_mut().enumerate() {
                let (mut m, mut sum, mut n) = (f64::MIN, 0.0, 0.0);
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let (yy, xx) = at(ky, kx);
                        if let Some(v) = read(0, yy, xx, c) {
                            m = m.max(v);
                            sum += v;
                            n += 1.0;
                        }
                    }
                }
                macs += (k[0] * k[1]) as u64;
                *o_v = if max { m } else { sum / n };
            }
        }
        OpKind::Add { activation } => {
            for (c, o_v) in out.iter_mut().enumerate() {
                let a = read(0, y as i64, x as i64, c).expect("in map");
                let b = read(1, y as i64, x as i64, c).expect("in map");
                *o_v = act(*activation, a + b);
            }
        }
        k => panic!("pixel: {}", k.name()),
    }
    (out, macs)
}

/// Layer-by-layer reference: every tensor whole.
fn reference(g: &Graph, net: &Net) -> Vec<Option<T>> {
    let mut ts: Vec<Option<T>> = vec![None; g.tensors.len()];
    for &i in &g.inputs {
        let [h, w, c] = hwc(g, i);
        let mut t = T::zeros(h, w, c);
        for (n, v) in t.v.iter_mut().enumerate() {
            *v = weight(10_000, n);
        }
        ts[i] = Some(t);
    }
    for o in 0..g.ops.len() {
        let op = &g.ops[o];
        let ins: Vec<usize> = net.ops[o].inputs.clone();
        let [h, w, c] = hwc(g, op.outputs[0]);
        let mut out = T::zeros(h, w, c);
        match &op.kind {
            OpKind::Mean { .. } => {
                let t = ts[ins[0]].as_ref().unwrap();
                for y in 0..t.h {
                    for x in 0..t.w {
                        for ch in 0..t.c {
                            out.v[ch] += t.v[(y * t.w + x) * t.c + ch];
                        }
                    }
                }
                out.v.iter_mut().for_each(|v| *v /= (t.h * t.w) as f64);
            }
            OpKind::Reshape => out.v.clone_from(&ts[ins[0]].as_ref().unwrap().v),
            OpKind::FullyConnected { .. } | OpKind::Softmax { .. } => {
                let t = ts[ins[0]].as_ref().unwrap();
                for (n, v) in out.v.iter_mut().enumerate() {
                    *v = t.v.iter().enumerate().map(|(i, x)| x * weight(o, n * 1000 + i)).sum();
                }
            }
            _ => {
                for y in 0..h {
                    for x in 0..w {
                        let mut read = |n: usize, yy: i64, xx: i64, ch: usize| {
                            let t = ts[ins[n]].as_ref().unwrap();
                            (yy >= 0 && xx >= 0 && (yy as usize) < t.h && (xx as usize) < t.w).then(|| t.v[(yy as usize * t.w + xx as usize) * t.c + ch])
                        };
                        let (px, _) = pixel(g, net, o, y, x, &mut read);
                        out.v[(y * w + x) * c..(y * w + x + 1) * c].copy_from_slice(&px);
                    }
                }
            }
        }
        ts[op.outputs[0]] = Some(out);
    }
    ts
}

/// A ring: `rows x cols x c` values, each slot tagged with the (row, col) it holds.
struct Ring {
    rows: usize,
    cols: usize,
    c: usize,
    v: Vec<f64>,
    tag: Vec<(i64, i64)>,
}

struct Sim<'a> {
    g: &'a Graph,
    net: &'a Net,
    b: &'a Block,
    ts: &'a [Option<T>],
    rings: Vec<Ring>,
    /// Row span of each internal tensor in the current band (H-cache) — unused for line buffers.
    span: Vec<(i64, i64)>,
    band: (i64, i64),
    line: bool,
    done: Vec<i64>,
    out: T,
    acc: Vec<f64>,
    macs: u64,
}

impl Sim<'_> {
    fn n_ops(&self) -> usize {
        self.b.last - self.b.first + 1
    }

    fn local(&self, t: usize) -> Option<usize> {
        self.b.local(self.net, t)
    }

    fn win(&self, n: usize, axis: usize) -> (i64, i64, i64, i64) {
        match self.net.ops[self.b.first + n].class {
            Class::Window { k, s, d, pad, .. } => (k[axis] as i64, s[axis] as i64, d[axis] as i64, pad[axis] as i64),
            _ => (1, 1, 1, 0),
        }
    }

    fn span_in(&self, n: usize, t: usize, axis: usize, lo: i64, hi: i64) -> (i64, i64) {
        let (k, s, d, p) = self.win(n, axis);
        let len = hwc(self.g, t)[axis] as i64;
        ((lo * s - p).max(0), (hi * s - p + (k - 1) * d).min(len - 1))
    }

    /// The rows op n produces at this step: its band span (H-cache) or the row p (line buffer).
    fn rows_of(&self, n: usize) -> (i64, i64) {
        if n == self.n_ops() - 1 {
            self.band
        } else {
            self.span[n]
        }
    }

    fn read(&self, n: usize, input: usize, yy: i64, xx: i64, ch: usize) -> Option<f64> {
        let t = self.net.ops[self.b.first + n].inputs[input];
        let [h, w, c] = hwc(self.g, t);
        if yy < 0 || xx < 0 || yy as usize >= h || xx as usize >= w {
            return None;
        }
        match self.local(t) {
            None => Some(self.ts[t].as_ref().unwrap().v[(yy as usize * w + xx as usize) * c + ch]),
            Some(l) => {
                let r = &self.rings[l];
                let (ry, rx) = if self.line { (yy as usize % r.rows, xx as usize) } else { ((yy - self.span[l].0) as usize, xx as usize % r.cols) };
                assert!(ry < r.rows, "tensor {t}: row {yy} outside the ring");
                let slot = ry * r.cols + rx;
                assert_eq!(r.tag[slot], (yy, xx), "tensor {t}: ({yy}, {xx}) evicted or never written");
                Some(r.v[slot * r.c + ch])
            }
        }
    }

    fn compute(&mut self, n: usize, rows: (i64, i64), cols: (i64, i64)) {
        let o = self.b.first + n;
        let out_t = self.g.ops[o].outputs[0];
        let g = self.g;
        let net = self.net;
        for y in rows.0..=rows.1 {
            for x in cols.0..=cols.1 {
                let (px, m) = {
                    let me: &Sim = self;
                    let mut read = |i: usize, yy: i64, xx: i64, ch: usize| me.read(n, i, yy, xx, ch);
                    pixel(g, net, o, y as usize, x as usize, &mut read)
                };
                self.macs += m;
                if n == self.n_ops() - 1 {
                    let c = self.out.c;
                    let w = self.out.w;
                    self.out.v[(y as usize * w + x as usize) * c..][..c].copy_from_slice(&px);
                } else {
                    let l = self.local(out_t).expect("internal");
                    let line = self.line;
                    let lo = self.span[l].0;
                    let r = &mut self.rings[l];
                    let (ry, rx) = if line { (y as usize % r.rows, x as usize) } else { ((y - lo) as usize, x as usize % r.cols) };
                    assert!(ry < r.rows && rx < r.cols, "op {o}: ring of {} rows x {} cols too small for ({y}, {x})", r.rows, r.cols);
                    let slot = ry * r.cols + rx;
                    r.tag[slot] = (y, x);
                    r.v[slot * r.c..][..r.c].copy_from_slice(&px);
                }
            }
        }
    }

    /// The pull schedule along `axis` (1: columns within a band; 0: rows, line buffers).
    fn pull(&mut self, n: usize, lo: i64, hi: i64, axis: usize) {
        let o = self.b.first + n;
        let from = (self.done[n] + 1).max(lo);
        for p in from..=hi {
            let inputs = self.net.ops[o].inputs.clone();
            for t in inputs {
                if let Some(l) = self.local(t) {
                    let (a, b) = self.span_in(n, t, axis, p, p);
                    self.pull(l, a, b, axis);
                }
            }
            if axis == 1 {
                let rows = self.rows_of(n);
                self.compute(n, rows, (p, p));
            } else {
                let w = hwc(self.g, self.g.ops[o].outputs[0])[1] as i64;
                self.compute(n, (p, p), (0, w - 1));
            }
            self.done[n] = p;
        }
    }

    /// The iterative tail takes root elements (rows x cols): a MEAN adds them per channel, an
    /// FC adds W[o, flat index] * v into every output.
    fn accumulate(&mut self, rows: (i64, i64), cols: (i64, i64)) {
        let tail = self.n_ops() - self.b.tail_ops;
        let [_, w, c] = hwc(self.g, self.b.root);
        let fc = self.b.tail_ops == 2;
        for y in rows.0..=rows.1 {
            for x in cols.0..=cols.1 {
                for ch in 0..c {
                    let v = self.read(tail, 0, y, x, ch).expect("in map");
                    if fc {
                        let idx = (y as usize * w + x as usize) * c + ch;
                        for o in 0..self.acc.len() {
                            self.acc[o] += v * weight(self.b.last, o * 1000 + idx);
                        }
                        self.macs += self.acc.len() as u64;
                    } else {
                        self.acc[ch] += v;
                        self.macs += 1;
                    }
                }
            }
        }
    }
}

/// Run fused edge `kind` over ops first..=last; returns (output, MACs).
fn run_block(g: &Graph, net: &Net, ts: &[Option<T>], b: &Block, kind: EdgeKind) -> (T, u64) {
    let (rows, cols): (Vec<usize>, Vec<usize>) = match kind {
        EdgeKind::HCache { rows: r } => (b.hcache(net, r).0, b.cols.clone()),
        EdgeKind::LineBuffer => (b.line_buffer(net).0, b.internal.iter().map(|&t| hwc(g, t)[1]).collect()),
        _ => unreachable!(),
    };
    let rings = b
        .internal
        .iter()
        .enumerate()
        .map(|(l, &t)| {
            let c = hwc(g, t)[2];
            Ring { rows: rows[l], cols: cols[l], c, v: vec![0.0; rows[l] * cols[l] * c], tag: vec![(-1, -1); rows[l] * cols[l]] }
        })
        .collect();
    let [h, w, c] = hwc(g, g.ops[b.last].outputs[0]);
    let n_ops = b.last - b.first + 1;
    let root_c = hwc(g, b.root)[2];
    let mut sim = Sim {
        g,
        net,
        b,
        ts,
        rings,
        span: vec![(0, -1); b.internal.len()],
        band: (0, -1),
        line: kind == EdgeKind::LineBuffer,
        done: vec![-1; n_ops],
        out: T::zeros(h, w, c),
        acc: vec![0.0; if b.tail_ops == 2 { c } else if b.mean_tail { root_c } else { 0 }],
        macs: 0,
    };
    let [rh, rw, _] = hwc(g, b.root);
    // The op whose output is the root: the last op, or the MEAN's producer.
    let root_op = if b.mean_tail { sim.local(b.root).unwrap() } else { n_ops - 1 };
    let tail_first = n_ops - b.tail_ops;
    match kind {
        EdgeKind::HCache { rows: r } => {
            let mut y0 = 0;
            while y0 < rh {
                let y1 = (y0 + r).min(rh) - 1;
                // Row spans, backwards, union over consumers (msf_plan::contract, H-cache step 1).
                let mut span: Vec<Option<(i64, i64)>> = vec![None; b.internal.len()];
                if let Some(l) = sim.local(b.root) {
                    span[l] = Some((y0 as i64, y1 as i64));
                }
                for n in (0..n_ops).rev() {
                    if n >= n_ops - b.tail_ops {
                        continue;
                    }
                    let out = if n == n_ops - 1 { Some((y0 as i64, y1 as i64)) } else { span[n] };
                    let Some(out) = out else { continue };
                    for &t in &net.ops[b.first + n].inputs {
                        if let Some(l) = sim.local(t) {
                            let need = sim.span_in(n, t, 0, out.0, out.1);
                            span[l] = Some(match span[l] {
                                Some(s) => (s.0.min(need.0), s.1.max(need.1)),
                                None => need,
                            });
                        }
                    }
                }
                sim.span = span.iter().map(|s| s.unwrap_or((0, -1))).collect();
                sim.band = if b.mean_tail { (0, -1) } else { (y0 as i64, y1 as i64) };
                sim.done.iter_mut().for_each(|d| *d = -1);
                for x in 0..rw as i64 {
                    sim.pull(root_op, x, x, 1);
                    sim.done[tail_first.min(n_ops - 1)] = x;
                    if b.mean_tail {
                        sim.accumulate((y0 as i64, y1 as i64), (x, x));
                    }
                }
                y0 += r;
            }
        }
        _ => {
            for y in 0..rh as i64 {
                sim.pull(root_op, y, y, 0);
                sim.done[tail_first.min(n_ops - 1)] = y;
                if b.mean_tail {
                    sim.accumulate((y, y), (0, rw as i64 - 1));
                }
            }
        }
    }
    if b.tail_ops == 1 {
        let n = (rh * rw) as f64;
        sim.out.v = sim.acc.iter().map(|s| s / n).collect();
    } else if b.tail_ops == 2 {
        sim.out.v = sim.acc.clone();
    }
    (sim.out, sim.macs)
}

fn check_graph(g: &Graph) -> usize {
    let net = Net::new(g).unwrap();
    let ts = reference(g, &net);
    let planner = Planner::new(g, Mode::Full).unwrap();
    let mut n = 0;
    for e in &planner.dag.edges {
        if e.kind == EdgeKind::Layer {
            continue;
        }
        let b = Block::new(&net, e.from, e.to - 1).expect("edge is a valid block");
        let (out, macs) = run_block(g, &net, &ts, &b, e.kind);
        let want = ts[g.ops[b.last].outputs[0]].as_ref().unwrap();
        for (i, (a, w)) in out.v.iter().zip(&want.v).enumerate() {
            assert!((a - w).abs() <= 1e-9 * (1.0 + w.abs()), "{} ops {}..={} {:?}: element {i}: {a} vs {w}", g.name, e.from, e.to - 1, e.kind);
        }
        // The stats count a MEAN as one MAC per input element, like the simulator.
        assert_eq!(macs, e.macs, "{} ops {}..={} {:?}: MACs", g.name, e.from, e.to - 1, e.kind);
        n += 1;
    }
    n
}

#[test]
fn every_fused_edge_of_a_residual_net_runs_in_its_rings() {
    // synth::residual_net's structure at 16x16 (debug-mode test time).
    let mut b = synth::Builder::new("residual", 16, 16, 3);
    b.conv(4, 3, 2);
    b.mbconv(4, 4, 2, 1, 3);
    let x = b.cur;
    b.mbconv(4, 4, 2, 1, 3);
    b.add(x);
    b.mbconv(4, 6, 2, 2, 3);
    let y = b.cur;
    b.mbconv(6, 6, 2, 1, 5);
    b.add(y);
    b.conv(8, 1, 1);
    b.mean();
    b.fc(3);
    b.softmax();
    let n = check_graph(&b.finish());
    assert!(n > 50, "only {n} fused edges");
}

#[test]
fn strided_wide_kernels_and_pools_run_in_their_rings() {
    let n = check_graph(&synth::mixed_net());
    assert!(n > 20, "only {n} fused edges");
}

#[test]
fn flatten_fc_tail_accumulates_in_its_rings() {
    let mut b = synth::Builder::new("fc_tail", 12, 10, 2);
    b.conv(4, 3, 2);
    b.dw(3, 1);
    b.conv(3, 1, 1);
    b.flatten();
    b.fc(5);
    b.softmax();
    let g = b.finish();
    let planner = Planner::new(&g, Mode::Full).unwrap();
    assert!(planner.dag.edges.iter().any(|e| e.to == 5 && e.kind != EdgeKind::Layer), "an FC tail edge exists");
    let n = check_graph(&g);
    assert!(n > 5, "only {n} fused edges");
}
