//! Golden outputs: every corpus model runs through msf-runtime (compiled by msf-exec) and is
//! compared with the reference interpreter's output and, for TFLite, every intermediate tensor.
//!
//! - int8 TFLite: output and every materialised tensor byte-identical to the reference dump.
//! - float32 TFLite: max abs error <= 1e-5 x max |reference| (output and every tensor).
//! - ONNX float: max abs error <= 1e-4 x max |reference|; the QDQ model: within one step of the
//!   quantisation of the tensor its final DEQUANTIZE reads.

use msf_exec::Kernels;
use msf_model::{DType, Graph, OpKind};
use msf_tests::{corpus, models_dir};
use std::collections::BTreeMap;
use std::path::Path;

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// (max abs error, max |reference|) of two float32 byte buffers.
fn float_err(got: &[u8], want: &[u8]) -> (f32, f32) {
    let (g, w) = (f32s(got), f32s(want));
    assert_eq!(g.len(), w.len());
    let err = g.iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let max = w.iter().map(|v| v.abs()).fold(0f32, f32::max);
    (err, max)
}

/// The step of the quantisation a float output was dequantised from, if it was.
fn dequant_step(g: &Graph, out: usize) -> Option<f32> {
    let p = g.producer(out)?;
    match g.ops[p].kind {
        OpKind::Dequantize => g.tensors[g.ops[p].inputs[0]].quant.as_ref().map(|q| q.scale[0]),
        _ => None,
    }
}

struct Outcome {
    name: String,
    tensors_compared: usize,
    kernels: Kernels,
}

fn check_model(path: &Path) -> Result<Outcome, String> {
    let name = path.file_stem().unwrap().to_str().unwrap().to_string();
    let dir = models_dir();
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: {e}"))?;
    let g = msf_model::load(&bytes, &name).map_err(|e| format!("{name}: import: {e}"))?;
    let input = std::fs::read(dir.join(format!("{name}.input.bin"))).map_err(|e| format!("{name}: {e}"))?;
    let want = std::fs::read(dir.join(format!("{name}.output.bin"))).map_err(|e| format!("{name}: {e}"))?;
    // The reference dumps of two models come from LiteRT's optimized kernels (the reference
    // kernels abort on them); the runtime reproduces those bit for bit too (msf_tests::kernels).
    let kernels = msf_tests::kernels(&name);
    let mut dumps: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    let mut cb = |t: usize, b: &[u8]| {
        dumps.insert(t, b.to_vec());
    };
    let got = msf_exec::run_with(&g, kernels, &input, Some(&mut cb)).map_err(|e| format!("{name}: run: {e}"))?;
    let out_t = g.outputs[0];
    let onnx = g.format == msf_model::Format::Onnx;
    let mut problems = Vec::new();
    match g.tensors[out_t].dtype {
        DType::Float32 => {
            let (err, max) = float_err(&got, &want);
            let tol = if !onnx {
                1e-5 * max
            } else if let Some(step) = dequant_step(&g, out_t) {
                step * 1.0001
            } else {
                1e-4 * max
            };
            if err > tol {
                problems.push(format!("output: max abs error {err} > {tol} (max |ref| {max})"));
            }
        }
        _ => {
            if got != want {
                let diff = got.iter().zip(&want).filter(|(a, b)| a != b).count();
                problems.push(format!("output: {diff} of {} bytes differ", want.len()));
            }
        }
    }
    let mut compared = 0;
    let tdir = dir.join(format!("{name}.tensors"));
    if tdir.is_dir() {
        for (&t, data) in &dumps {
            let f = tdir.join(format!("{t}.bin"));
            let Ok(reference) = std::fs::read(&f) else { continue };
            compared += 1;
            if reference.len() != data.len() {
                problems.push(format!("tensor {t}: {} bytes, reference {}", data.len(), reference.len()));
                continue;
            }
            match g.tensors[t].dtype {
                DType::Float32 => {
                    let (err, max) = float_err(data, &reference);
                    if err > 1e-5 * max {
                        problems.push(format!("tensor {t} ({}): max abs error {err} > 1e-5 x {max}", g.tensors[t].name));
                    }
                }
                _ => {
                    if *data != reference {
                        let diff = data.iter().zip(&reference).filter(|(a, b)| a != b).count();
                        let producer = g.producer(t).map(|p| g.ops[p].kind.name().to_string()).unwrap_or_default();
                        problems.push(format!("tensor {t} ({producer}, {}): {diff} of {} bytes differ", g.tensors[t].name, data.len()));
                    }
                }
            }
        }
        if compared == 0 {
            problems.push("no intermediate tensor was compared".into());
        }
    }
    if problems.is_empty() {
        Ok(Outcome { name, tensors_compared: compared, kernels })
    } else {
        Err(format!("{name}:\n  {}", problems.join("\n  ")))
    }
}

#[test]
fn every_corpus_model_matches_its_reference() {
    let models = corpus();
    assert!(models.len() >= 11, "corpus has {} models", models.len());
    let mut failures = Vec::new();
    for m in &models {
        match check_model(m) {
            Ok(o) => eprintln!("ok   {} ({} tensors compared, {:?} kernels)", o.name, o.tensors_compared, o.kernels),
            Err(e) => {
                eprintln!("FAIL {e}");
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} models differ:\n{}", failures.len(), models.len(), failures.join("\n"));
}
