//! Per-op figures for `msf inspect` and the views: MACs, weight bytes, activation bytes.

use crate::graph::{Graph, OpKind};
use serde::Serialize;

/// Figures of one op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpStats {
    /// Multiply-accumulates: conv, depthwise and fully connected (per inference, batch included).
    /// Pools and MEAN count one accumulate per window element, ADD none.
    pub macs: u64,
    /// Bytes of the op's constant inputs (weights, biases).
    pub weight_bytes: u64,
    /// Bytes of the op's activation inputs plus its outputs.
    pub activation_bytes: u64,
}

/// Kernel height and width of a spatial op: from the filter tensor for convolutions, from the
/// attribute for pools.
pub fn kernel_size(graph: &Graph, op: usize) -> Option<[usize; 2]> {
    let op = &graph.ops[op];
    match &op.kind {
        OpKind::Conv2d { .. } | OpKind::DepthwiseConv2d { .. } => {
            let f = &graph.tensors[*op.inputs.get(1)?].shape;
            (f.len() == 4).then(|| [f[1], f[2]])
        }
        OpKind::AveragePool2d { filter, .. } | OpKind::MaxPool2d { filter, .. } => Some(*filter),
        _ => None,
    }
}

pub fn op_stats(graph: &Graph, index: usize) -> OpStats {
    let op = &graph.ops[index];
    let t = |id: usize| &graph.tensors[id];
    let out_elems: u64 = op.outputs.first().map(|&o| t(o).num_elements() as u64).unwrap_or(0);
    // Products of dims, in u64 and saturating: importers bound every tensor, but pool windows are
    // attributes and `usize` is 32 bits on wasm32.
    let product = |dims: &[usize]| dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d as u64));
    let filter = |i: usize| op.inputs.get(i).map(|&w| t(w).shape.as_slice()).unwrap_or(&[]);
    let macs = match &op.kind {
        // out elements x (kh * kw * Cin)
        OpKind::Conv2d { .. } => match filter(1) {
            [_, kh, kw, cin] => out_elems.saturating_mul(product(&[*kh, *kw, *cin])),
            _ => 0,
        },
        OpKind::DepthwiseConv2d { .. } => match filter(1) {
            [_, kh, kw, _] => out_elems.saturating_mul(product(&[*kh, *kw])),
            _ => 0,
        },
        OpKind::FullyConnected { .. } => out_elems.saturating_mul(filter(1).last().copied().unwrap_or(0) as u64),
        OpKind::AveragePool2d { filter, .. } | OpKind::MaxPool2d { filter, .. } => out_elems.saturating_mul(product(filter)),
        OpKind::Mean { .. } => op.inputs.first().map(|&i| t(i).num_elements() as u64).unwrap_or(0),
        _ => 0,
    };
    let mut weight_bytes = 0u64;
    let mut activation_bytes = 0u64;
    for &i in &op.inputs {
        if t(i).is_constant() {
            weight_bytes += t(i).byte_size() as u64;
        } else {
            activation_bytes += t(i).byte_size() as u64;
        }
    }
    for &o in &op.outputs {
        activation_bytes += t(o).byte_size() as u64;
    }
    OpStats { macs, weight_bytes, activation_bytes }
}

/// Sum of conv and depthwise MACs: the paper's "vanilla" compute figure.
pub fn conv_macs(graph: &Graph) -> u64 {
    (0..graph.ops.len())
        .filter(|&i| matches!(graph.ops[i].kind, OpKind::Conv2d { .. } | OpKind::DepthwiseConv2d { .. }))
        .map(|i| op_stats(graph, i).macs)
        .sum()
}
