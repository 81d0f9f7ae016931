//! Paper mode: the cost model of the msf-CNN reference implementation (TinyPART/msf-CNN,
//! analysis/building_blocks.py), reproduced so its published figures come out to the byte.
//!
//! Its conventions, all reproduced here:
//! - a fused block produces a 1x1 output pixel per iteration; walking backwards from it,
//!   `T <- (T-1)*s + k`, `S <- S*s` gives the input tile T and the tile stride S;
//! - padding is symmetric, `(k-1)/2` for SAME, 0 for VALID;
//! - a block is infeasible when its input tile exceeds its input map;
//! - RAM of a fused block = whole block input + whole block output + for every layer a
//!   horizontal cache of `k * t * C_in` elements, where `t` is the height of the tile entering
//!   that layer *for the last (bottom-right) tile of the walk*: border tiles grow by the padding
//!   of each border they touch (the reference measures the buffers after its tile loop);
//! - RAM of a single layer = input + output;
//! - the network input is left out of edges leaving node 0, the output out of edges into N;
//! - MACs of a fused block: per layer `outer_h * outer_w * inner_h * C_out * M` (only vertical
//!   recompute; `outer_w` is the layer's own output width), tile and tile stride shrinking layer
//!   by layer.

/// Geometry of one layer as the paper sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaperLayer {
    pub k: usize,
    pub s: usize,
    pub p: usize,
    /// Input height and width, input channels, output height/width/channels.
    pub h_in: usize,
    pub w_in: usize,
    pub c_in: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub c_out: usize,
    /// MACs per output element: C_in*k^2 for a convolution, k^2 for depthwise or pooling.
    pub mac_per_elem: u64,
}

/// Input tile and tile stride of a block producing one output pixel.
pub fn tile_and_stride(layers: &[PaperLayer]) -> (usize, usize) {
    let (mut t, mut s) = (1usize, 1usize);
    for l in layers.iter().rev() {
        t = (t - 1) * l.s + l.k;
        s *= l.s;
    }
    (t, s)
}

/// Python's floor division on signed values (the reference's `//`).
fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

/// Heights of the tile entering each layer for the last tile of the reference's walk.
/// `T`, `S` from [`tile_and_stride`]; the walk visits `i = 0, S, 2S, ... <= H - T`.
pub fn last_tile_rows(layers: &[PaperLayer], t: usize, s: usize) -> Vec<usize> {
    let h0 = layers[0].h_in as i64;
    let last_i = floor_div(h0 - t as i64, s as i64) * s as i64;
    let mut rows = Vec::with_capacity(layers.len());
    let mut tile = t as i64;
    let mut s_cum = 1i64;
    for l in layers {
        rows.push(tile.max(0) as usize);
        s_cum *= l.s as i64;
        // The reference places the layer's tile at row i // (stride product up to and
        // including this layer), and adds padding at each map border the tile touches.
        let i_h = floor_div(last_i, s_cum);
        let mut out = tile - l.k as i64;
        if i_h == 0 {
            out += l.p as i64;
        }
        if i_h + tile >= l.h_in as i64 {
            out += l.p as i64;
        }
        tile = floor_div(out, l.s as i64) + 1;
    }
    rows
}

/// MACs of a fused block (the reference's `total_fusion_mac`).
pub fn block_macs(layers: &[PaperLayer], t: usize, s: usize) -> u64 {
    let mut tile = t as i64;
    let mut stride = s as i64;
    let mut total = 0i64;
    for l in layers {
        let (k, ls, p) = (l.k as i64, l.s as i64, l.p as i64);
        let outer_h = floor_div(l.h_in as i64 + 2 * p - tile, stride) + 1;
        let outer_w = floor_div(l.w_in as i64 + 2 * p - k, ls) + 1;
        let inner_h = floor_div(tile - k, ls) + 1;
        total += outer_h * outer_w * inner_h * l.c_out as i64 * l.mac_per_elem as i64;
        tile = floor_div(tile - k, ls) + 1;
        stride = floor_div(stride, ls);
    }
    total.max(0) as u64
}

/// Cost of one paper-mode edge, in elements (bytes for int8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperCost {
    /// RAM with the network input/output left out where the reference leaves them out.
    pub ram_io_excluded: u64,
    /// RAM with everything counted.
    pub ram: u64,
    pub macs: u64,
    pub tile: usize,
    pub stride: usize,
    /// Per layer: tile rows entering it (last tile) and its cache size `k * rows * C_in`.
    pub rows: Vec<usize>,
    pub caches: Vec<u64>,
}

/// Cost of running `layers` (one or more) as one stage; `first`/`last` say whether the stage
/// starts at the network input / ends at the network output. `None` when infeasible.
pub fn edge_cost(layers: &[PaperLayer], first: bool, last: bool) -> Option<PaperCost> {
    let l0 = layers.first()?;
    let ln = layers.last()?;
    let in_size = (l0.h_in * l0.w_in * l0.c_in) as u64;
    let out_size = (ln.h_out * ln.w_out * ln.c_out) as u64;
    let (ram, macs, tile, stride, rows, caches) = if layers.len() == 1 {
        let macs = (l0.h_out * l0.w_out * l0.c_out) as u64 * l0.mac_per_elem;
        (in_size + out_size, macs, l0.k, l0.s, vec![l0.h_in], vec![])
    } else {
        let (t, s) = tile_and_stride(layers);
        if t > l0.h_in || t > l0.w_in {
            return None;
        }
        let rows = last_tile_rows(layers, t, s);
        let caches: Vec<u64> = layers.iter().zip(&rows).map(|(l, &r)| (l.k * r * l.c_in) as u64).collect();
        let ram = caches.iter().sum::<u64>() + in_size + out_size;
        (ram, block_macs(layers, t, s), t, s, rows, caches)
    };
    let mut ex = ram;
    if first {
        ex -= in_size;
    }
    if last {
        ex -= out_size;
    }
    Some(PaperCost { ram_io_excluded: ex, ram, macs, tile, stride, rows, caches })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(k: usize, s: usize, h: usize, cin: usize, cout: usize) -> PaperLayer {
        let p = (k - 1) / 2;
        let ho = (h + 2 * p - k) / s + 1;
        PaperLayer { k, s, p, h_in: h, w_in: h, c_in: cin, h_out: ho, w_out: ho, c_out: cout, mac_per_elem: (cin * k * k) as u64 }
    }

    #[test]
    fn tile_of_3x3_then_1x1_then_3x3_s2() {
        // Backwards from 1 pixel: 3x3 s2 -> (1-1)*2+3 = 3; 1x1 -> (3-1)*1+1 = 3; 3x3 s1 -> 5.
        let l = [conv(3, 1, 16, 4, 4), conv(1, 1, 16, 4, 8), conv(3, 2, 16, 8, 8)];
        assert_eq!(tile_and_stride(&l), (5, 2));
    }

    #[test]
    fn last_tile_grows_at_the_bottom_border() {
        // Two 3x3 s1 p1 layers on an 8-row map: T = 5, S = 1, last tile at i = 3.
        // Layer 0: i_h = 3, 3 + 5 >= 8 -> bottom border: out = 5 - 3 + 1 = 3, //1 + 1 = 4.
        // Layer 1: enters with 4 rows.
        let l = [conv(3, 1, 8, 2, 2), conv(3, 1, 8, 2, 2)];
        assert_eq!(last_tile_rows(&l, 5, 1), vec![5, 4]);
        // Caches: 3*5*2 + 3*4*2 = 54; plus in 128 + out 128.
        let c = edge_cost(&l, false, false).unwrap();
        assert_eq!(c.ram, 54 + 128 + 128);
        assert_eq!(edge_cost(&l, true, true).unwrap().ram_io_excluded, 54);
    }

    #[test]
    fn block_macs_hand_worked() {
        // Two 3x3 s1 p1 convs, 8x8, 2->2 channels, T=5, S=1.
        // Layer 0: outer_h = (8+2-5)/1+1 = 6, outer_w = (8+2-3)/1+1 = 8, inner_h = 3: 6*8*3*2*18 = 5184.
        // Layer 1: tile 3, outer_h = (8+2-3)+1 = 8, outer_w = 8, inner_h = 1: 8*8*1*2*18 = 2304.
        let l = [conv(3, 1, 8, 2, 2), conv(3, 1, 8, 2, 2)];
        assert_eq!(block_macs(&l, 5, 1), 5184 + 2304);
    }

    #[test]
    fn oversized_tile_is_infeasible() {
        let l = [conv(3, 1, 4, 1, 1), conv(3, 1, 4, 1, 1), conv(3, 1, 4, 1, 1)];
        // T = 7 > 4.
        assert!(edge_cost(&l, false, false).is_none());
    }
}
