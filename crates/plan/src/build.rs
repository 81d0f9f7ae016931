//! Building the DAG's edges (both modes) and turning a chosen path into a [`Plan`].

use crate::arena::{self, BufferLife, ARENA_ALIGN};
use crate::dag::{Dag, Edge, EdgeKind, PathCost, RamMetric};
use crate::fused::Block;
use crate::net::{Class, Net};
use crate::paper::{self, PaperLayer};
use crate::types::*;
use crate::PlanError;
use std::sync::OnceLock;

pub(crate) fn align(x: usize) -> u64 {
    x.div_ceil(ARENA_ALIGN) as u64 * ARENA_ALIGN as u64
}

/// Everything the optimisers need for one graph.
pub struct Planner {
    pub net: Net,
    pub mode: Mode,
    pub dag: Dag,
    pub vanilla_macs: u64,
    /// Paper mode: the chain's layers.
    paper_layers: Vec<PaperLayer>,
    /// Full mode: aligned bytes of whole tensors alive at each cut (I/O included, excluded).
    live: Vec<u64>,
    live_ex: Vec<u64>,
    /// Full mode: the unfused Plan ([`crate::layer_by_layer`]), which `build` gives for the
    /// all-layer path when it needs less (see [`Planner::build`]).
    layerwise: Option<Plan>,
    /// Full mode: the placed front per metric (I/O included, excluded), made once.
    fronts: [OnceLock<Vec<Placed>>; 2],
}

/// A candidate of the placed front: a path and the figures of the Plan `build` gives for it.
#[derive(Debug, Clone)]
struct Placed {
    path: PathCost,
    /// The built Plan's arena (`peak_ram_bytes`, I/O included) and I/O-excluded peak.
    arena: u64,
    ram_ex: u64,
    macs: u64,
    stages: usize,
}

impl Placed {
    fn key(&self, metric: RamMetric) -> u64 {
        match metric {
            RamMetric::IoIncluded => self.arena,
            RamMetric::IoExcluded => self.ram_ex,
        }
    }
}

impl Planner {
    pub fn new(graph: &msf_model::Graph, mode: Mode) -> Result<Planner, PlanError> {
        let net = Net::new(graph)?;
        match mode {
            Mode::Paper => Self::new_paper(net),
            Mode::Full => {
                let mut p = Self::new_full(net);
                p.layerwise = Some(crate::layer_by_layer(graph));
                Ok(p)
            }
        }
    }

    fn new_paper(net: Net) -> Result<Planner, PlanError> {
        let mut layers = Vec::with_capacity(net.ops.len());
        let mut prev: Option<usize> = None;
        for op in &net.ops {
            let not_chain = |reason: &str| PlanError::NotAChain { index: op.index, op: op.op_name.clone(), reason: reason.to_string() };
            let Class::Window { k, s, pad_paper, .. } = op.class else {
                return Err(not_chain("paper mode plans chains of convolutions and pools only"));
            };
            if op.inputs.len() != 1 || op.outputs.len() != 1 {
                return Err(not_chain("needs exactly one activation input and one output"));
            }
            let (t_in, t_out) = (op.inputs[0], op.outputs[0]);
            let ok_link = match prev {
                Some(p) => p == t_in,
                None => net.is_graph_input[t_in],
            };
            if !ok_link || net.consumers[t_out].len() > 1 {
                return Err(not_chain("the graph branches here (residuals are handled in full mode)"));
            }
            if k[0] != k[1] || s[0] != s[1] {
                return Err(not_chain("paper mode needs square kernels and strides"));
            }
            let (i, o) = (net.hwc[t_in].unwrap_or([0; 3]), net.hwc[t_out].unwrap_or([0; 3]));
            let px = (o[0] * o[1] * o[2]) as u64;
            layers.push(PaperLayer {
                k: k[0],
                s: s[0],
                p: pad_paper[0],
                h_in: i[0],
                w_in: i[1],
                c_in: i[2],
                h_out: o[0],
                w_out: o[1],
                c_out: o[2],
                mac_per_elem: op.macs.checked_div(px).unwrap_or(0),
            });
            prev = Some(t_out);
        }
        let n = layers.len();
        let es = net.esize[net.ops[0].inputs[0]] as u64;
        let mut edges = Vec::new();
        for i in 0..n {
            for j in i..n {
                if let Some(c) = paper::edge_cost(&layers[i..=j], i == 0, j == n - 1) {
                    let kind = if i == j { EdgeKind::Layer } else { EdgeKind::Paper };
                    edges.push(Edge { from: i, to: j + 1, ram: c.ram * es, ram_ex: c.ram_io_excluded * es, macs: c.macs, kind });
                }
            }
        }
        let vanilla = net.vanilla_macs();
        Ok(Planner { dag: Dag::new(n + 1, edges), net, mode: Mode::Paper, vanilla_macs: vanilla, paper_layers: layers, live: vec![], live_ex: vec![], layerwise: None, fronts: Default::default() })
    }

    fn new_full(net: Net) -> Planner {
        let n = net.ops.len();
        // Whole tensors alive at each cut, by a difference array over their live ranges.
        let mut d = vec![0i64; n + 2];
        let mut d_ex = vec![0i64; n + 2];
        for t in 0..net.bytes.len() {
            let born = match net.producer[t] {
                Some(p) => p + 1,
                None if net.is_graph_input[t] => 0,
                None => continue,
            };
            let end = if net.is_graph_output[t] { n } else { match net.last_use[t] { Some(u) => u, None => continue } };
            if end < born {
                continue;
            }
            let b = align(net.bytes[t]) as i64;
            d[born] += b;
            d[end + 1] -= b;
            if !net.is_io(t) {
                d_ex[born] += b;
                d_ex[end + 1] -= b;
            }
        }
        let (mut live, mut live_ex) = (vec![0u64; n + 1], vec![0u64; n + 1]);
        let (mut a, mut b) = (0i64, 0i64);
        for c in 0..=n {
            a += d[c];
            b += d_ex[c];
            live[c] = a as u64;
            live_ex[c] = b as u64;
        }
        let vanilla = net.vanilla_macs();
        let mut p = Planner {
            dag: Dag::new(1, vec![]),
            net,
            mode: Mode::Full,
            vanilla_macs: vanilla,
            paper_layers: vec![],
            live,
            live_ex,
            layerwise: None,
            fronts: Default::default(),
        };
        let mut edges = Vec::new();
        for i in 0..n {
            let (ram, ram_ex) = p.layer_ram(i);
            edges.push(Edge { from: i, to: i + 1, ram, ram_ex, macs: p.net.ops[i].macs, kind: EdgeKind::Layer });
            for j in i + 1..n {
                if p.net.ops[j].class == Class::Other {
                    // Only an iterative FC tail (RESHAPE flattening the map, then the FC) may
                    // end a block past an "other" op; no block ends at the RESHAPE itself.
                    if j + 1 < n && Block::fc_tail_at(&p.net, j + 1) {
                        continue;
                    }
                    if Block::fc_tail_at(&p.net, j) && Block::fits(&p.net, i, j) {
                        if let Some(b) = Block::new(&p.net, i, j) {
                            p.block_edges(&b, &mut edges);
                        }
                    }
                    break;
                }
                if !Block::fits(&p.net, i, j) {
                    break;
                }
                if let Some(b) = Block::new(&p.net, i, j) {
                    p.block_edges(&b, &mut edges);
                }
                if p.net.ops[j].class == Class::GlobalMean {
                    break;
                }
            }
        }
        p.dag = Dag::new(n + 1, edges);
        p
    }

    /// RAM of op `i` run alone: whole tensors alive at its cut, its outputs, MEAN accumulators.
    fn layer_ram(&self, i: usize) -> (u64, u64) {
        let op = &self.net.ops[i];
        let (mut r, mut r_ex) = (self.live[i], self.live_ex[i]);
        for &t in &op.outputs {
            let b = align(self.net.bytes[t]);
            r += b;
            if !self.net.is_io(t) {
                r_ex += b;
            }
        }
        // A layer's kernel keeps its small per-channel sums on the stack; its im2col patch is
        // the stage's scratch buffer.
        let scratch = align(op.scratch);
        (r + scratch, r_ex + scratch)
    }

    /// Can the fused executor run block `b`? At most `msf_runtime::fused::MAX_OPS` ops, and
    /// every map it streams within the 16-bit positions of its walk state. The planner offers
    /// no plan the runtime would refuse.
    fn runnable(&self, b: &Block) -> bool {
        let net = &self.net;
        let n_ops = b.last - b.first + 1 - (b.tail_ops == 2) as usize;
        let small = |t: usize| net.hwc[t].is_none_or(|h| h[0] <= msf_runtime::fused::MAX_FUSED_DIM && h[1] <= msf_runtime::fused::MAX_FUSED_DIM);
        n_ops <= msf_runtime::fused::MAX_OPS && (b.first..=b.last).all(|o| net.ops[o].inputs.iter().chain(&net.ops[o].outputs).all(|&t| small(t)))
    }

    /// Bytes of a fused block's scratch as the fused executor lays it out: walk state for every
    /// op it runs (a flatten+FC tail's RESHAPE is not one), then the largest conv im2col patch.
    pub fn block_scratch(&self, b: &Block) -> usize {
        let n_ops = b.last - b.first + 1 - (b.tail_ops == 2) as usize;
        let conv = (b.first..=b.last).map(|o| self.net.ops[o].scratch).max().unwrap_or(0);
        msf_runtime::fused::stage_scratch_bytes(n_ops, conv)
    }

    /// Whole-tensor RAM of a fused block (inputs alive at its cut plus its output).
    fn block_base(&self, b: &Block) -> (u64, u64) {
        let out = self.net.ops[b.last].outputs[0];
        let ob = align(self.net.bytes[out]);
        let acc = align(b.accumulator_bytes(&self.net));
        let io = self.net.is_io(out);
        (self.live[b.first] + ob + acc, self.live_ex[b.first] + if io { 0 } else { ob } + acc)
    }

    fn ring_sum(&self, b: &Block, rows: &[usize], cols: Option<&[usize]>) -> u64 {
        (0..b.internal.len())
            .map(|l| {
                let c = match cols {
                    Some(c) => c[l],
                    None => self.net.hwc[b.internal[l]].map(|h| h[1]).unwrap_or(0),
                };
                align(b.ring_bytes(&self.net, l, rows[l], c))
            })
            .sum()
    }

    /// Every non-dominated way of running block `b`.
    fn block_edges(&self, b: &Block, out: &mut Vec<Edge>) {
        if !self.runnable(b) {
            return;
        }
        let (base, base_ex) = self.block_base(b);
        // The walk state and im2col patch, whatever the cache (`rings` below includes it).
        let scratch = align(self.block_scratch(b));
        let mut cands: Vec<Edge> = Vec::new();
        let mut r = 1;
        loop {
            let (rows, macs) = b.hcache(&self.net, r);
            let rings = self.ring_sum(b, &rows, Some(&b.cols)) + scratch;
            cands.push(Edge { from: b.first, to: b.last + 1, ram: base + rings, ram_ex: base_ex + rings, macs, kind: EdgeKind::HCache { rows: r } });
            if r >= b.root_hw[0] {
                break;
            }
            r *= 2;
        }
        let (rows, macs) = b.line_buffer(&self.net);
        let rings = self.ring_sum(b, &rows, None) + scratch;
        cands.push(Edge { from: b.first, to: b.last + 1, ram: base + rings, ram_ex: base_ex + rings, macs, kind: EdgeKind::LineBuffer });
        for (n, c) in cands.iter().enumerate() {
            let dominated = cands.iter().enumerate().any(|(m, d)| {
                m != n && d.ram <= c.ram && d.ram_ex <= c.ram_ex && d.macs <= c.macs && (d.ram < c.ram || d.ram_ex < c.ram_ex || d.macs < c.macs || m < n)
            });
            if !dominated {
                out.push(c.clone());
            }
        }
    }

    /// The front as plan-facing points, by decreasing RAM and increasing MACs. Full mode: the
    /// placed front ([`Planner::solve`]): each point's `peak_ram_bytes` is the arena of the Plan
    /// [`Planner::build`] gives for it, `peak_ram_bytes_io_excluded` that Plan's I/O-excluded
    /// peak. Paper mode: the reference's figures (stage sums), as they always were.
    pub fn pareto_points(&self, metric: RamMetric) -> Vec<ParetoPoint> {
        match self.mode {
            Mode::Paper => self.dag.pareto(metric).iter().map(|p| self.stage_point(p)).collect(),
            Mode::Full => self.front(metric).iter().map(|c| self.placed_point(c)).collect(),
        }
    }

    /// The point of path `p`: in full mode its figures are those of the Plan `build` gives for
    /// it (the placed arena, I/O included; built for the I/O-included metric).
    pub fn point(&self, p: &PathCost) -> ParetoPoint {
        match self.mode {
            Mode::Paper => self.stage_point(p),
            Mode::Full => self.placed_point(&self.placed(p.clone(), RamMetric::IoIncluded)),
        }
    }

    fn stage_point(&self, p: &PathCost) -> ParetoPoint {
        ParetoPoint {
            peak_ram_bytes: p.peak_ram,
            peak_ram_bytes_io_excluded: p.peak_ram_ex,
            macs: p.macs,
            overhead: self.overhead(p.macs),
            stages: p.edges.len(),
        }
    }

    fn placed_point(&self, c: &Placed) -> ParetoPoint {
        ParetoPoint { peak_ram_bytes: c.arena, peak_ram_bytes_io_excluded: c.ram_ex, macs: c.macs, overhead: self.overhead(c.macs), stages: c.stages }
    }

    /// Build `path` and read the figures the Plan has.
    fn placed(&self, path: PathCost, metric: RamMetric) -> Placed {
        let plan = self.build("", &path, &Options { mode: self.mode, metric, constraint: Constraint::MinMacs, pareto: false });
        Placed { arena: plan.peak_ram_bytes, ram_ex: plan.peak_ram_bytes_io_excluded, macs: plan.macs, stages: plan.stages.len(), path }
    }

    /// The path of single-layer stages (every op run whole), if the DAG has it.
    fn layer_path(&self) -> Option<PathCost> {
        let n = self.net.ops.len();
        let mut edges = Vec::with_capacity(n);
        for c in 0..n {
            edges.push(self.dag.edges.iter().position(|e| e.from == c && e.to == c + 1 && e.kind == EdgeKind::Layer)?);
        }
        let peak_ram = edges.iter().map(|&e| self.dag.edges[e].ram).max().unwrap_or(0);
        let peak_ram_ex = edges.iter().map(|&e| self.dag.edges[e].ram_ex).max().unwrap_or(0);
        let macs = edges.iter().map(|&e| self.dag.edges[e].macs).sum();
        Some(PathCost { edges, peak: peak_ram, peak_ram, peak_ram_ex, macs })
    }

    fn is_layer_path(&self, path: &PathCost) -> bool {
        path.edges.len() == self.net.ops.len() && path.edges.iter().all(|&e| self.dag.edges[e].kind == EdgeKind::Layer)
    }

    /// Full mode: the placed front in `metric`. Candidates: every point of the DAG's front of
    /// stage sums (`Dag::pareto`), and the all-layer path (built as the unfused Plan when that
    /// needs less); each is built and placed, its figure the built Plan's (I/O included: the
    /// arena). Kept: the non-dominated ones, by increasing MACs and strictly decreasing figure
    /// (on equal MACs the lower figure, on a tie the DAG's point first).
    ///
    /// Every figure is a built Plan's own, so an answer taken from it never exceeds its budget.
    /// What it may miss: a path off the stage-sum front (another path has no larger stage
    /// peak and no more MACs) whose placement happens to be tighter than that front point's.
    /// A Plan's arena is never below its largest sum of buffer sizes, so for a path whose
    /// stage sums exceed B nothing is missed (up to the 16-byte rounding of each buffer).
    fn front(&self, metric: RamMetric) -> &[Placed] {
        let slot = match metric {
            RamMetric::IoIncluded => &self.fronts[0],
            RamMetric::IoExcluded => &self.fronts[1],
        };
        slot.get_or_init(|| {
            let mut cands: Vec<Placed> = self.dag.pareto(metric).into_iter().map(|p| self.placed(p, metric)).collect();
            if let Some(lp) = self.layer_path() {
                if !cands.iter().any(|c| c.path.edges == lp.edges) {
                    cands.push(self.placed(lp, metric));
                }
            }
            // Stable: on equal MACs and figure the DAG's point (pushed first) stays.
            cands.sort_by_key(|c| (c.macs, c.key(metric)));
            let mut front: Vec<Placed> = Vec::with_capacity(cands.len());
            for c in cands {
                if front.last().is_none_or(|l| c.key(metric) < l.key(metric)) {
                    front.push(c);
                }
            }
            front
        })
    }

    /// Peak RAM of the layer-by-layer schedule (the path of single-layer edges).
    pub fn vanilla_peak(&self, metric: RamMetric) -> u64 {
        self.dag
            .edges
            .iter()
            .filter(|e| e.kind == EdgeKind::Layer && e.to == e.from + 1)
            .map(|e| match metric {
                RamMetric::IoIncluded => e.ram,
                RamMetric::IoExcluded => e.ram_ex,
            })
            .max()
            .unwrap_or(0)
    }

    pub fn overhead(&self, macs: u64) -> f64 {
        if self.vanilla_macs == 0 {
            1.0
        } else {
            macs as f64 / self.vanilla_macs as f64
        }
    }

    /// Solve for `constraint`; [`Planner::build`] turns the path into the Plan.
    ///
    /// Full mode answers from the placed front ([`Planner::front`]), so every figure is the
    /// arena of the Plan `build` gives (I/O included; the I/O-excluded metric bounds the
    /// built Plan's `peak_ram_bytes_io_excluded`, a stage sum by definition):
    /// - `RamBudget { B }` (P2): the cheapest point whose figure is <= B, so the Plan's
    ///   `arena_size` is <= B, always; if none, [`PlanError::RamUnreachable`] naming the least
    ///   figure of the front, which the `MinRam` Plan reaches. This is the loop "solve under
    ///   the stage-sum limit B, build and place; while the arena exceeds B, lower the limit
    ///   below that path's largest stage sum and solve again", run once to the end for every
    ///   budget: each step lowers the limit strictly (a path's stage peak is at most the
    ///   limit it was found under), there are finitely many stage peaks, so the loop ends; the
    ///   paths it visits are exactly the stage-sum front's points.
    /// - `MinRam`: the front's last point, never above layer by layer (the all-layer path is a
    ///   candidate, built as [`crate::layer_by_layer`]'s Plan when that needs less).
    /// - `MaxOverhead { F }` (P1): the least figure among the points within F.
    /// - `MinMacs`: the front's first point.
    ///
    /// Paper mode keeps the reference's model: stage sums, no placement.
    pub fn solve(&self, constraint: Constraint, metric: RamMetric) -> Result<PathCost, PlanError> {
        if self.mode == Mode::Paper {
            return self.solve_paper(constraint);
        }
        let front = self.front(metric);
        let last = front.last().ok_or(PlanError::NoPath)?;
        let pick = match constraint {
            Constraint::MinMacs => &front[0],
            Constraint::RamBudget { ram_bytes } => match front.iter().find(|c| c.key(metric) <= ram_bytes) {
                Some(c) => c,
                None => return Err(PlanError::RamUnreachable { budget: ram_bytes, best: last.key(metric), metric }),
            },
            Constraint::MinRam => last,
            Constraint::MaxOverhead { max_overhead } => {
                let limit = max_overhead * self.vanilla_macs as f64;
                match front.iter().rev().find(|c| c.macs as f64 <= limit) {
                    Some(c) => c,
                    None => return Err(PlanError::OverheadUnreachable { max: max_overhead, best: self.overhead(front[0].macs) }),
                }
            }
        };
        Ok(pick.path.clone())
    }

    fn solve_paper(&self, constraint: Constraint) -> Result<PathCost, PlanError> {
        let metric = RamMetric::IoExcluded;
        match constraint {
            Constraint::MinMacs => self.dag.shortest(metric, u64::MAX).ok_or(PlanError::NoPath),
            Constraint::RamBudget { ram_bytes } => match self.dag.shortest(metric, ram_bytes) {
                Some(p) => Ok(p),
                None => {
                    let best = self.dag.pareto(metric).last().map(|p| p.peak).unwrap_or(0);
                    Err(PlanError::RamUnreachable { budget: ram_bytes, best, metric })
                }
            },
            Constraint::MinRam => self.dag.pareto(metric).pop().ok_or(PlanError::NoPath),
            Constraint::MaxOverhead { max_overhead } => {
                let front = self.dag.pareto(metric);
                let limit = max_overhead * self.vanilla_macs as f64;
                // The front has decreasing RAM and increasing MACs: the last point within the
                // compute budget has the least RAM.
                match front.iter().rev().find(|p| p.macs as f64 <= limit) {
                    Some(p) => Ok(p.clone()),
                    None => Err(PlanError::OverheadUnreachable {
                        max: max_overhead,
                        best: front.first().map(|p| self.overhead(p.macs)).unwrap_or(f64::NAN),
                    }),
                }
            }
        }
    }

    /// Turn a path into a Plan: stages, buffers with lifetimes, arena offsets.
    ///
    /// Full mode, the all-layer path (every stage a single layer): if the unfused Plan
    /// ([`crate::layer_by_layer`]: RESHAPEs aliased, placed greedily by size) has a smaller
    /// arena, that Plan is the answer (I/O-excluded metric: only if its I/O-excluded peak is no
    /// larger either), with this call's constraint, metric and front. Any other path is built
    /// as below.
    pub fn build(&self, model: &str, path: &PathCost, opts: &Options) -> Plan {
        let metric = if self.mode == Mode::Paper { RamMetric::IoExcluded } else { opts.metric };
        let mut plan = self.build_path(model, path, opts.constraint, metric);
        if let Some(l) = &self.layerwise {
            let better = l.arena_size < plan.arena_size && (metric == RamMetric::IoIncluded || l.peak_ram_bytes_io_excluded <= plan.peak_ram_bytes_io_excluded);
            if better && self.is_layer_path(path) {
                let mut l = l.clone();
                l.model = model.to_string();
                l.metric = metric;
                l.constraint = opts.constraint;
                l.vanilla_macs = plan.vanilla_macs;
                l.overhead = self.overhead(l.macs);
                l.vanilla_peak_ram_bytes = plan.vanilla_peak_ram_bytes;
                l.vanilla_peak_ram_bytes_io_excluded = plan.vanilla_peak_ram_bytes_io_excluded;
                plan = l;
            }
        }
        if opts.pareto {
            plan.pareto = self.pareto_points(metric);
        }
        plan
    }

    fn build_path(&self, model: &str, path: &PathCost, constraint: Constraint, metric: RamMetric) -> Plan {
        let net = &self.net;
        let n_stages = path.edges.len();
        let mut stage_of_op = vec![0usize; net.ops.len()];
        for (s, &ei) in path.edges.iter().enumerate() {
            let e = &self.dag.edges[ei];
            stage_of_op[e.from..e.to].fill(s);
        }
        let mut buffers: Vec<Buffer> = Vec::new();
        let mut stages: Vec<Stage> = Vec::with_capacity(n_stages);
        // Whole tensors: graph inputs, and every output that leaves its stage.
        let mut whole: Vec<usize> = Vec::new();
        for (t, &gi) in net.is_graph_input.iter().enumerate() {
            if gi {
                whole.push(t);
            }
        }
        for &ei in &path.edges {
            let e = &self.dag.edges[ei];
            match e.kind {
                EdgeKind::Layer => whole.extend(net.ops[e.from].outputs.iter().copied()),
                _ => whole.push(net.ops[e.to - 1].outputs[0]),
            }
        }
        for &t in &whole {
            let first = net.producer[t].map(|p| stage_of_op[p]).unwrap_or(0);
            let last = if net.is_graph_output[t] { n_stages - 1 } else { net.last_use[t].map(|u| stage_of_op[u]).unwrap_or(first) };
            let hwc = net.hwc[t];
            let es = net.esize[t];
            let (rows, cols, ch) = match hwc {
                Some(h) => (h[0], h[1], h[2]),
                None => (1, 1, net.bytes[t] / es.max(1)),
            };
            buffers.push(Buffer {
                id: buffers.len(),
                role: BufferRole::Tensor,
                tensor: Some(t),
                aliases: vec![],
                op: None,
                rows,
                cols,
                channels: ch,
                elem_bytes: es,
                size: net.bytes[t],
                first_stage: first,
                last_stage: last.max(first),
                offset: 0,
                io: net.is_io(t),
            });
        }
        for (s, &ei) in path.edges.iter().enumerate() {
            let e = &self.dag.edges[ei];
            let stage = match self.mode {
                Mode::Paper => self.paper_stage(s, e, &mut buffers),
                Mode::Full => self.full_stage(s, e, &mut buffers),
            };
            stages.push(stage);
        }
        let lives: Vec<BufferLife> = buffers.iter().map(|b| BufferLife { size: b.size, first: b.first_stage, last: b.last_stage }).collect();
        let bound = stages.iter().map(|s| s.ram_bytes as usize).max().unwrap_or(0);
        let placement = arena::place_best(&lives, bound);
        for (b, off) in buffers.iter_mut().zip(&placement.offsets) {
            b.offset = *off;
        }
        for st in stages.iter_mut() {
            st.buffers = buffers.iter().filter(|b| b.first_stage <= st.index && st.index <= b.last_stage).map(|b| b.id).collect();
            // Full mode: the stage's figures stay the DAG edge's prediction; the tests check
            // that they equal the sum of the (aligned) buffers listed here.
        }
        let peak_stage = stages.iter().map(|s| s.ram_bytes).max().unwrap_or(0);
        let peak_ex = match self.mode {
            Mode::Paper => path.peak_ram_ex,
            Mode::Full => stages.iter().map(|s| s.ram_bytes_io_excluded).max().unwrap_or(0),
        };
        Plan {
            model: model.to_string(),
            mode: self.mode,
            metric,
            constraint,
            stages,
            buffers,
            arena_align: ARENA_ALIGN,
            arena_size: placement.arena_size,
            peak_ram_bytes: placement.arena_size as u64,
            peak_ram_bytes_io_excluded: peak_ex,
            peak_stage_bytes: peak_stage,
            macs: path.macs,
            vanilla_macs: self.vanilla_macs,
            // Full mode: the arena the layer-by-layer firmware reserves (its placed Plan), the one
            // figure fusion is compared against; paper mode: the reference's analytical peak.
            vanilla_peak_ram_bytes: self.layerwise.as_ref().map_or_else(|| self.vanilla_peak(RamMetric::IoIncluded), |l| l.peak_ram_bytes),
            vanilla_peak_ram_bytes_io_excluded: self.vanilla_peak(RamMetric::IoExcluded),
            overhead: self.overhead(path.macs),
            pareto: vec![],
        }
    }

    fn layer_tile(&self, o: usize, paper: bool) -> LayerTile {
        layer_tile(&self.net, o, paper)
    }

    fn paper_stage(&self, s: usize, e: &Edge, buffers: &mut Vec<Buffer>) -> Stage {
        let layers = &self.paper_layers[e.from..e.to];
        let c = paper::edge_cost(layers, e.from == 0, e.to == self.paper_layers.len()).expect("edge was feasible when built");
        let mut tiles: Vec<LayerTile> = (e.from..e.to).map(|o| self.layer_tile(o, true)).collect();
        if e.to - e.from > 1 {
            for (n, t) in tiles.iter_mut().enumerate() {
                let l = &layers[n];
                t.tile_rows_in = c.rows[n];
                t.tile_cols_in = l.k;
                t.tile_rows_out = c.rows.get(n + 1).copied().unwrap_or(1);
                t.tile_cols_out = 1;
                let es = self.net.esize[self.net.ops[e.from + n].inputs[0]];
                buffers.push(Buffer {
                    id: buffers.len(),
                    role: BufferRole::PaperCache,
                    tensor: Some(self.net.ops[e.from + n].inputs[0]),
                    aliases: vec![],
                    op: Some(e.from + n),
                    rows: c.rows[n],
                    cols: l.k,
                    channels: l.c_in,
                    elem_bytes: es,
                    size: c.caches[n] as usize * es,
                    first_stage: s,
                    last_stage: s,
                    offset: 0,
                    io: false,
                });
            }
        }
        let fused = e.to - e.from > 1;
        Stage {
            index: s,
            first_op: e.from,
            last_op: e.to - 1,
            kind: if fused { StageKind::Fused } else { StageKind::Layer },
            exec: e.kind,
            band_rows: 1,
            tail: Tail::None,
            root_tensor: Some(self.net.ops[e.to - 1].outputs[0]),
            tile: fused.then_some(c.tile),
            tile_stride: fused.then_some(c.stride),
            layers: tiles,
            buffers: vec![],
            ram_bytes: e.ram,
            ram_bytes_io_excluded: e.ram_ex,
            macs: e.macs,
        }
    }

    fn full_stage(&self, s: usize, e: &Edge, buffers: &mut Vec<Buffer>) -> Stage {
        let net = &self.net;
        let mut tiles: Vec<LayerTile> = (e.from..e.to).map(|o| self.layer_tile(o, false)).collect();
        let mut stage = Stage {
            index: s,
            first_op: e.from,
            last_op: e.to - 1,
            kind: StageKind::Layer,
            exec: e.kind,
            band_rows: 0,
            tail: Tail::None,
            root_tensor: net.ops[e.to - 1].outputs.first().copied(),
            tile: None,
            tile_stride: None,
            layers: vec![],
            buffers: vec![],
            ram_bytes: e.ram,
            ram_bytes_io_excluded: e.ram_ex,
            macs: e.macs,
        };
        let push_acc = |buffers: &mut Vec<Buffer>, op: usize, channels: usize| {
            buffers.push(Buffer {
                id: buffers.len(),
                role: BufferRole::Accumulator,
                tensor: None,
                aliases: vec![],
                op: Some(op),
                rows: 1,
                cols: 1,
                channels,
                elem_bytes: 4,
                size: channels * 4,
                first_stage: s,
                last_stage: s,
                offset: 0,
                io: false,
            });
        };
        let push_scratch = |buffers: &mut Vec<Buffer>, size: usize| {
            if size > 0 {
                buffers.push(Buffer::scratch(buffers.len(), e.from, s, size));
            }
        };
        if e.kind == EdgeKind::Layer {
            push_scratch(buffers, net.ops[e.from].scratch);
            stage.band_rows = tiles[0].out_hwc[0];
            stage.layers = tiles;
            return stage;
        }
        let b = Block::new(net, e.from, e.to - 1).expect("edge was valid when built");
        stage.kind = StageKind::Fused;
        stage.tail = match b.tail_ops {
            2 => Tail::FlattenFc,
            1 => Tail::Mean,
            _ => Tail::None,
        };
        stage.root_tensor = Some(b.root);
        let (rows, cols, band): (Vec<usize>, Vec<usize>, usize) = match e.kind {
            EdgeKind::HCache { rows: r } => (b.hcache(net, r).0, b.cols.clone(), r),
            _ => {
                let rows = b.line_buffer(net).0;
                let cols = b.internal.iter().map(|&t| net.hwc[t].map(|h| h[1]).unwrap_or(0)).collect();
                (rows, cols, 1)
            }
        };
        stage.band_rows = band;
        push_scratch(buffers, self.block_scratch(&b));
        for (l, &t) in b.internal.iter().enumerate() {
            // The flattened map of an FC tail is never materialised: no buffer.
            if l >= b.last - b.first + 1 - b.tail_ops {
                continue;
            }
            let ch = net.hwc[t].map(|h| h[2]).unwrap_or(0);
            buffers.push(Buffer {
                id: buffers.len(),
                role: BufferRole::Ring,
                tensor: Some(t),
                aliases: vec![],
                op: net.producer[t],
                rows: rows[l],
                cols: cols[l],
                channels: ch,
                elem_bytes: net.esize[t],
                size: b.ring_bytes(net, l, rows[l], cols[l]),
                first_stage: s,
                last_stage: s,
                offset: 0,
                io: false,
            });
        }
        if b.mean_tail {
            push_acc(buffers, b.last, b.accumulator_bytes(net) / 4);
        }
        let hcache = matches!(e.kind, EdgeKind::HCache { .. });
        for t in tiles.iter_mut() {
            let op = &net.ops[t.op];
            if let Some(l) = op.inputs.first().and_then(|&x| b.local(net, x)) {
                t.tile_rows_in = rows[l];
                t.tile_cols_in = cols[l];
            }
            if t.op > b.last - b.tail_ops {
                t.tile_rows_out = 1;
                t.tile_cols_out = 1;
            } else if t.op == b.last {
                if b.mean_tail {
                    t.tile_rows_out = 1;
                    t.tile_cols_out = 1;
                } else {
                    t.tile_rows_out = band.min(t.out_hwc[0]);
                    t.tile_cols_out = if hcache { 1 } else { t.out_hwc[1] };
                }
            } else {
                let l = t.op - b.first;
                t.tile_rows_out = rows[l];
                t.tile_cols_out = cols[l];
            }
        }
        stage.layers = tiles;
        stage
    }
}

/// Op `o` alone, its whole input and output as tiles (a fused stage narrows them).
pub(crate) fn layer_tile(net: &Net, o: usize, paper: bool) -> LayerTile {
    let op = &net.ops[o];
    // Non-spatial tensors (vectors) show as 1 x 1 x elements.
    let hwc = |t: usize| net.hwc[t].unwrap_or([1, 1, net.bytes[t] / net.esize[t].max(1)]);
    let in_hwc = op.inputs.first().map(|&t| hwc(t)).unwrap_or([1, 1, 0]);
    let out_hwc = op.outputs.first().map(|&t| hwc(t)).unwrap_or([1, 1, 0]);
    let (kernel, stride, dilation, pad) = match op.class {
        Class::Window { k, s, d, pad, pad_paper } => (k, s, d, if paper { pad_paper } else { pad }),
        _ => ([1, 1], [1, 1], [1, 1], [0, 0]),
    };
    let halo = [0, 1].map(|a| ((kernel[a] - 1) * dilation[a] + 1).saturating_sub(stride[a]));
    LayerTile {
        op: o,
        name: op.name.clone(),
        op_name: op.op_name.clone(),
        kernel,
        stride,
        dilation,
        pad_before: pad,
        halo,
        in_hwc,
        out_hwc,
        tile_rows_in: in_hwc[0],
        tile_cols_in: in_hwc[1],
        tile_rows_out: out_hwc[0],
        tile_cols_out: out_hwc[1],
    }
}
