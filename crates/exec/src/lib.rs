//! msf-exec: the host side of msf-runtime.
//!
//! [`compile`] lowers a [`Graph`] into a runtime program blob (format: `msf_runtime::program`)
//! through its layer-by-layer Plan (`msf_plan::layer_by_layer`): activations sit at the Plan's
//! arena offsets, RESHAPE aliases its input as the Plan says; exec places no buffer itself
//! ([`compile_plan`] lowers every other Plan the same way). Everything the kernels need that
//! depends only on constants is computed here once (per-channel multipliers and shifts exactly as TFLite's
//! `QuantizeMultiplier`, biases with the input zero point folded in, lookup tables).
//! [`run`] executes a compiled program on a host arena through the very same runtime code the
//! firmware runs, optionally handing every materialised tensor to a callback.

use msf_model::{DType, Graph, TensorId};
use msf_runtime::program::{self, hdr, HEADER_WORDS, IO_WORDS, LAYER_WORDS, WEIGHT_ALIGN};
use std::collections::HashMap;

mod fused;
mod lower;
use lower::{lower_op, PendingLayer, Weights};
pub(crate) use lower::nhwc;
pub use fused::{compile_plan, run_plan, PlanRunner};
pub use msf_runtime::fused::Stats;

/// Why a graph cannot be compiled or run.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("op {index} ({name}): {what}")]
    Unsupported { index: usize, name: String, what: String },
    #[error("tensor {id} ({name}): {what}")]
    Tensor { id: TensorId, name: String, what: String },
    #[error("input is {got} bytes, the model's input {id} needs {need}")]
    InputSize { id: TensorId, got: usize, need: usize },
    #[error("the graph has {0} inputs; only single-input graphs can be run from one file")]
    InputCount(usize),
    #[error("the graph has no output to read")]
    NoOutput,
    #[error("runtime: {0}")]
    Runtime(msf_runtime::Error),
    #[error("program too large for 32-bit offsets")]
    TooLarge,
    /// A plan that cannot be lowered (paper mode, another graph's plan, a stage too long).
    #[error("plan stage {stage}: {what}")]
    Plan { stage: usize, what: String },
}

impl From<msf_runtime::Error> for ExecError {
    fn from(e: msf_runtime::Error) -> Self {
        ExecError::Runtime(e)
    }
}

type Result<T> = std::result::Result<T, ExecError>;

/// A compiled program and what the host needs to feed it and read it.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The program blob (what firmware embeds).
    pub blob: Vec<u8>,
    pub arena_size: usize,
    /// Arena byte range of every activation tensor.
    pub placement: HashMap<TensorId, (usize, usize)>,
    /// For every graph op, the runtime layers it became (RESHAPE: none).
    pub op_layers: Vec<std::ops::Range<usize>>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
    /// The file's inputs and outputs are NCHW (ONNX) while the graph is NHWC.
    pub nchw_io: bool,
}

fn unsupported(g: &Graph, index: usize, what: impl Into<String>) -> ExecError {
    ExecError::Unsupported { index, name: g.ops[index].kind.name().to_string(), what: what.into() }
}

/// Which LiteRT kernels the int8 arithmetic reproduces bit for bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// The reference kernels (BUILTIN_REF, what TFLite Micro mirrors): double rounding.
    #[default]
    Reference,
    /// LiteRT's builtin optimized kernels (x86): CONV_2D and FULLY_CONNECTED requantise as ruy
    /// does (ties up), int8 SOFTMAX uses the float exp table; everything else as the reference.
    Optimized,
}

/// Compile `g` into a program blob (reference kernels' arithmetic).
pub fn compile(g: &Graph) -> Result<Compiled> {
    compile_with(g, Kernels::Reference)
}

/// Compile `g` into a layer-by-layer program blob: the planner's layer-by-layer Plan
/// ([`msf_plan::layer_by_layer`]: every op its own stage, RESHAPE aliased, a greedy-by-size
/// static arena) lowered as [`compile_plan`] lowers any Plan, without a stage table, so the
/// program runs layer by layer and every tensor can be read after the op that makes it.
pub fn compile_with(g: &Graph, kernels: Kernels) -> Result<Compiled> {
    if let Some((i, _)) = g.first_opaque() {
        return Err(unsupported(g, i, "this op cannot be run (unknown to the runtime)"));
    }
    fused::lower_plan(g, &msf_plan::layer_by_layer(g), kernels, false)
}

/// The fused stage table of a planned program: its words, and the indices of the words that hold
/// weight offsets (relative to the weights section until the blob is assembled).
pub(crate) struct StageTable {
    pub words: Vec<u32>,
    pub weight_words: Vec<usize>,
    pub n_stages: usize,
}

/// Lay out a program blob (header, io table, layers, the optional stage table, weights) and fill
/// it. One assembler for layer-by-layer and planned programs, so the two formats cannot drift.
pub(crate) fn assemble(
    g: &Graph,
    placement: &HashMap<TensorId, (usize, usize)>,
    arena_size: usize,
    layers: &[PendingLayer],
    stages: Option<StageTable>,
    wts: &Weights,
) -> Result<Vec<u8>> {
    let n_io = g.inputs.len() + g.outputs.len();
    let io_off = HEADER_WORDS * 4;
    let layers_off = io_off + n_io * IO_WORDS * 4;
    let stages_off = layers_off + layers.len() * LAYER_WORDS * 4;
    let stage_len = stages.as_ref().map_or(0, |s| s.words.len() * 4);
    let weights_off = (stages_off + stage_len).next_multiple_of(WEIGHT_ALIGN);
    let total = weights_off + wts.bytes.len();
    if total > u32::MAX as usize {
        return Err(ExecError::TooLarge);
    }
    let mut blob = vec![0u8; total];
    let put = |blob: &mut Vec<u8>, word: usize, v: u32| blob[word * 4..word * 4 + 4].copy_from_slice(&v.to_le_bytes());
    blob[0..4].copy_from_slice(&program::MAGIC);
    put(&mut blob, hdr::VERSION, program::VERSION);
    put(&mut blob, hdr::TOTAL_LEN, total as u32);
    put(&mut blob, hdr::ARENA_SIZE, arena_size as u32);
    put(&mut blob, hdr::N_LAYERS, layers.len() as u32);
    put(&mut blob, hdr::LAYERS_OFF, layers_off as u32);
    put(&mut blob, hdr::N_INPUTS, g.inputs.len() as u32);
    put(&mut blob, hdr::N_OUTPUTS, g.outputs.len() as u32);
    put(&mut blob, hdr::IO_OFF, io_off as u32);
    put(&mut blob, hdr::WEIGHTS_OFF, weights_off as u32);
    put(&mut blob, hdr::WEIGHTS_LEN, wts.bytes.len() as u32);
    for (k, &t) in g.inputs.iter().chain(&g.outputs).enumerate() {
        let (off, len) = *placement.get(&t).ok_or_else(|| ExecError::Tensor {
            id: t,
            name: g.tensors[t].name.clone(),
            what: "graph input/output has no buffer (a constant, or missing from the plan)".into(),
        })?;
        let dt = match g.tensors[t].dtype {
            DType::Int8 => program::dtype::INT8,
            DType::Float32 => program::dtype::FLOAT32,
            DType::Int32 => program::dtype::INT32,
            DType::UInt8 => program::dtype::UINT8,
            other => {
                return Err(ExecError::Tensor { id: t, name: g.tensors[t].name.clone(), what: format!("{other} graph input/output") })
            }
        };
        let base = io_off / 4 + k * IO_WORDS;
        for (j, v) in [off as u32, len as u32, dt, t as u32].into_iter().enumerate() {
            put(&mut blob, base + j, v);
        }
    }
    for (k, pl) in layers.iter().enumerate() {
        let o = layers_off + k * LAYER_WORDS * 4;
        blob[o..o + LAYER_WORDS * 4].copy_from_slice(&pl.encode_at(weights_off as u32).to_bytes());
    }
    if let Some(mut st) = stages {
        put(&mut blob, msf_runtime::fused::hdr_words::N_STAGES, st.n_stages as u32);
        put(&mut blob, msf_runtime::fused::hdr_words::STAGES_OFF, stages_off as u32);
        for &at in &st.weight_words {
            st.words[at] += weights_off as u32;
        }
        for (j, v) in st.words.iter().enumerate() {
            blob[stages_off + j * 4..stages_off + j * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    blob[weights_off..].copy_from_slice(&wts.bytes);
    Ok(blob)
}

/// A 16-byte-aligned byte buffer (the runtime reads int32/f32 in place).
pub struct AlignedBuf {
    words: Vec<u128>,
    len: usize,
}

impl AlignedBuf {
    pub fn zeroed(len: usize) -> Self {
        AlignedBuf { words: vec![0u128; len.div_ceil(16)], len }
    }
    pub fn from_bytes(b: &[u8]) -> Self {
        let mut a = Self::zeroed(b.len());
        a.as_mut().copy_from_slice(b);
        a
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: u128 storage of at least `len` bytes; u8 has no alignment or validity needs.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.len) }
    }
}

impl AsMut<[u8]> for AlignedBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_ref`, with the exclusive borrow of `self`.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.len) }
    }
}

/// A compiled program ready to run repeatedly (blob and arena allocated once).
pub struct Runner<'g> {
    pub graph: &'g Graph,
    pub compiled: Compiled,
    blob: AlignedBuf,
    pub arena: AlignedBuf,
}

impl<'g> Runner<'g> {
    pub fn new(graph: &'g Graph) -> Result<Self> {
        Self::with_kernels(graph, Kernels::Reference)
    }

    pub fn with_kernels(graph: &'g Graph, kernels: Kernels) -> Result<Self> {
        let compiled = compile_with(graph, kernels)?;
        let blob = AlignedBuf::from_bytes(&compiled.blob);
        msf_runtime::Program::parse(blob.as_ref())?;
        let arena = AlignedBuf::zeroed(compiled.arena_size);
        Ok(Runner { graph, compiled, blob, arena })
    }

    /// Write the single graph input from file bytes (NCHW for ONNX graphs).
    pub fn set_input(&mut self, input: &[u8]) -> Result<()> {
        if self.compiled.inputs.len() != 1 {
            return Err(ExecError::InputCount(self.compiled.inputs.len()));
        }
        let t = self.compiled.inputs[0];
        let (off, len) = self.compiled.placement[&t];
        if input.len() != len {
            return Err(ExecError::InputSize { id: t, got: input.len(), need: len });
        }
        let tensor = &self.graph.tensors[t];
        let bytes = match (self.compiled.nchw_io, nhwc(tensor)) {
            (true, Some((h, w, c))) if tensor.shape.len() == 4 => msf_model::layout::nchw_to_nhwc(input, [1, c, h, w], tensor.dtype.size().unwrap_or(1)),
            _ => input.to_vec(),
        };
        self.arena.as_mut()[off..off + len].copy_from_slice(&bytes);
        Ok(())
    }

    /// Run every layer. `dump` (if any) sees every activation tensor right after the op that
    /// makes it (graph inputs first), as NHWC bytes by tensor id.
    pub fn run(&mut self, mut dump: Option<&mut dyn FnMut(TensorId, &[u8])>) -> Result<()> {
        let prog = msf_runtime::Program::parse(self.blob.as_ref())?;
        if let Some(d) = dump.as_mut() {
            for &t in &self.compiled.inputs {
                let (o, l) = self.compiled.placement[&t];
                d(t, &self.arena.as_ref()[o..o + l]);
            }
        }
        for (i, layers) in self.compiled.op_layers.iter().enumerate() {
            for k in layers.clone() {
                prog.run_layer(k, self.arena.as_mut())?;
            }
            if let Some(d) = dump.as_mut() {
                for &t in &self.graph.ops[i].outputs {
                    if let Some(&(o, l)) = self.compiled.placement.get(&t) {
                        d(t, &self.arena.as_ref()[o..o + l]);
                    }
                }
            }
        }
        Ok(())
    }

    /// The single graph output as file bytes (NCHW for 4D ONNX outputs). Fails on a graph without
    /// outputs (the importers refuse those; a hand-built graph may have none) or one whose output
    /// is not in the arena.
    pub fn output(&self) -> Result<Vec<u8>> {
        let t = *self.compiled.outputs.first().ok_or(ExecError::NoOutput)?;
        let (off, len) = *self.compiled.placement.get(&t).ok_or_else(|| ExecError::Tensor {
            id: t,
            name: self.graph.tensors.get(t).map(|x| x.name.clone()).unwrap_or_default(),
            what: "the graph output has no buffer in the arena".into(),
        })?;
        let bytes = &self.arena.as_ref()[off..off + len];
        let tensor = &self.graph.tensors[t];
        Ok(match (self.compiled.nchw_io, nhwc(tensor)) {
            (true, Some((h, w, c))) if tensor.shape.len() == 4 => msf_model::layout::nhwc_to_nchw(bytes, [1, h, w, c], tensor.dtype.size().unwrap_or(1)),
            _ => bytes.to_vec(),
        })
    }
}

/// Compile and run `g` once on `input` (file bytes); returns the output bytes.
pub fn run(g: &Graph, input: &[u8], dump: Option<&mut dyn FnMut(TensorId, &[u8])>) -> Result<Vec<u8>> {
    run_with(g, Kernels::Reference, input, dump)
}

/// [`run`] with a choice of kernel arithmetic.
pub fn run_with(g: &Graph, kernels: Kernels, input: &[u8], dump: Option<&mut dyn FnMut(TensorId, &[u8])>) -> Result<Vec<u8>> {
    let mut r = Runner::with_kernels(g, kernels)?;
    r.set_input(input)?;
    r.run(dump)?;
    r.output()
}

#[cfg(test)]
mod tests {
    use super::*;
    use msf_model::{Activation, Op as GOp, OpKind, Quant, Tensor};

    fn t(name: &str, shape: &[usize], dtype: DType, q: Option<(f32, i64)>) -> Tensor {
        Tensor { name: name.into(), shape: shape.to_vec(), dtype, quant: q.map(|(s, z)| Quant::per_tensor(s, z)), data: None }
    }
    fn op(kind: OpKind, inputs: Vec<usize>, outputs: Vec<usize>) -> GOp {
        GOp { kind, inputs, outputs, name: String::new() }
    }

    #[test]
    fn pad_reshape_logistic_float_by_hand() {
        // [1,2,2,1] -> PAD 1 on H and W -> [1,4,4,1] -> RESHAPE [1,16] -> LOGISTIC.
        let g = Graph {
            name: "g".into(),
            tensors: vec![
                t("x", &[1, 2, 2, 1], DType::Float32, None),
                t("p", &[1, 4, 4, 1], DType::Float32, None),
                t("r", &[1, 16], DType::Float32, None),
                t("y", &[1, 16], DType::Float32, None),
            ],
            ops: vec![
                op(OpKind::Pad { paddings: vec![[0, 0], [1, 1], [1, 1], [0, 0]] }, vec![0], vec![1]),
                op(OpKind::Reshape, vec![1], vec![2]),
                op(OpKind::Logistic, vec![2], vec![3]),
            ],
            inputs: vec![0],
            outputs: vec![3],
            format: msf_model::Format::Tflite,
        };
        let c = compile(&g).unwrap();
        // RESHAPE is free: its output shares its input's bytes, and it has no layer.
        assert_eq!(c.placement[&1].0, c.placement[&2].0);
        assert_eq!(c.op_layers[1].len(), 0);
        let x: Vec<u8> = [0.0f32, 1.0, -2.0, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let out = run(&g, &x, None).unwrap();
        let y: Vec<f32> = out.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
        // Row 1 of the padded map is [0, x00, x01, 0] = [0, 0, 1, 0].
        assert!((y[0] - 0.5).abs() < 1e-6 && (y[5] - 0.5).abs() < 1e-6);
        assert!((y[6] - sig(1.0)).abs() < 1e-6);
        assert!((y[9] - sig(-2.0)).abs() < 1e-6 && (y[10] - sig(3.0)).abs() < 1e-6);
        assert!((y[15] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn concat_requantises_an_input_with_other_scales() {
        // x (scale 0.25, zp -1) -> QUANTIZE to (0.5, 2) -> q ; CONCAT(q, x) on channels ->
        // (0.25, -1). x = [3, 7] is 1.0, 2.0; q = [4, 6]; back in the output scale [3, 7].
        let g = Graph {
            name: "g".into(),
            tensors: vec![
                t("x", &[1, 1, 1, 2], DType::Int8, Some((0.25, -1))),
                t("q", &[1, 1, 1, 2], DType::Int8, Some((0.5, 2))),
                t("y", &[1, 1, 1, 4], DType::Int8, Some((0.25, -1))),
            ],
            ops: vec![
                op(OpKind::Quantize, vec![0], vec![1]),
                op(OpKind::Concatenation { axis: 3, activation: Activation::None }, vec![1, 0], vec![2]),
            ],
            inputs: vec![0],
            outputs: vec![2],
            format: msf_model::Format::Tflite,
        };
        let mut seen = Vec::new();
        let mut cb = |id: usize, b: &[u8]| seen.push((id, b.to_vec()));
        let out = run(&g, &[3, 7], Some(&mut cb)).unwrap();
        assert_eq!(out, vec![3, 7, 3, 7]);
        assert_eq!(seen[1], (1, vec![4, 6]));
    }

    #[test]
    fn unsupported_ops_are_named() {
        let g = Graph {
            name: "g".into(),
            tensors: vec![t("x", &[1, 4], DType::Float32, None), t("y", &[1, 4], DType::Float32, None)],
            ops: vec![op(OpKind::Opaque { name: "GELU".into() }, vec![0], vec![1])],
            inputs: vec![0],
            outputs: vec![1],
            format: msf_model::Format::Tflite,
        };
        let e = compile(&g).unwrap_err().to_string();
        assert!(e.contains("op 0") && e.contains("GELU"), "{e}");
    }

    /// The placement exec computed itself before the layer-by-layer Plan existed (alias groups
    /// for RESHAPE, lifetimes over op steps, graph outputs alive one step past the last op,
    /// greedy by size in root-id order, the arena rounded to 16), kept as the oracle, plus
    /// what the runtime now also keeps in the arena: each conv's im2col scratch during its op.
    fn placement_before_plans(g: &Graph) -> (HashMap<TensorId, (usize, usize)>, usize) {
        use msf_plan::arena::{place, BufferLife};
        let mut root: HashMap<TensorId, TensorId> = HashMap::new();
        let find = |root: &HashMap<TensorId, TensorId>, mut t: TensorId| {
            while let Some(&p) = root.get(&t) {
                t = p;
            }
            t
        };
        for op in &g.ops {
            if matches!(op.kind, OpKind::Reshape) && !g.tensors[op.inputs[0]].is_constant() {
                let r = find(&root, op.inputs[0]);
                root.insert(op.outputs[0], r);
            }
        }
        let mut life: HashMap<TensorId, (usize, usize, usize)> = HashMap::new();
        let mut touch = |t: TensorId, step: usize, root: &HashMap<TensorId, TensorId>| {
            if !g.tensors[t].is_constant() {
                let e = life.entry(find(root, t)).or_insert((step, step, 0));
                e.0 = e.0.min(step);
                e.1 = e.1.max(step);
                e.2 = e.2.max(g.tensors[t].byte_size());
            }
        };
        g.inputs.iter().for_each(|&t| touch(t, 0, &root));
        for (i, op) in g.ops.iter().enumerate() {
            op.inputs.iter().chain(&op.outputs).for_each(|&t| touch(t, i, &root));
        }
        g.outputs.iter().for_each(|&t| touch(t, g.ops.len(), &root));
        let mut roots: Vec<TensorId> = life.keys().copied().collect();
        roots.sort_unstable();
        let mut lives: Vec<BufferLife> = roots.iter().map(|r| BufferLife { size: life[r].2, first: life[r].0, last: life[r].1 }).collect();
        for (i, op) in g.ops.iter().enumerate() {
            if let (OpKind::Conv2d { .. }, Some(&x), Some(&f)) = (&op.kind, op.inputs.first(), op.inputs.get(1)) {
                let s = &g.tensors[f].shape;
                let size = msf_runtime::spatial::conv_scratch_bytes(s[1], s[2], s[3], g.tensors[x].dtype.size().unwrap());
                if size > 0 {
                    lives.push(BufferLife { size, first: i, last: i });
                }
            }
        }
        let p = place(&lives);
        let off: HashMap<TensorId, usize> = roots.iter().copied().zip(p.offsets.iter().copied()).collect();
        let placement = (0..g.tensors.len())
            .filter(|&t| !g.tensors[t].is_constant())
            .filter_map(|t| off.get(&find(&root, t)).map(|&o| (t, (o, g.tensors[t].byte_size()))))
            .collect();
        (placement, p.arena_size.next_multiple_of(16))
    }

    /// What the planner may put in a fused stage is what the runtime's record says can stream:
    /// on every corpus op, a planner window op lowers to one Window record, a pointwise op to
    /// one Pointwise record, a global mean to one Tail record.
    #[test]
    fn the_planner_streams_only_what_the_runtime_streams() {
        use msf_plan::net::{Class, Net};
        use msf_runtime::{Program, Streaming};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
        files.retain(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("tflite" | "onnx")));
        let mut checked = 0;
        for f in &files {
            let name = f.file_stem().unwrap().to_string_lossy().into_owned();
            let g = msf_model::load(&std::fs::read(f).unwrap(), &name).unwrap();
            let Ok(net) = Net::new(&g) else { continue };
            let c = compile(&g).unwrap();
            let blob = AlignedBuf::from_bytes(&c.blob);
            let prog = Program::parse(blob.as_ref()).unwrap();
            for (i, op) in net.ops.iter().enumerate() {
                let want = match op.class {
                    Class::Window { .. } => Streaming::Window,
                    Class::Pointwise => Streaming::Pointwise,
                    Class::GlobalMean => Streaming::Tail,
                    Class::Other => continue,
                };
                let got: Vec<Streaming> = c.op_layers[i].clone().map(|k| prog.record(k).unwrap().streaming()).collect();
                assert_eq!(got, vec![want], "{name} op {i} ({}): planner {:?}", op.op_name, op.class);
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked}");
    }

    /// Every corpus model: the layer-by-layer Plan places every tensor and scratch where the
    /// oracle does, and `compile` lowers exactly that Plan.
    #[test]
    fn the_layer_by_layer_plan_is_the_placement_exec_used() {
        // README, "Runtime, layer by layer": the arena (B) column.
        let readme = [
            ("tiny_cnn_int8", 6144),
            ("mbv1_w025_96_int8", 64512),
            ("mbv2_w035_144_int8", 311040),
            ("mcunet_like_160_int8", 256000),
            ("paper_mbv2_w035_144_int8", 194400),
            ("paper_mcunet_vww1_80_int8", 96000),
            ("paper_mcunet_in3_176_int8", 340736),
            ("float_cnn_f32", 27760),
            ("onnx_small_cnn_qdq_int8", 15360),
            ("onnx_mbv2_w035_144_f32", 1244160),
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
        files.retain(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("tflite" | "onnx")));
        files.sort();
        let mut seen = 0;
        for f in &files {
            let name = f.file_stem().unwrap().to_string_lossy().into_owned();
            let g = msf_model::load(&std::fs::read(f).unwrap(), &name).unwrap();
            let plan = msf_plan::layer_by_layer(&g);
            let (before, arena) = placement_before_plans(&g);
            eprintln!("{name}: layer-by-layer arena {arena}");
            assert_eq!(plan.arena_size, arena, "{name}");
            let c = compile(&g).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((c.arena_size, &c.placement), (arena, &before), "{name}");
            assert!(plan.stages.iter().enumerate().all(|(i, s)| s.first_op == i && s.last_op == i && s.kind == msf_plan::StageKind::Layer), "{name}");
            if let Some(&(_, b)) = readme.iter().find(|(n, _)| *n == name) {
                assert_eq!(plan.peak_ram_bytes, b, "{name}: README figure");
                seen += 1;
            }
        }
        assert_eq!(seen, readme.len());
    }
}
