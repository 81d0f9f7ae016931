//! TFLite import (to be written: see issue 2).
use crate::error::{ImportError, Result};
use crate::graph::Graph;

pub fn import(_bytes: &[u8]) -> Result<Graph> {
    Err(ImportError::Unsupported("TFLite import is not written yet".into()))
}
