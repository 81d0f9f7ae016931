//! `msf emit MODEL --board NAME [--ram .. | --max-overhead ..] [--input IN.bin] --out PROJECT.zip
//! [--force]` and `msf boards [--json]`.
//!
//! The firmware runs a full-mode msf-CNN plan (msf_exec::compile_plan; fused stages through
//! msf-runtime's fused executor, arena = the plan's peak RAM). `--ram` asks for the least compute
//! within that arena (P2), `--max-overhead` for the least RAM within that compute factor (P1,
//! `inf` = least RAM). With neither: P2 with the board's arena budget (RAM - statics - stack
//! reserve - the fused executor's stack), so a model that does not fit layer by layer gets a
//! fused plan by itself. If no plan fits, the refusal gives the best reachable RAM and what the
//! board offers (unless --force: then the least-RAM plan is emitted).

use crate::util::{load_model, parse_bytes};
use anyhow::{bail, Context, Result};
use msf_codegen::{arena_budget, board, emit_project, firmware_for_kernels, firmware_for_plan, write_zip, Board, Kernels};
use msf_plan::{plan, Constraint, Mode, Options, PlanError, RamMetric, StageKind};
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

fn constraint(a: &Args) -> Result<Option<Constraint>> {
    Ok(match (&a.ram, &a.max_overhead) {
        (Some(r), _) => Some(Constraint::RamBudget { ram_bytes: *r }),
        (None, Some(f)) => {
            let t = f.trim().to_ascii_lowercase();
            if matches!(t.as_str(), "inf" | "infinity" | "none") {
                Some(Constraint::MinRam)
            } else {
                match t.parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 1.0 => Some(Constraint::MaxOverhead { max_overhead: x }),
                    _ => bail!("--max-overhead wants a factor >= 1 (e.g. 1.3) or `inf`, not `{f}`"),
                }
            }
        }
        (None, None) => None,
    })
}

pub fn run(a: Args) -> Result<()> {
    let b: &Board = board(&a.board)?;
    let graph = load_model(&a.model)?;
    let input_path = a.input.clone().or_else(|| sibling_input(&a.model));
    let input = match &input_path {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?),
        None => None,
    };
    let kernels = match a.kernels {
        KernelsArg::Reference => Kernels::Reference,
        KernelsArg::Optimized => Kernels::Optimized,
    };
    let budget = arena_budget(b);
    let asked = constraint(&a)?;
    let c = asked.unwrap_or(Constraint::RamBudget { ram_bytes: budget });
    let full = |c: Constraint| plan(&graph, &Options { mode: Mode::Full, metric: RamMetric::IoIncluded, constraint: c, pareto: false });
    let describe = |p: &msf_plan::Plan, how: String| {
        let fused = p.stages.iter().filter(|s| s.kind == StageKind::Fused).count();
        format!(
            "plan ({how}): {} stages, {fused} fused; peak RAM = arena {} B (layer by layer {} B); F = {:.3}",
            p.stages.len(),
            p.peak_ram_bytes,
            p.vanilla_peak_ram_bytes,
            p.overhead
        )
    };
    let how = match asked {
        Some(c) => format!("{c:?}"),
        None => format!("least compute within {}'s arena budget of {budget} B", b.id),
    };
    let (fw, plan_line) = match full(c) {
        Ok(p) => (firmware_for_plan(&graph, &p, input.as_deref(), kernels)?, describe(&p, how)),
        Err(PlanError::RamUnreachable { best, .. }) => {
            // No constraint asked and no plan fits beside the fused executor's stack: the
            // layer-by-layer firmware (small stack) may still fit.
            let lbl = if asked.is_none() { Some(firmware_for_kernels(&graph, input.as_deref(), kernels)?) } else { None };
            match lbl {
                Some(fw) if msf_codegen::project::budget(b, &fw).fits() => {
                    let line = format!("layer by layer: arena {} B (every fused plan needs its arena + {} B of stack; least-RAM arena {best} B)", fw.arena, msf_codegen::stack_bytes(b, true));
                    (fw, line)
                }
                _ => {
                    let what = match asked {
                        Some(_) => format!("the --ram budget of {} B", a.ram.unwrap_or(0)),
                        None => format!(
                            "{} ({} B of RAM: arena budget {budget} B beside statics and {} B of stack for the fused executor; layer by layer needs {} B of RAM)",
                            b.id,
                            b.ram,
                            msf_codegen::stack_bytes(b, true),
                            lbl.as_ref().map(|f| msf_codegen::project::budget(b, f).ram_needed).unwrap_or(0)
                        ),
                    };
                    if !a.force {
                        bail!("no plan of {} fits {what}: the least-RAM plan needs an arena of {best} B (use --force to emit it anyway)", graph.name);
                    }
                    let p = full(Constraint::MinRam)?;
                    (firmware_for_plan(&graph, &p, input.as_deref(), kernels)?, describe(&p, "least RAM, forced".into()))
                }
            }
        }
        Err(e) => return Err(e.into()),
    };
    let project = match emit_project(b, &fw, a.force) {
        Ok(p) => p,
        Err(e @ msf_codegen::CodegenError::DoesNotFit { .. }) => {
            // Say what the planner could reach, so the user knows whether another plan would fit.
            let best = match full(Constraint::MinRam) {
                Ok(m) => format!(
                    "; the least-RAM plan has an arena of {} B (F = {:.2}; this one {} B), and {}'s arena budget for a fused firmware is {budget} B",
                    m.peak_ram_bytes, m.overhead, fw.arena, b.id
                ),
                Err(pe) => format!("; the planner found no smaller plan ({pe})"),
            };
            bail!("{e}{best}");
        }
        Err(e) => return Err(e.into()),
    };
    let zip = write_zip(&project)?;
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
        "  RAM: {} B = arena {} + statics {} + stack reserve {}{} (board: {} B){}",
        bu.ram_needed,
        bu.arena,
        bu.statics,
        bu.stack,
        if fw.fused { " (fused executor included)" } else { "" },
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
