//! What follows an op and folds into it: a Relu / Clip as the fused activation, a QuantizeLinear
//! as the output's quantisation.

use super::attrs::{attr, attr_f};
use super::qdq::QParams;
use super::{Builder, Value};
use crate::error::Result;
use crate::graph::{Activation, DType, OpKind};

/// Activation of a Relu or a Clip with range `[lo, hi]`, if the IR has one for it.
pub(super) fn clip_activation(lo: f64, hi: f64) -> Option<Activation> {
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
pub(super) struct Tail {
    pub(super) activation: Activation,
    /// The Relu/Clip node folded in, if any.
    pub(super) act_node: Option<usize>,
    /// Name of the value after the activation (the op's own output when there is none).
    pub(super) real_name: String,
    /// The QuantizeLinear that follows, with its parameters and output name.
    pub(super) q: Option<(usize, QParams, String)>,
}

pub(super) fn set_activation(kind: OpKind, act: Activation) -> OpKind {
    match kind {
        OpKind::Conv2d { window, .. } => OpKind::Conv2d { window, activation: act },
        OpKind::DepthwiseConv2d { window, depth_multiplier, .. } => OpKind::DepthwiseConv2d { window, depth_multiplier, activation: act },
        OpKind::FullyConnected { keep_num_dims, .. } => OpKind::FullyConnected { activation: act, keep_num_dims },
        OpKind::Add { .. } => OpKind::Add { activation: act },
        other => other,
    }
}

impl<'g> Builder<'g> {
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
    pub(super) fn tail(&self, k: usize, fuse_activation: bool) -> Result<Tail> {
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
    pub(super) fn clip_range(&self, c: usize) -> Result<Option<(f64, f64)>> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_ranges() {
        assert_eq!(clip_activation(0.0, 6.0), Some(Activation::Relu6));
        assert_eq!(clip_activation(0.0, f64::INFINITY), Some(Activation::Relu));
        assert_eq!(clip_activation(0.0, 4.0), None);
    }
}
