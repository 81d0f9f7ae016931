//! The page's state, in plain Rust (no JS types) so it is tested natively: a loaded model, the
//! options it was planned with, the current plan and the Pareto front. The wasm layer in lib.rs
//! only converts strings and errors.

use crate::planview::{shape_label, ParetoPoint, PlanView};
use crate::views;
use msf_model::{stats, Graph};
use serde::{Deserialize, Serialize};

/// What the person asked for. All optional: no constraint at all means the minimum-RAM plan.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// A catalogue board id: its RAM becomes the budget unless `ram_budget` is set.
    pub board: Option<String>,
    /// Peak RAM budget in bytes (I/O included).
    pub ram_budget: Option<u64>,
    /// Maximum compute overhead factor F (>= 1).
    pub max_overhead: Option<f64>,
    /// Use the msf-CNN reference's cost model (chains only, I/O excluded) instead of ours.
    pub paper: bool,
}

impl Options {
    pub fn parse(json: &str) -> Result<Options, String> {
        let o: Options = if json.trim().is_empty() { Options::default() } else { serde_json::from_str(json).map_err(|e| format!("bad options: {e}"))? };
        if let Some(f) = o.max_overhead {
            if !(f.is_finite() && f >= 1.0) {
                return Err(format!("the maximum overhead must be a number >= 1 (got {f})"));
            }
        }
        if o.ram_budget == Some(0) {
            return Err("the RAM budget must be more than 0 bytes".into());
        }
        Ok(o)
    }
}

/// Facts about the model, for the summary panel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub format: String,
    pub ops: usize,
    pub tensors: usize,
    pub weight_bytes: u64,
    pub macs: u64,
    pub input: String,
    pub output: String,
    /// Set when the model has an op the planner cannot handle.
    pub opaque: Option<String>,
}

pub fn model_info(g: &Graph) -> ModelInfo {
    let weight_bytes = g.tensors.iter().filter(|t| t.is_constant()).map(|t| t.byte_size() as u64).sum();
    let macs = (0..g.ops.len()).map(|i| stats::op_stats(g, i).macs).sum();
    let io = |ids: &[usize]| ids.iter().map(|&t| format!("{} {}", shape_label(&g.tensors[t].shape), g.tensors[t].dtype)).collect::<Vec<_>>().join(", ");
    ModelInfo {
        name: g.name.clone(),
        format: g.format.to_string(),
        ops: g.ops.len(),
        tensors: g.tensors.len(),
        weight_bytes,
        macs,
        input: io(&g.inputs),
        output: io(&g.outputs),
        opaque: g.first_opaque().map(|(i, op)| format!("op {i} is {} ({}), which the planner cannot handle", op.kind.name(), op.name)),
    }
}

/// Everything the page shows after planning.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: ModelInfo,
    pub options: Options,
    pub board: Option<crate::boards::BoardInfo>,
    pub plan: PlanView,
    /// Estimated latency on the board, milliseconds (None without a board).
    pub latency_ms: Option<f64>,
    /// With a board: the fit decision `msf emit` and `msf plan --board` make (budget = what the
    /// firmware has for the arena).
    pub fit: Option<crate::adapt::FitView>,
    pub pareto: Vec<ParetoPoint>,
    pub chosen: Option<usize>,
    /// Things the person should know (plan does not fit, planner fell back...).
    pub notes: Vec<String>,
    pub svg_graph: String,
    pub svg_memory: String,
    pub svg_pareto: String,
}

/// A stage opened in the page.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub index: usize,
    pub fused: bool,
    pub layers: Vec<LayerRow>,
    pub out_tile: Option<[usize; 2]>,
    pub cache_bytes: u64,
    pub macs: u64,
    pub ram: u64,
    pub ram_excl_io: u64,
    pub buffers: Vec<crate::planview::Buffer>,
    pub svg_ram: String,
    pub svg_graph: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerRow {
    pub op: usize,
    pub label: String,
    pub name: String,
    pub output: String,
    pub tile: Option<[usize; 2]>,
    pub macs: u64,
}

pub struct Session {
    pub graph: Graph,
    pub options: Options,
    pub plan: Option<PlanView>,
    /// The Plan `plan` shows, as the planner made it: the download lowers exactly this.
    pub schedule: Option<crate::adapt::Schedule>,
    pub pareto: Vec<ParetoPoint>,
    pub chosen: Option<usize>,
    notes: Vec<String>,
    latency_ms: Option<f64>,
    /// The fit decision for the options' board.
    pub fit: Option<crate::adapt::FitView>,
    state: crate::adapt::PlanState,
}

impl Session {
    /// Import a model from its bytes. The error is the importer's message (it names the
    /// tensor/op at fault).
    pub fn load(bytes: &[u8], name: &str) -> Result<Session, String> {
        let graph = msf_model::load(bytes, name).map_err(|e| format!("cannot read {name}: {e}"))?;
        if graph.ops.is_empty() {
            return Err(format!("{name} has no ops: nothing to plan"));
        }
        let state = crate::adapt::PlanState::new(&graph, false);
        Ok(Session { graph, options: Options::default(), plan: None, schedule: None, pareto: Vec::new(), chosen: None, notes: Vec::new(), latency_ms: None, fit: None, state })
    }

    /// Plan with `options` and return the report.
    pub fn plan(&mut self, options: Options, progress: &mut dyn FnMut(&str, f64)) -> Result<Report, String> {
        let board = match &options.board {
            Some(id) if !id.is_empty() => Some(crate::boards::find(id)?),
            _ => None,
        };
        if options.paper != self.state.is_paper() {
            progress("building the fusion DAG", 0.05);
            self.state = crate::adapt::PlanState::new(&self.graph, options.paper);
        }
        // The fit decision the command line makes: a board's budget is what its firmware has
        // for the arena (RAM minus statics and the fused executor's stack), not its raw RAM.
        let fit = match &board {
            Some(b) => {
                let asked = match (options.max_overhead, options.ram_budget) {
                    (Some(max_overhead), _) => Some(msf_plan::Constraint::MaxOverhead { max_overhead }),
                    (None, Some(ram_bytes)) => Some(msf_plan::Constraint::RamBudget { ram_bytes }),
                    (None, None) => None,
                };
                Some(crate::adapt::fit(&self.state, &self.graph, msf_codegen::board(&b.id).map_err(|e| e.to_string())?, asked))
            }
            None => None,
        };
        let budget = options.ram_budget.or(fit.as_ref().map(|f| f.budget));
        progress("planning", 0.1);
        let mut out = crate::adapt::plan(&mut self.state, &self.graph, budget, options.max_overhead, progress)?;
        if let Some(f) = fit.as_ref().filter(|_| !options.paper) {
            if f.choice != "plan" {
                out.notes.push(format!("{} on {}: {}", self.graph.name, f.board, f.says));
            }
            if f.choice == "layer-by-layer" {
                // The decision is the unfused firmware: show, and download, exactly that Plan.
                out.schedule = crate::adapt::Schedule::layerwise(&self.graph);
                out.plan = crate::baseline::layerwise(&self.graph, budget);
                out.chosen = None;
                out.plan.fits = f.fits;
            } else {
                out.plan.fits = f.fits && f.macs == Some(out.plan.macs);
            }
        }
        self.fit = fit;
        self.notes = out.notes;
        self.pareto = out.pareto;
        self.chosen = out.chosen;
        self.latency_ms = board.as_ref().map(|b| b.latency_ms(out.plan.macs));
        self.plan = Some(out.plan);
        self.schedule = Some(out.schedule);
        self.options = options;
        progress("drawing", 0.9);
        self.report()
    }

    /// Make the `i`-th Pareto point the current plan (a click on the front).
    pub fn select_point(&mut self, i: usize, progress: &mut dyn FnMut(&str, f64)) -> Result<Report, String> {
        let n = self.pareto.len();
        let p = *self.pareto.get(i).ok_or_else(|| format!("there is no Pareto point {i} (the front has {n})"))?;
        let budget = self.budget();
        let (plan, schedule) = crate::adapt::plan_for_point(&mut self.state, &self.graph, &p, budget, progress)?;
        self.chosen = Some(i);
        let board = self.board()?;
        self.latency_ms = board.as_ref().map(|b| b.latency_ms(plan.macs));
        self.plan = Some(plan);
        self.schedule = Some(schedule);
        self.report()
    }

    fn board(&self) -> Result<Option<crate::boards::BoardInfo>, String> {
        match &self.options.board {
            Some(id) if !id.is_empty() => Ok(Some(crate::boards::find(id)?)),
            _ => Ok(None),
        }
    }

    fn budget(&self) -> Option<u64> {
        self.options.ram_budget.or(self.fit.as_ref().map(|f| f.budget))
    }

    fn current(&self) -> Result<&PlanView, String> {
        self.plan.as_ref().ok_or_else(|| "no plan yet: plan the model first".to_string())
    }

    pub fn report(&self) -> Result<Report, String> {
        let plan = self.current()?.clone();
        let mut notes = self.notes.clone();
        // The least-compute point fits: say how far down the front goes, so the person sees
        // what fusion could buy (the first screen often starts here, with a roomy board).
        if let (Some(0), Some(last)) = (self.chosen, self.pareto.last()) {
            if self.pareto.len() > 1 && plan.fits {
                notes.push(format!(
                    "this is the least-compute plan; the Pareto front goes down to {} peak RAM at F = {:.2}: set a smaller RAM budget or click a point to trade compute for RAM",
                    views::svg::bytes(last.peak),
                    last.overhead
                ));
            }
        }
        // The firmware's whole RAM for the plan shown (msf emit's figure: statics + arena +
        // the stack reserve, fused or layer by layer), with the arena and the stack beside it.
        if let Some(b) = self.board()?.and_then(|b| msf_codegen::board(&b.id).ok()) {
            let fused = plan.stages.iter().any(|s| s.fused);
            let arena = plan.peak_incl_io;
            let statics = msf_codegen::project::statics_overhead(b.family);
            let ram = msf_codegen::fit::firmware_ram(b, arena, fused);
            notes.push(format!("firmware on {}: {} (board: {} B)", b.id, msf_codegen::fit::ram_line(ram, statics, arena, b, fused), b.ram));
        }
        if let Some(b) = plan.budget {
            // The planner's own fallback note already says it (with its numbers).
            if !plan.fits && !notes.iter().any(|n| n.contains("no plan fits")) {
                notes.push(format!("no plan fits the budget of {}: the smallest peak is {}", views::svg::bytes(b), views::svg::bytes(plan.peak_incl_io)));
            }
        }
        Ok(Report {
            model: model_info(&self.graph),
            options: self.options.clone(),
            board: self.board()?,
            svg_graph: views::graph::render(&self.graph, &plan, None),
            svg_memory: views::memory::render(&plan),
            svg_pareto: views::pareto::render(&self.pareto, self.chosen, plan.budget),
            latency_ms: self.latency_ms,
            fit: self.fit.clone(),
            pareto: self.pareto.clone(),
            chosen: self.chosen,
            notes,
            plan,
        })
    }

    pub fn stage(&self, k: usize) -> Result<StageReport, String> {
        let plan = self.current()?;
        let n = plan.stages.len();
        let s = plan.stages.get(k).ok_or_else(|| format!("there is no stage {} (the plan has {n})", k + 1))?;
        let layers = s
            .ops
            .iter()
            .enumerate()
            .filter(|(_, &i)| i < self.graph.ops.len())
            .map(|(j, &i)| LayerRow {
                op: i,
                label: crate::planview::op_label(&self.graph, i),
                name: self.graph.ops[i].name.clone(),
                output: self.graph.ops[i].outputs.first().map(|&t| shape_label(&self.graph.tensors[t].shape)).unwrap_or_default(),
                tile: s.tiles.get(j).copied(),
                macs: stats::op_stats(&self.graph, i).macs,
            })
            .collect();
        Ok(StageReport {
            index: k,
            fused: s.fused,
            layers,
            out_tile: s.out_tile,
            cache_bytes: s.cache_bytes,
            macs: s.macs,
            ram: s.ram(),
            ram_excl_io: s.ram_excl_io(),
            buffers: s.buffers.clone(),
            svg_ram: views::stage::render(k, s),
            svg_graph: views::graph::render(&self.graph, plan, Some(k)),
        })
    }

    /// The zipped firmware project for the current plan (the very Plan on screen) and board.
    pub fn project_zip(&self, board: &str) -> Result<Vec<u8>, String> {
        self.current()?;
        let schedule = self.schedule.as_ref().ok_or_else(|| "no plan yet: plan the model first".to_string())?;
        crate::adapt::emit_zip(&self.graph, schedule, board)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models").join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }
    fn quiet() -> impl FnMut(&str, f64) {
        |_: &str, _: f64| {}
    }

    #[test]
    fn garbage_and_truncated_files_are_errors_naming_the_file() {
        let e = Session::load(b"definitely not a model, just text", "garbage").err().unwrap();
        assert!(e.starts_with("cannot read garbage:"), "{e}");
        let real = corpus("tiny_cnn_int8.tflite");
        let e = Session::load(&real[..real.len() / 2], "half").err().unwrap();
        assert!(e.contains("half"), "{e}");
        assert!(Session::load(&[], "empty").is_err());
    }

    #[test]
    fn options_are_validated() {
        assert_eq!(Options::parse("").unwrap(), Options::default());
        assert!(Options::parse("{\"max_overhead\": 0.5}").is_err());
        assert!(Options::parse("{\"ram_budget\": 0}").is_err());
        assert!(Options::parse("{\"colour\": 1}").is_err());
        assert_eq!(Options::parse("{\"ram_budget\": 1000}").unwrap().ram_budget, Some(1000));
    }

    #[test]
    fn a_budget_gives_a_plan_within_it_and_every_front_point_can_be_chosen() {
        let mut s = Session::load(&corpus("mbv1_w025_96_int8.tflite"), "mbv1").unwrap();
        let free = s.plan(Options { max_overhead: Some(1.0), ..Default::default() }, &mut quiet()).unwrap();
        // A budget between the least-RAM and the vanilla point of the front.
        let front = free.pareto.clone();
        let budget = front[front.len() / 2].peak;
        let roomy = s.plan(Options { board: Some("nucleo-f767zi".into()), ..Default::default() }, &mut quiet()).unwrap();
        assert_eq!(roomy.chosen, Some(0));
        assert!(roomy.notes.iter().any(|n| n.contains("least-compute plan")), "{:?}", roomy.notes);
        let r = s.plan(Options { ram_budget: Some(budget), ..Default::default() }, &mut quiet()).unwrap();
        assert!(!r.notes.iter().any(|n| n.contains("least-compute plan")), "{:?}", r.notes);
        assert!(r.plan.fits && r.plan.peak_incl_io <= budget, "{} > {budget}", r.plan.peak_incl_io);
        assert!(r.plan.overhead >= 1.0);
        assert!(r.plan.stages.iter().any(|st| st.fused), "below the vanilla peak needs fusion");
        assert!(r.plan.peak_incl_io < free.plan.peak_incl_io);
        assert!(r.pareto.len() > 1);
        let chosen = r.chosen.unwrap();
        assert!(r.pareto[chosen].peak <= budget);
        // Every op is in exactly one stage.
        let mut ops: Vec<usize> = r.plan.stages.iter().flat_map(|st| st.ops.clone()).collect();
        ops.sort_unstable();
        assert_eq!(ops, (0..s.graph.ops.len()).collect::<Vec<_>>());
        for i in 0..r.pareto.len() {
            let r2 = s.select_point(i, &mut quiet()).unwrap();
            assert_eq!(r2.chosen, Some(i));
            assert_eq!(r2.plan.macs, r2.pareto[i].macs, "point {i}");
        }
        let st = s.stage(0).unwrap();
        assert!(!st.layers.is_empty() && st.svg_ram.starts_with("<svg"));
        assert!(s.stage(10_000).is_err());
        assert!(s.select_point(10_000, &mut quiet()).is_err());
    }

    #[test]
    fn the_project_zip_holds_a_cargo_toml_or_says_why() {
        let mut s = Session::load(&corpus("tiny_cnn_int8.tflite"), "tiny").unwrap();
        assert!(s.project_zip("nucleo-f767zi").unwrap_err().contains("no plan"));
        s.plan(Options { board: Some("nucleo-f767zi".into()), ..Default::default() }, &mut quiet()).unwrap();
        let zip = s.project_zip("nucleo-f767zi").unwrap();
        assert_eq!(&zip[..4], b"PK\x03\x04");
        assert!(zip.windows(10).any(|w| w == b"Cargo.toml"));
        assert!(s.project_zip("no-such-board").unwrap_err().contains("unknown board"));
    }

    /// The session keeps the Plan it shows: the view on screen is that Plan's, and the download
    /// lowers exactly it (after a re-plan and after a click on the front alike).
    #[test]
    fn the_download_lowers_the_plan_on_screen() {
        let mut s = Session::load(&corpus("mbv1_w025_96_int8.tflite"), "mbv1").unwrap();
        let check = |s: &Session, shown: &PlanView| {
            let kept = s.schedule.as_ref().unwrap();
            assert!(!kept.layer_by_layer);
            assert_eq!(&kept.view(&s.graph, shown.budget, shown.objective.clone()), shown);
            let zip = s.project_zip("nucleo-f767zi").unwrap();
            let e = crate::adapt::emit_project(&s.graph, kept, "nucleo-f767zi").unwrap();
            assert_eq!(zip, e.zip);
            let planned = msf_codegen::firmware(&s.graph, Some(&kept.plan), None, msf_codegen::Kernels::Reference).unwrap();
            assert_eq!(e.firmware.program, planned.program);
            assert_eq!(e.project.budget.arena, shown.peak_incl_io);
        };
        let r = s.plan(Options { max_overhead: Some(1.3), ..Default::default() }, &mut quiet()).unwrap();
        assert!(r.plan.stages.iter().any(|st| st.fused));
        check(&s, &r.plan);
        let r = s.select_point(r.pareto.len() - 1, &mut quiet()).unwrap();
        check(&s, &r.plan);
    }

    /// When the board's fit decision is the layer-by-layer firmware (tiny_cnn on the 16 kB
    /// micro:bit: no fused plan fits beside the fused firmware's stack, the unfused one does),
    /// the page shows and downloads that Plan, as `msf emit` writes it.
    #[test]
    fn a_layer_by_layer_fit_shows_and_downloads_the_layer_by_layer_plan() {
        let mut s = Session::load(&corpus("tiny_cnn_int8.tflite"), "tiny").unwrap();
        let b = msf_codegen::board("microbit").unwrap();
        let f = msf_codegen::fit(&s.graph, b, None, false).unwrap();
        let r = s.plan(Options { board: Some("microbit".into()), ..Default::default() }, &mut quiet()).unwrap();
        let kept = s.schedule.clone().unwrap();
        match f.plan() {
            // A fused plan fits beside the fused firmware's stack: the page shows that one.
            Some(p) => {
                assert!(!kept.layer_by_layer && r.plan.fits);
                assert_eq!((r.plan.macs, r.plan.peak_incl_io), (p.macs, p.peak_ram_bytes));
            }
            None => {
                assert!(kept.layer_by_layer);
                assert_eq!(kept.plan, msf_plan::layer_by_layer(&s.graph));
                assert!(r.plan.fits && r.plan.stages.iter().all(|st| !st.fused));
                assert_eq!(r.plan.peak_incl_io, f.arena());
            }
        }
    }

    /// A model the planner refuses is shown and downloaded layer by layer: one Plan, the
    /// layer-by-layer one, whose arena the project reserves.
    #[test]
    fn a_refused_model_shows_and_downloads_its_layer_by_layer_plan() {
        let mut s = Session::load(&corpus("tiny_cnn_int8.tflite"), "tiny").unwrap();
        s.state = crate::adapt::PlanState::refused("test: refused");
        let r = s.plan(Options::default(), &mut quiet()).unwrap();
        assert!(r.notes.iter().any(|n| n.contains("layer-by-layer schedule")), "{:?}", r.notes);
        let kept = s.schedule.clone().unwrap();
        assert!(kept.layer_by_layer);
        assert_eq!(kept.plan, msf_plan::layer_by_layer(&s.graph));
        assert_eq!(r.plan.peak_incl_io, kept.plan.peak_ram_bytes);
        let e = crate::adapt::emit_project(&s.graph, &kept, "nucleo-f767zi").unwrap();
        assert_eq!(e.project.budget.arena, kept.plan.peak_ram_bytes);
        assert_eq!(e.project.budget.arena, 6144, "README: tiny_cnn_int8 layer by layer");
    }

    #[test]
    fn the_paper_model_reproduces_the_reference_on_its_chain() {
        // README, "Planner (issue 4)": the MBV2-w0.35 (144x144) chain in paper mode, F <= 1.3 -> 21288 B I/O excluded.
        let mut s = Session::load(&corpus("paper_mbv2_w035_144_int8.tflite"), "paper_mbv2").unwrap();
        let r = s.plan(Options { max_overhead: Some(1.3), paper: true, ..Default::default() }, &mut quiet()).unwrap();
        assert!((r.plan.peak_excl_io as f64 / 1e3 - 21.3).abs() < 0.05, "{}", r.plan.peak_excl_io);
        assert!(r.notes.iter().any(|n| n.contains("paper cost model")));
        // Back to our model: the DAG is rebuilt and the note goes.
        let r = s.plan(Options { max_overhead: Some(1.3), ..Default::default() }, &mut quiet()).unwrap();
        assert!(!r.notes.iter().any(|n| n.contains("paper cost model")));
        // A branching model in paper mode: shown layer by layer with the reason.
        let mut s = Session::load(&corpus("mbv2_w035_144_int8.tflite"), "mbv2").unwrap();
        let r = s.plan(Options { paper: true, ..Default::default() }, &mut quiet()).unwrap();
        assert!(r.notes.iter().any(|n| n.contains("paper's cost model cannot plan")), "{:?}", r.notes);
    }

    #[test]
    fn an_unreachable_budget_falls_back_to_least_ram_with_a_note() {
        let mut s = Session::load(&corpus("mbv1_w025_96_int8.tflite"), "mbv1").unwrap();
        let r = s.plan(Options { ram_budget: Some(16), ..Default::default() }, &mut quiet()).unwrap();
        assert!(!r.plan.fits);
        assert!(r.notes.iter().any(|n| n.contains("least-RAM plan")), "{:?}", r.notes);
        assert_eq!(r.notes.iter().filter(|n| n.contains("no plan fits")).count(), 1, "said once: {:?}", r.notes);
        assert_eq!(Some(r.pareto.len() - 1), r.chosen, "the least-RAM point is the last of the front");
    }

    #[test]
    fn every_corpus_model_loads_and_plans_or_says_why() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models");
        let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        let mut planned = 0;
        for n in names.iter().filter(|n| n.ends_with(".tflite") || n.ends_with(".onnx")) {
            match Session::load(&corpus(n), n) {
                Ok(mut s) => {
                    let r = s.plan(Options::default(), &mut quiet()).unwrap_or_else(|e| panic!("{n}: {e}"));
                    assert!(r.plan.peak_incl_io > 0, "{n}");
                    assert!(r.svg_graph.ends_with("</svg>"));
                    planned += 1;
                }
                Err(e) => assert!(e.contains(n.as_str()), "{n}: {e}"),
            }
        }
        assert!(planned > 0);
    }
}

/// The wasm build aborts on a panic (and the page loses its worker), so damaged files must come
/// back as errors, never panics, through the whole stack: importer, planner, views.
#[cfg(test)]
mod robustness {
    use super::*;

    /// Deterministic xorshift, so a failure reproduces.
    fn next(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    fn exercise(bytes: &[u8], name: &str) {
        if let Ok(mut s) = Session::load(bytes, name) {
            for o in [Options::default(), Options { ram_budget: Some(4096), ..Default::default() }, Options { max_overhead: Some(1.2), ..Default::default() }] {
                if let Ok(r) = s.plan(o, &mut |_, _| {}) {
                    let n = r.plan.stages.len();
                    let _ = s.stage(n.saturating_sub(1));
                    if !r.pareto.is_empty() {
                        let _ = s.select_point(r.pareto.len() - 1, &mut |_, _| {});
                    }
                }
            }
        }
    }

    #[test]
    fn truncated_and_corrupted_corpus_models_never_panic() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
        files.sort();
        let mut seed = 0x9e3779b97f4a7c15u64;
        for f in files.iter().filter(|f| matches!(f.extension().and_then(|e| e.to_str()), Some("tflite" | "onnx"))) {
            let bytes = std::fs::read(f).unwrap();
            // Big files: only a few cuts, the planner work dominates.
            let cuts: &[usize] = if bytes.len() > 1_000_000 { &[2, 3] } else { &[2, 3, 5, 9] };
            for &k in cuts {
                exercise(&bytes[..bytes.len() * (k - 1) / k], "cut");
            }
            for _ in 0..24 {
                let mut b = bytes.clone();
                // Flip bytes in the first 4 KiB (headers, tables, shapes) where damage matters.
                for _ in 0..8 {
                    let i = (next(&mut seed) as usize) % b.len().min(4096);
                    b[i] ^= (next(&mut seed) as u8) | 1;
                }
                exercise(&b, "flipped");
            }
        }
    }
}
