#![no_std]
//! msf-runtime: the int8 / float32 kernels and the layer executor that every msf-planner
//! firmware carries unchanged. `#![no_std]`, no allocation, no dependencies.
//!
//! - [`program`]: the program blob (a versioned little-endian binary written by the host crate
//!   msf-exec) and [`Program`], which validates a blob in place and runs it layer by layer on
//!   one caller-provided arena.
//! - [`spatial`]: convolution, depthwise convolution, pools and pad over *windows* of a map
//!   ([`view::InView`] in, [`view::OutWindow`] out), so a fused executor can run them tile by tile.
//! - [`ops`]: the other kernels (fully connected, add, mean, softmax, (de)quantise, copies).
//! - [`quant`]: TFLite's integer requantisation arithmetic, bit-exact with the reference kernels.
//!
//! Nothing here panics on a corrupted blob or a bad call: every entry point checks its sizes and
//! returns an [`Error`].

mod carve;
pub mod fused;
pub mod ops;
pub mod program;
pub mod quant;
pub mod record;
pub mod spatial;
pub mod view;

#[cfg(test)]
mod tests;

pub use program::{IoSpec, Layer, Op, Program};
pub use record::{Kind, Record, Streaming};
pub use spatial::{Geom, Requant};
pub use view::{InView, OutWindow};

/// Everything that can go wrong, with what and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The blob does not start with "MSFR".
    BadMagic,
    UnsupportedVersion(u32),
    /// The blob ends before the named part.
    Truncated(&'static str),
    /// Data that must be 4-byte aligned is not (the blob, the arena, a weights item).
    Misaligned(&'static str),
    UnknownOp { layer: usize, op: u32 },
    /// A layer reads or writes outside the arena or the weights section.
    OutOfBounds { layer: usize, what: &'static str },
    /// A layer's record is inconsistent.
    BadLayer { layer: usize, what: &'static str },
    /// Zero or absurd sizes in a spatial geometry.
    BadGeometry,
    /// Kernel parameters that do not fit together.
    BadParams(&'static str),
    /// A view or window that does not fit its buffer or its map.
    BadView(&'static str),
    /// The input view does not hold every pixel the output window needs.
    WindowNotCovered,
    ArenaTooSmall { need: usize, have: usize },
    /// A kernel error, with the layer it happened in.
    InLayer { layer: usize, what: &'static str },
}

impl Error {
    /// Attach a layer index to a kernel error.
    pub(crate) fn at(self, layer: usize) -> Error {
        match self {
            Error::BadParams(w) | Error::BadView(w) => Error::InLayer { layer, what: w },
            Error::BadGeometry => Error::InLayer { layer, what: "geometry" },
            Error::WindowNotCovered => Error::InLayer { layer, what: "input window does not cover the output window" },
            Error::Misaligned(w) => Error::InLayer { layer, what: w },
            e => e,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::BadMagic => write!(f, "not an msf program (magic is not MSFR)"),
            Error::UnsupportedVersion(v) => write!(f, "program version {v} is not supported (expected {})", program::VERSION),
            Error::Truncated(w) => write!(f, "program truncated: {w}"),
            Error::Misaligned(w) => write!(f, "misaligned {w}"),
            Error::UnknownOp { layer, op } => write!(f, "layer {layer}: unknown op code {op}"),
            Error::OutOfBounds { layer, what } => write!(f, "layer {layer}: {what}"),
            Error::BadLayer { layer, what } => write!(f, "layer {layer}: bad {what}"),
            Error::BadGeometry => write!(f, "bad spatial geometry (zero or oversized dimension)"),
            Error::BadParams(w) => write!(f, "bad kernel parameters: {w}"),
            Error::BadView(w) => write!(f, "bad {w}"),
            Error::WindowNotCovered => write!(f, "input view does not cover the output window"),
            Error::ArenaTooSmall { need, have } => write!(f, "arena of {have} bytes, the program needs {need}"),
            Error::InLayer { layer, what } => write!(f, "layer {layer}: {what}"),
        }
    }
}
