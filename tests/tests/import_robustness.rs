//! Bad input: each hand-made broken file gets the right typed error, and thousands of
//! deterministic mutations of every corpus model go through `msf_model::load` without a panic
//! or a hang.

use msf_model::import::tflite::writer::*;
use msf_model::validate::MAX_TENSOR_ELEMENTS;
use msf_model::ImportError;
use msf_tests::{corpus, model};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

fn load(bytes: &[u8]) -> Result<msf_model::Graph, ImportError> {
    msf_model::load(bytes, "test")
}

/// SplitMix64: a tiny, well-mixed PRNG; fixed seeds make every run the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn prng_is_deterministic() {
    // Worked by hand from the SplitMix64 definition for seed 0: the first output is the mix of
    // 0x9E3779B97F4A7C15, which is the reference value 0xE220A8397B1DCDAF.
    assert_eq!(Rng(0).next(), 0xE220_A839_7B1D_CDAF);
    let (mut a, mut b) = (Rng(7), Rng(7));
    assert!((0..100).all(|_| a.next() == b.next()));
}

// ---- a tiny valid model to break ---------------------------------------------------------

/// x[1,4,4,2] -> CONV_2D (1x1, weights [3,1,1,2], bias [3]) -> y[1,4,4,3].
fn tiny() -> ModelSpec {
    let mut m = ModelSpec::default();
    m.opcodes = vec![OpCodeSpec::builtin(3)];
    let w = m.add_buffer(vec![1; 6]);
    let b = m.add_buffer(vec![0; 12]);
    m.tensors = vec![
        TensorSpec::new("x", &[1, 4, 4, 2], dtype::INT8, 0).quant(&[0.5], &[0], 0),
        TensorSpec::new("w", &[3, 1, 1, 2], dtype::INT8, w).quant(&[0.1, 0.2, 0.3], &[0, 0, 0], 0),
        TensorSpec::new("b", &[3], dtype::INT32, b),
        TensorSpec::new("y", &[1, 4, 4, 3], dtype::INT8, 0).quant(&[0.5], &[0], 0),
    ];
    m.ops = vec![OpSpec::new(0, &[0, 1, 2], &[3], OptionsSpec::Conv2d { padding: 1, stride: [1, 1], dilation: [1, 1], activation: 0 })];
    m.inputs = vec![0];
    m.outputs = vec![3];
    m
}

#[test]
fn the_tiny_model_itself_imports() {
    let g = load(&write(&tiny())).unwrap();
    assert_eq!(g.ops.len(), 1);
    assert_eq!(g.ops[0].kind.name(), "CONV_2D");
}

// ---- hand-made bad inputs ----------------------------------------------------------------

#[test]
fn truncated_files_are_invalid_flatbuffers() {
    for name in ["tiny_cnn_int8.tflite", "paper_mcunet_vww1_80_int8.tflite"] {
        let bytes = std::fs::read(model(name)).unwrap();
        for cut in [bytes.len() - 1, bytes.len() / 2, 1000, 64, 9] {
            match load(&bytes[..cut]) {
                Err(ImportError::InvalidFlatbuffer(msg)) => assert!(!msg.is_empty()),
                other => panic!("{name} cut at {cut}: expected InvalidFlatbuffer, got {other:?}"),
            }
        }
        assert_eq!(load(&bytes[..7]).unwrap_err(), ImportError::TooShort { len: 7 });
    }
    assert_eq!(load(&[]).unwrap_err(), ImportError::TooShort { len: 0 });
}

#[test]
fn random_bytes_are_rejected() {
    let mut rng = Rng(0x5eed);
    for n in [8usize, 16, 100, 4096, 100_000] {
        for _ in 0..20 {
            let mut bytes = rng.bytes(n);
            // Random bytes: not TFLite; a guess at ONNX that fails, or neither.
            bytes[4..8].copy_from_slice(b"XXXX");
            assert!(load(&bytes).is_err(), "{n} random bytes imported");
            // The same bytes claiming to be TFLite: the verifier refuses them.
            bytes[4..8].copy_from_slice(b"TFL3");
            match load(&bytes) {
                Err(ImportError::InvalidFlatbuffer(_)) => {}
                other => panic!("{n} random bytes with TFL3: {other:?}"),
            }
        }
    }
}

#[test]
fn root_offset_outside_the_buffer() {
    let mut bytes = write(&tiny());
    let past_end = (bytes.len() as u32 + 64).to_le_bytes();
    bytes[..4].copy_from_slice(&past_end);
    match load(&bytes) {
        Err(ImportError::InvalidFlatbuffer(msg)) => assert!(msg.contains("out of bounds"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn table_offset_inside_the_model_pointing_outside() {
    // Find the Model table's vtable: the root offset points at the table, whose first 4 bytes
    // are a signed offset back to its vtable. Point it far away.
    let mut bytes = write(&tiny());
    let root = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    bytes[root..root + 4].copy_from_slice(&i32::MIN.to_le_bytes());
    assert!(matches!(load(&bytes), Err(ImportError::InvalidFlatbuffer(_))));
}

#[test]
fn external_buffer_outside_the_file() {
    let mut m = tiny();
    m.buffers[1] = BufferSpec { data: vec![], offset: 1 << 40, size: 6 };
    match load(&write(&m)) {
        Err(ImportError::BadTensor { tensor: 1, name, reason }) => {
            assert_eq!(name, "w");
            assert!(reason.contains("buffer 1") && reason.contains("file"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn buffer_size_disagreeing_with_the_shape() {
    let mut m = tiny();
    m.buffers[2].data = vec![0; 8]; // bias [3] int32 needs 12 bytes
    assert_eq!(
        load(&write(&m)).unwrap_err(),
        ImportError::BufferSizeMismatch { tensor: 2, name: "b".into(), shape: vec![3], dtype: "int32".into(), expected: 12, actual: 8 }
    );
}

#[test]
fn zero_and_negative_dimensions() {
    for dim in [0, -1, -7] {
        let mut m = tiny();
        m.tensors[3].shape = vec![1, 4, dim, 3];
        match load(&write(&m)) {
            Err(ImportError::BadTensor { tensor: 3, reason, .. }) => assert!(reason.contains(&format!("dimension {dim}")), "{reason}"),
            other => panic!("dim {dim}: {other:?}"),
        }
    }
}

#[test]
fn a_tensor_of_two_to_the_31_elements() {
    let mut m = tiny();
    m.tensors[3].shape = vec![1, 1 << 15, 1 << 16, 1];
    match load(&write(&m)) {
        Err(ImportError::TensorTooLarge { tensor: 3, elements, limit, .. }) => {
            assert_eq!(elements, 1 << 31);
            assert_eq!(limit, MAX_TENSOR_ELEMENTS);
        }
        other => panic!("{other:?}"),
    }
    // Dimensions whose product overflows 64 bits are caught the same way.
    m.tensors[3].shape = vec![i32::MAX; 4];
    assert!(matches!(load(&write(&m)), Err(ImportError::TensorTooLarge { .. })));
}

#[test]
fn a_cyclic_graph() {
    // x -> RELU a -> b ; b -> RELU -> a: each RELU waits for the other's output.
    let mut m = ModelSpec::default();
    m.opcodes = vec![OpCodeSpec::builtin(0), OpCodeSpec::builtin(19)];
    m.tensors = vec![
        TensorSpec::new("x", &[1, 4], dtype::INT8, 0),
        TensorSpec::new("a", &[1, 4], dtype::INT8, 0),
        TensorSpec::new("b", &[1, 4], dtype::INT8, 0),
        TensorSpec::new("c", &[1, 4], dtype::INT8, 0),
    ];
    m.ops = vec![
        OpSpec::new(0, &[0, 2], &[1], OptionsSpec::Add { activation: 0 }),
        OpSpec::new(1, &[1], &[2], OptionsSpec::None),
        OpSpec::new(1, &[2], &[3], OptionsSpec::None),
    ];
    m.inputs = vec![0];
    m.outputs = vec![3];
    match load(&write(&m)) {
        Err(ImportError::Cycle { op, op_name, tensor }) => {
            assert_eq!((op, op_name.as_str(), tensor.as_str()), (0, "ADD", "b"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn files_that_are_neither_format() {
    let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,".to_vec();
    let elf = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00".to_vec();
    let text = b"# msf-planner\nThis is a README, not a model.\n".to_vec();
    let zeros = vec![0u8; 4096];
    for (what, bytes) in [("gif", gif), ("elf", elf), ("text", text), ("zeros", zeros)] {
        assert_eq!(load(&bytes).unwrap_err(), ImportError::UnknownFormat, "{what}");
        assert!(ImportError::UnknownFormat.to_string().contains("TFLite"));
    }
}

#[test]
fn more_than_one_subgraph() {
    let mut m = tiny();
    m.subgraph_copies = 2;
    assert_eq!(load(&write(&m)).unwrap_err(), ImportError::SubgraphCount(2));
    m.subgraph_copies = 0;
    assert_eq!(load(&write(&m)).unwrap_err(), ImportError::SubgraphCount(0));
}

#[test]
fn op_tensor_index_out_of_range() {
    let mut m = tiny();
    m.ops[0].inputs = vec![0, 1, 9];
    assert_eq!(
        load(&write(&m)).unwrap_err(),
        ImportError::TensorOutOfRange { op: 0, op_name: "CONV_2D".into(), tensor: 9, count: 4 }
    );
    m.ops[0].inputs = vec![0, -2, 2];
    assert!(matches!(load(&write(&m)), Err(ImportError::TensorOutOfRange { tensor: -2, .. })));
}

#[test]
fn missing_required_input_in_the_middle() {
    let mut m = tiny();
    m.ops[0].inputs = vec![0, -1, 2];
    match load(&write(&m)) {
        Err(ImportError::BadOp { op: 0, op_name, reason }) => {
            assert_eq!(op_name, "CONV_2D");
            assert!(reason.contains("input 1 is missing"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_input_nothing_provides() {
    let mut m = tiny();
    m.inputs = vec![];
    assert_eq!(load(&write(&m)).unwrap_err(), ImportError::MissingTensor { op: 0, op_name: "CONV_2D".into(), tensor: "x".into() });
}

#[test]
fn bad_graph_io_and_buffer_and_opcode_indices() {
    let mut m = tiny();
    m.outputs = vec![3, 12];
    assert_eq!(load(&write(&m)).unwrap_err(), ImportError::BadGraphIo { which: "output", index: 1, tensor: 12 });

    let mut m = tiny();
    m.tensors[1].buffer = 77;
    assert!(matches!(load(&write(&m)), Err(ImportError::BadTensor { tensor: 1, reason, .. }) if reason.contains("buffer index 77")));

    let mut m = tiny();
    m.ops[0].opcode_index = 5;
    assert!(matches!(load(&write(&m)), Err(ImportError::BadOp { op: 0, reason, .. }) if reason.contains("opcode index 5")));
}

#[test]
fn inconsistent_op_shapes_and_attributes() {
    let cases: Vec<(&str, Box<dyn Fn(&mut ModelSpec)>)> = vec![
        ("but input, filter", Box::new(|m| m.tensors[3].shape = vec![1, 4, 4, 4])),
        ("channels", Box::new(|m| {
            m.tensors[1].shape = vec![3, 1, 1, 5];
            m.buffers[1].data = vec![1; 15];
        })),
        ("rank 4", Box::new(|m| m.tensors[1].shape = vec![3, 2])),
        ("stride_h is 0", Box::new(|m| m.ops[0].options = OptionsSpec::Conv2d { padding: 1, stride: [0, 1], dilation: [1, 1], activation: 0 })),
        ("unknown padding", Box::new(|m| m.ops[0].options = OptionsSpec::Conv2d { padding: 9, stride: [1, 1], dilation: [1, 1], activation: 0 })),
        ("Conv2DOptions", Box::new(|m| m.ops[0].options = OptionsSpec::Add { activation: 0 })),
        ("bias", Box::new(|m| {
            m.tensors[2].shape = vec![2];
            m.buffers[2].data = vec![0; 8];
        })),
        ("has 2 outputs", Box::new(|m| m.ops[0].outputs = vec![3, 3])),
        ("constant", Box::new(|m| m.ops[0].outputs = vec![1])),
    ];
    for (want, edit) in cases {
        let mut m = tiny();
        edit(&mut m);
        match load(&write(&m)) {
            Err(ImportError::BadOp { op: 0, reason, .. }) => assert!(reason.contains(want), "{want}: {reason}"),
            other => panic!("{want}: expected BadOp, got {other:?}"),
        }
    }
}

#[test]
fn bad_quantisation() {
    let mut m = tiny();
    m.tensors[1] = m.tensors[1].clone().quant(&[0.1, 0.2], &[0, 0], 0); // 2 scales, 3 channels
    assert!(matches!(load(&write(&m)), Err(ImportError::BadTensor { tensor: 1, reason, .. }) if reason.contains("per-channel")));
    let mut m = tiny();
    m.tensors[1] = m.tensors[1].clone().quant(&[0.1, 0.2, 0.3], &[0], 0);
    assert!(matches!(load(&write(&m)), Err(ImportError::BadTensor { tensor: 1, reason, .. }) if reason.contains("zero points")));
    let mut m = tiny();
    m.tensors[0] = m.tensors[0].clone().quant(&[f32::NAN], &[0], 0);
    assert!(matches!(load(&write(&m)), Err(ImportError::BadTensor { tensor: 0, .. })));
}

#[test]
fn quantisation_zero_points_outside_the_dtype_range() {
    // tiny(): tensor 0 "x" int8 activation, 1 "w" int8 per-channel weights, 2 "b" int32 bias.
    for (tensor, zp) in [(0usize, 1000i64), (0, -129), (0, 1 << 40), (3, 128), (1, -200)] {
        let mut m = tiny();
        let scales = if tensor == 1 { vec![0.1, 0.2, 0.3] } else { vec![0.5] };
        let mut zps = vec![0; scales.len()];
        zps[scales.len() - 1] = zp;
        m.tensors[tensor] = m.tensors[tensor].clone().quant(&scales, &zps, 0);
        match load(&write(&m)) {
            Err(e @ ImportError::BadTensor { .. }) => {
                let msg = e.to_string();
                let name = &m.tensors[tensor].name;
                assert!(msg.contains(&format!("tensor {tensor} (\"{name}\")")), "{msg}");
                assert!(msg.contains(&format!("zero point {} is {zp}", scales.len() - 1)) && msg.contains("-128..=127"), "{msg}");
            }
            other => panic!("tensor {tensor} zero point {zp}: {other:?}"),
        }
    }
    let mut m = tiny();
    m.tensors[0] = m.tensors[0].clone().quant(&[0.5], &[1000], 0);
    assert_eq!(load(&write(&m)).unwrap_err().to_string(), "tensor 0 (\"x\"): quantisation zero point 0 is 1000: int8 zero points must lie in -128..=127");
    // uint8 in 0..=255, int32 (a bias) exactly 0.
    let mut m = tiny();
    m.tensors[0] = TensorSpec::new("x", &[1, 4, 4, 2], dtype::UINT8, 0).quant(&[0.5], &[256], 0);
    let msg = load(&write(&m)).unwrap_err().to_string();
    assert!(msg.contains("tensor 0 (\"x\")") && msg.contains("zero point 0 is 256") && msg.contains("0..=255"), "{msg}");
    let mut m = tiny();
    m.tensors[2] = m.tensors[2].clone().quant(&[0.05, 0.1, 0.15], &[0, 3, 0], 0);
    let msg = load(&write(&m)).unwrap_err().to_string();
    assert_eq!(msg, "tensor 2 (\"b\"): quantisation zero point 1 is 3: int32 zero points must be 0");
    // The edges of each range are fine.
    let mut m = tiny();
    m.tensors[0] = m.tensors[0].clone().quant(&[0.5], &[-128], 0);
    m.tensors[3] = m.tensors[3].clone().quant(&[0.5], &[127], 0);
    m.tensors[2] = m.tensors[2].clone().quant(&[0.05, 0.1, 0.15], &[0, 0, 0], 0);
    load(&write(&m)).unwrap();
}

#[test]
fn quantisation_scales_that_are_zero_or_denormal() {
    for (tensor, scale) in [(0usize, 0.0f32), (0, 1e-45), (0, -0.0), (1, 0.0), (1, 1e-45), (1, 1e-39), (3, f32::INFINITY), (0, -0.5)] {
        let mut m = tiny();
        let mut scales = if tensor == 1 { vec![0.1, 0.2, 0.3] } else { vec![0.5] };
        scales[0] = scale;
        let zps = vec![0; scales.len()];
        m.tensors[tensor] = m.tensors[tensor].clone().quant(&scales, &zps, 0);
        match load(&write(&m)) {
            Err(e @ ImportError::BadTensor { .. }) => {
                let msg = e.to_string();
                let name = &m.tensors[tensor].name;
                assert!(msg.contains(&format!("tensor {tensor} (\"{name}\"): quantisation scale 0 is")), "{msg}");
                assert!(msg.contains("positive normal float"), "{msg}");
            }
            other => panic!("tensor {tensor} scale {scale:e}: {other:?}"),
        }
    }
    let mut m = tiny();
    m.tensors[0] = m.tensors[0].clone().quant(&[1e-45], &[0], 0);
    assert_eq!(
        load(&write(&m)).unwrap_err().to_string(),
        "tensor 0 (\"x\"): quantisation scale 0 is 1e-45: a scale must be a positive normal float (at least 1.1754944e-38, finite)"
    );
    // The smallest normal scale is accepted.
    let mut m = tiny();
    m.tensors[0] = m.tensors[0].clone().quant(&[f32::MIN_POSITIVE], &[0], 0);
    load(&write(&m)).unwrap();
}

#[test]
fn onnx_quantize_linear_with_a_denormal_scale() {
    use msf_model::import::onnx::prost::Message;
    use msf_model::import::onnx::proto::*;
    let mut m = ModelProto::decode(std::fs::read(model("onnx_small_cnn_qdq_int8.onnx")).unwrap().as_slice()).unwrap();
    let g = m.graph.as_mut().unwrap();
    // Every QuantizeLinear / DequantizeLinear scale initializer: make the first one denormal.
    let scale_name = g.node.iter().find(|n| n.op_type == "QuantizeLinear").map(|n| n.input[1].clone()).expect("a QuantizeLinear");
    let init = g.initializer.iter_mut().find(|t| t.name == scale_name).expect("scale initializer");
    if init.float_data.is_empty() {
        init.raw_data = 1e-45f32.to_le_bytes().repeat(init.raw_data.len() / 4);
    } else {
        init.float_data.iter_mut().for_each(|s| *s = 1e-45);
    }
    let msg = load(&m.encode_to_vec()).unwrap_err().to_string();
    assert!(msg.contains("QuantizeLinear") && msg.contains("1e-45") && msg.contains("positive normal float"), "{msg}");
}

#[test]
fn a_model_with_no_outputs() {
    // TFLite: a subgraph whose output list is empty.
    let mut m = tiny();
    m.outputs = vec![];
    assert_eq!(load(&write(&m)).unwrap_err(), ImportError::NoOutputs);
    // ONNX: the graph's output deleted.
    use msf_model::import::onnx::prost::Message;
    use msf_model::import::onnx::proto::*;
    for name in ["onnx_small_cnn_f32.onnx", "onnx_small_cnn_qdq_int8.onnx"] {
        let mut m = ModelProto::decode(std::fs::read(model(name)).unwrap().as_slice()).unwrap();
        m.graph.as_mut().unwrap().output.clear();
        let e = load(&m.encode_to_vec()).unwrap_err();
        assert_eq!(e, ImportError::NoOutputs, "{name}");
        assert!(e.to_string().contains("no graph outputs"), "{e}");
    }
}

#[test]
fn runners_of_a_hand_built_graph_without_outputs_return_an_error() {
    // The importers refuse such a model (above); a graph built in code can still lack outputs,
    // and reading its output is an error, not an index out of bounds.
    let mut g = load(&std::fs::read(model("tiny_cnn_int8.tflite")).unwrap()).unwrap();
    let input = std::fs::read(model("tiny_cnn_int8.input.bin")).unwrap();
    g.outputs.clear();
    let mut r = msf_exec::Runner::new(&g).unwrap();
    r.set_input(&input).unwrap();
    r.run(None).unwrap();
    assert_eq!(r.output().unwrap_err().to_string(), "the graph has no output to read");
    assert!(matches!(msf_exec::run(&g, &input, None), Err(msf_exec::ExecError::NoOutput)));
}

#[test]
fn errors_read_as_sentences_naming_the_place() {
    let mut m = tiny();
    m.tensors[3].shape = vec![1, 4, 0, 3];
    let msg = load(&write(&m)).unwrap_err().to_string();
    assert!(msg.contains("tensor 3") && msg.contains("\"y\"") && msg.contains("dimension 0"), "{msg}");
}

// ---- deterministic mutation ----------------------------------------------------------------

/// One mutation of `base` (and sometimes a chunk of `other`): bit flips, byte sets, 32-bit
/// word sets (flatbuffer offsets and protobuf lengths are where parsers break), truncation,
/// splices. Positions favour the first and last 64 KiB, where both formats keep their
/// structure; the middle of a large model is mostly weights.
fn mutate(rng: &mut Rng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut m = base.to_vec();
    let len = m.len();
    let pos = |rng: &mut Rng, n: usize| -> usize {
        let hot = 1 << 16;
        match rng.below(4) {
            0 if n > hot => rng.below(hot),
            1 if n > hot => n - 1 - rng.below(hot),
            _ => rng.below(n.max(1)),
        }
    };
    const INTERESTING: [u32; 10] = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x10];
    match rng.below(6) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let p = pos(rng, len);
                m[p] ^= 1 << rng.below(8);
            }
        }
        1 => {
            for _ in 0..1 + rng.below(4) {
                let p = pos(rng, len);
                m[p] = if rng.below(2) == 0 { INTERESTING[rng.below(INTERESTING.len())] as u8 } else { rng.next() as u8 };
            }
        }
        2 => {
            let p = pos(rng, len.saturating_sub(4)) & !3;
            let v = match rng.below(3) {
                0 => INTERESTING[rng.below(INTERESTING.len())],
                1 => (len as u32).wrapping_add(rng.below(64) as u32).wrapping_sub(32),
                _ => rng.next() as u32,
            };
            if p + 4 <= len {
                m[p..p + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        3 => m.truncate(rng.below(len + 1)),
        4 => {
            // Overwrite with a chunk of this file or of another model.
            let src = if rng.below(2) == 0 { base } else { other };
            let n = 1 + rng.below(256);
            let from = pos(rng, src.len().saturating_sub(n));
            let to = pos(rng, len.saturating_sub(n));
            let n = n.min(src.len() - from).min(len - to);
            m[to..to + n].copy_from_slice(&src[from..from + n]);
        }
        _ => {
            // Insert or delete a run of bytes: shifts every offset after it.
            let p = pos(rng, len);
            let n = 1 + rng.below(16);
            if rng.below(2) == 0 {
                let ins = rng.bytes(n);
                m.splice(p..p, ins);
            } else {
                m.drain(p..(p + n).min(len));
            }
        }
    }
    m
}

/// Mutations per model: 3000 for small files, fewer for large ones so the whole test stays
/// well under a minute in a debug build on 2 cores. Measured there: a TFLite import costs about
/// 20 ns per byte of model (the weights are copied and checked), an ONNX import about 80 ns
/// (protobuf decoding, weight transposes), so the 6.7 MB ONNX model gets the minimum of 20.
fn mutation_count(name: &str, len: usize) -> usize {
    let budget: usize = if name.ends_with(".onnx") { 30_000_000 } else { 200_000_000 };
    let floor = if name.ends_with(".onnx") { 20 } else { 150 };
    (budget / len.max(1)).clamp(floor, 3000)
}

#[test]
fn mutated_corpus_models_never_panic_or_hang() {
    let files = corpus();
    assert!(files.iter().any(|p| p.extension().is_some_and(|e| e == "onnx")), "ONNX models are in the corpus");
    let models: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        files.iter().map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(p).unwrap())).collect(),
    );
    let started = Instant::now();
    let mut total = 0;
    let mut failures = Vec::new();
    for i in 0..models.len() {
        let current = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let (models_w, current_w) = (Arc::clone(&models), Arc::clone(&current));
        // A worker per model, so that a hang is reported (with its mutation) instead of
        // blocking the suite.
        std::thread::spawn(move || {
            let (name, base) = &models_w[i];
            let other = &models_w[(i + 1) % models_w.len()].1;
            let mut rng = Rng(0x6d73_665f_0000_0000 ^ i as u64);
            let count = mutation_count(name, base.len());
            let mut panics = Vec::new();
            for k in 0..count {
                current_w.store(k, Ordering::Relaxed);
                let m = mutate(&mut rng, base, other);
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| load(&m))) {
                    let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                    panics.push(format!("{name} mutation {k} ({} bytes): {}", m.len(), msg.unwrap_or_default()));
                }
            }
            let _ = tx.send((count, panics));
        });
        let t0 = Instant::now();
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok((count, panics)) => {
                eprintln!("{}: {count} mutations in {:.1} s", models[i].0, t0.elapsed().as_secs_f64());
                total += count;
                failures.extend(panics);
            }
            Err(_) => {
                panic!("{} mutation {} did not finish in 120 s", models[i].0, current.load(Ordering::Relaxed));
            }
        }
    }
    assert!(failures.is_empty(), "{} panics:\n{}", failures.len(), failures.join("\n"));
    assert!(total >= 10_000, "only {total} mutations ran");
    eprintln!("{total} mutations of {} models in {:.1} s", models.len(), started.elapsed().as_secs_f64());
}

#[test]
fn many_tensors_sharing_one_large_buffer_do_not_allocate_gigabytes() {
    // 2000 tensors on one 64 KiB buffer would be 128 MiB of copies from a ~200 KiB file.
    let mut m = tiny();
    let big = m.add_buffer(vec![7; 1 << 16]);
    for k in 0..2000 {
        m.tensors.push(TensorSpec::new(&format!("shared{k}"), &[1 << 16], dtype::INT8, big));
    }
    match load(&write(&m)) {
        Err(ImportError::BadTensor { reason, .. }) => assert!(reason.contains("share large buffers"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // A few tensors sharing a buffer, as converters write, are fine.
    let mut m = tiny();
    m.tensors.push(TensorSpec::new("bias_again", &[3], dtype::INT32, 2));
    assert_eq!(load(&write(&m)).unwrap().tensors[4].data_i32(), Some(vec![0; 3]));
}

#[test]
fn absurd_window_attributes() {
    let mut m = tiny();
    m.ops[0].options = OptionsSpec::Conv2d { padding: 0, stride: [1, 1], dilation: [i32::MAX, 1], activation: 0 };
    assert!(matches!(load(&write(&m)), Err(ImportError::BadOp { reason, .. }) if reason.contains("dilation_h_factor")));
    // A max pool with a 2^30 window on SAME padding would fit any input; it is refused.
    let mut m = ModelSpec::default();
    m.opcodes = vec![OpCodeSpec::builtin(17)];
    m.tensors = vec![TensorSpec::new("x", &[1, 2, 2, 1], dtype::INT8, 0), TensorSpec::new("y", &[1, 2, 2, 1], dtype::INT8, 0)];
    m.ops = vec![OpSpec::new(0, &[0], &[1], OptionsSpec::Pool2d { padding: 0, stride: [1, 1], filter: [1 << 30, 1 << 30], activation: 0 })];
    m.inputs = vec![0];
    m.outputs = vec![1];
    assert!(matches!(load(&write(&m)), Err(ImportError::BadOp { reason, .. }) if reason.contains("filter size")));
}
