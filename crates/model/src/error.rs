//! Typed import errors. Every message names what is wrong and where, so a person can act on it.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ImportError {
    #[error("the file is {len} bytes: too short to be a model")]
    TooShort { len: usize },
    #[error("not a TFLite (flatbuffer with identifier \"TFL3\") or ONNX (protobuf ModelProto) file")]
    UnknownFormat,
    #[error("invalid TFLite flatbuffer: {0}")]
    InvalidFlatbuffer(String),
    #[error("invalid ONNX protobuf: {0}")]
    InvalidProtobuf(String),
    #[error("the model has {0} subgraphs/graphs; exactly one is supported")]
    SubgraphCount(usize),
    #[error("tensor {tensor} (\"{name}\"): {reason}")]
    BadTensor { tensor: usize, name: String, reason: String },
    #[error("tensor {tensor} (\"{name}\") has {elements} elements, more than the limit of {limit}")]
    TensorTooLarge { tensor: usize, name: String, elements: u128, limit: u64 },
    #[error("tensor {tensor} (\"{name}\"): constant data is {actual} bytes but shape {shape:?} of {dtype} needs {expected}")]
    BufferSizeMismatch { tensor: usize, name: String, shape: Vec<usize>, dtype: String, expected: u128, actual: usize },
    #[error("op {op} ({op_name}): {reason}")]
    BadOp { op: usize, op_name: String, reason: String },
    #[error("op {op} ({op_name}) refers to tensor {tensor}, but the model has {count} tensors")]
    TensorOutOfRange { op: usize, op_name: String, tensor: i64, count: usize },
    #[error("the graph has a cycle through op {op} ({op_name}): its input \"{tensor}\" depends on its own output")]
    Cycle { op: usize, op_name: String, tensor: String },
    #[error("op {op} ({op_name}) reads \"{tensor}\", which no op, graph input or initializer provides")]
    MissingTensor { op: usize, op_name: String, tensor: String },
    #[error("the model declares no graph outputs: nothing to compute (a model needs at least one output tensor)")]
    NoOutputs,
    #[error("graph {which} {index} refers to tensor {tensor}, which does not exist")]
    BadGraphIo { which: &'static str, index: usize, tensor: i64 },
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T, E = ImportError> = core::result::Result<T, E>;
