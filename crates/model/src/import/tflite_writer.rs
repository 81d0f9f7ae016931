//! A minimal TFLite writer for tests: builds a flatbuffer from a plain description, with the
//! same generated code the importer reads. Values are raw (codes, -1 indices, bad shapes are
//! all allowed) so that tests can write exactly the broken file they need.

use super::generated::tflite as fb;
use flatbuffers::FlatBufferBuilder;

/// TFLite `TensorType` codes.
pub mod dtype {
    pub const FLOAT32: i8 = 0;
    pub const INT32: i8 = 2;
    pub const UINT8: i8 = 3;
    pub const INT64: i8 = 4;
    pub const INT16: i8 = 7;
    pub const INT8: i8 = 9;
}

/// Per-tensor or per-channel quantisation as written in the file.
#[derive(Debug, Clone, Default)]
pub struct QuantSpec {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub quantized_dimension: i32,
}

#[derive(Debug, Clone, Default)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<i32>,
    /// A `TensorType` code ([`dtype`]).
    pub dtype: i8,
    /// Index into [`ModelSpec::buffers`]; 0 is the empty sentinel (an activation).
    pub buffer: u32,
    pub quant: Option<QuantSpec>,
}

impl TensorSpec {
    pub fn new(name: &str, shape: &[i32], dtype: i8, buffer: u32) -> Self {
        TensorSpec { name: name.into(), shape: shape.to_vec(), dtype, buffer, quant: None }
    }
    pub fn quant(mut self, scale: &[f32], zero_point: &[i64], quantized_dimension: i32) -> Self {
        self.quant = Some(QuantSpec { scale: scale.to_vec(), zero_point: zero_point.to_vec(), quantized_dimension });
        self
    }
}

/// A buffer: inline `data`, or (`offset` > 1) bytes of the file outside the flatbuffer.
#[derive(Debug, Clone, Default)]
pub struct BufferSpec {
    pub data: Vec<u8>,
    pub offset: u64,
    pub size: u64,
}

impl BufferSpec {
    pub fn data(data: Vec<u8>) -> Self {
        BufferSpec { data, offset: 0, size: 0 }
    }
}

/// An operator code: both builtin-code fields as written, and the custom op name.
#[derive(Debug, Clone, Default)]
pub struct OpCodeSpec {
    pub deprecated_builtin_code: i8,
    pub builtin_code: i32,
    pub custom_code: Option<String>,
}

impl OpCodeSpec {
    /// A builtin op written the way current converters do (byte field saturated at 127).
    pub fn builtin(code: i32) -> Self {
        OpCodeSpec { deprecated_builtin_code: code.min(127) as i8, builtin_code: code, custom_code: None }
    }
    pub fn custom(name: &str) -> Self {
        OpCodeSpec { deprecated_builtin_code: 32, builtin_code: 32, custom_code: Some(name.into()) }
    }
}

/// Builtin options (codes are raw: padding 0 SAME / 1 VALID, activation 0 NONE, 1 RELU,
/// 2 RELU_N1_TO_1, 3 RELU6, 4 TANH).
#[derive(Debug, Clone, Default)]
pub enum OptionsSpec {
    #[default]
    None,
    Conv2d { padding: i8, stride: [i32; 2], dilation: [i32; 2], activation: i8 },
    DepthwiseConv2d { padding: i8, stride: [i32; 2], dilation: [i32; 2], depth_multiplier: i32, activation: i8 },
    Pool2d { padding: i8, stride: [i32; 2], filter: [i32; 2], activation: i8 },
    FullyConnected { activation: i8, keep_num_dims: bool, weights_format: i8 },
    Softmax { beta: f32 },
    Concatenation { axis: i32, activation: i8 },
    Add { activation: i8 },
    Reducer { keep_dims: bool },
}

#[derive(Debug, Clone, Default)]
pub struct OpSpec {
    pub opcode_index: u32,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub options: OptionsSpec,
}

impl OpSpec {
    pub fn new(opcode_index: u32, inputs: &[i32], outputs: &[i32], options: OptionsSpec) -> Self {
        OpSpec { opcode_index, inputs: inputs.to_vec(), outputs: outputs.to_vec(), options }
    }
}

/// A whole model. `subgraph_copies` writes the one subgraph that many times (to test the
/// subgraph count check); 1 for a normal model.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub opcodes: Vec<OpCodeSpec>,
    pub tensors: Vec<TensorSpec>,
    pub ops: Vec<OpSpec>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    /// Buffer 0 should be the empty sentinel, as converters write it.
    pub buffers: Vec<BufferSpec>,
    pub subgraph_copies: usize,
}

impl Default for ModelSpec {
    fn default() -> Self {
        ModelSpec {
            opcodes: Vec::new(),
            tensors: Vec::new(),
            ops: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            buffers: vec![BufferSpec::default()],
            subgraph_copies: 1,
        }
    }
}

impl ModelSpec {
    /// Append a constant buffer and return its index.
    pub fn add_buffer(&mut self, data: Vec<u8>) -> u32 {
        self.buffers.push(BufferSpec::data(data));
        (self.buffers.len() - 1) as u32
    }
}

/// Serialise `spec` as a TFLite flatbuffer (identifier "TFL3", schema version 3).
pub fn write(spec: &ModelSpec) -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    let opcodes: Vec<_> = spec
        .opcodes
        .iter()
        .map(|c| {
            let custom_code = c.custom_code.as_deref().map(|s| b.create_string(s));
            fb::OperatorCode::create(
                &mut b,
                &fb::OperatorCodeArgs {
                    deprecated_builtin_code: c.deprecated_builtin_code,
                    custom_code,
                    version: 1,
                    builtin_code: fb::BuiltinOperator(c.builtin_code),
                },
            )
        })
        .collect();
    let opcodes = b.create_vector(&opcodes);
    let buffers: Vec<_> = spec
        .buffers
        .iter()
        .map(|buf| {
            let data = (!buf.data.is_empty()).then(|| b.create_vector(&buf.data));
            fb::Buffer::create(&mut b, &fb::BufferArgs { data, offset: buf.offset, size: buf.size })
        })
        .collect();
    let buffers = b.create_vector(&buffers);
    let mut subgraphs = Vec::new();
    for _ in 0..spec.subgraph_copies {
        let tensors: Vec<_> = spec.tensors.iter().map(|t| write_tensor(&mut b, t)).collect();
        let tensors = b.create_vector(&tensors);
        let ops: Vec<_> = spec.ops.iter().map(|o| write_op(&mut b, o)).collect();
        let ops = b.create_vector(&ops);
        let inputs = b.create_vector(&spec.inputs);
        let outputs = b.create_vector(&spec.outputs);
        let name = b.create_string("main");
        subgraphs.push(fb::SubGraph::create(
            &mut b,
            &fb::SubGraphArgs { tensors: Some(tensors), inputs: Some(inputs), outputs: Some(outputs), operators: Some(ops), name: Some(name) },
        ));
    }
    let subgraphs = b.create_vector(&subgraphs);
    let description = b.create_string("msf-planner test model");
    let model = fb::Model::create(
        &mut b,
        &fb::ModelArgs {
            version: 3,
            operator_codes: Some(opcodes),
            subgraphs: Some(subgraphs),
            description: Some(description),
            buffers: Some(buffers),
        },
    );
    fb::finish_model_buffer(&mut b, model);
    b.finished_data().to_vec()
}

fn write_tensor<'a>(b: &mut FlatBufferBuilder<'a>, t: &TensorSpec) -> flatbuffers::WIPOffset<fb::Tensor<'a>> {
    let shape = b.create_vector(&t.shape);
    let name = b.create_string(&t.name);
    let quantization = t.quant.as_ref().map(|q| {
        let scale = b.create_vector(&q.scale);
        let zero_point = b.create_vector(&q.zero_point);
        fb::QuantizationParameters::create(
            b,
            &fb::QuantizationParametersArgs {
                scale: Some(scale),
                zero_point: Some(zero_point),
                quantized_dimension: q.quantized_dimension,
                ..Default::default()
            },
        )
    });
    fb::Tensor::create(
        b,
        &fb::TensorArgs { shape: Some(shape), type_: fb::TensorType(t.dtype), buffer: t.buffer, name: Some(name), quantization, sparsity: None },
    )
}

fn write_op<'a>(b: &mut FlatBufferBuilder<'a>, o: &OpSpec) -> flatbuffers::WIPOffset<fb::Operator<'a>> {
    use fb::{ActivationFunctionType as Act, Padding as Pad};
    let (kind, options) = match o.options {
        OptionsSpec::None => (fb::BuiltinOptions::NONE, None),
        OptionsSpec::Conv2d { padding, stride, dilation, activation } => {
            let args = fb::Conv2DOptionsArgs {
                padding: Pad(padding),
                stride_h: stride[0],
                stride_w: stride[1],
                dilation_h_factor: dilation[0],
                dilation_w_factor: dilation[1],
                fused_activation_function: Act(activation),
            };
            (fb::BuiltinOptions::Conv2DOptions, Some(fb::Conv2DOptions::create(b, &args).as_union_value()))
        }
        OptionsSpec::DepthwiseConv2d { padding, stride, dilation, depth_multiplier, activation } => {
            let args = fb::DepthwiseConv2DOptionsArgs {
                padding: Pad(padding),
                stride_h: stride[0],
                stride_w: stride[1],
                dilation_h_factor: dilation[0],
                dilation_w_factor: dilation[1],
                depth_multiplier,
                fused_activation_function: Act(activation),
            };
            (fb::BuiltinOptions::DepthwiseConv2DOptions, Some(fb::DepthwiseConv2DOptions::create(b, &args).as_union_value()))
        }
        OptionsSpec::Pool2d { padding, stride, filter, activation } => {
            let args = fb::Pool2DOptionsArgs {
                padding: Pad(padding),
                stride_h: stride[0],
                stride_w: stride[1],
                filter_height: filter[0],
                filter_width: filter[1],
                fused_activation_function: Act(activation),
            };
            (fb::BuiltinOptions::Pool2DOptions, Some(fb::Pool2DOptions::create(b, &args).as_union_value()))
        }
        OptionsSpec::FullyConnected { activation, keep_num_dims, weights_format } => {
            let args = fb::FullyConnectedOptionsArgs {
                fused_activation_function: Act(activation),
                keep_num_dims,
                weights_format: fb::FullyConnectedOptionsWeightsFormat(weights_format),
            };
            (fb::BuiltinOptions::FullyConnectedOptions, Some(fb::FullyConnectedOptions::create(b, &args).as_union_value()))
        }
        OptionsSpec::Softmax { beta } => {
            (fb::BuiltinOptions::SoftmaxOptions, Some(fb::SoftmaxOptions::create(b, &fb::SoftmaxOptionsArgs { beta }).as_union_value()))
        }
        OptionsSpec::Concatenation { axis, activation } => {
            let args = fb::ConcatenationOptionsArgs { axis, fused_activation_function: Act(activation) };
            (fb::BuiltinOptions::ConcatenationOptions, Some(fb::ConcatenationOptions::create(b, &args).as_union_value()))
        }
        OptionsSpec::Add { activation } => {
            let args = fb::AddOptionsArgs { fused_activation_function: Act(activation) };
            (fb::BuiltinOptions::AddOptions, Some(fb::AddOptions::create(b, &args).as_union_value()))
        }
        OptionsSpec::Reducer { keep_dims } => {
            (fb::BuiltinOptions::ReducerOptions, Some(fb::ReducerOptions::create(b, &fb::ReducerOptionsArgs { keep_dims }).as_union_value()))
        }
    };
    let inputs = b.create_vector(&o.inputs);
    let outputs = b.create_vector(&o.outputs);
    fb::Operator::create(
        b,
        &fb::OperatorArgs {
            opcode_index: o.opcode_index,
            inputs: Some(inputs),
            outputs: Some(outputs),
            builtin_options_type: kind,
            builtin_options: options,
        },
    )
}
