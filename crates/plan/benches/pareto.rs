//! `cargo bench -p msf-plan`: planner timings and the figures quoted in the README
//! ("Planner (issue 4)"). Plain `std::time::Instant` harness: no extra dependency, and
//! the figures that matter (bytes, F) are deterministic; only the timings vary.
//!
//! Models are read from tests/models when the TFLite importer can load them, otherwise the
//! hand-built chains of msf_plan::synth are used (the same layer chains).

use msf_model::Graph;
use msf_plan::{plan, Constraint, Mode, Options, Planner, RamMetric};
use std::time::Instant;

fn load(name: &str) -> Option<Graph> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models").join(format!("{name}.tflite"));
    let bytes = std::fs::read(path).ok()?;
    msf_model::load(&bytes, name).ok()
}

fn model(name: &str) -> Graph {
    load(name).unwrap_or_else(|| match name {
        "paper_mbv2_w035_144_int8" => msf_plan::synth::paper_mbv2_w035_144(),
        "paper_mcunet_vww1_80_int8" => msf_plan::synth::paper_mcunet_vww1_80(),
        "paper_mcunet_in3_176_int8" => msf_plan::synth::paper_mcunet_in3_176(),
        _ => panic!("cannot load {name}"),
    })
}

/// Best (minimum) and median time of `f` over `n` runs, in milliseconds of on-CPU time where
/// the OS reports it (wall time otherwise): on a shared machine wall time counts other
/// processes' turns.
fn time<T>(n: usize, f: impl FnMut() -> T) -> String {
    let (best, median) = time2(n, f);
    format!("{best:.2} / {median:.2}")
}

/// Nanoseconds this thread has spent on a CPU (Linux: /proc/thread-self/schedstat), so the
/// figure does not count time the thread waited while other processes ran. None elsewhere.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn time2<T>(n: usize, mut f: impl FnMut() -> T) -> (f64, f64) {
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            // Repeat until at least 30 ms of wall time, so the kernel's CPU-time accounting
            // (updated at ticks and switches) is fine enough; report the time per call.
            let (t, c) = (Instant::now(), cpu_ns());
            let mut calls = 0u32;
            while calls == 0 || t.elapsed().as_secs_f64() < 0.03 {
                std::hint::black_box(f());
                calls += 1;
            }
            let ms = match (c, cpu_ns()) {
                (Some(a), Some(b)) => (b - a) as f64 / 1e6,
                _ => t.elapsed().as_secs_f64() * 1e3,
            };
            ms / calls as f64
        })
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    (v[0], v[n / 2])
}

fn p1(g: &Graph, mode: Mode, f: Option<f64>) -> (u64, u64, f64) {
    let constraint = f.map(|max_overhead| Constraint::MaxOverhead { max_overhead }).unwrap_or(Constraint::MinRam);
    let p = plan(g, &Options { mode, metric: RamMetric::IoExcluded, constraint, pareto: false }).expect("plans");
    (p.peak_ram_bytes_io_excluded, p.peak_ram_bytes, p.overhead)
}

fn main() {
    let chains = ["paper_mbv2_w035_144_int8", "paper_mcunet_vww1_80_int8", "paper_mcunet_in3_176_int8", "mbv2_w035_144_int8"];
    println!("## P1, optimised on the I/O-excluded peak (bytes; F in brackets; full mode also the whole arena)\n");
    println!("| model | F<=1.1 paper | F<=1.1 full (arena) | F<=1.3 paper | F<=1.3 full (arena) | F=inf paper | F=inf full (arena) |");
    println!("|---|---|---|---|---|---|---|");
    for name in chains {
        let g = model(name);
        let mut row = format!("| {name} |");
        for f in [Some(1.1), Some(1.3), None] {
            let paper = if name.starts_with("paper_") {
                let (ex, _, o) = p1(&g, Mode::Paper, f);
                format!(" {ex} ({o:.3}) |")
            } else {
                " n/a (residuals) |".into()
            };
            let (ex, arena, o) = p1(&g, Mode::Full, f);
            row += &format!("{paper} {ex} ({o:.3}) ({arena}) |");
        }
        println!("{row}");
    }
    println!("\n## Timings (ms of on-CPU time, one thread: best / median of 9 samples of >= 30 ms)\n");
    println!("| model | mode | build DAG | whole Pareto front (points) | DAG + front | DAG + front as plan points, I/O incl. (points) | DAG + P2 plan |");
    println!("|---|---|---|---|---|---|---|");
    for name in chains {
        let g = model(name);
        for mode in [Mode::Paper, Mode::Full] {
            if mode == Mode::Paper && !name.starts_with("paper_") {
                continue;
            }
            let build = time(9, || Planner::new(&g, mode).expect("plans"));
            let p = Planner::new(&g, mode).expect("plans");
            let points = p.dag.pareto(RamMetric::IoExcluded).len();
            let front = time(9, || p.dag.pareto(RamMetric::IoExcluded));
            let total = time(9, || Planner::new(&g, mode).expect("plans").dag.pareto(RamMetric::IoExcluded));
            // What the CLI, the page and the fit decision ask for: the front as ParetoPoints
            // (full mode: every point built and placed, its figure the placed arena), and one
            // P2 answer built into a Plan.
            let metric = if mode == Mode::Paper { RamMetric::IoExcluded } else { RamMetric::IoIncluded };
            let n_points = p.pareto_points(metric).len();
            let points_t = time(9, || Planner::new(&g, mode).expect("plans").pareto_points(metric));
            let budget = p.pareto_points(metric).iter().map(|q| if mode == Mode::Paper { q.peak_ram_bytes_io_excluded } else { q.peak_ram_bytes }).sum::<u64>() / n_points as u64;
            let c = Constraint::RamBudget { ram_bytes: budget };
            let p2 = time(9, || plan(&g, &Options { mode, metric, constraint: c, pareto: false }).expect("plans"));
            println!("| {name} | {mode:?} | {build} | {front} ({points}) | {total} | {points_t} ({n_points}) | {p2} |");
        }
    }
}
