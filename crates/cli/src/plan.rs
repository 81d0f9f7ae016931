//! `msf plan MODEL [--ram 64k | --max-overhead 1.3] [--paper-mode] [--pareto] [--json]`:
//! plan fused execution and print the stages, the peak RAM and the compute overhead.

use crate::util::{constraint, load_model, parse_bytes};
use anyhow::{bail, Result};
use msf_plan::{plan, Constraint, Mode, Options, Plan, RamMetric, StageKind};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A .tflite or .onnx model.
    model: PathBuf,
    /// P2: least compute within this peak RAM (e.g. 64k, 320KiB, 65536).
    #[arg(long, value_parser = parse_bytes, conflicts_with = "max_overhead")]
    ram: Option<u64>,
    /// P1: least peak RAM with compute <= this factor x the unfused compute; `inf` asks for the
    /// minimum-RAM plan.
    #[arg(long, conflicts_with = "board")]
    max_overhead: Option<String>,
    /// P2 with the budget of a board from `msf boards`: its RAM minus the runtime's statics and
    /// the stack a fused firmware keeps free (the arena `msf emit` plans within).
    #[arg(long, conflicts_with = "ram")]
    board: Option<String>,
    /// The msf-CNN reference's cost model (layer chains only; I/O excluded; figures only).
    #[arg(long)]
    paper_mode: bool,
    /// Optimise the RAM with the network input and output left out (the paper's convention)
    /// instead of the whole arena.
    #[arg(long)]
    io_excluded: bool,
    /// Also print the whole RAM/compute Pareto front.
    #[arg(long)]
    pareto: bool,
    /// Print the Plan as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let graph = load_model(&a.model)?;
    let mode = if a.paper_mode { Mode::Paper } else { Mode::Full };
    let metric = if a.paper_mode || a.io_excluded { RamMetric::IoExcluded } else { RamMetric::IoIncluded };
    let constraint = match &a.board {
        // The decision `msf emit` and the page make (msf_codegen::fit): least compute within
        // the board's arena budget (RAM minus statics and the fused executor's stack), so a plan
        // shown here is one the board's firmware can hold; else layer by layer, or refused.
        Some(id) if mode == Mode::Full && metric == RamMetric::IoIncluded => {
            let b = msf_codegen::board(id)?;
            match msf_codegen::fit(&graph, b, None, false) {
                Ok(f) => match f.choice {
                    msf_codegen::Choice::Plan(ref p) => {
                        let mut p = p.clone();
                        if a.pareto {
                            p.pareto = msf_plan::pareto(&graph, mode, metric)?;
                        }
                        let on = Board { fit: &f, layer_stages: msf_plan::layer_by_layer(&graph).stages.len() };
                        if a.json {
                            let mut v = serde_json::to_value(&p)?;
                            v["firmware"] = on.firmware_json();
                            if let Some(front) = v.get_mut("pareto").and_then(|f| f.as_array_mut()) {
                                for (j, q) in front.iter_mut().zip(&p.pareto) {
                                    j["firmware_ram"] = on.point_ram(q).into();
                                }
                            }
                            println!("{}", serde_json::to_string_pretty(&v)?);
                        } else {
                            print_table(&p, Some(&on));
                        }
                        return Ok(());
                    }
                    _ => {
                        let line = format!("{} on {}: {}", graph.name, b.id, f.describe());
                        let on = Board { fit: &f, layer_stages: 0 };
                        if a.json {
                            let v = serde_json::json!({ "model": graph.name, "board": b.id, "layer_by_layer": { "arena": f.arena(), "ram_needed": f.ram_needed() }, "firmware": on.firmware_json(), "decision": line });
                            println!("{}", serde_json::to_string_pretty(&v)?);
                        } else {
                            println!("{line}");
                            println!("firmware on {}: {}", b.id, f.ram_line());
                        }
                        return Ok(());
                    }
                },
                Err(msf_codegen::FitError::Refused(r)) => bail!("{}", r.reason()),
                Err(e) => return Err(e.into()),
            }
        }
        // The paper's figures or the I/O-excluded metric: the board's arena budget as a RAM bound.
        Some(id) => Constraint::RamBudget { ram_bytes: msf_codegen::arena_budget(msf_codegen::board(id)?) },
        None => constraint(a.ram, a.max_overhead.as_deref())?.unwrap_or(Constraint::MinMacs),
    };
    let opts = Options { mode, metric, constraint, pareto: a.pareto };
    show(&plan(&graph, &opts)?, a.json)
}

fn show(p: &Plan, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(p)?);
    } else {
        print_table(p, None);
    }
    Ok(())
}

/// The board a plan was fitted to: its firmware's whole RAM (statics + arena + stack reserve),
/// msf_codegen's figure, for the plan and for each Pareto point.
struct Board<'a> {
    fit: &'a msf_codegen::Fit,
    /// Stages of the layer-by-layer plan: a front point with as many has no fused stage.
    layer_stages: usize,
}

impl Board<'_> {
    fn firmware_json(&self) -> serde_json::Value {
        let f = self.fit;
        let fused = f.plan().is_some_and(msf_codegen::fit::has_fused);
        let s = msf_codegen::stack_budget(f.board, fused);
        serde_json::json!({
            "board": f.board.id,
            "ram": f.ram_needed(),
            "statics": f.statics(),
            "arena": f.arena(),
            "stack": { "total": s.total, "runtime": s.runtime, "template": s.template, "interrupt_margin": s.margin, "runtime_measured": s.runtime_measured },
            "board_ram": f.board.ram,
            "fits": f.fits_ram(),
        })
    }

    /// A front point's firmware RAM: its peak (the largest stage sum) as the arena.
    fn point_ram(&self, q: &msf_plan::ParetoPoint) -> u64 {
        msf_codegen::fit::firmware_ram(self.fit.board, q.peak_ram_bytes, q.stages < self.layer_stages)
    }
}

fn kb(b: u64) -> String {
    format!("{:.1} kB", b as f64 / 1000.0)
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn print_table(p: &Plan, on: Option<&Board>) {
    let what = match p.constraint {
        Constraint::MaxOverhead { max_overhead } => format!("least peak RAM with F <= {max_overhead}"),
        Constraint::RamBudget { ram_bytes } => format!("least compute within {ram_bytes} bytes"),
        Constraint::MinRam => "least peak RAM".into(),
        Constraint::MinMacs => "least compute".into(),
    };
    println!("{}: {what}, RAM {} ({:?} mode)", p.model, p.metric.label(), p.mode);
    println!("{:>5}  {:>9}  {:<17} {:<22} {:>12} {:>12} {:>12}", "stage", "ops", "kind", "exec", "RAM", "RAM excl I/O", "MACs");
    for s in &p.stages {
        let ops = if s.first_op == s.last_op { format!("{}", s.first_op) } else { format!("{}-{}", s.first_op, s.last_op) };
        let kind = match s.kind {
            StageKind::Layer => s.layers.first().map(|l| l.op_name.clone()).unwrap_or_default(),
            StageKind::Fused => "fused".into(),
        };
        let exec = match s.exec {
            msf_plan::EdgeKind::Layer => "layer".to_string(),
            msf_plan::EdgeKind::Paper => format!("paper tile {}", s.tile.unwrap_or(0)),
            msf_plan::EdgeKind::HCache { rows } => format!("h-cache {rows} row(s)"),
            msf_plan::EdgeKind::LineBuffer => "line buffers".into(),
        };
        let exec = match s.tail {
            msf_plan::Tail::FlattenFc => format!("{exec} +flatten-fc"),
            msf_plan::Tail::Mean => format!("{exec} +mean"),
            msf_plan::Tail::None => exec,
        };
        println!("{:>5}  {:>9}  {:<17} {:<22} {:>12} {:>12} {:>12}", s.index, ops, truncate(&kind, 17), exec, s.ram_bytes, s.ram_bytes_io_excluded, s.macs);
    }
    println!();
    println!("peak RAM (arena, I/O included): {} bytes ({}), alignment {}", p.peak_ram_bytes, kb(p.peak_ram_bytes), p.arena_align);
    println!("peak RAM, I/O excluded:         {} bytes ({})", p.peak_ram_bytes_io_excluded, kb(p.peak_ram_bytes_io_excluded));
    println!("largest stage sum:              {} bytes", p.peak_stage_bytes);
    println!(
        "layer by layer:                 {} bytes ({}), I/O excluded {} bytes",
        p.vanilla_peak_ram_bytes,
        kb(p.vanilla_peak_ram_bytes),
        p.vanilla_peak_ram_bytes_io_excluded
    );
    println!("MACs: {} (vanilla {}), overhead F = {:.3}", p.macs, p.vanilla_macs, p.overhead);
    if let Some(on) = on {
        println!("firmware on {}: {} (board: {} B)", on.fit.board.id, on.fit.ram_line(), on.fit.board.ram);
    }
    if !p.pareto.is_empty() {
        println!();
        println!("Pareto front ({} points, RAM in the optimised metric):", p.pareto.len());
        match on {
            None => println!("{:>14} {:>14} {:>14} {:>8} {:>7}", "RAM", "RAM excl I/O", "MACs", "F", "stages"),
            Some(on) => println!(
                "{:>14} {:>14} {:>14} {:>8} {:>7} {:>14}   (firmware RAM on {} = statics + RAM + stack reserve)",
                "RAM", "RAM excl I/O", "MACs", "F", "stages", "firmware RAM", on.fit.board.id
            ),
        }
        for q in &p.pareto {
            match on {
                None => println!("{:>14} {:>14} {:>14} {:>8.3} {:>7}", q.peak_ram_bytes, q.peak_ram_bytes_io_excluded, q.macs, q.overhead, q.stages),
                Some(on) => println!(
                    "{:>14} {:>14} {:>14} {:>8.3} {:>7} {:>14}",
                    q.peak_ram_bytes,
                    q.peak_ram_bytes_io_excluded,
                    q.macs,
                    q.overhead,
                    q.stages,
                    on.point_ram(q)
                ),
            }
        }
    }
}
