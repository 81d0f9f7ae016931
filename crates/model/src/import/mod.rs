//! File formats in, [`Graph`] out. Each format lives in its own module; [`load`] picks one by
//! looking at the bytes, never at a file name.

use crate::error::{ImportError, Result};
use crate::graph::Graph;

pub mod onnx;
pub mod tflite;

/// Which file format a buffer holds (also [`Graph::format`]).
pub use crate::graph::Format;

/// Guess the format: TFLite flatbuffers carry the identifier "TFL3" at bytes 4..8; anything else
/// is tried as ONNX protobuf (which has no magic number).
pub fn sniff(bytes: &[u8]) -> Result<Format> {
    if bytes.len() < 8 {
        return Err(ImportError::TooShort { len: bytes.len() });
    }
    if &bytes[4..8] == b"TFL3" {
        return Ok(Format::Tflite);
    }
    // A ModelProto starts with a field key: ir_version (field 1, varint) = 0x08 is what every
    // exporter writes first; accept any valid protobuf key byte and let the decoder decide.
    let key = bytes[0];
    let wire = key & 7;
    if key >= 0x08 && matches!(wire, 0 | 1 | 2 | 5) {
        return Ok(Format::Onnx);
    }
    Err(ImportError::UnknownFormat)
}

/// Import a model from its bytes, whatever the format. `name` labels the graph.
pub fn load(bytes: &[u8], name: &str) -> Result<Graph> {
    let mut graph = match sniff(bytes)? {
        Format::Tflite => tflite::import(bytes)?,
        Format::Onnx => onnx::import(bytes).map_err(|e| match e {
            // A file that fails as ONNX and was only guessed to be ONNX: say both.
            ImportError::InvalidProtobuf(_) if bytes[0] != 0x08 => ImportError::UnknownFormat,
            e => e,
        })?,
    };
    graph.name = name.to_string();
    Ok(graph)
}
