//! "Does this model fit this board, and with which plan": the one decision `msf plan --board`,
//! `msf emit` and the page make, so all three give the same answer.
//!
//! The budget is what the firmware has for its arena: [`arena_budget`] (the board's RAM minus
//! the statics and the stack reserve a fused firmware keeps free, crate::stack). Every RAM
//! figure here is the firmware's whole RAM: statics + arena (16-byte rounded) + stack reserve. With no constraint asked, the plan is
//! the least compute within that budget (P2); a model no fused plan fits may still fit layer by
//! layer (its firmware keeps the small stack); otherwise the decision is a [`Refusal`] with the
//! numbers, or with `force` the least-RAM plan, emitted anyway. An asked constraint (`--ram`,
//! `--max-overhead`) replaces the budget; the board's RAM and flash are then checked by
//! [`crate::emit`] when the project is made (what [`Fit::fits_ram`] predicts for the RAM).

use msf_model::Graph;
use msf_plan::{Constraint, Mode, Options, Plan, PlanError, Planner, RamMetric, StageKind};

use crate::board::Board;
use crate::lower::{firmware, Kernels};
use crate::project::{arena_budget, arena_static_bytes, stack_bytes, statics_overhead};
use crate::CodegenError;

/// What the firmware for `board` runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// A full-mode plan: within the board's arena budget, or under the asked constraint.
    Plan(Plan),
    /// No fused plan fits beside the fused executor's stack, but the layer-by-layer firmware
    /// (its own, smaller stack figure) fits the board's RAM and flash.
    LayerByLayer {
        /// The layer-by-layer arena (msf-exec's placement).
        arena: u64,
        /// arena + statics + stack reserve.
        ram_needed: u64,
        /// The least-RAM fused plan's arena (why it did not fit).
        least_ram_arena: u64,
    },
    /// Nothing fits and `force` was asked: the least-RAM plan, emitted anyway.
    Forced { plan: Plan, refusal: Refusal },
}

/// The decision for one model on one board.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub board: &'static Board,
    /// What the firmware has for the arena: [`arena_budget`].
    pub budget: u64,
    /// The constraint asked for (`None`: least compute within `budget`).
    pub asked: Option<Constraint>,
    pub choice: Choice,
}

/// What a refused model was measured against.
#[derive(Debug, Clone, PartialEq)]
pub enum Limit {
    /// The asked RAM budget (`--ram`).
    Ram { ram_bytes: u64 },
    /// The board's own budget.
    Board {
        id: String,
        /// The board's RAM.
        ram: u64,
        /// Its arena budget for a fused firmware.
        budget: u64,
        /// The stack reserve a fused firmware keeps free.
        fused_stack: u64,
        /// RAM the layer-by-layer firmware needs (arena + statics + stack reserve).
        layerwise_ram: u64,
    },
}

/// No plan fits: the best achievable beside what is available.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub model: String,
    pub limit: Limit,
    /// The least-RAM plan's arena.
    pub best: u64,
}

impl Refusal {
    /// Bytes available for the arena: the asked budget, or the board's arena budget.
    pub fn available(&self) -> u64 {
        match &self.limit {
            Limit::Ram { ram_bytes } => *ram_bytes,
            Limit::Board { budget, .. } => *budget,
        }
    }

    /// The reason without the CLI's `--force` hint (what the page shows).
    pub fn reason(&self) -> String {
        let what = match &self.limit {
            Limit::Ram { ram_bytes } => format!("the --ram budget of {ram_bytes} B"),
            Limit::Board { id, ram, budget, fused_stack, layerwise_ram } => format!(
                "{id} ({ram} B of RAM: arena budget {budget} B beside statics and {fused_stack} B of stack for the fused executor; layer by layer needs {layerwise_ram} B of RAM)"
            ),
        };
        format!("no plan of {} fits {what}: the least-RAM plan needs an arena of {} B", self.model, self.best)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (use --force to emit it anyway)", self.reason())
    }
}

/// Why there is no decision.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("{0}")]
    Refused(Refusal),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Codegen(#[from] CodegenError),
}

impl Fit {
    /// The full-mode plan the firmware runs (`None`: layer by layer).
    pub fn plan(&self) -> Option<&Plan> {
        match &self.choice {
            Choice::Plan(p) | Choice::Forced { plan: p, .. } => Some(p),
            Choice::LayerByLayer { .. } => None,
        }
    }

    /// The decision is not the first try: layer by layer, or forced.
    pub fn fell_back(&self) -> bool {
        !matches!(self.choice, Choice::Plan(_))
    }

    /// The arena the firmware reserves.
    pub fn arena(&self) -> u64 {
        match &self.choice {
            Choice::Plan(p) | Choice::Forced { plan: p, .. } => p.peak_ram_bytes,
            Choice::LayerByLayer { arena, .. } => *arena,
        }
    }

    /// The firmware's whole RAM: the arena (16-byte rounded) + statics + its stack reserve
    /// (the figure every front end shows; [`Fit::fits_ram`] compares it with the board's RAM).
    pub fn ram_needed(&self) -> u64 {
        match &self.choice {
            Choice::Plan(p) | Choice::Forced { plan: p, .. } => plan_ram_needed(self.board, p),
            Choice::LayerByLayer { ram_needed, .. } => *ram_needed,
        }
    }

    /// The stack reserve of the chosen firmware (fused figure if its plan has a fused stage).
    pub fn stack(&self) -> u64 {
        match &self.choice {
            Choice::Plan(p) | Choice::Forced { plan: p, .. } => stack_bytes(self.board, has_fused(p)),
            Choice::LayerByLayer { .. } => stack_bytes(self.board, false),
        }
    }

    /// Statics besides the arena on this board.
    pub fn statics(&self) -> u64 {
        statics_overhead(self.board.family)
    }

    /// "RAM N B = statics S + arena A + stack K": the one RAM line of the CLI and the page.
    pub fn ram_line(&self) -> String {
        ram_line(self.ram_needed(), self.statics(), self.arena(), self.board, self.plan().is_some_and(has_fused))
    }

    /// The firmware fits the board's RAM (flash is checked when the project is made).
    pub fn fits_ram(&self) -> bool {
        !matches!(self.choice, Choice::Forced { .. }) && self.ram_needed() <= self.board.ram
    }

    /// One line saying what was chosen and why (`msf emit` prints it).
    pub fn describe(&self) -> String {
        match &self.choice {
            Choice::Plan(p) => {
                let how = match self.asked {
                    Some(c) => format!("{c:?}"),
                    None => format!("least compute within {}'s arena budget of {} B", self.board.id, self.budget),
                };
                describe_plan(p, &how)
            }
            Choice::LayerByLayer { arena, least_ram_arena, .. } => format!(
                "layer by layer: arena {arena} B (every fused plan needs its arena + {} B of stack reserve; least-RAM arena {least_ram_arena} B)",
                stack_bytes(self.board, true)
            ),
            Choice::Forced { plan, .. } => describe_plan(plan, "least RAM, forced"),
        }
    }
}

fn describe_plan(p: &Plan, how: &str) -> String {
    let fused = p.stages.iter().filter(|s| s.kind == StageKind::Fused).count();
    format!(
        "plan ({how}): {} stages, {fused} fused; peak RAM = arena {} B (layer by layer {} B); F = {:.3}",
        p.stages.len(),
        p.peak_ram_bytes,
        p.vanilla_peak_ram_bytes,
        p.overhead
    )
}

/// The plan has a fused stage (its firmware runs the fused executor, with the fused stack).
pub fn has_fused(plan: &Plan) -> bool {
    plan.stages.iter().any(|s| s.kind == StageKind::Fused)
}

/// The firmware's whole RAM for an arena of `arena` bytes on `board`: the arena static (16-byte
/// rounded) + statics + the stack reserve (fused or layer by layer), as [`crate::project::budget`].
pub fn firmware_ram(board: &Board, arena: u64, fused: bool) -> u64 {
    arena_static_bytes(arena) + statics_overhead(board.family) + stack_bytes(board, fused)
}

/// RAM the firmware of a full-mode `plan` needs on `board`: [`firmware_ram`].
pub fn plan_ram_needed(board: &Board, plan: &Plan) -> u64 {
    firmware_ram(board, plan.peak_ram_bytes, has_fused(plan))
}

/// The RAM line: `RAM N B = statics S + arena A + stack K (runtime R + main/report T +
/// interrupt margin M)`.
pub fn ram_line(ram: u64, statics: u64, arena: u64, board: &Board, fused: bool) -> String {
    let s = crate::stack::stack_budget(board, fused);
    format!(
        "RAM {ram} B = statics {statics} + arena {arena} + stack {} (runtime {}{} + main/report/rounding {} + interrupt margin {})",
        s.total,
        s.runtime,
        if fused { " fused" } else { " layer by layer" },
        s.template,
        s.margin
    )
}

/// Fit `graph` to `board` (full mode, I/O included: the arena is the whole RAM): see the
/// module docs. `asked` is the user's constraint (`None`: least compute within the board's
/// arena budget); `force` turns a refusal into the least-RAM plan.
pub fn fit(graph: &Graph, board: &'static Board, asked: Option<Constraint>, force: bool) -> Result<Fit, FitError> {
    fit_with(&Planner::new(graph, Mode::Full)?, graph, board, asked, force)
}

/// [`fit`] with a planner already built for `graph` in full mode (the page keeps one between
/// re-plans: building the fusion DAG is the expensive part).
pub fn fit_with(planner: &Planner, graph: &Graph, board: &'static Board, asked: Option<Constraint>, force: bool) -> Result<Fit, FitError> {
    let budget = arena_budget(board);
    let metric = RamMetric::IoIncluded;
    let full = |c: Constraint| -> Result<Plan, PlanError> {
        let path = planner.solve(c, metric)?;
        Ok(planner.build(&graph.name, &path, &Options { mode: Mode::Full, metric, constraint: c, pareto: false }))
    };
    let decided = |choice| Ok(Fit { board, budget, asked, choice });
    let best = match full(asked.unwrap_or(Constraint::RamBudget { ram_bytes: budget })) {
        Ok(p) => return decided(Choice::Plan(p)),
        Err(PlanError::RamUnreachable { best, .. }) => best,
        Err(e) => return Err(e.into()),
    };
    let limit = match asked {
        Some(Constraint::RamBudget { ram_bytes }) => Limit::Ram { ram_bytes },
        // Only a RAM budget can be unreachable.
        Some(_) => Limit::Ram { ram_bytes: 0 },
        None => {
            // No fused plan fits beside the fused executor's stack: the layer-by-layer
            // firmware (small stack) may still fit.
            let fw = firmware(graph, None, None, Kernels::Reference)?;
            let b = crate::project::budget(board, &fw);
            if b.fits() {
                return decided(Choice::LayerByLayer { arena: fw.arena, ram_needed: b.ram_needed, least_ram_arena: best });
            }
            Limit::Board { id: board.id.clone(), ram: board.ram, budget, fused_stack: stack_bytes(board, true), layerwise_ram: b.ram_needed }
        }
    };
    let refusal = Refusal { model: graph.name.clone(), limit, best };
    if !force {
        return Err(FitError::Refused(refusal));
    }
    decided(Choice::Forced { plan: full(Constraint::MinRam)?, refusal })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::board;

    fn graph(name: &str) -> Graph {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models").join(format!("{name}.tflite"));
        msf_model::load(&std::fs::read(&p).unwrap(), name).unwrap()
    }

    /// mbv1_w025_96 on the 512 kB nucleo-f767zi: the least-compute plan fits the arena budget
    /// of 512 KiB - the fused firmware's stack reserve.
    #[test]
    fn a_model_that_fits() {
        let b = board("nucleo-f767zi").unwrap();
        let g = graph("mbv1_w025_96_int8");
        let f = fit(&g, b, None, false).unwrap();
        assert_eq!(f.budget, 512 * 1024 - stack_bytes(b, true));
        let p = f.plan().unwrap();
        assert!(matches!(f.choice, Choice::Plan(_)) && !f.fell_back() && f.fits_ram());
        assert!(p.peak_stage_bytes <= f.budget);
        // The least compute: no overhead at all.
        assert_eq!(p.macs, p.vanilla_macs);
        assert_eq!(f.arena(), p.peak_ram_bytes);
        assert!(f.describe().starts_with(&format!("plan (least compute within nucleo-f767zi's arena budget of {} B): ", f.budget)), "{}", f.describe());
        assert_eq!(f.ram_needed(), arena_static_bytes(p.peak_ram_bytes) + f.statics() + f.stack());
        assert_eq!(f.stack(), stack_bytes(b, has_fused(p)));
        assert!(f.ram_line().starts_with(&format!("RAM {} B = statics 0 + arena {} + stack {} (runtime ", f.ram_needed(), f.arena(), f.stack())), "{}", f.ram_line());
        // An asked constraint replaces the budget.
        let f = fit(&g, b, Some(Constraint::MinRam), false).unwrap();
        assert!(f.describe().starts_with("plan (MinRam): "));
        assert!(f.plan().unwrap().overhead > 1.0);
    }

    /// tiny_cnn_int8 on the 16 kB micro:bit: if the fused firmware's stack reserve leaves less
    /// than the least-RAM arena, the decision falls back to layer by layer (6144 B arena + the
    /// layer-by-layer stack), which fits; otherwise a fused plan within the budget.
    #[test]
    fn a_model_that_fits_only_layer_by_layer() {
        let b = board("microbit").unwrap();
        let g = graph("tiny_cnn_int8");
        let f = fit(&g, b, None, false).unwrap();
        assert_eq!(f.budget, b.ram.saturating_sub(stack_bytes(b, true)));
        let least = msf_plan::plan(&g, &Options { mode: Mode::Full, metric: RamMetric::IoIncluded, constraint: Constraint::MinRam, pareto: false }).unwrap();
        if f.budget >= least.peak_stage_bytes {
            assert!(matches!(f.choice, Choice::Plan(_)) && f.fits_ram(), "{:?}", f.choice);
            return;
        }
        assert!(f.fell_back() && f.plan().is_none() && f.fits_ram());
        let Choice::LayerByLayer { arena, ram_needed, least_ram_arena } = f.choice.clone() else { panic!("{:?}", f.choice) };
        assert_eq!((arena, ram_needed), (6144, 6144 + stack_bytes(b, false)));
        assert_eq!((f.stack(), f.ram_needed()), (stack_bytes(b, false), ram_needed));
        assert_eq!(least_ram_arena, least.peak_stage_bytes);
        assert_eq!(f.describe(), format!("layer by layer: arena 6144 B (every fused plan needs its arena + {} B of stack reserve; least-RAM arena {least_ram_arena} B)", stack_bytes(b, true)));
    }

    /// tflm_micro_speech: its least-RAM fused arena (5960 B) is barely below layer by layer's
    /// (5968 B), so on a board with RAM between the two firmwares' (layer by layer: arena + the
    /// layer stack; fused: arena + the larger fused stack) the decision is layer by layer.
    #[test]
    fn the_layer_by_layer_fallback_on_a_board_made_for_it() {
        let g = graph("tflm_micro_speech");
        let lbl = firmware(&g, None, None, Kernels::Reference).unwrap();
        let least = msf_plan::plan(&g, &Options { mode: Mode::Full, metric: RamMetric::IoIncluded, constraint: Constraint::MinRam, pareto: false }).unwrap();
        let mut b = board("mps2-an386").unwrap().clone();
        b.ram = arena_static_bytes(lbl.arena) + stack_bytes(&b, false);
        if least.peak_stage_bytes + stack_bytes(&b, true) <= b.ram {
            eprintln!("tflm_micro_speech: the fused plan fits wherever layer by layer does; nothing to test");
            return;
        }
        let b: &'static Board = Box::leak(Box::new(b));
        let f = fit(&g, b, None, false).unwrap();
        let Choice::LayerByLayer { arena, ram_needed, least_ram_arena } = f.choice.clone() else { panic!("{:?}", f.choice) };
        assert_eq!((arena, ram_needed), (lbl.arena, b.ram));
        // Why: the least-RAM fused arena does not fit beside the fused stack reserve.
        assert!(least_ram_arena > f.budget && f.budget == b.ram - stack_bytes(b, true), "{least_ram_arena} {}", f.budget);
        assert!(f.fits_ram() && f.fell_back() && f.plan().is_none());
        assert_eq!((f.stack(), f.ram_needed()), (stack_bytes(b, false), b.ram));
    }

    /// mbv1_w025_96 on the micro:bit: nothing fits; the refusal carries the least-RAM arena and
    /// what the board offers, in the words `msf emit` prints; `force` gives the least-RAM plan.
    #[test]
    fn a_model_that_is_refused_with_its_numbers() {
        let b = board("microbit").unwrap();
        let g = graph("mbv1_w025_96_int8");
        let Err(FitError::Refused(r)) = fit(&g, b, None, false) else { panic!("not refused") };
        let lbl = firmware(&g, None, None, Kernels::Reference).unwrap();
        assert_eq!(lbl.arena, 64512);
        let budget = b.ram.saturating_sub(stack_bytes(b, true));
        assert_eq!(r.available(), budget);
        assert_eq!(
            r.limit,
            Limit::Board { id: "microbit".into(), ram: 16384, budget, fused_stack: stack_bytes(b, true), layerwise_ram: 64512 + stack_bytes(b, false) }
        );
        let least = msf_plan::plan(&g, &Options { mode: Mode::Full, metric: RamMetric::IoIncluded, constraint: Constraint::MinRam, pareto: false }).unwrap();
        assert_eq!(r.best, least.peak_stage_bytes);
        assert_eq!(
            r.to_string(),
            format!(
                "no plan of mbv1_w025_96_int8 fits microbit (16384 B of RAM: arena budget {budget} B beside statics and {} B of stack for the fused executor; layer by layer needs {} B of RAM): the least-RAM plan needs an arena of {} B (use --force to emit it anyway)",
                stack_bytes(b, true),
                64512 + stack_bytes(b, false),
                r.best
            )
        );
        let f = fit(&g, b, None, true).unwrap();
        let Choice::Forced { plan, refusal } = &f.choice else { panic!("{:?}", f.choice) };
        assert_eq!((plan.peak_ram_bytes, refusal), (least.peak_ram_bytes, &r));
        assert!(f.fell_back() && !f.fits_ram());
        // An asked budget that no plan reaches is refused against it.
        let Err(FitError::Refused(r)) = fit(&g, board("nucleo-f767zi").unwrap(), Some(Constraint::RamBudget { ram_bytes: 1000 }), false) else { panic!() };
        assert_eq!(r.to_string(), format!("no plan of mbv1_w025_96_int8 fits the --ram budget of 1000 B: the least-RAM plan needs an arena of {} B (use --force to emit it anyway)", r.best));
    }
}
