//! msf-plan: the fusion DAG, the cost model, the optimisers and the arena layout.

pub mod arena;
