//! Helpers shared by the cross-crate tests in this folder.

use std::path::PathBuf;

/// tests/models: the corpus copied from ../shared/models so the suite runs on a fresh clone.
pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// Every model file in tests/models (.tflite and .onnx), sorted.
pub fn corpus() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(models_dir())
        .expect("tests/models exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("tflite" | "onnx")))
        .collect();
    v.sort();
    v
}

/// Path of a corpus file by name, e.g. `model("tiny_cnn_int8.tflite")`.
pub fn model(name: &str) -> PathBuf {
    models_dir().join(name)
}
