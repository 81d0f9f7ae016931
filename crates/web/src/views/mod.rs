//! SVG views: pure functions of (Graph, PlanView) to SVG strings, deterministic, tested natively.

pub mod axis;
pub mod graph;
pub mod memory;
pub mod pareto;
pub mod stage;
pub mod svg;
