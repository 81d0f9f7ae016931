//! Paper mode on the corpus's three layer chains (tests/models/paper_*.tflite): P1 reproduces
//! the msf-CNN reference implementation's figures (issue 4) to the byte, F to 0.01. The figures
//! are derived by the planner from the method; only the expected values live here.

use msf_plan::{plan, Constraint, Mode, Options, PlanError, RamMetric};

fn load(name: &str) -> msf_model::Graph {
    let bytes = std::fs::read(msf_tests::model(&format!("{name}.tflite"))).expect("corpus file");
    msf_model::load(&bytes, name).expect("imports")
}

fn paper(c: Constraint) -> Options {
    Options { mode: Mode::Paper, metric: RamMetric::IoExcluded, constraint: c, pareto: false }
}

fn check(name: &str, want: [(u64, f64); 3], vanilla: u64, vanilla_peak: u64) {
    let g = load(name);
    for (f, (bytes, ov)) in [Some(1.1), Some(1.3), None].into_iter().zip(want) {
        let c = f.map(|max_overhead| Constraint::MaxOverhead { max_overhead }).unwrap_or(Constraint::MinRam);
        let p = plan(&g, &paper(c)).expect("plans");
        assert_eq!(p.vanilla_macs, vanilla, "{name}: vanilla MACs");
        // The layer-by-layer ("vanilla") peak, I/O excluded (msf_plan::contract): 194.4 / 96.0 / 309.8 kB.
        assert_eq!(p.vanilla_peak_ram_bytes_io_excluded, vanilla_peak, "{name}: layer-by-layer peak");
        assert_eq!(p.peak_ram_bytes_io_excluded, bytes, "{name} F<={f:?}: peak bytes (I/O excluded)");
        assert!((p.overhead - ov).abs() < 0.01, "{name} F<={f:?}: F = {}, want {ov}", p.overhead);
        assert!(p.macs as f64 <= f.unwrap_or(f64::INFINITY) * vanilla as f64);
        // The arena holds the network input and output too, so it is larger.
        assert!(p.peak_ram_bytes >= p.peak_ram_bytes_io_excluded);
    }
}

#[test]
fn mbv2_w035_144() {
    check("paper_mbv2_w035_144_int8", [(67905, 1.097), (21288, 1.298), (7887, 1.679)], 18909490, 194400);
}

#[test]
fn mcunet_vww1_80() {
    check("paper_mcunet_vww1_80_int8", [(32792, 1.039), (17760, 1.296), (12000, 1.957)], 11578496, 96000);
}

#[test]
fn mcunet_in3_176() {
    check("paper_mcunet_in3_176_int8", [(190096, 1.041), (186032, 1.251), (42643, 2.695)], 81625520, 309760);
}

#[test]
fn paper_mode_front_contains_the_p1_points() {
    let g = load("paper_mcunet_vww1_80_int8");
    let front = msf_plan::pareto(&g, Mode::Paper, RamMetric::IoExcluded).expect("plans");
    for bytes in [32792, 17760, 12000] {
        assert!(front.iter().any(|p| p.peak_ram_bytes_io_excluded == bytes), "front misses {bytes}");
    }
    // The last point is the minimum-RAM one.
    assert_eq!(front.last().map(|p| p.peak_ram_bytes_io_excluded), Some(12000));
}

#[test]
fn paper_mode_rejects_residual_networks() {
    let g = load("mbv2_w035_144_int8");
    match plan(&g, &paper(Constraint::MinRam)) {
        Err(PlanError::NotAChain { index, op, .. }) => {
            assert!(!op.is_empty());
            assert!(index < g.ops.len());
        }
        other => panic!("expected NotAChain, got {other:?}"),
    }
}
