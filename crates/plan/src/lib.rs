//! msf-plan: the fusion DAG, the cost model, the optimisers and the arena layout.
//!
//! `plan(graph, options)` returns a [`Plan`]: ordered stages (single layers or fused blocks
//! with their tile geometry and cache mode), every buffer with its lifetime and arena offset,
//! the peak RAM (I/O included and excluded), the MACs and, if asked, the Pareto front.
//!
//! Two cost models: [`Mode::Paper`] reproduces the msf-CNN reference implementation's figures
//! to the byte (chains only); [`Mode::Full`] adds residual joins, iterative MEAN tails, bands of
//! several rows and line buffers, and counts every buffer the executor holds.

pub mod arena;
pub mod build;
pub mod contract;
pub mod dag;
pub mod fused;
pub mod layerwise;
pub mod net;
pub mod paper;
/// Property checks of the planner's answers for tests (feature `test-util`, off by default).
#[cfg(any(test, feature = "test-util"))]
pub mod props;
/// Hand-made graphs for tests and benchmarks (feature `test-util`, off by default).
#[cfg(any(test, feature = "test-util"))]
pub mod synth;
pub mod types;

pub use build::Planner;
pub use dag::{EdgeKind, RamMetric};
pub use layerwise::layer_by_layer;
pub use types::*;

use msf_model::Graph;
use thiserror::Error;

/// Why a plan could not be made. Messages name the op, the limit and the best reachable value.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PlanError {
    #[error("the graph has no ops")]
    EmptyGraph,
    #[error("op {index} ({op}, \"{name}\") is not supported by the planner or the runtime")]
    Opaque { index: usize, op: String, name: String },
    #[error("op {index} ({op}): {reason}")]
    Unsupported { index: usize, op: String, reason: String },
    #[error("paper mode: op {index} ({op}): {reason}")]
    NotAChain { index: usize, op: String, reason: String },
    #[error("no overhead bound of {max} can be met: the least compute any plan needs is F = {best:.4}")]
    OverheadUnreachable { max: f64, best: f64 },
    #[error("no plan fits in {budget} bytes ({}): the smallest peak any plan reaches is {best} bytes", .metric.label())]
    RamUnreachable { budget: u64, best: u64, metric: RamMetric },
    #[error("no path through the fusion DAG (internal error)")]
    NoPath,
}

/// Plan `graph` under `opts`.
pub fn plan(graph: &Graph, opts: &Options) -> Result<Plan, PlanError> {
    let p = Planner::new(graph, opts.mode)?;
    let path = p.solve(opts.constraint, opts.metric)?;
    Ok(p.build(&graph.name, &path, opts))
}

/// The whole RAM/MACs Pareto front (decreasing RAM, increasing MACs).
pub fn pareto(graph: &Graph, mode: Mode, metric: RamMetric) -> Result<Vec<ParetoPoint>, PlanError> {
    let p = Planner::new(graph, mode)?;
    let metric = if mode == Mode::Paper { RamMetric::IoExcluded } else { metric };
    Ok(p.pareto_points(metric))
}
