//! `msf run MODEL --input IN.bin --output OUT.bin [--dump-tensors DIR]`: run the model on the
//! host through msf-runtime, the same code and program blob the firmware runs.

use crate::util::load_model;
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A .tflite or .onnx model.
    model: PathBuf,
    /// Raw input bytes in the model's input dtype and layout (NHWC for TFLite, NCHW for ONNX).
    #[arg(long)]
    input: PathBuf,
    /// Where to write the raw output bytes (same conventions as the input).
    #[arg(long)]
    output: PathBuf,
    /// Write every tensor the runtime materialises as DIR/INDEX.bin (NHWC, by tensor id).
    #[arg(long, value_name = "DIR")]
    dump_tensors: Option<PathBuf>,
    /// Whose int8 arithmetic to reproduce bit for bit: LiteRT's reference kernels (what TFLite
    /// Micro mirrors) or LiteRT's optimized x86 kernels.
    #[arg(long, value_enum, default_value = "reference")]
    kernels: KernelsArg,
    /// Also write the compiled program blob (what firmware embeds) to this file.
    #[arg(long, value_name = "FILE")]
    program: Option<PathBuf>,
    /// Run a fused plan: least compute within this peak RAM (as `msf plan --ram`).
    #[arg(long, value_parser = crate::util::parse_bytes, conflicts_with_all = ["max_overhead", "plan"])]
    ram: Option<u64>,
    /// Run a fused plan: least peak RAM with compute <= this factor (as `msf plan
    /// --max-overhead`; `inf` = minimum RAM).
    #[arg(long, conflicts_with = "plan")]
    max_overhead: Option<String>,
    /// Run this plan (`msf plan --json` output, full mode).
    #[arg(long, value_name = "PLAN.json")]
    plan: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KernelsArg {
    Reference,
    Optimized,
}

pub fn run(a: Args) -> Result<()> {
    let graph = load_model(&a.model)?;
    let input = crate::util::read_file(&a.input)?;
    if a.ram.is_some() || a.max_overhead.is_some() || a.plan.is_some() {
        return run_fused(&a, &graph, &input);
    }
    let mut runner = msf_exec::Runner::with_kernels(&graph, match a.kernels {
        KernelsArg::Reference => msf_exec::Kernels::Reference,
        KernelsArg::Optimized => msf_exec::Kernels::Optimized,
    }).context("cannot compile the model for the runtime")?;
    runner.set_input(&input)?;
    let mut dumps: Vec<(usize, Vec<u8>)> = Vec::new();
    let start = std::time::Instant::now();
    if a.dump_tensors.is_some() {
        let mut cb = |t: usize, b: &[u8]| dumps.push((t, b.to_vec()));
        runner.run(Some(&mut cb))?;
    } else {
        runner.run(None)?;
    }
    let elapsed = start.elapsed();
    let out = runner.output()?;
    std::fs::write(&a.output, &out).with_context(|| format!("cannot write {}", a.output.display()))?;
    if let Some(dir) = &a.dump_tensors {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (t, b) in &dumps {
            let p = dir.join(format!("{t}.bin"));
            std::fs::write(&p, b).with_context(|| format!("cannot write {}", p.display()))?;
        }
        println!("dumped {} tensors to {}", dumps.len(), dir.display());
    }
    if let Some(p) = &a.program {
        std::fs::write(p, &runner.compiled.blob).with_context(|| format!("cannot write {}", p.display()))?;
    }
    println!(
        "{}: {} layers, arena {} bytes, program {} bytes, output {} bytes -> {} ({:.2} ms)",
        graph.name,
        runner.compiled.op_layers.last().map(|r| r.end).unwrap_or(0),
        runner.compiled.arena_size,
        runner.compiled.blob.len(),
        out.len(),
        a.output.display(),
        elapsed.as_secs_f64() * 1e3
    );
    Ok(())
}

fn kernels(k: KernelsArg) -> msf_exec::Kernels {
    match k {
        KernelsArg::Reference => msf_exec::Kernels::Reference,
        KernelsArg::Optimized => msf_exec::Kernels::Optimized,
    }
}

/// `--ram`, `--max-overhead` or `--plan`: plan (full mode, I/O included) or read the plan, run
/// it fused in an arena of exactly its size, report its peak beside the measured high-water mark.
fn run_fused(a: &Args, graph: &msf_model::Graph, input: &[u8]) -> Result<()> {
    use msf_plan::{Constraint, Mode, Options, RamMetric};
    if a.dump_tensors.is_some() {
        anyhow::bail!("--dump-tensors shows the layer-by-layer run's tensors; a fused run keeps only rings");
    }
    let plan: msf_plan::Plan = match &a.plan {
        Some(p) => serde_json::from_slice(&crate::util::read_file(p)?)
            .with_context(|| format!("{} is not a plan (msf plan --json)", p.display()))?,
        None => {
            let constraint = crate::util::constraint(a.ram, a.max_overhead.as_deref())?.unwrap_or(Constraint::MinMacs);
            msf_plan::plan(graph, &Options { mode: Mode::Full, metric: RamMetric::IoIncluded, constraint, pareto: false })?
        }
    };
    let mut runner = msf_exec::PlanRunner::new(graph, &plan, kernels(a.kernels)).context("cannot lower the plan for the runtime")?;
    runner.set_input(input)?;
    let start = std::time::Instant::now();
    let stats = runner.run()?;
    let elapsed = start.elapsed();
    let out = runner.output()?;
    std::fs::write(&a.output, &out).with_context(|| format!("cannot write {}", a.output.display()))?;
    if let Some(p) = &a.program {
        std::fs::write(p, &runner.compiled().blob).with_context(|| format!("cannot write {}", p.display()))?;
    }
    let fused = plan.stages.iter().filter(|s| s.kind == msf_plan::StageKind::Fused).count();
    println!(
        "{}: {} stages ({} fused), F = {:.3}; plan peak {} bytes, arena {} bytes, high-water mark {} bytes; output {} bytes -> {} ({:.2} ms)",
        graph.name,
        plan.stages.len(),
        fused,
        plan.overhead,
        plan.peak_ram_bytes,
        runner.arena().len(),
        stats.high_water,
        out.len(),
        a.output.display(),
        elapsed.as_secs_f64() * 1e3
    );
    Ok(())
}
