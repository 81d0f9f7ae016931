//! Constants: initializers and Constant-node tensors decoded from their `TensorProto`.

use super::proto::TensorProto;
use crate::error::{ImportError, Result};
use crate::graph::DType;
use crate::validate::checked_elements;

/// A constant tensor in ONNX layout: little-endian bytes, row-major in `dims`.
#[derive(Debug, Clone)]
pub(super) struct Const {
    pub(super) name: String,
    pub(super) dims: Vec<usize>,
    pub(super) dtype: DType,
    /// Element size in bytes (also for [`DType::Other`] types we keep, e.g. bool, float16).
    pub(super) elem: usize,
    pub(super) data: Vec<u8>,
}

impl Const {
    pub(super) fn count(&self) -> usize {
        self.dims.iter().product()
    }
    pub(super) fn f32s(&self) -> Option<Vec<f32>> {
        (self.dtype == DType::Float32).then(|| self.data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
    /// Integer elements widened to i64 (int8/uint8/int16/int32/int64).
    pub(super) fn ints(&self) -> Option<Vec<i64>> {
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
    pub(super) fn reals(&self) -> Option<Vec<f64>> {
        match self.f32s() {
            Some(v) => Some(v.into_iter().map(f64::from).collect()),
            None => self.ints().map(|v| v.into_iter().map(|x| x as f64).collect()),
        }
    }
    pub(super) fn from_f32(name: &str, dims: Vec<usize>, v: &[f32]) -> Const {
        Const { name: name.into(), dims, dtype: DType::Float32, elem: 4, data: v.iter().flat_map(|x| x.to_le_bytes()).collect() }
    }
}

/// Map an ONNX element type to the IR's, with the element size in bytes.
pub(super) fn onnx_dtype(t: i32) -> (DType, Option<usize>) {
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
pub(super) fn decode_tensor(t: &TensorProto, index: usize) -> Result<Const> {
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
