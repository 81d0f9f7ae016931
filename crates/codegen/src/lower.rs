//! From a model to a [`Firmware`]: lower the graph to a runtime program with msf-exec (the code
//! `msf run` executes on the host, so the firmware computes the same bytes), pick the test input,
//! count the MACs.

pub use msf_exec::Kernels;
use msf_model::{DType, Graph};

use crate::project::{Firmware, OutputKind};
use crate::CodegenError;

/// Lower `graph` for the firmware: `plan` (a full-mode [`msf_plan::Plan`]) runs as it says,
/// fused stages patch by patch through msf-runtime's fused executor, every buffer at the plan's
/// offset, the arena exactly the plan's `arena_size` (= `peak_ram_bytes`); `None` runs layer by
/// layer. `input` is the model's own input file (NAME.input.bin: NHWC for TFLite, NCHW for ONNX,
/// converted to the graph's NHWC here); `None` bundles the deterministic [`default_input`].
/// `kernels` picks whose int8 arithmetic the firmware reproduces bit for bit:
/// `Kernels::Reference` (TFLite Micro's) or `Kernels::Optimized` (LiteRT's x86 optimized
/// kernels, which some corpus models' reference outputs come from). Either way the firmware
/// computes the same bytes as `msf run` (msf_exec's tests check every Pareto point of the corpus
/// against layer by layer).
pub fn firmware(graph: &Graph, plan: Option<&msf_plan::Plan>, input: Option<&[u8]>, kernels: Kernels) -> Result<Firmware, CodegenError> {
    match plan {
        Some(p) => firmware_for_plan(graph, p, input, kernels),
        None => firmware_layerwise(graph, input, kernels),
    }
}

fn firmware_layerwise(graph: &Graph, input: Option<&[u8]>, kernels: Kernels) -> Result<Firmware, CodegenError> {
    let c = msf_exec::compile_with(graph, kernels).map_err(|e| CodegenError::Lowering(e.to_string()))?;
    let macs = (0..graph.ops.len()).map(|i| msf_model::stats::op_stats(graph, i).macs).sum();
    let summary = format!(
        "layer by layer ({} kernels' arithmetic), {} runtime layers, arena {} B (greedy-by-size placement of every activation over its lifetime)",
        kernels_name(kernels),
        c.op_layers.iter().map(|r| r.len()).sum::<usize>(),
        c.arena_size
    );
    from_compiled(graph, c, input, macs, summary, String::new(), false)
}

fn firmware_for_plan(graph: &Graph, plan: &msf_plan::Plan, input: Option<&[u8]>, kernels: Kernels) -> Result<Firmware, CodegenError> {
    let c = msf_exec::compile_plan(graph, plan, kernels).map_err(|e| CodegenError::Lowering(e.to_string()))?;
    let fused = plan.stages.iter().filter(|s| s.kind == msf_plan::StageKind::Fused).count();
    let summary = format!(
        "msf-CNN plan ({} kernels' arithmetic): {} stages, {fused} of them fused; predicted peak RAM = arena = **{} B** \
         (layer by layer: {} B); {} MACs = {:.3} x the unfused {}",
        kernels_name(kernels),
        plan.stages.len(),
        plan.peak_ram_bytes,
        plan.vanilla_peak_ram_bytes,
        plan.macs,
        plan.overhead,
        plan.vanilla_macs
    );
    from_compiled(graph, c, input, plan.macs, summary, stage_table(graph, plan), fused > 0)
}

fn kernels_name(k: Kernels) -> &'static str {
    match k {
        Kernels::Reference => "TFLite reference",
        Kernels::Optimized => "LiteRT optimized",
    }
}

/// The README's stage table: one row per stage, what the planner predicted for it.
fn stage_table(graph: &Graph, plan: &msf_plan::Plan) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("\n\n| stage | ops | how | RAM (B) | MACs |\n|---:|---|---|---:|---:|\n");
    for st in &plan.stages {
        let ops = if st.first_op == st.last_op {
            format!("{} {}", st.first_op, graph.ops.get(st.first_op).map(|o| o.kind.name()).unwrap_or("?"))
        } else {
            format!("{}..={}", st.first_op, st.last_op)
        };
        let how = match st.exec {
            msf_plan::EdgeKind::Layer => "layer".to_string(),
            msf_plan::EdgeKind::HCache { rows } => format!("fused, H-cache {rows} row(s)"),
            msf_plan::EdgeKind::LineBuffer => "fused, line buffers".into(),
            msf_plan::EdgeKind::Paper => "paper".into(),
        };
        let how = if st.iterative_tail() { format!("{how} + iterative tail") } else { how };
        let _ = writeln!(s, "| {} | {ops} | {how} | {} | {} |", st.index, st.ram_bytes, st.macs);
    }
    s
}

fn from_compiled(
    graph: &Graph,
    c: msf_exec::Compiled,
    input: Option<&[u8]>,
    macs: u64,
    plan_summary: String,
    plan_details: String,
    fused: bool,
) -> Result<Firmware, CodegenError> {
    if c.inputs.len() != 1 || c.outputs.len() != 1 {
        return Err(CodegenError::Lowering(format!(
            "the firmware feeds one input and prints one output; the graph has {} inputs and {} outputs",
            c.inputs.len(),
            c.outputs.len()
        )));
    }
    let tin = &graph.tensors[c.inputs[0]];
    let tout = &graph.tensors[c.outputs[0]];
    let (_, in_len) = c.placement[&c.inputs[0]];
    let (_, out_len) = c.placement[&c.outputs[0]];
    let input = match input {
        Some(bytes) => {
            if bytes.len() != in_len {
                return Err(CodegenError::BadInput(format!("the input file is {} bytes, the model's input needs {in_len}", bytes.len())));
            }
            match (c.nchw_io, tin.shape.as_slice()) {
            // The IR shape is NHWC; the file holds the same tensor NCHW.
                (true, &[1, h, w, ch]) => msf_model::layout::nchw_to_nhwc(bytes, [1, ch, h, w], tin.dtype.size().unwrap_or(1)),
                _ => bytes.to_vec(),
            }
        }
        None => default_input(tin.dtype, in_len),
    };
    let output_kind = match tout.dtype {
        DType::Int8 => OutputKind::I8,
        DType::UInt8 => OutputKind::U8,
        DType::Int32 => OutputKind::I32,
        DType::Float32 => OutputKind::F32,
        d => return Err(CodegenError::Lowering(format!("output dtype {} cannot be printed by the firmware", d.name()))),
    };
    Ok(Firmware {
        model_name: graph.name.clone(),
        program: c.blob,
        arena: c.arena_size as u64,
        input,
        output_len: out_len,
        output_kind,
        macs,
        plan_summary,
        plan_details,
        fused,
    })
}

/// A deterministic test input of `len` bytes when the model comes without one: a 32-bit LCG
/// (Numerical Recipes constants), seed 1. int8/uint8 take the generator's top byte; float32 maps
/// it to [-1, 1) so no NaN or infinity appears.
pub fn default_input(dtype: DType, len: usize) -> Vec<u8> {
    let mut state: u32 = 1;
    let mut next = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        state
    };
    match dtype {
        DType::Float32 => (0..len / 4)
            .flat_map(|_| {
                let v = (next() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
                v.to_le_bytes()
            })
            .collect(),
        _ => (0..len).map(|_| (next() >> 24) as u8).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_input_is_the_lcg() {
        // state1 = 1664525 + 1013904223 = 1015568748 = 0x3C8E_F46C -> top byte 0x3C.
        let v = default_input(DType::Int8, 3);
        assert_eq!(v[0], 0x3C);
        assert_eq!(v, default_input(DType::Int8, 3));
        let f = default_input(DType::Float32, 64);
        assert_eq!(f.len(), 64);
        for c in f.chunks(4) {
            let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            assert!((-1.0..1.0).contains(&x));
        }
    }
}
