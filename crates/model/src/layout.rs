//! The one NCHW <-> NHWC conversion: the ONNX importer's weight and constant transposes, and the
//! file <-> IR byte conversion of graph inputs and outputs (exec, codegen and the tests use it).
//!
//! The IR keeps activations NHWC whatever the file says; a graph whose [`Graph::format`] is
//! [`Format::Onnx`] therefore takes its rank-4 inputs and gives its rank-4 outputs in a different
//! order from the file's (`NAME.input.bin`, `NAME.output.bin` are NCHW): [`input_to_ir`] and
//! [`output_to_file`] convert. Everything else passes unchanged.

use crate::graph::{Format, Graph, Tensor};

/// Permute a row-major tensor of `dims` (elements of `elem` bytes) by `perm`: output dimension
/// `i` is input dimension `perm[i]`. `data.len()` must be `product(dims) * elem`.
pub fn transpose(data: &[u8], elem: usize, dims: &[usize], perm: &[usize]) -> Vec<u8> {
    let rank = dims.len();
    debug_assert_eq!(perm.len(), rank);
    let count: usize = dims.iter().product();
    debug_assert_eq!(data.len(), count * elem);
    // Strides of the input, visited in output order.
    let mut in_strides = vec![1usize; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        in_strides[d] = in_strides[d + 1] * dims[d + 1];
    }
    let out_dims: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let mut out = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; rank];
    for _ in 0..count {
        let src: usize = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
        out.extend_from_slice(&data[src * elem..(src + 1) * elem]);
        // Odometer increment over the output index.
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < out_dims[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// NCHW bytes (the file's layout, e.g. `NAME.input.bin`) to NHWC (the IR's). `shape` is the
/// NCHW shape; `elem` the element size in bytes.
pub fn nchw_to_nhwc(data: &[u8], shape: [usize; 4], elem: usize) -> Vec<u8> {
    transpose(data, elem, &shape, &[0, 2, 3, 1])
}

/// NHWC bytes (an IR rank-4 tensor) back to NCHW. `shape` is the NHWC shape.
pub fn nhwc_to_nchw(data: &[u8], shape: [usize; 4], elem: usize) -> Vec<u8> {
    transpose(data, elem, &shape, &[0, 3, 1, 2])
}

/// The bytes IR graph input `input` takes, from bytes in the file's layout (e.g.
/// `NAME.input.bin`): rank-4 inputs of an ONNX graph go NCHW -> NHWC, everything else passes
/// unchanged. `None` if the index or the byte count is wrong.
pub fn input_to_ir(graph: &Graph, input: usize, file_bytes: &[u8]) -> Option<Vec<u8>> {
    let t = graph.tensors.get(*graph.inputs.get(input)?)?;
    relayout(graph, t, file_bytes, true)
}

/// The bytes of IR graph output `output` in the file's layout (what onnxruntime would give,
/// e.g. `NAME.output.bin`): the inverse of [`input_to_ir`] for outputs.
pub fn output_to_file(graph: &Graph, output: usize, ir_bytes: &[u8]) -> Option<Vec<u8>> {
    let t = graph.tensors.get(*graph.outputs.get(output)?)?;
    relayout(graph, t, ir_bytes, false)
}

fn relayout(graph: &Graph, t: &Tensor, bytes: &[u8], to_ir: bool) -> Option<Vec<u8>> {
    let elem = t.dtype.size()?;
    if bytes.len() != t.byte_size() {
        return None;
    }
    if graph.format != Format::Onnx || t.shape.len() != 4 {
        return Some(bytes.to_vec());
    }
    let [n, h, w, c] = [t.shape[0], t.shape[1], t.shape[2], t.shape[3]];
    Some(if to_ir { nchw_to_nhwc(bytes, [n, c, h, w], elem) } else { nhwc_to_nchw(bytes, [n, h, w, c], elem) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_nchw_to_nhwc_by_hand() {
        // NCHW [1, 2, 2, 3]: value = c*100 + h*10 + w.
        let mut src = Vec::new();
        for c in 0..2u8 {
            for h in 0..2u8 {
                for w in 0..3u8 {
                    src.push(c * 100 + h * 10 + w);
                }
            }
        }
        let out = nchw_to_nhwc(&src, [1, 2, 2, 3], 1);
        // NHWC order walks (h, w, c).
        assert_eq!(out, vec![0, 100, 1, 101, 2, 102, 10, 110, 11, 111, 12, 112]);
        assert_eq!(nhwc_to_nchw(&out, [1, 2, 3, 2], 1), src);
    }

    #[test]
    fn transpose_multibyte_elements() {
        // [2, 3] of u16 -> [3, 2].
        let src: Vec<u8> = [1u16, 2, 3, 4, 5, 6].iter().flat_map(|x| x.to_le_bytes()).collect();
        let out = transpose(&src, 2, &[2, 3], &[1, 0]);
        let vals: Vec<u16> = out.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        assert_eq!(vals, vec![1, 4, 2, 5, 3, 6]);
    }
}
