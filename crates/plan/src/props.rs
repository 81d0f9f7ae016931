//! Property checks of the planner's answers (issue 11, "budgets are exact"), shared by this
//! crate's tests on random graphs and the corpus tests (feature `test-util`).

use crate::{layer_by_layer, Constraint, Mode, Options, ParetoPoint, Plan, PlanError, Planner, RamMetric};
use msf_model::Graph;

fn key(m: RamMetric, p: &ParetoPoint) -> u64 {
    match m {
        RamMetric::IoIncluded => p.peak_ram_bytes,
        RamMetric::IoExcluded => p.peak_ram_bytes_io_excluded,
    }
}

fn figure(m: RamMetric, p: &Plan) -> u64 {
    match m {
        RamMetric::IoIncluded => p.arena_size as u64,
        RamMetric::IoExcluded => p.peak_ram_bytes_io_excluded,
    }
}

/// Every property of issue 11 on one graph, in both metrics: the front is strictly monotone in
/// the built Plans' figures (I/O included: the placed arena); each point is the answer at its
/// own budget; `MinRam` is the front's last point and never above [`layer_by_layer`]'s arena;
/// for every budget on a grid from below the least figure to above the largest, the answer's
/// figure is within the budget and the front's cheapest there, or a refusal naming the least
/// figure (> the budget, reached by the `MinRam` Plan); P1 on a grid of bounds. Panics with the
/// graph's name. Returns the number of metrics whose placed front has another number of points than the
/// stage-sum front (`Dag::pareto`): how often placement changed the front.
pub fn check_exact(g: &Graph) -> usize {
    let planner = Planner::new(g, Mode::Full).expect("plans");
    let ctx = &g.name;
    let solve = |m: RamMetric, c: Constraint| planner.solve(c, m).map(|path| planner.build(&g.name, &path, &Options { mode: Mode::Full, metric: m, constraint: c, pareto: false }));
    let lbl = layer_by_layer(g);
    let mut reranked = 0;
    for m in [RamMetric::IoIncluded, RamMetric::IoExcluded] {
        let front = planner.pareto_points(m);
        assert!(!front.is_empty(), "{ctx}");
        // Strictly monotone in the built Plans' figures.
        for w in front.windows(2) {
            assert!(key(m, &w[0]) > key(m, &w[1]) && w[0].macs < w[1].macs, "{ctx} {m:?}: front not monotone: {front:?}");
        }
        let stage_front = planner.dag.pareto(m);
        if stage_front.len() != front.len() {
            reranked += 1;
        }
        // Every point is the figure of the Plan asked for at its own budget.
        for q in &front {
            let p = solve(m, Constraint::RamBudget { ram_bytes: key(m, q) }).expect("a front point's own budget");
            assert_eq!((figure(m, &p), p.macs, p.stages.len()), (key(m, q), q.macs, q.stages), "{ctx} {m:?}");
            assert_eq!(p.peak_ram_bytes, p.arena_size as u64);
            assert_eq!(p.arena_size as u64, q.peak_ram_bytes, "{ctx} {m:?}: the point's arena");
        }
        let least = key(m, front.last().unwrap());
        let most = key(m, &front[0]);
        // MinRam: the front's last point, never above layer by layer (I/O included).
        let min_ram = solve(m, Constraint::MinRam).expect("min RAM");
        assert_eq!((figure(m, &min_ram), min_ram.macs), (least, front.last().unwrap().macs), "{ctx} {m:?}");
        if m == RamMetric::IoIncluded {
            assert!(min_ram.arena_size <= lbl.arena_size, "{ctx}: min RAM arena {} > layer by layer {}", min_ram.arena_size, lbl.arena_size);
        }
        let min_macs = solve(m, Constraint::MinMacs).expect("min MACs");
        assert_eq!((figure(m, &min_macs), min_macs.macs), (most, front[0].macs), "{ctx} {m:?}");
        // P2 on a grid of budgets from below the least figure to above the largest, and at
        // every point's figure and one byte below it.
        let span = most - least;
        let mut budgets: Vec<u64> = (0..=24u64).map(|k| (least + span * k / 16).saturating_sub(span / 4 + 16)).collect();
        budgets.extend(front.iter().flat_map(|q| [key(m, q), key(m, q).saturating_sub(1), key(m, q) + 1]));
        for b in budgets {
            let want = front.iter().filter(|q| key(m, q) <= b).map(|q| q.macs).min();
            match solve(m, Constraint::RamBudget { ram_bytes: b }) {
                Ok(p) => {
                    assert!(figure(m, &p) <= b, "{ctx} {m:?}: budget {b}, answer {}", figure(m, &p));
                    assert_eq!(Some(p.macs), want, "{ctx} {m:?}: budget {b}");
                }
                Err(PlanError::RamUnreachable { best, budget, metric }) => {
                    assert_eq!((budget, metric, want), (b, m, None), "{ctx}");
                    assert!(best > b && best == least, "{ctx} {m:?}: refusal at {b} names {best}, least {least}");
                }
                Err(e) => panic!("{ctx}: {e}"),
            }
        }
        // P1 on a grid of bounds: within the bound, the least figure the front has there.
        for f in [1.0, 1.01, 1.05, 1.1, 1.3, 1.6, 2.0, 4.0] {
            let limit = f * planner.vanilla_macs as f64;
            let want = front.iter().filter(|q| q.macs as f64 <= limit).map(|q| key(m, q)).min();
            match solve(m, Constraint::MaxOverhead { max_overhead: f }) {
                Ok(p) => {
                    assert!(p.macs as f64 <= limit, "{ctx}");
                    assert_eq!(Some(figure(m, &p)), want, "{ctx} {m:?} F<={f}");
                }
                Err(PlanError::OverheadUnreachable { .. }) => assert_eq!(want, None, "{ctx}"),
                Err(e) => panic!("{ctx}: {e}"),
            }
        }
    }
    reranked
}

