//! The planner's view of a graph: every op classified by how it can be streamed (a sliding
//! window, a pointwise op or join, a global mean, or "other": a single-layer stage only), with
//! its activation inputs/outputs, shapes and MACs. Built once per planning call.

use crate::PlanError;
use msf_model::stats::{kernel_size, op_stats};
use msf_model::{Graph, OpKind, Padding, TensorId};

/// How an op can take part in a fused block.
#[derive(Debug, Clone, PartialEq)]
pub enum Class {
    /// Convolution, depthwise convolution or pool: a `k` window moved by `s`, padded by `pad`
    /// pixels before (height, width). `pad_paper` is the reference's symmetric `(k-1)/2`.
    Window { k: [usize; 2], s: [usize; 2], d: [usize; 2], pad: [usize; 2], pad_paper: [usize; 2] },
    /// Output pixel (y, x) needs only input pixel (y, x): ADD, activations, (de)quantise.
    Pointwise,
    /// MEAN over height and width: can end a fused block, accumulating rows as they arrive.
    GlobalMean,
    /// Anything else (softmax, reshape, pad, fully connected...): a single-layer stage.
    Other,
}

#[derive(Debug, Clone)]
pub struct NetOp {
    pub index: usize,
    pub name: String,
    /// What the op computes: every decision reads this, never the name.
    pub kind: OpKind,
    /// The op's name for labels and messages (`OpKind::name`).
    pub op_name: String,
    pub class: Class,
    /// Activation (non-constant) inputs, in op order.
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
    /// MACs of the unfused op (msf_model::stats).
    pub macs: u64,
    /// Bytes of scratch its kernel needs beside its tensors: a CONV_2D's im2col patch
    /// (`msf_runtime::spatial::conv_scratch_bytes`), 0 for every other op.
    pub scratch: usize,
}

#[derive(Debug, Clone)]
pub struct Net {
    pub ops: Vec<NetOp>,
    /// Per tensor: NHWC dims if the tensor is a 4-D batch-1 activation.
    pub hwc: Vec<Option<[usize; 3]>>,
    /// Per tensor: size in bytes.
    pub bytes: Vec<usize>,
    /// Per tensor: element size in bytes.
    pub esize: Vec<usize>,
    /// Per tensor: index of the producing op (None for graph inputs and constants).
    pub producer: Vec<Option<usize>>,
    /// Per tensor: index of the last consuming op (None if no op reads it).
    pub last_use: Vec<Option<usize>>,
    pub is_graph_input: Vec<bool>,
    pub is_graph_output: Vec<bool>,
    /// Per tensor: the ops reading it.
    pub consumers: Vec<Vec<usize>>,
}

impl Net {
    pub fn new(g: &Graph) -> Result<Net, PlanError> {
        if g.ops.is_empty() {
            return Err(PlanError::EmptyGraph);
        }
        if let Some((index, op)) = g.first_opaque() {
            return Err(PlanError::Opaque { index, op: op.kind.name().to_string(), name: op.name.clone() });
        }
        Self::build(g, true)
    }

    /// The view of any graph, for the layer-by-layer schedule (which needs no fusion): opaque
    /// ops, element types without a size and windows the planner cannot classify are taken as
    /// they are (class `Other`, size 0) instead of refused.
    pub fn lenient(g: &Graph) -> Net {
        Self::build(g, false).expect("a lenient build refuses nothing")
    }

    fn build(g: &Graph, strict: bool) -> Result<Net, PlanError> {
        let nt = g.tensors.len();
        let mut hwc = vec![None; nt];
        let mut bytes = vec![0; nt];
        let mut esize = vec![0; nt];
        for (i, t) in g.tensors.iter().enumerate() {
            bytes[i] = t.byte_size();
            esize[i] = t.dtype.size().unwrap_or(0);
            if t.shape.len() == 4 && t.shape[0] == 1 {
                hwc[i] = Some([t.shape[1], t.shape[2], t.shape[3]]);
            }
        }
        let mut producer = vec![None; nt];
        let mut last_use = vec![None; nt];
        let mut consumers = vec![Vec::new(); nt];
        let mut ops = Vec::with_capacity(g.ops.len());
        for (i, op) in g.ops.iter().enumerate() {
            let inputs = g.activation_inputs(i);
            for &t in &inputs {
                if strict && g.tensors[t].dtype.size().is_none() {
                    return Err(PlanError::Unsupported {
                        index: i,
                        op: op.kind.name().to_string(),
                        reason: format!("input tensor {t} (\"{}\") has an element type the planner cannot size", g.tensors[t].name),
                    });
                }
                last_use[t] = Some(i);
                if !consumers[t].contains(&i) {
                    consumers[t].push(i);
                }
            }
            for &t in &op.outputs {
                producer[t] = Some(i);
            }
            let class = match classify(g, i, &hwc) {
                Err(e) if strict => return Err(e),
                c => c.unwrap_or(Class::Other),
            };
            ops.push(NetOp {
                index: i,
                name: op.name.clone(),
                kind: op.kind.clone(),
                op_name: op.kind.name().to_string(),
                class,
                inputs,
                outputs: op.outputs.clone(),
                macs: op_stats(g, i).macs,
                scratch: conv_scratch(g, i),
            });
        }
        let mut is_graph_input = vec![false; nt];
        for &t in &g.inputs {
            is_graph_input[t] = true;
        }
        let mut is_graph_output = vec![false; nt];
        for &t in &g.outputs {
            is_graph_output[t] = true;
        }
        Ok(Net { ops, hwc, bytes, esize, producer, last_use, is_graph_input, is_graph_output, consumers })
    }

    /// Sum of every op's MACs: the unfused ("vanilla") compute.
    pub fn vanilla_macs(&self) -> u64 {
        self.ops.iter().map(|o| o.macs).sum()
    }

    /// Is tensor `t` alive (held whole) at cut `c` (between op c-1 and op c)?
    pub fn live_at_cut(&self, t: TensorId, c: usize) -> bool {
        let born = match self.producer[t] {
            Some(p) => p < c,
            None => self.is_graph_input[t],
        };
        if !born {
            return false;
        }
        self.is_graph_output[t] || self.last_use[t].is_some_and(|u| u >= c)
    }

    pub fn is_io(&self, t: TensorId) -> bool {
        self.is_graph_input[t] || self.is_graph_output[t]
    }
}

/// The im2col patch of a CONV_2D, as the runtime's conv kernels use it (filter OHWI
/// `[out_c, kh, kw, in_c]`, element size of the input).
fn conv_scratch(g: &Graph, i: usize) -> usize {
    let op = &g.ops[i];
    if !matches!(op.kind, OpKind::Conv2d { .. }) {
        return 0;
    }
    let (Some(&x), Some(&f)) = (op.inputs.first(), op.inputs.get(1)) else { return 0 };
    let s = &g.tensors[f].shape;
    let es = g.tensors[x].dtype.size().unwrap_or(0);
    if s.len() != 4 {
        return 0;
    }
    msf_runtime::spatial::conv_scratch_bytes(s[1], s[2], s[3], es)
}

fn classify(g: &Graph, i: usize, hwc: &[Option<[usize; 3]>]) -> Result<Class, PlanError> {
    let op = &g.ops[i];
    let acts = g.activation_inputs(i);
    let spatial_io = acts.iter().all(|&t| hwc[t].is_some()) && op.outputs.len() == 1 && hwc[op.outputs[0]].is_some() && !acts.is_empty();
    let bad = |reason: String| PlanError::Unsupported { index: i, op: op.kind.name().to_string(), reason };
    Ok(match &op.kind {
        OpKind::Conv2d { window, .. }
        | OpKind::DepthwiseConv2d { window, .. }
        | OpKind::AveragePool2d { window, .. }
        | OpKind::MaxPool2d { window, .. } => {
            if !spatial_io || acts.len() != 1 {
                return Ok(Class::Other);
            }
            let k = kernel_size(g, i).ok_or_else(|| bad("cannot read the kernel size".into()))?;
            let inp = hwc[acts[0]].unwrap_or([0; 3]);
            let out = hwc[op.outputs[0]].unwrap_or([0; 3]);
            let mut pad = [0; 2];
            let mut pad_paper = [0; 2];
            for a in 0..2 {
                let (p, o) = window
                    .padding
                    .resolve(a, inp[a], k[a], window.stride[a], window.dilation[a])
                    .ok_or_else(|| bad(format!("window {}x{} does not fit input {}x{}", k[0], k[1], inp[0], inp[1])))?;
                if o != out[a] {
                    return Err(bad(format!("output {} is {} along axis {a}, the window gives {o}", op.outputs[0], out[a])));
                }
                pad[a] = p.before;
                pad_paper[a] = match window.padding {
                    Padding::Valid => 0,
                    _ => (k[a] - 1) / 2,
                };
            }
            Class::Window { k, s: window.stride, d: window.dilation, pad, pad_paper }
        }
        OpKind::Add { .. } | OpKind::Relu | OpKind::Relu6 | OpKind::Logistic | OpKind::Quantize | OpKind::Dequantize => {
            let out = op.outputs.first().and_then(|&o| hwc[o]);
            // Broadcasting adds are not pointwise in space: only same-shaped operands stream.
            if spatial_io && acts.iter().all(|&t| hwc[t].map(|s| s[..2] == out.unwrap()[..2]).unwrap_or(false)) {
                Class::Pointwise
            } else {
                Class::Other
            }
        }
        // A channel concatenation is pointwise in space, but the runtime runs it as one strided
        // copy per input, which cannot stream yet: a layer stage, so no plan needs what the
        // fused executor cannot do.
        OpKind::Concatenation { .. } => Class::Other,
        OpKind::Mean { axes, .. } => {
            let mut ax = axes.clone();
            ax.sort_unstable();
            ax.dedup();
            if acts.len() == 1 && hwc[acts[0]].is_some() && ax == [1, 2] && op.outputs.len() == 1 {
                Class::GlobalMean
            } else {
                Class::Other
            }
        }
        _ => Class::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::Builder;
    use msf_model::{Activation, Op};

    #[test]
    fn classes_of_common_ops() {
        let mut b = Builder::new("c", 8, 8, 4);
        b.conv(4, 3, 2); // 0: window, SAME on even 8 -> pad 0 before
        let x = b.cur;
        b.dw(3, 1); // 1: window, pad 1
        b.add(x); // 2: pointwise join
        b.mean(); // 3: global mean
        b.fc(2); // 4: other
        let net = Net::new(&b.finish()).unwrap();
        assert_eq!(net.ops[0].class, Class::Window { k: [3, 3], s: [2, 2], d: [1, 1], pad: [0, 0], pad_paper: [1, 1] });
        assert!(matches!(net.ops[1].class, Class::Window { pad: [1, 1], .. }));
        assert_eq!(net.ops[2].class, Class::Pointwise);
        assert_eq!(net.ops[3].class, Class::GlobalMean);
        assert_eq!(net.ops[4].class, Class::Other);
        // Live tensors: the conv output is read by the dw and by the add.
        assert_eq!(net.consumers[x], vec![1, 2]);
        assert!(net.live_at_cut(x, 2) && !net.live_at_cut(x, 3));
    }

    #[test]
    fn broadcasting_add_is_not_pointwise() {
        let mut b = Builder::new("bc", 4, 4, 2);
        b.conv(2, 1, 1);
        let x = b.cur;
        let mut g = b.finish();
        // A [1,1,1,2] operand broadcast over the map.
        g.tensors.push(msf_model::Tensor { name: "v".into(), shape: vec![1, 1, 1, 2], dtype: msf_model::DType::Int8, quant: None, data: None });
        let v = g.tensors.len() - 1;
        g.inputs.push(v);
        g.tensors.push(msf_model::Tensor { name: "o".into(), shape: vec![1, 4, 4, 2], dtype: msf_model::DType::Int8, quant: None, data: None });
        let o = g.tensors.len() - 1;
        g.ops.push(Op { kind: OpKind::Add { activation: Activation::None }, inputs: vec![x, v], outputs: vec![o], name: "add".into() });
        g.outputs = vec![o];
        let net = Net::new(&g).unwrap();
        assert_eq!(net.ops[1].class, Class::Other);
    }
}
