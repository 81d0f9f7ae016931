//! Hand-built graphs for the native tests (no importer needed).

use msf_model::*;

fn act(name: &str, shape: &[usize]) -> Tensor {
    Tensor { name: name.into(), shape: shape.to_vec(), dtype: DType::Int8, quant: None, data: None }
}

fn weight(name: &str, shape: &[usize], dtype: DType) -> Tensor {
    let n: usize = shape.iter().product::<usize>() * dtype.size().unwrap_or(1);
    Tensor { name: name.into(), shape: shape.to_vec(), dtype, quant: None, data: Some(vec![0; n]) }
}

fn win(stride: usize) -> Window {
    Window { stride: [stride, stride], dilation: [1, 1], padding: Padding::Same }
}

/// input 8x8x3 -> conv 3x3/2 (t1 4x4x8) -> depthwise 3x3 (t2) -> conv 1x1 (t3) -> add(t1, t3).
pub fn residual() -> Graph {
    let tensors = vec![
        act("input", &[1, 8, 8, 3]),
        weight("conv_w", &[8, 3, 3, 3], DType::Int8),
        weight("conv_b", &[8], DType::Int32),
        act("t1", &[1, 4, 4, 8]),
        weight("dw_w", &[1, 3, 3, 8], DType::Int8),
        act("t2", &[1, 4, 4, 8]),
        weight("pw_w", &[8, 1, 1, 8], DType::Int8),
        act("t3", &[1, 4, 4, 8]),
        act("out", &[1, 4, 4, 8]),
    ];
    let ops = vec![
        Op { kind: OpKind::Conv2d { window: win(2), activation: Activation::Relu6 }, inputs: vec![0, 1, 2], outputs: vec![3], name: "conv".into() },
        Op { kind: OpKind::DepthwiseConv2d { window: win(1), depth_multiplier: 1, activation: Activation::Relu6 }, inputs: vec![3, 4], outputs: vec![5], name: "dw".into() },
        Op { kind: OpKind::Conv2d { window: win(1), activation: Activation::None }, inputs: vec![5, 6], outputs: vec![7], name: "pw".into() },
        Op { kind: OpKind::Add { activation: Activation::None }, inputs: vec![3, 7], outputs: vec![8], name: "add".into() },
    ];
    let mut g = Graph { name: "residual <test>".into(), tensors, ops, inputs: vec![0], outputs: vec![8], format: msf_model::Format::Tflite };
    msf_model::validate::validate(&mut g).expect("hand-built graph is valid");
    g
}
