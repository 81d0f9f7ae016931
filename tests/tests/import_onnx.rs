//! ONNX import: the corpus models, the NCHW -> NHWC conversions checked element by element on
//! small hand-built models, QDQ folding, and the typed errors of bad files.

use msf_model::import::onnx::prost::Message;
use msf_model::import::onnx::proto::*;
use msf_model::import::onnx;
use msf_model::layout::{self, nchw_to_nhwc};
use msf_model::{stats, Activation, DType, Graph, ImportError, OpKind, Padding};

// ------------------------------------------------------------------------------------ helpers

fn corpus_bytes(name: &str) -> Vec<u8> {
    std::fs::read(msf_tests::model(name)).expect("corpus model exists")
}

fn load_onnx(name: &str) -> Graph {
    let bytes = corpus_bytes(&format!("{name}.onnx"));
    msf_model::load(&bytes, name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(msf_tests::models_dir().join(format!("{name}.json"))).expect("json");
    serde_json::from_str(&text).expect("valid json")
}

fn shape_of(v: &serde_json::Value) -> Vec<usize> {
    v["shape"].as_array().expect("shape").iter().map(|d| d.as_u64().expect("dim") as usize).collect()
}

fn kinds(g: &Graph) -> Vec<&str> {
    g.ops.iter().map(|o| o.kind.name()).collect()
}

fn f32_init(name: &str, dims: &[i64], vals: &[f32]) -> TensorProto {
    TensorProto { name: name.into(), dims: dims.to_vec(), data_type: 1, raw_data: vals.iter().flat_map(|v| v.to_le_bytes()).collect(), ..Default::default() }
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims.iter().map(|&d| tensor_shape_proto::Dimension { value: Some(tensor_shape_proto::dimension::Value::DimValue(d)) }).collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(type_proto::Tensor { elem_type: 1, shape: Some(TensorShapeProto { dim }) })) }),
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: 7, ints: v.to_vec(), ..Default::default() }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: 2, i: v, ..Default::default() }
}

fn model(nodes: Vec<NodeProto>, inits: Vec<TensorProto>, input: ValueInfoProto, output: &str) -> Vec<u8> {
    model_opset(17, nodes, inits, input, output)
}

fn model_opset(opset: i64, nodes: Vec<NodeProto>, inits: Vec<TensorProto>, input: ValueInfoProto, output: &str) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: opset }],
        graph: Some(GraphProto { node: nodes, initializer: inits, input: vec![input], output: vec![ValueInfoProto { name: output.into(), r#type: None }], ..Default::default() }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn op_of<'g>(g: &'g Graph, name: &str) -> &'g msf_model::Op {
    g.ops.iter().find(|o| o.kind.name() == name).unwrap_or_else(|| panic!("no {name} op in {:?}", kinds(g)))
}

/// 0, 1, 2, ... as f32: every element names its own ONNX position.
fn iota(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32).collect()
}

// ------------------------------------------------------------------------------------ corpus

#[test]
fn corpus_models_import_with_the_shapes_of_their_json() {
    for name in ["onnx_small_cnn_f32", "onnx_small_cnn_qdq_int8", "onnx_mbv2_w035_144_f32"] {
        let g = load_onnx(name);
        let j = json(name);
        assert_eq!(j["layout"], "NCHW");
        let nchw = shape_of(&j["input"]);
        assert_eq!(g.inputs.len(), 1, "{name}");
        assert_eq!(g.outputs.len(), 1, "{name}");
        let input = g.tensor(g.inputs[0]);
        // The IR keeps activations NHWC: [N, C, H, W] becomes [N, H, W, C].
        assert_eq!(input.shape, vec![nchw[0], nchw[2], nchw[3], nchw[1]], "{name}");
        assert_eq!(input.dtype.name(), j["input"]["dtype"].as_str().expect("dtype"), "{name}");
        let output = g.tensor(g.outputs[0]);
        assert_eq!(output.shape, shape_of(&j["output"]), "{name}");
        assert_eq!(output.dtype.name(), j["output"]["dtype"].as_str().expect("dtype"), "{name}");
        assert_eq!(output.name, "output");
        assert_eq!(g.format, msf_model::Format::Onnx);
        assert!(g.first_opaque().is_none(), "{name}: {:?}", g.first_opaque());
    }
}

#[test]
fn small_cnn_f32_ops_and_fused_activations() {
    let g = load_onnx("onnx_small_cnn_f32");
    assert_eq!(kinds(&g), ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD", "MAX_POOL_2D", "CONV_2D", "MEAN", "RESHAPE", "FULLY_CONNECTED"]);
    let acts: Vec<Option<Activation>> = g
        .ops
        .iter()
        .map(|o| match &o.kind {
            OpKind::Conv2d { activation, .. } | OpKind::DepthwiseConv2d { activation, .. } => Some(*activation),
            _ => None,
        })
        .collect();
    // stem Relu, dw Clip(0, 6), pointwise none, conv Relu.
    assert_eq!(acts[..3], [Some(Activation::Relu), Some(Activation::Relu6), Some(Activation::None)]);
    assert_eq!(acts[5], Some(Activation::Relu));
    // The stem (3x3, stride 2, PyTorch's symmetric pads 1) is not TFLite SAME: explicit.
    let OpKind::Conv2d { window, .. } = &g.ops[0].kind else { unreachable!() };
    assert_eq!(window.padding, Padding::Explicit { top: 1, bottom: 1, left: 1, right: 1 });
    assert_eq!(window.stride, [2, 2]);
    // Stride 1 with pads 1 is SAME.
    let OpKind::DepthwiseConv2d { window, depth_multiplier, .. } = &g.ops[1].kind else { unreachable!() };
    assert_eq!((window.padding, *depth_multiplier), (Padding::Same, 1));
    assert_eq!(g.tensor(g.ops[1].inputs[1]).shape, vec![1, 3, 3, 8]);
    let OpKind::Mean { axes, keep_dims } = &g.ops[6].kind else { unreachable!() };
    assert_eq!((axes.as_slice(), *keep_dims), (&[1usize, 2][..], true));
    assert_eq!(g.tensor(g.ops[8].inputs[1]).shape, vec![10, 16]);
}

#[test]
fn mbv2_ops_depthwise_relu6_fused_one_fc() {
    let g = load_onnx("onnx_mbv2_w035_144_f32");
    let count = |n: &str| g.ops.iter().filter(|o| o.kind.name() == n).count();
    // torchvision mobilenet_v2: 17 inverted-residual blocks, one depthwise each; 52 Conv nodes.
    assert_eq!(count("DEPTHWISE_CONV_2D"), 17);
    assert_eq!(count("CONV_2D") + count("DEPTHWISE_CONV_2D"), 52);
    assert_eq!(count("ADD"), 10);
    assert_eq!(count("FULLY_CONNECTED"), 1);
    assert_eq!(count("MEAN"), 1);
    // Every Clip(0, 6) folded into its convolution: none stands alone.
    assert_eq!(count("RELU6") + count("RELU"), 0);
    let relu6 = g
        .ops
        .iter()
        .filter(|o| matches!(o.kind, OpKind::Conv2d { activation: Activation::Relu6, .. } | OpKind::DepthwiseConv2d { activation: Activation::Relu6, .. }))
        .count();
    assert_eq!(relu6, 35, "35 Clip nodes in the file");
    // The classifier weights stay [out, in] = [1000, 1280] (transB = 1).
    let fc = op_of(&g, "FULLY_CONNECTED");
    assert_eq!(g.tensor(fc.inputs[1]).shape, vec![1000, 1280]);
}

#[test]
fn mbv2_conv_macs_match_the_tflite_mobilenet_v2() {
    // torchvision's mobilenet_v2(width_mult=0.35) and keras' MobileNetV2(alpha=0.35) at 144x144
    // have the same layers (checked: same filter shapes and feature-map sizes in
    // mbv2_w035_144_int8.json), so their conv + depthwise MACs must agree, whatever the
    // padding convention.
    let onnx = load_onnx("onnx_mbv2_w035_144_f32");
    let tfl = msf_model::load(&corpus_bytes("mbv2_w035_144_int8.tflite"), "mbv2_w035_144_int8").expect("TFLite import");
    assert_eq!(stats::conv_macs(&onnx), stats::conv_macs(&tfl));
    assert!(stats::conv_macs(&onnx) > 20_000_000);
}

#[test]
fn qdq_model_becomes_int8_ops_between_quantize_and_dequantize() {
    let g = load_onnx("onnx_small_cnn_qdq_int8");
    assert_eq!(
        kinds(&g),
        ["QUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD", "MAX_POOL_2D", "CONV_2D", "MEAN", "RESHAPE", "FULLY_CONNECTED", "DEQUANTIZE"]
    );
    assert_eq!(g.tensor(g.inputs[0]).dtype, DType::Float32);
    assert_eq!(g.tensor(g.outputs[0]).dtype, DType::Float32);
    // Every tensor between QUANTIZE and DEQUANTIZE is int8 with per-tensor parameters.
    for op in &g.ops[1..g.ops.len() - 1] {
        for &t in op.inputs.iter().take(1).chain(&op.outputs) {
            let t = g.tensor(t);
            assert_eq!(t.dtype, DType::Int8, "{}", t.name);
            let q = t.quant.as_ref().unwrap_or_else(|| panic!("{} has no quantisation", t.name));
            assert_eq!(q.scale.len(), 1, "{}", t.name);
        }
    }
    // Weights int8 per output channel, biases int32 with scale in_scale * w_scale.
    for op in g.ops.iter().filter(|o| matches!(o.kind, OpKind::Conv2d { .. } | OpKind::DepthwiseConv2d { .. } | OpKind::FullyConnected { .. })) {
        let x = g.tensor(op.inputs[0]);
        let w = g.tensor(op.inputs[1]);
        let b = g.tensor(op.inputs[2]);
        let wq = w.quant.as_ref().expect("weight quant");
        let channel_axis = if matches!(op.kind, OpKind::DepthwiseConv2d { .. }) { 3 } else { 0 };
        assert_eq!(w.dtype, DType::Int8);
        assert_eq!(wq.axis, channel_axis, "{}", w.name);
        assert_eq!(wq.scale.len(), w.shape[channel_axis], "{}", w.name);
        assert_eq!(b.dtype, DType::Int32);
        let bq = b.quant.as_ref().expect("bias quant");
        let xs = x.quant.as_ref().expect("input quant").scale[0];
        for (c, s) in bq.scale.iter().enumerate() {
            assert!((s - xs * wq.scale[c]).abs() <= 1e-6 * s.abs(), "{} channel {c}", b.name);
        }
    }
    // The quantiser removed the Relu/Clip nodes (the output ranges clamp instead): no fused
    // activation is invented, and ReLU outputs have zero point -128 (range starts at 0).
    let conv0 = &g.ops[1];
    assert!(matches!(conv0.kind, OpKind::Conv2d { activation: Activation::None, .. }));
    assert_eq!(g.tensor(conv0.outputs[0]).quant.as_ref().unwrap().zero_point, vec![-128]);
}

#[test]
fn qdq_weights_are_the_files_int8_values_transposed() {
    // Check the first conv's int8 filter against the initializer, element by element.
    let bytes = corpus_bytes("onnx_small_cnn_qdq_int8.onnx");
    let m = ModelProto::decode(bytes.as_slice()).expect("decodes");
    let gp = m.graph.as_ref().expect("graph");
    let w = gp.initializer.iter().find(|t| t.name == "stem.0.weight_quantized").expect("weights");
    assert_eq!(w.dims, vec![8, 3, 3, 3]);
    let g = load_onnx("onnx_small_cnn_qdq_int8");
    let ir = g.tensor(g.ops[1].inputs[1]);
    assert_eq!(ir.shape, vec![8, 3, 3, 3]);
    let data = ir.data.as_ref().expect("constant");
    for o in 0..8 {
        for i in 0..3 {
            for y in 0..3 {
                for x in 0..3 {
                    // ONNX OIHW position vs IR OHWI position.
                    assert_eq!(data[((o * 3 + y) * 3 + x) * 3 + i], w.raw_data[((o * 3 + i) * 3 + y) * 3 + x]);
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------ layouts

#[test]
fn conv_filter_oihw_becomes_ohwi() {
    // Conv: input [1, 2, 4, 4], filter [3, 2, 2, 2] holding its own ONNX flat index.
    let w = iota(3 * 2 * 2 * 2);
    let bytes = model(
        vec![node("Conv", &["x", "w"], &["y"], vec![ints("kernel_shape", &[2, 2])])],
        vec![f32_init("w", &[3, 2, 2, 2], &w)],
        value_info("x", &[1, 2, 4, 4]),
        "y",
    );
    let g = onnx::import(&bytes).expect("imports");
    let conv = op_of(&g, "CONV_2D");
    assert_eq!(g.tensor(conv.outputs[0]).shape, vec![1, 3, 3, 3]);
    let f = g.tensor(conv.inputs[1]);
    assert_eq!(f.shape, vec![3, 2, 2, 2]);
    let v = f.data_f32().expect("f32");
    for o in 0..3 {
        for i in 0..2 {
            for y in 0..2 {
                for x in 0..2 {
                    assert_eq!(v[((o * 2 + y) * 2 + x) * 2 + i], (((o * 2 + i) * 2 + y) * 2 + x) as f32);
                }
            }
        }
    }
    // Hand-picked: OHWI [1][0][1][1] is ONNX OIHW [1][1][0][1] = 8 + 4 + 1 = 13.
    // (flat OHWI index ((1 * 2 + 0) * 2 + 1) * 2 + 1 = 11).
    assert_eq!(v[11], 13.0);
}

#[test]
fn depthwise_filter_with_multiplier_becomes_1_h_w_c() {
    // group = C_in = 2, C_out = 4: depth multiplier 2; filter [4, 1, 3, 3].
    let w = iota(4 * 9);
    let bytes = model(
        vec![node("Conv", &["x", "w"], &["y"], vec![int("group", 2), ints("pads", &[1, 1, 1, 1])])],
        vec![f32_init("w", &[4, 1, 3, 3], &w)],
        value_info("x", &[1, 2, 5, 5]),
        "y",
    );
    let g = onnx::import(&bytes).expect("imports");
    let dw = op_of(&g, "DEPTHWISE_CONV_2D");
    let OpKind::DepthwiseConv2d { depth_multiplier, window, .. } = &dw.kind else { unreachable!() };
    assert_eq!(*depth_multiplier, 2);
    assert_eq!(window.padding, Padding::Same);
    assert_eq!(g.tensor(dw.outputs[0]).shape, vec![1, 5, 5, 4]);
    let f = g.tensor(dw.inputs[1]);
    assert_eq!(f.shape, vec![1, 3, 3, 4]);
    let v = f.data_f32().expect("f32");
    for o in 0..4 {
        for y in 0..3 {
            for x in 0..3 {
                assert_eq!(v[(y * 3 + x) * 4 + o], ((o * 3 + y) * 3 + x) as f32);
            }
        }
    }
}

/// Build Flatten -> Gemm on a [1, 2, 2, 3] input, import it, and check that the IR
/// (NHWC input, permuted weights) computes exactly what ONNX computes on the NCHW input.
fn flatten_gemm_matches_onnx(trans_b: bool) {
    let (c, h, w, n) = (2usize, 2usize, 3usize, 4usize);
    let k = c * h * w;
    // W[o][k] (ONNX Gemm orientation after transB), distinct values.
    let wmat: Vec<f32> = (0..n * k).map(|i| (i * 7 % 23) as f32 - 11.0).collect();
    let (bdims, bdata): (Vec<i64>, Vec<f32>) = if trans_b {
        (vec![n as i64, k as i64], wmat.clone())
    } else {
        (vec![k as i64, n as i64], (0..k * n).map(|i| wmat[(i % n) * k + i / n]).collect())
    };
    let bias: Vec<f32> = (0..n).map(|o| o as f32 * 100.0).collect();
    let bytes = model(
        vec![
            node("Flatten", &["x"], &["f"], vec![int("axis", 1)]),
            node("Gemm", &["f", "w", "b"], &["y"], vec![int("transB", trans_b as i64)]),
        ],
        vec![f32_init("w", &bdims, &bdata), f32_init("b", &[n as i64], &bias)],
        value_info("x", &[1, c as i64, h as i64, w as i64]),
        "y",
    );
    let g = onnx::import(&bytes).expect("imports");
    assert_eq!(kinds(&g), ["RESHAPE", "FULLY_CONNECTED"]);
    let fc = op_of(&g, "FULLY_CONNECTED");
    let wir = g.tensor(fc.inputs[1]).data_f32().expect("weights");
    assert_eq!(g.tensor(fc.inputs[1]).shape, vec![n, k]);
    let x: Vec<f32> = (0..k).map(|i| (i as f32) * 0.5 - 2.0).collect(); // NCHW
    let x_bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let x_nhwc: Vec<f32> = nchw_to_nhwc(&x_bytes, [1, c, h, w], 4).chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_eq!(g.tensor(g.inputs[0]).shape, vec![1, h, w, c]);
    for o in 0..n {
        let onnx_y: f32 = (0..k).map(|j| wmat[o * k + j] * x[j]).sum::<f32>() + bias[o];
        let ir_y: f32 = (0..k).map(|j| wir[o * k + j] * x_nhwc[j]).sum::<f32>() + bias[o];
        assert_eq!(onnx_y, ir_y, "output {o}");
    }
    // Hand-checked: IR column 1 is NHWC element (h 0, w 0, c 1) = ONNX column c*h*w = 6.
    assert_eq!(wir[1], wmat[6]);
}

#[test]
fn fc_after_flatten_of_nhwc_permutes_weight_columns_trans_b() {
    flatten_gemm_matches_onnx(true);
}

#[test]
fn fc_after_flatten_of_nhwc_permutes_weight_columns_no_trans_b() {
    flatten_gemm_matches_onnx(false);
}

#[test]
fn shape_arithmetic_for_view_n_minus_1_folds_into_one_reshape() {
    // x.view(x.size(0), -1) as older exporters write it: Shape -> Gather(0) -> Unsqueeze ->
    // Concat with [-1] -> Reshape, then Gemm. Flattening [1, 2, 2, 3] NCHW gives 12 columns
    // that the FC weights must take in NHWC order.
    let idx = TensorProto { name: "i0".into(), data_type: 7, int64_data: vec![0], ..Default::default() };
    let minus1 = TensorProto { name: "m1".into(), dims: vec![1], data_type: 7, int64_data: vec![-1], ..Default::default() };
    let axes = TensorProto { name: "ax".into(), dims: vec![1], data_type: 7, int64_data: vec![0], ..Default::default() };
    let w = f32_init("w", &[2, 12], &iota(24));
    let bytes = model(
        vec![
            node("Shape", &["x"], &["s"], vec![]),
            node("Gather", &["s", "i0"], &["n"], vec![int("axis", 0)]),
            node("Unsqueeze", &["n", "ax"], &["n1"], vec![]),
            node("Concat", &["n1", "m1"], &["shape"], vec![int("axis", 0)]),
            node("Reshape", &["x", "shape"], &["f"], vec![]),
            node("Gemm", &["f", "w"], &["y"], vec![int("transB", 1)]),
        ],
        vec![idx, minus1, axes, w],
        value_info("x", &[1, 2, 2, 3]),
        "y",
    );
    let g = onnx::import(&bytes).expect("imports");
    assert_eq!(kinds(&g), ["RESHAPE", "FULLY_CONNECTED"]);
    assert_eq!(g.tensor(g.ops[0].outputs[0]).shape, vec![1, 12]);
    let wir = g.tensor(g.ops[1].inputs[1]).data_f32().expect("weights");
    // IR column j = (h * 3 + w) * 2 + c holds ONNX column c * 6 + h * 3 + w.
    for h in 0..2 {
        for x in 0..3 {
            for c in 0..2 {
                assert_eq!(wir[(h * 3 + x) * 2 + c], (c * 6 + h * 3 + x) as f32);
                assert_eq!(wir[12 + (h * 3 + x) * 2 + c], (12 + c * 6 + h * 3 + x) as f32);
            }
        }
    }
}

#[test]
fn concat_axis_and_pad_are_remapped_to_nhwc() {
    let pads = TensorProto { name: "p".into(), dims: vec![8], data_type: 7, int64_data: vec![0, 0, 1, 2, 0, 0, 3, 4], ..Default::default() };
    let bytes = model(
        vec![
            node("Concat", &["x", "x"], &["c"], vec![int("axis", 1)]),
            node("Pad", &["c", "p"], &["y"], vec![]),
        ],
        vec![pads],
        value_info("x", &[1, 3, 4, 5]),
        "y",
    );
    let g = onnx::import(&bytes).expect("imports");
    let OpKind::Concatenation { axis, .. } = &op_of(&g, "CONCATENATION").kind else { unreachable!() };
    assert_eq!(*axis, 3, "ONNX channel axis 1 is NHWC axis 3");
    let pad = op_of(&g, "PAD");
    let OpKind::Pad { paddings } = &pad.kind else { unreachable!() };
    // ONNX pads [n0, c0, h1, w2 | n0, c0, h3, w4] -> NHWC [[0,0], [1,3], [2,4], [0,0]].
    assert_eq!(paddings, &vec![[0, 0], [1, 3], [2, 4], [0, 0]]);
    assert_eq!(g.tensor(pad.outputs[0]).shape, vec![1, 8, 11, 6]);
}

#[test]
fn clip_whose_input_has_two_consumers_stays_a_relu6_op() {
    // Clip whose input has two consumers cannot fold: it stays a RELU6 op.
    let lo = f32_init("lo", &[], &[0.0]);
    let hi = f32_init("hi", &[], &[6.0]);
    let w = f32_init("w", &[2, 2, 1, 1], &[1.0, 0.0, 0.0, 1.0]);
    let bytes = model(
        vec![
            node("Conv", &["x", "w"], &["c"], vec![]),
            node("Clip", &["c", "lo", "hi"], &["r"], vec![]),
            node("Add", &["c", "r"], &["y"], vec![]),
        ],
        vec![lo, hi, w],
        value_info("x", &[1, 2, 3, 3]),
        "y",
    );
    let g = onnx::import(&bytes).expect("imports");
    assert_eq!(kinds(&g), ["CONV_2D", "RELU6", "ADD"]);
}

#[test]
fn clip_bounds_from_attributes_before_opset_11() {
    let w = f32_init("w", &[2, 2, 1, 1], &[1.0, 0.0, 0.0, 1.0]);
    let min = AttributeProto { name: "min".into(), r#type: 1, f: 0.0, ..Default::default() };
    let max = AttributeProto { name: "max".into(), r#type: 1, f: 6.0, ..Default::default() };
    let bytes = model_opset(
        10,
        vec![node("Conv", &["x", "w"], &["c"], vec![]), node("Clip", &["c"], &["y"], vec![min, max])],
        vec![w],
        value_info("x", &[1, 2, 3, 3]),
        "y",
    );
    let g = onnx::import(&bytes).expect("imports");
    assert_eq!(kinds(&g), ["CONV_2D"]);
    assert!(matches!(g.ops[0].kind, OpKind::Conv2d { activation: Activation::Relu6, .. }));
    assert_eq!(g.tensor(g.outputs[0]).name, "y");
}

fn scalar(name: &str, data_type: i32, raw: Vec<u8>) -> TensorProto {
    TensorProto { name: name.into(), data_type, raw_data: raw, ..Default::default() }
}

#[test]
fn qdq_conv_with_float_bias_and_relu_becomes_one_int8_conv() {
    // x (float) -Q-> int8 -DQ-> Conv(DQ(int8 w, per-channel), float bias) -> Relu -Q-> -DQ-> y
    let inits = vec![
        scalar("xs", 1, 0.5f32.to_le_bytes().to_vec()),
        scalar("xz", 3, vec![0]),
        TensorProto { name: "wq".into(), dims: vec![2, 1, 1, 1], data_type: 3, raw_data: vec![3, (-5i8) as u8], ..Default::default() },
        TensorProto { name: "ws".into(), dims: vec![2], data_type: 1, raw_data: [0.25f32, 0.5].iter().flat_map(|v| v.to_le_bytes()).collect(), ..Default::default() },
        TensorProto { name: "wz".into(), dims: vec![2], data_type: 3, raw_data: vec![0, 0], ..Default::default() },
        // Bias scales are 0.5 * 0.25 = 0.125 and 0.5 * 0.5 = 0.25: 0.1875 is 1.5 steps (-> 2),
        // -0.375 is -1.5 steps (-> -2), both rounded half to even.
        f32_init("b", &[2], &[0.1875, -0.375]),
        scalar("ys", 1, 0.125f32.to_le_bytes().to_vec()),
        scalar("yz", 3, vec![(-128i8) as u8]),
    ];
    let axis0 = vec![int("axis", 0)];
    let bytes = model(
        vec![
            node("QuantizeLinear", &["x", "xs", "xz"], &["xq"], vec![]),
            node("DequantizeLinear", &["xq", "xs", "xz"], &["xd"], vec![]),
            node("DequantizeLinear", &["wq", "ws", "wz"], &["wd"], axis0),
            node("Conv", &["xd", "wd", "b"], &["c"], vec![]),
            node("Relu", &["c"], &["r"], vec![]),
            node("QuantizeLinear", &["r", "ys", "yz"], &["rq"], vec![]),
            node("DequantizeLinear", &["rq", "ys", "yz"], &["y"], vec![]),
        ],
        inits,
        value_info("x", &[1, 1, 2, 2]),
        "y",
    );
    let g = onnx::import(&bytes).expect("imports");
    assert_eq!(kinds(&g), ["QUANTIZE", "CONV_2D", "DEQUANTIZE"]);
    let conv = &g.ops[1];
    assert!(matches!(conv.kind, OpKind::Conv2d { activation: Activation::Relu, .. }));
    let x = g.tensor(conv.inputs[0]);
    assert_eq!((x.dtype, x.quant.clone()), (DType::Int8, Some(msf_model::Quant::per_tensor(0.5, 0))));
    let w = g.tensor(conv.inputs[1]);
    assert_eq!(w.data_i8(), Some(vec![3, -5]));
    assert_eq!(w.quant.as_ref().map(|q| (q.scale.clone(), q.axis)), Some((vec![0.25, 0.5], 0)));
    let b = g.tensor(conv.inputs[2]);
    assert_eq!((b.dtype, b.data_i32()), (DType::Int32, Some(vec![2, -2])));
    assert_eq!(b.quant.as_ref().map(|q| q.scale.clone()), Some(vec![0.125, 0.25]));
    let y = g.tensor(conv.outputs[0]);
    assert_eq!((y.dtype, y.quant.clone()), (DType::Int8, Some(msf_model::Quant::per_tensor(0.125, -128))));
    assert_eq!(g.tensor(g.outputs[0]).dtype, DType::Float32);
}

#[test]
fn unknown_op_stays_opaque_with_its_name() {
    let bytes = model(
        vec![node("Relu", &["x"], &["r"], vec![]), node("HardSwish", &["r"], &["h"], vec![]), node("GlobalAveragePool", &["h"], &["y"], vec![])],
        vec![],
        value_info("x", &[1, 4, 6, 6]),
        "y",
    );
    let g = onnx::import(&bytes).expect("imports");
    assert_eq!(kinds(&g), ["RELU", "HardSwish", "MEAN"]);
    let (index, op) = g.first_opaque().expect("an opaque op");
    assert_eq!(index, 1);
    assert_eq!(op.kind, OpKind::Opaque { name: "HardSwish".into() });
    assert_eq!(g.tensor(g.outputs[0]).shape, vec![1, 1, 1, 4]);
}

// ------------------------------------------------------------------------------------ errors

#[test]
fn missing_initializer_is_named() {
    let bytes = corpus_bytes("onnx_small_cnn_f32.onnx");
    let mut m = ModelProto::decode(bytes.as_slice()).expect("decodes");
    let gp = m.graph.as_mut().expect("graph");
    gp.initializer.retain(|t| t.name != "conv.0.weight");
    let err = onnx::import(&m.encode_to_vec()).expect_err("must fail");
    match err {
        ImportError::MissingTensor { tensor, op_name, .. } => {
            assert_eq!(tensor, "conv.0.weight");
            assert_eq!(op_name, "Conv");
        }
        e => panic!("expected MissingTensor, got {e:?}"),
    }
}

#[test]
fn inferred_shapes_agree_with_the_files_value_info() {
    // The QDQ model declares the shapes of its intermediate values: importing checks each
    // against the inferred one, so a wrong declaration is caught (and a right one passes).
    let bytes = corpus_bytes("onnx_small_cnn_qdq_int8.onnx");
    let mut m = ModelProto::decode(bytes.as_slice()).expect("decodes");
    let gp = m.graph.as_mut().expect("graph");
    let vi = gp.value_info.iter_mut().find(|v| v.name == "/pool/MaxPool_output_0").expect("declared");
    let Some(TypeProto { value: Some(type_proto::Value::TensorType(t)) }) = vi.r#type.as_mut() else { panic!("tensor type") };
    let dims = &mut t.shape.as_mut().expect("shape").dim;
    let as_ints: Vec<Option<tensor_shape_proto::dimension::Value>> = dims.iter().map(|d| d.value.clone()).collect();
    assert_eq!(as_ints[2], Some(tensor_shape_proto::dimension::Value::DimValue(8)), "MaxPool 16 -> 8");
    dims[2].value = Some(tensor_shape_proto::dimension::Value::DimValue(9));
    match onnx::import(&m.encode_to_vec()) {
        Err(ImportError::BadOp { reason, .. }) => assert!(reason.contains("declares"), "{reason}"),
        other => panic!("expected BadOp, got {other:?}"),
    }
}

#[test]
fn truncated_file_is_invalid_protobuf() {
    let bytes = corpus_bytes("onnx_small_cnn_f32.onnx");
    for cut in [bytes.len() / 2, bytes.len() - 1, 100] {
        match onnx::import(&bytes[..cut]) {
            Err(ImportError::InvalidProtobuf(msg)) => assert!(!msg.is_empty()),
            other => panic!("cut at {cut}: expected InvalidProtobuf, got {other:?}"),
        }
    }
}

#[test]
fn bad_files_give_typed_errors() {
    // Initializer data shorter than its shape.
    let mut w = f32_init("w", &[2, 2, 1, 1], &[1.0, 2.0, 3.0, 4.0]);
    w.raw_data.truncate(12);
    let bytes = model(vec![node("Conv", &["x", "w"], &["y"], vec![])], vec![w], value_info("x", &[1, 2, 3, 3]), "y");
    assert!(matches!(onnx::import(&bytes), Err(ImportError::BufferSizeMismatch { expected: 16, actual: 12, .. })));
    // External data.
    let mut w = f32_init("w", &[2, 2, 1, 1], &[]);
    w.data_location = 1;
    let bytes = model(vec![node("Conv", &["x", "w"], &["y"], vec![])], vec![w], value_info("x", &[1, 2, 3, 3]), "y");
    match onnx::import(&bytes) {
        Err(ImportError::Unsupported(msg)) => assert!(msg.contains("external"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // A 2^31-element initializer is refused before any allocation.
    let huge = TensorProto { name: "w".into(), dims: vec![1 << 16, 1 << 15], data_type: 1, ..Default::default() };
    let bytes = model(vec![node("Relu", &["w"], &["y"], vec![])], vec![huge], value_info("x", &[1, 2, 3, 3]), "y");
    assert!(matches!(onnx::import(&bytes), Err(ImportError::TensorTooLarge { .. })));
    // Zero and negative input dimensions.
    for d in [0, -3] {
        let bytes = model(vec![node("Relu", &["x"], &["y"], vec![])], vec![], value_info("x", &[1, d, 3, 3]), "y");
        assert!(matches!(onnx::import(&bytes), Err(ImportError::BadTensor { .. })), "dim {d}");
    }
    // A cycle: a -> b -> a.
    let bytes = model(
        vec![node("Add", &["x", "b"], &["a"], vec![]), node("Relu", &["a"], &["b"], vec![])],
        vec![],
        value_info("x", &[1, 2, 3, 3]),
        "b",
    );
    assert!(matches!(onnx::import(&bytes), Err(ImportError::Cycle { .. })));
    // Absurd stride.
    let w = f32_init("w", &[2, 2, 1, 1], &[1.0, 0.0, 0.0, 1.0]);
    let bytes = model(vec![node("Conv", &["x", "w"], &["y"], vec![ints("strides", &[1 << 40, 1])])], vec![w], value_info("x", &[1, 2, 3, 3]), "y");
    assert!(matches!(onnx::import(&bytes), Err(ImportError::BadOp { .. })));
    // Not a model at all.
    assert!(matches!(onnx::import(&[0xff; 64]), Err(ImportError::InvalidProtobuf(_))));
}

#[test]
fn file_input_bytes_are_permuted_for_the_ir() {
    let g = load_onnx("onnx_small_cnn_f32");
    let raw = std::fs::read(msf_tests::models_dir().join("onnx_small_cnn_f32.input.bin")).expect("input.bin");
    let ir = layout::input_to_ir(&g, 0, &raw).expect("right size");
    let f = |b: &[u8], i: usize| f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
    // NCHW [1, 3, 32, 32] element (c 2, h 5, w 7) is NHWC [1, 32, 32, 3] element (5, 7, 2).
    assert_eq!(f(&ir, (5 * 32 + 7) * 3 + 2), f(&raw, (2 * 32 + 5) * 32 + 7));
    assert_eq!(layout::input_to_ir(&g, 0, &raw[1..]), None);
    // [1, 10] outputs pass unchanged.
    let out = vec![7u8; 40];
    assert_eq!(layout::output_to_file(&g, 0, &out), Some(out.clone()));
    // The firmware bundles the input the way the host runner feeds it (codegen once read the
    // IR's NHWC shape as NCHW and permuted a [1, 3, 32, 32] input wrongly).
    let fw = msf_codegen::firmware(&g, None, Some(&raw), msf_codegen::Kernels::Reference).expect("lowers");
    assert!(fw.input == ir, "the bundled input is not the IR's NHWC input");
}
