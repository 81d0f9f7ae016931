//! `msf inspect` as a user runs it: the binary on corpus models, JSON and table output.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn corpus_model(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/models").join(name)
}

fn msf(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_msf")).args(args).output().expect("msf runs")
}

#[test]
fn inspect_json_reports_ops_and_the_published_conv_macs() {
    let path = corpus_model("paper_mcunet_vww1_80_int8.tflite");
    let out = msf(&["inspect", "--json", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON");
    assert_eq!(r["format"], "tflite");
    assert_eq!(r["model"], "paper_mcunet_vww1_80_int8");
    // The paper's figure for MCUNet-vww1 at 80x80 (conv + depthwise MACs).
    assert_eq!(r["conv_macs"], 11_578_496);
    let ops = r["ops"].as_array().unwrap();
    assert!(ops.iter().all(|op| matches!(op["op"].as_str(), Some("CONV_2D" | "DEPTHWISE_CONV_2D"))));
    // The per-op MACs add up to the total, and the first op reads the 80x80x3 input.
    let sum: u64 = ops.iter().map(|op| op["macs"].as_u64().unwrap()).sum();
    assert_eq!(sum, r["total_macs"].as_u64().unwrap());
    assert_eq!(ops[0]["inputs"][0]["shape"], serde_json::json!([1, 80, 80, 3]));
    assert_eq!(ops[0]["index"], 0);
}

#[test]
fn inspect_table_shows_the_folded_reshape_and_totals() {
    let path = corpus_model("tiny_cnn_int8.tflite");
    let out = msf(&["inspect", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("RESHAPE"), "{text}");
    assert!(!text.contains("STRIDED_SLICE") && !text.contains("PACK"), "{text}");
    assert!(text.contains("total MACs"), "{text}");
}

#[test]
fn inspect_of_a_bad_file_fails_with_a_message() {
    let dir = std::env::temp_dir().join(format!("msf-inspect-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("half.tflite");
    let bytes = std::fs::read(corpus_model("tiny_cnn_int8.tflite")).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let out = msf(&["inspect", bad.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("half.tflite") && err.contains("invalid TFLite flatbuffer"), "{err}");
}
