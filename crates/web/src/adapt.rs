//! The seam to the planner (msf-plan) and the code generator (msf-codegen): their results
//! converted to [`PlanView`], their errors to readable strings.

use crate::planview::{BufKind, Buffer, ParetoPoint, PlanView, Stage};
use msf_model::Graph;
use msf_plan::{BufferRole, Constraint, Mode, Options, RamMetric, StageKind};

/// The planner built for one graph, kept between re-plans (building the fusion DAG is the
/// expensive part; constraints only change the path through it).
pub struct PlanState {
    planner: Result<msf_plan::Planner, String>,
    front: Option<Vec<msf_plan::ParetoPoint>>,
    mode: Mode,
}

impl PlanState {
    pub fn new(graph: &Graph, paper: bool) -> PlanState {
        let mode = if paper { Mode::Paper } else { Mode::Full };
        PlanState { planner: msf_plan::Planner::new(graph, mode).map_err(|e| e.to_string()), front: None, mode }
    }

    pub fn is_paper(&self) -> bool {
        self.mode == Mode::Paper
    }

    /// The paper's model bounds and reports RAM with the network I/O left out; ours counts it.
    fn metric(&self) -> RamMetric {
        if self.is_paper() {
            RamMetric::IoExcluded
        } else {
            RamMetric::IoIncluded
        }
    }

    fn front(&mut self) -> Vec<msf_plan::ParetoPoint> {
        if self.front.is_none() {
            if let Ok(p) = &self.planner {
                self.front = Some(p.pareto_points(self.metric()));
            }
        }
        self.front.clone().unwrap_or_default()
    }
}

pub struct Planned {
    pub plan: PlanView,
    pub pareto: Vec<ParetoPoint>,
    pub chosen: Option<usize>,
    pub notes: Vec<String>,
}

fn budget_words(b: u64) -> String {
    crate::views::svg::bytes(b)
}

/// Solve with `constraint`, falling back as a person would want: an unreachable budget or
/// overhead gives the closest plan and a note saying why.
pub fn plan(state: &mut PlanState, graph: &Graph, budget: Option<u64>, max_overhead: Option<f64>, progress: &mut dyn FnMut(&str, f64)) -> Result<Planned, String> {
    if let Err(e) = &state.planner {
        {
            // The planner refuses this graph (an op it cannot fuse or run): show the model and
            // its unfused schedule anyway.
            let plan = crate::baseline::layerwise(graph, budget);
            let what = if state.is_paper() { "the paper's cost model" } else { "the planner" };
            return Ok(Planned { plan, pareto: Vec::new(), chosen: None, notes: vec![format!("{what} cannot plan this model: {e}; showing the layer-by-layer schedule")] });
        }
    };
    progress("sweeping the RAM/compute Pareto front", 0.3);
    let front = state.front();
    let (metric, mode, paper) = (state.metric(), state.mode, state.is_paper());
    let planner = state.planner.as_ref().map_err(|e| e.clone())?;
    progress("choosing the plan", 0.7);
    let mut notes = Vec::new();
    let (constraint, objective) = match (max_overhead, budget) {
        (Some(f), _) => (Constraint::MaxOverhead { max_overhead: f }, format!("least RAM with overhead F ≤ {f}")),
        (None, Some(b)) => (Constraint::RamBudget { ram_bytes: b }, format!("least compute within {}", budget_words(b))),
        (None, None) => (Constraint::MinRam, "least RAM (no constraint)".to_string()),
    };
    let opts = |constraint| Options { mode, metric, constraint, pareto: false };
    if paper {
        notes.push("paper cost model (msf-CNN reference): analytical figures, RAM with the network input and output left out; not a schedule the firmware runs".into());
    }
    let (path, objective) = match planner.solve(constraint, metric) {
        Ok(p) => (p, objective),
        Err(e @ (msf_plan::PlanError::RamUnreachable { .. } | msf_plan::PlanError::OverheadUnreachable { .. })) => {
            notes.push(format!("{e}; showing the least-RAM plan instead"));
            let p = planner.solve(Constraint::MinRam, metric).map_err(|e| e.to_string())?;
            (p, "least RAM (the constraint cannot be met)".to_string())
        }
        Err(e) => return Err(e.to_string()),
    };
    let plan = planner.build(&graph.name, &path, &opts(constraint));
    let view = to_view(graph, &plan, budget, objective, paper);
    let pareto = points(&front, paper);
    let chosen = nearest(&pareto, if paper { path.peak_ram_ex } else { path.peak_ram }, path.macs);
    Ok(Planned { plan: view, pareto, chosen, notes })
}

/// The front in the metric the plan was made for.
fn points(front: &[msf_plan::ParetoPoint], paper: bool) -> Vec<ParetoPoint> {
    front
        .iter()
        .map(|p| ParetoPoint { peak: if paper { p.peak_ram_bytes_io_excluded } else { p.peak_ram_bytes }, macs: p.macs, overhead: p.overhead })
        .collect()
}

/// The front point a path is (same MACs, closest peak).
fn nearest(front: &[ParetoPoint], peak: u64, macs: u64) -> Option<usize> {
    front.iter().enumerate().min_by_key(|(_, p)| (p.macs.abs_diff(macs), p.peak.abs_diff(peak))).map(|(i, _)| i)
}

/// The plan of Pareto point `p`: the least compute within its peak is that point.
pub fn plan_for_point(state: &mut PlanState, graph: &Graph, p: &ParetoPoint, budget: Option<u64>, _progress: &mut dyn FnMut(&str, f64)) -> Result<PlanView, String> {
    let (metric, mode, paper) = (state.metric(), state.mode, state.is_paper());
    let planner = state.planner.as_ref().map_err(|e| e.clone())?;
    let constraint = Constraint::RamBudget { ram_bytes: p.peak };
    let path = planner.solve(constraint, metric).map_err(|e| e.to_string())?;
    let plan = planner.build(&graph.name, &path, &Options { mode, metric, constraint, pareto: false });
    Ok(to_view(graph, &plan, budget, format!("Pareto point: {} at F = {:.2}", budget_words(p.peak), p.overhead), paper))
}

/// The planner's Plan as the views see it. Peaks are the plan's own (the arena the firmware
/// reserves), not re-summed here. With the paper's model the budget applies to the I/O-excluded
/// figure, as the reference does.
pub fn to_view(graph: &Graph, plan: &msf_plan::Plan, budget: Option<u64>, objective: String, paper: bool) -> PlanView {
    let name = |t: Option<usize>| t.and_then(|t| graph.tensors.get(t)).map(|t| t.name.clone()).unwrap_or_else(|| "?".into());
    let stages: Vec<Stage> = plan
        .stages
        .iter()
        .map(|s| {
            let ops: Vec<usize> = (s.first_op..=s.last_op).collect();
            let reads = |t: usize| ops.iter().any(|&o| graph.ops.get(o).is_some_and(|op| op.inputs.contains(&t)));
            let writes = |t: usize| ops.iter().any(|&o| graph.ops.get(o).is_some_and(|op| op.outputs.contains(&t)));
            let mut cache_bytes = 0u64;
            let buffers = s
                .buffers
                .iter()
                .filter_map(|&id| plan.buffers.iter().find(|b| b.id == id))
                .map(|b| {
                    let (kind, label) = match b.role {
                        BufferRole::Tensor => {
                            let t = b.tensor.unwrap_or(usize::MAX);
                            let kind = if writes(t) {
                                BufKind::Output
                            } else if reads(t) {
                                BufKind::Input
                            } else {
                                BufKind::Skip
                            };
                            (kind, name(b.tensor))
                        }
                        BufferRole::Ring => {
                            cache_bytes += b.size as u64;
                            (BufKind::Cache, format!("ring {}×{}×{} of {}", b.rows, b.cols, b.channels, name(b.tensor)))
                        }
                        BufferRole::PaperCache => {
                            cache_bytes += b.size as u64;
                            (BufKind::Cache, format!("cache {}×{}×{}", b.rows, b.cols, b.channels))
                        }
                        BufferRole::Accumulator => (BufKind::Work, format!("{} accumulators", b.channels)),
                    };
                    Buffer { label, kind, bytes: b.size as u64, io: b.io }
                })
                .collect();
            let fused = s.kind == StageKind::Fused;
            Stage {
                tiles: if fused { s.layers.iter().map(|l| [l.tile_rows_in, l.tile_cols_in]).collect() } else { Vec::new() },
                out_tile: if fused { s.layers.last().map(|l| [l.tile_rows_out, l.tile_cols_out]) } else { None },
                ops,
                fused,
                cache_bytes,
                macs: s.macs,
                buffers,
            }
        })
        .collect();
    let mut v = PlanView::finish(stages, plan.vanilla_macs, budget, objective);
    v.peak_incl_io = plan.peak_ram_bytes;
    v.peak_excl_io = plan.peak_ram_bytes_io_excluded;
    v.macs = plan.macs;
    v.overhead = plan.overhead;
    let judged = if paper { v.peak_excl_io } else { v.peak_incl_io };
    v.fits = budget.is_none_or(|b| judged <= b);
    v
}

/// The zipped firmware project for `board`: msf-codegen's `emit_zip`, the call `msf emit` makes
/// (no test input: codegen's deterministic one). msf-runtime executes layer by layer so far, so
/// the project's arena is the layer-by-layer one whatever `plan` says; the page says so.
pub fn emit_zip(graph: &Graph, _plan: &PlanView, board: &str) -> Result<Vec<u8>, String> {
    msf_codegen::emit_zip(graph, board, None, false).map(|(zip, _)| zip).map_err(|e| format!("cannot emit the project for {board}: {e}"))
}
