//! `msf emit MODEL --board NAME [--ram .. | --max-overhead .. | --layer-by-layer] [--input IN.bin]
//! --out PROJECT.zip [--force]` and `msf boards [--json]`.
//!
//! The firmware runs a full-mode msf-CNN plan (msf_exec::compile_plan; fused stages through
//! msf-runtime's fused executor, arena = the plan's peak RAM). `--ram` asks for the least compute
//! within that arena (P2), `--max-overhead` for the least RAM within that compute factor (P1,
//! `inf` = least RAM). With neither: P2 with the board's arena budget (RAM - statics - the fused
//! firmware's stack reserve), so a model that does not fit layer by layer gets a fused plan by
//! itself. If no plan fits, the refusal gives the best reachable RAM and what the board offers
//! (unless --force: then the least-RAM plan is emitted). `--layer-by-layer` emits the unfused
//! firmware (same template, layer-by-layer stack figure) for comparison.

use crate::util::{constraint, load_model, parse_bytes};
use anyhow::{bail, Context, Result};
use msf_codegen::{board, emit, fit, Board, EmitOptions, Emitted, Kernels};
use msf_plan::{Constraint, Mode, RamMetric};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A .tflite or .onnx model.
    model: PathBuf,
    /// Board id from `msf boards` (e.g. nucleo-f767zi, mps2-an386).
    #[arg(long)]
    board: String,
    /// Peak-RAM budget for the plan (e.g. 64k); the board's RAM is always a limit too.
    #[arg(long, value_parser = parse_bytes, conflicts_with = "max_overhead")]
    ram: Option<u64>,
    /// Compute-overhead bound for the plan (factor >= 1, or `inf`).
    #[arg(long)]
    max_overhead: Option<String>,
    /// Emit the unfused firmware (every op its own stage, msf_plan::layer_by_layer) with the
    /// same template, to compare its RAM with the fused one's.
    #[arg(long, conflicts_with_all = ["ram", "max_overhead"])]
    layer_by_layer: bool,
    /// Test input bundled into the firmware (raw tensor bytes). Default: MODEL's NAME.input.bin
    /// beside it if there is one, else a deterministic pseudo-random input.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Where to write the zipped project.
    #[arg(long)]
    out: PathBuf,
    /// Emit even if the plan does not fit the board's RAM or flash (or the --ram budget).
    #[arg(long)]
    force: bool,
    /// Whose int8 arithmetic the firmware reproduces bit for bit: LiteRT's reference kernels
    /// (what TFLite Micro mirrors) or LiteRT's optimized x86 kernels (as `msf run --kernels`).
    #[arg(long, value_enum, default_value = "reference")]
    kernels: KernelsArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KernelsArg {
    Reference,
    Optimized,
}

fn sibling_input(model: &std::path::Path) -> Option<PathBuf> {
    let stem = model.file_stem()?.to_str()?;
    let p = model.with_file_name(format!("{stem}.input.bin"));
    p.is_file().then_some(p)
}

pub fn run(a: Args) -> Result<()> {
    let b: &'static Board = board(&a.board)?;
    let graph = load_model(&a.model)?;
    let input_path = a.input.clone().or_else(|| sibling_input(&a.model));
    let input = match &input_path {
        Some(p) => Some(crate::util::read_file(p)?),
        None => None,
    };
    let kernels = match a.kernels {
        KernelsArg::Reference => Kernels::Reference,
        KernelsArg::Optimized => Kernels::Optimized,
    };
    // The decision `msf plan --board` and the page make: the plan, layer by layer, or the
    // refusal with the numbers (its text is the error).
    let opts = EmitOptions { input: input.as_deref(), kernels, force: a.force };
    let (plan, plan_line, budget) = if a.layer_by_layer {
        let lbl = msf_plan::layer_by_layer(&graph);
        let line = format!("layer by layer (--layer-by-layer): {} stages, arena {} B", lbl.stages.len(), lbl.peak_ram_bytes);
        (None, line, msf_codegen::arena_budget(b))
    } else {
        let f = fit(&graph, b, constraint(a.ram, a.max_overhead.as_deref())?, a.force)?;
        (f.plan().cloned(), f.describe(), f.budget)
    };
    let Emitted { firmware: fw, project, zip } = match emit(&graph, b, plan.as_ref(), &opts) {
        Ok(e) => e,
        Err(e @ msf_codegen::CodegenError::DoesNotFit { arena, .. }) => {
            // Say what the planner could reach, so the user knows whether another plan would fit.
            let least = msf_plan::plan(&graph, &msf_plan::Options { mode: Mode::Full, metric: RamMetric::IoIncluded, constraint: Constraint::MinRam, pareto: false });
            let best = match least {
                Ok(m) => format!(
                    "; the least-RAM plan has an arena of {} B (F = {:.2}; this one {arena} B), and {}'s arena budget for a fused firmware is {} B",
                    m.peak_ram_bytes, m.overhead, b.id, budget
                ),
                Err(pe) => format!("; the planner found no smaller plan ({pe})"),
            };
            bail!("{e}{best}");
        }
        Err(e) => return Err(e.into()),
    };
    std::fs::write(&a.out, &zip).with_context(|| format!("cannot write {}", a.out.display()))?;
    let bu = &project.budget;
    let mut o = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(o,"wrote {} ({} bytes): {}/ for {} ({}, {})", a.out.display(), zip.len(), project.root, b.id, b.core, b.target);
    let _ = writeln!(o, "  {plan_line}");
    let _ = writeln!(o,
        "  input: {}",
        input_path.map(|p| p.display().to_string()).unwrap_or_else(|| "deterministic pseudo-random (no NAME.input.bin)".into())
    );
    let _ = writeln!(o,
        "  {} (board: {} B){}",
        msf_codegen::fit::ram_line(bu.ram_needed, bu.statics, bu.arena, b, fw.fused),
        bu.ram,
        if bu.ram_needed > bu.ram { "  DOES NOT FIT" } else { "" }
    );
    let _ = writeln!(o,
        "  flash: {} B = program {} + input {} + code allowance {} (board: {} B){}",
        bu.flash_needed,
        bu.program,
        bu.input,
        bu.code,
        bu.flash,
        if bu.flash_needed > bu.flash { "  DOES NOT FIT" } else { "" }
    );
    let _ = writeln!(o,
        "  estimated latency: {} MACs x {} cycles/MAC / {} MHz = {:.1} ms",
        fw.macs,
        b.cycles_per_mac,
        b.clock_hz as f64 / 1e6,
        bu.latency_s * 1e3
    );
    print_all(&o);
    Ok(())
}

#[derive(clap::Args)]
pub struct BoardsArgs {
    /// Print the catalogue as JSON (every field, with the sources of the figures).
    #[arg(long)]
    json: bool,
}

pub fn boards(a: BoardsArgs) -> Result<()> {
    use std::fmt::Write as _;
    let all = msf_codegen::boards();
    if a.json {
        print_all(&(serde_json::to_string_pretty(all)? + "\n"));
        return Ok(());
    }
    let mut o = String::new();
    let _ = writeln!(o,
        "{:<17} {:<15} {:<28} {:>9} {:>10} {:>8} {:>10}  {}",
        "board", "core", "target", "RAM kB", "flash kB", "MHz", "cyc/MAC", "run with"
    );
    for b in all {
        let how = if b.qemu.is_some() { "qemu" } else { b.runner.split_whitespace().next().unwrap_or("") };
        let _ = writeln!(o,
            "{:<17} {:<15} {:<28} {:>9} {:>10} {:>8} {:>10}  {}",
            b.id,
            b.core,
            b.target,
            b.ram / 1024,
            b.flash / 1024,
            b.clock_hz as f64 / 1e6,
            b.cycles_per_mac,
            how
        );
    }
    let _ = writeln!(o, "(`msf boards --json` lists every field with the source of each figure)");
    print_all(&o);
    Ok(())
}

/// Write to stdout, quietly stopping if the reader went away (`msf boards | head`).
fn print_all(s: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}
