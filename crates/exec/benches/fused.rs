//! `cargo bench -p msf-exec --bench fused [FILTER]`: per corpus model and per point of its
//! Pareto front (up to 6, from least RAM to least MACs), the host time of the fused plan
//! relative to the layer-by-layer run, beside the planner's predicted overhead F (MACs ratio).
//! Prints a markdown table (written up in the README, "Fused execution (issue 5)").
//!
//! Time is the thread's CPU time per inference (CLOCK_THREAD_CPUTIME_ID), the minimum of
//! repeated runs (the machine is shared; see benches/corpus.rs).

use msf_exec::{PlanRunner, Runner};
use msf_plan::{Constraint, Mode, Options, Planner, RamMetric, StageKind};

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}
extern "C" {
    fn clock_gettime(id: i32, ts: *mut Timespec) -> i32;
}
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

fn thread_cpu() -> f64 {
    let mut t = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into valid memory; libc is linked by std.
    unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.sec as f64 + t.nsec as f64 * 1e-9
}

/// Minimum CPU seconds of `f` over at least 3 runs and up to ~`budget` seconds.
fn min_time(mut f: impl FnMut(), budget: f64) -> f64 {
    f();
    let start = thread_cpu();
    let mut best = f64::INFINITY;
    let mut n = 0;
    while n < 3 || (thread_cpu() - start < budget && n < 100) {
        let t = thread_cpu();
        f();
        best = best.min(thread_cpu() - t);
        n += 1;
    }
    best
}

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models");
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let budget: f64 = std::env::var("MSF_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(0.6);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/models")
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("tflite" | "onnx")))
        .collect();
    paths.sort();
    println!("| model | peak RAM (B) | layer-by-layer arena (B) | fused stages (band rows) | predicted F | measured time ratio | fused ms | layer ms | pixels computed |");
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|");
    for p in paths {
        let name = p.file_stem().unwrap().to_str().unwrap().to_string();
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let g = msf_model::load(&std::fs::read(&p).unwrap(), &name).unwrap();
        let input = std::fs::read(dir.join(format!("{name}.input.bin"))).unwrap();
        let kernels = msf_tests::kernels(&name);
        let mut lr = Runner::with_kernels(&g, kernels).unwrap();
        lr.set_input(&input).unwrap();
        // The input is rewritten before every run: both arenas reuse its bytes once it is dead.
        let layer = min_time(
            || {
                lr.set_input(&input).unwrap();
                lr.run(None).unwrap()
            },
            budget,
        );
        let want = lr.output().unwrap();
        let planner = Planner::new(&g, Mode::Full).unwrap();
        let front = planner.pareto_points(RamMetric::IoIncluded);
        let k = front.len().min(6);
        let mut pick: Vec<usize> = (0..k).map(|i| if k == 1 { 0 } else { i * (front.len() - 1) / (k - 1) }).collect();
        pick.dedup();
        for i in pick {
            let c = Constraint::RamBudget { ram_bytes: front[i].peak_ram_bytes };
            let path = planner.solve(c, RamMetric::IoIncluded).unwrap();
            let plan = planner.build(&g.name, &path, &Options { mode: Mode::Full, metric: RamMetric::IoIncluded, constraint: c, pareto: false });
            let mut fr = PlanRunner::new(&g, &plan, kernels).unwrap();
            fr.set_input(&input).unwrap();
            let st = fr.run().unwrap();
            let fused = min_time(
                || {
                    fr.set_input(&input).unwrap();
                    let _ = fr.run().unwrap();
                },
                budget,
            );
            let out = fr.output().unwrap();
            if g.tensors[g.outputs[0]].dtype == msf_model::DType::Float32 {
                // A float MEAN tail over multi-row bands sums in another order (last bits).
                let f = |b: &[u8]| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<f32>>();
                let (a, b) = (f(&out), f(&want));
                let max = b.iter().fold(0f32, |m, v| m.max(v.abs()));
                assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-5 * max), "{name}: fused output differs");
            } else {
                assert_eq!(out, want, "{name}: fused output differs");
            }
            let stages: Vec<String> = plan
                .stages
                .iter()
                .filter(|s| s.kind == StageKind::Fused)
                .map(|s| format!("{}-{} ({})", s.first_op, s.last_op, s.band_rows))
                .collect();
            println!(
                "| {name} | {} | {} | {} | {:.3} | {:.3} | {:.2} | {:.2} | {} |",
                plan.peak_ram_bytes,
                lr.compiled.arena_size,
                stages.join(", "),
                plan.overhead,
                fused / layer,
                fused * 1e3,
                layer * 1e3,
                st.pixels
            );
        }
    }
}
