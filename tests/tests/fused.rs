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
    // Two goldens come from LiteRT's optimized kernels (msf_tests::kernels).
    let kernels = msf_tests::kernels(&name);
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
    // The network input is written into the arena by the caller, before the run.
    let (in_off, in_len) = r.compiled().placement[&m.g.inputs[0]];
    let st = msf_exec::Stats { high_water: st.high_water.max(in_off + in_len), ..st };
    let out = r.output().unwrap();
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
    let reordered = float && plan.stages.iter().any(|s| s.iterative_tail() && s.band_rows > 1 && s.kind == StageKind::Fused);
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
        .map(|s| format!("{}..={} {:?}{}", s.first_op, s.last_op, s.exec, if s.iterative_tail() { " +mean" } else { "" }))
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

/// A plan along an explicit DAG path (edge indices from node 0 to the last node).
fn plan_of_path(planner: &Planner, g: &Graph, edges: Vec<usize>) -> Plan {
    let e = &planner.dag.edges;
    let path = msf_plan::dag::PathCost {
        peak: edges.iter().map(|&i| e[i].ram).max().unwrap_or(0),
        peak_ram: edges.iter().map(|&i| e[i].ram).max().unwrap_or(0),
        peak_ram_ex: edges.iter().map(|&i| e[i].ram_ex).max().unwrap_or(0),
        macs: edges.iter().map(|&i| e[i].macs).sum(),
        edges,
    };
    let opts = Options { mode: Mode::Full, metric: RamMetric::IoIncluded, constraint: Constraint::MinMacs, pareto: false };
    planner.build(&g.name, &path, &opts)
}

/// The single-layer edge leaving node `c`.
fn layer_edge(planner: &Planner, c: usize) -> usize {
    planner.dag.edges.iter().position(|e| e.from == c && e.to == c + 1 && e.kind == msf_plan::EdgeKind::Layer).expect("a layer edge at every node")
}

fn splitmix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const SMALL: [&str; 4] = ["tiny_cnn_int8", "onnx_small_cnn_qdq_int8", "onnx_small_cnn_f32", "float_cnn_f32"];

#[test]
fn every_fused_edge_of_the_small_models_alone_and_every_line_buffer_edge() {
    // Each fused edge of the DAG (every block, every band height, line buffers) between layer
    // stages: all cache modes and tile sizes the planner can choose, not only the front's.
    let (mut runs, mut line) = (0, 0);
    let mut failures = Vec::new();
    // The larger models: their line-buffer edges only (rarely on a front, so run them here).
    for path in corpus() {
        let m = load(&path);
        let name = m.name.clone();
        let small = SMALL.contains(&name.as_str());
        let layer_out = msf_exec::run_with(&m.g, m.kernels, &m.input, None).unwrap();
        let planner = Planner::new(&m.g, Mode::Full).unwrap();
        let n = m.g.ops.len();
        for (ei, e) in planner.dag.edges.iter().enumerate() {
            if e.kind == msf_plan::EdgeKind::Layer || (!small && e.kind != msf_plan::EdgeKind::LineBuffer) {
                continue;
            }
            let mut path: Vec<usize> = (0..e.from).map(|c| layer_edge(&planner, c)).collect();
            path.push(ei);
            path.extend((e.to..n).map(|c| layer_edge(&planner, c)));
            let p = plan_of_path(&planner, &m.g, path);
            line += (e.kind == msf_plan::EdgeKind::LineBuffer) as usize;
            let bad = check(&m, &p, &layer_out);
            runs += 1;
            if !bad.is_empty() {
                failures.push(format!("{name} ops {}..{} {:?}: {}", e.from, e.to, e.kind, bad.join("; ")));
            }
        }
    }
    eprintln!("{runs} fused edges run ({line} line buffers)");
    assert!(runs > 50, "{runs} edges");
    assert!(failures.is_empty(), "{} of {runs} differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn random_plans_on_the_small_models() {
    // Random walks through the fusion DAG: random block boundaries, band heights and cache
    // modes, several fused stages per plan (deterministic seed).
    let mut seed = 0x5EED_F05E_D000_0001u64;
    let (mut runs, mut fused_stages) = (0, 0);
    let mut failures = Vec::new();
    for name in SMALL.iter().chain(&["paper_mcunet_vww1_80_int8"]) {
        let m = load(&msf_tests::model(&format!("{name}{}", if name.starts_with("onnx") { ".onnx" } else { ".tflite" })));
        let layer_out = msf_exec::run_with(&m.g, m.kernels, &m.input, None).unwrap();
        let planner = Planner::new(&m.g, Mode::Full).unwrap();
        let n = m.g.ops.len();
        for _ in 0..25 {
            let mut path = Vec::new();
            let mut c = 0;
            while c < n {
                let out: Vec<usize> = (0..planner.dag.edges.len()).filter(|&i| planner.dag.edges[i].from == c).collect();
                // Prefer fused edges 3:1 so plans hold several fused stages.
                let fused: Vec<usize> = out.iter().copied().filter(|&i| planner.dag.edges[i].kind != msf_plan::EdgeKind::Layer).collect();
                let pool = if !fused.is_empty() && !splitmix(&mut seed).is_multiple_of(4) { &fused } else { &out };
                let pick = pool[(splitmix(&mut seed) % pool.len() as u64) as usize];
                path.push(pick);
                c = planner.dag.edges[pick].to;
            }
            let p = plan_of_path(&planner, &m.g, path);
            fused_stages += p.stages.iter().filter(|s| s.kind == StageKind::Fused).count();
            let bad = check(&m, &p, &layer_out);
            runs += 1;
            if !bad.is_empty() {
                failures.push(format!("{name} {}: {}", describe(&p), bad.join("; ")));
            }
        }
    }
    eprintln!("{runs} random plans, {fused_stages} fused stages");
    assert!(fused_stages > runs, "random plans hold few fused stages");
    assert!(failures.is_empty(), "{} of {runs} differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn paper_mode_plans_are_refused_and_long_stages_typed() {
    let m = load(&msf_tests::model("paper_mcunet_vww1_80_int8.tflite"));
    let opts = Options { mode: Mode::Paper, metric: RamMetric::IoExcluded, constraint: Constraint::MinRam, pareto: false };
    let p = msf_plan::plan(&m.g, &opts).unwrap();
    let e = msf_exec::compile_plan(&m.g, &p, Kernels::Reference).unwrap_err();
    assert!(e.to_string().contains("paper-mode"), "{e}");
    // A plan for another graph is refused with the stage named, not run.
    let m = load(&msf_tests::model("tiny_cnn_int8.tflite"));
    let other = load(&msf_tests::model("mbv1_w025_96_int8.tflite"));
    let p = msf_plan::plan(&other.g, &Options::default()).unwrap();
    let e = msf_exec::compile_plan(&m.g, &p, Kernels::Reference).unwrap_err();
    assert!(e.to_string().contains("plan stage"), "{e}");
}

/// msf_plan::synth graphs with int8 quantisation and pseudo-random weights, so that the
/// runtime can run them (the synthetic graphs carry shapes only).
fn quantised(mut g: Graph, seed: u64) -> Graph {
    let mut s = seed;
    for t in g.tensors.iter_mut() {
        match (&t.dtype, t.data.as_mut()) {
            (DType::Int8, None) => t.quant = Some(msf_model::Quant::per_tensor(0.05, -3)),
            (DType::Int8, Some(d)) => {
                d.iter_mut().for_each(|b| *b = (splitmix(&mut s) % 61) as u8 ^ 0xE2);
                t.quant = Some(msf_model::Quant::per_tensor(0.004, 0));
            }
            (DType::Int32, Some(d)) => {
                for c in d.chunks_exact_mut(4) {
                    c.copy_from_slice(&((splitmix(&mut s) % 2001) as i32 - 1000).to_le_bytes());
                }
            }
            _ => {}
        }
    }
    g
}

#[test]
fn line_buffers_and_every_fused_edge_of_synthetic_nets() {
    // No corpus DAG keeps a line-buffer edge (H-cache bands dominate them there), so line
    // buffers, 5x5/7x7 kernels, strides, pools, residual joins and non-square maps are run
    // here on the walk simulator's graphs, quantised: every fused edge, then random plans.
    use msf_plan::synth::Builder;
    let mixed = quantised(msf_plan::synth::mixed_net(), 1);
    let mut b = Builder::new("residual", 16, 16, 3);
    b.conv(4, 3, 2);
    b.mbconv(4, 4, 2, 1, 3);
    let x = b.cur;
    b.mbconv(4, 4, 2, 1, 3);
    b.add(x);
    b.mbconv(4, 6, 2, 2, 3);
    let y = b.cur;
    b.mbconv(6, 6, 2, 1, 5);
    b.add(y);
    b.conv(8, 1, 1);
    b.mean();
    let residual = quantised(b.finish(), 2);
    let (mut runs, mut line) = (0, 0);
    let mut failures = Vec::new();
    for g in [mixed, residual] {
        let input: Vec<u8> = {
            let mut s = 7;
            (0..g.tensors[g.inputs[0]].byte_size()).map(|_| splitmix(&mut s) as u8).collect()
        };
        let m = Model { name: g.name.clone(), input, want: vec![], kernels: Kernels::Reference, g };
        let layer_out = msf_exec::run_with(&m.g, m.kernels, &m.input, None).unwrap();
        let planner = Planner::new(&m.g, Mode::Full).unwrap();
        let n = m.g.ops.len();
        let mut paths: Vec<Vec<usize>> = Vec::new();
        for (ei, e) in planner.dag.edges.iter().enumerate() {
            if e.kind == msf_plan::EdgeKind::Layer {
                continue;
            }
            let mut path: Vec<usize> = (0..e.from).map(|c| layer_edge(&planner, c)).collect();
            path.push(ei);
            path.extend((e.to..n).map(|c| layer_edge(&planner, c)));
            paths.push(path);
        }
        let mut seed = 99;
        for _ in 0..30 {
            let mut path = Vec::new();
            let mut c = 0;
            while c < n {
                let out: Vec<usize> = (0..planner.dag.edges.len()).filter(|&i| planner.dag.edges[i].from == c).collect();
                let pick = out[(splitmix(&mut seed) % out.len() as u64) as usize];
                path.push(pick);
                c = planner.dag.edges[pick].to;
            }
            paths.push(path);
        }
        for path in paths {
            line += path.iter().filter(|&&i| planner.dag.edges[i].kind == msf_plan::EdgeKind::LineBuffer).count();
            let p = plan_of_path(&planner, &m.g, path);
            // No golden here: the layer-by-layer run is the reference.
            let bad: Vec<String> = check(&m, &p, &layer_out).into_iter().filter(|b| !b.contains("golden")).collect();
            runs += 1;
            if !bad.is_empty() {
                failures.push(format!("{} {}: {}", m.name, describe(&p), bad.join("; ")));
            }
        }
    }
    eprintln!("{runs} synthetic plans, {line} line-buffer stages");
    assert!(runs > 100 && line > 10, "{runs} plans, {line} line-buffer stages");
    assert!(failures.is_empty(), "{} of {runs} differ:\n{}", failures.len(), failures.join("\n"));
}
