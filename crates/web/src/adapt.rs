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

    /// A planner that refuses the graph with `why` (tests: the layer-by-layer fallback).
    #[cfg(test)]
    pub fn refused(why: &str) -> PlanState {
        PlanState { planner: Err(why.to_string()), front: None, mode: Mode::Full }
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

/// A Plan the page computed and shows, kept beside its view: the download runs exactly it.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub plan: msf_plan::Plan,
    /// The firmware runs it layer by layer: the paper's cost model (figures only, no runnable
    /// schedule) and the layer-by-layer Plan of a model the planner refuses (which is what
    /// `msf_exec::compile` lowers). Otherwise the planner's full-mode Plan runs stage by stage.
    pub layer_by_layer: bool,
}

impl Schedule {
    /// The layer-by-layer Plan of `graph` (every op its own stage, RESHAPE aliased).
    pub fn layerwise(graph: &Graph) -> Schedule {
        Schedule { plan: msf_plan::layer_by_layer(graph), layer_by_layer: true }
    }

    /// What the view of this schedule is.
    pub fn view(&self, graph: &Graph, budget: Option<u64>, objective: String) -> PlanView {
        to_view(graph, &self.plan, budget, objective, self.plan.mode == Mode::Paper)
    }
}

pub struct Planned {
    pub plan: PlanView,
    /// The Plan `plan` shows.
    pub schedule: Schedule,
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
            let schedule = Schedule::layerwise(graph);
            let plan = crate::baseline::view(graph, &schedule, budget);
            let what = if state.is_paper() { "the paper's cost model" } else { "the planner" };
            return Ok(Planned { plan, schedule, pareto: Vec::new(), chosen: None, notes: vec![format!("{what} cannot plan this model: {e}; showing the layer-by-layer schedule")] });
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
    let schedule = Schedule { plan: planner.build(&graph.name, &path, &opts(constraint)), layer_by_layer: paper };
    let view = schedule.view(graph, budget, objective);
    let pareto = points(&front, paper);
    let chosen = nearest(&pareto, if paper { path.peak_ram_ex } else { path.peak_ram }, path.macs);
    Ok(Planned { plan: view, schedule, pareto, chosen, notes })
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

/// The plan of Pareto point `p` (the least compute within its peak is that point), and its view.
pub fn plan_for_point(state: &mut PlanState, graph: &Graph, p: &ParetoPoint, budget: Option<u64>, _progress: &mut dyn FnMut(&str, f64)) -> Result<(PlanView, Schedule), String> {
    let (metric, mode, paper) = (state.metric(), state.mode, state.is_paper());
    let planner = state.planner.as_ref().map_err(|e| e.clone())?;
    let constraint = Constraint::RamBudget { ram_bytes: p.peak };
    let path = planner.solve(constraint, metric).map_err(|e| e.to_string())?;
    let schedule = Schedule { plan: planner.build(&graph.name, &path, &Options { mode, metric, constraint, pareto: false }), layer_by_layer: paper };
    Ok((schedule.view(graph, budget, format!("Pareto point: {} at F = {:.2}", budget_words(p.peak), p.overhead)), schedule))
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
            // A buffer holds its tensor and the RESHAPE aliases of it (layer-by-layer plans).
            let held = |b: &msf_plan::Buffer| b.tensor.into_iter().chain(b.aliases.iter().copied()).collect::<Vec<_>>();
            let reads = |b: &msf_plan::Buffer| held(b).iter().any(|t| ops.iter().any(|&o| graph.ops.get(o).is_some_and(|op| op.inputs.contains(t))));
            let writes = |b: &msf_plan::Buffer| held(b).iter().any(|t| ops.iter().any(|&o| graph.ops.get(o).is_some_and(|op| op.outputs.contains(t))));
            let mut cache_bytes = 0u64;
            let buffers = s
                .buffers
                .iter()
                .filter_map(|&id| plan.buffers.iter().find(|b| b.id == id))
                .map(|b| {
                    let (kind, label) = match b.role {
                        BufferRole::Tensor => {
                            let kind = if writes(b) {
                                BufKind::Output
                            } else if reads(b) {
                                BufKind::Input
                            } else {
                                BufKind::Skip
                            };
                            let label = held(b).into_iter().map(|t| name(Some(t))).collect::<Vec<_>>().join(" = ");
                            (kind, label)
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
                        BufferRole::Scratch => (BufKind::Work, "scratch (walk state, im2col)".to_string()),
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

/// The zipped firmware project for `board` running the plan on screen: msf-codegen's
/// `emit`, the call `msf emit` makes (no test input: codegen's deterministic one), given
/// the very Plan the page computed and shows. A full-mode plan runs as planned (fused stages
/// through the fused executor, arena = the plan's peak); the paper's figures and the
/// layer-by-layer fallback are emitted layer by layer (the layer-by-layer Plan, which is what
/// codegen lowers then); the page says which it got.
pub fn emit_zip(graph: &Graph, schedule: &Schedule, board: &str) -> Result<Vec<u8>, String> {
    emit_project(graph, schedule, board).map(|e| e.zip)
}

/// [`emit_zip`] with what it zipped (the firmware and the project).
pub fn emit_project(graph: &Graph, schedule: &Schedule, board: &str) -> Result<msf_codegen::Emitted, String> {
    let plan = (!schedule.layer_by_layer).then_some(&schedule.plan);
    let err = |e: msf_codegen::CodegenError| format!("cannot emit the project for {board}: {e}");
    msf_codegen::emit(graph, msf_codegen::board(board).map_err(err)?, plan, &msf_codegen::EmitOptions::default()).map_err(err)
}

/// The fit decision as the page reports it: msf-codegen's [`msf_codegen::fit_with`], the call
/// `msf emit` and `msf plan --board` make, on this page's planner. `budget` is what the firmware
/// has for the arena (the board's RAM minus statics and the fused executor's stack).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FitView {
    pub board: String,
    pub budget: u64,
    /// `plan`, `layer-by-layer`, `refused` or `cannot-plan`.
    pub choice: String,
    /// The firmware's arena and whole RAM = statics + arena + stack reserve (0 when refused).
    pub arena: u64,
    pub ram_needed: u64,
    /// The statics and the stack reserve beside the arena in `ram_needed` (0 when refused).
    pub statics: u64,
    pub stack: u64,
    /// `RAM N B = statics S + arena A + stack K (runtime R + main/report/rounding T + interrupt margin M)`,
    /// msf-codegen's line (empty when refused).
    pub ram_line: String,
    /// MACs of the chosen plan (`None` layer by layer or refused).
    pub macs: Option<u64>,
    pub fits: bool,
    pub fell_back: bool,
    /// What was decided, in `msf emit`'s words (the refusal's reason when refused).
    pub says: String,
}

/// Fit the graph to `board` under `asked` (`None`: least compute within its arena budget).
pub fn fit(state: &PlanState, graph: &Graph, board: &'static msf_codegen::Board, asked: Option<Constraint>) -> FitView {
    let budget = msf_codegen::arena_budget(board);
    let view = |choice: &str, says: String| FitView { board: board.id.clone(), budget, choice: choice.into(), arena: 0, ram_needed: 0, statics: 0, stack: 0, ram_line: String::new(), macs: None, fits: false, fell_back: true, says };
    let planner = match (&state.planner, state.is_paper()) {
        (Ok(p), false) => p,
        (Err(e), false) => return view("cannot-plan", e.clone()),
        // The paper's figures are no schedule: build the full-mode planner for the decision.
        (_, true) => return fit_full(graph, board, asked),
    };
    decided(msf_codegen::fit_with(planner, graph, board, asked, false), board, budget)
}

fn fit_full(graph: &Graph, board: &'static msf_codegen::Board, asked: Option<Constraint>) -> FitView {
    decided(msf_codegen::fit(graph, board, asked, false), board, msf_codegen::arena_budget(board))
}

fn decided(f: Result<msf_codegen::Fit, msf_codegen::FitError>, board: &msf_codegen::Board, budget: u64) -> FitView {
    let mut v = FitView { board: board.id.clone(), budget, choice: String::new(), arena: 0, ram_needed: 0, statics: 0, stack: 0, ram_line: String::new(), macs: None, fits: false, fell_back: true, says: String::new() };
    match f {
        Ok(f) => {
            v.choice = if f.plan().is_some() { "plan" } else { "layer-by-layer" }.into();
            (v.arena, v.ram_needed, v.macs, v.fits, v.fell_back, v.says) = (f.arena(), f.ram_needed(), f.plan().map(|p| p.macs), f.fits_ram(), f.fell_back(), f.describe());
            (v.statics, v.stack, v.ram_line) = (f.statics(), f.stack(), f.ram_line());
        }
        Err(msf_codegen::FitError::Refused(r)) => (v.choice, v.says) = ("refused".into(), r.reason()),
        Err(e) => (v.choice, v.says) = ("cannot-plan".into(), e.to_string()),
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(name: &str) -> Graph {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models").join(format!("{name}.tflite"));
        msf_model::load(&std::fs::read(&p).unwrap(), name).unwrap()
    }

    /// Every plan the page can show (least RAM, an overhead bound, a budget, every front point)
    /// is kept with its view, the view shows that Plan's figures, and the download lowers
    /// exactly that Plan: the project's program is the Plan's, fused stages through the fused
    /// executor, arena = the plan's peak.
    #[test]
    fn the_download_is_the_plan_on_screen() {
        for name in ["tiny_cnn_int8", "mbv1_w025_96_int8"] {
            download_is_the_plan_on_screen(name);
        }
    }

    fn download_is_the_plan_on_screen(name: &str) {
        let g = graph(name);
        let mut st = PlanState::new(&g, false);
        let mut quiet = |_: &str, _: f64| {};
        let mut shown: Vec<(PlanView, Schedule)> = [(None, None), (None, Some(1.2)), (Some(5000), None)]
            .into_iter()
            .map(|(b, f)| plan(&mut st, &g, b, f, &mut quiet).unwrap())
            .map(|p| (p.plan, p.schedule))
            .collect();
        let front = points(&st.front(), false);
        assert!(front.len() > 1);
        for p in &front {
            shown.push(plan_for_point(&mut st, &g, p, None, &mut quiet).unwrap());
        }
        let mut any_fused = false;
        for (v, s) in &shown {
            let p = &s.plan;
            assert!(!s.layer_by_layer && p.mode == Mode::Full);
            assert_eq!((p.peak_ram_bytes, p.macs, p.stages.len()), (v.peak_incl_io, v.macs, v.stages.len()), "{}", v.objective);
            for (ps, vs) in p.stages.iter().zip(&v.stages) {
                assert_eq!(((ps.first_op..=ps.last_op).collect::<Vec<_>>(), ps.kind == StageKind::Fused), (vs.ops.clone(), vs.fused));
            }
            let fused = v.stages.iter().any(|s| s.fused);
            any_fused |= fused;
            let e = emit_project(&g, s, "mps2-an386").unwrap();
            let planned = msf_codegen::firmware(&g, Some(p), None, msf_codegen::Kernels::Reference).unwrap();
            assert_eq!(e.firmware.program, planned.program, "{}: the download lowers the Plan on screen", v.objective);
            assert_eq!(e.project.budget.arena, v.peak_incl_io, "{}", v.objective);
            let model = String::from_utf8(e.project.file("src/model.rs").unwrap().bytes.clone()).unwrap();
            assert_eq!(model.contains("FusedProgram"), fused, "{}", v.objective);
            assert_eq!(emit_zip(&g, s, "mps2-an386").unwrap(), e.zip);
        }
        assert!(any_fused);
    }

    /// The paper's cost model is figures only: its Plan is kept for the views, the download
    /// runs layer by layer (the layer-by-layer Plan).
    #[test]
    fn a_paper_model_view_downloads_layer_by_layer() {
        let g = graph("paper_mcunet_vww1_80_int8");
        let mut st = PlanState::new(&g, true);
        let p = plan(&mut st, &g, None, Some(1.3), &mut |_: &str, _: f64| {}).unwrap();
        assert!(p.plan.stages.iter().any(|s| s.fused));
        assert!(p.schedule.layer_by_layer && p.schedule.plan.mode == Mode::Paper);
        let e = emit_project(&g, &p.schedule, "mps2-an386").unwrap();
        let lbl = msf_plan::layer_by_layer(&g);
        assert_eq!(e.project.budget.arena, lbl.peak_ram_bytes);
        assert_eq!(e.firmware.program, msf_codegen::firmware(&g, None, None, msf_codegen::Kernels::Reference).unwrap().program);
    }
}
