//! Any bytes through the ONNX importer and through `load` (format sniffing): an error is
//! fine, a panic, a hang or an unbounded allocation is a bug.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = msf_model::import::onnx::import(data);
    let _ = msf_model::load(data, "fuzz");
});
