//! Paper mode on the reference's three chains, built by hand (msf_plan::synth): the figures the
//! reference implementation prints (issue 4), derived from the method, not stored.

use msf_plan::{plan, synth, Constraint, Mode, Options, RamMetric};

fn p1(g: &msf_model::Graph, f: Option<f64>) -> (u64, f64, u64) {
    let constraint = match f {
        Some(max_overhead) => Constraint::MaxOverhead { max_overhead },
        None => Constraint::MinRam,
    };
    let opts = Options { mode: Mode::Paper, metric: RamMetric::IoExcluded, constraint, pareto: false };
    let p = plan(g, &opts).expect("plans");
    (p.peak_ram_bytes_io_excluded, p.overhead, p.vanilla_macs)
}

fn check(g: msf_model::Graph, want: [(u64, f64); 3], vanilla: u64) {
    for (f, (bytes, ov)) in [Some(1.1), Some(1.3), None].into_iter().zip(want) {
        let (b, o, v) = p1(&g, f);
        assert_eq!(v, vanilla, "{} vanilla MACs", g.name);
        assert_eq!(b, bytes, "{} F<={f:?}: bytes", g.name);
        assert!((o - ov).abs() < 0.01, "{} F<={f:?}: F = {o}, want {ov}", g.name);
    }
}

#[test]
fn mbv2_chain() {
    check(synth::paper_mbv2_w035_144(), [(67905, 1.097), (21288, 1.298), (7887, 1.679)], 18909490);
}

#[test]
fn vww_chain() {
    check(synth::paper_mcunet_vww1_80(), [(32792, 1.039), (17760, 1.296), (12000, 1.957)], 11578496);
}

#[test]
fn in3_chain() {
    check(synth::paper_mcunet_in3_176(), [(190096, 1.041), (186032, 1.251), (42643, 2.695)], 81625520);
}
