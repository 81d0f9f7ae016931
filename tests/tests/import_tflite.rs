//! TFLite import against the corpus (tests/models) and against small hand-built files.
//!
//! Expected values come from outside the importer: NAME.json (written by the reference
//! interpreter's tooling: every tensor's name, shape and dtype by index, the input and output
//! quantisation), the op table in tests/models/README.md, and the paper's MAC counts.

use msf_model::import::tflite::{self, writer::*};
use msf_model::stats::conv_macs;
use msf_model::{Activation, DType, Graph, ImportError, OpKind, Padding};
use msf_tests::{corpus, model, models_dir};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn tflite_corpus() -> Vec<std::path::PathBuf> {
    let v: Vec<_> = corpus().into_iter().filter(|p| p.extension().is_some_and(|e| e == "tflite")).collect();
    assert!(v.len() >= 8, "the corpus has {} .tflite models", v.len());
    v
}

fn load(path: &Path) -> Graph {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_stem().unwrap().to_str().unwrap();
    msf_model::load(&bytes, name).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn reference(path: &Path) -> Value {
    let json = path.with_extension("json");
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

fn json_shape(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect()
}

#[test]
fn every_corpus_model_imports_without_opaque_or_shape_ops() {
    for path in tflite_corpus() {
        let g = load(&path);
        assert_eq!(g.format, msf_model::Format::Tflite);
        assert!(!g.ops.is_empty());
        for (i, op) in g.ops.iter().enumerate() {
            assert!(!op.kind.is_opaque(), "{}: op {i} is opaque: {}", path.display(), op.kind.name());
            assert!(
                !matches!(op.kind.name(), "SHAPE" | "STRIDED_SLICE" | "PACK"),
                "{}: op {i} {} should have been folded",
                path.display(),
                op.kind.name()
            );
        }
    }
}

#[test]
fn tensors_inputs_and_outputs_match_the_reference_json() {
    for path in tflite_corpus() {
        let g = load(&path);
        let r = reference(&path);
        let listed = r["tensors"].as_array().unwrap();
        // The interpreter appends its kernels' scratch tensors (no name) after the file's.
        let file_tensors: Vec<&Value> = listed.iter().filter(|t| (t["index"].as_u64().unwrap() as usize) < g.tensors.len()).collect();
        // gen_models.py lists every tensor; the published TFLite Micro models' tooling (their
        // NAME.json names a "source") lists and dumps the activations only.
        let listed_ids: BTreeSet<usize> = file_tensors.iter().map(|t| t["index"].as_u64().unwrap() as usize).collect();
        assert_eq!(listed_ids.len(), file_tensors.len(), "{}: a tensor index is listed twice", path.display());
        if r.get("source").is_none() {
            assert_eq!(file_tensors.len(), g.tensors.len(), "{}: every tensor index is listed", path.display());
        }
        for (i, t) in g.tensors.iter().enumerate() {
            if t.data.is_none() {
                assert!(listed_ids.contains(&i), "{}: activation {i} ({}) is not listed", path.display(), t.name);
            }
        }
        for t in listed.iter().filter(|t| (t["index"].as_u64().unwrap() as usize) >= g.tensors.len()) {
            assert_eq!(t["name"], "", "{}: a named tensor beyond the file's: {t}", path.display());
        }
        for t in file_tensors {
            let i = t["index"].as_u64().unwrap() as usize;
            let ours = &g.tensors[i];
            assert_eq!(ours.name, t["name"].as_str().unwrap(), "{} tensor {i} name", path.display());
            assert_eq!(ours.shape, json_shape(&t["shape"]), "{} tensor {i} ({}) shape", path.display(), ours.name);
            assert_eq!(ours.dtype.name(), t["dtype"].as_str().unwrap(), "{} tensor {i} dtype", path.display());
        }
        for (which, ids) in [("input", &g.inputs), ("output", &g.outputs)] {
            assert_eq!(ids.len(), 1, "{}: one {which}", path.display());
            let t = &g.tensors[ids[0]];
            let want = &r[which];
            assert_eq!(t.shape, json_shape(&want["shape"]), "{} {which} shape", path.display());
            assert_eq!(t.dtype.name(), want["dtype"].as_str().unwrap(), "{} {which} dtype", path.display());
            let scale = want["scale"].as_f64().unwrap() as f32;
            let zero_point = want["zero_point"].as_i64().unwrap();
            match &t.quant {
                // The reference tooling writes scale 0 for float tensors.
                None => assert_eq!((scale, zero_point), (0.0, 0), "{} {which} has no quantisation", path.display()),
                Some(q) => {
                    assert_eq!(q.scale, vec![scale], "{} {which} scale", path.display());
                    assert_eq!(q.zero_point, vec![zero_point], "{} {which} zero point", path.display());
                }
            }
        }
    }
}

/// The op names per model from the table in tests/models/README.md; the Flatten subgraph
/// ("SHAPE/STRIDED_SLICE/PACK/RESHAPE" or "SHAPE/.../RESHAPE") is expected as one RESHAPE.
fn readme_ops() -> Vec<(String, BTreeSet<String>)> {
    let text = std::fs::read_to_string(models_dir().join("README.md")).unwrap();
    let mut rows = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || cells[1] == "model" || cells[1].starts_with("---") {
            continue;
        }
        let ops = cells[3]
            .split(',')
            .map(|s| s.trim())
            .map(|s| if s.starts_with("SHAPE/") { "RESHAPE" } else { s })
            .map(str::to_string)
            .collect();
        rows.push((cells[1].to_string(), ops));
    }
    rows
}

#[test]
fn op_kinds_match_the_corpus_readme() {
    let rows = readme_ops();
    let mut checked = 0;
    for path in tflite_corpus() {
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let (_, want) = rows.iter().find(|(m, _)| m == stem).unwrap_or_else(|| panic!("{stem} is not in README.md"));
        let g = load(&path);
        let have: BTreeSet<String> = g.ops.iter().map(|op| op.kind.name().to_string()).collect();
        // The README lists the converter's ops, the Flatten subgraph as RESHAPE; a plain
        // RESHAPE it leaves out (keras reshapes after MEAN) is the only other difference allowed.
        let strip = |s: &BTreeSet<String>| -> BTreeSet<String> { s.iter().filter(|o| *o != "RESHAPE").cloned().collect() };
        assert_eq!(strip(&have), strip(want), "{stem}: imported ops vs README");
        if want.contains("RESHAPE") {
            assert!(have.contains("RESHAPE"), "{stem}: the Flatten became a RESHAPE");
        }
        checked += 1;
    }
    assert_eq!(checked, tflite_corpus().len());
}

#[test]
fn paper_models_have_the_published_conv_macs() {
    for (name, macs) in [
        ("paper_mbv2_w035_144_int8.tflite", 18_909_490u64),
        ("paper_mcunet_vww1_80_int8.tflite", 11_578_496),
        ("paper_mcunet_in3_176_int8.tflite", 81_625_520),
    ] {
        assert_eq!(conv_macs(&load(&model(name))), macs, "{name}");
    }
}

#[test]
fn flatten_subgraph_becomes_one_static_reshape() {
    let g = load(&model("tiny_cnn_int8.tflite"));
    let reshapes: Vec<_> = g.ops.iter().filter(|op| op.kind == OpKind::Reshape).collect();
    assert_eq!(reshapes.len(), 1);
    let r = reshapes[0];
    assert_eq!(r.inputs.len(), 1, "the run-time shape operand is dropped");
    assert_eq!(g.tensors[r.inputs[0]].shape, vec![1, 3, 3, 16]);
    assert_eq!(g.tensors[r.outputs[0]].shape, vec![1, 144]);
    // The FC right after reads the reshaped tensor.
    let fc = g.ops.iter().find(|op| matches!(op.kind, OpKind::FullyConnected { .. })).unwrap();
    assert_eq!(fc.inputs[0], r.outputs[0]);
}

#[test]
fn depthwise_and_conv_attributes_are_consistent_in_the_corpus() {
    for path in tflite_corpus() {
        let g = load(&path);
        for op in &g.ops {
            match &op.kind {
                OpKind::DepthwiseConv2d { depth_multiplier, window, .. } => {
                    let cin = g.tensors[op.inputs[0]].shape[3];
                    let f = &g.tensors[op.inputs[1]].shape;
                    assert_eq!(f[3], cin * depth_multiplier, "{}", path.display());
                    assert!(window.stride[0] >= 1 && window.dilation[0] >= 1);
                }
                OpKind::Conv2d { .. } => {
                    let w = &g.tensors[op.inputs[1]];
                    if w.dtype == DType::Int8 {
                        let q = w.quant.as_ref().expect("int8 conv weights are quantised");
                        // Converters quantise conv weights per output channel (axis 0).
                        assert_eq!(q.scale.len(), w.shape[0], "{}", path.display());
                        assert_eq!(q.axis, 0);
                    }
                }
                _ => {}
            }
        }
    }
}

// ---- hand-built models -------------------------------------------------------------------

const I8: i8 = dtype::INT8;

fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A small model that uses every op kind the importer maps, with attributes that are easy to
/// tell apart, plus an opaque builtin, a custom op and optional inputs.
fn every_op_model() -> ModelSpec {
    let mut m = ModelSpec::default();
    let codes = [34, 3, 4, 17, 1, 2, 40, 9, 25, 14, 19, 21, 6, 114, 0, 22, 60, 150];
    m.opcodes = codes.iter().map(|&c| OpCodeSpec::builtin(c)).collect();
    m.opcodes.push(OpCodeSpec::custom("MyCustomOp"));
    // An old-style code: only the byte field set.
    m.opcodes.push(OpCodeSpec { deprecated_builtin_code: 19, builtin_code: 0, custom_code: None });
    let op = |name: i32| codes.iter().position(|&c| c == name).unwrap() as u32;
    let q = |t: TensorSpec| t.quant(&[0.05], &[-1], 0);
    let paddings = m.add_buffer(i32_bytes(&[0, 0, 1, 1, 1, 1, 0, 0]));
    let conv_w = m.add_buffer(vec![1; 8 * 3 * 3 * 4]);
    let conv_b = m.add_buffer(i32_bytes(&[7; 8]));
    let dw_w = m.add_buffer(vec![2; 3 * 3 * 16]);
    let axes = m.add_buffer(i32_bytes(&[1, -2]));
    let fc_w = m.add_buffer(vec![3; 10 * 32]);
    let shape = m.add_buffer(i32_bytes(&[2, 5]));
    let pad_value = m.add_buffer(vec![(-1i8) as u8]);
    let pv2_pads = m.add_buffer(i32_bytes(&[0, 0, 0, 1]));
    let per_channel: Vec<f32> = (1..=8).map(|c| c as f32 / 100.0).collect();
    m.tensors = vec![
        q(TensorSpec::new("in", &[1, 8, 8, 4], I8, 0)),                                         // 0
        TensorSpec::new("paddings", &[4, 2], dtype::INT32, paddings),                           // 1
        q(TensorSpec::new("padded", &[1, 10, 10, 4], I8, 0)),                                   // 2
        TensorSpec::new("conv_w", &[8, 3, 3, 4], I8, conv_w).quant(&per_channel, &[0; 8], 0),   // 3
        TensorSpec::new("conv_b", &[8], dtype::INT32, conv_b),                                  // 4
        q(TensorSpec::new("conv", &[1, 8, 8, 8], I8, 0)),                                       // 5
        TensorSpec::new("dw_w", &[1, 3, 3, 16], I8, dw_w).quant(&[0.1], &[0], 3),               // 6
        q(TensorSpec::new("dw", &[1, 4, 4, 16], I8, 0)),                                        // 7
        q(TensorSpec::new("max", &[1, 2, 2, 16], I8, 0)),                                       // 8
        q(TensorSpec::new("avg", &[1, 2, 2, 16], I8, 0)),                                       // 9
        q(TensorSpec::new("cat", &[1, 2, 2, 32], I8, 0)),                                       // 10
        TensorSpec::new("axes", &[2], dtype::INT32, axes),                                      // 11
        q(TensorSpec::new("mean", &[1, 32], I8, 0)),                                            // 12
        TensorSpec::new("fc_w", &[10, 32], I8, fc_w).quant(&[0.2], &[0], 0),                    // 13
        q(TensorSpec::new("fc", &[1, 10], I8, 0)),                                              // 14
        q(TensorSpec::new("softmax", &[1, 10], I8, 0)),                                         // 15
        q(TensorSpec::new("logistic", &[1, 10], I8, 0)),                                        // 16
        q(TensorSpec::new("relu", &[1, 10], I8, 0)),                                            // 17
        q(TensorSpec::new("relu6", &[1, 10], I8, 0)),                                           // 18
        TensorSpec::new("deq", &[1, 10], dtype::FLOAT32, 0),                                    // 19
        q(TensorSpec::new("quant", &[1, 10], I8, 0)),                                           // 20
        q(TensorSpec::new("add", &[1, 10], I8, 0)),                                             // 21
        TensorSpec::new("shape", &[2], dtype::INT32, shape),                                    // 22
        q(TensorSpec::new("reshaped", &[2, 5], I8, 0)),                                         // 23
        TensorSpec::new("pad_value", &[], I8, pad_value),                                       // 24
        TensorSpec::new("pv2_pads", &[2, 2], dtype::INT32, pv2_pads),                           // 25
        q(TensorSpec::new("padv2", &[2, 6], I8, 0)),                                            // 26
        q(TensorSpec::new("gelu", &[2, 6], I8, 0)),                                             // 27
        q(TensorSpec::new("custom", &[2, 6], I8, 0)),                                           // 28
        q(TensorSpec::new("old_relu", &[2, 6], I8, 0)),                                         // 29
    ];
    let conv = OptionsSpec::Conv2d { padding: 1, stride: [1, 1], dilation: [1, 1], activation: 3 };
    // depth_multiplier 0, as some converters write: the importer derives 2 from the shapes.
    let dw = OptionsSpec::DepthwiseConv2d { padding: 0, stride: [2, 2], dilation: [1, 1], depth_multiplier: 0, activation: 1 };
    let max = OptionsSpec::Pool2d { padding: 1, stride: [2, 2], filter: [2, 2], activation: 0 };
    let avg = OptionsSpec::Pool2d { padding: 0, stride: [1, 1], filter: [3, 2], activation: 0 };
    m.ops = vec![
        OpSpec::new(op(34), &[0, 1], &[2], OptionsSpec::None),
        // Conv with its bias, then a trailing optional -1 that must be dropped.
        OpSpec::new(op(3), &[2, 3, 4, -1], &[5], conv),
        // Depthwise without bias: the optional bias is -1.
        OpSpec::new(op(4), &[5, 6, -1], &[7], dw),
        OpSpec::new(op(17), &[7], &[8], max),
        OpSpec::new(op(1), &[8], &[9], avg),
        OpSpec::new(op(2), &[8, 9], &[10], OptionsSpec::Concatenation { axis: -1, activation: 0 }),
        OpSpec::new(op(40), &[10, 11], &[12], OptionsSpec::Reducer { keep_dims: false }),
        OpSpec::new(op(9), &[12, 13, -1], &[14], OptionsSpec::FullyConnected { activation: 2, keep_num_dims: true, weights_format: 0 }),
        OpSpec::new(op(25), &[14], &[15], OptionsSpec::Softmax { beta: 0.5 }),
        OpSpec::new(op(14), &[15], &[16], OptionsSpec::None),
        OpSpec::new(op(19), &[16], &[17], OptionsSpec::None),
        OpSpec::new(op(21), &[17], &[18], OptionsSpec::None),
        OpSpec::new(op(6), &[18], &[19], OptionsSpec::None),
        OpSpec::new(op(114), &[19], &[20], OptionsSpec::None),
        OpSpec::new(op(0), &[20, 18], &[21], OptionsSpec::Add { activation: 0 }),
        OpSpec::new(op(22), &[21, 22], &[23], OptionsSpec::None),
        OpSpec::new(op(60), &[23, 25, 24], &[26], OptionsSpec::None),
        OpSpec::new(op(150), &[26], &[27], OptionsSpec::None),
        // A custom op with an optional input left out in the middle: kept, -1 skipped.
        OpSpec::new(codes.len() as u32, &[27, -1, 26], &[28], OptionsSpec::None),
        OpSpec::new(codes.len() as u32 + 1, &[28], &[29], OptionsSpec::None),
    ];
    m.inputs = vec![0];
    m.outputs = vec![29];
    m
}

#[test]
fn every_mapped_op_and_its_attributes() {
    let g = tflite::import(&write(&every_op_model())).unwrap();
    let kinds: Vec<&OpKind> = g.ops.iter().map(|op| &op.kind).collect();
    let same = |padding| msf_model::Window { stride: [1, 1], dilation: [1, 1], padding };
    assert_eq!(*kinds[0], OpKind::Pad { paddings: vec![[0, 0], [1, 1], [1, 1], [0, 0]] });
    assert_eq!(g.ops[0].inputs, vec![0]);
    assert_eq!(*kinds[1], OpKind::Conv2d { window: same(Padding::Valid), activation: Activation::Relu6 });
    assert_eq!(g.ops[1].inputs, vec![2, 3, 4]);
    assert_eq!(
        *kinds[2],
        OpKind::DepthwiseConv2d {
            window: msf_model::Window { stride: [2, 2], dilation: [1, 1], padding: Padding::Same },
            depth_multiplier: 2,
            activation: Activation::Relu
        }
    );
    assert_eq!(g.ops[2].inputs, vec![5, 6]);
    assert!(matches!(kinds[3], OpKind::MaxPool2d { filter: [2, 2], window, .. } if window.stride == [2, 2] && window.padding == Padding::Valid));
    assert!(matches!(kinds[4], OpKind::AveragePool2d { filter: [3, 2], window, .. } if window.padding == Padding::Same));
    assert_eq!(*kinds[5], OpKind::Concatenation { axis: 3, activation: Activation::None });
    assert_eq!(*kinds[6], OpKind::Mean { axes: vec![1, 2], keep_dims: false });
    assert_eq!(g.ops[6].inputs, vec![10]);
    assert_eq!(*kinds[7], OpKind::FullyConnected { activation: Activation::ReluN1To1, keep_num_dims: true });
    assert_eq!(g.ops[7].inputs, vec![12, 13]);
    assert_eq!(*kinds[8], OpKind::Softmax { beta: 0.5 });
    let names: Vec<&str> = kinds[9..].iter().map(|k| k.name()).collect();
    assert_eq!(
        names,
        ["LOGISTIC", "RELU", "RELU6", "DEQUANTIZE", "QUANTIZE", "ADD", "RESHAPE", "PAD", "GELU", "MyCustomOp", "RELU"]
    );
    assert_eq!(g.ops[15].inputs, vec![21], "RESHAPE keeps only its data input");
    // PADV2 padding with the output zero point is a plain PAD.
    assert_eq!(*kinds[16], OpKind::Pad { paddings: vec![[0, 0], [0, 1]] });
    assert!(kinds[17].is_opaque() && kinds[18].is_opaque());
    assert_eq!(g.ops[18].inputs, vec![27, 26]);
    // Quantisation: per-channel on the conv weights, per-tensor elsewhere.
    let w = g.tensors[3].quant.as_ref().unwrap();
    assert!(w.is_per_channel());
    assert_eq!((w.axis, w.scale.len(), w.scale[7]), (0, 8, 0.08));
    assert_eq!(g.tensors[0].quant, Some(msf_model::Quant::per_tensor(0.05, -1)));
    assert_eq!(g.tensors[19].quant, None);
    assert_eq!(g.tensors[4].data_i32(), Some(vec![7; 8]));
    assert!(g.tensors[5].data.is_none());
    assert_eq!(g.tensors[24].shape, Vec::<usize>::new(), "a scalar keeps rank 0");
}

#[test]
fn fused_activation_the_ir_cannot_express_makes_the_op_opaque() {
    let mut m = every_op_model();
    m.ops[1].options = OptionsSpec::Conv2d { padding: 1, stride: [1, 1], dilation: [1, 1], activation: 4 };
    let g = tflite::import(&write(&m)).unwrap();
    assert_eq!(g.ops[1].kind.name(), "CONV_2D (fused TANH)");
    assert_eq!(g.ops[1].inputs, vec![2, 3, 4]);
}

/// TFLite Micro's person detection model writes quantized_dimension 3 on its 1-D conv biases,
/// which carry one scale per element; TFLite Micro ignores the field. Such a
/// tensor is quantised along its only axis. A scale count that is not the length still fails.
#[test]
fn one_dimensional_per_channel_tensor_ignores_its_quantized_dimension() {
    let mut m = every_op_model();
    let bias_scales: Vec<f32> = (1..=8).map(|c| 0.05 * c as f32 / 100.0).collect();
    m.tensors[4] = m.tensors[4].clone().quant(&bias_scales, &[0; 8], 3);
    let g = tflite::import(&write(&m)).unwrap();
    let q = g.tensors[4].quant.as_ref().unwrap();
    assert!(q.is_per_channel());
    assert_eq!((q.axis, q.scale.clone(), q.zero_point.clone()), (0, bias_scales.clone(), vec![0; 8]));
    assert_eq!(g.tensors[4].data_i32(), Some(vec![7; 8]));

    // 4 scales on a tensor of length 8: not per element, rejected naming the tensor.
    m.tensors[4] = m.tensors[4].clone().quant(&bias_scales[..4], &[0; 4], 3);
    match tflite::import(&write(&m)) {
        Err(ImportError::BadTensor { tensor: 4, reason, .. }) => assert!(reason.contains("4 per-channel scales along axis 3"), "{reason}"),
        other => panic!("expected BadTensor, got {other:?}"),
    }
    // A 4-D tensor still needs its quantized_dimension to match: conv weights along axis 3 (of 4).
    let mut m = every_op_model();
    m.tensors[3] = m.tensors[3].clone().quant(&[0.01; 8], &[0; 8], 3);
    match tflite::import(&write(&m)) {
        Err(ImportError::BadTensor { tensor: 3, reason, .. }) => assert!(reason.contains("8 per-channel scales along axis 3"), "{reason}"),
        other => panic!("expected BadTensor, got {other:?}"),
    }
}

/// x -> SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE(x, packed) -> FULLY_CONNECTED: the
/// converter's Flatten before a dense layer.
fn flatten_model() -> ModelSpec {
    let mut m = ModelSpec::default();
    m.opcodes = [77, 45, 83, 22, 9].iter().map(|&c| OpCodeSpec::builtin(c)).collect();
    let begin = m.add_buffer(i32_bytes(&[0]));
    let end = m.add_buffer(i32_bytes(&[1]));
    let strides = m.add_buffer(i32_bytes(&[1]));
    let minus_one = m.add_buffer(i32_bytes(&[-1]));
    let fc_w = m.add_buffer(vec![1; 3 * 12]);
    m.tensors = vec![
        TensorSpec::new("x", &[1, 2, 2, 3], I8, 0),
        TensorSpec::new("shape", &[4], dtype::INT32, 0),
        TensorSpec::new("begin", &[1], dtype::INT32, begin),
        TensorSpec::new("end", &[1], dtype::INT32, end),
        TensorSpec::new("strides", &[1], dtype::INT32, strides),
        TensorSpec::new("batch", &[], dtype::INT32, 0),
        TensorSpec::new("minus_one", &[], dtype::INT32, minus_one),
        TensorSpec::new("packed", &[2], dtype::INT32, 0),
        TensorSpec::new("flat", &[1, 12], I8, 0),
        TensorSpec::new("fc_w", &[3, 12], I8, fc_w),
        TensorSpec::new("y", &[1, 3], I8, 0),
    ];
    m.ops = vec![
        OpSpec::new(0, &[0], &[1], OptionsSpec::None),
        OpSpec::new(1, &[1, 2, 3, 4], &[5], OptionsSpec::None),
        OpSpec::new(2, &[5, 6], &[7], OptionsSpec::None),
        OpSpec::new(3, &[0, 7], &[8], OptionsSpec::None),
        OpSpec::new(4, &[8, 9], &[10], OptionsSpec::FullyConnected { activation: 0, keep_num_dims: false, weights_format: 0 }),
    ];
    m.inputs = vec![0];
    m.outputs = vec![10];
    m
}

#[test]
fn run_time_reshape_shape_is_folded_and_its_subgraph_removed() {
    let mut m = flatten_model();
    let g = tflite::import(&write(&m)).unwrap();
    let names: Vec<&str> = g.ops.iter().map(|op| op.kind.name()).collect();
    assert_eq!(names, ["RESHAPE", "FULLY_CONNECTED"]);
    assert_eq!(g.ops[0].inputs, vec![0]);
    assert_eq!(g.ops[0].outputs, vec![8]);
    assert_eq!(g.tensors.len(), 11, "tensor ids stay the file's indices");

    // When the shape chain's result is also a graph output, it is not dead and stays.
    m.outputs = vec![10, 7];
    let g = tflite::import(&write(&m)).unwrap();
    assert_eq!(g.ops.len(), 5);
}

#[test]
fn buffers_stored_after_the_flatbuffer_are_read() {
    // Models over 2 GB keep buffers outside the flatbuffer (offset/size from the file start).
    let mut m = ModelSpec::default();
    m.opcodes = vec![OpCodeSpec::builtin(9)];
    let weights: Vec<u8> = (0..24u8).collect();
    m.buffers.push(BufferSpec { data: vec![], offset: 2, size: weights.len() as u64 });
    m.tensors = vec![
        TensorSpec::new("x", &[1, 4], I8, 0),
        TensorSpec::new("w", &[6, 4], I8, 1),
        TensorSpec::new("y", &[1, 6], I8, 0),
    ];
    m.ops = vec![OpSpec::new(0, &[0, 1], &[2], OptionsSpec::FullyConnected { activation: 0, keep_num_dims: false, weights_format: 0 })];
    m.inputs = vec![0];
    m.outputs = vec![2];
    // The offset field has a fixed size, so the layout does not change when its value does.
    let len = write(&m).len();
    let offset = len.next_multiple_of(16);
    m.buffers[1].offset = offset as u64;
    let mut file = write(&m);
    assert_eq!(file.len(), len);
    file.resize(offset, 0);
    file.extend_from_slice(&weights);
    let g = tflite::import(&file).unwrap();
    assert_eq!(g.tensors[1].data.as_deref(), Some(&weights[..]));

    // One byte short: a typed error naming the buffer.
    file.pop();
    match tflite::import(&file) {
        Err(ImportError::BadTensor { tensor: 1, reason, .. }) => assert!(reason.contains("outside") || reason.contains("file"), "{reason}"),
        other => panic!("expected BadTensor, got {other:?}"),
    }
}

#[test]
fn every_corpus_model_round_trips_through_the_sniffer() {
    for path in tflite_corpus() {
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(msf_model::import::sniff(&bytes).unwrap(), msf_model::import::Format::Tflite);
        assert_eq!(tflite::import(&bytes).unwrap().ops.len(), load(&path).ops.len());
    }
}

/// The hand-built models import; with MSF_WRITE_FUZZ_SEEDS=DIR they are also written there as
/// seeds for the fuzzer (crates/model/fuzz/seed.sh does this), since they use ops the small
/// corpus models do not (PAD, CONCATENATION, MEAN, QUANTIZE, custom ops, ...).
#[test]
fn hand_built_models_import_and_seed_the_fuzzer() {
    let models = [("every_op", write(&every_op_model())), ("flatten", write(&flatten_model()))];
    for (name, bytes) in &models {
        assert!(tflite::import(bytes).is_ok(), "{name}");
    }
    if let Some(dir) = std::env::var_os("MSF_WRITE_FUZZ_SEEDS") {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &models {
            std::fs::write(Path::new(&dir).join(format!("{name}.tflite")), bytes).unwrap();
        }
    }
}
