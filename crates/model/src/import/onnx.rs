//! ONNX import: a prost-decoded `ModelProto` in, a [`Graph`] in the IR's NHWC layout out.
//!
//! # Layout
//! ONNX activations are NCHW; the IR's are NHWC. Every rank-4 activation (graph inputs included)
//! gets the IR shape `[N, H, W, C]`, and constant weights are transposed into the IR's layouts
//! (conv filters OIHW -> OHWI, depthwise `[C*m, 1, kh, kw]` -> `[1, kh, kw, C*m]`, Gemm weights
//! -> `[out, in]`). A graph whose `format` is [`Format::Onnx`] therefore expects its rank-4
//! inputs permuted: the file's raw input (NCHW, e.g. `NAME.input.bin`) must go through
//! [`crate::layout::input_to_ir`] (NCHW -> NHWC) before it is fed to the IR graph, and a
//! rank-4 output comes out NHWC ([`crate::layout::output_to_file`] turns it back). Rank-2
//! outputs such as `[1, classes]` are unaffected.
//!
//! Flatten of an NHWC tensor orders elements (h, w, c) where ONNX orders them (c, h, w); the
//! importer tracks that order ([`Layout::FlatNhwc`]) and permutes the columns of the
//! FullyConnected weights that read it, so the IR computes what the file means.
//!
//! # QDQ
//! `DequantizeLinear -> op -> [Relu|Clip] -> QuantizeLinear` becomes one quantised IR op whose
//! input tensors carry the parameters of the DequantizeLinear nodes and whose output tensor
//! carries those of the QuantizeLinear node; weights stay int8 (transposed, per-channel scales
//! along the IR's output-channel axis), biases become int32 with scale `in_scale * w_scale`.
//! A QuantizeLinear of a float activation (the graph input) becomes QUANTIZE, a
//! DequantizeLinear whose result a float op or a graph output needs becomes DEQUANTIZE.
//!
//! Anything the IR cannot express stays in the graph as [`OpKind::Opaque`] with the ONNX op
//! type as its name; malformed files give typed errors, never panics.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use prost::Message;

use crate::error::{ImportError, Result};
use crate::graph::{Activation, DType, Format, Graph, Op, OpKind, Padding, Quant, Tensor, TensorId, Window};
use crate::layout::transpose;
use crate::validate::{self, checked_elements};

/// The protobuf codec of [`proto`], re-exported so callers (tests, fuzzers) can build and encode
/// `ModelProto`s with the same prost version without depending on it themselves.
pub use prost;

#[allow(clippy::all, missing_docs)]
pub mod proto {
    include!("onnx_proto.rs");
}

use proto::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};

/// Largest stride, dilation, pad or kernel extent accepted from an attribute: far above any real
/// model, small enough that window arithmetic cannot overflow `usize` even on wasm32.
const MAX_WINDOW_INT: i64 = 1 << 16;

/// Largest constant the importer evaluates shape arithmetic on (and produces): shapes have at
/// most 8 dimensions, so anything bigger is not shape arithmetic, and bounding it keeps a
/// Concat of many large constants from allocating without limit.
const SHAPE_CONST_MAX: usize = 64;

/// Import an ONNX model (a serialised `ModelProto`).
pub fn import(bytes: &[u8]) -> Result<Graph> {
    let model = ModelProto::decode(bytes).map_err(|e| ImportError::InvalidProtobuf(e.to_string()))?;
    let opset = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .max()
        // The spec requires an opset import; a file without one is read with today's semantics.
        .unwrap_or(17);
    let g = model.graph.ok_or_else(|| ImportError::InvalidProtobuf("the ModelProto has no graph".into()))?;
    // Dequantising int8 weights makes them 4x larger; 8x the file (plus room for small files)
    // leaves margin for that and for a weight read by two ops.
    let budget = 8 * bytes.len() as u64 + (64 << 20);
    let mut b = Builder::new(&g, opset, budget)?;
    b.run(&g)?;
    let mut graph = b.graph;
    validate::validate(&mut graph)?;
    Ok(graph)
}

/// ONNX QuantizeLinear rounding: round half to even, then saturate to `[lo, hi]`.
fn quantize_value(x: f64, lo: i64, hi: i64) -> i64 {
    if x.is_nan() {
        return 0;
    }
    let r = x.round_ties_even();
    r.clamp(lo as f64, hi as f64) as i64
}

/// How the elements of an IR activation relate to the ONNX tensor of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Same shape, same element order.
    Plain,
    /// ONNX `[N, C, H, W]`, IR `[N, H, W, C]`.
    Nhwc,
    /// ONNX `[N, C*H*W]` in (c, h, w) order; the IR holds the same shape in (h, w, c) order
    /// (the flatten of an NHWC tensor). Never used when `h * w == 1` (the orders agree).
    FlatNhwc { h: usize, w: usize, c: usize },
}

/// IR shape of an ONNX shape in `layout`.
fn ir_shape(onnx: &[usize], layout: Layout) -> Vec<usize> {
    match layout {
        Layout::Nhwc if onnx.len() == 4 => vec![onnx[0], onnx[2], onnx[3], onnx[1]],
        _ => onnx.to_vec(),
    }
}

/// Whether a tensor in `layout` with ONNX shape `shape` stores its elements in ONNX order.
fn onnx_ordered(shape: &[usize], layout: Layout) -> bool {
    match layout {
        Layout::Plain => true,
        // NHWC and NCHW orders agree when only one of C and H*W is more than 1.
        Layout::Nhwc => shape.len() == 4 && (shape[1] == 1 || shape[2] * shape[3] == 1),
        Layout::FlatNhwc { h, w, .. } => h * w == 1,
    }
}

/// The layout a reshape from (`from`, `layout`) to ONNX shape `to` produces, if the IR can do it
/// with a plain RESHAPE (which keeps element order).
fn reshape_layout(from: &[usize], layout: Layout, to: &[usize]) -> Option<Layout> {
    let out_layout = |to: &[usize]| {
        if to.len() == 4 {
            // A rank-4 result is an activation the IR keeps NHWC; a plain reshape can produce it
            // only if its NHWC and NCHW orders agree.
            (to[1] == 1 || to[2] * to[3] == 1).then_some(Layout::Nhwc)
        } else {
            Some(Layout::Plain)
        }
    };
    if onnx_ordered(from, layout) {
        return out_layout(to);
    }
    match layout {
        Layout::Nhwc if from.len() == 4 && to.len() == 4 && from == to => Some(Layout::Nhwc),
        // Flatten: [N, C, H, W] -> [N, C*H*W] of an NHWC tensor keeps (h, w, c) order.
        Layout::Nhwc if from.len() == 4 && to.len() == 2 && to[0] == from[0] && to[1] == from[1] * from[2] * from[3] => {
            Some(Layout::FlatNhwc { h: from[2], w: from[3], c: from[1] })
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Constants.

/// A constant tensor in ONNX layout: little-endian bytes, row-major in `dims`.
#[derive(Debug, Clone)]
struct Const {
    name: String,
    dims: Vec<usize>,
    dtype: DType,
    /// Element size in bytes (also for [`DType::Other`] types we keep, e.g. bool, float16).
    elem: usize,
    data: Vec<u8>,
}

impl Const {
    fn count(&self) -> usize {
        self.dims.iter().product()
    }
    fn f32s(&self) -> Option<Vec<f32>> {
        (self.dtype == DType::Float32).then(|| self.data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
    /// Integer elements widened to i64 (int8/uint8/int16/int32/int64).
    fn ints(&self) -> Option<Vec<i64>> {
        let d = &self.data;
        Some(match self.dtype {
            DType::Int8 => d.iter().map(|&b| b as i8 as i64).collect(),
            DType::UInt8 => d.iter().map(|&b| b as i64).collect(),
            DType::Int16 => d.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as i64).collect(),
            DType::Int32 => d.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).collect(),
            DType::Int64 => d.chunks_exact(8).map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect(),
            _ => return None,
        })
    }
    /// Numeric elements as f64 (float32 or any integer type).
    fn reals(&self) -> Option<Vec<f64>> {
        match self.f32s() {
            Some(v) => Some(v.into_iter().map(f64::from).collect()),
            None => self.ints().map(|v| v.into_iter().map(|x| x as f64).collect()),
        }
    }
    fn from_f32(name: &str, dims: Vec<usize>, v: &[f32]) -> Const {
        Const { name: name.into(), dims, dtype: DType::Float32, elem: 4, data: v.iter().flat_map(|x| x.to_le_bytes()).collect() }
    }
}

/// A `DequantizeLinear` of a constant: the integer data with its parameters.
#[derive(Debug, Clone)]
struct DqConst {
    /// Shared with the initializer: many DequantizeLinear nodes may read one constant.
    q: Rc<Const>,
    params: QParams,
}

impl DqConst {
    /// The real values, `scale * (q - zero_point)`, as float32.
    fn dequantized(&self) -> Option<Const> {
        let ints = self.q.ints()?;
        let p = &self.params;
        let per = p.scale.len();
        // Index along the quantised axis of element i: (i / inner) % channels.
        let inner: usize = self.q.dims.get(p.axis + 1..).map(|d| d.iter().product()).unwrap_or(1);
        let v: Vec<f32> = ints
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let c = if per == 1 { 0 } else { (i / inner) % per };
                (p.scale[c] as f64 * (q - p.zero_point[c]) as f64) as f32
            })
            .collect();
        Some(Const::from_f32(&self.q.name, self.q.dims.clone(), &v))
    }
}

/// Quantisation parameters of a QuantizeLinear / DequantizeLinear node.
#[derive(Debug, Clone, PartialEq)]
struct QParams {
    scale: Vec<f32>,
    zero_point: Vec<i64>,
    /// Axis of per-channel parameters (normalised); 0 for per-tensor.
    axis: usize,
    /// The quantised element type (the zero point's type; uint8 when it is absent, per spec).
    dtype: DType,
}

impl QParams {
    fn quant(&self, axis: usize) -> Quant {
        Quant { scale: self.scale.clone(), zero_point: self.zero_point.clone(), axis }
    }
    fn per_tensor(&self) -> bool {
        self.scale.len() == 1
    }
    fn range(&self) -> Option<(i64, i64)> {
        Some(match self.dtype {
            DType::Int8 => (-128, 127),
            DType::UInt8 => (0, 255),
            DType::Int16 => (-32768, 32767),
            DType::Int32 => (i32::MIN as i64, i32::MAX as i64),
            _ => return None,
        })
    }
}

/// What an ONNX value name stands for during the import.
#[derive(Debug, Clone)]
enum Value {
    Const(Rc<Const>),
    DqConst(Rc<DqConst>),
    /// An IR tensor holding the ONNX value (in its [`Layout`]).
    Act(TensorId),
    /// The real values of a quantised IR tensor (`DequantizeLinear` of it): ops that can run
    /// quantised read the tensor itself, float ops get a DEQUANTIZE.
    DqAct(TensorId),
}

/// Map an ONNX element type to the IR's, with the element size in bytes.
fn onnx_dtype(t: i32) -> (DType, Option<usize>) {
    match t {
        1 => (DType::Float32, Some(4)),
        2 => (DType::UInt8, Some(1)),
        3 => (DType::Int8, Some(1)),
        4 => (DType::Other, Some(2)), // uint16
        5 => (DType::Int16, Some(2)),
        6 => (DType::Int32, Some(4)),
        7 => (DType::Int64, Some(8)),
        9 => (DType::Other, Some(1)),  // bool
        10 => (DType::Other, Some(2)), // float16
        11 => (DType::Other, Some(8)), // double
        12 => (DType::Other, Some(4)), // uint32
        13 => (DType::Other, Some(8)), // uint64
        16 => (DType::Other, Some(2)), // bfloat16
        _ => (DType::Other, None),
    }
}

/// Decode an initializer (or a Constant node's tensor). `index` labels errors.
fn decode_tensor(t: &TensorProto, index: usize) -> Result<Const> {
    let name = t.name.clone();
    let bad = |reason: String| ImportError::BadTensor { tensor: index, name: t.name.clone(), reason };
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err(ImportError::Unsupported(format!(
            "initializer \"{}\" keeps its data in an external file; save the model with its weights inside the .onnx file (onnx.save_model(..., save_as_external_data=False))",
            t.name
        )));
    }
    if t.dims.len() > 8 {
        return Err(bad(format!("rank {} is more than 8", t.dims.len())));
    }
    if let Some(d) = t.dims.iter().find(|&&d| d < 0) {
        return Err(bad(format!("negative dimension {d} in shape {:?}", t.dims)));
    }
    // Empty tensors (a zero dimension) are legal ONNX (e.g. an unused optional operand); keep them,
    // validate() rejects them only if an op of the IR uses one.
    let dims: Vec<usize> = if t.dims.contains(&0) { t.dims.iter().map(|&d| d as usize).collect() } else { checked_elements(&t.dims, index, &name)? };
    let count: usize = dims.iter().product();
    let (dtype, elem) = onnx_dtype(t.data_type);
    let elem = elem.ok_or_else(|| bad(format!("element type {} (string, complex or unknown) is not supported", t.data_type)))?;
    let expected = count as u128 * elem as u128;
    let mismatch = |actual: usize| ImportError::BufferSizeMismatch {
        tensor: index,
        name: t.name.clone(),
        shape: dims.clone(),
        dtype: dtype.to_string(),
        expected,
        actual,
    };
    let data: Vec<u8> = if !t.raw_data.is_empty() || count == 0 {
        if t.raw_data.len() as u128 != expected {
            return Err(mismatch(t.raw_data.len()));
        }
        t.raw_data.clone()
    } else {
        // Typed fields: compare counts before allocating the widened bytes.
        let typed_count = |n: usize| if n == count { Ok(()) } else { Err(mismatch(n * elem)) };
        match t.data_type {
            1 => {
                typed_count(t.float_data.len())?;
                t.float_data.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
            2 | 3 | 4 | 5 | 6 | 9 | 10 | 16 => {
                typed_count(t.int32_data.len())?;
                let (lo, hi): (i64, i64) = match t.data_type {
                    2 => (0, 255),
                    3 => (-128, 127),
                    4 | 10 | 16 => (0, 65535),
                    5 => (-32768, 32767),
                    9 => (0, 1),
                    _ => (i32::MIN as i64, i32::MAX as i64),
                };
                let mut out = Vec::with_capacity(count * elem);
                for &v in &t.int32_data {
                    if (v as i64) < lo || (v as i64) > hi {
                        return Err(bad(format!("value {v} in int32_data does not fit element type {}", t.data_type)));
                    }
                    out.extend_from_slice(&v.to_le_bytes()[..elem]);
                }
                out
            }
            7 => {
                typed_count(t.int64_data.len())?;
                t.int64_data.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
            11 => {
                typed_count(t.double_data.len())?;
                t.double_data.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
            12 | 13 => {
                typed_count(t.uint64_data.len())?;
                t.uint64_data.iter().flat_map(|x| x.to_le_bytes()[..elem].to_vec()).collect()
            }
            _ => return Err(mismatch(0)),
        }
    };
    Ok(Const { name, dims, dtype, elem, data })
}

// ---------------------------------------------------------------------------------------------
// Attributes.

fn attr<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}
fn attr_i(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map(|a| a.i).unwrap_or(default)
}
fn attr_f(node: &NodeProto, name: &str) -> Option<f32> {
    attr(node, name).map(|a| a.f)
}
fn attr_ints<'n>(node: &'n NodeProto, name: &str) -> Option<&'n [i64]> {
    attr(node, name).map(|a| a.ints.as_slice())
}
fn attr_s(node: &NodeProto, name: &str) -> Option<String> {
    attr(node, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

/// Normalise a possibly negative axis for `rank`.
fn norm_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r).contains(&a).then_some(a as usize)
}

/// Activation of a Relu or a Clip with range `[lo, hi]`, if the IR has one for it.
fn clip_activation(lo: f64, hi: f64) -> Option<Activation> {
    if lo == 0.0 && hi == 6.0 {
        Some(Activation::Relu6)
    } else if lo == 0.0 && hi == f64::INFINITY {
        Some(Activation::Relu)
    } else if lo == -1.0 && hi == 1.0 {
        Some(Activation::ReluN1To1)
    } else {
        None
    }
}

/// What follows an op's output and folds into it.
#[derive(Debug, Clone)]
struct Tail {
    activation: Activation,
    /// The Relu/Clip node folded in, if any.
    act_node: Option<usize>,
    /// Name of the value after the activation (the op's own output when there is none).
    real_name: String,
    /// The QuantizeLinear that follows, with its parameters and output name.
    q: Option<(usize, QParams, String)>,
}

/// An op ready to be added: what the converters return. `None` from a converter means "the IR
/// cannot express this": the node becomes an opaque op.
struct Emit {
    kind: OpKind,
    inputs: Vec<TensorId>,
    /// ONNX shape and layout of the (single) output.
    shape: Vec<usize>,
    layout: Layout,
    /// Output type when not quantised by a tail (float ops: Float32; order-only ops: the input's).
    dtype: DType,
    quant: Option<Quant>,
}

struct Builder<'g> {
    graph: Graph,
    /// ONNX shape and layout of every IR tensor, by id.
    info: Vec<(Vec<usize>, Layout)>,
    values: HashMap<String, Value>,
    nodes: &'g [NodeProto],
    order: Vec<usize>,
    consumers: HashMap<&'g str, Vec<usize>>,
    graph_outputs: HashSet<&'g str>,
    done: Vec<bool>,
    value_info: HashMap<&'g str, &'g proto::ValueInfoProto>,
    dequantized: HashMap<TensorId, TensorId>,
    opset: i64,
    /// Bytes of constant data the IR may still receive. Transposed and dequantised copies of
    /// the file's constants are made per op; a hostile file could make thousands of ops share
    /// one large initializer, so the total is bounded by a multiple of the file size.
    const_budget: u64,
}

impl<'g> Builder<'g> {
    fn new(g: &'g GraphProto, opset: i64, const_budget: u64) -> Result<Self> {
        let nodes = g.node.as_slice();
        let mut b = Builder {
            graph: Graph { name: g.name.clone(), tensors: Vec::new(), ops: Vec::new(), inputs: Vec::new(), outputs: Vec::new(), format: Format::Onnx },
            info: Vec::new(),
            values: HashMap::new(),
            nodes,
            order: Vec::new(),
            consumers: HashMap::new(),
            graph_outputs: g.output.iter().map(|o| o.name.as_str()).collect(),
            done: vec![false; nodes.len()],
            value_info: g.value_info.iter().chain(&g.output).map(|v| (v.name.as_str(), v)).collect(),
            dequantized: HashMap::new(),
            opset,
            const_budget,
        };
        for (i, t) in g.initializer.iter().enumerate() {
            let c = decode_tensor(t, i)?;
            b.values.insert(t.name.clone(), Value::Const(Rc::new(c)));
        }
        for (k, n) in nodes.iter().enumerate() {
            let mut seen = HashSet::new();
            for i in n.input.iter().filter(|i| !i.is_empty()) {
                if seen.insert(i.as_str()) {
                    b.consumers.entry(i.as_str()).or_default().push(k);
                }
            }
        }
        b.order = topo_order(g)?;
        Ok(b)
    }

    /// Node `k`, borrowed from the decoded model rather than from `self`.
    fn node(&self, k: usize) -> &'g NodeProto {
        &self.nodes[k]
    }

    fn bad_op(&self, k: usize, reason: impl Into<String>) -> ImportError {
        let n = self.node(k);
        let label = if n.name.is_empty() { n.op_type.clone() } else { format!("{} \"{}\"", n.op_type, n.name) };
        ImportError::BadOp { op: k, op_name: label, reason: reason.into() }
    }

    fn add_tensor(&mut self, name: &str, onnx_shape: Vec<usize>, layout: Layout, dtype: DType, quant: Option<Quant>, data: Option<Vec<u8>>) -> Result<TensorId> {
        let id = self.graph.tensors.len();
        let shape = ir_shape(&onnx_shape, layout);
        let as_i64: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        checked_elements(&as_i64, id, name)?;
        if let Some(d) = &data {
            self.const_budget = self.const_budget.checked_sub(d.len() as u64).ok_or_else(|| {
                ImportError::Unsupported(format!("constant \"{name}\": the model's constants grow past 8 times the file size once laid out (many ops sharing one large initializer?)"))
            })?;
        }
        self.graph.tensors.push(Tensor { name: name.into(), shape, dtype, quant, data });
        self.info.push((onnx_shape, layout));
        Ok(id)
    }

    fn run(&mut self, g: &'g GraphProto) -> Result<()> {
        // Graph inputs (initializers listed as inputs by old exporters are constants, not inputs).
        for (index, vi) in g.input.iter().enumerate() {
            if self.values.contains_key(&vi.name) {
                continue;
            }
            let (dtype, shape) = self.input_type(vi, index)?;
            let layout = if shape.len() == 4 { Layout::Nhwc } else { Layout::Plain };
            let id = self.add_tensor(&vi.name, shape, layout, dtype, None, None)?;
            self.graph.inputs.push(id);
            self.values.insert(vi.name.clone(), Value::Act(id));
        }
        let order = self.order.clone();
        // Constants first: Clip bounds, Reshape shapes and QDQ weights are often produced by
        // Constant / Identity / DequantizeLinear nodes that come after the op that would fold
        // them; evaluating them up front lets every op see its constant operands.
        for &k in &order {
            self.fold_constant(k)?;
        }
        for &k in &order {
            if !self.done[k] {
                self.done[k] = true;
                self.convert(k)?;
            }
        }
        for (index, vi) in g.output.iter().enumerate() {
            let v = self.values.get(&vi.name).cloned().ok_or(ImportError::BadGraphIo { which: "output", index, tensor: -1 })?;
            let id = match v {
                Value::Act(id) => {
                    let (shape, layout) = self.info[id].clone();
                    if !onnx_ordered(&shape, layout) && layout != Layout::Nhwc {
                        return Err(ImportError::Unsupported(format!(
                            "graph output \"{}\" is the flatten of an NHWC tensor; its element order would differ from the file's",
                            vi.name
                        )));
                    }
                    id
                }
                Value::DqAct(id) => self.dequantize(id, Some(&vi.name))?,
                Value::Const(c) => self.const_tensor(&c, Layout::Plain)?,
                Value::DqConst(c) => {
                    let f = c.dequantized().ok_or_else(|| ImportError::Unsupported(format!("graph output \"{}\": cannot dequantise", vi.name)))?;
                    self.const_tensor(&f, Layout::Plain)?
                }
            };
            // Outputs keep the file's names even when an activation was fused into their producer.
            self.graph.tensors[id].name = vi.name.clone();
            self.graph.outputs.push(id);
        }
        Ok(())
    }

    /// Element type and shape of a graph input. A symbolic batch dimension is read as 1.
    fn input_type(&self, vi: &proto::ValueInfoProto, index: usize) -> Result<(DType, Vec<usize>)> {
        let bad = |reason: String| ImportError::BadTensor { tensor: index, name: vi.name.clone(), reason };
        let Some(proto::type_proto::Value::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
            return Err(bad("graph input is not a tensor".into()));
        };
        let shape = t.shape.as_ref().ok_or_else(|| bad("graph input has no shape".into()))?;
        let mut dims = Vec::with_capacity(shape.dim.len().min(9));
        for (i, d) in shape.dim.iter().enumerate() {
            match d.value {
                Some(proto::tensor_shape_proto::dimension::Value::DimValue(v)) => dims.push(v),
                _ if i == 0 => dims.push(1),
                _ => return Err(bad(format!("dimension {i} is symbolic; export the model with a fixed input shape"))),
            }
            if dims.len() > 8 {
                break;
            }
        }
        let dims = checked_elements(&dims, index, &vi.name)?;
        Ok((onnx_dtype(t.elem_type).0, dims))
    }

    /// Evaluate node `k` now if it only computes a constant: Constant, Identity of a constant,
    /// DequantizeLinear of a constant.
    fn fold_constant(&mut self, k: usize) -> Result<()> {
        let n = self.node(k);
        if !(n.domain.is_empty() || n.domain == "ai.onnx") {
            return Ok(());
        }
        let out = match n.output.first() {
            Some(o) if !o.is_empty() => o.clone(),
            _ => return Ok(()),
        };
        let value = match n.op_type.as_str() {
            "Constant" => {
                let name = &out;
                let c = if let Some(t) = attr(n, "value").and_then(|a| a.t.as_ref()) {
                    let mut c = decode_tensor(t, k)?;
                    c.name = name.clone();
                    c
                } else if let Some(f) = attr_f(n, "value_float").filter(|_| attr(n, "value_float").is_some()) {
                    Const::from_f32(name, vec![], &[f])
                } else if let Some(a) = attr(n, "value_floats") {
                    Const::from_f32(name, vec![a.floats.len()], &a.floats)
                } else if let Some(a) = attr(n, "value_int") {
                    Const { name: name.clone(), dims: vec![], dtype: DType::Int64, elem: 8, data: a.i.to_le_bytes().to_vec() }
                } else if let Some(a) = attr(n, "value_ints") {
                    Const { name: name.clone(), dims: vec![a.ints.len()], dtype: DType::Int64, elem: 8, data: a.ints.iter().flat_map(|x| x.to_le_bytes()).collect() }
                } else {
                    return Ok(()); // sparse or string constants: left for the opaque path
                };
                Value::Const(Rc::new(c))
            }
            "Identity" => match self.values.get(n.input.first().map(String::as_str).unwrap_or("")) {
                Some(v @ (Value::Const(_) | Value::DqConst(_))) => v.clone(),
                _ => return Ok(()),
            },
            "DequantizeLinear" => match self.values.get(n.input.first().map(String::as_str).unwrap_or("")) {
                Some(Value::Const(c)) => {
                    let c = c.clone();
                    let Some(params) = self.qparams(k, c.dims.len())? else { return Ok(()) };
                    if c.dtype != params.dtype || c.ints().is_none() {
                        return Ok(());
                    }
                    if !params.per_tensor() && c.dims.get(params.axis) != Some(&params.scale.len()) {
                        return Err(self.bad_op(k, format!("{} scales for axis {} of shape {:?}", params.scale.len(), params.axis, c.dims)));
                    }
                    Value::DqConst(Rc::new(DqConst { q: c, params }))
                }
                _ => return Ok(()),
            },
            _ => return Ok(()),
        };
        self.define(k, &out, value)?;
        self.done[k] = true;
        Ok(())
    }

    fn define(&mut self, k: usize, name: &str, v: Value) -> Result<()> {
        if self.values.insert(name.to_string(), v).is_some() {
            return Err(self.bad_op(k, format!("output \"{name}\" is already defined by another node, an initializer or a graph input")));
        }
        Ok(())
    }

    /// The value of input `i` of node `k` (`None` for an absent optional input).
    fn input(&self, k: usize, i: usize) -> Result<Option<Value>> {
        let n = self.node(k);
        match n.input.get(i) {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => self.values.get(s).cloned().map(Some).ok_or_else(|| ImportError::MissingTensor { op: k, op_name: n.op_type.clone(), tensor: s.clone() }),
        }
    }

    fn const_input(&self, k: usize, i: usize) -> Result<Option<Rc<Const>>> {
        Ok(match self.input(k, i)? {
            Some(Value::Const(c)) => Some(c),
            _ => None,
        })
    }

    /// Scale / zero point / axis of a QuantizeLinear or DequantizeLinear node whose data input
    /// has rank `rank`. `None` when they are not constants.
    fn qparams(&self, k: usize, rank: usize) -> Result<Option<QParams>> {
        let Some(scale) = self.const_input(k, 1)? else { return Ok(None) };
        let Some(scale_v) = scale.f32s() else { return Ok(None) };
        if scale_v.is_empty() || scale.dims.len() > 1 {
            return Err(self.bad_op(k, format!("scale must be a scalar or 1-D, got shape {:?}", scale.dims)));
        }
        if scale_v.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(self.bad_op(k, "a quantisation scale is zero, negative or not finite"));
        }
        let (zero_point, dtype) = match self.input(k, 2)? {
            None => (vec![0; scale_v.len()], DType::UInt8),
            Some(Value::Const(z)) => {
                let Some(zv) = z.ints() else { return Ok(None) };
                if zv.len() != scale_v.len() {
                    return Err(self.bad_op(k, format!("{} scales but {} zero points", scale_v.len(), zv.len())));
                }
                (zv, z.dtype)
            }
            Some(_) => return Ok(None),
        };
        let axis = if scale_v.len() > 1 {
            norm_axis(attr_i(&self.nodes[k], "axis", 1), rank).ok_or_else(|| self.bad_op(k, format!("axis out of range for rank {rank}")))?
        } else {
            0
        };
        Ok(Some(QParams { scale: scale_v, zero_point, axis, dtype }))
    }

    /// The single consumer of `name`, if it has exactly one and is not a graph output.
    fn sole_consumer(&self, name: &str) -> Option<usize> {
        if self.graph_outputs.contains(name) {
            return None;
        }
        match self.consumers.get(name).map(Vec::as_slice) {
            Some([c]) if !self.done[*c] => Some(*c),
            _ => None,
        }
    }

    /// Relu / Clip(0, 6) / QuantizeLinear nodes that follow op `k` and can fold into it.
    fn tail(&self, k: usize, fuse_activation: bool) -> Result<Tail> {
        let out = self.nodes[k].output[0].clone();
        let mut t = Tail { activation: Activation::None, act_node: None, real_name: out.clone(), q: None };
        if fuse_activation {
            if let Some(c) = self.sole_consumer(&out) {
                if self.node(c).input.first() == Some(&out) && self.node(c).output.len() == 1 {
                    if let Some(a) = self.activation_of(c)? {
                        t.activation = a;
                        t.act_node = Some(c);
                        t.real_name = self.nodes[c].output[0].clone();
                    }
                }
            }
        }
        if let Some(c) = self.sole_consumer(&t.real_name) {
            let n = self.node(c);
            if n.op_type == "QuantizeLinear" && n.domain.is_empty() && n.input.first() == Some(&t.real_name) && n.output.len() == 1 {
                if let Some(p) = self.qparams(c, 4)? {
                    if p.per_tensor() && matches!(p.dtype, DType::Int8 | DType::UInt8 | DType::Int16) {
                        t.q = Some((c, p, n.output[0].clone()));
                    }
                }
            }
        }
        Ok(t)
    }

    /// The fused activation a Relu or Clip node `c` stands for, if the IR has one.
    fn activation_of(&self, c: usize) -> Result<Option<Activation>> {
        let n = self.node(c);
        if !n.domain.is_empty() {
            return Ok(None);
        }
        match n.op_type.as_str() {
            "Relu" => Ok(Some(Activation::Relu)),
            "Clip" => Ok(self.clip_range(c)?.and_then(|(lo, hi)| clip_activation(lo, hi))),
            _ => Ok(None),
        }
    }

    /// `[min, max]` of a Clip: inputs 1 and 2 from opset 11, attributes before.
    fn clip_range(&self, c: usize) -> Result<Option<(f64, f64)>> {
        let n = self.node(c);
        let mut lo = f64::NEG_INFINITY;
        let mut hi = f64::INFINITY;
        if self.opset < 11 {
            if let Some(v) = attr_f(n, "min").filter(|_| attr(n, "min").is_some()) {
                lo = v as f64;
            }
            if let Some(v) = attr_f(n, "max").filter(|_| attr(n, "max").is_some()) {
                hi = v as f64;
            }
            return Ok(Some((lo, hi)));
        }
        for (i, slot) in [(1, &mut lo), (2, &mut hi)] {
            match self.input(c, i)? {
                None => {}
                Some(Value::Const(k)) => match k.reals().as_deref() {
                    Some([v]) => *slot = *v,
                    _ => return Ok(None),
                },
                Some(_) => return Ok(None),
            }
        }
        Ok(Some((lo, hi)))
    }

    /// An IR tensor holding constant `c` in `layout` (rank < 4 constants broadcast against an
    /// NHWC operand are first padded to rank 4, as ONNX broadcasting aligns trailing axes).
    fn const_tensor(&mut self, c: &Const, layout: Layout) -> Result<TensorId> {
        self.const_tensor_q(c, layout, None)
    }

    fn const_tensor_q(&mut self, c: &Const, layout: Layout, quant: Option<Quant>) -> Result<TensorId> {
        if layout == Layout::Nhwc && c.dims.len() <= 4 {
            let mut dims = vec![1usize; 4 - c.dims.len()];
            dims.extend_from_slice(&c.dims);
            let data = transpose(&c.data, c.elem, &dims, &[0, 2, 3, 1]);
            return self.add_tensor(&c.name, dims, Layout::Nhwc, c.dtype, quant, Some(data));
        }
        self.add_tensor(&c.name, c.dims.clone(), Layout::Plain, c.dtype, quant, Some(c.data.clone()))
    }

    /// A float IR tensor with the real values of quantised tensor `id` (a DEQUANTIZE op, made
    /// once per tensor; `name` forces a fresh one with that name, for graph outputs).
    fn dequantize(&mut self, id: TensorId, name: Option<&str>) -> Result<TensorId> {
        if name.is_none() {
            if let Some(&f) = self.dequantized.get(&id) {
                return Ok(f);
            }
        }
        let (shape, layout) = self.info[id].clone();
        let tname = name.map(str::to_string).unwrap_or_else(|| format!("{}/dequantized", self.graph.tensors[id].name));
        let out = self.add_tensor(&tname, shape, layout, DType::Float32, None, None)?;
        self.graph.ops.push(Op { kind: OpKind::Dequantize, inputs: vec![id], outputs: vec![out], name: tname });
        if name.is_none() {
            self.dequantized.insert(id, out);
        }
        Ok(out)
    }

    /// The IR tensor holding the ONNX value `v` as-is (DEQUANTIZE for a quantised view).
    fn materialize(&mut self, v: &Value, layout: Layout) -> Result<TensorId> {
        match v {
            Value::Act(id) => Ok(*id),
            Value::DqAct(id) => self.dequantize(*id, None),
            Value::Const(c) => self.const_tensor(c, layout),
            Value::DqConst(c) => match c.dequantized() {
                Some(f) => self.const_tensor(&f, layout),
                None => Err(ImportError::Unsupported(format!("cannot dequantise constant \"{}\"", c.q.name))),
            },
        }
    }

    /// ONNX shape, layout and IR dtype of an activation value.
    fn act_info(&self, v: &Value) -> Option<(Vec<usize>, Layout, DType)> {
        match v {
            Value::Act(id) => Some((self.info[*id].0.clone(), self.info[*id].1, self.graph.tensors[*id].dtype)),
            Value::DqAct(id) => Some((self.info[*id].0.clone(), self.info[*id].1, DType::Float32)),
            _ => None,
        }
    }

    // -----------------------------------------------------------------------------------------

    fn convert(&mut self, k: usize) -> Result<()> {
        let n = self.node(k);
        // Every input must exist, whatever the op (the error names the first missing one).
        for i in 0..n.input.len() {
            self.input(k, i)?;
        }
        // Converters name their result after output 0; a node without one is only shown.
        if !(n.domain.is_empty() || n.domain == "ai.onnx") || n.output.first().is_none_or(|o| o.is_empty()) {
            return self.opaque(k);
        }
        let op_type = n.op_type.clone();
        let emitted = match op_type.as_str() {
            "Identity" | "Dropout" => {
                if n.output.iter().skip(1).any(|o| !o.is_empty() && self.consumers.contains_key(o.as_str())) {
                    None
                } else {
                    let v = self.input(k, 0)?.ok_or_else(|| self.bad_op(k, "no input"))?;
                    let out = n.output.first().cloned().unwrap_or_default();
                    return self.define(k, &out, v);
                }
            }
            "QuantizeLinear" => return self.quantize_linear(k),
            "DequantizeLinear" => return self.dequantize_linear(k),
            "Gather" | "Unsqueeze" | "Squeeze" | "Concat" | "Cast" | "Slice" if self.shape_operands(k)? => {
                if let Some(c) = self.fold_shape_op(k)? {
                    let out = n.output[0].clone();
                    return self.define(k, &out, Value::Const(Rc::new(c)));
                }
                None
            }
            "Shape" => {
                let v = self.input(k, 0)?.ok_or_else(|| self.bad_op(k, "no input"))?;
                match self.act_info(&v) {
                    Some((shape, _, _)) if attr(n, "start").is_none() && attr(n, "end").is_none() => {
                        let c = Const {
                            name: n.output[0].clone(),
                            dims: vec![shape.len()],
                            dtype: DType::Int64,
                            elem: 8,
                            data: shape.iter().flat_map(|&d| (d as i64).to_le_bytes()).collect(),
                        };
                        let out = n.output[0].clone();
                        return self.define(k, &out, Value::Const(Rc::new(c)));
                    }
                    _ => None,
                }
            }
            "Conv" => self.conv(k)?,
            "Gemm" | "MatMul" => self.gemm(k)?,
            "Add" => self.add(k)?,
            "MaxPool" | "AveragePool" => self.pool(k)?,
            "GlobalAveragePool" => self.global_avg_pool(k)?,
            "Flatten" | "Reshape" => self.reshape(k)?,
            "Softmax" => self.softmax(k)?,
            "Sigmoid" => self.unary(k, OpKind::Logistic)?,
            "Relu" => self.unary(k, OpKind::Relu)?,
            "Clip" => match self.clip_range(k)? {
                Some((lo, hi)) if clip_activation(lo, hi) == Some(Activation::Relu6) => self.unary(k, OpKind::Relu6)?,
                Some((lo, hi)) if clip_activation(lo, hi) == Some(Activation::Relu) => self.unary(k, OpKind::Relu)?,
                _ => None,
            },
            "Concat" => self.concat(k)?,
            "Pad" => self.pad(k)?,
            _ => None,
        };
        match emitted {
            Some((e, tail)) => self.emit(k, e, tail),
            None => self.opaque(k),
        }
    }

    /// Add the op: output tensor typed by the tail's QuantizeLinear when the op is quantised.
    fn emit(&mut self, k: usize, e: Emit, tail: Tail) -> Result<()> {
        let n = self.node(k);
        let (dtype, quant) = match &tail.q {
            Some((_, p, _)) => (p.dtype, Some(p.quant(0))),
            None => (e.dtype, e.quant),
        };
        // The shape is inferred here; where the file also declares one (value_info), they must
        // agree, or the file (or this importer) is wrong and nothing downstream can be trusted.
        for name in std::iter::once(&n.output[0]).chain(tail.act_node.map(|_| &tail.real_name)).chain(tail.q.as_ref().map(|q| &q.2)) {
            if let Some((_, declared)) = self.declared(name) {
                if declared != e.shape {
                    return Err(self.bad_op(k, format!("output \"{name}\" has shape {:?} here but the file declares {declared:?}", e.shape)));
                }
            }
        }
        let out = self.add_tensor(&tail.real_name, e.shape, e.layout, dtype, quant, None)?;
        let kind = set_activation(e.kind, tail.activation);
        let name = if n.name.is_empty() { n.output.first().cloned().unwrap_or_default() } else { n.name.clone() };
        self.graph.ops.push(Op { kind, inputs: e.inputs, outputs: vec![out], name });
        if let Some(a) = tail.act_node {
            self.done[a] = true;
        }
        match tail.q {
            Some((qk, _, qname)) => {
                self.done[qk] = true;
                self.define(qk, &qname, Value::Act(out))
            }
            None => {
                let last = tail.act_node.unwrap_or(k);
                let name = self.nodes[last].output[0].clone();
                self.define(last, &name, Value::Act(out))
            }
        }
    }

    /// Keep node `k` as an opaque op so the graph still shows it. Output shapes come from the
    /// file's value_info when it has them, else from the first activation input (a guess: the
    /// op can be neither planned nor run anyway).
    fn opaque(&mut self, k: usize) -> Result<()> {
        let n = self.node(k);
        let mut inputs = Vec::new();
        let mut first: Option<(Vec<usize>, Layout, DType)> = None;
        for i in 0..n.input.len() {
            let Some(v) = self.input(k, i)? else { continue };
            let id = match &v {
                // Show the tensor the op actually reads, without adding a DEQUANTIZE for it.
                Value::Act(id) | Value::DqAct(id) => *id,
                Value::Const(c) => self.const_tensor(c, Layout::Plain)?,
                Value::DqConst(c) => self.const_tensor(&c.q, Layout::Plain)?,
            };
            if first.is_none() && !self.graph.tensors[id].is_constant() {
                first = Some((self.info[id].0.clone(), self.info[id].1, self.graph.tensors[id].dtype));
            }
            inputs.push(id);
        }
        let mut outputs = Vec::new();
        for o in n.output.iter().filter(|o| !o.is_empty()).cloned().collect::<Vec<_>>() {
            let (shape, layout, dtype) = match self.declared(&o) {
                Some((dt, shape)) => {
                    let layout = if shape.len() == 4 { Layout::Nhwc } else { Layout::Plain };
                    (shape, layout, dt)
                }
                None => first.clone().unwrap_or((vec![1], Layout::Plain, DType::Other)),
            };
            let id = self.add_tensor(&o, shape, layout, dtype, None, None)?;
            self.define(k, &o, Value::Act(id))?;
            outputs.push(id);
        }
        let n = self.node(k);
        let name = if n.name.is_empty() { n.output.first().cloned().unwrap_or_default() } else { n.name.clone() };
        let op_name = if n.domain.is_empty() { n.op_type.clone() } else { format!("{}.{}", n.domain, n.op_type) };
        self.graph.ops.push(Op { kind: OpKind::Opaque { name: op_name }, inputs, outputs, name });
        Ok(())
    }

    /// Element type and static shape the file declares for value `name` (value_info / outputs).
    fn declared(&self, name: &str) -> Option<(DType, Vec<usize>)> {
        let vi = self.value_info.get(name)?;
        let Some(proto::type_proto::Value::TensorType(t)) = vi.r#type.as_ref()?.value.as_ref() else { return None };
        let mut dims = Vec::new();
        for d in &t.shape.as_ref()?.dim {
            match d.value {
                Some(proto::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 && v <= 1 << 28 => dims.push(v as usize),
                _ => return None,
            }
            if dims.len() > 8 {
                return None;
            }
        }
        Some((onnx_dtype(t.elem_type).0, dims))
    }

    // ----------------------------------------------------------------------------- QDQ nodes

    fn quantize_linear(&mut self, k: usize) -> Result<()> {
        let out = self.nodes[k].output.first().cloned().unwrap_or_default();
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let rank = match &x {
            Value::Const(c) => c.dims.len(),
            v => self.act_info(v).map(|i| i.0.len()).unwrap_or(0),
        };
        let Some(p) = self.qparams(k, rank)? else { return self.opaque(k) };
        let Some((lo, hi)) = p.range() else { return self.opaque(k) };
        match x {
            Value::Const(c) => {
                // Quantise a float constant now (rare: exporters store weights already quantised).
                let Some(reals) = c.reals() else { return self.opaque(k) };
                let inner: usize = c.dims.get(p.axis + 1..).map(|d| d.iter().product()).unwrap_or(1);
                let size = p.dtype.size().unwrap_or(1);
                let mut data = Vec::with_capacity(reals.len() * size);
                for (i, r) in reals.iter().enumerate() {
                    let ch = if p.per_tensor() { 0 } else { (i / inner) % p.scale.len() };
                    let q = quantize_value(r / p.scale[ch] as f64 + p.zero_point[ch] as f64, lo, hi);
                    data.extend_from_slice(&q.to_le_bytes()[..size]);
                }
                let q = Const { name: out.clone(), dims: c.dims.clone(), dtype: p.dtype, elem: size, data };
                self.define(k, &out, Value::Const(Rc::new(q)))
            }
            Value::Act(id) | Value::DqAct(id) if p.per_tensor() => {
                let src_quant = self.graph.tensors[id].quant.clone();
                if matches!(x, Value::DqAct(_)) && src_quant.as_ref() == Some(&p.quant(0)) && self.graph.tensors[id].dtype == p.dtype {
                    // DequantizeLinear -> QuantizeLinear with the same parameters: the identity.
                    return self.define(k, &out, Value::Act(id));
                }
                if matches!(x, Value::Act(_)) && self.graph.tensors[id].dtype != DType::Float32 {
                    return self.opaque(k);
                }
                // QUANTIZE reads a float tensor, or requantises an int8 one (the DqAct case).
                let (shape, layout) = self.info[id].clone();
                let q = self.add_tensor(&out, shape, layout, p.dtype, Some(p.quant(0)), None)?;
                let name = if self.nodes[k].name.is_empty() { out.clone() } else { self.nodes[k].name.clone() };
                self.graph.ops.push(Op { kind: OpKind::Quantize, inputs: vec![id], outputs: vec![q], name });
                self.define(k, &out, Value::Act(q))
            }
            _ => self.opaque(k),
        }
    }

    /// Whether every input of node `k` is a small integer constant: the shape arithmetic
    /// (`Shape -> Gather -> Unsqueeze -> Concat -> Reshape`) exporters emit for `x.view(n, -1)`.
    fn shape_operands(&self, k: usize) -> Result<bool> {
        let n = self.node(k);
        let mut any = false;
        for i in 0..n.input.len() {
            match self.input(k, i)? {
                None => {}
                Some(Value::Const(c)) if c.dims.len() <= 1 && c.count() <= SHAPE_CONST_MAX && c.ints().is_some() => any = true,
                Some(_) => return Ok(false),
            }
        }
        Ok(any)
    }

    /// Evaluate a shape-arithmetic node over small integer constants (see [`Self::shape_operands`]).
    /// The result is an int64 constant of rank <= 1; `None` for forms not handled here.
    fn fold_shape_op(&self, k: usize) -> Result<Option<Const>> {
        let n = self.node(k);
        let ints = |i: usize| -> Result<Option<(Vec<usize>, Vec<i64>)>> {
            Ok(match self.input(k, i)? {
                Some(Value::Const(c)) => c.ints().map(|v| (c.dims.clone(), v)),
                _ => None,
            })
        };
        let Some((dims0, v0)) = ints(0)? else { return Ok(None) };
        let (dims, vals): (Vec<usize>, Vec<i64>) = match n.op_type.as_str() {
            "Gather" => {
                let Some((idims, idx)) = ints(1)? else { return Ok(None) };
                if dims0.len() != 1 || attr_i(n, "axis", 0) != 0 {
                    return Ok(None);
                }
                let mut out = Vec::with_capacity(idx.len());
                for &i in &idx {
                    let j = if i < 0 { i + v0.len() as i64 } else { i };
                    if !(0..v0.len() as i64).contains(&j) {
                        return Err(self.bad_op(k, format!("index {i} out of range for {} elements", v0.len())));
                    }
                    out.push(v0[j as usize]);
                }
                (idims, out)
            }
            "Unsqueeze" => {
                // Axes from opset 13 are an input, before an attribute; rank 0 -> 1 is all we need.
                let axes: Vec<i64> = match ints(1)? {
                    Some((_, a)) => a,
                    None => attr_ints(n, "axes").map(<[i64]>::to_vec).unwrap_or_default(),
                };
                if !dims0.is_empty() || axes.len() != 1 || !(axes[0] == 0 || axes[0] == -1) {
                    return Ok(None);
                }
                (vec![1], v0)
            }
            "Squeeze" => {
                if dims0 != [1] {
                    return Ok(None);
                }
                (vec![], v0)
            }
            "Cast" => (dims0, v0),
            "Concat" => {
                let mut out = v0;
                for i in 1..n.input.len() {
                    match ints(i)? {
                        Some((d, v)) if d.len() == 1 => out.extend(v),
                        None if n.input[i].is_empty() => {}
                        _ => return Ok(None),
                    }
                }
                if dims0.len() != 1 || out.len() > SHAPE_CONST_MAX {
                    return Ok(None);
                }
                (vec![out.len()], out)
            }
            "Slice" => {
                let (Some((_, starts)), Some((_, ends))) = (ints(1)?, ints(2)?) else { return Ok(None) };
                let step = match ints(4)? {
                    Some((_, s)) if s.as_slice() == [1] => 1,
                    None => 1,
                    _ => return Ok(None),
                };
                let axes_ok = match ints(3)? {
                    Some((_, a)) => a.as_slice() == [0] || a.as_slice() == [-1],
                    None => true,
                };
                if dims0.len() != 1 || starts.len() != 1 || ends.len() != 1 || !axes_ok || step != 1 {
                    return Ok(None);
                }
                let len = v0.len() as i64;
                let clampi = |x: i64| if x < 0 { (x + len).max(0) } else { x.min(len) };
                let (a, b) = (clampi(starts[0]) as usize, clampi(ends[0]) as usize);
                let out: Vec<i64> = if a < b { v0[a..b].to_vec() } else { Vec::new() };
                (vec![out.len()], out)
            }
            _ => return Ok(None),
        };
        if n.op_type == "Cast" && attr_i(n, "to", 0) != 7 {
            return Ok(None); // only casts to int64 keep the values exact
        }
        let name = n.output[0].clone();
        Ok(Some(Const { name, dims, dtype: DType::Int64, elem: 8, data: vals.iter().flat_map(|v| v.to_le_bytes()).collect() }))
    }

    fn dequantize_linear(&mut self, k: usize) -> Result<()> {
        let out = self.nodes[k].output.first().cloned().unwrap_or_default();
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Value::Act(id) = x else { return self.opaque(k) };
        let rank = self.info[id].0.len();
        let Some(p) = self.qparams(k, rank)? else { return self.opaque(k) };
        if !p.per_tensor() || self.graph.tensors[id].dtype != p.dtype {
            return self.opaque(k);
        }
        match self.graph.tensors[id].quant.clone() {
            None => self.graph.tensors[id].quant = Some(p.quant(0)),
            Some(q) if q == p.quant(0) => {}
            // The tensor already carries other parameters (two DequantizeLinear nodes reading it
            // with different scales): the IR has one quantisation per tensor.
            Some(_) => return self.opaque(k),
        }
        self.define(k, &out, Value::DqAct(id))
    }

    // ----------------------------------------------------------------------------- operators

    /// Resolve the window attributes of a Conv or pool over input `[h, w]` with kernel `[kh, kw]`.
    /// `Ok(None)` when valid but not expressible; errors for malformed attributes.
    fn window(&self, k: usize, hw: [usize; 2], kernel: [usize; 2], allow_dilation: bool) -> Result<Option<(Window, [usize; 2])>> {
        let n = self.node(k);
        let pair = |name: &str, default: i64, lo: i64| -> Result<[usize; 2]> {
            match attr_ints(n, name) {
                None => Ok([default as usize; 2]),
                Some([a, b]) if (lo..=MAX_WINDOW_INT).contains(a) && (lo..=MAX_WINDOW_INT).contains(b) => Ok([*a as usize, *b as usize]),
                Some(v) => Err(self.bad_op(k, format!("attribute {name} = {v:?}: need two values in {lo}..={MAX_WINDOW_INT}"))),
            }
        };
        let stride = pair("strides", 1, 1)?;
        let dilation = pair("dilations", 1, 1)?;
        if !allow_dilation && dilation != [1, 1] {
            return Ok(None);
        }
        if kernel.iter().any(|&x| x == 0 || x as i64 > MAX_WINDOW_INT) {
            return Err(self.bad_op(k, format!("kernel {kernel:?} out of range")));
        }
        // Keep the padding arithmetic far from usize overflow on 32-bit targets.
        for i in 0..2 {
            let eff = (kernel[i] as u64 - 1) * dilation[i] as u64 + 1;
            if eff > 1 << 20 {
                return Err(self.bad_op(k, format!("kernel {kernel:?} with dilation {dilation:?} spans more than 2^20 pixels")));
            }
        }
        let pads = match attr_ints(n, "pads") {
            None => [0usize; 4],
            Some(p) if p.len() == 4 && p.iter().all(|x| (0..=MAX_WINDOW_INT).contains(x)) => [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize],
            Some(p) => return Err(self.bad_op(k, format!("attribute pads = {p:?}: need four values in 0..={MAX_WINDOW_INT}"))),
        };
        let auto_pad = attr_s(n, "auto_pad").unwrap_or_default();
        let fits = |p: Padding| -> Option<[usize; 2]> {
            let (_, oh) = p.resolve(0, hw[0], kernel[0], stride[0], dilation[0])?;
            let (_, ow) = p.resolve(1, hw[1], kernel[1], stride[1], dilation[1])?;
            Some([oh, ow])
        };
        let padding = match auto_pad.as_str() {
            "" | "NOTSET" => {
                // ONNX pads are [h_begin, w_begin, h_end, w_end].
                let explicit = Padding::Explicit { top: pads[0], left: pads[1], bottom: pads[2], right: pads[3] };
                if pads == [0; 4] {
                    Padding::Valid
                } else if same_pads(hw, kernel, stride, dilation) == Some(pads) {
                    // Identical to TFLite SAME (odd pixel at the end): say so, planners and
                    // kernels know SAME best.
                    Padding::Same
                } else {
                    explicit
                }
            }
            "VALID" => Padding::Valid,
            "SAME_UPPER" => Padding::Same,
            "SAME_LOWER" => match same_pads(hw, kernel, stride, dilation) {
                // SAME with the odd pixel at the beginning.
                Some([t, l, b, r]) => Padding::Explicit { top: b, left: r, bottom: t, right: l },
                None => return Ok(None),
            },
            other => return Err(self.bad_op(k, format!("auto_pad \"{other}\" is not NOTSET, SAME_UPPER, SAME_LOWER or VALID"))),
        };
        let Some(out) = fits(padding) else {
            return Err(self.bad_op(k, format!("window {kernel:?} (stride {stride:?}, dilation {dilation:?}) does not fit input {hw:?} with its padding")));
        };
        Ok(Some((Window { stride, dilation, padding }, out)))
    }

    fn conv(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let (Some(x), Some(w)) = (self.input(k, 0)?, self.input(k, 1)?) else { return Err(self.bad_op(k, "Conv needs an input and a filter")) };
        let bias = self.input(k, 2)?;
        let Some((xs, xl, xdt)) = self.act_info(&x) else { return Ok(None) };
        let wc: &Const = match &w {
            Value::Const(c) => c,
            Value::DqConst(d) => &d.q,
            _ => return Ok(None),
        };
        if xs.len() != 4 || wc.dims.len() != 4 || xl != Layout::Nhwc {
            return Ok(None); // 1-D and 3-D convolutions
        }
        let [m, cpg, kh, kw] = [wc.dims[0], wc.dims[1], wc.dims[2], wc.dims[3]];
        let c_in = xs[1];
        let group = attr_i(&self.nodes[k], "group", 1);
        if group < 1 || group as u64 > c_in as u64 || c_in % group as usize != 0 || m % group as usize != 0 || cpg * group as usize != c_in {
            return Err(self.bad_op(k, format!("group {group} does not divide input channels {c_in} / filter {:?}", wc.dims)));
        }
        let group = group as usize;
        if let Some(ks) = attr_ints(&self.nodes[k], "kernel_shape") {
            if ks != [kh as i64, kw as i64] {
                return Err(self.bad_op(k, format!("kernel_shape {ks:?} disagrees with filter shape {:?}", wc.dims)));
            }
        }
        let Some((window, [oh, ow])) = self.window(k, [xs[2], xs[3]], [kh, kw], true)? else { return Ok(None) };
        let depthwise = group > 1;
        if depthwise && !(group == c_in && m % c_in == 0) {
            return Ok(None); // grouped convolution: no IR op
        }
        if let Some(b) = &bias {
            let bd = match b {
                Value::Const(c) => &c.dims,
                Value::DqConst(d) => &d.q.dims,
                _ => return Ok(None),
            };
            if bd.as_slice() != [m] {
                return Err(self.bad_op(k, format!("bias shape {bd:?} is not [{m}]")));
            }
        }
        // OIHW -> OHWI for CONV_2D; [C*mult, 1, kh, kw] -> [1, kh, kw, C*mult] for depthwise. The
        // depthwise output channel index (g * mult + j) is the same in both formats.
        let (perm, wshape, qaxis): (&[usize], Vec<usize>, usize) = if depthwise { (&[1, 2, 3, 0], vec![1, kh, kw, m], 3) } else { (&[0, 2, 3, 1], vec![m, kh, kw, cpg], 0) };
        let kind = if depthwise {
            OpKind::DepthwiseConv2d { window, depth_multiplier: m / c_in, activation: Activation::None }
        } else {
            OpKind::Conv2d { window, activation: Activation::None }
        };
        let tail = self.tail(k, true)?;
        let shape = vec![xs[0], m, oh, ow];
        // Quantised: int8 input view, int8 weights (per-tensor or per-output-channel), Q after.
        let int8_out = matches!(&tail.q, Some((_, p, _)) if p.dtype == DType::Int8);
        if let (Value::DqAct(xid), Value::DqConst(wq), true) = (&x, &w, int8_out) {
            if let Some(e) = self.quantised_weights_op(k, *xid, wq, perm, &wshape, 0, qaxis, m, bias.as_ref(), kind.clone(), shape.clone(), Layout::Nhwc)? {
                return Ok(Some((e, tail)));
            }
        }
        if xdt != DType::Float32 {
            return Ok(None);
        }
        let wf = match &w {
            Value::Const(c) => (**c).clone(),
            Value::DqConst(d) => d.dequantized().ok_or_else(|| self.bad_op(k, "cannot dequantise the filter"))?,
            _ => return Ok(None),
        };
        if wf.dtype != DType::Float32 {
            return Ok(None);
        }
        let xid = self.materialize(&x, Layout::Nhwc)?;
        let wdata = transpose(&wf.data, 4, &wf.dims, perm);
        let wid = self.add_tensor(&wf.name, wshape, Layout::Plain, DType::Float32, None, Some(wdata))?;
        let mut inputs = vec![xid, wid];
        if let Some(b) = &bias {
            let Some(bid) = self.float_bias(b)? else { return Ok(None) };
            inputs.push(bid);
        }
        let tail = Tail { q: None, ..tail };
        Ok(Some((Emit { kind, inputs, shape, layout: Layout::Nhwc, dtype: DType::Float32, quant: None }, tail)))
    }

    fn float_bias(&mut self, b: &Value) -> Result<Option<TensorId>> {
        let c = match b {
            Value::Const(c) => (**c).clone(),
            Value::DqConst(d) => match d.dequantized() {
                Some(c) => c,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        if c.dtype != DType::Float32 {
            return Ok(None);
        }
        let n = c.count();
        Ok(Some(self.add_tensor(&c.name, vec![n], Layout::Plain, DType::Float32, None, Some(c.data))?))
    }

    /// The inputs of a quantised conv / fully connected op: the int8 input tensor, the int8
    /// weights transposed by `perm` into `wshape` (per-channel parameters moved from ONNX axis
    /// `onnx_axis` to IR axis `ir_axis`), and an int32 bias with scale `in_scale * w_scale`.
    /// `None` when the parameters are not of a form the IR's int8 kernels take.
    #[allow(clippy::too_many_arguments)]
    fn quantised_weights_op(
        &mut self,
        k: usize,
        xid: TensorId,
        wq: &DqConst,
        perm: &[usize],
        wshape: &[usize],
        onnx_axis: usize,
        ir_axis: usize,
        channels: usize,
        bias: Option<&Value>,
        kind: OpKind,
        shape: Vec<usize>,
        layout: Layout,
    ) -> Result<Option<Emit>> {
        let Some(xq) = self.graph.tensors[xid].quant.clone() else { return Ok(None) };
        let p = &wq.params;
        if xq.scale.len() != 1 || self.graph.tensors[xid].dtype != DType::Int8 || wq.q.dtype != DType::Int8 || !(p.per_tensor() || (p.axis == onnx_axis && p.scale.len() == channels)) {
            return Ok(None);
        }
        let in_scale = xq.scale[0];
        // Bias scale per output channel, as the ONNX quantiser and TFLite both define it.
        let bias_scale: Vec<f32> = (0..channels).map(|c| in_scale * p.scale[if p.per_tensor() { 0 } else { c }]).collect();
        let bias_data: Option<Vec<u8>> = match bias {
            None => None,
            Some(Value::DqConst(b)) if b.q.dtype == DType::Int32 && b.params.zero_point.iter().all(|&z| z == 0) && self.scales_match(&b.params.scale, &bias_scale) => Some(b.q.data.clone()),
            Some(v) => {
                // A float bias, or an int32 one with other parameters: requantise its real values.
                let reals: Vec<f64> = match v {
                    Value::Const(c) => match c.f32s() {
                        Some(f) => f.into_iter().map(f64::from).collect(),
                        None => return Ok(None),
                    },
                    Value::DqConst(d) => match d.dequantized().and_then(|c| c.f32s()) {
                        Some(f) => f.into_iter().map(f64::from).collect(),
                        None => return Ok(None),
                    },
                    _ => return Ok(None),
                };
                Some(quantize_bias(&reals, &bias_scale))
            }
        };
        let wdata = transpose(&wq.q.data, 1, &wq.q.dims, perm);
        let wquant = Quant { scale: p.scale.clone(), zero_point: p.zero_point.clone(), axis: if p.per_tensor() { 0 } else { ir_axis } };
        let wid = self.add_tensor(&wq.q.name, wshape.to_vec(), Layout::Plain, DType::Int8, Some(wquant), Some(wdata))?;
        let mut inputs = vec![xid, wid];
        if let Some(data) = bias_data {
            let name = match bias {
                Some(Value::Const(c)) => c.name.clone(),
                Some(Value::DqConst(d)) => d.q.name.clone(),
                _ => format!("{}/bias", self.nodes[k].name),
            };
            let bq = Quant { scale: bias_scale.clone(), zero_point: vec![0; channels], axis: 0 };
            let bq = if channels == 1 { Quant::per_tensor(bias_scale[0], 0) } else { bq };
            inputs.push(self.add_tensor(&name, vec![channels], Layout::Plain, DType::Int32, Some(bq), Some(data))?);
        }
        Ok(Some(Emit { kind, inputs, shape, layout, dtype: DType::Int8, quant: None }))
    }

    /// Whether the file's bias scales are the expected `in_scale * w_scale` (to float rounding).
    fn scales_match(&self, got: &[f32], want: &[f32]) -> bool {
        let per = got.len();
        (per == 1 || per == want.len()) && want.iter().enumerate().all(|(c, w)| {
            let g = got[if per == 1 { 0 } else { c }];
            (g - w).abs() <= 1e-6 * w.abs()
        })
    }

    fn gemm(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let n = self.node(k);
        let is_gemm = n.op_type == "Gemm";
        let (Some(a), Some(b)) = (self.input(k, 0)?, self.input(k, 1)?) else { return Err(self.bad_op(k, "needs two inputs")) };
        let c = if is_gemm { self.input(k, 2)? } else { None };
        let Some((ashape, alayout, adt)) = self.act_info(&a) else { return Ok(None) };
        let bc: &Const = match &b {
            Value::Const(c) => c,
            Value::DqConst(d) => &d.q,
            _ => return Ok(None),
        };
        let trans_b = is_gemm && attr_i(n, "transB", 0) != 0;
        if ashape.len() != 2 || bc.dims.len() != 2 || (is_gemm && attr_i(n, "transA", 0) != 0) {
            return Ok(None);
        }
        let alpha = if is_gemm { attr(n, "alpha").map(|a| a.f).unwrap_or(1.0) } else { 1.0 };
        let beta = if is_gemm { attr(n, "beta").map(|a| a.f).unwrap_or(1.0) } else { 1.0 };
        if alpha != 1.0 || (c.is_some() && beta != 1.0) {
            return Ok(None);
        }
        let (kdim, ndim) = if trans_b { (bc.dims[1], bc.dims[0]) } else { (bc.dims[0], bc.dims[1]) };
        if ashape[1] != kdim {
            return Err(self.bad_op(k, format!("input {ashape:?} does not match weights {:?} (transB {})", bc.dims, trans_b as u8)));
        }
        if let Some(cv) = &c {
            let cd = match cv {
                Value::Const(c) => &c.dims,
                Value::DqConst(d) => &d.q.dims,
                _ => return Ok(None),
            };
            if !(cd.as_slice() == [ndim] || cd.as_slice() == [1, ndim]) {
                return Ok(None); // a bias that broadcasts over rows differently: no FC form
            }
        }
        // IR weights are [out, in] with `in` in the IR element order of the input. Gemm's B is
        // [K, N] (or [N, K] with transB); the input of a Flatten of NHWC orders K as (h, w, c)
        // where ONNX orders it (c, h, w): view the rows as [N, C, H, W] and move C last.
        let (perm, view): (Vec<usize>, Vec<usize>) = match alayout {
            Layout::FlatNhwc { h, w, c: ch } => {
                let base = if trans_b { vec![ndim, ch, h, w] } else { vec![ch, h, w, ndim] };
                (if trans_b { vec![0, 2, 3, 1] } else { vec![3, 1, 2, 0] }, base)
            }
            _ => (if trans_b { vec![0, 1] } else { vec![1, 0] }, bc.dims.clone()),
        };
        let wshape = vec![ndim, kdim];
        let kind = OpKind::FullyConnected { activation: Activation::None, keep_num_dims: false };
        let shape = vec![ashape[0], ndim];
        let tail = self.tail(k, true)?;
        let int8_out = matches!(&tail.q, Some((_, p, _)) if p.dtype == DType::Int8);
        if let (Value::DqAct(xid), Value::DqConst(wq), true) = (&a, &b, int8_out) {
            // Per-channel parameters must run along N (ONNX axis 0 with transB, else 1); in the
            // viewed weights N is axis 0 (transB) or the last axis.
            let n_axis = if trans_b { 0 } else { 1 };
            let view_axis = if trans_b { 0 } else { view.len() - 1 };
            if wq.params.per_tensor() || wq.params.axis == n_axis {
                let axis = if wq.params.per_tensor() { 0 } else { view_axis };
                let viewed = DqConst { q: Rc::new(Const { dims: view.clone(), ..(*wq.q).clone() }), params: QParams { axis, ..wq.params.clone() } };
                if let Some(e) = self.quantised_weights_op(k, *xid, &viewed, &perm, &wshape, view_axis, 0, ndim, c.as_ref(), kind.clone(), shape.clone(), Layout::Plain)? {
                    return Ok(Some((e, tail)));
                }
            }
        }
        self.gemm_float(k, a, b, c, adt, perm, view, wshape, kind, shape, tail)
    }

    #[allow(clippy::too_many_arguments)]
    fn gemm_float(
        &mut self,
        k: usize,
        a: Value,
        b: Value,
        c: Option<Value>,
        adt: DType,
        perm: Vec<usize>,
        view: Vec<usize>,
        wshape: Vec<usize>,
        kind: OpKind,
        shape: Vec<usize>,
        tail: Tail,
    ) -> Result<Option<(Emit, Tail)>> {
        if adt != DType::Float32 {
            return Ok(None);
        }
        let wf = match &b {
            Value::Const(c) => (**c).clone(),
            Value::DqConst(d) => d.dequantized().ok_or_else(|| self.bad_op(k, "cannot dequantise the weights"))?,
            _ => return Ok(None),
        };
        if wf.dtype != DType::Float32 {
            return Ok(None);
        }
        let xid = self.materialize(&a, Layout::Plain)?;
        let wdata = transpose(&wf.data, 4, &view, &perm);
        let wid = self.add_tensor(&wf.name, wshape, Layout::Plain, DType::Float32, None, Some(wdata))?;
        let mut inputs = vec![xid, wid];
        if let Some(cv) = &c {
            let Some(bid) = self.float_bias(cv)? else { return Ok(None) };
            inputs.push(bid);
        }
        let tail = Tail { q: None, ..tail };
        Ok(Some((Emit { kind, inputs, shape, layout: Layout::Plain, dtype: DType::Float32, quant: None }, tail)))
    }

    /// Inputs of an op that reads activations only (no weights): quantised when every input is
    /// a quantised view and a QuantizeLinear follows, float otherwise. Constants are placed in
    /// `layout`. Returns the input ids and whether the op runs quantised.
    fn act_inputs(&mut self, vals: &[Value], layout: Layout, tail: &Tail) -> Result<Option<(Vec<TensorId>, bool)>> {
        // Quantised only when every operand is a quantised view of the output's element type
        // (an int8 op producing uint8, say, has no IR kernel).
        let qtype = tail.q.as_ref().map(|q| q.1.dtype);
        let quantised = qtype.is_some()
            && vals.iter().all(|v| match v {
                Value::DqAct(id) => Some(self.graph.tensors[*id].dtype) == qtype,
                Value::DqConst(c) => Some(c.q.dtype) == qtype,
                _ => false,
            })
            && vals.iter().any(|v| matches!(v, Value::DqAct(_)));
        let mut ids = Vec::new();
        for v in vals {
            let id = match (v, quantised) {
                (Value::DqAct(id), true) => *id,
                (Value::DqConst(c), true) => {
                    if !c.params.per_tensor() {
                        return Ok(None);
                    }
                    let q = c.params.quant(0);
                    self.const_tensor_q(&c.q, layout, Some(q))?
                }
                (v, _) => self.materialize(v, layout)?,
            };
            ids.push(id);
        }
        Ok(Some((ids, quantised)))
    }

    fn add(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let (Some(a), Some(b)) = (self.input(k, 0)?, self.input(k, 1)?) else { return Err(self.bad_op(k, "Add needs two inputs")) };
        let ia = self.act_info(&a);
        let ib = self.act_info(&b);
        let const_shape = |v: &Value| match v {
            Value::Const(c) => Some(c.dims.clone()),
            Value::DqConst(d) => Some(d.q.dims.clone()),
            _ => None,
        };
        let (layout, sa, sb) = match (&ia, &ib) {
            (Some((sa, la, _)), Some((sb, lb, _))) if la == lb && (onnx_ordered(sa, *la) || sa == sb) => (*la, sa.clone(), sb.clone()),
            (Some((sa, la, _)), None) => (*la, sa.clone(), const_shape(&b).unwrap_or_default()),
            (None, Some((sb, lb, _))) => (*lb, const_shape(&a).unwrap_or_default(), sb.clone()),
            _ => return Ok(None),
        };
        if matches!(layout, Layout::FlatNhwc { .. }) && sa != sb {
            return Ok(None);
        }
        if layout == Layout::Nhwc && (sa.len() > 4 || sb.len() > 4) {
            return Ok(None);
        }
        let Some(shape) = broadcast(&sa, &sb) else { return Err(self.bad_op(k, format!("shapes {sa:?} and {sb:?} do not broadcast"))) };
        let tail = self.tail(k, true)?;
        let Some((inputs, quantised)) = self.act_inputs(&[a, b], layout, &tail)? else { return Ok(None) };
        if !quantised && inputs.iter().any(|&i| self.graph.tensors[i].dtype != DType::Float32) {
            return Ok(None);
        }
        let tail = if quantised { tail } else { Tail { q: None, ..tail } };
        Ok(Some((Emit { kind: OpKind::Add { activation: Activation::None }, inputs, shape, layout, dtype: DType::Float32, quant: None }, tail)))
    }

    /// Ops that only move or select elements (pools, reshape, pad, concat, relu): quantised
    /// versions keep the input type; `requant_free` ops need the same parameters in and out.
    fn order_op(&mut self, k: usize, vals: Vec<Value>, layout: Layout, kind: OpKind, shape: Vec<usize>, requant_free: bool) -> Result<Option<(Emit, Tail)>> {
        // No fused activation: only conv, depthwise, FC and ADD carry one in the IR.
        let mut tail = self.tail(k, false)?;
        if requant_free {
            if let Some((_, p, _)) = &tail.q {
                let want = Some(p.quant(0));
                let same = vals.iter().all(|v| match v {
                    Value::DqAct(x) => self.graph.tensors[*x].quant == want,
                    Value::DqConst(c) => Some(c.params.quant(0)) == want,
                    _ => true,
                });
                if !same {
                    tail.q = None; // a requantising move: run it on floats, QUANTIZE after
                }
            }
        }
        let Some((inputs, quantised)) = self.act_inputs(&vals, layout, &tail)? else { return Ok(None) };
        if !quantised {
            tail.q = None;
        }
        let first = inputs[0];
        let dtype = self.graph.tensors[first].dtype;
        let quant = if quantised { None } else { self.graph.tensors[first].quant.clone() };
        Ok(Some((Emit { kind, inputs, shape, layout, dtype, quant }, tail)))
    }

    fn pool(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let n = self.node(k);
        let is_max = n.op_type == "MaxPool";
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Some((xs, xl, xdt)) = self.act_info(&x) else { return Ok(None) };
        if xs.len() != 4 || xl != Layout::Nhwc || n.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Ok(None);
        }
        let kernel = match attr_ints(n, "kernel_shape") {
            Some([a, b]) if (1..=MAX_WINDOW_INT).contains(a) && (1..=MAX_WINDOW_INT).contains(b) => [*a as usize, *b as usize],
            other => return Err(self.bad_op(k, format!("kernel_shape {other:?}: need two values in 1..={MAX_WINDOW_INT}"))),
        };
        let ceil_mode = attr_i(n, "ceil_mode", 0) != 0;
        let count_include_pad = attr_i(n, "count_include_pad", 0) != 0;
        let Some((window, [oh, ow])) = self.window(k, [xs[2], xs[3]], kernel, false)? else { return Ok(None) };
        if ceil_mode {
            // ceil_mode rounds the output size up; the IR's pools round down. They agree when
            // the windows tile the padded input exactly.
            for axis in 0..2 {
                let Some((p, _)) = window.padding.resolve(axis, xs[2 + axis], kernel[axis], window.stride[axis], 1) else { return Ok(None) };
                if (xs[2 + axis] + p.before + p.after - kernel[axis]) % window.stride[axis] != 0 {
                    return Ok(None);
                }
            }
        }
        if !is_max && count_include_pad && window.padding != Padding::Valid {
            return Ok(None); // the IR's average pool divides by the in-image count
        }
        if xdt != DType::Float32 && !matches!(x, Value::DqAct(_)) && !is_max {
            return Ok(None);
        }
        let kind = if is_max {
            OpKind::MaxPool2d { filter: kernel, window, activation: Activation::None }
        } else {
            OpKind::AveragePool2d { filter: kernel, window, activation: Activation::None }
        };
        // MaxPool never requantises in TFLite; AveragePool may in ONNX, not in the IR's kernels.
        self.order_op(k, vec![x], Layout::Nhwc, kind, vec![xs[0], xs[1], oh, ow], true)
    }

    fn global_avg_pool(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Some((xs, xl, xdt)) = self.act_info(&x) else { return Ok(None) };
        if xs.len() != 4 || xl != Layout::Nhwc || (xdt != DType::Float32 && !matches!(x, Value::DqAct(_))) {
            return Ok(None);
        }
        // MEAN over H and W of NHWC, kept as [N, 1, 1, C]; int8 MEAN may requantise.
        self.order_op(k, vec![x], Layout::Nhwc, OpKind::Mean { axes: vec![1, 2], keep_dims: true }, vec![xs[0], xs[1], 1, 1], false)
    }

    fn reshape(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let n = self.node(k);
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Some((xs, xl, _)) = self.act_info(&x) else { return Ok(None) };
        let total: usize = xs.iter().product();
        let target: Vec<usize> = if n.op_type == "Flatten" {
            // Flatten's axis may equal the rank: everything goes into the first dimension.
            let r = xs.len() as i64;
            let a = attr_i(n, "axis", 1);
            let a = if a < 0 { a + r } else { a };
            if !(0..=r).contains(&a) {
                return Err(self.bad_op(k, format!("axis {a} out of range for rank {r}")));
            }
            let axis = a as usize;
            vec![xs[..axis].iter().product(), xs[axis..].iter().product()]
        } else {
            let Some(shape) = self.const_input(k, 1)? else { return Ok(None) };
            let Some(spec) = shape.ints() else { return Err(self.bad_op(k, "shape operand is not integer")) };
            if spec.len() > 8 {
                return Err(self.bad_op(k, format!("target rank {} is more than 8", spec.len())));
            }
            let allow_zero = attr_i(n, "allowzero", 0) != 0;
            let mut out = Vec::with_capacity(spec.len());
            let mut infer = None;
            for (i, &d) in spec.iter().enumerate() {
                match d {
                    -1 if infer.is_none() => {
                        infer = Some(i);
                        out.push(1);
                    }
                    0 if !allow_zero => out.push(*xs.get(i).ok_or_else(|| self.bad_op(k, format!("0 at axis {i} copies a dimension the input lacks")))?),
                    d if (1..=1 << 28).contains(&d) => out.push(d as usize),
                    d => return Err(self.bad_op(k, format!("target dimension {d} in {spec:?}"))),
                }
            }
            let known = out.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| self.bad_op(k, "target shape overflows"))?;
            if let Some(i) = infer {
                if known == 0 || !total.is_multiple_of(known) {
                    return Err(self.bad_op(k, format!("cannot reshape {xs:?} to {spec:?}")));
                }
                out[i] = total / known;
            }
            out
        };
        if target.iter().product::<usize>() != total {
            return Err(self.bad_op(k, format!("cannot reshape {xs:?} ({total} elements) to {target:?}")));
        }
        let Some(layout) = reshape_layout(&xs, xl, &target) else { return Ok(None) };
        // Reshaping keeps quantisation parameters (TFLite RESHAPE cannot requantise).
        self.order_op(k, vec![x], layout, OpKind::Reshape, target, true)
    }

    fn softmax(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Some((xs, xl, xdt)) = self.act_info(&x) else { return Ok(None) };
        let default_axis = if self.opset >= 13 { -1 } else { 1 };
        let Some(axis) = norm_axis(attr_i(&self.nodes[k], "axis", default_axis), xs.len()) else { return Err(self.bad_op(k, "axis out of range")) };
        let rank = xs.len();
        // Before opset 13 Softmax normalises over all axes from `axis` on; from 13, over `axis`.
        // The IR's SOFTMAX normalises over its last axis: the two agree on the last axis only.
        let ok = match xl {
            Layout::Plain | Layout::FlatNhwc { .. } => axis == rank - 1,
            // Channels of NHWC are the IR's last axis.
            Layout::Nhwc => axis == 1 && (self.opset >= 13 || xs[2] * xs[3] == 1),
        };
        if !ok || (xdt != DType::Float32 && !matches!(x, Value::DqAct(_))) {
            return Ok(None);
        }
        // A row of a flattened NHWC tensor holds the same elements in another order: softmax
        // over the whole row commutes with that permutation.
        self.order_op(k, vec![x], xl, OpKind::Softmax { beta: 1.0 }, xs, false)
    }

    fn unary(&mut self, k: usize, kind: OpKind) -> Result<Option<(Emit, Tail)>> {
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Some((xs, xl, xdt)) = self.act_info(&x) else { return Ok(None) };
        if xdt != DType::Float32 && !matches!(x, Value::DqAct(_)) {
            return Ok(None);
        }
        self.order_op(k, vec![x], xl, kind, xs, false)
    }

    fn concat(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let n = self.node(k);
        let mut vals = Vec::new();
        for i in 0..n.input.len() {
            if let Some(v) = self.input(k, i)? {
                vals.push(v);
            }
        }
        let Some((s0, layout, _)) = vals.iter().find_map(|v| self.act_info(v)) else { return Ok(None) };
        let rank = s0.len();
        let axis = norm_axis(attr_i(n, "axis", 0), rank).ok_or_else(|| self.bad_op(k, format!("axis out of range for rank {rank}")))?;
        if matches!(layout, Layout::FlatNhwc { .. }) {
            return Ok(None);
        }
        let mut shape = s0.clone();
        shape[axis] = 0;
        for v in &vals {
            let s = match v {
                Value::Const(c) => c.dims.clone(),
                Value::DqConst(d) => d.q.dims.clone(),
                v => {
                    let Some((s, l, _)) = self.act_info(v) else { return Ok(None) };
                    if l != layout {
                        return Ok(None);
                    }
                    s
                }
            };
            if s.len() != rank || (0..rank).any(|d| d != axis && s[d] != s0[d]) {
                return Err(self.bad_op(k, format!("input shape {s:?} does not match {s0:?} outside axis {axis}")));
            }
            shape[axis] = shape[axis].checked_add(s[axis]).ok_or_else(|| self.bad_op(k, "concatenated size overflows"))?;
        }
        let ir_axis = if layout == Layout::Nhwc { [0, 3, 1, 2][axis] } else { axis };
        // Int8 concatenation copies bytes: every input must share the output's parameters.
        self.order_op(k, vals, layout, OpKind::Concatenation { axis: ir_axis, activation: Activation::None }, shape, true)
    }

    fn pad(&mut self, k: usize) -> Result<Option<(Emit, Tail)>> {
        let n = self.node(k);
        let Some(x) = self.input(k, 0)? else { return Err(self.bad_op(k, "no input")) };
        let Some((xs, xl, _)) = self.act_info(&x) else { return Ok(None) };
        let mode = attr_s(n, "mode").unwrap_or_else(|| "constant".into());
        if mode != "constant" || matches!(xl, Layout::FlatNhwc { .. }) {
            return Ok(None);
        }
        let (pads, value): (Vec<i64>, f64) = if self.opset >= 11 {
            let Some(p) = self.const_input(k, 1)? else { return Ok(None) };
            let Some(pv) = p.ints() else { return Ok(None) };
            let value = match self.input(k, 2)? {
                None => 0.0,
                Some(Value::Const(c)) => match c.reals().as_deref() {
                    Some([v]) => *v,
                    _ => return Ok(None),
                },
                Some(Value::DqConst(d)) => match d.dequantized().and_then(|c| c.f32s()).as_deref() {
                    Some([v]) => *v as f64,
                    _ => return Ok(None),
                },
                Some(_) => return Ok(None),
            };
            if self.input(k, 3)?.is_some() {
                return Ok(None); // opset 18 `axes`
            }
            (pv, value)
        } else {
            (attr_ints(n, "pads").map(<[i64]>::to_vec).unwrap_or_default(), attr_f(n, "value").unwrap_or(0.0) as f64)
        };
        let rank = xs.len();
        if pads.len() != 2 * rank {
            return Err(self.bad_op(k, format!("{} pads for rank {rank}", pads.len())));
        }
        if pads.iter().any(|&p| !(0..=MAX_WINDOW_INT).contains(&p)) || value != 0.0 {
            return Ok(None); // cropping or a non-zero fill: no IR op
        }
        let onnx: Vec<[usize; 2]> = (0..rank).map(|d| [pads[d] as usize, pads[d + rank] as usize]).collect();
        let paddings: Vec<[usize; 2]> = if xl == Layout::Nhwc { [0, 2, 3, 1].iter().map(|&d| onnx[d]).collect() } else { onnx.clone() };
        let shape: Vec<usize> = xs.iter().zip(&onnx).map(|(d, p)| d + p[0] + p[1]).collect();
        self.order_op(k, vec![x], xl, OpKind::Pad { paddings }, shape, true)
    }
}

/// Explicit pads `[top, left, bottom, right]` that TFLite SAME padding gives.
fn same_pads(hw: [usize; 2], kernel: [usize; 2], stride: [usize; 2], dilation: [usize; 2]) -> Option<[usize; 4]> {
    let (h, _) = Padding::Same.resolve(0, hw[0], kernel[0], stride[0], dilation[0])?;
    let (w, _) = Padding::Same.resolve(1, hw[1], kernel[1], stride[1], dilation[1])?;
    Some([h.before, w.before, h.after, w.after])
}

/// Numpy-style broadcast of two shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let get = |s: &[usize], i: usize| if i + s.len() < r { 1 } else { s[i + s.len() - r] };
    (0..r)
        .map(|i| match (get(a, i), get(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Quantise real bias values to int32 with per-channel `scale` (round half to even, saturate).
fn quantize_bias(reals: &[f64], scale: &[f32]) -> Vec<u8> {
    reals
        .iter()
        .enumerate()
        .flat_map(|(c, &r)| {
            let s = scale[c.min(scale.len() - 1)] as f64;
            (quantize_value(r / s, i32::MIN as i64, i32::MAX as i64) as i32).to_le_bytes()
        })
        .collect()
}

fn set_activation(kind: OpKind, act: Activation) -> OpKind {
    match kind {
        OpKind::Conv2d { window, .. } => OpKind::Conv2d { window, activation: act },
        OpKind::DepthwiseConv2d { window, depth_multiplier, .. } => OpKind::DepthwiseConv2d { window, depth_multiplier, activation: act },
        OpKind::FullyConnected { keep_num_dims, .. } => OpKind::FullyConnected { activation: act, keep_num_dims },
        OpKind::Add { .. } => OpKind::Add { activation: act },
        other => other,
    }
}

/// Node order with every producer before its consumers (ONNX requires sorted nodes; this also
/// accepts unsorted files and names the culprit of a cycle or a dangling input).
fn topo_order(g: &GraphProto) -> Result<Vec<usize>> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (k, n) in g.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if producer.insert(o.as_str(), k).is_some() {
                return Err(ImportError::BadOp { op: k, op_name: n.op_type.clone(), reason: format!("output \"{o}\" is produced by two nodes") });
            }
        }
    }
    let given: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).chain(g.input.iter().map(|v| v.name.as_str())).collect();
    let mut waiting = vec![0usize; g.node.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); g.node.len()];
    for (k, n) in g.node.iter().enumerate() {
        let mut deps: Vec<usize> = Vec::new();
        for i in n.input.iter().filter(|i| !i.is_empty()) {
            if given.contains(i.as_str()) {
                continue;
            }
            match producer.get(i.as_str()) {
                Some(&p) => deps.push(p),
                None => return Err(ImportError::MissingTensor { op: k, op_name: n.op_type.clone(), tensor: i.clone() }),
            }
        }
        deps.sort_unstable();
        deps.dedup();
        waiting[k] = deps.len();
        for p in deps {
            users[p].push(k);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..g.node.len()).filter(|&k| waiting[k] == 0).map(std::cmp::Reverse).collect();
    let mut order = Vec::with_capacity(g.node.len());
    while let Some(std::cmp::Reverse(k)) = ready.pop() {
        order.push(k);
        for &u in &users[k] {
            waiting[u] -= 1;
            if waiting[u] == 0 {
                ready.push(std::cmp::Reverse(u));
            }
        }
    }
    if order.len() < g.node.len() {
        let k = (0..g.node.len()).find(|&k| waiting[k] > 0).unwrap_or(0);
        let n = &g.node[k];
        let tensor = n.input.iter().find(|i| producer.get(i.as_str()).is_some_and(|&p| waiting[p] > 0 || p == k)).cloned().unwrap_or_default();
        return Err(ImportError::Cycle { op: k, op_name: n.op_type.clone(), tensor });
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_half_to_even() {
        assert_eq!(quantize_value(0.5, -128, 127), 0);
        assert_eq!(quantize_value(1.5, -128, 127), 2);
        assert_eq!(quantize_value(-2.5, -128, 127), -2);
        assert_eq!(quantize_value(300.0, -128, 127), 127);
        assert_eq!(quantize_value(-300.0, -128, 127), -128);
        // Bias 0.75 with scale 0.5 is 1.5 steps: rounds to 2; 0.25 / 0.5 = 0.5 rounds to 0.
        let b = quantize_bias(&[0.75, 0.25], &[0.5, 0.5]);
        assert_eq!(b, [2i32.to_le_bytes(), 0i32.to_le_bytes()].concat());
    }

    #[test]
    fn layouts_of_reshapes() {
        // Flatten of NHWC [1, 16, 4, 4] keeps (h, w, c) order.
        assert_eq!(reshape_layout(&[1, 16, 4, 4], Layout::Nhwc, &[1, 256]), Some(Layout::FlatNhwc { h: 4, w: 4, c: 16 }));
        // After a global pool H = W = 1: both orders agree.
        assert_eq!(reshape_layout(&[1, 16, 1, 1], Layout::Nhwc, &[1, 16]), Some(Layout::Plain));
        // [1, 256] -> [1, 16, 4, 4] from a plain tensor cannot be an NHWC reshape.
        assert_eq!(reshape_layout(&[1, 256], Layout::Plain, &[1, 16, 4, 4]), None);
        assert_eq!(reshape_layout(&[1, 16], Layout::Plain, &[1, 16, 1, 1]), Some(Layout::Nhwc));
        // Reshape [1, 2, 3, 4] -> [1, 6, 4] mixes C with H: not expressible.
        assert_eq!(reshape_layout(&[1, 2, 3, 4], Layout::Nhwc, &[1, 6, 4]), None);
    }

    #[test]
    fn same_padding_detection() {
        // 3x3 stride 1 on 8x8: SAME is one pixel each side.
        assert_eq!(same_pads([8, 8], [3, 3], [1, 1], [1, 1]), Some([1, 1, 1, 1]));
        // 3x3 stride 2 on 32x32: SAME needs 1 pixel, at the end (TFLite): [0, 0, 1, 1].
        assert_eq!(same_pads([32, 32], [3, 3], [2, 2], [1, 1]), Some([0, 0, 1, 1]));
        assert_eq!(broadcast(&[1, 8, 4, 4], &[8, 1, 1]), Some(vec![1, 8, 4, 4]));
        assert_eq!(broadcast(&[2, 3], &[4]), None);
    }

    #[test]
    fn clip_ranges() {
        assert_eq!(clip_activation(0.0, 6.0), Some(Activation::Relu6));
        assert_eq!(clip_activation(0.0, f64::INFINITY), Some(Activation::Relu));
        assert_eq!(clip_activation(0.0, 4.0), None);
    }
}
