//! The fusion DAG and the optimisers.
//!
//! Node c (0..=N) is the cut before op c; an edge c -> d+1 runs ops c..=d as one stage, with one
//! edge per way of running it (single layer, or a fused block with a given cache mode and band
//! height), so one search weighs every choice. Edges are kept sorted by source; the DAG is
//! already topologically ordered, so a shortest path is one forward sweep (no heap needed).
//!
//! Path cost: RAM = max over its edges, MACs = sum. The Pareto front is found by the
//! threshold sweep of the paper's P1, but jumping straight from one front point to the next:
//! the MAC-shortest path (ties broken by lower peak) among edges under the threshold is a front
//! point; the next threshold is just below its peak. One sweep per front point: O(points x E).

use serde::{Deserialize, Serialize};

/// How a stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EdgeKind {
    /// One op, whole input(s) and output(s) in RAM.
    Layer,
    /// The paper's fused block: 1-pixel output tiles, horizontal cache.
    Paper,
    /// Fused, bands of `rows` output rows, column walk with a horizontal cache.
    HCache { rows: usize },
    /// Fused, one output row at a time, full-width line buffers (2D cache, no recompute).
    LineBuffer,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// RAM with the network input/output counted, bytes.
    pub ram: u64,
    /// RAM with them left out, bytes.
    pub ram_ex: u64,
    pub macs: u64,
    pub kind: EdgeKind,
}

/// Which RAM figure the optimiser minimises / bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RamMetric {
    /// Every buffer, network input and output included.
    #[default]
    IoIncluded,
    /// The paper's convention: network input and output left out.
    IoExcluded,
}

impl RamMetric {
    pub fn label(self) -> &'static str {
        match self {
            RamMetric::IoIncluded => "network input and output included",
            RamMetric::IoExcluded => "network input and output excluded",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Dag {
    pub nodes: usize,
    /// Sorted by `from`.
    pub edges: Vec<Edge>,
    /// `start[c]..start[c+1]` are the edges leaving node c.
    start: Vec<usize>,
}

/// A path and its cost.
#[derive(Debug, Clone, PartialEq)]
pub struct PathCost {
    pub edges: Vec<usize>,
    pub peak: u64,
    pub peak_ram: u64,
    pub peak_ram_ex: u64,
    pub macs: u64,
}

impl Dag {
    pub fn new(nodes: usize, mut edges: Vec<Edge>) -> Dag {
        edges.sort_by_key(|e| (e.from, e.to));
        let mut start = vec![0; nodes + 1];
        for e in &edges {
            start[e.from + 1] += 1;
        }
        for c in 0..nodes {
            start[c + 1] += start[c];
        }
        Dag { nodes, edges, start }
    }

    fn key(e: &Edge, m: RamMetric) -> u64 {
        match m {
            RamMetric::IoIncluded => e.ram,
            RamMetric::IoExcluded => e.ram_ex,
        }
    }

    /// MAC-shortest path 0 -> N using only edges with RAM <= `limit`; ties go to the lower
    /// peak, then to the fewer stages. Lexicographic (sum, max) is monotone under extension,
    /// so the forward sweep is exact.
    pub fn shortest(&self, metric: RamMetric, limit: u64) -> Option<PathCost> {
        let n = self.nodes;
        let mut best: Vec<Option<(u64, u64, u32)>> = vec![None; n];
        let mut via = vec![usize::MAX; n];
        best[0] = Some((0, 0, 0));
        for c in 0..n - 1 {
            let Some((m, p, k)) = best[c] else { continue };
            for ei in self.start[c]..self.start[c + 1] {
                let e = &self.edges[ei];
                let r = Self::key(e, metric);
                if r > limit {
                    continue;
                }
                let cand = (m + e.macs, p.max(r), k + 1);
                if best[e.to].is_none_or(|b| cand < b) {
                    best[e.to] = Some(cand);
                    via[e.to] = ei;
                }
            }
        }
        let (macs, peak, _) = best[n - 1]?;
        let mut edges = Vec::new();
        let mut c = n - 1;
        while c != 0 {
            let ei = via[c];
            edges.push(ei);
            c = self.edges[ei].from;
        }
        edges.reverse();
        let peak_ram = edges.iter().map(|&e| self.edges[e].ram).max().unwrap_or(0);
        let peak_ram_ex = edges.iter().map(|&e| self.edges[e].ram_ex).max().unwrap_or(0);
        Some(PathCost { edges, peak, peak_ram, peak_ram_ex, macs })
    }

    /// The whole RAM/MACs Pareto front, by decreasing peak RAM (increasing MACs). Every
    /// point is non-dominated: peaks strictly decrease and MACs strictly increase.
    pub fn pareto(&self, metric: RamMetric) -> Vec<PathCost> {
        let mut front = Vec::new();
        let mut limit = u64::MAX;
        while let Some(p) = self.shortest(metric, limit) {
            let peak = p.peak;
            front.push(p);
            if peak == 0 {
                break;
            }
            limit = peak - 1;
        }
        front
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(from: usize, to: usize, ram: u64, macs: u64) -> Edge {
        Edge { from, to, ram, ram_ex: ram, macs, kind: EdgeKind::Layer }
    }

    /// Every path 0 -> N of a small DAG, by brute force: (peak, macs).
    fn all_paths(d: &Dag, c: usize, peak: u64, macs: u64, out: &mut Vec<(u64, u64)>) {
        if c == d.nodes - 1 {
            out.push((peak, macs));
            return;
        }
        for e in d.edges.iter().filter(|e| e.from == c) {
            all_paths(d, e.to, peak.max(e.ram), macs + e.macs, out);
        }
    }

    #[test]
    fn front_equals_brute_force_on_random_dags() {
        let mut seed = 12345u64;
        let mut rnd = |m: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        for _ in 0..200 {
            let n = 2 + rnd(6) as usize;
            let mut edges = Vec::new();
            for i in 0..n - 1 {
                // Always a layer edge, plus random parallel and skipping edges.
                edges.push(e(i, i + 1, 1 + rnd(50), 1 + rnd(50)));
                for _ in 0..rnd(4) {
                    let to = i + 1 + rnd((n - 1 - i) as u64) as usize;
                    edges.push(e(i, to, 1 + rnd(50), 1 + rnd(50)));
                }
            }
            let d = Dag::new(n, edges);
            let mut paths = Vec::new();
            all_paths(&d, 0, 0, 0, &mut paths);
            // The non-dominated set, by decreasing peak.
            let mut want: Vec<(u64, u64)> = paths
                .iter()
                .filter(|p| !paths.iter().any(|q| q.0 <= p.0 && q.1 <= p.1 && (q.0 < p.0 || q.1 < p.1)))
                .copied()
                .collect();
            want.sort_unstable_by_key(|p| std::cmp::Reverse(p.0));
            want.dedup();
            let got: Vec<(u64, u64)> = d.pareto(RamMetric::IoIncluded).iter().map(|p| (p.peak, p.macs)).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn front_of_a_small_dag() {
        // 0 -> 1 -> 2 layer by layer (RAM 10, 8; MACs 5, 5) or fused 0 -> 2 (RAM 4, MACs 14),
        // or 0 -> 1 (RAM 6, MACs 7) then 1 -> 2.
        let d = Dag::new(3, vec![e(0, 1, 10, 5), e(1, 2, 8, 5), e(0, 2, 4, 14), e(0, 1, 6, 7)]);
        let f = d.pareto(RamMetric::IoIncluded);
        let pts: Vec<(u64, u64)> = f.iter().map(|p| (p.peak, p.macs)).collect();
        assert_eq!(pts, vec![(10, 10), (8, 12), (4, 14)]);
        // P2 with budget 9: the (8, 12) path.
        assert_eq!(d.shortest(RamMetric::IoIncluded, 9).unwrap().macs, 12);
        assert!(d.shortest(RamMetric::IoIncluded, 3).is_none());
    }
}
