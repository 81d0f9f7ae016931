//! The layer-by-layer schedule as a [`Plan`]: every op its own stage, every activation tensor
//! whole (plus each conv's im2col scratch during its stage), the arena placed greedily by size
//! over the buffers' lifetimes. This is the plan
//! `msf_exec::compile` lowers (exec places no buffer itself), the page's unfused schedule and
//! the "arena (B)" figure of the README's runtime table.
//!
//! RESHAPE aliasing is decided here, once: a RESHAPE of an activation shares its input's bytes
//! (the output is listed in the input's [`Buffer::aliases`], and the RESHAPE lowers to no layer
//! at all). The fused planner does not alias: there a RESHAPE is either a layer stage with a
//! buffer of its own (copied) or the flatten of a flatten+FC tail (no buffer at all), as its
//! cost model counts it.

use crate::arena::{self, BufferLife, ARENA_ALIGN};
use crate::build::{align, layer_tile};
use crate::dag::{EdgeKind, RamMetric};
use crate::net::Net;
use crate::types::*;
use msf_model::{Graph, OpKind, TensorId};

/// Per tensor, the tensor whose bytes it shares (itself if none): the input of the first
/// RESHAPE of a chain of RESHAPEs of an activation. Constants are never aliased.
pub fn reshape_aliases(g: &Graph) -> Vec<TensorId> {
    let mut root: Vec<TensorId> = (0..g.tensors.len()).collect();
    for op in &g.ops {
        if matches!(op.kind, OpKind::Reshape) {
            if let (Some(&i), Some(&o)) = (op.inputs.first(), op.outputs.first()) {
                if !g.tensors[i].is_constant() && i < root.len() && o < root.len() {
                    root[o] = root[i];
                }
            }
        }
    }
    root
}

/// The layer-by-layer Plan of `graph` (any graph: opaque ops and tensors the fused planner
/// refuses are planned too, so the page can show them; exec refuses what it cannot run).
///
/// Lifetimes: a tensor is alive from the first stage that touches it (stage 0 for a graph
/// input) to the last (the last stage for a graph output), RESHAPE aliases as one buffer of
/// their largest member. Buffers are ordered by their first tensor's id and placed by
/// [`arena::place`]; the arena is rounded up to [`ARENA_ALIGN`].
pub fn layer_by_layer(graph: &Graph) -> Plan {
    let net = Net::lenient(graph);
    let n = graph.ops.len();
    let last_stage = n.saturating_sub(1);
    let root = reshape_aliases(graph);
    // Per alias root: (first, last, size), over every activation the ops and the graph touch.
    let mut life: Vec<Option<(usize, usize, usize)>> = vec![None; graph.tensors.len()];
    let mut touch = |t: TensorId, step: usize| {
        if graph.tensors[t].is_constant() {
            return;
        }
        let size = graph.tensors[t].byte_size();
        let e = life[root[t]].get_or_insert((step, step, size));
        e.0 = e.0.min(step);
        e.1 = e.1.max(step);
        e.2 = e.2.max(size);
    };
    for &t in &graph.inputs {
        touch(t, 0);
    }
    for (i, op) in graph.ops.iter().enumerate() {
        for &t in op.inputs.iter().chain(&op.outputs) {
            touch(t, i);
        }
    }
    for &t in &graph.outputs {
        touch(t, last_stage);
    }
    let mut buffers: Vec<Buffer> = Vec::new();
    for (r, l) in life.iter().enumerate() {
        let Some((first, last, size)) = *l else { continue };
        let aliases: Vec<TensorId> = (0..graph.tensors.len()).filter(|&t| t != r && root[t] == r && !graph.tensors[t].is_constant()).collect();
        let es = net.esize[r];
        let (rows, cols, channels) = match net.hwc[r] {
            Some(h) => (h[0], h[1], h[2]),
            None => (1, 1, net.bytes[r] / es.max(1)),
        };
        buffers.push(Buffer {
            id: buffers.len(),
            role: BufferRole::Tensor,
            tensor: Some(r),
            io: net.is_io(r) || aliases.iter().any(|&t| net.is_io(t)),
            aliases,
            op: None,
            rows,
            cols,
            channels,
            elem_bytes: es,
            size,
            first_stage: first,
            last_stage: last,
            offset: 0,
        });
    }
    // Each conv's im2col patch, alive during its own stage.
    for (i, op) in net.ops.iter().enumerate() {
        if op.scratch > 0 {
            buffers.push(Buffer::scratch(buffers.len(), i, i, op.scratch));
        }
    }
    let lives: Vec<BufferLife> = buffers.iter().map(|b| BufferLife { size: b.size, first: b.first_stage, last: b.last_stage }).collect();
    let placement = arena::place(&lives);
    for (b, off) in buffers.iter_mut().zip(&placement.offsets) {
        b.offset = *off;
    }
    let arena_size = placement.arena_size.next_multiple_of(ARENA_ALIGN);
    let stages: Vec<Stage> = (0..n)
        .map(|i| {
            let alive: Vec<&Buffer> = buffers.iter().filter(|b| b.first_stage <= i && i <= b.last_stage).collect();
            let tile = layer_tile(&net, i, false);
            Stage {
                index: i,
                first_op: i,
                last_op: i,
                kind: StageKind::Layer,
                exec: EdgeKind::Layer,
                band_rows: tile.out_hwc[0],
                tail: Tail::None,
                root_tensor: graph.ops[i].outputs.first().copied(),
                tile: None,
                tile_stride: None,
                layers: vec![tile],
                buffers: alive.iter().map(|b| b.id).collect(),
                ram_bytes: alive.iter().map(|b| align(b.size)).sum(),
                ram_bytes_io_excluded: alive.iter().filter(|b| !b.io).map(|b| align(b.size)).sum(),
                macs: net.ops[i].macs,
            }
        })
        .collect();
    let peak_stage = stages.iter().map(|s| s.ram_bytes).max().unwrap_or(0);
    let peak_ex = stages.iter().map(|s| s.ram_bytes_io_excluded).max().unwrap_or(0);
    let macs = net.vanilla_macs();
    Plan {
        model: graph.name.clone(),
        mode: Mode::Full,
        metric: RamMetric::IoIncluded,
        constraint: Constraint::MinMacs,
        stages,
        buffers,
        arena_align: ARENA_ALIGN,
        arena_size,
        peak_ram_bytes: arena_size as u64,
        peak_ram_bytes_io_excluded: peak_ex,
        peak_stage_bytes: peak_stage,
        macs,
        vanilla_macs: macs,
        vanilla_peak_ram_bytes: arena_size as u64,
        vanilla_peak_ram_bytes_io_excluded: peak_ex,
        overhead: 1.0,
        pareto: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::Builder;

    #[test]
    fn every_op_is_a_stage_and_every_buffer_fits_the_arena() {
        let mut b = Builder::new("l", 8, 8, 4);
        b.conv(4, 3, 2);
        let x = b.cur;
        b.dw(3, 1);
        b.add(x);
        b.mean();
        b.fc(2);
        let g = b.finish();
        let p = layer_by_layer(&g);
        assert_eq!(p.stages.len(), g.ops.len());
        for (i, s) in p.stages.iter().enumerate() {
            assert_eq!((s.first_op, s.last_op, s.kind, s.tail), (i, i, StageKind::Layer, Tail::None));
            // Buffers alive together never overlap.
            for &a in &s.buffers {
                for &c in &s.buffers {
                    let (a, c) = (&p.buffers[a], &p.buffers[c]);
                    assert!(a.id == c.id || a.size == 0 || c.size == 0 || a.offset + a.size <= c.offset || c.offset + c.size <= a.offset);
                }
            }
        }
        assert!(p.buffers.iter().all(|b| b.offset % ARENA_ALIGN == 0 && b.offset + b.size <= p.arena_size));
        assert_eq!(p.arena_size % ARENA_ALIGN, 0);
        assert_eq!(p.peak_ram_bytes, p.arena_size as u64);
        assert!(p.peak_stage_bytes <= p.peak_ram_bytes);
        // The skip x is alive from the conv to the add.
        let bx = p.buffers.iter().find(|b| b.tensor == Some(x)).unwrap();
        assert_eq!((bx.first_stage, bx.last_stage), (0, 2));
    }

    #[test]
    fn a_reshape_of_an_activation_shares_its_input_buffer() {
        let mut b = Builder::new("r", 4, 4, 2);
        b.conv(2, 1, 1);
        let map = b.cur;
        b.flatten();
        let flat = b.cur;
        b.fc(3);
        let g = b.finish();
        assert_eq!(reshape_aliases(&g)[flat], map);
        let p = layer_by_layer(&g);
        let bm = p.buffers.iter().find(|b| b.tensor == Some(map)).unwrap();
        assert_eq!(bm.aliases, vec![flat]);
        assert!(p.buffers.iter().all(|b| b.tensor != Some(flat)));
        // Alive from the conv (stage 0) to the FC reading the flattened alias (stage 2).
        assert_eq!((bm.first_stage, bm.last_stage), (0, 2));
    }
}
