//! Format-independent checks every importer runs last: ids in range, shapes that are sane and
//! bounded, constant data that matches its shape, and ops in a topological order (reordering
//! them if the file did not, rejecting cycles).

use crate::error::{ImportError, Result};
use crate::graph::{DType, Graph, Op, TensorId};

/// No tensor may hold more elements than this. An MCU has under 1 MiB of RAM; 2^28 elements
/// leaves room for any real model on the host while keeping a hostile shape from allocating
/// gigabytes (or overflowing `usize` on wasm32).
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 28;

/// Element count of `shape`, checked against [`MAX_TENSOR_ELEMENTS`].
pub fn checked_elements(shape: &[i64], tensor: usize, name: &str) -> Result<Vec<usize>> {
    let mut elements: u128 = 1;
    let mut out = Vec::with_capacity(shape.len());
    if shape.len() > 8 {
        return Err(ImportError::BadTensor { tensor, name: name.into(), reason: format!("rank {} is more than 8", shape.len()) });
    }
    for &d in shape {
        if d <= 0 {
            return Err(ImportError::BadTensor {
                tensor,
                name: name.into(),
                reason: format!("dimension {d} in shape {shape:?}: every dimension must be at least 1"),
            });
        }
        elements = elements.saturating_mul(d as u128);
        out.push(d as usize);
    }
    if elements > MAX_TENSOR_ELEMENTS as u128 {
        return Err(ImportError::TensorTooLarge { tensor, name: name.into(), elements, limit: MAX_TENSOR_ELEMENTS });
    }
    Ok(out)
}

/// A usable quantisation scale: a positive normal float. Zero, negative, NaN, infinite and
/// denormal scales (whose reciprocal overflows, and which no converter writes) are refused.
pub fn is_valid_scale(s: f32) -> bool {
    s.is_normal() && s > 0.0
}

/// The zero points a quantised tensor of `dtype` may have: its integer range for int8, uint8
/// and int16, exactly 0 for int32 (biases: TFLite and the runtime add them unshifted). `None`:
/// no constraint (float tensors, whose quantisation table is informational).
pub fn zero_point_range(dtype: DType) -> Option<(i64, i64)> {
    match dtype {
        DType::Int8 => Some((-128, 127)),
        DType::UInt8 => Some((0, 255)),
        DType::Int16 => Some((i16::MIN as i64, i16::MAX as i64)),
        DType::Int32 => Some((0, 0)),
        _ => None,
    }
}

/// Check the whole graph and put its ops in topological order.
pub fn validate(graph: &mut Graph) -> Result<()> {
    let count = graph.tensors.len();
    for (i, t) in graph.tensors.iter().enumerate() {
        let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
        checked_elements(&shape, i, &t.name)?;
        if let (Some(data), Some(size)) = (&t.data, t.dtype.size()) {
            let expected = t.num_elements() as u128 * size as u128;
            if data.len() as u128 != expected {
                return Err(ImportError::BufferSizeMismatch {
                    tensor: i,
                    name: t.name.clone(),
                    shape: t.shape.clone(),
                    dtype: t.dtype.to_string(),
                    expected,
                    actual: data.len(),
                });
            }
        }
        if let Some(q) = &t.quant {
            if q.scale.len() != q.zero_point.len() || q.scale.is_empty() {
                return Err(ImportError::BadTensor {
                    tensor: i,
                    name: t.name.clone(),
                    reason: format!("{} scales but {} zero points", q.scale.len(), q.zero_point.len()),
                });
            }
            if q.scale.len() > 1 && (q.axis >= t.shape.len() || t.shape[q.axis] != q.scale.len()) {
                return Err(ImportError::BadTensor {
                    tensor: i,
                    name: t.name.clone(),
                    reason: format!("{} per-channel scales along axis {} of shape {:?}", q.scale.len(), q.axis, t.shape),
                });
            }
            if let Some((c, s)) = q.scale.iter().enumerate().find(|(_, s)| !is_valid_scale(**s)) {
                return Err(ImportError::BadTensor {
                    tensor: i,
                    name: t.name.clone(),
                    reason: format!("quantisation scale {c} is {s:?}: a scale must be a positive normal float (at least {:?}, finite)", f32::MIN_POSITIVE),
                });
            }
            if let Some((lo, hi)) = zero_point_range(t.dtype) {
                if let Some((c, z)) = q.zero_point.iter().enumerate().find(|(_, z)| !(lo..=hi).contains(*z)) {
                    let want = if lo == hi { format!("be {lo}") } else { format!("lie in {lo}..={hi}") };
                    return Err(ImportError::BadTensor {
                        tensor: i,
                        name: t.name.clone(),
                        reason: format!("quantisation zero point {c} is {z}: {} zero points must {want}", t.dtype),
                    });
                }
            }
        }
    }
    if graph.outputs.is_empty() {
        return Err(ImportError::NoOutputs);
    }
    for (which, list) in [("input", &graph.inputs), ("output", &graph.outputs)] {
        for (index, &t) in list.iter().enumerate() {
            if t >= count {
                return Err(ImportError::BadGraphIo { which, index, tensor: t as i64 });
            }
        }
    }
    for (i, op) in graph.ops.iter().enumerate() {
        for &t in op.inputs.iter().chain(&op.outputs) {
            if t >= count {
                return Err(ImportError::TensorOutOfRange { op: i, op_name: op.kind.name().into(), tensor: t as i64, count });
            }
        }
    }
    topo_sort(graph)
}

/// Kahn's algorithm over tensor availability, linear in the graph size. Keeps the file's order
/// when it is already topological (the usual case; ready ops are taken lowest index first) and
/// fails naming the op on a cycle or on an input nothing provides.
fn topo_sort(graph: &mut Graph) -> Result<()> {
    use std::collections::BinaryHeap;
    use std::cmp::Reverse;
    let n = graph.tensors.len();
    let mut available = vec![false; n];
    for (i, t) in graph.tensors.iter().enumerate() {
        available[i] = t.is_constant();
    }
    for &i in &graph.inputs {
        available[i] = true;
    }
    let mut producer_count = vec![0usize; n];
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut waiting = vec![0usize; graph.ops.len()];
    for (k, op) in graph.ops.iter().enumerate() {
        for &o in &op.outputs {
            producer_count[o] += 1;
        }
        let mut inputs: Vec<TensorId> = op.inputs.clone();
        inputs.sort_unstable();
        inputs.dedup();
        for t in inputs {
            if !available[t] {
                waiting[k] += 1;
                consumers[t].push(k);
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..graph.ops.len()).filter(|&k| waiting[k] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(graph.ops.len());
    while let Some(Reverse(k)) = ready.pop() {
        order.push(k);
        for &o in &graph.ops[k].outputs {
            if !available[o] {
                available[o] = true;
                for &c in &consumers[o] {
                    waiting[c] -= 1;
                    if waiting[c] == 0 {
                        ready.push(Reverse(c));
                    }
                }
            }
        }
    }
    if order.len() < graph.ops.len() {
        let k = (0..graph.ops.len()).find(|&k| waiting[k] > 0).expect("some op is blocked");
        let op: &Op = &graph.ops[k];
        let missing: TensorId = *op.inputs.iter().find(|&&t| !available[t]).expect("blocked op has a missing input");
        let name = graph.tensors[missing].name.clone();
        return Err(if producer_count[missing] == 0 {
            ImportError::MissingTensor { op: k, op_name: op.kind.name().into(), tensor: name }
        } else {
            ImportError::Cycle { op: k, op_name: op.kind.name().into(), tensor: name }
        });
    }
    let mut old: Vec<Option<Op>> = core::mem::take(&mut graph.ops).into_iter().map(Some).collect();
    graph.ops = order.into_iter().map(|k| old[k].take().expect("each op once")).collect();
    Ok(())
}
