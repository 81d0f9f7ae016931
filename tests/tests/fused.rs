//! The fused executor (msf_runtime::fused, lowered by msf_exec::compile_plan) runs every plan of
//! the planner's Pareto front byte-identical to layer-by-layer execution and to the reference
//! output, in an arena of exactly the plan's size, never writing above the plan's peak.

use msf_exec::{Kernels, PlanRunner};
use msf_model::{DType, Graph};
use msf_plan::{Constraint, Mode, Options, Plan, Planner, RamMetric, StageKind};
use msf_tests::{corpus, models_dir};

struct Model {
    name: String,
    g: Graph,
    input: Vec<u8>,
    want: Vec<u8>,
    kernels: Kernels,
}

fn load(path: &std::path::Path) -> Model {
    let name = path.file_stem().unwrap().to_str().unwrap().to_string();
    let dir = models_dir();
    let g = msf_model::load(&std::fs::read(path).unwrap(), &name).unwrap();
    let input = std::fs::read(dir.join(format!("{name}.input.bin"))).unwrap();
    let want = std::fs::read(dir.join(format!("{name}.output.bin"))).unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    // As tests/golden.rs: two goldens come from LiteRT's optimized kernels.
    let kernels = if meta["reference"].as_str().unwrap_or("").contains("BUILTIN_WITHOUT_DEFAULT_DELEGATES") { Kernels::Optimized } else { Kernels::Reference };
    Model { name, g, input, want, kernels }
}

/// Plans for the points of the front: the least-MACs plan within each point's peak is that point.
fn front_plans(m: &Model, max_points: usize) -> Vec<Plan> {
    let planner = Planner::new(&m.g, Mode::Full).unwrap();
    let front = planner.pareto_points(RamMetric::IoIncluded);
    let pick: Vec<usize> = if front.len() <= max_points {
        (0..front.len()).collect()
    } else {
        // A spread including both ends.
        let mut v: Vec<usize> = (0..max_points).map(|k| k * (front.len() - 1) / (max_points - 1)).collect();
        v.dedup();
        v
    };
    pick.iter()
        .map(|&i| {
            let c = Constraint::RamBudget { ram_bytes: front[i].peak_ram_bytes };
            let opts = Options { mode: Mode::Full, metric: RamMetric::IoIncluded, constraint: c, pareto: false };
            let path = planner.solve(c, RamMetric::IoIncluded).unwrap();
            let p = planner.build(&m.g.name, &path, &opts);
            assert_eq!(p.macs, front[i].macs, "{}: point {i}", m.name);
            p
        })
        .collect()
}

/// Run `plan`; returns a description of what differs (empty = identical).
fn check(m: &Model, plan: &Plan, layer_out: &[u8]) -> Vec<String> {
    let mut r = PlanRunner::new(&m.g, plan, m.kernels).unwrap_or_else(|e| panic!("{}: compile_plan: {e}", m.name));
    assert_eq!(r.arena().len(), plan.arena_size, "{}: arena is the plan's size", m.name);
    r.set_input(&m.input).unwrap();
    let st = r.run().unwrap_or_else(|e| panic!("{}: fused run (F={:.3}, {} B): {e}", m.name, plan.overhead, plan.arena_size));
    let out = r.output();
    let mut bad = Vec::new();
    // Every access is a checked slice of its own planned buffer; the highest byte written is the
    // top of the plan's arena: the predicted peak.
    assert!(st.high_water <= plan.arena_size, "{}: wrote up to {} above the arena {}", m.name, st.high_water, plan.arena_size);
    if st.high_water != plan.arena_size || plan.arena_size as u64 != plan.peak_ram_bytes {
        bad.push(format!("high-water mark {} vs plan arena {}", st.high_water, plan.arena_size));
    }
    let float = m.g.tensors[m.g.outputs[0]].dtype == DType::Float32;
    // A float MEAN/FC tail over bands of several rows sums the root in column-major order
    // within each band (row-major would need the whole band): float addition is not
    // associative, so those outputs may differ in the last bits. Everything else, and every
    // int8 plan, must be byte-identical.
    let reordered = float && plan.stages.iter().any(|s| s.iterative_tail && s.band_rows > 1 && s.kind == StageKind::Fused);
    if out != layer_out {
        if reordered {
            let f = |b: &[u8]| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<f32>>();
            let (a, b) = (f(&out), f(layer_out));
            let max = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            let err = a.iter().zip(&b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            if err > 1e-5 * max {
                bad.push(format!("float output error {err} > 1e-5 x {max}"));
            }
        } else {
            bad.push(format!("output differs from layer-by-layer ({} bytes differ)", out.iter().zip(layer_out).filter(|(a, b)| a != b).count()));
        }
    }
    if !float && out != m.want {
        bad.push("output differs from the golden".into());
    }
    bad
}

fn describe(p: &Plan) -> String {
    let fused: Vec<String> = p
        .stages
        .iter()
        .filter(|s| s.kind == StageKind::Fused)
        .map(|s| format!("{}..={} {:?}{}", s.first_op, s.last_op, s.exec, if s.iterative_tail { " +mean" } else { "" }))
        .collect();
    format!("F={:.3} peak={} [{}]", p.overhead, p.peak_ram_bytes, fused.join(", "))
}

fn run_models(filter: impl Fn(&str) -> bool, max_points: usize) {
    let only = std::env::var("MSF_FUSED_MODEL").ok();
    let mut failures = Vec::new();
    let mut runs = 0;
    for path in corpus() {
        let m = load(&path);
        if !filter(&m.name) || only.as_ref().is_some_and(|o| !m.name.contains(o.as_str())) {
            continue;
        }
        let layer_out = msf_exec::run_with(&m.g, m.kernels, &m.input, None).unwrap();
        for p in front_plans(&m, max_points) {
            let bad = check(&m, &p, &layer_out);
            runs += 1;
            eprintln!("{} {}: {}", m.name, describe(&p), if bad.is_empty() { "identical".into() } else { bad.join("; ") });
            if !bad.is_empty() {
                failures.push(format!("{} {}: {}", m.name, describe(&p), bad.join("; ")));
            }
        }
    }
    assert!(runs > 0, "no plan ran");
    assert!(failures.is_empty(), "{} of {runs} plans differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn small_models_every_pareto_point() {
    run_models(|n| n.starts_with("tiny_cnn") || n.contains("small_cnn") || n.starts_with("float_cnn"), usize::MAX);
}

#[test]
fn larger_models_spread_of_the_front() {
    // Six points from minimum RAM to minimum MACs (debug-build time).
    run_models(|n| !(n.starts_with("tiny_cnn") || n.contains("small_cnn") || n.starts_with("float_cnn")), 6);
}
