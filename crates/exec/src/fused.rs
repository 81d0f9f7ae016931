//! Lowering a [`msf_plan::Plan`] (full mode) into a fused program blob
//! (`msf_runtime::fused`): layer stages become ordinary layer records, fused stages become
//! stage records whose ops address the plan's rings, every buffer at the plan's `offset`, the
//! arena exactly the plan's `arena_size`. The layer-by-layer program ([`super::compile`]) is the
//! same lowering of the layer-by-layer Plan, without the stage table.

use super::{assemble, lower_op, nhwc, StageTable, AlignedBuf, Compiled, ExecError, Kernels, PendingLayer, Runner, Weights};
use msf_model::{Graph, OpKind, TensorId};
use msf_plan::{BufferRole, EdgeKind, Mode, Plan, StageKind, Tail};
use msf_runtime::fused::{f, kind, FusedProgram, Stats, MAX_OPS, OP_WORDS, STAGE_WORDS, WHOLE};
use msf_runtime::program::LAYER_WORDS;
use msf_runtime::record::{Copy, Kind, Record};
use std::collections::HashMap;

type Result<T> = std::result::Result<T, ExecError>;

fn bad(stage: usize, what: impl Into<String>) -> ExecError {
    ExecError::Plan { stage, what: what.into() }
}

/// Lower `g` as `plan` says. Errors: a paper-mode plan, a plan for another graph (ops not
/// covered, buffers missing), a fused stage of more than [`MAX_OPS`] ops, an op that cannot
/// run inside a fused stage (channel concatenation), and everything [`super::compile`] refuses.
pub fn compile_plan(g: &Graph, plan: &Plan, kernels: Kernels) -> Result<Compiled> {
    lower_plan(g, plan, kernels, true)
}

/// The one lowering of a Plan: buffers at the Plan's offsets, the arena the Plan's size, a
/// RESHAPE whose output the Plan aliases to its input (one buffer holds both) free, any other
/// RESHAPE a copy. `stage_table`: write the fused stage table (what [`compile_plan`] emits);
/// without it the plan must be all layer stages and the blob is a plain layer program (what
/// [`super::compile`] emits for the layer-by-layer Plan).
// Ops are addressed by graph index throughout (op_layers, producers, the plan's stages).
#[allow(clippy::needless_range_loop)]
pub(crate) fn lower_plan(g: &Graph, plan: &Plan, kernels: Kernels, stage_table: bool) -> Result<Compiled> {
    if plan.mode != Mode::Full {
        return Err(bad(0, "paper-mode plans are figures only; plan in full mode to run"));
    }
    if let Some((i, _)) = g.first_opaque() {
        return Err(super::unsupported(g, i, "this op cannot be run (unknown to the runtime)"));
    }
    let n_ops = g.ops.len();
    let mut next = 0;
    for s in &plan.stages {
        if s.first_op != next || s.last_op < s.first_op || s.last_op >= n_ops {
            return Err(bad(s.index, format!("stage covers ops {}..={}, expected to start at {next} (plan for another graph?)", s.first_op, s.last_op)));
        }
        next = s.last_op + 1;
    }
    if next != n_ops {
        return Err(bad(plan.stages.len(), format!("the plan covers {next} of {n_ops} ops")));
    }
    if plan.arena_size > u32::MAX as usize {
        return Err(ExecError::TooLarge);
    }
    // Whole tensors at their offsets; rings (for lowering only) at theirs.
    let mut placement: HashMap<TensorId, (usize, usize)> = HashMap::new();
    let mut lower_place: HashMap<TensorId, (usize, usize)> = HashMap::new();
    let mut rings: HashMap<TensorId, &msf_plan::Buffer> = HashMap::new();
    let mut accs: HashMap<usize, usize> = HashMap::new();
    // Per stage: its scratch buffer (offset, size).
    let mut scratch: HashMap<usize, (usize, usize)> = HashMap::new();
    // The buffer holding each whole tensor (RESHAPE aliases share one).
    let mut holder: HashMap<TensorId, usize> = HashMap::new();
    for b in &plan.buffers {
        if b.offset + b.size > plan.arena_size {
            return Err(bad(b.first_stage, format!("buffer {} ends at {} beyond the arena of {}", b.id, b.offset + b.size, plan.arena_size)));
        }
        match (b.role, b.tensor, b.op) {
            (BufferRole::Tensor, Some(t), _) if t < g.tensors.len() => {
                placement.insert(t, (b.offset, b.size));
                lower_place.insert(t, (b.offset, b.size));
                holder.insert(t, b.id);
                for &a in &b.aliases {
                    let Some(ta) = g.tensors.get(a) else {
                        return Err(bad(b.first_stage, format!("buffer {} aliases tensor {a}, not of this graph", b.id)));
                    };
                    placement.insert(a, (b.offset, ta.byte_size()));
                    lower_place.insert(a, (b.offset, ta.byte_size()));
                    holder.insert(a, b.id);
                }
            }
            (BufferRole::Ring, Some(t), _) if t < g.tensors.len() => {
                lower_place.insert(t, (b.offset, b.size));
                rings.insert(t, b);
            }
            (BufferRole::Accumulator, _, Some(o)) => {
                accs.insert(o, b.offset);
            }
            (BufferRole::Scratch, ..) => {
                scratch.insert(b.first_stage, (b.offset, b.size));
            }
            (BufferRole::PaperCache, ..) => return Err(bad(b.first_stage, "paper cache buffer")),
            _ => return Err(bad(b.first_stage, format!("buffer {} names no tensor of this graph", b.id))),
        }
    }
    let producer: HashMap<TensorId, usize> = g.ops.iter().enumerate().flat_map(|(i, op)| op.outputs.iter().map(move |&t| (t, i))).collect();

    let mut wts = Weights::default();
    let mut layers: Vec<PendingLayer> = Vec::new();
    let mut op_layers = vec![0..0; n_ops];
    // Stage table words, and the positions in it of weight offsets still section-relative.
    let mut stage_words: Vec<u32> = Vec::new();
    let mut stage_wfix: Vec<usize> = Vec::new();
    for st in &plan.stages {
        let base = stage_words.len();
        if st.kind != StageKind::Layer && !stage_table {
            return Err(bad(st.index, "a fused stage in a layer-by-layer program"));
        }
        if st.kind == StageKind::Layer {
            let start = layers.len();
            for i in st.first_op..=st.last_op {
                let s0 = layers.len();
                let op = &g.ops[i];
                let copied = matches!(op.kind, OpKind::Reshape) && {
                    let (x, y) = (op.inputs[0], op.outputs[0]);
                    holder.contains_key(&x) && holder.get(&x) != holder.get(&y)
                };
                if copied {
                    // The plan gives a reshape's output its own buffer: copy the bytes. (An
                    // aliased RESHAPE lowers to no layer, as lower_op says.)
                    let (x, y) = (op.inputs[0], op.outputs[0]);
                    let (&(xo, xl), &(yo, yl)) = (
                        placement.get(&x).ok_or_else(|| bad(st.index, format!("no buffer for tensor {x}")))?,
                        placement.get(&y).ok_or_else(|| bad(st.index, format!("no buffer for tensor {y}")))?,
                    );
                    if xl != yl {
                        return Err(super::unsupported(g, i, "RESHAPE changes the byte size"));
                    }
                    let copy = Copy { rows: 1, len: xl as u32, src_stride: xl as u32, dst_stride: xl as u32, requant: None };
                    let record = Record { tag: y as u32, in0: xo as u32, in1: 0, out: yo as u32, scratch: 0, kind: Kind::Copy(copy) };
                    layers.push(PendingLayer { record });
                } else {
                    lower_op(g, i, &lower_place, kernels, &mut wts, &mut layers)?;
                    // The kernel's im2col patch: the stage's scratch buffer.
                    for pl in &mut layers[s0..] {
                        let need = pl.record.scratch_bytes();
                        if need > 0 {
                            let &(off, size) = scratch.get(&st.index).ok_or_else(|| bad(st.index, format!("op {i} needs {need} B of scratch; the plan has no scratch buffer for its stage")))?;
                            if size < need {
                                return Err(bad(st.index, format!("op {i} needs {need} B of scratch; the plan's is {size} B")));
                            }
                            pl.record.scratch = off as u32;
                        }
                    }
                }
                op_layers[i] = s0..layers.len();
            }
            stage_words.extend_from_slice(&[kind::LAYER, start as u32, (layers.len() - start) as u32, 0, 0, 0, STAGE_WORDS as u32, 0]);
            continue;
        }
        // A flatten+FC tail: the RESHAPE (op last-1) has no buffer and no record; the FC reads
        // the root ring directly, flattened row-major.
        let fc_tail = st.tail == Tail::FlattenFc;
        if fc_tail
            && !(st.last_op >= st.first_op + 2
                && matches!(g.ops[st.last_op].kind, OpKind::FullyConnected { .. })
                && matches!(g.ops[st.last_op - 1].kind, OpKind::Reshape))
        {
            return Err(bad(st.index, "flatten+FC tail that does not end in RESHAPE, FULLY_CONNECTED"));
        }
        let skip = if fc_tail { Some(st.last_op - 1) } else { None };
        if let Some(r) = skip {
            lower_place.entry(g.ops[r].outputs[0]).or_insert((0, 0));
        }
        let n = st.last_op - st.first_op + 1 - fc_tail as usize;
        if n > MAX_OPS {
            return Err(bad(st.index, format!("fused stage of {n} ops; the runtime holds at most {MAX_OPS}")));
        }
        let (k, a) = match st.exec {
            EdgeKind::HCache { rows } => (kind::H_CACHE, rows as u32),
            EdgeKind::LineBuffer => (kind::LINE_BUFFER, 0),
            other => return Err(bad(st.index, format!("fused stage with exec {other:?}"))),
        };
        let root = st.root_tensor.ok_or_else(|| bad(st.index, "fused stage without a root tensor"))?;
        let (rh, rw, _) = nhwc(&g.tensors[root]).ok_or_else(|| bad(st.index, "root is not a map"))?;
        let &(sc_off, _) = scratch.get(&st.index).ok_or_else(|| bad(st.index, "fused stage without a scratch buffer"))?;
        stage_words.extend_from_slice(&[k, a, n as u32, rh as u32, rw as u32, st.iterative_tail() as u32, (STAGE_WORDS + n * (LAYER_WORDS + OP_WORDS)) as u32, sc_off as u32]);
        for i in st.first_op..=st.last_op {
            if Some(i) == skip {
                continue;
            }
            let op = &g.ops[i];
            let err = |what: &str| super::unsupported(g, i, format!("in fused stage {}: {what}", st.index));
            let mut tmp = Vec::new();
            lower_op(g, i, &lower_place, kernels, &mut wts, &mut tmp)?;
            if tmp.len() != 1 {
                return Err(err("lowers to several runtime layers (channel concatenation) and cannot stream"));
            }
            let pl = tmp.pop().expect("one layer");
            let y = op.outputs[0];
            let mut acts = g.activation_inputs(i);
            if let (Some(r), true) = (skip, i == st.last_op) {
                // The FC of a flatten tail reads the RESHAPE's input (the root).
                acts = vec![g.ops[r].inputs[0]];
            }
            let mut fw = [0u32; OP_WORDS];
            fw[f::SRC0] = WHOLE;
            fw[f::SRC1] = WHOLE;
            for (q, &t) in acts.iter().enumerate().take(2) {
                if let Some(&p) = producer.get(&t) {
                    if p >= st.first_op && p < i {
                        if !rings.contains_key(&t) {
                            return Err(err(&format!("in-stage tensor {t} has no ring")));
                        }
                        fw[if q == 0 { f::SRC0 } else { f::SRC1 }] = (p - st.first_op) as u32;
                    } else if !placement.contains_key(&t) {
                        return Err(err(&format!("input tensor {t} has no whole buffer")));
                    }
                }
            }
            let x0 = *acts.first().ok_or_else(|| err("no activation input"))?;
            let (ih, iw, ic) = nhwc(&g.tensors[x0]).ok_or_else(|| err("input is not a map"))?;
            fw[f::IN_H] = ih as u32;
            fw[f::IN_W] = iw as u32;
            fw[f::IN_C] = ic as u32;
            if let Some(&x1) = acts.get(1) {
                fw[f::IN1_C] = nhwc(&g.tensors[x1]).ok_or_else(|| err("input 1 is not a map"))?.2 as u32;
            }
            let es = g.tensors[y].dtype.size().ok_or_else(|| err("output dtype"))?;
            fw[f::ES] = es as u32;
            let mut record = pl.record;
            if i == st.last_op && st.iterative_tail() {
                fw[f::OUT_MODE] = 2;
                let c = g.tensors[y].num_elements();
                fw[f::H] = 1;
                fw[f::W] = 1;
                fw[f::C] = c as u32;
                fw[f::ACC] = *accs.get(&i).ok_or_else(|| err("iterative tail without an accumulator buffer"))? as u32;
            } else {
                let (h, wd, c) = nhwc(&g.tensors[y]).ok_or_else(|| err("output is not a map"))?;
                fw[f::H] = h as u32;
                fw[f::W] = wd as u32;
                fw[f::C] = c as u32;
                if i == st.last_op {
                    fw[f::OUT_MODE] = 1;
                    if !placement.contains_key(&y) {
                        return Err(err("stage output has no whole buffer"));
                    }
                } else {
                    let r = rings.get(&y).ok_or_else(|| err(&format!("intermediate tensor {y} has no ring")))?;
                    if r.channels != c || r.elem_bytes != es {
                        return Err(err("ring channels/element size differ from the tensor"));
                    }
                    fw[f::OUT_MODE] = 0;
                    fw[f::RING_ROWS] = r.rows as u32;
                    fw[f::RING_COLS] = r.cols as u32;
                    record.out = r.offset as u32;
                }
            }
            let at = stage_words.len();
            stage_words.extend_from_slice(&record.encode().words);
            stage_words.extend_from_slice(&fw);
            stage_wfix.extend(record.weight_words().map(|wi| at + wi));
        }
        debug_assert_eq!(stage_words.len() - base, STAGE_WORDS + n * (LAYER_WORDS + OP_WORDS));
    }

    let stages = stage_table.then(|| StageTable { words: stage_words, weight_words: stage_wfix, n_stages: plan.stages.len() });
    let blob = assemble(g, &placement, plan.arena_size, &layers, stages, &wts)?;
    if stage_table {
        // The runtime sizes each fused stage's scratch from the stage's own ops: the plan's
        // buffer must be exactly that (bigger would waste RAM, smaller overlap a neighbour).
        let aligned = super::AlignedBuf::from_bytes(&blob);
        let fp = FusedProgram::parse(aligned.as_ref())?;
        for st in plan.stages.iter().filter(|s| s.kind != StageKind::Layer) {
            let need = fp.stage_scratch_len(st.index)?.unwrap_or(0);
            let have = scratch.get(&st.index).map_or(0, |s| s.1);
            if need != have {
                return Err(bad(st.index, format!("the fused executor needs {need} B of stage scratch; the plan's buffer is {have} B")));
            }
        }
    }
    Ok(Compiled {
        blob,
        arena_size: plan.arena_size,
        placement,
        op_layers,
        inputs: g.inputs.clone(),
        outputs: g.outputs.clone(),
        nchw_io: g.format == msf_model::Format::Onnx,
    })
}

/// A planned program ready to run: the arena is exactly the plan's `arena_size` bytes.
pub struct PlanRunner<'g> {
    runner: Runner<'g>,
}

impl<'g> PlanRunner<'g> {
    pub fn new(graph: &'g Graph, plan: &Plan, kernels: Kernels) -> Result<Self> {
        let compiled = compile_plan(graph, plan, kernels)?;
        let blob = AlignedBuf::from_bytes(&compiled.blob);
        FusedProgram::parse(blob.as_ref())?;
        let arena = AlignedBuf::zeroed(compiled.arena_size);
        Ok(PlanRunner { runner: Runner { graph, compiled, blob, arena } })
    }
    pub fn compiled(&self) -> &Compiled {
        &self.runner.compiled
    }
    /// Write the single graph input from file bytes (NCHW for ONNX graphs).
    pub fn set_input(&mut self, input: &[u8]) -> Result<()> {
        self.runner.set_input(input)
    }
    /// Run every stage; returns what the runtime measured (high-water mark).
    pub fn run(&mut self) -> Result<Stats> {
        let prog = FusedProgram::parse(self.runner.blob.as_ref())?;
        Ok(prog.run(self.runner.arena.as_mut())?)
    }
    pub fn output(&self) -> Result<Vec<u8>> {
        self.runner.output()
    }
    pub fn arena(&self) -> &[u8] {
        self.runner.arena.as_ref()
    }
}

/// Compile `g` under `plan` and run it once on `input` (file bytes): (output bytes, stats).
pub fn run_plan(g: &Graph, plan: &Plan, kernels: Kernels, input: &[u8]) -> Result<(Vec<u8>, Stats)> {
    let mut r = PlanRunner::new(g, plan, kernels)?;
    r.set_input(input)?;
    let st = r.run()?;
    Ok((r.output()?, st))
}
