//! msf-model: the graph IR and the importers (TFLite, ONNX).
//!
//! Knows nothing of planning, running or the browser. Every importer ends in
//! [`validate::validate`], so a [`Graph`] handed to the rest of the project has ids in range,
//! bounded shapes, constant data that matches its shape and ops in topological order.

pub mod error;
pub mod graph;
pub mod import;
pub mod layout;
pub mod stats;
pub mod validate;

pub use error::ImportError;
pub use graph::*;
pub use import::load;
