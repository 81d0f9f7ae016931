//! Static arena placement: every buffer gets a fixed byte offset in one arena, so that buffers
//! alive at the same time never overlap. Greedy by size (largest first, each at the lowest
//! offset that fits beside the already-placed buffers whose lifetimes intersect its own), the
//! baseline TFLite Micro's planner uses too.

use serde::{Deserialize, Serialize};

/// Every offset is a multiple of this, so an int32/f32 view of any buffer is aligned.
pub const ARENA_ALIGN: usize = 16;

/// A buffer to place: its size and the inclusive range of steps during which it is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferLife {
    pub size: usize,
    pub first: usize,
    pub last: usize,
}

/// Offsets (same order as `buffers`) and the arena size they need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub offsets: Vec<usize>,
    pub arena_size: usize,
}

fn align_up(x: usize) -> usize {
    x.div_ceil(ARENA_ALIGN) * ARENA_ALIGN
}

/// Place `buffers` greedily by size. Ties keep the input order, so the result is deterministic.
pub fn place(buffers: &[BufferLife]) -> Placement {
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    order.sort_by(|&a, &b| buffers[b].size.cmp(&buffers[a].size).then(a.cmp(&b)));
    place_in_order(buffers, &order)
}

/// The smallest of a few greedy placements (by size; by lifetime length, then size; by size x
/// lifetime; by first use, then size; by last use, latest then earliest first; by first use,
/// latest first), stopping at `lower_bound` (the largest sum of buffers alive together, which
/// no placement beats). Greedy by size comes first and wins ties, so a plan it already places
/// tightly keeps its offsets. The last three orders (issue 11) halved the plans of random
/// graphs placed above their largest stage sum; the planner's answers do not rely on any
/// order reaching the bound (they use the arena placed here, [`crate::Planner::solve`]).
pub fn place_best(buffers: &[BufferLife], lower_bound: usize) -> Placement {
    let mut best = place(buffers);
    let len = |b: &BufferLife| b.last - b.first + 1;
    type Key<'a> = &'a dyn Fn(&BufferLife) -> (usize, usize);
    let keys: [Key; 6] = [
        &|b| (len(b), b.size),
        &|b| (b.size.saturating_mul(len(b)), b.size),
        &|b| (usize::MAX - b.first, b.size),
        &|b| (b.last, b.size),
        &|b| (usize::MAX - b.last, b.size),
        &|b| (b.first, b.size),
    ];
    for key in keys {
        if best.arena_size <= lower_bound {
            break;
        }
        let mut order: Vec<usize> = (0..buffers.len()).collect();
        order.sort_by(|&a, &b| key(&buffers[b]).cmp(&key(&buffers[a])).then(a.cmp(&b)));
        let p = place_in_order(buffers, &order);
        if p.arena_size < best.arena_size {
            best = p;
        }
    }
    best
}

fn place_in_order(buffers: &[BufferLife], order: &[usize]) -> Placement {
    let mut offsets = vec![0usize; buffers.len()];
    let mut placed: Vec<usize> = Vec::with_capacity(buffers.len());
    let mut arena_size = 0;
    for &i in order {
        let b = buffers[i];
        if b.size == 0 {
            placed.push(i);
            continue;
        }
        // Intervals already taken by buffers alive at the same time, sorted by offset.
        let mut taken: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| buffers[j].size > 0 && buffers[j].first <= b.last && b.first <= buffers[j].last)
            .map(|&j| (offsets[j], offsets[j] + buffers[j].size))
            .collect();
        taken.sort_unstable();
        let mut candidate = 0;
        for (start, end) in taken {
            if candidate + b.size <= start {
                break;
            }
            candidate = candidate.max(align_up(end));
        }
        offsets[i] = candidate;
        arena_size = arena_size.max(candidate + b.size);
        placed.push(i);
    }
    Placement { offsets, arena_size }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disjoint_lifetimes_share_offset_zero() {
        let p = place(&[BufferLife { size: 100, first: 0, last: 1 }, BufferLife { size: 50, first: 2, last: 3 }]);
        assert_eq!(p.offsets, vec![0, 0]);
        assert_eq!(p.arena_size, 100);
    }

    #[test]
    fn overlapping_lifetimes_stack_with_alignment() {
        // a(0..1, 100 B) and b(1..2, 50 B) overlap at step 1: b goes after a, at align_up(100) = 112.
        // c(2..2, 100 B) overlaps only b (112..162), and fits below it at 0.
        let p = place(&[
            BufferLife { size: 100, first: 0, last: 1 },
            BufferLife { size: 50, first: 1, last: 2 },
            BufferLife { size: 100, first: 2, last: 2 },
        ]);
        assert_eq!(p.offsets, vec![0, 112, 0]);
        assert_eq!(p.arena_size, 162);
    }

    #[test]
    fn a_gap_between_buffers_is_reused() {
        // Three buffers alive together except that the middle one ends early: the fourth fits
        // into its hole.
        let p = place(&[
            BufferLife { size: 64, first: 0, last: 3 },
            BufferLife { size: 32, first: 0, last: 0 },
            BufferLife { size: 64, first: 0, last: 3 },
            BufferLife { size: 32, first: 2, last: 3 },
        ]);
        assert_eq!(p.offsets, vec![0, 128, 64, 128]);
        assert_eq!(p.arena_size, 160);
    }
}
