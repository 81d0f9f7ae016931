//! The graph IR every other part of msf-planner reads.
//!
//! One activation layout (NHWC, batch first) and one weight layout per op, whatever the file
//! format: importers convert. Tensor ids are indices into [`Graph::tensors`]; the TFLite importer
//! keeps the file's tensor indices unchanged so a dumped tensor `INDEX.bin` can be diffed against
//! the reference interpreter's dump of the same index.

use serde::{Deserialize, Serialize};

/// Index of a tensor in [`Graph::tensors`].
pub type TensorId = usize;

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    Int8,
    UInt8,
    Int16,
    Int32,
    Int64,
    Float32,
    /// Any other element type a file may declare (bool, float16, string, ...). Such tensors can
    /// be shown but not planned or run.
    Other,
}

impl DType {
    /// Bytes per element; `None` for [`DType::Other`].
    pub fn size(self) -> Option<usize> {
        match self {
            DType::Int8 | DType::UInt8 => Some(1),
            DType::Int16 => Some(2),
            DType::Int32 | DType::Float32 => Some(4),
            DType::Int64 => Some(8),
            DType::Other => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::Int8 => "int8",
            DType::UInt8 => "uint8",
            DType::Int16 => "int16",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::Float32 => "float32",
            DType::Other => "other",
        }
    }
}

impl core::fmt::Display for DType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Affine quantisation `real = scale * (q - zero_point)`.
///
/// Per-tensor when `scale.len() == 1`; per-channel along `axis` otherwise (one scale and one
/// zero point per channel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quant {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub axis: usize,
}

impl Quant {
    pub fn per_tensor(scale: f32, zero_point: i64) -> Self {
        Quant { scale: vec![scale], zero_point: vec![zero_point], axis: 0 }
    }
    pub fn is_per_channel(&self) -> bool {
        self.scale.len() > 1
    }
}

/// A tensor: an activation (no data) or a constant (weights, biases, shape operands).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub quant: Option<Quant>,
    /// Constant data, little-endian, row-major in `shape`; `None` for activations.
    #[serde(skip)]
    pub data: Option<Vec<u8>>,
}

impl Tensor {
    /// Number of elements (1 for a scalar). Shapes are validated on import so this cannot
    /// overflow on an imported graph.
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }
    /// Size in bytes, 0 for [`DType::Other`].
    pub fn byte_size(&self) -> usize {
        self.num_elements() * self.dtype.size().unwrap_or(0)
    }
    pub fn is_constant(&self) -> bool {
        self.data.is_some()
    }
    /// Constant data as i8 (for int8 weights).
    pub fn data_i8(&self) -> Option<Vec<i8>> {
        self.data.as_ref().map(|d| d.iter().map(|&b| b as i8).collect())
    }
    /// Constant data as i32 little-endian (biases, shape operands).
    pub fn data_i32(&self) -> Option<Vec<i32>> {
        self.data
            .as_ref()
            .map(|d| d.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
    /// Constant data as f32 little-endian.
    pub fn data_f32(&self) -> Option<Vec<f32>> {
        self.data
            .as_ref()
            .map(|d| d.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
}

/// Spatial padding of a convolution or pooling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// TFLite SAME: output = ceil(input / stride); the odd pixel of padding goes at the end.
    Same,
    /// No padding: output = ceil((input - effective_kernel + 1) / stride).
    Valid,
    /// Explicit pixels (ONNX `pads`).
    Explicit { top: usize, bottom: usize, left: usize, right: usize },
}

/// Concrete padding of one spatial axis: pixels before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxisPad {
    pub before: usize,
    pub after: usize,
}

impl Padding {
    /// Pixels of padding before/after along one axis, and the output size, the way TFLite
    /// computes them (`ComputePaddingHeightWidth`). `axis` 0 is height, 1 is width.
    /// Returns `None` when the window does not fit (output would be empty) or the sizes
    /// overflow `usize` (hostile attributes; `usize` is 32 bits on wasm32).
    pub fn resolve(self, axis: usize, input: usize, kernel: usize, stride: usize, dilation: usize) -> Option<(AxisPad, usize)> {
        if stride == 0 || dilation == 0 || kernel == 0 {
            return None;
        }
        let eff = (kernel - 1).checked_mul(dilation)?.checked_add(1)?;
        match self {
            Padding::Same => {
                let out = input.div_ceil(stride);
                let needed = out.checked_sub(1)?.checked_mul(stride)?.checked_add(eff)?.saturating_sub(input);
                let before = needed / 2;
                Some((AxisPad { before, after: needed - before }, out))
            }
            Padding::Valid => {
                if input < eff {
                    return None;
                }
                let out = (input - eff) / stride + 1;
                Some((AxisPad { before: 0, after: 0 }, out))
            }
            Padding::Explicit { top, bottom, left, right } => {
                let (before, after) = if axis == 0 { (top, bottom) } else { (left, right) };
                let total = input.checked_add(before)?.checked_add(after)?;
                if total < eff {
                    return None;
                }
                Some((AxisPad { before, after }, (total - eff) / stride + 1))
            }
        }
    }
}

/// Activation fused into an op's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    None,
    Relu,
    Relu6,
    ReluN1To1,
}

/// Window attributes shared by convolutions and pools. `[height, width]` order everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub padding: Padding,
}

/// What an op computes, with its attributes.
///
/// Input conventions (TFLite's, which importers follow):
/// - `Conv2d`: [input NHWC, filter OHWI `[Cout, kh, kw, Cin]`, bias `[Cout]` int32/f32 (optional)]
/// - `DepthwiseConv2d`: [input, filter `[1, kh, kw, Cin * depth_multiplier]`, bias (optional)]
/// - `FullyConnected`: [input, weights `[out, in]`, bias (optional)]
/// - `Add`, `Concatenation`: the operands; `Pad`: [input] (paddings live in the attribute)
/// - `Reshape`: [input] (the static shape is the output tensor's shape)
/// - `Mean`: [input] (the axes live in the attribute)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OpKind {
    Conv2d { window: Window, activation: Activation },
    DepthwiseConv2d { window: Window, depth_multiplier: usize, activation: Activation },
    FullyConnected { activation: Activation, keep_num_dims: bool },
    Add { activation: Activation },
    AveragePool2d { filter: [usize; 2], window: Window, activation: Activation },
    MaxPool2d { filter: [usize; 2], window: Window, activation: Activation },
    /// Mean over `axes` (normalised to non-negative indices).
    Mean { axes: Vec<usize>, keep_dims: bool },
    Softmax { beta: f32 },
    Reshape,
    /// `paddings[d] = [before, after]` for every dimension of the input.
    Pad { paddings: Vec<[usize; 2]> },
    Concatenation { axis: usize, activation: Activation },
    Logistic,
    Quantize,
    Dequantize,
    /// A standalone activation that could not be fused into its producer.
    Relu,
    Relu6,
    /// An op the project cannot plan or run: kept so a person still sees the model.
    Opaque { name: String },
}

impl OpKind {
    /// Short, stable name (TFLite's builtin names where one exists).
    pub fn name(&self) -> &str {
        match self {
            OpKind::Conv2d { .. } => "CONV_2D",
            OpKind::DepthwiseConv2d { .. } => "DEPTHWISE_CONV_2D",
            OpKind::FullyConnected { .. } => "FULLY_CONNECTED",
            OpKind::Add { .. } => "ADD",
            OpKind::AveragePool2d { .. } => "AVERAGE_POOL_2D",
            OpKind::MaxPool2d { .. } => "MAX_POOL_2D",
            OpKind::Mean { .. } => "MEAN",
            OpKind::Softmax { .. } => "SOFTMAX",
            OpKind::Reshape => "RESHAPE",
            OpKind::Pad { .. } => "PAD",
            OpKind::Concatenation { .. } => "CONCATENATION",
            OpKind::Logistic => "LOGISTIC",
            OpKind::Quantize => "QUANTIZE",
            OpKind::Dequantize => "DEQUANTIZE",
            OpKind::Relu => "RELU",
            OpKind::Relu6 => "RELU6",
            OpKind::Opaque { name } => name,
        }
    }

    pub fn is_opaque(&self) -> bool {
        matches!(self, OpKind::Opaque { .. })
    }

    /// Kernel size `[kh, kw]` of a spatial op (conv, depthwise, pool), `None` otherwise.
    /// For convolutions it is read from the filter tensor, so it needs the graph.
    pub fn window(&self) -> Option<&Window> {
        match self {
            OpKind::Conv2d { window, .. }
            | OpKind::DepthwiseConv2d { window, .. }
            | OpKind::AveragePool2d { window, .. }
            | OpKind::MaxPool2d { window, .. } => Some(window),
            _ => None,
        }
    }
}

/// One op of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    #[serde(flatten)]
    pub kind: OpKind,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
    /// A human-readable name (the output tensor's name, or the file's node name).
    pub name: String,
}

/// The file format a graph was imported from. It decides the layout of the graph's inputs and
/// outputs as files hold them: ONNX files are NCHW where the IR is NHWC (see [`crate::layout`]).
/// Serialised as `"tflite"` / `"onnx"`, the strings `inspect --json` has always printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// TFLite flatbuffers; also graphs built by hand, which use the IR's (TFLite's) layouts.
    Tflite,
    Onnx,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Tflite => "tflite",
            Format::Onnx => "onnx",
        }
    }
}

impl core::fmt::Display for Format {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A model: tensors, ops in topological order, graph inputs and outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub name: String,
    pub tensors: Vec<Tensor>,
    pub ops: Vec<Op>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
    /// Where the graph came from.
    pub format: Format,
}

impl Graph {
    pub fn tensor(&self, id: TensorId) -> &Tensor {
        &self.tensors[id]
    }

    /// The op that writes `tensor`, if any.
    pub fn producer(&self, tensor: TensorId) -> Option<usize> {
        self.ops.iter().position(|op| op.outputs.contains(&tensor))
    }

    /// The ops that read `tensor`, in order.
    pub fn consumers(&self, tensor: TensorId) -> Vec<usize> {
        self.ops
            .iter()
            .enumerate()
            .filter(|(_, op)| op.inputs.contains(&tensor))
            .map(|(i, _)| i)
            .collect()
    }

    /// The activation (non-constant) inputs of op `i`.
    pub fn activation_inputs(&self, i: usize) -> Vec<TensorId> {
        self.ops[i].inputs.iter().copied().filter(|&t| !self.tensors[t].is_constant()).collect()
    }

    /// The first opaque op, with its index, if any: planning and running need none.
    pub fn first_opaque(&self) -> Option<(usize, &Op)> {
        self.ops.iter().enumerate().find(|(_, op)| op.kind.is_opaque())
    }
}
