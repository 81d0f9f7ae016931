//! Helpers shared by the cross-crate tests in this folder.

use msf_exec::Kernels;
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

/// The int8 arithmetic that reproduces corpus model `name`'s reference output (`name` without
/// extension, e.g. `kernels("mbv1_w025_96_int8")`). The goldens come from TFLite's reference
/// kernels, except for the models whose `NAME.json` `"reference"` names LiteRT's optimized
/// builtin kernels (`BUILTIN_WITHOUT_DEFAULT_DELEGATES`: the reference kernels abort on those
/// two, tests/models/README.md): their goldens need [`Kernels::Optimized`], which reproduces that
/// arithmetic bit for bit. The one copy of that rule, for every test and benchmark that runs the
/// corpus. Panics if `NAME.json` is missing or is not JSON.
pub fn kernels(name: &str) -> Kernels {
    let path = models_dir().join(format!("{name}.json"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let meta: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if meta["reference"].as_str().unwrap_or("").contains("BUILTIN_WITHOUT_DEFAULT_DELEGATES") {
        Kernels::Optimized
    } else {
        Kernels::Reference
    }
}
