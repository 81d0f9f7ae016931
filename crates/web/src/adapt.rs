//! The seam to the planner and the code generator: their results converted to [`PlanView`].

use crate::planview::{ParetoPoint, PlanView};

pub struct Planned {
    pub plan: PlanView,
    pub pareto: Vec<ParetoPoint>,
    pub chosen: Option<usize>,
    pub notes: Vec<String>,
}

pub fn plan(graph: &msf_model::Graph, budget: Option<u64>, _max_overhead: Option<f64>, _progress: &mut dyn FnMut(&str, f64)) -> Result<Planned, String> {
    let plan = crate::baseline::layerwise(graph, budget);
    let pareto = vec![ParetoPoint { peak: plan.peak_incl_io, macs: plan.macs, overhead: plan.overhead }];
    Ok(Planned { plan, pareto, chosen: Some(0), notes: vec!["the fusion planner is not in this build yet: showing the layer-by-layer schedule".into()] })
}

pub fn plan_for_point(graph: &msf_model::Graph, _p: &ParetoPoint, budget: Option<u64>, _progress: &mut dyn FnMut(&str, f64)) -> Result<PlanView, String> {
    Ok(crate::baseline::layerwise(graph, budget))
}

pub fn emit_zip(_graph: &msf_model::Graph, _plan: &PlanView, _board: &str) -> Result<Vec<u8>, String> {
    Err("project emission is not in this build yet".into())
}
