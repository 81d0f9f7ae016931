//! ONNX import (in progress).
use crate::error::{ImportError, Result};
use crate::graph::Graph;

#[allow(clippy::all, missing_docs)]
pub mod proto {
    include!("onnx_proto.rs");
}

pub fn import(_bytes: &[u8]) -> Result<Graph> {
    Err(ImportError::Unsupported("ONNX import is not written yet".into()))
}
